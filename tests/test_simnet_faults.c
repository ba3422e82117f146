/* tests/test_simnet_faults.c — simnet faults: partitions (stall, heal, user timeout,
 * keepalive), crashes seen by peers as timeouts or resets, the application hooks
 * (start/stop/halt, clean stop with graceful closes, restart with the disk), scheduled
 * faults, and lossy or slow links. Every test prints its seed. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/test_simnet_util.h"

static void test_partition_stalls_then_heals(void **state) {
    (void)state;
    sim_world *w = make_world(101, 2, 20 * MS, 3 * MS, NULL);
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, SEC);
    assert_int_equal(c.connects, 1);
    uint32_t a = 0, b = 1, id;
    assert_int_equal(sim_partition(w, &a, 1, &b, 1, &id), TP_OK);
    assert_false(sim_reachable(w, 0, 1));
    assert_false(sim_reachable(w, 1, 0));
    const size_t N = 300000;
    uint8_t *data = pattern(N, 11);
    c.tx = data;
    c.tx_len = N;
    probe_pump(&c);
    sim_run_until(w, 11 * SEC);
    probe *r = &sv.pool[0];
    assert_int_equal(r->rx_len, 0); /* stalled */
    assert_int_equal(c.closes, 0);  /* 10 s < user timeout */
    sim_heal(w, id);
    assert_true(sim_reachable(w, 0, 1));
    sim_run_until(w, 40 * SEC);
    assert_int_equal(r->rx_len, N); /* everything, in order, intact */
    assert_memory_equal(r->rx, data, N);
    assert_true(r->first_data_ns >= 11 * SEC);
    assert_int_equal(c.closes, 0);
    assert_int_equal(r->closes, 0);
    sim_stats st;
    sim_world_stats(w, &st);
    assert_true(st.segments_retransmitted > 0);
    free(data);
    probe_free(&c);
    server_free(&sv);
    sim_world_destroy(w);
}

static void test_partition_past_user_timeout(void **state) {
    (void)state;
    sim_world *w = make_world(102, 3, 20 * MS, 0, NULL);
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, SEC);
    /* host 0 is cut from everyone else (b = NULL) */
    uint32_t a = 0, id;
    assert_int_equal(sim_partition(w, &a, 1, NULL, 0, &id), TP_OK);
    assert_false(sim_reachable(w, 2, 0));
    assert_true(sim_reachable(w, 1, 2));
    uint8_t msg[5000];
    memset(msg, 3, sizeof msg);
    c.tx = msg;
    c.tx_len = sizeof msg;
    probe_pump(&c);
    int64_t sent_at = sim_world_now_ns(w);
    sim_run_until(w, 200 * SEC);
    /* the side with unacknowledged data: TCP user timeout (45 s) */
    assert_int_equal(c.closes, 1);
    assert_int_equal(c.reason, TP_ERR_TIMEOUT);
    assert_true(c.close_ns >= sent_at + 45 * SEC);
    assert_true(c.close_ns <= sent_at + 50 * SEC);
    /* the idle side: keepalive probes unanswered for the user timeout */
    probe *r = &sv.pool[0];
    assert_int_equal(r->closes, 1);
    assert_int_equal(r->reason, TP_ERR_TIMEOUT);
    /* it last heard from the client at the handshake's ACK (the accept) */
    assert_true(r->close_ns >= sv.accept_ns + 45 * SEC);
    assert_true(r->close_ns <= sv.accept_ns + 45 * SEC + 5 * SEC);
    assert_int_equal(r->rx_len, 0);
    sim_stats st;
    sim_world_stats(w, &st);
    assert_int_equal(st.streams_timed_out, 2);
    probe_free(&c);
    server_free(&sv);
    sim_world_destroy(w);
}

static void test_idle_connection_survives_with_keepalive(void **state) {
    (void)state;
    /* No partition: an idle connection is kept alive indefinitely by keepalive. */
    sim_world *w = make_world(103, 2, 20 * MS, 0, NULL);
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, 600 * SEC);
    assert_int_equal(c.connects, 1);
    assert_int_equal(c.closes, 0);
    assert_int_equal(sv.pool[0].closes, 0);
    probe_free(&c);
    server_free(&sv);
    sim_world_destroy(w);
}

static void test_crash_seen_as_timeout_by_waiting_peer(void **state) {
    (void)state;
    sim_world *w = make_world(104, 2, 20 * MS, 0, NULL);
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, SEC);
    int64_t last_heard = c.connect_ns; /* the SYN-ACK: nothing since */
    sim_host_crash(sim_world_host(w, 1));
    assert_false(sim_reachable(w, 0, 1));
    sim_run_until(w, 30 * SEC);
    assert_int_equal(c.closes, 0); /* no FIN, no RST: nothing yet */
    sim_run_until(w, 120 * SEC);
    assert_int_equal(c.closes, 1);
    assert_int_equal(c.reason, TP_ERR_TIMEOUT);
    /* keepalive probes from 10 s, every 5 s; dead once unanswered for 45 s */
    assert_true(c.close_ns >= last_heard + 45 * SEC);
    assert_true(c.close_ns <= last_heard + 45 * SEC + 5 * SEC);
    /* the crashed side got no callback at all */
    assert_int_equal(sv.pool[0].closes, 0);
    assert_string_equal(sv.pool[0].log, "");
    probe_free(&c);
    server_free(&sv);
    sim_world_destroy(w);
}

