/* cmd/cmd_sim.c — `tidepool sim SCRIPT.lua [--seed N] [--db FILE] [--set k=v ...]`:
 * runs one Lua scenario in the simulator (lua/scenario.h), shows a progress line on a
 * terminal, prints a one-line JSON summary on stdout, and exits with the verdict:
 * 0 pass, 1 fail, 2 usage, 3 bad script or input. A failing run prints its seed and the
 * exact command that replays it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buildinfo/buildinfo.h"
#include "cmd/cmd.h"
#include "lua/scenario.h"

#define SIM_PARAMS_MAX 128

static void sim_usage(FILE *out) {
    fprintf(out,
            "usage: tidepool sim SCRIPT.lua [--seed N] [--db FILE] [--set KEY=VALUE ...]\n"
            "                    [--log none|info|debug] [--crypto real|fast] [--quiet]\n"
            "                    [--expect-build ID] [--max-wall SECONDS] [--max-events N]\n"
            "                    [--threads N] [--partitions N] [--stats]\n"
            "\n"
            "Runs a Lua scenario in the deterministic network simulator. The same script,\n"
            "seed and --set values give the same run, bit for bit (same trace hash).\n"
            "\n"
            "options:\n"
            "  --seed N            run seed, 0..9223372036854775807 (default 1)\n"
            "  --db FILE           write the run to this SQLite results database (created\n"
            "                      if missing, with its directory; runs are appended);\n"
            "                      schema: reports/README.md\n"
            "  --set KEY=VALUE     set a scenario parameter (read by param(KEY, default)),\n"
            "                      repeatable; the scenario's header lists its parameters\n"
            "  --log LEVEL         detail of the database log: none (run, hosts, nodes,\n"
            "                      checks), info (+ connections, samples, info events; the\n"
            "                      default), debug (+ every message event)\n"
            "  --crypto MODE       real (default: X25519 + XSalsa20-Poly1305) or fast: a\n"
            "                      simulation-only stand-in with the same framing, sizes,\n"
            "                      nonces and protocol decisions but no secrecy, for very\n"
            "                      large runs (recorded in runs.parameters as \"crypto\")\n"
            "  --expect-build ID   the build that recorded the run being replayed (printed\n"
            "                      replay commands carry it): says so when this binary is\n"
            "                      another build (see tidepool version)\n"
            "  --max-wall SECONDS  stop the run with verdict error after this much real time\n"
            "                      (an endless loop in a scenario; default: no limit)\n"
            "  --max-events N      stop the run with verdict error once N simulator events\n"
            "                      have run (checked between windows of the smallest\n"
            "                      latency, so a few more may run; deterministic, the same\n"
            "                      at any --threads; default: no limit)\n"
            "  --threads N         run the simulator on N threads, 1..256 (default: the\n"
            "                      TIDEPOOL_THREADS environment variable, else this machine's\n"
            "                      cores). The run is the same at any count (same trace hash,\n"
            "                      same database rows); a world whose smallest latency\n"
            "                      between two hosts is under 50 us runs on one (it says why)\n"
            "  --partitions N      split the hosts into N partitions, 1..256 (default: 8 per\n"
            "                      thread); the threads take them window by window, their\n"
            "                      own first, so that no thread waits for a slow share. The\n"
            "                      run is the same at any count\n"
            "  --stats             print, at the end, each thread's busy time and barrier\n"
            "                      wait, the partitions' load and the windows run (stderr)\n"
            "  --quiet             no progress line\n"
            "\n"
            "output: a progress line on stderr when it is a terminal, print() output of the\n"
            "scenario on stderr, and one JSON line on stdout at the end.\n"
            "\n"
            "exit codes: 0 the scenario passed; 1 a check failed (the replay command is\n"
            "printed); 2 usage error (an option, or a --set the scenario has no parameter\n"
            "for or rejects); 3 the script is malformed or misuses the API (the message\n"
            "gives file:line), a --max-wall/--max-events limit stopped it, or the database\n"
            "cannot be written.\n"
            "\n"
            "example:\n"
            "  tidepool sim scenarios/bootstrap.lua --seed 7 --db out.db --set nodes=200\n");
}

/* --threads and --partitions: a count in 1..SIM_THREADS_MAX. */
static bool parse_count(const char *opt, const char *v, uint32_t *out) {
    uint64_t n = 0;
    if (!cmd_parse_u64("sim", opt, v, &n)) return false;
    if (n < 1 || n > SIM_THREADS_MAX) {
        cmd_error("sim", "%s must be in 1..%u (got %s)", opt, SIM_THREADS_MAX, v);
        return false;
    }
    *out = (uint32_t)n;
    return true;
}

