/* tests/test_node_maintenance.c — issue 5's acceptance for the maintenance, on complete
 * nodes (core/node.h assembles the maintenance, swap, discovery and peers file; the
 * test adds no glue): convergence of 200 nodes into [min_threshold, max_threshold]
 * (spec §6.1), the too-few / too-many triggers (Octez's test_p2p_maintenance,
 * spec §12), killed connections refilled, tp_node_maintain, the known-points GC at
 * 400 -> 300 keeping trusted points (spec §5.3), the reconnection backoff seen from a
 * node dialing a dead point (spec §5.1), and determinism. Every test prints its seed. */
#include "tests/sim_harness.h"

/* ---- helpers --------------------------------------------------------------------------- */

static void conv_cfg(hs_node *hn, uint32_t i) {
    (void)i;
    tp_node_config *c = &hn->cfg;
    hs_workers(c);
    c->peers_file = NULL;
    c->min_connections = 6;
    c->expected_connections = 12;
    c->max_connections = 18;
    c->trusted_points_count = 3;
    for (uint32_t k = 0; k < 3; k++) {
        memset(&c->trusted_points[k], 0, sizeof c->trusted_points[k]);
        c->trusted_points[k].point = (tp_point){sim_host_ip(sim_world_host(hn->hs->w, k)), HS_PORT};
    }
}

typedef struct conv {
    hs *h;
    tp_maintenance_bounds b;
} conv;

static bool node_up(hs *h, uint32_t i) {
    return h->nodes[i].node != NULL && !h->nodes[i].node->shutting_down;
}

static void count_range(conv *cv, uint32_t *below, uint32_t *above) {
    *below = *above = 0;
    for (uint32_t i = 0; i < cv->h->count; i++) {
        if (!node_up(cv->h, i)) continue;
        uint32_t a = tp_node_active_connections(cv->h->nodes[i].node);
        if (a < cv->b.min_threshold) (*below)++;
        if (a > cv->b.max_threshold) (*above)++;
    }
}

static bool all_in_range(void *arg) {
    uint32_t below, above;
    count_range(arg, &below, &above);
    return below == 0 && above == 0;
}

static uint64_t sum_cycles(hs *h) {
    uint64_t k = 0;
    for (uint32_t i = 0; i < h->count; i++)
        if (h->nodes[i].node != NULL) k += tp_node_maintenance(h->nodes[i].node)->cycles;
    return k;
}

/* ---- convergence ---------------------------------------------------------------------- */

#define CONV_NODES 200

/* Acceptance (issue 5): 200 nodes with min/expected/max 6/12/18 and 3 trusted bootstrap
 * points converge — every node's connection count in [min_threshold, max_threshold] =
 * [8, 16] — within 10 virtual minutes. Killing connections (half of the nodes crash:
 * their neighbours lose connections once TCP gives up) brings the counts back through
 * the too_few triggers. Swaps happen along the way. Also reports the memory per node
 * and per idle connection (simnet's accounting). */