static void test_crash_seen_as_reset_after_restart(void **state) {
    (void)state;
    sim_world *w = make_world(105, 2, 20 * MS, 0, NULL);
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, SEC);
    sim_host_crash(sim_world_host(w, 1));
    sim_run_until(w, 3 * SEC);
    sim_host_start(sim_world_host(w, 1)); /* back, without the connection */
    assert_int_equal(sim_host_get_state(sim_world_host(w, 1)), SIM_HOST_UP);
    uint8_t msg[100] = {1};
    c.tx = msg;
    c.tx_len = sizeof msg;
    probe_pump(&c);
    int64_t sent = sim_world_now_ns(w);
    sim_run_until(w, 10 * SEC);
    assert_int_equal(c.closes, 1);
    assert_int_equal(c.reason, TP_ERR_CONN_RESET);
    assert_int_equal(c.close_ns, sent + 40 * MS); /* data there, RST back */
    /* its listener vanished in the crash: a new connect is refused */
    probe d = {0};
    probe_connect(&d, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, 11 * SEC);
    assert_int_equal(d.reason, TP_ERR_CONN_REFUSED);
    probe_free(&c);
    probe_free(&d);
    server_free(&sv);
    sim_world_destroy(w);
}

static void test_keepalive_finds_restarted_peer(void **state) {
    (void)state;
    /* An idle connection whose peer crashed and came back: the first keepalive probe
     * (10 s after the last exchange) meets a host without the connection: reset. */
    sim_world *w = make_world(112, 2, 20 * MS, 0, NULL);
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, SEC);
    sim_host_crash(sim_world_host(w, 1));
    sim_run_until(w, 2 * SEC);
    sim_host_start(sim_world_host(w, 1));
    sim_run_until(w, 60 * SEC);
    assert_int_equal(c.closes, 1);
    assert_int_equal(c.reason, TP_ERR_CONN_RESET);
    /* the last exchange: the handshake's ACK reaching the server (acknowledged then).
     * The probe goes 10 s later; the restarted host answers it with an RST that takes
     * the reverse latency (40 ms round trip: the probe is a message now, where the
     * god's-eye model saw the missing connection at the probe's own instant). */
    assert_int_equal(c.close_ns, sv.accept_ns + 10 * SEC + 40 * MS);
    probe_free(&c);
    server_free(&sv);
    sim_world_destroy(w);
}

static void test_keepalive_count_without_user_timeout(void **state) {
    (void)state;
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.default_latency.base_ns = 20 * MS;
    cfg.default_latency.jitter_ns = 0;
    cfg.user_timeout_ns = 0;
    cfg.keepalive_count = 3;
    sim_world *w = make_world(113, 2, 0, 0, &cfg);
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, SEC);
    sim_host_crash(sim_world_host(w, 1));
    sim_run_until(w, 100 * SEC);
    /* probes at +10, +15, +20, +25 s: the fourth unanswered one (> 3) ends it */
    assert_int_equal(c.closes, 1);
    assert_int_equal(c.reason, TP_ERR_TIMEOUT);
    assert_int_equal(c.close_ns, sv.accept_ns + 25 * SEC);
    probe_free(&c);
    server_free(&sv);
    sim_world_destroy(w);
}

static void test_listener_close_resets_handshakes(void **state) {
    (void)state;
    sim_world *w = make_world(114, 2, 20 * MS, 0, NULL);
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, 30 * MS); /* SYN received, SYN-ACK on its way */
    tp_env_listener_close(sv.env, sv.l);
    sim_run_until(w, 5 * SEC);
    assert_int_equal(sv.accepted, 0);
    assert_int_equal(c.closes, 1);
    assert_int_equal(c.reason, TP_ERR_CONN_RESET);
    probe_free(&c);
    server_free(&sv);
    sim_world_destroy(w);
}

typedef struct arrivals {
    int n;
    int64_t min_ns, max_ns;
    const tp_env *env;
    int64_t sent_ns;
} arrivals;

static void arr_cb(void *arg, tp_dgram *d, const tp_point *from, const uint8_t *data, size_t len) {
    (void)d, (void)from, (void)data, (void)len;
    arrivals *a = arg;
    int64_t dt = tp_env_now_ns(a->env) - a->sent_ns;
    if (a->n == 0 || dt < a->min_ns) a->min_ns = dt;
    if (a->n == 0 || dt > a->max_ns) a->max_ns = dt;
    a->n++;
}

