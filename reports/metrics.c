/* reports/metrics.c — every sample() metric on the run page (report_impl.h): a row of the
 * key figures (the scenario's declared summary: Lua metric(name, {summary = ..., unit =
 * ..., threshold = ...}), reports/schema.sql `metrics`; else the last value) and a
 * time-series plot per metric. Kept apart from report.c, which calls the two entry
 * points; the metrics the dedicated plots draw are left to them. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/report_impl.h"

#define METRICS_MAX 64
#define METRIC_NAME_MAX 96
#define GROUPS_MAX 8

/* Drawn by their own plots (queries.h): not repeated here. */
#define DEDICATED "('components', 'fault_active', 'bytes_in', 'bytes_out')"

typedef struct metric_info {
    char name[METRIC_NAME_MAX];
    char stem[METRIC_NAME_MAX + 32];
    bool global, per_node;
    char summary[16]; /* last | max | min | mean | time_to */
    double threshold;
    bool has_threshold;
    char unit[32];
} metric_info;

static rep_err fail(rep_metrics_ctx *m, rep_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static rep_err fail(rep_metrics_ctx *m, rep_err e, const char *fmt, ...) {
    if (m->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->err, m->errlen, fmt, ap);
        va_end(ap);
    }
    return e;
}

static bool has_table(sqlite3 *db, const char *name) {
    sqlite3_stmt *st = NULL;
    bool yes = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        yes = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return yes;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const metric_info *)a)->name, ((const metric_info *)b)->name);
}

/* The metrics of every series, sorted, with the first declaration found; *left_out:
 * metrics past METRICS_MAX (named in the page, never dropped silently). */
static size_t list_metrics(rep_metrics_ctx *m, metric_info *out, size_t *left_out) {
    size_t n = 0;
    *left_out = 0;
    for (uint32_t k = 0; k < m->nseries; k++) {
        const rep_metric_series *s = &m->series[k];
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db,
                               "SELECT metric, MAX(node IS NULL), MAX(node IS NOT NULL) FROM "
                               "samples WHERE run_id = ?1 AND metric NOT IN " DEDICATED
                               " GROUP BY metric ORDER BY metric",
                               -1, &st, NULL) != SQLITE_OK) {
            sqlite3_finalize(st);
            continue;
        }
        sqlite3_bind_int64(st, 1, s->run_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(st, 0);
            if (!name || strlen(name) >= METRIC_NAME_MAX) continue;
            size_t i = 0;
            while (i < n && strcmp(out[i].name, name) != 0) i++;
            if (i == n) {
                if (n == METRICS_MAX) {
                    (*left_out)++;
                    continue;
                }
                memset(&out[n], 0, sizeof out[n]);
                snprintf(out[n].name, sizeof out[n].name, "%s", name);
                snprintf(out[n].summary, sizeof out[n].summary, "last");
                n++;
            }
            out[i].global |= sqlite3_column_int(st, 1) != 0;
            out[i].per_node |= sqlite3_column_int(st, 2) != 0;
        }
        sqlite3_finalize(st);
    }
    qsort(out, n, sizeof *out, by_name);
    for (size_t i = 0; i < n; i++) {
        metric_info *mi = &out[i];
        size_t len = 0;
        char stem[METRIC_NAME_MAX];
        for (const char *p = mi->name; *p && len + 1 < sizeof stem && len < 48; p++)
            stem[len++] = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                           (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
                              ? *p
                              : '_';
        stem[len] = '\0';
        snprintf(mi->stem, sizeof mi->stem, "metric_%s_%zu", stem, i + 1);
        for (uint32_t k = 0; k < m->nseries; k++) {
            const rep_metric_series *s = &m->series[k];
            if (!has_table(s->db, "metrics")) continue;
            sqlite3_stmt *st = NULL;
            if (sqlite3_prepare_v2(s->db,
                                   "SELECT summary, threshold, unit FROM metrics WHERE run_id = "
                                   "?1 AND metric = ?2",
                                   -1, &st, NULL) != SQLITE_OK) {
                sqlite3_finalize(st);
                continue;
            }
            sqlite3_bind_int64(st, 1, s->run_id);
            sqlite3_bind_text(st, 2, mi->name, -1, SQLITE_STATIC);
            bool found = sqlite3_step(st) == SQLITE_ROW;
            if (found) {
                const char *sum = (const char *)sqlite3_column_text(st, 0);
                const char *unit = (const char *)sqlite3_column_text(st, 2);
                snprintf(mi->summary, sizeof mi->summary, "%s", sum ? sum : "last");
                mi->has_threshold = sqlite3_column_type(st, 1) != SQLITE_NULL;
                mi->threshold = sqlite3_column_double(st, 1);
                snprintf(mi->unit, sizeof mi->unit, "%s", unit ? unit : "");
            }
            sqlite3_finalize(st);
            if (found) break;
        }
    }
    return n;
}

