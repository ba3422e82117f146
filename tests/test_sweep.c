/* tests/test_sweep.c — sweep descriptions (sweep/desc.c), the finished-task rule, the
 * Slurm scripts (dry run) and the campaign merge (sweep/merge.c) on run databases
 * written by the scenario runtime (lua/scenario.h). The runner and the CLI end to end
 * are in tests/sweep_resume.test.sh and tests/sweep_slurm*.test.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "lua/scenario.h"
#include "sweep/sweep.h"

typedef struct fixture {
    char dir[256];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tp-test-sweep.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

/* Writes text to DIR/name and returns the path (static storage per call site is not
 * needed: the caller passes a buffer). */
static const char *write_file(const fixture *f, const char *name, const char *text, char *path,
                              size_t cap) {
    snprintf(path, cap, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static const char *value_of(const sw_task *t, const char *name) {
    for (size_t i = 0; i < t->param_count; i++)
        if (strcmp(t->params[i].name, name) == 0) return t->params[i].value;
    return NULL;
}

static void load_ok(const fixture *f, const char *text, sw_sweep *s) {
    char path[512], err[1024];
    write_file(f, "sweep.lua", text, path, sizeof path);
    if (sw_sweep_load(path, s, err, sizeof err) != 0) fail_msg("load failed: %s", err);
}

/* ---- descriptions ----------------------------------------------------------------- */

static void test_grid_expands_in_documented_order(void **state) {
    fixture *f = *state;
    sw_sweep s;
    load_ok(f,
            "return { scenario = 'x.lua', params = { b = {1, 2, 3}, a = {'x', 'y'}, c = 2.5,"
            " d = true }, seeds = 2 }",
            &s);
    assert_int_equal(s.task_count, 2 * 3 * 2);
    assert_int_equal(s.grid_points, 6);
    assert_int_equal(s.seeds_per_point, 2);
    /* Sorted names; the last grid name (b) varies fastest after the seeds. */
    static const char *const a[] = {"x", "y"};
    static const char *const b[] = {"1", "2", "3"};
    size_t k = 0;
    for (size_t ia = 0; ia < 2; ia++)
        for (size_t ib = 0; ib < 3; ib++)
            for (uint64_t seed = 1; seed <= 2; seed++, k++) {
                const sw_task *t = &s.tasks[k];
                assert_int_equal(t->index, k);
                assert_int_equal(t->param_count, 4);
                assert_string_equal(t->params[0].name, "a");
                assert_string_equal(t->params[1].name, "b");
                assert_string_equal(t->params[2].name, "c");
                assert_string_equal(t->params[3].name, "d");
                assert_string_equal(value_of(t, "a"), a[ia]);
                assert_string_equal(value_of(t, "b"), b[ib]);
                assert_string_equal(value_of(t, "c"), "2.5");
                assert_string_equal(value_of(t, "d"), "true");
                assert_int_equal(t->params[0].kind, SW_STRING);
                assert_int_equal(t->params[1].kind, SW_INTEGER);
                assert_int_equal(t->params[2].kind, SW_NUMBER);
                assert_int_equal(t->params[3].kind, SW_BOOLEAN);
                assert_int_equal(t->seed, seed);
                assert_int_equal(strlen(t->id), 16);
                assert_int_equal(strspn(t->id, "0123456789abcdef"), 16);
            }
    assert_string_equal(s.name, "sweep");
    assert_string_equal(s.scenario, "x.lua");
    sw_sweep_free(&s);
}

static int cmp_ids(const void *x, const void *y) {
    return strcmp((const char *)x, (const char *)y);
}

/* Sorted ids of a sweep into ids (cap 64). */
static size_t sorted_ids(const sw_sweep *s, char ids[][17]) {
    for (size_t i = 0; i < s->task_count; i++) memcpy(ids[i], s->tasks[i].id, 17);
    qsort(ids, s->task_count, 17, cmp_ids);
    return s->task_count;
}

static void test_ids_depend_on_content_not_order(void **state) {
    fixture *f = *state;
    sw_sweep s1, s2, s3, s4;
    load_ok(f, "return { scenario = 's.lua', params = { n = {10, 20}, k = {1, 2} }, seeds = 3 }",
            &s1);
    load_ok(f,
            "return { seeds = {3, 1, 2}, params = { k = {2, 1}, n = {20, 10} }, scenario = 's.lua' }",
            &s2);
    load_ok(f, "return { scenario = 's.lua', params = { n = {10, 20}, k = {1, 2} }, seeds = 3,"
               " seed_base = 2 }",
            &s3);
    load_ok(f, "return { scenario = 'other.lua', params = { n = {10, 20}, k = {1, 2} }, seeds = 3 }",
            &s4);
    char a[64][17], b[64][17], c[64][17], d[64][17];
    assert_int_equal(sorted_ids(&s1, a), 12);
    assert_int_equal(sorted_ids(&s2, b), 12);
    assert_int_equal(sorted_ids(&s3, c), 12);
    assert_int_equal(sorted_ids(&s4, d), 12);
    /* Reordered description: same tasks, same ids, different order. */
    assert_memory_equal(a, b, sizeof a[0] * 12);
    assert_string_not_equal(s1.tasks[0].id, s2.tasks[0].id);
    /* seeds 2..4 share 2 and 3 with 1..3: 8 common ids, 4 new. */
    size_t common = 0;
    for (size_t i = 0; i < 12; i++)
        for (size_t j = 0; j < 12; j++) common += strcmp(a[i], c[j]) == 0;
    assert_int_equal(common, 8);
    /* Another scenario: no id in common; no two ids equal within a sweep. */
    for (size_t i = 0; i < 12; i++)
        for (size_t j = 0; j < 12; j++) assert_string_not_equal(a[i], d[j]);
    for (size_t i = 1; i < 12; i++) assert_string_not_equal(a[i - 1], a[i]);
    sw_sweep_free(&s1);
    sw_sweep_free(&s2);
    sw_sweep_free(&s3);
    sw_sweep_free(&s4);
}

static void test_draws_are_deterministic_and_in_range(void **state) {
    fixture *f = *state;
#define DRAWS_TEXT                                                                         \
    "return { scenario = 's.lua', params = { g = {1, 2} }, seeds = {5},"                     \
    " draws = { count = 40, seed = %d, params = { x = uniform(0.5, 1.5),"                    \
    " k = integer(2, 900), c = choice{'a', 'b', 'c'}, l = log_uniform(1, 1000) } } }"
    char src[512];
    sw_sweep s1, s2, s3;
    snprintf(src, sizeof src, DRAWS_TEXT, 7);
    load_ok(f, src, &s1);
    load_ok(f, src, &s2);
    snprintf(src, sizeof src, DRAWS_TEXT, 8);
    load_ok(f, src, &s3);
    assert_int_equal(s1.task_count, 2 * 40);
    assert_int_equal(s1.draw_count, 40);
    size_t differ = 0;
    bool seen_c[3] = {false, false, false};
    for (size_t i = 0; i < s1.task_count; i++) {
        const sw_task *t = &s1.tasks[i];
        for (size_t p = 0; p < t->param_count; p++) {
            assert_string_equal(t->params[p].value, s2.tasks[i].params[p].value);
            differ += strcmp(t->params[p].value, s3.tasks[i].params[p].value) != 0;
        }
        double x = atof(value_of(t, "x")), l = atof(value_of(t, "l"));
        long k = atol(value_of(t, "k"));
        assert_true(x >= 0.5 && x < 1.5);
        assert_true(l >= 1 && l <= 1000);
        assert_true(k >= 2 && k <= 900);
        const char *c = value_of(t, "c");
        assert_true(strlen(c) == 1 && c[0] >= 'a' && c[0] <= 'c');
        seen_c[c[0] - 'a'] = true;
        assert_int_equal(t->seed, 5);
        /* Draw d is the same point at both grid values. */
        if (i < 40) assert_string_equal(value_of(t, "x"), value_of(&s1.tasks[i + 40], "x"));
    }
    assert_true(seen_c[0] && seen_c[1] && seen_c[2]);
    assert_true(differ > 40); /* another draws.seed, other values */
    sw_sweep_free(&s1);
    sw_sweep_free(&s2);
    sw_sweep_free(&s3);
    /* A small discrete space: repeated draws are dropped, every point kept once. */
    sw_sweep s4;
    load_ok(f, "return { scenario = 's.lua', draws = { count = 60, params = { k = integer(1, 3) } } }",
            &s4);
    assert_int_equal(s4.task_count, 3);
    assert_int_equal(s4.draws_dropped, 57);
    sw_sweep_free(&s4);
}

static void test_range_and_defaults(void **state) {
    fixture *f = *state;
    sw_sweep s;
    load_ok(f, "return { scenario = 's.lua', params = { n = range(8, 64, 8) }, out = 'o',"
               " log = 'none', name = 'study_1' }",
            &s);
    assert_int_equal(s.task_count, 8);
    for (size_t i = 0; i < 8; i++) {
        char want[8];
        snprintf(want, sizeof want, "%zu", 8 * (i + 1));
        assert_string_equal(value_of(&s.tasks[i], "n"), want);
        assert_int_equal(s.tasks[i].seed, 1); /* no seeds: one seed, seed_base 1 */
    }
    assert_string_equal(s.out_dir, "o");
    assert_string_equal(s.log_level, "none");
    assert_string_equal(s.name, "study_1");
    sw_sweep_free(&s);
}

static void test_scenario_path_resolution(void **state) {
    fixture *f = *state;
    char scen[512], path[512], err[512];
    write_file(f, "my_scenario.lua", "-- nothing\n", scen, sizeof scen);
    write_file(f, "s.lua", "return { scenario = 'my_scenario.lua' }", path, sizeof path);
    sw_sweep s;
    assert_int_equal(sw_sweep_load(path, &s, err, sizeof err), 0);
    /* Not in the current directory: found next to the description. */
    assert_string_equal(s.scenario, "my_scenario.lua");
    assert_string_equal(s.scenario_path, scen);
    sw_sweep_free(&s);
}

static void test_malformed_descriptions(void **state) {
    fixture *f = *state;
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"return { scenario = 's.lua', paramz = {} }",
         "sweep.lua: the returned table: unknown key 'paramz'; known keys: scenario, params"},
        {"return { params = { n = 1 } }", "sweep.lua: missing 'scenario'"},
        {"return { scenario = 's.lua', params = { n = {} } }",
         "sweep.lua: params.n: an empty list has no values"},
        {"return { scenario = 's.lua', params = { n = {1, 2, 1} } }",
         "sweep.lua: params.n[3]: the value 1 is listed twice (also at [1])"},
        {"return { scenario = 's.lua', params = { ['no-dash'] = 1 } }",
         "'no-dash' is not a parameter name"},
        {"return { scenario = 's.lua', params = { n = {1, {2}} } }",
         "sweep.lua: params.n[2]: expected a number, string or boolean, got a table"},
        {"return { scenario = 's.lua', params = { x = uniform(1, 2) } }",
         "params.x: a distribution belongs in draws"},
        {"return { scenario = 's.lua', draws = { count = 2, params = { x = 3 } } }",
         "draws.params.x: expected uniform(lo, hi), log_uniform(lo, hi), integer(lo, hi) or choice"},
        {"return { scenario = 's.lua', params = { x = 1 }, draws = { count = 2,"
         " params = { x = integer(1, 5) } } }",
         "parameter 'x' is both in params and in draws.params"},
        {"return { scenario = 's.lua', draws = { params = { x = integer(1, 5) } } }",
         "draws.count: expected an integer, got nil"},
        {"return { scenario = 's.lua', seeds = 0 }", "expected 1..100000 (got 0)"},
        {"return { scenario = 's.lua', seeds = 2.5 }", "got a fractional number"},
        {"return { scenario = 's.lua', seeds = {1, 2, 1} }", "seeds[3]: seed 1 is listed twice"},
        {"return { scenario = 's.lua', seeds = {-4} }", "seeds[1]: expected an integer seed"},
        {"return { scenario = 's.lua', log = 'loud' }", "log: expected \"none\", \"info\" or \"debug\""},
        {"return { scenario = 42 }", "sweep.lua: scenario: expected a string, got number"},
        {"return 'scenarios/x.lua'", "sweep.lua: the sweep description must return a table"},
        {"local a = 1\nreturn { scenario = 's.lua', draws = { count = 3,\n"
         " params = { x = uniform(2, 1) } } }",
         "sweep.lua:3: uniform(lo, hi): expected finite lo < hi"},
        {"return { scenario = 's.lua'\n  params = {} }", "sweep.lua:2: '}' expected"},
        {"local f = io.open('x')\nreturn {}", "sweep.lua:1: attempt to index a nil value (global 'io')"},
        {"local x = math.random(3)\nreturn {}", "sweep.lua:1: math.random is not available in sweep"},
        {"local x = os.time()\nreturn {}", "sweep.lua:1: attempt to index a nil value (global 'os')"},
        {"dofile('/etc/passwd')", "sweep.lua:1: dofile is not available in sweep descriptions"},
        {"while true do end", "ran for too long"},
        {"return { scenario = 's.lua', params = { a = range(1, 1000), b = range(1, 1000),"
         " c = range(1, 1000) } }",
         "expands to more than 100000 tasks"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512], err[1024] = "";
        write_file(f, "sweep.lua", cases[i].text, path, sizeof path);
        sw_sweep s;
        int rc = sw_sweep_load(path, &s, err, sizeof err);
        if (rc == 0) fail_msg("case %zu accepted: %s", i, cases[i].text);
        if (!strstr(err, cases[i].expect))
            fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].expect, err);
        assert_int_equal(s.task_count, 0);
        sw_sweep_free(&s);
    }
    char err[256];
    sw_sweep s;
    assert_int_equal(sw_sweep_load("/nonexistent/sweep.lua", &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/sweep.lua: cannot read the sweep description"));
}

/* ---- task files ------------------------------------------------------------------- */

static void test_finished_means_complete_result_file(void **state) {
    fixture *f = *state;
    sw_sweep s;
    load_ok(f, "return { scenario = 's.lua', seeds = 1 }", &s);
    const sw_task *t = &s.tasks[0];
    assert_false(sw_task_finished(f->dir, t));
    char dir[512], path[512];
    snprintf(dir, sizeof dir, "%s/tasks", f->dir);
    mkdir(dir, 0777);
    assert_true(sw_task_dir(f->dir, t, dir, sizeof dir));
    mkdir(dir, 0777);
    assert_true(sw_task_file(f->dir, t, "result.json", path, sizeof path));
    FILE *fp = fopen(path, "w");
    fputs("{\"id\":\"", fp); /* a torn write */
    fclose(fp);
    assert_false(sw_task_finished(f->dir, t));
    fp = fopen(path, "w");
    fputs("{}\n", fp);
    fclose(fp);
    assert_true(sw_task_finished(f->dir, t));
    assert_false(sw_task_dir(f->dir, t, dir, 10)); /* does not fit */
    sw_sweep_free(&s);
}

/* ---- Slurm scripts ---------------------------------------------------------------- */

static char *slurp(const char *path) {
    FILE *fp = fopen(path, "r");
    if (!fp) return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_slurm_dry_run_scripts(void **state) {
    fixture *f = *state;
    sw_sweep s;
    load_ok(f, "return { scenario = 's.lua', params = { n = {1, 2} }, seeds = 10, name = 'st' }",
            &s);
    char out[512], err[1024];
    snprintf(out, sizeof out, "%s/out", f->dir);
    sw_slurm_options o = {.tidepool_exe = "/opt/tp/bin/tidepool", .partition = "short",
                          .time_limit = "0:10:00", .mem = "2G", .max_parallel = 3,
                          .tasks_per_job = 6, .dry_run = true};
    sw_slurm_result r;
    if (sw_slurm_submit(&s, "sweeps/x.lua", out, &o, &r, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(r.array_size, 4); /* ceil(20 / 6) */
    assert_int_equal(r.tasks_per_job, 6);
    assert_string_equal(r.array_job, "");
    char *a = slurp(r.array_script), *m = slurp(r.merge_script);
    assert_non_null(a);
    assert_non_null(m);
    assert_non_null(strstr(a, "#!/bin/bash\n"));
    assert_non_null(strstr(a, "\n#SBATCH --array=0-3%3\n"));
    assert_non_null(strstr(a, "\n#SBATCH --partition=short\n"));
    assert_non_null(strstr(a, "\n#SBATCH --time=0:10:00\n"));
    assert_non_null(strstr(a, "\n#SBATCH --mem=2G\n"));
    assert_non_null(strstr(a, "\n#SBATCH --job-name=tidepool-st\n"));
    assert_non_null(strstr(a, "exec '/opt/tp/bin/tidepool' sweep '"));
    assert_non_null(strstr(a, "/sweeps/x.lua' --out '"));
    assert_non_null(strstr(a, "--task-batch \"$SLURM_ARRAY_TASK_ID\" --tasks-per-batch 6\n"));
    assert_non_null(strstr(m, "\n#SBATCH --job-name=tidepool-st-merge\n"));
    assert_null(strstr(m, "--array"));
    assert_non_null(strstr(m, " --collect\n"));
    free(a);
    free(m);
    /* Defaults: one task per index, no throttle. */
    sw_slurm_options d = {.tidepool_exe = "/x/tidepool", .dry_run = true};
    assert_int_equal(sw_slurm_submit(&s, "x.lua", out, &d, &r, err, sizeof err), 0);
    assert_int_equal(r.array_size, 20);
    a = slurp(r.array_script);
    assert_non_null(strstr(a, "\n#SBATCH --array=0-19\n"));
    assert_null(strstr(a, "--partition"));
    free(a);
    /* Values that would break an #SBATCH line are refused. */
    sw_slurm_options bad = {.tidepool_exe = "/x/tidepool", .partition = "a b", .dry_run = true};
    assert_int_equal(sw_slurm_submit(&s, "x.lua", out, &bad, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "--partition 'a b'"));
    sw_sweep_free(&s);
}

/* ---- merge ------------------------------------------------------------------------ */

/* Runs sweeps/ci_scenario.lua (tiny) into db with the given seed and nodes. */
static void sim_run(const char *db, uint64_t seed, const char *nodes) {
    tl_run_config cfg;
    tl_run_config_default(&cfg);
    cfg.script_path = TP_SOURCE_DIR "/sweeps/ci_scenario.lua";
    cfg.seed = seed;
    cfg.db_path = db;
    cfg.log_level = TL_LOG_DEBUG; /* the demo's connection events are debug level */
    tl_param params[2] = {{"nodes", nodes}, {"duration", "5s"}};
    cfg.params = params;
    cfg.param_count = 2;
    cfg.code_version = "test";
    FILE *devnull = fopen("/dev/null", "w");
    cfg.out = devnull;
    tl_run_result r;
    tl_verdict v = tl_run(&cfg, &r);
    fclose(devnull);
    if (v == TL_VERDICT_ERROR) fail_msg("sim run failed: %s", r.message);
}

static int64_t query_int(const char *db_path, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void exec_sql(const char *db_path, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void test_merge_remaps_and_is_idempotent(void **state) {
    fixture *f = *state;
    char a[512], b[512], out[512], err[1024];
    snprintf(a, sizeof a, "%s/a.db", f->dir);
    snprintf(b, sizeof b, "%s/b.db", f->dir);
    snprintf(out, sizeof out, "%s/campaign.db", f->dir);
    sim_run(a, 1, "8");
    sim_run(b, 2, "10");
    sim_run(b, 3, "10"); /* b holds two runs: ids 1 and 2 */
    int64_t ev_a = query_int(a, "SELECT count(*) FROM events");
    int64_t ev_b = query_int(b, "SELECT count(*) FROM events");
    int64_t ev_b2 = query_int(b, "SELECT count(*) FROM events WHERE run_id = 2");
    assert_true(ev_a > 0 && ev_b2 > 0);
    const char *inputs[] = {a, b};
    sw_merge_stats st;
    if (sw_merge(out, inputs, 2, &st, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(st.inputs, 2);
    assert_int_equal(st.runs_added, 3);
    assert_int_equal(st.runs_duplicate, 0);
    assert_int_equal(query_int(out, "SELECT count(*) FROM runs"), 3);
    assert_int_equal(query_int(out, "SELECT count(*) FROM events"), ev_a + ev_b);
    /* b's run 2 (seed 3) became run 3, with all its rows. */
    assert_int_equal(query_int(out, "SELECT seed FROM runs WHERE id = 3"), 3);
    assert_int_equal(query_int(out, "SELECT count(*) FROM events WHERE run_id = 3"), ev_b2);
    assert_int_equal(query_int(out, "SELECT count(*) FROM hosts WHERE run_id = 1"), 8);
    assert_int_equal(query_int(out, "SELECT count(*) FROM hosts WHERE run_id = 2"), 10);
    /* Every table's rows of run 1 equal a's rows (same order, remapped id = 1). */
    assert_int_equal(query_int(out, "SELECT count(*) FROM connections"),
                     query_int(a, "SELECT count(*) FROM connections") +
                         query_int(b, "SELECT count(*) FROM connections"));
    assert_int_equal(query_int(out, "SELECT count(*) FROM samples"),
                     query_int(a, "SELECT count(*) FROM samples") +
                         query_int(b, "SELECT count(*) FROM samples"));
    assert_int_equal(query_int(out, "SELECT count(*) FROM assertions"),
                     query_int(a, "SELECT count(*) FROM assertions") +
                         query_int(b, "SELECT count(*) FROM assertions"));
    /* Re-merging: nothing added. */
    const char *again[] = {b, a};
    assert_int_equal(sw_merge(out, again, 2, &st, err, sizeof err), 0);
    assert_int_equal(st.runs_added, 0);
    assert_int_equal(st.runs_duplicate, 3);
    assert_int_equal(query_int(out, "SELECT count(*) FROM runs"), 3);
    assert_int_equal(query_int(out, "SELECT count(*) FROM events"), ev_a + ev_b);
    /* Inputs are untouched. */
    assert_int_equal(query_int(b, "SELECT count(*) FROM runs"), 2);
}

static void test_merge_refuses_bad_inputs(void **state) {
    fixture *f = *state;
    char a[512], out[512], err[1024], junk[512], other[512];
    snprintf(a, sizeof a, "%s/a.db", f->dir);
    snprintf(out, sizeof out, "%s/campaign.db", f->dir);
    snprintf(other, sizeof other, "%s/other.db", f->dir);
    sim_run(a, 1, "8");
    sw_merge_stats st;
    /* A killed run (verdict still 'running') is not copied. */
    exec_sql(a, "UPDATE runs SET verdict = 'running', trace_hash = NULL");
    const char *in1[] = {a};
    assert_int_equal(sw_merge(out, in1, 1, &st, err, sizeof err), 0);
    assert_int_equal(st.runs_added, 0);
    assert_int_equal(st.runs_unfinished, 1);
    assert_int_equal(query_int(out, "SELECT count(*) FROM events"), 0);
    /* schema_version mismatch of an input. */
    exec_sql(a, "UPDATE runs SET verdict = 'pass'; UPDATE meta SET value = '7' WHERE key = "
                "'schema_version'");
    assert_int_equal(sw_merge(out, in1, 1, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "a.db: schema_version 7, but this tidepool writes version"));
    assert_int_equal(query_int(out, "SELECT count(*) FROM runs"), 0);
    /* ... and of the output. */
    exec_sql(a, "UPDATE meta SET value = '2' WHERE key = 'schema_version'");
    char version[16];
    assert_true(sw_schema_version_text(version, sizeof version));
    assert_string_equal(version, "2");
    sim_run(other, 5, "8");
    exec_sql(other, "UPDATE meta SET value = '9' WHERE key = 'schema_version'");
    assert_int_equal(sw_merge(other, in1, 1, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "other.db: schema_version 9"));
    assert_non_null(strstr(err, "merge into a new file"));
    /* Not a database; not a file; no meta table; the output as an input. */
    write_file(f, "junk.db", "this is not SQLite at all, not even close........", junk,
               sizeof junk);
    const char *in2[] = {junk};
    assert_int_equal(sw_merge(out, in2, 1, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "junk.db: cannot read it as an SQLite database"));
    const char *in3[] = {"/nonexistent.db"};
    assert_int_equal(sw_merge(out, in3, 1, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent.db: cannot open it"));
    assert_int_equal(access("/nonexistent.db", F_OK), -1);
    char plain[512];
    snprintf(plain, sizeof plain, "%s/plain.db", f->dir);
    exec_sql(plain, "CREATE TABLE t(x)");
    const char *in4[] = {plain};
    assert_int_equal(sw_merge(out, in4, 1, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "plain.db: not a tidepool results database"));
    const char *in5[] = {out};
    assert_int_equal(sw_merge(out, in5, 1, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "the output cannot also be an input"));
    /* A failing input stops the merge; earlier inputs stay merged. */
    const char *in6[] = {a, junk};
    assert_int_equal(sw_merge(out, in6, 2, &st, err, sizeof err), -1);
    assert_int_equal(st.inputs, 1);
    assert_int_equal(query_int(out, "SELECT count(*) FROM runs"), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grid_expands_in_documented_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_depend_on_content_not_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_draws_are_deterministic_and_in_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_and_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scenario_path_resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_descriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finished_means_complete_result_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slurm_dry_run_scripts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_remaps_and_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_refuses_bad_inputs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
