/* tests/test_rpc.c — daemon/rpc (the admin RPC server) and daemon/client over loopback,
 * against a recording mock backend: routing of every /network/... endpoint, argument
 * validation (malformed peer ids and points -> 400 naming them, unknown query
 * parameters and filters, PATCH bodies), 404/405/501, a PUT connect answered later
 * (suspend/resume), the /network/log stream, the point / peer log ?monitor streams,
 * /network/full_stat assembled from the other answers, and a port already in use.
 *
 * The server runs in the realnet loop on the main thread; the HTTP client runs in a
 * second thread (blocking libcurl calls), as `tidepool admin` would from outside. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/client.h"
#include "daemon/rpc.h"

static const char *PEER_A = "idrRoknJh9zwEePNswF3MPGFzmKaVp";

typedef struct mock {
    int calls;
    char last[64];
    unsigned filters;
    dm_acl acl;
    bool has_expected;
    tp_peer_id peer;
    tp_point point;
    bool wait;
    int64_t timeout_ns;
    dm_rpc_pending *pending;
    tp_timer complete_timer;
    rn_loop *loop;
    /* the point 10.0.0.1:9732 and the peer PEER_A have a history of `history` items
     * {"n": 1..history}; other points and peers are unknown (404) */
    int history;
    int log_calls; /* point_log + peer_log */
} mock;

static void record(mock *m, const char *what) {
    m->calls++;
    snprintf(m->last, sizeof m->last, "%s", what);
}

static void m_self(void *arg, dm_rpc_result *r) {
    record(arg, "self");
    dm_rpc_ok(r, json_string(PEER_A));
}
static void m_stat(void *arg, dm_rpc_result *r) {
    record(arg, "stat");
    dm_rpc_ok(r, json_pack("{s:s,s:s,s:i,s:i}", "total_sent", "10", "total_recv", "20",
                           "current_inflow", 1, "current_outflow", 2));
}
static void m_connections(void *arg, dm_rpc_result *r) {
    record(arg, "connections");
    dm_rpc_ok(r, json_pack("[{s:b,s:s},{s:b,s:s},{s:b,s:s}]", "incoming", 1, "peer_id", "in1",
                           "incoming", 0, "peer_id", "out1", "incoming", 1, "peer_id", "in2"));
}
static void m_connection(void *arg, const tp_peer_id *p, dm_rpc_result *r) {
    mock *m = arg;
    record(m, "connection");
    m->peer = *p;
    dm_rpc_fail(r, 404, "not connected");
}
static void m_kick(void *arg, const tp_peer_id *p, bool wait, dm_rpc_result *r) {
    mock *m = arg;
    record(m, "kick");
    m->peer = *p;
    m->wait = wait;
    dm_rpc_ok(r, NULL);
}
static void m_points(void *arg, unsigned f, dm_rpc_result *r) {
    mock *m = arg;
    record(m, "points");
    m->filters = f;
    dm_rpc_ok(r, json_array());
}
static void m_point(void *arg, const tp_point *p, dm_rpc_result *r) {
    mock *m = arg;
    record(m, "point");
    m->point = *p;
    dm_rpc_ok(r, json_pack("{s:b}", "trusted", 0));
}
static void complete_later(void *arg) {
    mock *m = arg;
    dm_rpc_result r;
    dm_rpc_ok(&r, NULL);
    dm_rpc_complete(m->pending, &r);
    m->pending = NULL;
}
static int m_point_connect(void *arg, const tp_point *p, int64_t timeout_ns,
                           dm_rpc_pending *pending, dm_rpc_result *r) {
    mock *m = arg;
    record(m, "connect");
    m->point = *p;
    m->timeout_ns = timeout_ns;
    m->pending = pending;
    /* answer 50 ms later, from the loop, as a real connect would */
    tp_env_timer_start_in(rn_loop_env(m->loop), &m->complete_timer, 50000000);
    (void)r;
    return DM_RPC_PENDING;
}
static void m_point_patch(void *arg, const tp_point *p, dm_acl acl, const tp_peer_id *expected,
                          dm_rpc_result *r) {
    mock *m = arg;
    record(m, "point_patch");
    m->point = *p;
    m->acl = acl;
    m->has_expected = expected != NULL;
    if (expected) m->peer = *expected;
    dm_rpc_ok(r, json_pack("{s:b}", "trusted", acl == DM_ACL_TRUST));
}
static void m_peers(void *arg, unsigned f, dm_rpc_result *r) {
    mock *m = arg;
    record(m, "peers");
    m->filters = f;
    dm_rpc_ok(r, json_pack("[[s,{s:s}]]", "in1", "state", "running"));
}
/* The mock's cursor is the number of items delivered (in time_ns). */
static json_t *m_history_since(mock *m, dm_rpc_log_cursor *c) {
    m->log_calls++;
    json_t *list = json_array();
    for (int64_t i = c->time_ns < 0 ? 0 : c->time_ns; i < m->history; i++)
        json_array_append_new(list, json_pack("{s:i}", "n", (int)i + 1));
    c->time_ns = m->history;
    c->at_time = 0;
    return list;
}
static void m_point_log(void *arg, const tp_point *p, dm_rpc_log_cursor *c, dm_rpc_result *r) {
    mock *m = arg;
    record(m, "point_log");
    m->point = *p;
    tp_point known = tp_point_v4(0x0a000001, 9732);
    if (!tp_point_eq(p, &known)) {
        dm_rpc_fail(r, 404, "unknown point");
        return;
    }
    dm_rpc_ok(r, m_history_since(m, c));
}
static void m_peer_log(void *arg, const tp_peer_id *p, dm_rpc_log_cursor *c, dm_rpc_result *r) {
    mock *m = arg;
    record(m, "peer_log");
    tp_peer_id known;
    assert_int_equal(tp_peer_id_of_b58(PEER_A, strlen(PEER_A), &known), TP_OK);
    if (!tp_peer_id_eq(p, &known)) {
        dm_rpc_fail(r, 404, "unknown peer");
        return;
    }
    dm_rpc_ok(r, m_history_since(m, c));
}
static void m_peer_patch(void *arg, const tp_peer_id *p, dm_acl acl, dm_rpc_result *r) {
    mock *m = arg;
    record(m, "peer_patch");
    m->peer = *p;
    m->acl = acl;
    dm_rpc_ok(r, json_object());
}
static void m_greylist_clear(void *arg, dm_rpc_result *r) {
    record(arg, "greylist_clear");
    dm_rpc_ok(r, NULL);
}

