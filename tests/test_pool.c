/* tests/test_pool.c — core/pool: point/peer state machines, reconnection backoff, GC
 * (spec §5.1–5.3), list_known_points (§5.5), my_id_points (§2.6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "core/pool.h"
#include "tests/mock_env.h"

#define S_NS ((int64_t)1000000000)
#define MS_NS ((int64_t)1000000)

static tp_point pt(uint32_t n) {
    return tp_point_v4(0x0a000000 | n, 9732);
}

static tp_peer_id pid(uint32_t n) {
    tp_peer_id id;
    memset(&id, 0, sizeof id);
    memcpy(id.bytes, &n, sizeof n);
    id.bytes[15] = 0x5a;
    return id;
}

typedef struct fixture {
    mock_env m;
    tp_pool pool;
    int new_points, new_peers;
} fixture;

static void on_new_point(void *arg, tp_point_info *p) {
    ((fixture *)arg)->new_points++;
}
static void on_new_peer(void *arg, tp_peer_info *p) {
    ((fixture *)arg)->new_peers++;
}

static void fixture_init(fixture *f, uint64_t seed, const tp_pool_config *cfg_in) {
    printf("seed %llu\n", (unsigned long long)seed);
    memset(f, 0, sizeof *f);
    mock_env_init(&f->m, seed);
    tp_pool_config cfg;
    if (cfg_in) cfg = *cfg_in;
    else tp_pool_config_default(&cfg);
    tp_pool_hooks hooks = {on_new_point, on_new_peer, f};
    tp_pool_init(&f->pool, &f->m.env, &cfg, &hooks);
}

static void fixture_deinit(fixture *f) {
    tp_pool_deinit(&f->pool);
    assert_int_equal(mock_env_bytes_allocated(&f->m), 0);
}

/* The backoff after failures is 1, 1.2, 1.44, ... s, capped at 2 days; after a
 * disconnection the delay is 60 s and the next failure starts from the initial delay. */
static void test_backoff(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 1, NULL);
    tp_point a = pt(1);
    tp_point_info *p;
    assert_int_equal(tp_pool_register_point(&f.pool, &a, -1, NULL, &p), TP_OK);
    assert_false(tp_point_cannot_reconnect_yet(p, f.m.now_ns));
    const int64_t expected_ms[] = {1000, 1200, 1440, 1728, 2073};
    for (int i = 0; i < 5; i++) {
        tp_point_set_requested(&f.pool, p);
        int64_t t0 = f.m.now_ns;
        tp_point_set_disconnected(&f.pool, p, false);
        int64_t wait = p->reconnection_end_ns - t0;
        /* 1.2^4 = 2.0736 s: integer arithmetic truncates below the microsecond */
        assert_true(wait / MS_NS == expected_ms[i]);
        assert_true(tp_point_cannot_reconnect_yet(p, p->reconnection_end_ns));
        assert_false(tp_point_cannot_reconnect_yet(p, p->reconnection_end_ns + 1));
        assert_int_equal(p->last_failed_connection_ns, t0);
        mock_env_advance(&f.m, wait + 1);
    }
    /* the cap: 2 days */
    for (int i = 0; i < 200; i++) {
        tp_point_set_requested(&f.pool, p);
        tp_point_set_disconnected(&f.pool, p, false);
    }
    assert_int_equal(p->reconnection_delay_ns, (int64_t)172800 * S_NS);
    /* connection then disconnection: 60 s, and the delay restarts at 1 s */
    tp_peer_id peer = pid(7);
    tp_point_set_requested(&f.pool, p);
    tp_point_set_accepted(&f.pool, p, &peer);
    tp_point_set_running(&f.pool, p, &peer, (void *)&f);
    assert_int_equal(f.pool.points_connected, 1);
    int64_t t1 = f.m.now_ns;
    tp_point_set_disconnected(&f.pool, p, true);
    assert_int_equal(f.pool.points_connected, 0);
    assert_int_equal(p->reconnection_end_ns - t1, 60 * S_NS);
    assert_true(tp_point_cannot_reconnect_yet(p, t1 + 60 * S_NS));
    assert_false(tp_point_cannot_reconnect_yet(p, t1 + 60 * S_NS + 1));
    assert_int_equal(tp_point_last_seen(p), t1);
    assert_int_equal(tp_point_last_miss(p), t1);
    tp_point_set_requested(&f.pool, p);
    int64_t t2 = f.m.now_ns;
    tp_point_set_disconnected(&f.pool, p, false);
    assert_int_equal(p->reconnection_end_ns - t2, S_NS);
    /* history ring: events recorded in order */
    const tp_pool_event *last = tp_pool_event_ring_at(&p->events, p->events.count - 1);
    assert_int_equal(last->kind, TP_POOL_EVENT_REQUEST_REJECTED);
    assert_int_equal(p->events.count, 100); /* full ring keeps the last 100 */
    fixture_deinit(&f);
}

