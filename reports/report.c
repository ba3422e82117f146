/* reports/report.c — `tidepool report`: results databases -> SQL, data, gnuplot scripts,
 * PNG/SVG plots and index.html (see report.h; the SQL is in queries.h).
 *
 * Flow: open every database read-only and list its runs (one series each); check that
 * gnuplot starts (before writing anything); then for each plot, per series: run the
 * plot's query with the series' parameters bound, write NAME_K.dat (or nothing when the
 * query has no rows); write NAME.sql; if some series has data, write NAME.gp and run
 * gnuplot on it in the output directory; otherwise the HTML says "no data" in place of
 * the plot. Last, key figures (one-row queries) and index.html.
 *
 * Output is deterministic for a given database (sorted queries, fixed number formats,
 * no timestamps except those in the data), so golden tests can compare it. */
#include "reports/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "reports/queries.h"
#include "reports/report_impl.h"

#define REP_PATH_MAX 4096
#define REP_KINDS_SHOWN 8      /* event kinds drawn; the rest is 'other' */
#define REP_KIND_NAME_MAX 48
#define REP_FAULT_WINDOWS_MAX 64 /* shaded windows per series */
#define REP_PLOTS_MAX (16 + REP_SERIES_MAX)
#define REP_SCHEMA_VERSION "2"

typedef struct rep_series {
    sqlite3 *db;         /* borrowed from rep_ctx.dbs */
    const char *db_path; /* borrowed from the options */
    int64_t run_id, seed;
    char label[256];
    /* runs columns, owned (sqlite3_mprintf'd), NULL when NULL in the database */
    char *scenario, *parameters, *code_version, *log_level, *started_at, *command;
    char *trace_hash, *verdict, *message, *wall_time_s, *virtual_time_s, *events_executed;
    int64_t duration_ns;    /* virtual time at the end (or the last row's time) */
    int64_t width_ns;       /* :width */
    int64_t delay_width_ns; /* :delay_width */
    int64_t min_connections; /* :min */
} rep_series;

typedef enum plot_status {
    PLOT_EMPTY,     /* no series has data */
    PLOT_DRAWN,     /* gnuplot drew NAME.png and NAME.svg */
    PLOT_FAILED,    /* gnuplot failed: NAME.log */
    PLOT_NOT_DRAWN, /* render = false */
} plot_status;

struct rep_ctx;
struct rep_plot_def;

/* Writes the data of one series; *rows = 0 means "no data" (the file is removed). */
typedef rep_err (*rep_data_fn)(struct rep_ctx *c, const struct rep_plot_def *p,
                               rep_series *s, FILE *out, uint64_t *rows);
/* Writes the plot clauses of one series (after "plot " or ", \"). */
typedef void (*rep_clause_fn)(struct rep_ctx *c, FILE *gp, const char *dat, uint32_t k,
                              const rep_series *s, bool *first);
struct rep_plot_result;
/* Extra gnuplot settings before the plot command (fault windows, clipped axes); may add
 * an HTML note to the result. */
typedef rep_err (*rep_setup_fn)(struct rep_ctx *c, FILE *gp, struct rep_plot_result *r);

typedef struct rep_plot_def {
    const char *name, *title, *caption, *xlabel, *ylabel;
    const char *sql, *sql_extra; /* saved in NAME.sql; sql_extra may be NULL */
    const char *empty_note;      /* HTML (trusted) shown when no series has data */
    rep_data_fn data;            /* NULL: dump the query's rows as they are */
    rep_clause_fn clause;
    rep_setup_fn setup;          /* may be NULL */
    const char *settings;        /* extra literal gnuplot lines, may be NULL */
    bool per_series;             /* one plot per series (NAME_K.gp) */
    char log_axis;               /* the axis --log-scale NAME makes logarithmic: 'x' (the
                                  * delay CDFs), 'y' (the others) */
} rep_plot_def;

typedef struct rep_plot_result {
    const rep_plot_def *def;
    char name[64];    /* file stem: "connections", "events_2" */
    char title[320];
    int series;       /* per-series plots: the series index, else -1 */
    plot_status status;
    bool has_data[REP_SERIES_MAX];
    bool log_scale;   /* --log-scale named this plot */
    char note[2048];  /* HTML (escaped) shown under the plot, e.g. the clipped outliers */
} rep_plot_result;

typedef struct rep_ctx {
    const rep_options *opts;
    uint32_t buckets;
    sqlite3 *dbs[REP_SERIES_MAX];
    size_t db_open;
    rep_series series[REP_SERIES_MAX];
    uint32_t nseries;
    rep_plot_result results[REP_PLOTS_MAX];
    uint32_t nresults;
    /* event kinds of the series being written (events plot) */
    char kinds[REP_KINDS_SHOWN + 1][REP_KIND_NAME_MAX];
    uint32_t nkinds;
    char *err;
    size_t errlen;
    rep_summary *sum;
} rep_ctx;

/* ---------------------------------------------------------------------------------- */
/* Small helpers                                                                       */

__attribute__((format(printf, 3, 4))) static rep_err fail(rep_ctx *c, rep_err e,
                                                          const char *fmt, ...) {
    if (c->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return e;
}

const char *rep_strerror(rep_err err) {
    switch (err) {
    case REP_OK: return "ok";
    case REP_ERR_USAGE: return "bad options";
    case REP_ERR_INPUT: return "bad results database";
    case REP_ERR_OUTPUT: return "cannot write the report";
    case REP_ERR_GNUPLOT_MISSING: return "gnuplot cannot be started";
    case REP_ERR_GNUPLOT_FAILED: return "gnuplot failed on a plot";
    case REP_ERR_NOMEM: return "out of memory";
    }
    return "unknown error";
}

void rep_options_default(rep_options *opts) {
    memset(opts, 0, sizeof *opts);
    opts->gnuplot = "gnuplot";
    opts->buckets = REP_BUCKETS_DEFAULT;
    opts->min_connections = -1;
    opts->render = true;
}

uint32_t rep_percentile(const uint32_t *hist, uint32_t values, uint64_t total, uint32_t pct) {
    uint64_t rank = (pct * total + 99) / 100;
    if (rank == 0) rank = 1;
    uint64_t cum = 0;
    for (uint32_t v = 0; v < values; v++) {
        cum += hist[v];
        if (cum >= rank) return v;
    }
    return values == 0 ? 0 : values - 1;
}

void rep_html_escape(FILE *out, const char *s) {
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

void rep_gp_escape(FILE *out, const char *s) {
    for (; s != NULL && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\'')
            fputs("''", out);
        else if (ch < 0x20 || ch == 0x7f)
            fputc('?', out);
        else
            fputc(ch, out);
    }
}

/* Text from a database or the command line inside a comment or a header line of a
 * generated file: one line, control characters replaced. */
static void put_line_safe(FILE *out, const char *s) {
    for (; s != NULL && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        fputc(ch < 0x20 || ch == 0x7f ? '?' : ch, out);
    }
}

/* An identifier-like word for a data file's column header: blanks and controls -> '_'. */
static void put_word_safe(FILE *out, const char *s) {
    for (; s != NULL && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        fputc(ch <= ' ' || ch == 0x7f ? '_' : ch, out);
    }
}

static bool path_join(rep_ctx *c, char *out, const char *name) {
    int n = snprintf(out, REP_PATH_MAX, "%s/%s", c->opts->out_dir, name);
    return n > 0 && n < REP_PATH_MAX;
}

static rep_err open_out(rep_ctx *c, const char *name, FILE **f) {
    char path[REP_PATH_MAX];
    if (!path_join(c, path, name))
        return fail(c, REP_ERR_OUTPUT, "%s/%s: path too long; choose a shorter --out",
                    c->opts->out_dir, name);
    *f = fopen(path, "w");
    if (*f == NULL)
        return fail(c, REP_ERR_OUTPUT, "%s: cannot write (%s); check --out and its permissions",
                    path, strerror(errno));
    return REP_OK;
}

static rep_err close_out(rep_ctx *c, const char *name, FILE *f) {
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0) bad = true;
    if (bad)
        return fail(c, REP_ERR_OUTPUT, "%s/%s: write failed (disk full?); free space and rerun",
                    c->opts->out_dir, name);
    return REP_OK;
}

static void remove_out(rep_ctx *c, const char *name) {
    char path[REP_PATH_MAX];
    if (path_join(c, path, name)) unlink(path);
}

/* mkdir -p */
static rep_err make_dirs(rep_ctx *c, const char *dir) {
    char path[REP_PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path)
        return fail(c, REP_ERR_USAGE, "--out: empty or too long directory name");
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return fail(c, REP_ERR_OUTPUT, "%s: cannot create the directory (%s)", path,
                        strerror(errno));
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(c, REP_ERR_OUTPUT, "--out %s: exists and is not a directory; choose another",
                    dir);
    return REP_OK;
}

static char *column_text(sqlite3_stmt *st, int col) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return NULL;
    return sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, col));
}

static void bind_series(rep_ctx *c, sqlite3_stmt *st, const rep_series *s) {
    const struct {
        const char *name;
        int64_t value;
    } params[] = {
        {":run", s->run_id},
        {":buckets", (int64_t)c->buckets},
        {":width", s->width_ns},
        {":delay_width", s->delay_width_ns},
        {":min", s->min_connections},
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        int idx = sqlite3_bind_parameter_index(st, params[i].name);
        if (idx > 0) sqlite3_bind_int64(st, idx, params[i].value);
    }
}

