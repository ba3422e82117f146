/* tests/test_swarm.c — the swarm's generator, runner and shrinker (swarm/swarm.h).
 *
 * - sw_generate is a pure function of the seed (same text twice, other seeds differ),
 *   stays within its stated ranges, and draws every fault kind, every hostile kind and
 *   bans often enough for the planted-bug test (tests/swarm_planted_bug.test.sh).
 * - The emitted scenario carries its markers (sw_parse_scenario) and runs: a generated
 *   seed passes in the normal build, in a child process.
 * - sw_run_file reports a run that never ends as a "timeout" failure (the child is
 *   killed), a malformed scenario as "error".
 * - sw_shrink finds the 1-minimal schedule of a synthetic scenario that fails exactly
 *   when two given events are both present (10 events -> those 2, 8 nodes -> 3 by
 *   cutting, -> 2 by renumbering nodes 2, 3 to 1, 2), and the shrunk file still fails;
 *   a passing input gives 1, a foreign file 3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua/scenario.h"
#include "swarm/swarm.h"

static void test_generate_is_deterministic(void **state) {
    (void)state;
    sw_world a, b;
    sw_generate(42, &a);
    sw_generate(42, &b);
    char *ta = sw_emit_lua(&a), *tb = sw_emit_lua(&b);
    assert_string_equal(ta, tb);
    sw_generate(43, &b);
    char *tc = sw_emit_lua(&b);
    assert_string_not_equal(ta, tc);
    uint32_t nodes;
    uint64_t seed;
    size_t begin, end;
    assert_true(sw_parse_scenario(ta, &nodes, &seed, &begin, &end));
    assert_int_equal(nodes, a.nodes);
    assert_int_equal(seed, 42);
    /* one line per event between the markers */
    uint32_t lines = 0;
    for (size_t i = begin; i < end; i++) lines += ta[i] == '\n';
    assert_int_equal(lines, a.event_count);
    char *json = sw_schedule_json(&a);
    assert_non_null(strstr(json, "\"seed\": 42"));
    free(json);
    free(ta);
    free(tb);
    free(tc);
}

static void test_generate_ranges_and_mix(void **state) {
    (void)state;
    uint32_t ops[SW_OP_COUNT] = {0}, with_ban = 0, with_privates = 0;
    bool kinds[8] = {false};
    const char *names[8] = {"stall",      "slowloris", "garbage",  "big_prefix", "advertise_flood",
                            "swap_spam", "weak_pow",  "wrong_chain"};
    const uint32_t seeds = 500;
    for (uint64_t s = 1; s <= seeds; s++) {
        sw_world w;
        sw_generate(s, &w);
        assert_in_range(w.nodes, 4, 12);
        assert_in_range(w.regions, 1, 3);
        assert_true(w.event_count <= 8);
        assert_false(w.private_node[0] || w.private_node[1]);
        bool ban = false, priv = false;
        for (uint32_t i = 0; i < w.nodes; i++) priv |= w.private_node[i];
        with_privates += priv;
        uint32_t bans = 0;
        for (uint32_t i = 0; i < w.event_count; i++) {
            const sw_event *e = &w.events[i];
            ops[e->op]++;
            assert_true(e->t >= 5 && e->t <= 90);
            if (e->until > 0) assert_true(e->until > e->t);
            if (e->op == SW_PARTITION) {
                assert_true(e->set != 0);
                assert_true(e->set < (1ULL << w.nodes));
            } else {
                assert_in_range(e->node, 1, w.nodes);
            }
            if (e->op == SW_BAN_PEER || e->op == SW_BAN_IP) {
                ban = true;
                bans++;
                assert_int_not_equal(e->node, e->target);
                assert_false(w.private_node[e->node - 1] || w.private_node[e->target - 1]);
            }
            if (e->op == SW_HOSTILE)
                for (int k = 0; k < 8; k++)
                    if (strcmp(e->kind, names[k]) == 0) kinds[k] = true;
        }
        assert_true(bans <= 2);
        with_ban += ban;
    }
    for (int op = 0; op < SW_OP_COUNT; op++) {
        printf("%-12s %u events over %u seeds\n", sw_op_name((sw_op)op), ops[op], seeds);
        assert_true(ops[op] > 0);
    }
    for (int k = 0; k < 8; k++) assert_true(kinds[k]);
    printf("seeds with a ban: %u / %u; with a private node: %u\n", with_ban, seeds, with_privates);
    /* the planted-bug test relies on bans in a good share of the seeds */
    assert_true(with_ban * 4 >= seeds);
    assert_true(with_privates > 0);
}

