/* bench/bench_tcp_sim.c — the simnet side of the TCP validation benchmark (issue 16):
 * the same connects and transfers as bench/tcpprobe.c runs over the kernel's TCP, here
 * through simnet's streams with its default TCP settings, printed in the same form so
 * bench/tcp_validate.sh can set them side by side.
 *
 * The network: two hosts, 10.77.0.1 (region 0, client) and 10.77.0.2 (region 1,
 * server); latency half the RTT each way, no jitter; both hosts' uplink and downlink at
 * the rate; random loss with sim_set_region_loss between the two regions (each packet or
 * segment, both directions, as the forwarder drops each packet in both directions).
 * Only the public API of simnet/sim.h and core/env.h, so it runs unchanged against any
 * TCP model behind them.
 *
 * Definitions (identical to tcpprobe.c, bench/README.md):
 *   connect: tp_env_stream_connect to on_connect, at the client.
 *   fresh N: on_connect at the client to the server's on_data that completes N bytes.
 *   bursts N: one connection; N bytes written, read by the server, the client idle
 *            --idle-ms, again, --bursts times; each burst from the client's first write
 *            to the server's last byte; a trial's figure is the median of bursts 2..k.
 *   handshake: two tidepool nodes (core/node.h, proof of work 0); A trusts B and its
 *            maintenance dials it; from A's outgoing_connection event to A's
 *            connection_established event (bench/tcp_validate.sh reads the same two
 *            events from the logs of two `tidepool node run` processes).
 *   flood: `tidepool demo` hosts in several regions (flood_trial below); the figures
 *            are the p50 (--label) and p90 (--label-p90) over the hosts of each host's
 *            mean delivery delay. TPB_FLOOD_DEBUG=1 in the environment prints each
 *            host's connections, points and mean delay on stderr.
 * Each trial is a new world with seed --seed + trial (loss draws differ per seed).
 *
 * Usage:
 *   bench_tcp_sim --case connect|fresh|bursts|handshake [--bytes N] --rtt-ms R [--rate-mbit M]
 *                 [--loss-ppm L] [--trials 5] [--seed 1] [--bursts 4] [--idle-ms 2000]
 *                 [--label TEXT]
 * Prints one JSON line per trial: {"side":"sim","label":...,"trial":i,"ms":x}.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/env.h"
#include "core/event.h"
#include "core/identity.h"
#include "core/node.h"
#include "demo/demo.h"
#include "simnet/sim.h"

#define BURSTS_MAX 64
#define CHUNK_BYTES 65536u
#define CLIENT_IP 0x0a4d0001u /* 10.77.0.1 */
#define SERVER_IP 0x0a4d0002u /* 10.77.0.2 */
#define PORT 5201

typedef enum { CASE_CONNECT, CASE_FRESH, CASE_BURSTS, CASE_HANDSHAKE, CASE_FLOOD } probe_case;

typedef struct run {
    sim_world *w;
    const tp_env *cenv;
    probe_case kind;
    uint64_t bytes;
    int bursts;
    int64_t idle_ns;
    tp_stream *cs;
    int64_t t_connect_call_ns, t_connected_ns;
    uint64_t written;            /* of the current burst */
    int burst;                   /* the burst being written */
    int64_t write_ns[BURSTS_MAX];
    uint64_t got, next;          /* server side */
    int done_count;
    int64_t done_ns[BURSTS_MAX];
    tp_timer idle_timer;
    bool finished, failed;
} run;

static const uint8_t zeros[CHUNK_BYTES];

static void pump(run *r) {
    while (r->written < r->bytes) {
        uint64_t left = r->bytes - r->written;
        size_t n = left < CHUNK_BYTES ? (size_t)left : CHUNK_BYTES, taken = 0;
        if (tp_env_stream_write(r->cenv, r->cs, zeros, n, &taken) != TP_OK) {
            r->failed = r->finished = true;
            return;
        }
        r->written += taken;
        if (taken < n) return; /* on_writable resumes */
    }
}

static void start_burst(run *r) {
    r->written = 0;
    r->write_ns[r->burst] = tp_env_now_ns(r->cenv);
    pump(r);
}

