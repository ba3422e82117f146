/* cmd/cmd_demo_sim.c — `tidepool demo sim ...`: the demo flooding protocol
 * (demo/demo.h) on N simulated hosts (simnet/sim.h), from the same source that
 * `tidepool demo node` runs on real sockets.
 *
 * The world: R regions (default 4) with a fixed one-way latency matrix and jitter, N
 * hosts spread round-robin over them, each knowing 3 random other hosts, host 0
 * originating the pings. It runs for a virtual duration and prints how far the pings
 * spread, the delivery delays, the simulator's statistics and the trace hash (the same
 * seed gives the same hash, bit for bit). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "demo/demo.h"
#include "simnet/sim.h"

#define MS_NS ((int64_t)1000000)
#define S_NS ((int64_t)1000000000)

typedef struct demo_sim_host {
    tp_demo_config cfg;
    tp_demo *demo;
} demo_sim_host;

typedef struct demo_sim_opts {
    uint64_t hosts, seed, regions, pings, duration_s, peers, ping_interval_ms;
    bool json;
} demo_sim_opts;

static void usage(FILE *out) {
    fprintf(out,
            "usage: tidepool demo sim [options]\n"
            "\n"
            "Runs the demo flooding protocol on N simulated hosts in one process (the same\n"
            "protocol source as 'tidepool demo node', which runs on real sockets). Host 0\n"
            "originates numbered pings; every host keeps K outgoing connections and\n"
            "forwards pings it has not seen. Prints the coverage, the delivery delays, the\n"
            "simulator's figures and the run's trace hash (same seed, same hash).\n"
            "\n"
            "options:\n"
            "  --hosts N              simulated hosts (default 1000, at least 4)\n"
            "  --seed S               run seed (default 1)\n"
            "  --regions R            latency regions, 1..4 (default 4)\n"
            "  --peers K              outgoing connections per host (default 4)\n"
            "  --pings N              pings host 0 originates (default 10)\n"
            "  --ping-interval-ms N   between two pings (default 1000)\n"
            "  --duration-s N         virtual seconds to run (default 60)\n"
            "  --json                 print one JSON line instead of a table\n"
            "\n"
            "exit codes: 0 every host received every ping; 1 some did not; 2 usage error.\n");
}

static void host_start(void *app, sim_host *h, const tp_env *env) {
    demo_sim_host *dh = app;
    tp_err e = tp_demo_create(env, &dh->cfg, &dh->demo);
    TP_ASSERT(e == TP_OK);
    e = tp_demo_start(dh->demo);
    TP_ASSERT(e == TP_OK);
}

static void host_stop(void *app, sim_host *h, const tp_env *env) {
    tp_demo_stop(((demo_sim_host *)app)->demo);
}

static void host_halt(void *app, sim_host *h, const tp_env *env) {
    demo_sim_host *dh = app;
    if (dh->demo != NULL) tp_demo_crash_drop(dh->demo);
    dh->demo = NULL;
}

static const sim_app_ops demo_app_ops = {host_start, host_stop, host_halt};

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool parse_opts(int argc, char **argv, demo_sim_opts *o) {
    const char *me = "demo sim";
    *o = (demo_sim_opts){.hosts = 1000, .seed = 1, .regions = 4, .pings = 10,
                         .duration_s = 60, .peers = 4, .ping_interval_ms = 1000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t *target = NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--hosts") == 0) target = &o->hosts;
        else if (strcmp(a, "--seed") == 0) target = &o->seed;
        else if (strcmp(a, "--regions") == 0) target = &o->regions;
        else if (strcmp(a, "--pings") == 0) target = &o->pings;
        else if (strcmp(a, "--duration-s") == 0) target = &o->duration_s;
        else if (strcmp(a, "--peers") == 0) target = &o->peers;
        else if (strcmp(a, "--ping-interval-ms") == 0) target = &o->ping_interval_ms;
        if (target == NULL) {
            cmd_error(me, "unknown option '%s' (try --help)", a);
            return false;
        }
        if (i + 1 >= argc) {
            cmd_error(me, "%s expects a value", a);
            return false;
        }
        if (!cmd_parse_u64(me, a, argv[++i], target)) return false;
    }
    if (o->hosts < 4 || o->hosts > 200000) {
        cmd_error(me, "--hosts must be in 4..200000 (got %" PRIu64 ")", o->hosts);
        return false;
    }
    if (o->regions < 1 || o->regions > 4) {
        cmd_error(me, "--regions must be in 1..4 (got %" PRIu64 ")", o->regions);
        return false;
    }
    if (o->peers < 1 || o->peers > 16) {
        cmd_error(me, "--peers must be in 1..16 (got %" PRIu64 ")", o->peers);
        return false;
    }
    if (o->ping_interval_ms < 1 || o->duration_s < 1 || o->pings > 100000) {
        cmd_error(me, "--ping-interval-ms and --duration-s must be >= 1, --pings <= 100000");
        return false;
    }
    return true;
}

static int demo_sim(const demo_sim_opts *o) {
    const char *me = "demo sim";
    /* One-way latencies between 4 regions (ms), roughly Europe, North America East,
     * North America West, Asia. */
    static const int64_t lat_ms[4][4] = {
        {5, 45, 75, 120}, {45, 5, 35, 90}, {75, 35, 5, 60}, {120, 90, 60, 5}};
    uint32_t R = (uint32_t)o->regions;
    sim_latency lat[16];
    for (uint32_t a = 0; a < R; a++)
        for (uint32_t b = 0; b < R; b++)
            lat[a * R + b] = (sim_latency){lat_ms[a][b] * MS_NS, lat_ms[a][b] * MS_NS / 10};
    sim_world_config wc;
    sim_world_config_default(&wc);
    wc.seed = o->seed;
    wc.region_count = R;
    wc.latency = lat;
    sim_world *w;
    tp_err e = sim_world_create(&wc, &w);
    if (e != TP_OK) {
        cmd_error(me, "cannot create the world: %s", tp_strerror(e));
        return TP_EXIT_FAIL;
    }
    uint32_t n = (uint32_t)o->hosts;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t first;
        e = sim_hosts_add_in_region(w, i % R, 1, NULL, &first);
        if (e != TP_OK) {
            cmd_error(me, "cannot add host %u: %s", i, tp_strerror(e));
            sim_world_destroy(w);
            return TP_EXIT_FAIL;
        }
    }
    demo_sim_host *hosts = calloc(n, sizeof *hosts);
    /* Each host knows 3 other hosts drawn at random (from the run seed). The demo has
     * no Nack-with-points: a host whose slots are full just closes, so if everybody
     * shared the same 3 seeds, late hosts would never learn anything else. */
    tp_point *seeds = calloc((size_t)n * 3, sizeof *seeds);
    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < 3; k++) {
            uint32_t j;
            do {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
                j = (uint32_t)(rng % n);
            } while (j == i);
            seeds[i * 3 + k] = (tp_point){sim_host_ip(sim_world_host(w, j)), 9732};
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        tp_demo_config *c = &hosts[i].cfg;
        tp_demo_config_default(c);
        c->listen = (tp_point){{{0}}, 9732};
        c->seeds = &seeds[i * 3];
        c->seeds_count = 3;
        c->peers_k = (uint32_t)o->peers;
        c->originate = i == 0;
        c->pings = (uint32_t)o->pings;
        c->ping_interval_ns = (int64_t)o->ping_interval_ms * MS_NS;
        c->ping_start_delay_ns = 10 * S_NS; /* let the overlay form first */
        c->id = i + 1;
        sim_host *h = sim_world_host(w, i);
        sim_host_set_app(h, &demo_app_ops, &hosts[i]);
        sim_host_start(h);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sim_run_for(w, (int64_t)o->duration_s * S_NS);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    /* Coverage and delays over every host but the originator. */
    uint64_t expected = o->pings, complete = 0, received = 0, delays_n = 0, conns = 0;
    size_t delays_cap = 0;
    for (uint32_t i = 1; i < n; i++) {
        tp_demo_stats st;
        tp_demo_get_stats(hosts[i].demo, &st);
        received += st.pings_unique;
        conns += st.connections_open;
        if (st.pings_unique >= expected) complete++;
        delays_cap += st.pings_unique;
    }
    int64_t *delays = malloc((delays_cap + 1) * sizeof *delays);
    for (uint32_t i = 1; i < n; i++) {
        size_t cnt;
        const int64_t *d = tp_demo_delays(hosts[i].demo, &cnt);
        for (size_t k = 0; k < cnt && delays_n < delays_cap; k++) delays[delays_n++] = d[k];
    }
    qsort(delays, delays_n, sizeof *delays, cmp_i64);
    int64_t p50 = delays_n ? delays[delays_n / 2] : 0;
    int64_t p99 = delays_n ? delays[delays_n * 99 / 100] : 0;
    int64_t dmax = delays_n ? delays[delays_n - 1] : 0;
    sim_stats ss;
    sim_world_stats(w, &ss);
    uint64_t hash = sim_world_trace_hash(w);
    double ratio = wall_s > 0 ? (double)o->duration_s / wall_s : 0;
    double eps = wall_s > 0 ? (double)ss.events_executed / wall_s : 0;
    if (o->json) {
        printf("{\"hosts\":%u,\"seed\":%" PRIu64 ",\"pings\":%" PRIu64
               ",\"hosts_complete\":%" PRIu64 ",\"pings_received\":%" PRIu64
               ",\"delay_ms_p50\":%.3f,\"delay_ms_p99\":%.3f,\"delay_ms_max\":%.3f"
               ",\"connections_mean\":%.2f,\"events\":%" PRIu64 ",\"virtual_s\":%" PRIu64
               ",\"wall_s\":%.3f,\"speedup\":%.1f,\"events_per_s\":%.0f"
               ",\"trace_hash\":\"%016" PRIx64 "\"}\n",
               n, o->seed, expected, complete, received, p50 / 1e6, p99 / 1e6, dmax / 1e6,
               (double)conns / (n - 1), ss.events_executed, o->duration_s, wall_s, ratio, eps,
               hash);
    } else {
        printf("demo flooding protocol on %u simulated hosts (seed %" PRIu64 ", %u regions)\n",
               n, o->seed, R);
        printf("  pings originated by host 0   %" PRIu64 "\n", expected);
        printf("  hosts that got every ping    %" PRIu64 " of %u\n", complete, n - 1);
        printf("  delivery delay p50 / p99     %.1f ms / %.1f ms (max %.1f ms)\n", p50 / 1e6,
               p99 / 1e6, dmax / 1e6);
        printf("  open connections per host    %.2f\n", (double)conns / (n - 1));
        printf("  simulator events             %" PRIu64 " (%.0f/s)\n", ss.events_executed, eps);
        printf("  virtual time / wall time     %" PRIu64 " s / %.2f s (%.0fx real time)\n",
               o->duration_s, wall_s, ratio);
        printf("  trace hash                   %016" PRIx64 "\n", hash);
        printf("replay: tidepool demo sim --hosts %u --seed %" PRIu64 " --regions %u --peers %"
               PRIu64 " --pings %" PRIu64 " --ping-interval-ms %" PRIu64 " --duration-s %" PRIu64
               "\n",
               n, o->seed, R, o->peers, o->pings, o->ping_interval_ms, o->duration_s);
    }
    free(delays);
    /* Crash every host: its handles and timers vanish, then halt frees the demo. */
    for (uint32_t i = 0; i < n; i++) sim_host_crash(sim_world_host(w, i));
    sim_world_destroy(w);
    free(seeds);
    free(hosts);
    return complete == n - 1 ? TP_EXIT_OK : TP_EXIT_FAIL;
}

int cmd_demo_sim(int argc, char **argv) {
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return TP_EXIT_OK;
    }
    demo_sim_opts o;
    if (!parse_opts(argc, argv, &o)) return TP_EXIT_USAGE;
    return demo_sim(&o);
}
