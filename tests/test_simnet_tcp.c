/* tests/test_simnet_tcp.c — simnet's TCP model (simnet/README.md "Streams"): slow start
 * per RTT, the restart after idle, the response to a loss (CUBIC and Reno), RTO
 * back-off, SYN retransmission times, drop-tail queue overflow, and the transfer
 * figures the model reproduces against Linux (issue 16; bench/RESULTS.md). Every
 * expected value is exact: the runs are deterministic. Every test prints its seed. */
#include "tests/test_simnet_util.h"

#define KBPS(mbit) ((uint64_t)(mbit) * 1000000 / 8)

/* Two hosts, `one_way` apart (no jitter), both links at `bytes_per_s` (0: unlimited). */
static sim_world *pair_world(uint64_t seed, int64_t one_way, uint64_t bytes_per_s,
                             const sim_tcp_config *tcp) {
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.default_latency.base_ns = one_way;
    cfg.default_latency.jitter_ns = 0;
    if (tcp) cfg.tcp = *tcp;
    sim_world *w = make_world(seed, 2, one_way, 0, &cfg);
    for (uint32_t i = 0; i < 2; i++)
        sim_host_set_bandwidth(sim_world_host(w, i), bytes_per_s, bytes_per_s);
    return w;
}

typedef struct xfer {
    sim_world *w;
    server sv;
    probe cl;
    uint8_t *data;
    size_t total;
} xfer;

