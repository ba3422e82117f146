/* tests/hostile.h — hostile peers for simulation tests: small sim apps on their own
 * hosts that speak raw bytes over env streams to one target point.
 *
 * Modes:
 * - STALL: TCP connect, then silence (the target's authentication timeout must fire).
 * - GARBAGE: sends `00 0a "Hello, world. This is garbage"` (Octez's "check ip
 *   greylisting" bytes): a connection message too short to decode.
 * - LOW_POW: a well-formed connection message whose stamp misses the target's PoW.
 * - FLOOD_ADVERTISE: a valid handshake (through core's own tp_socket, as an honest
 *   peer would), then Advertise messages as fast as the transport takes them.
 * - BIG_PREFIX: a valid handshake, then one message whose size prefix announces more
 *   than 100 MiB.
 * - BAD_ACK: a valid handshake up to the metadata, then a chunk with a bad MAC where
 *   its Ack should be (an error in the Ack exchange).
 * - BAD_MAC: a valid handshake, then, on the running connection, a chunk with a bad
 *   MAC.
 * Kept in tests/ (simnet must not depend on core's protocol); the Lua bindings can
 * reuse this file later. Header-only; include after tests/sim_harness.h.
 */
#ifndef TP_TESTS_HOSTILE_H
#define TP_TESTS_HOSTILE_H

#include "core/encoding.h"
#include "core/socket.h"
#include "tests/sim_harness.h"

typedef enum hostile_mode {
    HOSTILE_STALL,
    HOSTILE_GARBAGE,
    HOSTILE_LOW_POW,
    HOSTILE_FLOOD_ADVERTISE,
    HOSTILE_BIG_PREFIX,
    HOSTILE_BAD_ACK,
    HOSTILE_BAD_MAC,
} hostile_mode;

typedef struct hostile {
    hostile_mode mode;
    tp_point target;
    const tp_env *env;
    sim_host *host;
    uint32_t host_index;
    tp_identity id;
    tp_pow_target accept_any;
    tp_socket_config scfg;
    tp_socket sock;
    bool sock_live;
    tp_stream *stream;
    bool connected, closed, running, halted;
    tp_err close_reason;
    uint64_t bytes_in, bytes_out, frames_sent;
    uint32_t attempts;
    bool bad_chunk_due;
    uint8_t flood_frame[6 + 10 * 51];
    size_t flood_len;
} hostile;

static void hostile_flush(hostile *x) {
    while (x->stream != NULL && x->sock_live) {
        const uint8_t *d;
        size_t n = tp_socket_out(&x->sock, &d);
        if (n == 0) return;
        size_t taken = 0;
        if (tp_env_stream_write(x->env, x->stream, d, n, &taken) != TP_OK) return;
        tp_socket_out_consume(&x->sock, taken);
        x->bytes_out += taken;
        if (taken < n) return;
    }
}

/* Keeps the transport full of Advertise messages. */
static void hostile_flood(hostile *x) {
    while (x->stream != NULL && x->running && tp_socket_out_pending(&x->sock) == 0) {
        assert_int_equal(tp_socket_write_message(&x->sock, x->flood_frame, x->flood_len), TP_OK);
        x->frames_sent++;
        hostile_flush(x);
    }
}

static void hostile_on_running(hostile *x) {
    x->running = true;
    if (x->mode == HOSTILE_FLOOD_ADVERTISE) {
        hostile_flood(x);
    } else if (x->mode == HOSTILE_BIG_PREFIX) {
        /* 0x06400001 = 100 MiB + 1 bytes announced, then a tag. */
        const uint8_t frame[6] = {0x06, 0x40, 0x00, 0x01, 0x00, 0x10};
        assert_int_equal(tp_socket_write_message(&x->sock, frame, sizeof frame), TP_OK);
        x->frames_sent++;
        hostile_flush(x);
    }
}

static void hostile_on_connect(void *arg, tp_stream *s) {
    hostile *x = arg;
    (void)s;
    x->connected = true;
    if (x->mode == HOSTILE_STALL) return;
    if (x->mode == HOSTILE_GARBAGE) {
        static const char garbage[] = "\x00\x0aHello, world. This is garbage";
        size_t taken = 0;
        assert_int_equal(tp_env_stream_write(x->env, x->stream, (const uint8_t *)garbage,
                                             sizeof garbage - 1, &taken),
                         TP_OK);
        x->bytes_out += taken;
        return;
    }
    assert_int_equal(tp_socket_init(&x->sock, x->env, &x->scfg, false), TP_OK);
    x->sock_live = true;
    hostile_flush(x);
}