static void idle_over(void *arg) {
    run *r = arg;
    r->burst++;
    start_burst(r);
}

static void c_connect(void *arg, tp_stream *s) {
    run *r = arg;
    r->cs = s;
    r->t_connected_ns = tp_env_now_ns(r->cenv);
    if (r->kind == CASE_CONNECT) {
        r->finished = true;
        return;
    }
    start_burst(r);
}
static void c_data(void *arg, tp_stream *s, const uint8_t *d, size_t n) { (void)arg, (void)s, (void)d, (void)n; }
static void c_writable(void *arg, tp_stream *s) {
    (void)s;
    pump(arg);
}
static void c_close(void *arg, tp_stream *s, tp_err why) {
    (void)s;
    run *r = arg;
    r->cs = NULL;
    if (!r->finished) {
        fprintf(stderr, "bench_tcp_sim: the client's connection closed early: %s\n", tp_strerror(why));
        r->failed = r->finished = true;
    }
}
static const tp_stream_cbs client_cbs = {c_connect, c_data, NULL, c_writable, c_close};

static void s_data(void *arg, tp_stream *s, const uint8_t *d, size_t n) {
    (void)s, (void)d;
    run *r = arg;
    r->got += n;
    while (r->got >= r->next && r->done_count < BURSTS_MAX) {
        /* the server host's clock: inside an event, sim_world_now_ns is the last
         * barrier's time (issue 21), not the event's */
        r->done_ns[r->done_count++] = tp_env_now_ns(sim_host_env(sim_world_host(r->w, 1)));
        r->next += r->bytes;
        if (r->kind == CASE_FRESH || r->done_count >= r->bursts) r->finished = true;
        else tp_env_timer_start_in(r->cenv, &r->idle_timer, r->idle_ns);
    }
}
static void s_writable(void *arg, tp_stream *s) { (void)arg, (void)s; }
static void s_close(void *arg, tp_stream *s, tp_err why) { (void)arg, (void)s, (void)why; }
static const tp_stream_cbs server_cbs = {NULL, s_data, NULL, s_writable, s_close};

static void s_accept(void *arg, tp_listener *l, tp_stream *s, const tp_point *remote) {
    (void)l, (void)remote;
    run *r = arg;
    tp_env_stream_adopt(sim_host_env(sim_world_host(r->w, 1)), s, &server_cbs, r);
}

