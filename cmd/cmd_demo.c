/* cmd/cmd_demo.c — `tidepool demo node ...`: one host of the demo flooding protocol
 * (demo/demo.h) on real sockets (realnet/rn.h). Prints a one-line JSON summary of the
 * host's statistics when it ends (after --duration-s, or on SIGINT/SIGTERM). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "demo/demo.h"
#include "realnet/rn.h"

#define DEMO_SEEDS_MAX 64

static void demo_usage(FILE *out) {
    fprintf(out,
            "usage: tidepool demo node --listen ADDR:PORT [options]\n"
            "\n"
            "Runs one host of the demo flooding protocol on real sockets: it listens on\n"
            "ADDR:PORT, keeps K outgoing connections to random known points (learning\n"
            "points from its peers beyond the seeds given with --peer), and forwards\n"
            "every numbered ping it has not seen to all its other connections. With\n"
            "--originate it also sends its own pings. At exit (after --duration-s, or on\n"
            "SIGINT/SIGTERM) it prints its statistics as one JSON line on stdout.\n"
            "\n"
            "options:\n"
            "  --listen ADDR:PORT      where to listen: 127.0.0.1:9000, [::1]:9000,\n"
            "                          [::]:9000 (every address); required\n"
            "  --peer ADDR:PORT        a seed point (repeatable, up to %d)\n"
            "  --peers K               outgoing connections to keep (default 4)\n"
            "  --ping-interval-ms N    between two originated pings (default 1000)\n"
            "  --ping-delay-ms N       from start to the first ping (default 2000)\n"
            "  --pings N               pings to originate (default 10)\n"
            "  --originate             this host originates pings\n"
            "  --duration-s N          stop after N seconds (default: until a signal)\n"
            "  --verbose               log demo events (debug level) on stderr\n"
            "\n"
            "exit codes: 0 ran and printed its summary; 2 usage error; 3 cannot listen or\n"
            "start (e.g. the port is in use).\n"
            "\n"
            "example (three terminals):\n"
            "  tidepool demo node --listen 127.0.0.1:9001 --duration-s 10\n"
            "  tidepool demo node --listen 127.0.0.1:9002 --peer 127.0.0.1:9001 --duration-s 10\n"
            "  tidepool demo node --listen 127.0.0.1:9003 --peer 127.0.0.1:9001 --originate \\\n"
            "      --pings 5 --ping-interval-ms 200 --duration-s 10\n",
            DEMO_SEEDS_MAX);
}

static void on_stopped(void *arg) {
    rn_loop_stop(arg);
}

static void print_summary(const tp_demo *d, const tp_point *listen, int signal) {
    tp_demo_stats st;
    tp_demo_get_stats(d, &st);
    char pt[TP_POINT_TEXT_MAX];
    int64_t mean = st.delay_count ? st.delay_ns_sum / (int64_t)st.delay_count : 0;
    printf("{\"id\":\"%016" PRIx64 "\",\"listen\":\"%s\",\"pings_originated\":%" PRIu64
           ",\"pings_unique\":%" PRIu64 ",\"pings_duplicate\":%" PRIu64
           ",\"pings_forwarded\":%" PRIu64 ",\"pings_dropped\":%" PRIu64
           ",\"connections_in\":%" PRIu64 ",\"connections_out\":%" PRIu64
           ",\"connect_failures\":%" PRIu64 ",\"frames_bad\":%" PRIu64 ",\"bytes_in\":%" PRIu64
           ",\"bytes_out\":%" PRIu64 ",\"points_known\":%" PRIu64 ",\"delay_count\":%" PRIu64
           ",\"delay_ns_min\":%" PRId64 ",\"delay_ns_max\":%" PRId64 ",\"delay_ns_mean\":%" PRId64
           ",\"signal\":%d}\n",
           tp_demo_id(d), tp_point_format(listen, pt), st.pings_originated, st.pings_unique,
           st.pings_duplicate, st.pings_forwarded, st.pings_dropped, st.connections_in,
           st.connections_out, st.connect_failures, st.frames_bad, st.bytes_in, st.bytes_out,
           st.points_known, st.delay_count, st.delay_ns_min, st.delay_ns_max, mean, signal);
    fflush(stdout);
}

static int demo_node(int argc, char **argv) {
    const char *me = "demo node";
    tp_demo_config cfg;
    tp_demo_config_default(&cfg);
    tp_point seeds[DEMO_SEEDS_MAX];
    size_t seeds_count = 0;
    bool have_listen = false, verbose = false;
    uint64_t duration_s = 0, v = 0;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        static const char *const valued[] = {"--listen", "--peer", "--peers",
                                             "--ping-interval-ms", "--ping-delay-ms",
                                             "--pings", "--duration-s"};
        bool takes_value = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            if (strcmp(opt, valued[k]) == 0) takes_value = true;
        if (!takes_value && strcmp(opt, "--originate") != 0 && strcmp(opt, "--verbose") != 0) {
            cmd_error(me, "unknown option '%s' (try --help)", opt);
            return TP_EXIT_USAGE;
        }
        if (takes_value && i + 1 >= argc) {
            cmd_error(me, "%s expects a value (try --help)", opt);
            return TP_EXIT_USAGE;
        }
        const char *val = takes_value ? argv[i + 1] : NULL;
        if (strcmp(opt, "--listen") == 0) {
            if (rn_point_parse(val, &cfg.listen) != TP_OK) {
                cmd_error(me, "--listen: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9732 or [::1]:9732)",
                          val);
                return TP_EXIT_USAGE;
            }
            have_listen = true;
        } else if (strcmp(opt, "--peer") == 0) {
            if (seeds_count == DEMO_SEEDS_MAX) {
                cmd_error(me, "--peer given more than %d times", DEMO_SEEDS_MAX);
                return TP_EXIT_USAGE;
            }
            if (rn_point_parse(val, &seeds[seeds_count]) != TP_OK) {
                cmd_error(me, "--peer: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9732 or [::1]:9732)",
                          val);
                return TP_EXIT_USAGE;
            }
            seeds_count++;
        } else if (strcmp(opt, "--peers") == 0) {
            if (!cmd_parse_u64(me, opt, val, &v)) return TP_EXIT_USAGE;
            if (v == 0 || v > 1000) {
                cmd_error(me, "--peers must be between 1 and 1000 (got %s)", val);
                return TP_EXIT_USAGE;
            }
            cfg.peers_k = (uint32_t)v;
            if (cfg.connections_max < 2 * cfg.peers_k) cfg.connections_max = 2 * cfg.peers_k;
        } else if (strcmp(opt, "--ping-interval-ms") == 0 || strcmp(opt, "--ping-delay-ms") == 0) {
            if (!cmd_parse_u64(me, opt, val, &v)) return TP_EXIT_USAGE;
            if (v > 86400000) {
                cmd_error(me, "%s must be at most 86400000 (got %s)", opt, val);
                return TP_EXIT_USAGE;
            }
            if (strcmp(opt, "--ping-interval-ms") == 0) {
                if (v == 0) {
                    cmd_error(me, "--ping-interval-ms must be at least 1");
                    return TP_EXIT_USAGE;
                }
                cfg.ping_interval_ns = (int64_t)v * 1000000;
            } else {
                cfg.ping_start_delay_ns = (int64_t)v * 1000000;
            }
        } else if (strcmp(opt, "--pings") == 0) {
            if (!cmd_parse_u64(me, opt, val, &v)) return TP_EXIT_USAGE;
            if (v > UINT32_MAX) {
                cmd_error(me, "--pings must be at most %u (got %s)", UINT32_MAX, val);
                return TP_EXIT_USAGE;
            }
            cfg.pings = (uint32_t)v;
        } else if (strcmp(opt, "--duration-s") == 0) {
            if (!cmd_parse_u64(me, opt, val, &duration_s)) return TP_EXIT_USAGE;
            if (duration_s == 0 || duration_s > 100000000) {
                cmd_error(me, "--duration-s must be between 1 and 100000000 (got %s)", val);
                return TP_EXIT_USAGE;
            }
        } else if (strcmp(opt, "--originate") == 0) {
            cfg.originate = true;
        } else if (strcmp(opt, "--verbose") == 0) {
            verbose = true;
        } else {
            cmd_error(me, "unknown option '%s' (try --help)", opt);
            return TP_EXIT_USAGE;
        }
        if (takes_value) i++;
    }
    if (!have_listen) {
        cmd_error(me, "--listen ADDR:PORT is required (try --help)");
        return TP_EXIT_USAGE;
    }
    cfg.seeds = seeds;
    cfg.seeds_count = seeds_count;

    rn_config rc;
    rn_config_default(&rc);
    rc.handle_signals = true;
    rc.event_level_max = verbose ? TP_EVENT_LEVEL_DEBUG : TP_EVENT_LEVEL_INFO;
    rn_loop *loop = NULL;
    tp_err e = rn_loop_create(&rc, &loop);
    if (e != TP_OK) {
        cmd_error(me, "cannot create the event loop: %s", tp_strerror(e));
        return TP_EXIT_INPUT;
    }
    cfg.on_stopped = on_stopped;
    cfg.on_stopped_arg = loop;
    const tp_env *env = rn_loop_env(loop);
    tp_demo *d = NULL;
    e = tp_demo_create(env, &cfg, &d);
    if (e != TP_OK) {
        cmd_error(me, "cannot create the demo host: %s", tp_strerror(e));
        rn_loop_destroy(loop);
        return e == TP_ERR_INVAL ? TP_EXIT_USAGE : TP_EXIT_INPUT;
    }
    e = tp_demo_start(d);
    if (e != TP_OK) {
        char pt[TP_POINT_TEXT_MAX];
        cmd_error(me, "cannot listen on %s: %s; choose another --listen address or port",
                  tp_point_format(&cfg.listen, pt), tp_strerror(e));
        tp_demo_destroy(d);
        rn_loop_destroy(loop);
        return TP_EXIT_INPUT;
    }
    int64_t deadline = duration_s ? tp_env_now_ns(env) + (int64_t)duration_s * 1000000000 : -1;
    e = rn_loop_run(loop, deadline);
    if (e == TP_ERR_IO) cmd_error(me, "event loop failed; stopping");
    int sig = rn_loop_signal(loop);
    /* Graceful stop: close every stream, wait (bounded) for the close callbacks. */
    tp_demo_stop(d);
    tp_err stop_err = rn_loop_run(loop, tp_env_now_ns(env) + 5 * 1000000000LL);
    (void)stop_err; /* TIMEOUT is handled below through tp_demo_is_stopped */
    print_summary(d, &cfg.listen, sig);
    if (tp_demo_is_stopped(d)) {
        tp_demo_destroy(d);
    } else {
        cmd_error(me, "some connections did not close within 5 s; dropping them");
        tp_demo_crash_drop(d); /* rn_loop_destroy frees the handles without callbacks */
    }
    rn_loop_destroy(loop);
    return TP_EXIT_OK;
}

int cmd_demo(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "node") == 0) {
        if (cmd_wants_help(argc - 1, argv + 1)) {
            demo_usage(stdout);
            return TP_EXIT_OK;
        }
        return demo_node(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "sim") == 0) return cmd_demo_sim(argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "usage: tidepool demo node [options]   (see 'tidepool demo node --help')\n"
                     "       tidepool demo sim [options]    (see 'tidepool demo sim --help')\n"
                     "\nRuns the demo flooding protocol (demo/README.md) on real sockets\n"
                     "(node) or on simulated hosts (sim), from the same protocol source.\n"
                     "\nexit codes: as each subcommand's --help says; 2 usage error.\n");
        return argc < 2 ? TP_EXIT_USAGE : TP_EXIT_OK;
    }
    cmd_error("demo", "unknown subcommand '%s'; expected 'node' or 'sim' (try 'tidepool demo --help')",
              argv[1]);
    return TP_EXIT_USAGE;
}
