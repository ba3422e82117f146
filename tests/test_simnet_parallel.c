/* tests/test_simnet_parallel.c — one simulation on several threads gives the run it gives
 * on one (issue 21; simnet/README.md "Parallel runs").
 *
 * A gossip application over datagrams (timers, random draws, broadcasts, forwarding,
 * event reports, disk writes) on 240 hosts in four regions, with scheduled faults
 * (partition and heal, crashes, restarts, clean stops, link loss, corruption, a latency
 * change, clock drift) and world timers that read every host at the barrier, runs at
 * 1, 2, 3, 4 and 8 threads (more threads than this machine has cores too). Everything
 * observable must be equal: the trace hash, every stat, the ordered stream of events
 * handed to event_cb, what the world timers saw, each host's final state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/env.h"
#include "simnet/sim.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define HOSTS 240u
#define PORT 7000

typedef struct gapp {
    const tp_env *env;
    sim_host *host;
    uint32_t index;
    tp_dgram *d;
    tp_timer t;
    bool running;
    uint64_t sent, received, forwarded, bytes, digest;
    uint32_t round;
    const tp_point *peers; /* every host's point, read-only */
} gapp;

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v;
    h *= 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

static uint32_t draw(const tp_env *env, uint32_t bound) {
    uint32_t x;
    tp_env_random(env, &x, sizeof x);
    return x % bound;
}

static void send_to(gapp *a, const tp_point *to, uint8_t ttl) {
    uint8_t buf[64];
    memset(buf, 0, sizeof buf);
    memcpy(buf, &a->index, 4);
    memcpy(buf + 4, &a->round, 4);
    buf[8] = ttl;
    size_t len = 16 + draw(a->env, 48);
    if (tp_env_dgram_send(a->env, a->d, to, buf, len) == TP_OK) a->sent++;
}

static void on_timer(void *arg) {
    gapp *a = arg;
    a->round++;
    const tp_point *to = &a->peers[draw(a->env, HOSTS)];
    send_to(a, to, 3);
    if (a->round % 17 == 0) { /* a subnet broadcast (10.r.0.255) */
        tp_point b = a->peers[a->index];
        b.ip.bytes[15] = 255;
        send_to(a, &b, 0);
    }
    if (a->round % 9 == 0) {
        char name[32];
        snprintf(name, sizeof name, "state%u", a->round % 3);
        uint8_t blob[40];
        memcpy(blob, &a->digest, 8);
        memset(blob + 8, (int)a->round, sizeof blob - 8);
        assert_int_equal(tp_env_file_write(a->env, name, blob, sizeof blob), TP_OK);
    }
    tp_env_timer_start(a->env, &a->t, tp_env_now_ns(a->env) + 20 * MS + (int64_t)draw(a->env, 80) * MS);
}

static void on_dgram(void *arg, tp_dgram *d, const tp_point *from, const uint8_t *data,
                     size_t len) {
    (void)d;
    gapp *a = arg;
    a->received++;
    a->bytes += len;
    a->digest = mix(mix(a->digest, (uint64_t)tp_env_now_ns(a->env)), from->ip.bytes[15]);
    for (size_t i = 0; i < len; i++) a->digest = mix(a->digest, data[i]);
    uint8_t ttl = len > 8 ? data[8] : 0;
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TP_EVENT_DEMO;
    ev.code = (int32_t)ttl;
    ev.flags = TP_EVENT_HAS_POINT;
    ev.point = *from;
    ev.detail = (a->received % 5 == 0) ? "fifth" : NULL;
    tp_env_event(a->env, &ev);
    if (ttl > 0 && ttl < 4) {
        a->forwarded++;
        send_to(a, &a->peers[draw(a->env, HOSTS)], (uint8_t)(ttl - 1));
    }
}

static void app_start(void *app, sim_host *h, const tp_env *env) {
    gapp *a = app;
    a->env = env;
    a->host = h;
    a->running = true;
    tp_point local = {{{0}}, PORT};
    assert_int_equal(tp_env_dgram_open(env, &local, on_dgram, a, &a->d), TP_OK);
    uint8_t buf[40];
    size_t n = 0;
    if (tp_env_file_read(env, "state0", buf, sizeof buf, &n) == TP_OK && n >= 8) {
        uint64_t old;
        memcpy(&old, buf, 8);
        a->digest = mix(a->digest, old);
    }
    tp_timer_init(&a->t, on_timer, a);
    tp_env_timer_start(env, &a->t, tp_env_now_ns(env) + (int64_t)draw(env, 100) * MS);
}

