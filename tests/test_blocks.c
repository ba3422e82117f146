/* tests/test_blocks.c — the block workload of simulated tidepool nodes (lua/chain.c):
 * Octez's head-and-fetch flow and its request rules.
 *
 * Each test is a Lua scenario run through the runtime; its checks are the assertions
 * (a failed check fails the run) and the test also asserts how many checks ran, so a
 * script that stops early cannot pass. Latencies are fixed (no jitter) so that the
 * times asserted are exact. What each test pins down, and where Octez does it:
 *  - three_node_kick: the reproduction of issue 17 — A produces, then kicks B before
 *    B's request arrives; B asks C, which announced the block (requester.ml
 *    worker_loop: peers no longer active are dropped when the request is due, an
 *    unrequested announcer is picked);
 *  - retry_on_timeout: an unanswered request is asked again of the same peer after
 *    1 s, then 1.5 s (distributed_db_requester.ml Raw_operations initial_delay 1 s;
 *    requester.ml: delay x 1.5);
 *  - different_peer_on_timeout: a silent peer (partitioned, connection still open):
 *    the next attempt goes to another announcer (unrequested peers first);
 *  - abandoned_then_reconnect: when every announcer is gone the request is removed
 *    (requester.ml: Remove), and a new connection's Current_head brings the fetch back
 *    (p2p_reader.ml Get_current_head): no stuck fetch;
 *  - unsolicited_and_malformed: p2p_reader.ml's Unexpected_response (counted, dropped)
 *    and strict decoding (counted, dropped), the connection and the workload go on;
 *  - random_payloads: 200 random messages on the block tags, each counted malformed;
 *  - partition_catch_up: blocks produced on one side of a cut reach every node of the
 *    other side within seconds of a new connection after the heal, through
 *    Get_current_head, the missing headers (Get_block_headers) and operations;
 *  - crash_restart_catch_up: a node restarted after a crash keeps its validated blocks
 *    (Octez's store) and catches up to the current head;
 *  - decode_round_trip / decode_negative: the wire format alone (lua/chain_msg.c,
 *    tl_chain_decode, no run): every message kind decodes and re-encodes to its bytes;
 *    truncated, overlong, bad counts and lengths, bad ids, non-zero padding and an
 *    unknown tag each fail with their own code and a text naming the message and the
 *    place, and leave the out-param alone (tests/fuzz/fuzz_chain_msg.c fuzzes it). */
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

#include "lua/chain_msg.h"
#include "lua/scenario.h"
#include "sweep/sweep.h"

static char tmpdir[256];

static int setup_dir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tp_test_blocks.XXXXXX");
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

/* Runs the script (seed 1, results in db unless NULL); asserts that it passed with
 * exactly `checks` checks. */
static void run_checks_db(const char *name, const char *text, uint32_t checks, const char *db) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    tl_run_config cfg;
    tl_run_config_default(&cfg);
    cfg.script_path = path;
    cfg.seed = 1;
    cfg.db_path = db;
    cfg.out = stdout;
    tl_run_result r;
    printf("run %s seed 1\n", path);
    tl_verdict v = tl_run(&cfg, &r);
    printf("  -> %s %s (%u checks passed, %u failed)\n", tl_verdict_name(v), r.message,
           r.checks_passed, r.checks_failed);
    assert_int_equal(v, TL_VERDICT_PASS);
    assert_int_equal(r.checks_failed, 0);
    assert_int_equal(r.checks_passed, checks);
}

static void run_checks(const char *name, const char *text, uint32_t checks) {
    run_checks_db(name, text, checks, NULL);
}

static int64_t query_int(const char *db, const char *sql) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* One region, 50 ms one way, no jitter; nodes without maintenance or swap (the test
 * decides every connection). */