static void test_latency_matrix_and_jitter(void **state) {
    (void)state;
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.region_count = 2;
    sim_latency lat[4] = {{MS, 0}, {80 * MS, 10 * MS}, {70 * MS, 0}, {2 * MS, 0}};
    cfg.latency = lat;
    sim_world *w = make_world(115, 0, 0, 0, &cfg);
    uint32_t first;
    assert_int_equal(sim_hosts_add_in_region(w, 0, 1, NULL, &first), TP_OK);
    assert_int_equal(sim_hosts_add_in_region(w, 1, 1, NULL, &first), TP_OK);
    const tp_env *e0 = sim_host_env(sim_world_host(w, 0)), *e1 = sim_host_env(sim_world_host(w, 1));
    arrivals at1 = {0}, at0 = {0};
    at1.env = e1;
    at0.env = e0;
    tp_dgram *d0, *d1;
    tp_point any = {{{0}}, 10732};
    assert_int_equal(tp_env_dgram_open(e0, &any, arr_cb, &at0, &d0), TP_OK);
    assert_int_equal(tp_env_dgram_open(e1, &any, arr_cb, &at1, &d1), TP_OK);
    tp_point to1 = {sim_host_ip(sim_world_host(w, 1)), 10732};
    tp_point to0 = {sim_host_ip(sim_world_host(w, 0)), 10732};
    uint8_t m[8] = {0};
    at1.sent_ns = at0.sent_ns = sim_world_now_ns(w);
    for (int i = 0; i < 500; i++) {
        assert_int_equal(tp_env_dgram_send(e0, d0, &to1, m, sizeof m), TP_OK);
        assert_int_equal(tp_env_dgram_send(e1, d1, &to0, m, sizeof m), TP_OK);
    }
    sim_run_for(w, SEC);
    assert_int_equal(at1.n, 500);
    assert_int_equal(at0.n, 500);
    /* region 0 -> 1: 80 ms + U[0, 10 ms]; region 1 -> 0: 70 ms, no jitter */
    assert_true(at1.min_ns >= 80 * MS && at1.max_ns <= 90 * MS);
    assert_true(at1.max_ns - at1.min_ns > 8 * MS); /* the jitter is really spread */
    assert_int_equal(at0.min_ns, 70 * MS);
    assert_int_equal(at0.max_ns, 70 * MS);
    sim_world_destroy(w);
}

static void test_connect_to_down_or_cut_host(void **state) {
    (void)state;
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.default_latency.base_ns = 20 * MS;
    cfg.default_latency.jitter_ns = 0;
    cfg.syn_timeout_ns = 20 * SEC;
    sim_world *w = make_world(106, 3, 0, 0, &cfg);
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    sim_host_crash(sim_world_host(w, 2));
    probe down = {0};
    probe_connect(&down, sim_world_host(w, 0), sim_world_host(w, 2), 9732);
    /* cut, then healed before the SYN timeout: a SYN retry gets through */
    uint32_t a = 0, b = 1, id;
    assert_int_equal(sim_partition(w, &a, 1, &b, 1, &id), TP_OK);
    probe cut = {0};
    probe_connect(&cut, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, 5 * SEC);
    assert_int_equal(cut.connects, 0);
    sim_heal(w, id);
    sim_run_until(w, 60 * SEC);
    assert_int_equal(down.connects, 0);
    assert_int_equal(down.closes, 1);
    assert_int_equal(down.reason, TP_ERR_TIMEOUT);
    assert_int_equal(down.close_ns, 20 * SEC);
    assert_int_equal(cut.connects, 1);
    assert_true(cut.connect_ns > 5 * SEC && cut.connect_ns < 20 * SEC);
    assert_int_equal(cut.closes, 0);
    probe_free(&down);
    probe_free(&cut);
    server_free(&sv);
    sim_world_destroy(w);
}

/* ------------------------------------------------------------------------------------ */
/* Applications                                                                         */

typedef struct app {
    int starts, stops, halts;
    const tp_env *env;
    tp_listener *l;
    tp_dgram *d;
    tp_timer t;
    int timer_fired;
    void *mem;
    server sv; /* accepted streams */
    bool close_in_stop;
} app;

static void app_timer(void *arg) {
    app *a = arg;
    a->timer_fired++;
}

static void app_dgram(void *arg, tp_dgram *d, const tp_point *from, const uint8_t *data, size_t len) {
    (void)arg, (void)d, (void)from, (void)data, (void)len;
}