/* ------------------------------------------------------------------------------------ */
/* a client thread running a script of requests                                          */

typedef struct exchange {
    const char *method, *path, *body;
    long want_status;
    const char *want_fragment; /* in the reply body */
    const char *want_call;     /* mock->last after it, or NULL for "no backend call" */
} exchange;

typedef struct client_run {
    char rpc[64];
    const exchange *ex;
    size_t n;
    long got_status[64];
    char got_body[64][512];
    tp_err got_err[64];
    char got_call[64][64];
    mock *m;
    volatile int done;
} client_run;

static void *client_main(void *arg) {
    client_run *cr = arg;
    for (size_t i = 0; i < cr->n; i++) {
        dm_http_reply rep = {0};
        char err[256] = "";
        cr->got_err[i] = dm_http_request(cr->rpc, cr->ex[i].method, cr->ex[i].path,
                                         cr->ex[i].body, 5000, &rep, err, sizeof err);
        if (cr->got_err[i] == TP_OK) {
            cr->got_status[i] = rep.status;
            snprintf(cr->got_body[i], sizeof cr->got_body[i], "%s", rep.body);
            dm_http_reply_free(&rep);
        } else {
            snprintf(cr->got_body[i], sizeof cr->got_body[i], "%s", err);
        }
        /* the mock ran on the server thread before the reply was sent */
        snprintf(cr->got_call[i], sizeof cr->got_call[i], "%s", cr->m->last);
        cr->m->last[0] = '\0';
    }
    __atomic_store_n(&cr->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void run_until_done(rn_loop *loop, volatile int *done) {
    const tp_env *env = rn_loop_env(loop);
    int64_t give_up = tp_env_now_ns(env) + INT64_C(20000000000);
    while (!__atomic_load_n(done, __ATOMIC_SEQ_CST)) {
        assert_true(tp_env_now_ns(env) < give_up);
        tp_err e = rn_loop_run(loop, tp_env_now_ns(env) + 5000000);
        assert_true(e == TP_OK || e == TP_ERR_TIMEOUT);
    }
}

/* Runs fn(arg) on a client thread while the loop serves it, until *done. */
static void run_client(rn_loop *loop, void *(*fn)(void *), void *arg, volatile int *done) {
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fn, arg), 0);
    run_until_done(loop, done);
    pthread_join(th, NULL);
}

static void turn(rn_loop *loop, int64_t ns) {
    tp_err e = rn_loop_run(loop, tp_env_now_ns(rn_loop_env(loop)) + ns);
    assert_true(e == TP_OK || e == TP_ERR_TIMEOUT);
}

static const tp_point LOOP4 = {{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}}, 0};

static dm_rpc *start(rn_loop **loop, mock *m, bool full) {
    rn_config cfg;
    rn_config_default(&cfg);
    assert_int_equal(rn_loop_create(&cfg, loop), TP_OK);
    memset(m, 0, sizeof *m);
    m->loop = *loop;
    m->history = 2;
    tp_timer_init(&m->complete_timer, complete_later, m);
    dm_rpc_backend be;
    memset(&be, 0, sizeof be);
    be.self = m_self;
    be.stat = m_stat;
    be.connections = m_connections;
    be.connection = m_connection;
    be.kick = m_kick;
    be.points = m_points;
    be.point = m_point;
    be.point_connect = m_point_connect;
    be.point_patch = m_point_patch;
    be.peers = m_peers;
    be.peer_patch = m_peer_patch;
    be.point_log = m_point_log;
    be.peer_log = m_peer_log;
    be.greylist_clear = full ? m_greylist_clear : NULL;
    be.arg = m;
    dm_rpc *rpc = NULL;
    char err[256];
    assert_int_equal(dm_rpc_start(*loop, &LOOP4, &be, &rpc, err, sizeof err), TP_OK);
    assert_true(dm_rpc_port(rpc) != 0);
    return rpc;
}

