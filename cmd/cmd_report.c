/* cmd/cmd_report.c — `tidepool report RESULTS.db [MORE.db ...] --out DIR`: plots and an
 * HTML page from results databases (reports/report.h). Exit codes: 0 written; 1 gnuplot
 * failed on some plot (the rest is written); 2 usage; 3 bad database, unwritable
 * directory, or gnuplot missing (the message says how to install it). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "reports/campaign.h"
#include "reports/report.h"

static void report_usage(FILE *out) {
    fprintf(out,
            "usage: tidepool report RESULTS.db [MORE.db ...] --out DIR [--min N]\n"
            "                       [--runs ID,...] [--buckets N] [--gnuplot PROGRAM]\n"
            "                       [--no-plots] [--exclude-role ROLE]... [--log-scale PLOT,...]\n"
            "\n"
            "Turns results databases (written by `tidepool sim ... --db FILE`) into plots and\n"
            "a self-contained DIR/index.html: connections per node over time, final degree\n"
            "histogram, time-to-bootstrap CDF, components over time with fault windows,\n"
            "broadcast coverage and propagation CDF, bandwidth, greylists and bans, event\n"
            "kinds. Every run of every database is one series; series are overlaid with a\n"
            "legend (\"FILE seed N\" and the parameters that differ between the runs).\n"
            "Next to each plot: its SQL (NAME.sql), data (NAME_K.dat), gnuplot script\n"
            "(NAME.gp), NAME.png and NAME.svg.\n"
            "\n"
            "options:\n"
            "  --out DIR          output directory (created if missing; files overwritten)\n"
            "  --min N            connections that count as bootstrapped (default: each\n"
            "                     run's min_conn or min parameter, else 4)\n"
            "  --buckets N        time buckets per series, 1..%d (default %d)\n"
            "  --runs ID,ID,...   only these runs (runs.id) of each database (a sweep's\n"
            "                     campaign database holds many; at most %d series)\n"
            "  --gnuplot PROGRAM  the gnuplot to run (default: gnuplot from PATH)\n"
            "  --no-plots         write SQL, data, scripts and index.html; do not run gnuplot\n"
            "  --exclude-role R   leave the nodes of role R (sim.node(h, {role = R}); hostile\n"
            "                     nodes are 'hostile', the others 'node') and their\n"
            "                     connections and events out of every figure (repeatable)\n"
            "  --log-scale P,...  draw these plots on a log scale: the x axis of the delay\n"
            "                     CDFs (bootstrap, coverage, propagation), the y axis of the\n"
            "                     others (connections, degree, components, blocks,\n"
            "                     bandwidth, acl, events)\n"
            "\n"
            "exit codes: 0 written; 1 gnuplot failed on a plot (see DIR/NAME.log); 2 usage\n"
            "error; 3 unreadable or foreign database, unwritable DIR, or gnuplot missing\n"
            "(install: sudo apt-get install gnuplot-nox).\n"
            "\n"
            "example:\n"
            "  tidepool sim scenarios/bootstrap.lua --db out.db && tidepool report out.db --out report\n",
            REP_BUCKETS_MAX, REP_BUCKETS_DEFAULT, REP_SERIES_MAX);
}

#define REPORT_RUN_IDS_MAX 1024

/* "1,2,7" -> ids; false (with a message) on anything else. */
static bool parse_run_ids(const char *text, int64_t *ids, size_t *count) {
    size_t n = 0;
    const char *p = text;
    for (;;) {
        char item[32];
        size_t len = strcspn(p, ",");
        uint64_t v = 0;
        if (len == 0 || len >= sizeof item) {
            cmd_error("report", "--runs expects run ids separated by commas (got '%s')", text);
            return false;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (!cmd_parse_u64("report", "--runs", item, &v)) return false;
        if (v > INT64_MAX || n == REPORT_RUN_IDS_MAX) {
            cmd_error("report", "--runs: at most %d ids up to %" PRId64, REPORT_RUN_IDS_MAX,
                      INT64_MAX);
            return false;
        }
        ids[n++] = (int64_t)v;
        if (p[len] == '\0') break;
        p += len + 1;
    }
    *count = n;
    return true;
}

int cmd_report(int argc, char **argv) {
    if (cmd_wants_help(argc, argv)) {
        report_usage(stdout);
        return TP_EXIT_OK;
    }
    rep_options o;
    rep_options_default(&o);
    const char *dbs[REP_SERIES_MAX];
    int64_t run_ids[REPORT_RUN_IDS_MAX];
    const char *exclude[16];
    size_t ndb = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--out") == 0 || strcmp(a, "--min") == 0 || strcmp(a, "--buckets") == 0 ||
            strcmp(a, "--gnuplot") == 0 || strcmp(a, "--runs") == 0 ||
            strcmp(a, "--exclude-role") == 0 || strcmp(a, "--log-scale") == 0) {
            if (!has_value) {
                cmd_error("report", "%s expects a value; see 'tidepool report --help'", a);
                return TP_EXIT_USAGE;
            }
            const char *v = argv[++i];
            uint64_t n = 0;
            if (strcmp(a, "--out") == 0) {
                o.out_dir = v;
            } else if (strcmp(a, "--log-scale") == 0) {
                char lerr[512];
                if (rep_check_log_scale(v, lerr, sizeof lerr) != REP_OK) {
                    cmd_error("report", "%s", lerr);
                    return TP_EXIT_USAGE;
                }
                o.log_scale = v;
            } else if (strcmp(a, "--exclude-role") == 0) {
                if (o.exclude_role_count == sizeof exclude / sizeof exclude[0]) {
                    cmd_error("report", "--exclude-role: at most %zu roles",
                              sizeof exclude / sizeof exclude[0]);
                    return TP_EXIT_USAGE;
                }
                exclude[o.exclude_role_count++] = v;
                o.exclude_roles = exclude;
            } else if (strcmp(a, "--gnuplot") == 0) {
                o.gnuplot = v;
            } else if (strcmp(a, "--runs") == 0) {
                if (!parse_run_ids(v, run_ids, &o.run_id_count)) return TP_EXIT_USAGE;
                o.run_ids = run_ids;
            } else if (strcmp(a, "--min") == 0) {
                if (!cmd_parse_u64("report", a, v, &n)) return TP_EXIT_USAGE;
                if (n > 1000000) {
                    cmd_error("report", "--min %" PRIu64 ": at most 1000000", n);
                    return TP_EXIT_USAGE;
                }
                o.min_connections = (int64_t)n;
            } else {
                if (!cmd_parse_u64("report", a, v, &n)) return TP_EXIT_USAGE;
                if (n < 1 || n > REP_BUCKETS_MAX) {
                    cmd_error("report", "--buckets %" PRIu64 ": expected 1..%d", n,
                              REP_BUCKETS_MAX);
                    return TP_EXIT_USAGE;
                }
                o.buckets = (uint32_t)n;
            }
        } else if (strcmp(a, "--no-plots") == 0) {
            o.render = false;
        } else if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++) {
                if (ndb == REP_SERIES_MAX) goto too_many;
                dbs[ndb++] = argv[i];
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            cmd_error("report", "unknown option '%s'; see 'tidepool report --help'", a);
            return TP_EXIT_USAGE;
        } else {
            if (ndb == REP_SERIES_MAX) goto too_many;
            dbs[ndb++] = a;
        }
    }
    if (ndb == 0) {
        cmd_error("report", "no results database given; usage: tidepool report RESULTS.db "
                            "--out DIR");
        return TP_EXIT_USAGE;
    }
    if (o.out_dir == NULL) {
        cmd_error("report", "where should the report go? add --out DIR (e.g. --out report)");
        return TP_EXIT_USAGE;
    }
    o.db_paths = dbs;
    o.db_count = ndb;
    char err[1024];
    /* Inputs first, so a missing or foreign file gets the same message whatever runs. */
    for (size_t i = 0; i < ndb; i++) {
        if (rep_check_database(dbs[i], err, sizeof err) != REP_OK) {
            cmd_error("report", "%s", err);
            return TP_EXIT_INPUT;
        }
    }
    /* A campaign database (tidepool sweep / merge: one file whose runs differ in their
     * parameters) also gets the campaign plot (reports/campaign.h); with more runs than
     * one report overlays, only that (unless --runs picks some). */
    if (ndb == 1 && o.run_ids == NULL) {
        rep_campaign_summary cs;
        rep_err ce = rep_campaign(dbs[0], o.out_dir, o.gnuplot, o.render, &cs, err, sizeof err);
        if (ce != REP_OK && ce != REP_ERR_GNUPLOT_FAILED) {
            cmd_error("report", "%s", err);
            return ce == REP_ERR_USAGE ? TP_EXIT_USAGE : TP_EXIT_INPUT;
        }
        if (cs.parameters > 0) {
            o.see_also = "campaign.html";
            printf("report: %s/campaign.html (campaign: %" PRIu32 " runs, %" PRIu32
                   " swept parameter%s, %" PRIu32 " plots)\n",
                   o.out_dir, cs.runs, cs.parameters, cs.parameters == 1 ? "" : "s", cs.plots);
            if (ce == REP_ERR_GNUPLOT_FAILED) {
                cmd_error("report", "%s", err);
                return TP_EXIT_FAIL;
            }
            if (cs.runs > REP_SERIES_MAX) {
                printf("report: no per-run plots: more than %d runs (pick some with --runs "
                       "ID,ID,...)\n",
                       REP_SERIES_MAX);
                return TP_EXIT_OK;
            }
        }
    }
    rep_summary sum;
    rep_err e = rep_generate(&o, &sum, err, sizeof err);
    if (e != REP_OK && e != REP_ERR_GNUPLOT_FAILED) {
        cmd_error("report", "%s", err);
        return e == REP_ERR_USAGE ? TP_EXIT_USAGE : TP_EXIT_INPUT;
    }
    printf("report: %s/index.html (%" PRIu32 " run%s; %" PRIu32 " plot%s, %" PRIu32
           " without data%s)\n",
           o.out_dir, sum.series, sum.series == 1 ? "" : "s", sum.plots,
           sum.plots == 1 ? "" : "s", sum.plots_empty, o.render ? "" : "; not drawn: --no-plots");
    if (e == REP_ERR_GNUPLOT_FAILED) {
        cmd_error("report", "%s", err);
        return TP_EXIT_FAIL;
    }
    return TP_EXIT_OK;

too_many:
    cmd_error("report", "more than %d databases; report at most %d at a time", REP_SERIES_MAX,
              REP_SERIES_MAX);
    return TP_EXIT_USAGE;
}