static rep_err prepare(rep_ctx *c, const rep_series *s, const char *sql, sqlite3_stmt **st) {
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        rep_err e = fail(c, REP_ERR_INPUT,
                         "%s: a report query failed (%s); is it a results database of "
                         "schema version " REP_SCHEMA_VERSION "?",
                         s->db_path, sqlite3_errmsg(s->db));
        sqlite3_finalize(*st);
        *st = NULL;
        return e;
    }
    bind_series(c, *st, s);
    return REP_OK;
}

static rep_err step_error(rep_ctx *c, const rep_series *s, sqlite3_stmt *st) {
    rep_err e = fail(c, REP_ERR_INPUT, "%s: reading run %" PRId64 " failed (%s)", s->db_path,
                     s->run_id, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return e;
}

/* One value in a data file: integers as they are, reals with 9 significant digits,
 * NULL as NaN (gnuplot skips it), text with blanks replaced. */
static void write_value(FILE *out, sqlite3_stmt *st, int col) {
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER: fprintf(out, "%lld", (long long)sqlite3_column_int64(st, col)); break;
    case SQLITE_FLOAT: fprintf(out, "%.9g", sqlite3_column_double(st, col)); break;
    case SQLITE_NULL: fputs("NaN", out); break;
    default: {
        const unsigned char *t = sqlite3_column_text(st, col);
        if (t == NULL || *t == '\0') fputs("-", out);
        for (; t != NULL && *t; t++) fputc(*t <= ' ' ? '_' : *t, out);
    }
    }
}

static rep_err dump_query(rep_ctx *c, const rep_plot_def *p, rep_series *s, FILE *out,
                          uint64_t *rows) {
    sqlite3_stmt *st = NULL;
    rep_err e = prepare(c, s, p->sql, &st);
    if (e != REP_OK) return e;
    int cols = sqlite3_column_count(st);
    fputc('#', out);
    for (int i = 0; i < cols; i++) {
        fputc(' ', out);
        put_word_safe(out, sqlite3_column_name(st, i));
    }
    fputc('\n', out);
    uint64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < cols; i++) {
            if (i > 0) fputc(' ', out);
            write_value(out, st, i);
        }
        fputc('\n', out);
        n++;
    }
    if (rc != SQLITE_DONE) return step_error(c, s, st);
    sqlite3_finalize(st);
    *rows = n;
    return REP_OK;
}

static double seconds(int64_t ns) { return (double)ns / 1e9; }

/* ---------------------------------------------------------------------------------- */
/* Plot data that needs C after the query                                              */

/* connections per node: replay the sparse degree changes bucket by bucket over every
 * node created so far; p5/p50/p95 (nearest rank) and mean across those nodes. */
static rep_err connections_data(rep_ctx *c, const rep_plot_def *p, rep_series *s, FILE *out,
                                uint64_t *rows) {
    sqlite3_stmt *st = NULL;
    rep_err e = prepare(c, s, REP_SQL_CONNECTIONS_NODES, &st);
    if (e != REP_OK) return e;
    size_t cap = 0, nodes_len = 0;
    int64_t *created = NULL; /* created bucket per node index, -1: no such node */
    int64_t *degree = NULL;
    uint32_t *hist = NULL;
    uint32_t hist_len = 0;
    int rc;
    e = REP_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t node = sqlite3_column_int64(st, 0);
        if (node < 0 || node > 100000000) continue; /* not a host index: ignore */
        size_t need = (size_t)node + 1;
        if (need > cap) {
            size_t ncap = cap ? cap : 1024;
            while (ncap < need) ncap *= 2;
            int64_t *nc = realloc(created, ncap * sizeof *nc);
            if (nc == NULL) goto nomem;
            created = nc;
            int64_t *nd = realloc(degree, ncap * sizeof *nd);
            if (nd == NULL) goto nomem;
            degree = nd;
            for (size_t i = cap; i < ncap; i++) created[i] = -1, degree[i] = 0;
            cap = ncap;
        }
        created[node] = sqlite3_column_int64(st, 1);
        if (need > nodes_len) nodes_len = need;
    }
    if (rc != SQLITE_DONE) {
        e = step_error(c, s, st);
        st = NULL;
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    e = prepare(c, s, p->sql, &st);
    if (e != REP_OK) goto done;
    fprintf(out, "# seconds nodes p5 p50 p95 mean\n");
    uint64_t changes = 0, written = 0;
    rc = sqlite3_step(st);
    for (int64_t b = 0; b < (int64_t)c->buckets; b++) {
        while (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) <= b) {
            int64_t node = sqlite3_column_int64(st, 1);
            if (node >= 0 && (size_t)node < nodes_len && created[node] >= 0)
                degree[node] += sqlite3_column_int64(st, 2);
            changes++;
            rc = sqlite3_step(st);
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            e = step_error(c, s, st);
            st = NULL;
            goto done;
        }
        uint64_t count = 0, sum = 0;
        uint32_t max_degree = 0;
        for (size_t i = 0; i < nodes_len; i++) {
            if (created[i] < 0 || created[i] > b) continue;
            uint32_t d = degree[i] < 0 ? 0 : degree[i] > UINT32_MAX - 1 ? UINT32_MAX - 1
                                                                         : (uint32_t)degree[i];
            if (d > max_degree) max_degree = d;
        }
        if (max_degree + 1 > hist_len) {
            uint32_t *nh = realloc(hist, (size_t)(max_degree + 1) * sizeof *nh);
            if (nh == NULL) goto nomem;
            hist = nh;
            hist_len = max_degree + 1;
        }
        memset(hist, 0, (size_t)hist_len * sizeof *hist);
        for (size_t i = 0; i < nodes_len; i++) {
            if (created[i] < 0 || created[i] > b) continue;
            uint32_t d = degree[i] < 0 ? 0 : (uint32_t)degree[i];
            if (d > max_degree) d = max_degree;
            hist[d]++;
            count++;
            sum += d;
        }
        if (count == 0) continue;
        fprintf(out, "%.9g %" PRIu64 " %" PRIu32 " %" PRIu32 " %" PRIu32 " %.9g\n",
                seconds((b + 1) * s->width_ns), count,
                rep_percentile(hist, max_degree + 1, count, 5),
                rep_percentile(hist, max_degree + 1, count, 50),
                rep_percentile(hist, max_degree + 1, count, 95), (double)sum / (double)count);
        written++;
    }
    *rows = changes == 0 ? 0 : written;
    goto done;
nomem:
    e = fail(c, REP_ERR_NOMEM, "out of memory while reading connections of %s", s->db_path);
done:
    sqlite3_finalize(st);
    free(created);
    free(degree);
    free(hist);
    return e;
}

/* event kinds: the 8 most frequent kinds and 'other', events per second per bucket. */
static rep_err events_data(rep_ctx *c, const rep_plot_def *p, rep_series *s, FILE *out,
                           uint64_t *rows) {
    sqlite3_stmt *st = NULL;
    rep_err e = prepare(c, s, REP_SQL_EVENT_KINDS, &st);
    if (e != REP_OK) return e;
    c->nkinds = 0;
    bool other = false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (c->nkinds == REP_KINDS_SHOWN) {
            other = true;
            continue;
        }
        snprintf(c->kinds[c->nkinds++], REP_KIND_NAME_MAX, "%s",
                 (const char *)sqlite3_column_text(st, 0));
    }
    if (rc != SQLITE_DONE) return step_error(c, s, st);
    sqlite3_finalize(st);
    st = NULL;
    if (c->nkinds == 0) {
        *rows = 0;
        return REP_OK;
    }
    uint32_t columns = c->nkinds + (other ? 1 : 0);
    if (other) snprintf(c->kinds[c->nkinds], REP_KIND_NAME_MAX, "other");
    uint64_t *counts = calloc((size_t)c->buckets * columns, sizeof *counts);
    if (counts == NULL) return fail(c, REP_ERR_NOMEM, "out of memory (event kinds)");
    e = prepare(c, s, p->sql, &st);
    if (e != REP_OK) {
        free(counts);
        return e;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t b = sqlite3_column_int64(st, 0);
        if (b < 0 || b >= (int64_t)c->buckets) continue;
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        uint32_t col = columns - 1; /* 'other' unless found */
        for (uint32_t i = 0; i < c->nkinds; i++)
            if (kind != NULL && strncmp(kind, c->kinds[i], REP_KIND_NAME_MAX - 1) == 0) {
                col = i;
                break;
            }
        counts[(size_t)b * columns + col] += (uint64_t)sqlite3_column_int64(st, 2);
    }
    if (rc != SQLITE_DONE) {
        free(counts);
        return step_error(c, s, st);
    }
    sqlite3_finalize(st);
    c->nkinds = columns;
    fputs("# seconds", out);
    for (uint32_t i = 0; i < columns; i++) {
        fputc(' ', out);
        put_word_safe(out, c->kinds[i]);
        fputs("_per_s", out);
    }
    fputc('\n', out);
    double width_s = seconds(s->width_ns);
    for (uint32_t b = 0; b < c->buckets; b++) {
        fprintf(out, "%.9g", seconds((int64_t)(b + 1) * s->width_ns));
        for (uint32_t i = 0; i < columns; i++)
            fprintf(out, " %.9g", (double)counts[(size_t)b * columns + i] / width_s);
        fputc('\n', out);
    }
    free(counts);
    *rows = c->buckets;
    return REP_OK;
}

/* ---------------------------------------------------------------------------------- */
/* gnuplot clauses                                                                     */

static void clause_start(FILE *gp, bool *first) {
    fputs(*first ? "plot \\\n    " : ", \\\n    ", gp);
    *first = false;
}

static void title(FILE *gp, const rep_series *s, const char *suffix) {
    fputs(" title '", gp);
    rep_gp_escape(gp, s->label);
    if (suffix != NULL) rep_gp_escape(gp, suffix);
    fputc('\'', gp);
}