static void test_routes_and_validation(void **state) {
    (void)state;
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, false);
    static const exchange ex[] = {
        {"GET", "/network/self", NULL, 200, "\"idrRoknJh9zwEePNswF3MPGFzmKaVp\"", "self"},
        {"GET", "/network/stat", NULL, 200, "\"total_sent\":\"10\"", "stat"},
        {"GET", "/network/connections", NULL, 200, "\"peer_id\":\"out1\"", "connections"},
        /* malformed peer id: 400 naming it, the backend is not called */
        {"GET", "/network/connections/idBAD", NULL, 400, "malformed peer id 'idBAD'", NULL},
        {"DELETE", "/network/connections/idrRoknJh9zwEePNswF3MPGFzmKaVq", NULL, 400,
         "checksum", NULL},
        {"GET", "/network/connections/idrRoknJh9zwEePNswF3MPGFzmKaVp", NULL, 404,
         "not connected", "connection"},
        {"DELETE", "/network/connections/idrRoknJh9zwEePNswF3MPGFzmKaVp?wait", NULL, 200, "{}",
         "kick"},
        {"GET", "/network/points?filter=running&filter=disconnected", NULL, 200, "[]", "points"},
        {"GET", "/network/points?filter=sleeping", NULL, 400, "unknown filter 'sleeping'", NULL},
        {"GET", "/network/peers?filter=requested", NULL, 400, "unknown filter 'requested'", NULL},
        {"GET", "/network/peers?filter=accepted", NULL, 200, "[[\"in1\"", "peers"},
        {"GET", "/network/points?verbose=1", NULL, 400, "unknown query parameter 'verbose'",
         NULL},
        {"GET", "/network/points/1.2.3.4:9732", NULL, 200, "\"trusted\":false", "point"},
        {"GET", "/network/points/1.2.3.4", NULL, 400, "malformed point '1.2.3.4'", NULL},
        {"GET", "/network/points/[::1]:9732", NULL, 200, "trusted", "point"},
        {"PATCH", "/network/points/10.0.0.7:9732",
         "{\"acl\": \"trust\", \"peer_id\": \"idrRoknJh9zwEePNswF3MPGFzmKaVp\"}", 200,
         "\"trusted\":true", "point_patch"},
        {"PATCH", "/network/points/10.0.0.7:9732", "{\"acl\": \"forgive\"}", 400,
         "\\\"acl\\\" must be", NULL},
        {"PATCH", "/network/points/10.0.0.7:9732", "{\"acl\": \"ban\", \"x\": 1}", 400,
         "unknown key \\\"x\\\"", NULL},
        {"PATCH", "/network/points/10.0.0.7:9732", "{\"acl\": ", 400, "body:", NULL},
        /* a JSON value that is not an object: no made-up "line -1 column -1" */
        {"PATCH", "/network/points/10.0.0.7:9732", "[1]", 400,
         "body: expected a JSON object; send", NULL},
        {"PATCH", "/network/points/10.0.0.7:9732", "{\"peer_id\": \"idBAD\"}", 400,
         "malformed peer id", NULL},
        {"PATCH", "/network/peers/idrRoknJh9zwEePNswF3MPGFzmKaVp", "{\"acl\": \"ban\"}", 200,
         "{}", "peer_patch"},
        {"PATCH", "/network/peers/idrRoknJh9zwEePNswF3MPGFzmKaVp",
         "{\"acl\": \"ban\", \"peer_id\": \"idrRoknJh9zwEePNswF3MPGFzmKaVp\"}", 400,
         "unknown key \\\"peer_id\\\"", NULL},
        {"POST", "/network/self", NULL, 405, "use GET", NULL},
        {"GET", "/network/nothing", NULL, 404, "no such endpoint", NULL},
        {"GET", "/nothing", NULL, 404, "no such endpoint", NULL},
        {"GET", "/network/greylist/ips", NULL, 501, "not available", NULL},
        /* point and peer logs, with and without ?monitor */
        {"GET", "/network/points/10.0.0.1:9732/log", NULL, 200, "[{\"n\":1},{\"n\":2}]",
         "point_log"},
        {"GET", "/network/points/10.0.0.1:9732/log?monitor=false", NULL, 200, "[{\"n\":1}",
         "point_log"},
        {"GET", "/network/points/10.9.9.9:9732/log?monitor", NULL, 404, "unknown point",
         "point_log"},
        {"GET", "/network/points/10.0.0.1:9732/log?monitor=maybe", NULL, 400,
         "monitor is a flag", NULL},
        {"GET", "/network/points/10.0.0.1:9732/log?monitor&since=3", NULL, 400,
         "unknown query parameter 'since'", NULL},
        {"GET", "/network/points/10.0.0.1/log?monitor", NULL, 400, "malformed point", NULL},
        {"GET", "/network/peers/idqjq34sB6uHWdFzJDB97zwXAdHASb/log?monitor", NULL, 404,
         "unknown peer", "peer_log"},
        {"GET", "/network/peers/idrRoknJh9zwEePNswF3MPGFzmKaVp/log?monitor=2", NULL, 400,
         "monitor is a flag", NULL},
        {"GET", "/network/peers/idBAD/log?monitor", NULL, 400, "malformed peer id", NULL},
        {"GET", "/network/full_stat?verbose", NULL, 400, "unknown query parameter", NULL},
        {"POST", "/network/full_stat", NULL, 405, "use GET", NULL},
        {"DELETE", "/network/greylist", NULL, 501, "not available", NULL},
        {"PUT", "/network/points/127.0.0.1:1?timeout=2.5", NULL, 200, "{}", "connect"},
        {"PUT", "/network/points/127.0.0.1:1?timeout=-1", NULL, 400, "timeout", NULL},
    };
    client_run cr;
    memset(&cr, 0, sizeof cr);
    snprintf(cr.rpc, sizeof cr.rpc, "127.0.0.1:%u", dm_rpc_port(rpc));
    cr.ex = ex;
    cr.n = sizeof ex / sizeof ex[0];
    cr.m = &m;
    run_client(loop, client_main, &cr, &cr.done);
    for (size_t i = 0; i < cr.n; i++) {
        const exchange *e = &ex[i];
        bool ok = cr.got_err[i] == TP_OK && cr.got_status[i] == e->want_status &&
                  strstr(cr.got_body[i], e->want_fragment) != NULL &&
                  strcmp(cr.got_call[i], e->want_call ? e->want_call : "") == 0;
        if (!ok)
            fail_msg("%s %s: got err %d status %ld call '%s' body %s; want %ld '%s' call '%s'",
                     e->method, e->path, cr.got_err[i], cr.got_status[i], cr.got_call[i],
                     cr.got_body[i], e->want_status, e->want_fragment,
                     e->want_call ? e->want_call : "");
    }
    /* the arguments reached the backend decoded */
    char txt[TP_POINT_TEXT_MAX];
    assert_string_equal(tp_point_format(&m.point, txt), "127.0.0.1:1");
    assert_int_equal(m.timeout_ns, 2500000000LL);
    assert_null(m.pending); /* completed */
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

