/* cmd/cmd_merge.c — `tidepool merge OUT.db RUN.db ...`: combine run databases (written
 * by `tidepool sim --db`, one per sweep task) into one campaign database, ATTACH +
 * INSERT with run ids remapped, one transaction per input (sweep/merge.c). Re-merging a
 * run already in OUT.db is a no-op. Exit codes: 0 merged; 2 usage; 3 an input or the
 * output is unusable (inputs before it stay merged). */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "sweep/sweep.h"

static void merge_usage(FILE *out) {
    fprintf(out,
            "usage: tidepool merge OUT.db RUN.db [RUN.db ...] [--quiet]\n"
            "\n"
            "Copies every finished run of the RUN.db files (results databases written by\n"
            "`tidepool sim --db`) into OUT.db, created if missing, with new run ids. Inputs\n"
            "are read-only and merged in the order given, one transaction each. A run\n"
            "already in OUT.db (same scenario, seed, parameters and trace hash) is skipped,\n"
            "so merging twice changes nothing; runs still marked 'running' (killed) are\n"
            "skipped. Inputs must have OUT.db's schema_version.\n"
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
    bool quiet = false;
    int ninputs = 0;
    const char **inputs = (const char **)(argv + 1); /* reused in place */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cmd_error("merge", "unknown option '%s' (see tidepool merge --help)", argv[i]);
            return TP_EXIT_USAGE;
        } else if (!outp) {
            outp = argv[i];
        } else {
            inputs[ninputs++] = argv[i];
        }
    }
    if (!outp || ninputs == 0) {
        cmd_error("merge", "expected OUT.db and at least one RUN.db, e.g. tidepool merge "
                           "campaign.db out/sweep/tasks/*/run.db");
        return TP_EXIT_USAGE;
    }
    char err[2048];
    sw_merge_stats st;
    int rc = sw_merge(outp, inputs, (size_t)ninputs, &st, err, sizeof err);
    if (!quiet || rc != 0)
        fprintf(stderr,
                "merge: %zu of %d inputs merged into %s: %zu runs added, %zu already there, "
                "%zu unfinished skipped\n",
                st.inputs, ninputs, outp, st.runs_added, st.runs_duplicate, st.runs_unfinished);
    if (rc != 0) {
        cmd_error("merge", "%s", err);
        return TP_EXIT_INPUT;
    }
    return TP_EXIT_OK;
}
