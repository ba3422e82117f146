/* reports/campaign.c — the campaign page: per configuration (runs that differ only by
 * seed) the median and an exact 95 % interval of every response variable, as plots,
 * tables and CSV (reports/campaign.h). Written as its own file next to the per-run
 * report (report.c), sharing its gnuplot runner, escaping helpers (report_impl.h) and
 * key-figure queries (queries.h). The statistics are computed in C from per-run values
 * read with SQL; each plot's .sql is the per-run query, so a reader can recompute. */
#include "reports/campaign.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reports/queries.h"
#include "reports/report_impl.h"

#define NAME_MAX_LEN 128
#define LABEL_MAX 512
#define CURVE_POINTS 100
#define MIN_DEFAULT 4 /* report.c's :min when a run has neither min_conn nor min */

/* ---- statistics ------------------------------------------------------------------ */

/* log C(n, k) */
static double log_choose(uint32_t n, uint32_t k) {
    return lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1);
}

/* P(Bin(n, 1/2) <= k) */
static double binom_half_cdf(uint32_t n, uint32_t k) {
    double p = 0, lhalf = (double)n * log(0.5);
    for (uint32_t i = 0; i <= k && i <= n; i++) p += exp(log_choose(n, i) + lhalf);
    return p > 1 ? 1 : p;
}

static double order_stat(const double *sorted, size_t n_values, uint32_t rank) {
    return rank <= n_values ? sorted[rank - 1] : INFINITY; /* censored runs come last */
}

void rep_median_ci_compute(const double *sorted, size_t n_values, size_t censored,
                           rep_median_ci *out) {
    memset(out, 0, sizeof *out);
    uint32_t n = (uint32_t)(n_values + censored);
    out->n = n;
    out->censored = (uint32_t)censored;
    if (n == 0) {
        out->median = out->lo = out->hi = NAN;
        return;
    }
    if (n % 2)
        out->median = order_stat(sorted, n_values, n / 2 + 1);
    else
        out->median = (order_stat(sorted, n_values, n / 2) + order_stat(sorted, n_values, n / 2 + 1)) / 2;
    /* The largest j with coverage 1 - 2 P(B <= j - 1) >= 0.95; j = 1 if none. */
    uint32_t j = 1;
    for (uint32_t cand = 2; cand <= (n + 1) / 2; cand++) {
        if (1 - 2 * binom_half_cdf(n, cand - 1) >= 0.95)
            j = cand;
        else
            break;
    }
    out->lo_rank = j;
    out->hi_rank = n + 1 - j;
    out->lo = order_stat(sorted, n_values, out->lo_rank);
    out->hi = order_stat(sorted, n_values, out->hi_rank);
    out->coverage = 1 - 2 * binom_half_cdf(n, j - 1);
    if (out->coverage < 0) out->coverage = 0;
}

