/* daemon/rpc.c — the admin RPC server on libmicrohttpd (see rpc.h).
 *
 * libmicrohttpd runs without a thread of its own (MHD_USE_EPOLL, external mode): its
 * epoll descriptor is watched by the realnet loop (rn_watch) and MHD_run is called when
 * it is readable or when MHD's own timeout (a tp_timer) expires. Streams and slow
 * requests use MHD's suspend/resume (MHD_ALLOW_SUSPEND_RESUME).
 */
#define _GNU_SOURCE
#include "daemon/rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/point.h"

/* What a log stream follows: the whole node (/network/log) or one point's / peer's
 * history (.../log?monitor). */
typedef enum log_source { LOG_NETWORK, LOG_POINT, LOG_PEER } log_source;

typedef struct log_stream {
    dm_rpc *rpc;
    struct MHD_Connection *conn;
    char *lines[DM_RPC_LOG_QUEUE_MAX];
    size_t lens[DM_RPC_LOG_QUEUE_MAX];
    size_t head, count, offset;
    uint64_t dropped;
    bool suspended;
    bool all; /* ?all: tidepool's own kinds too, with time, code and detail */
    log_source source;
    tp_point point;            /* LOG_POINT */
    tp_peer_id peer;           /* LOG_PEER */
    dm_rpc_log_cursor cursor;  /* LOG_POINT, LOG_PEER: the last history item sent */
    bool dirty;                /* an event named it: ask the backend on the next turn */
    struct log_stream *prev, *next;
} log_stream;

struct dm_rpc_pending {
    dm_rpc *rpc;
    struct MHD_Connection *conn; /* NULL once the request is gone */
    bool done;
    bool suspended;              /* the HTTP connection waits in MHD_suspend_connection */
    dm_rpc_result res;
    dm_rpc_pending *prev, *next;
};

typedef struct req {
    char *body;
    size_t body_len;
    bool too_big;
    dm_rpc_pending *pending;
} req;

/* The front door: a connection we accepted, waiting for its request line before it
 * goes to MHD (see gate_check). */
#define GATE_PEEK_MAX 16384
#define ARGS_MAX 16 /* query arguments of one request: more than any endpoint takes */
typedef struct gate_entry {
    struct dm_rpc *rpc;
    int fd; /* -1: free */
    rn_watch *watch;
    tp_timer timer;
    int64_t deadline_ns;
    struct sockaddr_storage addr;
    socklen_t addr_len;
} gate_entry;

struct dm_rpc {
    rn_loop *loop;
    struct MHD_Daemon *d;
    rn_watch *watch;
    rn_watch *listen_watch;
    gate_entry gate[DM_RPC_CONNECTIONS_MAX];
    tp_timer timer;
    int listen_fd;
    uint16_t port;
    dm_rpc_backend be;
    log_stream streams; /* sentinel */
    size_t n_streams;
    size_t n_monitors;      /* streams of source LOG_POINT / LOG_PEER */
    tp_timer monitor_timer; /* next monitor check: next turn (dirty) or the sweep */
    int64_t monitor_sweep_ns;
    dm_rpc_pending pendings; /* sentinel */
};

/* ------------------------------------------------------------------------------------ */
/* results and JSON helpers                                                             */

void dm_rpc_ok(dm_rpc_result *r, json_t *body) {
    r->status = MHD_HTTP_OK;
    r->body = body;
    r->message[0] = '\0';
}