/* --stats: where the wall time went, per thread. Busy is running partitions (taking in
 * their messages, then their events); wait is the barrier (waiting for the slowest
 * thread, then the world-level work done there). Then the partitions' share of the
 * load: the threads even it out window by window (sim_world_set_partitions). */
static void print_run_stats(const tl_run_result *r) {
    const sim_run_stats *s = &r->run_stats;
    fprintf(stderr, "tidepool sim: %u thread%s, %u partition%s, lookahead %.3f ms, %" PRIu64
                    " windows, %" PRIu64 " barriers, wall %.3f s\n",
            s->threads, s->threads == 1 ? "" : "s", s->parts, s->parts == 1 ? "" : "s",
            (double)r->lookahead_ns / 1e6, s->windows, s->barriers, r->wall_s);
    uint64_t busy_max = 0, busy_sum = 0;
    for (uint32_t i = 0; i < s->threads; i++) {
        busy_sum += s->thread[i].busy_ns;
        if (s->thread[i].busy_ns > busy_max) busy_max = s->thread[i].busy_ns;
    }
    fprintf(stderr, "  thread    busy s    wait s   partition-windows   taken from others\n");
    for (uint32_t i = 0; i < s->threads; i++)
        fprintf(stderr, "  %6u %9.3f %9.3f %19" PRIu64 " %19" PRIu64 "\n", i,
                (double)s->thread[i].busy_ns / 1e9, (double)s->thread[i].wait_ns / 1e9,
                s->thread[i].parts_run, s->thread[i].parts_taken);
    if (s->threads > 1 && busy_sum > 0)
        fprintf(stderr, "  imbalance: the busiest thread ran %.1f %% above the mean\n",
                100.0 * ((double)busy_max * s->threads / (double)busy_sum - 1.0));
    if (s->parts > 1) {
        uint64_t pb_min = UINT64_MAX, pb_max = 0, pe_min = UINT64_MAX, pe_max = 0;
        uint32_t ph_min = UINT32_MAX, ph_max = 0;
        for (uint32_t i = 0; i < s->parts; i++) {
            const sim_part_stats *p = &s->part[i];
            if (p->busy_ns < pb_min) pb_min = p->busy_ns;
            if (p->busy_ns > pb_max) pb_max = p->busy_ns;
            if (p->events < pe_min) pe_min = p->events;
            if (p->events > pe_max) pe_max = p->events;
            if (p->hosts < ph_min) ph_min = p->hosts;
            if (p->hosts > ph_max) ph_max = p->hosts;
        }
        fprintf(stderr, "  partitions: hosts %u..%u, events %" PRIu64 "..%" PRIu64
                        ", busy %.3f..%.3f s; %" PRIu64 " messages between them\n",
                ph_min, ph_max, pe_min, pe_max, (double)pb_min / 1e9, (double)pb_max / 1e9,
                s->messages);
    }
    fprintf(stderr, "  serial: %.3f s between windows (barriers and world events: %.1f %% of "
                    "the wall time)\n",
            (double)s->serial_ns / 1e9, r->wall_s > 0 ? 100.0 * (double)s->serial_ns / 1e9 / r->wall_s : 0.0);
}

typedef struct progress_state {
    bool tty;
    double wall0, last_print;
    uint64_t last_events;
    double last_wall;
    bool printed;
} progress_state;

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_progress(void *arg, const tl_progress *p) {
    progress_state *ps = arg;
    double now = wall_now();
    if (now - ps->last_print < 0.25) return;
    double rate = now > ps->last_wall ? (double)(p->events_executed - ps->last_events) /
                                            (now - ps->last_wall)
                                      : 0;
    fprintf(stderr, "\r\033[Ksim: virtual %.1f s  wall %.1f s  %.0f events/s  %" PRIu32 " hosts",
            (double)p->virtual_ns / 1e9, now - ps->wall0, rate, p->hosts);
    fflush(stderr);
    ps->printed = true;
    ps->last_print = now;
    ps->last_wall = now;
    ps->last_events = p->events_executed;
}

