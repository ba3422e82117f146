/* reports/roles.c — node roles on the run page (report_impl.h): a scenario names a node's
 * part with sim.node(h, {role = "attacker"}) (nodes.config "role"; hostile nodes are
 * 'hostile', the others 'node'). With more than one role in a run, the key figures get
 * rows per role and the bootstrap CDF and degree histogram are drawn per role;
 * `tidepool report --exclude-role R` leaves a role's nodes (and their connection ends and
 * events) out of every figure, through TEMP views that shadow the tables. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/queries.h"
#include "reports/report_impl.h"

#define ROLES_MAX 16
#define ROLE_LEN 40

static bool role_name_ok(const char *r) {
    size_t n = strlen(r);
    if (n == 0 || n > 32) return false;
    for (const char *p = r; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
    return true;
}

rep_err rep_exclude_roles(sqlite3 *db, const char *const *roles, size_t count, char *err,
                          size_t errlen) {
    if (count == 0) return REP_OK;
    char list[2048] = "";
    for (size_t i = 0; i < count; i++) {
        if (!role_name_ok(roles[i])) {
            if (errlen) snprintf(err, errlen, "--exclude-role '%s': a role is letters, digits, "
                                              "'_' and '-' (at most 32)", roles[i]);
            return REP_ERR_USAGE;
        }
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s'%s'", i ? ", " : "", roles[i]);
    }
    char sql[4096] = "CREATE TEMP VIEW nodes AS SELECT * FROM main.nodes n WHERE "
                     REP_SQL_ROLE("n") " NOT IN (";
    strncat(sql, list, sizeof sql - strlen(sql) - 1);
    strncat(sql,
            ");\n"
            "CREATE TEMP VIEW connections AS SELECT * FROM main.connections c WHERE c.node IN "
            "(SELECT node FROM temp.nodes WHERE run_id = c.run_id) AND (c.peer_node IS NULL OR "
            "c.peer_node IN (SELECT node FROM temp.nodes WHERE run_id = c.run_id));\n"
            "CREATE TEMP VIEW events AS SELECT * FROM main.events e WHERE e.node IN "
            "(SELECT node FROM temp.nodes WHERE run_id = e.run_id);\n",
            sizeof sql - strlen(sql) - 1);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        if (errlen) snprintf(err, errlen, "--exclude-role: %s", msg ? msg : "SQLite error");
        sqlite3_free(msg);
        return REP_ERR_INPUT;
    }
    return REP_OK;
}

/* The roles of series k, sorted (at most ROLES_MAX). */
static size_t roles_of(const rep_metric_series *s, char roles[ROLES_MAX][ROLE_LEN]) {
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " REP_SQL_ROLE("n") " AS role FROM nodes n WHERE run_id = ?1 "
                           "GROUP BY role ORDER BY role",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, s->run_id);
        while (sqlite3_step(st) == SQLITE_ROW && n < ROLES_MAX) {
            const char *r = (const char *)sqlite3_column_text(st, 0);
            if (r && strlen(r) < ROLE_LEN) snprintf(roles[n++], ROLE_LEN, "%s", r);
        }
    }
    sqlite3_finalize(st);
    return n;
}

static bool any_split(const rep_metrics_ctx *m) {
    char roles[ROLES_MAX][ROLE_LEN];
    for (uint32_t k = 0; k < m->nseries; k++)
        if (roles_of(&m->series[k], roles) > 1) return true;
    return false;
}

static void bind(sqlite3_stmt *st, const rep_metrics_ctx *m, const rep_metric_series *s,
                 int64_t min, const char *role) {
    int i;
    if ((i = sqlite3_bind_parameter_index(st, ":run")) > 0) sqlite3_bind_int64(st, i, s->run_id);
    if ((i = sqlite3_bind_parameter_index(st, ":min")) > 0) sqlite3_bind_int64(st, i, min);
    if ((i = sqlite3_bind_parameter_index(st, ":buckets")) > 0)
        sqlite3_bind_int64(st, i, m->buckets);
    if ((i = sqlite3_bind_parameter_index(st, ":role")) > 0)
        sqlite3_bind_text(st, i, role, -1, SQLITE_STATIC);
}