/* Rejection in Accepted state records last_rejected_connection and backs off. */
static void test_point_states(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 2, NULL);
    tp_point a = pt(2);
    tp_point_info *p;
    assert_int_equal(tp_pool_register_point(&f.pool, &a, -1, NULL, &p), TP_OK);
    assert_int_equal(f.new_points, 1);
    assert_int_equal(f.m.event_counts[TP_EVENT_NEW_POINT], 1);
    tp_point_info *again;
    assert_int_equal(tp_pool_register_point(&f.pool, &a, 1, NULL, &again), TP_OK);
    assert_ptr_equal(p, again);
    assert_true(p->trusted);
    assert_int_equal(f.new_points, 1);
    tp_peer_id peer = pid(3);
    tp_point_set_accepted(&f.pool, p, &peer); /* incoming: Disconnected -> Accepted */
    tp_point_set_disconnected(&f.pool, p, false);
    assert_int_equal(p->last_rejected_connection.time_ns, f.m.now_ns);
    assert_true(tp_peer_id_eq(&p->last_rejected_connection.peer, &peer));
    assert_true(p->reconnection_end_ns != TP_TIME_NONE);
    /* port 0 is registered, as Octez's register_point takes what its parser gives
     * (point_parser.mll: 0..65535; issue 18, item 7) */
    tp_point z = pt(3);
    z.port = 0;
    assert_int_equal(tp_pool_register_point(&f.pool, &z, -1, NULL, &p), TP_OK);
    assert_true(tp_pool_unregister_point(&f.pool, &z));
    /* unregister only when disconnected */
    assert_true(tp_pool_unregister_point(&f.pool, &a));
    assert_null(tp_pool_point(&f.pool, &a));
    fixture_deinit(&f);
}

static void test_peer_states(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 3, NULL);
    tp_peer_id id = pid(1);
    tp_peer_info *p;
    assert_int_equal(tp_pool_register_peer(&f.pool, &id, &p), TP_OK);
    assert_int_equal(f.new_peers, 1);
    assert_int_equal(p->score_pm, 1000);
    tp_point a = pt(9);
    tp_peer_set_accepted(&f.pool, p, &a);
    tp_peer_set_running(&f.pool, p, &a, &f);
    assert_int_equal(f.pool.peers_connected, 1);
    mock_env_advance(&f.m, 5 * S_NS);
    tp_peer_set_disconnected(&f.pool, p, false);
    assert_int_equal(f.pool.peers_connected, 0);
    assert_int_equal(p->events.count, 3);
    assert_int_equal(tp_pool_event_ring_at(&p->events, 2)->kind,
                     TP_POOL_EVENT_EXTERNAL_DISCONNECTION);
    assert_int_equal(tp_peer_last_seen(p), f.m.now_ns);
    assert_true(tp_point_eq(&p->last_disconnection.point, &a));
    fixture_deinit(&f);
}

/* GC at 400 -> 300: trusted points and connected points survive; the oldest last_miss
 * goes first; never-missed points count as now. */
