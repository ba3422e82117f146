/* core/conn.c — a live connection: socket + stream adapter, queues, message handling
 * and throttling (spec §4.4-§4.5, §8.6). See conn.h. Octez: P2p_conn, the workers of
 * P2p_socket. */
#include "conn.h"

#include <string.h>

#include "encoding.h"

/* An empty buffer above this size is released. Idle connections are the common case
 * (a node holds up to max_connections of them and most carry a few small messages a
 * minute), so what they keep is what a large simulation pays per connection; messages
 * pay an allocation instead. 0: every empty buffer goes (keeping 256 bytes in each of
 * a connection's five buffers cost ~11 KB per node at 3,000 nodes and saved no
 * measurable CPU; bench/RESULTS.md). */
#define IN_IDLE_KEEP 0
#define APPQ_ENTRY_HEADER 6

static void on_connect(void *arg, tp_stream *s);
static void on_data(void *arg, tp_stream *s, const uint8_t *data, size_t len);
static void on_eof(void *arg, tp_stream *s);
static void on_writable(void *arg, tp_stream *s);
static void on_close(void *arg, tp_stream *s, tp_err reason);

static const tp_stream_cbs conn_stream_cbs = {on_connect, on_data, on_eof, on_writable,
                                              on_close};

static void throttle_fire(void *arg);
static void flush(tp_conn *c);
static void resume_reading(tp_conn *c);
static void notify_fire(void *arg);
static void stream_resume(tp_conn *c);

/* ---- I/O scheduler (spec §8) --------------------------------------------------------- */

static bool read_gated(const tp_conn *c) {
    return c->sc.sched != NULL && c->sc.sched->cfg.max_download_bps > 0;
}
static bool write_gated(const tp_conn *c) {
    return c->sc.sched != NULL && c->sc.sched->cfg.max_upload_bps > 0;
}

static void sched_register(tp_conn *c) {
    if (c->cfg->sched != NULL) tp_sched_register(c->cfg->sched, &c->sc);
}

/* Drops every request and grant: no grant callback fires after this. */
static void sched_unregister(tp_conn *c) {
    tp_sched_unregister(&c->sc);
    c->read_grant = c->write_grant = 0;
    c->read_asked = c->write_asked = false;
}

static void read_granted(void *arg, tp_sched_conn *sc, tp_sched_dir dir, size_t granted) {
    tp_conn *c = arg;
    (void)dir;
    c->read_asked = false;
    if (c->closing || c->stream == NULL || c->paused) {
        tp_sched_complete(sc, TP_SCHED_READ, 0); /* resume_reading asks again */
        return;
    }
    c->read_grant = granted;
    tp_env_stream_read_resume(c->env, c->stream);
}

static void ask_read(tp_conn *c) {
    if (c->read_asked || c->read_grant > 0 || c->closing) return;
    size_t want = c->sc.sched->cfg.read_buffer_size;
    if (tp_sched_request(&c->sc, TP_SCHED_READ, want, read_granted, c) == TP_OK)
        c->read_asked = true;
}

/* Charges a delivery: to the outstanding read grant, the rest with account. */
static void charge_read(tp_conn *c, size_t len) {
    if (c->sc.sched == NULL) return;
    if (c->read_grant > 0) {
        size_t in = len < c->read_grant ? len : c->read_grant;
        tp_sched_complete(&c->sc, TP_SCHED_READ, in);
        c->read_grant = 0;
        if (len > in) tp_sched_account(&c->sc, TP_SCHED_READ, len - in);
    } else {
        tp_sched_account(&c->sc, TP_SCHED_READ, len);
    }
}

/* Reading may go on: without a download cap resume the stream; with one, resume only
 * under a grant (ask for one). */
static void stream_resume(tp_conn *c) {
    if (c->stream == NULL || c->closing) return;
    if (read_gated(c) && c->read_grant == 0) {
        tp_env_stream_read_pause(c->env, c->stream);
        ask_read(c);
        return;
    }
    tp_env_stream_read_resume(c->env, c->stream);
}

static void write_granted(void *arg, tp_sched_conn *sc, tp_sched_dir dir, size_t granted) {
    tp_conn *c = arg;
    (void)dir;
    c->write_asked = false;
    if (c->closing || c->stream == NULL || tp_socket_out_pending(&c->sock) == 0) {
        tp_sched_complete(sc, TP_SCHED_WRITE, 0);
        return;
    }
    c->write_grant = granted;
    flush(c);
}

