/* tests/test_swarm_invariants.c — every invariant of lua/invariants.h violated on purpose
 * and seen reported; the same worlds without the violation report nothing.
 *
 * - connection_limit, banned_peer_connected, state_agreement, bounds: nodes on simnet
 *   (tests/sim_harness.h), connected, then their state corrupted from the test (a limit
 *   lowered below the running count, an ACL entry added behind the node's back, a pool
 *   counter or an info's state changed) and tl_inv_check_node called. The real API
 *   (tp_node_ban_peer / ban_addr) closes the connection at once: no violation.
 * - memory, overlay_connected, min_connections, and the reporting path (verdict,
 *   message, the assertions row, the run stopped at the first violation): Lua scenarios
 *   through tl_run, with a world that violates the invariant (a memory bound below the
 *   node's use; two islands that can never meet; a node without maintenance below
 *   min_connections next to a dialable trusted point) and a control world that does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lua/invariants.h"
#include "lua/scenario.h"
#include "sim_harness.h"

/* ---- per-node checks on corrupted state ---------------------------------------------- */

typedef struct seen {
    uint32_t count[TL_INV_COUNT];
    char detail[TL_INV_COUNT][256];
} seen;

static void record(void *arg, const tl_inv_violation *v) {
    seen *s = arg;
    s->count[v->kind]++;
    snprintf(s->detail[v->kind], sizeof s->detail[0], "%s", v->detail);
}

static uint32_t check(hs *h, uint32_t i, seen *s) {
    memset(s, 0, sizeof *s);
    return tl_inv_check_node(hs_node_of(h, i), i, sim_world_now_ns(h->w), record, s);
}

static void cfg3(hs_node *hn, uint32_t i) {
    (void)i;
    hs_no_workers(&hn->cfg);
}

/* Three nodes: 0 dials 1 and 2; every check is clean. */
static hs *three(void) {
    hs *h = hs_create(101, 3, cfg3);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 0, 1), TP_OK);
    assert_int_equal(hs_connect(h, 0, 2), TP_OK);
    hs_run_for(h, 2 * HS_S);
    assert_int_equal(tp_node_active_connections(hs_node_of(h, 0)), 2);
    seen s;
    for (uint32_t i = 0; i < 3; i++) assert_int_equal(check(h, i, &s), 0);
    return h;
}

static void test_clean_world_reports_nothing(void **state) {
    (void)state;
    hs *h = three();
    /* and the memory bound holds with room to spare */
    for (uint32_t i = 0; i < 3; i++) {
        uint64_t used = sim_host_memory_bytes(sim_world_host(h->w, i));
        assert_true(used > 0);
        assert_true(used < tl_inv_memory_bound(tp_node_config_of(hs_node_of(h, i))));
    }
    hs_destroy(h);
}

static void test_connection_limit(void **state) {
    (void)state;
    hs *h = three();
    tp_node *n = hs_node_of(h, 0);
    tp_node_config saved = n->cfg;
    n->cfg.max_connections = 1; /* 2 running > 1 + 0 */
    n->cfg.max_incoming_connections = 0;
    seen s;
    assert_int_equal(check(h, 0, &s), 1);
    assert_int_equal(s.count[TL_INV_CONNECTION_LIMIT], 1);
    assert_non_null(strstr(s.detail[TL_INV_CONNECTION_LIMIT], "2 running connections"));
    n->cfg = saved;
    /* pending handshakes above max_incoming_connections */
    n->cfg.max_incoming_connections = 0;
    n->handler.pending_incoming = 1;
    check(h, 0, &s);
    assert_int_equal(s.count[TL_INV_CONNECTION_LIMIT], 1);
    assert_non_null(strstr(s.detail[TL_INV_CONNECTION_LIMIT], "incoming handshakes pending"));
    n->handler.pending_incoming = 0;
    n->cfg = saved;
    assert_int_equal(check(h, 0, &s), 0);
    hs_destroy(h);
}