static void app_start(void *arg, sim_host *h, const tp_env *env) {
    app *a = arg;
    a->starts++;
    a->env = env;
    assert_ptr_equal(env, sim_host_env(h));
    memset(&a->sv, 0, sizeof a->sv);
    server_listen(&a->sv, h, 9732, 20);
    tp_point p = {{{0}}, 10732};
    assert_int_equal(tp_env_dgram_open(env, &p, app_dgram, a, &a->d), TP_OK);
    tp_timer_init(&a->t, app_timer, a);
    tp_env_timer_start_in(env, &a->t, 100 * SEC);
    a->mem = tp_env_alloc(env, 4096);
    assert_non_null(a->mem);
    /* the disk survives restarts: count boots in a file */
    uint8_t buf[8] = {0};
    size_t len = 0;
    tp_err e = tp_env_file_read(env, "boots", buf, sizeof buf, &len);
    assert_true(e == TP_OK || e == TP_ERR_NOT_FOUND);
    buf[0]++;
    assert_int_equal(tp_env_file_write(env, "boots", buf, 1), TP_OK);
}

static void app_stop(void *arg, sim_host *h, const tp_env *env) {
    (void)h;
    app *a = arg;
    a->stops++;
    tp_env_listener_close(env, a->sv.l);
    tp_env_timer_stop(env, &a->t);
    if (a->close_in_stop) {
        for (int i = 0; i < 16; i++)
            if (a->sv.pool[i].s) tp_env_stream_close(env, a->sv.pool[i].s);
    }
}

static void app_halt(void *arg, sim_host *h, const tp_env *env) {
    (void)h;
    app *a = arg;
    a->halts++;
    tp_env_free(env, a->mem, 4096);
    a->mem = NULL;
    server_free(&a->sv);
}

static const sim_app_ops app_ops = {app_start, app_stop, app_halt};

static void test_app_crash_and_restart(void **state) {
    (void)state;
    sim_world *w = make_world(107, 2, 10 * MS, 0, NULL);
    sim_host *h = sim_world_host(w, 1);
    app a = {0};
    sim_host_set_app(h, &app_ops, &a);
    sim_host_start(h);
    assert_int_equal(a.starts, 1);
    assert_true(sim_host_app_running(h));
    assert_int_equal(sim_host_memory_bytes(h), 4096);
    sim_run_until(w, 50 * SEC);
    sim_fault crash = {.kind = SIM_FAULT_CRASH, .hosts = (uint32_t[]){1}, .host_count = 1};
    sim_fault start = {.kind = SIM_FAULT_START, .hosts = (uint32_t[]){1}, .host_count = 1};
    assert_int_equal(sim_fault_at(w, 60 * SEC, &crash, NULL), TP_OK);
    assert_int_equal(sim_fault_at(w, 70 * SEC, &start, NULL), TP_OK);
    assert_int_equal(sim_fault_at(w, 10 * SEC, &start, NULL), TP_ERR_INVAL); /* past */
    sim_run_until(w, 65 * SEC);
    assert_int_equal(a.halts, 1);
    assert_int_equal(a.stops, 0);
    assert_false(sim_host_app_running(h));
    assert_int_equal(sim_host_get_state(h), SIM_HOST_DOWN);
    assert_int_equal(sim_host_memory_bytes(h), 0); /* the app freed everything */
    sim_run_until(w, 120 * SEC);
    /* the timer armed before the crash (due at 100 s) vanished; the new one is due at
     * 170 s */
    assert_int_equal(a.timer_fired, 0);
    assert_int_equal(a.starts, 2);
    uint8_t buf[8];
    size_t len;
    assert_int_equal(tp_env_file_read(sim_host_env(h), "boots", buf, sizeof buf, &len), TP_OK);
    assert_int_equal(buf[0], 2);
    sim_run_until(w, 171 * SEC);
    assert_int_equal(a.timer_fired, 1);
    sim_stats st;
    sim_world_stats(w, &st);
    assert_int_equal(st.host_crashes, 1);
    sim_host_crash(h);
    sim_world_destroy(w);
}

static void count_timer(void *arg) { (*(int *)arg)++; }

/* Runs 5 hosts (apps on 1, 2, 3; a bare timer on host 0) to 50 s, crashes every running
 * app either with sim_world_crash_running_apps (at_once) or one sim_host_crash per host,
 * runs to 200 s and returns the trace hash. */
static uint64_t crash_apps_run(bool at_once, int *bare_fired) {
    sim_world *w = make_world(111, 5, 10 * MS, 2 * MS, NULL);
    app apps[3];
    memset(apps, 0, sizeof apps);
    for (uint32_t i = 0; i < 3; i++) {
        sim_host_set_app(sim_world_host(w, i + 1), &app_ops, &apps[i]);
        sim_host_start(sim_world_host(w, i + 1));
    }
    tp_timer bare;
    tp_timer_init(&bare, count_timer, bare_fired);
    tp_env_timer_start_in(sim_host_env(sim_world_host(w, 0)), &bare, 150 * SEC);
    sim_run_until(w, 50 * SEC);
    if (at_once) {
        sim_world_crash_running_apps(w);
    } else {
        for (uint32_t i = 1; i <= 3; i++) sim_host_crash(sim_world_host(w, i));
    }
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(apps[i].halts, 1);
        assert_false(sim_host_app_running(sim_world_host(w, i + 1)));
        assert_int_equal(sim_host_get_state(sim_world_host(w, i + 1)), SIM_HOST_DOWN);
        assert_int_equal(sim_host_memory_bytes(sim_world_host(w, i + 1)), 0);
    }
    assert_int_equal(sim_host_get_state(sim_world_host(w, 0)), SIM_HOST_UP);
    sim_run_until(w, 200 * SEC);
    for (uint32_t i = 0; i < 3; i++) assert_int_equal(apps[i].timer_fired, 0); /* due at 100 s */
    sim_stats st;
    sim_world_stats(w, &st);
    assert_int_equal(st.host_crashes, 3);
    uint64_t hash = sim_world_trace_hash(w);
    sim_world_destroy(w);
    return hash;
}

