/* reports/report.h — the report generator behind `tidepool report` (issue 7).
 *
 * Turns one or more results databases (reports/schema.sql, written by `tidepool sim
 * --db`) into a directory of plots: for every plot the SQL that feeds it (NAME.sql), the
 * downsampled data (NAME_K.dat, one file per series K), a gnuplot script (NAME.gp) that
 * draws NAME.png and NAME.svg, and one self-contained index.html (inline CSS, relative
 * links) with the run parameters, seeds, trace hashes, verdicts and key figures.
 *
 * Every run of every database is one series (legend entry "FILE seed N", or "FILE #ID
 * seed N" when a file holds several runs, followed by the run parameters whose values
 * differ between the series, "peers_k=8"); series are overlaid on each plot. Data is
 * reduced in SQL (time buckets, aggregates, window functions) so a 10,000-node run gives
 * gnuplot a few hundred points per series.
 *
 * Dependencies: SQLite and the external `gnuplot` program only (DESIGN.md: reports/
 * knows nothing of core/ internals). gnuplot is started with fork/exec, never through a
 * shell. No Octez counterpart: this is the simulator's reporting side.
 *
 * Ownership: the caller owns every string in rep_options; rep_generate copies what it
 * keeps and frees everything it allocates before returning. */
#ifndef REP_REPORT_H
#define REP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results of rep_generate. Negative values are errors. */
typedef enum rep_err {
    REP_OK = 0,
    REP_ERR_USAGE = -1,           /* bad options (no database, too many series, ...) */
    REP_ERR_INPUT = -2,           /* a database is missing, unreadable or not a results db */
    REP_ERR_OUTPUT = -3,          /* the output directory or a file cannot be written */
    REP_ERR_GNUPLOT_MISSING = -4, /* the gnuplot program cannot be started */
    REP_ERR_GNUPLOT_FAILED = -5,  /* gnuplot ran but failed on at least one plot */
    REP_ERR_NOMEM = -6,
} rep_err;

enum {
    REP_SERIES_MAX = 24,       /* runs overlaid in one report */
    REP_BUCKETS_DEFAULT = 200, /* time buckets per series */
    REP_BUCKETS_MAX = 10000,
};

typedef struct rep_options {
    const char *const *db_paths; /* results databases, in legend order */
    size_t db_count;
    const char *out_dir;  /* created if missing (one level); existing files overwritten */
    const char *gnuplot;  /* program to run (PATH lookup); NULL = "gnuplot" */
    uint32_t buckets;     /* time buckets per series; 0 = REP_BUCKETS_DEFAULT */
    int64_t min_connections; /* bootstrap threshold; < 0 = the run's parameter
                              * "min_conn", else "min", else 4 */
    bool render;          /* false: write SQL, data, scripts and index.html, no gnuplot */
    const int64_t *run_ids; /* only these runs.id of every database; NULL = all runs */
    size_t run_id_count;
    const char *see_also; /* a page in out_dir that index.html links to (the campaign
                           * page, reports/campaign.h); NULL = none */
    const char *const *exclude_roles; /* node roles left out of every figure (nodes and
                                       * their connections); see reports/README.md */
    size_t exclude_role_count;
    const char *log_scale; /* comma-separated plot names drawn on a log scale (y; x for
                            * the delay CDFs bootstrap, coverage, propagation); NULL =
                            * none; checked by rep_check_log_scale */
} rep_options;

/* Fills the defaults: gnuplot "gnuplot", REP_BUCKETS_DEFAULT, min_connections -1,
 * render true. */
void rep_options_default(rep_options *opts);

typedef struct rep_summary {
    uint32_t series;        /* runs reported */
    uint32_t plots;         /* plots with data (a gnuplot script written) */
    uint32_t plots_empty;   /* plots replaced by a "no data" note */
    uint32_t plots_failed;  /* plots gnuplot failed to draw (see NAME.log) */
    char gnuplot_version[64]; /* "gnuplot 5.4 patchlevel 4", empty when not rendering */
} rep_summary;

/* Writes the report for opts into opts->out_dir. On REP_OK and REP_ERR_GNUPLOT_FAILED
 * the directory holds a complete index.html and *summary is filled. On any error a
 * one-line message naming the file and the fix is written to errbuf (always
 * NUL-terminated when errlen > 0). gnuplot's availability is checked before anything is
 * written. */
rep_err rep_generate(const rep_options *opts, rep_summary *summary, char *errbuf,
                     size_t errlen) __attribute__((warn_unused_result));

/* Checks that path is a readable results database of the schema version this
 * generator reads; REP_ERR_INPUT with a message naming the file and the fix otherwise
 * (the same checks and messages as rep_generate). Writes nothing. */
rep_err rep_check_database(const char *path, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* Checks a --log-scale list ("propagation,degree"): REP_OK, or REP_ERR_USAGE with a
 * message naming the unknown plot and listing the plot names. NULL is fine. */
rep_err rep_check_log_scale(const char *list, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* Static text for an error code. */
const char *rep_strerror(rep_err err);

/* Nearest-rank percentile of a histogram: hist[v] = how many samples have value v
 * (v = 0 .. values-1), total = their sum (> 0), pct in 1..100. Returns the smallest v
 * such that at least ceil(pct * total / 100) samples are <= v. Pure; exposed for tests. */
uint32_t rep_percentile(const uint32_t *hist, uint32_t values, uint64_t total, uint32_t pct);

#endif
