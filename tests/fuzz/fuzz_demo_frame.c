/* tests/fuzz/fuzz_demo_frame.c — the demo protocol's decoding of bytes from a peer
 * (demo/demo.c): tp_demo_decode on one frame body, and a whole host's receive path
 * (on_data: u16 length prefix, body, dispatch) fed through a scripted env.
 *
 * Input layout: byte 0 = feed step (bytes per on_data call, 1..64) and flags (bit 6: the
 * host originates pings; bit 7: advance time between feeds so timers fire), then the
 * wire bytes a peer sends on one accepted connection. A second accepted connection has
 * sent a valid HELLO, so pings are forwarded to it.
 *
 * Properties. Decoder, on the wire bytes as one body: success means the frame
 * re-encodes to exactly those bytes (the decoder is strict and canonical); failure
 * leaves the out-param alone and is a TP_ERR_DECODE_* error; a body over
 * TP_DEMO_FRAME_MAX fails. Host: it resets the connection exactly when a reference
 * reading of the same bytes (frames split by their length prefix, decoded with
 * tp_demo_decode, HELLO first and only once) finds a violation, and then counts one bad
 * frame; it closes (no reset) on a HELLO with its own id; it forwards every new ping to
 * the other connection; it never writes to or reads from a stream after closing it;
 * every byte is freed after stop and destroy. */
#include "fuzz.h"

#include "demo/demo.h"
#include "tests/mock_env.h"

#define HOST_ID UINT64_C(0x1111111111111111)
#define PEER_B_ID UINT64_C(0x2222222222222222)

typedef struct fake_stream {
    const tp_stream_cbs *cbs;
    void *arg;
    bool adopted, closed, reset, on_close_done;
    size_t written;
} fake_stream;

static struct {
    mock_env m;
    tp_env_ops ops;
    tp_accept_cb accept_cb;
    void *accept_arg;
    fake_stream streams[2];
} h;

static tp_err f_listen(void *ctx, const tp_point *local, int backlog, tp_accept_cb cb,
                       void *arg, tp_listener **out) {
    h.accept_cb = cb;
    h.accept_arg = arg;
    *out = (tp_listener *)&h.accept_cb; /* any non-NULL handle */
    return TP_OK;
}
static void f_listener_close(void *ctx, tp_listener *l) {
    h.accept_cb = NULL;
}
static void f_adopt(void *ctx, tp_stream *s, const tp_stream_cbs *cbs, void *arg) {
    fake_stream *f = (fake_stream *)s;
    FUZZ_CHECK(!f->adopted);
    f->adopted = true;
    f->cbs = cbs;
    f->arg = arg;
}
static tp_err f_write(void *ctx, tp_stream *s, const uint8_t *data, size_t len, size_t *taken) {
    fake_stream *f = (fake_stream *)s;
    FUZZ_CHECK(!f->closed && !f->on_close_done);
    f->written += len;
    *taken = len;
    return TP_OK;
}
static void f_noop(void *ctx, tp_stream *s) {
}
static void f_close(void *ctx, tp_stream *s) {
    fake_stream *f = (fake_stream *)s;
    FUZZ_CHECK(!f->closed);
    f->closed = true;
}
static void f_reset(void *ctx, tp_stream *s) {
    fake_stream *f = (fake_stream *)s;
    FUZZ_CHECK(!f->closed);
    f->closed = true;
    f->reset = true;
}
static void f_addresses(void *ctx, tp_stream *s, tp_point *local, tp_point *remote) {
    if (local) *local = tp_point_v4(0x7f000001, 9000);
    if (remote) *remote = tp_point_v4(0x7f000002, (uint16_t)(40000 + ((fake_stream *)s - h.streams)));
}

/* Delivers on_close to a stream the host closed (the env does it later, on a fresh
 * stack: never from inside the close call). */
static void settle(fake_stream *f) {
    if (f->closed && !f->on_close_done) {
        f->on_close_done = true;
        f->cbs->on_close(f->arg, (tp_stream *)f, f->reset ? TP_ERR_CANCELLED : TP_OK);
    }
}

/* The reference reading of the wire: what the host must do with these bytes. */
typedef struct expect {
    bool reset;          /* a violation: the host resets */
    bool closed;         /* HELLO with the host's own id: the host closes */
    uint32_t pings;      /* PING frames the host handled before stopping */
} expect;

static expect reference(const uint8_t *wire, size_t len) {
    expect x = {false, false, 0};
    bool hello = false;
    size_t off = 0;
    while (len - off >= 2) {
        size_t body = (size_t)wire[off] << 8 | wire[off + 1];
        if (body == 0 || body > TP_DEMO_FRAME_MAX) {
            x.reset = true;
            return x;
        }
        if (len - off - 2 < body) return x; /* an incomplete frame waits */
        tp_demo_msg m;
        if (tp_demo_decode(wire + off + 2, body, &m) != TP_OK) {
            x.reset = true;
            return x;
        }
        off += 2 + body;
        if (m.tag == TP_DEMO_HELLO) {
            if (hello) {
                x.reset = true;
                return x;
            }
            if (m.id == HOST_ID) {
                x.closed = true;
                return x;
            }
            hello = true;
        } else if (!hello) {
            x.reset = true;
            return x;
        } else if (m.tag == TP_DEMO_PING) {
            x.pings++;
        }
    }
    return x;
}