static void test_banned_peer_connected(void **state) {
    (void)state;
    hs *h = three();
    tp_node *n = hs_node_of(h, 0);
    tp_acl *acl = tp_node_acl(n);
    const tp_peer_id *p1 = tp_node_peer_id(hs_node_of(h, 1));
    tp_ip ip1 = sim_host_ip(sim_world_host(h->w, 1));
    seen s;
    /* blacklisted peer, behind the node's back (no disconnection) */
    assert_int_equal(tp_acl_ban_peer(acl, p1->bytes), TP_OK);
    assert_int_equal(check(h, 0, &s), 1);
    assert_int_equal(s.count[TL_INV_BANNED_PEER_CONNECTED], 1);
    assert_non_null(strstr(s.detail[TL_INV_BANNED_PEER_CONNECTED], "blacklisted peer"));
    tp_acl_unban_peer(acl, p1->bytes);
    /* greylisted peer */
    tp_acl_greylist_peer(acl, p1->bytes);
    check(h, 0, &s);
    assert_int_equal(s.count[TL_INV_BANNED_PEER_CONNECTED], 1);
    assert_non_null(strstr(s.detail[TL_INV_BANNED_PEER_CONNECTED], "greylisted peer"));
    tp_acl_unban_peer(acl, p1->bytes);
    /* blacklisted IP */
    assert_int_equal(tp_acl_ban_ip(acl, &ip1), TP_OK);
    check(h, 0, &s);
    assert_int_equal(s.count[TL_INV_BANNED_PEER_CONNECTED], 1);
    assert_non_null(strstr(s.detail[TL_INV_BANNED_PEER_CONNECTED], "blacklisted IP"));
    tp_acl_unban_ip(acl, &ip1);
    /* a greylisted IP alone keeps its running connections (Octez): no violation */
    tp_acl_greylist_ip(acl, &ip1);
    assert_int_equal(check(h, 0, &s), 0);
    tp_acl_unban_ip(acl, &ip1);
    /* the real ban closes the connection at once: nothing to report, ever */
    assert_int_equal(tp_node_ban_peer(n, p1), TP_OK);
    assert_int_equal(check(h, 0, &s), 0);
    hs_run_for(h, 2 * HS_S);
    assert_int_equal(check(h, 0, &s), 0);
    assert_int_equal(tp_node_active_connections(n), 1);
    assert_int_equal(tp_node_ban_addr(n, &ip1), TP_OK);
    assert_int_equal(check(h, 0, &s), 0);
    hs_destroy(h);
}

static void test_state_agreement(void **state) {
    (void)state;
    hs *h = three();
    tp_node *n = hs_node_of(h, 0);
    tp_pool *pool = tp_node_pool(n);
    seen s;
    /* a pool counter off by one */
    pool->points_connected++;
    assert_int_equal(check(h, 0, &s), 1);
    assert_int_equal(s.count[TL_INV_STATE_AGREEMENT], 1);
    assert_non_null(strstr(s.detail[TL_INV_STATE_AGREEMENT], "pool counts"));
    pool->points_connected--;
    /* a running connection whose peer is not Running */
    tp_conn *c = tp_node_first_conn(n);
    assert_non_null(c);
    assert_true(tp_conn_is_running(c));
    tp_peer_state saved = c->peer->state;
    c->peer->state = TP_PEER_ACCEPTED;
    check(h, 0, &s);
    assert_int_equal(s.count[TL_INV_STATE_AGREEMENT], 1);
    assert_non_null(strstr(s.detail[TL_INV_STATE_AGREEMENT], "its peer is accepted"));
    c->peer->state = saved;
    /* the handler's running count disagrees with its list */
    n->handler.active++;
    check(h, 0, &s);
    assert_int_equal(s.count[TL_INV_STATE_AGREEMENT], 1);
    n->handler.active--;
    assert_int_equal(check(h, 0, &s), 0);
    hs_destroy(h);
}

static void test_bounds(void **state) {
    (void)state;
    hs *h = three();
    tp_node *n = hs_node_of(h, 0);
    tp_pool *pool = tp_node_pool(n);
    seen s;
    assert_true(tp_pool_points_count(pool) >= 2);
    uint32_t saved = pool->cfg.max_known_points;
    pool->cfg.max_known_points = 0; /* 2 known > 0 + 1 */
    assert_int_equal(check(h, 0, &s), 1);
    assert_int_equal(s.count[TL_INV_BOUNDS], 1);
    assert_non_null(strstr(s.detail[TL_INV_BOUNDS], "known points"));
    pool->cfg.max_known_points = saved;
    /* an ACL list above its maximum */
    tp_acl *acl = tp_node_acl(n);
    tp_ip a = sim_host_ip(sim_world_host(h->w, 2)), b = a;
    b.bytes[15] ^= 0x40; /* an IP nobody uses */
    tp_acl_greylist_ip(acl, &b);
    uint32_t saved_max = acl->cfg.ip_greylist_max;
    acl->cfg.ip_greylist_max = 0;
    check(h, 0, &s);
    assert_int_equal(s.count[TL_INV_BOUNDS], 1);
    assert_non_null(strstr(s.detail[TL_INV_BOUNDS], "ip_greylist_max"));
    acl->cfg.ip_greylist_max = saved_max;
    (void)a;
    assert_int_equal(check(h, 0, &s), 0);
    hs_destroy(h);
}