static void test_classify(void **state) {
    (void)state;
    char out[40];
    sw_classify(TL_VERDICT_PASS, "", out, sizeof out);
    assert_string_equal(out, "");
    sw_classify(TL_VERDICT_FAIL,
                "invariant banned_peer_connected violated: host 1 (10.0.0.2) at 3.000 s: x", out,
                sizeof out);
    assert_string_equal(out, "banned_peer_connected");
    sw_classify(TL_VERDICT_FAIL, "invariant nonsense violated", out, sizeof out);
    assert_string_equal(out, "check");
    sw_classify(TL_VERDICT_FAIL, "a.lua:3: something", out, sizeof out);
    assert_string_equal(out, "check");
    sw_classify(TL_VERDICT_ERROR, "a.lua:3: bad", out, sizeof out);
    assert_string_equal(out, "error");
    sw_classify(-1, "crash: the run died of signal 6", out, sizeof out);
    assert_string_equal(out, "crash");
    sw_classify(-1, "timeout: killed", out, sizeof out);
    assert_string_equal(out, "timeout");
}

static char dir[] = "/tmp/tp_test_swarm_XXXXXX";

static void path_in(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

static void test_run_generated_seed_passes(void **state) {
    (void)state;
    sw_world w;
    sw_generate(3, &w);
    char *text = sw_emit_lua(&w);
    char path[256];
    path_in(path, sizeof path, "seed3.lua");
    assert_true(sw_write_file(path, text));
    free(text);
    sw_outcome o;
    assert_true(sw_run_file(path, 3, NULL, 60, &o));
    printf("seed 3: verdict %d [%s] %s (%.2f s)\n", o.verdict, o.invariant, o.message, o.wall_s);
    assert_int_equal(o.verdict, TL_VERDICT_PASS);
    assert_string_equal(o.invariant, "");
    assert_true(o.events > 1000);
}

static void test_run_timeout_and_error(void **state) {
    (void)state;
    char path[256];
    path_in(path, sizeof path, "loop.lua");
    assert_true(sw_write_file(path, "sim.world{regions = 1}\nwhile true do end\n"));
    sw_outcome o;
    assert_true(sw_run_file(path, 1, NULL, 1.0, &o));
    assert_int_equal(o.verdict, -1);
    assert_string_equal(o.invariant, "timeout");
    path_in(path, sizeof path, "bad.lua");
    assert_true(sw_write_file(path, "sim.world{regions = 1}\nsim.hosts{cuont = 1}\n"));
    assert_true(sw_run_file(path, 1, NULL, 30, &o));
    assert_int_equal(o.verdict, TL_VERDICT_ERROR);
    assert_string_equal(o.invariant, "error");
}

/* Fails iff the events "x" (node 2) and "y" (node 3) are both kept and both nodes exist. */
static const char synthetic[] =
    "-- @swarm:seed 5\n"
    "local NODES = 8 -- @swarm:nodes\n"
    "local SCHEDULE = {\n"
    "-- @swarm:schedule begin\n"
    "  {t = 1.0, op = \"a\", node = 1},\n"
    "  {t = 2.0, op = \"b\", node = 7},\n"
    "  {t = 3.0, op = \"x\", node = 2},\n"
    "  {t = 4.0, op = \"c\", node = 8},\n"
    "  {t = 5.0, op = \"d\", node = 1, target = 6},\n"
    "  {t = 6.0, op = \"e\", set = {4, 5}},\n"
    "  {t = 7.0, op = \"f\", node = 2},\n"
    "  {t = 8.0, op = \"y\", node = 3},\n"
    "  {t = 9.0, op = \"g\", node = 5},\n"
    "  {t = 10.0, op = \"h\", node = 6},\n"
    "-- @swarm:schedule end\n"
    "}\n"
    "sim.world{regions = 1}\n"
    "local seen = {}\n"
    "for _, e in ipairs(SCHEDULE) do\n"
    "  if e.node == nil or e.node <= NODES then seen[e.op] = true end\n"
    "end\n"
    "check(not (seen.x and seen.y), \"x and y together\")\n";

static void test_shrink_synthetic(void **state) {
    (void)state;
    char path[256], out[256];
    path_in(path, sizeof path, "synthetic.lua");
    path_in(out, sizeof out, "synthetic-shrunk.lua");
    assert_true(sw_write_file(path, synthetic));
    sw_shrink_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.input = path;
    cfg.output = out;
    cfg.quiet = true;
    sw_shrink_result res;
    assert_int_equal(sw_shrink(&cfg, &res), 0);
    printf("shrunk: %u -> %u events, %u -> %u nodes, %u runs [%s]\n", res.events_before,
           res.events_after, res.nodes_before, res.nodes_after, res.runs, res.invariant);
    assert_string_equal(res.invariant, "check");
    assert_int_equal(res.events_before, 10);
    assert_int_equal(res.events_after, 2);
    assert_int_equal(res.nodes_before, 8);
    assert_int_equal(res.nodes_after, 2); /* x (node 2) and y (node 3) renumbered 1, 2 */
    assert_true(res.runs <= 60);
    char *text = sw_read_file(out, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "op = \"x\", node = 1}"));
    assert_non_null(strstr(text, "op = \"y\", node = 2}"));
    assert_null(strstr(text, "op = \"a\""));
    assert_non_null(strstr(text, "local NODES = 2 -- @swarm:nodes"));
    free(text);
    /* the shrunk scenario still fails */
    sw_outcome o;
    assert_true(sw_run_file(out, 5, NULL, 30, &o));
    assert_int_equal(o.verdict, TL_VERDICT_FAIL);
    /* a budget of 1 run: nothing shrunk beyond the check of the input */
    cfg.max_runs = 1;
    assert_int_equal(sw_shrink(&cfg, &res), 0);
    assert_int_equal(res.events_after, 10);
    assert_int_equal(res.runs, 1);
}