#define PRELUDE                                                                             \
    "sim.world{regions = 1, latency = {{'50ms'}}, jitter = '0ms'}\n"                       \
    "local function node(ip, connect, extra)\n"                                            \
    "  local cfg = {maintenance = false, swap_linger = 0, connect = connect,\n"            \
    "               request_log = true}\n"                                                 \
    "  for k, v in pairs(extra or {}) do cfg[k] = v end\n"                                 \
    "  return sim.node(sim.host{ip = ip}, cfg)\n"                                          \
    "end\n"                                                                                \
    "local function same(a, b) return a ~= nil and b ~= nil and a:id() == b:id() end\n"

static void test_three_node_kick(void **state) {
    (void)state;
    run_checks("kick.lua", PRELUDE
        "local A = node('10.0.0.1')\n"
        "local B = node('10.0.0.2', {A})\n"
        "local C = node('10.0.0.3', {A, B})\n"
        "run_for('2s')\n"
        "check(A:degree() == 2 and B:degree() == 2 and C:degree() == 2, 'a triangle')\n"
        "local id = A:produce_block{ops_bytes = 30000}\n"
        "run_for('75ms')\n"
        /* B had A's Current_head at 50 ms and asked A 1 ms later: on the wire now */
        "local r = B:block_requests()\n"
        "check(#r == 1 and same(r[1].peer, A) and r[1].kind == 'operations' and\n"
        "      r[1].block == id and r[1].attempt == 1, 'B asked A for the operations')\n"
        "check(A:kick(B), 'A kicks B before the request arrives')\n"
        "run_for('5s')\n"
        "check(B:degree() == 1 and same(B:connections()[1].peer_host, C), 'B-C only')\n"
        "check(B:block_state(id) == 'valid' and B:head() == id, 'B got the block')\n"
        "r = B:block_requests()\n"
        "check(#r == 2 and same(r[2].peer, C) and r[2].attempt == 2, 'the second request "
        "went to C')\n"
        /* due 1 s after the first (Raw_operations initial_delay) */
        "check(math.abs(r[2].time - r[1].time - 1) < 1e-9, 'at the request timeout')\n"
        "check(sim.block_holders(id) == 3, 'all three hold it')\n",
        8);
}

static void test_retry_on_timeout(void **state) {
    (void)state;
    run_checks("timeout.lua", PRELUDE
        "local A = node('10.0.0.1')\n"
        "local B = node('10.0.0.2', {A})\n"
        "run_for('2s')\n"
        "local id = A:produce_block{}\n"
        "run_for('75ms')\n"
        "local p = sim.partition(A, B)\n"
        "run_for('3s')\n"
        "local r = B:block_requests()\n"
        "check(#r == 3, 'three attempts in 3 s (got ' .. #r .. ')')\n"
        "local all_a = true\n"
        "for k, e in ipairs(r) do all_a = all_a and same(e.peer, A) and e.attempt == k end\n"
        "check(all_a, 'each to A, the only announcer')\n"
        "check(math.abs(r[2].time - r[1].time - 1.0) < 1e-9 and\n"
        "      math.abs(r[3].time - r[2].time - 1.5) < 1e-9, 'after 1 s, then 1.5 s')\n"
        "check(B:block_state(id) == 'header', 'the header only, meanwhile')\n"
        "check(B:stat().request_retries == 2, 'two retries counted')\n"
        "p:heal()\n"
        "run_for('20s')\n"
        "check(B:block_state(id) == 'valid', 'valid once the cut healed')\n"
        "check(B:stat().block_unsolicited >= 1, 'the answers to the retries came late')\n",
        7);
}

static void test_different_peer_on_timeout(void **state) {
    (void)state;
    run_checks("other_peer.lua", PRELUDE
        "local A = node('10.0.0.1')\n"
        "local B = node('10.0.0.2', {A})\n"
        "local C = node('10.0.0.3', {A, B})\n"
        "run_for('2s')\n"
        "local id = A:produce_block{}\n"
        "run_for('75ms')\n"
        "local p = sim.partition(A, B)\n"
        "run_for('2s')\n"
        "check(#B:connections() == 2, 'the connection to A is still open')\n"
        "local r = B:block_requests()\n"
        "check(#r == 2 and same(r[1].peer, A) and same(r[2].peer, C), 'A, then C')\n"
        "check(B:block_state(id) == 'valid', 'from C, with the cut still on')\n"
        "p:heal()\n",
        3);
}