void dm_rpc_fail(dm_rpc_result *r, unsigned status, const char *fmt, ...) {
    r->status = status;
    r->body = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

json_t *dm_json_point(const tp_point *p) {
    char buf[TP_POINT_TEXT_MAX];
    return json_string(tp_point_format(p, buf));
}

json_t *dm_json_id_point(const tp_point *p) {
    char ip[TP_IP_TEXT_MAX];
    json_t *o = json_object();
    json_object_set_new(o, "addr", json_string(tp_ip_format(&p->ip, ip)));
    if (p->port != 0) json_object_set_new(o, "port", json_integer(p->port));
    return o;
}

json_t *dm_json_peer_id(const tp_peer_id *id) {
    char b58[TP_PEER_ID_TEXT_SIZE];
    return json_string(tp_peer_id_to_b58(id, b58));
}

json_t *dm_json_time(int64_t wall_ns) {
    time_t t = (time_t)(wall_ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

tp_err dm_parse_peer_id(const char *text, tp_peer_id *out, char *error, size_t cap) {
    tp_err e = tp_peer_id_of_b58(text, strlen(text), out);
    if (e != TP_OK) {
        if (error && cap)
            snprintf(error, cap,
                     "malformed peer id '%.64s': %s (a peer id is 30 Base58 characters "
                     "starting with 'id', e.g. idrRoknJh9zwEePNswF3MPGFzmKaVp)",
                     text, tp_strerror(e));
        return TP_ERR_INVAL;
    }
    return TP_OK;
}

tp_err dm_parse_point(const char *text, tp_point *out, char *error, size_t cap) {
    tp_err e = tp_point_parse_wire(text, strlen(text), out);
    if (e != TP_OK) {
        if (error && cap)
            snprintf(error, cap,
                     "malformed point '%.64s': expected a literal address and a port, "
                     "a.b.c.d:port or [ipv6]:port",
                     text);
        return TP_ERR_INVAL;
    }
    return TP_OK;
}

/* ------------------------------------------------------------------------------------ */
/* the MHD pump                                                                         */

static void rpc_pump(dm_rpc *rpc);

static void rpc_timer_fired(void *arg) {
    rpc_pump(arg);
}

static void rpc_watch_fired(void *arg, unsigned events) {
    (void)events;
    rpc_pump(arg);
}

static void rpc_pump(dm_rpc *rpc) {
    (void)MHD_run(rpc->d);
    MHD_UNSIGNED_LONG_LONG timeout_ms = 0;
    const tp_env *env = rn_loop_env(rpc->loop);
    if (MHD_get_timeout(rpc->d, &timeout_ms) == MHD_YES) {
        if (timeout_ms > 60000) timeout_ms = 60000;
        tp_env_timer_start_in(env, &rpc->timer, (int64_t)timeout_ms * 1000000);
    } else {
        tp_env_timer_start_in(env, &rpc->timer, INT64_C(1000000000)); /* a safety net */
    }
}

/* ------------------------------------------------------------------------------------ */
/* the front door                                                                       */

/* MHD parses a request's query arguments into its per-connection memory pool before it
 * calls us; a query of a few hundred arguments exhausted the pool and the request was
 * never answered (the client waited for the timeout). So connections are accepted here
 * first: the request line is peeked at (MSG_PEEK: MHD still reads every byte) and a
 * query with more arguments than any endpoint takes (ARGS_MAX) is answered 414 here;
 * anything else goes to MHD (MHD_add_connection). A client that does not send its
 * request line within DM_RPC_REQUEST_LINE_TIMEOUT_NS is closed (408), so silent
 * sockets cannot hold the connection slots; MHD's idle timeout covers the rest.
 * Responses carry "Connection: close", so every request passes through here. */

static void gate_free(gate_entry *g, bool close_fd) {
    if (g->fd < 0) return;
    if (g->watch) rn_watch_close(g->watch);
    g->watch = NULL;
    tp_env_timer_stop(rn_loop_env(g->rpc->loop), &g->timer);
    if (close_fd) close(g->fd);
    g->fd = -1;
}

static void gate_reply(gate_entry *g, const char *status, const char *msg) {
    char buf[512];
    char body[300];
    int blen = snprintf(body, sizeof body,
                        "[{\"kind\":\"permanent\",\"id\":\"failure\",\"msg\":\"%s\"}]\n", msg);
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n%s",
                     status, blen, body);
    /* small, on a fresh socket: fits its send buffer; a partial write just loses it */
    ssize_t w = send(g->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    shutdown(g->fd, SHUT_WR);
    gate_free(g, true);
}

static void gate_watch_fired(void *arg, unsigned events);

static void gate_check(gate_entry *g) {
    dm_rpc *rpc = g->rpc;
    char buf[GATE_PEEK_MAX];
    ssize_t n = recv(g->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    const tp_env *env = rn_loop_env(rpc->loop);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        gate_free(g, true);
        return;
    }
    const char *eol = n > 0 ? memchr(buf, '\n', (size_t)n) : NULL;
    if (!eol && n < (ssize_t)sizeof buf) {
        if (tp_env_now_ns(env) >= g->deadline_ns) {
            gate_reply(g, "408 Request Timeout", "no request line within 10 s");
            return;
        }
        /* not all there yet: look again when more arrives (the watch is level-triggered,
         * and peeked bytes stay readable, so wait a moment instead of spinning) */
        rn_watch_close(g->watch);
        g->watch = NULL;
        tp_env_timer_start_in(env, &g->timer, INT64_C(20000000));
        return;
    }
    size_t line_len = eol ? (size_t)(eol - buf) : (size_t)n;
    const char *q = memchr(buf, '?', line_len);
    size_t args = 0;
    if (q) {
        const char *end = memchr(q, ' ', line_len - (size_t)(q - buf));
        if (!end) end = buf + line_len;
        args = 1;
        for (const char *p = q + 1; p < end; p++) args += *p == '&' || *p == ';';
    }
    if (args > ARGS_MAX) {
        char msg[96];
        snprintf(msg, sizeof msg, "too many query arguments: %s%zu (at most %d)",
                 eol ? "" : "at least ", args, ARGS_MAX);
        gate_reply(g, "414 URI Too Long", msg);
        return;
    }
    int fd = g->fd;
    gate_free(g, false);
    if (MHD_add_connection(rpc->d, fd, (const struct sockaddr *)&g->addr, g->addr_len) != MHD_YES)
        return; /* MHD closed it (over its connection limit) */
    rpc_pump(rpc);
}

static void gate_timer_fired(void *arg) {
    gate_entry *g = arg;
    if (g->fd < 0) return;
    if (!g->watch && rn_watch_open(g->rpc->loop, g->fd, RN_WATCH_READ, gate_watch_fired, g,
                                   &g->watch) != TP_OK) {
        gate_free(g, true);
        return;
    }
    gate_check(g);
}

static void gate_watch_fired(void *arg, unsigned events) {
    (void)events;
    gate_check(arg);
}

static void listen_fired(void *arg, unsigned events) {
    (void)events;
    dm_rpc *rpc = arg;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(rpc->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or an error of that one connection */
        gate_entry *g = NULL;
        for (size_t i = 0; i < DM_RPC_CONNECTIONS_MAX && !g; i++)
            if (rpc->gate[i].fd < 0) g = &rpc->gate[i];
        if (!g) { /* that many connections not even sending a request line: a flood */
            close(fd);
            continue;
        }
        g->fd = fd;
        g->addr = ss;
        g->addr_len = len;
        g->deadline_ns = tp_env_now_ns(rn_loop_env(rpc->loop)) + DM_RPC_REQUEST_LINE_TIMEOUT_NS;
        if (rn_watch_open(rpc->loop, fd, RN_WATCH_READ, gate_watch_fired, g, &g->watch) != TP_OK) {
            g->watch = NULL;
            gate_free(g, true);
            continue;
        }
        tp_env_timer_start(rn_loop_env(rpc->loop), &g->timer, g->deadline_ns);
    }
}

/* ------------------------------------------------------------------------------------ */
/* responses                                                                            */

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_t *body) {
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (!text) return MHD_NO;
    size_t len = strlen(text);
    text[len] = '\0';
    /* one value per response, newline-terminated like Octez's */
    char *with_nl = realloc(text, len + 2);
    if (!with_nl) {
        free(text);
        return MHD_NO;
    }
    with_nl[len] = '\n';
    with_nl[len + 1] = '\0';
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len + 1, with_nl, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(with_nl);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close"); /* see the front door */
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *msg) {
    json_t *err = json_object();
    json_object_set_new(err, "kind", json_string("permanent"));
    json_object_set_new(err, "id", json_string("failure"));
    json_object_set_new(err, "msg", json_string(msg));
    json_t *list = json_array();
    json_array_append_new(list, err);
    return send_json(conn, status, list);
}

static enum MHD_Result send_result(struct MHD_Connection *conn, dm_rpc_result *r) {
    if (r->status == MHD_HTTP_OK) return send_json(conn, r->status, r->body ? r->body : json_object());
    if (r->body) json_decref(r->body);
    return send_error(conn, r->status, r->message[0] ? r->message : "error");
}

/* ------------------------------------------------------------------------------------ */
/* query arguments                                                                      */

typedef struct args {
    size_t n;
    bool overflow;
    const char *keys[ARGS_MAX];
    const char *values[ARGS_MAX]; /* NULL for "?wait" */
} args;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value) {
    (void)kind;
    args *a = cls;
    if (a->n == ARGS_MAX) {
        a->overflow = true;
        return MHD_NO;
    }
    a->keys[a->n] = key;
    a->values[a->n] = value;
    a->n++;
    return MHD_YES;
}

/* Checks that every argument is in `allowed` (NULL-terminated). */
static bool args_check(const args *a, const char *const *allowed, char *msg, size_t cap) {
    if (a->overflow) {
        snprintf(msg, cap, "too many query parameters (at most %d)", ARGS_MAX);
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        bool ok = false;
        for (size_t j = 0; allowed[j]; j++)
            if (strcmp(a->keys[i], allowed[j]) == 0) ok = true;
        if (!ok) {
            snprintf(msg, cap, "unknown query parameter '%.40s'%s%s", a->keys[i],
                     allowed[0] ? "; this endpoint takes: " : "; this endpoint takes none",
                     allowed[0] ? allowed[0] : "");
            return false;
        }
    }
    return true;
}

static bool parse_filters(const args *a, bool with_requested, unsigned *out, char *msg,
                          size_t cap) {
    unsigned f = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->keys[i], "filter") != 0) continue;
        const char *v = a->values[i] ? a->values[i] : "";
        if (with_requested && strcmp(v, "requested") == 0)
            f |= DM_FILTER_REQUESTED;
        else if (strcmp(v, "accepted") == 0)
            f |= DM_FILTER_ACCEPTED;
        else if (strcmp(v, "running") == 0)
            f |= DM_FILTER_RUNNING;
        else if (strcmp(v, "disconnected") == 0)
            f |= DM_FILTER_DISCONNECTED;
        else {
            snprintf(msg, cap, "unknown filter '%.40s'; use %saccepted, running or disconnected",
                     v, with_requested ? "requested, " : "");
            return false;
        }
    }
    *out = f;
    return true;
}

