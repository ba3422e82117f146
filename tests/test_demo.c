/* tests/test_demo.c — the demo flooding protocol: strict decoding (positive and
 * negative), and whole hosts on realnet's env over loopback in one process: flooding
 * through learned points, de-duplication by the per-origin window, hostile frames,
 * graceful stop, crash-drop. (The simulator runs the same source; its tests live with
 * simnet.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "demo/demo.h"
#include "realnet/rn.h"

static const tp_point LOOP4 = {{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}}, 0};

/* ------------------------------------------------------------------------------------ */
/* decoding                                                                             */

static size_t encode_body(const tp_demo_msg *m, uint8_t *body) {
    uint8_t frame[2 + TP_DEMO_FRAME_MAX];
    size_t n = tp_demo_encode(m, frame, sizeof frame);
    assert_true(n > 2);
    assert_int_equal((size_t)(frame[0] << 8 | frame[1]), n - 2); /* length prefix */
    memcpy(body, frame + 2, n - 2);
    return n - 2;
}

static void test_decode_roundtrip(void **state) {
    (void)state;
    uint8_t body[TP_DEMO_FRAME_MAX];
    tp_demo_msg in, out;
    memset(&in, 0, sizeof in);
    in.tag = TP_DEMO_HELLO;
    in.id = 0x0102030405060708ull;
    in.listen_port = 9732;
    size_t n = encode_body(&in, body);
    assert_int_equal(n, 11);
    assert_int_equal(tp_demo_decode(body, n, &out), TP_OK);
    assert_int_equal(out.tag, TP_DEMO_HELLO);
    assert_true(out.id == in.id);
    assert_int_equal(out.listen_port, 9732);

    memset(&in, 0, sizeof in);
    in.tag = TP_DEMO_PING;
    in.id = 42;
    in.seq = 7;
    in.sent_ns = 123456789012345;
    n = encode_body(&in, body);
    assert_int_equal(n, 21);
    assert_int_equal(tp_demo_decode(body, n, &out), TP_OK);
    assert_true(out.tag == TP_DEMO_PING && out.id == 42 && out.seq == 7);
    assert_true(out.sent_ns == 123456789012345);

    memset(&in, 0, sizeof in);
    in.tag = TP_DEMO_POINTS;
    in.points_count = TP_DEMO_POINTS_PER_MSG;
    for (uint32_t i = 0; i < in.points_count; i++) in.points[i] = tp_point_v4(0x0a000001 + i, (uint16_t)(1000 + i));
    n = encode_body(&in, body);
    assert_int_equal(n, 2 + 18 * TP_DEMO_POINTS_PER_MSG);
    assert_int_equal(tp_demo_decode(body, n, &out), TP_OK);
    assert_int_equal(out.points_count, TP_DEMO_POINTS_PER_MSG);
    for (uint32_t i = 0; i < in.points_count; i++) assert_true(tp_point_eq(&out.points[i], &in.points[i]));

    /* an empty POINTS is valid */
    in.points_count = 0;
    n = encode_body(&in, body);
    assert_int_equal(tp_demo_decode(body, n, &out), TP_OK);
    assert_int_equal(out.points_count, 0);
    /* a buffer too small: nothing encoded */
    uint8_t tiny[5];
    in.tag = TP_DEMO_PING;
    assert_int_equal(tp_demo_encode(&in, tiny, sizeof tiny), 0);
}

static void expect_decode_error(const uint8_t *body, size_t len, tp_err want) {
    tp_demo_msg out;
    memset(&out, 0xab, sizeof out);
    assert_int_equal(tp_demo_decode(body, len, &out), want);
    assert_int_equal(out.seq, 0xabababab); /* untouched on failure */
}

