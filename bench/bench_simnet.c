/* bench/bench_simnet.c — simnet throughput and memory figures (bench/README.md).
 *
 *   timers     engine throughput: 100,000 host timers, each re-arming itself at a
 *              random future time (1 ns .. 1 ms); timer events per second of real time
 *              with 100,000 events pending.
 *   streams    stream deliveries per second: 1000 hosts, each connected to its 5
 *              successors in a ring, both ends of every connection sending a small
 *              write (100..400 bytes) every 10..50 ms of virtual time; on_data calls
 *              and segments delivered per second of real time.
 *   memory     bytes per idle host: 100,000 hosts created; simnet's own accounting
 *              (sim_world_backend_bytes) and the process RSS growth, divided by hosts.
 *              RSS is taken from the first repetition, which runs first in the
 *              process (later ones reuse memory the allocator kept). Also: bytes per
 *              idle established connection (both endpoints), 10,000 connections.
 *
 * Each figure is the median of several repetitions. Usage: bench_simnet [reps]
 * (default 5). Not a test: it never fails on a slow machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simnet/sim.h"

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static sim_world *world(uint64_t seed) {
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.seed = seed;
    sim_world *w = NULL;
    if (sim_world_create(&cfg, &w) != TP_OK) {
        fprintf(stderr, "bench_simnet: sim_world_create failed\n");
        exit(1);
    }
    return w;
}

/* ------------------------------------------------------------------------------------ */

typedef struct btimer {
    tp_timer t;
    const tp_env *env;
    uint64_t *rng;
} btimer;

static void btimer_fire(void *arg) {
    btimer *b = arg;
    uint64_t x = *b->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *b->rng = x;
    tp_env_timer_start(b->env, &b->t, tp_env_now_ns(b->env) + 1 + (int64_t)(x % 1000000));
}

static double bench_timers(uint64_t seed, uint64_t events) {
    enum { N = 100000 };
    sim_world *w = world(seed);
    uint32_t first;
    if (sim_hosts_add_in_region(w, 0, 100, NULL, &first) != TP_OK) exit(1);
    btimer *ts = calloc(N, sizeof *ts);
    uint64_t rng = seed | 1;
    for (int i = 0; i < N; i++) {
        ts[i].env = sim_host_env(sim_world_host(w, (uint32_t)(i % 100)));
        ts[i].rng = &rng;
        tp_timer_init(&ts[i].t, btimer_fire, &ts[i]);
        btimer_fire(&ts[i]);
    }
    double t0 = wall_s();
    for (uint64_t i = 0; i < events; i++) sim_step(w);
    double dt = wall_s() - t0;
    if (sim_world_pending_events(w) != N) {
        fprintf(stderr, "bench_simnet: expected %d pending events\n", N);
        exit(1);
    }
    sim_world_destroy(w);
    free(ts);
    return (double)events / dt;
}

/* ------------------------------------------------------------------------------------ */

typedef struct bconn {
    tp_timer t;
    const tp_env *env;
    tp_stream *s;
    uint64_t rng;
    uint64_t received;
} bconn;

static uint8_t payload[400];

static void bconn_send(void *arg) {
    bconn *c = arg;
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    size_t n = 100 + c->rng % 301, taken;
    if (c->s && tp_env_stream_write(c->env, c->s, payload, n, &taken) != TP_OK) return;
    tp_env_timer_start_in(c->env, &c->t, 10000000 + (int64_t)(c->rng % 40000000));
}

static void bc_connect(void *arg, tp_stream *s) {
    bconn *c = arg;
    c->s = s;
    bconn_send(c);
}
static void bc_data(void *arg, tp_stream *s, const uint8_t *d, size_t n) {
    (void)s, (void)d;
    ((bconn *)arg)->received += n;
}
static void bc_writable(void *arg, tp_stream *s) { (void)arg, (void)s; }
static void bc_close(void *arg, tp_stream *s, tp_err r) {
    (void)s, (void)r;
    ((bconn *)arg)->s = NULL;
}
static const tp_stream_cbs bc_cbs = {bc_connect, bc_data, NULL, bc_writable, bc_close};

typedef struct bsrv {
    bconn *pool;
    int used, cap;
} bsrv;