static void xfer_start(xfer *x, sim_world *w, size_t total) {
    memset(x, 0, sizeof *x);
    x->w = w;
    x->total = total;
    x->data = pattern(total ? total : 1, 7);
    server_listen(&x->sv, sim_world_host(w, 1), 9732, 16);
    probe_connect(&x->cl, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    x->cl.tx = x->data;
    x->cl.tx_len = 0;
}

static void xfer_free(xfer *x) {
    probe_free(&x->cl);
    server_free(&x->sv);
    free(x->data);
}

static bool received_pred(void *arg) {
    xfer *x = arg;
    return x->sv.pool[0].rx_len >= x->cl.tx_len && x->cl.tx_len > 0;
}

/* Sends `n` more bytes now (the client must be connected) and runs until the server
 * read them all; returns the time from now to the last byte read. */
static int64_t send_more(xfer *x, size_t n) {
    int64_t t0 = sim_world_now_ns(x->w);
    x->cl.tx_len += n;
    assert_true(x->cl.tx_len <= x->total);
    probe_pump(&x->cl);
    assert_true(sim_run_until_pred(x->w, received_pred, x, t0 + 600 * SEC));
    return x->sv.pool[0].last_data_ns - t0;
}

static bool connected_pred(void *arg) { return ((xfer *)arg)->cl.connects > 0; }

static void connect_now(xfer *x) {
    assert_true(sim_run_until_pred(x->w, connected_pred, x, 60 * SEC));
}

/* One transfer of n bytes on a fresh connection: connect completes -> last byte read. */
static int64_t fresh_transfer(uint64_t seed, int64_t one_way, uint64_t bps, size_t n, uint32_t loss_ppm,
                              const sim_tcp_config *tcp) {
    sim_world *w = pair_world(seed, one_way, bps, tcp);
    if (loss_ppm) sim_host_set_loss(sim_world_host(w, 0), loss_ppm);
    xfer x;
    xfer_start(&x, w, n);
    connect_now(&x);
    int64_t t = send_more(&x, n);
    assert_memory_equal(x.sv.pool[0].rx, x.data, n);
    xfer_free(&x);
    sim_world_destroy(w);
    return t;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The issue-16 figures (RTT 50 ms, 10 Mbit/s unless said), printed beside Linux's. */
static void test_figures_against_linux(void **state) {
    (void)state;
    int64_t f20k = fresh_transfer(1, 25 * MS, KBPS(10), 20000, 0, NULL);
    int64_t f64k = fresh_transfer(1, 25 * MS, KBPS(10), 65536, 0, NULL);
    int64_t f1b = fresh_transfer(1, 25 * MS, KBPS(10), 1, 0, NULL);
    int64_t f1m = fresh_transfer(1, 25 * MS, KBPS(10), 1 << 20, 0, NULL);
    int64_t w64k = fresh_transfer(1, 110 * MS, KBPS(100), 65536, 0, NULL);
    int64_t w1m = fresh_transfer(1, 110 * MS, KBPS(100), 1 << 20, 0, NULL);
    /* bursts on one connection, idle 2 s between them */
    sim_world *w = pair_world(1, 25 * MS, KBPS(10), NULL);
    xfer x;
    xfer_start(&x, w, 4 * 65536);
    connect_now(&x);
    int64_t b[4];
    for (int i = 0; i < 4; i++) {
        if (i > 0) sim_run_for(w, 2 * SEC);
        b[i] = send_more(&x, 65536);
    }
    xfer_free(&x);
    sim_world_destroy(w);
    /* 1 % loss: median of 21 seeds */
    int64_t l[21];
    for (int i = 0; i < 21; i++) l[i] = fresh_transfer(100 + (uint64_t)i, 25 * MS, KBPS(10), 1 << 20, 10000, NULL);
    qsort(l, 21, sizeof l[0], cmp_i64);
    printf("# figure                      simnet      Linux\n");
    printf("# 20 kB fresh              %8.1f ms   81.6 ms\n", (double)f20k / MS);
    printf("# 64 KiB fresh             %8.1f ms  146.6 ms\n", (double)f64k / MS);
    printf("# 64 KiB bursts, idle 2 s  %8.1f %8.1f %8.1f ms  146.9 ms\n", (double)b[1] / MS, (double)b[2] / MS,
           (double)b[3] / MS);
    printf("# first byte after connect %8.1f ms   26.5 ms\n", (double)f1b / MS);
    printf("# 1 MiB                    %8.1f ms  972 ms\n", (double)f1m / MS);
    printf("# 1 MiB 1%% loss (median)   %8.1f ms  2015 ms (1199-3039); min %.1f max %.1f\n", (double)l[10] / MS,
           (double)l[0] / MS, (double)l[20] / MS);
    printf("# RTT 220 100 Mbit 64 KiB  %8.1f ms  554 ms\n", (double)w64k / MS);
    printf("# RTT 220 100 Mbit 1 MiB   %8.1f ms  1445 ms\n", (double)w1m / MS);
}

static sim_tcp_info info_of(sim_world *w, uint32_t host, tp_stream *s) {
    sim_tcp_info i;
    sim_stream_tcp_info(sim_world_host(w, host), s, &i);
    return i;
}

/* Slow start: cwnd 10, 20, 40, 80, 160 packets in successive RTTs (no bandwidth limit:
 * a round's ACKs all return at once; HyStart sees no queue). */
static void slow_start_rounds(sim_tcp_cc cc) {
    sim_tcp_config tcp;
    sim_world_config d;
    sim_world_config_default(&d);
    tcp = d.tcp;
    tcp.cc = cc;
    sim_world *w = pair_world(21, 25 * MS, 0, &tcp);
    xfer x;
    xfer_start(&x, w, 8 << 20);
    connect_now(&x);
    int64_t t0 = sim_world_now_ns(w);
    assert_int_equal(t0, 50 * MS);
    x.cl.tx_len = 8 << 20;
    probe_pump(&x.cl);
    uint32_t expect[] = {10, 20, 40, 80, 160, 320};
    for (int k = 0; k < 6; k++) {
        sim_run_until(w, t0 + k * 50 * MS + 25 * MS); /* mid-round */
        sim_tcp_info i = info_of(w, 0, x.cl.s);
        printf("# %s round %d: cwnd %u in flight %u\n", cc == SIM_TCP_RENO ? "reno" : "cubic", k,
               i.cwnd_packets, i.inflight_packets);
        assert_int_equal(i.cwnd_packets, expect[k]);
        assert_int_equal(i.inflight_packets, expect[k]);
        assert_int_equal(i.ssthresh_packets, UINT32_MAX);
    }
    xfer_free(&x);
    sim_world_destroy(w);
}

static void test_slow_start_doubles_per_rtt(void **state) {
    (void)state;
    slow_start_rounds(SIM_TCP_CUBIC);
    slow_start_rounds(SIM_TCP_RENO);
}

/* After an idle period longer than the RTO the next burst starts from the initial
 * window again (tcp_slow_start_after_idle = 1), and not when that is off. */
static void idle_restart(bool restart_on) {
    sim_world_config d;
    sim_world_config_default(&d);
    sim_tcp_config tcp = d.tcp;
    tcp.slow_start_after_idle = restart_on;
    sim_world *w = pair_world(22, 25 * MS, KBPS(10), &tcp);
    xfer x;
    xfer_start(&x, w, 2 * 65536);
    connect_now(&x);
    int64_t first = send_more(&x, 65536);
    sim_run_for(w, SEC); /* every ACK back */
    sim_tcp_info before = info_of(w, 0, x.cl.s);
    assert_int_equal(before.inflight_packets, 0);
    assert_true(before.cwnd_packets > 10);
    sim_run_for(w, 2 * SEC);
    x.cl.tx_len += 65536;
    probe_pump(&x.cl);
    sim_tcp_info now = info_of(w, 0, x.cl.s);
    printf("# restart %d: cwnd %u before idle, %u at the next burst (restarts %llu); first burst %.1f ms\n",
           restart_on, before.cwnd_packets, now.cwnd_packets, (unsigned long long)now.restarts,
           (double)first / MS);
    if (restart_on) {
        assert_int_equal(now.restarts, 1);
        assert_int_equal(now.cwnd_packets, 10);
        assert_int_equal(now.inflight_packets, 10);
    } else {
        assert_int_equal(now.restarts, 0);
        assert_int_equal(now.cwnd_packets, before.cwnd_packets);
    }
    assert_true(sim_run_until_pred(w, received_pred, &x, 60 * SEC));
    xfer_free(&x);
    sim_world_destroy(w);
}

static void test_restart_after_idle(void **state) {
    (void)state;
    idle_restart(true);
    idle_restart(false);
}

/* A random loss: the first congestion response multiplies cwnd by beta (CUBIC 717/1024,
 * Reno 1/2), and the data still arrives intact and in order. */
static void loss_response(sim_tcp_cc cc, uint32_t *before_out, uint32_t *after_out) {
    sim_world_config d;
    sim_world_config_default(&d);
    sim_tcp_config tcp = d.tcp;
    tcp.cc = cc;
    sim_world *w = pair_world(23, 25 * MS, KBPS(10), &tcp);
    sim_host_set_loss(sim_world_host(w, 0), 10000);
    xfer x;
    xfer_start(&x, w, 1 << 20);
    connect_now(&x);
    x.cl.tx_len = 1 << 20;
    probe_pump(&x.cl);
    uint32_t cwnd = 0;
    sim_tcp_info i = info_of(w, 0, x.cl.s);
    while (i.loss_events == 0) {
        cwnd = i.cwnd_packets;
        assert_true(sim_step(w));
        i = info_of(w, 0, x.cl.s);
    }
    *before_out = cwnd;
    *after_out = i.cwnd_packets;
    assert_int_equal(i.ssthresh_packets, i.cwnd_packets);
    assert_int_equal(i.rto_events, 0); /* fast retransmit, not a timeout */
    assert_true(sim_run_until_pred(w, received_pred, &x, 60 * SEC));
    assert_memory_equal(x.sv.pool[0].rx, x.data, 1 << 20);
    sim_stats st;
    sim_world_stats(w, &st);
    assert_true(st.packets_lost > 0);
    xfer_free(&x);
    sim_world_destroy(w);
}

static void test_loss_multiplicative_decrease(void **state) {
    (void)state;
    uint32_t b, a;
    loss_response(SIM_TCP_CUBIC, &b, &a);
    printf("# cubic: cwnd %u -> %u at the first loss\n", b, a);
    assert_int_equal(a, b * 717 / 1024 > 2 ? b * 717 / 1024 : 2);
    loss_response(SIM_TCP_RENO, &b, &a);
    printf("# reno: cwnd %u -> %u at the first loss\n", b, a);
    assert_int_equal(a, b / 2 > 2 ? b / 2 : 2);
}

/* A cut path: the head data is retransmitted after the RTO, doubling each time, and
 * cwnd collapses to 1; after the heal the data arrives. */
static void test_rto_backoff(void **state) {
    (void)state;
    sim_world *w = pair_world(24, 25 * MS, 0, NULL);
    xfer x;
    xfer_start(&x, w, 10000);
    connect_now(&x);
    send_more(&x, 1000); /* an RTT sample: srtt 50 ms */
    uint32_t a = 0, b = 1;
    uint32_t id;
    assert_int_equal(sim_partition(w, &a, 1, &b, 1, &id), TP_OK);
    x.cl.tx_len += 1000;
    probe_pump(&x.cl);
    sim_stats st;
    sim_world_stats(w, &st);
    uint64_t rtx0 = st.segments_retransmitted;
    int64_t times[5];
    int n = 0;
    while (n < 5) {
        assert_true(sim_step(w));
        sim_world_stats(w, &st);
        if (st.segments_retransmitted > rtx0 + (uint64_t)n) times[n++] = sim_world_now_ns(w);
    }
    sim_tcp_info i = info_of(w, 0, x.cl.s);
    assert_int_equal(i.cwnd_packets, 1);
    assert_int_equal(i.rto_events, 1);
    int64_t rto = times[1] - times[0];
    printf("# stall retries at %.1f %.1f %.1f %.1f %.1f ms (RTO %.1f ms)\n", times[0] / 1e6, times[1] / 1e6,
           times[2] / 1e6, times[3] / 1e6, times[4] / 1e6, rto / 1e6);
    assert_true(rto >= 200 * MS); /* Linux's minimum */
    for (int k = 2; k < 5; k++) assert_int_equal(times[k] - times[k - 1], rto << (k - 1));
    sim_heal(w, id);
    assert_true(sim_run_until_pred(w, received_pred, &x, 60 * SEC));
    xfer_free(&x);
    sim_world_destroy(w);
}

/* SYNs go at 0, 1, 3, 7 s after the connect (the timer starts at 1 s and doubles): a
 * heal at 2.5 s connects at 3 s + RTT, one at 5 s at 7 s + RTT. */
static void test_syn_retransmission_times(void **state) {
    (void)state;
    int64_t heal_at[] = {500 * MS, 2500 * MS, 5000 * MS};
    int64_t expect[] = {1 * SEC + 50 * MS, 3 * SEC + 50 * MS, 7 * SEC + 50 * MS};
    uint32_t tries[] = {1, 2, 3};
    for (int k = 0; k < 3; k++) {
        sim_world *w = pair_world(25, 25 * MS, 0, NULL);
        uint32_t a = 0, b = 1, id;
        assert_int_equal(sim_partition(w, &a, 1, &b, 1, &id), TP_OK);
        xfer x;
        xfer_start(&x, w, 1);
        sim_run_until(w, heal_at[k]);
        sim_heal(w, id);
        connect_now(&x);
        printf("# healed at %.1f s: connected at %.3f s\n", heal_at[k] / 1e9, x.cl.connect_ns / 1e9);
        assert_int_equal(x.cl.connect_ns, expect[k]);
        assert_int_equal(info_of(w, 0, x.cl.s).syn_retries, tries[k]);
        xfer_free(&x);
        sim_world_destroy(w);
    }
}

/* Many flows into one slow downlink overflow its drop-tail queue: packets are dropped,
 * senders back off, and every byte still arrives. */
static void test_queue_overflow_drops(void **state) {
    (void)state;
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.default_latency.base_ns = 10 * MS;
    cfg.default_latency.jitter_ns = 0;
    cfg.tcp.queue_bytes = 30000;
    sim_world *w = make_world(26, 9, 10 * MS, 0, &cfg);
    /* eight 10 Mbit/s senders into one 10 Mbit/s downlink */
    for (uint32_t i = 0; i < 9; i++) sim_host_set_bandwidth(sim_world_host(w, i), KBPS(10), KBPS(10));
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 0), 9732, 16);
    const size_t N = 200000;
    uint8_t *data = pattern(N, 9);
    probe c[8];
    memset(c, 0, sizeof c);
    for (int i = 0; i < 8; i++) {
        c[i].tx = data;
        c[i].tx_len = N;
        probe_connect(&c[i], sim_world_host(w, (uint32_t)i + 1), sim_world_host(w, 0), 9732);
    }
    sim_run_until(w, 60 * SEC);
    int64_t last = 0;
    for (int i = 0; i < 8; i++)
        if (sv.pool[i].last_data_ns > last) last = sv.pool[i].last_data_ns;
    printf("# all %zu bytes in at %.3f s (the downlink alone needs %.3f s)\n", 8 * N, last / 1e9,
           8.0 * N * 1500 / 1448 / KBPS(10));
    sim_stats st;
    sim_world_stats(w, &st);
    uint64_t losses = 0;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(sv.pool[i].rx_len, N);
        assert_memory_equal(sv.pool[i].rx, data, N);
        losses += info_of(w, (uint32_t)i + 1, c[i].s).loss_events;
    }
    printf("# 8 flows into 10 Mbit/s, 30 kB queue: %llu packets dropped, %llu loss events\n",
           (unsigned long long)st.packets_dropped, (unsigned long long)losses);
    assert_true(st.packets_dropped > 0);
    assert_true(losses > 0);
    assert_int_equal(st.packets_lost, 0); /* no random loss configured */
    for (int i = 0; i < 8; i++) probe_free(&c[i]);
    server_free(&sv);
    free(data);
    sim_world_destroy(w);
}

