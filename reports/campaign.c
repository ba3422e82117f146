/* reports/campaign.c — the campaign plot: swept parameters against outcomes across the
 * runs of one campaign database (reports/campaign.h). Written as its own file next to
 * the per-run report (report.c) and sharing only its gnuplot runner and escaping
 * helpers (report_impl.h). */
#include "reports/campaign.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reports/report_impl.h"

#define NAME_MAX_LEN 128
#define SQL_MAX_LEN 8192

typedef enum outcome_kind { OUT_METRIC, OUT_PASS_RATE, OUT_WALL_TIME } outcome_kind;

typedef struct outcome {
    outcome_kind kind;
    char metric[NAME_MAX_LEN]; /* OUT_METRIC */
    char label[NAME_MAX_LEN + 32];
    char stem[NAME_MAX_LEN];   /* file-name part */
} outcome;

typedef struct camp {
    sqlite3 *db;
    const char *db_path, *out_dir, *gnuplot;
    bool render;
    char *err;
    size_t errlen;
    rep_campaign_summary *sum;
    char params[REP_CAMPAIGN_PARAMS_MAX][64];
    size_t nparams;
    char all_params[32][64]; /* every swept parameter (series keys) */
    size_t nall;
    outcome outcomes[REP_CAMPAIGN_METRICS_MAX + 2];
    size_t noutcomes;
    FILE *html;
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

/* Appends s to buf as an SQL string literal ('...' with ' doubled). */
static void sql_literal(char *buf, size_t cap, const char *s) {
    size_t n = strlen(buf);
    if (n + 1 < cap) buf[n++] = '\'';
    for (; *s && n + 3 < cap; s++) {
        if (*s == '\'') buf[n++] = '\'';
        buf[n++] = *s;
    }
    if (n + 1 < cap) buf[n++] = '\'';
    buf[n < cap ? n : cap - 1] = '\0';
}

static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...) {
    size_t n = strlen(buf);
    if (n + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

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
        if (!k || !identifier(k) || c->nall == sizeof c->all_params / sizeof c->all_params[0])
            continue;
        snprintf(c->all_params[c->nall++], 64, "%s", k);
        if (c->nparams < REP_CAMPAIGN_PARAMS_MAX) snprintf(c->params[c->nparams++], 64, "%s", k);
    }
    sqlite3_finalize(st);
    return REP_OK;
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

static void find_outcomes(camp *c) {
    /* Metrics sampled once per run (outcomes by design, e.g. bootstrap_time_s) first,
     * then time series (their final value). */
    const char *sql = "SELECT metric FROM samples WHERE node IS NULL GROUP BY metric "
                      "ORDER BY count(*) > count(DISTINCT run_id), metric";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW && c->noutcomes < REP_CAMPAIGN_METRICS_MAX) {
            const char *m = (const char *)sqlite3_column_text(st, 0);
            if (!m || strlen(m) >= NAME_MAX_LEN) continue;
            outcome *o = &c->outcomes[c->noutcomes];
            o->kind = OUT_METRIC;
            snprintf(o->metric, sizeof o->metric, "%s", m);
            snprintf(o->label, sizeof o->label, "%s (last value per run)", m);
            char s[64];
            sanitize(m, s, sizeof s);
            snprintf(o->stem, sizeof o->stem, "%s_%zu", s, c->noutcomes);
            c->noutcomes++;
        }
    }
    sqlite3_finalize(st);
    outcome *p = &c->outcomes[c->noutcomes++];
    p->kind = OUT_PASS_RATE;
    snprintf(p->label, sizeof p->label, "pass rate (verdict = pass)");
    snprintf(p->stem, sizeof p->stem, "pass_rate");
    outcome *w = &c->outcomes[c->noutcomes++];
    w->kind = OUT_WALL_TIME;
    snprintf(w->label, sizeof w->label, "wall time per run (s)");
    snprintf(w->stem, sizeof w->stem, "wall_time_s");
}