static void connections_clause(rep_ctx *c, FILE *gp, const char *dat, uint32_t k,
                               const rep_series *s, bool *first) {
    clause_start(gp, first);
    fprintf(gp, "'%s' using 1:3:5 with filledcurves lc %" PRIu32
                " fs transparent solid 0.2 notitle, \\\n    ",
            dat, k);
    fprintf(gp, "'%s' using 1:4 with lines lc %" PRIu32, dat, k);
    title(gp, s, NULL);
}

static void degree_clause(rep_ctx *c, FILE *gp, const char *dat, uint32_t k,
                          const rep_series *s, bool *first) {
    clause_start(gp, first);
    fprintf(gp, "'%s' using 1:3 with boxes lc %" PRIu32 " fs transparent solid 0.35", dat, k);
    title(gp, s, NULL);
}

static void steps_clause(rep_ctx *c, FILE *gp, const char *dat, uint32_t k,
                         const rep_series *s, bool *first) {
    clause_start(gp, first);
    fprintf(gp, "'%s' using 1:2 with steps lc %" PRIu32, dat, k);
    title(gp, s, NULL);
}

static void bootstrap_clause(rep_ctx *c, FILE *gp, const char *dat, uint32_t k,
                             const rep_series *s, bool *first) {
    char suffix[48];
    snprintf(suffix, sizeof suffix, " (min %" PRId64 ")", s->min_connections);
    clause_start(gp, first);
    fprintf(gp, "'%s' using 1:2 with steps lc %" PRIu32, dat, k);
    title(gp, s, suffix);
}

static void lines_clause(rep_ctx *c, FILE *gp, const char *dat, uint32_t k,
                         const rep_series *s, bool *first) {
    clause_start(gp, first);
    fprintf(gp, "'%s' using 1:2 with lines lc %" PRIu32, dat, k);
    title(gp, s, NULL);
}

static void bandwidth_clause(rep_ctx *c, FILE *gp, const char *dat, uint32_t k,
                             const rep_series *s, bool *first) {
    clause_start(gp, first);
    fprintf(gp, "'%s' using 1:($2/1000) with lines lc %" PRIu32 " dt 1", dat, k);
    title(gp, s, " in");
    fprintf(gp, ", \\\n    '%s' using 1:($3/1000) with lines lc %" PRIu32 " dt 2", dat, k);
    title(gp, s, " out");
}

static void blocks_clause(rep_ctx *c, FILE *gp, const char *dat, uint32_t k,
                          const rep_series *s, bool *first) {
    static const char *const fractions[] = {" 50%", " 90%", " 99%", " 100%"};
    for (int i = 0; i < 4; i++) {
        clause_start(gp, first);
        fprintf(gp, "'%s' using 1:%d with linespoints lc %" PRIu32 " dt %d", dat, i + 2, k,
                i + 1);
        title(gp, s, fractions[i]);
    }
}

static void bans_clause(rep_ctx *c, FILE *gp, const char *dat, uint32_t k,
                        const rep_series *s, bool *first) {
    static const char *const kinds[] = {" greylist_ip", " greylist_peer", " ban"};
    for (int i = 0; i < 3; i++) {
        clause_start(gp, first);
        fprintf(gp, "'%s' using 1:%d with steps lc %" PRIu32 " dt %d", dat, i + 2, k, i + 1);
        title(gp, s, kinds[i]);
    }
}

static void events_clause(rep_ctx *c, FILE *gp, const char *dat, uint32_t k,
                          const rep_series *s, bool *first) {
    for (uint32_t i = 0; i < c->nkinds; i++) {
        clause_start(gp, first);
        fprintf(gp, "'%s' using 1:%" PRIu32 " with lines lc %" PRIu32 " title '", dat, i + 2,
                i + 1);
        rep_gp_escape(gp, c->kinds[i]);
        fputc('\'', gp);
    }
}

/* The colours of linetypes 1..12 (series k + 1 is drawn in series_colors[k % 12]). */
static const char *const series_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                            "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                            "#bcbd22", "#17becf", "#393b79", "#637939"};
#define REP_COLORS (sizeof series_colors / sizeof series_colors[0])

/* Whether a series has any 'fault_active' sample (so it gets a strip of its own). */
static rep_err has_faults(rep_ctx *c, rep_series *s, bool *any) {
    sqlite3_stmt *st = NULL;
    rep_err e = prepare(c, s, REP_SQL_FAULTS, &st);
    if (e != REP_OK) return e;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return step_error(c, s, st);
    *any = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    return REP_OK;
}

static void fault_rect(FILE *gp, uint32_t *object, int64_t from_ns, int64_t to_ns, double y0,
                       double y1, const char *fill) {
    fprintf(gp, "set object %" PRIu32 " rect from %.9g, graph %.9g to %.9g, graph %.9g %s\n",
            (*object)++, seconds(from_ns), y0, seconds(to_ns), y1, fill);
}

/* components: shade the windows where a series' 'fault_active' sample is > 0. One run
 * with fault samples: its windows span the plot's height. Several: each run's windows
 * fill its own horizontal strip (the first such run at the bottom), in the run's
 * colour, so overlaid runs' faults stay apart even when they coincide. */
static rep_err components_setup(rep_ctx *c, FILE *gp, rep_plot_result *r) {
    bool faulty[REP_SERIES_MAX] = {0};
    uint32_t strips = 0;
    for (uint32_t k = 0; k < c->nseries; k++) {
        if (!r->has_data[k]) continue;
        rep_err e = has_faults(c, &c->series[k], &faulty[k]);
        if (e != REP_OK) return e;
        if (faulty[k]) strips++;
    }
    uint32_t object = 1, strip = 0;
    for (uint32_t k = 0; k < c->nseries; k++) {
        if (!faulty[k]) continue;
        rep_series *s = &c->series[k];
        char fill[96];
        double y0 = 0, y1 = 1;
        if (strips == 1) {
            snprintf(fill, sizeof fill, "behind fc rgb '#f4c7c3' fs solid 0.5 noborder");
        } else {
            snprintf(fill, sizeof fill, "behind fc rgb '%s' fs transparent solid 0.25 noborder",
                     series_colors[k % REP_COLORS]);
            y0 = (double)strip / strips;
            y1 = (double)(strip + 1) / strips;
            strip++;
        }
        sqlite3_stmt *st = NULL;
        rep_err e = prepare(c, s, REP_SQL_FAULTS, &st);
        if (e != REP_OK) return e;
        int64_t start = -1;
        uint32_t windows = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && windows < REP_FAULT_WINDOWS_MAX) {
            int64_t t = sqlite3_column_int64(st, 0);
            bool active = sqlite3_column_double(st, 1) > 0;
            if (active && start < 0) start = t;
            if (!active && start >= 0) {
                fault_rect(gp, &object, start, t, y0, y1, fill);
                windows++;
                start = -1;
            }
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) return step_error(c, s, st);
        sqlite3_finalize(st);
        if (start >= 0) fault_rect(gp, &object, start, s->duration_ns, y0, y1, fill);
    }
    if (strips > 1) {
        snprintf(r->note, sizeof r->note,
                 "Fault windows of %" PRIu32 " runs: each run's in its own horizontal strip "
                 "(the first at the bottom), in its colour.",
                 strips);
    }
    return REP_OK;
}

/* Clipping a delay axis at the p99.9 of the plotted delays (nearest rank, per series;
 * the axis ends at the largest over the series). sql_p999 returns one row, the p99.9
 * in ms (NULL: no values); sql_beyond, given :clip (ms), the count of plotted delays
 * above it and the largest. When some delay lies beyond, the axis is set to [0:clip]
 * (log scale: [*:clip]), a label on the plot says how many and the latest, and the
 * page's note says it per series. */
static rep_err clip_axis(rep_ctx *c, FILE *gp, rep_plot_result *r, const char *sql_p999,
                         const char *sql_beyond, char axis, const char *one,
                         const char *many) {
    double clip = 0;
    bool have = false;
    for (uint32_t k = 0; k < c->nseries; k++) {
        if (!r->has_data[k]) continue;
        sqlite3_stmt *st = NULL;
        rep_err e = prepare(c, &c->series[k], sql_p999, &st);
        if (e != REP_OK) return e;
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return step_error(c, &c->series[k], st);
        if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
            double v = sqlite3_column_double(st, 0);
            if (!have || v > clip) clip = v;
            have = true;
        }
        sqlite3_finalize(st);
    }
    if (!have) return REP_OK;
    int64_t counts[REP_SERIES_MAX] = {0};
    double latest[REP_SERIES_MAX] = {0};
    int64_t total = 0;
    double latest_all = 0;
    for (uint32_t k = 0; k < c->nseries; k++) {
        if (!r->has_data[k]) continue;
        sqlite3_stmt *st = NULL;
        rep_err e = prepare(c, &c->series[k], sql_beyond, &st);
        if (e != REP_OK) return e;
        int idx = sqlite3_bind_parameter_index(st, ":clip");
        if (idx > 0) sqlite3_bind_double(st, idx, clip);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return step_error(c, &c->series[k], st);
        if (rc == SQLITE_ROW) {
            counts[k] = sqlite3_column_int64(st, 0);
            latest[k] = sqlite3_column_double(st, 1);
        }
        sqlite3_finalize(st);
        total += counts[k];
        if (counts[k] > 0 && latest[k] > latest_all) latest_all = latest[k];
    }
    if (total == 0) return REP_OK;
    fprintf(gp, "# the axis ends at the p99.9 of the plotted delays (%.9g ms)\n", clip);
    fprintf(gp, "set %crange [%s:%.9g]\n", axis, r->log_scale && r->def->log_axis == axis ? "*" : "0",
            clip);
    fprintf(gp, "set style textbox opaque noborder\n");
    fprintf(gp, "set label 101 '%" PRId64 " %s beyond the axis (the p99.9), the latest at %.9g "
                "ms' at graph 0.99, graph %s right front boxed\n",
            total, total == 1 ? one : many, latest_all, axis == 'x' ? "0.04" : "0.96");
    size_t len = (size_t)snprintf(r->note, sizeof r->note,
                                  "Axis clipped at %.9g ms, the p99.9 of the plotted delays "
                                  "(the largest over the runs). Beyond it:",
                                  clip);
    bool first = true;
    for (uint32_t k = 0; k < c->nseries && len < sizeof r->note; k++) {
        if (counts[k] == 0) continue;
        FILE *m = fmemopen(r->note + len, sizeof r->note - len, "w");
        if (m == NULL) break;
        fputs(first ? " " : "; ", m);
        rep_html_escape(m, c->series[k].label);
        fprintf(m, ": %" PRId64 " %s, the latest at %.9g ms", counts[k],
                counts[k] == 1 ? one : many, latest[k]);
        fclose(m);
        r->note[sizeof r->note - 1] = '\0';
        len = strlen(r->note);
        first = false;
    }
    if (len + 1 < sizeof r->note) {
        r->note[len] = '.';
        r->note[len + 1] = '\0';
    }
    return REP_OK;
}