static void app_stop(void *app, sim_host *h, const tp_env *env) {
    (void)h;
    gapp *a = app;
    tp_env_timer_stop(env, &a->t);
    tp_env_dgram_close(env, a->d);
    a->d = NULL;
}

static void app_halt(void *app, sim_host *h, const tp_env *env) {
    (void)h;
    (void)env;
    gapp *a = app;
    a->running = false;
    a->d = NULL;
}

static const sim_app_ops gapp_ops = {app_start, app_stop, app_halt};

/* What the world sees, in the order it sees it. */
typedef struct observer {
    uint64_t events;      /* digest of event_cb calls, in call order */
    uint64_t event_count;
    int64_t last_t;
    uint64_t samples;     /* digest of what the world timers read */
    uint64_t barriers;
    sim_world *w;
    gapp *apps;
    tp_timer sample, chaos;
    int chaos_round;
    bool order_ok;
    uint64_t pred_target;
} observer;

static void on_event(void *arg, uint32_t host, int64_t t, const tp_event *ev) {
    observer *o = arg;
    if (t < o->last_t) o->order_ok = false;
    o->last_t = t;
    o->event_count++;
    o->events = mix(mix(mix(mix(o->events, host), (uint64_t)t), (uint64_t)ev->kind), (uint64_t)ev->code);
    if (ev->detail) o->events = mix(o->events, (uint64_t)strlen(ev->detail));
}

static void on_barrier(void *arg, sim_world *w) {
    observer *o = arg;
    (void)w;
    o->barriers++;
}

static void sample_fire(void *arg) {
    observer *o = arg;
    /* world-level code at a barrier: every host may be read */
    for (uint32_t i = 0; i < HOSTS; i++)
        o->samples = mix(mix(o->samples, o->apps[i].received), o->apps[i].sent);
    o->samples = mix(o->samples, (uint64_t)sim_world_now_ns(o->w));
    sim_world_timer_start(o->w, &o->sample, sim_world_now_ns(o->w) + 700 * MS);
}

static void chaos_fire(void *arg) {
    /* a world timer that acts directly (as Lua callbacks do) */
    observer *o = arg;
    uint32_t k = (uint32_t)(o->chaos_round++ * 37 + 11) % HOSTS;
    sim_host *h = sim_world_host(o->w, k);
    if (sim_host_get_state(h) == SIM_HOST_UP && sim_host_app_running(h))
        sim_host_crash(h);
    else
        sim_host_start(h);
    sim_world_timer_start(o->w, &o->chaos, sim_world_now_ns(o->w) + 450 * MS);
}

typedef struct run_result {
    uint64_t trace, events, event_count, samples;
    sim_stats st;
    uint64_t host_digest;
    int64_t now;
    uint32_t threads, parts;
    uint64_t windows;
    uint64_t parts_run, parts_taken, messages;
    bool order_ok;
    int64_t pred_stop_ns;
} run_result;

static bool pred_many(void *arg) {
    observer *o = arg;
    return o->event_count >= o->pred_target;
}