static void bind_all(sqlite3_stmt *st, const rep_metrics_ctx *m, const rep_metric_series *s,
                     const metric_info *mi) {
    int i;
    if ((i = sqlite3_bind_parameter_index(st, ":run")) > 0) sqlite3_bind_int64(st, i, s->run_id);
    if ((i = sqlite3_bind_parameter_index(st, ":buckets")) > 0)
        sqlite3_bind_int64(st, i, m->buckets);
    if ((i = sqlite3_bind_parameter_index(st, ":width")) > 0)
        sqlite3_bind_int64(st, i, s->width_ns > 0 ? s->width_ns : 1);
    if ((i = sqlite3_bind_parameter_index(st, ":metric")) > 0)
        sqlite3_bind_text(st, i, mi->name, -1, SQLITE_STATIC);
    if ((i = sqlite3_bind_parameter_index(st, ":threshold")) > 0)
        sqlite3_bind_double(st, i, mi->threshold);
}

/* ---- key figures --------------------------------------------------------------------- */

/* The summary of a global metric (one value, NULL: never / no samples). */
static const char *global_sql(const char *summary) {
    if (strcmp(summary, "max") == 0)
        return "SELECT MAX(value) FROM samples WHERE run_id = :run AND metric = :metric AND "
               "node IS NULL;\n";
    if (strcmp(summary, "min") == 0)
        return "SELECT MIN(value) FROM samples WHERE run_id = :run AND metric = :metric AND "
               "node IS NULL;\n";
    if (strcmp(summary, "mean") == 0)
        return "SELECT AVG(value) FROM samples WHERE run_id = :run AND metric = :metric AND "
               "node IS NULL;\n";
    if (strcmp(summary, "time_to") == 0)
        return "SELECT MIN(time_ns) / 1e9 FROM samples WHERE run_id = :run AND metric = "
               ":metric AND node IS NULL AND value >= :threshold;\n";
    return "SELECT value FROM samples WHERE run_id = :run AND metric = :metric AND node IS "
           "NULL ORDER BY time_ns DESC, rowid DESC LIMIT 1;\n";
}

/* A per-node metric: each node's summary, then the median over the nodes that have one,
 * how many have one and how many sampled it. */
static void per_node_sql(const char *summary, char *buf, size_t cap) {
    const char *agg = "(SELECT s2.value FROM samples s2 WHERE s2.run_id = :run AND s2.metric = "
                      ":metric AND s2.node = s.node ORDER BY s2.time_ns DESC, s2.rowid DESC "
                      "LIMIT 1)";
    if (strcmp(summary, "max") == 0) agg = "MAX(s.value)";
    if (strcmp(summary, "min") == 0) agg = "MIN(s.value)";
    if (strcmp(summary, "mean") == 0) agg = "AVG(s.value)";
    if (strcmp(summary, "time_to") == 0)
        agg = "MIN(CASE WHEN s.value >= :threshold THEN s.time_ns END) / 1e9";
    snprintf(buf, cap,
             "WITH per_node AS (\n"
             "  SELECT s.node, %s AS v FROM samples s\n"
             "  WHERE s.run_id = :run AND s.metric = :metric AND s.node IS NOT NULL\n"
             "  GROUP BY s.node\n"
             "), ranked AS (\n"
             "  SELECT v, ROW_NUMBER() OVER (ORDER BY v) AS k, COUNT(*) OVER () AS n\n"
             "  FROM per_node WHERE v IS NOT NULL\n"
             ")\n"
             "SELECT (SELECT MIN(CASE WHEN k * 2 >= n THEN v END) FROM ranked) AS median,\n"
             "       (SELECT COUNT(*) FROM ranked) AS nodes_with_value,\n"
             "       (SELECT COUNT(*) FROM per_node) AS nodes;\n",
             agg);
}

