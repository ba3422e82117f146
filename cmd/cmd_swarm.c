/* cmd/cmd_swarm.c — `tidepool swarm --seeds N [--first-seed S] [--jobs J]
 * [--budget SECONDS] [--out DIR]`: runs random worlds with random fault schedules, one
 * per seed, with the invariant checker armed (swarm/swarm.h, lua/invariants.h); saves
 * each failing seed as DIR/fail-<seed>/ (scenario.lua, schedule.json, replay.txt,
 * results.db). Exit: 0 every seed passed, 1 some seed failed, 2 usage, 3 environment. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "swarm/swarm.h"

static void swarm_usage(FILE *out) {
    fprintf(out,
            "usage: tidepool swarm --seeds N [--first-seed S] [--jobs J] [--budget SECONDS]\n"
            "                      [--out DIR] [--seed-limit SECONDS] [--quiet]\n"
            "       tidepool swarm --emit SEED    (print the scenario of one seed)\n"
            "\n"
            "Swarm testing: each seed draws its own world (4-12 nodes, regions and latency,\n"
            "link rates, connection limits, private nodes) and its own realized fault\n"
            "schedule (partitions, crashes and restarts, clean stops, loss, clock steps and\n"
            "drift, bandwidth changes, peer and IP bans, hostile peers of every kind), runs\n"
            "it in the simulator and checks the invariants every virtual second\n"
            "(connection_limit, banned_peer_connected, state_agreement, bounds, memory,\n"
            "overlay_connected 300 s after the last fault, min_connections).\n"
            "\n"
            "options:\n"
            "  --seeds N           number of seeds to run (required)\n"
            "  --first-seed S      first seed (default 1): seeds S..S+N-1\n"
            "  --jobs J            seeds run in parallel, each in its own process (default 1)\n"
            "  --budget SECONDS    wall-clock budget: no new seed starts after it (default none)\n"
            "  --out DIR           where failing seeds are saved (default swarm-out)\n"
            "  --seed-limit SEC    wall-clock limit per seed; a seed past it fails (default 120)\n"
            "  --quiet             no progress (on a terminal: one line with the total and\n"
            "                      an ETA; otherwise a line every 10 %% of seeds or 30 s)\n"
            "  --emit SEED         print the Lua scenario of SEED (world + realized fault\n"
            "                      schedule + invariants) and exit; run it with\n"
            "                      tidepool sim FILE --seed SEED\n"
            "\n"
            "A failing seed is saved as DIR/fail-<seed>/: scenario.lua (the world and the\n"
            "schedule, runnable with `tidepool sim`), schedule.json, replay.txt (the exact\n"
            "command) and results.db. Shrink it with `tidepool shrink DIR/fail-<seed>`.\n"
            "\n"
            "exit codes: 0 all seeds passed; 1 at least one failed; 2 usage error; 3 the\n"
            "output directory cannot be written.\n"
            "\n"
            "example:\n"
            "  tidepool swarm --seeds 200 --jobs 2 --out /tmp/swarm\n");
}

static bool parse_seconds(const char *opt, const char *text, double *out) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !(v >= 0) || v > 1e9) {
        cmd_error("swarm", "%s expects a number of seconds >= 0, got '%s'", opt, text);
        return false;
    }
    *out = v;
    return true;
}

int cmd_swarm(int argc, char **argv) {
    if (cmd_wants_help(argc, argv)) {
        swarm_usage(stdout);
        return TP_EXIT_OK;
    }
    sw_swarm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.first_seed = 1;
    cfg.jobs = 1;
    cfg.out_dir = "swarm-out";
    cfg.exe = "tidepool";
    bool have_seeds = false;
    if (argc == 3 && strcmp(argv[1], "--emit") == 0) {
        uint64_t seed;
        if (!cmd_parse_u64("swarm", "--emit", argv[2], &seed)) return TP_EXIT_USAGE;
        if (seed > (uint64_t)INT64_MAX) {
            cmd_error("swarm", "--emit: the seed must be <= %" PRId64, INT64_MAX);
            return TP_EXIT_USAGE;
        }
        sw_world w;
        sw_generate(seed, &w);
        char *text = sw_emit_lua(&w);
        fputs(text, stdout);
        free(text);
        return TP_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "--seeds") == 0 || strcmp(a, "--first-seed") == 0 ||
                     strcmp(a, "--jobs") == 0 || strcmp(a, "--budget") == 0 ||
                     strcmp(a, "--out") == 0 || strcmp(a, "--seed-limit") == 0;
        if (takes && v == NULL) {
            cmd_error("swarm", "%s needs a value (see tidepool swarm --help)", a);
            return TP_EXIT_USAGE;
        }
        uint64_t u;
        if (strcmp(a, "--seeds") == 0) {
            if (!cmd_parse_u64("swarm", a, v, &cfg.seeds)) return TP_EXIT_USAGE;
            have_seeds = true;
        } else if (strcmp(a, "--first-seed") == 0) {
            if (!cmd_parse_u64("swarm", a, v, &cfg.first_seed)) return TP_EXIT_USAGE;
            if (cfg.first_seed > (uint64_t)INT64_MAX / 2) {
                cmd_error("swarm", "--first-seed must be <= %" PRId64, INT64_MAX / 2);
                return TP_EXIT_USAGE;
            }
        } else if (strcmp(a, "--jobs") == 0) {
            if (!cmd_parse_u64("swarm", a, v, &u)) return TP_EXIT_USAGE;
            if (u < 1 || u > 64) {
                cmd_error("swarm", "--jobs must be in 1..64, got %" PRIu64, u);
                return TP_EXIT_USAGE;
            }
            cfg.jobs = (uint32_t)u;
        } else if (strcmp(a, "--budget") == 0) {
            if (!parse_seconds(a, v, &cfg.budget_s)) return TP_EXIT_USAGE;
        } else if (strcmp(a, "--seed-limit") == 0) {
            if (!parse_seconds(a, v, &cfg.seed_limit_s)) return TP_EXIT_USAGE;
        } else if (strcmp(a, "--out") == 0) {
            cfg.out_dir = v;
        } else if (strcmp(a, "--quiet") == 0) {
            cfg.quiet = true;
            continue;
        } else {
            static const char *const known[] = {"--seeds", "--first-seed", "--jobs", "--budget",
                                                "--out", "--seed-limit", "--quiet", "--emit",
                                                "--help", NULL};
            return cmd_unknown_option("swarm", a, known);
        }
        i++;
    }
    if (!have_seeds || cfg.seeds == 0) {
        cmd_error("swarm", "--seeds N (N >= 1) is required, e.g. tidepool swarm --seeds 100");
        return TP_EXIT_USAGE;
    }
    if (cfg.seeds > 100000000) {
        cmd_error("swarm", "--seeds is at most 100000000 (use --budget for long campaigns)");
        return TP_EXIT_USAGE;
    }
    sw_swarm_result res;
    if (!sw_swarm(&cfg, &res)) return TP_EXIT_INPUT;
    return res.failed > 0 ? TP_EXIT_FAIL : TP_EXIT_OK;
}
