/* cmd/cmd_shrink.c — `tidepool shrink FAILING-RUN [--out FILE] [--max-runs N]
 * [--budget SECONDS]`: delta-debugs a failing swarm run (a fail-<seed> directory or its
 * scenario.lua) down to a minimal fault schedule and world that still fail the same
 * invariant, and writes it as a runnable Lua scenario (swarm/swarm.h). Exit: 0 shrunk,
 * 1 the input does not fail in this build, 2 usage, 3 bad input. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "swarm/swarm.h"

static void shrink_usage(FILE *out) {
    fprintf(out,
            "usage: tidepool shrink FAILING-RUN [--out FILE] [--max-runs N] [--budget SECONDS]\n"
            "                       [--run-limit SECONDS] [--quiet]\n"
            "\n"
            "Shrinks a failing swarm run: FAILING-RUN is a DIR/fail-<seed> directory written\n"
            "by `tidepool swarm` (or its scenario.lua). The realized fault schedule is\n"
            "delta-debugged (ddmin), then the world is halved and cut node by node, then the\n"
            "schedule once more, then the nodes it names are renumbered to the lowest\n"
            "indices and the world cut again; every candidate is re-run with the same seed\n"
            "and kept only if it fails the same invariant. The result is written as\n"
            "shrunk.lua next to the input (runnable with `tidepool sim shrunk.lua --seed S`),\n"
            "and the event and node counts before and after are printed.\n"
            "\n"
            "options:\n"
            "  --out FILE          where to write the shrunk scenario\n"
            "  --max-runs N        at most N candidate runs (default 300)\n"
            "  --budget SECONDS    wall-clock budget (default 600)\n"
            "  --run-limit SEC     wall-clock limit per candidate run (default 120)\n"
            "  --quiet             do not print each candidate\n"
            "\n"
            "exit codes: 0 shrunk; 1 the input passes in this build (nothing to shrink);\n"
            "2 usage error; 3 the input is not a swarm scenario or cannot be read/written.\n");
}

int cmd_shrink(int argc, char **argv) {
    if (cmd_wants_help(argc, argv)) {
        shrink_usage(stdout);
        return TP_EXIT_OK;
    }
    sw_shrink_config cfg;
    memset(&cfg, 0, sizeof cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quiet") == 0) {
            cfg.quiet = true;
            continue;
        }
        if (a[0] == '-' && a[1] == '-') {
            if (v == NULL) {
                cmd_error("shrink", "%s needs a value (see tidepool shrink --help)", a);
                return TP_EXIT_USAGE;
            }
            uint64_t u;
            char *end;
            if (strcmp(a, "--out") == 0) {
                cfg.output = v;
            } else if (strcmp(a, "--max-runs") == 0) {
                if (!cmd_parse_u64("shrink", a, v, &u)) return TP_EXIT_USAGE;
                if (u < 1 || u > 100000) {
                    cmd_error("shrink", "--max-runs must be in 1..100000, got %" PRIu64, u);
                    return TP_EXIT_USAGE;
                }
                cfg.max_runs = (uint32_t)u;
            } else if (strcmp(a, "--budget") == 0 || strcmp(a, "--run-limit") == 0) {
                double d = strtod(v, &end);
                if (end == v || *end != '\0' || !(d > 0)) {
                    cmd_error("shrink", "%s expects a number of seconds > 0, got '%s'", a, v);
                    return TP_EXIT_USAGE;
                }
                if (a[2] == 'b') cfg.budget_s = d;
                else cfg.run_limit_s = d;
            } else {
                cmd_error("shrink", "unknown option '%s' (see tidepool shrink --help)", a);
                return TP_EXIT_USAGE;
            }
            i++;
            continue;
        }
        if (cfg.input != NULL) {
            cmd_error("shrink", "one FAILING-RUN only (got '%s' and '%s')", cfg.input, a);
            return TP_EXIT_USAGE;
        }
        cfg.input = a;
    }
    if (cfg.input == NULL) {
        cmd_error("shrink", "FAILING-RUN is required: a fail-<seed> directory written by "
                            "`tidepool swarm` (see tidepool shrink --help)");
        return TP_EXIT_USAGE;
    }
    sw_shrink_result res;
    int rc = sw_shrink(&cfg, &res);
    if (rc != 0) return rc == 1 ? TP_EXIT_FAIL : TP_EXIT_INPUT;
    printf("shrink: seed %" PRIu64 ", invariant %s: %u -> %u fault events, %u -> %u nodes, "
           "%u runs\n",
           res.seed, res.invariant, res.events_before, res.events_after, res.nodes_before,
           res.nodes_after, res.runs);
    printf("wrote %s\nreplay: tidepool sim %s --seed %" PRIu64 "\n", res.output, res.output,
           res.seed);
    printf("{\"seed\": %" PRIu64 ", \"invariant\": \"%s\", \"events_before\": %u, "
           "\"events_after\": %u, \"nodes_before\": %u, \"nodes_after\": %u, \"runs\": %u, "
           "\"output\": \"%s\"}\n",
           res.seed, res.invariant, res.events_before, res.events_after, res.nodes_before,
           res.nodes_after, res.runs, res.output);
    return TP_EXIT_OK;
}
