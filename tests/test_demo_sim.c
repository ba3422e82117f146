/* tests/test_demo_sim.c — the demo protocol (demo/demo.c, the very source that
 * `tidepool demo node` runs on real sockets) inside the simulator: 60 hosts in two
 * regions flood pings; every host gets every ping, delays follow the latency model,
 * the same seed replays the run bit for bit (trace hash and every statistic), and a
 * crash frees each crashed host's memory through tp_demo_crash_drop. Prints its seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "demo/demo.h"
#include "simnet/sim.h"

#define HOSTS 60
#define PINGS 20
#define SEEDS 3
#define PORT 9732
#define MS 1000000LL
#define S (1000 * MS)

typedef struct demo_app {
    tp_point seeds[SEEDS];
    tp_demo_config cfg;
    tp_demo *d;
    int stopped;
} demo_app;

static void on_stopped(void *arg) {
    ((demo_app *)arg)->stopped++;
}

static void app_start(void *app, sim_host *h, const tp_env *env) {
    demo_app *a = app;
    assert_null(a->d);
    assert_int_equal(tp_demo_create(env, &a->cfg, &a->d), TP_OK);
    assert_int_equal(tp_demo_start(a->d), TP_OK);
}

static void app_stop(void *app, sim_host *h, const tp_env *env) {
    tp_demo_stop(((demo_app *)app)->d);
}

static void app_halt(void *app, sim_host *h, const tp_env *env) {
    demo_app *a = app;
    /* Handles and timers are gone without callbacks: free memory only. */
    tp_demo_crash_drop(a->d);
    a->d = NULL;
}

static const sim_app_ops demo_ops = {app_start, app_stop, app_halt};

typedef struct run_result {
    uint64_t trace_hash;
    tp_demo_stats st[HOSTS];
} run_result;

static sim_world *build_world(uint64_t seed, demo_app *apps) {
    sim_world_config wc;
    sim_world_config_default(&wc);
    wc.seed = seed;
    wc.region_count = 2;
    const sim_latency lat[4] = {{10 * MS, 2 * MS}, {40 * MS, 5 * MS},
                                {40 * MS, 5 * MS}, {10 * MS, 2 * MS}};
    wc.latency = lat;
    sim_world *w = NULL;
    assert_int_equal(sim_world_create(&wc, &w), TP_OK);
    uint32_t first = 0;
    assert_int_equal(sim_hosts_add_in_region(w, 0, HOSTS / 2, NULL, &first), TP_OK);
    assert_int_equal(first, 0);
    assert_int_equal(sim_hosts_add_in_region(w, 1, HOSTS / 2, NULL, &first), TP_OK);
    assert_int_equal(first, HOSTS / 2);
    for (uint32_t i = 0; i < HOSTS; i++) {
        demo_app *a = &apps[i];
        memset(a, 0, sizeof *a);
        tp_demo_config_default(&a->cfg);
        a->cfg.listen.ip = sim_host_ip(sim_world_host(w, i));
        a->cfg.listen.port = PORT;
        /* Three seeds (the same "bootstrap" hosts for everyone, like trusted points):
         * everything else is learned through POINTS. */
        for (uint32_t k = 0; k < SEEDS; k++) {
            a->seeds[k].ip = sim_host_ip(sim_world_host(w, k == 0 ? 0 : k * (HOSTS / 2) - 1));
            a->seeds[k].port = PORT;
        }
        a->cfg.seeds = a->seeds;
        a->cfg.seeds_count = SEEDS;
        a->cfg.peers_k = 4;
        a->cfg.originate = i == HOSTS - 1; /* in region 1, far from the seeds */
        a->cfg.pings = PINGS;
        a->cfg.ping_interval_ns = 200 * MS;
        a->cfg.ping_start_delay_ns = 5 * S;
        a->cfg.on_stopped = on_stopped;
        a->cfg.on_stopped_arg = a;
        sim_host *h = sim_world_host(w, i);
        sim_host_set_app(h, &demo_ops, a);
        sim_host_start(h);
    }
    return w;
}