static void summary_text(const metric_info *mi, char *buf, size_t cap) {
    if (strcmp(mi->summary, "time_to") == 0)
        snprintf(buf, cap, "time to >= %.6g (s)", mi->threshold);
    else if (strcmp(mi->summary, "last") == 0)
        snprintf(buf, cap, "last value%s%s%s", mi->unit[0] ? " (" : "", mi->unit,
                 mi->unit[0] ? ")" : "");
    else
        snprintf(buf, cap, "%s%s%s%s", mi->summary, mi->unit[0] ? " (" : "", mi->unit,
                 mi->unit[0] ? ")" : "");
}

static rep_err write_sql(rep_metrics_ctx *m, const metric_info *mi) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.sql", m->out_dir, mi->stem);
    FILE *f = fopen(path, "w");
    if (!f) return fail(m, REP_ERR_OUTPUT, "%s: cannot write it (%s)", path, strerror(errno));
    fprintf(f, "-- %s.sql: the sample() metric '%s' (summary: %s", mi->stem, mi->name,
            mi->summary);
    if (mi->has_threshold) fprintf(f, ", threshold %.9g", mi->threshold);
    fprintf(f, "%s%s)\n-- Parameters: :run, :metric = '%s', :buckets = %" PRIu32
               ", :width per series (see any plot's .sql)%s.\n",
            mi->unit[0] ? ", unit " : "", mi->unit, mi->name, m->buckets,
            mi->has_threshold ? ", :threshold" : "");
    if (mi->global) {
        fputs("\n-- The key figure (global samples):\n", f);
        fputs(global_sql(mi->summary), f);
        fputs("\n-- The plot: the last value in each time bucket.\n"
              "SELECT MAX(time_ns) / 1e9 AS seconds, value FROM samples\n"
              "WHERE run_id = :run AND metric = :metric AND node IS NULL\n"
              "GROUP BY MIN(:buckets - 1, time_ns / :width) ORDER BY 1;\n",
              f);
    }
    if (mi->per_node) {
        char q[2048];
        per_node_sql(mi->summary, q, sizeof q);
        fputs("\n-- The key figure (per-node samples): the median over the nodes of each\n"
              "-- node's summary.\n",
              f);
        fputs(q, f);
        fputs("\n-- The plot: per region and time bucket, the mean over the samples and\n"
              "-- their min..max.\n",
              f);
        fputs(
            "SELECT MIN(:buckets - 1, s.time_ns / :width) AS bucket, MAX(s.time_ns) / 1e9 AS "
            "seconds,\n"
            "       COALESCE(g.name, 'region ' || h.region, 'no region') AS grp,\n"
            "       AVG(s.value) AS mean, MIN(s.value) AS min, MAX(s.value) AS max,\n"
            "       COUNT(DISTINCT s.node) AS nodes\n"
            "FROM samples s\n"
            "LEFT JOIN hosts h ON h.run_id = s.run_id AND h.host = s.node\n"
            "LEFT JOIN regions g ON g.run_id = s.run_id AND g.region = h.region\n"
            "WHERE s.run_id = :run AND s.metric = :metric AND s.node IS NOT NULL\n"
            "GROUP BY grp, bucket ORDER BY grp, bucket;\n",
            f);
    }
    if (fclose(f) != 0) return fail(m, REP_ERR_OUTPUT, "%s: cannot write it", path);
    return REP_OK;
}

static void put_number(FILE *html, double v, const metric_info *mi) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.6g", v);
    rep_html_escape(html, buf);
    if (strcmp(mi->summary, "time_to") != 0 && mi->unit[0]) {
        fputc(' ', html);
        rep_html_escape(html, mi->unit);
    }
}

