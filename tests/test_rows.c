/* tests/test_rows.c — result rows of host context under the parallel simulator
 * (lua/rows.h, lua/parts.c; lua/README.md "Threads"): the per-partition buffers merge
 * into (time, host, per-host sequence) order whichever partition held a row, so one
 * partition and three give the same rows; and end to end, scenarios with crashes,
 * stops, partitions, demo deliveries and the block workload write the same
 * events, connections, deliveries, blocks, samples and assertions rows (same order)
 * with 1, 2 or 3 partitions: simnet's threads where it has them (tl_run_config.threads),
 * else the runtime filing each host's rows under host % n
 * (tl_run_config.test_partitions). */
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

#include "lua/rows.h"
#include "lua/scenario.h"

/* ------------------------------------------------------------------------------------ */
/* The merge                                                                            */

#define HOSTS 9u
#define ROWS_MAX 512u

typedef struct sink {
    tl_row rows[ROWS_MAX];
    size_t n;
} sink;

static void collect(void *arg, const tl_row *r) {
    sink *s = arg;
    assert_true(s->n < ROWS_MAX);
    s->rows[s->n++] = *r;
}

/* A deterministic stream of small numbers (the test's own, no global state). */
static uint32_t next_rand(uint64_t *x) {
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*x >> 33);
}

/* What a run produces: instants at which several hosts write rows, a host sometimes
 * several at one instant, listed in an execution order that is NOT host order at equal
 * times (as a single event queue ordered by insertion runs them). Each row's delay_ns
 * carries a unique tag to compare payloads. */
static size_t make_run(tl_row *out, uint64_t seed) {
    uint64_t x = seed;
    uint64_t seq[HOSTS] = {0};
    size_t n = 0;
    int64_t t = 1000;
    for (int instant = 0; instant < 40; instant++) {
        t += 1 + (int64_t)(next_rand(&x) % 3) * 500; /* many instants shared by hosts */
        uint32_t writes = 1 + next_rand(&x) % 6;
        for (uint32_t k = 0; k < writes && n < ROWS_MAX; k++) {
            uint32_t h = next_rand(&x) % HOSTS;
            tl_row r;
            memset(&r, 0, sizeof r);
            r.time_ns = t;
            r.host = h;
            r.seq = seq[h]++;
            r.kind = TL_ROW_DELIVERY;
            r.u.delivery.delay_ns = (int64_t)n; /* the tag */
            snprintf(r.u.delivery.message, sizeof r.u.delivery.message, "m%zu", n);
            out[n++] = r;
        }
    }
    return n;
}

static void assert_key_order(const sink *s) {
    for (size_t i = 1; i < s->n; i++) {
        const tl_row *a = &s->rows[i - 1], *b = &s->rows[i];
        assert_true(tl_row_cmp(a, b) < 0);
        assert_true(a->time_ns < b->time_ns ||
                    (a->time_ns == b->time_ns &&
                     (a->host < b->host || (a->host == b->host && a->seq < b->seq))));
    }
}

/* Files each row under partition host % parts, in execution order (what each worker
 * appends), then merges. */
static size_t merge_as(const tl_row *rows, size_t n, uint32_t parts, sink *out) {
    tl_rowbuf bufs[8];
    memset(bufs, 0, sizeof bufs);
    assert_true(parts <= 8);
    for (size_t i = 0; i < n; i++) tl_rowbuf_push(&bufs[rows[i].host % parts], &rows[i]);
    out->n = 0;
    size_t emitted = tl_rows_merge(bufs, parts, collect, out);
    for (uint32_t p = 0; p < parts; p++) {
        assert_int_equal(bufs[p].len, 0); /* emptied */
        tl_rowbuf_free(&bufs[p]);
    }
    return emitted;
}

static void test_merge_three_partitions_key_order(void **state) {
    (void)state;
    static tl_row rows[ROWS_MAX];
    size_t n = make_run(rows, 7);
    /* the input really has equal-time rows of different hosts out of host order */
    bool unordered = false;
    for (size_t i = 1; i < n; i++)
        if (rows[i].time_ns == rows[i - 1].time_ns && rows[i].host < rows[i - 1].host)
            unordered = true;
    assert_true(unordered);
    static sink s;
    assert_int_equal(merge_as(rows, n, 3, &s), n);
    assert_int_equal(s.n, n);
    assert_key_order(&s);
    /* every row exactly once, payload intact */
    bool *seen = calloc(n, sizeof *seen);
    assert_non_null(seen);
    for (size_t i = 0; i < s.n; i++) {
        int64_t tag = s.rows[i].u.delivery.delay_ns;
        assert_true(tag >= 0 && (size_t)tag < n);
        assert_false(seen[tag]);
        seen[tag] = true;
        assert_int_equal(s.rows[i].host, rows[tag].host);
        assert_int_equal(s.rows[i].seq, rows[tag].seq);
        char want[32];
        snprintf(want, sizeof want, "m%" PRId64, tag);
        assert_string_equal(s.rows[i].u.delivery.message, want);
    }
    free(seen);
}