/* The end-of-run teardown: crashing every running app at once (one pass over the event
 * queue) is exactly a crash per host in host order: same halts, same vanished timers,
 * other hosts' timers kept, same trace hash. */
static void test_crash_running_apps_at_once(void **state) {
    (void)state;
    int fired_one = 0, fired_all = 0;
    uint64_t one_by_one = crash_apps_run(false, &fired_one);
    uint64_t at_once = crash_apps_run(true, &fired_all);
    assert_int_equal(fired_one, 1);
    assert_int_equal(fired_all, 1); /* host 0 has no app: its timer stays */
    assert_int_equal(one_by_one, at_once);
}

static void test_clean_stop_closes_gracefully(void **state) {
    (void)state;
    sim_world *w = make_world(108, 2, 10 * MS, 0, NULL);
    sim_host *h = sim_world_host(w, 1);
    app a = {0};
    sim_host_set_app(h, &app_ops, &a);
    sim_host_start(h);
    /* a client sends data; the app does not close its streams in stop: simnet closes
     * them gracefully at the end of the grace period */
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), h, 9732);
    sim_run_until(w, SEC);
    assert_int_equal(a.sv.accepted, 1);
    uint8_t *data = pattern(20000, 7);
    a.sv.pool[0].tx = data;
    a.sv.pool[0].tx_len = 20000;
    probe_pump(&a.sv.pool[0]);
    sim_host_stop(h, 2 * SEC);
    assert_int_equal(a.stops, 1);
    assert_true(sim_host_app_running(h)); /* still running during the grace period */
    sim_run_until(w, 10 * SEC);
    assert_int_equal(a.halts, 1);
    assert_false(sim_host_app_running(h));
    assert_int_equal(sim_host_get_state(h), SIM_HOST_UP);
    assert_int_equal(c.rx_len, 20000); /* the data, then EOF: not a reset */
    assert_memory_equal(c.rx, data, 20000);
    assert_int_equal(c.eofs, 1);
    assert_int_equal(c.closes, 0);
    /* the stopped machine refuses connections */
    probe d = {0};
    probe_connect(&d, sim_world_host(w, 0), h, 9732);
    sim_run_until(w, 11 * SEC);
    assert_int_equal(d.reason, TP_ERR_CONN_REFUSED);
    /* closing our side completes normally (the orphan answers our FIN) */
    tp_env_stream_close(c.env, c.s);
    sim_run_until(w, 12 * SEC);
    assert_int_equal(c.closes, 1);
    assert_int_equal(c.reason, TP_OK);
    /* restart: the app runs again */
    sim_host_start(h);
    assert_int_equal(a.starts, 2);
    probe e = {0};
    probe_connect(&e, sim_world_host(w, 0), h, 9732);
    sim_run_until(w, 13 * SEC);
    assert_int_equal(e.connects, 1);
    free(data);
    probe_free(&c);
    probe_free(&d);
    probe_free(&e);
    sim_host_crash(h);
    sim_world_destroy(w);
}

static void test_clean_stop_app_closes_in_stop(void **state) {
    (void)state;
    sim_world *w = make_world(109, 2, 10 * MS, 0, NULL);
    sim_host *h = sim_world_host(w, 1);
    app a = {0};
    a.close_in_stop = true;
    sim_host_set_app(h, &app_ops, &a);
    sim_host_start(h);
    probe c = {0};
    c.close_on_eof = true;
    probe_connect(&c, sim_world_host(w, 0), h, 9732);
    sim_run_until(w, SEC);
    sim_host_stop(h, 5 * SEC);
    sim_run_until(w, 2 * SEC);
    /* the app's close completed with on_close(OK) before the halt */
    assert_int_equal(a.sv.pool[0].closes, 1);
    assert_int_equal(a.sv.pool[0].reason, TP_OK);
    assert_int_equal(c.eofs, 1);
    assert_int_equal(c.closes, 1);
    assert_int_equal(c.reason, TP_OK);
    assert_int_equal(a.halts, 0);
    sim_run_until(w, 7 * SEC);
    assert_int_equal(a.halts, 1);
    probe_free(&c);
    sim_world_destroy(w);
}

