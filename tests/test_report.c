/* tests/test_report.c — the report generator (reports/report.h): percentiles and
 * escaping; the fixture database (tests/data/report_fixture.sql) drawn by gnuplot into
 * valid PNGs and SVGs with an index.html whose every link exists; "no data" in place of
 * plots; several databases overlaid; gnuplot missing or failing; foreign, corrupt or
 * empty databases. The byte-exact golden comparison is tests/report_golden.test.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reports/report.h"
#include "reports/report_impl.h"

#define PATH_LEN 1024

/* ---------------------------------------------------------------------------------- */
/* helpers                                                                             */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    if (len) *len = got;
    return buf;
}

static void exec_sql_file(sqlite3 *db, const char *path) {
    char *sql = read_file(path, NULL);
    assert_non_null(sql);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) fail_msg("%s: %s", path, err ? err : "?");
    free(sql);
}

/* A results database from the fixture (with_data) or the schema alone. */
static void make_db(const char *path, bool with_data) {
    unlink(path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec_sql_file(db, TP_SOURCE_DIR "/reports/schema.sql");
    if (with_data) exec_sql_file(db, TP_SOURCE_DIR "/tests/data/report_fixture.sql");
    sqlite3_close(db);
}

/* dst (PATH_LEN bytes) = dir/name */
static void join(char *dst, const char *dir, const char *name) {
    int n = snprintf(dst, PATH_LEN, "%s/%s", dir, name);
    assert_true(n > 0 && n < PATH_LEN);
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[PATH_LEN];
        join(p, dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

typedef struct tmp_dir {
    char path[PATH_LEN];
} tmp_dir;

static void tmp_make(tmp_dir *t) {
    snprintf(t->path, sizeof t->path, "/tmp/tp_test_report.XXXXXX");
    assert_non_null(mkdtemp(t->path));
}

static void in_dir(char *out, const tmp_dir *t, const char *name) { join(out, t->path, name); }

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A PNG that really renders: signature, IHDR first with sane dimensions, IEND last,
 * every chunk length inside the file, and more than a trivial number of bytes. */
static void assert_valid_png(const char *path) {
    size_t len = 0;
    unsigned char *b = (unsigned char *)read_file(path, &len);
    if (b == NULL) fail_msg("%s: missing", path);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len < 1000) fail_msg("%s: only %zu bytes", path, len);
    assert_memory_equal(b, sig, 8);
    assert_int_equal(be32(b + 8), 13);
    assert_memory_equal(b + 12, "IHDR", 4);
    uint32_t width = be32(b + 16), height = be32(b + 20);
    assert_int_equal(width, 960);
    assert_int_equal(height, 540);
    size_t off = 8;
    bool iend = false, idat = false;
    while (off + 12 <= len) {
        uint32_t n = be32(b + off);
        if (n > len - off - 12) fail_msg("%s: chunk at %zu overruns the file", path, off);
        if (memcmp(b + off + 4, "IDAT", 4) == 0) idat = true;
        if (memcmp(b + off + 4, "IEND", 4) == 0) {
            iend = off + 12 == len;
            break;
        }
        off += 12 + n;
    }
    if (!idat || !iend) fail_msg("%s: no image data or no IEND at the end", path);
    free(b);
}

static void assert_valid_svg(const char *path) {
    size_t len = 0;
    char *s = read_file(path, &len);
    if (s == NULL) fail_msg("%s: missing", path);
    if (strstr(s, "<svg") == NULL || strstr(s, "</svg>") == NULL || len < 1000)
        fail_msg("%s: not a complete SVG (%zu bytes)", path, len);
    free(s);
}

/* Every src="..." and href="..." of dir/index.html names an existing file in dir (or an
 * #anchor of the page); nothing external (no scheme, no absolute path, no script/link).
 * Returns the number of PNGs referenced (each checked with assert_valid_png). */
static unsigned check_html_links(const char *dir, unsigned *refs_out) {
    char path[PATH_LEN];
    join(path, dir, "index.html");
    char *html = read_file(path, NULL);
    assert_non_null(html);
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "://"));
    assert_non_null(strstr(html, "<style>"));
    unsigned refs = 0, pngs = 0;
    for (const char *p = html; (p = strpbrk(p, "sh")) != NULL; p++) {
        size_t skip;
        if (strncmp(p, "src=\"", 5) == 0)
            skip = 5;
        else if (strncmp(p, "href=\"", 6) == 0)
            skip = 6;
        else
            continue;
        const char *v = p + skip;
        const char *end = strchr(v, '"');
        assert_non_null(end);
        char ref[256];
        assert_true((size_t)(end - v) < sizeof ref);
        memcpy(ref, v, (size_t)(end - v));
        ref[end - v] = '\0';
        p = end;
        if (ref[0] == '#') {
            char anchor[300];
            snprintf(anchor, sizeof anchor, "id=\"%s\"", ref + 1);
            if (strstr(html, anchor) == NULL) fail_msg("index.html: no element for %s", ref);
            continue;
        }
        if (ref[0] == '/' || strstr(ref, "..") != NULL) fail_msg("index.html: non-local %s", ref);
        char file[PATH_LEN];
        join(file, dir, ref);
        if (!file_exists(file)) fail_msg("index.html references %s, which does not exist", ref);
        size_t n = strlen(ref);
        if (n > 4 && strcmp(ref + n - 4, ".png") == 0) {
            assert_valid_png(file);
            pngs++;
        }
        if (n > 4 && strcmp(ref + n - 4, ".svg") == 0) assert_valid_svg(file);
        refs++;
    }
    free(html);
    if (refs_out) *refs_out = refs;
    return pngs;
}

