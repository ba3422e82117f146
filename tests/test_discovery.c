/* tests/test_discovery.c — core/discovery (spec §9) on simnet: two /24 LANs find their
 * own members and nobody else, the sender's doubling delay (0.1 s .. 51.2 s) and its
 * reset on wake-up, trust_discovered_peers, and hostile datagrams ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/discovery.h"
#include "simnet/sim.h"

#define MS_NS ((int64_t)1000000)
#define S_NS ((int64_t)1000000000)
#define PER_LAN 6
#define HOSTS (2 * PER_LAN)
#define SEND_TIMES_MAX 64

typedef struct dnode {
    sim_host *h;
    tp_pool pool;
    tp_discovery disc;
} dnode;

typedef struct world {
    sim_world *w;
    dnode nodes[HOSTS];
    int64_t send_times[SEND_TIMES_MAX]; /* host 0's DISCOVERY_SENT times */
    uint32_t nsend;
} world;

static void on_event(void *arg, uint32_t host, int64_t time_ns, const tp_event *ev) {
    world *wd = arg;
    if (host == 0 && ev->kind == TP_EVENT_DISCOVERY_SENT && wd->nsend < SEND_TIMES_MAX)
        wd->send_times[wd->nsend++] = time_ns;
}

static tp_peer_id pid(uint32_t i) {
    tp_peer_id id;
    memset(&id, 0x11, sizeof id);
    id.bytes[0] = (uint8_t)i;
    return id;
}

static void world_init(world *wd, uint64_t seed, bool trust_lan0) {
    printf("seed %llu\n", (unsigned long long)seed);
    memset(wd, 0, sizeof *wd);
    sim_world_config wc;
    sim_world_config_default(&wc);
    wc.seed = seed;
    wc.region_count = 2;
    wc.event_cb = on_event;
    wc.event_arg = wd;
    assert_int_equal(sim_world_create(&wc, &wd->w), TP_OK);
    uint32_t first;
    /* region r gets 10.r.0.0/24: two LANs */
    assert_int_equal(sim_hosts_add_in_region(wd->w, 0, PER_LAN, NULL, &first), TP_OK);
    assert_int_equal(sim_hosts_add_in_region(wd->w, 1, PER_LAN, NULL, &first), TP_OK);
    for (uint32_t i = 0; i < HOSTS; i++) {
        dnode *n = &wd->nodes[i];
        n->h = sim_world_host(wd->w, i);
        const tp_env *env = sim_host_env(n->h);
        tp_pool_config pc;
        tp_pool_config_default(&pc);
        tp_pool_init(&n->pool, env, &pc, NULL);
        tp_discovery_config dc;
        tp_discovery_config_default(&dc);
        dc.peer_id = pid(i);
        dc.listening_port = (uint16_t)(9700 + i);
        dc.trust_discovered_peers = trust_lan0 && i < PER_LAN;
        assert_int_equal(tp_discovery_init(&n->disc, env, &n->pool, &dc), TP_OK);
    }
}

static void world_deinit(world *wd) {
    for (uint32_t i = 0; i < HOSTS; i++) {
        tp_discovery_stop(&wd->nodes[i].disc);
        tp_pool_deinit(&wd->nodes[i].pool);
        assert_int_equal(sim_host_memory_bytes(wd->nodes[i].h), 0);
    }
    sim_world_destroy(wd->w);
}

/* Two LANs, no bootstrap peers: after 2 virtual seconds every node knows exactly the
 * other members of its LAN, at their announced ports, and no one from the other LAN. */