static void test_names_round_trip(void **state) {
    (void)state;
    for (int i = 0; i < TL_INV_COUNT; i++) {
        tl_inv_kind k;
        assert_true(tl_inv_parse(tl_inv_name((tl_inv_kind)i), &k));
        assert_int_equal(k, i);
    }
    tl_inv_kind k;
    assert_false(tl_inv_parse("no_such_invariant", &k));
}

/* ---- Lua scenarios through tl_run ------------------------------------------------------ */

static const char *const prelude =
    "sim.world{regions = 1}\n"
    "local function mk(h, extra)\n"
    "  local c = {min_connections = 1, expected_connections = 3, max_connections = 6,\n"
    "             maintenance_idle_time = \"5s\", backoff_cap = \"10s\", pow_difficulty = 4,\n"
    "             identity_difficulty = 4}\n"
    "  for k, v in pairs(extra or {}) do c[k] = v end\n"
    "  return sim.node(h, c)\n"
    "end\n";

typedef struct lua_run {
    tl_run_result r;
    char db[256];
    int failed_rows;
    char row[512];
} lua_run;

static void run_lua(const char *body, lua_run *out) {
    char path[] = "/tmp/tp_test_swarm_inv_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(prelude, f);
    fputs(body, f);
    fclose(f);
    snprintf(out->db, sizeof out->db, "%s.db", path);
    unlink(out->db);
    FILE *devnull = fopen("/dev/null", "w");
    tl_run_config cfg;
    tl_run_config_default(&cfg);
    cfg.script_path = path;
    cfg.seed = 7;
    cfg.db_path = out->db;
    cfg.out = devnull;
    tl_run(&cfg, &out->r);
    fclose(devnull);
    unlink(path);
    printf("seed 7: %s %s\n", tl_verdict_name(out->r.verdict), out->r.message);
    /* the failed assertions in the database */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(out->db, &db), SQLITE_OK);
    sqlite3_stmt *st;
    out->failed_rows = -1; /* no assertions table: the run broke before writing one */
    out->row[0] = '\0';
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), coalesce(min(message), '') FROM assertions "
                           "WHERE passed = 0",
                           -1, &st, NULL) == SQLITE_OK) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        out->failed_rows = sqlite3_column_int(st, 0);
        snprintf(out->row, sizeof out->row, "%s", (const char *)sqlite3_column_text(st, 1));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    unlink(out->db);
}

static void expect_violation(const lua_run *lr, const char *name) {
    char want[64];
    snprintf(want, sizeof want, "invariant %s violated", name);
    assert_int_equal(lr->r.verdict, TL_VERDICT_FAIL);
    assert_non_null(strstr(lr->r.message, want));
    assert_int_equal(lr->failed_rows, 1); /* recorded once, in the assertions table */
    assert_non_null(strstr(lr->row, want));
}

static void test_memory(void **state) {
    (void)state;
    lua_run lr;
#define MEM_BODY(bound)                                                                    \
    "local hs = sim.hosts{count = 2}\n"                                                       \
    "mk(hs[1], {trusted_points = {hs[2]}}); mk(hs[2])\n"                                      \
    "sim.invariants{every = \"1s\", memory_bytes_max = " bound "}\n"                          \
    "run_until(\"60s\")\n"
    char text[1024];
    snprintf(text, sizeof text, "%s", MEM_BODY("4096"));
    run_lua(text, &lr);
    expect_violation(&lr, "memory");
    assert_non_null(strstr(lr.r.message, "bytes allocated > bound 4096"));
    /* the run stops at the first violation (stop = true by default) */
    assert_true(lr.r.virtual_ns <= 2 * 1000000000LL);
    /* the bound derived from the config holds */
    snprintf(text, sizeof text, "%s", MEM_BODY("nil"));
    run_lua(text, &lr);
    assert_int_equal(lr.r.verdict, TL_VERDICT_PASS);
    assert_int_equal(lr.failed_rows, 0);
}