static void bs_accept(void *arg, tp_listener *l, tp_stream *s, const tp_point *remote) {
    (void)l, (void)remote;
    bsrv *sv = arg;
    if (sv->used == sv->cap) return; /* never: sized for the ring */
    bconn *c = &sv->pool[sv->used++];
    tp_env_stream_adopt(c->env, s, &bc_cbs, c);
    c->s = s;
    c->rng = (uint64_t)sv->used * 7919 + 1;
    bconn_send(c);
}

static void bench_streams(uint64_t seed, double *deliveries_per_s, double *segments_per_s,
                          uint64_t *bytes) {
    enum { HOSTS = 1000, PEERS = 5 };
    sim_world *w = world(seed);
    uint32_t first;
    if (sim_hosts_add_in_region(w, 0, HOSTS, NULL, &first) != TP_OK) exit(1);
    bsrv *sv = calloc(HOSTS, sizeof *sv);
    bconn *out = calloc((size_t)HOSTS * PEERS, sizeof *out);
    for (uint32_t i = 0; i < HOSTS; i++) {
        sim_host *h = sim_world_host(w, i);
        sv[i].cap = PEERS;
        sv[i].pool = calloc(PEERS, sizeof(bconn));
        for (int k = 0; k < PEERS; k++) {
            sv[i].pool[k].env = sim_host_env(h);
            tp_timer_init(&sv[i].pool[k].t, bconn_send, &sv[i].pool[k]);
        }
        tp_listener *l;
        tp_point any = {{{0}}, 9732};
        if (tp_env_listen(sim_host_env(h), &any, 64, bs_accept, &sv[i], &l) != TP_OK) exit(1);
    }
    for (uint32_t i = 0; i < HOSTS; i++) {
        for (int k = 0; k < PEERS; k++) {
            bconn *c = &out[i * PEERS + (uint32_t)k];
            c->env = sim_host_env(sim_world_host(w, i));
            c->rng = seed + i * 31 + (uint64_t)k + 1;
            tp_timer_init(&c->t, bconn_send, c);
            tp_point to = {sim_host_ip(sim_world_host(w, (i + 1 + (uint32_t)k) % HOSTS)), 9732};
            tp_stream *s;
            if (tp_env_stream_connect(c->env, &to, &bc_cbs, c, &s) != TP_OK) exit(1);
        }
    }
    sim_run_until(w, 1000000000LL); /* warm up: connections established */
    sim_stats s0, s1;
    sim_world_stats(w, &s0);
    double t0 = wall_s();
    sim_run_until(w, 6000000000LL);
    double dt = wall_s() - t0;
    sim_world_stats(w, &s1);
    *deliveries_per_s = (double)(s1.data_callbacks - s0.data_callbacks) / dt;
    *segments_per_s = (double)(s1.segments_delivered - s0.segments_delivered) / dt;
    *bytes = s1.bytes_delivered - s0.bytes_delivered;
    sim_world_destroy(w);
    for (uint32_t i = 0; i < HOSTS; i++) free(sv[i].pool);
    free(sv);
    free(out);
}

/* ------------------------------------------------------------------------------------ */

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    long size = 0, resident = 0;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * 4096;
}

static void bench_memory(uint64_t seed, double *backend_per_host, double *rss_per_host) {
    enum { HOSTS = 100000 };
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.seed = seed;
    cfg.region_count = 4;
    sim_world *w = NULL;
    if (sim_world_create(&cfg, &w) != TP_OK) exit(1);
    uint64_t b0 = sim_world_backend_bytes(w);
    long r0 = rss_bytes();
    /* 100,000 hosts in 4 regions */
    for (uint32_t r = 0; r < 4; r++) {
        uint32_t first;
        if (sim_hosts_add_in_region(w, r, HOSTS / 4, NULL, &first) != TP_OK) exit(1);
    }
    long r1 = rss_bytes();
    *backend_per_host = (double)(sim_world_backend_bytes(w) - b0) / HOSTS;
    *rss_per_host = r0 < 0 || r1 < 0 ? -1 : (double)(r1 - r0) / HOSTS;
    sim_world_destroy(w);
}