void rep_wilson_ci(uint32_t successes, uint32_t n, double *lo, double *hi) {
    if (n == 0) {
        *lo = *hi = NAN;
        return;
    }
    const double z = 1.959963984540054;
    double p = (double)successes / n, z2n = z * z / n;
    double centre = (p + z2n / 2) / (1 + z2n);
    double half = z * sqrt(p * (1 - p) / n + z2n / (4.0 * n)) / (1 + z2n);
    *lo = successes == 0 ? 0 : fmax(0, centre - half);
    *hi = successes == n ? 1 : fmin(1, centre + half);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- the campaign ------------------------------------------------------------------ */

typedef enum resp_kind { RESP_PASS, RESP_FIGURE, RESP_METRIC, RESP_WALL } resp_kind;

typedef struct response {
    resp_kind kind;
    char label[NAME_MAX_LEN + 96]; /* what the page calls it */
    char stem[NAME_MAX_LEN];       /* file-name part */
    const char *fig_sql;           /* RESP_FIGURE: the key-figure query ... */
    const char *fig_column;        /* ... and its column */
    char metric[NAME_MAX_LEN];     /* RESP_METRIC */
    char summary_sql[256];         /* RESP_METRIC with a declared summary (else "") */
    double threshold;              /* its ?2 (time_to) */
    double *v;                     /* per run: the value, NAN = censored */
    bool any;                      /* some run has a value */
} response;

/* The key figures offered as responses: times to an event (NULL: it never happened,
 * censored) and end-of-run values. Columns of queries.h's REP_SQL_FIG_*. */
static const struct {
    const char *sql, *column, *stem;
} figures[] = {
    {REP_SQL_FIG_BOOTSTRAP, "50% of nodes at min (s)", "fig_50pct_nodes_at_min_s"},
    {REP_SQL_FIG_BOOTSTRAP, "90% of nodes at min (s)", "fig_90pct_nodes_at_min_s"},
    {REP_SQL_FIG_BOOTSTRAP, "all nodes at min (s)", "fig_all_nodes_at_min_s"},
    {REP_SQL_FIG_COMPONENTS, "components at the end", "fig_components_at_end"},
    {REP_SQL_FIG_DEGREE, "final degree median", "fig_final_degree_median"},
    {REP_SQL_FIG_DELIVERIES, "delivery delay p50 (ms)", "fig_delivery_delay_p50_ms"},
    {REP_SQL_FIG_DELIVERIES, "delivery delay p99 (ms)", "fig_delivery_delay_p99_ms"},
    {REP_SQL_FIG_T99, "time to 99% p50 (ms)", "fig_time_to_99pct_p50_ms"},
};
#define NFIGURES (sizeof figures / sizeof figures[0])

typedef struct run_row {
    int64_t id;
    uint32_t cfg;
    bool pass;
    double wall_s;
    int64_t min;
} run_row;

typedef struct config {
    char *params;           /* runs.parameters */
    char label[LABEL_MAX];  /* "a=1 b=x" over the swept parameters */
    char series[LABEL_MAX]; /* the same without the x parameter */
    uint32_t x, s;          /* x index, series index */
    uint32_t nruns;
} config;

typedef struct camp {
    sqlite3 *db;
    const char *db_path, *out_dir, *gnuplot;
    bool render;
    char *err;
    size_t errlen;
    rep_campaign_summary *sum;
    char params[REP_CAMPAIGN_PARAMS_MAX][64];
    size_t nparams;
    run_row *runs;
    size_t nruns;
    config *cfgs;
    size_t ncfgs;
    /* the plot layout: x = one swept parameter's values (or the configurations), one
     * series per combination of the others */
    char xparam[64];          /* "" : x = configuration */
    char (*xlabels)[LABEL_MAX];
    size_t nx;
    char (*slabels)[LABEL_MAX];
    size_t nseries;
    response resp[REP_CAMPAIGN_RESPONSES_MAX];
    size_t nresp;
    size_t resp_left_out;
    char curves[REP_CAMPAIGN_RESPONSES_MAX][NAME_MAX_LEN];
    size_t ncurves;
    FILE *html, *summary_csv;
} camp;

static rep_err fail(camp *c, rep_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static rep_err fail(camp *c, rep_err e, const char *fmt, ...) {
    if (c->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return e;
}

static bool identifier(const char *s) {
    if (!*s || strlen(s) >= 64) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static void sanitize(const char *in, char *out, size_t cap) {
    size_t n = 0;
    for (; *in && n + 1 < cap && n < 48; in++)
        out[n++] = ((*in >= 'a' && *in <= 'z') || (*in >= 'A' && *in <= 'Z') ||
                    (*in >= '0' && *in <= '9') || *in == '_' || *in == '-')
                       ? *in
                       : '_';
    out[n] = '\0';
}

static FILE *open_out(camp *c, const char *name, const char *ext, rep_err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s", c->out_dir, name, ext);
    FILE *f = fopen(path, "w");
    if (!f) *e = fail(c, REP_ERR_OUTPUT, "%s: cannot write it (%s)", path, strerror(errno));
    return f;
}

/* A number for tables and CSV: "inf" for a censored order statistic, "" for none. */
static void num(char *buf, size_t cap, double v) {
    if (isnan(v))
        buf[0] = '\0';
    else if (isinf(v))
        snprintf(buf, cap, "inf");
    else
        snprintf(buf, cap, "%.6g", v);
}

static void csv_field(FILE *f, const char *s) {
    bool quote = strpbrk(s, ",\"\n") != NULL;
    if (!quote) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* ---- loading ----------------------------------------------------------------------- */

static rep_err find_parameters(camp *c) {
    const char *sql = "SELECT j.key FROM runs r, json_each(r.parameters) j "
                      "WHERE r.verdict <> 'running' AND json_valid(r.parameters) "
                      "GROUP BY j.key HAVING count(DISTINCT j.value) > 1 ORDER BY j.key";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(c, REP_ERR_INPUT, "%s: cannot read its runs (%s); is it a results database?",
                    c->db_path, sqlite3_errmsg(c->db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (!k || !identifier(k) || c->nparams == REP_CAMPAIGN_PARAMS_MAX) continue;
        snprintf(c->params[c->nparams++], 64, "%s", k);
    }
    sqlite3_finalize(st);
    return REP_OK;
}

/* The text of parameter p in a parameters JSON (via SQLite, as the queries see it). */
static void param_text(camp *c, const char *params, const char *p, char *buf, size_t cap) {
    char path[80];
    snprintf(path, sizeof path, "$.%s", p);
    sqlite3_stmt *st;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(c->db, "SELECT json_extract(?1, ?2)", -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, params, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    else
        snprintf(buf, cap, "?");
    sqlite3_finalize(st);
}

/* Runs and configurations, ordered by the swept parameters (numbers ascending). */
static rep_err load_runs(camp *c) {
    char order[2048] = "";
    for (size_t i = 0; i < c->nparams; i++) {
        size_t n = strlen(order);
        snprintf(order + n, sizeof order - n, "json_extract(parameters, '$.%s'), ", c->params[i]);
    }
    char sql[4096];
    snprintf(sql, sizeof sql,
             "SELECT id, parameters, verdict = 'pass', coalesce(wall_time_s, 0),"
             " CASE WHEN json_valid(parameters) THEN coalesce(json_extract(parameters,"
             " '$.min_conn'), json_extract(parameters, '$.min')) END"
             " FROM runs WHERE verdict <> 'running' ORDER BY %sparameters, seed, id",
             order);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(c, REP_ERR_INPUT, "%s: cannot read its runs (%s)", c->db_path,
                    sqlite3_errmsg(c->db));
    size_t cap = 0;
    rep_err e = REP_OK;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (c->nruns == cap) {
            cap = cap ? 2 * cap : 64;
            run_row *r = realloc(c->runs, cap * sizeof *r);
            if (!r) {
                e = REP_ERR_NOMEM;
                break;
            }
            c->runs = r;
        }
        const char *params = (const char *)sqlite3_column_text(st, 1);
        if (!params) params = "{}";
        run_row *r = &c->runs[c->nruns];
        r->id = sqlite3_column_int64(st, 0);
        r->pass = sqlite3_column_int(st, 2) != 0;
        r->wall_s = sqlite3_column_double(st, 3);
        r->min = sqlite3_column_type(st, 4) == SQLITE_NULL ? MIN_DEFAULT : sqlite3_column_int64(st, 4);
        if (c->ncfgs == 0 || strcmp(c->cfgs[c->ncfgs - 1].params, params) != 0) {
            if (c->ncfgs == REP_CAMPAIGN_CONFIGS_MAX) {
                e = fail(c, REP_ERR_USAGE,
                         "%s: more than %d configurations (distinct parameter sets); merge "
                         "fewer runs into the campaign",
                         c->db_path, REP_CAMPAIGN_CONFIGS_MAX);
                break;
            }
            if (c->ncfgs % 64 == 0) {
                config *n = realloc(c->cfgs, (c->ncfgs + 64) * sizeof *n);
                if (!n) {
                    e = REP_ERR_NOMEM;
                    break;
                }
                c->cfgs = n;
            }
            config *k = &c->cfgs[c->ncfgs++];
            memset(k, 0, sizeof *k);
            k->params = strdup(params);
            if (!k->params) {
                e = REP_ERR_NOMEM;
                break;
            }
        }
        r->cfg = (uint32_t)(c->ncfgs - 1);
        c->cfgs[r->cfg].nruns++;
        c->nruns++;
    }
    sqlite3_finalize(st);
    if (e != REP_OK) return e;
    /* Configurations with the same parameters but not adjacent (ORDER BY parameters
     * puts equal texts together, so this does not happen) would split: nothing to do. */
    for (size_t i = 0; i < c->ncfgs; i++) {
        config *k = &c->cfgs[i];
        for (size_t p = 0; p < c->nparams; p++) {
            char v[256];
            param_text(c, k->params, c->params[p], v, sizeof v);
            size_t n = strlen(k->label);
            snprintf(k->label + n, sizeof k->label - n, "%s%s=%s", n ? " " : "", c->params[p], v);
        }
    }
    return REP_OK;
}

static size_t find_or_add(char (*list)[LABEL_MAX], size_t *n, const char *s) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], s) == 0) return i;
    snprintf(list[*n], LABEL_MAX, "%s", s);
    return (*n)++;
}

/* x = the swept parameter with the most distinct values (the first by name on a tie);
 * series = combinations of the others; too many series: x = the configurations. */
static rep_err layout(camp *c) {
    c->xlabels = calloc(c->ncfgs + 1, sizeof *c->xlabels);
    c->slabels = calloc(c->ncfgs + 1, sizeof *c->slabels);
    if (!c->xlabels || !c->slabels) return REP_ERR_NOMEM;
    size_t best = 0, best_n = 0;
    for (size_t p = 0; p < c->nparams; p++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(DISTINCT json_extract(parameters, '$.%s')) FROM runs "
                 "WHERE verdict <> 'running'",
                 c->params[p]);
        sqlite3_stmt *st;
        size_t n = 0;
        if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            n = (size_t)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (n > best_n) {
            best = p;
            best_n = n;
        }
    }
    snprintf(c->xparam, sizeof c->xparam, "%s", c->params[best]);
    /* x values in SQL order (numbers ascending, then text), as configurations are. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT json_extract(parameters, '$.%s') AS x FROM runs "
             "WHERE verdict <> 'running' ORDER BY x",
             c->xparam);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(c, REP_ERR_INPUT, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
    while (sqlite3_step(st) == SQLITE_ROW && c->nx < c->ncfgs) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        find_or_add(c->xlabels, &c->nx, v ? v : "?");
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < c->ncfgs; i++) {
        config *k = &c->cfgs[i];
        char x[256];
        param_text(c, k->params, c->xparam, x, sizeof x);
        for (size_t p = 0; p < c->nparams; p++) {
            if (strcmp(c->params[p], c->xparam) == 0) continue;
            char v[256];
            param_text(c, k->params, c->params[p], v, sizeof v);
            size_t n = strlen(k->series);
            snprintf(k->series + n, sizeof k->series - n, "%s%s=%s", n ? " " : "", c->params[p],
                     v);
        }
        k->x = (uint32_t)find_or_add(c->xlabels, &c->nx, x);
        k->s = (uint32_t)find_or_add(c->slabels, &c->nseries, k->series);
    }
    if (c->nseries > REP_CAMPAIGN_SERIES_MAX) {
        c->xparam[0] = '\0';
        c->nx = c->nseries = 0;
        for (size_t i = 0; i < c->ncfgs; i++) {
            c->cfgs[i].x = (uint32_t)find_or_add(c->xlabels, &c->nx, c->cfgs[i].label);
            c->cfgs[i].s = (uint32_t)find_or_add(c->slabels, &c->nseries, "");
        }
    }
    return REP_OK;
}

static response *add_response(camp *c, resp_kind kind, const char *label, const char *stem) {
    if (c->nresp == REP_CAMPAIGN_RESPONSES_MAX) {
        c->resp_left_out++;
        return NULL;
    }
    response *r = &c->resp[c->nresp];
    memset(r, 0, sizeof *r);
    r->v = malloc((c->nruns + 1) * sizeof *r->v);
    if (!r->v) return NULL;
    for (size_t i = 0; i < c->nruns; i++) r->v[i] = NAN;
    r->kind = kind;
    snprintf(r->label, sizeof r->label, "%s", label);
    snprintf(r->stem, sizeof r->stem, "%s", stem);
    c->nresp++;
    return r;
}

static void bind_run(sqlite3_stmt *st, const run_row *r) {
    int i = sqlite3_bind_parameter_index(st, ":run");
    if (i > 0) sqlite3_bind_int64(st, i, r->id);
    i = sqlite3_bind_parameter_index(st, ":min");
    if (i > 0) sqlite3_bind_int64(st, i, r->min);
}

/* Every response's per-run values. */
static rep_err load_responses(camp *c) {
    response *pass = add_response(c, RESP_PASS, "pass rate (verdict = pass)", "pass_rate");
    if (!pass) return REP_ERR_NOMEM;
    for (size_t i = 0; i < c->nruns; i++) pass->v[i] = c->runs[i].pass;
    pass->any = c->nruns > 0;

    /* Key figures: each distinct query once per run. */
    size_t first_fig = c->nresp;
    for (size_t f = 0; f < NFIGURES; f++) {
        response *r = add_response(c, RESP_FIGURE, figures[f].column, figures[f].stem);
        if (!r) return REP_ERR_NOMEM;
        r->fig_sql = figures[f].sql;
        r->fig_column = figures[f].column;
    }
    for (size_t f = 0; f < NFIGURES; f++) {
        bool seen = false;
        for (size_t g = 0; g < f; g++) seen = seen || figures[g].sql == figures[f].sql;
        if (seen) continue;
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(c->db, figures[f].sql, -1, &st, NULL) != SQLITE_OK)
            return fail(c, REP_ERR_INPUT, "%s: a key-figure query failed (%s)", c->db_path,
                        sqlite3_errmsg(c->db));
        int cols = sqlite3_column_count(st);
        for (size_t i = 0; i < c->nruns; i++) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            bind_run(st, &c->runs[i]);
            if (sqlite3_step(st) != SQLITE_ROW) continue;
            for (int col = 0; col < cols; col++) {
                const char *name = sqlite3_column_name(st, col);
                for (size_t g = 0; g < NFIGURES; g++) {
                    response *r = &c->resp[first_fig + g];
                    if (figures[g].sql != figures[f].sql || strcmp(name, r->fig_column) != 0)
                        continue;
                    if (sqlite3_column_type(st, col) != SQLITE_NULL) {
                        r->v[i] = sqlite3_column_double(st, col);
                        r->any = true;
                    }
                }
            }
        }
        sqlite3_finalize(st);
    }

    /* Global metrics: the last value per run; -1 is the "never" sentinel. Metrics
     * sampled more than once per run are also drawn as curves. */
    sqlite3_stmt *st;
    const char *msql = "SELECT metric, count(*) > count(DISTINCT run_id) FROM samples "
                       "WHERE node IS NULL GROUP BY metric ORDER BY metric";
    if (sqlite3_prepare_v2(c->db, msql, -1, &st, NULL) != SQLITE_OK)
        return fail(c, REP_ERR_INPUT, "%s: cannot read its samples (%s)", c->db_path,
                    sqlite3_errmsg(c->db));
    size_t first_metric = c->nresp;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        if (!m || strlen(m) >= NAME_MAX_LEN) continue;
        bool series = sqlite3_column_int(st, 1) != 0;
        if (series && c->ncurves < REP_CAMPAIGN_RESPONSES_MAX)
            snprintf(c->curves[c->ncurves++], NAME_MAX_LEN, "%s", m);
        /* 'components' is the key figure "components at the end"; 'fault_active' a
         * schedule, not an outcome. */
        if (strcmp(m, "components") == 0 || strcmp(m, "fault_active") == 0) continue;
        char label[NAME_MAX_LEN + 32], stem[NAME_MAX_LEN], s[64];
        snprintf(label, sizeof label, "%s (last value per run)", m);
        sanitize(m, s, sizeof s);
        snprintf(stem, sizeof stem, "metric_%s_%zu", s, c->nresp - first_metric);
        response *r = add_response(c, RESP_METRIC, label, stem);
        if (!r) {
            if (c->resp_left_out) continue;
            sqlite3_finalize(st);
            return REP_ERR_NOMEM;
        }
        snprintf(r->metric, sizeof r->metric, "%s", m);
    }
    sqlite3_finalize(st);
    const char *lsql =
        "SELECT run_id, metric, value FROM (SELECT run_id, metric, value, ROW_NUMBER() OVER "
        "(PARTITION BY run_id, metric ORDER BY time_ns DESC, rowid DESC) AS k FROM samples "
        "WHERE node IS NULL) WHERE k = 1 ORDER BY run_id";
    if (sqlite3_prepare_v2(c->db, lsql, -1, &st, NULL) != SQLITE_OK)
        return fail(c, REP_ERR_INPUT, "%s: cannot read its samples (%s)", c->db_path,
                    sqlite3_errmsg(c->db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *m = (const char *)sqlite3_column_text(st, 1);
        double v = sqlite3_column_double(st, 2);
        if (!m || v == -1) continue; /* the sentinel: censored */
        size_t run = c->nruns;
        for (size_t i = 0; i < c->nruns; i++)
            if (c->runs[i].id == id) run = i;
        if (run == c->nruns) continue;
        for (size_t k = first_metric; k < c->nresp; k++)
            if (strcmp(c->resp[k].metric, m) == 0) {
                c->resp[k].v[run] = v;
                c->resp[k].any = true;
            }
    }
    sqlite3_finalize(st);

    /* Declared summaries (Lua metric(), the metrics table) replace the last value. */
    bool declared = false;
    if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                                  "'metrics'", -1, &st, NULL) == SQLITE_OK)
        declared = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    for (size_t k = first_metric; declared && k < c->nresp; k++) {
        response *r = &c->resp[k];
        if (sqlite3_prepare_v2(c->db, "SELECT summary, threshold, unit FROM metrics WHERE "
                                      "metric = ?1 ORDER BY run_id LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
            sqlite3_finalize(st);
            continue;
        }
        sqlite3_bind_text(st, 1, r->metric, -1, SQLITE_STATIC);
        char summary[16] = "last", unit[32] = "";
        double threshold = 0;
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *sm = (const char *)sqlite3_column_text(st, 0);
            const char *u = (const char *)sqlite3_column_text(st, 2);
            snprintf(summary, sizeof summary, "%s", sm ? sm : "last");
            threshold = sqlite3_column_double(st, 1);
            snprintf(unit, sizeof unit, "%s", u ? u : "");
        }
        sqlite3_finalize(st);
        const char *agg = strcmp(summary, "max") == 0    ? "MAX(value)"
                          : strcmp(summary, "min") == 0  ? "MIN(value)"
                          : strcmp(summary, "mean") == 0 ? "AVG(value)"
                          : strcmp(summary, "time_to") == 0
                              ? "MIN(CASE WHEN value >= ?2 THEN time_ns END) / 1e9"
                              : NULL;
        char label[sizeof r->label], name[NAME_MAX_LEN];
        snprintf(name, sizeof name, "%s", r->metric);
        if (strcmp(summary, "time_to") == 0)
            snprintf(label, sizeof label, "%s: time to >= %.6g (s)", name, threshold);
        else
            snprintf(label, sizeof label, "%s (%s per run%s%s)", name, summary,
                     unit[0] ? ", " : "", unit);
        memcpy(r->label, label, sizeof label);
        if (!agg) continue;
        snprintf(r->summary_sql, sizeof r->summary_sql,
                 "SELECT run_id, %s FROM samples WHERE node IS NULL AND metric = ?1 AND value "
                 "<> -1 GROUP BY run_id",
                 agg);
        if (sqlite3_prepare_v2(c->db, r->summary_sql, -1, &st, NULL) != SQLITE_OK) {
            sqlite3_finalize(st);
            continue;
        }
        sqlite3_bind_text(st, 1, r->metric, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 2, threshold);
        r->threshold = threshold;
        for (size_t i = 0; i < c->nruns; i++) r->v[i] = NAN;
        r->any = false;
        while (sqlite3_step(st) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(st, 0);
            if (sqlite3_column_type(st, 1) == SQLITE_NULL) continue; /* never: censored */
            for (size_t i = 0; i < c->nruns; i++)
                if (c->runs[i].id == id) {
                    r->v[i] = sqlite3_column_double(st, 1);
                    r->any = true;
                }
        }
        sqlite3_finalize(st);
    }

    response *w = add_response(c, RESP_WALL, "wall time per run (s)", "wall_time_s");
    if (w) {
        for (size_t i = 0; i < c->nruns; i++) w->v[i] = c->runs[i].wall_s;
        w->any = c->nruns > 0;
    }
    return REP_OK;
}