static bool gnuplot_available(void) {
    char out[64];
    char *argv[] = {(char *)"gnuplot", (char *)"--version", NULL};
    rep_spawn_args a = {.argv = argv, .capture = out, .capture_len = sizeof out};
    int status = 0, err = 0;
    return rep_spawn(&a, &status, &err) == REP_OK && status == 0;
}

static rep_err generate(const char *const *dbs, size_t n, const char *out, bool render,
                        rep_summary *sum, char *err, size_t errlen) {
    rep_options o;
    rep_options_default(&o);
    o.db_paths = dbs;
    o.db_count = n;
    o.out_dir = out;
    o.render = render;
    o.buckets = 50;
    return rep_generate(&o, sum, err, errlen);
}

/* ---------------------------------------------------------------------------------- */
/* tests                                                                               */

static void test_percentile(void **state) {
    (void)state;
    /* values 1,2,3,3,3 (the fixture's final degrees) */
    const uint32_t h[] = {0, 1, 1, 3};
    assert_int_equal(rep_percentile(h, 4, 5, 5), 1);
    assert_int_equal(rep_percentile(h, 4, 5, 40), 2);  /* rank 2 */
    assert_int_equal(rep_percentile(h, 4, 5, 41), 3);  /* rank 3 (ceil 2.05) */
    assert_int_equal(rep_percentile(h, 4, 5, 50), 3);
    assert_int_equal(rep_percentile(h, 4, 5, 100), 3);
    const uint32_t one[] = {0, 0, 0, 0, 0, 0, 0, 1};
    assert_int_equal(rep_percentile(one, 8, 1, 5), 7);
    assert_int_equal(rep_percentile(one, 8, 1, 95), 7);
    /* 100 samples 0..99: p5 is the 5th smallest, p95 the 95th */
    uint32_t flat[100];
    for (int i = 0; i < 100; i++) flat[i] = 1;
    assert_int_equal(rep_percentile(flat, 100, 100, 5), 4);
    assert_int_equal(rep_percentile(flat, 100, 100, 50), 49);
    assert_int_equal(rep_percentile(flat, 100, 100, 95), 94);
}

static void test_escape(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rep_html_escape(f, "<a href=\"x\">R&D's</a>");
    fclose(f);
    assert_string_equal(buf, "&lt;a href=&quot;x&quot;&gt;R&amp;D&#39;s&lt;/a&gt;");
    free(buf);
    f = open_memstream(&buf, &len);
    rep_gp_escape(f, "it's\na\tb");
    fclose(f);
    assert_string_equal(buf, "it''s?a?b");
    free(buf);
}

/* The fixture drawn by the real gnuplot: every plot has data for at least one run, every
 * PNG is a real 960x540 image, every SVG complete, every link of index.html exists. */