static void run_once(uint64_t seed, run_result *r) {
    static demo_app apps[HOSTS];
    sim_world *w = build_world(seed, apps);
    sim_run_until(w, 12 * S);
    for (uint32_t i = 0; i < HOSTS; i++) tp_demo_get_stats(apps[i].d, &r->st[i]);
    r->trace_hash = sim_world_trace_hash(w);
    /* Clean stop of every host: each stop completes (on_stopped) within the grace. */
    for (uint32_t i = 0; i < HOSTS; i++) sim_host_stop(sim_world_host(w, i), 5 * S);
    sim_run_until(w, 13 * S);
    for (uint32_t i = 0; i < HOSTS; i++) {
        assert_true(tp_demo_is_stopped(apps[i].d));
        assert_int_equal(apps[i].stopped, 1);
    }
    sim_run_until(w, 20 * S); /* grace over: halt frees every host's memory */
    for (uint32_t i = 0; i < HOSTS; i++) {
        assert_null(apps[i].d);
        assert_int_equal(sim_host_memory_bytes(sim_world_host(w, i)), 0);
    }
    sim_world_destroy(w);
}

static void test_flood_in_sim(void **state) {
    (void)state;
    const uint64_t seed = 20261121;
    printf("seed %llu\n", (unsigned long long)seed);
    static run_result a;
    run_once(seed, &a);
    uint32_t learned_beyond_seeds = 0;
    for (uint32_t i = 0; i < HOSTS; i++) {
        const tp_demo_stats *st = &a.st[i];
        assert_int_equal(st->frames_bad, 0);
        if (st->points_known > SEEDS) learned_beyond_seeds++;
        if (i == HOSTS - 1) {
            assert_int_equal(st->pings_originated, PINGS);
            assert_int_equal(st->pings_unique, 0);
            continue;
        }
        assert_int_equal(st->pings_unique, PINGS);
        assert_int_equal(st->delay_count, PINGS);
        /* One hop costs at least the 10 ms base latency, and a flood over a connected
         * mesh of 60 hosts cannot need more than a second here. */
        assert_true(st->delay_ns_min >= 10 * MS);
        assert_true(st->delay_ns_max < 1 * S);
        if (i < HOSTS / 2) assert_true(st->delay_ns_min >= 40 * MS); /* crosses regions */
    }
    assert_int_equal(learned_beyond_seeds, HOSTS);
}

static void test_same_seed_same_run(void **state) {
    (void)state;
    static run_result a, b, c;
    run_once(7, &a);
    run_once(7, &b);
    run_once(8, &c);
    printf("seed 7 trace %016llx, seed 8 trace %016llx\n", (unsigned long long)a.trace_hash,
           (unsigned long long)c.trace_hash);
    assert_true(a.trace_hash == b.trace_hash);
    assert_memory_equal(a.st, b.st, sizeof a.st);
    assert_true(a.trace_hash != c.trace_hash);
}

/* A crashed host vanishes (halt -> crash_drop frees its memory); the rest keep
 * flooding to each other. */
static void test_crash_frees_and_flood_goes_on(void **state) {
    (void)state;
    static demo_app apps[HOSTS];
    printf("seed 99\n");
    sim_world *w = build_world(99, apps);
    sim_run_until(w, 3 * S); /* the mesh has formed; pings start at 5 s */
    const uint32_t crashed[] = {5, 17, 33, 48};
    for (size_t k = 0; k < 4; k++) {
        sim_host *h = sim_world_host(w, crashed[k]);
        assert_true(sim_host_memory_bytes(h) > 0);
        sim_host_crash(h);
        assert_null(apps[crashed[k]].d);
        assert_int_equal(sim_host_memory_bytes(h), 0);
    }
    sim_run_until(w, 12 * S);
    uint32_t complete = 0, alive = 0;
    for (uint32_t i = 0; i < HOSTS - 1; i++) {
        if (!apps[i].d) continue;
        alive++;
        tp_demo_stats st;
        tp_demo_get_stats(apps[i].d, &st);
        assert_true(st.pings_unique <= PINGS);
        if (st.pings_unique == PINGS) complete++;
    }
    printf("%u of %u surviving hosts got all %d pings\n", complete, alive, PINGS);
    assert_int_equal(alive, HOSTS - 1 - 4);
    assert_int_equal(complete, alive);
    /* sim_world_destroy calls no hooks: crash the survivors first (halt frees them,
     * and the simulator forgets their armed timers). */
    for (uint32_t i = 0; i < HOSTS; i++)
        if (apps[i].d) sim_host_crash(sim_world_host(w, i));
    for (uint32_t i = 0; i < HOSTS; i++) assert_null(apps[i].d);
    sim_world_destroy(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_in_sim),
        cmocka_unit_test(test_same_seed_same_run),
        cmocka_unit_test(test_crash_frees_and_flood_goes_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