static void test_two_lans(void **state) {
    (void)state;
    world wd;
    world_init(&wd, 42, true);
    for (uint32_t i = 0; i < HOSTS; i++) assert_int_equal(tp_discovery_start(&wd.nodes[i].disc), TP_OK);
    sim_run_for(wd.w, 2 * S_NS);
    for (uint32_t i = 0; i < HOSTS; i++) {
        dnode *n = &wd.nodes[i];
        uint32_t lan = i / PER_LAN;
        assert_int_equal(tp_pool_points_count(&n->pool), PER_LAN - 1);
        for (uint32_t j = 0; j < HOSTS; j++) {
            tp_point p = {sim_host_ip(wd.nodes[j].h), (uint16_t)(9700 + j)};
            tp_point_info *pi = tp_pool_point(&n->pool, &p);
            if (j == i || j / PER_LAN != lan) {
                assert_null(pi);
            } else {
                assert_non_null(pi);
                assert_int_equal(pi->trusted, lan == 0); /* trust_discovered_peers */
            }
        }
        /* no datagram crossed: everything received came from the own LAN */
        assert_int_equal(n->disc.ignored, 0);
        assert_true(n->disc.received >= PER_LAN - 1);
    }
    sim_stats st;
    sim_world_stats(wd.w, &st);
    /* each broadcast reaches the PER_LAN - 1 others of the sender's subnet only */
    uint64_t sent = 0;
    for (uint32_t i = 0; i < HOSTS; i++) sent += wd.nodes[i].disc.sent;
    assert_int_equal(st.datagrams_sent, sent * (PER_LAN - 1));
    world_deinit(&wd);
}

/* trust_discovered_peers = false untrusts a point we trusted (issue 18, item 7): Octez's
 * Answer.loop registers with ~trusted:trust_discovered_peers, and register_point's
 * `Some false` unsets the trust of a known point (p2p_pool.ml). */
static void test_discovery_untrusts(void **state) {
    (void)state;
    world wd;
    world_init(&wd, 43, false);
    dnode *n0 = &wd.nodes[0];
    tp_point p1 = {sim_host_ip(wd.nodes[1].h), 9701};
    tp_point_info *pi;
    assert_int_equal(tp_pool_register_point(&n0->pool, &p1, 1, NULL, &pi), TP_OK);
    assert_true(pi->trusted);
    assert_int_equal(tp_discovery_start(&n0->disc), TP_OK);
    assert_int_equal(tp_discovery_start(&wd.nodes[1].disc), TP_OK);
    sim_run_for(wd.w, 1 * S_NS);
    pi = tp_pool_point(&n0->pool, &p1);
    assert_non_null(pi);
    assert_false(pi->trusted);
    world_deinit(&wd);
}

/* The sender as Octez's (p2p_discovery.ml Sender `loop` / `loop_completion`, issue 18
 * item 7): it sleeps 0.1, 0.2, ... 25.6 s, then 51.2 s for ever; a wake-up sends at
 * once, then — Config.initial going through loop_completion — sleeps 0.2, 0.4, ...
 * 51.2 s, then 102.4 s for ever. */
