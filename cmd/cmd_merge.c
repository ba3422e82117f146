/* cmd/cmd_merge.c — `tidepool merge OUT.db RUN.db ...`: combine run databases (written
 * by `tidepool sim --db`, one per sweep task) into one campaign database, ATTACH +
 * INSERT with run ids remapped, one transaction per input (sweep/merge.c). Re-merging a
 * run already in OUT.db is a no-op. Exit codes: 0 merged; 2 usage; 3 an input or the
 * output is unusable (inputs before it stay merged). */
#include <stdio.h>
#include <string.h>

#include <sys/stat.h>

#include "cmd/cmd.h"
#include "lua/results.h"
#include "sweep/sweep.h"

static void merge_usage(FILE *out) {
    fprintf(out,
            "usage: tidepool merge OUT.db RUN.db [RUN.db ...] [--quiet]\n"
            "       tidepool merge --upgrade DB [DB ...]\n"
            "\n"
            "Copies every finished run of the RUN.db files (results databases written by\n"
            "`tidepool sim --db`) into OUT.db, created if missing, with new run ids. Inputs\n"
            "are read-only and merged in the order given, one transaction each. A run\n"
            "already in OUT.db (same scenario, seed, parameters and trace hash) is skipped,\n"
            "so merging twice changes nothing; runs still marked 'running' (killed) are\n"
            "skipped. Inputs must have OUT.db's schema_version.\n"
            "\n"
            "Schema version 2 added the build identity of each run (runs.build_commit,\n"
            "build_dirty, build_id). An existing OUT.db of version 1 is upgraded in place;\n"
            "--upgrade upgrades the given version-1 databases in place (their old runs\n"
            "read NULL there) so they can be merged.\n"
            "\n"
            "exit codes: 0 merged; 2 usage; 3 an input or OUT.db is unusable (the message\n"
            "names it; inputs before it stay merged).\n"
            "\n"
            "example:\n"
            "  tidepool merge campaign.db out/sweep/tasks/*/run.db\n");
}

int cmd_merge(int argc, char **argv) {
    if (cmd_wants_help(argc, argv)) {
        merge_usage(stdout);
        return TP_EXIT_OK;
    }
    const char *outp = NULL;
    bool quiet = false, upgrade = false;
    int ninputs = 0;
    const char **inputs = (const char **)(argv + 1); /* reused in place */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(argv[i], "--upgrade") == 0) {
            upgrade = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cmd_error("merge", "unknown option '%s' (see tidepool merge --help)", argv[i]);
            return TP_EXIT_USAGE;
        } else if (!outp) {
            outp = argv[i];
        } else {
            inputs[ninputs++] = argv[i];
        }
    }
    char err[2048];
    if (upgrade) {
        if (!outp) {
            cmd_error("merge", "--upgrade expects the databases to upgrade, e.g. tidepool merge "
                               "--upgrade out/old.db");
            return TP_EXIT_USAGE;
        }
        inputs[ninputs++] = outp; /* every path is one to upgrade */
        for (int k = 0; k < ninputs; k++) {
            if (!tl_results_upgrade(inputs[k], err, sizeof err)) {
                cmd_error("merge", "%s", err);
                return TP_EXIT_INPUT;
            }
            if (!quiet) fprintf(stderr, "merge: %s is at the current schema version\n", inputs[k]);
        }
        return TP_EXIT_OK;
    }
    if (!outp || ninputs == 0) {
        cmd_error("merge", "expected OUT.db and at least one RUN.db, e.g. tidepool merge "
                           "campaign.db out/sweep/tasks/*/run.db");
        return TP_EXIT_USAGE;
    }
    struct stat sb;
    if (stat(outp, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        !tl_results_upgrade(outp, err, sizeof err)) {
        cmd_error("merge", "%s", err);
        return TP_EXIT_INPUT;
    }
    sw_merge_stats st;
    int rc = sw_merge(outp, inputs, (size_t)ninputs, &st, err, sizeof err);
    if (!quiet || rc != 0)
        fprintf(stderr,
                "merge: %zu of %d inputs merged into %s: %zu runs added, %zu already there, "
                "%zu unfinished skipped\n",
                st.inputs, ninputs, outp, st.runs_added, st.runs_duplicate, st.runs_unfinished);
    if (rc != 0) {
        cmd_error("merge", "%s", err);
        if (strstr(err, "schema_version 1, but"))
            fprintf(stderr, "(a version-1 database: upgrade it with `tidepool merge --upgrade "
                            "FILE`, then merge again)\n");
        return TP_EXIT_INPUT;
    }
    return TP_EXIT_OK;
}
