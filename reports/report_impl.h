/* reports/report_impl.h — internals of the report generator shared between its files
 * (report.c: databases, plots and HTML; gnuplot.c: the external program). Not for use
 * outside reports/ except by tests/test_report.c. */
#ifndef REP_REPORT_IMPL_H
#define REP_REPORT_IMPL_H

#include <stddef.h>
#include <stdio.h>

#include "reports/report.h"

typedef struct rep_spawn_args {
    char *const *argv;       /* argv[0] is looked up in PATH (execvp); no shell */
    const char *cwd;         /* child's working directory; NULL = ours */
    const char *stderr_path; /* child's stderr goes to this file; NULL = ours */
    char *capture;           /* child's stdout, NUL-terminated (truncated); NULL =
                              * discarded */
    size_t capture_len;
} rep_spawn_args;

/* Runs a program and waits for it. Returns REP_OK with *exit_status (128 + signal when
 * killed) if it ran; REP_ERR_GNUPLOT_MISSING with *spawn_errno when it could not be
 * started (ENOENT: not installed; or cwd / stderr_path failed); REP_ERR_OUTPUT if
 * fork/pipe failed. */
rep_err rep_spawn(const rep_spawn_args *a, int *exit_status, int *spawn_errno);

/* Writes s to out escaped for HTML text and attribute values (& < > " '). Exposed for
 * tests. */
void rep_html_escape(FILE *out, const char *s);

/* Writes s as the body of a gnuplot single-quoted string (' doubled, control characters
 * replaced by '?'). Exposed for tests. */
void rep_gp_escape(FILE *out, const char *s);

/* ---- custom metrics (reports/metrics.c) ---------------------------------------------- */

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* One series of the run page, as the metrics section needs it. */
typedef struct rep_metric_series {
    sqlite3 *db;
    int64_t run_id;
    const char *label;
    int64_t width_ns; /* :width (bucket width) */
} rep_metric_series;

typedef struct rep_metrics_ctx {
    const char *out_dir, *gnuplot;
    bool render;
    uint32_t buckets;
    const rep_metric_series *series;
    uint32_t nseries;
    uint32_t plots, plots_failed; /* added to */
    char *err;
    size_t errlen;
} rep_metrics_ctx;

/* The sample() metrics that no dedicated plot draws ('components', 'fault_active',
 * 'bytes_in', 'bytes_out' have their own), sorted by name: rows of the key-figures
 * table (<tr>...</tr>, one cell per series: the metric's declared summary, or its last
 * value), written into html. */
rep_err rep_metrics_figure_rows(rep_metrics_ctx *m, FILE *html);

/* The metrics section of index.html: per metric a time-series plot (a global metric:
 * its value per bucket; a per-node metric: the mean per region and bucket, with the
 * nodes' min..max as a band) with its SQL, data and gnuplot script. */
rep_err rep_metrics_section(rep_metrics_ctx *m, FILE *html);

/* A node's role in SQL (nodes.config "role"; hostile nodes 'hostile'; else 'node'),
 * for a nodes row aliased n. */
#define REP_SQL_ROLE(n)                                                                    \
    "COALESCE(json_extract(" n ".config, '$.role'), CASE WHEN " n ".kind LIKE 'hostile:%' " \
    "THEN 'hostile' ELSE 'node' END)"

/* Leaves the nodes of the given roles (names checked: letters, digits, '_', '-') out of
 * every query on db: TEMP views `nodes` and `connections` shadow the tables (SQLite
 * resolves temp before main) with those nodes and their connection ends removed. */
rep_err rep_exclude_roles(sqlite3 *db, const char *const *roles, size_t count, char *err,
                          size_t errlen);

/* With more than one role in some run: key-figure rows per role (nodes, final degree
 * median, time until 50 % of the role's (re)starts are at min). */
rep_err rep_roles_figure_rows(rep_metrics_ctx *m, const int64_t *min_per_series, FILE *html);

/* With more than one role in some run: the bootstrap CDF and the final degree histogram
 * split by role (roles_bootstrap, roles_degree). */
rep_err rep_roles_section(rep_metrics_ctx *m, const int64_t *min_per_series, FILE *html);

/* The topology view: per run the overlay at the end as Graphviz (topology_K.dot, drawn
 * to SVG with sfdp when rendering and installed) and the region-to-region matrix of
 * open connections (regions_K.csv). */
rep_err rep_topology_section(rep_metrics_ctx *m, FILE *html);

/* The parameters as a table (one column per series; values that differ in bold). */
rep_err rep_params_table(rep_metrics_ctx *m, FILE *html);

/* Every check of each run, failed first, with time, file:line and message. */
rep_err rep_checks_list(rep_metrics_ctx *m, FILE *html);

#endif