/* ---- buffers ------------------------------------------------------------------------- */

static tp_err buf_reserve(const tp_env *env, uint8_t **buf, size_t *cap, size_t need) {
    if (*cap >= need) return TP_OK;
    size_t n = *cap < 256 ? 256 : *cap;
    while (n < need) n *= 2;
    uint8_t *p = tp_env_realloc(env, *buf, *cap, n);
    if (p == NULL) return TP_ERR_NOMEM;
    *buf = p;
    *cap = n;
    return TP_OK;
}

static void buf_release(const tp_env *env, uint8_t **buf, size_t *cap) {
    tp_env_free(env, *buf, *cap);
    *buf = NULL;
    *cap = 0;
}

size_t tp_conn_memory(const tp_conn *c) {
    return c->in_cap + c->held_cap + c->appq_cap + tp_socket_memory(&c->sock);
}

/* ---- init ---------------------------------------------------------------------------- */

static void conn_base_init(tp_conn *c, const tp_env *env, const tp_conn_config *cfg,
                           const tp_socket_config *sock_cfg, const tp_conn_handlers *h,
                           void *harg) {
    memset(c, 0, sizeof *c);
    c->env = env;
    c->cfg = cfg;
    c->h = h;
    c->harg = harg;
    c->sock_cfg = *sock_cfg;
    for (int i = 0; i < TP_CONN_THROTTLE_COUNT; i++) c->last_handled_ns[i] = TP_TIME_NONE;
    tp_timer_init(&c->throttle_timer, throttle_fire, c);
    tp_timer_init(&c->notify_timer, notify_fire, c);
    /* The owner re-initialises it with its own callback before arming it. */
    tp_timer_init(&c->timeout_timer, notify_fire, c);
}

tp_err tp_conn_init_incoming(tp_conn *c, const tp_env *env, const tp_conn_config *cfg,
                             const tp_socket_config *sock_cfg, const tp_conn_handlers *h,
                             void *harg, tp_stream *s, const tp_point *remote) {
    conn_base_init(c, env, cfg, sock_cfg, h, harg);
    c->incoming = true;
    c->remote_addr = *remote;
    TP_TRY(tp_socket_init(&c->sock, env, &c->sock_cfg, true));
    c->stream = s;
    c->established = true;
    sched_register(c);
    tp_env_stream_adopt(env, s, &conn_stream_cbs, c);
    if (read_gated(c)) stream_resume(c); /* paused until the first read grant */
    flush(c); /* both sides write their connection message first (spec §2.11) */
    return TP_OK;
}

tp_err tp_conn_init_outgoing(tp_conn *c, const tp_env *env, const tp_conn_config *cfg,
                             const tp_socket_config *sock_cfg, const tp_conn_handlers *h,
                             void *harg, const tp_point *remote) {
    conn_base_init(c, env, cfg, sock_cfg, h, harg);
    c->incoming = false;
    c->remote_addr = *remote;
    TP_TRY(tp_socket_init(&c->sock, env, &c->sock_cfg, false));
    tp_stream *s = NULL;
    tp_err e = tp_env_stream_connect(env, remote, &conn_stream_cbs, c, &s);
    if (e != TP_OK) {
        tp_socket_deinit(&c->sock);
        return e;
    }
    c->stream = s;
    sched_register(c);
    return TP_OK;
}

void tp_conn_deinit(tp_conn *c) {
    sched_unregister(c);
    buf_release(c->env, &c->in, &c->in_cap);
    buf_release(c->env, &c->held, &c->held_cap);
    buf_release(c->env, &c->appq, &c->appq_cap);
    c->in_head = c->in_len = c->held_len = c->appq_head = c->appq_len = 0;
    c->appq_count = 0;
    tp_socket_deinit(&c->sock);
}

/* ---- output -------------------------------------------------------------------------- */

static bool sync_due(const tp_conn *c) {
    return c->sync_count > 0 && c->sync[0].end <= c->stats.bytes_out;
}

static bool writable_due(const tp_conn *c) {
    return c->want_writable && tp_conn_out_pending(c) < c->cfg->outgoing_queue_bytes / 2 + 1;
}