static void test_decode_negative(void **state) {
    (void)state;
    uint8_t body[TP_DEMO_FRAME_MAX + 8];
    memset(body, 0, sizeof body);
    tp_demo_msg m;
    memset(&m, 0, sizeof m);
    expect_decode_error(body, 0, TP_ERR_DECODE_TRUNCATED);
    body[0] = 0;
    expect_decode_error(body, 1, TP_ERR_DECODE_BAD_TAG);
    body[0] = 0x10;
    expect_decode_error(body, 1, TP_ERR_DECODE_BAD_TAG);
    /* HELLO: short and long */
    m.tag = TP_DEMO_HELLO;
    m.id = 5;
    size_t n = encode_body(&m, body);
    for (size_t cut = 1; cut < n; cut++) expect_decode_error(body, cut, TP_ERR_DECODE_TRUNCATED);
    body[n] = 0;
    expect_decode_error(body, n + 1, TP_ERR_DECODE_TRAILING);
    /* PING: seq 0 is invalid; truncated; trailing */
    m.tag = TP_DEMO_PING;
    m.seq = 0;
    n = encode_body(&m, body);
    expect_decode_error(body, n, TP_ERR_DECODE_BAD_VALUE);
    m.seq = 1;
    n = encode_body(&m, body);
    for (size_t cut = 1; cut < n; cut++) expect_decode_error(body, cut, TP_ERR_DECODE_TRUNCATED);
    expect_decode_error(body, n + 1, TP_ERR_DECODE_TRAILING);
    /* POINTS: count above the maximum, count larger than the data, port 0 */
    m.tag = TP_DEMO_POINTS;
    m.points_count = 2;
    m.points[0] = tp_point_v4(0x7f000001, 1);
    m.points[1] = tp_point_v4(0x7f000001, 2);
    n = encode_body(&m, body);
    body[1] = 3;
    expect_decode_error(body, n, TP_ERR_DECODE_TRUNCATED);
    body[1] = (uint8_t)(TP_DEMO_POINTS_PER_MSG + 1);
    expect_decode_error(body, n, TP_ERR_DECODE_TOO_LONG);
    body[1] = 1;
    expect_decode_error(body, n, TP_ERR_DECODE_TRAILING);
    body[1] = 2;
    body[n - 1] = 0;
    body[n - 2] = 0;
    expect_decode_error(body, n, TP_ERR_DECODE_BAD_POINT);
    /* anything above the frame maximum */
    memset(body, 0, sizeof body);
    body[0] = TP_DEMO_HELLO;
    expect_decode_error(body, TP_DEMO_FRAME_MAX + 1, TP_ERR_DECODE_TOO_LONG);
}

/* ------------------------------------------------------------------------------------ */
/* hosts on realnet                                                                     */

static void no_accept(void *arg, tp_listener *l, tp_stream *s, const tp_point *remote) {
    (void)arg;
    (void)l;
    (void)remote;
    fail_msg("unexpected connection to a port-probing listener");
}

/* A port the OS considers free right now (listen on port 0, read it, close). */
static uint16_t free_port(rn_loop *loop) {
    tp_listener *l = NULL;
    assert_int_equal(tp_env_listen(rn_loop_env(loop), &LOOP4, 1, no_accept, NULL, &l), TP_OK);
    tp_point p;
    rn_listener_point(l, &p);
    tp_env_listener_close(rn_loop_env(loop), l);
    return p.port;
}

static void spin(rn_loop *loop, bool (*cond)(void *), void *arg) {
    const tp_env *env = rn_loop_env(loop);
    int64_t give_up = tp_env_now_ns(env) + 15 * 1000000000LL;
    while (!cond(arg)) {
        assert_true(tp_env_now_ns(env) < give_up);
        tp_err e = rn_loop_run(loop, tp_env_now_ns(env) + 5000000);
        assert_true(e == TP_OK || e == TP_ERR_TIMEOUT);
    }
}

static rn_loop *quiet_loop(void) {
    rn_config cfg;
    rn_config_default(&cfg);
    rn_loop *loop = NULL;
    assert_int_equal(rn_loop_create(&cfg, &loop), TP_OK);
    return loop;
}

static void count_stop(void *arg) {
    (*(int *)arg)++;
}

#define HOSTS 4
#define PINGS 5

