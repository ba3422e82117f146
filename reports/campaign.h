/* reports/campaign.h — the campaign page of `tidepool report`: statistics over the runs
 * of one campaign database (`tidepool sweep` / `tidepool merge`: many runs of one
 * scenario whose parameters differ).
 *
 * Runs whose parameters (runs.parameters, JSON) are equal are one **configuration**:
 * they differ only by seed. For every response variable — the pass rate, the per-run
 * key figures of the run page (time until 50 / 90 / 100 % of nodes have min
 * connections, components at the end, the final degree median, delivery delays, time
 * to 99 %), every global metric a scenario samples (its declared summary per run,
 * metric(name, {summary = ...}): max, min, mean or time_to a threshold; else its last
 * value) and the wall time — the page shows per configuration n, the median and a 95 % confidence
 * interval for the median, as a plot (the swept parameter with the most values on x,
 * one series per combination of the others; every run as a dot), an HTML table and a
 * CSV. The pass rate is a proportion with a Wilson score interval.
 *
 * The interval is the exact, distribution-free order-statistic interval for a median
 * (rep_median_ci): [x_(j), x_(n+1-j)] for the largest j with 1 - 2 P(Bin(n, 1/2) < j)
 * >= 0.95; with n < 6 no such j exists and the interval is [min, max] with its true
 * coverage (1 - 2^(1-n)) stated. No resampling, so nothing depends on a random seed.
 *
 * Censoring: a run whose event never happened (a key figure that is NULL, e.g. "all
 * nodes at min" when some node never got there; a metric the run never sampled; a
 * sample of exactly -1, the old "never" sentinel) is **censored**: it counts in n as a
 * value larger than every observed one (+infinity), never as a number. The median and
 * the bounds are order statistics, so they stay exact; one that falls on a censored run
 * is shown as "not reached". Configurations where no run has the variable at all show
 * no statistics.
 *
 * Curves: every global metric sampled over time (more than one sample per run) also
 * gets a plot of its median over the seeds of each configuration, with a band from the
 * lowest to the highest run, on a common time grid (each run's last sample at or
 * before each grid time).
 *
 * Files, in the output directory: campaign.html; per response NAME = campaign_<stem>:
 * NAME.sql (the per-run query), NAME.csv (the table), NAME_K.dat (series K),
 * NAME_runs.dat (every run), NAME.gp, NAME.png, NAME.svg; campaign_summary.csv (every
 * response and configuration, long format); curves campaign_curve_<metric>.*.
 *
 * Ownership: strings are borrowed for the call; everything allocated is freed. */
#ifndef REP_CAMPAIGN_H
#define REP_CAMPAIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reports/report.h"

enum {
    REP_CAMPAIGN_PARAMS_MAX = 32,    /* swept parameters considered */
    REP_CAMPAIGN_RESPONSES_MAX = 64, /* response variables (more are listed, not drawn) */
    REP_CAMPAIGN_SERIES_MAX = 8,     /* series per plot, else one point per configuration */
    REP_CAMPAIGN_CONFIGS_MAX = 4096, /* configurations */
    REP_CAMPAIGN_CURVES_MAX = 8,     /* configurations drawn on a curve plot */
};

typedef struct rep_campaign_summary {
    uint32_t runs;           /* finished runs in the database */
    uint32_t parameters;     /* swept parameters found (0: not a campaign, nothing written) */
    uint32_t configurations; /* distinct parameter sets */
    uint32_t plots;          /* plots written */
    uint32_t plots_failed;   /* plots gnuplot failed to draw (see NAME.log) */
} rep_campaign_summary;

/* Writes the campaign page of db_path into out_dir (created if missing, one level) when
 * the database's finished runs differ in at least one parameter; otherwise writes
 * nothing and returns REP_OK with summary->parameters == 0. render false: no gnuplot.
 * Errors as rep_generate (one-line message naming the file and the fix in errbuf);
 * REP_ERR_GNUPLOT_FAILED still leaves a complete campaign.html. */
rep_err rep_campaign(const char *db_path, const char *out_dir, const char *gnuplot, bool render,
                     rep_campaign_summary *summary, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* The median of n = n_values + censored runs and its exact order-statistic interval
 * (see above). sorted: the observed values, ascending and finite; the censored runs
 * count as +infinity after them. Infinite results are INFINITY. */
typedef struct rep_median_ci {
    uint32_t n, censored;
    double median;             /* mean of the two middle order statistics when n is even */
    double lo, hi;             /* x_(lo_rank), x_(hi_rank) */
    uint32_t lo_rank, hi_rank; /* 1-based */
    double coverage;           /* exact: 1 - 2 P(Bin(n, 1/2) < lo_rank); >= 0.95 if n >= 6 */
} rep_median_ci;

void rep_median_ci_compute(const double *sorted, size_t n_values, size_t censored,
                           rep_median_ci *out);

/* Wilson score 95 % interval of a proportion successes / n (n > 0). */
void rep_wilson_ci(uint32_t successes, uint32_t n, double *lo, double *hi);

#endif