/* ---- one response ------------------------------------------------------------------ */

typedef struct cfg_stat {
    rep_median_ci ci;
    uint32_t passed; /* RESP_PASS */
    double rate, rate_lo, rate_hi;
} cfg_stat;

static void stat_config(const camp *c, const response *r, size_t k, double *scratch,
                        cfg_stat *out) {
    memset(out, 0, sizeof *out);
    size_t nv = 0, censored = 0, n = 0;
    for (size_t i = 0; i < c->nruns; i++) {
        if (c->runs[i].cfg != k) continue;
        n++;
        if (isnan(r->v[i]))
            censored++;
        else
            scratch[nv++] = r->v[i];
    }
    qsort(scratch, nv, sizeof *scratch, cmp_double);
    rep_median_ci_compute(scratch, nv, censored, &out->ci);
    if (r->kind == RESP_PASS) {
        for (size_t i = 0; i < nv; i++) out->passed += scratch[i] != 0;
        out->rate = n ? (double)out->passed / (double)n : NAN;
        rep_wilson_ci(out->passed, (uint32_t)n, &out->rate_lo, &out->rate_hi);
    }
}

static void write_sql(camp *c, const response *r, FILE *f) {
    fprintf(f, "-- campaign_%s.sql: the per-run values behind '%s' on campaign.html\n"
               "-- (%s). The page groups runs by parameters (one configuration = the runs\n"
               "-- that differ only by seed) and computes in C, per configuration, n, the\n"
               "-- median and the exact order-statistic 95 %% interval (reports/campaign.h);\n"
               "-- NULL = censored (counted as +infinity).\n",
            r->stem, r->label, c->db_path);
    switch (r->kind) {
    case RESP_PASS:
        fputs("SELECT id, parameters, seed, verdict = 'pass' AS value FROM runs\n"
              "WHERE verdict <> 'running' ORDER BY parameters, seed;\n",
              f);
        break;
    case RESP_WALL:
        fputs("SELECT id, parameters, seed, wall_time_s AS value FROM runs\n"
              "WHERE verdict <> 'running' ORDER BY parameters, seed;\n",
              f);
        break;
    case RESP_METRIC:
        if (r->summary_sql[0]) {
            fprintf(f, "-- The scenario declared this metric's summary (metrics table); ?1 = "
                       "'%s', ?2 = %.9g:\n%s;\n",
                    r->metric, r->threshold, r->summary_sql);
            break;
        }
        fprintf(f,
                "SELECT r.id, r.parameters, r.seed,\n"
                "       (SELECT NULLIF(s.value, -1) FROM samples s WHERE s.run_id = r.id AND\n"
                "        s.node IS NULL AND s.metric = '%s'\n"
                "        ORDER BY s.time_ns DESC, s.rowid DESC LIMIT 1) AS value\n"
                "FROM runs r WHERE r.verdict <> 'running' ORDER BY r.parameters, r.seed;\n",
                r->metric);
        break;
    case RESP_FIGURE:
        fprintf(f,
                "-- The key-figure query of the run page (key_figures.sql), column \"%s\",\n"
                "-- run once per run with :run = runs.id and :min = the run's min_conn or min\n"
                "-- parameter (else %d):\n%s",
                r->fig_column, MIN_DEFAULT, r->fig_sql);
        break;
    }
}

