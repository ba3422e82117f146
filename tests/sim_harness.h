/* tests/sim_harness.h — run N tidepool nodes (core/node.h) on simnet hosts in a test.
 *
 * Header-only, reusable by every simulation test: builds a world (one region, default
 * latency), adds hosts 10.0.0.1 ... with a tp_node app each (deterministic identity
 * with a cheap proof of work, Octez defaults otherwise except that the node's workers
 * — maintenance, swap, peers file — are off until a test turns them on with
 * hs_workers; edited by a per-node callback before start), counts every event per host
 * and kind, counts hooks, shuts the node down on a clean stop (sim_host_stop), and
 * tears the world down checking that every host's memory went back to zero (halt ->
 * crash drop). Tests use only the node's API: no glue of their own.
 * Extra hosts (hostile peers, tests/hostile.h) can be added after the nodes.
 */
#ifndef TP_TESTS_SIM_HARNESS_H
#define TP_TESTS_SIM_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/node.h"
#include "simnet/sim.h"

#define HS_UNUSED __attribute__((unused))
#define HS_MS 1000000LL
#define HS_S (1000 * HS_MS)
#define HS_PORT 9732
#define HS_HOSTS_MAX 256
#define HS_POW_DIFFICULTY 4.0 /* cheap identities; tests of PoW raise it */

struct hs;

typedef struct hs_node {
    struct hs *hs;
    uint32_t index;
    tp_node_config cfg;
    tp_node *node;
    bool no_activate;
    /* counters */
    uint32_t app_msgs, new_conns, disconns, too_few, too_many, swap_requests, swap_acks, writable;
    uint64_t app_bytes;
    uint32_t connect_ok, connect_fail;
    tp_err last_connect_err;
    void (*on_app)(struct hs_node *hn, tp_conn *c, uint16_t tag, const uint8_t *p, size_t n);
    void *user;
} hs_node;

typedef struct hs {
    sim_world *w;
    uint64_t seed;
    uint32_t count; /* tidepool nodes: hosts 0 .. count-1 */
    hs_node *nodes;
    uint32_t events[HS_HOSTS_MAX][TP_EVENT_KIND_COUNT];
    int32_t last_code[HS_HOSTS_MAX][TP_EVENT_KIND_COUNT];
} hs;

/* An application message kind every harness node registers. */
#define HS_TAG_TEXT 0x0010
#define HS_TAG_BIG 0x0011
static const tp_app_msg_def hs_app_msgs[] = {
    {HS_TAG_TEXT, 4096, "text"},
    {HS_TAG_BIG, 256 * 1024, "big"},
};

/* A deterministic identity whose stamp meets `difficulty` (cheap for small ones). */
HS_UNUSED static void hs_identity(tp_identity *id, uint64_t seed, uint32_t index,
                                  double difficulty) {
    uint8_t s[TP_SEED_SIZE] = {0};
    memcpy(s, &seed, sizeof seed);
    memcpy(s + 8, &index, sizeof index);
    s[12] = 0x5a;
    tp_identity_init_from_seed(id, s);
    tp_pow_target t;
    assert_int_equal(tp_pow_target_of_difficulty(difficulty, &t), TP_OK);
    bool found = false;
    while (!found) (void)tp_pow_search(id->public_key, id->pow_stamp, &t, 1u << 20, &found);
}

/* An identity whose stamp FAILS `difficulty` (for "not enough proof of work"). */
HS_UNUSED static void hs_identity_weak(tp_identity *id, uint64_t seed, uint32_t index,
                                       double difficulty) {
    hs_identity(id, seed, index, 0.0);
    tp_pow_target t;
    assert_int_equal(tp_pow_target_of_difficulty(difficulty, &t), TP_OK);
    while (tp_pow_check(id->public_key, id->pow_stamp, &t)) tp_stamp_increment(id->pow_stamp);
}

static void hs_event_cb(void *arg, uint32_t host, int64_t t, const tp_event *ev) {
    hs *h = arg;
    (void)t;
    if (host >= HS_HOSTS_MAX) return;
    h->events[host][ev->kind]++;
    h->last_code[host][ev->kind] = ev->code;
}