#define ROLES_CTE ", roles AS (SELECT node, " REP_SQL_ROLE("n") " AS role FROM nodes n WHERE n.run_id = :run)"

/* Per role: nodes, final degree median, time until 50 % of its (re)starts are at min. */
static const char *const role_figure_sql =
    REP_SQL_REACHED_CTE ROLES_CTE ",\n"
    "final AS (\n"
    "  SELECT n.node, COUNT(c.node) AS degree FROM nodes n LEFT JOIN connections c\n"
    "    ON c.run_id = n.run_id AND c.node = n.node AND c.closed_ns IS NULL\n"
    "  WHERE n.run_id = :run GROUP BY n.node\n"
    "), fr AS (\n"
    "  SELECT f.degree, ROW_NUMBER() OVER (ORDER BY f.degree) AS k, COUNT(*) OVER () AS n\n"
    "  FROM final f JOIN roles r ON r.node = f.node WHERE r.role = :role\n"
    "), rr AS (\n"
    "  SELECT re.t_ns, ROW_NUMBER() OVER (ORDER BY re.t_ns, re.node) AS k\n"
    "  FROM reached re JOIN roles r ON r.node = re.node WHERE r.role = :role\n"
    "), total AS (\n"
    "  SELECT COUNT(*) AS n FROM spans sp JOIN roles r ON r.node = sp.node WHERE r.role = :role\n"
    ")\n"
    "SELECT (SELECT COUNT(*) FROM roles WHERE role = :role) AS nodes,\n"
    "       (SELECT MIN(CASE WHEN k * 2 >= n THEN degree END) FROM fr) AS degree_median,\n"
    "       (SELECT ROUND(MIN(CASE WHEN rr.k * 100 >= total.n * 50 THEN rr.t_ns END) / 1e9, 3)\n"
    "        FROM rr, total) AS half_at_min_s;\n";

rep_err rep_roles_figure_rows(rep_metrics_ctx *m, const int64_t *min_per_series, FILE *html) {
    if (!any_split(m)) return REP_OK;
    char all[ROLES_MAX][ROLE_LEN];
    size_t nall = 0;
    for (uint32_t k = 0; k < m->nseries; k++) {
        char r[ROLES_MAX][ROLE_LEN];
        size_t n = roles_of(&m->series[k], r);
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (j < nall && strcmp(all[j], r[i]) != 0) j++;
            if (j == nall && nall < ROLES_MAX) memcpy(all[nall++], r[i], ROLE_LEN);
        }
    }
    static const char *const labels[] = {"nodes", "final degree median",
                                         "50% of (re)starts at min (s)"};
    for (size_t i = 0; i < nall; i++)
        for (int col = 0; col < 3; col++) {
            fputs("<tr><td>role ", html);
            rep_html_escape(html, all[i]);
            fprintf(html, ": %s</td>", labels[col]);
            for (uint32_t k = 0; k < m->nseries; k++) {
                sqlite3_stmt *st = NULL;
                fputs("<td class=\"num\">", html);
                bool shown = false;
                if (sqlite3_prepare_v2(m->series[k].db, role_figure_sql, -1, &st, NULL) ==
                    SQLITE_OK) {
                    bind(st, m, &m->series[k], min_per_series[k], all[i]);
                    if (sqlite3_step(st) == SQLITE_ROW &&
                        sqlite3_column_type(st, col) != SQLITE_NULL &&
                        sqlite3_column_int64(st, 0) > 0) {
                        rep_html_escape(html, (const char *)sqlite3_column_text(st, col));
                        shown = true;
                    }
                }
                sqlite3_finalize(st);
                if (!shown) fputs("&ndash;", html);
                fputs("</td>", html);
            }
            fputs("</tr>\n", html);
        }
    return REP_OK;
}