static void test_sender_delays(void **state) {
    (void)state;
    world wd;
    world_init(&wd, 7, false);
    assert_int_equal(tp_discovery_start(&wd.nodes[0].disc), TP_OK);
    sim_run_for(wd.w, 200 * S_NS);
    /* sends at 0, .1, .3, .7, 1.5, 3.1, 6.3, 12.7, 25.5, 51.1, 102.3, 153.5 */
    int64_t expect_ms[] = {0, 100, 300, 700, 1500, 3100, 6300, 12700, 25500, 51100, 102300, 153500};
    size_t n = sizeof expect_ms / sizeof expect_ms[0];
    assert_int_equal(wd.nsend, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(wd.send_times[i], expect_ms[i] * MS_NS);
    tp_discovery_wakeup(&wd.nodes[0].disc);
    sim_run_for(wd.w, 500 * S_NS); /* now 700 s */
    int64_t after_ms[] = {200000, 200200, 200600, 201400, 203000, 206200, 212600,
                          225400, 251000, 302200, 404600, 507000, 609400};
    size_t m = sizeof after_ms / sizeof after_ms[0];
    assert_int_equal(wd.nsend, n + m);
    for (size_t i = 0; i < m; i++) assert_int_equal(wd.send_times[n + i], after_ms[i] * MS_NS);
    tp_discovery_stop(&wd.nodes[0].disc);
    uint32_t before = wd.nsend;
    tp_discovery_wakeup(&wd.nodes[0].disc); /* stopped: no-op */
    sim_run_for(wd.w, 60 * S_NS);
    assert_int_equal(wd.nsend, before);
    world_deinit(&wd);
}

static void raw_rx(void *arg, tp_dgram *d, const tp_point *from, const uint8_t *data, size_t len) {
}

/* Wrong length, wrong magic, a negative or zero port, our own peer id: ignored, nothing
 * registered; a valid datagram from the same socket registers (sender IP, port). A
 * port above 32767 cannot be announced. */
static void test_hostile_datagrams(void **state) {
    (void)state;
    world wd;
    world_init(&wd, 9, false);
    dnode *target = &wd.nodes[0];
    assert_int_equal(tp_discovery_start(&target->disc), TP_OK);
    const tp_env *env1 = sim_host_env(wd.nodes[1].h);
    tp_point local = {{{0}}, 5555};
    tp_dgram *raw;
    assert_int_equal(tp_env_dgram_open(env1, &local, raw_rx, NULL, &raw), TP_OK);
    tp_point to = {sim_host_ip(target->h), TP_DISCOVERY_PORT_DEFAULT};
    uint8_t good[TP_DISCOVERY_MSG_SIZE];
    tp_peer_id other = pid(1), mine = pid(0);
    assert_int_equal(tp_discovery_msg_encode(&other, 9000, good), TP_OK);
    uint8_t buf[64];
    /* truncated and too long */
    assert_int_equal(tp_env_dgram_send(env1, raw, &to, good, 27), TP_OK);
    memcpy(buf, good, 28);
    buf[28] = 0;
    assert_int_equal(tp_env_dgram_send(env1, raw, &to, buf, 29), TP_OK);
    /* bad magic */
    memcpy(buf, good, 28);
    buf[0] = 'X';
    assert_int_equal(tp_env_dgram_send(env1, raw, &to, buf, 28), TP_OK);
    /* negative port (0x8000) and port 0 */
    memcpy(buf, good, 28);
    buf[26] = 0x80;
    buf[27] = 0x00;
    assert_int_equal(tp_env_dgram_send(env1, raw, &to, buf, 28), TP_OK);
    buf[26] = 0;
    assert_int_equal(tp_env_dgram_send(env1, raw, &to, buf, 28), TP_OK);
    /* our own peer id (e.g. our own broadcast heard back) */
    assert_int_equal(tp_discovery_msg_encode(&mine, 9000, buf), TP_OK);
    assert_int_equal(tp_env_dgram_send(env1, raw, &to, buf, 28), TP_OK);
    sim_run_for(wd.w, 50 * MS_NS);
    assert_int_equal(target->disc.ignored, 6);
    assert_int_equal(tp_pool_points_count(&target->pool), 0);
    assert_int_equal(tp_env_dgram_send(env1, raw, &to, good, 28), TP_OK);
    sim_run_for(wd.w, 50 * MS_NS);
    tp_point expect = {sim_host_ip(wd.nodes[1].h), 9000};
    assert_non_null(tp_pool_point(&target->pool, &expect));
    assert_false(tp_pool_point(&target->pool, &expect)->trusted);
    tp_env_dgram_close(env1, raw);
    /* ports that the int16 field cannot carry are refused at init */
    tp_discovery d2;
    tp_discovery_config dc;
    tp_discovery_config_default(&dc);
    dc.listening_port = 40000;
    assert_int_equal(tp_discovery_init(&d2, env1, &wd.nodes[1].pool, &dc), TP_ERR_INVAL);
    dc.listening_port = 0;
    assert_int_equal(tp_discovery_init(&d2, env1, &wd.nodes[1].pool, &dc), TP_ERR_INVAL);
    world_deinit(&wd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_lans),
        cmocka_unit_test(test_sender_delays),
        cmocka_unit_test(test_discovery_untrusts),
        cmocka_unit_test(test_hostile_datagrams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