static void test_merge_one_or_three_partitions_same_rows(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        static tl_row rows[ROWS_MAX];
        size_t n = make_run(rows, seed);
        static sink one, three, two;
        merge_as(rows, n, 1, &one);
        merge_as(rows, n, 3, &three);
        merge_as(rows, n, 2, &two);
        assert_int_equal(one.n, n);
        assert_int_equal(three.n, n);
        assert_int_equal(two.n, n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(one.rows[i].u.delivery.delay_ns, three.rows[i].u.delivery.delay_ns);
            assert_int_equal(one.rows[i].u.delivery.delay_ns, two.rows[i].u.delivery.delay_ns);
        }
    }
}

/* A host's own rows at one instant keep their order (seq), wherever they sit. */
static void test_merge_keeps_a_hosts_sequence(void **state) {
    (void)state;
    tl_rowbuf bufs[3];
    memset(bufs, 0, sizeof bufs);
    /* partition 2 holds host 5's rows 0..3 at t = 10 and a later one; partition 0 host
     * 3's at t = 10; partition 1 a row of host 4 at t = 9 */
    for (uint64_t k = 0; k < 4; k++)
        tl_rowbuf_push(&bufs[2], &(tl_row){.time_ns = 10, .host = 5, .seq = k,
                                           .kind = TL_ROW_CONNECTION});
    tl_rowbuf_push(&bufs[2], &(tl_row){.time_ns = 11, .host = 5, .seq = 4,
                                       .kind = TL_ROW_CONNECTION});
    tl_rowbuf_push(&bufs[0], &(tl_row){.time_ns = 10, .host = 3, .seq = 0,
                                       .kind = TL_ROW_CONNECTION});
    tl_rowbuf_push(&bufs[1], &(tl_row){.time_ns = 9, .host = 4, .seq = 7,
                                       .kind = TL_ROW_CONNECTION});
    static sink s;
    s.n = 0;
    assert_int_equal(tl_rows_merge(bufs, 3, collect, &s), 7);
    const struct { int64_t t; uint32_t host; uint64_t seq; } want[] = {
        {9, 4, 7}, {10, 3, 0}, {10, 5, 0}, {10, 5, 1}, {10, 5, 2}, {10, 5, 3}, {11, 5, 4}};
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(s.rows[i].time_ns, want[i].t);
        assert_int_equal(s.rows[i].host, want[i].host);
        assert_int_equal(s.rows[i].seq, want[i].seq);
    }
    /* nothing left: a second merge emits nothing */
    s.n = 0;
    assert_int_equal(tl_rows_merge(bufs, 3, collect, &s), 0);
    assert_int_equal(s.n, 0);
    for (int p = 0; p < 3; p++) tl_rowbuf_free(&bufs[p]);
}

/* ------------------------------------------------------------------------------------ */
/* End to end                                                                           */

static char tmpdir[256];

static int setup_dir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tp_test_rows.XXXXXX");
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

/* FNV-1a of every row of a query (as text, in the query's order), and the row count. */
static uint64_t digest(const char *db, const char *sql, size_t *rows) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    uint64_t x = 1469598103934665603ull;
    *rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        (*rows)++;
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const unsigned char *t = sqlite3_column_text(st, c);
            for (const unsigned char *p = t ? t : (const unsigned char *)"\1NULL"; *p; p++)
                x = (x ^ *p) * 1099511628211ull;
            x = (x ^ 0x1f) * 1099511628211ull;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return x;
}

static int64_t count(const char *db, const char *sql) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static const char *const tables[] = {
    "SELECT * FROM events ORDER BY run_id, seq",
    "SELECT * FROM connections ORDER BY rowid",
    "SELECT * FROM deliveries ORDER BY rowid",
    "SELECT * FROM blocks ORDER BY rowid",
    "SELECT * FROM samples ORDER BY rowid",
    "SELECT * FROM assertions ORDER BY rowid",
};
#define TABLES (sizeof tables / sizeof tables[0])