static rep_err propagation_setup(rep_ctx *c, FILE *gp, rep_plot_result *r) {
    return clip_axis(c, gp, r, REP_SQL_PROPAGATION_P999, REP_SQL_PROPAGATION_BEYOND, 'x',
                     "delivery", "deliveries");
}

static rep_err blocks_setup(rep_ctx *c, FILE *gp, rep_plot_result *r) {
    return clip_axis(c, gp, r, REP_SQL_BLOCKS_P999, REP_SQL_BLOCKS_BEYOND, 'y', "block time",
                     "block times");
}

static const rep_plot_def plot_defs[] = {
    {"connections", "connections per node over time (median, p5-p95 band)",
     "Each node's number of open connections (from the <code>connections</code> table), "
     "taken at the end of each time bucket over every node created so far: the line is "
     "the median, the band p5 to p95 across nodes.",
     "virtual time (s)", "connections per node", REP_SQL_CONNECTIONS,
     REP_SQL_CONNECTIONS_NODES,
     "the runs have no rows in <code>connections</code> (written at --log info and above).",
     connections_data, connections_clause, NULL, "set xrange [0:*]\nset yrange [0:*]", false,
     'y'},
    {"degree", "degree histogram at the end",
     "Open connections per node at the end of the run, as a fraction of all nodes.",
     "connections (degree)", "fraction of nodes", REP_SQL_DEGREE, NULL,
     "the runs have no nodes.", NULL, degree_clause, NULL,
     "set boxwidth 0.8\nset yrange [0:*]\nset xrange [-0.5:*]", false, 'y'},
    {"bootstrap", "time to bootstrap (min connections) CDF",
     "For each start of a node (its <code>node_started</code> events: the first start, a "
     "delayed <code>start()</code>, each restart; else its creation), the time until it "
     "first has at least <em>min</em> connections before its next start (<code>--min</code>, "
     "else the run's <code>min_conn</code> or <code>min</code> parameter, else 4); the "
     "fraction of all (re)starts that got there by then. Starts that never did keep the "
     "curve below 1.",
     "seconds after the node (re)started", "fraction of (re)starts", REP_SQL_BOOTSTRAP, NULL,
     "no node reached its minimum number of connections (or no <code>connections</code> "
     "rows).",
     NULL, bootstrap_clause, NULL, "set xrange [0:*]\nset yrange [0:1.05]", false, 'x'},
    {"components", "connected components over time",
     "Number of components of the overlay (sample <code>components</code>, written by "
     "<code>sim.sample_overlay</code>); the largest value in each time bucket, on a log "
     "scale (while nodes join, each new node is its own component: a later partition into "
     "2 to 4 components stays readable next to that). Shaded: fault windows (global sample "
     "<code>fault_active</code> &gt; 0); when several runs have them, each run's fill a "
     "horizontal strip of their own in the run's colour.",
     "virtual time (s)", "components (log scale)", REP_SQL_COMPONENTS, REP_SQL_FAULTS,
     "no <code>components</code> samples: call <code>sim.sample_overlay{every = \"1s\"}</code> "
     "in the scenario.",
     NULL, steps_clause, components_setup,
     "set xrange [0:*]\nset logscale y 2\nset yrange [0.9:*]", false, 'y'},
    {"coverage", "broadcast coverage over time",
     "Mean fraction of the other nodes that have received a broadcast message, by time "
     "since it was sent (<code>deliveries</code>: every message, every receiver).",
     "milliseconds since sent", "mean coverage", REP_SQL_COVERAGE, NULL,
     "no rows in <code>deliveries</code> (no broadcast workload in these runs).", NULL,
     lines_clause, NULL, "set xrange [0:*]\nset yrange [0:1.05]", false, 'x'},
    {"propagation", "propagation delay CDF",
     "Distribution of the delay from a message's origin to its first receipt at a node, "
     "over all deliveries. The delay axis ends at the p99.9 of the delays (the largest "
     "over the runs) when later deliveries exist; they are counted on the plot and below.",
     "delay (ms)", "fraction of deliveries", REP_SQL_PROPAGATION,
     "-- the axis clip (the p99.9) and the deliveries beyond it:\n" REP_SQL_PROPAGATION_P999
     REP_SQL_PROPAGATION_BEYOND,
     "no rows in <code>deliveries</code> (no broadcast workload in these runs).", NULL,
     steps_clause, propagation_setup, "set xrange [0:*]\nset yrange [0:1.05]", false, 'x'},
    {"blocks", "block propagation: time to 50 / 90 / 99 / 100 % of the nodes",
     "Per block (x: block id), the time from its production to its validation by 50, 90, "
     "99 and 100 % of the nodes running when it was produced, the producer included "
     "(<code>blocks</code> and <code>deliveries</code>; a missing point: never reached). "
     "The time axis ends at the p99.9 of the plotted times (the largest over the runs) "
     "when later ones exist; they are counted on the plot and below.",
     "block", "ms since produced", REP_SQL_BLOCKS,
     "-- the axis clip (the p99.9) and the times beyond it:\n" REP_SQL_BLOCKS_P999
     REP_SQL_BLOCKS_BEYOND,
     "no rows in <code>blocks</code> (no block workload in these runs).", NULL,
     blocks_clause, blocks_setup, "set xrange [*:*]\nset yrange [0:*]", false, 'y'},
    {"bandwidth", "bandwidth in and out (all nodes)",
     "Bytes per second received (solid) and sent (dashed), summed over nodes, from the "
     "cumulative samples <code>bytes_in</code> and <code>bytes_out</code>.",
     "virtual time (s)", "kB/s (all nodes)", REP_SQL_BANDWIDTH, NULL,
     "no <code>bytes_in</code> / <code>bytes_out</code> samples: the scenario must sample "
     "each node's cumulative byte counters periodically, e.g. <code>sample(\"bytes_in\", "
     "n:stat().bytes_in, n)</code> for tidepool nodes (<code>n:stats()</code> for demo "
     "nodes).",
     NULL, bandwidth_clause, NULL, "set xrange [0:*]\nset yrange [0:*]", false, 'y'},
    {"acl", "greylist and ban counts (cumulative)",
     "Cumulative number of <code>greylist_ip</code> (solid), <code>greylist_peer</code> "
     "(dashed) and <code>ban</code> (dotted) events.",
     "virtual time (s)", "events so far", REP_SQL_BANS, NULL,
     "no greylist or ban events in these runs.", NULL, bans_clause, NULL,
     "set xrange [0:*]\nset yrange [0:*]", false, 'y'},
    {"events", "event kinds over time",
     "Events per second of the 8 most frequent kinds (the rest as <code>other</code>), "
     "one plot per run.",
     "virtual time (s)", "events per second", REP_SQL_EVENTS, REP_SQL_EVENT_KINDS,
     "no rows in <code>events</code> (written at --log info and above).", events_data,
     events_clause, NULL, "set xrange [0:*]\nset yrange [0:*]", true, 'y'},
};

static const char *const figure_sql[] = {
    REP_SQL_FIG_NODES,       REP_SQL_FIG_CONNECTIONS, REP_SQL_FIG_DEGREE, REP_SQL_FIG_BOOTSTRAP,
    REP_SQL_FIG_COMPONENTS,  REP_SQL_FIG_DELIVERIES,  REP_SQL_FIG_T99,    REP_SQL_FIG_BLOCKS,
    REP_SQL_FIG_ACL,
    REP_SQL_FIG_CHECKS,
};

/* ---------------------------------------------------------------------------------- */
/* Databases and runs                                                                  */

/* Opens path read-only into *db (closed by the caller, even on error) and checks that it
 * is a results database of our schema version. */