/* ------------------------------------------------------------------------------------ */
/* /network/log streams                                                                 */

static ssize_t log_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    log_stream *ls = cls;
    if (ls->count == 0) {
        if (!ls->conn) return MHD_CONTENT_READER_END_OF_STREAM; /* server stopping */
        if (!ls->suspended) {
            ls->suspended = true;
            MHD_suspend_connection(ls->conn);
        }
        return 0;
    }
    size_t done = 0;
    while (ls->count > 0 && done < max) {
        const char *line = ls->lines[ls->head];
        size_t len = ls->lens[ls->head];
        size_t n = len - ls->offset;
        if (n > max - done) n = max - done;
        memcpy(buf + done, line + ls->offset, n);
        done += n;
        ls->offset += n;
        if (ls->offset == len) {
            free(ls->lines[ls->head]);
            ls->lines[ls->head] = NULL;
            ls->head = (ls->head + 1) % DM_RPC_LOG_QUEUE_MAX;
            ls->count--;
            ls->offset = 0;
        }
    }
    return (ssize_t)done;
}

static void log_stream_free(void *cls) {
    log_stream *ls = cls;
    ls->prev->next = ls->next;
    ls->next->prev = ls->prev;
    ls->rpc->n_streams--;
    if (ls->source != LOG_NETWORK) ls->rpc->n_monitors--;
    while (ls->count > 0) {
        free(ls->lines[ls->head]);
        ls->head = (ls->head + 1) % DM_RPC_LOG_QUEUE_MAX;
        ls->count--;
    }
    free(ls);
}

static char *dump_line(json_t *o, size_t *len);
static void stream_push(log_stream *ls, const char *text, size_t len);

/* Opens a log stream; `ls` is calloc'd and filled in by the caller (source, filters),
 * and owned from here on. A monitor stream first gets the history so far (as one
 * value) or, for an unknown point / peer, the backend's error instead of a stream. */
static enum MHD_Result start_log_stream(dm_rpc *rpc, struct MHD_Connection *conn,
                                        log_stream *ls) {
    if (rpc->n_streams >= DM_RPC_STREAMS_MAX) {
        free(ls);
        char msg[160];
        snprintf(msg, sizeof msg, "too many log streams open (%d, the most this node serves at "
                 "once, leaving room for ordinary requests); close one", DM_RPC_STREAMS_MAX);
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
    }
    ls->rpc = rpc;
    ls->conn = conn;
    if (ls->source != LOG_NETWORK) {
        dm_rpc_result r;
        memset(&r, 0, sizeof r);
        ls->cursor = DM_RPC_LOG_CURSOR_START;
        if (ls->source == LOG_POINT)
            rpc->be.point_log(rpc->be.arg, &ls->point, &ls->cursor, &r);
        else
            rpc->be.peer_log(rpc->be.arg, &ls->peer, &ls->cursor, &r);
        if (r.status != MHD_HTTP_OK) {
            free(ls);
            return send_result(conn, &r);
        }
        size_t len = 0;
        char *line = dump_line(r.body ? r.body : json_array(), &len);
        if (line) stream_push(ls, line, len); /* not suspended yet: no resume */
        free(line);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, log_read, ls, log_stream_free);
    if (!resp) {
        while (ls->count > 0) {
            free(ls->lines[ls->head]);
            ls->head = (ls->head + 1) % DM_RPC_LOG_QUEUE_MAX;
            ls->count--;
        }
        free(ls);
        return MHD_NO;
    }
    ls->next = &rpc->streams;
    ls->prev = rpc->streams.prev;
    rpc->streams.prev->next = ls;
    rpc->streams.prev = ls;
    rpc->n_streams++;
    if (ls->source != LOG_NETWORK) {
        if (rpc->n_monitors++ == 0) {
            /* the first monitor starts the sweep */
            const tp_env *env = rn_loop_env(rpc->loop);
            rpc->monitor_sweep_ns = tp_env_now_ns(env) + DM_RPC_MONITOR_SWEEP_NS;
            tp_env_timer_start(env, &rpc->monitor_timer, rpc->monitor_sweep_ns);
        }
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return r;
}

/* Octez's P2p_connection.P2p_event JSON (spec §11), exactly its fields per kind; NULL
 * for tidepool's own kinds, which Octez's encoding has no case for. */
static json_t *octez_event_json(const tp_event *ev) {
    if ((int)ev->kind >= (int)TP_EVENT_MAINTENANCE_STARTED) return NULL;
    json_t *o = json_pack("{s:s}", "event", tp_event_kind_name(ev->kind));
    bool has_point = (ev->flags & TP_EVENT_HAS_POINT) != 0;
    bool has_peer = (ev->flags & TP_EVENT_HAS_PEER) != 0;
    tp_peer_id id;
    memcpy(id.bytes, ev->peer_id, sizeof id.bytes);
    switch (ev->kind) {
    case TP_EVENT_NEW_POINT:
    case TP_EVENT_INCOMING_CONNECTION:
    case TP_EVENT_OUTGOING_CONNECTION:
    case TP_EVENT_AUTHENTICATION_FAILED:
        if (has_point) json_object_set_new(o, "point", dm_json_point(&ev->point));
        break;
    case TP_EVENT_NEW_PEER:
    case TP_EVENT_DISCONNECTION:
    case TP_EVENT_EXTERNAL_DISCONNECTION:
        if (has_peer) json_object_set_new(o, "peer_id", dm_json_peer_id(&id));
        break;
    case TP_EVENT_ACCEPTING_REQUEST:
    case TP_EVENT_REJECTING_REQUEST:
        if (has_point) {
            json_object_set_new(o, "point", dm_json_point(&ev->point));
            json_object_set_new(o, "id_point", dm_json_id_point(&ev->point));
        }
        if (has_peer) json_object_set_new(o, "peer_id", dm_json_peer_id(&id));
        break;
    case TP_EVENT_REQUEST_REJECTED:
        if (has_point) json_object_set_new(o, "point", dm_json_point(&ev->point));
        if (has_point && has_peer)
            json_object_set_new(o, "identity", json_pack("[o,o]", dm_json_id_point(&ev->point),
                                                         dm_json_peer_id(&id)));
        break;
    case TP_EVENT_CONNECTION_ESTABLISHED:
        if (has_point) json_object_set_new(o, "id_point", dm_json_id_point(&ev->point));
        if (has_peer) json_object_set_new(o, "peer_id", dm_json_peer_id(&id));
        break;
    case TP_EVENT_SWAP_REQUEST_SENT:
    case TP_EVENT_SWAP_REQUEST_RECEIVED:
    case TP_EVENT_SWAP_REQUEST_IGNORED:
    case TP_EVENT_SWAP_ACK_SENT:
    case TP_EVENT_SWAP_ACK_RECEIVED:
    case TP_EVENT_SWAP_SUCCESS:
    case TP_EVENT_SWAP_FAILURE:
        if (has_peer) json_object_set_new(o, "source", dm_json_peer_id(&id));
        break;
    default: /* too_few/too_many_connections, gc_points, gc_peer_ids, bootstrap/advertise */
        break;
    }
    return o;
}

/* Every kind, with what the event carries (tidepool's extended stream, ?all). */
static json_t *all_event_json(int64_t wall_ns, const tp_event *ev) {
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(tp_event_kind_name(ev->kind)));
    if (ev->flags & TP_EVENT_HAS_POINT) json_object_set_new(o, "point", dm_json_point(&ev->point));
    if (ev->flags & TP_EVENT_HAS_PEER) {
        tp_peer_id id;
        memcpy(id.bytes, ev->peer_id, sizeof id.bytes);
        json_object_set_new(o, "peer_id", dm_json_peer_id(&id));
    }
    if (ev->code != 0) json_object_set_new(o, "code", json_integer(ev->code));
    if (ev->detail) json_object_set_new(o, "detail", json_string(ev->detail));
    json_object_set_new(o, "time", dm_json_time(wall_ns));
    return o;
}