static void test_abandoned_then_reconnect(void **state) {
    (void)state;
    run_checks("abandoned.lua", PRELUDE
        "local A = node('10.0.0.1')\n"
        "local B = node('10.0.0.2', {A})\n"
        "local C = node('10.0.0.3', {B})\n" /* C only knows B: it never gets the block */
        "run_for('2s')\n"
        "local id = A:produce_block{}\n"
        "run_for('75ms')\n"
        "A:kick(B)\n"
        "run_for('3s')\n"
        "check(B:degree() == 1 and B:block_state(id) == 'header', 'B-C, with the header')\n"
        "check(B:stat().requests_abandoned == 1 and #B:block_requests() == 1,\n"
        "      'the request went with its last announcer')\n"
        "check(B:connect(A), 'B dials A again')\n"
        "run_for('2s')\n"
        "check(B:block_state(id) == 'valid' and B:head() == id, 'Current_head on the new "
        "connection: fetched')\n",
        4);
}

static void test_unsolicited_and_malformed(void **state) {
    (void)state;
    run_checks("strict.lua", PRELUDE
        "local A = node('10.0.0.1')\n"
        "local B = node('10.0.0.2', {A})\n"
        "run_for('2s')\n"
        "local id = A:produce_block{ops_bytes = 1000, header_bytes = 200}\n"
        "run_for('2s')\n"
        "check(B:block_state(id) == 'valid', 'fetched')\n"
        "local function header(level, pad)\n"
        "  return string.pack('>I4I4I4I4', id, 0xffffffff, level, 1000) .. string.rep(pad, 184)\n"
        "end\n"
        "local zeros = string.rep('\\0', 1000)\n"
        "check(not A:send_message(B, 0x30, 'x'), 'Get_current_head has no payload to send')\n"
        "local sends = {\n"
        "  {0x33, header(1, '\\0')},                   -- unsolicited Block_header\n"
        "  {0x35, string.pack('>I4', id) .. zeros},   -- unsolicited Operations_for_blocks\n"
        "  {0x31, header(1, '\\0'):sub(1, 199)},        -- malformed: short header\n"
        "  {0x31, header(2, '\\0')},                   -- malformed: wrong level\n"
        "  {0x31, header(1, '\\1')},                   -- malformed: padding not zero\n"
        "  {0x32, ''},                                -- malformed: no id\n"
        "  {0x34, 'abcdef'},                          -- malformed: not a list of u32\n"
        "  {0x32, string.pack('>I4', 7)},             -- malformed: no block 7\n"
        "  {0x35, string.pack('>I4', id) .. zeros:sub(2)}, -- malformed: short operations\n"
        "}\n"
        "for _, s in ipairs(sends) do assert(A:send_message(B, s[1], s[2])) end\n"
        "local ok, err = A:send_message(B, 0x34, string.rep(string.pack('>I4', id), 11))\n"
        "check(not ok and err == 'INVAL', 'eleven ids exceed the registered size')\n"
        "run_for('1s')\n"
        "local st = B:stat()\n"
        "check(st.block_unsolicited == 2, 'two unsolicited (got ' .. st.block_unsolicited .. ')')\n"
        "check(st.block_malformed == 7, 'seven malformed (got ' .. st.block_malformed .. ')')\n"
        "check(B:degree() == 1, 'still connected')\n"
        "local id2 = A:produce_block{ops_bytes = 1000, header_bytes = 200}\n"
        "run_for('2s')\n"
        "check(B:head() == id2, 'the workload goes on')\n",
        7);
}

