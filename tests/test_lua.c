/* tests/test_lua.c — the Lua scenario runtime (lua/scenario.h) and the results writer
 * (lua/results.h): replay (same scenario + seed twice => same trace hash and identical
 * event and connection rows; another seed differs), malformed scenarios (syntax error,
 * unknown config key, wrong type, bad --set, misuse of the clock) fail with file:line
 * and what was expected, checks and fail() give the verdict, faults act on the overlay
 * (partition/heal, crash/restart, link changes), and the writer honours its levels of
 * detail. Every run prints its seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lua/results.h"
#include "lua/scenario.h"

static char tmpdir[256];

static int setup_dir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tp_test_lua.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown_dir(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Writes a script into tmpdir/name; returns its path (static buffer per call site). */
static const char *write_script(const char *name, const char *text, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static tl_verdict run_script(const char *path, uint64_t seed, const char *db,
                             const tl_param *params, size_t n, tl_run_result *r) {
    tl_run_config cfg;
    tl_run_config_default(&cfg);
    cfg.script_path = path;
    cfg.seed = seed;
    cfg.db_path = db;
    cfg.params = params;
    cfg.param_count = n;
    cfg.out = stdout;
    printf("run %s seed %" PRIu64 "\n", path, seed);
    tl_verdict v = tl_run(&cfg, r);
    printf("  -> %s %s trace %016" PRIx64 "\n", tl_verdict_name(v), r->message, r->trace_hash);
    return v;
}

/* Hash of every row of a query (as text), and the row count. */
static uint64_t query_digest(const char *db, const char *sql, int64_t run_id, size_t *rows) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, run_id);
    uint64_t hash = 1469598103934665603ull;
    *rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        (*rows)++;
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const unsigned char *t = sqlite3_column_text(st, c);
            const char *s = t ? (const char *)t : "<null>";
            for (; *s; s++) hash = (hash ^ (unsigned char)*s) * 1099511628211ull;
            hash = (hash ^ 0xff) * 1099511628211ull;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return hash;
}