/* ------------------------------------------------------------------------------------ */
/* Scheduled faults and links                                                           */

static void test_scheduled_partition_and_heal(void **state) {
    (void)state;
    sim_world *w = make_world(110, 4, 10 * MS, 0, NULL);
    uint32_t left[] = {0, 1}, right[] = {2, 3};
    sim_fault p = {.kind = SIM_FAULT_PARTITION, .hosts = left, .host_count = 2,
                   .hosts_b = right, .host_b_count = 2};
    uint32_t id = 0;
    assert_int_equal(sim_fault_at(w, 10 * SEC, &p, &id), TP_OK);
    assert_true(id != 0);
    left[0] = 3; /* copied at scheduling time */
    sim_fault heal = {.kind = SIM_FAULT_HEAL, .partition_id = id};
    assert_int_equal(sim_fault_at(w, 20 * SEC, &heal, NULL), TP_OK);
    sim_fault bad = {.kind = SIM_FAULT_CRASH, .hosts = (uint32_t[]){9}, .host_count = 1};
    assert_int_equal(sim_fault_at(w, 20 * SEC, &bad, NULL), TP_ERR_INVAL);
    assert_true(sim_reachable(w, 0, 2));
    sim_run_until(w, 15 * SEC);
    assert_false(sim_reachable(w, 0, 2));
    assert_false(sim_reachable(w, 3, 1));
    assert_true(sim_reachable(w, 0, 1));
    assert_true(sim_reachable(w, 2, 3));
    sim_run_until(w, 25 * SEC);
    assert_true(sim_reachable(w, 0, 2));
    /* latency and loss changes as timed operations */
    sim_fault lat = {.kind = SIM_FAULT_LATENCY, .region_a = 0, .region_b = 0, .value_ns = 200 * MS};
    assert_int_equal(sim_fault_at(w, 30 * SEC, &lat, NULL), TP_OK);
    sim_run_until(w, 31 * SEC);
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9);
    sim_run_until(w, 40 * SEC);
    assert_int_equal(c.reason, TP_ERR_CONN_REFUSED);
    assert_int_equal(c.close_ns, 31 * SEC + 400 * MS);
    probe_free(&c);
    sim_world_destroy(w);
}

static void test_lossy_link_delays_but_keeps_order(void **state) {
    (void)state;
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.region_count = 2;
    sim_world *w = make_world(111, 0, 0, 0, &cfg);
    uint32_t first;
    assert_int_equal(sim_hosts_add_in_region(w, 0, 1, NULL, &first), TP_OK);
    assert_int_equal(sim_hosts_add_in_region(w, 1, 1, NULL, &first), TP_OK);
    sim_set_latency(w, 0, 1, (sim_latency){30 * MS, 10 * MS});
    sim_set_latency(w, 1, 0, (sim_latency){30 * MS, 10 * MS});
    sim_set_region_loss(w, 0, 1, 100000); /* 10 % */
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    const size_t N = 400000;
    uint8_t *data = pattern(N, 13);
    probe c = {0};
    c.tx = data;
    c.tx_len = N;
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, 60 * SEC);
    probe *r = &sv.pool[0];
    assert_int_equal(r->rx_len, N);
    assert_memory_equal(r->rx, data, N);
    sim_stats st;
    sim_world_stats(w, &st);
    printf("# 10%% loss: %llu of %llu segments retransmitted\n",
           (unsigned long long)st.segments_retransmitted, (unsigned long long)st.segments_delivered);
    assert_true(st.segments_retransmitted > 0);
    probe_free(&c);
    server_free(&sv);
    free(data);
    sim_world_destroy(w);
}