static void test_gc_points(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 4, NULL);
    tp_point_info *p;
    /* 50 trusted, 350 untrusted; the untrusted ones 1..100 failed long ago */
    for (uint32_t i = 1; i <= 400; i++) {
        tp_point a = pt(i);
        assert_int_equal(tp_pool_register_point(&f.pool, &a, i <= 50 ? 1 : -1, NULL, &p), TP_OK);
        if (i > 50 && i <= 150) {
            tp_point_set_requested(&f.pool, p);
            tp_point_set_disconnected(&f.pool, p, false);
        }
        mock_env_advance(&f.m, MS_NS);
    }
    /* one untrusted point is running: never collected */
    tp_point run = pt(60);
    p = tp_pool_point(&f.pool, &run);
    tp_peer_id peer = pid(60);
    tp_point_set_requested(&f.pool, p);
    tp_point_set_running(&f.pool, p, &peer, &f);
    assert_int_equal(tp_pool_points_count(&f.pool), 400);
    /* the never-missed ones all count as "now": a tie, broken by the points' random
     * ties (Octez's Hashtbl order), not by registration order */
    uint32_t lowest_tie = 0;
    for (uint32_t i = 151; i <= 400; i++) {
        tp_point a = pt(i);
        if (lowest_tie == 0 ||
            tp_pool_point(&f.pool, &a)->tie < tp_pool_point(&f.pool, &(tp_point){pt(lowest_tie).ip, 9732})->tie)
            lowest_tie = i;
    }
    tp_point extra = pt(1000);
    assert_int_equal(tp_pool_register_point(&f.pool, &extra, -1, NULL, &p), TP_OK);
    /* GC to 300, then the new point: 301 (Octez's off-by-one) */
    assert_int_equal(tp_pool_points_count(&f.pool), 301);
    assert_int_equal(f.m.event_counts[TP_EVENT_GC_POINTS], 1);
    for (uint32_t i = 1; i <= 50; i++) {
        tp_point a = pt(i);
        assert_non_null(tp_pool_point(&f.pool, &a)); /* trusted kept */
    }
    assert_non_null(tp_pool_point(&f.pool, &run));
    /* the 99 failed ones (minus the running one) were the oldest misses: all gone */
    for (uint32_t i = 51; i <= 150; i++) {
        tp_point a = pt(i);
        if (i == 60) continue;
        assert_null(tp_pool_point(&f.pool, &a));
    }
    /* 100 removed = 99 failed + 1 never-missed: the one with the lowest tie */
    for (uint32_t i = 151; i <= 400; i++) {
        tp_point a = pt(i);
        if (i == lowest_tie) assert_null(tp_pool_point(&f.pool, &a));
        else assert_non_null(tp_pool_point(&f.pool, &a));
    }
    tp_point_set_disconnected(&f.pool, tp_pool_point(&f.pool, &run), true);
    fixture_deinit(&f);
}

/* Ties in the GC are random per seed, not registration order (item 1 of issue 18).
 * Octez: p2p_pool.ml `gc_points` / `gc_peer_ids` fill a Bounded_heap while iterating
 * the known tables, Hashtbls created ~random:true in `create`: among points with the
 * same last_miss (never missed: "now") and peers with the same score and creation
 * time, which go is an effectively random pick. tidepool draws each info's `tie` from
 * the node's seeded stream: the same seed evicts the same ones, other seeds others. */
static void gc_ties_run(uint64_t seed, bool peers, uint32_t removed_out[12]) {
    tp_pool_config cfg;
    tp_pool_config_default(&cfg);
    cfg.max_known_points = cfg.max_known_peer_ids = 10;
    cfg.target_known_points = cfg.target_known_peer_ids = 5;
    fixture f;
    fixture_init(&f, seed, &cfg);
    for (uint32_t i = 1; i <= 11; i++) { /* all at the same instant */
        if (peers) {
            tp_peer_id id = pid(i);
            tp_peer_info *p;
            assert_int_equal(tp_pool_register_peer(&f.pool, &id, &p), TP_OK);
        } else {
            tp_point a = pt(i);
            tp_point_info *p;
            assert_int_equal(tp_pool_register_point(&f.pool, &a, -1, NULL, &p), TP_OK);
        }
    }
    /* the 11th registration collected 5 of the first 10 */
    assert_int_equal(peers ? tp_pool_peers_count(&f.pool) : tp_pool_points_count(&f.pool), 6);
    memset(removed_out, 0, 12 * sizeof removed_out[0]);
    for (uint32_t i = 1; i <= 11; i++) {
        tp_peer_id id = pid(i);
        tp_point a = pt(i);
        bool gone = peers ? tp_pool_peer(&f.pool, &id) == NULL : tp_pool_point(&f.pool, &a) == NULL;
        removed_out[i] = gone;
    }
    assert_int_equal(removed_out[11], 0);
    fixture_deinit(&f);
}