/* Appends s to buf single-quoted for a POSIX shell when it needs quoting. */
static void shell_append(char *buf, size_t cap, const char *s) {
    size_t len = strlen(buf);
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,+@%",
                    *p))
            plain = false;
    if (len + 1 < cap) buf[len++] = ' ';
    if (plain) {
        for (; *s && len + 1 < cap; s++) buf[len++] = *s;
    } else {
        if (len + 1 < cap) buf[len++] = '\'';
        for (; *s && len + 5 < cap; s++) {
            if (*s == '\'') {
                memcpy(buf + len, "'\\''", 4);
                len += 4;
            } else {
                buf[len++] = *s;
            }
        }
        if (len + 1 < cap) buf[len++] = '\'';
    }
    buf[len] = '\0';
}

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

int cmd_sim(int argc, char **argv) {
    if (cmd_wants_help(argc, argv)) {
        sim_usage(stdout);
        return TP_EXIT_OK;
    }
    tl_run_config cfg;
    tl_run_config_default(&cfg);
    cfg.seed = 1;
    const tp_build_info *build = tp_build_info_get();
    cfg.code_version = build->describe;
    cfg.build_commit = strcmp(build->commit, "unknown") ? build->commit : NULL;
    cfg.build_dirty = build->dirty;
    cfg.build_id = strcmp(build->binary_hash, "unknown") ? build->id : NULL;
    const char *expect_build = NULL;
    const char *max_wall_text = NULL;
    static tl_param params[SIM_PARAMS_MAX];
    size_t nparams = 0;
    const char *script = NULL;
    bool quiet = false;
    bool stats = false;
    bool threads_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--seed") == 0) {
            if (!v) goto missing;
            if (!cmd_parse_u64("sim", "--seed", v, &cfg.seed)) return TP_EXIT_USAGE;
            if (cfg.seed > (uint64_t)INT64_MAX) {
                cmd_error("sim", "--seed must be at most 9223372036854775807 (got %s)", v);
                return TP_EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--db") == 0) {
            if (!v) goto missing;
            cfg.db_path = v;
            i++;
        } else if (strcmp(a, "--log") == 0) {
            if (!v) goto missing;
            if (!tl_log_level_parse(v, &cfg.log_level)) {
                cmd_error("sim", "--log expects none, info or debug (got '%s')", v);
                return TP_EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--set") == 0) {
            if (!v) goto missing;
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) {
                cmd_error("sim", "--set expects KEY=VALUE (got '%s'), e.g. --set nodes=200", v);
                return TP_EXIT_USAGE;
            }
            if (nparams == SIM_PARAMS_MAX) {
                cmd_error("sim", "at most %d --set options", SIM_PARAMS_MAX);
                return TP_EXIT_USAGE;
            }
            /* Split in place: argv strings are ours to modify. */
            char *key = argv[i + 1];
            key[eq - v] = '\0';
            params[nparams].key = key;
            params[nparams].value = key + (eq - v) + 1;
            nparams++;
            i++;
        } else if (strcmp(a, "--crypto") == 0) {
            if (!v) goto missing;
            if (strcmp(v, "fast") != 0 && strcmp(v, "real") != 0) {
                cmd_error("sim", "--crypto expects real or fast (got '%s')", v);
                return TP_EXIT_USAGE;
            }
            cfg.crypto_fast = strcmp(v, "fast") == 0;
            i++;
        } else if (strcmp(a, "--expect-build") == 0) {
            if (!v) goto missing;
            if (!tp_build_id_valid(v)) {
                cmd_error("sim", "--expect-build expects a build id, 8 to 32 hex digits as "
                                 "printed by tidepool version (got '%s')", v);
                return TP_EXIT_USAGE;
            }
            expect_build = v;
            i++;
        } else if (strcmp(a, "--max-wall") == 0) {
            if (!v) goto missing;
            char *end = NULL;
            errno = 0;
            double secs = strtod(v, &end);
            if (errno != 0 || end == v || *end != '\0' || !(secs > 0) || secs > 1e9) {
                cmd_error("sim", "--max-wall expects a positive number of seconds (got '%s'), "
                                 "e.g. --max-wall 600", v);
                return TP_EXIT_USAGE;
            }
            cfg.max_wall_s = secs;
            max_wall_text = v;
            i++;
        } else if (strcmp(a, "--max-events") == 0) {
            if (!v) goto missing;
            if (!cmd_parse_u64("sim", "--max-events", v, &cfg.max_events)) return TP_EXIT_USAGE;
            if (cfg.max_events == 0) {
                cmd_error("sim", "--max-events must be at least 1 (got 0)");
                return TP_EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "--partitions") == 0) {
            if (!v) goto missing;
            uint32_t n = 0;
            if (!parse_count(a, v, &n)) return TP_EXIT_USAGE;
            if (a[2] == 't') {
                cfg.threads = n;
                threads_given = true;
            } else {
                cfg.partitions = n;
            }
            i++;
        } else if (strcmp(a, "--stats") == 0) {
            stats = true;
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            static const char *const known[] = {"--seed", "--db", "--log", "--set", "--crypto",
                                                "--expect-build", "--max-wall", "--max-events",
                                                "--threads", "--partitions", "--stats",
                                                "--quiet", "--help",
                                                NULL};
            return cmd_unknown_option("sim", a, known);
        } else if (!script) {
            script = a;
        } else {
            cmd_error("sim", "one scenario at a time (got '%s' and '%s')", script, a);
            return TP_EXIT_USAGE;
        }
        continue;
    missing:
        cmd_error("sim", "%s expects a value (see tidepool sim --help)", a);
        return TP_EXIT_USAGE;
    }
    if (!script) {
        cmd_error("sim", "missing the scenario script, e.g. tidepool sim scenarios/bootstrap.lua");
        return TP_EXIT_USAGE;
    }
    if (!threads_given) {
        const char *env = getenv("TIDEPOOL_THREADS");
        if (env != NULL && env[0] != '\0') {
            uint64_t n = 0;
            if (!cmd_parse_u64("sim", "TIDEPOOL_THREADS", env, &n) || n < 1 || n > SIM_THREADS_MAX) {
                cmd_error("sim", "TIDEPOOL_THREADS must be a thread count in 1..%u (got '%s')",
                          SIM_THREADS_MAX, env);
                return TP_EXIT_USAGE;
            }
            cfg.threads = (uint32_t)n;
        } else {
            long cpus = sysconf(_SC_NPROCESSORS_ONLN);
            cfg.threads = cpus < 1 ? 1 : cpus > (long)SIM_THREADS_MAX ? SIM_THREADS_MAX : (uint32_t)cpus;
        }
    }
    cfg.script_path = script;
    cfg.params = params;
    cfg.param_count = nparams;

    char command[4096] = "tidepool sim";
    char seedtxt[32];
    snprintf(seedtxt, sizeof seedtxt, "%" PRIu64, cfg.seed);
    shell_append(command, sizeof command, script);
    shell_append(command, sizeof command, "--seed");
    shell_append(command, sizeof command, seedtxt);
    for (size_t k = 0; k < nparams; k++) {
        char kv[1024];
        snprintf(kv, sizeof kv, "%s=%s", params[k].key, params[k].value);
        shell_append(command, sizeof command, "--set");
        shell_append(command, sizeof command, kv);
    }
    if (cfg.log_level != TL_LOG_INFO) {
        shell_append(command, sizeof command, "--log");
        shell_append(command, sizeof command, tl_log_level_name(cfg.log_level));
    }
    if (cfg.crypto_fast) {
        shell_append(command, sizeof command, "--crypto");
        shell_append(command, sizeof command, "fast");
    }
    if (cfg.max_events) { /* it changes where the run stops: part of the replay */
        char n[32];
        snprintf(n, sizeof n, "%" PRIu64, cfg.max_events);
        shell_append(command, sizeof command, "--max-events");
        shell_append(command, sizeof command, n);
    }
    if (max_wall_text) {
        shell_append(command, sizeof command, "--max-wall");
        shell_append(command, sizeof command, max_wall_text);
    }
    if (cfg.db_path && !cmd_make_parent_dir(cfg.db_path)) {
        cmd_error("sim", "--db %s: cannot create its directory: %s", cfg.db_path,
                  strerror(errno));
        return TP_EXIT_INPUT;
    }
    if (cfg.build_id) {
        /* The recording build: a pasted replay run by another build says so. */
        shell_append(command, sizeof command, "--expect-build");
        shell_append(command, sizeof command, cfg.build_id);
    }
    cfg.command = command;
    bool build_mismatch = expect_build && !tp_build_info_matches(build, expect_build);
    char build_text[160];
    tp_build_info_text(build, build_text, sizeof build_text);
    if (build_mismatch)
        fprintf(stderr,
                "tidepool sim: note: this replays a run recorded by build %s, but this is "
                "build %s: the trace hash may differ (rebuild that commit to reproduce it)\n",
                expect_build, build_text);

    progress_state ps = {0};
    ps.tty = !quiet && isatty(STDERR_FILENO);
    ps.wall0 = ps.last_wall = wall_now();
    if (ps.tty) {
        cfg.progress = on_progress;
        cfg.progress_arg = &ps;
        cfg.out_clear_line = true;
    }

    tl_run_result r;
    tl_verdict v = tl_run(&cfg, &r);
    if (ps.printed) fprintf(stderr, "\r\033[K");

    if (r.param_error) {
        /* A --set the scenario has no parameter for (or rejects): the command line is
         * wrong, nothing to replay (the JSON line below still says so, exit 2). */
        cmd_error("sim", "%s", r.message);
    } else if (v != TL_VERDICT_PASS) {
        fprintf(stderr, "tidepool sim: %s: %s\n", v == TL_VERDICT_FAIL ? "FAIL" : "ERROR",
                r.message[0] ? r.message : "(no message)");
        fprintf(stderr, "seed %" PRIu64 "; replay with:\n  %s\n", cfg.seed, command);
    }
    if (r.threads_note[0] && cfg.threads > 1)
        fprintf(stderr, "tidepool sim: note: %s\n", r.threads_note);
    if (stats) print_run_stats(&r);
    double eps = r.wall_s > 0 ? (double)r.events_executed / r.wall_s : 0;
    printf("{\"scenario\":");
    json_string(stdout, script);
    printf(",\"seed\":%" PRIu64 ",\"verdict\":\"%s\",\"trace_hash\":\"%016" PRIx64 "\""
           ",\"virtual_time_s\":%.6f,\"wall_time_s\":%.3f,\"events\":%" PRIu64
           ",\"events_per_s\":%.0f,\"hosts\":%" PRIu32 ",\"nodes\":%" PRIu32
           ",\"checks_passed\":%" PRIu32 ",\"checks_failed\":%" PRIu32,
           cfg.seed, tl_verdict_name(v), r.trace_hash, (double)r.virtual_ns / 1e9, r.wall_s,
           r.events_executed, eps, r.hosts, r.nodes, r.checks_passed, r.checks_failed);
    printf(",\"threads\":%" PRIu32 ",\"partitions\":%" PRIu32, r.threads, r.partitions);
    if (cfg.db_path) {
        printf(",\"db\":");
        json_string(stdout, cfg.db_path);
        printf(",\"run_id\":%" PRId64, r.run_id);
    }
    if (r.message[0]) {
        printf(",\"message\":");
        json_string(stdout, r.message);
    }
    printf(",\"command\":");
    json_string(stdout, command);
    printf(",\"build_id\":");
    json_string(stdout, build->id);
    if (expect_build) printf(",\"build_mismatch\":%s", build_mismatch ? "true" : "false");
    printf("}\n");
    fflush(stdout);
    if (r.param_error) return TP_EXIT_USAGE;
    switch (v) {
    case TL_VERDICT_PASS: return TP_EXIT_OK;
    case TL_VERDICT_FAIL: return TP_EXIT_FAIL;
    case TL_VERDICT_ERROR: return TP_EXIT_INPUT;
    }
    return TP_EXIT_INPUT;
}