static void test_corruption_flips_one_byte_per_message(void **state) {
    (void)state;
    sim_world *w = make_world(116, 2, 10 * MS, 0, NULL);
    server sv = {0};
    server_listen(&sv, sim_world_host(w, 1), 9732, 20);
    const size_t N = 200000;
    uint8_t *data = pattern(N, 21);
    probe c = {0};
    probe_connect(&c, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    sim_run_until(w, SEC);
    /* scheduled: every segment host 1 receives from now on has one byte flipped */
    sim_fault f = {.kind = SIM_FAULT_CORRUPTION, .hosts = (uint32_t[]){1}, .host_count = 1,
                   .loss_ppm = 1000000};
    assert_int_equal(sim_fault_at(w, SEC, &f, NULL), TP_OK);
    sim_run_until(w, SEC + 1);
    c.tx = data;
    c.tx_len = N;
    probe_pump(&c);
    sim_run_until(w, 10 * SEC);
    probe *r = &sv.pool[0];
    assert_int_equal(r->rx_len, N); /* nothing lost or reordered: only altered */
    size_t diffs = 0;
    for (size_t i = 0; i < N; i++) diffs += r->rx[i] != data[i];
    sim_stats st;
    sim_world_stats(w, &st);
    printf("# %zu bytes differ; %llu segments delivered, %llu corrupted\n", diffs,
           (unsigned long long)st.segments_delivered, (unsigned long long)st.messages_corrupted);
    assert_int_equal(diffs, st.segments_delivered);
    assert_int_equal(st.messages_corrupted, st.segments_delivered);
    assert_true(diffs >= N / 16384);
    /* the sender's direction is untouched (corruption is on what host 1 receives) */
    assert_int_equal(c.rx_len, 0);
    free(data);
    probe_free(&c);
    server_free(&sv);
    sim_world_destroy(w);
}

/* ------------------------------------------------------------------------------------ */
/* Causality (PARALLEL.md, simnet/README.md "Streams"): an event of a host touches only  */
/* that host's endpoints; the other end is reached by messages.                         */

typedef struct ctx_outcome {
    uint64_t hash, checks;
    sim_stats st;
    size_t echo_rx, stalled_rx;
    int64_t stalled_first_ns;
    tp_err echo_reason, reset_reason, reset_peer_reason, restarted_reason, ka_reason;
    int64_t ka_close_ns, ka_last_ns;
    uint32_t threads, parts;
} ctx_outcome;

/* Connects, transfers, an echo and a close, a reset, a transfer across a partition and
 * its heal, a crash and restart (the peer's next segment meets an RST) and a keepalive
 * timeout (a peer that crashed for good). */
static void ctx_workload(uint32_t threads, ctx_outcome *o) {
    sim_world *w = make_world(121, 6, 10 * MS, 2 * MS, NULL);
    if (threads > 1) assert_int_equal(sim_world_set_threads(w, threads), TP_OK);
    server echo = {0}, plain = {0}, far = {0};
    echo.echo = true;
    server_listen(&echo, sim_world_host(w, 1), 9732, 20);
    server_listen(&plain, sim_world_host(w, 2), 9732, 20);
    server_listen(&far, sim_world_host(w, 5), 9732, 20);
    const size_t N = 200000;
    uint8_t *data = pattern(N, 21);
    probe a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
    a.tx = data; /* echo, then close */
    a.tx_len = N;
    probe_connect(&a, sim_world_host(w, 0), sim_world_host(w, 1), 9732);
    b.tx = data; /* reset mid-transfer */
    b.tx_len = N;
    probe_connect(&b, sim_world_host(w, 3), sim_world_host(w, 2), 9732);
    probe_connect(&c, sim_world_host(w, 4), sim_world_host(w, 2), 9732); /* idle; its peer restarts */
    probe_connect(&d, sim_world_host(w, 5), sim_world_host(w, 1), 9732); /* stalled by a partition */
    probe_connect(&e, sim_world_host(w, 3), sim_world_host(w, 5), 9732); /* its client crashes */
    sim_run_until(w, SEC);
    assert_int_equal(a.connects + b.connects + c.connects + d.connects + e.connects, 5);
    uint32_t pa = 5, pb = 1, id;
    assert_int_equal(sim_partition(w, &pa, 1, &pb, 1, &id), TP_OK);
    d.tx = data;
    d.tx_len = N;
    probe_pump(&d);
    sim_run_until(w, 1100 * MS);
    tp_env_stream_reset(b.env, b.s);
    sim_run_until(w, 2 * SEC);
    sim_heal(w, id);
    /* host 2 restarts at 3 s without its connections (and its listener) */
    sim_host_crash(sim_world_host(w, 2));
    sim_run_until(w, 3 * SEC);
    sim_host_start(sim_world_host(w, 2));
    uint8_t small[100] = {7};
    c.tx = small;
    c.tx_len = sizeof small;
    probe_pump(&c);
    sim_run_until(w, 4 * SEC);
    sim_host_crash(sim_world_host(w, 3)); /* e's client, for good */
    sim_run_until(w, 80 * SEC);
    o->hash = sim_world_trace_hash(w);
    sim_world_stats(w, &o->st);
    o->checks = sim_world_context_checks(w);
    o->threads = sim_world_thread_count(w);
    o->parts = sim_world_part_count(w);
    o->echo_rx = a.rx_len;
    o->echo_reason = a.closes ? a.reason : TP_ERR_STATE;
    o->reset_reason = b.closes ? b.reason : TP_ERR_STATE;
    o->reset_peer_reason = plain.pool[0].closes ? plain.pool[0].reason : TP_ERR_STATE;
    o->restarted_reason = c.closes ? c.reason : TP_ERR_STATE;
    o->stalled_rx = d.rx_len; /* the echo of what waited for the heal */
    o->stalled_first_ns = d.first_data_ns;
    o->ka_reason = far.pool[0].closes ? far.pool[0].reason : TP_ERR_STATE;
    o->ka_close_ns = far.pool[0].close_ns;
    o->ka_last_ns = far.accept_ns; /* the last it heard: its client crashed before a probe */
    assert_true(memcmp(a.rx, data, a.rx_len) == 0);
    free(data);
    probe_free(&a);
    probe_free(&b);
    probe_free(&c);
    probe_free(&d);
    probe_free(&e);
    server_free(&echo);
    server_free(&plain);
    server_free(&far);
    sim_world_destroy(w);
}

static void test_streams_touch_only_their_host(void **state) {
    (void)state;
    ctx_outcome one = {0}, two = {0};
    ctx_workload(1, &one);
    printf("# %llu context checks, %llu segments delivered, trace %016llx\n",
           (unsigned long long)one.checks, (unsigned long long)one.st.segments_delivered,
           (unsigned long long)one.hash);
    /* every stream function ran its check (an aborted run never gets here) */
    assert_true(one.checks > one.st.segments_delivered);
    assert_int_equal(one.echo_rx, 200000);
    assert_int_equal(one.echo_reason, TP_ERR_STATE); /* still open: a only echoes */
    assert_int_equal(one.reset_reason, TP_ERR_CANCELLED);
    assert_int_equal(one.reset_peer_reason, TP_ERR_CONN_RESET);
    assert_int_equal(one.restarted_reason, TP_ERR_CONN_RESET);
    assert_int_equal(one.ka_reason, TP_ERR_TIMEOUT);
    /* keepalive probes unanswered for the user timeout (45 s), probing every 5 s */
    assert_true(one.ka_close_ns >= one.ka_last_ns + 45 * SEC && one.ka_close_ns <= one.ka_last_ns + 50 * SEC);
    assert_true(one.st.segments_retransmitted > 0); /* the partition stalled d */
    assert_int_equal(one.stalled_rx, 200000);
    assert_true(one.stalled_first_ns > 2 * SEC);
    /* the same run with the hosts on two threads: the same run */
    ctx_workload(2, &two);
    assert_int_equal(one.threads, 1);
    assert_int_equal(one.parts, 1);
    assert_int_equal(two.threads, 2);
    assert_true(two.parts > 2); /* its messages crossed partitions, taken in by windows */
    assert_int_equal(two.hash, one.hash);
    assert_memory_equal(&two.st, &one.st, sizeof one.st);
    assert_int_equal(two.checks, one.checks);
}

/* The check itself: host 0's callback writing on host 1's stream aborts the process. */
static probe *ctx_victim;

static void ctx_bad_data(void *arg, tp_stream *s, const uint8_t *d, size_t n) {
    (void)arg, (void)s, (void)d, (void)n;
    size_t taken;
    if (tp_env_stream_write(ctx_victim->env, ctx_victim->s, d, n, &taken) != TP_OK) _exit(4); /* host 1's */
}

static void test_cross_host_touch_aborts(void **state) {
    (void)state;
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sim_world *w = make_world(122, 2, 10 * MS, 0, NULL);
        server sv = {0};
        sv.tx = (const uint8_t *)"hello";
        sv.tx_len = 5;
        server_listen(&sv, sim_world_host(w, 1), 9732, 20);
        ctx_victim = &sv.pool[0];
        static const tp_stream_cbs bad = {cb_connect, ctx_bad_data, cb_eof, cb_writable, cb_close};
        probe c = {0};
        c.env = sim_host_env(sim_world_host(w, 0));
        tp_point to = {sim_host_ip(sim_world_host(w, 1)), 9732};
        if (tp_env_stream_connect(c.env, &to, &bad, &c, &c.s) != TP_OK) _exit(3);
        sim_run_until(w, SEC);
        _exit(0); /* the check did not fire */
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_stalls_then_heals),
        cmocka_unit_test(test_partition_past_user_timeout),
        cmocka_unit_test(test_idle_connection_survives_with_keepalive),
        cmocka_unit_test(test_crash_seen_as_timeout_by_waiting_peer),
        cmocka_unit_test(test_crash_running_apps_at_once),
        cmocka_unit_test(test_crash_seen_as_reset_after_restart),
        cmocka_unit_test(test_keepalive_finds_restarted_peer),
        cmocka_unit_test(test_keepalive_count_without_user_timeout),
        cmocka_unit_test(test_listener_close_resets_handshakes),
        cmocka_unit_test(test_latency_matrix_and_jitter),
        cmocka_unit_test(test_connect_to_down_or_cut_host),
        cmocka_unit_test(test_app_crash_and_restart),
        cmocka_unit_test(test_clean_stop_closes_gracefully),
        cmocka_unit_test(test_clean_stop_app_closes_in_stop),
        cmocka_unit_test(test_scheduled_partition_and_heal),
        cmocka_unit_test(test_lossy_link_delays_but_keeps_order),
        cmocka_unit_test(test_corruption_flips_one_byte_per_message),
        cmocka_unit_test(test_streams_touch_only_their_host),
        cmocka_unit_test(test_cross_host_touch_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