static bool is_finished(void *arg) { return ((run *)arg)->finished; }

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One trial; returns the figure in ms, or a negative value on failure. */
static double trial(uint64_t seed, probe_case kind, uint64_t bytes, int bursts, int64_t idle_ns,
                    int64_t rtt_ns, uint64_t rate_bytes_per_s, uint32_t loss_ppm, char *extra,
                    size_t extra_cap) {
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.seed = seed;
    cfg.region_count = 2;
    sim_latency lat[4] = {{0, 0}, {rtt_ns / 2, 0}, {rtt_ns - rtt_ns / 2, 0}, {0, 0}};
    cfg.latency = lat;
    sim_world *w = NULL;
    if (sim_world_create(&cfg, &w) != TP_OK) {
        fprintf(stderr, "bench_tcp_sim: cannot create the world\n");
        exit(1);
    }
    sim_host *h[2];
    for (uint32_t i = 0; i < 2; i++) {
        sim_host_config hc;
        sim_host_config_default(&hc);
        hc.ip = tp_ip_from_v4(i == 0 ? CLIENT_IP : SERVER_IP);
        hc.region = i;
        hc.up_bytes_per_s = rate_bytes_per_s;
        hc.down_bytes_per_s = rate_bytes_per_s;
        if (sim_host_add(w, &hc, &h[i]) != TP_OK) {
            fprintf(stderr, "bench_tcp_sim: cannot add host %u\n", i);
            exit(1);
        }
    }
    if (loss_ppm > 0) sim_set_region_loss(w, 0, 1, loss_ppm);

    run *r = calloc(1, sizeof *r);
    if (r == NULL) exit(1);
    r->w = w;
    r->cenv = sim_host_env(h[0]);
    r->kind = kind;
    r->bytes = bytes;
    r->next = bytes;
    r->bursts = kind == CASE_BURSTS ? bursts : 1;
    r->idle_ns = idle_ns;
    tp_timer_init(&r->idle_timer, idle_over, r);

    tp_listener *l = NULL;
    tp_point at = tp_point_v4(SERVER_IP, PORT);
    if (tp_env_listen(sim_host_env(h[1]), &at, 16, s_accept, r, &l) != TP_OK) {
        fprintf(stderr, "bench_tcp_sim: cannot listen\n");
        exit(1);
    }
    sim_run_for(w, 1000000); /* 1 ms: as on the kernel side, the listener is ready */
    tp_stream *s = NULL;
    r->t_connect_call_ns = sim_world_now_ns(w);
    if (tp_env_stream_connect(r->cenv, &at, &client_cbs, r, &s) != TP_OK) {
        fprintf(stderr, "bench_tcp_sim: connect failed at once\n");
        exit(1);
    }
    bool ok = sim_run_until_pred(w, is_finished, r, sim_world_now_ns(w) + 600 * 1000000000LL);
    double ms = -1;
    if (ok && !r->failed) {
        if (kind == CASE_CONNECT) {
            ms = (double)(r->t_connected_ns - r->t_connect_call_ns) / 1e6;
        } else if (kind == CASE_FRESH) {
            ms = (double)(r->done_ns[0] - r->t_connected_ns) / 1e6;
        } else {
            int64_t each[BURSTS_MAX];
            size_t len = (size_t)snprintf(extra, extra_cap, ",\"bursts_ms\":[");
            for (int b = 0; b < r->bursts; b++) {
                each[b] = r->done_ns[b] - r->write_ns[b];
                len += (size_t)snprintf(extra + len, extra_cap - len, "%s%.3f", b ? "," : "",
                                        (double)each[b] / 1e6);
            }
            snprintf(extra + len, extra_cap - len, "]");
            int m = r->bursts - 1;
            qsort(each + 1, (size_t)m, sizeof each[0], cmp_i64);
            ms = (m % 2) ? (double)each[1 + m / 2] / 1e6
                         : (double)(each[m / 2] + each[1 + m / 2]) / 2e6;
        }
    }
    tp_env_timer_stop(r->cenv, &r->idle_timer);
    sim_world_destroy(w);
    free(r);
    return ms;
}

/* ---- the tidepool handshake ------------------------------------------------------------ */

/* As `tidepool node run --expected-pow 0` on the kernel side: node A (host 0) has node B
 * (host 1) as its one trusted point and Octez's defaults otherwise; its maintenance dials
 * B at start. Measured on A, from its outgoing_connection event to its
 * connection_established event (both sides read the same two events). */
typedef struct hs_watch {
    int64_t dial_ns, established_ns;
} hs_watch;

static void hs_event(void *arg, uint32_t host, int64_t time_ns, const tp_event *ev) {
    hs_watch *hw = arg;
    if (host != 0) return;
    if (ev->kind == TP_EVENT_OUTGOING_CONNECTION && hw->dial_ns < 0) hw->dial_ns = time_ns;
    if (ev->kind == TP_EVENT_CONNECTION_ESTABLISHED && hw->established_ns < 0)
        hw->established_ns = time_ns;
}

static bool hs_done(void *arg) { return ((hs_watch *)arg)->established_ns >= 0; }

/* The node as the host's application, so that the end of a trial is a crash: simnet
 * drops the node's timers and streams, then halt frees it. */
typedef struct hs_app {
    tp_node_config cfg;
    tp_node *node;
} hs_app;

static void hs_app_start(void *app, sim_host *h, const tp_env *env) {
    (void)h;
    hs_app *a = app;
    if (tp_node_create(env, &a->cfg, &a->node) != TP_OK || tp_node_activate(a->node) != TP_OK) {
        fprintf(stderr, "bench_tcp_sim: cannot start a node\n");
        exit(1);
    }
}
static void hs_app_stop(void *app, sim_host *h, const tp_env *env) { (void)app, (void)h, (void)env; }
static void hs_app_halt(void *app, sim_host *h, const tp_env *env) {
    (void)h, (void)env;
    hs_app *a = app;
    if (a->node != NULL) tp_node_crash_drop(a->node);
    a->node = NULL;
}
static const sim_app_ops hs_app_ops = {hs_app_start, hs_app_stop, hs_app_halt};