static void test_converge_and_recover(void **state) {
    (void)state;
    hs *h = hs_create(2024, CONV_NODES, conv_cfg);
    conv cv = {h, tp_maintenance_bounds_of(6, 12, 18)};
    hs_start_all(h);
    bool ok = sim_run_until_pred(h->w, all_in_range, &cv, sim_world_now_ns(h->w) + 600 * HS_S);
    uint32_t below, above;
    count_range(&cv, &below, &above);
    printf("converged: %s at %.1f s (below %u, above %u)\n", ok ? "yes" : "NO",
           (double)sim_world_now_ns(h->w) / 1e9, below, above);
    assert_true(ok);
    /* memory: let the handshakes and swaps settle, then measure */
    hs_run_for(h, 30 * HS_S);
    size_t host_bytes = 0, conn_bytes = 0;
    uint64_t conns = 0, swaps = 0;
    for (uint32_t i = 0; i < CONV_NODES; i++) {
        host_bytes += sim_host_memory_bytes(sim_world_host(h->w, i));
        conn_bytes += tp_node_connections_memory(h->nodes[i].node);
        for (tp_conn *c = tp_node_first_conn(h->nodes[i].node); c; c = c->next) conns++;
        swaps += tp_node_swap(h->nodes[i].node)->successes;
    }
    printf("memory: %.0f B per node (host total), %.0f B per connection (struct + buffers), "
           "sizeof(tp_node) %zu, sizeof(tp_conn) %zu, %llu connections\n",
           (double)host_bytes / CONV_NODES, conns ? (double)conn_bytes / (double)conns : 0.0,
           sizeof(tp_node), sizeof(tp_conn), (unsigned long long)conns);
    assert_true(conns > 0);
    /* idle connections hold no large buffer */
    assert_true(conn_bytes / conns < 4096);
    uint32_t few_before = 0;
    for (uint32_t i = 0; i < CONV_NODES; i++) few_before += h->nodes[i].too_few;
    for (uint32_t i = 50; i < 150; i++) sim_host_crash(sim_world_host(h->w, i));
    int64_t t0 = sim_world_now_ns(h->w);
    uint32_t worst_below = 0;
    for (int k = 0; k < 60; k++) {
        sim_run_for(h->w, HS_S);
        count_range(&cv, &below, &above);
        if (below > worst_below) worst_below = below;
    }
    ok = sim_run_until_pred(h->w, all_in_range, &cv, t0 + 600 * HS_S);
    count_range(&cv, &below, &above);
    uint32_t few_after = 0;
    for (uint32_t i = 0; i < CONV_NODES; i++) few_after += h->nodes[i].too_few;
    printf("after crashes: %s at +%.1f s (worst below %u; now below %u, above %u), "
           "too_few triggers %u, swaps %llu\n",
           ok ? "yes" : "NO", (double)(sim_world_now_ns(h->w) - t0) / 1e9, worst_below, below,
           above, few_after - few_before, (unsigned long long)swaps);
    assert_true(worst_below > 0); /* the crash did bite */
    assert_true(few_after > few_before);
    assert_true(ok);
    assert_true(swaps > 0);
    hs_destroy(h);
}

/* ---- triggers ----------------------------------------------------------------------------- */

static void trig_cfg(hs_node *hn, uint32_t i) {
    hs_workers(&hn->cfg);
    hn->cfg.peers_file = NULL;
    hn->cfg.swap_linger_ns = 0;
    if (i != 0) {
        hn->cfg.maintenance_idle_time_ns = 0; /* the others only answer */
        return;
    }
    /* 2/6/9: thresholds 3/4/7/8 (spec §6.1); an hour of idle time: only the triggers
     * (and explicit requests) wake the maintenance, as in Octez's test */
    hn->cfg.min_connections = 2;
    hn->cfg.expected_connections = 6;
    hn->cfg.max_connections = 9;
    hn->cfg.maintenance_idle_time_ns = 3600 * HS_S;
}

/* Octez's triggers.too-many-connections / too-few-connections (spec §12): node 0 with
 * 2/6/9 and an hour of idle time over-connects (its own dials are checked against max,
 * strictly above): reaching max_connections fires too_many, whose cycle starts at once
 * and kills down to max_target. Then its peers kick it: below min_connections, too_few
 * starts a cycle that dials its known points again (once their disconnection delay,
 * 60 s, is over) and brings the count back into range. */