/* The series expression: the other swept parameters as "k=v k2=v2" (or ''). */
static void series_expr(const camp *c, const char *param, char *buf, size_t cap) {
    buf[0] = '\0';
    bool any = false;
    for (size_t i = 0; i < c->nall; i++) {
        if (strcmp(c->all_params[i], param) == 0) continue;
        append(buf, cap, "%s'%s%s=' || coalesce(json_extract(r.parameters, '$.%s'), '?')",
               any ? " || " : "", any ? " " : "", c->all_params[i], c->all_params[i]);
        any = true;
    }
    if (!any) snprintf(buf, cap, "''");
}

static void y_expr(const outcome *o, char *buf, size_t cap) {
    buf[0] = '\0';
    switch (o->kind) {
    case OUT_METRIC:
        append(buf, cap, "(SELECT s.value FROM samples s WHERE s.run_id = r.id AND s.node IS "
                         "NULL AND s.metric = ");
        sql_literal(buf, cap, o->metric);
        append(buf, cap, " ORDER BY s.time_ns DESC, s.rowid DESC LIMIT 1)");
        break;
    case OUT_PASS_RATE: append(buf, cap, "(r.verdict = 'pass')"); break;
    case OUT_WALL_TIME: append(buf, cap, "r.wall_time_s"); break;
    }
}

static int value_index(char labels[][64], size_t n, const char *v) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(labels[i], v) == 0) return (int)i;
    return -1;
}

static FILE *open_out(camp *c, const char *name, const char *ext, rep_err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s", c->out_dir, name, ext);
    FILE *f = fopen(path, "w");
    if (!f) *e = fail(c, REP_ERR_OUTPUT, "%s: cannot write it (%s)", path, strerror(errno));
    return f;
}