/* Random payloads on every block tag, each starting with an id that is no block of the
 * run (0xfffffffe): every one is counted as malformed, none crashes the receiver or
 * closes the connection. */
static void test_random_payloads(void **state) {
    (void)state;
    run_checks("random.lua", PRELUDE
        "local A = node('10.0.0.1')\n"
        "local B = node('10.0.0.2', {A})\n"
        "run_for('2s')\n"
        "local id = A:produce_block{ops_bytes = 100}\n"
        "run_for('2s')\n"
        "local max = {[0x31] = 8192, [0x32] = 40, [0x33] = 8192, [0x34] = 40, [0x35] = 2000}\n"
        "local sent = 0\n"
        "for tag = 0x31, 0x35 do\n"
        "  for k = 1, 40 do\n"
        "    local len = math.random(4, max[tag])\n"
        "    local t = {string.pack('>I4', 0xfffffffe)}\n"
        "    for i = 5, len do t[#t + 1] = string.char(math.random(0, 255)) end\n"
        "    assert(A:send_message(B, tag, table.concat(t)))\n"
        "    sent = sent + 1\n"
        "  end\n"
        "end\n"
        "run_for('2s')\n"
        "local st = B:stat()\n"
        "check(st.block_malformed == sent, ('%d of %d counted malformed'):format(st.block_malformed, sent))\n"
        "check(st.block_unsolicited == 0 and B:degree() == 1, 'nothing else; still connected')\n"
        "check(B:head() == id, 'the head unchanged')\n",
        3);
}

static void test_partition_catch_up(void **state) {
    (void)state;
    run_checks("partition.lua",
        "sim.world{regions = 2, latency = {{'20ms', '60ms'}, {'60ms', '20ms'}}, jitter = '0ms'}\n"
        "local west, east, wn, en = sim.hosts{count = 6, region = 1}, sim.hosts{count = 6, region = 2}, {}, {}\n"
        "for i = 1, 6 do\n"
        "  wn[i] = sim.node(west[i], {maintenance = false, swap_linger = 0,\n"
        "                             connect = {table.unpack(west, 1, i - 1)}})\n"
        "end\n"
        "for i = 1, 6 do\n"
        "  local dial = {table.unpack(east, 1, i - 1)}\n"
        "  if i == 1 then dial = {west[1]} end\n"
        "  en[i] = sim.node(east[i], {maintenance = false, swap_linger = 0, connect = dial})\n"
        "end\n"
        "run_for('3s')\n"
        "check(sim.components() == 1, 'one overlay')\n"
        "local first = wn[3]:produce_block{}\n"
        "run_for('2s')\n"
        "check(sim.block_holders(first) == 12, 'before the cut: everywhere')\n"
        "local p = sim.partition(west, east)\n"
        "local last\n"
        "for k = 1, 3 do last = wn[k]:produce_block{}; run_for('1s') end\n"
        "run_for('70s')\n" /* the crossing connection dies (TCP user timeout) */
        "check(sim.components() == 2, 'two sides')\n"
        "local stale = 0\n"
        "for _, n in ipairs(en) do if n:head() == first then stale = stale + 1 end end\n"
        "check(stale == 6, 'the east side is at the block before the cut')\n"
        "p:heal()\n"
        "check(en[1]:connect(west[2]), 'an east node dials the west')\n"
        "local t0 = now()\n"
        "local ok = run_until(function()\n"
        "  for _, n in ipairs(en) do if n:head() ~= last then return false end end\n"
        "  return true end, t0 + 5, '10ms')\n"
        "check(ok, 'every east node at the west head within 5 s of the heal')\n"
        "print(('caught up %.2f s after the heal'):format(now() - t0))\n"
        "check(en[6]:block_state(last - 1) == 'valid', 'and the blocks before it')\n"
        "check(en[1]:stat().header_requests >= 2, 'missing headers were fetched')\n",
        8);
}

