/* simnet/sim_stream.c — TCP-like streams and listeners for simulated hosts
 * (env.h "Streams"; model in simnet/README.md "Streams").
 *
 * A connection is two endpoints (tp_stream), one per host, linked by `peer`. Each
 * endpoint owns its send ring (bytes taken by stream_write and not yet acknowledged),
 * its receive ring (bytes arrived and not yet handed to on_data), and a FIFO of
 * segments in flight to the peer. Four internal events are embedded in each endpoint,
 * so nothing is allocated per segment:
 *   t_tx      the head segment of the FIFO arrives (or finishes the downlink, or is
 *             retransmitted after a stall);
 *   t_notify  user callbacks (connect, data in random splits, eof, writable, close);
 *   t_watch   SYN timeout, TCP user timeout and keepalive;
 *   t_ctl     handshake and reset messages that have no segment FIFO to ride on.
 * Endpoints are freed only from the graveyard, after the event that killed them, so a
 * callback may close or reset anything without pulling memory from under the loop.
 *
 * Octez: this is what P2p_io_scheduler and Lwt_unix see of the kernel's TCP; the
 * keepalive/user-timeout defaults follow spec §2 (socket options).
 */
#include <string.h>

#include "simnet/sim_impl.h"

#define NO_HOST UINT32_MAX

static void tx_fire(void *arg);
static void notify_fire(void *arg);
static void watch_fire(void *arg);
static void ctl_fire(void *arg);
static void pump(tp_stream *s);

/* ------------------------------------------------------------------------------------ */
/* Rings                                                                                */

#define RING_MIN 2048u
#define RING_CACHE_MAX 4096u /* idle RING_MIN buffers kept for reuse: at most 8 MiB */

/* Most streams carry a few small messages at a time, so their rings go empty -> one
 * RING_MIN buffer -> empty again for every message. Drained RING_MIN buffers go to a
 * per-world free list instead of malloc (calloc and free of 2 KiB were ~8 % of a
 * 1,000-node run). Cached buffers stay counted in sim_world_backend_bytes; their
 * contents are not cleared (a ring never reads past its length). */
static uint8_t *ring_buf_alloc(sim_world *w, uint32_t cap) {
    if (cap == RING_MIN && w->ring_cache != NULL) {
        uint8_t *b = w->ring_cache;
        memcpy(&w->ring_cache, b, sizeof w->ring_cache);
        w->ring_cache_count--;
        return b;
    }
    return sim_backend_alloc(w, cap);
}

static void ring_buf_free(sim_world *w, uint8_t *buf, uint32_t cap) {
    if (buf == NULL) return;
    if (cap == RING_MIN && w->ring_cache_count < RING_CACHE_MAX) {
        memcpy(buf, &w->ring_cache, sizeof w->ring_cache);
        w->ring_cache = buf;
        w->ring_cache_count++;
        return;
    }
    sim_backend_free(w, buf, cap);
}

void sim_ring_cache_free(sim_world *w) {
    while (w->ring_cache != NULL) {
        uint8_t *b = w->ring_cache;
        memcpy(&w->ring_cache, b, sizeof w->ring_cache);
        sim_backend_free(w, b, RING_MIN);
    }
    w->ring_cache_count = 0;
}

static void ring_push(sim_world *w, sim_ring *r, uint32_t max, const uint8_t *data, uint32_t n) {
    if (n == 0) return;
    TP_ASSERT(r->len + n <= max);
    if (r->len + n > r->cap) {
        uint32_t cap = r->cap ? r->cap : RING_MIN;
        while (cap < r->len + n) cap *= 2;
        if (cap > max) cap = max;
        uint8_t *buf = ring_buf_alloc(w, cap);
        for (uint32_t i = 0, k = r->head; i < r->len; i++, k = k + 1 == r->cap ? 0 : k + 1)
            buf[i] = r->buf[k];
        ring_buf_free(w, r->buf, r->cap);
        r->buf = buf;
        r->cap = cap;
        r->head = 0;
    }
    uint32_t tail = r->head + r->len;
    if (tail >= r->cap) tail -= r->cap;
    uint32_t first = r->cap - tail < n ? r->cap - tail : n;
    memcpy(r->buf + tail, data, first);
    memcpy(r->buf, data + first, n - first);
    r->len += n;
}

/* Copies n bytes starting `off` bytes after the head. */
static void ring_peek(const sim_ring *r, uint32_t off, uint8_t *out, uint32_t n) {
    TP_ASSERT(off + n <= r->len);
    uint32_t k = r->head + off;
    if (k >= r->cap) k -= r->cap;
    uint32_t first = r->cap - k < n ? r->cap - k : n;
    memcpy(out, r->buf + k, first);
    memcpy(out + first, r->buf, n - first);
}

static void ring_drop(sim_world *w, sim_ring *r, uint32_t n) {
    TP_ASSERT(n <= r->len);
    r->len -= n;
    r->head += n;
    if (r->head >= r->cap) r->head -= r->cap;
    if (r->len == 0) {
        ring_buf_free(w, r->buf, r->cap);
        r->buf = NULL;
        r->cap = r->head = 0;
    }
}