static void figure_cell(rep_metrics_ctx *m, FILE *html, const rep_metric_series *s,
                        const metric_info *mi, bool per_node) {
    char q[2048];
    const char *sql = per_node ? q : global_sql(mi->summary);
    if (per_node) per_node_sql(mi->summary, q, sizeof q);
    sqlite3_stmt *st = NULL;
    fputs("<td class=\"num\">", html);
    bool row = false;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
        bind_all(st, m, s, mi);
        if ((row = sqlite3_step(st) == SQLITE_ROW)) {
            if (!per_node) {
                if (sqlite3_column_type(st, 0) != SQLITE_NULL)
                    put_number(html, sqlite3_column_double(st, 0), mi);
                else if (strcmp(mi->summary, "time_to") == 0)
                    fputs("never", html);
                else
                    fputs("&ndash;", html);
            } else {
                int64_t with = sqlite3_column_int64(st, 1), all = sqlite3_column_int64(st, 2);
                if (all == 0)
                    fputs("&ndash;", html);
                else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
                    fputs("never", html);
                else
                    put_number(html, sqlite3_column_double(st, 0), mi);
                if (all > 0 && with < all)
                    fprintf(html, " (%" PRId64 " of %" PRId64 " nodes)", with, all);
            }
        }
    }
    if (!row) fputs("&ndash;", html); /* no samples in this run */
    sqlite3_finalize(st);
    fputs("</td>", html);
}

rep_err rep_metrics_figure_rows(rep_metrics_ctx *m, FILE *html) {
    metric_info *mis = calloc(METRICS_MAX, sizeof *mis);
    if (!mis) return REP_ERR_NOMEM;
    size_t left_out = 0;
    size_t n = list_metrics(m, mis, &left_out);
    for (size_t i = 0; i < n; i++) {
        const metric_info *mi = &mis[i];
        char what[128];
        summary_text(mi, what, sizeof what);
        for (int pass = 0; pass < 2; pass++) {
            bool per_node = pass == 1;
            if (per_node ? !mi->per_node : !mi->global) continue;
            fputs("<tr><td>", html);
            rep_html_escape(html, mi->name);
            fputs(": ", html);
            if (per_node) fputs("median over nodes of the ", html);
            rep_html_escape(html, what);
            fputs("</td>", html);
            for (uint32_t k = 0; k < m->nseries; k++) figure_cell(m, html, &m->series[k], mi, per_node);
            fputs("</tr>\n", html);
        }
    }
    free(mis);
    return REP_OK;
}

/* ---- plots ----------------------------------------------------------------------------- */

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                     "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

/* Writes NAME_K.dat for series k; returns the number of data lines, and for per-node
 * data the groups (regions) in order, one gnuplot index block each. */