static rep_err open_database(rep_ctx *c, const char *path, sqlite3 **db_out) {
    *db_out = NULL;
    if (access(path, R_OK) != 0)
        return fail(c, REP_ERR_INPUT,
                    "%s: cannot read (%s); results databases are written by "
                    "`tidepool sim SCENARIO.lua --db %s`",
                    path, strerror(errno), path);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    *db_out = db;
    if (rc != SQLITE_OK)
        return fail(c, REP_ERR_INPUT, "%s: cannot open as SQLite (%s)", path,
                    db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
                           NULL) != SQLITE_OK) {
        rep_err e = fail(c, REP_ERR_INPUT,
                         "%s: not a tidepool results database (%s); write one with "
                         "`tidepool sim SCENARIO.lua --db %s`",
                         path, sqlite3_errmsg(db), path);
        sqlite3_finalize(st);
        return e;
    }
    rc = sqlite3_step(st);
    const char *version = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (version != NULL && strcmp(version, "1") == 0) {
        rep_err e = fail(c, REP_ERR_INPUT,
                         "%s: results schema version 1, this tidepool reads version "
                         REP_SCHEMA_VERSION " (blocks, build identity); upgrade it in place "
                         "with `tidepool merge --upgrade %s`",
                         path, path);
        sqlite3_finalize(st);
        return e;
    }
    if (version == NULL || strcmp(version, REP_SCHEMA_VERSION) != 0) {
        rep_err e = fail(c, REP_ERR_INPUT,
                         "%s: results schema version %s, this tidepool reads version "
                         REP_SCHEMA_VERSION "; report it with the tidepool that wrote it",
                         path, version ? version : "(none)");
        sqlite3_finalize(st);
        return e;
    }
    sqlite3_finalize(st);
    return REP_OK;
}

static rep_err open_databases(rep_ctx *c) {
    const rep_options *o = c->opts;
    for (size_t i = 0; i < o->db_count; i++) {
        rep_err e = open_database(c, o->db_paths[i], &c->dbs[c->db_open]);
        if (c->dbs[c->db_open] != NULL) c->db_open++;
        if (e == REP_OK)
            e = rep_exclude_roles(c->dbs[c->db_open - 1], o->exclude_roles,
                                  o->exclude_role_count, c->err, c->errlen);
        if (e != REP_OK) return e;
    }
    return REP_OK;
}

rep_err rep_check_database(const char *path, char *errbuf, size_t errlen) {
    if (errlen > 0) errbuf[0] = '\0';
    rep_ctx c;
    memset(&c, 0, sizeof c);
    c.err = errbuf;
    c.errlen = errlen;
    sqlite3 *db = NULL;
    rep_err e = open_database(&c, path, &db);
    sqlite3_close(db);
    return e;
}

static int64_t scalar_i64(sqlite3 *db, const char *sql, int64_t run_id) {
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool run_selected(const rep_ctx *c, int64_t run_id) {
    if (c->opts->run_ids == NULL) return true;
    for (size_t i = 0; i < c->opts->run_id_count; i++)
        if (c->opts->run_ids[i] == run_id) return true;
    return false;
}

/* The value of parameter `key` of series s as text, or NULL (not set / not JSON). The
 * result is sqlite3_malloc'd. */
static char *series_param(const rep_series *s, const char *key) {
    if (s->parameters == NULL) return NULL;
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT CAST(value AS TEXT) FROM json_each(?1)"
                           " WHERE json_valid(?1) AND key = ?2 AND type NOT IN ('object', 'array')",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, s->parameters, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            v = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return v;
}

/* Appends to every label the parameters whose values differ between the series (keys
 * in sorted order), so a sweep or a baseline/variant pair tells its curves apart. */
static void label_differing_params(rep_ctx *c) {
    if (c->nseries < 2) return;
    for (uint32_t k = 0; k < c->nseries; k++) {
        rep_series *s = &c->series[k];
        if (s->parameters == NULL) continue;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db,
                               "SELECT key FROM json_each(?1) WHERE json_valid(?1)"
                               " AND type NOT IN ('object', 'array') ORDER BY key",
                               -1, &st, NULL) != SQLITE_OK) {
            sqlite3_finalize(st);
            continue;
        }
        sqlite3_bind_text(st, 1, s->parameters, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *key = (const char *)sqlite3_column_text(st, 0);
            char *mine = series_param(s, key);
            bool differs = false;
            for (uint32_t j = 0; j < c->nseries && !differs; j++) {
                if (j == k) continue;
                char *other = series_param(&c->series[j], key);
                differs = other == NULL || mine == NULL || strcmp(other, mine) != 0;
                sqlite3_free(other);
            }
            size_t len = strlen(s->label);
            if (differs && mine != NULL && len + 1 < sizeof s->label)
                snprintf(s->label + len, sizeof s->label - len, " %s=%s", key, mine);
            sqlite3_free(mine);
        }
        sqlite3_finalize(st);
    }
}

static rep_err load_runs(rep_ctx *c) {
    static const char *const sql =
        "SELECT id, seed, scenario, parameters, code_version, log_level, started_at, command,"
        " trace_hash, wall_time_s, virtual_time_ns, events_executed, verdict, message,"
        " CASE WHEN json_valid(parameters) THEN COALESCE(json_extract(parameters, '$.min_conn'),"
        " json_extract(parameters, '$.min')) END,"
        " (SELECT COUNT(*) FROM runs)"
        " FROM runs ORDER BY id";
    for (size_t i = 0; i < c->db_open; i++) {
        sqlite3 *db = c->dbs[i];
        const char *path = c->opts->db_paths[i];
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            rep_err e = fail(c, REP_ERR_INPUT, "%s: cannot read its runs (%s)", path,
                             sqlite3_errmsg(db));
            sqlite3_finalize(st);
            return e;
        }
        uint32_t found = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (!run_selected(c, sqlite3_column_int64(st, 0))) continue;
            if (c->nseries == REP_SERIES_MAX) {
                sqlite3_finalize(st);
                return fail(c, REP_ERR_USAGE,
                            "more than %d runs in the given databases; report at most %d "
                            "at a time (pick runs with --runs ID,ID,... or split the "
                            "databases)",
                            REP_SERIES_MAX, REP_SERIES_MAX);
            }
            rep_series *s = &c->series[c->nseries++];
            memset(s, 0, sizeof *s);
            s->db = db;
            s->db_path = path;
            s->run_id = sqlite3_column_int64(st, 0);
            s->seed = sqlite3_column_int64(st, 1);
            s->scenario = column_text(st, 2);
            s->parameters = column_text(st, 3);
            s->code_version = column_text(st, 4);
            s->log_level = column_text(st, 5);
            s->started_at = column_text(st, 6);
            s->command = column_text(st, 7);
            s->trace_hash = column_text(st, 8);
            if (sqlite3_column_type(st, 9) != SQLITE_NULL)
                s->wall_time_s = sqlite3_mprintf("%.3f", sqlite3_column_double(st, 9));
            if (sqlite3_column_type(st, 10) != SQLITE_NULL)
                s->virtual_time_s = sqlite3_mprintf("%.3f", seconds(sqlite3_column_int64(st, 10)));
            s->events_executed = column_text(st, 11);
            s->verdict = column_text(st, 12);
            s->message = column_text(st, 13);
            int64_t runs_in_db = sqlite3_column_int64(st, 15);
            if (c->opts->min_connections >= 0)
                s->min_connections = c->opts->min_connections;
            else if (sqlite3_column_type(st, 14) == SQLITE_INTEGER ||
                     sqlite3_column_type(st, 14) == SQLITE_FLOAT)
                s->min_connections = sqlite3_column_int64(st, 14);
            else
                s->min_connections = 4;
            if (runs_in_db > 1)
                snprintf(s->label, sizeof s->label, "%s #%" PRId64 " seed %" PRId64,
                         base_name(path), s->run_id, s->seed);
            else
                snprintf(s->label, sizeof s->label, "%s seed %" PRId64, base_name(path),
                         s->seed);
            int64_t vt = sqlite3_column_type(st, 10) == SQLITE_NULL ? 0
                                                                    : sqlite3_column_int64(st, 10);
            if (vt <= 0) {
                /* unfinished run: the last time anything happened */
                int64_t t = scalar_i64(db, "SELECT MAX(time_ns) FROM samples WHERE run_id = ?1",
                                       s->run_id);
                int64_t t2 = scalar_i64(db, "SELECT MAX(MAX(opened_ns), COALESCE(MAX(closed_ns), 0))"
                                            " FROM connections WHERE run_id = ?1", s->run_id);
                int64_t t3 = scalar_i64(db, "SELECT MAX(time_ns) FROM events WHERE run_id = ?1",
                                        s->run_id);
                vt = t > t2 ? t : t2;
                if (t3 > vt) vt = t3;
            }
            if (vt <= 0) vt = 1000000000;
            s->duration_ns = vt;
            s->width_ns = (vt + c->buckets - 1) / c->buckets;
            if (s->width_ns < 1) s->width_ns = 1;
            int64_t dmax = scalar_i64(db, "SELECT MAX(delay_ns) FROM deliveries WHERE run_id = ?1",
                                      s->run_id);
            s->delay_width_ns = (dmax + c->buckets - 1) / c->buckets;
            if (s->delay_width_ns < 1) s->delay_width_ns = 1;
            found++;
        }
        if (rc != SQLITE_DONE) {
            rep_err e = fail(c, REP_ERR_INPUT, "%s: cannot read its runs (%s)", path,
                             sqlite3_errmsg(db));
            sqlite3_finalize(st);
            return e;
        }
        sqlite3_finalize(st);
        if (found == 0 && c->opts->run_ids != NULL)
            return fail(c, REP_ERR_INPUT,
                        "%s: holds none of the runs given with --runs; list its runs with "
                        "`sqlite3 %s 'SELECT id, seed, parameters FROM runs'`",
                        path, path);
        if (found == 0)
            return fail(c, REP_ERR_INPUT,
                        "%s: holds no runs; run a scenario into it first (`tidepool sim "
                        "SCENARIO.lua --db %s`)",
                        path, path);
    }
    return REP_OK;
}

static void free_series(rep_series *s) {
    char **fields[] = {&s->scenario,   &s->parameters,     &s->code_version,   &s->log_level,
                       &s->started_at, &s->command,        &s->trace_hash,     &s->verdict,
                       &s->message,    &s->wall_time_s,    &s->virtual_time_s, &s->events_executed};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        sqlite3_free(*fields[i]);
        *fields[i] = NULL;
    }
}