static void test_gc_ties_random(void **state) {
    (void)state;
    for (int peers = 0; peers <= 1; peers++) {
        uint32_t first[12], again[12], other[12];
        gc_ties_run(40, peers, first);
        gc_ties_run(40, peers, again);
        assert_memory_equal(first, again, sizeof first); /* same seed, same victims */
        bool oldest_five_always = true, differs = false;
        for (uint64_t seed = 41; seed < 49; seed++) {
            gc_ties_run(seed, peers, other);
            if (memcmp(other, first, sizeof first) != 0) differs = true;
            for (uint32_t i = 1; i <= 10; i++)
                if (other[i] != (i <= 5 ? (peers ? 0u : 1u) : (peers ? 1u : 0u)))
                    oldest_five_always = false;
        }
        assert_true(differs);
        /* neither the first registered (points) nor the last (peers) every time */
        assert_false(oldest_five_always);
    }
}

/* Peer GC: lowest score first, then the most recently created first. */
static void test_gc_peers(void **state) {
    (void)state;
    tp_pool_config cfg;
    tp_pool_config_default(&cfg);
    cfg.max_known_peer_ids = 10;
    cfg.target_known_peer_ids = 6;
    fixture f;
    fixture_init(&f, 5, &cfg);
    tp_peer_info *p;
    for (uint32_t i = 1; i <= 10; i++) {
        tp_peer_id id = pid(i);
        assert_int_equal(tp_pool_register_peer(&f.pool, &id, &p), TP_OK);
        if (i == 2) p->score_pm = 500; /* low score: first to go */
        if (i == 3) p->trusted = true;
        mock_env_advance(&f.m, S_NS);
    }
    tp_peer_id id11 = pid(11);
    assert_int_equal(tp_pool_register_peer(&f.pool, &id11, &p), TP_OK);
    assert_int_equal(tp_pool_peers_count(&f.pool), 7);
    tp_peer_id gone[] = {pid(2), pid(10), pid(9), pid(8)};
    for (int i = 0; i < 4; i++) assert_null(tp_pool_peer(&f.pool, &gone[i]));
    tp_peer_id kept[] = {pid(1), pid(3), pid(4), pid(7), pid(11)};
    for (int i = 0; i < 5; i++) assert_non_null(tp_pool_peer(&f.pool, &kept[i]));
    fixture_deinit(&f);
}

static bool all_odd_banned(void *arg, const tp_ip *ip) {
    (void)arg;
    return ip->bytes[15] % 2 == 1;
}

/* list_known_points (issue 18, item 6), as Octez's p2p_pool.ml list_known_points:
 * known_public and not banned, sorted by compare_known_point_info — connected points
 * first (one still connecting, without last_seen, before them all; then the oldest
 * connection first), then disconnected ones by last_seen descending, then those never
 * seen — then `sample best other` with other = size * 2 / 5: every point when there
 * are at most best + other, in that order; otherwise the best ones and exactly `other`
 * random picks among the rest (a repeated index spills onto the next element), the
 * whole list reversed, since `sample` prepends. */