static void hostile_on_data(void *arg, tp_stream *s, const uint8_t *data, size_t len) {
    hostile *x = arg;
    (void)s;
    x->bytes_in += len;
    if (!x->sock_live) return;
    size_t k = 0;
    while (k < len || x->sock.state == TP_SOCKET_RUNNING) {
        size_t n = 0;
        tp_socket_event ev;
        if (tp_socket_feed(&x->sock, data + k, len - k, &n, &ev) != TP_OK) {
            /* what the socket queued before the failure still goes out (a peer sends
             * its metadata as soon as it has read the connection message, whether or
             * not what follows in the same read decrypts) */
            hostile_flush(x);
            return;
        }
        k += n;
        if (ev == TP_SOCKET_EV_NONE) break;
        if (ev == TP_SOCKET_EV_AUTHENTICATED && x->mode == HOSTILE_BAD_ACK) {
            x->bad_chunk_due = true;
            break;
        }
        if (ev == TP_SOCKET_EV_AUTHENTICATED) assert_int_equal(tp_socket_accept(&x->sock), TP_OK);
        if (ev == TP_SOCKET_EV_ACK && x->mode == HOSTILE_BAD_MAC) {
            x->running = true;
            x->bad_chunk_due = true;
            break;
        }
        if (ev == TP_SOCKET_EV_ACK) hostile_on_running(x);
    }
    hostile_flush(x);
    if (x->bad_chunk_due && x->stream != NULL && tp_socket_out_pending(&x->sock) == 0) {
        /* a 20-byte chunk: 16 bytes of MAC (zeros) and 2 of payload */
        static const uint8_t chunk[20] = {0x00, 0x12};
        size_t taken = 0;
        assert_int_equal(tp_env_stream_write(x->env, x->stream, chunk, sizeof chunk, &taken), TP_OK);
        x->bytes_out += taken;
        x->frames_sent++;
        x->bad_chunk_due = false;
    }
}

static void hostile_on_eof(void *arg, tp_stream *s) {
    hostile *x = arg;
    x->running = false;
    tp_env_stream_close(x->env, s);
}

static void hostile_on_writable(void *arg, tp_stream *s) {
    hostile *x = arg;
    (void)s;
    hostile_flush(x);
    if (x->mode == HOSTILE_FLOOD_ADVERTISE) hostile_flood(x);
}

static void hostile_on_close(void *arg, tp_stream *s, tp_err reason) {
    hostile *x = arg;
    (void)s;
    x->stream = NULL;
    x->closed = true;
    x->running = false;
    x->close_reason = reason;
    if (x->sock_live) tp_socket_deinit(&x->sock);
    x->sock_live = false;
}

static const tp_stream_cbs hostile_cbs = {hostile_on_connect, hostile_on_data, hostile_on_eof,
                                          hostile_on_writable, hostile_on_close};

/* (Re)connects to the target. Call from outside the host's callbacks. */
HS_UNUSED static void hostile_connect(hostile *x) {
    TP_ASSERT(x->stream == NULL);
    x->connected = x->closed = x->running = false;
    x->bytes_in = 0;
    x->attempts++;
    assert_int_equal(tp_env_stream_connect(x->env, &x->target, &hostile_cbs, x, &x->stream), TP_OK);
}

static void hostile_start(void *app, sim_host *h, const tp_env *env) {
    hostile *x = app;
    (void)h;
    x->env = env;
    x->halted = false;
    hostile_connect(x);
}
static void hostile_stop(void *app, sim_host *h, const tp_env *env) {
    (void)app;
    (void)h;
    (void)env;
}
static void hostile_halt(void *app, sim_host *h, const tp_env *env) {
    hostile *x = app;
    (void)h;
    (void)env;
    if (x->sock_live) tp_socket_deinit(&x->sock);
    x->sock_live = false;
    x->stream = NULL;
    x->halted = true;
}
static const sim_app_ops hostile_ops = {hostile_start, hostile_stop, hostile_halt};

/* Adds a host running a hostile peer against node `target` of the harness and starts
 * it. The hostile's handshake identity passes the harness PoW, except in LOW_POW. */
HS_UNUSED static void hostile_add(hs *h, hostile *x, hostile_mode mode, uint32_t target) {
    memset(x, 0, sizeof *x);
    x->mode = mode;
    x->target = hs_point(h, target);
    uint32_t idx = 0;
    assert_int_equal(sim_hosts_add_in_region(h->w, 0, 1, NULL, &idx), TP_OK);
    x->host_index = idx;
    x->host = sim_world_host(h->w, idx);
    if (mode == HOSTILE_LOW_POW)
        hs_identity_weak(&x->id, h->seed, 1000 + idx, HS_POW_DIFFICULTY);
    else
        hs_identity(&x->id, h->seed, 1000 + idx, HS_POW_DIFFICULTY);
    assert_int_equal(tp_pow_target_of_difficulty(0.0, &x->accept_any), TP_OK);
    x->scfg.identity = &x->id;
    x->scfg.pow_target = &x->accept_any;
    x->scfg.port = 0;
    x->scfg.chain_name = (const uint8_t *)"TEZOS_MAINNET";
    x->scfg.chain_name_len = 13;
    x->scfg.distributed_db_version = 2;
    x->scfg.p2p_version = 1;
    /* Advertise with 10 points 10.9.0.k:9732 */
    tp_p2p_msg m;
    memset(&m, 0, sizeof m);
    m.tag = TP_MSG_ADVERTISE;
    m.points_count = 10;
    for (uint32_t k = 0; k < 10; k++) m.points[k] = tp_point_v4(0x0a090000u + k + 1, 9732);
    assert_int_equal(tp_p2p_msg_encode(&m, x->flood_frame, sizeof x->flood_frame, &x->flood_len),
                     TP_OK);
    sim_host_set_app(x->host, &hostile_ops, x);
    sim_host_start(x->host);
}

#endif