/* ---------------------------------------------------------------------------------- */
/* gnuplot                                                                             */

static const char *gnuplot_program(const rep_ctx *c) {
    return c->opts->gnuplot != NULL ? c->opts->gnuplot : "gnuplot";
}

static rep_err gnuplot_check(rep_ctx *c) {
    char version[sizeof c->sum->gnuplot_version] = "";
    char *argv[] = {(char *)gnuplot_program(c), (char *)"--version", NULL};
    rep_spawn_args a = {.argv = argv, .capture = version, .capture_len = sizeof version};
    int status = 0, err = 0;
    rep_err e = rep_spawn(&a, &status, &err);
    if (e == REP_ERR_GNUPLOT_MISSING)
        return fail(c, e,
                    "cannot run '%s' (%s): gnuplot draws the plots; install it "
                    "(Debian/Ubuntu: sudo apt-get install gnuplot-nox; macOS: brew install "
                    "gnuplot), point --gnuplot at it, or pass --no-plots to write the data, "
                    "scripts and index.html only",
                    gnuplot_program(c), strerror(err));
    if (e != REP_OK) return fail(c, e, "cannot start gnuplot: fork or pipe failed");
    if (status != 0 || strncmp(version, "gnuplot", 7) != 0)
        return fail(c, REP_ERR_GNUPLOT_MISSING,
                    "'%s --version' did not answer like gnuplot (exit %d); install gnuplot "
                    "(sudo apt-get install gnuplot-nox) or pass --no-plots",
                    gnuplot_program(c), status);
    version[strcspn(version, "\r\n")] = '\0';
    snprintf(c->sum->gnuplot_version, sizeof c->sum->gnuplot_version, "%s", version);
    return REP_OK;
}

/* Runs gnuplot NAME.gp in the output directory; stderr to NAME.log, kept on failure. */
static rep_err gnuplot_run(rep_ctx *c, const char *name, plot_status *status) {
    char script[128], log_name[128], log_path[REP_PATH_MAX];
    snprintf(script, sizeof script, "%s.gp", name);
    snprintf(log_name, sizeof log_name, "%s.log", name);
    if (!path_join(c, log_path, log_name))
        return fail(c, REP_ERR_OUTPUT, "%s: path too long", c->opts->out_dir);
    char *argv[] = {(char *)gnuplot_program(c), script, NULL};
    rep_spawn_args a = {.argv = argv, .cwd = c->opts->out_dir, .stderr_path = log_path};
    int exit_status = 0, err = 0;
    rep_err e = rep_spawn(&a, &exit_status, &err);
    if (e == REP_ERR_GNUPLOT_MISSING)
        return fail(c, e, "cannot run '%s' in %s (%s)", gnuplot_program(c), c->opts->out_dir,
                    strerror(err));
    if (e != REP_OK) return fail(c, e, "cannot start gnuplot: fork or pipe failed");
    struct stat st;
    bool quiet = stat(log_path, &st) == 0 && st.st_size == 0;
    if (exit_status == 0) {
        *status = PLOT_DRAWN;
        if (quiet) unlink(log_path);
    } else {
        *status = PLOT_FAILED;
    }
    return REP_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Plots                                                                               */

static rep_err write_sql_file(rep_ctx *c, const rep_plot_def *p) {
    char name[96];
    snprintf(name, sizeof name, "%s.sql", p->name);
    FILE *f = NULL;
    rep_err e = open_out(c, name, &f);
    if (e != REP_OK) return e;
    fprintf(f, "-- %s.sql: %s\n", p->name, p->title);
    fputs("-- The query behind the plot, as run by `tidepool report` for each series.\n"
          "-- Parameters per series (sqlite3 shell: -cmd \".parameter set :run 1\" ...):\n", f);
    for (uint32_t k = 0; k < c->nseries; k++) {
        const rep_series *s = &c->series[k];
        fprintf(f, "--   series %" PRIu32 " (", k + 1);
        put_line_safe(f, s->label);
        fprintf(f,
                "): :run = %" PRId64 ", :buckets = %" PRIu32 ", :width = %" PRId64
                ", :delay_width = %" PRId64 ", :min = %" PRId64 "\n",
                s->run_id, c->buckets, s->width_ns, s->delay_width_ns, s->min_connections);
    }
    fputc('\n', f);
    fputs(p->sql, f);
    if (p->sql_extra != NULL) {
        fputs("\n-- and, for this plot:\n", f);
        fputs(p->sql_extra, f);
    }
    return close_out(c, name, f);
}

static void gp_header(rep_ctx *c, FILE *gp, const rep_plot_def *p, const char *name,
                      const char *plot_title, bool log_scale) {
    const char *const *colors = series_colors;
    fprintf(gp, "# %s.gp: ", name);
    rep_gp_escape(gp, plot_title);
    fprintf(gp, "\n# written by tidepool report; data: %s_K.dat (one per series), query: "
                "%s.sql\n# redraw: gnuplot %s.gp (in this directory)\n",
            p->per_series ? name : p->name, p->name, name);
    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "    set terminal pngcairo size 960,540 noenhanced font 'sans,10'\n"
          "} else {\n"
          "    set terminal png size 960,540 noenhanced\n"
          "}\n",
          gp);
    fprintf(gp, "set output '%s.png'\n", name);
    for (size_t i = 0; i < REP_COLORS; i++)
        fprintf(gp, "set linetype %zu lc rgb '%s' lw 2\n", i + 1, colors[i]);
    fprintf(gp, "set linetype cycle %zu\n", REP_COLORS);
    fputs("set title '", gp);
    rep_gp_escape(gp, plot_title);
    fputs("'\nset xlabel '", gp);
    rep_gp_escape(gp, p->xlabel);
    fputs("'\nset ylabel '", gp);
    rep_gp_escape(gp, p->ylabel);
    fputs("'\nset grid\nset key below\nset offsets graph 0, graph 0, graph 0.05, graph 0\n", gp);
    if (p->settings != NULL) fprintf(gp, "%s\n", p->settings);
    if (log_scale && strstr(p->settings ? p->settings : "", "logscale") == NULL)
        fprintf(gp, "# --log-scale %s\nset logscale %c\nset %crange [*:*]\n", p->name,
                p->log_axis, p->log_axis);
}

static void gp_footer(FILE *gp, const char *name) {
    fprintf(gp,
            "\n"
            "set terminal svg size 960,540 noenhanced font 'sans,10' background '#ffffff'\n"
            "set output '%s.svg'\n"
            "replot\n"
            "unset output\n",
            name);
}

/* Whether the comma-separated list names plot `name` (NULL: no). */
static bool log_scale_named(const char *list, const char *name) {
    size_t len = strlen(name);
    for (const char *p = list; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, len) == 0) return true;
        p += n;
        if (*p == ',') p++;
    }
    return false;
}

rep_err rep_check_log_scale(const char *list, char *errbuf, size_t errlen) {
    if (errlen > 0) errbuf[0] = '\0';
    if (list == NULL) return REP_OK;
    const size_t ndefs = sizeof plot_defs / sizeof plot_defs[0];
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        bool known = false;
        for (size_t i = 0; i < ndefs && !known; i++)
            known = strlen(plot_defs[i].name) == n && strncmp(p, plot_defs[i].name, n) == 0;
        if (!known) {
            if (errlen == 0) return REP_ERR_USAGE;
            FILE *m = fmemopen(errbuf, errlen, "w");
            if (m == NULL) return REP_ERR_USAGE;
            if (n == 0)
                fputs("--log-scale: empty plot name in '", m);
            else
                fprintf(m, "--log-scale: unknown plot '%.*s' in '", (int)(n > 64 ? 64 : n), p);
            put_line_safe(m, list);
            fputs("'; plots:", m);
            for (size_t i = 0; i < ndefs; i++)
                fprintf(m, "%s %s", i ? "," : "", plot_defs[i].name);
            fputs(" (comma-separated)", m);
            fclose(m);
            errbuf[errlen - 1] = '\0';
            return REP_ERR_USAGE;
        }
        if (p[n] == '\0') return REP_OK;
        p += n + 1;
    }
}

/* Writes the data of series [k0, k1) for plot p under stem `name`, then the script and
 * the drawing. */