typedef struct flood_ctx {
    tp_demo *h[HOSTS];
    int stopped;
} flood_ctx;

static bool all_received(void *arg) {
    flood_ctx *c = arg;
    for (int i = 1; i < HOSTS; i++) {
        tp_demo_stats st;
        tp_demo_get_stats(c->h[i], &st);
        if (st.pings_unique < PINGS) return false;
    }
    return true;
}

static bool all_stopped(void *arg) {
    flood_ctx *c = arg;
    return c->stopped == HOSTS;
}

static void test_flood_in_process(void **state) {
    (void)state;
    rn_loop *loop = quiet_loop();
    const tp_env *env = rn_loop_env(loop);
    flood_ctx c;
    memset(&c, 0, sizeof c);
    tp_point pts[HOSTS];
    for (int i = 0; i < HOSTS; i++) {
        pts[i] = LOOP4;
        pts[i].port = free_port(loop);
    }
    for (int i = 0; i < HOSTS; i++) {
        tp_demo_config cfg;
        tp_demo_config_default(&cfg);
        cfg.listen = pts[i];
        cfg.seeds = i == 0 ? &pts[1] : &pts[0]; /* one seed each: the rest is learned */
        cfg.seeds_count = 1;
        cfg.peers_k = 3;
        cfg.maintenance_interval_ns = 20000000;
        cfg.originate = i == 0;
        cfg.pings = PINGS;
        cfg.ping_interval_ns = 20000000;
        cfg.ping_start_delay_ns = 400000000;
        cfg.on_stopped = count_stop;
        cfg.on_stopped_arg = &c.stopped;
        assert_int_equal(tp_demo_create(env, &cfg, &c.h[i]), TP_OK);
        assert_int_equal(tp_demo_start(c.h[i]), TP_OK);
    }
    spin(loop, all_received, &c);
    for (int i = 0; i < HOSTS; i++) {
        tp_demo_stats st;
        tp_demo_get_stats(c.h[i], &st);
        assert_int_equal(st.frames_bad, 0);
        assert_true(st.bytes_in > 0 && st.bytes_out > 0);
        assert_true(st.connections_open >= 1);
        /* learned every other host although it was given only one seed */
        assert_int_equal(st.points_known, HOSTS - 1);
        if (i == 0) {
            assert_int_equal(st.pings_originated, PINGS);
            assert_int_equal(st.pings_unique, 0);
            continue;
        }
        assert_int_equal(st.pings_originated, 0);
        assert_int_equal(st.pings_unique, PINGS);
        size_t n = 0;
        const int64_t *delays = tp_demo_delays(c.h[i], &n);
        assert_int_equal(n, PINGS);
        assert_int_equal(st.delay_count, PINGS);
        int64_t sum = 0;
        for (size_t k = 0; k < n; k++) {
            assert_true(delays[k] >= 0);
            assert_true(delays[k] >= st.delay_ns_min && delays[k] <= st.delay_ns_max);
            sum += delays[k];
        }
        assert_true(sum == st.delay_ns_sum);
    }
    for (int i = 0; i < HOSTS; i++) tp_demo_stop(c.h[i]);
    assert_int_equal(c.stopped, 0); /* delivered later, from a timer */
    spin(loop, all_stopped, &c);
    for (int i = 0; i < HOSTS; i++) {
        assert_true(tp_demo_is_stopped(c.h[i]));
        tp_demo_stats st;
        tp_demo_get_stats(c.h[i], &st);
        assert_int_equal(st.connections_open, 0);
        tp_demo_destroy(c.h[i]);
    }
    rn_loop_counts counts;
    rn_loop_get_counts(loop, &counts);
    assert_int_equal(counts.streams, 0);
    assert_int_equal(counts.listeners, 0);
    assert_int_equal(counts.timers, 0);
    rn_loop_destroy(loop);
}

/* A raw peer that speaks the wire format by hand. */
typedef struct raw_peer {
    rn_loop *loop;
    tp_stream *s;
    const uint8_t *script;
    size_t script_len;
    bool closed;
    tp_err reason;
} raw_peer;