static rep_err write_data(rep_metrics_ctx *m, const metric_info *mi, uint32_t k, bool per_node,
                          size_t *rows, char groups[GROUPS_MAX][64], size_t *ngroups) {
    const rep_metric_series *s = &m->series[k];
    *rows = 0;
    *ngroups = 0;
    const char *sql =
        per_node
            ? "SELECT MAX(s.time_ns) / 1e9 AS seconds,\n"
              "       COALESCE(g.name, 'region ' || h.region, 'no region') AS grp,\n"
              "       AVG(s.value), MIN(s.value), MAX(s.value), COUNT(DISTINCT s.node)\n"
              "FROM samples s\n"
              "LEFT JOIN hosts h ON h.run_id = s.run_id AND h.host = s.node\n"
              "LEFT JOIN regions g ON g.run_id = s.run_id AND g.region = h.region\n"
              "WHERE s.run_id = :run AND s.metric = :metric AND s.node IS NOT NULL\n"
              "GROUP BY grp, MIN(:buckets - 1, s.time_ns / :width) ORDER BY grp, 1"
            : "SELECT MAX(time_ns) / 1e9 AS seconds, value FROM samples\n"
              "WHERE run_id = :run AND metric = :metric AND node IS NULL\n"
              "GROUP BY MIN(:buckets - 1, time_ns / :width) ORDER BY 1";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rep_err e = fail(m, REP_ERR_INPUT, "a metrics query failed (%s)", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return e;
    }
    bind_all(st, m, s, mi);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s_%" PRIu32 ".dat", m->out_dir, mi->stem,
             per_node ? "_nodes" : "", k + 1);
    FILE *f = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!f) {
            f = fopen(path, "w");
            if (!f) {
                sqlite3_finalize(st);
                return fail(m, REP_ERR_OUTPUT, "%s: cannot write it (%s)", path, strerror(errno));
            }
            fprintf(f, "# %s%s, series %" PRIu32 ": %s\n", mi->name,
                    per_node ? " (per node)" : "", k + 1,
                    per_node ? "seconds mean min max nodes, one block per region"
                             : "seconds value");
        }
        if (per_node) {
            const char *g = (const char *)sqlite3_column_text(st, 1);
            if (!g) g = "?";
            if (*ngroups == 0 || strcmp(groups[*ngroups - 1], g) != 0) {
                if (*ngroups == GROUPS_MAX) break;
                if (*ngroups) fputs("\n\n", f);
                snprintf(groups[*ngroups], 64, "%s", g);
                (*ngroups)++;
                fputs("# region ", f);
                for (const char *p = g; *p; p++) fputc((unsigned char)*p < 0x20 ? '?' : *p, f);
                fputc('\n', f);
            }
            fprintf(f, "%.9g %.9g %.9g %.9g %lld\n", sqlite3_column_double(st, 0),
                    sqlite3_column_double(st, 2), sqlite3_column_double(st, 3),
                    sqlite3_column_double(st, 4), (long long)sqlite3_column_int64(st, 5));
        } else {
            fprintf(f, "%.9g %.9g\n", sqlite3_column_double(st, 0), sqlite3_column_double(st, 1));
        }
        (*rows)++;
    }
    sqlite3_finalize(st);
    if (f && fclose(f) != 0) return fail(m, REP_ERR_OUTPUT, "%s: cannot write it", path);
    return REP_OK;
}