static void test_overlay_connected(void **state) {
    (void)state;
    lua_run lr;
    /* two islands: 1-2 and 3-4 know only each other */
    const char *islands = "local hs = sim.hosts{count = 4}\n"
                          "mk(hs[1], {trusted_points = {hs[2]}}); mk(hs[2])\n"
                          "mk(hs[3], {trusted_points = {hs[4]}}); mk(hs[4])\n"
                          "sim.invariants{every = \"1s\", settle_after = 10, settle = \"30s\"}\n"
                          "run_until(\"90s\")\n"
                          "sim.check_invariants()\n";
    char text[1024];
    snprintf(text, sizeof text, "%s", islands);
    run_lua(text, &lr);
    expect_violation(&lr, "overlay_connected");
    assert_non_null(strstr(lr.r.message, "4 honest nodes form 2 components"));
    /* not before settle_after + settle */
    assert_true(lr.r.virtual_ns >= 40 * 1000000000LL);
    /* a bridge: node 2 also knows node 3 */
    const char *bridge = "local hs = sim.hosts{count = 4}\n"
                         "mk(hs[1], {trusted_points = {hs[2]}}); mk(hs[2], {trusted_points = {hs[3]}})\n"
                         "mk(hs[3], {trusted_points = {hs[4]}}); mk(hs[4])\n"
                         "sim.invariants{every = \"1s\", settle_after = 10, settle = \"30s\"}\n"
                         "run_until(\"90s\")\n"
                         "check(sim.check_invariants() == 0, 'clean')\n";
    run_lua(bridge, &lr);
    assert_int_equal(lr.r.verdict, TL_VERDICT_PASS);
    assert_int_equal(lr.failed_rows, 0);
}

/* min_connections on nodes with their maintenance (harness): node 0 knows node 1's
 * point (trusted) before node 1 is up; with its maintenance stopped from the test (the
 * planted mutation), it stays at 0 < min 1 next to a dialable candidate and is
 * reported after the grace; with its maintenance running it connects: nothing. */
static void cfg_maint(hs_node *hn, uint32_t i) {
    hs_workers(&hn->cfg);
    hn->cfg.peers_file = NULL;
    hn->cfg.swap_linger_ns = 0;
    hn->cfg.maintenance_idle_time_ns = 5 * HS_S;
    hn->cfg.min_connections = 1;
    hn->cfg.expected_connections = 1;
    hn->cfg.max_connections = 4;
    if (i == 0) {
        hn->cfg.trusted_points[0].point = (tp_point){sim_host_ip(sim_world_host(hn->hs->w, 1)), HS_PORT};
        hn->cfg.trusted_points_count = 1;
    }
}

static void min_connections_case(bool stop_maintenance, uint32_t *reported, int64_t *at_ns) {
    hs *h = hs_create(103, 2, cfg_maint);
    sim_host_start(sim_world_host(h->w, 0));
    if (stop_maintenance) tp_maintenance_stop(tp_node_maintenance(hs_node_of(h, 0)));
    sim_host_start(sim_world_host(h->w, 1));
    int64_t below = TP_TIME_NONE;
    *reported = 0;
    *at_ns = 0;
    for (int s = 1; s <= 60; s++) {
        hs_run_for(h, HS_S);
        seen sn;
        memset(&sn, 0, sizeof sn);
        if (tl_inv_check_min_connections(hs_node_of(h, 0), 0, sim_world_now_ns(h->w),
                                         10 * HS_S, &below, NULL, NULL, record, &sn) &&
            *reported == 0) {
            *at_ns = sim_world_now_ns(h->w);
            assert_non_null(strstr(sn.detail[TL_INV_MIN_CONNECTIONS],
                                   "0 connections < min_connections 1"));
        }
        *reported += sn.count[TL_INV_MIN_CONNECTIONS];
    }
    hs_destroy(h);
}

static void test_min_connections(void **state) {
    (void)state;
    uint32_t reported;
    int64_t at;
    min_connections_case(true, &reported, &at);
    assert_true(reported > 0);
    /* after the grace (10 s), not before */
    assert_true(at > 10 * HS_S && at <= 12 * HS_S);
    min_connections_case(false, &reported, &at);
    assert_int_equal(reported, 0);
}

/* The same invariant from Lua: a node whose only point refuses it (max_incoming 0 on
 * the other side) is not "below min with a dialable candidate" for long: every failed
 * dial puts the point in backoff. Nothing reported (the rule is the maintenance's). */