/* y of the plot's "censored" row: above every observed value. */
static double top_of(const camp *c, const response *r) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < c->nruns; i++)
        if (!isnan(r->v[i])) {
            lo = fmin(lo, r->v[i]);
            hi = fmax(hi, r->v[i]);
        }
    if (!isfinite(lo)) return 1;
    double span = hi - lo;
    if (span <= 0) span = fabs(hi) > 0 ? fabs(hi) * 0.2 : 1;
    return hi + 0.1 * span;
}

static rep_err gnuplot_draw(camp *c, const char *name, bool *drawn) {
    *drawn = false;
    if (!c->render) return REP_OK;
    char script[NAME_MAX_LEN * 2 + 8], log[4096];
    snprintf(script, sizeof script, "%s.gp", name);
    snprintf(log, sizeof log, "%s/%s.log", c->out_dir, name);
    char *argv[] = {(char *)c->gnuplot, script, NULL};
    rep_spawn_args a = {.argv = argv, .cwd = c->out_dir, .stderr_path = log};
    int status = 0, spawn_errno = 0;
    if (rep_spawn(&a, &status, &spawn_errno) == REP_OK && status == 0) {
        *drawn = true;
        remove(log);
    } else {
        c->sum->plots_failed++;
    }
    return REP_OK;
}