static rep_err do_plot(rep_ctx *c, const rep_plot_def *p, const char *name, const char *title_text,
                       uint32_t k0, uint32_t k1, int series) {
    if (c->nresults == REP_PLOTS_MAX) return fail(c, REP_ERR_USAGE, "too many plots");
    rep_plot_result *r = &c->results[c->nresults++];
    memset(r, 0, sizeof *r);
    r->def = p;
    r->series = series;
    r->log_scale = log_scale_named(c->opts->log_scale, p->name);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->title, sizeof r->title, "%s", title_text);
    bool any = false;
    for (uint32_t k = k0; k < k1; k++) {
        char dat[128];
        if (series >= 0)
            snprintf(dat, sizeof dat, "%s.dat", name);
        else
            snprintf(dat, sizeof dat, "%s_%" PRIu32 ".dat", name, k + 1);
        FILE *f = NULL;
        rep_err e = open_out(c, dat, &f);
        if (e != REP_OK) return e;
        fprintf(f, "# %s: ", dat);
        rep_gp_escape(f, c->series[k].label);
        fprintf(f, ", run %" PRId64 " of ", c->series[k].run_id);
        put_line_safe(f, base_name(c->series[k].db_path));
        fprintf(f, "; query: %s.sql\n", p->name);
        uint64_t rows = 0;
        e = p->data ? p->data(c, p, &c->series[k], f, &rows)
                    : dump_query(c, p, &c->series[k], f, &rows);
        rep_err e2 = close_out(c, dat, f);
        if (e != REP_OK) return e;
        if (e2 != REP_OK) return e2;
        if (rows == 0) {
            remove_out(c, dat);
        } else {
            r->has_data[k] = true;
            any = true;
        }
    }
    char gp_name[128], png[128], svg[128];
    snprintf(gp_name, sizeof gp_name, "%s.gp", name);
    snprintf(png, sizeof png, "%s.png", name);
    snprintf(svg, sizeof svg, "%s.svg", name);
    if (!any) {
        r->status = PLOT_EMPTY;
        remove_out(c, gp_name);
        remove_out(c, png);
        remove_out(c, svg);
        c->sum->plots_empty++;
        return REP_OK;
    }
    FILE *gp = NULL;
    rep_err e = open_out(c, gp_name, &gp);
    if (e != REP_OK) return e;
    gp_header(c, gp, p, name, title_text, r->log_scale);
    if (p->setup != NULL) {
        e = p->setup(c, gp, r);
        if (e != REP_OK) {
            fclose(gp);
            return e;
        }
    }
    bool first = true;
    for (uint32_t k = k0; k < k1; k++) {
        if (!r->has_data[k]) continue;
        char dat[128];
        if (series >= 0)
            snprintf(dat, sizeof dat, "%s.dat", name);
        else
            snprintf(dat, sizeof dat, "%s_%" PRIu32 ".dat", name, k + 1);
        p->clause(c, gp, dat, k + 1, &c->series[k], &first);
    }
    fputc('\n', gp);
    gp_footer(gp, name);
    e = close_out(c, gp_name, gp);
    if (e != REP_OK) return e;
    c->sum->plots++;
    if (!c->opts->render) {
        r->status = PLOT_NOT_DRAWN;
        return REP_OK;
    }
    e = gnuplot_run(c, name, &r->status);
    if (e != REP_OK) return e;
    if (r->status == PLOT_FAILED) c->sum->plots_failed++;
    return REP_OK;
}

static rep_err write_plots(rep_ctx *c) {
    for (size_t i = 0; i < sizeof plot_defs / sizeof plot_defs[0]; i++) {
        const rep_plot_def *p = &plot_defs[i];
        rep_err e = write_sql_file(c, p);
        if (e != REP_OK) return e;
        if (!p->per_series) {
            e = do_plot(c, p, p->name, p->title, 0, c->nseries, -1);
            if (e != REP_OK) return e;
            continue;
        }
        for (uint32_t k = 0; k < c->nseries; k++) {
            char name[64], title_text[320];
            snprintf(name, sizeof name, "%s_%" PRIu32, p->name, k + 1);
            snprintf(title_text, sizeof title_text, "%s: %s", p->title, c->series[k].label);
            e = do_plot(c, p, name, title_text, k, k + 1, (int)k);
            if (e != REP_OK) return e;
        }
    }
    return REP_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Key figures and index.html                                                          */

/* The series as reports/metrics.c needs them. */
static rep_metrics_ctx metrics_ctx(rep_ctx *c, rep_metric_series *ms) {
    for (uint32_t k = 0; k < c->nseries; k++)
        ms[k] = (rep_metric_series){.db = c->series[k].db,
                                    .run_id = c->series[k].run_id,
                                    .label = c->series[k].label,
                                    .width_ns = c->series[k].width_ns};
    return (rep_metrics_ctx){.out_dir = c->opts->out_dir,
                             .gnuplot = c->opts->gnuplot ? c->opts->gnuplot : "gnuplot",
                             .render = c->opts->render,
                             .buckets = c->buckets,
                             .series = ms,
                             .nseries = c->nseries,
                             .err = c->err,
                             .errlen = c->errlen};
}

static rep_err write_figures(rep_ctx *c, FILE *html) {
    FILE *f = NULL;
    rep_err e = open_out(c, "key_figures.sql", &f);
    if (e != REP_OK) return e;
    fputs("-- key_figures.sql: the key figures of index.html, one query per group; each\n"
          "-- returns one row, each column is one figure. Parameters: :run, :min (see any\n"
          "-- plot's .sql for the values per series).\n",
          f);
    for (size_t q = 0; q < sizeof figure_sql / sizeof figure_sql[0]; q++)
        fprintf(f, "\n%s", figure_sql[q]);
    e = close_out(c, "key_figures.sql", f);
    if (e != REP_OK) return e;

    fputs("<h2 id=\"figures\">Key figures</h2>\n<table>\n<tr><th>figure</th>", html);
    for (uint32_t k = 0; k < c->nseries; k++) {
        fputs("<th>", html);
        rep_html_escape(html, c->series[k].label);
        fputs("</th>", html);
    }
    fputs("</tr>\n", html);
    for (size_t q = 0; q < sizeof figure_sql / sizeof figure_sql[0]; q++) {
        sqlite3_stmt *st[REP_SERIES_MAX] = {0};
        int cols = 0;
        bool row[REP_SERIES_MAX] = {0};
        for (uint32_t k = 0; k < c->nseries; k++) {
            e = prepare(c, &c->series[k], figure_sql[q], &st[k]);
            if (e != REP_OK) goto fail_q;
            cols = sqlite3_column_count(st[k]);
            int rc = sqlite3_step(st[k]);
            if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
                e = fail(c, REP_ERR_INPUT, "%s: a key-figure query failed (%s)",
                         c->series[k].db_path, sqlite3_errmsg(c->series[k].db));
                goto fail_q;
            }
            row[k] = rc == SQLITE_ROW;
        }
        for (int col = 0; col < cols; col++) {
            fputs("<tr><td>", html);
            rep_html_escape(html, sqlite3_column_name(st[0], col));
            fputs("</td>", html);
            for (uint32_t k = 0; k < c->nseries; k++) {
                fputs("<td class=\"num\">", html);
                if (!row[k] || sqlite3_column_type(st[k], col) == SQLITE_NULL)
                    fputs("&ndash;", html);
                else
                    rep_html_escape(html, (const char *)sqlite3_column_text(st[k], col));
                fputs("</td>", html);
            }
            fputs("</tr>\n", html);
        }
    fail_q:
        for (uint32_t k = 0; k < c->nseries; k++) sqlite3_finalize(st[k]);
        if (e != REP_OK) return e;
    }
    rep_metric_series ms[REP_SERIES_MAX];
    rep_metrics_ctx mc = metrics_ctx(c, ms);
    e = rep_metrics_figure_rows(&mc, html);
    if (e != REP_OK) return e;
    int64_t mins[REP_SERIES_MAX];
    for (uint32_t k = 0; k < c->nseries; k++) mins[k] = c->series[k].min_connections;
    e = rep_roles_figure_rows(&mc, mins, html);
    if (e != REP_OK) return e;
    fputs("</table>\n<p class=\"files\">SQL: <a href=\"key_figures.sql\">key_figures.sql</a>; "
          "the sample() metrics' rows: their <a href=\"#metrics\">plots</a>' .sql</p>\n",
          html);
    return REP_OK;
}

static void html_cell(FILE *html, const char *text, bool code) {
    fputs("<td>", html);
    if (text == NULL) {
        fputs("&ndash;", html);
    } else {
        if (code) fputs("<code>", html);
        rep_html_escape(html, text);
        if (code) fputs("</code>", html);
    }
    fputs("</td>", html);
}

static void write_runs_table(rep_ctx *c, FILE *html) {
    fputs("<h2 id=\"runs\">Runs</h2>\n<table>\n<tr><th></th>", html);
    for (uint32_t k = 0; k < c->nseries; k++) {
        fprintf(html, "<th><span class=\"swatch s%" PRIu32 "\"></span>", k % 12 + 1);
        rep_html_escape(html, c->series[k].label);
        fputs("</th>", html);
    }
    fputs("</tr>\n", html);
    static const struct {
        const char *name;
        size_t offset;
        bool code;
    } rows[] = {
        {"scenario", offsetof(rep_series, scenario), true},
        {"verdict", offsetof(rep_series, verdict), false},
        {"message", offsetof(rep_series, message), false},
        {"trace hash", offsetof(rep_series, trace_hash), true},
        {"parameters", offsetof(rep_series, parameters), true},
        {"virtual time (s)", offsetof(rep_series, virtual_time_s), false},
        {"wall time (s)", offsetof(rep_series, wall_time_s), false},
        {"simulator events", offsetof(rep_series, events_executed), false},
        {"log level", offsetof(rep_series, log_level), false},
        {"code version", offsetof(rep_series, code_version), true},
        {"started at", offsetof(rep_series, started_at), false},
        {"replay", offsetof(rep_series, command), true},
    };
    fputs("<tr><td>database</td>", html);
    for (uint32_t k = 0; k < c->nseries; k++) {
        char run[32];
        snprintf(run, sizeof run, " run %" PRId64, c->series[k].run_id);
        fputs("<td><code>", html);
        rep_html_escape(html, c->series[k].db_path);
        fputs("</code>", html);
        rep_html_escape(html, run);
        fputs("</td>", html);
    }
    fputs("</tr>\n<tr><td>seed</td>", html);
    for (uint32_t k = 0; k < c->nseries; k++)
        fprintf(html, "<td>%" PRId64 "</td>", c->series[k].seed);
    fputs("</tr>\n", html);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fprintf(html, "<tr><td>%s</td>", rows[i].name);
        for (uint32_t k = 0; k < c->nseries; k++) {
            const char *text = *(char *const *)((const char *)&c->series[k] + rows[i].offset);
            if (strcmp(rows[i].name, "verdict") == 0 && text != NULL) {
                fputs("<td class=\"verdict-", html);
                rep_html_escape(html, text);
                fputs("\">", html);
                rep_html_escape(html, text);
                fputs("</td>", html);
            } else {
                html_cell(html, text, rows[i].code);
            }
        }
        fputs("</tr>\n", html);
    }
    fputs("</table>\n", html);
}