typedef struct outcome {
    uint64_t trace_hash;
    uint64_t digest[TABLES];
    size_t rows[TABLES];
} outcome;

static void run_as(const char *scenario, uint32_t parts, outcome *o, char *db, size_t cap) {
    char path[512];
    snprintf(path, sizeof path, "%s/scenarios/%s", TP_SOURCE_DIR, scenario);
    snprintf(db, cap, "%s/%s.%u.db", tmpdir, scenario, parts);
    tl_run_config cfg;
    tl_run_config_default(&cfg);
    cfg.script_path = path;
    cfg.seed = 3;
    cfg.db_path = db;
    cfg.log_level = TL_LOG_DEBUG;
    cfg.test_partitions = parts;
    /* simnet's parallel runs: as many threads, where the world can use them (else the
     * runtime's stand-in partitions above) */
    cfg.threads = parts;
    static FILE *devnull;
    if (devnull == NULL) devnull = fopen("/dev/null", "w");
    cfg.out = devnull;
    tl_run_result r;
    tl_verdict v = tl_run(&cfg, &r);
    printf("%s with %u partition(s): %s %s trace %016" PRIx64 "\n", scenario, parts,
           tl_verdict_name(v), r.message, r.trace_hash);
    assert_int_equal(v, TL_VERDICT_PASS);
    o->trace_hash = r.trace_hash;
    for (size_t t = 0; t < TABLES; t++) o->digest[t] = digest(db, tables[t], &o->rows[t]);
}

static void same_rows(const char *scenario, bool want_ties, bool want_deliveries,
                      bool want_blocks) {
    outcome one, two, three;
    char db1[512], db2[512], db3[512];
    run_as(scenario, 1, &one, db1, sizeof db1);
    run_as(scenario, 2, &two, db2, sizeof db2);
    run_as(scenario, 3, &three, db3, sizeof db3);
    assert_int_equal(one.trace_hash, two.trace_hash);
    assert_int_equal(one.trace_hash, three.trace_hash);
    for (size_t t = 0; t < TABLES; t++) {
        printf("  %s: %zu rows\n", tables[t], one.rows[t]);
        assert_int_equal(one.rows[t], two.rows[t]);
        assert_int_equal(one.rows[t], three.rows[t]);
        assert_int_equal(one.digest[t], two.digest[t]);
        assert_int_equal(one.digest[t], three.digest[t]);
    }
    /* the scenario exercises what the buffers hold: (where asked) connections closed by
     * hosts of different partitions at one instant, deliveries and blocks */
    if (want_ties)
        assert_true(count(db1, "SELECT count(*) FROM (SELECT closed_ns FROM connections"
                               " WHERE closed_ns IS NOT NULL GROUP BY closed_ns"
                               " HAVING count(DISTINCT node % 3) > 1)") > 0);
    if (want_deliveries) assert_true(count(db1, "SELECT count(*) FROM deliveries") > 0);
    if (want_blocks)
        assert_true(count(db1, "SELECT count(*) FROM deliveries WHERE message LIKE 'block:%'") >
                    0);
}

static void test_churn_same_rows_at_any_partition_count(void **state) {
    (void)state;
    same_rows("churn.lua", true, false, false); /* demo nodes: crashes, stops, restarts */
}

static void test_partition_heal_same_rows_at_any_partition_count(void **state) {
    (void)state;
    same_rows("partition_heal.lua", true, false, false);
}

static void test_crash_restart_same_rows_at_any_partition_count(void **state) {
    (void)state;
    same_rows("crash_restart.lua", true, true, true); /* demo pings and blocks */
}

static void test_bandwidth_same_rows_at_any_partition_count(void **state) {
    (void)state;
    same_rows("bandwidth.lua", false, true, true); /* tidepool nodes, blocks */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_three_partitions_key_order),
        cmocka_unit_test(test_merge_one_or_three_partitions_same_rows),
        cmocka_unit_test(test_merge_keeps_a_hosts_sequence),
        cmocka_unit_test(test_churn_same_rows_at_any_partition_count),
        cmocka_unit_test(test_partition_heal_same_rows_at_any_partition_count),
        cmocka_unit_test(test_crash_restart_same_rows_at_any_partition_count),
        cmocka_unit_test(test_bandwidth_same_rows_at_any_partition_count),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