static void raw_connect(void *arg, tp_stream *s) {
    raw_peer *r = arg;
    size_t taken = 0;
    assert_int_equal(tp_env_stream_write(rn_loop_env(r->loop), s, r->script, r->script_len, &taken),
                     TP_OK);
    assert_int_equal(taken, r->script_len);
}

static void raw_data(void *arg, tp_stream *s, const uint8_t *data, size_t len) {
    (void)arg;
    (void)s;
    (void)data;
    (void)len;
}

static void raw_writable(void *arg, tp_stream *s) {
    (void)arg;
    (void)s;
}

static void raw_close(void *arg, tp_stream *s, tp_err reason) {
    raw_peer *r = arg;
    r->closed = true;
    r->reason = reason;
}

static const tp_stream_cbs raw_cbs = {raw_connect, raw_data, NULL, raw_writable, raw_close};

static size_t put(uint8_t *buf, size_t at, const tp_demo_msg *m) {
    size_t n = tp_demo_encode(m, buf + at, 4096 - at);
    assert_true(n > 0);
    return at + n;
}

static tp_demo_msg ping(uint64_t origin, uint32_t seq) {
    tp_demo_msg m;
    memset(&m, 0, sizeof m);
    m.tag = TP_DEMO_PING;
    m.id = origin;
    m.seq = seq;
    m.sent_ns = 1;
    return m;
}

static bool raw_closed(void *arg) {
    return ((raw_peer *)arg)->closed;
}

/* A demo node with id 1 on a free loopback port that counts its stops in *stopped
 * (cfg must outlive it). */
static tp_demo *create_demo_1(rn_loop *loop, tp_demo_config *cfg, int *stopped) {
    tp_demo_config_default(cfg);
    cfg->listen = LOOP4;
    cfg->listen.port = free_port(loop);
    cfg->id = 1;
    cfg->on_stopped = count_stop;
    cfg->on_stopped_arg = stopped;
    tp_demo *d = NULL;
    assert_int_equal(tp_demo_create(rn_loop_env(loop), cfg, &d), TP_OK);
    return d;
}

static void test_hostile_and_duplicates(void **state) {
    (void)state;
    rn_loop *loop = quiet_loop();
    const tp_env *env = rn_loop_env(loop);
    tp_demo_config cfg;
    int stopped = 0;
    tp_demo *d = create_demo_1(loop, &cfg, &stopped);
    assert_int_equal(tp_demo_id(d), 1);
    assert_int_equal(tp_demo_start(d), TP_OK);

    /* HELLO, then pings of origin 3: 5 new, 3 new (older, inside the window), 3 again,
     * 300 new, 5 again but now 295 below the top: outside the 256-wide window, treated
     * as seen. Then a frame with length 0: hostile, the host resets. */
    uint8_t script[4096];
    size_t n = 0;
    tp_demo_msg hello;
    memset(&hello, 0, sizeof hello);
    hello.tag = TP_DEMO_HELLO;
    hello.id = 2;
    hello.listen_port = 0; /* announces no listening port */
    n = put(script, n, &hello);
    const uint32_t seqs[] = {5, 3, 3, 300, 5};
    for (size_t i = 0; i < 5; i++) {
        tp_demo_msg p = ping(3, seqs[i]);
        n = put(script, n, &p);
    }
    tp_demo_msg own = ping(1, 1); /* the host's own id comes back: a duplicate */
    n = put(script, n, &own);
    script[n++] = 0;
    script[n++] = 0;
    raw_peer r1 = {.loop = loop, .script = script, .script_len = n};
    assert_int_equal(tp_env_stream_connect(env, &cfg.listen, &raw_cbs, &r1, &r1.s), TP_OK);
    spin(loop, raw_closed, &r1);
    assert_int_equal(r1.reason, TP_ERR_CONN_RESET);
    tp_demo_stats st;
    tp_demo_get_stats(d, &st);
    assert_int_equal(st.pings_unique, 3);
    assert_int_equal(st.pings_duplicate, 3);
    assert_int_equal(st.frames_bad, 1);
    assert_int_equal(st.connections_in, 1);
    assert_int_equal(st.points_known, 0); /* no port announced: nothing learned */

    /* A PING before HELLO is a protocol violation. */
    uint8_t script2[64];
    tp_demo_msg p = ping(3, 1000);
    size_t n2 = tp_demo_encode(&p, script2, sizeof script2);
    raw_peer r2 = {.loop = loop, .script = script2, .script_len = n2};
    assert_int_equal(tp_env_stream_connect(env, &cfg.listen, &raw_cbs, &r2, &r2.s), TP_OK);
    spin(loop, raw_closed, &r2);
    assert_int_equal(r2.reason, TP_ERR_CONN_RESET);
    tp_demo_get_stats(d, &st);
    assert_int_equal(st.frames_bad, 2);
    assert_int_equal(st.pings_unique, 3);

    /* A length above the frame maximum. */
    uint8_t script3[2] = {0xff, 0xff};
    raw_peer r3 = {.loop = loop, .script = script3, .script_len = 2};
    assert_int_equal(tp_env_stream_connect(env, &cfg.listen, &raw_cbs, &r3, &r3.s), TP_OK);
    spin(loop, raw_closed, &r3);
    assert_int_equal(r3.reason, TP_ERR_CONN_RESET);
    tp_demo_get_stats(d, &st);
    assert_int_equal(st.frames_bad, 3);

    tp_demo_stop(d);
    while (!stopped) assert_true(rn_loop_run(loop, tp_env_now_ns(env) + 5000000) != TP_ERR_IO);
    tp_demo_destroy(d);
    rn_loop_destroy(loop);
}