static char *dump_line(json_t *o, size_t *len) {
    if (!o) return NULL;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text) return NULL;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *len = n + 1;
    return line;
}

static void stream_push(log_stream *ls, const char *text, size_t len) {
    char *line = malloc(len + 1);
    if (!line) return;
    memcpy(line, text, len + 1);
    if (ls->count == DM_RPC_LOG_QUEUE_MAX) {
        /* a slow reader loses the oldest line not yet started */
        size_t victim = ls->offset == 0 ? ls->head : (ls->head + 1) % DM_RPC_LOG_QUEUE_MAX;
        if (ls->offset != 0 && ls->count == 1) {
            free(line);
            return;
        }
        free(ls->lines[victim]);
        if (victim != ls->head) {
            /* shift: keep the partly sent head, drop the next one */
            ls->lines[victim] = ls->lines[ls->head];
            ls->lens[victim] = ls->lens[ls->head];
            ls->lines[ls->head] = NULL;
        }
        ls->head = (ls->head + 1) % DM_RPC_LOG_QUEUE_MAX;
        ls->count--;
        ls->dropped++;
    }
    size_t at = (ls->head + ls->count) % DM_RPC_LOG_QUEUE_MAX;
    ls->lines[at] = line;
    ls->lens[at] = len;
    ls->count++;
    if (ls->suspended) {
        ls->suspended = false;
        MHD_resume_connection(ls->conn);
    }
}

/* Whether `ev` may have added to the history a monitor stream follows. A point's
 * events name its address with the connection's port or the announced one (an
 * incoming connection's source port differs), so the IP decides; a peer's name it.
 * A false positive costs one backend call; a miss waits for the sweep. */
static bool monitor_concerned(const log_stream *ls, const tp_event *ev) {
    if (ls->source == LOG_POINT)
        return (ev->flags & TP_EVENT_HAS_POINT) && tp_ip_eq(&ev->point.ip, &ls->point.ip);
    return (ev->flags & TP_EVENT_HAS_PEER) &&
           memcmp(ev->peer_id, ls->peer.bytes, sizeof ls->peer.bytes) == 0;
}

/* Asks the backend for the items past the stream's cursor and queues each one as a
 * one-element list, as Octez's monitor does after the first value. An error (the point
 * or peer was forgotten by the pool's GC) sends nothing: if it comes back, its new
 * items come after the cursor. */