/* The workload on `threads` threads and `parts` partitions (0: the default). */
static run_result run_parts(uint32_t threads, uint32_t parts, uint64_t seed) {
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.seed = seed;
    cfg.region_count = 4;
    sim_latency lat[16];
    for (uint32_t a = 0; a < 4; a++)
        for (uint32_t b = 0; b < 4; b++)
            lat[a * 4 + b] = (sim_latency){(a == b ? 3 : 20 + 7 * (a + b)) * MS, (a == b ? 2 : 9) * MS};
    cfg.latency = lat;
    observer *o = calloc(1, sizeof *o);
    assert_non_null(o);
    o->order_ok = true;
    cfg.event_cb = on_event;
    cfg.event_arg = o;
    cfg.barrier_cb = on_barrier;
    cfg.barrier_arg = o;
    cfg.disk_sync_delay_ns = 200 * MS;
    sim_world *w = NULL;
    assert_int_equal(sim_world_create(&cfg, &w), TP_OK);
    o->w = w;
    for (uint32_t r = 0; r < 4; r++) {
        uint32_t first;
        assert_int_equal(sim_hosts_add_in_region(w, r, HOSTS / 4, NULL, &first), TP_OK);
    }
    assert_int_equal(sim_world_set_threads(w, threads), TP_OK);
    assert_int_equal(sim_world_set_partitions(w, parts), TP_OK);
    static tp_point peers[HOSTS];
    for (uint32_t i = 0; i < HOSTS; i++) peers[i] = (tp_point){sim_host_ip(sim_world_host(w, i)), PORT};
    gapp *apps = calloc(HOSTS, sizeof *apps);
    assert_non_null(apps);
    o->apps = apps;
    for (uint32_t i = 0; i < HOSTS; i++) {
        apps[i].index = i;
        apps[i].peers = peers;
        sim_host *h = sim_world_host(w, i);
        if (i % 7 == 3) sim_host_set_bandwidth(h, 200000, 0);
        sim_host_set_app(h, &gapp_ops, &apps[i]);
        sim_host_start(h);
    }
    /* scheduled faults */
    uint32_t a_side[HOSTS / 3], crash[5] = {5, 66, 127, 188, 239}, stop[3] = {10, 70, 130};
    for (uint32_t i = 0; i < HOSTS / 3; i++) a_side[i] = i * 3;
    uint32_t pid = 0;
    sim_fault f = {.kind = SIM_FAULT_PARTITION, .hosts = a_side, .host_count = HOSTS / 3};
    assert_int_equal(sim_fault_at(w, 2 * SEC, &f, &pid), TP_OK);
    f = (sim_fault){.kind = SIM_FAULT_HEAL, .partition_id = pid};
    assert_int_equal(sim_fault_at(w, 4 * SEC, &f, NULL), TP_OK);
    f = (sim_fault){.kind = SIM_FAULT_CRASH, .hosts = crash, .host_count = 5};
    assert_int_equal(sim_fault_at(w, 3 * SEC + 7 * MS, &f, NULL), TP_OK);
    f = (sim_fault){.kind = SIM_FAULT_START, .hosts = crash, .host_count = 5};
    assert_int_equal(sim_fault_at(w, 5 * SEC, &f, NULL), TP_OK);
    f = (sim_fault){.kind = SIM_FAULT_STOP, .hosts = stop, .host_count = 3, .value_ns = 300 * MS};
    assert_int_equal(sim_fault_at(w, 1500 * MS, &f, NULL), TP_OK);
    f = (sim_fault){.kind = SIM_FAULT_START, .hosts = stop, .host_count = 3};
    assert_int_equal(sim_fault_at(w, 6 * SEC, &f, NULL), TP_OK);
    f = (sim_fault){.kind = SIM_FAULT_HOST_LOSS, .hosts = stop, .host_count = 3, .loss_ppm = 200000};
    assert_int_equal(sim_fault_at(w, 1 * SEC, &f, NULL), TP_OK);
    f = (sim_fault){.kind = SIM_FAULT_CORRUPTION, .hosts = crash, .host_count = 5, .loss_ppm = 300000};
    assert_int_equal(sim_fault_at(w, 500 * MS, &f, NULL), TP_OK);
    f = (sim_fault){.kind = SIM_FAULT_LATENCY, .region_a = 1, .region_b = 2, .value_ns = 60 * MS,
                    .jitter_ns = 30 * MS};
    assert_int_equal(sim_fault_at(w, 3500 * MS, &f, NULL), TP_OK);
    f = (sim_fault){.kind = SIM_FAULT_REGION_LOSS, .region_a = 0, .region_b = 3, .loss_ppm = 100000};
    assert_int_equal(sim_fault_at(w, 2500 * MS, &f, NULL), TP_OK);
    f = (sim_fault){.kind = SIM_FAULT_CLOCK_DRIFT, .hosts = crash, .host_count = 2, .drift_ppm = 500};
    assert_int_equal(sim_fault_at(w, 700 * MS, &f, NULL), TP_OK);
    tp_timer_init(&o->sample, sample_fire, o);
    sim_world_timer_start(w, &o->sample, 333 * MS);
    tp_timer_init(&o->chaos, chaos_fire, o);
    sim_world_timer_start(w, &o->chaos, 1 * SEC + 1);

    run_result r;
    memset(&r, 0, sizeof r);
    sim_run_until(w, 4 * SEC);
    o->pred_target = o->event_count + 5000;
    r.pred_stop_ns = sim_run_until_pred(w, pred_many, o, 30 * SEC) ? sim_world_now_ns(w) : -1;
    sim_run_until(w, 8 * SEC);
    r.trace = sim_world_trace_hash(w);
    r.events = o->events;
    r.event_count = o->event_count;
    r.samples = o->samples;
    r.order_ok = o->order_ok;
    sim_world_stats(w, &r.st);
    for (uint32_t i = 0; i < HOSTS; i++)
        r.host_digest = mix(mix(mix(r.host_digest, apps[i].digest), apps[i].received), apps[i].forwarded);
    r.now = sim_world_now_ns(w);
    r.threads = sim_world_thread_count(w);
    r.parts = sim_world_part_count(w);
    sim_run_stats rs;
    sim_world_run_stats(w, &rs);
    r.windows = rs.windows;
    assert_int_equal(rs.threads, r.threads);
    assert_int_equal(rs.parts, r.parts);
    for (uint32_t i = 0; i < rs.threads; i++) {
        r.parts_run += rs.thread[i].parts_run;
        r.parts_taken += rs.thread[i].parts_taken;
    }
    r.messages = rs.messages;
    /* every partition ran in every window, once (the counters hand each out once) */
    assert_int_equal(r.parts_run, rs.windows * rs.parts);
    assert_true(r.parts_taken <= r.parts_run);
    /* with partitions, the gossip crossed them in outboxes */
    assert_true(rs.parts == 1 ? r.messages == 0 : r.messages > 1000);
    uint64_t events = 0;
    uint32_t hosts = 0;
    for (uint32_t i = 0; i < rs.parts; i++) {
        events += rs.part[i].events;
        hosts += rs.part[i].hosts;
    }
    assert_int_equal(hosts, HOSTS);
    /* host events ran in the partitions; the rest were world events at barriers */
    assert_true(events > 0 && events <= r.st.events_executed);
    assert_true(o->barriers >= rs.windows);
    printf("# threads %u/%u, partitions %u/%u: %llu windows, %llu partition-windows (%llu "
           "taken from another thread's list), %llu messages between partitions, trace %016llx, "
           "%llu events reported, %llu datagrams, lookahead %lld ns%s%s\n",
           threads, r.threads, parts, r.parts, (unsigned long long)r.windows,
           (unsigned long long)r.parts_run, (unsigned long long)r.parts_taken,
           (unsigned long long)r.messages, (unsigned long long)r.trace,
           (unsigned long long)r.event_count, (unsigned long long)r.st.datagrams_delivered,
           (long long)sim_world_lookahead_ns(w), sim_world_threads_note(w)[0] ? "; " : "",
           sim_world_threads_note(w));
    sim_world_crash_running_apps(w);
    sim_world_destroy(w);
    free(apps);
    free(o);
    return r;
}