static const char *const bootstrap_sql =
    REP_SQL_REACHED_CTE ROLES_CTE ",\n"
    "total AS (\n"
    "  SELECT r.role, COUNT(*) AS n FROM spans sp JOIN roles r ON r.node = sp.node GROUP BY r.role\n"
    "), cdf AS (\n"
    "  SELECT r.role, re.t_ns,\n"
    "         ROW_NUMBER() OVER (PARTITION BY r.role ORDER BY re.t_ns, re.node) AS k,\n"
    "         COUNT(*) OVER (PARTITION BY r.role) AS cnt\n"
    "  FROM reached re JOIN roles r ON r.node = re.node\n"
    ")\n"
    "SELECT cdf.role, cdf.t_ns / 1e9 AS seconds, cdf.k * 1.0 / total.n AS fraction_of_starts\n"
    "FROM cdf JOIN total ON total.role = cdf.role\n"
    "WHERE cdf.k % MAX(1, cdf.cnt / :buckets) = 0 OR cdf.k = 1 OR cdf.k = cdf.cnt\n"
    "ORDER BY cdf.role, cdf.k;\n";

static const char *const degree_sql =
    REP_SQL_FINAL_DEGREE_CTE ROLES_CTE "\n"
    "SELECT r.role, f.degree, COUNT(*) AS nodes,\n"
    "       COUNT(*) * 1.0 / SUM(COUNT(*)) OVER (PARTITION BY r.role) AS fraction_of_nodes\n"
    "FROM final f JOIN roles r ON r.node = f.node GROUP BY r.role, f.degree\n"
    "ORDER BY r.role, f.degree;\n";