/* Moves n bytes from the head of `from` to the tail of `to`. */
static void ring_move(sim_world *w, sim_ring *from, sim_ring *to, uint32_t to_max, uint32_t n) {
    uint8_t tmp[4096];
    uint32_t done = 0;
    while (done < n) {
        uint32_t k = n - done < sizeof tmp ? n - done : (uint32_t)sizeof tmp;
        ring_peek(from, done, tmp, k);
        ring_push(w, to, to_max, tmp, k);
        done += k;
    }
    ring_drop(w, from, n);
}

/* ------------------------------------------------------------------------------------ */
/* Endpoint lifetime                                                                    */

static sim_host *host_of(sim_world *w, uint32_t index) {
    return index == NO_HOST ? NULL : sim_host_at(w, index);
}

static tp_stream *stream_new(sim_host *h) {
    sim_world *w = h->world;
    tp_stream *s = sim_backend_alloc(w, sizeof *s);
    s->host = h;
    s->id = w->next_stream_id++;
    s->peer_host = NO_HOST;
    s->close_reason = TP_OK;
    s->host_next = h->streams;
    if (h->streams) h->streams->host_prev = s;
    h->streams = s;
    tp_timer_init(&s->t_tx, tx_fire, s);
    tp_timer_init(&s->t_notify, notify_fire, s);
    tp_timer_init(&s->t_watch, watch_fire, s);
    tp_timer_init(&s->t_ctl, ctl_fire, s);
    s->last_heard_ns = s->progress_ns = w->now_ns;
    return s;
}

static void unlink_peer(tp_stream *s) {
    if (s->peer) {
        TP_ASSERT(s->peer->peer == s);
        s->peer->peer = NULL;
        s->peer = NULL;
    }
}

static void listener_unpend(tp_stream *s) {
    if (s->listener) {
        s->listener->pending--;
        s->listener = NULL;
    }
}

/* Removes s from the world now (no callback) and frees it after the current event. */
static void destroy(tp_stream *s) {
    if (s->dead) return;
    sim_world *w = s->host->world;
    s->dead = 1;
    s->user = SIM_USER_DETACHED;
    unlink_peer(s);
    listener_unpend(s);
    sim_disarm(w, &s->t_tx);
    sim_disarm(w, &s->t_notify);
    sim_disarm(w, &s->t_watch);
    sim_disarm(w, &s->t_ctl);
    sim_host *h = s->host;
    if (s->host_prev)
        s->host_prev->host_next = s->host_next;
    else
        h->streams = s->host_next;
    if (s->host_next) s->host_next->host_prev = s->host_prev;
    s->host_prev = s->host_next = NULL;
    s->grave_next = w->graveyard;
    w->graveyard = s;
}

void sim_streams_flush_graveyard(sim_world *w) {
    while (w->graveyard) {
        tp_stream *s = w->graveyard;
        w->graveyard = s->grave_next;
        ring_buf_free(w, s->snd.buf, s->snd.cap);
        ring_buf_free(w, s->rcv.buf, s->rcv.cap);
        sim_backend_free(w, s->segs, (size_t)s->seg_cap * sizeof *s->segs);
        sim_backend_free(w, s, sizeof *s);
    }
}

/* An endpoint without a user (detached) lives only while it still has segments to
 * deliver (its FIN, its RST, data an orphan still owes the peer) and, after its FIN
 * was acknowledged, until the peer's FIN arrives (FIN_WAIT_2; at most
 * SIM_FIN_WAIT_NS), so that the peer's own close completes normally. */
#define SIM_FIN_WAIT_NS (60 * 1000000000LL)

static void maybe_destroy(tp_stream *s) {
    if (!s->dead && s->user == SIM_USER_DETACHED && s->seg_count == 0 &&
        (s->tcp == SIM_TCP_DEAD || (s->fin_acked && s->eof_received)))
        destroy(s);
}

static void notify(tp_stream *s, uint8_t what, int64_t at_ns) {
    s->notify |= what;
    sim_world *w = s->host->world;
    if (s->t_notify.backend_index == TP_TIMER_NOT_ARMED || s->t_notify.deadline_ns > at_ns)
        sim_arm(w, &s->t_notify, at_ns);
}

static void clear_segments(tp_stream *s) {
    sim_world *w = s->host->world;
    sim_backend_free(w, s->segs, (size_t)s->seg_cap * sizeof *s->segs);
    s->segs = NULL;
    s->seg_count = s->seg_cap = s->seg_head = 0;
    sim_disarm(w, &s->t_tx);
}

/* The connection is over for this endpoint: tell the user (if it still listens), or
 * disappear. */