static void test_fixture_renders(void **state) {
    (void)state;
    if (!gnuplot_available()) {
        print_message("SKIPPED: gnuplot is not installed (sudo apt-get install gnuplot-nox; "
                      "scripts/setup.sh installs it); the PNG checks did not run\n");
        skip();
    }
    tmp_dir t;
    tmp_make(&t);
    char db[PATH_LEN], out[PATH_LEN];
    in_dir(db, &t, "fixture.db");
    in_dir(out, &t, "report/sub"); /* nested: --out is created like mkdir -p */
    make_db(db, true);
    const char *dbs[] = {db};
    rep_summary sum;
    char err[512];
    rep_err e = generate(dbs, 1, out, true, &sum, err, sizeof err);
    if (e != REP_OK) fail_msg("rep_generate: %s", err);
    assert_int_equal(sum.series, 2);
    /* 8 overlaid + event kinds for each of the 2 runs + the 3 sample() metrics plots
     * (attacker_share, bootstrap_time_s, queue_len per node: reports/metrics.c) + the 2
     * role plots (run 1 has an "attacker": reports/roles.c) + the
     * blocks plot (run 1 has blocks rows) */
    assert_int_equal(sum.plots, 16);
    assert_int_equal(sum.plots_empty, 0);
    assert_int_equal(sum.plots_failed, 0);
    assert_true(strncmp(sum.gnuplot_version, "gnuplot ", 8) == 0);
    unsigned refs = 0;
    unsigned pngs = check_html_links(out, &refs);
    assert_int_equal(pngs, 16);
    assert_true(refs > 40);
    /* a successful plot leaves no gnuplot log behind */
    char log[PATH_LEN];
    join(log, out, "connections.log");
    assert_false(file_exists(log));
    remove_tree(t.path);
}

/* A run without connections, samples, deliveries or events: every plot but the degree
 * histogram says "no data" and leaves no data file or script. */
static void test_no_data(void **state) {
    (void)state;
    tmp_dir t;
    tmp_make(&t);
    char db[PATH_LEN], out[PATH_LEN], p[PATH_LEN];
    in_dir(db, &t, "bare.db");
    in_dir(out, &t, "report");
    make_db(db, false);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "INSERT INTO runs(id, scenario, seed, parameters, code_version,"
                                  " log_level, started_at, verdict) VALUES (1, 's.lua', 9, '{}',"
                                  " 'v', 'none', '2026-01-01T00:00:00Z', 'pass');"
                                  "INSERT INTO nodes VALUES (1, 0, 'demo', NULL, NULL, '{}', 0);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    const char *dbs[] = {db};
    rep_summary sum;
    char err[512];
    rep_err e = generate(dbs, 1, out, false, &sum, err, sizeof err);
    if (e != REP_OK) fail_msg("rep_generate: %s", err);
    assert_int_equal(sum.plots, 1); /* degree: one node with 0 connections */
    assert_int_equal(sum.plots_empty, 9);
    join(p, out, "connections_1.dat");
    assert_false(file_exists(p));
    join(p, out, "connections.gp");
    assert_false(file_exists(p));
    join(p, out, "connections.sql"); /* the SQL is kept to adapt */
    assert_true(file_exists(p));
    join(p, out, "index.html");
    char *html = read_file(p, NULL);
    assert_non_null(strstr(html, "No data: the runs have no rows in <code>connections</code>"));
    assert_non_null(strstr(html, "no <code>bytes_in</code> / <code>bytes_out</code> samples"));
    assert_non_null(strstr(html, "Not drawn (--no-plots)"));
    free(html);
    check_html_links(out, NULL);
    remove_tree(t.path);
}