static void test_triggers(void **state) {
    (void)state;
    hs *h = hs_create(31, 10, trig_cfg);
    hs_start_all(h);
    hs_run_for(h, 1 * HS_S);
    tp_node *n0 = h->nodes[0].node;
    tp_maintenance *m = tp_node_maintenance(n0);
    assert_non_null(m);
    assert_null(tp_node_maintenance(h->nodes[1].node));
    uint64_t c0 = m->cycles;
    tp_maintenance_bounds b = tp_maintenance_bounds_of(2, 6, 9);
    for (uint32_t i = 1; i <= 9; i++) assert_int_equal(hs_connect(h, 0, i), TP_OK);
    /* Node 0's first cycle is in its 5 s ask_for_more_contacts wait (it knew nobody):
     * the too_many trigger is lost there, as in Octez (p2p_maintenance.ml: the worker
     * only waits on the triggers between two runs), and the kills come when the wait
     * ends, at most 5 s after the last new peer. */
    hs_run_for(h, 7 * HS_S);
    assert_true(h->nodes[0].too_many >= 1);
    assert_true(h->events[0][TP_EVENT_TOO_MANY_CONNECTIONS] >= 1);
    assert_true(h->events[0][TP_EVENT_MAINTENANCE_STARTED] >= 1);
    assert_true(m->cycles > c0); /* a cycle ran without the idle timer */
    uint32_t a = tp_node_active_connections(n0);
    printf("after too_many: %u connections (max_target %u), kills %llu\n", a, b.max_target,
           (unsigned long long)m->kills);
    assert_true(m->kills >= 2);
    assert_true(a <= b.max_target && a >= b.min_threshold);
    /* too_few: the others kick node 0 */
    uint64_t c1 = m->cycles, dials = m->dials;
    uint32_t few = h->nodes[0].too_few;
    for (uint32_t i = 1; i <= 9; i++) (void)tp_node_kick(h->nodes[i].node, tp_node_peer_id(n0));
    hs_run_for(h, 2 * HS_S);
    assert_int_equal(tp_node_active_connections(n0), 0);
    assert_true(h->nodes[0].too_few > few);
    hs_run_for(h, 80 * HS_S);
    a = tp_node_active_connections(n0);
    printf("after too_few: %u connections, too_few %u, cycles %llu, dials %llu\n", a,
           h->nodes[0].too_few - few, (unsigned long long)(m->cycles - c1),
           (unsigned long long)(m->dials - dials));
    assert_true(m->dials > dials); /* it dialed the points it knew */
    assert_true(a >= b.min_threshold && a <= b.max_threshold);
    hs_destroy(h);
}

static void maintain_cfg(hs_node *hn, uint32_t i) {
    trig_cfg(hn, i);
    if (i == 0) {
        hn->cfg.trusted_points_count = 4;
        for (uint32_t k = 0; k < 4; k++) {
            memset(&hn->cfg.trusted_points[k], 0, sizeof hn->cfg.trusted_points[k]);
            hn->cfg.trusted_points[k].point = hs_point(hn->hs, 1 + k);
        }
    }
}

/* tp_node_maintain (P2p.maintain): the callback fires once a cycle ended (never inside
 * the call); TP_ERR_STATE when the node has no maintenance. */