static void test_list_known_points(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 6, NULL);
    tp_point_info *p;
    for (uint32_t i = 1; i <= 120; i++) {
        tp_point a = pt(i);
        assert_int_equal(tp_pool_register_point(&f.pool, &a, -1, NULL, &p), TP_OK);
        tp_point_set_known_public(&f.pool, p, true);
        if (i >= 21 && i <= 25) { /* connected, established at increasing times */
            tp_peer_id peer = pid(i);
            tp_point_set_requested(&f.pool, p);
            tp_point_set_running(&f.pool, p, &peer, &f);
        } else if (i >= 26 && i <= 60) { /* disconnected after a connection */
            tp_peer_id peer = pid(i);
            tp_point_set_requested(&f.pool, p);
            tp_point_set_running(&f.pool, p, &peer, &f);
            tp_point_set_disconnected(&f.pool, p, true);
        } else if (i == 61) { /* being dialed, no history: not Disconnected, no last_seen */
            tp_point_set_requested(&f.pool, p);
        }
        mock_env_advance(&f.m, S_NS);
    }
    /* sorted: 61, 21..25, 60..26, then the 79 never seen (1..20, 62..120) */
    tp_point out[50];
    size_t n = tp_pool_list_known_points(&f.pool, 50, NULL, NULL, out);
    assert_int_equal(n, 50); /* 30 best + 20 random (no spill past the end here) */
    /* reversed: the best 30 come last, from the 30th down to the first */
    assert_true(tp_point_eq(&out[49], &(tp_point){pt(61).ip, 9732}));
    for (uint32_t k = 0; k < 5; k++) assert_true(tp_point_eq(&out[48 - k], &(tp_point){pt(21 + k).ip, 9732}));
    for (uint32_t k = 0; k < 24; k++) assert_true(tp_point_eq(&out[43 - k], &(tp_point){pt(60 - k).ip, 9732}));
    /* the 20 picks among the rest (36..26, never seen) come first, from the last in
     * sorted order: never-seen ones before 26..36, and those by ascending number */
    bool seen_group1 = false;
    uint32_t last_g1 = 0;
    for (size_t i = 0; i < 20; i++) {
        uint32_t v = tp_ip_v4(&out[i].ip) & 0xff;
        assert_true(v <= 36 || v >= 62);
        assert_false(v >= 21 && v <= 25);
        for (size_t j = 0; j < i; j++) assert_false(tp_point_eq(&out[i], &out[j]));
        if (v >= 26 && v <= 36) {
            assert_true(v > last_g1);
            last_g1 = v;
            seen_group1 = true;
        } else {
            assert_false(seen_group1);
        }
    }
    /* with at most best + other known: all of them, sorted, not reversed (only the
     * even ones pass the filter: 61 is odd, so 22, 24, then 60, 58, ..., 26, then the
     * never-seen even ones) */
    fixture g;
    fixture_init(&g, 7, NULL);
    tp_point a = pt(1);
    assert_int_equal(tp_pool_register_point(&g.pool, &a, -1, NULL, &p), TP_OK);
    assert_int_equal(tp_pool_list_known_points(&g.pool, 50, NULL, NULL, out), 0); /* not public */
    fixture_deinit(&g);
    tp_point all[120];
    size_t m = tp_pool_list_known_points(&f.pool, 100, all_odd_banned, NULL, all);
    assert_int_equal(m, 60);
    assert_true(tp_point_eq(&all[0], &(tp_point){pt(22).ip, 9732}));
    assert_true(tp_point_eq(&all[1], &(tp_point){pt(24).ip, 9732}));
    for (uint32_t k = 0; k < 18; k++) assert_true(tp_point_eq(&all[2 + k], &(tp_point){pt(60 - 2 * k).ip, 9732}));
    for (size_t i = 0; i < m; i++) assert_false(all_odd_banned(NULL, &all[i].ip));
    /* tear down connections for the leak check */
    uint32_t it = 0;
    while ((p = tp_pool_next_point(&f.pool, &it)) != NULL)
        if (p->state == TP_POINT_RUNNING) tp_point_set_disconnected(&f.pool, p, true);
    fixture_deinit(&f);
}

/* my_id_points: a point where we met ourselves is forgotten and refused afterwards; the
 * set holds 7 (LRU). */
static void test_my_id_points(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 8, NULL);
    tp_point_info *p;
    tp_point me = pt(1);
    assert_int_equal(tp_pool_register_point(&f.pool, &me, -1, NULL, &p), TP_OK);
    tp_pool_add_my_id_point(&f.pool, &me);
    assert_null(tp_pool_point(&f.pool, &me));
    assert_int_equal(tp_pool_register_point(&f.pool, &me, -1, NULL, &p), TP_ERR_INVAL);
    for (uint32_t i = 2; i <= 8; i++) {
        tp_point a = pt(i);
        tp_pool_add_my_id_point(&f.pool, &a);
    }
    assert_false(tp_pool_is_my_id_point(&f.pool, &me)); /* evicted: capacity 7 */
    tp_point eight = pt(8);
    assert_true(tp_pool_is_my_id_point(&f.pool, &eight));
    fixture_deinit(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),          cmocka_unit_test(test_point_states),
        cmocka_unit_test(test_peer_states),      cmocka_unit_test(test_gc_points),
        cmocka_unit_test(test_gc_peers),         cmocka_unit_test(test_list_known_points),
        cmocka_unit_test(test_my_id_points),     cmocka_unit_test(test_gc_ties_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