/* Bytes simnet holds per idle established connection (both endpoints together). */
static void nop_connect(void *arg, tp_stream *s) { (void)arg, (void)s; }
static void nop_data(void *arg, tp_stream *s, const uint8_t *d, size_t n) { (void)arg, (void)s, (void)d, (void)n; }
static void nop_writable(void *arg, tp_stream *s) { (void)arg, (void)s; }
static void nop_close(void *arg, tp_stream *s, tp_err r) { (void)arg, (void)s, (void)r; }
static const tp_stream_cbs nop_cbs = {nop_connect, nop_data, NULL, nop_writable, nop_close};
static void nop_accept(void *arg, tp_listener *l, tp_stream *s, const tp_point *remote) {
    (void)l, (void)remote;
    tp_env_stream_adopt(arg, s, &nop_cbs, NULL);
}

static double bench_idle_connections(uint64_t seed) {
    enum { HOSTS = 1000, PER_HOST = 10 };
    sim_world *w = world(seed);
    uint32_t first;
    if (sim_hosts_add_in_region(w, 0, HOSTS, NULL, &first) != TP_OK) exit(1);
    for (uint32_t i = 0; i < HOSTS; i++) {
        const tp_env *env = sim_host_env(sim_world_host(w, i));
        tp_listener *l;
        tp_point any = {{{0}}, 9732};
        if (tp_env_listen(env, &any, 64, nop_accept, (void *)env, &l) != TP_OK) exit(1);
    }
    sim_run_until(w, 1000000);
    uint64_t b0 = sim_world_backend_bytes(w);
    for (uint32_t i = 0; i < HOSTS; i++) {
        for (uint32_t k = 0; k < PER_HOST; k++) {
            tp_point to = {sim_host_ip(sim_world_host(w, (i + 1 + k) % HOSTS)), 9732};
            tp_stream *s;
            if (tp_env_stream_connect(sim_host_env(sim_world_host(w, i)), &to, &nop_cbs, NULL, &s) != TP_OK)
                exit(1);
        }
    }
    sim_run_until(w, 2000000000LL);
    sim_stats st;
    sim_world_stats(w, &st);
    if (st.streams_established != (uint64_t)HOSTS * PER_HOST) {
        fprintf(stderr, "bench_simnet: %llu of %d connections established\n",
                (unsigned long long)st.streams_established, HOSTS * PER_HOST);
        exit(1);
    }
    double per = (double)(sim_world_backend_bytes(w) - b0) / (HOSTS * PER_HOST);
    sim_world_destroy(w);
    return per;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1 || reps > 100) {
        fprintf(stderr, "usage: bench_simnet [repetitions 1..100]\n");
        return 2;
    }
    double *a = calloc((size_t)reps, sizeof *a), *b = calloc((size_t)reps, sizeof *b);
    uint64_t bytes = 0;

    double rss_first = 0;
    for (int i = 0; i < reps; i++) {
        bench_memory(1 + (uint64_t)i, &a[i], &b[i]);
        if (i == 0) rss_first = b[0];
    }
    printf("memory:  %.0f bytes per idle host (simnet accounting, median of %d), "
           "%.0f bytes RSS growth per host (first run); 100,000 hosts\n",
           median(a, reps), reps, rss_first);

    for (int i = 0; i < reps; i++) a[i] = bench_idle_connections(1 + (uint64_t)i);
    printf("memory:  %.0f bytes per idle connection, both endpoints (10,000 connections; "
           "median of %d)\n", median(a, reps), reps);

    for (int i = 0; i < reps; i++) a[i] = bench_timers(1 + (uint64_t)i, 10000000);
    printf("timers:  %.2f M timer events/s (100,000 pending; median of %d)\n",
           median(a, reps) / 1e6, reps);

    for (int i = 0; i < reps; i++) bench_streams(1 + (uint64_t)i, &a[i], &b[i], &bytes);
    printf("streams: %.2f M on_data deliveries/s, %.2f M segments/s "
           "(1000 hosts, 5000 connections, %.1f MB per 5 virtual s; median of %d)\n",
           median(a, reps) / 1e6, median(b, reps) / 1e6, (double)bytes / 1e6, reps);
    free(a);
    free(b);
    return 0;
}