static void gp_header(FILE *gp, const char *name, const char *title, const char *xlabel,
                      const char *ylabel) {
    fprintf(gp, "# %s.gp: ", name);
    rep_gp_escape(gp, title);
    fprintf(gp, "\n# written by tidepool report (campaign); data: %s_*.dat, table: %s.csv\n"
                "# redraw: gnuplot %s.gp (in this directory)\n",
            name, name, name);
    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "    set terminal pngcairo size 960,540 noenhanced font 'sans,10'\n"
          "} else {\n"
          "    set terminal png size 960,540 noenhanced\n"
          "}\n",
          gp);
    static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                         "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
    for (size_t i = 0; i < sizeof colors / sizeof colors[0]; i++)
        fprintf(gp, "set linetype %zu lc rgb '%s' lw 2 pt 7\n", i + 1, colors[i]);
    fprintf(gp, "set linetype cycle %zu\nset datafile missing 'NaN'\n",
            sizeof colors / sizeof colors[0]);
    fprintf(gp, "set output '%s.png'\nset title '", name);
    rep_gp_escape(gp, title);
    fputs("'\nset xlabel '", gp);
    rep_gp_escape(gp, xlabel);
    fputs("'\nset ylabel '", gp);
    rep_gp_escape(gp, ylabel);
    fputs("'\nset grid\nset key below\n", gp);
}

static void gp_footer(FILE *gp, const char *name) {
    fprintf(gp, "\n\nset terminal svg size 960,540 noenhanced font 'sans,10' background "
                "'#ffffff'\nset output '%s.svg'\nreplot\nunset output\n",
            name);
}

static void html_links(camp *c, const char *name, bool drawn) {
    fprintf(c->html, "<p class=\"src\">");
    rep_html_escape(c->html, name);
    fputs(": <a href=\"", c->html);
    rep_html_escape(c->html, name);
    fputs(".csv\">csv</a> · <a href=\"", c->html);
    rep_html_escape(c->html, name);
    fputs(".sql\">sql</a> · <a href=\"", c->html);
    rep_html_escape(c->html, name);
    fputs(".gp\">gp</a>", c->html);
    if (drawn) {
        fputs(" · <a href=\"", c->html);
        rep_html_escape(c->html, name);
        fputs(".svg\">svg</a>", c->html);
    }
    fputs("</p>\n", c->html);
}