static double handshake_trial(uint64_t seed, int64_t rtt_ns, uint64_t rate_bytes_per_s,
                              uint32_t loss_ppm) {
    hs_watch hw = {-1, -1};
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.seed = seed;
    cfg.region_count = 2;
    sim_latency lat[4] = {{0, 0}, {rtt_ns / 2, 0}, {rtt_ns - rtt_ns / 2, 0}, {0, 0}};
    cfg.latency = lat;
    cfg.event_cb = hs_event;
    cfg.event_arg = &hw;
    sim_world *w = NULL;
    if (sim_world_create(&cfg, &w) != TP_OK) exit(1);
    if (loss_ppm > 0) sim_set_region_loss(w, 0, 1, loss_ppm);
    hs_app app[2];
    memset(app, 0, sizeof app);
    sim_host *h[2];
    for (uint32_t i = 0; i < 2; i++) {
        sim_host_config hc;
        sim_host_config_default(&hc);
        hc.ip = tp_ip_from_v4(i == 0 ? CLIENT_IP : SERVER_IP);
        hc.region = i;
        hc.up_bytes_per_s = hc.down_bytes_per_s = rate_bytes_per_s;
        if (sim_host_add(w, &hc, &h[i]) != TP_OK) exit(1);
    }
    /* B first, so that it listens before A dials (as the script starts B first) */
    for (int k = 1; k >= 0; k--) {
        tp_node_config nc;
        tp_node_config_default(&nc);
        uint8_t s[TP_SEED_SIZE] = {0};
        memcpy(s, &seed, sizeof seed);
        s[8] = (uint8_t)k;
        tp_identity_init_from_seed(&nc.identity, s);
        if (tp_pow_target_of_difficulty(0.0, &nc.pow_target) != TP_OK) exit(1);
        bool found = false;
        while (!found) (void)tp_pow_search(nc.identity.public_key, nc.identity.pow_stamp, &nc.pow_target, 1024, &found);
        nc.listen = tp_point_v4(k == 0 ? CLIENT_IP : SERVER_IP, 9732);
        nc.chain_name = "TIDEPOOL_SANDBOX";
        nc.peers_file = NULL;
        if (k == 0) {
            nc.trusted_points[0].point = tp_point_v4(SERVER_IP, 9732);
            nc.trusted_points_count = 1;
        }
        char why[256];
        const char *bad = tp_node_config_check(&nc, why, sizeof why);
        if (bad != NULL) {
            fprintf(stderr, "bench_tcp_sim: node config: %s\n", bad);
            exit(1);
        }
        app[k].cfg = nc;
        sim_host_set_app(h[k], &hs_app_ops, &app[k]);
        sim_host_start(h[k]);
        if (k == 1) sim_run_for(w, 1000000);
    }
    bool ok = sim_run_until_pred(w, hs_done, &hw, sim_world_now_ns(w) + 120 * 1000000000LL);
    sim_world_crash_running_apps(w);
    sim_world_destroy(w);
    if (!ok || hw.dial_ns < 0) return -1;
    return (double)(hw.established_ns - hw.dial_ns) / 1e6;
}

/* ---- a flood over several regions ------------------------------------------------------ */

/* As `tidepool demo node` in the namespaces of bench/tcp_validate.sh: `hosts` hosts, host
 * i at 10.77.0.<i+1> in region i % regions, one-way delays between regions from
 * --region-delay-us (no jitter, no rate limit); host i starts at i * 100 ms (as the script
 * launches them; the overlay depends on who knows whom when); every host runs the demo flooding
 * protocol (demo/demo.h) with K = 4 and host 0 as its seed; the last host originates
 * `pings` pings every `interval` after `start_delay` (not the seed, which every host
 * dials: its pings would reach everyone in one hop); the run lasts `duration`. The figure: each
 * other host's mean delivery delay (origin timestamp to receipt), and the p50 and p90 of
 * those means over the hosts (nearest rank), as the script computes them from the
 * nodes' JSON lines. Hosts that missed a ping are counted. */