/* Two databases: one series per run, overlaid in one script with a legend entry each. */
static void test_overlay_two_databases(void **state) {
    (void)state;
    tmp_dir t;
    tmp_make(&t);
    char a[PATH_LEN], b[PATH_LEN], out[PATH_LEN], p[PATH_LEN];
    in_dir(a, &t, "baseline.db");
    in_dir(b, &t, "variant.db");
    in_dir(out, &t, "report");
    make_db(a, true);
    make_db(b, true);
    const char *dbs[] = {a, b};
    rep_summary sum;
    char err[512];
    rep_err e = generate(dbs, 2, out, false, &sum, err, sizeof err);
    if (e != REP_OK) fail_msg("rep_generate: %s", err);
    assert_int_equal(sum.series, 4);
    assert_int_equal(sum.plots, 9 + 4 + 3 + 2); /* + 3 sample() metrics, 2 role plots */
    join(p, out, "connections.gp");
    char *gp = read_file(p, NULL);
    assert_non_null(gp);
    /* runs 1 and 2 differ in min_conn and nodes: the labels say so */
    const char *titles[] = {"title 'baseline.db #1 seed 1 min_conn=2 nodes=5'",
                            "title 'baseline.db #2 seed 2 min_conn=1 nodes=3'",
                            "title 'variant.db #1 seed 1 min_conn=2 nodes=5'",
                            "title 'variant.db #2 seed 2 min_conn=1 nodes=3'"};
    for (int i = 0; i < 4; i++)
        if (strstr(gp, titles[i]) == NULL) fail_msg("connections.gp lacks %s", titles[i]);
    assert_non_null(strstr(gp, "'connections_4.dat' using 1:4 with lines lc 4"));
    free(gp);
    /* run 1 of each database has a fault window (5.5 .. 7.5 s): each gets its own strip
     * (series 1 at the bottom, series 3 on top) in its colour, not one shared shade */
    join(p, out, "components.gp");
    gp = read_file(p, NULL);
    assert_non_null(gp);
    assert_non_null(strstr(gp, "set object 1 rect from 5.5, graph 0 to 7.5, graph 0.5 behind "
                               "fc rgb '#1f77b4' fs transparent solid 0.25 noborder"));
    assert_non_null(strstr(gp, "set object 2 rect from 5.5, graph 0.5 to 7.5, graph 1 behind "
                               "fc rgb '#2ca02c' fs transparent solid 0.25 noborder"));
    assert_null(strstr(gp, "set object 3 "));
    free(gp);
    join(p, out, "index.html");
    char *html = read_file(p, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "Fault windows of 2 runs: each run's in its own horizontal strip"));
    free(html);
    /* the series' data are the same bytes apart from the header naming the series */
    char p1[PATH_LEN], p3[PATH_LEN];
    join(p1, out, "degree_1.dat");
    join(p3, out, "degree_3.dat");
    char *d1 = read_file(p1, NULL), *d3 = read_file(p3, NULL);
    assert_non_null(d1);
    assert_non_null(d3);
    assert_string_equal(strchr(d1, '\n'), strchr(d3, '\n'));
    free(d1);
    free(d3);
    check_html_links(out, NULL);
    remove_tree(t.path);
}

/* Text from the database and file names reaches gnuplot scripts, data headers, SQL
 * comments and HTML: quotes, newlines and markup must not break any of them. */