static rep_err plot_response(camp *c, const response *r) {
    char name[NAME_MAX_LEN + 16];
    snprintf(name, sizeof name, "campaign_%s", r->stem);
    rep_err e = REP_OK;
    FILE *f = open_out(c, name, ".sql", &e);
    if (!f) return e;
    write_sql(c, r, f);
    fclose(f);

    cfg_stat *stats = calloc(c->ncfgs + 1, sizeof *stats);
    double *scratch = malloc((c->nruns + 1) * sizeof *scratch);
    if (!stats || !scratch) {
        free(stats);
        free(scratch);
        return REP_ERR_NOMEM;
    }
    for (size_t k = 0; k < c->ncfgs; k++) stat_config(c, r, k, scratch, &stats[k]);
    free(scratch);
    bool pass = r->kind == RESP_PASS;
    double top = pass ? 1 : top_of(c, r);

    /* The table, as CSV (here and in campaign_summary.csv) and HTML. */
    FILE *csv = open_out(c, name, ".csv", &e);
    if (!csv) {
        free(stats);
        return e;
    }
    for (size_t p = 0; p < c->nparams; p++) fprintf(csv, "%s,", c->params[p]);
    if (pass)
        fputs("runs,passed,pass_rate,ci95_lo,ci95_hi\n", csv);
    else
        fputs("runs,censored,median,ci_lo,ci_hi,ci_coverage\n", csv);
    char hdr[512];
    snprintf(hdr, sizeof hdr, "%s (per configuration%s)", r->label,
             pass ? ": pass rate, Wilson 95 % interval" : ": median, 95 % interval for the median");
    fprintf(c->html, "<h3 id=\"%s\">", name);
    rep_html_escape(c->html, hdr);
    fputs("</h3>\n", c->html);

    /* Data files: one per series (x, median, lo, hi, n, censored), every run, censored. */
    size_t per_series_pts = 0;
    for (size_t s = 0; s < c->nseries; s++) {
        char ext[32];
        snprintf(ext, sizeof ext, "_%zu.dat", s);
        FILE *dat = open_out(c, name, ext, &e);
        if (!dat) break;
        fprintf(dat, "# %s: x median ci_lo ci_hi runs censored (series '%s'; 'NaN': not reached, "
                     "drawn at the censored row)\n",
                r->label, c->slabels[s]);
        double off = c->nseries > 1 ? ((double)s - (double)(c->nseries - 1) / 2) * 0.08 : 0;
        for (size_t k = 0; k < c->ncfgs; k++) {
            if (c->cfgs[k].s != s) continue;
            const cfg_stat *t = &stats[k];
            double x = c->cfgs[k].x + off;
            if (pass) {
                fprintf(dat, "%.4f %.9g %.9g %.9g %u 0\n", x, t->rate, t->rate_lo, t->rate_hi,
                        t->ci.n);
            } else if (t->ci.n > t->ci.censored) {
                double m = isinf(t->ci.median) ? NAN : t->ci.median;
                double hi = isinf(t->ci.hi) ? top : t->ci.hi;
                double lo = isinf(t->ci.lo) ? top : t->ci.lo;
                fprintf(dat, "%.4f %.9g %.9g %.9g %u %u\n", x, m, lo, hi, t->ci.n, t->ci.censored);
            }
            per_series_pts++;
        }
        fclose(dat);
    }
    if (e != REP_OK) {
        fclose(csv);
        free(stats);
        return e;
    }
    size_t ncens = 0, nobs = 0;
    FILE *runs = open_out(c, name, "_runs.dat", &e);
    FILE *cens = runs ? open_out(c, name, "_censored.dat", &e) : NULL;
    if (runs && cens) {
        fprintf(runs, "# x value run_id (one line per run with a value)\n");
        fprintf(cens, "# x y run_id (runs where it never happened, drawn at the top)\n");
        for (size_t i = 0; i < c->nruns && !pass; i++) {
            const config *k = &c->cfgs[c->runs[i].cfg];
            double off = c->nseries > 1 ? ((double)k->s - (double)(c->nseries - 1) / 2) * 0.08 : 0;
            if (isnan(r->v[i])) {
                fprintf(cens, "%.4f %.9g %" PRId64 "\n", k->x + off, top, c->runs[i].id);
                ncens++;
            } else {
                fprintf(runs, "%.4f %.9g %" PRId64 "\n", k->x + off, r->v[i], c->runs[i].id);
                nobs++;
            }
        }
    }
    if (runs) fclose(runs);
    if (cens) fclose(cens);
    if (e != REP_OK) {
        fclose(csv);
        free(stats);
        return e;
    }

    /* gnuplot */
    FILE *gp = open_out(c, name, ".gp", &e);
    if (!gp) {
        fclose(csv);
        free(stats);
        return e;
    }
    char title[512];
    snprintf(title, sizeof title, "%s against %s", r->label,
             c->xparam[0] ? c->xparam : "configuration");
    gp_header(gp, name, title, c->xparam[0] ? c->xparam : "configuration", r->label);
    fprintf(gp, "set xrange [-0.5:%zu.5]\nset xtics (", c->nx ? c->nx - 1 : 0);
    for (size_t i = 0; i < c->nx; i++) {
        fprintf(gp, "%s'", i ? ", " : "");
        rep_gp_escape(gp, c->xlabels[i]);
        fprintf(gp, "' %zu", i);
    }
    fputs(")\n", gp);
    if (!c->xparam[0]) fputs("set xtics rotate by -30\n", gp);
    if (pass)
        fputs("set yrange [0:1.05]\n", gp);
    else if (ncens)
        fprintf(gp, "set arrow from graph 0, first %.9g to graph 1, first %.9g nohead dt 3 "
                    "lc rgb '#999999'\nset label 'never happened (censored)' at graph 0.01, "
                    "first %.9g offset 0, 0.6 font ',8' tc rgb '#666666'\n",
                top, top, top);
    fputs("plot ", gp);
    bool first = true;
    if (nobs) {
        fprintf(gp, "'%s_runs.dat' using 1:2 with points pt 7 ps 0.5 lc rgb '#aaaaaa' "
                    "title 'one run'",
                name);
        first = false;
    }
    if (ncens) {
        fprintf(gp, "%s'%s_censored.dat' using 1:2 with points pt 8 ps 1.2 lc rgb '#d62728' "
                    "title 'a run where it never happened (censored)'",
                first ? "" : ", \\\n     ", name);
        first = false;
    }
    for (size_t s = 0; s < c->nseries; s++) {
        fprintf(gp, "%s'%s_%zu.dat' using 1:2:3:4 with yerrorlines lt %zu title '",
                first ? "" : ", \\\n     ", name, s, s + 1);
        first = false;
        if (c->slabels[s][0]) {
            rep_gp_escape(gp, c->slabels[s]);
            fputs(": ", gp);
        }
        fputs(pass ? "pass rate, Wilson 95 % interval'" : "median, 95 % interval'", gp);
    }
    gp_footer(gp, name);
    fclose(gp);
    c->sum->plots++;
    bool drawn = false;
    if (per_series_pts) e = gnuplot_draw(c, name, &drawn);
    if (drawn) {
        fputs("<p><img src=\"", c->html);
        rep_html_escape(c->html, name);
        fputs(".png\" alt=\"", c->html);
        rep_html_escape(c->html, title);
        fputs("\"></p>\n", c->html);
    } else {
        fprintf(c->html, "<p>(not drawn%s)</p>\n", c->render ? ": see the .log file" : "");
    }

    /* the table */
    fputs("<table><tr>", c->html);
    for (size_t p = 0; p < c->nparams; p++) {
        fputs("<th>", c->html);
        rep_html_escape(c->html, c->params[p]);
        fputs("</th>", c->html);
    }
    fputs(pass ? "<th>runs</th><th>passed</th><th>pass rate</th><th>95 % interval</th></tr>\n"
               : "<th>runs</th><th>censored</th><th>median</th><th>95 % interval</th></tr>\n",
          c->html);
    for (size_t k = 0; k < c->ncfgs; k++) {
        const cfg_stat *t = &stats[k];
        char vals[REP_CAMPAIGN_PARAMS_MAX][256];
        for (size_t p = 0; p < c->nparams; p++) {
            param_text(c, c->cfgs[k].params, c->params[p], vals[p], sizeof vals[p]);
            csv_field(csv, vals[p]);
            fputc(',', csv);
        }
        char a[32], b[32], m[32], cov[32];
        fputs("<tr>", c->html);
        for (size_t p = 0; p < c->nparams; p++) {
            fputs("<td>", c->html);
            rep_html_escape(c->html, vals[p]);
            fputs("</td>", c->html);
        }
        if (pass) {
            num(m, sizeof m, t->rate);
            num(a, sizeof a, t->rate_lo);
            num(b, sizeof b, t->rate_hi);
            fprintf(csv, "%u,%u,%s,%s,%s\n", t->ci.n, t->passed, m, a, b);
            fprintf(c->html, "<td class=\"num\">%u</td><td class=\"num\">%u</td><td class=\"num\">"
                             "%s</td><td class=\"num\">[%s, %s]</td></tr>\n",
                    t->ci.n, t->passed, m, a, b);
        } else {
            bool none = t->ci.n == t->ci.censored;
            num(m, sizeof m, none ? NAN : t->ci.median);
            num(a, sizeof a, none ? NAN : t->ci.lo);
            num(b, sizeof b, none ? NAN : t->ci.hi);
            snprintf(cov, sizeof cov, "%.4f", t->ci.coverage);
            fprintf(csv, "%u,%u,%s,%s,%s,%s\n", t->ci.n, t->ci.censored, m, a, b,
                    none ? "" : cov);
            fprintf(c->html, "<td class=\"num\">%u</td><td class=\"num\">%u</td>", t->ci.n,
                    t->ci.censored);
            if (none) {
                fputs("<td class=\"num\">never happened</td><td></td></tr>\n", c->html);
            } else {
                fprintf(c->html, "<td class=\"num\">%s</td><td class=\"num\">[%s, %s]%s",
                        isinf(t->ci.median) ? "not reached" : m, a,
                        isinf(t->ci.hi) ? "not reached" : b, "");
                if (t->ci.coverage < 0.95)
                    fprintf(c->html, " (n = %u: [min, max], coverage %.1f %%)", t->ci.n,
                            100 * t->ci.coverage);
                fputs("</td></tr>\n", c->html);
            }
        }
        /* campaign_summary.csv */
        csv_field(c->summary_csv, r->label);
        fputc(',', c->summary_csv);
        csv_field(c->summary_csv, c->cfgs[k].label);
        if (pass)
            fprintf(c->summary_csv, ",%u,0,%s,%s,%s,wilson95\n", t->ci.n, m, a, b);
        else
            fprintf(c->summary_csv, ",%u,%u,%s,%s,%s,%s\n", t->ci.n, t->ci.censored, m, a, b,
                    t->ci.n == t->ci.censored ? "" : cov);
    }
    fputs("</table>\n", c->html);
    html_links(c, name, drawn);
    fclose(csv);
    free(stats);
    return e;
}