/* The receiver's window reaches the sender by window updates that take the reverse
 * latency, as in TCP, where the window travels in ACKs (simnet/README.md "Streams").
 * A reader paused from the start: the sender fills the window it models for the peer
 * and stops. The reader resumes at R and reads it all at once; the sender learns that
 * one one-way latency later (25 ms) and sends again then, not at R (where the old
 * god's-eye model, which read the receiver's buffer directly, sent at once). */
static void test_window_update_takes_reverse_latency(void **state) {
    (void)state;
    sim_world *w = pair_world(27, 25 * MS, 0, NULL);
    xfer x;
    xfer_start(&x, w, 1 << 20);
    x.sv.pause_on_accept = true;
    connect_now(&x);
    x.cl.tx_len = 1 << 20;
    probe_pump(&x.cl);
    sim_run_until(w, 2 * SEC);
    sim_tcp_info full = info_of(w, 0, x.cl.s);
    assert_int_equal(full.inflight_packets, 0); /* all acknowledged: the kernel ACKs */
    assert_true(full.packets_sent > 0);
    sim_run_until(w, 3 * SEC);
    assert_int_equal(info_of(w, 0, x.cl.s).packets_sent, full.packets_sent); /* stopped */
    probe *r = &x.sv.pool[0];
    assert_int_equal(r->rx_len, 0);
    const int64_t R = 3 * SEC;
    tp_env_stream_read_resume(x.sv.env, r->s);
    sim_run_until(w, R + 25 * MS - 1);
    /* the reader got exactly the window the sender filled */
    printf("# window %u bytes, read at %.3f s; sender still at %llu packets\n", full.rcv_wnd_bytes,
           r->first_data_ns / 1e9, (unsigned long long)info_of(w, 0, x.cl.s).packets_sent);
    assert_int_equal(r->first_data_ns, R);
    assert_int_equal(r->rx_len, full.rcv_wnd_bytes);
    assert_int_equal(info_of(w, 0, x.cl.s).packets_sent, full.packets_sent);
    size_t before = r->rx_len;
    sim_run_until(w, R + 25 * MS);
    assert_true(info_of(w, 0, x.cl.s).packets_sent > full.packets_sent); /* the update came */
    assert_int_equal(r->rx_len, before);
    sim_run_until(w, R + 50 * MS);
    assert_true(r->rx_len > before); /* the new data, one more latency later */
    assert_true(sim_run_until_pred(w, received_pred, &x, 60 * SEC));
    assert_memory_equal(r->rx, x.data, 1 << 20);
    xfer_free(&x);
    sim_world_destroy(w);
}