static void monitor_poll(dm_rpc *rpc, log_stream *ls) {
    ls->dirty = false;
    if (!ls->conn) return; /* server stopping */
    dm_rpc_result r;
    memset(&r, 0, sizeof r);
    if (ls->source == LOG_POINT)
        rpc->be.point_log(rpc->be.arg, &ls->point, &ls->cursor, &r);
    else
        rpc->be.peer_log(rpc->be.arg, &ls->peer, &ls->cursor, &r);
    if (r.status != MHD_HTTP_OK || !json_is_array(r.body)) {
        if (r.body) json_decref(r.body);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(r.body, i, item) {
        size_t len = 0;
        char *line = dump_line(json_pack("[O]", item), &len);
        if (line) stream_push(ls, line, len);
        free(line);
    }
    json_decref(r.body);
}

/* The monitor timer: on the turn after an event named a stream (dirty streams), and
 * every DM_RPC_MONITOR_SWEEP_NS for all of them. */
static void monitor_fired(void *arg) {
    dm_rpc *rpc = arg;
    const tp_env *env = rn_loop_env(rpc->loop);
    int64_t now = tp_env_now_ns(env);
    bool sweep = now >= rpc->monitor_sweep_ns;
    for (log_stream *ls = rpc->streams.next; ls != &rpc->streams; ls = ls->next)
        if (ls->source != LOG_NETWORK && (sweep || ls->dirty)) monitor_poll(rpc, ls);
    if (sweep) rpc->monitor_sweep_ns = now + DM_RPC_MONITOR_SWEEP_NS;
    if (rpc->n_monitors > 0) tp_env_timer_start(env, &rpc->monitor_timer, rpc->monitor_sweep_ns);
}

void dm_rpc_log_event(dm_rpc *rpc, int64_t wall_ns, const tp_event *ev) {
    if (!rpc || rpc->n_streams == 0) return;
    size_t octez_len = 0, all_len = 0;
    char *octez = NULL, *all = NULL;
    bool octez_done = false, all_done = false;
    bool wake = false;
    for (log_stream *ls = rpc->streams.next; ls != &rpc->streams; ls = ls->next) {
        if (ls->source != LOG_NETWORK) {
            /* the pool may log the item after emitting the event: look next turn */
            if (!ls->dirty && monitor_concerned(ls, ev)) ls->dirty = wake = true;
        } else if (ls->all) {
            if (!all_done) all = dump_line(all_event_json(wall_ns, ev), &all_len);
            all_done = true;
            if (all) stream_push(ls, all, all_len);
        } else {
            if (!octez_done) octez = dump_line(octez_event_json(ev), &octez_len);
            octez_done = true;
            if (octez) stream_push(ls, octez, octez_len);
        }
    }
    free(octez);
    free(all);
    if (wake) tp_env_timer_start_in(rn_loop_env(rpc->loop), &rpc->monitor_timer, 0);
}

size_t dm_rpc_log_streams(const dm_rpc *rpc) {
    return rpc->n_streams;
}

/* ------------------------------------------------------------------------------------ */
/* pending requests                                                                     */

void dm_rpc_complete(dm_rpc_pending *p, dm_rpc_result *r) {
    TP_ASSERT(!p->done);
    p->done = true;
    p->res = *r;
    r->body = NULL;
    if (p->conn) {
        if (p->suspended) {
            p->suspended = false;
            MHD_resume_connection(p->conn);
        }
        /* else: completed before the request handler returned; it answers at once */
    } else {
        /* the client went away: nothing to answer */
        if (p->res.body) json_decref(p->res.body);
        p->prev->next = p->next;
        p->next->prev = p->prev;
        free(p);
    }
}

/* Sends a completed pending answer; the body is consumed (never freed twice). */
static enum MHD_Result send_pending_result(struct MHD_Connection *conn, dm_rpc_pending *p) {
    dm_rpc_result r = p->res;
    p->res.body = NULL;
    return send_result(conn, &r);
}

/* ------------------------------------------------------------------------------------ */
/* routing                                                                              */

#define SEGS_MAX 6

static bool is_method(const char *m, const char *want) {
    return strcmp(m, want) == 0;
}

static enum MHD_Result bad_method(struct MHD_Connection *conn, const char *method,
                                  const char *url, const char *allowed) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s is not allowed on %.100s; use %s", method, url, allowed);
    return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, msg);
}

static enum MHD_Result not_implemented(struct MHD_Connection *conn, const char *url) {
    char msg[256];
    snprintf(msg, sizeof msg, "%.100s is not available in this node", url);
    return send_error(conn, MHD_HTTP_NOT_IMPLEMENTED, msg);
}

/* GET /network/full_stat: the four answers of stat, connections, peers and points,
 * taken in this one turn of the loop, the connections split by their "incoming". */
static enum MHD_Result full_stat(dm_rpc *rpc, struct MHD_Connection *conn, const char *url) {
    if (!rpc->be.stat || !rpc->be.connections || !rpc->be.peers || !rpc->be.points)
        return not_implemented(conn, url);
    dm_rpc_result parts[4];
    memset(parts, 0, sizeof parts);
    rpc->be.stat(rpc->be.arg, &parts[0]);
    rpc->be.connections(rpc->be.arg, &parts[1]);
    rpc->be.peers(rpc->be.arg, 0, &parts[2]);
    rpc->be.points(rpc->be.arg, 0, &parts[3]);
    int bad = -1;
    for (int i = 0; i < 4 && bad < 0; i++)
        if (parts[i].status != MHD_HTTP_OK || !parts[i].body) bad = i;
    if (bad < 0 && !json_is_array(parts[1].body)) bad = 1;
    if (bad >= 0) {
        dm_rpc_result r = parts[bad];
        parts[bad].body = NULL;
        static const char *const names[4] = {"stat", "connections", "peers", "points"};
        if (r.status == MHD_HTTP_OK)
            dm_rpc_fail(&r, 500, "the backend gave no %s list or object", names[bad]);
        for (int i = 0; i < 4; i++)
            if (parts[i].body) json_decref(parts[i].body);
        return send_result(conn, &r);
    }
    json_t *incoming = json_array(), *outgoing = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(parts[1].body, i, c)
        json_array_append(json_is_true(json_object_get(c, "incoming")) ? incoming : outgoing, c);
    json_decref(parts[1].body);
    json_t *o = json_pack("{s:o,s:o,s:o,s:o,s:o}", "stat", parts[0].body, "incoming_connections",
                          incoming, "outgoing_connections", outgoing, "peers", parts[2].body,
                          "points", parts[3].body);
    if (!o) return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    return send_json(conn, MHD_HTTP_OK, o);
}

/* GET .../log?monitor: a stream of the point's (peer != NULL: the peer's) history. */
static enum MHD_Result start_monitor(dm_rpc *rpc, struct MHD_Connection *conn, const char *url,
                                     const tp_point *point, const tp_peer_id *peer) {
    if (point ? !rpc->be.point_log : !rpc->be.peer_log) return not_implemented(conn, url);
    log_stream *ls = calloc(1, sizeof *ls);
    if (!ls) return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    ls->source = point ? LOG_POINT : LOG_PEER;
    if (point) ls->point = *point;
    if (peer) ls->peer = *peer;
    return start_log_stream(rpc, conn, ls);
}

/* The value of a ?monitor flag: absent, empty or "true" is on, "false" off; anything
 * else is an error. */
static bool parse_monitor(const args *a, bool *on, char *msg, size_t cap) {
    *on = false;
    for (size_t i = 0; i < a->n; i++) {
        const char *v = a->values[i];
        if (!v || !*v || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
            *on = true;
        } else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0) {
            *on = false;
        } else {
            snprintf(msg, cap, "monitor is a flag: ?monitor, ?monitor=true or ?monitor=false "
                     "(got '%.40s')", v);
            return false;
        }
    }
    return true;
}

