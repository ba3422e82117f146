/* reports/campaign.h — the campaign plot of `tidepool report`: a swept parameter against
 * the runs' outcomes, across a campaign database (`tidepool sweep` / `tidepool merge`:
 * many runs of one scenario whose parameters differ).
 *
 * For every parameter whose value differs between the finished runs (runs.parameters,
 * JSON) and every outcome — each global metric (samples with node NULL; its last value
 * in each run: 'bootstrap_time_s', or a time series' final value), the pass rate
 * (verdict = 'pass') and the wall time per run — one plot: the parameter's values on x
 * (in SQL order: numbers ascending, then text; evenly spaced, labelled with the
 * values), the mean over the runs at each value with min..max error bars, one series
 * per combination of the other swept parameters (at most REP_CAMPAIGN_SERIES_MAX, else
 * all runs at a value are pooled). As for the per-run plots (reports/README.md), each
 * plot NAME has NAME.sql (the query), NAME_K.dat, NAME.gp, NAME.png and NAME.svg; the
 * page is campaign.html. SQLite (with its JSON functions) and gnuplot only.
 *
 * Ownership: strings are borrowed for the call; everything allocated is freed. */
#ifndef REP_CAMPAIGN_H
#define REP_CAMPAIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "reports/report.h"

enum {
    REP_CAMPAIGN_PARAMS_MAX = 4,   /* swept parameters plotted (sorted by name) */
    REP_CAMPAIGN_METRICS_MAX = 8,  /* global metrics plotted */
    REP_CAMPAIGN_SERIES_MAX = 8,   /* combinations of the other swept parameters */
    REP_CAMPAIGN_VALUES_MAX = 256, /* distinct values of a plotted parameter */
};

typedef struct rep_campaign_summary {
    uint32_t runs;        /* finished runs in the database */
    uint32_t parameters;  /* swept parameters found (0: not a campaign, nothing written) */
    uint32_t plots;       /* plots written */
    uint32_t plots_failed; /* plots gnuplot failed to draw (see NAME.log) */
} rep_campaign_summary;

/* Writes the campaign plots of db_path into out_dir (created if missing, one level) when
 * the database's finished runs differ in at least one parameter; otherwise writes
 * nothing and returns REP_OK with summary->parameters == 0. render false: no gnuplot.
 * Errors as rep_generate (one-line message naming the file and the fix in errbuf);
 * REP_ERR_GNUPLOT_FAILED still leaves a complete campaign.html. */
rep_err rep_campaign(const char *db_path, const char *out_dir, const char *gnuplot, bool render,
                     rep_campaign_summary *summary, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

#endif