static rep_err plot(camp *c, const char *param, char labels[][64], size_t nlabels,
                    bool pooled, const outcome *o) {
    char name[NAME_MAX_LEN * 2];
    snprintf(name, sizeof name, "campaign_%s_%s", param, o->stem);
    char series[SQL_MAX_LEN / 2], y[1024], sql[SQL_MAX_LEN];
    if (pooled)
        snprintf(series, sizeof series, "''");
    else
        series_expr(c, param, series, sizeof series);
    y_expr(o, y, sizeof y);
    if (snprintf(sql, sizeof sql,
                 "SELECT series, x, count(y) AS runs, avg(y) AS mean, min(y) AS min, max(y) AS max\n"
                 "FROM (SELECT %s AS series,\n"
                 "             json_extract(r.parameters, '$.%s') AS x,\n"
                 "             %s AS y\n"
                 "      FROM runs r WHERE r.verdict <> 'running')\n"
                 "WHERE x IS NOT NULL AND y IS NOT NULL\n"
                 "GROUP BY series, x ORDER BY series, x;\n",
                 series, param, y) >= (int)sizeof sql)
        return fail(c, REP_ERR_USAGE, "%s: the campaign query is too long", name);
    rep_err e = REP_OK;
    FILE *f = open_out(c, name, ".sql", &e);
    if (!f) return e;
    fprintf(f, "-- %s.sql: %s against %s, across the finished runs of %s\n"
               "-- (mean, min, max over the runs at each value; series = the other swept "
               "parameters)\n",
            name, param, o->label, c->db_path);
    fputs(sql, f);
    fclose(f);

    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(c, REP_ERR_INPUT, "%s: campaign query failed (%s)", c->db_path,
                    sqlite3_errmsg(c->db));
    char series_names[REP_CAMPAIGN_SERIES_MAX + 1][256];
    size_t nseries = 0;
    FILE *dat = NULL;
    char current[256] = "";
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        const char *x = (const char *)sqlite3_column_text(st, 1);
        if (!s || !x) continue;
        if (!dat || strcmp(s, current) != 0) {
            if (dat) fclose(dat);
            dat = NULL;
            if (nseries == REP_CAMPAIGN_SERIES_MAX) break;
            snprintf(current, sizeof current, "%s", s);
            snprintf(series_names[nseries], sizeof series_names[0], "%s", s);
            char ext[32];
            snprintf(ext, sizeof ext, "_%zu.dat", nseries);
            nseries++;
            dat = open_out(c, name, ext, &e);
            if (!dat) {
                sqlite3_finalize(st);
                return e;
            }
            fprintf(dat, "# %s: x_index mean min max runs value (series '%s')\n", param, s);
        }
        int xi = value_index(labels, nlabels, x);
        if (xi < 0) continue;
        fprintf(dat, "%d %.9g %.9g %.9g %d %s\n", xi, sqlite3_column_double(st, 3),
                sqlite3_column_double(st, 4), sqlite3_column_double(st, 5),
                sqlite3_column_int(st, 2), x);
    }
    if (dat) fclose(dat);
    sqlite3_finalize(st);
    if (nseries == 0) return REP_OK; /* no run has this outcome */

    FILE *gp = open_out(c, name, ".gp", &e);
    if (!gp) return e;
    char title[512];
    snprintf(title, sizeof title, "%s against %s", o->label, param);
    fprintf(gp, "# %s.gp: ", name);
    rep_gp_escape(gp, title);
    fprintf(gp, "\n# written by tidepool report (campaign); data: %s_K.dat, query: %s.sql\n"
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
    fprintf(gp, "set linetype cycle %zu\n", sizeof colors / sizeof colors[0]);
    fprintf(gp, "set offsets 0, 0, graph 0.05, graph 0.05\n");
    fprintf(gp, "set output '%s.png'\nset title '", name);
    rep_gp_escape(gp, title);
    fputs("'\nset xlabel '", gp);
    rep_gp_escape(gp, param);
    fputs("'\nset ylabel '", gp);
    rep_gp_escape(gp, o->label);
    fprintf(gp, "'\nset grid\nset key below\nset xrange [-0.5:%zu.5]\nset xtics (", nlabels - 1);
    for (size_t i = 0; i < nlabels; i++) {
        fprintf(gp, "%s'", i ? ", " : "");
        rep_gp_escape(gp, labels[i]);
        fprintf(gp, "' %zu", i);
    }
    fputs(")\n", gp);
    if (o->kind == OUT_PASS_RATE) fputs("set yrange [0:1.05]\n", gp);
    fputs("plot ", gp);
    for (size_t k = 0; k < nseries; k++) {
        fprintf(gp, "%s'%s_%zu.dat' using 1:2:3:4 with yerrorlines title '", k ? ", \\\n     " : "",
                name, k);
        if (series_names[k][0])
            rep_gp_escape(gp, series_names[k]);
        else
            fputs(pooled ? "all runs (mean, min..max)" : "mean, min..max over the seeds", gp);
        fputs("'", gp);
    }
    fprintf(gp, "\n\nset terminal svg size 960,540 noenhanced font 'sans,10' background "
                "'#ffffff'\nset output '%s.svg'\nreplot\nunset output\n",
            name);
    fclose(gp);
    c->sum->plots++;

    bool drawn = false;
    if (c->render) {
        char script[NAME_MAX_LEN * 2 + 8], log[4096];
        snprintf(script, sizeof script, "%s.gp", name);
        snprintf(log, sizeof log, "%s/%s.log", c->out_dir, name);
        char *argv[] = {(char *)c->gnuplot, script, NULL};
        rep_spawn_args a = {.argv = argv, .cwd = c->out_dir, .stderr_path = log};
        int status = 0, spawn_errno = 0;
        if (rep_spawn(&a, &status, &spawn_errno) == REP_OK && status == 0) {
            drawn = true;
            remove(log);
        } else {
            c->sum->plots_failed++;
        }
    }
    fprintf(c->html, "<h3>");
    rep_html_escape(c->html, title);
    fprintf(c->html, "</h3>\n");
    if (drawn) {
        fprintf(c->html, "<p><img src=\"");
        rep_html_escape(c->html, name);
        fprintf(c->html, ".png\" alt=\"");
        rep_html_escape(c->html, title);
        fprintf(c->html, "\"></p>\n");
    } else {
        fprintf(c->html, "<p>(not drawn%s)</p>\n", c->render ? ": see the .log file" : "");
    }
    fprintf(c->html, "<p class=\"src\">");
    static const char *const exts[] = {".sql", ".gp", ".svg"};
    for (size_t i = 0; i < 3; i++) {
        if (i == 2 && !drawn) break;
        fprintf(c->html, "%s<a href=\"", i ? " · " : "");
        rep_html_escape(c->html, name);
        fprintf(c->html, "%s\">%s%s</a>", exts[i], "", exts[i] + 1);
    }
    fprintf(c->html, " · data: ");
    for (size_t k = 0; k < nseries; k++) {
        fprintf(c->html, "%s<a href=\"", k ? ", " : "");
        rep_html_escape(c->html, name);
        fprintf(c->html, "_%zu.dat\">%zu</a>", k, k);
    }
    fprintf(c->html, "</p>\n");
    return REP_OK;
}