/* Calls a backend function with the result struct, or answers 501 when it is NULL. */
#define CALL(conn, url, fn, ...)                                                          \
    do {                                                                                 \
        if (!rpc->be.fn) return not_implemented(conn, url);                              \
        dm_rpc_result r_;                                                                \
        memset(&r_, 0, sizeof r_);                                                       \
        rpc->be.fn(rpc->be.arg, ##__VA_ARGS__, &r_);                                     \
        return send_result(conn, &r_);                                                   \
    } while (0)

static bool parse_acl_body(const req *rq, bool allow_peer_id, dm_acl *acl, bool *has_peer,
                           tp_peer_id *peer, char *msg, size_t cap) {
    *acl = DM_ACL_NONE;
    *has_peer = false;
    if (rq->too_big) {
        snprintf(msg, cap, "request body above %d bytes", DM_RPC_BODY_MAX);
        return false;
    }
    if (rq->body_len == 0) {
        snprintf(msg, cap, "missing body: send {\"acl\": \"ban\" | \"trust\" | \"open\"}");
        return false;
    }
    json_error_t jerr;
    json_t *o = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o || !json_is_object(o)) {
        if (o || jerr.line < 1) /* no position: jansson has none (e.g. a non-object) */
            snprintf(msg, cap, "body: %s; send {\"acl\": \"ban\"}",
                     o ? "expected a JSON object" : jerr.text);
        else
            snprintf(msg, cap, "body: %s at line %d column %d; send {\"acl\": \"ban\"}",
                     jerr.text, jerr.line, jerr.column);
        json_decref(o);
        return false;
    }
    const char *key;
    json_t *v;
    bool ok = true;
    json_object_foreach(o, key, v) {
        if (strcmp(key, "acl") == 0) {
            const char *s = json_string_value(v);
            if (s && strcmp(s, "ban") == 0)
                *acl = DM_ACL_BAN;
            else if (s && strcmp(s, "trust") == 0)
                *acl = DM_ACL_TRUST;
            else if (s && strcmp(s, "open") == 0)
                *acl = DM_ACL_OPEN;
            else {
                snprintf(msg, cap, "body: \"acl\" must be \"ban\", \"trust\" or \"open\"");
                ok = false;
            }
        } else if (allow_peer_id && strcmp(key, "peer_id") == 0) {
            const char *s = json_string_value(v);
            if (!s || dm_parse_peer_id(s, peer, msg, cap) != TP_OK) {
                if (!s) snprintf(msg, cap, "body: \"peer_id\" must be a string");
                ok = false;
            } else {
                *has_peer = true;
            }
        } else {
            snprintf(msg, cap, "body: unknown key \"%.40s\" (allowed: \"acl\"%s)", key,
                     allow_peer_id ? ", \"peer_id\"" : "");
            ok = false;
        }
        if (!ok) break;
    }
    json_decref(o);
    return ok;
}