static void write_plot_section(rep_ctx *c, FILE *html, const rep_plot_result *r) {
    const rep_plot_def *p = r->def;
    fprintf(html, "<h2 id=\"%s\">", r->name);
    rep_html_escape(html, r->title);
    fprintf(html, "</h2>\n<p>%s</p>\n", p->caption);
    switch (r->status) {
    case PLOT_EMPTY:
        fprintf(html, "<p class=\"nodata\">No data: %s</p>\n", p->empty_note);
        fprintf(html, "<p class=\"files\">SQL: <a href=\"%s.sql\">%s.sql</a></p>\n", p->name,
                p->name);
        return;
    case PLOT_DRAWN:
        fprintf(html, "<p><a href=\"%s.svg\"><img src=\"%s.png\" alt=\"", r->name, r->name);
        rep_html_escape(html, r->title);
        fputs("\" width=\"960\" height=\"540\"></a></p>\n", html);
        break;
    case PLOT_FAILED:
        fprintf(html, "<p class=\"error\">gnuplot failed on <a href=\"%s.gp\">%s.gp</a>: see "
                      "<a href=\"%s.log\">%s.log</a>.</p>\n",
                r->name, r->name, r->name, r->name);
        break;
    case PLOT_NOT_DRAWN:
        fprintf(html, "<p class=\"note\">Not drawn (--no-plots): run <code>gnuplot %s.gp</code> "
                      "in this directory.</p>\n",
                r->name);
        break;
    }
    fputs("<p class=\"files\">", html);
    if (r->status == PLOT_DRAWN)
        fprintf(html, "<a href=\"%s.svg\">SVG</a> &middot; ", r->name);
    fprintf(html, "<a href=\"%s.gp\">gnuplot script</a> &middot; <a href=\"%s.sql\">SQL</a> "
                  "&middot; data:",
            r->name, p->name);
    for (uint32_t k = 0; k < c->nseries; k++) {
        if (!r->has_data[k]) continue;
        if (r->series >= 0)
            fprintf(html, " <a href=\"%s.dat\">", r->name);
        else
            fprintf(html, " <a href=\"%s_%" PRIu32 ".dat\">", r->name, k + 1);
        rep_html_escape(html, c->series[k].label);
        fputs("</a>", html);
    }
    fputs("</p>\n", html);
    bool missing = false;
    uint32_t k0 = r->series >= 0 ? (uint32_t)r->series : 0;
    uint32_t k1 = r->series >= 0 ? k0 + 1 : c->nseries;
    for (uint32_t k = k0; k < k1; k++) {
        if (r->has_data[k]) continue;
        fputs(missing ? ", " : "<p class=\"note\">No data for: ", html);
        rep_html_escape(html, c->series[k].label);
        missing = true;
    }
    if (missing) fputs(".</p>\n", html);
    if (r->note[0] != '\0') fprintf(html, "<p class=\"note\">%s</p>\n", r->note);
}

static const char html_style[] =
    "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
    "h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .5em;"
    "vertical-align:top;text-align:left;white-space:pre-wrap}td.num{text-align:right}"
    "code{font-size:.9em;word-break:break-all}img{max-width:100%;height:auto}"
    ".files{font-size:.85em;color:#555}.nodata,.note{color:#8a6d00}.error{color:#b00}"
    ".verdict-pass{color:#080;font-weight:bold}.verdict-fail,.verdict-error{color:#b00;"
    "font-weight:bold}.verdict-running{color:#8a6d00}"
    ".swatch{display:inline-block;width:.8em;height:.8em;margin-right:.3em}"
    ".s1{background:#1f77b4}.s2{background:#d62728}.s3{background:#2ca02c}"
    ".s4{background:#ff7f0e}.s5{background:#9467bd}.s6{background:#8c564b}"
    ".s7{background:#e377c2}.s8{background:#7f7f7f}.s9{background:#bcbd22}"
    ".s10{background:#17becf}.s11{background:#393b79}.s12{background:#637939}";

static rep_err write_html(rep_ctx *c) {
    FILE *html = NULL;
    rep_err e = open_out(c, "index.html", &html);
    if (e != REP_OK) return e;
    fprintf(html,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>tidepool report</title>\n<style>%s</style>\n</head>\n<body>\n"
            "<h1>tidepool report</h1>\n",
            html_style);
    fprintf(html, "<p>%" PRIu32 " run%s from %zu database%s. Each plot links its data, the SQL "
                  "that produced it and its gnuplot script; redraw a plot with "
                  "<code>gnuplot NAME.gp</code> in this directory.",
            c->nseries, c->nseries == 1 ? "" : "s", c->db_open, c->db_open == 1 ? "" : "s");
    if (c->sum->gnuplot_version[0]) {
        fputs(" Drawn by ", html);
        rep_html_escape(html, c->sum->gnuplot_version);
        fputc('.', html);
    }
    if (c->opts->see_also != NULL) {
        fputs(" See also <a href=\"", html);
        rep_html_escape(html, c->opts->see_also);
        fputs("\">", html);
        rep_html_escape(html, c->opts->see_also);
        fputs("</a>.", html);
    }
    fputs("</p>\n<p>", html);
    for (uint32_t i = 0; i < c->nresults; i++) {
        fprintf(html, "%s<a href=\"#%s\">", i ? " &middot; " : "", c->results[i].name);
        rep_html_escape(html, c->results[i].title);
        fputs("</a>", html);
    }
    fputs(" &middot; <a href=\"#topology\">topology</a> &middot; <a href=\"#metrics\">metrics "
          "(sample())</a> &middot; <a href=\"#parameters\">parameters</a> &middot; <a href=\"#checks\">checks</a></p>\n",
          html);
    write_runs_table(c, html);
    {
        rep_metric_series ps[REP_SERIES_MAX];
        rep_metrics_ctx pc = metrics_ctx(c, ps);
        e = rep_params_table(&pc, html);
        if (e == REP_OK) e = rep_checks_list(&pc, html);
        if (e != REP_OK) {
            fclose(html);
            return e;
        }
    }
    e = write_figures(c, html);
    if (e != REP_OK) {
        fclose(html);
        return e;
    }
    for (uint32_t i = 0; i < c->nresults; i++) write_plot_section(c, html, &c->results[i]);
    rep_metric_series ms[REP_SERIES_MAX];
    rep_metrics_ctx mc = metrics_ctx(c, ms);
    int64_t mins[REP_SERIES_MAX];
    for (uint32_t k = 0; k < c->nseries; k++) mins[k] = c->series[k].min_connections;
    e = rep_roles_section(&mc, mins, html);
    if (e == REP_OK) e = rep_topology_section(&mc, html);
    if (e == REP_OK) e = rep_metrics_section(&mc, html);
    c->sum->plots += mc.plots;
    c->sum->plots_failed += mc.plots_failed;
    if (e != REP_OK) {
        fclose(html);
        return e;
    }
    fputs("</body>\n</html>\n", html);
    return close_out(c, "index.html", html);
}

/* ---------------------------------------------------------------------------------- */

rep_err rep_generate(const rep_options *opts, rep_summary *summary, char *errbuf,
                     size_t errlen) {
    if (errlen > 0) errbuf[0] = '\0';
    rep_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        if (errlen > 0) snprintf(errbuf, errlen, "out of memory");
        return REP_ERR_NOMEM;
    }
    rep_summary sum = {0};
    c->opts = opts;
    c->err = errbuf;
    c->errlen = errlen;
    c->sum = &sum;
    c->buckets = opts->buckets == 0 ? REP_BUCKETS_DEFAULT : opts->buckets;
    rep_err e = REP_OK;
    if (opts->db_count == 0) {
        e = fail(c, REP_ERR_USAGE, "no results database given");
    } else if (opts->db_count > REP_SERIES_MAX) {
        e = fail(c, REP_ERR_USAGE, "more than %d databases; report at most %d at a time",
                 REP_SERIES_MAX, REP_SERIES_MAX);
    } else if (opts->out_dir == NULL) {
        e = fail(c, REP_ERR_USAGE, "no output directory (--out DIR)");
    } else if (c->buckets > REP_BUCKETS_MAX) {
        e = fail(c, REP_ERR_USAGE, "--buckets %" PRIu32 ": at most %d", c->buckets,
                 REP_BUCKETS_MAX);
    }
    if (e == REP_OK) e = rep_check_log_scale(opts->log_scale, errbuf, errlen);
    if (e == REP_OK) e = open_databases(c);
    if (e == REP_OK) e = load_runs(c);
    if (e == REP_OK) label_differing_params(c);
    if (e == REP_OK && opts->render) e = gnuplot_check(c);
    if (e == REP_OK) e = make_dirs(c, opts->out_dir);
    if (e == REP_OK) e = write_plots(c);
    if (e == REP_OK) e = write_html(c);
    sum.series = c->nseries;
    if (e == REP_OK && sum.plots_failed > 0) {
        e = fail(c, REP_ERR_GNUPLOT_FAILED,
                 "gnuplot failed on %" PRIu32 " plot%s; see the .log files in %s",
                 sum.plots_failed, sum.plots_failed == 1 ? "" : "s", opts->out_dir);
    }
    for (uint32_t k = 0; k < c->nseries; k++) free_series(&c->series[k]);
    for (size_t i = 0; i < c->db_open; i++) sqlite3_close(c->dbs[i]);
    if (summary != NULL && (e == REP_OK || e == REP_ERR_GNUPLOT_FAILED)) *summary = sum;
    free(c);
    return e;
}