static rep_err role_plot(rep_metrics_ctx *m, const int64_t *min_per_series, FILE *html,
                         const char *name, const char *sql, const char *title,
                         const char *xlabel, const char *ylabel, bool steps) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.sql", m->out_dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return REP_ERR_OUTPUT;
    fprintf(f, "-- %s.sql: %s. Parameters: :run, :min, :buckets per series (see any plot's\n"
               "-- .sql). A role: nodes.config \"role\", hostile nodes 'hostile', else 'node'.\n\n%s",
            name, title, sql);
    fclose(f);
    char groups[64][ROLES_MAX][ROLE_LEN];
    size_t ngroups[64] = {0};
    bool any = false;
    uint32_t ns = m->nseries < 64 ? m->nseries : 64;
    for (uint32_t k = 0; k < ns; k++) {
        const rep_metric_series *s = &m->series[k];
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
            if (m->errlen)
                snprintf(m->err, m->errlen, "a role query failed (%s)", sqlite3_errmsg(s->db));
            sqlite3_finalize(st);
            return REP_ERR_INPUT;
        }
        bind(st, m, s, min_per_series[k], NULL);
        snprintf(path, sizeof path, "%s/%s_%" PRIu32 ".dat", m->out_dir, name, k + 1);
        FILE *dat = NULL;
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *role = (const char *)sqlite3_column_text(st, 0);
            if (!role) continue;
            if (!dat) {
                dat = fopen(path, "w");
                if (!dat) {
                    sqlite3_finalize(st);
                    return REP_ERR_OUTPUT;
                }
                fprintf(dat, "# %s, series %" PRIu32 ": one block per role\n", name, k + 1);
            }
            if (ngroups[k] == 0 || strcmp(groups[k][ngroups[k] - 1], role) != 0) {
                if (ngroups[k] == ROLES_MAX) break;
                if (ngroups[k]) fputs("\n\n", dat);
                snprintf(groups[k][ngroups[k]++], ROLE_LEN, "%s", role);
                fprintf(dat, "# role %s\n", role);
            }
            int cols = sqlite3_column_count(st);
            for (int c = 1; c < cols; c++)
                fprintf(dat, "%s%.9g", c > 1 ? " " : "", sqlite3_column_double(st, c));
            fputc('\n', dat);
        }
        sqlite3_finalize(st);
        if (dat) fclose(dat);
        any = any || ngroups[k] > 0;
    }
    fprintf(html, "<h3 id=\"%s\">", name);
    rep_html_escape(html, title);
    fputs("</h3>\n", html);
    if (!any) {
        fputs("<p class=\"nodata\">No data in these runs.</p>\n", html);
        return REP_OK;
    }
    snprintf(path, sizeof path, "%s/%s.gp", m->out_dir, name);
    FILE *gp = fopen(path, "w");
    if (!gp) return REP_ERR_OUTPUT;
    fprintf(gp, "# %s.gp: ", name);
    rep_gp_escape(gp, title);
    fprintf(gp, "\n# written by tidepool report; data: %s_K.dat (one per series, a block per "
                "role), query: %s.sql\n# redraw: gnuplot %s.gp (in this directory)\n"
                "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                "    set terminal pngcairo size 960,540 noenhanced font 'sans,10'\n"
                "} else {\n"
                "    set terminal png size 960,540 noenhanced\n"
                "}\nset output '%s.png'\n",
            name, name, name, name);
    static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                         "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
    for (size_t i = 0; i < 8; i++) fprintf(gp, "set linetype %zu lc rgb '%s' lw 2 pt 7\n", i + 1, colors[i]);
    fputs("set linetype cycle 8\nset title '", gp);
    rep_gp_escape(gp, title);
    fputs("'\nset xlabel '", gp);
    rep_gp_escape(gp, xlabel);
    fputs("'\nset ylabel '", gp);
    rep_gp_escape(gp, ylabel);
    fputs("'\nset grid\nset key below\nset yrange [0:1.05]\nplot ", gp);
    bool first = true;
    size_t lt = 0;
    for (uint32_t k = 0; k < ns; k++)
        for (size_t g = 0; g < ngroups[k]; g++) {
            fprintf(gp, "%s'%s_%" PRIu32 ".dat' index %zu using 1:%d with %s lt %zu title '",
                    first ? "" : ", \\\n     ", name, k + 1, g, steps ? 2 : 3,
                    steps ? "steps" : "linespoints", lt++ % 8 + 1);
            if (m->nseries > 1) {
                rep_gp_escape(gp, m->series[k].label);
                fputs(": ", gp);
            }
            fputs("role ", gp);
            rep_gp_escape(gp, groups[k][g]);
            fputs("'", gp);
            first = false;
        }
    fprintf(gp, "\n\nset terminal svg size 960,540 noenhanced font 'sans,10' background "
                "'#ffffff'\nset output '%s.svg'\nreplot\nunset output\n",
            name);
    fclose(gp);
    m->plots++;
    bool drawn = false;
    if (m->render) {
        char script[128], log[4096];
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
        }
    }
    if (drawn) {
        fprintf(html, "<p><a href=\"%s.svg\"><img src=\"%s.png\" alt=\"", name, name);
        rep_html_escape(html, title);
        fputs("\" width=\"960\" height=\"540\"></a></p>\n", html);
    } else {
        fprintf(html, "<p class=\"note\">Not drawn%s: run <code>gnuplot %s.gp</code> in this "
                      "directory.</p>\n",
                m->render ? " (gnuplot failed: see the .log)" : " (--no-plots)", name);
    }
    fprintf(html, "<p class=\"files\"><a href=\"%s.gp\">gnuplot script</a> &middot; <a "
                  "href=\"%s.sql\">SQL</a></p>\n",
            name, name);
    return REP_OK;
}

rep_err rep_roles_section(rep_metrics_ctx *m, const int64_t *min_per_series, FILE *html) {
    if (!any_split(m)) return REP_OK;
    fputs("<h2 id=\"roles\">By role</h2>\n<p>The nodes' roles (<code>sim.node(h, {role = "
          "\"attacker\"})</code>; hostile nodes are <code>hostile</code>, the others "
          "<code>node</code>): the time-to-bootstrap CDF and the final degree histogram per "
          "role. <code>tidepool report --exclude-role ROLE</code> leaves a role out of every "
          "figure.</p>\n",
          html);
    rep_err e = role_plot(m, min_per_series, html, "roles_bootstrap", bootstrap_sql,
                          "time to bootstrap (min connections) CDF, by role",
                          "seconds after the node (re)started", "fraction of the role's (re)starts",
                          true);
    if (e == REP_OK)
        e = role_plot(m, min_per_series, html, "roles_degree", degree_sql,
                      "degree histogram at the end, by role", "open connections at the end",
                      "fraction of the role's nodes", false);
    return e;
}