static void test_crash_restart_catch_up(void **state) {
    (void)state;
    run_checks("restart.lua", PRELUDE
        "local A = node('10.0.0.1')\n"
        "local B = node('10.0.0.2', {A})\n"
        "local C = node('10.0.0.3', {A, B})\n"
        /* D redials its trusted points (a restarted node's dials are refused while
         * its peers still hold the old connections) */
        "local D = node('10.0.0.4', {}, {maintenance = true, min_connections = 2,\n"
        "  expected_connections = 3, max_connections = 10, trusted_points = {A, B, C}})\n"
        "run_for('2s')\n"
        "local first = A:produce_block{}\n"
        "run_for('2s')\n"
        "check(D:head() == first, 'D at the first block')\n"
        "D:crash()\n"
        "local last\n"
        "for k = 1, 4 do last = B:produce_block{}; run_for('1s') end\n"
        "check(A:head() == last and C:head() == last, 'the others moved on')\n"
        "D:start()\n"
        "check(D:block_state(first) == 'valid' and D:head() == first, 'the store survived')\n"
        "check(run_until(function() return D:degree() > 0 end, now() + 30, '10ms'),\n"
        "      'D reconnects')\n"
        "local t0 = now()\n"
        "local ok = run_until(function() return D:head() == last end, t0 + 3, '10ms')\n"
        "check(ok, 'D catches up to the current head within 3 s of its first connection')\n"
        "print(('caught up %.2f s after reconnecting'):format(now() - t0))\n"
        "check(D:stat().header_requests == 3, 'the three missing headers fetched')\n",
        6);
}

/* The results: a deliveries row per node that validated a block (header_ns <= the
 * validation), a blocks row per block with its bytes; `tidepool merge` (sweep/merge.c)
 * carries both tables into a campaign database. */
static void test_results_and_merge(void **state) {
    (void)state;
    static const char script[] = PRELUDE
        "local A = node('10.0.0.1')\n"
        "local B = node('10.0.0.2', {A})\n"
        "local C = node('10.0.0.3', {B})\n"
        "run_for('2s')\n"
        "local id = A:produce_block{ops_bytes = 5000, header_bytes = 250}\n"
        "run_for('3s')\n"
        "check(sim.block_holders(id) == 3, 'A, B and C')\n"
        "local b = sim.block(id)\n"
        "check(b.bytes_useful == 2 * (5004 + 250), 'useful: a header and the operations, twice')\n";
    char db1[300], db2[300], out[300];
    snprintf(db1, sizeof db1, "%s/one.db", tmpdir);
    snprintf(db2, sizeof db2, "%s/two.db", tmpdir);
    snprintf(out, sizeof out, "%s/campaign.db", tmpdir);
    run_checks_db("results.lua", script, 2, db1);
    run_checks_db("results2.lua", script, 2, db2);
    assert_int_equal(query_int(db1, "SELECT COUNT(*) FROM deliveries WHERE message = 'block:0'"
                                    " AND header_ns IS NOT NULL AND header_ns <= received_ns"
                                    " AND delay_ns = received_ns - sent_ns"), 2);
    assert_int_equal(query_int(db1, "SELECT COUNT(*) FROM blocks WHERE block = 0 AND level = 1"
                                    " AND predecessor IS NULL AND nodes_running = 3 AND holders = 3"
                                    " AND header_bytes = 250 AND ops_bytes = 5000"
                                    " AND bytes_useful = 10508 AND bytes_requests = 8"), 1);
    const char *inputs[] = {db1, db2};
    sw_merge_stats st;
    char err[512];
    if (sw_merge(out, inputs, 2, &st, err, sizeof err) != 0) fail_msg("sw_merge: %s", err);
    assert_int_equal(query_int(out, "SELECT COUNT(*) FROM blocks"), 2);
    assert_int_equal(query_int(out, "SELECT COUNT(DISTINCT run_id) FROM blocks"), 2);
    assert_int_equal(query_int(out, "SELECT COUNT(*) FROM deliveries WHERE header_ns IS NOT NULL"), 4);
}