/* ---- node app ------------------------------------------------------------------------ */

static void hs_on_app(void *arg, tp_node *n, tp_conn *c, uint16_t tag, const uint8_t *p,
                      size_t len) {
    hs_node *hn = arg;
    (void)n;
    hn->app_msgs++;
    hn->app_bytes += len;
    if (hn->on_app) hn->on_app(hn, c, tag, p, len);
}
static void hs_on_new(void *arg, tp_node *n, tp_conn *c) {
    (void)n;
    (void)c;
    ((hs_node *)arg)->new_conns++;
}
static void hs_on_disc(void *arg, tp_node *n, tp_conn *c) {
    (void)n;
    (void)c;
    ((hs_node *)arg)->disconns++;
}
static void hs_on_few(void *arg, tp_node *n) {
    (void)n;
    ((hs_node *)arg)->too_few++;
}
static void hs_on_many(void *arg, tp_node *n) {
    (void)n;
    ((hs_node *)arg)->too_many++;
}
static void hs_on_swap(void *arg, tp_node *n, tp_conn *c, const tp_point *p,
                       const tp_peer_id *peer) {
    (void)n;
    (void)c;
    (void)p;
    (void)peer;
    ((hs_node *)arg)->swap_requests++;
}

static void hs_on_writable(void *arg, tp_node *n, tp_conn *c) {
    (void)n;
    (void)c;
    ((hs_node *)arg)->writable++;
}

static void hs_on_swap_ack(void *arg, tp_node *n, tp_conn *c, const tp_point *p,
                           const tp_peer_id *peer) {
    (void)n;
    (void)c;
    (void)p;
    (void)peer;
    ((hs_node *)arg)->swap_acks++;
}

static void hs_app_start(void *app, sim_host *host, const tp_env *env) {
    hs_node *hn = app;
    (void)host;
    assert_null(hn->node);
    char why[256];
    const char *bad = tp_node_config_check(&hn->cfg, why, sizeof why);
    if (bad != NULL) fail_msg("%s", bad);
    assert_int_equal(tp_node_create(env, &hn->cfg, &hn->node), TP_OK);
    if (!hn->no_activate) assert_int_equal(tp_node_activate(hn->node), TP_OK);
}
static void hs_app_stop(void *app, sim_host *host, const tp_env *env) {
    hs_node *hn = app;
    (void)host;
    (void)env;
    /* a clean stop: the node's shutdown (workers, connections, peers file save) */
    if (hn->node != NULL && !hn->node->shutting_down) tp_node_shutdown(hn->node, NULL, NULL);
}
static void hs_app_halt(void *app, sim_host *host, const tp_env *env) {
    hs_node *hn = app;
    (void)host;
    (void)env;
    if (hn->node) tp_node_crash_drop(hn->node);
    hn->node = NULL;
}
static const sim_app_ops hs_node_ops = {hs_app_start, hs_app_stop, hs_app_halt};

/* The harness's nodes run without the workers unless a test turns them on (tests of
 * the connect handler and the pool want to see only what they do): no maintenance
 * (and so no discovery), no swap, no peers file; the slot check then uses
 * max_connections (spec §2.7 step 6). hs_workers restores Octez's defaults. */
HS_UNUSED static void hs_no_workers(tp_node_config *c) {
    c->maintenance_idle_time_ns = 0;
    c->swap_linger_ns = 0;
    c->peers_file = NULL;
}
HS_UNUSED static void hs_workers(tp_node_config *c) {
    tp_node_config d;
    tp_node_config_default(&d);
    c->maintenance_idle_time_ns = d.maintenance_idle_time_ns;
    c->swap_linger_ns = d.swap_linger_ns;
    c->peers_file = d.peers_file;
}

/* Node i of h on host i: its identity from the seed, the harness's listen port, app
 * messages and hooks; the caller adds its own configuration. */