static rep_err plot_metric(rep_metrics_ctx *m, FILE *html, const metric_info *mi, bool per_node) {
    char name[METRIC_NAME_MAX + 48];
    snprintf(name, sizeof name, "%s%s", mi->stem, per_node ? "_nodes" : "");
    bool has[64] = {0};
    char groups[64][GROUPS_MAX][64];
    size_t ngroups[64] = {0};
    bool any = false;
    uint32_t ns = m->nseries < 64 ? m->nseries : 64;
    for (uint32_t k = 0; k < ns; k++) {
        size_t rows;
        rep_err e = write_data(m, mi, k, per_node, &rows, groups[k], &ngroups[k]);
        if (e != REP_OK) return e;
        has[k] = rows > 0;
        any = any || has[k];
    }
    char title[256];
    snprintf(title, sizeof title, "%s over time%s", mi->name,
             per_node ? ", per node: mean per region, band min..max" : "");
    fprintf(html, "<h3 id=\"%s\">", name);
    rep_html_escape(html, title);
    fputs("</h3>\n", html);
    if (!any) {
        fputs("<p class=\"nodata\">No data in these runs.</p>\n", html);
        return REP_OK;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gp", m->out_dir, name);
    FILE *gp = fopen(path, "w");
    if (!gp) return fail(m, REP_ERR_OUTPUT, "%s: cannot write it (%s)", path, strerror(errno));
    fprintf(gp, "# %s.gp: ", name);
    rep_gp_escape(gp, title);
    fprintf(gp, "\n# written by tidepool report; data: %s_K.dat (one per series), query: %s.sql\n"
                "# redraw: gnuplot %s.gp (in this directory)\n",
            name, mi->stem, name);
    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "    set terminal pngcairo size 960,540 noenhanced font 'sans,10'\n"
          "} else {\n"
          "    set terminal png size 960,540 noenhanced\n"
          "}\n",
          gp);
    fprintf(gp, "set output '%s.png'\n", name);
    for (size_t i = 0; i < sizeof colors / sizeof colors[0]; i++)
        fprintf(gp, "set linetype %zu lc rgb '%s' lw 2\n", i + 1, colors[i]);
    fprintf(gp, "set linetype cycle %zu\nset title '", sizeof colors / sizeof colors[0]);
    rep_gp_escape(gp, title);
    fputs("'\nset xlabel 'virtual time (s)'\nset ylabel '", gp);
    rep_gp_escape(gp, mi->name);
    if (mi->unit[0]) {
        fputs(" (", gp);
        rep_gp_escape(gp, mi->unit);
        fputs(")", gp);
    }
    fputs("'\nset grid\nset key below\nset offsets graph 0, graph 0, graph 0.05, graph 0\n"
          "set style fill transparent solid 0.15 noborder\nplot ",
          gp);
    bool first = true;
    size_t lt = 0;
    for (uint32_t k = 0; k < ns; k++) {
        if (!has[k]) continue;
        if (!per_node) {
            fprintf(gp, "%s'%s_%" PRIu32 ".dat' using 1:2 with steps lt %zu title '",
                    first ? "" : ", \\\n     ", name, k + 1, lt++ % 8 + 1);
            rep_gp_escape(gp, m->series[k].label);
            fputs("'", gp);
            first = false;
            continue;
        }
        for (size_t g = 0; g < ngroups[k]; g++) {
            size_t t = lt++ % 8 + 1;
            fprintf(gp, "%s'%s_%" PRIu32 ".dat' index %zu using 1:3:4 with filledcurves lt %zu "
                        "notitle, \\\n     '%s_%" PRIu32 ".dat' index %zu using 1:2 with lines "
                        "lt %zu title '",
                    first ? "" : ", \\\n     ", name, k + 1, g, t, name, k + 1, g, t);
            if (m->nseries > 1) {
                rep_gp_escape(gp, m->series[k].label);
                fputs(": ", gp);
            }
            rep_gp_escape(gp, groups[k][g]);
            fputs("'", gp);
            first = false;
        }
    }
    fprintf(gp, "\n\nset terminal svg size 960,540 noenhanced font 'sans,10' background "
                "'#ffffff'\nset output '%s.svg'\nreplot\nunset output\n",
            name);
    if (fclose(gp) != 0) return fail(m, REP_ERR_OUTPUT, "%s: cannot write it", path);
    m->plots++;
    bool drawn = false;
    if (m->render) {
        char script[METRIC_NAME_MAX + 56], log[4096];
        snprintf(script, sizeof script, "%s.gp", name);
        snprintf(log, sizeof log, "%s/%s.log", m->out_dir, name);
        char *argv[] = {(char *)m->gnuplot, script, NULL};
        rep_spawn_args a = {.argv = argv, .cwd = m->out_dir, .stderr_path = log};
        int status = 0, spawn_errno = 0;
        if (rep_spawn(&a, &status, &spawn_errno) == REP_OK && status == 0) {
            drawn = true;
            remove(log);
        } else {
            m->plots_failed++;
            fprintf(html, "<p class=\"error\">gnuplot failed on <a href=\"%s.gp\">%s.gp</a>: "
                          "see <a href=\"%s.log\">%s.log</a>.</p>\n",
                    name, name, name, name);
        }
    } else {
        fprintf(html, "<p class=\"note\">Not drawn (--no-plots): run <code>gnuplot %s.gp</code> "
                      "in this directory.</p>\n",
                name);
    }
    if (drawn) {
        fprintf(html, "<p><a href=\"%s.svg\"><img src=\"%s.png\" alt=\"", name, name);
        rep_html_escape(html, title);
        fputs("\" width=\"960\" height=\"540\"></a></p>\n", html);
    }
    fputs("<p class=\"files\">", html);
    if (drawn) fprintf(html, "<a href=\"%s.svg\">SVG</a> &middot; ", name);
    fprintf(html, "<a href=\"%s.gp\">gnuplot script</a> &middot; <a href=\"%s.sql\">SQL</a> "
                  "&middot; data:",
            name, mi->stem);
    for (uint32_t k = 0; k < ns; k++) {
        if (!has[k]) continue;
        fprintf(html, " <a href=\"%s_%" PRIu32 ".dat\">", name, k + 1);
        rep_html_escape(html, m->series[k].label);
        fputs("</a>", html);
    }
    fputs("</p>\n", html);
    return REP_OK;
}