static void test_hostile_text(void **state) {
    (void)state;
    tmp_dir t;
    tmp_make(&t);
    char db[PATH_LEN], out[PATH_LEN], p[PATH_LEN];
    in_dir(db, &t, "it's <b>.db");
    in_dir(out, &t, "report");
    make_db(db, false);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h,
                     "INSERT INTO runs(id, scenario, seed, parameters, code_version, log_level,"
                     " started_at, verdict, message) VALUES (1, '<script>x</script>', 3, 'not json',"
                     " 'v', 'info', 'now', 'fail', 'a\nb <i>');"
                     "INSERT INTO nodes VALUES (1, 0, 'demo', NULL, NULL, '{}', 0);"
                     "INSERT INTO events VALUES (1, 1, 5, 0, 'evil'||char(10)||'kind', NULL, NULL,"
                     " NULL, 0, NULL), (1, 2, 9, 0, 'quote''s kind', NULL, NULL, NULL, 0, NULL);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    const char *dbs[] = {db};
    rep_summary sum;
    char err[512];
    bool render = gnuplot_available();
    rep_err e = generate(dbs, 1, out, render, &sum, err, sizeof err);
    if (e != REP_OK) fail_msg("rep_generate: %s", err);
    assert_int_equal(sum.plots_failed, 0);
    join(p, out, "events_1.dat");
    char *dat = read_file(p, NULL);
    assert_non_null(dat);
    /* two header lines, then 50 buckets: a newline in a kind would add a line */
    unsigned lines = 0;
    for (const char *q = dat; *q; q++) lines += *q == '\n';
    assert_int_equal(lines, 2 + 50);
    assert_non_null(strstr(dat, " evil_kind_per_s quote's_kind_per_s\n"));
    free(dat);
    join(p, out, "events_1.gp");
    char *gp = read_file(p, NULL);
    assert_non_null(strstr(gp, "title 'quote''s kind'"));
    assert_non_null(strstr(gp, "title 'evil?kind'"));
    assert_non_null(strstr(gp, "set title 'event kinds over time: it''s <b>.db seed 3'"));
    free(gp);
    join(p, out, "degree.gp");
    gp = read_file(p, NULL);
    assert_non_null(strstr(gp, "title 'it''s <b>.db seed 3'"));
    free(gp);
    join(p, out, "index.html");
    char *html = read_file(p, NULL);
    assert_null(strstr(html, "<script>"));
    assert_null(strstr(html, "<b>"));
    assert_non_null(strstr(html, "&lt;script&gt;x&lt;/script&gt;"));
    assert_non_null(strstr(html, "it&#39;s &lt;b&gt;.db seed 3"));
    free(html);
    unsigned pngs = check_html_links(out, NULL);
    assert_int_equal(pngs, render ? 2 : 0); /* degree and events_1 */
    remove_tree(t.path);
}

/* --runs picks runs; a baseline and a variant differing in one parameter are labelled
 * by it; a database without any picked run is an error naming it. */
static void test_run_selection_and_labels(void **state) {
    (void)state;
    tmp_dir t;
    tmp_make(&t);
    char a[PATH_LEN], b[PATH_LEN], out[PATH_LEN], p[PATH_LEN];
    in_dir(a, &t, "baseline.db");
    in_dir(b, &t, "variant.db");
    in_dir(out, &t, "report");
    make_db(a, true);
    make_db(b, true);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(b, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "UPDATE runs SET parameters = '{\"min_conn\":2,\"nodes\":5,"
                                  "\"peers_k\":8}' WHERE id = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    rep_options o;
    rep_options_default(&o);
    const char *dbs[] = {a, b};
    const int64_t runs[] = {1};
    o.db_paths = dbs;
    o.db_count = 2;
    o.out_dir = out;
    o.render = false;
    o.run_ids = runs;
    o.run_id_count = 1;
    rep_summary sum;
    char err[512];
    if (rep_generate(&o, &sum, err, sizeof err) != REP_OK) fail_msg("rep_generate: %s", err);
    assert_int_equal(sum.series, 2);
    join(p, out, "degree.gp");
    char *gp = read_file(p, NULL);
    assert_non_null(strstr(gp, "title 'baseline.db #1 seed 1'"));
    assert_non_null(strstr(gp, "title 'variant.db #1 seed 1 peers_k=8'"));
    assert_null(strstr(gp, "seed 2"));
    free(gp);
    const int64_t missing[] = {7};
    o.run_ids = missing;
    assert_int_equal(rep_generate(&o, &sum, err, sizeof err), REP_ERR_INPUT);
    assert_non_null(strstr(err, "baseline.db: holds none of the runs given with --runs"));
    remove_tree(t.path);
}

/* gnuplot missing: exit early with the install hint, before anything is written. */
static void test_gnuplot_missing(void **state) {
    (void)state;
    tmp_dir t;
    tmp_make(&t);
    char db[PATH_LEN], out[PATH_LEN];
    in_dir(db, &t, "fixture.db");
    in_dir(out, &t, "report");
    make_db(db, true);
    rep_options o;
    rep_options_default(&o);
    const char *dbs[] = {db};
    o.db_paths = dbs;
    o.db_count = 1;
    o.out_dir = out;
    o.gnuplot = "tidepool-no-such-gnuplot";
    char err[512];
    rep_summary sum;
    assert_int_equal(rep_generate(&o, &sum, err, sizeof err), REP_ERR_GNUPLOT_MISSING);
    assert_non_null(strstr(err, "tidepool-no-such-gnuplot"));
    assert_non_null(strstr(err, "apt-get install gnuplot-nox"));
    assert_non_null(strstr(err, "--no-plots"));
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0);
    remove_tree(t.path);
}