static int64_t query_int(const char *db, const char *sql, int64_t run_id) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    sqlite3_bind_int64(st, 1, run_id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static const char *const EVENTS_SQL =
    "SELECT seq, time_ns, node, kind, peer, peer_node, point, code, detail FROM events "
    "WHERE run_id = ?1 ORDER BY seq";
static const char *const CONNS_SQL =
    "SELECT node, peer_node, point, incoming, opened_ns, closed_ns, close_reason FROM "
    "connections WHERE run_id = ?1 ORDER BY node, opened_ns, point, closed_ns";

/* ------------------------------------------------------------------------------------ */
/* Replay                                                                               */

static void test_replay_same_seed_same_rows(void **state) {
    (void)state;
    char db[300], script[300];
    snprintf(db, sizeof db, "%s/replay.db", tmpdir);
    snprintf(script, sizeof script, "%s/scenarios/bootstrap.lua", TP_SOURCE_DIR);
    const tl_param params[] = {{"nodes", "30"}, {"duration", "30s"}, {"blocks", "3"}};
    tl_run_result a, b, c;
    assert_int_equal(run_script(script, 11, db, params, 3, &a), TL_VERDICT_PASS);
    assert_int_equal(run_script(script, 11, db, params, 3, &b), TL_VERDICT_PASS);
    assert_int_equal(run_script(script, 12, db, params, 3, &c), TL_VERDICT_PASS);
    assert_true(a.run_id != b.run_id);
    assert_true(a.trace_hash == b.trace_hash);
    assert_true(a.trace_hash != c.trace_hash);
    assert_int_equal(a.events_executed, b.events_executed);

    size_t ra, rb, rc;
    uint64_t ea = query_digest(db, EVENTS_SQL, a.run_id, &ra);
    uint64_t eb = query_digest(db, EVENTS_SQL, b.run_id, &rb);
    uint64_t ec = query_digest(db, EVENTS_SQL, c.run_id, &rc);
    printf("events rows %zu / %zu / %zu\n", ra, rb, rc);
    assert_true(ra > 30); /* at least one connection per node */
    assert_int_equal(ra, rb);
    assert_true(ea == eb);
    assert_true(ea != ec);
    uint64_t ca = query_digest(db, CONNS_SQL, a.run_id, &ra);
    uint64_t cb = query_digest(db, CONNS_SQL, b.run_id, &rb);
    assert_true(ra > 0);
    assert_int_equal(ra, rb);
    assert_true(ca == cb);
    /* The run rows record the trace hash and the parameters actually used. */
    assert_int_equal(query_int(db, "SELECT COUNT(*) FROM runs WHERE verdict = 'pass' AND "
                                   "trace_hash = (SELECT trace_hash FROM runs WHERE id = ?1)",
                               a.run_id),
                     2);
    assert_int_equal(query_int(db, "SELECT json_extract(parameters, '$.nodes') FROM runs "
                                   "WHERE id = ?1", a.run_id),
                     30);
    assert_int_equal(query_int(db, "SELECT COUNT(*) FROM nodes WHERE run_id = ?1", a.run_id), 30);
    assert_int_equal(query_int(db, "SELECT COUNT(*) FROM hosts WHERE run_id = ?1", a.run_id), 30);
}

/* math.random is the run's own stream: same seed same numbers, other seed others. */
static void test_random_is_seeded(void **state) {
    (void)state;
    char path[300];
    write_script("rand.lua",
                 "local s = 0\n"
                 "for i = 1, 100 do s = s * 31 + math.random(1000) end\n"
                 "local f = math.random()\n"
                 "check(f >= 0 and f < 1, 'float in [0, 1)')\n"
                 "sim.world{}\n"
                 "sample('sum', s % 1000003)\n"
                 "expected = param('expected', -1)\n"
                 "if expected >= 0 then check(s % 1000003 == expected, 'same numbers: ' .. s % 1000003) end\n"
                 "print(s % 1000003)\n",
                 path, sizeof path);
    char db[300];
    snprintf(db, sizeof db, "%s/rand.db", tmpdir);
    tl_run_result r1, r2;
    assert_int_equal(run_script(path, 5, db, NULL, 0, &r1), TL_VERDICT_PASS);
    int64_t s1 = query_int(db, "SELECT value FROM samples WHERE run_id = ?1 AND metric = 'sum'",
                           r1.run_id);
    char exp[32];
    snprintf(exp, sizeof exp, "%" PRId64, s1);
    const tl_param p[] = {{"expected", exp}};
    assert_int_equal(run_script(path, 5, db, p, 1, &r2), TL_VERDICT_PASS);
    assert_int_equal(r2.checks_passed, 2);
    assert_int_equal(run_script(path, 6, db, p, 1, &r2), TL_VERDICT_FAIL);
}

/* ------------------------------------------------------------------------------------ */
/* Malformed scenarios                                                                  */

typedef struct bad_case {
    const char *name;
    const char *script;
    const char *expect1; /* substrings of the message */
    const char *expect2;
} bad_case;

static void test_malformed_scenarios(void **state) {
    (void)state;
    static const bad_case cases[] = {
        {"syntax.lua", "sim.world{}\nlocal x = = 3\n", "syntax.lua:2:", "unexpected symbol"},
        {"unknown_key.lua", "\nsim.world{regoins = 2}\n", "unknown_key.lua:2:",
         "unknown key 'regoins' (did you mean 'regions'?)"},
        {"wrong_type.lua", "sim.world{regions = 2}\nlocal h = sim.hosts{count = 'ten'}\n",
         "wrong_type.lua:2:", "'count' expected an integer, got string"},
        {"bad_duration.lua", "sim.world{}\n\nrun_for('ten seconds')\n", "bad_duration.lua:3:",
         "expected a duration"},
        {"demo_key.lua",
         "sim.world{}\nlocal h = sim.hosts{count = 1}\nsim.demo_node(h[1], {peer_k = 3})\n",
         "demo_key.lua:3:", "did you mean 'peers_k'?"},
        {"no_world.lua", "local h = sim.hosts{count = 3}\n", "no_world.lua:1:",
         "call sim.world{...} first"},
        {"nested_run.lua", "sim.world{}\nafter('1s', function()\n  run_for('1s')\nend)\nrun_for('2s')\n",
         "nested_run.lua:3:", "cannot be called from inside"},
        {"past.lua", "sim.world{}\nrun_for('2s')\nat('1s', function() end)\n", "past.lua:3:",
         "in the past"},
        {"region.lua", "sim.world{regions = {'eu', 'us'}}\nsim.hosts{count = 1, region = 'asia'}\n",
         "region.lua:2:", "unknown region 'asia'"},
        {"latency.lua", "sim.world{regions = 2, latency = {{'10ms', '20ms'}}}\n", "latency.lua:1:",
         "2 x 2 matrix"},
        {"runtime.lua", "sim.world{}\nlocal t = nil\nprint(t.x)\n", "runtime.lua:3:",
         "attempt to index"},
        {"hostile.lua", "sim.world{}\nlocal h = sim.hosts{count = 1}\nsim.hostile(h[1], {})\n",
         "hostile.lua:3:", "'behaviour' is required"},
        {"hostile2.lua",
         "sim.world{}\nlocal h = sim.hosts{count = 2}\n\nsim.hostile(h[1], {behaviour = 'stal', target = h[2]})\n",
         "hostile2.lua:4:", "unknown behaviour 'stal'"},
        {"tcp_key.lua", "sim.world{tcp = {initial_windw = 4}}\n", "tcp_key.lua:1:",
         "unknown key 'initial_windw' (did you mean 'initial_window'?)"},
        {"tcp_cc.lua", "sim.world{tcp = {cc = 'vegas'}}\n", "tcp_cc.lua:1:",
         "'cc' must be \"cubic\" or \"reno\""},
        {"tcp_mss.lua", "sim.world{tcp = {mss = 20}}\n", "tcp_mss.lua:1:", "'mss'"},
        {"tcp_queue.lua", "sim.world{tcp = {queue_bytes = 100}}\n", "tcp_queue.lua:1:",
         "tcp.queue_bytes must hold two packets"},
        {"missing.lua", NULL, "missing.lua", "cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[300];
        if (cases[i].script)
            write_script(cases[i].name, cases[i].script, path, sizeof path);
        else
            snprintf(path, sizeof path, "%s/%s", tmpdir, cases[i].name);
        tl_run_result r;
        assert_int_equal(run_script(path, 1, NULL, NULL, 0, &r), TL_VERDICT_ERROR);
        if (!strstr(r.message, cases[i].expect1) || !strstr(r.message, cases[i].expect2))
            fail_msg("%s: message '%s' lacks '%s' / '%s'", cases[i].name, r.message,
                     cases[i].expect1, cases[i].expect2);
    }
}

/* sim.world{tcp = {...}} takes every key of the TCP model (simnet/README.md "Streams"). */
static void test_world_tcp_config(void **state) {
    (void)state;
    char path[300];
    write_script("tcp.lua",
                 "sim.world{rto_max = '30s', tcp = {cc = 'reno', mss = 1460, header_bytes = 40,\n"
                 "  initial_window = 4, slow_start_after_idle = false, rmem_max = 8388608,\n"
                 "  wmem_max = 8388608, queue_bytes = 1000000, rto_min = '300ms',\n"
                 "  delayed_ack = '20ms', quickack = 8}}\n"
                 "local h = sim.hosts{count = 2}\nrun_for('1s')\n",
                 path, sizeof path);
    tl_run_result r;
    assert_int_equal(run_script(path, 1, NULL, NULL, 0, &r), TL_VERDICT_PASS);
    write_script("tcp_bad.lua", "sim.world{tcp = {rto_min = '90s'}}\n", path, sizeof path);
    assert_int_equal(run_script(path, 1, NULL, NULL, 0, &r), TL_VERDICT_ERROR);
    assert_non_null(strstr(r.message, "tcp.rto_min_ns must be > 0 and <= rto_max_ns"));
}

static void test_bad_parameters(void **state) {
    (void)state;
    char path[300];
    write_script("params.lua",
                 "local n = param('nodes', 10)\nlocal f = param('ratio', 0.5)\n"
                 "local b = param('verbose', false)\nlocal s = param('name', 'x')\n"
                 "check(math.type(n) == 'integer' and math.type(f) == 'float')\n"
                 "sim.world{}\nrun_for('1s')\n",
                 path, sizeof path);
    tl_run_result r;
    const tl_param ok[] = {{"nodes", "20"}, {"ratio", "0.25"}, {"verbose", "true"}, {"name", "y"}};
    assert_int_equal(run_script(path, 1, NULL, ok, 4, &r), TL_VERDICT_PASS);
    const tl_param not_int[] = {{"nodes", "2.5"}};
    assert_int_equal(run_script(path, 1, NULL, not_int, 1, &r), TL_VERDICT_ERROR);
    assert_non_null(strstr(r.message, "params.lua:1:"));
    assert_non_null(strstr(r.message, "--set nodes=2.5: expected an integer"));
    const tl_param not_bool[] = {{"verbose", "maybe"}};
    assert_int_equal(run_script(path, 1, NULL, not_bool, 1, &r), TL_VERDICT_ERROR);
    assert_non_null(strstr(r.message, "expected true or false"));
    const tl_param unknown[] = {{"nodez", "5"}};
    assert_int_equal(run_script(path, 1, NULL, unknown, 1, &r), TL_VERDICT_ERROR);
    assert_non_null(strstr(r.message, "has no parameter 'nodez'"));
    assert_non_null(strstr(r.message, "name, nodes, ratio, verbose")); /* sorted list */
}

/* ------------------------------------------------------------------------------------ */
/* Sandbox                                                                              */

static void test_sandbox(void **state) {
    (void)state;
    char path[300];
    write_script("sandbox.lua",
                 "check(io == nil, 'no io')\n"
                 "check(os == nil, 'no os')\n"
                 "check(debug == nil, 'no debug')\n"
                 "check(package == nil, 'no package')\n"
                 "check(string.dump == nil, 'no string.dump')\n"
                 "check(not pcall(require, 'socket'), 'require fails')\n"
                 "check(not pcall(dofile, '/etc/passwd'), 'dofile fails')\n"
                 "check(not pcall(loadfile, '/etc/passwd'), 'loadfile fails')\n"
                 "local f, err = load('\\27Lua binary')\n"
                 "check(f == nil and err:find('binary'), 'binary chunks refused: ' .. tostring(err))\n"
                 "check(load('return 1 + 1')() == 2, 'text chunks load')\n"
                 "check(not pcall(math.randomseed), 'randomseed needs a seed')\n"
                 "-- pairs is sorted: booleans, numbers, strings\n"
                 "local t = {zeta = 1, alpha = 2, [3] = 'c', [1] = 'a', mid = 3, [true] = 0}\n"
                 "local keys = {}\n"
                 "for k in pairs(t) do keys[#keys + 1] = tostring(k) end\n"
                 "check(table.concat(keys, ',') == 'true,1,3,alpha,mid,zeta', table.concat(keys, ','))\n"
                 "local ok, e = pcall(function() for _ in pairs({[{}] = 1}) do end end)\n"
                 "check(not ok and e:find('no deterministic order'), 'table keys refused')\n"
                 "local p = pick({1, 2, 3, 4, 5}, 3)\n"
                 "check(#p == 3 and p[1] ~= p[2] and p[2] ~= p[3] and p[1] ~= p[3], 'pick distinct')\n"
                 "check(duration('1.5min') == 90 and duration('250ms') == 0.25, 'durations')\n",
                 path, sizeof path);
    tl_run_result r;
    assert_int_equal(run_script(path, 1, NULL, NULL, 0, &r), TL_VERDICT_PASS);
    assert_int_equal(r.checks_failed, 0);
    assert_int_equal(r.checks_passed, 15);
}

static void test_memory_limit(void **state) {
    (void)state;
    char path[300];
    write_script("hog.lua", "local t = {}\nfor i = 1, 1e8 do t[i] = ('x'):rep(100) .. i end\n",
                 path, sizeof path);
    tl_run_config cfg;
    tl_run_config_default(&cfg);
    cfg.script_path = path;
    cfg.lua_memory_limit_bytes = 16u << 20;
    tl_run_result r;
    assert_int_equal(tl_run(&cfg, &r), TL_VERDICT_ERROR);
    printf("%s\n", r.message);
    assert_non_null(strstr(r.message, "memory limit of 16 MiB"));
}

/* ------------------------------------------------------------------------------------ */
/* Checks and verdicts                                                                  */

static void test_checks_and_fail(void **state) {
    (void)state;
    char path[300], db[300];
    snprintf(db, sizeof db, "%s/checks.db", tmpdir);
    write_script("checks.lua",
                 "sim.world{}\n"
                 "check(true, 'fine')\n"
                 "check(1 == 2, 'one is not two')\n"
                 "check(false, 'second failure')\n"
                 "run_for('1s')\n",
                 path, sizeof path);
    tl_run_result r;
    assert_int_equal(run_script(path, 1, db, NULL, 0, &r), TL_VERDICT_FAIL);
    assert_string_equal(strrchr(r.message, '/') + 1, "checks.lua:3: one is not two");
    assert_int_equal(r.checks_passed, 1);
    assert_int_equal(r.checks_failed, 2);
    assert_int_equal(r.virtual_ns, 1000000000); /* a failed check does not stop the run */
    assert_int_equal(query_int(db, "SELECT COUNT(*) FROM assertions WHERE run_id = ?1 AND "
                                   "passed = 0 AND line IN (3, 4)", r.run_id),
                     2);
    assert_int_equal(query_int(db, "SELECT verdict = 'fail' FROM runs WHERE id = ?1", r.run_id), 1);

    write_script("fail.lua",
                 "sim.world{}\n"
                 "after('2s', function() fail('stop here') end)\n"
                 "run_for('10s')\n"
                 "check(false, 'never reached')\n",
                 path, sizeof path);
    assert_int_equal(run_script(path, 1, db, NULL, 0, &r), TL_VERDICT_FAIL);
    assert_non_null(strstr(r.message, "fail.lua:2: stop here"));
    assert_int_equal(r.virtual_ns, 2000000000); /* stopped at the failing callback */
    assert_int_equal(r.checks_failed, 1);
}

/* ------------------------------------------------------------------------------------ */
/* Faults on the overlay (demo nodes)                                                   */

static void test_faults_on_overlay(void **state) {
    (void)state;
    char path[300], db[300];
    snprintf(db, sizeof db, "%s/faults.db", tmpdir);
    write_script(
        "faults.lua",
        "sim.world{regions = {'a', 'b'}, latency = {{'5ms', '30ms'}, {'30ms', '5ms'}}}\n"
        "local a = sim.hosts{count = 10, region = 'a'}\n"
        "local b = sim.hosts{count = 10, region = 'b'}\n"
        "local all = {}\n"
        "for _, h in ipairs(a) do all[#all + 1] = h end\n"
        "for _, h in ipairs(b) do all[#all + 1] = h end\n"
        "local nodes = sim.demo_nodes(all, {seeds = {a[1], b[1]}, peers_k = 3})\n"
        "run_for('10s')\n"
        "check(sim.components() == 1, 'one component before the partition')\n"
        "check(sim.reachable(a[2], b[2]), 'reachable before')\n"
        "do\n"
        "  local q <close> = sim.partition({a[9]}, {b[9]})\n"
        "  check(not sim.reachable(a[9], b[9]), 'a scoped partition cuts')\n"
        "end\n"
        "check(sim.reachable(a[9], b[9]), 'and heals at the end of its scope')\n"
        "local p = sim.partition(a, b)\n"
        "check(not sim.reachable(a[2], b[2]), 'unreachable during')\n"
        "run_for('120s')\n" /* user timeout (45 s) kills cross-partition streams */
        "local count = sim.components()\n"
        "check(count >= 2, 'split by the partition: ' .. count)\n"
        "p:heal()\n"
        "run_for('30s')\n"
        "check(sim.components() == 1, 'healed: one component again')\n"
        "nodes[5]:crash()\n"
        "check(not nodes[5]:running() and nodes[5]:degree() == 0, 'crashed node is down')\n"
        "check(#sim.degrees() == 19, 'nineteen running nodes')\n"
        "run_for('5s')\n"
        "nodes[5]:start()\n"
        "run_for('10s')\n"
        "check(nodes[5]:running() and nodes[5]:degree() >= 3, 'restarted node reconnects')\n"
        "a[3]:set_bandwidth('1Mbit', '2Mbit')\n"
        "a[3]:set_loss('1%')\n"
        "a[3]:clock_step(-2.5)\n"
        "a[3]:clock_drift(50)\n"
        "sim.set_latency('a', 'b', '80ms', '5ms')\n"
        "sim.set_region_loss('a', 'b', 0.001)\n"
        "run_for('5s')\n"
        "local st = sim.stats()\n"
        "check(st.host_crashes == 1 and st.host_starts == 21, 'crash and start counted')\n"
        "check(sim.events().connection_established > 0, 'tap reports connections')\n",
        path, sizeof path);
    tl_run_result r;
    assert_int_equal(run_script(path, 3, db, NULL, 0, &r), TL_VERDICT_PASS);
    assert_int_equal(r.checks_failed, 0);
    assert_int_equal(r.checks_passed, 12);
    /* Connections broken by the partition and the crash are in the table. */
    assert_true(query_int(db, "SELECT COUNT(*) FROM connections WHERE run_id = ?1 AND "
                              "close_reason = 'timeout'", r.run_id) > 0);
    assert_true(query_int(db, "SELECT COUNT(*) FROM connections WHERE run_id = ?1 AND "
                              "close_reason = 'crash' AND node = 4", r.run_id) >= 3);
}


/* ------------------------------------------------------------------------------------ */
/* Tidepool nodes (core/node.h) from Lua                                                */

static void test_tidepool_nodes(void **state) {
    (void)state;
    char path[300], db[300];
    snprintf(db, sizeof db, "%s/tidepool.db", tmpdir);
    write_script(
        "tidepool.lua",
        "sim.world{regions = 2, latency = {{'10ms', '50ms'}, {'50ms', '10ms'}}}\n"
        "local hosts = sim.hosts{count = 8, region = 1}\n"
        "for _, h in ipairs(sim.hosts{count = 8, region = 2}) do hosts[#hosts + 1] = h end\n"
        "local nodes = {}\n"
        "for i, h in ipairs(hosts) do\n"
        "  local dial = {}\n"
        "  if i > 1 then dial[1] = hosts[i - 1] end\n"
        "  if i > 2 then dial[2] = hosts[(i * 5) % (i - 1) + 1] end\n"
        "  nodes[i] = sim.node(h, {connect = dial, max_connections = 60})\n"
        "end\n"
        "check(nodes[1]:peer_id():sub(1, 2) == 'id', 'b58 peer id')\n"
        "run_for('5s')\n"
        "check(sim.components() == 1, 'connected overlay')\n"
        "check(nodes[1]:degree() >= 1 and #nodes[1]:connections() == nodes[1]:degree(), 'degree')\n"
        "check(nodes[1]:stat().connections == nodes[1]:degree(), 'stat')\n"
        "local id = nodes[16]:produce_block{size = 20000}\n"
        "run_for('5s')\n"
        "check(sim.block_holders(id) == 16, 'block reaches all 16 nodes')\n"
        "check(nodes[2]:broadcast('hello') == nodes[2]:degree(), 'broadcast to every connection')\n"
        "run_for('1s')\n"
        "local ok = nodes[2]:ban_ip(hosts[1])\n"
        "run_for('1s')\n"
        "check(ok, 'ban_ip returns true')\n"
        "for _, c in ipairs(nodes[2]:connections()) do\n"
        "  check(c.peer_host ~= hosts[1], 'banned peer disconnected')\n"
        "end\n"
        "nodes[5]:crash()\n"
        "check(not nodes[5]:running() and nodes[5]:degree() == 0, 'crashed')\n"
        "local ok2, err = pcall(function() nodes[5]:connect(hosts[6]) end)\n"
        "check(not ok2 and err:find('not running'), 'methods on a crashed node raise')\n"
        "nodes[5]:start()\n"
        "check(nodes[5]:running(), 'restarted')\n"
        "local ok3, e3 = pcall(sim.node, sim.host{ip = '192.0.2.2'}, {max_conections = 3})\n"
        "check(not ok3 and e3:find(\"did you mean 'max_connections'\"), e3)\n"
        "local ok4, e4 = pcall(sim.node, sim.host{ip = '192.0.2.1'}, {max_connections = 'many'})\n"
        "check(not ok4 and e4:find('expected an integer, got string'), e4)\n"
        /* issue 18's options reach the node config: their checks answer */
        "local ok5, e5 = pcall(sim.node, sim.host{ip = '192.0.2.3'}, {bandwidth_cap_slices = 0})\n"
        "check(not ok5 and e5:find(\"'bandwidth_cap_slices' must be in 1..1000\"), e5)\n"
        "local ok6, e6 = pcall(sim.node, sim.host{ip = '192.0.2.4'}, {reset_refused_points = 1})\n"
        "check(not ok6 and e6:find('expected a boolean'), e6)\n"
        "run_for('5s')\n",
        path, sizeof path);
    tl_run_result r1, r2;
    assert_int_equal(run_script(path, 9, db, NULL, 0, &r1), TL_VERDICT_PASS);
    assert_int_equal(r1.checks_failed, 0);
    assert_true(r1.checks_passed >= 14);
    assert_int_equal(run_script(path, 9, db, NULL, 0, &r2), TL_VERDICT_PASS);
    assert_true(r1.trace_hash == r2.trace_hash);
    size_t a, b;
    assert_true(query_digest(db, EVENTS_SQL, r1.run_id, &a) == query_digest(db, EVENTS_SQL, r2.run_id, &b));
    assert_int_equal(a, b);
    assert_true(a > 50);
    /* Core's own events and the node rows are in the database. */
    assert_int_equal(query_int(db, "SELECT COUNT(*) FROM nodes WHERE run_id = ?1 AND kind = "
                                   "'tidepool' AND peer_id LIKE 'id%'", r1.run_id), 16);
    assert_true(query_int(db, "SELECT COUNT(*) FROM events WHERE run_id = ?1 AND kind = "
                              "'connection_established'", r1.run_id) > 0);
    assert_int_equal(query_int(db, "SELECT COUNT(*) FROM deliveries WHERE run_id = ?1 AND "
                                   "message = 'block:0'", r1.run_id), 15);
    assert_true(query_int(db, "SELECT COUNT(*) FROM connections WHERE run_id = ?1 AND "
                              "close_reason = 'crash' AND node = 4", r1.run_id) >= 1);
}

/* ------------------------------------------------------------------------------------ */
/* The results writer                                                                   */

static void write_some(tl_results *r) {
    tl_run_info info = {"x.lua", 42, "v1", "2026-01-01T00:00:00Z", "tidepool sim x.lua",
                        "0123456789abcdef0123456789abcdef01234567", 1, "00112233aabbccdd"};
    assert_true(tl_results_run_begin(r, &info));
    assert_true(tl_results_region(r, 0, "eu"));
    assert_true(tl_results_host(r, 0, "10.0.0.1", 0, 64512, 0, 0, 0));
    assert_true(tl_results_node(r, 0, "demo", NULL, "10.0.0.1:9732", "{}", 0));
    for (int i = 0; i < 50000; i++) /* spans several batches */
        assert_true(tl_results_event(r, i, 0, "connection_established", false, NULL, 1, "x", 0, NULL));
    assert_true(tl_results_event(r, 1, 0, "demo", true, NULL, -1, NULL, 0, "debug detail"));
    assert_true(tl_results_sample(r, 5, -1, "components", 1));
    assert_true(tl_results_connection(r, 0, 1, NULL, "10.0.0.2:9732", false, 1, -1, NULL));
    assert_true(tl_results_delivery(r, "ping:1", 0, -1, -1, -1, 1000));
    assert_true(tl_results_assertion(r, 5, "x.lua", 3, "ok", true));
    assert_true(tl_results_run_end(r, "{\"n\":1}", 0xabcdef, 0.5, 10, 100, "pass", NULL));
}

static void test_results_levels(void **state) {
    (void)state;
    const tl_log_level levels[] = {TL_LOG_NONE, TL_LOG_INFO, TL_LOG_DEBUG};
    const int64_t events[] = {0, 50000, 50001};
    const int64_t samples[] = {0, 1, 1};
    for (int i = 0; i < 3; i++) {
        char db[300], err[512];
        snprintf(db, sizeof db, "%s/levels_%d.db", tmpdir, i);
        tl_results *r = tl_results_open(db, levels[i], err, sizeof err);
        assert_non_null(r);
        write_some(r);
        int64_t id = tl_results_run_id(r);
        tl_results_close(r);
        assert_int_equal(query_int(db, "SELECT COUNT(*) FROM events WHERE run_id = ?1", id), events[i]);
        assert_int_equal(query_int(db, "SELECT COUNT(*) FROM samples WHERE run_id = ?1", id), samples[i]);
        assert_int_equal(query_int(db, "SELECT COUNT(*) FROM assertions WHERE run_id = ?1", id), 1);
        assert_int_equal(query_int(db, "SELECT trace_hash = '0000000000abcdef' FROM runs WHERE id = ?1", id), 1);
        assert_int_equal(query_int(db, "SELECT seed FROM runs WHERE id = ?1", id), 42);
        /* The build identity (buildinfo/) is recorded with the run. */
        assert_int_equal(query_int(db, "SELECT build_id = '00112233aabbccdd' AND build_dirty = 1"
                                       " AND build_commit LIKE '0123%' FROM runs WHERE id = ?1", id), 1);
    }
    /* Reopening appends a second run with a new id. */
    char db[300], err[512];
    snprintf(db, sizeof db, "%s/levels_1.db", tmpdir);
    tl_results *r = tl_results_open(db, TL_LOG_INFO, err, sizeof err);
    assert_non_null(r);
    write_some(r);
    assert_int_equal(tl_results_run_id(r), 2);
    tl_results_close(r);
    /* A path that cannot be opened: the message names it. */
    r = tl_results_open("/nonexistent-dir/x.db", TL_LOG_INFO, err, sizeof err);
    assert_null(r);
    assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
    assert_non_null(strstr(err, "writable"));
    /* A file that is not a database. */
    char notdb[300];
    write_script("notdb.db", "this is not a database, just text that is long enough......", notdb, sizeof notdb);
    r = tl_results_open(notdb, TL_LOG_INFO, err, sizeof err);
    assert_null(r);
    assert_non_null(strstr(err, "notdb.db"));
    tl_log_level lv;
    assert_true(tl_log_level_parse("debug", &lv) && lv == TL_LOG_DEBUG);
    assert_false(tl_log_level_parse("verbose", &lv));
}

/* Somebody reads the results database while a run writes it (sqlite3, a report of the
 * run so far): the run's commits must go through and lose nothing. In SQLite's rollback
 * mode a reader's open transaction blocked each commit until the busy timeout, and a
 * failed commit ended the logging for the rest of the run. */
static void test_results_concurrent_reader(void **state) {
    (void)state;
    char db[300], err[512];
    snprintf(db, sizeof db, "%s/concurrent.db", tmpdir);
    tl_results *r = tl_results_open(db, TL_LOG_INFO, err, sizeof err);
    assert_non_null(r);
    tl_run_info info = {"x.lua", 7, "v1", "2026-01-01T00:00:00Z", "tidepool sim x.lua",
                        NULL, -1, NULL};
    assert_true(tl_results_run_begin(r, &info));
    for (int i = 0; i < 100; i++)
        assert_true(tl_results_event(r, i, 0, "connection_established", false, NULL, 1, "x", 0, NULL));
    /* a reader holds a read transaction across the next batch commits */
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "BEGIN; SELECT COUNT(*) FROM runs;", NULL, NULL, NULL), SQLITE_OK);
    for (uint32_t i = 0; i < 2 * TL_RESULTS_BATCH_ROWS; i++)
        assert_true(tl_results_event(r, 100 + i, 0, "connection_established", false, NULL, 1, "x", 0,
                                     NULL));
    assert_null(tl_results_error(r));
    assert_true(tl_results_run_end(r, "{}", 1, 0.1, 10, 100, "pass", NULL));
    assert_null(tl_results_error(r));
    int64_t id = tl_results_run_id(r);
    assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    tl_results_close(r);
    assert_int_equal(query_int(db, "SELECT COUNT(*) FROM events WHERE run_id = ?1", id),
                     100 + 2 * TL_RESULTS_BATCH_ROWS);
    assert_int_equal(query_int(db, "SELECT verdict = 'pass' FROM runs WHERE id = ?1", id), 1);
    /* the artifact is an ordinary database again: no write-ahead log left beside it */
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", db);
    assert_int_equal(access(wal, F_OK), -1);
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "delete");
    sqlite3_finalize(st);
    sqlite3_close(h);
}