rep_err rep_metrics_section(rep_metrics_ctx *m, FILE *html) {
    metric_info *mis = calloc(METRICS_MAX, sizeof *mis);
    if (!mis) return REP_ERR_NOMEM;
    size_t left_out = 0;
    size_t n = list_metrics(m, mis, &left_out);
    fputs("<h2 id=\"metrics\">Metrics (sample())</h2>\n", html);
    if (left_out)
        fprintf(html, "<p class=\"note\">These runs sample more than %d metrics: the first "
                      "%d found (in name order) are shown, the others are not (the "
                      "samples table has them all).</p>\n",
                METRICS_MAX, METRICS_MAX);
    if (n == 0) {
        fputs("<p class=\"nodata\">No other sample() metrics in these runs: a scenario records "
              "one with <code>sample(\"name\", value)</code> (global) or <code>sample(\"name\", "
              "value, node)</code> (per node), and declares its summary and unit with "
              "<code>metric(\"name\", {summary = \"max\", unit = \"s\"})</code>.</p>\n",
              html);
        free(mis);
        return REP_OK;
    }
    fputs("<p>Every metric a scenario records with <code>sample()</code> that no plot above "
          "draws. Global metrics: the last value in each time bucket. Per-node metrics: per "
          "region the mean over the samples in each bucket, with a band from their min to "
          "their max. The key figures show each metric's declared summary "
          "(<code>metric(name, {summary = ..., unit = ..., threshold = ...})</code>), else its "
          "last value; for per-node metrics the median over the nodes.</p>\n",
          html);
    rep_err e = REP_OK;
    for (size_t i = 0; i < n && e == REP_OK; i++) {
        e = write_sql(m, &mis[i]);
        if (e == REP_OK && mis[i].global) e = plot_metric(m, html, &mis[i], false);
        if (e == REP_OK && mis[i].per_node) e = plot_metric(m, html, &mis[i], true);
    }
    free(mis);
    return e;
}

/* ---- parameters and checks ------------------------------------------------------------ */

rep_err rep_params_table(rep_metrics_ctx *m, FILE *html) {
    /* The union of the runs' parameter names, sorted. */
    char (*names)[64] = calloc(256, sizeof *names);
    if (!names) return REP_ERR_NOMEM;
    size_t n = 0;
    for (uint32_t k = 0; k < m->nseries; k++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(m->series[k].db,
                               "SELECT j.key FROM runs r, json_each(r.parameters) j WHERE r.id = "
                               "?1 AND json_valid(r.parameters)",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, m->series[k].run_id);
            while (sqlite3_step(st) == SQLITE_ROW && n < 256) {
                const char *key = (const char *)sqlite3_column_text(st, 0);
                if (!key || strlen(key) >= 64) continue;
                size_t i = 0;
                while (i < n && strcmp(names[i], key) != 0) i++;
                if (i == n) snprintf(names[n++], 64, "%s", key);
            }
        }
        sqlite3_finalize(st);
    }
    qsort(names, n, 64, (int (*)(const void *, const void *))strcmp);
    fputs("<h2 id=\"parameters\">Parameters</h2>\n", html);
    if (n == 0) {
        fputs("<p class=\"nodata\">No parameters (the scenario reads none with "
              "<code>param()</code>).</p>\n",
              html);
        free(names);
        return REP_OK;
    }
    fputs("<p>Every <code>param()</code> the scenario read, with its final value; values that "
          "differ between the runs are in bold.</p>\n<table>\n<tr><th>parameter</th>",
          html);
    for (uint32_t k = 0; k < m->nseries; k++) {
        fputs("<th>", html);
        rep_html_escape(html, m->series[k].label);
        fputs("</th>", html);
    }
    fputs("</tr>\n", html);
    char (*vals)[256] = calloc(m->nseries + 1, sizeof *vals);
    if (!vals) {
        free(names);
        return REP_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char path[80];
        snprintf(path, sizeof path, "$.\"%s\"", names[i]);
        bool differ = false;
        for (uint32_t k = 0; k < m->nseries; k++) {
            sqlite3_stmt *st = NULL;
            snprintf(vals[k], sizeof vals[k], "%s", "\x01"); /* absent */
            if (sqlite3_prepare_v2(m->series[k].db,
                                   "SELECT json_extract(parameters, ?2), json_type(parameters, ?2) "
                                   "FROM runs WHERE id = ?1 AND json_valid(parameters)",
                                   -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(st, 1, m->series[k].run_id);
                sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 1) != SQLITE_NULL) {
                    const char *v = (const char *)sqlite3_column_text(st, 0);
                    const char *t = (const char *)sqlite3_column_text(st, 1);
                    if (t && strcmp(t, "true") == 0) v = "true";
                    if (t && strcmp(t, "false") == 0) v = "false";
                    snprintf(vals[k], sizeof vals[k], "%s", v ? v : "null");
                }
            }
            sqlite3_finalize(st);
            if (k > 0 && strcmp(vals[k], vals[0]) != 0) differ = true;
        }
        fputs("<tr><td>", html);
        rep_html_escape(html, names[i]);
        fputs("</td>", html);
        for (uint32_t k = 0; k < m->nseries; k++) {
            fputs("<td>", html);
            if (strcmp(vals[k], "\x01") == 0) {
                fputs("&ndash;", html);
            } else {
                if (differ) fputs("<b>", html);
                rep_html_escape(html, vals[k]);
                if (differ) fputs("</b>", html);
            }
            fputs("</td>", html);
        }
        fputs("</tr>\n", html);
    }
    fputs("</table>\n", html);
    free(vals);
    free(names);
    return REP_OK;
}