/* Bad TCP settings are refused with the field named. */
static void test_tcp_config_errors(void **state) {
    (void)state;
    char buf[256];
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    assert_null(sim_world_config_check(&cfg, buf, sizeof buf));
    assert_int_equal(cfg.tcp.cc, SIM_TCP_CUBIC);
    assert_int_equal(cfg.tcp.mss_bytes, 1448);
    assert_int_equal(cfg.tcp.initial_window_packets, 10);
    assert_int_equal(cfg.tcp.rmem_max_bytes, 6u << 20);
    assert_true(cfg.tcp.slow_start_after_idle);
    cfg.tcp.mss_bytes = 10;
    assert_non_null(strstr(sim_world_config_check(&cfg, buf, sizeof buf), "tcp.mss_bytes"));
    sim_world_config_default(&cfg);
    cfg.tcp.initial_window_packets = 0;
    assert_non_null(strstr(sim_world_config_check(&cfg, buf, sizeof buf), "tcp.initial_window_packets"));
    sim_world_config_default(&cfg);
    cfg.tcp.cc = (sim_tcp_cc)7;
    assert_non_null(strstr(sim_world_config_check(&cfg, buf, sizeof buf), "tcp.cc"));
    sim_world_config_default(&cfg);
    cfg.tcp.rmem_max_bytes = 1000;
    assert_non_null(strstr(sim_world_config_check(&cfg, buf, sizeof buf), "tcp.rmem_max_bytes"));
    sim_world_config_default(&cfg);
    cfg.tcp.queue_bytes = 1000;
    assert_non_null(strstr(sim_world_config_check(&cfg, buf, sizeof buf), "tcp.queue_bytes"));
    sim_world_config_default(&cfg);
    cfg.tcp.rto_min_ns = 0;
    assert_non_null(strstr(sim_world_config_check(&cfg, buf, sizeof buf), "tcp.rto_min_ns"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_config_errors),
        cmocka_unit_test(test_slow_start_doubles_per_rtt),
        cmocka_unit_test(test_restart_after_idle),
        cmocka_unit_test(test_loss_multiplicative_decrease),
        cmocka_unit_test(test_rto_backoff),
        cmocka_unit_test(test_syn_retransmission_times),
        cmocka_unit_test(test_queue_overflow_drops),
        cmocka_unit_test(test_window_update_takes_reverse_latency),
        cmocka_unit_test(test_figures_against_linux),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