/* ------------------------------------------------------------------------------------ */
/* The wire format alone (lua/chain_msg.c)                                              */

static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A header of len bytes (zero padding) into b; returns len. */
static size_t header(uint8_t *b, size_t len, uint32_t id, uint32_t pred, uint32_t level,
                     uint32_t ops) {
    memset(b, 0, len);
    be32(b, id);
    be32(b + 4, pred);
    be32(b + 8, level);
    be32(b + 12, ops);
    return len;
}

/* Decodes, expects TP_OK, and that the message re-encodes to exactly the bytes. */
static tl_chain_msg decode_ok(uint16_t tag, const uint8_t *p, size_t len) {
    tl_chain_msg m;
    char why[256] = "";
    tp_err e = tl_chain_decode(tag, p, len, &m, why, sizeof why);
    if (e != TP_OK) fail_msg("tag 0x%x, %zu bytes: %s (%s)", tag, len, tp_errname(e), why);
    assert_int_equal(m.tag, tag);
    uint8_t *out = malloc(len + 1);
    assert_non_null(out);
    assert_int_equal(tl_chain_encoded_len(&m), len);
    assert_int_equal(tl_chain_encode(&m, out, len), len);
    if (len > 0) assert_memory_equal(out, p, len);
    free(out);
    return m;
}

static void test_decode_round_trip(void **state) {
    (void)state;
    uint8_t b[TL_HEADER_BYTES_MAX];
    tl_chain_msg m = decode_ok(TL_TAG_GET_CURRENT_HEAD, NULL, 0);
    (void)m;
    m = decode_ok(TL_TAG_CURRENT_HEAD, b, header(b, 16, TL_GENESIS, TL_GENESIS, 0, 0));
    assert_int_equal(m.header.block, TL_GENESIS);
    m = decode_ok(TL_TAG_CURRENT_HEAD, b, header(b, 200, 0, TL_GENESIS, 1, 1000));
    assert_true(m.header.block == 0 && m.header.pred == TL_GENESIS && m.header.level == 1 &&
                m.header.ops_bytes == 1000 && m.header.header_bytes == 200);
    m = decode_ok(TL_TAG_BLOCK_HEADER, b,
                  header(b, TL_HEADER_BYTES_MAX, TL_BLOCKS_MAX - 1, 7, 9, TL_OPS_BYTES_MAX));
    assert_int_equal(m.header.header_bytes, TL_HEADER_BYTES_MAX);
    for (uint32_t k = 0; k < TL_CHAIN_IDS_MAX; k++) be32(b + 4 * k, k * 1000);
    m = decode_ok(TL_TAG_GET_BLOCK_HEADERS, b, 4);
    assert_true(m.ids_count == 1 && m.ids[0] == 0);
    m = decode_ok(TL_TAG_GET_OPERATIONS_FOR_BLOCKS, b, 4 * TL_CHAIN_IDS_MAX);
    assert_true(m.ids_count == TL_CHAIN_IDS_MAX && m.ids[9] == 9000);
    memset(b, 0, 68);
    be32(b, 3);
    m = decode_ok(TL_TAG_OPERATIONS_FOR_BLOCKS, b, 68);
    assert_true(m.block == 3 && m.ops_bytes == 64);
    m = decode_ok(TL_TAG_OPERATIONS_FOR_BLOCKS, b, 4);
    assert_true(m.block == 3 && m.ops_bytes == 0);
    /* a buffer one byte short: nothing written */
    uint8_t small[67];
    m.ops_bytes = 63;
    assert_int_equal(tl_chain_encode(&m, small, 66), 0);
}

/* Decodes, expects the error code and a text that starts with the message's name and
 * contains `place`; the out-param is untouched. */