#define CHECKS_SHOWN 200 /* per run */

rep_err rep_checks_list(rep_metrics_ctx *m, FILE *html) {
    fputs("<h2 id=\"checks\">Checks</h2>\n<p>Every <code>check()</code> and <code>fail()</code> of "
          "each run, failed ones first, then in time order.</p>\n",
          html);
    for (uint32_t k = 0; k < m->nseries; k++) {
        const rep_metric_series *s = &m->series[k];
        sqlite3_stmt *st = NULL;
        fputs("<h3>", html);
        rep_html_escape(html, s->label);
        fputs("</h3>\n", html);
        if (sqlite3_prepare_v2(s->db,
                               "SELECT passed, time_ns, file, line, message, COUNT(*) OVER (), "
                               "SUM(passed = 0) OVER () FROM assertions WHERE run_id = ?1 "
                               "ORDER BY passed, time_ns, rowid",
                               -1, &st, NULL) != SQLITE_OK) {
            sqlite3_finalize(st);
            fputs("<p class=\"nodata\">No checks table.</p>\n", html);
            continue;
        }
        sqlite3_bind_int64(st, 1, s->run_id);
        size_t shown = 0;
        int64_t total = 0, failed = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (shown == 0) {
                total = sqlite3_column_int64(st, 5);
                failed = sqlite3_column_int64(st, 6);
                fprintf(html, "<p>%" PRId64 " check%s: %" PRId64 " passed, %" PRId64
                              " failed.</p>\n<table>\n<tr><th></th><th>time (s)</th><th>where"
                              "</th><th>message</th></tr>\n",
                        total, total == 1 ? "" : "s", total - failed, failed);
            }
            if (shown == CHECKS_SHOWN) break;
            bool passed = sqlite3_column_int(st, 0) != 0;
            char where[320];
            const char *file = (const char *)sqlite3_column_text(st, 2);
            snprintf(where, sizeof where, "%s:%d", file ? file : "?", sqlite3_column_int(st, 3));
            fprintf(html, "<tr><td class=\"%s\">%s</td><td class=\"num\">%.3f</td><td><code>",
                    passed ? "verdict-pass" : "verdict-fail", passed ? "passed" : "FAILED",
                    (double)sqlite3_column_int64(st, 1) / 1e9);
            rep_html_escape(html, where);
            fputs("</code></td><td>", html);
            rep_html_escape(html, (const char *)sqlite3_column_text(st, 4));
            fputs("</td></tr>\n", html);
            shown++;
        }
        sqlite3_finalize(st);
        if (shown == 0)
            fputs("<p class=\"nodata\">No checks in this run.</p>\n", html);
        else {
            fputs("</table>\n", html);
            if ((int64_t)shown < total)
                fprintf(html, "<p class=\"note\">%" PRId64 " more not shown (the first %d, failed "
                              "ones first; all are in the assertions table).</p>\n",
                        total - (int64_t)shown, CHECKS_SHOWN);
        }
    }
    return REP_OK;
}