static run_result run(uint32_t threads, uint64_t seed) { return run_parts(threads, 0, seed); }

static void assert_same(const run_result *a, const run_result *b) {
    assert_int_equal(a->trace, b->trace);
    assert_int_equal(a->events, b->events);
    assert_int_equal(a->event_count, b->event_count);
    assert_int_equal(a->samples, b->samples);
    assert_int_equal(a->host_digest, b->host_digest);
    assert_int_equal(a->now, b->now);
    assert_int_equal(a->pred_stop_ns, b->pred_stop_ns);
    assert_int_equal(a->windows, b->windows);
    assert_memory_equal(&a->st, &b->st, sizeof a->st);
}

static void test_same_run_at_any_thread_count(void **state) {
    (void)state;
    run_result one = run(1, 42);
    assert_int_equal(one.threads, 1);
    assert_int_equal(one.parts, 1);
    assert_true(one.order_ok);
    /* the workload did something: datagrams, losses, forwarding, a predicate stop */
    assert_true(one.st.datagrams_delivered > 20000);
    assert_true(one.st.datagrams_lost > 100);
    assert_true(one.st.messages_corrupted > 0);
    assert_true(one.st.host_crashes >= 5);
    assert_true(one.pred_stop_ns > 4 * SEC);
    static const uint32_t ts[] = {2, 3, 4, 8};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        run_result r = run(ts[i], 42);
        assert_int_equal(r.threads, ts[i]);
        assert_int_equal(r.parts, ts[i] * SIM_PARTS_PER_THREAD);
        assert_true(r.order_ok);
        assert_same(&one, &r);
    }
    /* other layouts: a partition per thread (each thread runs its own list only when
     * none falls behind), several partitions on one thread, uneven lists, and fewer
     * partitions than threads (the threads are cut to the partitions) */
    static const uint32_t layouts[][4] = {{2, 2, 2, 2}, {1, 5, 1, 5}, {3, 7, 3, 7}, {4, 2, 2, 2}};
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        run_result r = run_parts(layouts[i][0], layouts[i][1], 42);
        assert_int_equal(r.threads, layouts[i][2]);
        assert_int_equal(r.parts, layouts[i][3]);
        assert_true(r.order_ok);
        assert_same(&one, &r);
    }
    /* another seed is another run */
    run_result other = run(2, 43);
    assert_true(other.trace != one.trace);
}