static void flush(tp_conn *c) {
    while (c->stream != NULL && c->established) {
        const uint8_t *data;
        size_t n = tp_socket_out(&c->sock, &data);
        if (n == 0) break;
        /* spec §8: under an upload cap, at most the write grant (closing connections
         * are unregistered and write their last bytes freely) */
        bool gated = write_gated(c);
        if (gated) {
            if (c->write_wait_writable) break;
            if (c->write_grant == 0) {
                if (!c->write_asked &&
                    tp_sched_request(&c->sc, TP_SCHED_WRITE, n, write_granted, c) == TP_OK)
                    c->write_asked = true;
                break;
            }
            if (n > c->write_grant) n = c->write_grant;
        }
        size_t taken = 0;
        if (tp_env_stream_write(c->env, c->stream, data, n, &taken) != TP_OK) return;
        tp_socket_out_consume(&c->sock, taken);
        c->stats.bytes_out += taken;
        if (gated) {
            tp_sched_complete(&c->sc, TP_SCHED_WRITE, taken);
            c->write_grant = 0;
            if (taken < n) c->write_wait_writable = true;
        } else if (c->sc.sched != NULL) {
            tp_sched_account(&c->sc, TP_SCHED_WRITE, taken);
        }
        if (taken < n) break;
    }
    /* Completions are reported from a fresh stack, never inside a tp_conn_* call. */
    if (!c->closing && (sync_due(c) || writable_due(c)) && !tp_timer_is_armed(&c->notify_timer))
        tp_env_timer_start_in(c->env, &c->notify_timer, 0);
}

static void notify_fire(void *arg) {
    tp_conn *c = arg;
    if (c->resume_wanted) {
        c->resume_wanted = false;
        resume_reading(c);
    }
    while (!c->closing && sync_due(c)) {
        tp_conn_sync_cb cb = c->sync[0].cb;
        void *cb_arg = c->sync[0].arg;
        memmove(&c->sync[0], &c->sync[1], (c->sync_count - 1) * sizeof c->sync[0]);
        c->sync_count--;
        cb(cb_arg, c, TP_OK);
    }
    if (!c->closing && writable_due(c)) {
        c->want_writable = false;
        c->h->on_writable(c->harg, c);
    }
}

tp_err tp_conn_write_frame(tp_conn *c, const uint8_t *frame, size_t len, bool now) {
    if (c->closing || c->stream == NULL) return TP_ERR_CLOSED;
    if (c->sock.state != TP_SOCKET_RUNNING) return TP_ERR_STATE;
    size_t wire = tp_socket_wire_size(&c->sock, len);
    size_t pending = tp_conn_out_pending(c);
    /* spec §4.5: bounded in bytes, checked at insertion; an empty queue takes one
     * message whatever its size. */
    if (pending > 0 && pending + wire > c->cfg->outgoing_queue_bytes) {
        if (now)
            c->stats.messages_dropped++;
        else
            c->want_writable = true;
        return TP_ERR_AGAIN;
    }
    TP_TRY(tp_socket_write_message(&c->sock, frame, len));
    c->queued_out += wire;
    c->stats.messages_out++;
    flush(c);
    return TP_OK;
}

tp_err tp_conn_write_sync(tp_conn *c, const uint8_t *frame, size_t len, tp_conn_sync_cb cb,
                          void *arg) {
    TP_ASSERT(cb != NULL);
    if (c->sync_count >= TP_CONN_SYNC_MAX) return TP_ERR_LIMIT;
    /* The message's last byte is at queued_out + wire; bytes_out counts the same
     * stream of bytes, so the waiter is due once bytes_out reaches it. */
    uint64_t end = c->stats.bytes_out + tp_conn_out_pending(c) + tp_socket_wire_size(&c->sock, len);
    c->sync[c->sync_count].end = end;
    c->sync[c->sync_count].cb = cb;
    c->sync[c->sync_count].arg = arg;
    c->sync_count++;
    tp_err e = tp_conn_write_frame(c, frame, len, false);
    if (e != TP_OK) c->sync_count--;
    return e;
}

/* ---- closing ------------------------------------------------------------------------- */

static void stop_timers(tp_conn *c) {
    tp_env_timer_stop(c->env, &c->throttle_timer);
    tp_env_timer_stop(c->env, &c->notify_timer);
    tp_env_timer_stop(c->env, &c->timeout_timer);
}