static enum MHD_Result route(dm_rpc *rpc, struct MHD_Connection *conn, const char *url,
                             const char *method, req *rq) {
    char path[512];
    if (strlen(url) >= sizeof path) return send_error(conn, MHD_HTTP_NOT_FOUND, "path too long");
    snprintf(path, sizeof path, "%s", url);
    char *segs[SEGS_MAX];
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(path, "/", &save); tok;
         tok = strtok_r(NULL, "/", &save)) {
        if (n == SEGS_MAX) return send_error(conn, MHD_HTTP_NOT_FOUND, "no such endpoint");
        segs[n++] = tok;
    }
    args a;
    memset(&a, 0, sizeof a);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    char msg[320];
    static const char *const none[] = {NULL};
    static const char *const filter_only[] = {"filter", NULL};
    static const char *const wait_only[] = {"wait", NULL};
    static const char *const timeout_only[] = {"timeout", NULL};
    static const char *const monitor_only[] = {"monitor", NULL};
    static const char *const all_only[] = {"all", NULL};

    if (n == 1 && strcmp(segs[0], "version") == 0) {
        if (!is_method(method, "GET")) return bad_method(conn, method, url, "GET");
        if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
        CALL(conn, url, version);
    }
    if (n < 2 || strcmp(segs[0], "network") != 0) {
        snprintf(msg, sizeof msg,
                 "no such endpoint %.100s; tidepool serves /version and /network/... "
                 "(self, stat, full_stat, log, connections, points, peers, greylist)",
                 url);
        return send_error(conn, MHD_HTTP_NOT_FOUND, msg);
    }
    const char *what = segs[1];
    if (n == 2 && (strcmp(what, "self") == 0 || strcmp(what, "stat") == 0 ||
                   strcmp(what, "log") == 0 || strcmp(what, "full_stat") == 0)) {
        if (!is_method(method, "GET")) return bad_method(conn, method, url, "GET");
        if (what[0] == 'l') {
            if (!args_check(&a, all_only, msg, sizeof msg)) return send_error(conn, 400, msg);
            log_stream *ls = calloc(1, sizeof *ls);
            if (!ls) return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
            ls->source = LOG_NETWORK;
            ls->all = a.n > 0;
            return start_log_stream(rpc, conn, ls);
        }
        if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
        if (what[0] == 'f') return full_stat(rpc, conn, url);
        if (what[1] == 'e') CALL(conn, url, self);
        CALL(conn, url, stat);
    }
    if (strcmp(what, "connections") == 0) {
        if (n == 2) {
            if (!is_method(method, "GET")) return bad_method(conn, method, url, "GET");
            if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
            CALL(conn, url, connections);
        }
        if (n == 3) {
            tp_peer_id id;
            if (dm_parse_peer_id(segs[2], &id, msg, sizeof msg) != TP_OK)
                return send_error(conn, MHD_HTTP_BAD_REQUEST, msg);
            if (is_method(method, "GET")) {
                if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
                CALL(conn, url, connection, &id);
            }
            if (is_method(method, "DELETE")) {
                if (!args_check(&a, wait_only, msg, sizeof msg)) return send_error(conn, 400, msg);
                CALL(conn, url, kick, &id, a.n > 0);
            }
            return bad_method(conn, method, url, "GET or DELETE");
        }
    }
    if (strcmp(what, "points") == 0 && n >= 2 && n <= 4) {
        if (n == 2) {
            if (!is_method(method, "GET")) return bad_method(conn, method, url, "GET");
            unsigned f;
            if (!args_check(&a, filter_only, msg, sizeof msg) ||
                !parse_filters(&a, true, &f, msg, sizeof msg))
                return send_error(conn, 400, msg);
            CALL(conn, url, points, f);
        }
        tp_point p;
        if (dm_parse_point(segs[2], &p, msg, sizeof msg) != TP_OK)
            return send_error(conn, MHD_HTTP_BAD_REQUEST, msg);
        if (n == 4) {
            if (strcmp(segs[3], "banned") != 0 && strcmp(segs[3], "log") != 0)
                return send_error(conn, MHD_HTTP_NOT_FOUND,
                                  "no such endpoint: /network/points/<point>/ takes banned or "
                                  "log");
            if (!is_method(method, "GET")) return bad_method(conn, method, url, "GET");
            if (segs[3][0] == 'l') {
                bool monitor;
                if (!args_check(&a, monitor_only, msg, sizeof msg) ||
                    !parse_monitor(&a, &monitor, msg, sizeof msg))
                    return send_error(conn, 400, msg);
                if (monitor) return start_monitor(rpc, conn, url, &p, NULL);
                dm_rpc_log_cursor from = DM_RPC_LOG_CURSOR_START;
                CALL(conn, url, point_log, &p, &from);
            }
            if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
            CALL(conn, url, point_banned, &p);
        }
        if (is_method(method, "GET")) {
            if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
            CALL(conn, url, point, &p);
        }
        if (is_method(method, "PUT")) {
            if (!args_check(&a, timeout_only, msg, sizeof msg)) return send_error(conn, 400, msg);
            int64_t timeout_ns = INT64_C(10000000000); /* Octez's default: 10 s */
            if (a.n > 0) {
                char *end = NULL;
                double s = a.values[0] ? strtod(a.values[0], &end) : -1;
                if (!a.values[0] || *end != '\0' || !(s > 0 && s <= 3600))
                    return send_error(conn, 400,
                                      "timeout must be a number of seconds in (0, 3600]");
                timeout_ns = (int64_t)(s * 1e9);
            }
            if (!rpc->be.point_connect) return not_implemented(conn, url);
            dm_rpc_pending *pd = calloc(1, sizeof *pd);
            if (!pd) return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
            pd->rpc = rpc;
            pd->conn = conn;
            pd->next = &rpc->pendings;
            pd->prev = rpc->pendings.prev;
            rpc->pendings.prev->next = pd;
            rpc->pendings.prev = pd;
            dm_rpc_result r;
            memset(&r, 0, sizeof r);
            int k = rpc->be.point_connect(rpc->be.arg, &p, timeout_ns, pd, &r);
            if (k == DM_RPC_PENDING) {
                rq->pending = pd;
                if (pd->done) return send_pending_result(conn, pd);
                pd->suspended = true;
                MHD_suspend_connection(conn);
                return MHD_YES;
            }
            pd->prev->next = pd->next;
            pd->next->prev = pd->prev;
            free(pd);
            return send_result(conn, &r);
        }
        if (is_method(method, "PATCH")) {
            if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
            dm_acl acl;
            bool has_peer;
            tp_peer_id peer;
            if (!parse_acl_body(rq, true, &acl, &has_peer, &peer, msg, sizeof msg))
                return send_error(conn, rq->too_big ? MHD_HTTP_CONTENT_TOO_LARGE : 400, msg);
            CALL(conn, url, point_patch, &p, acl, has_peer ? &peer : NULL);
        }
        return bad_method(conn, method, url, "GET, PUT or PATCH");
    }
    if (strcmp(what, "peers") == 0 && n >= 2 && n <= 4) {
        if (n == 2) {
            if (!is_method(method, "GET")) return bad_method(conn, method, url, "GET");
            unsigned f;
            if (!args_check(&a, filter_only, msg, sizeof msg) ||
                !parse_filters(&a, false, &f, msg, sizeof msg))
                return send_error(conn, 400, msg);
            CALL(conn, url, peers, f);
        }
        tp_peer_id id;
        if (dm_parse_peer_id(segs[2], &id, msg, sizeof msg) != TP_OK)
            return send_error(conn, MHD_HTTP_BAD_REQUEST, msg);
        if (n == 4) {
            if (strcmp(segs[3], "banned") != 0 && strcmp(segs[3], "log") != 0)
                return send_error(conn, MHD_HTTP_NOT_FOUND,
                                  "no such endpoint: /network/peers/<peer_id>/ takes banned or "
                                  "log");
            if (!is_method(method, "GET")) return bad_method(conn, method, url, "GET");
            if (segs[3][0] == 'l') {
                bool monitor;
                if (!args_check(&a, monitor_only, msg, sizeof msg) ||
                    !parse_monitor(&a, &monitor, msg, sizeof msg))
                    return send_error(conn, 400, msg);
                if (monitor) return start_monitor(rpc, conn, url, NULL, &id);
                dm_rpc_log_cursor from = DM_RPC_LOG_CURSOR_START;
                CALL(conn, url, peer_log, &id, &from);
            }
            if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
            CALL(conn, url, peer_banned, &id);
        }
        if (is_method(method, "GET")) {
            if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
            CALL(conn, url, peer, &id);
        }
        if (is_method(method, "PATCH")) {
            if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
            dm_acl acl;
            bool has_peer;
            tp_peer_id unused;
            if (!parse_acl_body(rq, false, &acl, &has_peer, &unused, msg, sizeof msg))
                return send_error(conn, rq->too_big ? MHD_HTTP_CONTENT_TOO_LARGE : 400, msg);
            CALL(conn, url, peer_patch, &id, acl);
        }
        return bad_method(conn, method, url, "GET or PATCH");
    }
    if (strcmp(what, "greylist") == 0) {
        if (!args_check(&a, none, msg, sizeof msg)) return send_error(conn, 400, msg);
        if (n == 2) {
            if (!is_method(method, "DELETE")) return bad_method(conn, method, url, "DELETE");
            CALL(conn, url, greylist_clear);
        }
        if (n == 3 && (strcmp(segs[2], "ips") == 0 || strcmp(segs[2], "peers") == 0)) {
            if (!is_method(method, "GET")) return bad_method(conn, method, url, "GET");
            if (segs[2][0] == 'i') CALL(conn, url, greylist_ips);
            CALL(conn, url, greylist_peers);
        }
    }
    snprintf(msg, sizeof msg, "no such endpoint %.100s", url);
    return send_error(conn, MHD_HTTP_NOT_FOUND, msg);
}

/* The admin RPC has no authentication; it is meant for local tools (tidepool admin,
 * curl). Two cheap guards keep web pages out: a browser's cross-origin request carries
 * an Origin header (refused: no CORS), and a DNS-rebinding attack needs a host name in
 * the Host header (only literal addresses and "localhost" are accepted). */