static rep_err plot_parameter(camp *c, const char *param) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT json_extract(parameters, '$.%s') AS x FROM runs "
             "WHERE verdict <> 'running' AND x IS NOT NULL ORDER BY x",
             param);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(c, REP_ERR_INPUT, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
    const size_t cap = REP_CAMPAIGN_VALUES_MAX;
    char (*labels)[64] = calloc(cap, sizeof *labels);
    if (!labels) {
        sqlite3_finalize(st);
        return REP_ERR_NOMEM;
    }
    size_t n = 0;
    bool truncated = false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v) continue;
        if (n == cap || strlen(v) >= 64) {
            truncated = true;
            continue;
        }
        snprintf(labels[n++], 64, "%s", v);
    }
    sqlite3_finalize(st);
    /* Series: combinations of the other swept parameters; pooled when too many. */
    char series[SQL_MAX_LEN / 2], count_sql[SQL_MAX_LEN];
    series_expr(c, param, series, sizeof series);
    snprintf(count_sql, sizeof count_sql,
             "SELECT count(DISTINCT %s) FROM runs r WHERE r.verdict <> 'running'", series);
    int nseries = 0;
    if (sqlite3_prepare_v2(c->db, count_sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        nseries = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    bool pooled = nseries > REP_CAMPAIGN_SERIES_MAX;
    fprintf(c->html, "<h2>");
    rep_html_escape(c->html, param);
    fprintf(c->html, "</h2>\n<p>%zu value%s%s", n, n == 1 ? "" : "s",
            truncated ? " (more not shown: values longer than 63 bytes or past 256)" : "");
    if (pooled)
        fprintf(c->html, "; %d combinations of the other swept parameters: runs pooled", nseries);
    fprintf(c->html, ".</p>\n");
    rep_err e = REP_OK;
    for (size_t i = 0; n > 0 && i < c->noutcomes && e == REP_OK; i++)
        e = plot(c, param, labels, n, pooled, &c->outcomes[i]);
    free(labels);
    return e;
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
    if (e != REP_OK || c->nall == 0) goto out;
    summary->parameters = (uint32_t)c->nall;
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
    find_outcomes(c);
    c->html = open_out(c, "campaign", ".html", &e);
    if (!c->html) goto out;
    fprintf(c->html,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>campaign: ");
    rep_html_escape(c->html, db_path);
    fprintf(c->html,
            "</title>\n<style>body{font-family:sans-serif;max-width:1000px;margin:1em auto}"
            "img{max-width:100%%}.src{font-size:small;color:#555}"
            "td,th{padding:2px 8px;text-align:left}</style></head><body>\n<h1>Campaign: ");
    rep_html_escape(c->html, db_path);
    fprintf(c->html, "</h1>\n<p>%u finished runs; swept parameters (values differ between "
                     "runs): ",
            summary->runs);
    for (size_t i = 0; i < c->nall; i++) {
        fprintf(c->html, "%s<b>", i ? ", " : "");
        rep_html_escape(c->html, c->all_params[i]);
        fprintf(c->html, "</b>");
    }
    fprintf(c->html, "%s. Each plot: the mean over the runs at each value, error bars from "
                     "min to max; one line per combination of the other swept parameters. "
                     "The per-run report is <a href=\"index.html\">index.html</a> (when "
                     "written).</p>\n",
            c->nall > c->nparams ? " (the first ones are plotted)" : "");
    for (size_t i = 0; i < c->nparams && e == REP_OK; i++) e = plot_parameter(c, c->params[i]);
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
    sqlite3_close(c->db);
    free(c);
    return e;
}