HS_UNUSED static hs_node *hs_node_setup(hs *h, uint32_t i, uint64_t seed) {
    hs_node *hn = &h->nodes[i];
    hn->hs = h;
    hn->index = i;
    tp_node_config *c = &hn->cfg;
    tp_node_config_default(c);
    hs_identity(&c->identity, seed, i, HS_POW_DIFFICULTY);
    assert_int_equal(tp_pow_target_of_difficulty(HS_POW_DIFFICULTY, &c->pow_target), TP_OK);
    c->listen.ip = sim_host_ip(sim_world_host(h->w, i));
    c->listen.port = HS_PORT;
    memcpy(c->app_msgs, hs_app_msgs, sizeof hs_app_msgs);
    c->app_msgs_count = sizeof hs_app_msgs / sizeof hs_app_msgs[0];
    c->hooks = (tp_node_hooks){hs_on_app,  hs_on_new,      hs_on_disc,     hs_on_few, hs_on_many,
                               hs_on_swap, hs_on_swap_ack, hs_on_writable, NULL,      hn};
    return hn;
}

/* Creates a world with `count` nodes (not started). configure(hn, i) may edit hn->cfg
 * (defaults: listen on the host's IP :9732, cheap PoW, the harness app messages, push
 * mode, trusted points none). */
HS_UNUSED static hs *hs_create(uint64_t seed, uint32_t count,
                               void (*configure)(hs_node *hn, uint32_t i)) {
    printf("seed %llu\n", (unsigned long long)seed);
    hs *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->seed = seed;
    h->count = count;
    h->nodes = calloc(count ? count : 1, sizeof *h->nodes);
    assert_non_null(h->nodes);
    sim_world_config wc;
    sim_world_config_default(&wc);
    wc.seed = seed;
    wc.event_cb = hs_event_cb;
    wc.event_arg = h;
    assert_int_equal(sim_world_create(&wc, &h->w), TP_OK);
    uint32_t first = 0;
    if (count > 0) assert_int_equal(sim_hosts_add_in_region(h->w, 0, count, NULL, &first), TP_OK);
    for (uint32_t i = 0; i < count; i++) {
        hs_node *hn = hs_node_setup(h, i, seed);
        hs_no_workers(&hn->cfg);
        if (configure) configure(hn, i);
        sim_host_set_app(sim_world_host(h->w, i), &hs_node_ops, hn);
    }
    return h;
}

HS_UNUSED static void hs_start_all(hs *h) {
    for (uint32_t i = 0; i < h->count; i++) sim_host_start(sim_world_host(h->w, i));
}

HS_UNUSED static tp_point hs_point(hs *h, uint32_t i) {
    tp_point p = {sim_host_ip(sim_world_host(h->w, i)), HS_PORT};
    return p;
}

static void hs_connect_cb(void *arg, tp_node *n, tp_err err, tp_conn *c) {
    hs_node *hn = arg;
    (void)n;
    (void)c;
    hn->last_connect_err = err;
    if (err == TP_OK)
        hn->connect_ok++;
    else
        hn->connect_fail++;
}

/* Node i dials node j (or host j); returns the synchronous result. */
HS_UNUSED static tp_err hs_connect(hs *h, uint32_t i, uint32_t j) {
    tp_point p = hs_point(h, j);
    return tp_node_connect(h->nodes[i].node, &p, 0, hs_connect_cb, &h->nodes[i]);
}

HS_UNUSED static void hs_run_for(hs *h, int64_t ns) {
    sim_run_for(h->w, ns);
}

HS_UNUSED static tp_node *hs_node_of(hs *h, uint32_t i) {
    return h->nodes[i].node;
}

/* Crashes every host (halt frees each node), checks that each host's memory is back to
 * zero, and frees the world. */
HS_UNUSED static void hs_destroy(hs *h) {
    uint32_t n = sim_world_host_count(h->w);
    for (uint32_t i = 0; i < n; i++) {
        sim_host *host = sim_world_host(h->w, i);
        if (sim_host_get_state(host) == SIM_HOST_UP) sim_host_crash(host);
        assert_int_equal(sim_host_memory_bytes(host), 0);
    }
    for (uint32_t i = 0; i < h->count; i++) assert_null(h->nodes[i].node);
    sim_world_destroy(h->w);
    free(h->nodes);
    free(h);
}

#endif