static bool request_allowed(struct MHD_Connection *conn, char *why, size_t cap) {
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN) != NULL) {
        snprintf(why, cap, "requests from web pages (with an Origin header) are refused: the "
                 "admin RPC has no authentication and serves local tools only");
        return false;
    }
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (host == NULL) return true; /* HTTP/1.0 */
    char name[300];
    snprintf(name, sizeof name, "%s", host);
    char *colon = NULL;
    if (name[0] == '[') {
        char *close = strchr(name, ']');
        if (close) close[1] = '\0';
    } else if ((colon = strrchr(name, ':')) != NULL) {
        *colon = '\0';
    }
    tp_ip ip;
    const char *literal = name;
    size_t len = strlen(name);
    if (name[0] == '[' && len >= 2 && name[len - 1] == ']') {
        literal = name + 1;
        len -= 2;
    }
    if (strcmp(name, "localhost") == 0 || tp_ip_parse(literal, len, &ip) == TP_OK) return true;
    snprintf(why, cap, "Host '%.100s' refused: use an IP address or localhost to reach the "
             "admin RPC", host);
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    dm_rpc *rpc = cls;
    req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (!rq->too_big && rq->body_len + n <= DM_RPC_BODY_MAX) {
            char *nb = realloc(rq->body, rq->body_len + n + 1);
            if (!nb) return MHD_NO;
            rq->body = nb;
            memcpy(rq->body + rq->body_len, upload_data, n);
            rq->body_len += n;
        } else {
            rq->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->pending) {
        /* resumed: the answer is there */
        if (!rq->pending->done) return MHD_YES;
        return send_pending_result(conn, rq->pending);
    }
    char why[200];
    if (!request_allowed(conn, why, sizeof why)) return send_error(conn, MHD_HTTP_FORBIDDEN, why);
    return route(rpc, conn, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    req *rq = *con_cls;
    if (!rq) return;
    if (rq->pending) {
        dm_rpc_pending *p = rq->pending;
        p->conn = NULL;
        if (p->done) {
            p->prev->next = p->next;
            p->next->prev = p->prev;
            free(p);
        }
        /* else the backend still holds it; dm_rpc_complete frees it */
    }
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

/* ------------------------------------------------------------------------------------ */
/* lifecycle                                                                            */

static int open_listen_socket(const tp_point *at, uint16_t *port, tp_err *err) {
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    int family;
    if (tp_ip_is_v4mapped(&at->ip)) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(at->port);
        s4->sin_addr.s_addr = htonl(tp_ip_v4(&at->ip));
        len = sizeof *s4;
        family = AF_INET;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(at->port);
        memcpy(&s6->sin6_addr, at->ip.bytes, 16);
        len = sizeof *s6;
        family = AF_INET6;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = TP_ERR_IO;
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 32) != 0) {
        int e = errno;
        close(fd);
        *err = e == EADDRINUSE ? TP_ERR_ADDR_IN_USE
               : e == EADDRNOTAVAIL || e == EAFNOSUPPORT ? TP_ERR_ADDR_NOT_AVAILABLE
                                                         : TP_ERR_IO;
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
        *port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                 : ((struct sockaddr_in6 *)&bound)->sin6_port);
    return fd;
}

tp_err dm_rpc_start(rn_loop *loop, const tp_point *at, const dm_rpc_backend *backend,
                    dm_rpc **out, char *error, size_t cap) {
    dm_rpc *rpc = calloc(1, sizeof *rpc);
    if (!rpc) return TP_ERR_NOMEM;
    rpc->loop = loop;
    rpc->be = *backend;
    rpc->streams.next = rpc->streams.prev = &rpc->streams;
    rpc->pendings.next = rpc->pendings.prev = &rpc->pendings;
    tp_timer_init(&rpc->timer, rpc_timer_fired, rpc);
    tp_timer_init(&rpc->monitor_timer, monitor_fired, rpc);
    tp_err err = TP_OK;
    char where[TP_POINT_TEXT_MAX];
    tp_point_format(at, where);
    rpc->listen_fd = open_listen_socket(at, &rpc->port, &err);
    if (rpc->listen_fd < 0) {
        if (error && cap)
            snprintf(error, cap, "cannot listen for RPC on %s: %s%s", where, tp_strerror(err),
                     err == TP_ERR_ADDR_IN_USE
                         ? " (another node or program uses it; choose another --rpc-addr)"
                         : "");
        free(rpc);
        return err;
    }
    for (size_t i = 0; i < DM_RPC_CONNECTIONS_MAX; i++) {
        rpc->gate[i].rpc = rpc;
        rpc->gate[i].fd = -1;
        tp_timer_init(&rpc->gate[i].timer, gate_timer_fired, &rpc->gate[i]);
    }
    /* MHD gets no listening socket: connections come through the front door. */
    rpc->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET,
                              0, NULL, NULL, on_request, rpc,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, rpc,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)DM_RPC_CONNECTIONS_MAX,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)DM_RPC_IDLE_TIMEOUT_S,
                              MHD_OPTION_END);
    if (!rpc->d) {
        if (error && cap) snprintf(error, cap, "cannot start the RPC server on %s", where);
        close(rpc->listen_fd);
        free(rpc);
        return TP_ERR_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(rpc->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info || rn_watch_open(loop, info->epoll_fd, RN_WATCH_READ, rpc_watch_fired, rpc,
                               &rpc->watch) != TP_OK) {
        if (error && cap) snprintf(error, cap, "cannot watch the RPC server's descriptor");
        MHD_stop_daemon(rpc->d);
        close(rpc->listen_fd);
        free(rpc);
        return TP_ERR_IO;
    }
    if (rn_watch_open(loop, rpc->listen_fd, RN_WATCH_READ, listen_fired, rpc,
                      &rpc->listen_watch) != TP_OK) {
        if (error && cap) snprintf(error, cap, "cannot watch the RPC listening socket");
        rn_watch_close(rpc->watch);
        MHD_stop_daemon(rpc->d);
        close(rpc->listen_fd);
        free(rpc);
        return TP_ERR_IO;
    }
    rpc_pump(rpc);
    *out = rpc;
    return TP_OK;
}

uint16_t dm_rpc_port(const dm_rpc *rpc) {
    return rpc->port;
}

void dm_rpc_stop(dm_rpc *rpc) {
    if (!rpc) return;
    tp_env_timer_stop(rn_loop_env(rpc->loop), &rpc->timer);
    tp_env_timer_stop(rn_loop_env(rpc->loop), &rpc->monitor_timer);
    rn_watch_close(rpc->watch);
    rn_watch_close(rpc->listen_watch);
    for (size_t i = 0; i < DM_RPC_CONNECTIONS_MAX; i++) gate_free(&rpc->gate[i], true);
    /* Resume what is suspended so that MHD can close it. */
    for (log_stream *ls = rpc->streams.next; ls != &rpc->streams; ls = ls->next) {
        if (ls->suspended && ls->conn) MHD_resume_connection(ls->conn);
        ls->suspended = false;
        ls->conn = NULL; /* log_read must not suspend again */
    }
    for (dm_rpc_pending *p = rpc->pendings.next; p != &rpc->pendings; p = p->next)
        if (p->conn && p->suspended) {
            p->suspended = false;
            MHD_resume_connection(p->conn);
        }
    MHD_stop_daemon(rpc->d);
    close(rpc->listen_fd);
    while (rpc->pendings.next != &rpc->pendings) {
        dm_rpc_pending *p = rpc->pendings.next;
        p->prev->next = p->next;
        p->next->prev = p->prev;
        if (p->res.body) json_decref(p->res.body);
        free(p);
    }
    free(rpc);
}