#define FLOOD_HOSTS_MAX 64
#define FLOOD_PORT 9000
#define FLOOD_STAGGER_NS 100000000 /* 100 ms between two hosts' starts */

typedef struct flood_host {
    tp_demo_config cfg;
    tp_point seed;
    tp_demo *demo;
} flood_host;

static void fl_start(void *app, sim_host *h, const tp_env *env) {
    (void)h;
    flood_host *fh = app;
    if (tp_demo_create(env, &fh->cfg, &fh->demo) != TP_OK || tp_demo_start(fh->demo) != TP_OK) {
        fprintf(stderr, "bench_tcp_sim: cannot start a demo host\n");
        exit(1);
    }
}
static void fl_stop(void *app, sim_host *h, const tp_env *env) { (void)app, (void)h, (void)env; }
static void fl_halt(void *app, sim_host *h, const tp_env *env) {
    (void)h, (void)env;
    flood_host *fh = app;
    if (fh->demo != NULL) tp_demo_crash_drop(fh->demo);
    fh->demo = NULL;
}
static const sim_app_ops flood_ops = {fl_start, fl_stop, fl_halt};

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p % of the values at or below it. */
static double nearest_rank(const double *sorted, size_t n, int p) {
    size_t k = ((size_t)p * n + 99) / 100;
    return sorted[k == 0 ? 0 : k - 1];
}

static void flood_trial(uint64_t seed, uint32_t hosts, uint32_t regions,
                        const int64_t delay_us[SIM_REGIONS_MAX][SIM_REGIONS_MAX], uint32_t pings,
                        int64_t interval_ns, int64_t start_delay_ns, int64_t duration_ns,
                        double *p50_ms, double *p90_ms, uint32_t *incomplete) {
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.seed = seed;
    cfg.region_count = regions;
    static sim_latency lat[SIM_REGIONS_MAX * SIM_REGIONS_MAX];
    for (uint32_t a = 0; a < regions; a++)
        for (uint32_t b = 0; b < regions; b++) lat[a * regions + b] = (sim_latency){delay_us[a][b] * 1000, 0};
    cfg.latency = lat;
    sim_world *w = NULL;
    if (sim_world_create(&cfg, &w) != TP_OK) exit(1);
    static flood_host fh[FLOOD_HOSTS_MAX];
    memset(fh, 0, sizeof fh);
    for (uint32_t i = 0; i < hosts; i++) {
        sim_host_config hc;
        sim_host_config_default(&hc);
        hc.ip = tp_ip_from_v4(CLIENT_IP - 1 + i + 1); /* 10.77.0.<i+1> */
        hc.region = i % regions;
        sim_host *h = NULL;
        if (sim_host_add(w, &hc, &h) != TP_OK) exit(1);
        tp_demo_config *dc = &fh[i].cfg;
        tp_demo_config_default(dc);
        dc->listen = tp_point_v4(CLIENT_IP + i, FLOOD_PORT);
        dc->peers_k = 4;
        fh[i].seed = tp_point_v4(CLIENT_IP, FLOOD_PORT);
        if (i > 0) {
            dc->seeds = &fh[i].seed;
            dc->seeds_count = 1;
        }
        if (i == hosts - 1) {
            dc->originate = true;
            dc->pings = pings;
            dc->ping_interval_ns = interval_ns;
            dc->ping_start_delay_ns = start_delay_ns;
        }
        sim_host_set_app(h, &flood_ops, &fh[i]);
    }
    /* host i starts at i * FLOOD_STAGGER (the script launches them that far apart) and
     * runs `duration` from its start */
    for (uint32_t i = 0; i < hosts; i++) {
        sim_fault f;
        memset(&f, 0, sizeof f);
        f.kind = SIM_FAULT_START;
        f.hosts = &i;
        f.host_count = 1;
        if (sim_fault_at(w, (int64_t)i * FLOOD_STAGGER_NS, &f, NULL) != TP_OK) exit(1);
    }
    sim_run_for(w, (int64_t)(hosts - 1) * FLOOD_STAGGER_NS + duration_ns);
    double means[FLOOD_HOSTS_MAX];
    size_t n = 0;
    *incomplete = 0;
    for (uint32_t i = 0; i + 1 < hosts; i++) {
        tp_demo_stats st;
        tp_demo_get_stats(fh[i].demo, &st);
        if (st.pings_unique < pings) (*incomplete)++;
        if (getenv("TPB_FLOOD_DEBUG") != NULL)
            fprintf(stderr, "host %u region %u: out %llu in %llu open %llu points %llu unique %llu mean %.3f ms\n",
                    i, i % regions, (unsigned long long)st.connections_out,
                    (unsigned long long)st.connections_in, (unsigned long long)st.connections_open,
                    (unsigned long long)st.points_known, (unsigned long long)st.pings_unique,
                    st.delay_count ? (double)st.delay_ns_sum / (double)st.delay_count / 1e6 : 0.0);
        if (st.delay_count > 0) means[n++] = (double)st.delay_ns_sum / (double)st.delay_count / 1e6;
    }
    qsort(means, n, sizeof means[0], cmp_dbl);
    *p50_ms = n ? nearest_rank(means, n, 50) : -1;
    *p90_ms = n ? nearest_rank(means, n, 90) : -1;
    sim_world_crash_running_apps(w);
    sim_world_destroy(w);
}