static void maintain_cb(void *arg, tp_node *n) {
    (void)n;
    (*(int *)arg)++;
}
static void test_maintain(void **state) {
    (void)state;
    hs *h = hs_create(32, 5, maintain_cfg);
    hs_start_all(h);
    int maintained = 0;
    tp_node *n0 = h->nodes[0].node;
    assert_int_equal(tp_node_maintain(n0, maintain_cb, &maintained), TP_OK);
    assert_int_equal(maintained, 0);
    hs_run_for(h, 10 * HS_S);
    assert_int_equal(maintained, 1);
    assert_true(tp_node_active_connections(n0) >= 3); /* the cycle dialed its points */
    int other = 0;
    assert_int_equal(tp_node_maintain(h->nodes[1].node, maintain_cb, &other), TP_ERR_STATE);
    /* in range: a request still returns after one cycle */
    assert_int_equal(tp_node_maintain(n0, maintain_cb, &maintained), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(maintained, 2);
    assert_int_equal(other, 0);
    hs_destroy(h);
}

/* ---- GC (spec §5.3) --------------------------------------------------------------------- */

#define GC_ADVERTISERS 5
#define GC_POINTS 90 /* per advertiser and round */

static void gc_cfg(hs_node *hn, uint32_t i) {
    hs_no_workers(&hn->cfg);
    if (i == 0) {
        /* node 0 trusts 10 points that do not exist */
        hn->cfg.trusted_points_count = 10;
        for (uint32_t k = 0; k < 10; k++) {
            memset(&hn->cfg.trusted_points[k], 0, sizeof hn->cfg.trusted_points[k]);
            hn->cfg.trusted_points[k].point = tp_point_v4(0xc0a80000u | k, 9732);
        }
    }
}

/* Node 0 learns many points from the Advertise messages its neighbours send (made-up
 * points, 1,350 in all): the known points table never goes above 400, the GC brings it
 * down to 300 and the 10 trusted points survive every collection. */
static void test_gc_known_points(void **state) {
    (void)state;
    hs *h = hs_create(33, 1 + GC_ADVERTISERS, gc_cfg);
    hs_start_all(h);
    for (uint32_t i = 1; i <= GC_ADVERTISERS; i++) assert_int_equal(hs_connect(h, 0, i), TP_OK);
    hs_run_for(h, 2 * HS_S);
    assert_int_equal(tp_node_active_connections(h->nodes[0].node), GC_ADVERTISERS);
    tp_pool *p0 = tp_node_pool(h->nodes[0].node);
    uint32_t seen_max = 0, gcs = 0, prev = 0;
    static uint8_t frame[8 + TP_ADVERTISE_POINTS_MAX * 64];
    for (uint32_t round = 0; round < 3; round++) {
        for (uint32_t i = 1; i <= GC_ADVERTISERS; i++) {
            /* neighbour i advertises GC_POINTS made-up points to node 0 */
            tp_p2p_msg m;
            memset(&m, 0, sizeof m);
            m.tag = TP_MSG_ADVERTISE;
            m.points_count = GC_POINTS;
            for (uint32_t k = 0; k < GC_POINTS; k++)
                m.points[k] = tp_point_v4(0x0b000000u | (round << 16) | (i << 8) | k, 9732);
            size_t len;
            assert_int_equal(tp_p2p_msg_encode(&m, frame, sizeof frame, &len), TP_OK);
            tp_conn *c = tp_node_conn_of_peer(h->nodes[i].node, tp_node_peer_id(h->nodes[0].node));
            assert_non_null(c);
            assert_int_equal(tp_conn_write_frame(c, frame, len, false), TP_OK);
            for (int t = 0; t < 20; t++) {
                hs_run_for(h, 10 * HS_MS);
                uint32_t cnt = tp_pool_points_count(p0);
                if (cnt > seen_max) seen_max = cnt;
                if (cnt < prev) gcs++;
                prev = cnt;
            }
        }
    }
    uint32_t trusted = 0;
    uint32_t it = 0;
    tp_point_info *pi;
    while ((pi = tp_pool_next_point(p0, &it)) != NULL)
        if (pi->trusted) trusted++;
    printf("known points: max seen %u, now %u, collections %u, trusted %u\n", seen_max,
           tp_pool_points_count(p0), gcs, trusted);
    assert_true(gcs >= 1);
    /* each collection removed about 100 untrusted points (400 -> 300) */
    assert_true(h->events[0][TP_EVENT_GC_POINTS] >= 1);
    printf("GC_POINTS events %u, last removed %d\n", h->events[0][TP_EVENT_GC_POINTS],
           h->last_code[0][TP_EVENT_GC_POINTS]);
    assert_true(h->last_code[0][TP_EVENT_GC_POINTS] >= 90);
    assert_true(seen_max <= 400);
    assert_true(seen_max >= 300);
    assert_int_equal(trusted, 10);
    for (uint32_t k = 0; k < 10; k++) {
        tp_point pt = tp_point_v4(0xc0a80000u | k, 9732);
        tp_point_info *t = tp_pool_point(p0, &pt);
        assert_non_null(t);
        assert_true(t->trusted);
    }
    hs_destroy(h);
}

/* ---- backoff (spec §5.1) ------------------------------------------------------------------ */

static void backoff_cfg(hs_node *hn, uint32_t i) {
    hs_workers(&hn->cfg);
    hn->cfg.peers_file = NULL;
    hn->cfg.swap_linger_ns = 0;
    hn->cfg.min_connections = 1;
    hn->cfg.expected_connections = 1;
    hn->cfg.max_connections = 2;
    if (i == 0) {
        hn->cfg.trusted_points_count = 1;
        memset(&hn->cfg.trusted_points[0], 0, sizeof hn->cfg.trusted_points[0]);
        hn->cfg.trusted_points[0].point = hs_point(hn->hs, 1);
    } else {
        hn->cfg.maintenance_idle_time_ns = 0;
    }
}

/* Node 0's only (trusted) point is node 1. Node 1 stops: the disconnection sets a 60 s
 * reconnection delay and nothing dials it meanwhile; then every failed dial (its
 * maintenance looks every 5 s) sets the next delay of the sequence 1, 1.2, 1.44,
 * 1.728 ... s (factor 1.2, spec §5.1, §10). Observed on the node's pool every 10 ms. */
static void test_backoff(void **state) {
    (void)state;
    hs *h = hs_create(34, 2, backoff_cfg);
    hs_start_all(h);
    hs_run_for(h, 3 * HS_S);
    tp_node *n0 = h->nodes[0].node;
    assert_int_equal(tp_node_active_connections(n0), 1);
    tp_point p1 = hs_point(h, 1);
    tp_point_info *pi = tp_pool_point(tp_node_pool(n0), &p1);
    assert_non_null(pi);
    sim_host_stop(sim_world_host(h->w, 1), 1 * HS_S);
    int64_t delays[32];
    uint32_t nd = 0;
    int64_t last_end = pi->reconnection_end_ns;
    uint32_t dials_at_disconnection = 0;
    bool disconnected = false;
    for (int k = 0; k < 30000 && nd < 12; k++) { /* up to 300 s */
        hs_run_for(h, 10 * HS_MS);
        if (!disconnected && tp_node_active_connections(n0) == 0) {
            disconnected = true;
            dials_at_disconnection = h->events[0][TP_EVENT_OUTGOING_CONNECTION];
        }
        if (pi->reconnection_end_ns != last_end && pi->reconnection_end_ns != TP_TIME_NONE) {
            last_end = pi->reconnection_end_ns;
            delays[nd++] = last_end - sim_world_now_ns(h->w);
        }
        /* nothing dials the point during the disconnection delay */
        if (disconnected && nd == 1 && sim_world_now_ns(h->w) < last_end)
            assert_int_equal(h->events[0][TP_EVENT_OUTGOING_CONNECTION], dials_at_disconnection);
    }
    printf("delays (s):");
    for (uint32_t k = 0; k < nd; k++) printf(" %.3f", (double)delays[k] / 1e9);
    printf("\n");
    assert_true(nd >= 8);
    /* the disconnection: 60 s */
    assert_true(delays[0] <= 60 * HS_S && delays[0] >= 60 * HS_S - 20 * HS_MS);
    /* the failures: 1 s, then x1.2 each (integer per-mille, as the pool computes it) */
    int64_t expect = 1 * HS_S;
    for (uint32_t k = 1; k < nd; k++) {
        assert_true(delays[k] <= expect && delays[k] >= expect - 20 * HS_MS);
        expect = expect * 1200 / 1000;
    }
    hs_destroy(h);
}

/* ---- symmetric dials ---------------------------------------------------------------- */

#define RING 6
static uint32_t ring_jitter_pm;

static void ring_cfg(hs_node *hn, uint32_t i) {
    hs_workers(&hn->cfg);
    hn->cfg.peers_file = NULL;
    hn->cfg.private_mode = true;
    hn->cfg.maintenance_wait_jitter_pm = ring_jitter_pm;
    hn->cfg.min_connections = 2; /* thresholds 2/2/4/4: both neighbours wanted */
    hn->cfg.expected_connections = 2;
    hn->cfg.max_connections = 4;
    hn->cfg.trusted_points_count = 2;
    for (uint32_t k = 0; k < 2; k++) {
        memset(&hn->cfg.trusted_points[k], 0, sizeof hn->cfg.trusted_points[k]);
        hn->cfg.trusted_points[k].point = hs_point(hn->hs, (i + (k ? 1 : RING - 1)) % RING);
    }
}

static bool ring_formed(void *arg) {
    hs *h = arg;
    for (uint32_t i = 0; i < RING; i++)
        if (tp_node_active_connections(h->nodes[i].node) != 2) return false;
    return true;
}

/* A private ring (each node trusts its two neighbours): at activation every node dials
 * both neighbours at the same instant, so every pair rejects each other's incoming
 * connection (Already_connected, spec §2.7). With Octez's exact timings every retry
 * collides again and the ring never forms (documented, asserted); the node's
 * maintenance_wait_jitter_pm option breaks the tie and the ring forms. */
static bool run_ring(uint32_t jitter_pm, uint32_t *rejected) {
    ring_jitter_pm = jitter_pm;
    hs *h = hs_create(35, RING, ring_cfg);
    hs_start_all(h);
    bool ok = sim_run_until_pred(h->w, ring_formed, h, 120 * HS_S);
    *rejected = 0;
    for (uint32_t i = 0; i < RING; i++) *rejected += h->events[i][TP_EVENT_REJECTING_REQUEST];
    printf("jitter %u per-mille: ring formed: %s at %.1f s (%u rejected requests)\n", jitter_pm,
           ok ? "yes" : "NO", (double)sim_world_now_ns(h->w) / 1e9, *rejected);
    hs_destroy(h);
    return ok;
}

static void test_symmetric_dials(void **state) {
    (void)state;
    uint32_t rejected;
    assert_false(run_ring(0, &rejected)); /* Octez's timing: the collision repeats */
    assert_true(rejected > 50);
    assert_true(run_ring(200, &rejected));
    assert_true(rejected > 0); /* the first attempts did collide */
}

/* ---- determinism ---------------------------------------------------------------------- */

static uint64_t small_world_hash(uint64_t seed, uint64_t *cycles) {
    hs *h = hs_create(seed, 60, conv_cfg);
    hs_start_all(h);
    hs_run_for(h, 180 * HS_S);
    *cycles = sum_cycles(h);
    uint64_t hash = sim_world_trace_hash(h->w);
    hs_destroy(h);
    return hash;
}

/* Same seed, same run: the workers' random choices come from the env only. */
static void test_deterministic(void **state) {
    (void)state;
    uint64_t c1, c2, c3;
    uint64_t a = small_world_hash(77, &c1), b = small_world_hash(77, &c2),
             c = small_world_hash(78, &c3);
    printf("trace %016llx %016llx %016llx, cycles %llu %llu %llu\n", (unsigned long long)a,
           (unsigned long long)b, (unsigned long long)c, (unsigned long long)c1,
           (unsigned long long)c2, (unsigned long long)c3);
    assert_true(a == b && c1 == c2);
    assert_true(a != c);
    assert_true(c1 > 60); /* every node ran cycles */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converge_and_recover),
        cmocka_unit_test(test_triggers),
        cmocka_unit_test(test_maintain),
        cmocka_unit_test(test_gc_known_points),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_symmetric_dials),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