/* ---- curves ------------------------------------------------------------------------- */

static rep_err plot_curve(camp *c, const char *metric) {
    char s[64], name[NAME_MAX_LEN + 32];
    sanitize(metric, s, sizeof s);
    snprintf(name, sizeof name, "campaign_curve_%s", s);
    rep_err e = REP_OK;
    FILE *f = open_out(c, name, ".sql", &e);
    if (!f) return e;
    fprintf(f, "-- %s.sql: the samples behind the curve of '%s' on campaign.html. Per run, the\n"
               "-- value at each of %d grid times (0 .. the latest sample of the campaign) is\n"
               "-- its last sample at or before it; per configuration and grid time the page\n"
               "-- draws the median over the runs and a band from the lowest to the highest.\n"
               "SELECT r.id, r.parameters, r.seed, s.time_ns, s.value\n"
               "FROM runs r JOIN samples s ON s.run_id = r.id\n"
               "WHERE r.verdict <> 'running' AND s.node IS NULL AND s.metric = '%s'\n"
               "ORDER BY r.parameters, r.seed, s.time_ns, s.rowid;\n",
            name, metric, CURVE_POINTS, metric);
    fclose(f);
    sqlite3_stmt *st;
    int64_t tmax = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT max(time_ns) FROM samples WHERE node IS NULL AND metric = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, metric, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) tmax = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (tmax <= 0) tmax = 1;
    /* grid[run][g]: the run's value at grid time g (NaN before its first sample). */
    double *grid = malloc((c->nruns * CURVE_POINTS + 1) * sizeof *grid);
    if (!grid) return REP_ERR_NOMEM;
    for (size_t i = 0; i < c->nruns * CURVE_POINTS; i++) grid[i] = NAN;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT run_id, time_ns, value FROM samples WHERE node IS NULL AND "
                           "metric = ?1 ORDER BY run_id, time_ns, rowid",
                           -1, &st, NULL) != SQLITE_OK) {
        free(grid);
        return fail(c, REP_ERR_INPUT, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
    }
    sqlite3_bind_text(st, 1, metric, -1, SQLITE_STATIC);
    size_t run = c->nruns;
    int64_t last_id = -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id != last_id) {
            run = c->nruns;
            for (size_t i = 0; i < c->nruns; i++)
                if (c->runs[i].id == id) run = i;
            last_id = id;
        }
        if (run == c->nruns) continue;
        int64_t t = sqlite3_column_int64(st, 1);
        double v = sqlite3_column_double(st, 2);
        /* fill every grid time >= t (later samples overwrite) */
        size_t g0 = (size_t)((t * (int64_t)(CURVE_POINTS - 1) + tmax - 1) / tmax);
        for (size_t g = g0; g < CURVE_POINTS; g++) grid[run * CURVE_POINTS + g] = v;
    }
    sqlite3_finalize(st);

    size_t ncfg = c->ncfgs < REP_CAMPAIGN_CURVES_MAX ? c->ncfgs : REP_CAMPAIGN_CURVES_MAX;
    double *vals = malloc((c->nruns + 1) * sizeof *vals);
    FILE *csv = vals ? open_out(c, name, ".csv", &e) : NULL;
    if (!csv) {
        free(grid);
        free(vals);
        return vals ? e : REP_ERR_NOMEM;
    }
    fputs("configuration,seconds,runs,median,min,max\n", csv);
    for (size_t k = 0; k < ncfg && e == REP_OK; k++) {
        char ext[32];
        snprintf(ext, sizeof ext, "_%zu.dat", k);
        FILE *dat = open_out(c, name, ext, &e);
        if (!dat) break;
        fprintf(dat, "# %s over time, configuration '%s': seconds median min max runs\n", metric,
                c->cfgs[k].label);
        for (size_t g = 0; g < CURVE_POINTS; g++) {
            size_t n = 0;
            for (size_t i = 0; i < c->nruns; i++)
                if (c->runs[i].cfg == k && !isnan(grid[i * CURVE_POINTS + g]))
                    vals[n++] = grid[i * CURVE_POINTS + g];
            if (!n) continue;
            qsort(vals, n, sizeof *vals, cmp_double);
            double med = n % 2 ? vals[n / 2] : (vals[n / 2 - 1] + vals[n / 2]) / 2;
            double sec = (double)tmax * (double)g / (CURVE_POINTS - 1) / 1e9;
            fprintf(dat, "%.6f %.9g %.9g %.9g %zu\n", sec, med, vals[0], vals[n - 1], n);
            csv_field(csv, c->cfgs[k].label);
            fprintf(csv, ",%.6f,%zu,%.9g,%.9g,%.9g\n", sec, n, med, vals[0], vals[n - 1]);
        }
        fclose(dat);
    }
    fclose(csv);
    free(grid);
    free(vals);
    if (e != REP_OK) return e;
    FILE *gp = open_out(c, name, ".gp", &e);
    if (!gp) return e;
    char title[256];
    snprintf(title, sizeof title, "%s over time: median over the seeds, band min..max", metric);
    gp_header(gp, name, title, "virtual time (s)", metric);
    fputs("set style fill transparent solid 0.15 noborder\nplot ", gp);
    for (size_t k = 0; k < ncfg; k++) {
        fprintf(gp, "%s'%s_%zu.dat' using 1:3:4 with filledcurves lt %zu notitle, \\\n     "
                    "'%s_%zu.dat' using 1:2 with lines lt %zu title '",
                k ? ", \\\n     " : "", name, k, k + 1, name, k, k + 1);
        rep_gp_escape(gp, c->cfgs[k].label);
        fputs("'", gp);
    }
    gp_footer(gp, name);
    fclose(gp);
    c->sum->plots++;
    bool drawn = false;
    e = gnuplot_draw(c, name, &drawn);
    fprintf(c->html, "<h3 id=\"%s\">", name);
    rep_html_escape(c->html, title);
    fputs("</h3>\n", c->html);
    if (drawn) {
        fputs("<p><img src=\"", c->html);
        rep_html_escape(c->html, name);
        fputs(".png\" alt=\"", c->html);
        rep_html_escape(c->html, title);
        fputs("\"></p>\n", c->html);
    } else {
        fprintf(c->html, "<p>(not drawn%s)</p>\n", c->render ? ": see the .log file" : "");
    }
    if (c->ncfgs > ncfg)
        fprintf(c->html, "<p>The first %zu of %zu configurations are drawn; the CSV has them "
                         "all up to that limit.</p>\n",
                ncfg, c->ncfgs);
    html_links(c, name, drawn);
    return e;
}

/* ---- the page ----------------------------------------------------------------------- */