static int64_t num_arg(const char *opt, const char *v, int64_t lo, int64_t hi) {
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "bench_tcp_sim: %s must be an integer in %" PRId64 "..%" PRId64
                        " (got \"%s\")\n", opt, lo, hi, v);
        exit(2);
    }
    return (int64_t)x;
}

_Noreturn static void usage(void) {
    fprintf(stderr, "usage: bench_tcp_sim --case connect|fresh|bursts|handshake|flood [--bytes N] --rtt-ms R "
                    "[--rate-mbit M] [--loss-ppm L] [--trials 5] [--seed 1] [--bursts 4] "
                    "[--idle-ms 2000] [--label TEXT]\n"
                    "       flood: [--hosts 20] [--regions 3] [--region-delay-us FROM,TO,US]... "
                    "[--pings 20] [--ping-interval-ms 250] [--ping-delay-ms 6000] [--duration-s 13] "
                    "[--label-p90 TEXT]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *kind_s = NULL, *label = "", *label_p90 = "";
    static int64_t region_delay_us[SIM_REGIONS_MAX][SIM_REGIONS_MAX];
    int64_t hosts = 20, regions = 3, pings = 20, interval_ms = 250, start_delay_ms = 6000,
            duration_s = 13;
    int64_t bytes = 0, rtt_ms = -1, rate_mbit = 0, loss_ppm = 0, trials = 5, seed = 1, bursts = 4,
            idle_ms = 2000;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        const char *o = argv[i], *v = argv[++i];
        if (strcmp(o, "--case") == 0) kind_s = v;
        else if (strcmp(o, "--label") == 0) label = v;
        else if (strcmp(o, "--label-p90") == 0) label_p90 = v;
        else if (strcmp(o, "--hosts") == 0) hosts = num_arg(o, v, 4, FLOOD_HOSTS_MAX);
        else if (strcmp(o, "--regions") == 0) regions = num_arg(o, v, 1, 16);
        else if (strcmp(o, "--pings") == 0) pings = num_arg(o, v, 1, 1000);
        else if (strcmp(o, "--ping-interval-ms") == 0) interval_ms = num_arg(o, v, 1, 60000);
        else if (strcmp(o, "--ping-delay-ms") == 0) start_delay_ms = num_arg(o, v, 0, 600000);
        else if (strcmp(o, "--duration-s") == 0) duration_s = num_arg(o, v, 1, 3600);
        else if (strcmp(o, "--region-delay-us") == 0) {
            unsigned a, b;
            long long us;
            if (sscanf(v, "%u,%u,%lld", &a, &b, &us) != 3 || a >= 16 || b >= 16 || us < 0 ||
                us > 10000000) {
                fprintf(stderr, "bench_tcp_sim: --region-delay-us wants FROM,TO,US with regions "
                                "< 16 and US in 0..10000000 (got \"%s\")\n", v);
                return 2;
            }
            region_delay_us[a][b] = us;
        }
        else if (strcmp(o, "--bytes") == 0) bytes = num_arg(o, v, 0, 1 << 30);
        else if (strcmp(o, "--rtt-ms") == 0) rtt_ms = num_arg(o, v, 0, 10000);
        else if (strcmp(o, "--rate-mbit") == 0) rate_mbit = num_arg(o, v, 0, 100000);
        else if (strcmp(o, "--loss-ppm") == 0) loss_ppm = num_arg(o, v, 0, 1000000);
        else if (strcmp(o, "--trials") == 0) trials = num_arg(o, v, 1, 1000);
        else if (strcmp(o, "--seed") == 0) seed = num_arg(o, v, 0, INT64_MAX);
        else if (strcmp(o, "--bursts") == 0) bursts = num_arg(o, v, 2, BURSTS_MAX);
        else if (strcmp(o, "--idle-ms") == 0) idle_ms = num_arg(o, v, 0, 600000);
        else usage();
    }
    if (kind_s == NULL || (rtt_ms < 0 && strcmp(kind_s, "flood") != 0)) usage();
    probe_case kind;
    if (strcmp(kind_s, "connect") == 0) kind = CASE_CONNECT;
    else if (strcmp(kind_s, "fresh") == 0) kind = CASE_FRESH;
    else if (strcmp(kind_s, "bursts") == 0) kind = CASE_BURSTS;
    else if (strcmp(kind_s, "handshake") == 0) kind = CASE_HANDSHAKE;
    else if (strcmp(kind_s, "flood") == 0) kind = CASE_FLOOD;
    else usage();
    if ((kind == CASE_FRESH || kind == CASE_BURSTS) && bytes < 1) {
        fprintf(stderr, "bench_tcp_sim: --case %s needs --bytes >= 1\n", kind_s);
        return 2;
    }
    uint64_t rate = (uint64_t)rate_mbit * 1000000u / 8u;
    if (kind == CASE_FLOOD) {
        for (int64_t t = 0; t < trials; t++) {
            double p50, p90;
            uint32_t incomplete;
            flood_trial((uint64_t)(seed + t), (uint32_t)hosts, (uint32_t)regions,
                        (const int64_t(*)[SIM_REGIONS_MAX])region_delay_us, (uint32_t)pings,
                        interval_ms * 1000000, start_delay_ms * 1000000, duration_s * 1000000000,
                        &p50, &p90, &incomplete);
            if (p50 < 0) {
                fprintf(stderr, "bench_tcp_sim: flood trial %" PRId64 ": no host received a ping\n", t);
                return 1;
            }
            printf("{\"side\":\"sim\",\"label\":\"%s\",\"trial\":%" PRId64
                   ",\"ms\":%.3f,\"hosts_incomplete\":%u}\n", label, t, p50, incomplete);
            if (label_p90[0] != '\0')
                printf("{\"side\":\"sim\",\"label\":\"%s\",\"trial\":%" PRId64
                       ",\"ms\":%.3f,\"hosts_incomplete\":%u}\n", label_p90, t, p90, incomplete);
        }
        return 0;
    }
    for (int64_t t = 0; t < trials; t++) {
        char extra[1024] = "";
        double ms = kind == CASE_HANDSHAKE
                         ? handshake_trial((uint64_t)(seed + t), rtt_ms * 1000000, rate, (uint32_t)loss_ppm)
                         : trial((uint64_t)(seed + t), kind, (uint64_t)bytes, (int)bursts,
                          idle_ms * 1000000, rtt_ms * 1000000, rate, (uint32_t)loss_ppm, extra,
                          sizeof extra);
        if (ms < 0) {
            fprintf(stderr, "bench_tcp_sim: trial %" PRId64 " (%s) did not finish\n", t, label);
            return 1;
        }
        printf("{\"side\":\"sim\",\"label\":\"%s\",\"trial\":%" PRId64 ",\"ms\":%.3f%s}\n", label, t,
               ms, extra);
    }
    return 0;
}
