/* tests/test_rpc_node.c — daemon/node_rpc: the admin RPC over two real nodes (daemon/p2p
 * on one realnet loop, loopback): Octez's JSON shapes of /network/connections, points,
 * peers, self, version, stat, and the ACL semantics of spec §11 (PATCH ban kicks and
 * blacklists the address and the peers connected from it; trust makes a point never
 * "banned"; open clears both; DELETE /network/greylist clears every table; PUT connects
 * and waits; DELETE kicks; 404s for unknown objects), /network/full_stat against the
 * separate answers, and the point / peer log ?monitor streams over a real kick.
 *
 * The nodes and the RPC server run on the main thread; the client (libcurl) runs in a
 * second thread and records what it saw; the main thread checks after joining. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/client.h"
#include "daemon/node_rpc.h"
#include "daemon/p2p.h"

typedef struct world {
    rn_loop *loop;
    dm_p2p *a, *b;
    dm_rpc *rpc;
    dm_node_rpc nr;
    tp_point a_pt, b_pt;
    char a_id[TP_PEER_ID_TEXT_SIZE], b_id[TP_PEER_ID_TEXT_SIZE];
    char rpc_at[64];
    /* client results */
    char failure[1024];
    int checks;
    volatile int done;
    bool a_down, b_down;
} world;

static uint16_t free_port(void) {
    /* let the kernel choose: bind port 0 through a throwaway realnet listener */
    rn_loop *l = NULL;
    assert_int_equal(rn_loop_create(NULL, &l), TP_OK);
    tp_listener *ls = NULL;
    tp_point any = tp_point_v4(0x7f000001, 0);
    assert_int_equal(tp_env_listen(rn_loop_env(l), &any, 1, (tp_accept_cb)(void (*)(void))abort,
                                   NULL, &ls),
                     TP_OK);
    tp_point got;
    rn_listener_point(ls, &got);
    tp_env_listener_close(rn_loop_env(l), ls);
    rn_loop_destroy(l);
    return got.port;
}

/* The loop's event sink, as `tidepool node run` wires it: the RPC's log streams. */
static void feed_rpc(void *arg, int64_t wall_ns, const tp_event *ev) {
    world *w = arg;
    dm_rpc_log_event(w->rpc, wall_ns, ev); /* NULL before the server starts: ignored */
}

static dm_p2p *make_node(world *w, uint8_t seed_byte, tp_point *pt, char *id_text) {
    dm_config cfg;
    dm_config_default(&cfg);
    cfg.expected_pow = 0;
    cfg.limits.maintenance_enabled = false; /* the test drives every connection */
    cfg.limits.min_connections = 0;
    cfg.limits.expected_connections = 2;
    cfg.limits.max_connections = 4;
    uint8_t seed[TP_SEED_SIZE];
    memset(seed, seed_byte, sizeof seed);
    tp_identity id;
    tp_identity_init_from_seed(&id, seed);
    tp_peer_id_to_b58(&id.peer_id, id_text);
    dm_p2p_options opt;
    memset(&opt, 0, sizeof opt);
    *pt = tp_point_v4(0x7f000001, free_port());
    opt.listen = *pt;
    dm_p2p *p = NULL;
    char err[256];
    assert_int_equal(dm_p2p_create(rn_loop_env(w->loop), &cfg, &id, &opt, &p, err, sizeof err),
                     TP_OK);
    assert_int_equal(dm_p2p_start(p, err, sizeof err), TP_OK);
    tp_identity_wipe(&id);
    return p;
}

/* ---- the client script ----------------------------------------------------------------- */

#define CHECK(w, cond, ...)                                                              \
    do {                                                                                 \
        (w)->checks++;                                                                   \
        if (!(cond) && (w)->failure[0] == '\0')                                          \
            snprintf((w)->failure, sizeof (w)->failure, __VA_ARGS__);                    \
    } while (0)