static void test_shrink_refuses(void **state) {
    (void)state;
    char path[256];
    sw_shrink_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.quiet = true;
    sw_shrink_result res;
    /* a passing swarm scenario: nothing to shrink */
    path_in(path, sizeof path, "passing.lua");
    char *text = strdup(synthetic);
    char *x = strstr(text, "op = \"x\"");
    x[6] = 'z';
    assert_true(sw_write_file(path, text));
    free(text);
    cfg.input = path;
    assert_int_equal(sw_shrink(&cfg, &res), 1);
    /* not a swarm scenario */
    path_in(path, sizeof path, "foreign.lua");
    assert_true(sw_write_file(path, "sim.world{regions = 1}\n"));
    cfg.input = path;
    assert_int_equal(sw_shrink(&cfg, &res), 3);
    cfg.input = "/nonexistent/fail-1";
    assert_int_equal(sw_shrink(&cfg, &res), 3);
    uint32_t n;
    uint64_t s;
    size_t b, e;
    assert_false(sw_parse_scenario("-- @swarm:seed 1\nlocal NODES = 0 -- @swarm:nodes\n", &n, &s, &b, &e));
}

static int setup(void **state) {
    (void)state;
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    const char *names[] = {"seed3.lua", "loop.lua", "bad.lua", "synthetic.lua",
                           "synthetic-shrunk.lua", "passing.lua", "foreign.lua"};
    char path[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        path_in(path, sizeof path, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_is_deterministic),
        cmocka_unit_test(test_generate_ranges_and_mix),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_run_generated_seed_passes),
        cmocka_unit_test(test_run_timeout_and_error),
        cmocka_unit_test(test_shrink_synthetic),
        cmocka_unit_test(test_shrink_refuses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