/* A world of 4 hosts in one region on `threads` threads, run for a second. */
static sim_world *four_hosts(const sim_world_config *cfg, uint32_t threads, uint32_t parts) {
    sim_world *w = NULL;
    assert_int_equal(sim_world_create(cfg, &w), TP_OK);
    uint32_t first;
    assert_int_equal(sim_hosts_add_in_region(w, 0, 4, NULL, &first), TP_OK);
    assert_int_equal(sim_world_set_threads(w, threads), TP_OK);
    assert_int_equal(sim_world_set_partitions(w, parts), TP_OK);
    sim_run_until(w, SEC);
    return w;
}

static void test_zero_latency_runs_on_one_thread(void **state) {
    (void)state;
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.default_latency.base_ns = 0;
    cfg.default_latency.jitter_ns = 1000;
    sim_world *w = four_hosts(&cfg, 4, 0);
    assert_int_equal(sim_world_part_count(w), 1);
    assert_int_equal(sim_world_lookahead_ns(w), 0);
    assert_non_null(strstr(sim_world_threads_note(w), "zero-latency"));
    /* the thread count is fixed by the first run */
    assert_int_equal(sim_world_set_threads(w, 2), TP_ERR_INVAL);
    sim_world_destroy(w);
    /* a lookahead too short to gain from threads: one thread, and it says why */
    cfg.default_latency.base_ns = 20000;
    w = four_hosts(&cfg, 2, 0);
    assert_int_equal(sim_world_part_count(w), 1);
    assert_int_equal(sim_world_lookahead_ns(w), 20000);
    assert_non_null(strstr(sim_world_threads_note(w), "too short"));
    sim_world_destroy(w);
    /* bad counts */
    assert_int_equal(sim_world_create(&cfg, &w), TP_OK);
    assert_int_equal(sim_world_set_threads(w, 0), TP_ERR_INVAL);
    assert_int_equal(sim_world_set_threads(w, SIM_THREADS_MAX + 1), TP_ERR_INVAL);
    assert_int_equal(sim_world_set_partitions(w, SIM_THREADS_MAX + 1), TP_ERR_INVAL);
    sim_world_destroy(w);
    /* more threads than partitions: the threads are cut, and it says why */
    cfg.default_latency.base_ns = 5 * MS;
    w = four_hosts(&cfg, 8, 3);
    assert_int_equal(sim_world_thread_count(w), 3);
    assert_int_equal(sim_world_part_count(w), 3);
    assert_non_null(strstr(sim_world_threads_note(w), "3 partitions"));
    /* the partition count is fixed by the first run too */
    assert_int_equal(sim_world_set_partitions(w, 2), TP_ERR_INVAL);
    sim_world_destroy(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_run_at_any_thread_count),
        cmocka_unit_test(test_zero_latency_runs_on_one_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