static json_t *req(world *w, const char *method, const char *path, const char *body,
                   long *status) {
    dm_http_reply rep;
    char err[256];
    *status = 0;
    if (dm_http_request(w->rpc_at, method, path, body, 10000, &rep, err, sizeof err) != TP_OK) {
        CHECK(w, false, "%s %s: %s", method, path, err);
        return NULL;
    }
    *status = rep.status;
    json_error_t je;
    json_t *j = json_loadb(rep.body, rep.len, JSON_DECODE_ANY, &je);
    dm_http_reply_free(&rep);
    return j;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Polls GET /network/connections until it has n entries (5 s). */
static json_t *wait_connections(world *w, size_t n) {
    for (int i = 0; i < 250; i++) {
        long st;
        json_t *j = req(w, "GET", "/network/connections", NULL, &st);
        if (st == 200 && json_is_array(j) && json_array_size(j) == n) return j;
        json_decref(j);
        sleep_ms(20);
    }
    CHECK(w, false, "connections never reached %zu", n);
    return NULL;
}

static bool is_true(world *w, const char *path) {
    long st;
    json_t *j = req(w, "GET", path, NULL, &st);
    CHECK(w, st == 200 && json_is_boolean(j), "GET %s: status %ld", path, st);
    bool v = json_is_true(j);
    json_decref(j);
    return v;
}

/* /network/full_stat: five keys; stat, peers and points as their own endpoints say,
 * the connections split by direction. The separate answers are five requests (five
 * loop turns) and a moving average may tick between them: retried until one round
 * agrees, which a wrong full_stat never does. */
static void check_full_stat(world *w) {
    const char *paths[] = {"/network/full_stat", "/network/stat", "/network/connections",
                           "/network/peers", "/network/points"};
    bool agreed = false;
    char why[128] = "";
    for (int round = 0; round < 20 && !agreed; round++) {
        json_t *got[5];
        long st[5];
        for (int i = 0; i < 5; i++) got[i] = req(w, "GET", paths[i], NULL, &st[i]);
        json_t *fs = got[0];
        json_t *in = json_object_get(fs, "incoming_connections");
        json_t *out = json_object_get(fs, "outgoing_connections");
        json_t *all = json_array();
        json_array_extend(all, out); /* A dialled B: outgoing */
        json_array_extend(all, in);
        if (st[0] != 200 || !json_is_object(fs) || json_object_size(fs) != 5)
            snprintf(why, sizeof why, "status %ld / not a five-key object", st[0]);
        else if (json_array_size(out) != 1 || json_array_size(in) != 0)
            snprintf(why, sizeof why, "%zu outgoing, %zu incoming (want 1, 0)",
                     json_array_size(out), json_array_size(in));
        else if (!json_equal(json_object_get(fs, "stat"), got[1]))
            snprintf(why, sizeof why, "stat differs");
        else if (!json_equal(all, got[2]))
            snprintf(why, sizeof why, "connections differ");
        else if (!json_equal(json_object_get(fs, "peers"), got[3]))
            snprintf(why, sizeof why, "peers differ");
        else if (!json_equal(json_object_get(fs, "points"), got[4]))
            snprintf(why, sizeof why, "points differ");
        else
            agreed = true;
        json_decref(all);
        for (int i = 0; i < 5; i++) json_decref(got[i]);
        if (!agreed) sleep_ms(100);
    }
    CHECK(w, agreed, "full_stat: %s", why);
}

/* A ?monitor stream read by its own thread until it has seen a disconnection. */
typedef struct monitor_run {
    world *w;
    char path[256];
    char first[8192];   /* the first value: the history */
    char event[2048];   /* the first later value naming a disconnection */
    int values;
    tp_err err;
    pthread_t th;
    volatile int got_first, done;
} monitor_run;

static bool monitor_line(void *arg, const char *line, size_t len) {
    monitor_run *m = arg;
    if (m->values++ == 0) {
        snprintf(m->first, sizeof m->first, "%.*s", (int)len, line);
        __atomic_store_n(&m->got_first, 1, __ATOMIC_SEQ_CST);
        return true;
    }
    snprintf(m->event, sizeof m->event, "%.*s", (int)len, line);
    if (strstr(m->event, "disconnection") != NULL) return false;
    m->event[0] = '\0';
    return true;
}

static void *monitor_main(void *arg) {
    monitor_run *m = arg;
    char err[256];
    m->err = dm_http_stream(m->w->rpc_at, m->path, monitor_line, m, 15000, err, sizeof err);
    __atomic_store_n(&m->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Opens `log`?monitor and checks that its first value is what `log` answers. */
static void monitor_open(world *w, monitor_run *m, const char *log) {
    memset(m, 0, sizeof *m);
    m->w = w;
    snprintf(m->path, sizeof m->path, "%s?monitor", log);
    long st;
    json_t *history = req(w, "GET", log, NULL, &st);
    CHECK(w, st == 200 && json_array_size(history) > 0, "GET %s: %ld", log, st);
    if (pthread_create(&m->th, NULL, monitor_main, m) != 0) abort();
    for (int i = 0; i < 500 && !__atomic_load_n(&m->got_first, __ATOMIC_SEQ_CST); i++)
        sleep_ms(10);
    json_error_t je;
    json_t *first = json_loads(m->first, 0, &je);
    CHECK(w, first && json_equal(first, history), "%.200s: first value %.200s is not the history",
          m->path, m->first);
    json_decref(first);
    json_decref(history);
}

/* Waits for the stream's disconnection value: a one-element list, whose item is the
 * last of the log now. Returns that item (new reference) or NULL. */
static json_t *monitor_close(world *w, monitor_run *m) {
    pthread_join(m->th, NULL);
    CHECK(w, m->err == TP_OK && m->event[0], "%.200s: no disconnection (err %d)", m->path, m->err);
    json_error_t je;
    json_t *v = json_loads(m->event, 0, &je);
    CHECK(w, json_is_array(v) && json_array_size(v) == 1, "%.200s: %.300s is not [event]", m->path,
          m->event);
    json_t *item = json_incref(json_array_get(v, 0));
    json_decref(v);
    char log[256];
    snprintf(log, sizeof log, "%.*s", (int)(strlen(m->path) - strlen("?monitor")), m->path);
    long st;
    json_t *now = req(w, "GET", log, NULL, &st);
    CHECK(w, item && json_equal(item, json_array_get(now, json_array_size(now) - 1)),
          "%.200s: the streamed event is not the log's last", m->path);
    json_decref(now);
    return item;
}

static void *client_main(void *arg) {
    world *w = arg;
    long st;
    char b_point[64], path[256];
    tp_point_format(&w->b_pt, b_point);

    json_t *j = req(w, "GET", "/network/self", NULL, &st);
    CHECK(w, st == 200 && json_is_string(j) && strcmp(json_string_value(j), w->a_id) == 0,
          "self: %ld", st);
    json_decref(j);
    j = req(w, "GET", "/version", NULL, &st);
    CHECK(w, st == 200 && strcmp(json_string_value(json_object_get(
                                     json_object_get(j, "network_version"), "chain_name")),
                                 DM_CHAIN_NAME_DEFAULT) == 0,
          "version: chain name");
    CHECK(w, json_integer_value(json_object_get(json_object_get(j, "network_version"),
                                                "distributed_db_version")) == 2,
          "version: ddb 2");
    json_decref(j);

    /* PUT: connect and wait */
    snprintf(path, sizeof path, "/network/points/%s?timeout=5", b_point);
    j = req(w, "PUT", path, NULL, &st);
    CHECK(w, st == 200, "PUT connect: %ld", st);
    json_decref(j);
    j = req(w, "PUT", path, NULL, &st);
    CHECK(w, st == 409 || st == 500, "PUT connect again: %ld (already connected)", st);
    json_decref(j);

    /* connection info, Octez's shape */
    j = wait_connections(w, 1);
    json_t *c = json_array_get(j, 0);
    CHECK(w, json_is_false(json_object_get(c, "incoming")), "outgoing connection");
    CHECK(w, strcmp(json_string_value(json_object_get(c, "peer_id")), w->b_id) == 0, "peer_id");
    json_t *idp = json_object_get(c, "id_point");
    CHECK(w, strcmp(json_string_value(json_object_get(idp, "addr")), "127.0.0.1") == 0 &&
                 json_integer_value(json_object_get(idp, "port")) == w->b_pt.port,
          "id_point");
    CHECK(w, json_integer_value(json_object_get(c, "remote_socket_port")) == w->b_pt.port,
          "remote_socket_port");
    json_t *av = json_object_get(c, "announced_version");
    CHECK(w, json_integer_value(json_object_get(av, "p2p_version")) == 1, "announced p2p 1");
    CHECK(w, json_is_false(json_object_get(c, "private")), "private");
    CHECK(w, json_is_boolean(json_object_get(json_object_get(c, "local_metadata"),
                                             "disable_mempool")) &&
                 json_is_boolean(json_object_get(json_object_get(c, "remote_metadata"),
                                                 "private_node")),
          "metadata");
    json_decref(j);
    snprintf(path, sizeof path, "/network/connections/%s", w->b_id);
    j = req(w, "GET", path, NULL, &st);
    CHECK(w, st == 200 && json_is_object(j), "GET connection: %ld", st);
    json_decref(j);

    /* points and peers with filters */
    j = req(w, "GET", "/network/points?filter=running", NULL, &st);
    CHECK(w, st == 200 && json_array_size(j) == 1, "running points: %zu", json_array_size(j));
    json_t *pi = json_array_get(json_array_get(j, 0), 1);
    CHECK(w, strcmp(json_string_value(json_array_get(json_array_get(j, 0), 0)), b_point) == 0,
          "point key");
    CHECK(w, strcmp(json_string_value(json_object_get(json_object_get(pi, "state"),
                                                      "event_kind")),
                    "running") == 0,
          "point state running");
    CHECK(w, strcmp(json_string_value(json_object_get(pi, "p2p_peer_id")), w->b_id) == 0,
          "point peer id");
    CHECK(w, json_array_size(json_object_get(pi, "last_established_connection")) == 2,
          "last_established_connection [peer, time]");
    json_t *seen = json_object_get(pi, "last_seen"); /* Octez: [peer_id, time] */
    CHECK(w, json_array_size(seen) == 2 &&
                 strcmp(json_string_value(json_array_get(seen, 0)), w->b_id) == 0 &&
                 json_is_string(json_array_get(seen, 1)),
          "point last_seen [peer, time]");
    CHECK(w, json_object_get(pi, "last_miss") == NULL, "no last_miss yet");
    json_decref(j);
    /* histories */
    snprintf(path, sizeof path, "/network/points/%s/log", b_point);
    j = req(w, "GET", path, NULL, &st);
    CHECK(w, st == 200 && json_array_size(j) >= 2, "point log: %ld", st);
    json_t *last = json_array_get(j, json_array_size(j) - 1);
    CHECK(w, last && strcmp(json_string_value(json_object_get(json_object_get(last, "kind"),
                                                              "event_kind")),
                            "connection_established") == 0 &&
                 json_is_string(json_object_get(last, "timestamp")),
          "point log ends with connection_established");
    json_decref(j);
    j = req(w, "GET", "/network/points/1.2.3.4:5/log?monitor", NULL, &st);
    CHECK(w, st == 404, "monitor of an unknown point: %ld", st);
    json_decref(j);
    j = req(w, "GET", "/network/peers/idqjq34sB6uHWdFzJDB97zwXAdHASb/log?monitor", NULL, &st);
    CHECK(w, st == 404, "monitor of an unknown peer: %ld", st);
    json_decref(j);
    snprintf(path, sizeof path, "/network/points/%s/log?monitor=often", b_point);
    j = req(w, "GET", path, NULL, &st);
    CHECK(w, st == 400, "point log ?monitor=often: %ld", st);
    json_decref(j);
    snprintf(path, sizeof path, "/network/peers/%s/log?monitor&follow", w->b_id);
    j = req(w, "GET", path, NULL, &st);
    CHECK(w, st == 400, "peer log ?monitor&follow: %ld", st);
    json_decref(j);
    check_full_stat(w);
    snprintf(path, sizeof path, "/network/peers/%s/log", w->b_id);
    j = req(w, "GET", path, NULL, &st);
    CHECK(w, st == 200 && json_array_size(j) >= 1 &&
                 json_is_string(json_object_get(json_array_get(j, 0), "addr")),
          "peer log: %ld", st);
    json_decref(j);
    j = req(w, "GET", "/network/points?filter=disconnected", NULL, &st);
    CHECK(w, st == 200 && json_array_size(j) == 0, "no disconnected point");
    json_decref(j);
    snprintf(path, sizeof path, "/network/peers/%s", w->b_id);
    j = req(w, "GET", path, NULL, &st);
    CHECK(w, st == 200 && strcmp(json_string_value(json_object_get(j, "state")), "running") == 0,
          "peer running");
    CHECK(w, json_is_object(json_object_get(j, "stat")) &&
                 json_is_string(json_object_get(json_object_get(j, "stat"), "total_sent")),
          "peer stat");
    CHECK(w, json_is_number(json_object_get(j, "score")), "peer score");
    seen = json_object_get(j, "last_seen"); /* Octez: [{addr, port?}, time] */
    CHECK(w, json_array_size(seen) == 2 &&
                 json_is_string(json_object_get(json_array_get(seen, 0), "addr")) &&
                 json_is_string(json_array_get(seen, 1)),
          "peer last_seen [id_point, time]");
    json_decref(j);
    j = req(w, "GET", "/network/stat", NULL, &st);
    CHECK(w, st == 200 && strcmp(json_string_value(json_object_get(j, "total_sent")), "0") != 0,
          "stat: bytes sent");
    json_decref(j);

    /* PATCH ban: kicked, address and peer banned */
    snprintf(path, sizeof path, "/network/points/%s", b_point);
    j = req(w, "PATCH", path, "{\"acl\": \"ban\"}", &st);
    CHECK(w, st == 200 && json_is_false(json_object_get(j, "trusted")), "ban: %ld", st);
    json_decref(j);
    json_decref(wait_connections(w, 0));
    snprintf(path, sizeof path, "/network/points/%s/banned", b_point);
    CHECK(w, is_true(w, path), "point banned after ban");
    char peer_banned[128];
    snprintf(peer_banned, sizeof peer_banned, "/network/peers/%s/banned", w->b_id);
    CHECK(w, is_true(w, peer_banned), "the peer connected from that address is banned too");
    /* a banned address cannot be dialled */
    snprintf(path, sizeof path, "/network/points/%s?timeout=2", b_point);
    j = req(w, "PUT", path, NULL, &st);
    CHECK(w, st != 200, "connect to a banned point succeeded");
    json_decref(j);

    /* trust: a trusted point is never reported banned */
    snprintf(path, sizeof path, "/network/points/%s", b_point);
    j = req(w, "PATCH", path, "{\"acl\": \"trust\"}", &st);
    CHECK(w, st == 200 && json_is_true(json_object_get(j, "trusted")), "trust");
    json_decref(j);
    snprintf(path, sizeof path, "/network/points/%s/banned", b_point);
    CHECK(w, !is_true(w, path), "trusted point reported banned");
    /* open: untrusted and unbanned */
    snprintf(path, sizeof path, "/network/points/%s", b_point);
    j = req(w, "PATCH", path, "{\"acl\": \"open\"}", &st);
    CHECK(w, st == 200 && json_is_false(json_object_get(j, "trusted")), "open");
    json_decref(j);
    /* the peer is still banned (Octez: unbanning a point does not unban peers) ... */
    CHECK(w, is_true(w, peer_banned), "peer still banned after opening the point");
    /* ... until DELETE /network/greylist clears every ACL table */
    j = req(w, "DELETE", "/network/greylist", NULL, &st);
    CHECK(w, st == 200, "clear acls: %ld", st);
    json_decref(j);
    CHECK(w, !is_true(w, peer_banned), "peer banned after clearing the ACLs");
    j = req(w, "GET", "/network/greylist/ips", NULL, &st);
    CHECK(w, st == 200 && json_is_array(json_object_get(j, "ips")) &&
                 json_object_get(j, "not_reliable_since") != NULL,
          "greylist ips shape");
    json_decref(j);

    /* PATCH with an expected peer id on a new point */
    j = req(w, "PATCH", "/network/points/10.9.8.7:9732",
            "{\"peer_id\": \"idrRoknJh9zwEePNswF3MPGFzmKaVp\"}", &st);
    CHECK(w, st == 200 && strcmp(json_string_value(json_object_get(j, "expected_peer_id")),
                                 "idrRoknJh9zwEePNswF3MPGFzmKaVp") == 0,
          "expected peer id set");
    json_decref(j);

    /* connect again (the backoff is 1 s by default after a disconnection: PUT waits) */
    snprintf(path, sizeof path, "/network/points/%s?timeout=5", b_point);
    for (int i = 0; i < 40; i++) {
        j = req(w, "PUT", path, NULL, &st);
        json_decref(j);
        if (st == 200) break;
        sleep_ms(100);
    }
    CHECK(w, st == 200, "reconnect after clearing the ACLs: %ld", st);
    json_decref(wait_connections(w, 1));
    /* monitors of B's point and B's peer id open, then the kick: the disconnection
     * arrives on both streams */
    monitor_run pm, bm;
    snprintf(path, sizeof path, "/network/points/%s/log", b_point);
    monitor_open(w, &pm, path);
    snprintf(path, sizeof path, "/network/peers/%s/log", w->b_id);
    monitor_open(w, &bm, path);
    snprintf(path, sizeof path, "/network/connections/%s", w->b_id);
    j = req(w, "DELETE", path, NULL, &st);
    CHECK(w, st == 200, "kick: %ld", st);
    json_decref(j);
    json_decref(wait_connections(w, 0));
    json_t *ev = monitor_close(w, &pm);
    CHECK(w, ev && strcmp(json_string_value(json_object_get(json_object_get(ev, "kind"),
                                                            "event_kind")),
                          "disconnection") == 0 &&
                 strcmp(json_string_value(json_object_get(json_object_get(ev, "kind"),
                                                          "p2p_peer_id")),
                        w->b_id) == 0,
          "point monitor: the kick's disconnection");
    json_decref(ev);
    ev = monitor_close(w, &bm);
    CHECK(w, ev && strcmp(json_string_value(json_object_get(ev, "kind")), "disconnection") == 0 &&
                 strcmp(json_string_value(json_object_get(ev, "addr")), "127.0.0.1") == 0,
          "peer monitor: the kick's disconnection");
    json_decref(ev);
    j = req(w, "DELETE", path, NULL, &st);
    CHECK(w, st == 404, "kick of a peer not connected: %ld", st);
    json_decref(j);
    j = req(w, "GET", "/network/points/1.2.3.4:5", NULL, &st);
    CHECK(w, st == 404, "unknown point: %ld", st);
    json_decref(j);
    j = req(w, "GET", "/network/peers/idqjq34sB6uHWdFzJDB97zwXAdHASb", NULL, &st);
    CHECK(w, st == 404, "unknown peer: %ld", st);
    json_decref(j);
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void down(void *arg) {
    *(bool *)arg = true;
}

static void test_node_rpc(void **state) {
    (void)state;
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    rn_config rc;
    rn_config_default(&rc);
    rc.event_sink = feed_rpc;
    rc.event_sink_arg = w;
    assert_int_equal(rn_loop_create(&rc, &w->loop), TP_OK);
    w->a = make_node(w, 0x11, &w->a_pt, w->a_id);
    w->b = make_node(w, 0x22, &w->b_pt, w->b_id);
    w->nr.node = dm_p2p_node(w->a);
    w->nr.version = "test";
    w->nr.commit_hash = "test";
    dm_rpc_backend be;
    dm_node_rpc_backend(&w->nr, &be);
    tp_point at = tp_point_v4(0x7f000001, 0);
    char err[256];
    assert_int_equal(dm_rpc_start(w->loop, &at, &be, &w->rpc, err, sizeof err), TP_OK);
    snprintf(w->rpc_at, sizeof w->rpc_at, "127.0.0.1:%u", dm_rpc_port(w->rpc));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, client_main, w), 0);
    const tp_env *env = rn_loop_env(w->loop);
    int64_t give_up = tp_env_now_ns(env) + INT64_C(60000000000);
    while (!__atomic_load_n(&w->done, __ATOMIC_SEQ_CST) && tp_env_now_ns(env) < give_up) {
        tp_err e = rn_loop_run(w->loop, tp_env_now_ns(env) + 5000000);
        assert_true(e == TP_OK || e == TP_ERR_TIMEOUT);
    }
    if (!w->done) fail_msg("the client script did not finish in 60 s");
    pthread_join(th, NULL);
    if (w->failure[0]) fail_msg("%s (after %d checks)", w->failure, w->checks);
    assert_true(w->checks > 40);
    /* shutdown: nodes first (pending connects complete), then the RPC */
    dm_p2p_shutdown(w->a, down, &w->a_down);
    dm_p2p_shutdown(w->b, down, &w->b_down);
    give_up = tp_env_now_ns(env) + INT64_C(10000000000);
    while (!(w->a_down && w->b_down) && tp_env_now_ns(env) < give_up) {
        tp_err e = rn_loop_run(w->loop, tp_env_now_ns(env) + 5000000);
        assert_true(e == TP_OK || e == TP_ERR_TIMEOUT);
    }
    assert_true(w->a_down && w->b_down);
    dm_rpc_stop(w->rpc);
    dm_p2p_destroy(w->a);
    dm_p2p_destroy(w->b);
    rn_loop_destroy(w->loop);
    free(w);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_rpc),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