/* The decoded values of a few calls, one request each. */
static void test_arguments_decoded(void **state) {
    (void)state;
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    static const exchange ex1[] = {
        {"GET", "/network/points?filter=requested&filter=running", NULL, 200, "[]", "points"},
    };
    static const exchange ex2[] = {
        {"PATCH", "/network/points/[::1]:19732",
         "{\"acl\":\"ban\",\"peer_id\":\"idrRoknJh9zwEePNswF3MPGFzmKaVp\"}", 200, "false",
         "point_patch"},
    };
    static const exchange ex3[] = {
        {"DELETE", "/network/greylist", NULL, 200, "{}", "greylist_clear"},
    };
    const exchange *all[3] = {ex1, ex2, ex3};
    for (int k = 0; k < 3; k++) {
        client_run cr;
        memset(&cr, 0, sizeof cr);
        snprintf(cr.rpc, sizeof cr.rpc, "127.0.0.1:%u", dm_rpc_port(rpc));
        cr.ex = all[k];
        cr.n = 1;
        cr.m = &m;
        run_client(loop, client_main, &cr, &cr.done);
        assert_int_equal(cr.got_status[0], all[k][0].want_status);
        assert_string_equal(cr.got_call[0], all[k][0].want_call);
        if (k == 0) assert_int_equal(m.filters, DM_FILTER_REQUESTED | DM_FILTER_RUNNING);
        if (k == 1) {
            assert_int_equal(m.acl, DM_ACL_BAN);
            assert_true(m.has_expected);
            char b58[TP_PEER_ID_TEXT_SIZE];
            assert_string_equal(tp_peer_id_to_b58(&m.peer, b58), PEER_A);
            char txt[TP_POINT_TEXT_MAX];
            assert_string_equal(tp_point_format(&m.point, txt), "[::1]:19732");
        }
    }
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

/* ------------------------------------------------------------------------------------ */
/* /network/log                                                                          */

typedef struct stream_run {
    char rpc[64];
    const char *path;
    int want;
    char lines[4][512];
    int got;
    tp_err err;
    volatile int done;
} stream_run;

static bool on_line(void *arg, const char *line, size_t len) {
    stream_run *sr = arg;
    snprintf(sr->lines[sr->got], sizeof sr->lines[0], "%.*s", (int)len, line);
    __atomic_add_fetch(&sr->got, 1, __ATOMIC_SEQ_CST); /* the loop thread watches it */
    return sr->got < sr->want;
}

static void *stream_main(void *arg) {
    stream_run *sr = arg;
    char err[256];
    sr->err = dm_http_stream(sr->rpc, sr->path, on_line, sr, 10000, err, sizeof err);
    __atomic_store_n(&sr->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Feeds new_point, ban (tidepool's own kind), connection_established and
 * swap_request_received to a stream of `path` until `want` lines arrived. */
static void run_log_stream(stream_run *sr, const char *path, int want) {
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    memset(sr, 0, sizeof *sr);
    snprintf(sr->rpc, sizeof sr->rpc, "127.0.0.1:%u", dm_rpc_port(rpc));
    sr->path = path;
    sr->want = want;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stream_main, sr), 0);
    const tp_env *env = rn_loop_env(loop);
    int64_t give_up = tp_env_now_ns(env) + INT64_C(20000000000);
    /* wait for the stream to open, then feed the events, one per turn */
    while (dm_rpc_log_streams(rpc) == 0) {
        assert_true(tp_env_now_ns(env) < give_up);
        turn(loop, 5000000);
    }
    tp_peer_id id;
    assert_int_equal(tp_peer_id_of_b58(PEER_A, strlen(PEER_A), &id), TP_OK);
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TP_EVENT_NEW_POINT;
    ev.flags = TP_EVENT_HAS_POINT;
    ev.point = tp_point_v4(0x0a000001, 9732);
    dm_rpc_log_event(rpc, INT64_C(1700000000) * 1000000000, &ev);
    turn(loop, 20000000);
    ev.kind = TP_EVENT_BAN;
    ev.detail = "by \"admin\"\n";
    dm_rpc_log_event(rpc, INT64_C(1700000001) * 1000000000, &ev);
    ev.detail = NULL;
    ev.kind = TP_EVENT_CONNECTION_ESTABLISHED;
    ev.flags = TP_EVENT_HAS_POINT | TP_EVENT_HAS_PEER;
    ev.code = 1;
    memcpy(ev.peer_id, id.bytes, 16);
    dm_rpc_log_event(rpc, INT64_C(1700000002) * 1000000000, &ev);
    turn(loop, 20000000);
    ev.kind = TP_EVENT_SWAP_REQUEST_RECEIVED;
    ev.flags = TP_EVENT_HAS_PEER;
    ev.code = 0;
    dm_rpc_log_event(rpc, INT64_C(1700000003) * 1000000000, &ev);
    run_until_done(loop, &sr->done);
    pthread_join(th, NULL);
    /* the client hung up: the stream goes away */
    give_up = tp_env_now_ns(env) + INT64_C(20000000000);
    while (dm_rpc_log_streams(rpc) != 0) {
        assert_true(tp_env_now_ns(env) < give_up);
        dm_rpc_log_event(rpc, 0, &ev); /* writing is how a hang-up is noticed */
        turn(loop, 5000000);
    }
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

/* Octez's shapes exactly, tidepool's own kinds left out. */
static void test_log_stream_octez(void **state) {
    (void)state;
    stream_run sr;
    run_log_stream(&sr, "/network/log", 3);
    assert_int_equal(sr.err, TP_OK);
    assert_int_equal(sr.got, 3);
    assert_string_equal(sr.lines[0], "{\"event\":\"new_point\",\"point\":\"10.0.0.1:9732\"}");
    assert_string_equal(sr.lines[1],
                        "{\"event\":\"connection_established\","
                        "\"id_point\":{\"addr\":\"10.0.0.1\",\"port\":9732},"
                        "\"peer_id\":\"idrRoknJh9zwEePNswF3MPGFzmKaVp\"}");
    assert_string_equal(sr.lines[2], "{\"event\":\"swap_request_received\","
                                     "\"source\":\"idrRoknJh9zwEePNswF3MPGFzmKaVp\"}");
}

/* ?all: every kind, with time, code and detail; a hostile detail stays a JSON string. */
static void test_log_stream_all(void **state) {
    (void)state;
    stream_run sr;
    run_log_stream(&sr, "/network/log?all", 3);
    assert_int_equal(sr.err, TP_OK);
    assert_int_equal(sr.got, 3);
    assert_string_equal(sr.lines[0], "{\"event\":\"new_point\",\"point\":\"10.0.0.1:9732\","
                                     "\"time\":\"2023-11-14T22:13:20Z\"}");
    assert_string_equal(sr.lines[1], "{\"event\":\"ban\",\"point\":\"10.0.0.1:9732\","
                                     "\"detail\":\"by \\\"admin\\\"\\n\","
                                     "\"time\":\"2023-11-14T22:13:21Z\"}");
    assert_string_equal(sr.lines[2],
                        "{\"event\":\"connection_established\",\"point\":\"10.0.0.1:9732\","
                        "\"peer_id\":\"idrRoknJh9zwEePNswF3MPGFzmKaVp\",\"code\":1,"
                        "\"time\":\"2023-11-14T22:13:22Z\"}");
}

/* ------------------------------------------------------------------------------------ */
/* point / peer log ?monitor                                                             */

/* Opens `path` (a ?monitor stream of the mock's history, 2 items) and checks, in
 * order: the history so far as one value; an item added along with an event naming the
 * point (another port of its IP) or the peer, as a one-element list, with none of
 * /network/log's lines in between; an item added with no event at all (the sweep);
 * then the stream ends when the client hangs up. */
static void run_monitor(const char *path, bool point) {
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    stream_run sr;
    memset(&sr, 0, sizeof sr);
    snprintf(sr.rpc, sizeof sr.rpc, "127.0.0.1:%u", dm_rpc_port(rpc));
    sr.path = path;
    sr.want = 3;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stream_main, &sr), 0);
    const tp_env *env = rn_loop_env(loop);
    int64_t give_up = tp_env_now_ns(env) + INT64_C(20000000000);
    while (dm_rpc_log_streams(rpc) == 0) {
        assert_true(tp_env_now_ns(env) < give_up);
        turn(loop, 5000000);
    }
    while (__atomic_load_n(&sr.got, __ATOMIC_SEQ_CST) < 1) {
        assert_true(tp_env_now_ns(env) < give_up);
        turn(loop, 5000000);
    }
    tp_peer_id id;
    assert_int_equal(tp_peer_id_of_b58(PEER_A, strlen(PEER_A), &id), TP_OK);
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    /* an event about someone else: on /network/log only */
    ev.kind = TP_EVENT_NEW_POINT;
    ev.flags = TP_EVENT_HAS_POINT;
    ev.point = tp_point_v4(0x0a000002, 9732);
    dm_rpc_log_event(rpc, 0, &ev);
    turn(loop, 5000000);
    /* the item is logged after the event (as the pool does for a rejection): the stream
     * looks on the next turn */
    ev.kind = point ? TP_EVENT_INCOMING_CONNECTION : TP_EVENT_DISCONNECTION;
    ev.flags = point ? TP_EVENT_HAS_POINT : TP_EVENT_HAS_PEER;
    ev.point = tp_point_v4(0x0a000001, 40123);
    memcpy(ev.peer_id, id.bytes, 16);
    int calls = m.log_calls;
    dm_rpc_log_event(rpc, 0, &ev);
    m.history = 3;
    assert_int_equal(m.log_calls, calls); /* not from inside the event sink */
    turn(loop, 5000000);
    assert_true(m.log_calls > calls); /* but on the next turn, well before a sweep */
    while (__atomic_load_n(&sr.got, __ATOMIC_SEQ_CST) < 2) {
        assert_true(tp_env_now_ns(env) < give_up);
        turn(loop, 5000000);
    }
    m.history = 4; /* no event: the sweep (DM_RPC_MONITOR_SWEEP_NS) finds it */
    run_until_done(loop, &sr.done);
    pthread_join(th, NULL);
    assert_int_equal(sr.err, TP_OK);
    assert_int_equal(sr.got, 3);
    assert_string_equal(sr.lines[0], "[{\"n\":1},{\"n\":2}]");
    assert_string_equal(sr.lines[1], "[{\"n\":3}]");
    assert_string_equal(sr.lines[2], "[{\"n\":4}]");
    /* the client hung up: the stream goes away once a write fails */
    give_up = tp_env_now_ns(env) + INT64_C(20000000000);
    while (dm_rpc_log_streams(rpc) != 0) {
        assert_true(tp_env_now_ns(env) < give_up);
        m.history++;
        dm_rpc_log_event(rpc, 0, &ev);
        turn(loop, 5000000);
    }
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

static void test_point_log_monitor(void **state) {
    (void)state;
    run_monitor("/network/points/10.0.0.1:9732/log?monitor", true);
}

static void test_peer_log_monitor(void **state) {
    (void)state;
    run_monitor("/network/peers/idrRoknJh9zwEePNswF3MPGFzmKaVp/log?monitor=true", false);
}

/* dm_rpc_stop ends an open monitor stream (the node stopping) without a leak (ASan). */
static void test_monitor_server_stop(void **state) {
    (void)state;
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    stream_run sr;
    memset(&sr, 0, sizeof sr);
    snprintf(sr.rpc, sizeof sr.rpc, "127.0.0.1:%u", dm_rpc_port(rpc));
    sr.path = "/network/points/10.0.0.1:9732/log?monitor";
    sr.want = 4;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stream_main, &sr), 0);
    const tp_env *env = rn_loop_env(loop);
    int64_t give_up = tp_env_now_ns(env) + INT64_C(20000000000);
    while (__atomic_load_n(&sr.got, __ATOMIC_SEQ_CST) < 1) {
        assert_true(tp_env_now_ns(env) < give_up);
        turn(loop, 5000000);
    }
    dm_rpc_stop(rpc);
    pthread_join(th, NULL);
    /* the server closed the stream (abruptly: the client may call it an I/O error), it
     * did not leave the client waiting until its timeout */
    assert_true(sr.err != TP_ERR_TIMEOUT);
    assert_int_equal(sr.got, 1);
    rn_loop_destroy(loop);
}

