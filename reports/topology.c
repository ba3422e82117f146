/* reports/topology.c — the topology view of the run page (report_impl.h): per run, the
 * overlay at the end (connections still open) as a Graphviz graph, coloured by role when
 * the run has several, else by region, drawn with sfdp to SVG; and the region-to-region
 * matrix of open connections. The .dot and the matrix's CSV are always written; sfdp
 * (Debian package graphviz, scripts/setup.sh) only draws: without it the page says how
 * to install it and the report still succeeds. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/report_impl.h"

#define TOPOLOGY_NODES_MAX 2000 /* larger overlays: the matrix only (sfdp takes minutes) */
#define REGIONS_MAX 64

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static int64_t scalar(sqlite3 *db, const char *sql, int64_t run) {
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run);
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* Writes topology_K.dot; returns false on an I/O error. */
static bool write_dot(const rep_metric_series *s, const char *path, bool by_role, char *legend,
                      size_t legend_cap) {
    FILE *f = fopen(path, "w");
    if (!f) return false;
    fprintf(f, "// %s: the overlay at the end of run %" PRId64 " (connections still open), "
               "written by tidepool report; draw: sfdp -Tsvg -o topology.svg this.dot\n"
               "graph overlay {\n  graph [overlap=false, outputorder=edgesfirst, bgcolor=white];\n"
               "  node [shape=circle, style=filled, fontsize=8, width=0.25, fixedsize=true, "
               "fontcolor=white, penwidth=0];\n  edge [color=\"#00000040\"];\n",
            path, s->run_id);
    sqlite3_stmt *st = NULL;
    const char *nodes_sql =
        by_role ? "SELECT n.node, " REP_SQL_ROLE("n") " AS g FROM nodes n WHERE n.run_id = ?1 "
                  "ORDER BY n.node"
                : "SELECT n.node, COALESCE(r.name, 'region ' || h.region, '?') AS g FROM nodes n "
                  "LEFT JOIN hosts h ON h.run_id = n.run_id AND h.host = n.node LEFT JOIN regions r "
                  "ON r.run_id = n.run_id AND r.region = h.region WHERE n.run_id = ?1 ORDER BY "
                  "n.node";
    char groups[16][64];
    size_t ngroups = 0;
    if (sqlite3_prepare_v2(s->db, nodes_sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, s->run_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *g = (const char *)sqlite3_column_text(st, 1);
            if (!g) g = "?";
            size_t gi = 0;
            while (gi < ngroups && strcmp(groups[gi], g) != 0) gi++;
            if (gi == ngroups && ngroups < 16) snprintf(groups[ngroups++], 64, "%s", g);
            fprintf(f, "  n%lld [label=\"%lld\", fillcolor=\"%s\"];\n",
                    (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 0),
                    palette[gi % (sizeof palette / sizeof palette[0])]);
        }
    }
    sqlite3_finalize(st);
    /* each connection once: both ends are rows; keep node < peer_node */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT DISTINCT MIN(node, peer_node), MAX(node, peer_node) FROM "
                           "connections WHERE run_id = ?1 AND closed_ns IS NULL AND peer_node IS "
                           "NOT NULL AND peer_node IN (SELECT node FROM nodes WHERE run_id = ?1) "
                           "ORDER BY 1, 2",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, s->run_id);
        while (sqlite3_step(st) == SQLITE_ROW)
            fprintf(f, "  n%lld -- n%lld;\n", (long long)sqlite3_column_int64(st, 0),
                    (long long)sqlite3_column_int64(st, 1));
    }
    sqlite3_finalize(st);
    fputs("}\n", f);
    legend[0] = '\0';
    for (size_t i = 0; i < ngroups; i++) {
        size_t len = strlen(legend);
        snprintf(legend + len, legend_cap - len,
                 "%s<span class=\"swatch\" style=\"background:%s\"></span>%s", i ? " " : "",
                 palette[i % (sizeof palette / sizeof palette[0])], groups[i]);
    }
    return fclose(f) == 0;
}

static void matrix(const rep_metric_series *s, FILE *html, const char *csv_path) {
    char names[REGIONS_MAX][64];
    size_t n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT region, name FROM regions WHERE run_id = ?1 ORDER BY region",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, s->run_id);
        while (sqlite3_step(st) == SQLITE_ROW && n < REGIONS_MAX) {
            const char *nm = (const char *)sqlite3_column_text(st, 1);
            if (sqlite3_column_int64(st, 0) != (int64_t)n) break; /* 0-based and dense */
            snprintf(names[n++], 64, "%s", nm ? nm : "?");
        }
    }
    sqlite3_finalize(st);
    if (n == 0) return;
    int64_t *m = calloc(n * n, sizeof *m);
    if (!m) return;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT ha.region, hb.region, COUNT(*) FROM connections c "
                           "JOIN nodes na ON na.run_id = c.run_id AND na.node = c.node "
                           "JOIN nodes nb ON nb.run_id = c.run_id AND nb.node = c.peer_node "
                           "JOIN hosts ha ON ha.run_id = c.run_id AND ha.host = c.node "
                           "JOIN hosts hb ON hb.run_id = c.run_id AND hb.host = c.peer_node "
                           "WHERE c.run_id = ?1 AND c.closed_ns IS NULL AND c.incoming = 0 "
                           "GROUP BY 1, 2",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, s->run_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            int64_t a = sqlite3_column_int64(st, 0), b = sqlite3_column_int64(st, 1);
            if (a >= 0 && b >= 0 && (size_t)a < n && (size_t)b < n)
                m[(size_t)a * n + (size_t)b] = sqlite3_column_int64(st, 2);
        }
    }
    sqlite3_finalize(st);
    FILE *csv = fopen(csv_path, "w");
    fputs("<table><tr><th>from \\ to</th>", html);
    if (csv) fputs("from_region", csv);
    for (size_t j = 0; j < n; j++) {
        fputs("<th>", html);
        rep_html_escape(html, names[j]);
        fputs("</th>", html);
        if (csv) fprintf(csv, ",%s", names[j]);
    }
    fputs("</tr>\n", html);
    if (csv) fputc('\n', csv);
    for (size_t i = 0; i < n; i++) {
        fputs("<tr><th>", html);
        rep_html_escape(html, names[i]);
        fputs("</th>", html);
        if (csv) fputs(names[i], csv);
        for (size_t j = 0; j < n; j++) {
            fprintf(html, "<td class=\"num\">%lld</td>", (long long)m[i * n + j]);
            if (csv) fprintf(csv, ",%lld", (long long)m[i * n + j]);
        }
        fputs("</tr>\n", html);
        if (csv) fputc('\n', csv);
    }
    fputs("</table>\n", html);
    if (csv) {
        fclose(csv);
        const char *base = strrchr(csv_path, '/');
        fputs("<p class=\"files\"><a href=\"", html);
        rep_html_escape(html, base ? base + 1 : csv_path);
        fputs("\">region matrix (CSV)</a></p>\n", html);
    }
    free(m);
}