/* gnuplot that runs but fails: every other file is written, the page links the logs. */
static void test_gnuplot_fails(void **state) {
    (void)state;
    tmp_dir t;
    tmp_make(&t);
    char db[PATH_LEN], out[PATH_LEN], fake[PATH_LEN];
    in_dir(db, &t, "fixture.db");
    in_dir(out, &t, "report");
    in_dir(fake, &t, "fake-gnuplot");
    make_db(db, true);
    FILE *f = fopen(fake, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'gnuplot 0.0 fake'; exit 0; fi\n"
          "echo \"fake gnuplot cannot draw $1\" >&2\nexit 1\n",
          f);
    fclose(f);
    assert_int_equal(chmod(fake, 0755), 0);
    rep_options o;
    rep_options_default(&o);
    const char *dbs[] = {db};
    o.db_paths = dbs;
    o.db_count = 1;
    o.out_dir = out;
    o.gnuplot = fake;
    char err[512];
    rep_summary sum;
    assert_int_equal(rep_generate(&o, &sum, err, sizeof err), REP_ERR_GNUPLOT_FAILED);
    assert_int_equal(sum.plots_failed, 16);
    assert_non_null(strstr(err, ".log"));
    char p[PATH_LEN];
    join(p, out, "degree.log");
    char *log = read_file(p, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "cannot draw degree.gp"));
    free(log);
    check_html_links(out, NULL); /* includes the .log links */
    remove_tree(t.path);
}

static void expect_input_error(const char *db, const char *needle) {
    char out[PATH_LEN];
    int n = snprintf(out, sizeof out, "%s.report", db);
    assert_true(n > 0 && n < PATH_LEN);
    const char *dbs[] = {db};
    char err[512];
    rep_summary sum;
    rep_err e = generate(dbs, 1, out, false, &sum, err, sizeof err);
    assert_int_equal(e, REP_ERR_INPUT);
    if (strstr(err, needle) == NULL) fail_msg("error '%s' lacks '%s'", err, needle);
    if (strstr(err, db) == NULL) fail_msg("error '%s' does not name %s", err, db);
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0); /* nothing written */
}

static void test_bad_databases(void **state) {
    (void)state;
    tmp_dir t;
    tmp_make(&t);
    char p[PATH_LEN];
    in_dir(p, &t, "missing.db");
    expect_input_error(p, "tidepool sim");

    in_dir(p, &t, "foreign.db");
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    expect_input_error(p, "not a tidepool results database");
    char err[512];
    assert_int_equal(rep_check_database(p, err, sizeof err), REP_ERR_INPUT);
    assert_non_null(strstr(err, "foreign.db: not a tidepool results database"));

    in_dir(p, &t, "garbage.db");
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < 4096; i++) fputc((i * 131 + 7) & 0xff, f);
    fclose(f);
    expect_input_error(p, "not a tidepool results database");

    in_dir(p, &t, "empty.db");
    make_db(p, false);
    expect_input_error(p, "holds no runs");
    assert_int_equal(rep_check_database(p, err, sizeof err), REP_OK); /* a results db */

    in_dir(p, &t, "future.db");
    make_db(p, true);
    assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    expect_input_error(p, "schema version 99");
    remove_tree(t.path);
}

static void test_bad_options(void **state) {
    (void)state;
    rep_options o;
    rep_options_default(&o);
    char err[256];
    rep_summary sum;
    o.out_dir = "/tmp/tp_test_report_unused";
    assert_int_equal(rep_generate(&o, &sum, err, sizeof err), REP_ERR_USAGE);
    assert_non_null(strstr(err, "no results database"));
    const char *dbs[] = {"x.db"};
    o.db_paths = dbs;
    o.db_count = 1;
    o.buckets = REP_BUCKETS_MAX + 1;
    assert_int_equal(rep_generate(&o, &sum, err, sizeof err), REP_ERR_USAGE);
    assert_non_null(strstr(err, "--buckets"));
    o.buckets = 0;
    o.out_dir = NULL;
    assert_int_equal(rep_generate(&o, &sum, err, sizeof err), REP_ERR_USAGE);
    assert_non_null(strstr(err, "--out"));
}