static void fail(tp_stream *s, tp_err reason) {
    sim_world *w = s->host->world;
    s->tcp = SIM_TCP_DEAD;
    clear_segments(s);
    sim_disarm(w, &s->t_watch);
    sim_disarm(w, &s->t_ctl);
    s->ctl = SIM_CTL_NONE;
    unlink_peer(s);
    listener_unpend(s);
    if (s->user == SIM_USER_ACTIVE || s->user == SIM_USER_CLOSING) {
        if (s->close_reason == TP_OK) s->close_reason = reason;
        s->notify = SIM_N_CLOSE;
        notify(s, SIM_N_CLOSE, w->now_ns);
    } else {
        destroy(s);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Sending segments                                                                     */

static void seg_push(tp_stream *s, sim_seg seg) {
    sim_world *w = s->host->world;
    if (s->seg_count == s->seg_cap) {
        uint16_t cap = s->seg_cap ? (uint16_t)(s->seg_cap * 2) : 4;
        TP_ASSERT(cap > s->seg_cap);
        sim_seg *segs = sim_backend_alloc(w, (size_t)cap * sizeof *segs);
        for (uint16_t i = 0; i < s->seg_count; i++)
            segs[i] = s->segs[(s->seg_head + i) % s->seg_cap];
        sim_backend_free(w, s->segs, (size_t)s->seg_cap * sizeof *s->segs);
        s->segs = segs;
        s->seg_cap = cap;
        s->seg_head = 0;
    }
    s->segs[(s->seg_head + s->seg_count) % s->seg_cap] = seg;
    s->seg_count++;
    if (s->seg_count == 1) sim_arm(w, &s->t_tx, seg.time_ns);
}

static sim_seg *seg_head(tp_stream *s) { return &s->segs[s->seg_head]; }

static void seg_pop(tp_stream *s) {
    s->seg_head = (uint16_t)((s->seg_head + 1) % s->seg_cap);
    s->seg_count--;
    if (s->seg_count == 0) { /* idle connections keep no segment array */
        sim_world *w = s->host->world;
        sim_backend_free(w, s->segs, (size_t)s->seg_cap * sizeof *s->segs);
        s->segs = NULL;
        s->seg_cap = s->seg_head = 0;
    }
}

/* Puts a segment on the wire: it occupies the sender's uplink, flies for the one-way
 * latency, and is delayed by a retransmission timeout each time it is "lost"; it never
 * arrives before an earlier segment of the same direction. */
static void emit(tp_stream *s, uint32_t len, uint8_t flags) {
    sim_world *w = s->host->world;
    sim_host *h = s->host, *to = host_of(w, s->peer_host);
    int64_t t = w->now_ns;
    if (len > 0 && h->up_bps > 0) {
        if (h->up_free_ns > t) t = h->up_free_ns;
        t += sim_ser_ns(len, h->up_bps);
        h->up_free_ns = t;
    }
    if (to != NULL) {
        t += sim_latency_ns(w, h, to);
        uint32_t loss = sim_loss_ppm(w, h, to);
        for (unsigned k = 0; loss > 0 && k < 16 && sim_rng_below(w, 1000000) < loss; k++) {
            t += sim_rto_ns(w, k);
            w->stats.segments_retransmitted++;
        }
    } else {
        t += w->cfg.rto_max_ns; /* no such host: never answered; only timeouts matter */
    }
    if (t < s->last_arrival_ns) t = s->last_arrival_ns;
    s->last_arrival_ns = t;
    sim_seg seg = {t, len, flags, 0};
    seg_push(s, seg);
}

/* Sends what the peer's window allows. */
static void pump(tp_stream *s) {
    if (s->dead || s->tcp != SIM_TCP_ESTABLISHED) return;
    sim_world *w = s->host->world;
    uint32_t seg_max = w->cfg.segment_bytes;
    for (;;) {
        uint32_t unsent = s->snd.len - s->snd_sent;
        if (unsent == 0) {
            if (s->fin_queued && !s->fin_sent) {
                s->fin_sent = 1;
                emit(s, 0, SIM_SEG_FIN);
            }
            return;
        }
        uint64_t avail;
        if (s->peer != NULL) {
            uint64_t used = (uint64_t)s->peer->rcv.len + s->snd_sent;
            avail = used >= w->cfg.receive_buffer_bytes ? 0 : w->cfg.receive_buffer_bytes - used;
        } else {
            avail = s->snd_sent == 0 ? seg_max : 0; /* probe the dead end: one segment */
        }
        uint32_t n = unsent < seg_max ? unsent : seg_max;
        if (n > avail) n = (uint32_t)avail;
        if (n == 0) return;
        uint8_t flags = 0;
        if (n == unsent && s->fin_queued) {
            flags = SIM_SEG_FIN;
            s->fin_sent = 1;
        }
        s->snd_sent += n;
        emit(s, n, flags);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Receiving segments                                                                   */

static void start_watch(tp_stream *s) {
    sim_world *w = s->host->world;
    int64_t next = INT64_MAX;
    if (w->cfg.keepalive_idle_ns > 0) next = w->now_ns + w->cfg.keepalive_idle_ns;
    if (w->cfg.user_timeout_ns > 0 && w->now_ns + w->cfg.user_timeout_ns < next)
        next = w->now_ns + w->cfg.user_timeout_ns;
    if (next != INT64_MAX) sim_arm(w, &s->t_watch, next);
}

/* The peer answers a segment addressed to a connection it does not have: RST, which
 * reaches us after the one-way latency if the path is still open then. */
static void answer_rst(tp_stream *s) {
    sim_world *w = s->host->world;
    if (s->t_ctl.backend_index != TP_TIMER_NOT_ARMED) return;
    s->ctl = SIM_CTL_RST;
    sim_arm(w, &s->t_ctl, w->now_ns + sim_latency_ns(w, host_of(w, s->peer_host), s->host));
}

static void accept_stream(tp_stream *a) {
    sim_world *w = a->host->world;
    tp_listener *l = a->listener;
    TP_ASSERT(l != NULL);
    listener_unpend(a);
    a->tcp = SIM_TCP_ESTABLISHED;
    start_watch(a);
    w->stats.streams_accepted++;
    sim_trace(w, SIM_TRACE_ACCEPT, a->id, a->host->index, 0);
    tp_point remote = a->remote;
    sim_host *prev = w->cb_host;
    w->cb_host = a->host;
    l->cb(l->arg, l, a, &remote);
    w->cb_host = prev;
    /* env.h: the accept callback adopts the stream or closes/resets it. */
    TP_ASSERT(a->user != SIM_USER_UNADOPTED);
}

static void reset_received(tp_stream *r) {
    sim_world *w = r->host->world;
    w->stats.streams_reset++;
    if (r->tcp == SIM_TCP_SYN_SENT) {
        w->stats.connects_refused++;
        fail(r, TP_ERR_CONN_REFUSED);
    } else {
        fail(r, TP_ERR_CONN_RESET);
    }
}

/* Head segment of s reaches its peer: acknowledge it to s, hand it to the peer. */
static void deliver(tp_stream *s, sim_seg seg) {
    sim_world *w = s->host->world;
    tp_stream *r = s->peer;
    bool discarded = false;
    if (seg.len > 0) {
        s->snd_sent -= seg.len;
        if (r != NULL && r->tcp != SIM_TCP_DEAD &&
            (r->user == SIM_USER_ACTIVE || r->user == SIM_USER_UNADOPTED)) {
            ring_move(w, &s->snd, &r->rcv, w->cfg.receive_buffer_bytes, seg.len);
            uint32_t off;
            uint8_t mask;
            if (sim_corrupt_pick(w, r->host, seg.len, &off, &mask)) {
                /* the byte at `off` within the segment just appended */
                uint32_t k = r->rcv.head + r->rcv.len - seg.len + off;
                while (k >= r->rcv.cap) k -= r->rcv.cap;
                r->rcv.buf[k] ^= mask;
            }
            /* Merging: when the next segment of this stream is due within 200 us,
             * the reader is sometimes woken just after it instead, so both arrive in
             * one on_data. The last segment of a burst is never delayed. */
            int64_t at = w->now_ns;
            if (s->seg_count > 0 && seg_head(s)->time_ns - at <= 200000 &&
                sim_rng_below(w, 2) == 0)
                at = seg_head(s)->time_ns + 1;
            notify(r, SIM_N_DATA, at);
        } else {
            ring_drop(w, &s->snd, seg.len); /* the reader closed: discarded */
            discarded = true;
        }
        w->stats.segments_delivered++;
    }
    s->progress_ns = s->last_heard_ns = w->now_ns;
    if (r != NULL) r->last_heard_ns = w->now_ns;
    if (s->want_writable && s->snd.len < w->cfg.send_buffer_bytes && s->user == SIM_USER_ACTIVE)
        notify(s, SIM_N_WRITABLE, w->now_ns);
    if (r == NULL) return;

    if (seg.flags & SIM_SEG_SYNACK) {
        if (r->tcp == SIM_TCP_SYN_SENT) {
            sim_disarm(w, &r->t_watch);
            sim_disarm(w, &r->t_ctl);
            r->ctl = SIM_CTL_NONE;
            r->tcp = SIM_TCP_ESTABLISHED;
            w->stats.streams_established++;
            start_watch(r);
            emit(r, 0, SIM_SEG_ACK);
            notify(r, SIM_N_CONNECT, w->now_ns);
            pump(r); /* a FIN queued by shutdown_write before the connection came up */
        }
    }
    if (seg.flags & SIM_SEG_FIN) {
        s->fin_acked = 1;
        r->eof_received = 1;
        if (r->user == SIM_USER_ACTIVE) notify(r, SIM_N_EOF, w->now_ns);
        if (s->user == SIM_USER_CLOSING && s->close_reason == TP_OK && s->tcp != SIM_TCP_DEAD)
            notify(s, SIM_N_CLOSE, w->now_ns);
    }
    if (seg.flags & SIM_SEG_RST) {
        reset_received(r);
        return;
    }
    if (seg.flags & SIM_SEG_ACK) {
        if (r->tcp == SIM_TCP_SYN_RCVD) {
            if (r->listener != NULL)
                accept_stream(r);
            else
                fail(r, TP_ERR_CONN_RESET);
        }
    }
    if (discarded) pump(s); /* the window did not fill: more may go */
    if (r->user == SIM_USER_DETACHED) maybe_destroy(r); /* its last wait was our FIN */
}

static void tx_fire(void *arg) {
    tp_stream *s = arg;
    sim_world *w = s->host->world;
    TP_ASSERT(s->seg_count > 0);
    sim_seg *seg = seg_head(s);
    if (seg->stage == 0) {
        if (!sim_path_open(w, s->host->index, s->peer_host)) {
            if (seg->flags & SIM_SEG_RST) { /* resets are not retransmitted */
                seg_pop(s);
                goto next;
            }
            seg->time_ns = w->now_ns + sim_rto_ns(w, s->retries);
            if (s->retries < 30) s->retries++;
            w->stats.segments_retransmitted++;
            sim_trace(w, SIM_TRACE_RETX, s->id, seg->len, s->retries);
            sim_arm(w, &s->t_tx, seg->time_ns);
            return;
        }
        s->retries = 0;
        sim_host *to = sim_host_at(w, s->peer_host);
        if (seg->len > 0 && to->down_bps > 0) {
            int64_t start = to->down_free_ns > w->now_ns ? to->down_free_ns : w->now_ns;
            int64_t done = start + sim_ser_ns(seg->len, to->down_bps);
            to->down_free_ns = done;
            if (done > w->now_ns) {
                seg->stage = 1;
                seg->time_ns = done;
                sim_arm(w, &s->t_tx, done);
                return;
            }
        }
    }
    sim_trace(w, SIM_TRACE_SEG, s->id, seg->len, seg->flags);
    if (s->peer == NULL && !(seg->flags & SIM_SEG_RST)) {
        /* Nobody has this connection at the other end: it answers with a reset; the
         * segment stays for retransmission in case the reset is lost. */
        answer_rst(s);
        seg->stage = 0;
        seg->time_ns = w->now_ns + sim_rto_ns(w, s->retries);
        if (s->retries < 30) s->retries++;
        sim_arm(w, &s->t_tx, seg->time_ns);
        return;
    }
    sim_seg copy = *seg;
    seg_pop(s);
    deliver(s, copy);
next:
    if (s->dead) return;
    if (s->seg_count > 0)
        sim_arm(w, &s->t_tx, seg_head(s)->time_ns);
    else
        maybe_destroy(s);
}

/* ------------------------------------------------------------------------------------ */
/* Callbacks to the user                                                                */

static void deliver_data(tp_stream *s) {
    sim_world *w = s->host->world;
    /* Split the buffered bytes into 1..3 on_data calls at random cut points. */
    uint32_t total = s->rcv.len;
    uint32_t pieces = 1;
    uint64_t r = sim_rng_below(w, 8);
    if (r >= 6 && total >= 3)
        pieces = 3;
    else if (r >= 4 && total >= 2)
        pieces = 2;
    uint32_t cuts[3];
    if (pieces == 1) {
        cuts[0] = total;
    } else if (pieces == 2) {
        cuts[0] = 1 + (uint32_t)sim_rng_below(w, total - 1);
        cuts[1] = total - cuts[0];
    } else {
        uint32_t a = 1 + (uint32_t)sim_rng_below(w, total - 2);
        uint32_t b = 1 + (uint32_t)sim_rng_below(w, total - a - 1);
        cuts[0] = a;
        cuts[1] = b;
        cuts[2] = total - a - b;
    }
    for (uint32_t i = 0; i < pieces; i++) {
        uint32_t n = cuts[i];
        while (n > 0) {
            if (s->dead || s->user != SIM_USER_ACTIVE || s->paused || s->tcp == SIM_TCP_DEAD)
                return;
            /* A contiguous run of the ring (the wrap point splits once more). */
            uint32_t run = s->rcv.cap - s->rcv.head;
            if (run > n) run = n;
            const uint8_t *p = s->rcv.buf + s->rcv.head;
            sim_trace(w, SIM_TRACE_DATA, s->id, run, 0);
            sim_trace_bytes(w, p, run);
            w->stats.bytes_delivered += run;
            w->stats.data_callbacks++;
            s->in_data_cb = 1;
            s->cbs->on_data(s->arg, s, p, run);
            s->in_data_cb = 0;
            /* The bytes stay put during the callback (env.h: borrowed for its
             * duration): close/reset inside it leave the ring to us. */
            if (s->dead) return;
            if (s->user != SIM_USER_ACTIVE || s->tcp == SIM_TCP_DEAD) {
                ring_drop(w, &s->rcv, s->rcv.len); /* closed or reset meanwhile */
                if (s->peer) pump(s->peer);
                return;
            }
            ring_drop(w, &s->rcv, run);
            n -= run;
            if (s->peer) pump(s->peer); /* the window opened */
        }
    }
}

static void notify_fire(void *arg) {
    tp_stream *s = arg;
    sim_world *w = s->host->world;
    w->cb_host = s->host;
    sim_trace(w, SIM_TRACE_NOTIFY, s->id, s->notify, s->user);
    if (s->user == SIM_USER_CLOSING || s->tcp == SIM_TCP_DEAD || (s->notify & SIM_N_CLOSE)) {
        /* Only on_close remains: it is delivered once the reason is known (a failure,
         * or the FIN of a close acknowledged). */
        bool done = s->tcp == SIM_TCP_DEAD || s->close_reason != TP_OK ||
                    (s->user == SIM_USER_CLOSING && s->fin_acked);
        if (!done || s->user == SIM_USER_DETACHED || s->user == SIM_USER_UNADOPTED) {
            s->notify = 0;
            return;
        }
        s->notify = 0;
        s->user = SIM_USER_DETACHED;
        s->cbs->on_close(s->arg, s, s->close_reason);
        /* A reset endpoint may still owe its RST to the peer: it goes when that is out. */
        maybe_destroy(s);
        return;
    }
    if (s->user != SIM_USER_ACTIVE) {
        s->notify = 0;
        return;
    }
    uint8_t n = s->notify;
    s->notify = 0;
    if (n & SIM_N_CONNECT) {
        s->cbs->on_connect(s->arg, s);
        if (s->dead || s->user != SIM_USER_ACTIVE) return;
    }
    if (!s->paused && s->rcv.len > 0) {
        deliver_data(s);
        if (s->dead || s->user != SIM_USER_ACTIVE) return;
    }
    if (s->eof_received && !s->eof_delivered && s->rcv.len == 0 && !s->paused &&
        s->tcp != SIM_TCP_DEAD) {
        s->eof_delivered = 1;
        if (s->cbs->on_eof) {
            s->cbs->on_eof(s->arg, s);
        } else {
            sim_stream_close(s->host, s); /* env.h: no on_eof means EOF closes */
            return;
        }
        if (s->dead || s->user != SIM_USER_ACTIVE) return;
    }
    if (s->want_writable && s->snd.len < w->cfg.send_buffer_bytes && s->tcp != SIM_TCP_DEAD) {
        s->want_writable = 0;
        s->cbs->on_writable(s->arg, s);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Timers: SYN, keepalive, user timeout                                                 */

static void watch_fire(void *arg) {
    tp_stream *s = arg;
    sim_world *w = s->host->world;
    const sim_world_config *c = &w->cfg;
    int64_t now = w->now_ns;
    sim_trace(w, SIM_TRACE_WATCH, s->id, s->tcp, 0);
    if (s->tcp == SIM_TCP_SYN_SENT || s->tcp == SIM_TCP_SYN_RCVD) {
        if (s->tcp == SIM_TCP_SYN_SENT) w->stats.connects_timed_out++;
        fail(s, TP_ERR_TIMEOUT);
        return;
    }
    if (s->tcp != SIM_TCP_ESTABLISHED) return;
    bool lingering = s->user == SIM_USER_DETACHED && s->fin_acked;
    if (lingering && now - s->progress_ns >= SIM_FIN_WAIT_NS) {
        destroy(s); /* the peer never closed its side */
        return;
    }
    bool pending = s->snd.len > 0 || (s->fin_queued && !s->fin_acked);
    if (pending && c->user_timeout_ns > 0 && now - s->progress_ns >= c->user_timeout_ns) {
        w->stats.streams_timed_out++;
        fail(s, TP_ERR_TIMEOUT);
        return;
    }
    if (!pending && c->keepalive_idle_ns > 0 && now - s->last_heard_ns >= c->keepalive_idle_ns) {
        /* A keepalive probe; its answer is taken as immediate (README). */
        if (sim_path_open(w, s->host->index, s->peer_host)) {
            if (s->peer == NULL) {
                w->stats.streams_reset++;
                fail(s, TP_ERR_CONN_RESET);
                return;
            }
            s->last_heard_ns = now;
            s->ka_unanswered = 0;
        } else {
            s->ka_unanswered++;
            bool dead = c->user_timeout_ns > 0 ? now - s->last_heard_ns >= c->user_timeout_ns
                                               : s->ka_unanswered > c->keepalive_count;
            if (dead) {
                w->stats.streams_timed_out++;
                fail(s, TP_ERR_TIMEOUT);
                return;
            }
        }
    }
    int64_t next = INT64_MAX;
    if (pending && c->user_timeout_ns > 0) next = s->progress_ns + c->user_timeout_ns;
    if (c->keepalive_idle_ns > 0) {
        int64_t ka = now - s->last_heard_ns >= c->keepalive_idle_ns ? now + c->keepalive_interval_ns
                                                                    : s->last_heard_ns + c->keepalive_idle_ns;
        if (ka < next) next = ka;
    }
    if (lingering && s->progress_ns + SIM_FIN_WAIT_NS < next) next = s->progress_ns + SIM_FIN_WAIT_NS;
    if (next != INT64_MAX) sim_arm(w, &s->t_watch, next <= now ? now + 1 : next);
}

/* SYN attempts: Linux retries SYNs after 1, 2, 4, ... s (simplified: one attempt per
 * backoff step until syn_timeout_ns). */
static void syn_send(tp_stream *c) {
    sim_world *w = c->host->world;
    sim_host *to = host_of(w, c->peer_host);
    int64_t at = to ? w->now_ns + sim_latency_ns(w, c->host, to) : INT64_MAX;
    c->ctl = SIM_CTL_SYN;
    if (to) sim_arm(w, &c->t_ctl, at);
}

static void syn_arrives(tp_stream *c) {
    sim_world *w = c->host->world;
    sim_host *h = host_of(w, c->peer_host);
    if (!sim_path_open(w, c->host->index, c->peer_host)) {
        /* Lost: retry after 1 s, 2 s, 4 s, ... from now (the SYN timeout ends it). */
        int64_t back = 1000000000LL << (c->syn_tries < 6 ? c->syn_tries : 6);
        c->syn_tries++;
        c->ctl = SIM_CTL_SYN;
        sim_arm(w, &c->t_ctl, w->now_ns + back + sim_latency_ns(w, c->host, h));
        return;
    }
    tp_listener *l = NULL;
    for (tp_listener *x = h->listeners; x; x = x->next)
        if (x->local.port == c->remote.port) l = x;
    if (l == NULL || l->pending >= l->backlog) {
        c->ctl = SIM_CTL_REFUSED;
        sim_arm(w, &c->t_ctl, w->now_ns + sim_latency_ns(w, h, c->host));
        return;
    }
    tp_stream *a = stream_new(h);
    a->tcp = SIM_TCP_SYN_RCVD;
    a->user = SIM_USER_UNADOPTED;
    a->listener = l;
    l->pending++;
    a->local = c->remote;
    a->remote = c->local;
    a->peer_host = c->host->index;
    a->peer = c;
    c->peer = a;
    /* The accepted side gives up if the final ACK never comes. */
    sim_arm(w, &a->t_watch, w->now_ns + w->cfg.syn_timeout_ns);
    emit(a, 0, SIM_SEG_SYNACK);
}

static void ctl_fire(void *arg) {
    tp_stream *s = arg;
    sim_world *w = s->host->world;
    uint8_t ctl = s->ctl;
    s->ctl = SIM_CTL_NONE;
    sim_trace(w, SIM_TRACE_CTL, s->id, ctl, 0);
    switch (ctl) {
    case SIM_CTL_SYN: syn_arrives(s); break;
    case SIM_CTL_REFUSED:
        if (sim_path_open(w, s->peer_host, s->host->index) && s->tcp == SIM_TCP_SYN_SENT) {
            w->stats.connects_refused++;
            fail(s, TP_ERR_CONN_REFUSED);
        } else if (s->tcp == SIM_TCP_SYN_SENT) {
            syn_send(s); /* the refusal was lost: the SYN is retried */
        }
        break;
    case SIM_CTL_RST:
        if (sim_path_open(w, s->peer_host, s->host->index) && s->tcp != SIM_TCP_DEAD &&
            s->peer == NULL)
            reset_received(s);
        break;
    default: break;
    }
}

/* ------------------------------------------------------------------------------------ */
/* The env operations                                                                   */

tp_err sim_stream_listen(sim_host *h, const tp_point *local, int backlog, tp_accept_cb cb,
                         void *arg, tp_listener **out) {
    TP_ASSERT(h->state == SIM_HOST_UP);
    if (!sim_host_ip_matches(h, &local->ip)) return TP_ERR_ADDR_NOT_AVAILABLE;
    uint16_t port = local->port;
    for (tp_listener *l = h->listeners; l; l = l->next)
        if (port != 0 && l->local.port == port) return TP_ERR_ADDR_IN_USE;
    if (port == 0) port = sim_host_ephemeral_port(h);
    tp_listener *l = sim_backend_alloc(h->world, sizeof *l);
    l->host = h;
    l->local.ip = h->ip;
    l->local.port = port;
    l->backlog = backlog;
    l->cb = cb;
    l->arg = arg;
    l->next = h->listeners;
    h->listeners = l;
    *out = l;
    return TP_OK;
}

void sim_stream_listener_close(sim_host *h, tp_listener *l) {
    TP_ASSERT(l->host == h);
    tp_listener **pp = &h->listeners;
    while (*pp != l) {
        TP_ASSERT(*pp != NULL); /* not a listener of this host */
        pp = &(*pp)->next;
    }
    *pp = l->next;
    /* Connections still in the handshake are reset (Linux does the same). */
    for (tp_stream *s = h->streams, *next; s; s = next) {
        next = s->host_next;
        if (s->listener == l) {
            listener_unpend(s);
            if (s->peer) emit(s, 0, SIM_SEG_RST);
            s->tcp = SIM_TCP_DEAD;
            s->user = SIM_USER_DETACHED;
            sim_disarm(h->world, &s->t_watch);
            maybe_destroy(s);
        }
    }
    sim_backend_free(h->world, l, sizeof *l);
}

tp_err sim_stream_connect(sim_host *h, const tp_point *remote, const tp_stream_cbs *cbs,
                          void *arg, tp_stream **out) {
    TP_ASSERT(h->state == SIM_HOST_UP);
    sim_world *w = h->world;
    if (remote->port == 0) return TP_ERR_INVAL;
    sim_host *to = sim_world_host_by_ip(w, &remote->ip);
    tp_stream *c = stream_new(h);
    c->tcp = SIM_TCP_SYN_SENT;
    c->user = SIM_USER_ACTIVE;
    c->cbs = cbs;
    c->arg = arg;
    c->local.ip = h->ip;
    c->local.port = sim_host_ephemeral_port(h);
    c->remote = *remote;
    c->peer_host = to ? to->index : NO_HOST;
    sim_arm(w, &c->t_watch, w->now_ns + w->cfg.syn_timeout_ns);
    syn_send(c);
    w->stats.streams_connected_out++;
    sim_trace(w, SIM_TRACE_CTL, c->id, 100, c->peer_host);
    *out = c;
    return TP_OK;
}

void sim_stream_adopt(sim_host *h, tp_stream *s, const tp_stream_cbs *cbs, void *arg) {
    TP_ASSERT(s->host == h && s->user == SIM_USER_UNADOPTED);
    s->cbs = cbs;
    s->arg = arg;
    s->user = SIM_USER_ACTIVE;
    if (s->rcv.len > 0 || s->eof_received) notify(s, SIM_N_DATA, h->world->now_ns);
}

tp_err sim_stream_write(sim_host *h, tp_stream *s, const uint8_t *data, size_t len,
                        size_t *taken) {
    TP_ASSERT(s->host == h && !s->dead);
    TP_ASSERT(s->user == SIM_USER_ACTIVE || s->user == SIM_USER_UNADOPTED ||
              s->user == SIM_USER_CLOSING);
    sim_world *w = h->world;
    if (s->tcp == SIM_TCP_SYN_SENT) return TP_ERR_STATE;
    if (s->tcp == SIM_TCP_DEAD || s->user == SIM_USER_CLOSING || s->fin_queued)
        return TP_ERR_CLOSED;
    uint32_t room = w->cfg.send_buffer_bytes - s->snd.len;
    uint32_t n = len < room ? (uint32_t)len : room;
    if (s->snd.len == 0 && n > 0) s->progress_ns = w->now_ns;
    ring_push(w, &s->snd, w->cfg.send_buffer_bytes, data, n);
    if (n < len) s->want_writable = 1;
    pump(s);
    *taken = n;
    return TP_OK;
}

void sim_stream_read_pause(sim_host *h, tp_stream *s) {
    TP_ASSERT(s->host == h && !s->dead);
    s->paused = 1;
}

void sim_stream_read_resume(sim_host *h, tp_stream *s) {
    TP_ASSERT(s->host == h && !s->dead);
    if (!s->paused) return;
    s->paused = 0;
    if (s->rcv.len > 0 || (s->eof_received && !s->eof_delivered))
        notify(s, SIM_N_DATA, h->world->now_ns);
}

void sim_stream_shutdown_write(sim_host *h, tp_stream *s) {
    TP_ASSERT(s->host == h && !s->dead);
    if (s->fin_queued || s->tcp == SIM_TCP_DEAD) return;
    s->fin_queued = 1;
    pump(s);
}

void sim_stream_close(sim_host *h, tp_stream *s) {
    TP_ASSERT(s->host == h && !s->dead);
    /* env.h: closing twice, or after reset, is a programmer error. */
    TP_ASSERT(s->user == SIM_USER_ACTIVE || s->user == SIM_USER_UNADOPTED);
    sim_world *w = h->world;
    bool had_user = s->user == SIM_USER_ACTIVE;
    s->user = had_user ? SIM_USER_CLOSING : SIM_USER_DETACHED;
    if (s->tcp == SIM_TCP_SYN_SENT) {
        fail(s, TP_ERR_CANCELLED);
        return;
    }
    if (s->tcp == SIM_TCP_DEAD) { /* the failure's on_close is already on its way */
        if (!had_user) destroy(s);
        return;
    }
    if (!s->in_data_cb) ring_drop(w, &s->rcv, s->rcv.len); /* else after on_data */
    if (s->peer) pump(s->peer);
    if (!s->fin_queued) {
        s->fin_queued = 1;
        pump(s);
    }
    if (s->fin_acked && had_user) notify(s, SIM_N_CLOSE, w->now_ns);
    maybe_destroy(s);
}

void sim_stream_reset(sim_host *h, tp_stream *s) {
    TP_ASSERT(s->host == h && !s->dead);
    TP_ASSERT(s->user != SIM_USER_DETACHED); /* reset after on_close */
    sim_world *w = h->world;
    bool had_user = s->user == SIM_USER_ACTIVE || s->user == SIM_USER_CLOSING;
    s->user = had_user ? SIM_USER_CLOSING : SIM_USER_DETACHED;
    s->close_reason = TP_ERR_CANCELLED;
    if (s->tcp == SIM_TCP_SYN_SENT || s->tcp == SIM_TCP_DEAD) {
        fail(s, TP_ERR_CANCELLED);
        return;
    }
    /* Unsent bytes are dropped; segments already on the wire still arrive, then the
     * RST. */
    uint32_t unsent = s->snd.len - s->snd_sent;
    if (unsent > 0) {
        s->snd.len -= unsent;
        if (s->snd.len == 0) ring_drop(w, &s->snd, 0);
    }
    if (!s->in_data_cb) ring_drop(w, &s->rcv, s->rcv.len); /* else after on_data */
    listener_unpend(s);
    tp_stream *peer = s->peer;
    s->tcp = SIM_TCP_DEAD;
    sim_disarm(w, &s->t_watch);
    sim_disarm(w, &s->t_ctl);
    if (peer) {
        emit(s, 0, SIM_SEG_RST);
    }
    if (had_user) {
        s->notify = SIM_N_CLOSE;
        notify(s, SIM_N_CLOSE, w->now_ns);
    } else {
        maybe_destroy(s);
    }
}

void sim_stream_addresses(sim_host *h, tp_stream *s, tp_point *local, tp_point *remote) {
    TP_ASSERT(s->host == h);
    if (local) *local = s->local;
    if (remote) *remote = s->remote;
}

/* ------------------------------------------------------------------------------------ */
/* Host lifecycle                                                                       */

void sim_streams_host_crash(sim_host *h) {
    while (h->streams) destroy(h->streams);
    while (h->listeners) {
        tp_listener *l = h->listeners;
        h->listeners = l->next;
        sim_backend_free(h->world, l, sizeof *l);
    }
}

void sim_streams_host_halt(sim_host *h) {
    sim_world *w = h->world;
    /* Listeners first: their pending handshakes are reset. */
    while (h->listeners) sim_stream_listener_close(h, h->listeners);
    for (tp_stream *s = h->streams, *next; s; s = next) {
        next = s->host_next;
        if (s->dead || s->user == SIM_USER_DETACHED) continue;
        if (s->tcp == SIM_TCP_SYN_SENT || s->tcp == SIM_TCP_DEAD) {
            destroy(s);
            continue;
        }
        /* Closed gracefully, as an orphan: the peer gets the data, then EOF. */
        s->user = SIM_USER_DETACHED;
        s->notify = 0;
        sim_disarm(w, &s->t_notify);
        ring_drop(w, &s->rcv, s->rcv.len);
        if (!s->fin_queued) {
            s->fin_queued = 1;
            pump(s);
        }
        maybe_destroy(s);
    }
}