static void check_decoder(const uint8_t *body, size_t len) {
    tp_demo_msg m, sentinel;
    memset(&sentinel, 0xa5, sizeof sentinel);
    m = sentinel;
    tp_err e = tp_demo_decode(body, len, &m);
    if (e != TP_OK) {
        FUZZ_CHECK(e == TP_ERR_DECODE_TRUNCATED || e == TP_ERR_DECODE_TRAILING ||
                   e == TP_ERR_DECODE_TOO_LONG || e == TP_ERR_DECODE_BAD_TAG ||
                   e == TP_ERR_DECODE_BAD_VALUE || e == TP_ERR_DECODE_BAD_POINT);
        FUZZ_CHECK(memcmp(&m, &sentinel, sizeof m) == 0);
        return;
    }
    FUZZ_CHECK(len >= 1 && len <= TP_DEMO_FRAME_MAX);
    uint8_t frame[2 + TP_DEMO_FRAME_MAX];
    size_t n = tp_demo_encode(&m, frame, sizeof frame);
    FUZZ_CHECK(n == 2 + len);
    FUZZ_CHECK(((size_t)frame[0] << 8 | frame[1]) == len);
    FUZZ_CHECK(memcmp(frame + 2, body, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t step = (size_t)(data[0] & 0x3f) + 1;
    bool originate = data[0] & 0x40, tick = data[0] & 0x80;
    const uint8_t *wire = data + 1;
    size_t wire_len = size - 1;

    check_decoder(wire, wire_len);

    memset(&h, 0, sizeof h);
    mock_env_init(&h.m, 7);
    h.ops = mock_env_ops;
    h.ops.listen = f_listen;
    h.ops.listener_close = f_listener_close;
    h.ops.stream_adopt = f_adopt;
    h.ops.stream_write = f_write;
    h.ops.stream_read_pause = f_noop;
    h.ops.stream_read_resume = f_noop;
    h.ops.stream_shutdown_write = f_noop;
    h.ops.stream_close = f_close;
    h.ops.stream_reset = f_reset;
    h.ops.stream_addresses = f_addresses;
    h.m.env.ops = &h.ops;
    const tp_env *env = &h.m.env;

    tp_demo_config cfg;
    tp_demo_config_default(&cfg);
    cfg.listen = tp_point_v4(0x7f000001, 9000);
    cfg.id = HOST_ID;
    cfg.originate = originate;
    cfg.pings = 3;
    cfg.ping_start_delay_ns = 0;
    cfg.points_max = 16;
    tp_demo *d;
    FUZZ_CHECK(tp_demo_create(env, &cfg, &d) == TP_OK);
    FUZZ_CHECK(tp_demo_start(d) == TP_OK);

    /* connection B: a well-behaved peer, ready to receive forwarded pings */
    fake_stream *a = &h.streams[0], *b = &h.streams[1];
    tp_point remote_b = tp_point_v4(0x7f000002, 40001);
    h.accept_cb(h.accept_arg, (tp_listener *)&h.accept_cb, (tp_stream *)b, &remote_b);
    FUZZ_CHECK(b->adopted && b->written > 0);
    tp_demo_msg hello;
    memset(&hello, 0, sizeof hello);
    hello.tag = TP_DEMO_HELLO;
    hello.id = PEER_B_ID;
    hello.listen_port = 9001;
    uint8_t frame[2 + TP_DEMO_FRAME_MAX];
    size_t n = tp_demo_encode(&hello, frame, sizeof frame);
    b->cbs->on_data(b->arg, (tp_stream *)b, frame, n);
    FUZZ_CHECK(!b->closed);

    /* connection A: the fuzzed peer */
    tp_point remote_a = tp_point_v4(0x7f000002, 40000);
    h.accept_cb(h.accept_arg, (tp_listener *)&h.accept_cb, (tp_stream *)a, &remote_a);
    FUZZ_CHECK(a->adopted);
    size_t b_before = b->written;
    tp_demo_stats st0;
    tp_demo_get_stats(d, &st0);

    size_t off = 0;
    while (off < wire_len && !a->closed) {
        size_t piece = wire_len - off < step ? wire_len - off : step;
        a->cbs->on_data(a->arg, (tp_stream *)a, wire + off, piece);
        off += piece;
        if (tick) mock_env_advance(&h.m, 100000000); /* 100 ms: maintenance, pings */
    }

    /* the host did what the reference reading says */
    expect x = reference(wire, wire_len);
    tp_demo_stats st;
    tp_demo_get_stats(d, &st);
    FUZZ_CHECK(a->reset == x.reset);
    FUZZ_CHECK(a->closed == (x.reset || x.closed));
    FUZZ_CHECK(st.frames_bad - st0.frames_bad == (x.reset ? 1u : 0u));
    FUZZ_CHECK(st.pings_unique + st.pings_duplicate == x.pings);
    FUZZ_CHECK(!b->closed);
    if (!tick && !originate) { /* every new ping, and only those, went to B */
        FUZZ_CHECK(b->written - b_before == (size_t)st.pings_unique * (2 + 21));
        FUZZ_CHECK(st.pings_forwarded == st.pings_unique);
    }
    settle(a);

    /* stop, let the env deliver the closes, destroy: nothing may leak */
    tp_demo_stop(d);
    settle(a);
    settle(b);
    mock_env_advance(&h.m, 1);
    FUZZ_CHECK(tp_demo_is_stopped(d));
    tp_demo_destroy(d);
    FUZZ_CHECK(mock_env_bytes_allocated(&h.m) == 0);
    return 0;
}