static void html_head(camp *c) {
    FILE *h = c->html;
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>campaign: ", h);
    rep_html_escape(h, c->db_path);
    fputs("</title>\n<style>body{font-family:sans-serif;max-width:1000px;margin:1em auto}"
          "img{max-width:100%}.src{font-size:small;color:#555}"
          "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;"
          "border-bottom:1px solid #ddd}td.num{text-align:right}</style></head><body>\n"
          "<h1>Campaign: ",
          h);
    rep_html_escape(h, c->db_path);
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t k = 0; k < c->ncfgs; k++) {
        if (c->cfgs[k].nruns < lo) lo = c->cfgs[k].nruns;
        if (c->cfgs[k].nruns > hi) hi = c->cfgs[k].nruns;
    }
    fprintf(h, "</h1>\n<p>%u finished runs in %zu configurations (runs whose parameters are "
               "equal, differing only by seed: %u",
            c->sum->runs, c->ncfgs, lo);
    if (hi != lo) fprintf(h, " to %u", hi);
    fputs(" runs each). Swept parameters: ", h);
    for (size_t i = 0; i < c->nparams; i++) {
        fprintf(h, "%s<b>", i ? ", " : "");
        rep_html_escape(h, c->params[i]);
        fputs("</b>", h);
    }
    fputs(". The per-run report is <a href=\"index.html\">index.html</a> (when written).</p>\n", h);
    fputs("<p><b>Statistics.</b> Per configuration: n (runs), the <b>median</b> over the runs "
          "and an exact, distribution-free <b>95 % confidence interval for the median</b>: the "
          "order statistics [x<sub>(j)</sub>, x<sub>(n+1&minus;j)</sub>] with the largest j "
          "such that 1 &minus; 2&middot;P(Bin(n, &frac12;) &lt; j) &ge; 0.95 (no resampling, "
          "no random seed). With n &lt; 6 no such j exists: the interval is [min, max] and its "
          "coverage is stated. A run where the event never happened (a key figure that is "
          "empty, a metric the run never sampled or sampled as &minus;1) is <b>censored</b>: "
          "it counts in n as larger than every observed value, never as a number, and a "
          "median or bound that falls on it reads <i>not reached</i>. The pass rate is a "
          "proportion with a Wilson score 95 % interval. Every table is also a CSV; "
          "<a href=\"campaign_summary.csv\">campaign_summary.csv</a> has them all.</p>\n",
          h);
    fputs("<p>Responses: ", h);
    for (size_t i = 0; i < c->nresp; i++) {
        if (!c->resp[i].any) continue;
        fprintf(h, "<a href=\"#campaign_%s\">", c->resp[i].stem);
        rep_html_escape(h, c->resp[i].label);
        fputs("</a> · ", h);
    }
    for (size_t i = 0; i < c->ncurves; i++) {
        char s[64];
        sanitize(c->curves[i], s, sizeof s);
        fprintf(h, "<a href=\"#campaign_curve_%s\">", s);
        rep_html_escape(h, c->curves[i]);
        fputs(" over time</a> · ", h);
    }
    fputs("</p>\n", h);
    if (c->resp_left_out)
        fprintf(h, "<p>%zu more global metrics are not shown (at most %d responses).</p>\n",
                c->resp_left_out, REP_CAMPAIGN_RESPONSES_MAX);
}

rep_err rep_campaign(const char *db_path, const char *out_dir, const char *gnuplot, bool render,
                     rep_campaign_summary *summary, char *errbuf, size_t errlen) {
    memset(summary, 0, sizeof *summary);
    if (errlen > 0) errbuf[0] = '\0';
    camp *c = calloc(1, sizeof *c);
    if (!c) return REP_ERR_NOMEM;
    c->db_path = db_path;
    c->out_dir = out_dir;
    c->gnuplot = gnuplot ? gnuplot : "gnuplot";
    c->render = render;
    c->err = errbuf;
    c->errlen = errlen;
    c->sum = summary;
    rep_err e = REP_OK;
    if (sqlite3_open_v2(db_path, &c->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        e = fail(c, REP_ERR_INPUT, "%s: cannot open it (%s)", db_path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto out;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM runs WHERE verdict <> 'running'", -1,
                           &st, NULL) != SQLITE_OK) {
        e = fail(c, REP_ERR_INPUT, "%s: not a results database (%s)", db_path,
                 sqlite3_errmsg(c->db));
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW) summary->runs = (uint32_t)sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (summary->runs < 2) goto out;
    e = find_parameters(c);
    if (e != REP_OK || c->nparams == 0) goto out;
    summary->parameters = (uint32_t)c->nparams;
    if (render) {
        char version[128];
        char *argv[] = {(char *)c->gnuplot, "--version", NULL};
        rep_spawn_args a = {.argv = argv, .capture = version, .capture_len = sizeof version};
        int status = 0, spawn_errno = 0;
        if (rep_spawn(&a, &status, &spawn_errno) != REP_OK || status != 0) {
            e = fail(c, REP_ERR_GNUPLOT_MISSING,
                     "cannot run '%s' for the campaign plots (%s); install gnuplot "
                     "(apt-get install gnuplot-nox) or pass --no-plots",
                     c->gnuplot, spawn_errno ? strerror(spawn_errno) : "it failed");
            goto out;
        }
    }
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        e = fail(c, REP_ERR_OUTPUT, "%s: cannot create it (%s)", out_dir, strerror(errno));
        goto out;
    }
    e = load_runs(c);
    if (e == REP_OK) e = layout(c);
    if (e == REP_OK) e = load_responses(c);
    if (e != REP_OK) goto out;
    summary->configurations = (uint32_t)c->ncfgs;
    c->html = open_out(c, "campaign", ".html", &e);
    if (!c->html) goto out;
    c->summary_csv = open_out(c, "campaign_summary", ".csv", &e);
    if (!c->summary_csv) goto out;
    fputs("response,configuration,runs,censored,median,ci_lo,ci_hi,ci_coverage\n",
          c->summary_csv);
    html_head(c);
    fputs("<h2>Per configuration</h2>\n", c->html);
    for (size_t i = 0; i < c->nresp && e == REP_OK; i++)
        if (c->resp[i].any) e = plot_response(c, &c->resp[i]);
    if (c->ncurves) fputs("<h2>Over time</h2>\n", c->html);
    for (size_t i = 0; i < c->ncurves && e == REP_OK; i++) e = plot_curve(c, c->curves[i]);
    fprintf(c->html, "</body></html>\n");
    if (fclose(c->html) != 0 && e == REP_OK)
        e = fail(c, REP_ERR_OUTPUT, "%s/campaign.html: cannot write it", out_dir);
    c->html = NULL;
    if (e == REP_OK && summary->plots_failed > 0)
        e = fail(c, REP_ERR_GNUPLOT_FAILED,
                 "gnuplot failed on %u campaign plot%s; see %s/campaign_*.log", summary->plots_failed,
                 summary->plots_failed == 1 ? "" : "s", out_dir);
out:
    if (c->html) fclose(c->html);
    if (c->summary_csv) fclose(c->summary_csv);
    for (size_t i = 0; i < c->nresp; i++) free(c->resp[i].v);
    for (size_t i = 0; i < c->ncfgs; i++) free(c->cfgs[i].params);
    free(c->cfgs);
    free(c->runs);
    free(c->xlabels);
    free(c->slabels);
    sqlite3_close(c->db);
    free(c);
    return e;
}