/* The fixture with run 1's deliveries and blocks replaced: 1000 blocks of 3 running
 * nodes, block i validated by one node after i ms (its t50 = i ms, t90 .. t100 never),
 * and one ping delivered after 5000 ms. */
static void make_clip_db(const char *path) {
    make_db(path, true);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(
        db,
        "DELETE FROM deliveries; DELETE FROM blocks;"
        "WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < 1000)"
        " INSERT INTO blocks(run_id, block, origin_node, created_ns, predecessor, level,"
        " header_bytes, ops_bytes, nodes_running, holders, bytes_useful, bytes_duplicate,"
        " bytes_requests) SELECT 1, k, 0, k * 1000000, NULL, k, 300, 0, 3, 2, 0, 0, 0 FROM i;"
        "INSERT INTO deliveries(run_id, message, node, origin_node, sent_ns, received_ns,"
        " delay_ns, header_ns) SELECT 1, 'block:' || block, 1, 0, created_ns,"
        " created_ns + block * 1000000, block * 1000000, NULL FROM blocks;"
        "INSERT INTO deliveries(run_id, message, node, origin_node, sent_ns, received_ns,"
        " delay_ns, header_ns) VALUES (1, 'ping:1', 2, 0, 0, 5000000000, 5000000000, NULL);",
        NULL, NULL, &err);
    if (rc != SQLITE_OK) fail_msg("clip fixture: %s", err ? err : "?");
    sqlite3_close(db);
}

static char *read_out(const char *dir, const char *name) {
    char p[PATH_LEN];
    join(p, dir, name);
    char *text = read_file(p, NULL);
    if (text == NULL) fail_msg("%s: missing", p);
    return text;
}

static void assert_has(const char *text, const char *needle, const char *where) {
    if (strstr(text, needle) == NULL) fail_msg("%s lacks: %s", where, needle);
}

/* One late delivery no longer stretches the propagation axis, nor one late block time
 * the blocks axis: each ends at the p99.9 (nearest rank) of the plotted delays and the
 * outliers are counted on the plot and in the page. propagation: 1001 deliveries (1 ..
 * 1000 ms and 5000 ms): rank ceil(0.999 * 1001) = 1000, 1000 ms; 1 beyond. blocks: the
 * 1000 plotted times 1 .. 1000 ms: rank 999, 999 ms; 1 beyond (1000 ms). */
static void test_delay_axes_clip(void **state) {
    (void)state;
    tmp_dir t;
    tmp_make(&t);
    char db[PATH_LEN], out[PATH_LEN];
    in_dir(db, &t, "fixture.db");
    in_dir(out, &t, "report");
    make_clip_db(db);
    const char *dbs[] = {db};
    rep_summary sum;
    char err[512];
    rep_err e = generate(dbs, 1, out, false, &sum, err, sizeof err);
    if (e != REP_OK) fail_msg("rep_generate: %s", err);
    char *gp = read_out(out, "propagation.gp");
    assert_has(gp, "set xrange [0:1000]\n", "propagation.gp");
    assert_has(gp, "set label 101 '1 delivery beyond the axis (the p99.9), the latest at 5000 ms' at "
               "graph 0.99, graph 0.04 right front boxed",
               "propagation.gp");
    free(gp);
    gp = read_out(out, "blocks.gp");
    assert_has(gp, "set yrange [0:999]\n", "blocks.gp");
    assert_has(gp, "'1 block time beyond the axis (the p99.9), the latest at 1000 ms'",
               "blocks.gp");
    free(gp);
    char *html = read_out(out, "index.html");
    assert_has(html, "Axis clipped at 1000 ms, the p99.9 of the plotted delays (the largest "
                     "over the runs). Beyond it: fixture.db #1 seed 1 min_conn=2 nodes=5: 1 "
                     "delivery, the latest at 5000 ms.",
               "index.html");
    assert_has(html, "Axis clipped at 999 ms", "index.html");
    free(html);
    /* the fixture as it is (7 deliveries, 2 blocks): p99.9 = the largest, no clip */
    make_db(db, true);
    e = generate(dbs, 1, out, false, &sum, err, sizeof err);
    if (e != REP_OK) fail_msg("rep_generate: %s", err);
    gp = read_out(out, "propagation.gp");
    assert_null(strstr(gp, "set label 101"));
    assert_has(gp, "set xrange [0:*]\n", "propagation.gp");
    free(gp);
    remove_tree(t.path);
}