void tp_conn_close(tp_conn *c, tp_err reason, bool graceful) {
    if (c->closing) return;
    c->closing = true;
    c->close_reason = reason;
    stop_timers(c);
    sched_unregister(c);
    if (c->stream == NULL) return;
    if (graceful && c->established) {
        flush(c); /* a Nack is small: the transport takes it whole */
        tp_env_stream_close(c->env, c->stream);
    } else {
        tp_env_stream_reset(c->env, c->stream);
    }
}

static void fail(tp_conn *c, tp_err e) {
    tp_conn_close(c, e, true);
    c->h->on_error(c->harg, c, e);
}

static void on_close(void *arg, tp_stream *s, tp_err reason) {
    tp_conn *c = arg;
    (void)s;
    c->stream = NULL;
    tp_err r = c->closing ? c->close_reason : reason;
    if (!c->closing) {
        c->closing = true;
        c->close_reason = r;
        stop_timers(c);
        sched_unregister(c);
    }
    while (c->sync_count > 0) {
        tp_conn_sync_cb cb = c->sync[0].cb;
        void *cb_arg = c->sync[0].arg;
        memmove(&c->sync[0], &c->sync[1], (c->sync_count - 1) * sizeof c->sync[0]);
        c->sync_count--;
        cb(cb_arg, c, TP_ERR_CLOSED);
    }
    c->h->on_closed(c->harg, c, r);
}

static void on_eof(void *arg, tp_stream *s) {
    (void)s;
    tp_conn_close(arg, TP_ERR_CLOSED, true);
}

static void on_writable(void *arg, tp_stream *s) {
    tp_conn *c = arg;
    (void)s;
    c->write_wait_writable = false;
    flush(c);
}

static void on_connect(void *arg, tp_stream *s) {
    tp_conn *c = arg;
    (void)s;
    c->established = true;
    if (read_gated(c)) stream_resume(c); /* paused until the first read grant */
    c->h->on_connected(c->harg, c);
    if (!c->closing) flush(c);
}

/* ---- the application queue ----------------------------------------------------------- */

static bool appq_full(const tp_conn *c) {
    return c->appq_count >= c->cfg->app_queue_messages ||
           c->appq_len - c->appq_head >= c->cfg->incoming_queue_bytes;
}

static tp_err appq_push(tp_conn *c, uint16_t tag, const uint8_t *payload, size_t len) {
    if (c->appq_head > 0 && c->appq_head == c->appq_len) c->appq_head = c->appq_len = 0;
    size_t need = APPQ_ENTRY_HEADER + len;
    if (c->appq_cap - c->appq_len < need && c->appq_head > 0) {
        memmove(c->appq, c->appq + c->appq_head, c->appq_len - c->appq_head);
        c->appq_len -= c->appq_head;
        c->appq_head = 0;
    }
    TP_TRY(buf_reserve(c->env, &c->appq, &c->appq_cap, c->appq_len + need));
    uint8_t *p = c->appq + c->appq_len;
    tp_be16_store(p, tag);
    tp_be32_store(p + 2, (uint32_t)len);
    if (len > 0) memcpy(p + APPQ_ENTRY_HEADER, payload, len);
    c->appq_len += need;
    c->appq_count++;
    return TP_OK;
}

bool tp_conn_app_peek(const tp_conn *c, uint16_t *tag, const uint8_t **payload, size_t *len) {
    if (c->appq_count == 0) return false;
    const uint8_t *p = c->appq + c->appq_head;
    *tag = tp_be16_load(p);
    *len = tp_be32_load(p + 2);
    *payload = p + APPQ_ENTRY_HEADER;
    return true;
}

void tp_conn_app_drop(tp_conn *c) {
    TP_ASSERT(c->appq_count > 0);
    const uint8_t *p = c->appq + c->appq_head;
    c->appq_head += APPQ_ENTRY_HEADER + tp_be32_load(p + 2);
    c->appq_count--;
    if (c->appq_count == 0) {
        c->appq_head = c->appq_len = 0;
        if (c->appq_cap > IN_IDLE_KEEP) buf_release(c->env, &c->appq, &c->appq_cap);
    }
    if (!c->paused || c->closing || c->held_len > 0 || appq_full(c)) return;
    if (c->processing) {
        c->paused = false; /* the running loop goes on by itself */
        return;
    }
    /* Resume from a fresh stack: handlers never run inside a tp_conn_* call. */
    c->resume_wanted = true;
    if (!tp_timer_is_armed(&c->notify_timer)) tp_env_timer_start_in(c->env, &c->notify_timer, 0);
}