static void test_min_connections_backoff_is_not_a_candidate(void **state) {
    (void)state;
    lua_run lr;
    run_lua("local hs = sim.hosts{count = 2}\n"
            "mk(hs[1], {trusted_points = {hs[2]}, backoff_cap = \"60s\"})\n"
            "mk(hs[2], {max_incoming_connections = 0})\n"
            "sim.invariants{every = \"1s\", below_min_grace = \"20s\", only = {\"min_connections\"}}\n"
            "run_until(\"120s\")\n",
            &lr);
    assert_int_equal(lr.r.verdict, TL_VERDICT_PASS);
    assert_int_equal(lr.failed_rows, 0);
}

/* The oracle: a node below min_connections whose only candidates are points an
 * Advertise flood made up (no host there) has nothing it could dial: not reported,
 * although the maintenance keeps dialing them (the control: the node did stay below
 * min and did learn the flooded points). */
static void test_min_connections_flooded_points_are_not_dialable(void **state) {
    (void)state;
    lua_run lr;
    run_lua("local hs = sim.hosts{count = 3}\n"
            "local a = mk(hs[1], {trusted_points = {hs[2]}, min_connections = 3,\n"
            "                     expected_connections = 3})\n"
            "mk(hs[2], {min_connections = 1, expected_connections = 1})\n"
            "sim.invariants{every = \"1s\", below_min_grace = \"20s\", only = {\"min_connections\"}}\n"
            "at(\"2s\", function() sim.hostile(hs[3], {behaviour = \"advertise_flood\",\n"
            "                                            target = hs[1], identity_difficulty = 4}) end)\n"
            "run_until(\"120s\")\n"
            "check(a:stat().points_known >= 11, 'the flood taught its 10 points')\n"
            "check(a:degree() == 2, 'below min 3: node 2 and the flooder')\n",
            &lr);
    assert_int_equal(lr.r.verdict, TL_VERDICT_PASS);
    assert_int_equal(lr.failed_rows, 0);
    assert_int_equal(lr.r.checks_passed, 2);
}

/* Octez's grace: a ban made while a handshake is in flight lets it complete (the
 * connection then runs to a banned IP / peer); the checker allows exactly those. The
 * control checks the connection did become running (degree 1) while banned. */
static void test_ban_grace_for_handshakes_in_flight(void **state) {
    (void)state;
    lua_run lr;
    run_lua("local hs = sim.hosts{count = 2}\n"
            "local a = mk(hs[1], {maintenance = false, connect = {hs[2]}})\n"
            "local b = mk(hs[2], {maintenance = false})\n"
            "sim.invariants{every = \"100ms\", only = {\"banned_peer_connected\"}}\n"
            "at(\"1ms\", function() assert(a:ban_ip(hs[2])) end)\n"
            "run_until(\"30s\")\n"
            "check(a:degree() == 1 and b:degree() == 1, 'the in-flight handshake completed')\n"
            "check(sim.check_invariants() == 0, 'allowed by the grace')\n",
            &lr);
    assert_int_equal(lr.r.verdict, TL_VERDICT_PASS);
    assert_int_equal(lr.failed_rows, 0);
    assert_int_equal(lr.r.checks_passed, 2); /* without the grace: blacklisted IP reported */
}

static void test_lua_errors(void **state) {
    (void)state;
    lua_run lr;
    run_lua("sim.hosts{count = 1}\nsim.invariants{evry = \"1s\"}\n", &lr);
    assert_int_equal(lr.r.verdict, TL_VERDICT_ERROR);
    assert_non_null(strstr(lr.r.message, "unknown key 'evry'"));
    run_lua("sim.invariants{only = {\"memroy\"}}\n", &lr);
    assert_int_equal(lr.r.verdict, TL_VERDICT_ERROR);
    assert_non_null(strstr(lr.r.message, "unknown invariant 'memroy'"));
    run_lua("sim.check_invariants()\n", &lr);
    assert_int_equal(lr.r.verdict, TL_VERDICT_ERROR);
    assert_non_null(strstr(lr.r.message, "call sim.invariants{...} first"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_clean_world_reports_nothing),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_banned_peer_connected),
        cmocka_unit_test(test_state_agreement),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_overlay_connected),
        cmocka_unit_test(test_min_connections),
        cmocka_unit_test(test_min_connections_backoff_is_not_a_candidate),
        cmocka_unit_test(test_min_connections_flooded_points_are_not_dialable),
        cmocka_unit_test(test_ban_grace_for_handshakes_in_flight),
        cmocka_unit_test(test_lua_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