/* --log-scale: the named plots get gnuplot's logscale on their axis (x for the delay
 * CDFs, y otherwise), the clip keeps its upper end; every plot on a log scale still
 * draws; an unknown name is a usage error listing the names. */
static void test_log_scale(void **state) {
    (void)state;
    tmp_dir t;
    tmp_make(&t);
    char db[PATH_LEN], out[PATH_LEN];
    in_dir(db, &t, "fixture.db");
    in_dir(out, &t, "report");
    make_clip_db(db);
    const char *dbs[] = {db};
    rep_options o;
    rep_options_default(&o);
    o.db_paths = dbs;
    o.db_count = 1;
    o.out_dir = out;
    o.buckets = 50;
    o.render = gnuplot_available();
    o.log_scale = "propagation,degree,blocks";
    rep_summary sum;
    char err[512];
    rep_err e = rep_generate(&o, &sum, err, sizeof err);
    if (e != REP_OK) fail_msg("rep_generate: %s", err);
    char *gp = read_out(out, "propagation.gp");
    assert_has(gp, "set logscale x\nset xrange [*:*]\n", "propagation.gp");
    assert_has(gp, "set xrange [*:1000]\n", "propagation.gp");
    free(gp);
    gp = read_out(out, "degree.gp");
    assert_has(gp, "set logscale y\nset yrange [*:*]\n", "degree.gp");
    free(gp);
    gp = read_out(out, "blocks.gp");
    assert_has(gp, "set yrange [*:999]\n", "blocks.gp");
    free(gp);
    gp = read_out(out, "connections.gp"); /* not named */
    assert_null(strstr(gp, "logscale"));
    free(gp);
    /* every plot on a log scale: gnuplot draws them all (zeros are dropped, not fatal) */
    o.log_scale = "connections,degree,bootstrap,components,coverage,propagation,blocks,"
                  "bandwidth,acl,events";
    e = rep_generate(&o, &sum, err, sizeof err);
    if (e != REP_OK) fail_msg("rep_generate (all on log scales): %s", err);
    assert_int_equal(sum.plots_failed, 0);
    if (o.render) {
        char p[PATH_LEN];
        const char *pngs[] = {"connections.png", "degree.png", "bootstrap.png", "coverage.png",
                              "propagation.png", "blocks.png", "events_1.png"};
        for (size_t i = 0; i < sizeof pngs / sizeof pngs[0]; i++) {
            join(p, out, pngs[i]);
            assert_valid_png(p);
        }
    }
    o.log_scale = "propagation,bogus";
    assert_int_equal(rep_generate(&o, &sum, err, sizeof err), REP_ERR_USAGE);
    assert_has(err, "--log-scale: unknown plot 'bogus' in 'propagation,bogus'; plots: "
                    "connections, degree, bootstrap, components, coverage, propagation, "
                    "blocks, bandwidth, acl, events",
               "the error");
    assert_int_equal(rep_check_log_scale("degree,,events", err, sizeof err), REP_ERR_USAGE);
    assert_has(err, "empty plot name", "the error");
    assert_int_equal(rep_check_log_scale("events", err, sizeof err), REP_OK);
    assert_int_equal(rep_check_log_scale(NULL, err, sizeof err), REP_OK);
    remove_tree(t.path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile),          cmocka_unit_test(test_escape),
        cmocka_unit_test(test_fixture_renders),     cmocka_unit_test(test_no_data),
        cmocka_unit_test(test_overlay_two_databases), cmocka_unit_test(test_gnuplot_missing),
        cmocka_unit_test(test_gnuplot_fails),       cmocka_unit_test(test_bad_databases),
        cmocka_unit_test(test_bad_options),         cmocka_unit_test(test_hostile_text),
        cmocka_unit_test(test_run_selection_and_labels),
        cmocka_unit_test(test_delay_axes_clip), cmocka_unit_test(test_log_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