static void decode_bad(uint16_t tag, const uint8_t *p, size_t len, tp_err want,
                       const char *place) {
    tl_chain_msg m, canary;
    memset(&m, 0x5c, sizeof m);
    memset(&canary, 0x5c, sizeof canary);
    char why[256] = "";
    tp_err e = tl_chain_decode(tag, p, len, &m, why, sizeof why);
    printf("  0x%02x, %zu bytes: %s: %s\n", tag, len, tp_errname(e), why);
    assert_int_equal(e, want);
    assert_memory_equal(&m, &canary, sizeof m);
    const char *name = tl_chain_tag_name(tag);
    if (name != NULL) {
        assert_int_equal(strncmp(why, name, strlen(name)), 0);
        assert_int_equal(why[strlen(name)], ':');
    }
    if (strstr(why, place) == NULL) fail_msg("'%s' does not say '%s'", why, place);
    /* no text asked for: the same verdict */
    assert_int_equal(tl_chain_decode(tag, p, len, &m, NULL, 0), want);
}

static void test_decode_negative(void **state) {
    (void)state;
    static uint8_t b[4 + TL_OPS_BYTES_MAX + 1];
    /* unknown tags: 0x10 is the text message, 0x36 follows the workload's */
    decode_bad(0x36, NULL, 0, TP_ERR_DECODE_BAD_TAG, "tag 0x0036: not a message of the block workload");
    decode_bad(0x10, (const uint8_t *)"hi", 2, TP_ERR_DECODE_BAD_TAG, "tag 0x0010");
    /* Get_current_head has no payload */
    decode_bad(TL_TAG_GET_CURRENT_HEAD, b, 1, TP_ERR_DECODE_TRAILING, "1 bytes, the message has no payload");
    /* headers: truncated, overlong, genesis with a tail or wrong fields */
    for (uint16_t tag = TL_TAG_CURRENT_HEAD; tag <= TL_TAG_BLOCK_HEADER; tag += 2) {
        decode_bad(tag, b, header(b, 15, 0, TL_GENESIS, 1, 0), TP_ERR_DECODE_TRUNCATED,
                   "15 bytes, a header has at least 16");
        decode_bad(tag, NULL, 0, TP_ERR_DECODE_TRUNCATED, "0 bytes");
        decode_bad(tag, b, header(b, TL_HEADER_BYTES_MAX + 1, 0, TL_GENESIS, 1, 0),
                   TP_ERR_DECODE_TOO_LONG, "8193 bytes, a header has at most 8192");
        decode_bad(tag, b, header(b, 17, TL_GENESIS, TL_GENESIS, 0, 0), TP_ERR_DECODE_TRAILING,
                   "the genesis header is 16 bytes, got 17");
        decode_bad(tag, b, header(b, 16, TL_GENESIS, TL_GENESIS, 1, 0), TP_ERR_DECODE_BAD_VALUE,
                   "level 1");
        decode_bad(tag, b, header(b, 16, TL_GENESIS, 0, 0, 0), TP_ERR_DECODE_BAD_VALUE,
                   "got predecessor 0");
    }
    /* header fields: id, predecessor and level, operation bytes, padding */
    uint16_t h = TL_TAG_BLOCK_HEADER;
    decode_bad(h, b, header(b, 16, TL_BLOCKS_MAX, TL_GENESIS, 1, 0), TP_ERR_DECODE_BAD_VALUE,
               "bytes 0..3: block id 65536 above the maximum 65535");
    decode_bad(h, b, header(b, 16, 4, TL_GENESIS, 2, 0), TP_ERR_DECODE_BAD_VALUE,
               "block 4 at level 2 cannot have predecessor 4294967295");
    decode_bad(h, b, header(b, 16, 4, 4, 5, 0), TP_ERR_DECODE_BAD_VALUE,
               "block 4 at level 5 cannot have predecessor 4");
    decode_bad(h, b, header(b, 16, 4, 3, 1, 0), TP_ERR_DECODE_BAD_VALUE,
               "block 4 at level 1 cannot have predecessor 3");
    decode_bad(h, b, header(b, 16, 4, 3, 0, 0), TP_ERR_DECODE_BAD_VALUE, "at level 0");
    decode_bad(h, b, header(b, 16, 4, 3, 2, TL_OPS_BYTES_MAX + 1), TP_ERR_DECODE_TOO_LONG,
               "bytes 12..15: 1048577 operation bytes, at most 1048576");
    header(b, 200, 4, 3, 2, 10);
    b[17] = 1;
    decode_bad(h, b, 200, TP_ERR_DECODE_BAD_VALUE, "padding byte 17 is 0x01, must be 0");
    header(b, 200, 4, 3, 2, 10);
    b[199] = 0x80;
    decode_bad(h, b, 200, TP_ERR_DECODE_BAD_VALUE, "padding byte 199 is 0x80");
    /* id lists: none, eleven, not whole u32s, an id out of range */
    for (uint16_t tag = TL_TAG_GET_BLOCK_HEADERS; tag <= TL_TAG_GET_OPERATIONS_FOR_BLOCKS; tag += 2) {
        memset(b, 0, 64);
        decode_bad(tag, NULL, 0, TP_ERR_DECODE_TRUNCATED, "no block id (1 to 10)");
        decode_bad(tag, b, 44, TP_ERR_DECODE_TOO_LONG, "44 bytes, at most 10 block ids (40 bytes)");
        decode_bad(tag, b, 41, TP_ERR_DECODE_TOO_LONG, "41 bytes");
        decode_bad(tag, b, 6, TP_ERR_DECODE_TRUNCATED, "6 bytes is not a whole number of 4-byte block ids");
        decode_bad(tag, b, 3, TP_ERR_DECODE_TRUNCATED, "3 bytes");
        be32(b + 4, TL_GENESIS);
        decode_bad(tag, b, 12, TP_ERR_DECODE_BAD_VALUE,
                   "id 2 (bytes 4..7) is 4294967295, above the maximum block id 65535");
    }
    /* operations: no id, the genesis, too many bytes, non-zero bytes */
    uint16_t o = TL_TAG_OPERATIONS_FOR_BLOCKS;
    memset(b, 0, sizeof b);
    decode_bad(o, b, 3, TP_ERR_DECODE_TRUNCATED, "3 bytes, the block id needs 4");
    decode_bad(o, NULL, 0, TP_ERR_DECODE_TRUNCATED, "0 bytes");
    be32(b, TL_GENESIS);
    decode_bad(o, b, 4, TP_ERR_DECODE_BAD_VALUE, "block id 4294967295 above the maximum 65535");
    be32(b, 1);
    decode_bad(o, b, sizeof b, TP_ERR_DECODE_TOO_LONG, "1048577 operation bytes, at most 1048576");
    b[9] = 0xff;
    decode_bad(o, b, 100, TP_ERR_DECODE_BAD_VALUE, "operation byte 9 is 0xff, must be 0");
    /* a text buffer too small for the message: cut, NUL-terminated */
    char small[8];
    tl_chain_msg m;
    assert_int_equal(tl_chain_decode(o, b, 100, &m, small, sizeof small), TP_ERR_DECODE_BAD_VALUE);
    assert_string_equal(small, "operati");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_node_kick),
        cmocka_unit_test(test_retry_on_timeout),
        cmocka_unit_test(test_different_peer_on_timeout),
        cmocka_unit_test(test_abandoned_then_reconnect),
        cmocka_unit_test(test_unsolicited_and_malformed),
        cmocka_unit_test(test_random_payloads),
        cmocka_unit_test(test_partition_catch_up),
        cmocka_unit_test(test_crash_restart_catch_up),
        cmocka_unit_test(test_results_and_merge),
        cmocka_unit_test(test_decode_round_trip),
        cmocka_unit_test(test_decode_negative),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