/* ---- incoming messages (spec §4.4) --------------------------------------------------- */

static int throttle_index(uint16_t tag) {
    switch (tag) {
    case TP_MSG_BOOTSTRAP: return TP_CONN_THROTTLE_BOOTSTRAP;
    case TP_MSG_ADVERTISE: return TP_CONN_THROTTLE_ADVERTISE;
    case TP_MSG_SWAP_REQUEST: return TP_CONN_THROTTLE_SWAP_REQUEST;
    case TP_MSG_SWAP_ACK: return TP_CONN_THROTTLE_SWAP_ACK;
    default: return -1;
    }
}

static int64_t cooldown_ns(const tp_conn *c, int th) {
    return th <= TP_CONN_THROTTLE_ADVERTISE ? c->cfg->bootstrap_cooldown_ns
                                            : c->cfg->swap_cooldown_ns;
}

static void pause_reading(tp_conn *c) {
    if (c->paused) return;
    c->paused = true;
    if (c->stream != NULL) tp_env_stream_read_pause(c->env, c->stream);
}

static void dispatch(tp_conn *c, const tp_p2p_msg *m) {
    int th = throttle_index(m->tag);
    if (th >= 0) c->last_handled_ns[th] = tp_env_now_ns(c->env);
    switch (m->tag) {
    case TP_MSG_DISCONNECT:
        /* spec §4.4: close, no greylisting. */
        tp_conn_close(c, TP_ERR_CLOSED, true);
        return;
    case TP_MSG_BOOTSTRAP:
        c->h->on_bootstrap(c->harg, c);
        return;
    case TP_MSG_ADVERTISE:
        c->h->on_advertise(c->harg, c, m->points, m->points_count);
        return;
    case TP_MSG_SWAP_REQUEST:
        c->h->on_swap_request(c->harg, c, &m->points[0], &m->peer_id);
        return;
    case TP_MSG_SWAP_ACK:
        c->h->on_swap_ack(c->harg, c, &m->points[0], &m->peer_id);
        return;
    default: {
        TP_ASSERT(m->app != NULL);
        tp_err e = appq_push(c, m->tag, m->payload, m->payload_len);
        if (e != TP_OK) {
            fail(c, e);
            return;
        }
        if (appq_full(c)) pause_reading(c);
        c->h->on_app_message(c->harg, c);
        return;
    }
    }
}

static void handle_frame(tp_conn *c, const uint8_t *frame, size_t len) {
    tp_p2p_msg m;
    tp_err e = tp_p2p_msg_decode(frame, len, c->cfg->registry, &m);
    if (e != TP_OK) {
        fail(c, e); /* spec §4.4: the owner greylists the peer and its IP */
        return;
    }
    c->stats.messages_in++;
    int th = throttle_index(m.tag);
    if (th >= 0) {
        int64_t cd = cooldown_ns(c, th);
        int64_t now = tp_env_now_ns(c->env);
        int64_t last = c->last_handled_ns[th];
        if (cd > 0 && last != TP_TIME_NONE && now < last + cd) {
            /* spec §4.4 (v24+): delay, do not drop. Keep the frame and stop reading,
             * so later messages keep their order and the peer's flood stays in TCP. */
            e = buf_reserve(c->env, &c->held, &c->held_cap, len);
            if (e != TP_OK) {
                fail(c, e);
                return;
            }
            memcpy(c->held, frame, len);
            c->held_len = len;
            /* the full cooldown from now, not what is left of it: Octez's
             * throttle_callbacks (p2p_protocol.ml) sleeps cooldown_s, then stamps
             * last_handled after the sleep (dispatch does) */
            c->held_until_ns = now + cd;
            c->stats.throttled++;
            pause_reading(c);
            tp_env_timer_start(c->env, &c->throttle_timer, c->held_until_ns);
            return;
        }
    }
    dispatch(c, &m);
}