/* Regression (found by tests/fuzz/fuzz_demo_frame): a PING's origin time is any i64 off
 * the wire; one far in the past made the delay `now - sent_ns` overflow (undefined
 * behaviour, caught by UBSan; a wrapped negative delay was then counted as 0). The delay
 * now saturates at INT64_MAX, and so does the sum; a time in the future counts as 0. */
static void test_hostile_ping_time(void **state) {
    (void)state;
    rn_loop *loop = quiet_loop();
    const tp_env *env = rn_loop_env(loop);
    tp_demo_config cfg;
    int stopped = 0;
    tp_demo *d = create_demo_1(loop, &cfg, &stopped);
    assert_int_equal(tp_demo_start(d), TP_OK);

    /* HELLO; a ping stamped INT64_MIN + 1 (the fuzzer's), one stamped INT64_MIN, one
     * from the far future; then a zero length so the host resets and the test knows
     * every frame was read. */
    uint8_t script[4096];
    size_t n = 0;
    tp_demo_msg hello;
    memset(&hello, 0, sizeof hello);
    hello.tag = TP_DEMO_HELLO;
    hello.id = 2;
    n = put(script, n, &hello);
    tp_demo_msg p = ping(3, 1);
    p.sent_ns = INT64_MIN + 1;
    n = put(script, n, &p);
    p = ping(3, 2);
    p.sent_ns = INT64_MIN;
    n = put(script, n, &p);
    p = ping(3, 3);
    p.sent_ns = INT64_MAX;
    n = put(script, n, &p);
    script[n++] = 0;
    script[n++] = 0;
    raw_peer r = {.loop = loop, .script = script, .script_len = n};
    assert_int_equal(tp_env_stream_connect(env, &cfg.listen, &raw_cbs, &r, &r.s), TP_OK);
    spin(loop, raw_closed, &r);
    assert_int_equal(r.reason, TP_ERR_CONN_RESET);
    tp_demo_stats st;
    tp_demo_get_stats(d, &st);
    assert_int_equal(st.pings_unique, 3);
    assert_int_equal(st.frames_bad, 1);
    assert_int_equal(st.delay_count, 3);
    assert_true(st.delay_ns_max == INT64_MAX);
    assert_true(st.delay_ns_min == 0);
    assert_true(st.delay_ns_sum == INT64_MAX);
    size_t count = 0;
    const int64_t *delays = tp_demo_delays(d, &count);
    assert_int_equal(count, 3);
    assert_true(delays[0] == INT64_MAX && delays[1] == INT64_MAX && delays[2] == 0);

    tp_demo_stop(d);
    while (!stopped) assert_true(rn_loop_run(loop, tp_env_now_ns(env) + 5000000) != TP_ERR_IO);
    tp_demo_destroy(d);
    rn_loop_destroy(loop);
}