/* A results database of schema_version 1 (before runs.build_*) is upgraded in place by
 * the writer, keeping its runs; tl_results_upgrade does the same for merge's OUT.db. */
static void test_results_upgrade_v1(void **state) {
    (void)state;
    char db[300], err[512];
    for (int how = 0; how < 2; how++) {
        snprintf(db, sizeof db, "%s/v1_%d.db", tmpdir, how);
        sqlite3 *h = NULL;
        assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h,
                                      "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                                      "INSERT INTO meta VALUES ('schema_version', '1');"
                                      "CREATE TABLE runs(id INTEGER PRIMARY KEY, scenario TEXT NOT NULL,"
                                      " seed INTEGER NOT NULL, parameters TEXT NOT NULL,"
                                      " code_version TEXT NOT NULL, log_level TEXT NOT NULL,"
                                      " started_at TEXT NOT NULL, command TEXT, trace_hash TEXT,"
                                      " wall_time_s REAL, virtual_time_ns INTEGER,"
                                      " events_executed INTEGER, verdict TEXT NOT NULL DEFAULT"
                                      " 'running', message TEXT);"
                                      "INSERT INTO runs(scenario, seed, parameters, code_version,"
                                      " log_level, started_at, verdict) VALUES ('old.lua', 3, '{}',"
                                      " 'v0', 'info', 'x', 'pass');"
                                      "CREATE TABLE deliveries(run_id INTEGER NOT NULL,"
                                      " message TEXT NOT NULL, node INTEGER NOT NULL,"
                                      " origin_node INTEGER, sent_ns INTEGER,"
                                      " received_ns INTEGER, delay_ns INTEGER NOT NULL);"
                                      "INSERT INTO deliveries VALUES (1, 'block:0', 2, 0, 5, 9, 4);",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
        if (how == 0) {
            tl_results *r = tl_results_open(db, TL_LOG_INFO, err, sizeof err);
            assert_non_null(r);
            write_some(r);
            tl_results_close(r);
            assert_int_equal(query_int(db, "SELECT COUNT(*) FROM runs WHERE build_id IS NOT NULL "
                                           "AND ?1 > 0", 1), 1);
        } else {
            assert_true(tl_results_upgrade(db, err, sizeof err));
            assert_true(tl_results_upgrade(db, err, sizeof err)); /* idempotent */
        }
        assert_int_equal(query_int(db, "SELECT value = '2' FROM meta WHERE key = "
                                       "'schema_version' AND ?1 > 0", 1), 1);
        assert_int_equal(query_int(db, "SELECT COUNT(*) FROM runs WHERE scenario = 'old.lua' "
                                       "AND build_id IS NULL AND seed = ?1", 3), 1);
        /* and the block workload's additions: the old delivery row reads NULL there */
        assert_int_equal(query_int(db, "SELECT COUNT(*) FROM deliveries WHERE header_ns IS NULL "
                                       "AND node = ?1", 2), 1);
        assert_int_equal(query_int(db, "SELECT COUNT(*) FROM blocks WHERE ?1 > 0", 1), 0);
    }
    /* not a results database: refused with a message naming the file */
    snprintf(db, sizeof db, "%s/not_results.db", tmpdir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_false(tl_results_upgrade(db, err, sizeof err));
    assert_non_null(strstr(err, "not_results.db: not a tidepool results database"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_upgrade_v1),
        cmocka_unit_test(test_replay_same_seed_same_rows),
        cmocka_unit_test(test_random_is_seeded),
        cmocka_unit_test(test_malformed_scenarios),
        cmocka_unit_test(test_world_tcp_config),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_sandbox),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_checks_and_fail),
        cmocka_unit_test(test_faults_on_overlay),
        cmocka_unit_test(test_tidepool_nodes),
        cmocka_unit_test(test_results_levels),
        cmocka_unit_test(test_results_concurrent_reader),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