/* Feeds bytes to the socket until they are used up, the connection pauses or closes.
 * Returns the bytes consumed. */
static size_t process(tp_conn *c, const uint8_t *data, size_t len) {
    size_t k = 0;
    c->processing = true;
    while (!c->closing && !c->paused) {
        size_t n = 0;
        tp_socket_event ev;
        tp_err e = tp_socket_feed(&c->sock, data + k, len - k, &n, &ev);
        k += n;
        if (e != TP_OK) {
            fail(c, e);
            break;
        }
        if (ev == TP_SOCKET_EV_NONE) break;
        if (ev == TP_SOCKET_EV_MESSAGE) {
            const uint8_t *frame;
            size_t flen;
            tp_socket_unit(&c->sock, &frame, &flen);
            handle_frame(c, frame, flen);
        } else {
            c->h->on_handshake(c->harg, c, ev);
            if (!c->closing) flush(c);
        }
    }
    c->processing = false;
    /* every unit was handled (frames are copied to the app queue): a connection that
     * just read a block keeps no block-sized buffer until its next bytes */
    if (!c->closing) tp_socket_trim(&c->sock);
    if (!c->closing) flush(c); /* the socket may have queued handshake chunks */
    return k;
}

static void keep_input(tp_conn *c, const uint8_t *data, size_t len) {
    if (c->in_head > 0 && c->in_head == c->in_len) c->in_head = c->in_len = 0;
    if (buf_reserve(c->env, &c->in, &c->in_cap, c->in_len + len) != TP_OK) {
        fail(c, TP_ERR_NOMEM);
        return;
    }
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
}

static void process_kept(tp_conn *c) {
    while (!c->closing && !c->paused && c->in_head < c->in_len) {
        size_t before = c->in_head;
        c->in_head += process(c, c->in + c->in_head, c->in_len - c->in_head);
        if (c->in_head == before) break; /* waiting (e.g. handshake decision pending) */
    }
    if (c->in_head == c->in_len) {
        c->in_head = c->in_len = 0;
        if (c->in_cap > IN_IDLE_KEEP) buf_release(c->env, &c->in, &c->in_cap);
    }
}

static void on_data(void *arg, tp_stream *s, const uint8_t *data, size_t len) {
    tp_conn *c = arg;
    (void)s;
    c->stats.bytes_in += len;
    if (c->closing) return;
    charge_read(c, len);
    /* under a download cap, one delivery per grant: pause until the next one */
    if (read_gated(c)) stream_resume(c);
    if (c->paused || c->in_head < c->in_len) {
        keep_input(c, data, len);
        if (!c->paused) process_kept(c);
        return;
    }
    size_t k = process(c, data, len);
    if (!c->closing && k < len) keep_input(c, data + k, len - k);
}

static void resume_reading(tp_conn *c) {
    if (!c->paused || c->closing) return;
    if (c->held_len > 0 || appq_full(c)) return;
    c->paused = false;
    if (c->processing) return; /* the running loop goes on by itself */
    process_kept(c);
    if (!c->paused && !c->closing && c->stream != NULL) stream_resume(c);
}

static void throttle_fire(void *arg) {
    tp_conn *c = arg;
    if (c->closing || c->held_len == 0) return;
    tp_p2p_msg m;
    /* The held frame decoded once already; decode again (it is not kept decoded to
     * keep the connection small). */
    tp_err e = tp_p2p_msg_decode(c->held, c->held_len, c->cfg->registry, &m);
    TP_ASSERT(e == TP_OK);
    c->held_len = 0;
    dispatch(c, &m);
    if (c->held_cap > IN_IDLE_KEEP) buf_release(c->env, &c->held, &c->held_cap);
    resume_reading(c);
}

/* ---- handshake decisions ------------------------------------------------------------- */

tp_err tp_conn_accept(tp_conn *c) {
    TP_TRY(tp_socket_accept(&c->sock));
    if (!c->processing) flush(c);
    return TP_OK;
}

void tp_conn_nack(tp_conn *c, int16_t motive, const tp_point *points, size_t count) {
    if (tp_socket_nack(&c->sock, motive, points, count) != TP_OK) {
        tp_conn_close(c, TP_ERR_NOMEM, false);
        return;
    }
    tp_conn_close(c, TP_ERR_REJECTED, true);
}