static void test_create_invalid_and_addr_in_use(void **state) {
    (void)state;
    rn_loop *loop = quiet_loop();
    const tp_env *env = rn_loop_env(loop);
    tp_demo_config cfg;
    tp_demo_config_default(&cfg);
    tp_demo *d = NULL;
    cfg.listen = LOOP4; /* port 0 */
    assert_int_equal(tp_demo_create(env, &cfg, &d), TP_ERR_INVAL);
    cfg.listen.port = free_port(loop);
    cfg.peers_k = 0;
    assert_int_equal(tp_demo_create(env, &cfg, &d), TP_ERR_INVAL);
    cfg.peers_k = 40; /* > connections_max */
    assert_int_equal(tp_demo_create(env, &cfg, &d), TP_ERR_INVAL);
    assert_null(d);
    cfg.peers_k = 2;
    tp_demo *a = NULL, *b = NULL;
    assert_int_equal(tp_demo_create(env, &cfg, &a), TP_OK);
    assert_int_equal(tp_demo_create(env, &cfg, &b), TP_OK);
    assert_true(tp_demo_id(a) != tp_demo_id(b)); /* random ids */
    assert_int_equal(tp_demo_start(a), TP_OK);
    assert_int_equal(tp_demo_start(b), TP_ERR_ADDR_IN_USE);
    tp_demo_destroy(b); /* never started */
    tp_demo_stop(a);
    while (!tp_demo_is_stopped(a)) assert_true(rn_loop_run(loop, tp_env_now_ns(env) + 5000000) != TP_ERR_IO);
    /* let the stopped-notification timer fire before destroying */
    assert_int_equal(rn_loop_run(loop, tp_env_now_ns(env) + 5000000), TP_ERR_TIMEOUT);
    tp_demo_destroy(a);
    rn_loop_destroy(loop);
}

/* crash_drop frees everything without env calls; the loop then drops the handles
 * without callbacks (ASan checks there is neither a leak nor a use after free). */
static bool connected_pair(void *arg) {
    tp_demo **h = arg;
    tp_demo_stats a, b;
    tp_demo_get_stats(h[0], &a);
    tp_demo_get_stats(h[1], &b);
    return a.connections_open >= 1 && b.connections_open >= 1;
}

static void test_crash_drop(void **state) {
    (void)state;
    rn_loop *loop = quiet_loop();
    const tp_env *env = rn_loop_env(loop);
    tp_point pts[2] = {LOOP4, LOOP4};
    pts[0].port = free_port(loop);
    pts[1].port = free_port(loop);
    tp_demo *h[2];
    for (int i = 0; i < 2; i++) {
        tp_demo_config cfg;
        tp_demo_config_default(&cfg);
        cfg.listen = pts[i];
        cfg.seeds = &pts[1 - i];
        cfg.seeds_count = 1;
        cfg.maintenance_interval_ns = 20000000;
        assert_int_equal(tp_demo_create(env, &cfg, &h[i]), TP_OK);
        assert_int_equal(tp_demo_start(h[i]), TP_OK);
    }
    spin(loop, connected_pair, h);
    tp_demo_crash_drop(h[0]);
    tp_demo_crash_drop(h[1]);
    rn_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_roundtrip),
        cmocka_unit_test(test_decode_negative),
        cmocka_unit_test(test_flood_in_process),
        cmocka_unit_test(test_hostile_and_duplicates),
        cmocka_unit_test(test_hostile_ping_time),
        cmocka_unit_test(test_create_invalid_and_addr_in_use),
        cmocka_unit_test(test_crash_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