rep_err rep_topology_section(rep_metrics_ctx *m, FILE *html) {
    fputs("<h2 id=\"topology\">Topology at the end</h2>\n<p>The overlay when the run ended: "
          "one circle per node (its index), one line per connection still open, laid out by "
          "Graphviz <code>sfdp</code>; coloured by role when a run has several, else by "
          "region. Below, the region-to-region matrix: connections open at the end, counted "
          "once, from the region of the node that dialed to the region it dialed.</p>\n",
          html);
    for (uint32_t k = 0; k < m->nseries; k++) {
        const rep_metric_series *s = &m->series[k];
        fputs("<h3>", html);
        rep_html_escape(html, s->label);
        fputs("</h3>\n", html);
        int64_t nodes = scalar(s->db, "SELECT COUNT(*) FROM nodes WHERE run_id = ?1", s->run_id);
        int64_t roles = scalar(s->db,
                               "SELECT COUNT(DISTINCT " REP_SQL_ROLE("n") ") FROM nodes n WHERE "
                               "n.run_id = ?1",
                               s->run_id);
        if (nodes < 2) {
            fputs("<p class=\"nodata\">Fewer than 2 nodes: no overlay to draw.</p>\n", html);
            continue;
        }
        char dot[4096], svg[4096], name[64], csv[4096], legend[2048];
        snprintf(name, sizeof name, "topology_%" PRIu32, k + 1);
        snprintf(dot, sizeof dot, "%s/%s.dot", m->out_dir, name);
        snprintf(svg, sizeof svg, "%s.svg", name);
        snprintf(csv, sizeof csv, "%s/regions_%" PRIu32 ".csv", m->out_dir, k + 1);
        if (nodes > TOPOLOGY_NODES_MAX) {
            fprintf(html, "<p class=\"note\">%lld nodes: no graph above %d nodes (sfdp would "
                          "take minutes); the matrix below.</p>\n",
                    (long long)nodes, TOPOLOGY_NODES_MAX);
        } else if (!write_dot(s, dot, roles > 1, legend, sizeof legend)) {
            if (m->errlen) snprintf(m->err, m->errlen, "%s: cannot write it (%s)", dot, strerror(errno));
            return REP_ERR_OUTPUT;
        } else {
            bool drawn = false;
            if (m->render) {
                char dotname[80], log[4096];
                snprintf(dotname, sizeof dotname, "%s.dot", name);
                snprintf(log, sizeof log, "%s/%s.log", m->out_dir, name);
                char *argv[] = {"sfdp", "-Tsvg", "-o", svg, dotname, NULL};
                rep_spawn_args a = {.argv = argv, .cwd = m->out_dir, .stderr_path = log};
                int status = 0, spawn_errno = 0;
                if (rep_spawn(&a, &status, &spawn_errno) == REP_OK && status == 0) {
                    drawn = true;
                    remove(log);
                } else if (spawn_errno == ENOENT) {
                    remove(log);
                    fputs("<p class=\"note\">Graphviz is not installed (<code>sudo apt-get "
                          "install graphviz</code>; scripts/setup.sh installs it): the graph "
                          "is not drawn.</p>\n",
                          html);
                } else {
                    fprintf(html, "<p class=\"error\">sfdp failed: see <a href=\"%s.log\">%s.log"
                                  "</a>.</p>\n",
                            name, name);
                }
            }
            fprintf(html, "<p>%s (%s)</p>\n", legend, roles > 1 ? "roles" : "regions");
            if (drawn)
                fprintf(html, "<p><a href=\"%s\"><img src=\"%s\" alt=\"overlay at the end\" "
                              "style=\"max-width:100%%;max-height:700px\"></a></p>\n",
                        svg, svg);
            else if (!m->render)
                fprintf(html, "<p class=\"note\">Not drawn (--no-plots): run <code>sfdp -Tsvg -o "
                              "%s %s.dot</code> in this directory.</p>\n",
                        svg, name);
            fprintf(html, "<p class=\"files\"><a href=\"%s.dot\">Graphviz source</a></p>\n",
                    name);
        }
        matrix(s, html, csv);
    }
    return REP_OK;
}