/* ------------------------------------------------------------------------------------ */
/* /network/full_stat                                                                    */

typedef struct fetch_run {
    char rpc[64];
    const char *paths[8];
    size_t n;
    long status[8];
    json_t *body[8];
    volatile int done;
} fetch_run;

static void *fetch_main(void *arg) {
    fetch_run *f = arg;
    for (size_t i = 0; i < f->n; i++) {
        dm_http_reply rep = {0};
        char err[256];
        if (dm_http_request(f->rpc, "GET", f->paths[i], NULL, 5000, &rep, err, sizeof err) ==
            TP_OK) {
            f->status[i] = rep.status;
            json_error_t je;
            f->body[i] = json_loadb(rep.body, rep.len, JSON_DECODE_ANY, &je);
            dm_http_reply_free(&rep);
        }
    }
    __atomic_store_n(&f->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Exactly five keys; stat, peers and points equal the separate answers; the
 * connections split by "incoming", each in its original order. */
static void test_full_stat(void **state) {
    (void)state;
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    fetch_run f;
    memset(&f, 0, sizeof f);
    snprintf(f.rpc, sizeof f.rpc, "127.0.0.1:%u", dm_rpc_port(rpc));
    const char *paths[] = {"/network/full_stat", "/network/stat", "/network/connections",
                           "/network/peers", "/network/points"};
    for (size_t i = 0; i < 5; i++) f.paths[i] = paths[i];
    f.n = 5;
    run_client(loop, fetch_main, &f, &f.done);
    for (size_t i = 0; i < 5; i++) {
        if (f.status[i] != 200 || !f.body[i]) fail_msg("%s: status %ld", paths[i], f.status[i]);
    }
    json_t *fs = f.body[0];
    assert_true(json_is_object(fs));
    assert_int_equal(json_object_size(fs), 5);
    assert_true(json_equal(json_object_get(fs, "stat"), f.body[1]));
    assert_true(json_equal(json_object_get(fs, "peers"), f.body[3]));
    assert_true(json_equal(json_object_get(fs, "points"), f.body[4]));
    json_t *want_in = json_array(), *want_out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(f.body[2], i, c)
        json_array_append(json_is_true(json_object_get(c, "incoming")) ? want_in : want_out, c);
    assert_int_equal(json_array_size(want_in), 2);
    assert_int_equal(json_array_size(want_out), 1);
    assert_true(json_equal(json_object_get(fs, "incoming_connections"), want_in));
    assert_true(json_equal(json_object_get(fs, "outgoing_connections"), want_out));
    json_decref(want_in);
    json_decref(want_out);
    for (size_t k = 0; k < 5; k++) json_decref(f.body[k]);
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

/* A backend without one of the parts cannot answer full_stat: 501. */
static void test_full_stat_partial_backend(void **state) {
    (void)state;
    rn_config cfg;
    rn_config_default(&cfg);
    rn_loop *loop;
    assert_int_equal(rn_loop_create(&cfg, &loop), TP_OK);
    mock m;
    memset(&m, 0, sizeof m);
    dm_rpc_backend be;
    memset(&be, 0, sizeof be);
    be.stat = m_stat;
    be.connections = m_connections;
    be.points = m_points; /* no peers */
    be.arg = &m;
    dm_rpc *rpc = NULL;
    char err[256];
    assert_int_equal(dm_rpc_start(loop, &LOOP4, &be, &rpc, err, sizeof err), TP_OK);
    fetch_run f;
    memset(&f, 0, sizeof f);
    snprintf(f.rpc, sizeof f.rpc, "127.0.0.1:%u", dm_rpc_port(rpc));
    f.paths[0] = "/network/full_stat";
    f.n = 1;
    run_client(loop, fetch_main, &f, &f.done);
    assert_int_equal(f.status[0], 501);
    json_decref(f.body[0]);
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

typedef struct gone_run {
    char rpc[64];
    tp_err err;
    volatile int done;
} gone_run;

static void *gone_main(void *arg) {
    gone_run *g = arg;
    dm_http_reply rep = {0};
    char err[256];
    /* gives up after 10 ms; the mock answers after 50 ms */
    g->err = dm_http_request(g->rpc, "PUT", "/network/points/127.0.0.1:9", NULL, 10, &rep, err,
                             sizeof err);
    if (g->err == TP_OK) dm_http_reply_free(&rep);
    __atomic_store_n(&g->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* A client that hangs up while its PUT waits: the late completion is dropped without a
 * leak or a use after free (ASan), and the server goes on answering. */
static void test_pending_client_gone(void **state) {
    (void)state;
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    gone_run g;
    memset(&g, 0, sizeof g);
    snprintf(g.rpc, sizeof g.rpc, "127.0.0.1:%u", dm_rpc_port(rpc));
    run_client(loop, gone_main, &g, &g.done);
    assert_int_equal(g.err, TP_ERR_TIMEOUT);
    assert_string_equal(m.last, "connect");
    turn(loop, 200000000); /* the mock completes at 50 ms */
    assert_null(m.pending);
    static const exchange ex[] = {{"GET", "/network/self", NULL, 200, "id", "self"}};
    client_run cr;
    memset(&cr, 0, sizeof cr);
    snprintf(cr.rpc, sizeof cr.rpc, "127.0.0.1:%u", dm_rpc_port(rpc));
    cr.ex = ex;
    cr.n = 1;
    cr.m = &m;
    run_client(loop, client_main, &cr, &cr.done);
    assert_int_equal(cr.got_status[0], 200);
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

/* Raw HTTP/1.1 with chosen headers; returns the status code (0 on failure). */
typedef struct raw_run {
    uint16_t port;
    const char *headers;
    int status;
    volatile int done;
} raw_run;

static void *raw_main(void *arg) {
    raw_run *r = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(r->port);
    sa.sin_addr.s_addr = htonl(0x7f000001);
    char req[512], rep[256] = "";
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        int n = snprintf(req, sizeof req, "GET /network/self HTTP/1.1\r\n%sConnection: close\r\n\r\n",
                         r->headers);
        if (write(fd, req, (size_t)n) == n) {
            ssize_t k = read(fd, rep, sizeof rep - 1);
            if (k > 0) rep[k] = '\0';
        }
    }
    if (fd >= 0) close(fd);
    if (strncmp(rep, "HTTP/1.1 ", 9) == 0) r->status = atoi(rep + 9);
    __atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Web pages are kept out: an Origin header or a DNS name in Host gives 403. */
static void test_browser_requests_refused(void **state) {
    (void)state;
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    static const struct {
        const char *headers;
        int status;
    } cases[] = {
        {"Host: 127.0.0.1:8732\r\n", 200},
        {"Host: localhost\r\n", 200},
        {"Host: [::1]:8732\r\n", 200},
        {"Host: 127.0.0.1\r\nOrigin: http://evil.example\r\n", 403},
        {"Host: evil.example:8732\r\n", 403},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        raw_run r = {dm_rpc_port(rpc), cases[i].headers, 0, 0};
        m.last[0] = '\0';
        run_client(loop, raw_main, &r, &r.done);
        if (r.status != cases[i].status)
            fail_msg("headers %s: status %d, expected %d", cases[i].headers, r.status,
                     cases[i].status);
        if (cases[i].status == 403) assert_string_equal(m.last, ""); /* backend not called */
    }
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

/* ---- the front door: query floods, silent sockets, stream cap ---------------------- */

static int raw_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {15, 0}; /* a test that would hang fails instead */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(0x7f000001);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends "GET target" on fd and reads the start of the answer into rep; returns the
 * status (0: no answer). */
static int raw_get_on(int fd, const char *target, char *rep, size_t cap) {
    rep[0] = '\0';
    size_t tlen = strlen(target);
    char *req = malloc(tlen + 128);
    if (!req) return 0;
    int n = snprintf(req, tlen + 128, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", target);
    ssize_t sent = 0;
    while (sent < n) {
        ssize_t w = write(fd, req + sent, (size_t)(n - sent));
        if (w <= 0) break;
        sent += w;
    }
    free(req);
    ssize_t k = read(fd, rep, cap - 1);
    if (k <= 0) return 0;
    rep[k] = '\0';
    return strncmp(rep, "HTTP/1.1 ", 9) == 0 ? atoi(rep + 9) : 0;
}

static int raw_get(uint16_t port, const char *target, char *rep, size_t cap) {
    int fd = raw_connect(port);
    if (fd < 0) return 0;
    int st = raw_get_on(fd, target, rep, cap);
    close(fd);
    return st;
}

typedef struct flood_run {
    uint16_t port;
    int status[5];
    char rep[5][512];
    volatile int done;
} flood_run;

static const int flood_args[5] = {16, 17, 450, 2000, 5000};

static void *flood_main(void *arg) {
    flood_run *r = arg;
    for (int i = 0; i < 5; i++) {
        size_t cap = 64 + (size_t)flood_args[i] * 12;
        char *target = malloc(cap);
        size_t k = (size_t)snprintf(target, cap, "/network/connections");
        for (int a = 0; a < flood_args[i]; a++)
            k += (size_t)snprintf(target + k, cap - k, "%ca%d=1", a ? '&' : '?', a);
        r->status[i] = raw_get(r->port, target, r->rep[i], sizeof r->rep[i]);
        free(target);
    }
    __atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* A GET with hundreds of query arguments was never answered (MHD's per-connection pool
 * ran out while parsing them): now 414 with a message, the backend not called; 16 is
 * still parsed (and refused as unknown parameters, 400). */
static void test_query_flood(void **state) {
    (void)state;
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    flood_run r;
    memset(&r, 0, sizeof r);
    r.port = dm_rpc_port(rpc);
    run_client(loop, flood_main, &r, &r.done);
    assert_int_equal(r.status[0], 400);
    assert_non_null(strstr(r.rep[0], "unknown query parameter"));
    for (int i = 1; i < 5; i++) {
        if (r.status[i] != 414) fail_msg("%d arguments: status %d (%s)", flood_args[i], r.status[i], r.rep[i]);
        assert_non_null(strstr(r.rep[i], "too many query arguments"));
        assert_non_null(strstr(r.rep[i], "(at most 16)"));
    }
    assert_int_equal(m.calls, 0);
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

typedef struct slots_run {
    uint16_t port;
    int streams_ok, stream_over_status, ordinary_status, after_status, silent_refused_status;
    char over_rep[512];
    volatile int done;
} slots_run;

static void *streams_main(void *arg) {
    slots_run *r = arg;
    int fds[DM_RPC_STREAMS_MAX];
    char rep[512];
    for (int i = 0; i < DM_RPC_STREAMS_MAX; i++) {
        fds[i] = raw_connect(r->port);
        if (fds[i] >= 0 && raw_get_on(fds[i], "/network/log", rep, sizeof rep) == 200) r->streams_ok++;
    }
    r->stream_over_status = raw_get(r->port, "/network/log", r->over_rep, sizeof r->over_rep);
    r->ordinary_status = raw_get(r->port, "/network/self", rep, sizeof rep);
    for (int i = 0; i < DM_RPC_STREAMS_MAX; i++)
        if (fds[i] >= 0) close(fds[i]);
    __atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* ?monitor and /network/log streams are capped below the connection limit: the stream
 * past the cap gets 503, and an ordinary request is still served. */
static void test_stream_cap(void **state) {
    (void)state;
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    slots_run r;
    memset(&r, 0, sizeof r);
    r.port = dm_rpc_port(rpc);
    run_client(loop, streams_main, &r, &r.done);
    assert_int_equal(r.streams_ok, DM_RPC_STREAMS_MAX);
    assert_int_equal(r.stream_over_status, 503);
    assert_non_null(strstr(r.over_rep, "too many log streams open"));
    assert_int_equal(r.ordinary_status, 200);
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

static void *silent_main(void *arg) {
    slots_run *r = arg;
    enum { SILENT = DM_RPC_CONNECTIONS_MAX + 8 };
    int fds[SILENT];
    for (int i = 0; i < SILENT; i++) fds[i] = raw_connect(r->port);
    char rep[512];
    /* every slot of the front door is held by a silent socket: refused for now */
    r->silent_refused_status = raw_get(r->port, "/network/self", rep, sizeof rep);
    /* past the request-line deadline the silent sockets are closed: served again */
    usleep((useconds_t)(DM_RPC_REQUEST_LINE_TIMEOUT_NS / 1000) + 500000);
    r->after_status = raw_get(r->port, "/network/self", rep, sizeof rep);
    int closed = 0;
    for (int i = 0; i < SILENT; i++) {
        if (fds[i] < 0) continue;
        char b[256];
        if (read(fds[i], b, sizeof b) >= 0) closed++; /* EOF or the 408: the server closed it */
        close(fds[i]);
    }
    r->streams_ok = closed;
    __atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Silent sockets (connected, never sending a request) cannot hold the connection slots
 * for ever: each is closed after DM_RPC_REQUEST_LINE_TIMEOUT_NS (10 s) and the server
 * serves again. */
static void test_silent_sockets_released(void **state) {
    (void)state;
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    slots_run r;
    memset(&r, 0, sizeof r);
    r.port = dm_rpc_port(rpc);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, silent_main, &r), 0);
    const tp_env *env = rn_loop_env(loop);
    int64_t give_up = tp_env_now_ns(env) + INT64_C(40000000000);
    while (!__atomic_load_n(&r.done, __ATOMIC_SEQ_CST)) {
        assert_true(tp_env_now_ns(env) < give_up);
        turn(loop, 5000000);
    }
    pthread_join(th, NULL);
    assert_int_equal(r.silent_refused_status, 0);
    assert_int_equal(r.after_status, 200);
    assert_int_equal(r.streams_ok, DM_RPC_CONNECTIONS_MAX + 8);
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
}

static void test_port_in_use_and_unreachable(void **state) {
    (void)state;
    rn_loop *loop;
    mock m;
    dm_rpc *rpc = start(&loop, &m, true);
    tp_point at = LOOP4;
    at.port = dm_rpc_port(rpc);
    dm_rpc_backend be;
    memset(&be, 0, sizeof be);
    dm_rpc *second = NULL;
    char err[256];
    assert_int_equal(dm_rpc_start(loop, &at, &be, &second, err, sizeof err), TP_ERR_ADDR_IN_USE);
    assert_null(second);
    assert_non_null(strstr(err, "127.0.0.1:"));
    assert_non_null(strstr(err, "--rpc-addr"));
    dm_rpc_stop(rpc);
    rn_loop_destroy(loop);
    /* nobody there any more: the client says so and how to fix it */
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%u", at.port);
    dm_http_reply rep = {0};
    assert_int_equal(dm_http_request(where, "GET", "/network/self", NULL, 2000, &rep, err,
                                     sizeof err),
                     TP_ERR_CONN_REFUSED);
    assert_non_null(strstr(err, "--rpc"));
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_and_validation),
        cmocka_unit_test(test_arguments_decoded),
        cmocka_unit_test(test_log_stream_octez),
        cmocka_unit_test(test_log_stream_all),
        cmocka_unit_test(test_point_log_monitor),
        cmocka_unit_test(test_peer_log_monitor),
        cmocka_unit_test(test_monitor_server_stop),
        cmocka_unit_test(test_full_stat),
        cmocka_unit_test(test_full_stat_partial_backend),
        cmocka_unit_test(test_pending_client_gone),
        cmocka_unit_test(test_browser_requests_refused),
        cmocka_unit_test(test_port_in_use_and_unreachable),
        cmocka_unit_test(test_query_flood),
        cmocka_unit_test(test_stream_cap),
        cmocka_unit_test(test_silent_sockets_released),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
