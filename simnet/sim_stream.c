/* simnet/sim_stream.c — TCP streams and listeners for simulated hosts
 * (env.h "Streams"; model in simnet/README.md "Streams").
 *
 * A connection is two endpoints (tp_stream), one per host. They know each other only
 * by (host index, stream id), never by pointer: an event of a host touches that
 * host's endpoints only, and reaches the other end by a message (sim_smsg, an event of
 * the other host at least one path latency later; simnet/README.md "Parallel runs").
 *
 * The sender drives each direction. It owns its send ring (bytes taken by
 * stream_write and not yet confirmed delivered), a FIFO of segments in flight to the
 * peer (data trains of 1-2 packets, and control segments) with their precomputed
 * arrival times, and, once data flows, its TCP state (sim_tcb: cwnd, RTT, the ACK
 * returns still to come, computed when each train is sent, and its model of the
 * peer's ACK policy and advertised window). Every segment also goes to the peer as a
 * message carrying its bytes, for the same arrival time. The receiver owns its
 * receive ring, its downlink, its reader and its window autotuning; what only it
 * knows reaches the sender by messages: window updates (bytes read, window clamp),
 * the acknowledgement of a FIN, a train dropped or queued in its downlink, keepalive
 * answers and resets.
 *
 * Both ends decide whether a segment got through from world state at its arrival time
 * (the path open, both hosts up: it changes only at barriers): the receiver drops what
 * arrives over a cut path, and the sender, at the same instant, sees the stall and
 * retransmits after its RTO (re-sending the segment and those behind it that would
 * have arrived before it; the receiver takes a segment only in sequence, so it drops
 * the copies sent before). Endpoint events:
 *   t_tx      the head segment of the FIFO arrives (the sender's half: confirm, or
 *             stall and retransmit), for "exact" endpoints; else the lazy drain of
 *             segments that arrived (see "Lazy confirmation" below);
 *   t_notify  user callbacks (connect, data in random splits, eof, writable, close);
 *   t_watch   SYN timeout, TCP user timeout and keepalive;
 *   t_ctl     the SYN's arrival (retry if lost) and, when established, the next ACK
 *             return while the sender waits on cwnd;
 *   rxq->t    (allocated while in use) trains held in the receiver's downlink.
 * Congestion control is in sim_tcp_cc.c (tcp_congestion_ops-like tables).
 *
 * Linux references for the model (read, not copied): net/ipv4/tcp_input.c
 * (tcp_event_data_recv: quickack; tcp_grow_window; tcp_rtt_estimator), tcp_output.c
 * (tcp_cwnd_restart, tcp_event_data_sent, tcp_schedule_loss_probe, __tcp_select_window
 * and tcp_cleanup_rbuf: window updates), tcp_timer.c (RTO back-off, SYN and SYN-ACK
 * retransmission).
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
static void tcb_free(sim_part *w, tp_stream *s);
static void acks_clear(tp_stream *s);
static void rxq_free(tp_stream *s);
static void confirm_due(tp_stream *s);
static void tx_watch(tp_stream *s);
static uint32_t snd_max(const sim_world *w, const tp_stream *s);

/* ------------------------------------------------------------------------------------ */
/* Host context (PARALLEL.md): the host whose event runs on this thread, set by the run
 * loop; NULL at a barrier (world code may touch any host). Every function that changes
 * an endpoint checks that the endpoint is the running host's. */

_Thread_local sim_host *sim_ctx_host;

#define OWN(s)                                                                           \
    do {                                                                                 \
        TP_ASSERT((sim_ctx_host == NULL || sim_ctx_host == (s)->host) &&                 \
                  "an event of one host touched another host's stream");                 \
        (s)->host->part->ctx_checks++;                                                   \
    } while (0)
#define HOST_OWN(h)                                                                      \
    TP_ASSERT((sim_ctx_host == NULL || sim_ctx_host == (h)) &&                           \
              "an event of one host used another host's env")
/* ------------------------------------------------------------------------------------ */
/* Rings                                                                                */

#define RING_MIN 2048u
#define RING_CACHE_MAX 4096u /* idle RING_MIN buffers kept for reuse: at most 8 MiB */

/* Most streams carry a few small messages at a time, so their rings go empty -> one
 * RING_MIN buffer -> empty again for every message. Drained RING_MIN buffers go to a
 * per-world free list instead of malloc (calloc and free of 2 KiB were ~8 % of a
 * 1,000-node run). Cached buffers stay counted in sim_world_backend_bytes; their
 * contents are not cleared (a ring never reads past its length). */
static uint8_t *ring_buf_alloc(sim_part *w, uint32_t cap) {
    if (cap == RING_MIN && w->ring_cache != NULL) {
        uint8_t *b = w->ring_cache;
        memcpy(&w->ring_cache, b, sizeof w->ring_cache);
        w->ring_cache_count--;
        return b;
    }
    return sim_backend_alloc(w, cap);
}

static void ring_buf_free(sim_part *w, uint8_t *buf, uint32_t cap) {
    if (buf == NULL) return;
    if (cap == RING_MIN && w->ring_cache_count < RING_CACHE_MAX) {
        memcpy(buf, &w->ring_cache, sizeof w->ring_cache);
        w->ring_cache = buf;
        w->ring_cache_count++;
        return;
    }
    sim_backend_free(w, buf, cap);
}

void sim_ring_cache_free(sim_part *w) {
    while (w->ring_cache != NULL) {
        uint8_t *b = w->ring_cache;
        memcpy(&w->ring_cache, b, sizeof w->ring_cache);
        sim_backend_free(w, b, RING_MIN);
    }
    w->ring_cache_count = 0;
}

static void ring_push(sim_part *w, sim_ring *r, uint32_t max, const uint8_t *data, uint32_t n) {
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

static void ring_drop(sim_part *w, sim_ring *r, uint32_t n) {
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

/* ------------------------------------------------------------------------------------ */
/* Messages between hosts                                                               */

enum { /* sim_smsg.kind */
    SIM_M_SEG = 1,  /* a segment (data and/or SIM_SEG_* flags), from the peer's FIFO */
    SIM_M_SYN,      /* a connection request, to a port */
    SIM_M_REFUSED,  /* the RST answering a SYN: nobody listens, or the backlog is full */
    SIM_M_RST,      /* the RST answering a message for a connection the host lacks */
    SIM_M_FINACK,   /* the receiver got our FIN (every byte before it) */
    SIM_M_WND,      /* a window update: bytes consumed (v1 low), window clamp (v1 high) */
    SIM_M_KA,       /* a keepalive probe */
    SIM_M_KA_ACK,   /* its answer */
    SIM_M_DROP,     /* a train (tag) was dropped in the receiver's downlink; v1: its new ACK time */
    SIM_M_QUEUED,   /* a train (tag) waited v1 ns in the receiver's downlink */
};

static void smsg_fire(void *arg);

static sim_smsg *smsg_get(sim_part *p, uint32_t len) {
    sim_smsg *m = p->smsg_free;
    if (m != NULL) {
        p->smsg_free = m->next_free;
        p->smsg_free_count--;
    } else {
        m = sim_backend_alloc(p, sizeof *m);
        tp_timer_init(&m->t, smsg_fire, m);
    }
    if (m->cap < len) {
        uint32_t cap = len < 1024 ? 1024 : len;
        m->data = sim_backend_realloc(p, m->data, m->cap, cap);
        m->cap = cap;
    }
    m->len = len;
    m->flags = 0;
    m->tag = 0;
    m->seq = 0;
    m->v1 = 0;
    return m;
}

#define SMSG_CACHE_MAX 1024u   /* free messages kept per partition */
#define SMSG_KEEP_BYTES 4096u  /* ... with a payload buffer at most this large */

/* Back to the free list of the partition that ran it (its receiver's), or freed. */
static void smsg_put(sim_part *p, sim_smsg *m) {
    if (p->smsg_free_count >= SMSG_CACHE_MAX) {
        sim_backend_free(p, m->data, m->cap);
        sim_backend_free(p, m, sizeof *m);
        return;
    }
    if (m->cap > SMSG_KEEP_BYTES) {
        sim_backend_free(p, m->data, m->cap);
        m->data = NULL;
        m->cap = 0;
    }
    m->next_free = p->smsg_free;
    p->smsg_free = m;
    p->smsg_free_count++;
}

static bool smsg_queued(const tp_timer *t, void *arg) {
    (void)arg;
    return t->cb == smsg_fire;
}

void sim_smsgs_free(sim_part *p) {
    /* Messages in flight are referenced by the queue only: take them out of it, then
     * bring them back (smsg_put may free one beyond the free list's cap, which the
     * queue's filter would then read). */
    uint32_t n = 0, len = sim_queue_len(&p->q);
    sim_smsg **inflight = malloc((len ? len : 1) * sizeof *inflight);
    TP_ASSERT(inflight != NULL);
    for (uint32_t i = 0; i < len; i++) {
        tp_timer *t = p->q.ent[i].timer;
        if (t->cb == smsg_fire) inflight[n++] = t->arg;
    }
    sim_queue_filter(&p->q, smsg_queued, NULL);
    for (uint32_t i = 0; i < n; i++) smsg_put(p, inflight[i]);
    free(inflight);
    while (p->smsg_free) {
        sim_smsg *m = p->smsg_free;
        p->smsg_free = m->next_free;
        sim_backend_free(p, m->data, m->cap);
        sim_backend_free(p, m, sizeof *m);
    }
    p->smsg_free_count = 0;
}

/* A message from endpoint s to its peer endpoint, arriving at `at`. */
static sim_smsg *smsg_to_peer(tp_stream *s, uint8_t kind, uint32_t len) {
    sim_smsg *m = smsg_get(s->host->part, len);
    m->kind = kind;
    m->from_host = s->host->index;
    m->from_id = s->id;
    m->to_id = s->peer_id;
    return m;
}

static void smsg_post(sim_host *from, uint32_t to_host, sim_smsg *m, int64_t at) {
    m->to = sim_host_at(from->world, to_host);
    sim_post(from, m->to, &m->t, at);
}

/* The one-way base latency from -> to (no jitter drawn): a lower bound of any arrival. */
static int64_t base_ns(const sim_world *w, const sim_host *from, const sim_host *to) {
    if (from == to) return w->cfg.loopback_latency_ns;
    return w->latency[from->region * w->cfg.region_count + to->region].base_ns;
}

/* ------------------------------------------------------------------------------------ */
/* Endpoint lifetime and the per-host endpoint table                                    */

static sim_host *host_of(sim_world *w, uint32_t index) {
    return index == NO_HOST ? NULL : sim_host_at(w, index);
}

/* Each host's endpoints by id (messages name them so): open addressing with linear
 * probing, at most 3/4 full, allocated with the first endpoint and freed with the
 * last. O(1) per message at any number of connections. */
static uint32_t stab_hash(uint64_t id, uint32_t cap) {
    return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static void stab_put(sim_stab *t, tp_stream *s) {
    uint32_t i = stab_hash(s->id, t->cap);
    while (t->e[i] != NULL) i = (i + 1) & (t->cap - 1);
    t->e[i] = s;
    t->count++;
}

static void stab_add(sim_host *h, tp_stream *s) {
    sim_stab *t = h->stab;
    if (t == NULL || (t->count + 1) * 4 > t->cap * 3) {
        uint32_t cap = t ? t->cap * 2 : 8;
        sim_stab *n = sim_backend_alloc(h->part, sizeof *n + (size_t)cap * sizeof n->e[0]);
        n->cap = cap;
        if (t != NULL) {
            for (uint32_t i = 0; i < t->cap; i++)
                if (t->e[i] != NULL) stab_put(n, t->e[i]);
            sim_backend_free(h->part, t, sizeof *t + (size_t)t->cap * sizeof t->e[0]);
        }
        h->stab = t = n;
    }
    stab_put(t, s);
}

static void stab_remove(sim_host *h, tp_stream *s) {
    sim_stab *t = h->stab;
    TP_ASSERT(t != NULL);
    uint32_t mask = t->cap - 1, i = stab_hash(s->id, t->cap);
    while (t->e[i] != s) {
        TP_ASSERT(t->e[i] != NULL);
        i = (i + 1) & mask;
    }
    /* backward-shift deletion: no tombstones */
    for (uint32_t j = (i + 1) & mask; t->e[j] != NULL; j = (j + 1) & mask) {
        uint32_t home = stab_hash(t->e[j]->id, t->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->e[i] = t->e[j];
            i = j;
        }
    }
    t->e[i] = NULL;
    if (--t->count == 0) {
        sim_backend_free(h->part, t, sizeof *t + (size_t)t->cap * sizeof t->e[0]);
        h->stab = NULL;
    }
}

/* The live endpoint of host h with this id, or NULL. */
static tp_stream *stream_find(sim_host *h, uint64_t id) {
    const sim_stab *t = h->stab;
    if (t == NULL || id == 0) return NULL;
    for (uint32_t i = stab_hash(id, t->cap);; i = (i + 1) & (t->cap - 1)) {
        tp_stream *s = t->e[i];
        if (s == NULL || s->id == id) return s;
    }
}

static tp_stream *stream_new(sim_host *h) {
    tp_stream *s = sim_backend_alloc(h->part, sizeof *s);
    s->host = h;
    s->id = ((uint64_t)(h->index + 1) << 40) | (++h->seq & ((1ull << 40) - 1)); /* per host */
    s->peer_host = NO_HOST;
    s->close_reason = TP_OK;
    s->host_next = h->streams;
    if (h->streams) h->streams->host_prev = s;
    h->streams = s;
    stab_add(h, s);
    tp_timer_init(&s->t_tx, tx_fire, s);
    tp_timer_init(&s->t_notify, notify_fire, s);
    tp_timer_init(&s->t_watch, watch_fire, s);
    tp_timer_init(&s->t_ctl, ctl_fire, s);
    s->last_heard_ns = s->progress_ns = sim_now(s->host);
    return s;
}

static void listener_unpend(tp_stream *s) {
    if (s->listener) {
        s->listener->pending--;
        s->listener = NULL;
    }
}

/* Removes s from its host now (no callback; messages for it are answered with an RST
 * from now on) and frees it after the current event. */
static void destroy(tp_stream *s) {
    if (s->dead) return;
    OWN(s);
    s->dead = 1;
    s->user = SIM_USER_DETACHED;
    listener_unpend(s);
    sim_disarm(s->host, &s->t_tx);
    sim_disarm(s->host, &s->t_notify);
    sim_disarm(s->host, &s->t_watch);
    sim_disarm(s->host, &s->t_ctl);
    rxq_free(s);
    sim_host *h = s->host;
    stab_remove(h, s);
    if (s->host_prev)
        s->host_prev->host_next = s->host_next;
    else
        h->streams = s->host_next;
    if (s->host_next) s->host_next->host_prev = s->host_prev;
    s->host_prev = s->host_next = NULL;
    s->grave_next = s->host->part->graveyard;
    s->host->part->graveyard = s;
}

void sim_streams_flush_graveyard(sim_part *w) {
    while (w->graveyard) {
        tp_stream *s = w->graveyard;
        w->graveyard = s->grave_next;
        ring_buf_free(w, s->snd.buf, s->snd.cap);
        ring_buf_free(w, s->rcv.buf, s->rcv.cap);
        sim_backend_free(w, s->segs, (size_t)s->seg_cap * sizeof *s->segs);
        tcb_free(w, s);
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
    OWN(s);
    s->notify |= what;
    if (s->t_notify.backend_index == TP_TIMER_NOT_ARMED || s->t_notify.deadline_ns > at_ns)
        sim_arm(s->host, &s->t_notify, at_ns);
}

static void clear_segments(tp_stream *s) {
    sim_backend_free(s->host->part, s->segs, (size_t)s->seg_cap * sizeof *s->segs);
    s->segs = NULL;
    s->seg_count = s->seg_cap = s->seg_head = 0;
    sim_disarm(s->host, &s->t_tx);
}

/* Bytes of rcv the reader may have (the rest is still in the downlink). */
static uint32_t rcv_ready(const tp_stream *s) {
    return s->rcv.len - (s->tcb != NULL ? s->tcb->rcv_hold : 0);
}

/* The connection is over for this endpoint: tell the user (if it still listens), or
 * disappear. */
static void fail(tp_stream *s, tp_err reason) {
    OWN(s);
    s->tcp = SIM_TCP_DEAD;
    clear_segments(s);
    sim_disarm(s->host, &s->t_watch);
    sim_disarm(s->host, &s->t_ctl);
    s->ctl = SIM_CTL_NONE;
    acks_clear(s);
    rxq_free(s);
    listener_unpend(s);
    if (s->user == SIM_USER_ACTIVE || s->user == SIM_USER_CLOSING) {
        if (s->close_reason == TP_OK) s->close_reason = reason;
        s->notify = SIM_N_CLOSE;
        notify(s, SIM_N_CLOSE, sim_now(s->host));
    } else {
        destroy(s);
    }
}
/* ------------------------------------------------------------------------------------ */
/* Sending segments                                                                     */

/* Lazy confirmation. The sender's half of a segment's arrival (its bytes leave the
 * send buffer, progress, the peer's unread bytes as the sender counts them) needs no
 * event at the arrival time unless something depends on that instant: a stall (the
 * path cut at the arrival: the sender retransmits), a writer waiting for room, an
 * endpoint closing or gone from its user (it ends when its last segment is out). Such
 * an endpoint is "exact": t_tx runs at each segment's arrival. Otherwise segments are
 * confirmed when the sender next acts (write, pump, timers, messages from the peer),
 * and by t_tx at most SIM_LAZY_NS after the first is due (so that buffers drain). The
 * path's state changes only at barriers: sim_streams_net_changed makes every endpoint
 * with segments in flight exact before host events run again. */
#define SIM_LAZY_NS (100 * 1000000LL)

static void seg_push(tp_stream *s, sim_seg seg) {
    if (s->seg_count == s->seg_cap) {
        uint16_t cap = s->seg_cap ? (uint16_t)(s->seg_cap * 2) : 4;
        TP_ASSERT(cap > s->seg_cap);
        sim_seg *segs = sim_backend_alloc(s->host->part, (size_t)cap * sizeof *segs);
        for (uint16_t i = 0; i < s->seg_count; i++)
            segs[i] = s->segs[(s->seg_head + i) % s->seg_cap];
        sim_backend_free(s->host->part, s->segs, (size_t)s->seg_cap * sizeof *s->segs);
        s->segs = segs;
        s->seg_cap = cap;
        s->seg_head = 0;
    }
    s->segs[(s->seg_head + s->seg_count) % s->seg_cap] = seg;
    s->seg_count++;
    if (s->seg_count == 1) sim_arm(s->host, &s->t_tx, s->tx_exact ? seg.time_ns : seg.time_ns + SIM_LAZY_NS);
}

static sim_seg *seg_head(tp_stream *s) { return &s->segs[s->seg_head]; }

static void seg_pop(tp_stream *s) {
    s->seg_head = (uint16_t)((s->seg_head + 1) % s->seg_cap);
    s->seg_count--;
    if (s->seg_count == 0) { /* idle connections keep no segment array */
        sim_backend_free(s->host->part, s->segs, (size_t)s->seg_cap * sizeof *s->segs);
        s->segs = NULL;
        s->seg_cap = s->seg_head = 0;
    }
}


static uint32_t snd_seq(const tp_stream *s) { return s->tcb != NULL ? s->tcb->snd_seq : 0; }

/* Sends segment `seg` (its bytes `off` bytes into snd) to the peer as a message for its
 * arrival time. */
static void seg_post(tp_stream *s, const sim_seg *seg, uint32_t off) {
    if (s->peer_host == NO_HOST) return; /* no such host: nothing arrives anywhere */
    sim_smsg *m = smsg_to_peer(s, SIM_M_SEG, seg->len);
    m->flags = seg->flags;
    m->tag = seg->tag;
    m->seq = snd_seq(s) + off;
    if (seg->len > 0) ring_peek(&s->snd, off, m->data, seg->len);
    smsg_post(s->host, s->peer_host, m, seg->time_ns);
}
/* ------------------------------------------------------------------------------------ */
/* The TCP model: control blocks, RTO, ACK returns                                      */

static uint32_t ms_of(int64_t ns) { return (uint32_t)(ns / 1000000); }

static sim_tcb *tcb_get(tp_stream *s) {
    if (s->tcb) return s->tcb;
    sim_world *w = s->host->world;
    sim_tcb *t = sim_backend_alloc(s->host->part, sizeof *t);
    t->ops = sim_tcp_cc_find(w->cfg.tcp.cc);
    t->cwnd = w->cfg.tcp.initial_window_packets;
    t->ssthresh = UINT32_MAX;
    t->rcv_wnd = t->window_clamp = t->peer_clamp = t->clamp_reported = w->cfg.receive_buffer_bytes / 2;
    t->rcv_space = 10 * w->cfg.tcp.mss_bytes; /* tcp_init_buffer_space: TCP_INIT_CWND */
    t->rcv_space_ns = sim_now(s->host);
    /* The handshake's RTT sample: the path's base RTT (no jitter drawn). */
    sim_host *ph = host_of(w, s->peer_host);
    if (ph != NULL && ph != s->host) {
        uint32_t rc = w->cfg.region_count;
        int64_t rtt = w->latency[s->host->region * rc + ph->region].base_ns +
                      w->latency[ph->region * rc + s->host->region].base_ns;
        if (rtt > 0) {
            t->srtt_ns = rtt;
            t->rttvar_ns = rtt / 2;
        }
    }
    t->ops->init(t);
    s->tcb = t;
    return t;
}

static void tcb_free(sim_part *w, tp_stream *s) {
    if (s->tcb == NULL) return;
    sim_backend_free(s->host->part, s->tcb->acks, (size_t)s->tcb->ack_cap * sizeof *s->tcb->acks);
    sim_backend_free(s->host->part, s->tcb, sizeof *s->tcb);
    s->tcb = NULL;
}

/* Linux's RTO (tcp_set_rto): srtt + max(4 * rttvar, rto_min), 1 s before any sample,
 * doubled per back-off, at most rto_max. */
static int64_t rto_ns(const sim_world *w, const sim_tcb *t, unsigned backoff) {
    int64_t r = 1000000000LL;
    if (t != NULL && t->srtt_ns > 0) {
        int64_t v = 4 * t->rttvar_ns;
        r = t->srtt_ns + (v > w->cfg.tcp.rto_min_ns ? v : w->cfg.tcp.rto_min_ns);
    }
    for (unsigned i = 0; i < backoff && r < w->cfg.rto_max_ns; i++) r *= 2;
    return r < w->cfg.rto_max_ns ? r : w->cfg.rto_max_ns;
}

/* RFC 6298 / tcp_rtt_estimator: srtt += (m - srtt) / 8, rttvar += (|m - srtt| - rttvar) / 4. */
static void rtt_sample(sim_tcb *t, int64_t m) {
    if (m <= 0) m = 1;
    if (t->srtt_ns == 0) {
        t->srtt_ns = m;
        t->rttvar_ns = m / 2;
    } else {
        int64_t err = m - t->srtt_ns;
        t->srtt_ns += err / 8;
        int64_t a = err < 0 ? -err : err;
        t->rttvar_ns += (a - t->rttvar_ns) / 4;
    }
}

/* ACK returns are applied lazily: before the sender sends (pump), and by an event (t_ctl)
 * only while the sender waits for them (cwnd full with data waiting). Each is applied
 * at its own time, in time order, so when it is applied changes nothing. */
static void acks_arm(tp_stream *s) {
    sim_tcb *t = s->tcb;
    if (t == NULL || t->ack_count == 0 || s->dead || s->tcp != SIM_TCP_ESTABLISHED) return;
    if (s->ctl != SIM_CTL_NONE && s->ctl != SIM_CTL_ACK) return;
    int64_t at = t->acks[t->ack_head].time_ns;
    if (s->ctl == SIM_CTL_ACK && s->t_ctl.backend_index != TP_TIMER_NOT_ARMED && s->t_ctl.deadline_ns == at)
        return;
    s->ctl = SIM_CTL_ACK;
    sim_arm(s->host, &s->t_ctl, at);
}

/* Inserts an ACK return in time order. */
static void ack_push(tp_stream *s, sim_ack a) {
    sim_tcb *t = s->tcb;
    if (s->dead || s->tcp != SIM_TCP_ESTABLISHED || t == NULL) return; /* nobody waits */
    if (t->ack_head + t->ack_count == t->ack_cap) {
        if (t->ack_head > 0) {
            memmove(t->acks, t->acks + t->ack_head, (size_t)t->ack_count * sizeof *t->acks);
            t->ack_head = 0;
        } else {
            uint32_t cap = t->ack_cap ? t->ack_cap * 2 : 4;
            t->acks = sim_backend_realloc(s->host->part, t->acks, (size_t)t->ack_cap * sizeof *t->acks,
                                          (size_t)cap * sizeof *t->acks);
            t->ack_cap = cap;
        }
    }
    sim_ack *q = t->acks + t->ack_head;
    uint32_t i = t->ack_count;
    while (i > 0 && q[i - 1].time_ns > a.time_ns) {
        q[i] = q[i - 1];
        i--;
    }
    q[i] = a;
    t->ack_count++;
    if (t->cwnd_limited) acks_arm(s); /* the sender waits for ACKs */
}

/* The natural ACK of train `tag` comes later: at `at` (the train waited in the
 * receiver's downlink queue, or was dropped there and sent again). */
static void ack_move(tp_stream *s, uint16_t tag, int64_t at) {
    sim_tcb *t = s->tcb;
    if (t == NULL || tag == 0) return;
    sim_ack *q = t->acks + t->ack_head;
    for (uint32_t i = 0; i < t->ack_count; i++) {
        if (q[i].tag != tag || !(q[i].flags & SIM_ACK_SAMPLE)) continue;
        if (q[i].time_ns >= at) return;
        sim_ack a = q[i];
        a.time_ns = at;
        uint32_t j = i;
        while (j + 1 < t->ack_count && q[j + 1].time_ns <= at) {
            q[j] = q[j + 1];
            j++;
        }
        q[j] = a;
        if (i == 0 && t->cwnd_limited) acks_arm(s); /* the first one moved */
        return;
    }
}

static void acks_clear(tp_stream *s) {
    sim_tcb *t = s->tcb;
    if (t == NULL) return;
    sim_backend_free(s->host->part, t->acks, (size_t)t->ack_cap * sizeof *t->acks);
    t->acks = NULL;
    t->ack_head = t->ack_count = t->ack_cap = 0;
    t->inflight = 0;
}

/* The congestion response to a loss signal at time now. */
static void on_loss(sim_tcb *t, bool rto, int64_t now) {
    if (rto) {
        t->ssthresh = t->ops->ssthresh(t);
        t->cwnd = 1;
        t->cwnd_cnt = 0;
        t->ops->on_rto(t);
        t->rto_events++;
        t->loss_events++;
        if (t->backoff < 30) t->backoff++;
    } else if (now >= t->recovery_end_ns) {
        /* Fast recovery: PRR ends with cwnd = ssthresh; taken at once. */
        t->ssthresh = t->ops->ssthresh(t);
        t->cwnd = t->ssthresh;
        t->cwnd_cnt = 0;
        t->loss_events++;
    } else {
        return;
    }
    /* Further losses of the same window are the same episode. */
    t->recovery_end_ns = now + (t->srtt_ns > 0 ? t->srtt_ns : 1000000000LL);
}

/* Applies to *t the ACK returns q[0..n) due by `until`; returns how many. */
static uint32_t acks_apply_to(sim_tcb *t, const sim_ack *q, uint32_t n, int64_t until) {
    uint32_t k = 0;
    for (; k < n && q[k].time_ns <= until; k++) {
        sim_ack a = q[k];
        int64_t at = a.time_ns;
        t->inflight -= a.packets < t->inflight ? a.packets : t->inflight;
        t->delivered += a.packets;
        uint32_t rtt_us = 0;
        if (a.flags & SIM_ACK_SAMPLE) {
            rtt_sample(t, at - a.sent_ns);
            t->backoff = 0;
            int64_t us = (at - a.sent_ns) / 1000;
            rtt_us = us < 1 ? 1 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        }
        if (a.packets > 0) t->ops->pkts_acked(t, a.packets, rtt_us, (uint64_t)at / 1000);
        if (a.flags & SIM_ACK_LOSS)
            on_loss(t, (a.flags & SIM_ACK_RTO) != 0, at);
        else if (a.packets > 0 && at >= t->recovery_end_ns)
            t->ops->cong_avoid(t, a.packets, ms_of(at));
    }
    return k;
}

/* Applies the ACK returns due by now. */
static void acks_apply(tp_stream *s) {
    sim_tcb *t = s->tcb;
    if (t == NULL || t->ack_count == 0) return;
    uint32_t k = acks_apply_to(t, t->acks + t->ack_head, t->ack_count, sim_now(s->host));
    t->ack_head += k;
    t->ack_count -= k;
    if (t->ack_count == 0) t->ack_head = 0; /* the array stays: no malloc per message */
}

static void acks_fire(tp_stream *s) {
    sim_world *w = s->host->world;
    int64_t now = sim_now(s->host);
    pump(s); /* applies the ACKs, sends, and waits for the next ones if still blocked */
    /* the send buffer may have grown with cwnd */
    if (s->want_writable && s->snd.len < snd_max(w, s) && s->user == SIM_USER_ACTIVE)
        notify(s, SIM_N_WRITABLE, now);
}

/* Receive-buffer autotuning (tcp_rcv_space_adjust): n more bytes were read by the
 * application. Once per RTT, if more was read per RTT than in the last measurement,
 * the window clamp grows to 2 x that + 16 packets, more while the rate grows (slow
 * start), up to half of rmem_max. A reader that does not read keeps the first window
 * (64 KiB). A measurement restarts when the reader pauses (sim_stream_read_pause),
 * and the burst a resumed reader gets is not counted: simnet hands it the whole
 * buffer at once, where a real reader reads at most its own buffer per call, so such
 * bursts would inflate the window of a rate-limited reader (core's I/O scheduler
 * pauses and resumes) and, connection by connection, unevenly. */
static void rcv_adjust(tp_stream *s, uint32_t n) {
    sim_tcb *t = s->tcb;
    if (t == NULL || t->resumed) return;
    const sim_world *w = s->host->world;
    t->copied += n;
    int64_t rtt = t->srtt_ns > 0 ? t->srtt_ns : 1000000000LL;
    if (sim_now(s->host) - t->rcv_space_ns < rtt) return;
    uint32_t copied = t->copied;
    if (copied > t->rcv_space) {
        uint32_t mss = w->cfg.tcp.mss_bytes;
        uint64_t win = 2ull * copied + 16ull * mss;
        uint64_t grow = win * (copied - t->rcv_space) / t->rcv_space;
        win += 2 * grow;
        uint64_t max = w->cfg.tcp.rmem_max_bytes / 2;
        if (win > max) win = max;
        if (win > t->window_clamp) t->window_clamp = (uint32_t)win;
        t->rcv_space = copied;
    }
    t->copied = 0;
    t->rcv_space_ns = sim_now(s->host);
}

/* The send buffer autotunes with cwnd (tcp_sndbuf_expand), from send_buffer_bytes up to
 * tcp.wmem_max_bytes. */
static uint32_t snd_max(const sim_world *w, const tp_stream *s) {
    uint32_t b = w->cfg.send_buffer_bytes;
    if (s->tcb != NULL) {
        uint64_t a = 2ull * s->tcb->cwnd * w->cfg.tcp.mss_bytes;
        if (a > w->cfg.tcp.wmem_max_bytes) a = w->cfg.tcp.wmem_max_bytes;
        if (a > b) b = (uint32_t)a;
    }
    return b;
}

/* Puts a control segment (no payload: SYN-ACK, handshake ACK, FIN, RST) on the wire. */

/* Puts a control segment (no payload: SYN-ACK, handshake ACK, FIN, RST) on the wire. */
static void emit(tp_stream *s, uint32_t len, uint8_t flags) {
    OWN(s);
    sim_world *w = s->host->world;
    sim_host *h = s->host, *to = host_of(w, s->peer_host);
    int64_t t = sim_now(s->host);
    if (to != NULL) {
        t += sim_latency_ns(s->host, h, to);
        uint32_t loss = (flags & SIM_SEG_ACK) ? 0 : sim_loss_ppm(w, h, to);
        for (unsigned k = 0; loss > 0 && k < 16 && sim_host_rng_below(s->host, 1000000) < loss; k++) {
            /* A lost SYN-ACK is sent again after 1, 2, 4, ... s (Linux's SYN-ACK timer
             * and the client's SYN retransmissions, whichever first); a lost FIN after
             * the RTO. */
            t += (flags & SIM_SEG_SYNACK) ? (1000000000LL << (k < 6 ? k : 6))
                                          : rto_ns(w, s->tcb, k);
            s->host->part->stats.segments_retransmitted++;
        }
    } else {
        t += w->cfg.rto_max_ns; /* no such host: never answered; only timeouts matter */
    }
    if (t < s->last_arrival_ns) t = s->last_arrival_ns;
    s->last_arrival_ns = t;
    if (!sim_path_open(w, h->index, s->peer_host)) tx_watch(s); /* it will stall */
    sim_seg seg = {t, len, flags, 0, 0};
    seg_push(s, seg);
    seg_post(s, &seg, s->snd_sent);
}

/* Puts a train of 1 or 2 data packets (n payload bytes, the last n of snd_sent) on the
 * wire: back to back on the sender's uplink, each lost with the path's probability.
 * The ACK returns are computed now (README "Streams"): the receiver's delayed-ACK
 * policy as the sender models it, the reverse latency, and for a lost packet its
 * detection (three duplicate ACKs, or a tail loss probe, or the RTO) and its
 * retransmission; the train reaches the reader in order. */
static void emit_data(tp_stream *s, uint32_t n, uint8_t flags) {
    OWN(s);
    sim_world *w = s->host->world;
    const sim_tcp_config *tc = &w->cfg.tcp;
    sim_host *h = s->host, *to = host_of(w, s->peer_host);
    sim_tcb *t = s->tcb;
    int64_t now = sim_now(s->host);
    uint32_t pk = (n + tc->mss_bytes - 1) / tc->mss_bytes;
    uint64_t wire = n + (uint64_t)pk * tc->header_bytes;
    int64_t done = now, pkt_ns = 0;
    bool dropped = false;
    if (h->up_bps > 0) {
        int64_t start = h->up_free_ns > now ? h->up_free_ns : now;
        uint64_t backlog = (uint64_t)(start - now) * h->up_bps / 1000000000ull;
        if (backlog + wire > tc->queue_bytes) {
            dropped = true; /* drop-tail: the train never takes the link */
            s->host->part->stats.packets_dropped += pk;
        } else {
            start += sim_ser_ns(h->ack_debt_bytes, h->up_bps); /* ACKs sent meanwhile */
            h->ack_debt_bytes = 0;
            done = start + sim_ser_ns(wire, h->up_bps);
            h->up_free_ns = done;
            pkt_ns = sim_ser_ns(tc->mss_bytes + tc->header_bytes, h->up_bps);
        }
    }
    t->packets_sent += pk;
    s->host->part->stats.packets_sent += pk;
    uint16_t tag = ++t->train_tag;
    if (tag == 0) tag = t->train_tag = 1;
    t->inflight += pk;
    if (t->inflight > t->max_inflight) t->max_inflight = t->inflight;
    t->last_send_ns = now;
    if (to == NULL) {
        tx_watch(s);
        seg_push(s, (sim_seg){now + w->cfg.rto_max_ns, n, flags, 0, 0});
        return;
    }
    int64_t arr = done + sim_latency_ns(s->host, h, to);
    uint32_t lost = 0, loss = sim_loss_ppm(w, h, to);
    if (dropped) {
        lost = pk;
    } else {
        for (uint32_t i = 0; loss > 0 && i < pk; i++)
            if (sim_host_rng_below(s->host, 1000000) < loss) lost++;
        s->host->part->stats.packets_lost += lost;
    }
    /* The receiver's ACK, as the sender models the receiver's policy (these fields are
     * driven by this direction's packets only, so the sender keeps them): at once in
     * quickack mode (the connection's first packets and after an idle period longer
     * than the RTO) and for every second full packet; a lone packet that ends what the
     * sender has waits for the delayed-ACK timer. */
    int64_t delay = 0;
    if (t->last_rcv_ns == 0 || arr - t->last_rcv_ns > rto_ns(w, t, 0))
        t->quick = (uint8_t)tc->quickack_packets;
    t->last_rcv_ns = arr;
    if (t->quick > 0)
        t->quick = (uint8_t)(t->quick > pk ? t->quick - pk : 0);
    else if (pk < 2 && s->snd.len == s->snd_sent)
        delay = tc->delayed_ack_ns;
    /* tcp_grow_window: the advertised window grows by two packets per packet while the
     * receiver's buffer has room (its unread bytes as last reported), up to the clamp
     * its reading autotunes (rcv_adjust, reported by window updates). */
    if (t->peer_arrived - t->peer_read < t->rcv_wnd / 2) {
        uint64_t wnd = t->rcv_wnd + 2ull * tc->mss_bytes * pk;
        t->rcv_wnd = wnd > t->peer_clamp ? t->peer_clamp : (uint32_t)wnd;
    }
    int64_t back = sim_latency_ns(s->host, to, h) + sim_ser_ns(tc->header_bytes, to->up_bps);
    int64_t ack_at = arr + delay + back;
    s->host->part->stats.acks_sent++;
    int64_t deliver_at = arr;
    if (!sim_path_open(w, h->index, s->peer_host)) {
        flags |= SIM_SEG_NOACK; /* stalls at arrival; its ACK is made at delivery */
        tx_watch(s);
    } else if (lost == 0) {
        ack_push(s, (sim_ack){ack_at, now, pk, SIM_ACK_SAMPLE, tag});
    } else {
        if (pk > lost) ack_push(s, (sim_ack){ack_at, now, pk - lost, SIM_ACK_SAMPLE, tag});
        /* Detection: the third duplicate ACK when enough data follows (RFC 5681,
         * tcp_reordering = 3), else the tail loss probe (2 srtt; + rto_min with a single
         * packet out), else the RTO. */
        uint32_t follow = pk - 1 + (s->snd.len - s->snd_sent) / tc->mss_bytes;
        int64_t rto = rto_ns(w, t, t->backoff);
        int64_t detect;
        uint32_t dflags = SIM_ACK_LOSS;
        if (follow >= 3) {
            detect = ack_at - delay + 3 * pkt_ns;
        } else {
            int64_t pto = t->srtt_ns > 0 ? 2 * t->srtt_ns + (t->inflight <= pk ? tc->rto_min_ns : 2000000)
                                         : 1000000000LL;
            if (pto >= rto) {
                pto = rto;
                dflags |= SIM_ACK_RTO;
            }
            detect = done + pto;
        }
        ack_push(s, (sim_ack){detect, 0, 0, (uint16_t)dflags, 0});
        /* The retransmission goes at detection, behind what the uplink queue held
         * when this train was queued; it is itself lost with the same probability,
         * and then sent again at the RTO, doubling. */
        int64_t send = detect + (h->up_free_ns > done ? h->up_free_ns - done : 0) + (done - now) - pkt_ns * pk;
        if (send < detect) send = detect;
        for (unsigned k = 0; k < 16; k++) {
            t->retransmits += lost;
            s->host->part->stats.segments_retransmitted++;
            t->packets_sent += lost;
            s->host->part->stats.packets_sent += lost;
            if (!(loss > 0 && sim_host_rng_below(s->host, 1000000) < loss)) break;
            s->host->part->stats.packets_lost += lost;
            send += rto_ns(w, t, t->backoff + 1 + k);
            ack_push(s, (sim_ack){send, 0, 0, SIM_ACK_LOSS | SIM_ACK_RTO, 0});
        }
        deliver_at = send + pkt_ns * lost + (arr - done);
        ack_push(s, (sim_ack){deliver_at + back, 0, lost, 0, 0});
    }
    if (deliver_at < s->last_arrival_ns) deliver_at = s->last_arrival_ns;
    s->last_arrival_ns = deliver_at;
    sim_seg seg = {deliver_at, n, flags, 0, tag};
    seg_push(s, seg);
    seg_post(s, &seg, s->snd_sent - n);
}

/* Sends what the congestion window and the peer's receive window allow. The peer's
 * window is this endpoint's view of it: the window it models (rcv_wnd, grown as the
 * peer's kernel would) minus the bytes the peer has received and not reported
 * consumed, minus the bytes in flight (as TCP: the window travels in ACKs). */
static void pump(tp_stream *s) {
    if (s->dead || s->tcp != SIM_TCP_ESTABLISHED) return;
    OWN(s);
    confirm_due(s);
    sim_world *w = s->host->world;
    const sim_tcp_config *tc = &w->cfg.tcp;
    for (;;) {
        uint32_t unsent = s->snd.len - s->snd_sent;
        if (unsent == 0) {
            if (s->tcb) s->tcb->cwnd_limited = 0;
            if (s->fin_queued && !s->fin_sent) {
                s->fin_sent = 1;
                emit(s, 0, SIM_SEG_FIN);
            }
            return;
        }
        sim_tcb *t = tcb_get(s);
        if (t->ack_count > 0 && t->acks[t->ack_head].time_ns <= sim_now(s->host)) acks_apply(s);
        if (t->inflight == 0) {
            /* Sending again with nothing in flight (tcp_event_data_sent). */
            int64_t idle = sim_now(s->host) - t->last_send_ns;
            if (t->packets_sent > 0) {
                t->ops->tx_start(t, ms_of(sim_now(s->host)), ms_of(idle));
                if (tc->slow_start_after_idle && idle > rto_ns(w, t, 0)) {
                    /* tcp_cwnd_restart: halve per RTO idle, down to the IW */
                    uint32_t restart = tc->initial_window_packets < t->cwnd ? tc->initial_window_packets
                                                                            : t->cwnd;
                    uint32_t cur = (t->cwnd >> 1) + (t->cwnd >> 2);
                    if (t->ssthresh < cur) t->ssthresh = cur;
                    uint32_t cwnd = t->cwnd;
                    int64_t rto = rto_ns(w, t, 0);
                    for (int64_t d = idle - rto; d > 0 && cwnd > restart; d -= rto) cwnd >>= 1;
                    t->cwnd = cwnd > restart ? cwnd : restart;
                    t->restarts++;
                }
            }
            t->max_inflight = 0;
        }
        if (t->inflight >= t->cwnd) {
            t->cwnd_limited = 1;
            acks_arm(s);
            return;
        }
        uint32_t rwnd = t->rcv_wnd;
        uint64_t used = (uint64_t)(uint32_t)(t->peer_arrived - t->peer_read) + s->snd_sent;
        if (used >= rwnd) return;
        /* Trains of one packet while the receiver ACKs each one, else two. */
        uint32_t pk = t->quick > 0 ? 1 : 2;
        if (pk > t->cwnd - t->inflight) pk = t->cwnd - t->inflight;
        uint32_t n = pk * tc->mss_bytes;
        if (n > unsent) n = unsent;
        if (n > rwnd - used) n = (uint32_t)(rwnd - used);
        uint8_t flags = 0;
        if (n == unsent && s->fin_queued) {
            flags = SIM_SEG_FIN;
            s->fin_sent = 1;
        }
        s->snd_sent += n;
        emit_data(s, n, flags);
    }
}

/* ------------------------------------------------------------------------------------ */
/* The sender's half: a segment's arrival time comes                                    */

static void start_watch(tp_stream *s) {
    sim_world *w = s->host->world;
    int64_t next = INT64_MAX;
    if (w->cfg.keepalive_idle_ns > 0) next = sim_now(s->host) + w->cfg.keepalive_idle_ns;
    if (w->cfg.user_timeout_ns > 0 && sim_now(s->host) + w->cfg.user_timeout_ns < next)
        next = sim_now(s->host) + w->cfg.user_timeout_ns;
    if (next != INT64_MAX) sim_arm(s->host, &s->t_watch, next);
}

/* The head segment got through (the path was open at its arrival time): what it means
 * for the sender. The receiver took it in the same instant (seg_arrives). */
static void seg_confirmed(tp_stream *s, sim_seg seg) {
    sim_world *w = s->host->world;
    int64_t now = sim_now(s->host);
    sim_trace(s->host, SIM_TRACE_SEG, s->id, seg.len, seg.flags);
    if (seg.len > 0) {
        sim_tcb *t = s->tcb;
        TP_ASSERT(t != NULL);
        s->snd_sent -= seg.len;
        if (seg.flags & SIM_SEG_NOACK) {
            /* sent over a cut path: its ACK returns now that it arrived */
            uint32_t pk = (seg.len + w->cfg.tcp.mss_bytes - 1) / w->cfg.tcp.mss_bytes;
            sim_host *ph = host_of(w, s->peer_host);
            int64_t back = ph ? sim_latency_ns(s->host, ph, s->host) : 0;
            ack_push(s, (sim_ack){now + back, 0, pk, 0, 0});
        }
        ring_drop(s->host->part, &s->snd, seg.len);
        t->snd_seq += seg.len;
        t->peer_arrived += seg.len;
    }
    /* (confirmed lazily, it arrived at seg.time_ns; exact, that is now) */
    if (seg.time_ns > s->progress_ns) s->progress_ns = seg.time_ns;
    if (seg.time_ns > s->last_heard_ns) s->last_heard_ns = seg.time_ns;
    if (s->want_writable && s->snd.len < snd_max(w, s) && s->user == SIM_USER_ACTIVE)
        notify(s, SIM_N_WRITABLE, now);
}

/* Confirms the segments that arrived by `until` (a lazy endpoint's: the path was open
 * at their arrival, as it was when they were sent). */
static void confirm_until(tp_stream *s, int64_t until) {
    while (s->seg_count > 0 && !s->tx_exact && seg_head(s)->time_ns <= until) {
        s->retries = 0;
        sim_seg copy = *seg_head(s);
        seg_pop(s);
        seg_confirmed(s, copy);
    }
}

static void confirm_due(tp_stream *s) {
    if (s->tx_exact || s->seg_count == 0) return;
    /* world code at a barrier that changed cuts or hosts, then acts on a stream: the
     * change first (host events run only after it was taken in) */
    if (s->host->world->net_dirty) {
        sim_streams_net_changed(s->host->world);
        if (s->tx_exact) return;
    }
    confirm_until(s, sim_now(s->host));
    if (s->seg_count == 0) sim_disarm(s->host, &s->t_tx);
}

/* From now on t_tx watches each segment's arrival. */
static void tx_watch(tp_stream *s) {
    if (s->tx_exact || s->dead) return;
    confirm_due(s);
    s->tx_exact = 1;
    if (s->seg_count > 0) sim_arm(s->host, &s->t_tx, seg_head(s)->time_ns);
}

void sim_streams_net_changed(sim_world *w) {
    w->net_dirty = false;
    for (uint32_t i = 0; i < w->host_count; i++) {
        for (tp_stream *s = sim_host_at(w, i)->streams; s != NULL; s = s->host_next) {
            if (s->tx_exact || s->seg_count == 0) continue;
            /* those whose arrival ran before the change got through */
            confirm_until(s, w->net_change_ns);
            if (s->seg_count == 0) {
                sim_disarm(s->host, &s->t_tx);
                continue;
            }
            s->tx_exact = 1;
            sim_arm(s->host, &s->t_tx, seg_head(s)->time_ns);
        }
    }
}

/* After a stall: the head segment is sent again to arrive at `at`, with every segment
 * behind it that would have arrived by then (the receiver takes segments only in
 * sequence, so it drops those copies, which come before the head). Later ones keep
 * their copies; their times stay after the head's, so the order is kept. */
static void resend_from_head(tp_stream *s, int64_t at) {
    sim_world *w = s->host->world;
    sim_host *to = host_of(w, s->peer_host);
    if (to != NULL) {
        int64_t min = sim_now(s->host) + base_ns(w, s->host, to);
        if (at < min) at = min;
    }
    uint32_t off = 0;
    for (uint16_t i = 0; i < s->seg_count; i++) {
        sim_seg *g = &s->segs[(s->seg_head + i) % s->seg_cap];
        /* (a copy due at `at` exactly was sent before the head's new one: it would be
         * taken first, out of sequence, so it is sent again too) */
        if (i > 0 && g->time_ns > at) break;
        g->time_ns = at;
        seg_post(s, g, off);
        off += g->len;
    }
    if (s->last_arrival_ns < at) s->last_arrival_ns = at;
}

static void tx_fire(void *arg) {
    tp_stream *s = arg;
    OWN(s);
    sim_world *w = s->host->world;
    int64_t now = sim_now(s->host);
    TP_ASSERT(s->seg_count > 0);
    if (!s->tx_exact) { /* the lazy drain */
        confirm_until(s, now);
        if (s->seg_count > 0) sim_arm(s->host, &s->t_tx, seg_head(s)->time_ns + SIM_LAZY_NS);
        return;
    }
    sim_seg *seg = seg_head(s);
    if (!sim_path_open(w, s->host->index, s->peer_host)) {
        /* The receiver dropped it at this same instant (seg_arrives). */
        if (seg->flags & SIM_SEG_RST) { /* resets are not retransmitted */
            seg_pop(s);
            goto next;
        }
        /* The RTO fires: cwnd collapses (once per stall), back-off doubles. */
        acks_apply(s);
        if (s->retries == 0 && s->tcb != NULL && seg->len > 0) on_loss(s->tcb, true, now);
        int64_t at = now + rto_ns(w, s->tcb, s->retries);
        if (s->retries < 30) s->retries++;
        s->host->part->stats.segments_retransmitted++;
        if (s->tcb != NULL && seg->len > 0) s->tcb->retransmits++;
        sim_trace(s->host, SIM_TRACE_RETX, s->id, seg->len, s->retries);
        resend_from_head(s, at);
        sim_arm(s->host, &s->t_tx, seg_head(s)->time_ns);
        return;
    }
    s->retries = 0;
    sim_seg copy = *seg;
    seg_pop(s);
    seg_confirmed(s, copy);
next:
    if (s->dead) return;
    if (s->seg_count > 0) {
        sim_arm(s->host, &s->t_tx, seg_head(s)->time_ns);
    } else {
        /* nothing in flight: lazy again unless something still waits on arrivals */
        if (!s->want_writable && s->user == SIM_USER_ACTIVE && s->tcp != SIM_TCP_DEAD) s->tx_exact = 0;
        maybe_destroy(s);
    }
}

/* ------------------------------------------------------------------------------------ */
/* The receiver's half                                                                  */

/* Trains held in the receiver's downlink (queued behind others, or dropped there and
 * waiting for their retransmission), in order, with any control segment behind them.
 * Their bytes are already at the tail of rcv (tcb->rcv_hold of them). */
typedef struct sim_held {
    int64_t time_ns;    /* next step: the downlink (stage 0) or the hand-over (stage 1) */
    int64_t came_ns;    /* arrival at the downlink */
    uint32_t len;
    uint8_t flags;      /* SIM_SEG_* and HELD_VOID */
    uint8_t stage;
    uint16_t tag;
} sim_held;

struct sim_rxq {
    tp_timer t;
    tp_stream *s;
    sim_held *q;
    uint16_t head, count, cap;
};

#define HELD_VOID 0x80u /* the bytes were discarded on arrival (the reader had closed) */

static bool reader_open(const tp_stream *r) {
    return !r->dead && r->tcp != SIM_TCP_DEAD &&
           (r->user == SIM_USER_ACTIVE || r->user == SIM_USER_UNADOPTED);
}

/* Bytes of rcv consumed: read, or discarded for a reader that closed. */
static void rcv_consumed(tp_stream *r, uint32_t n) {
    if (r->tcb != NULL) r->tcb->rd_total += n;
}

/* A window update to the sender (tcp_cleanup_rbuf / __tcp_select_window): when bytes
 * were consumed and the sender's view of the unread bytes (those received minus those
 * last reported consumed) reaches an eighth of the receive buffer, or the window clamp
 * grew. It takes the reverse latency; window updates are never lost (ACKs, README). */
static void wnd_report(tp_stream *r) {
    sim_tcb *t = r->tcb;
    if (t == NULL || t->rd_total == t->rd_reported || r->peer_id == 0) return;
    sim_world *w = r->host->world;
    if (t->rcv_nxt - t->rd_reported < w->cfg.receive_buffer_bytes / 8 && t->window_clamp == t->clamp_reported)
        return;
    t->rd_reported = t->rd_total;
    t->clamp_reported = t->window_clamp;
    sim_smsg *m = smsg_to_peer(r, SIM_M_WND, 0);
    m->v1 = (int64_t)(((uint64_t)t->window_clamp << 32) | t->rd_total);
    sim_host *ph = sim_host_at(w, r->peer_host);
    smsg_post(r->host, r->peer_host, m, sim_now(r->host) + sim_latency_ns(r->host, r->host, ph));
}

static void accept_stream(tp_stream *a) {
    tp_listener *l = a->listener;
    TP_ASSERT(l != NULL);
    listener_unpend(a);
    a->tcp = SIM_TCP_ESTABLISHED;
    start_watch(a);
    a->host->part->stats.streams_accepted++;
    sim_trace(a->host, SIM_TRACE_ACCEPT, a->id, a->host->index, 0);
    tp_point remote = a->remote;
    sim_host *prev = a->host->part->cb_host;
    a->host->part->cb_host = a->host;
    l->cb(l->arg, l, a, &remote);
    a->host->part->cb_host = prev;
    /* env.h: the accept callback adopts the stream or closes/resets it. */
    TP_ASSERT(a->user != SIM_USER_UNADOPTED);
}

static void reset_received(tp_stream *r) {
    r->host->part->stats.streams_reset++;
    if (r->tcp == SIM_TCP_SYN_SENT) {
        r->host->part->stats.connects_refused++;
        fail(r, TP_ERR_CONN_REFUSED);
    } else {
        fail(r, TP_ERR_CONN_RESET);
    }
}

/* Answers a message for a connection this host does not have: RST, one way back. */
static void answer_rst(sim_host *h, const sim_smsg *q) {
    sim_smsg *m = smsg_get(h->part, 0);
    m->kind = SIM_M_RST;
    m->from_host = h->index;
    m->from_id = q->to_id;
    m->to_id = q->from_id;
    sim_host *to = sim_host_at(h->world, q->from_host);
    smsg_post(h, q->from_host, m, sim_now(h) + sim_latency_ns(h, h, to));
}

/* A train (or control segment) reaches the reader: the bytes become readable, the
 * flags take effect. `held`: its bytes were counted in rcv_hold. */
static void rx_handover(tp_stream *r, uint32_t len, uint8_t flags, bool held) {
    sim_host *h = r->host;
    sim_world *w = h->world;
    int64_t now = sim_now(h);
    if (len > 0) {
        if (!(flags & HELD_VOID)) {
            if (held) r->tcb->rcv_hold -= len;
            if (reader_open(r)) {
                /* Merging: when the next train held in this downlink is due within
                 * 200 us, the reader is sometimes woken just after it instead, so both
                 * arrive in one on_data. Only trains already here are looked at. */
                int64_t at = now;
                const struct sim_rxq *q = r->tcb->rxq;
                if (q != NULL && q->count > 0 && q->q[q->head].time_ns - now <= 200000 &&
                    sim_host_rng_below(h, 2) == 0)
                    at = q->q[q->head].time_ns + 1;
                notify(r, SIM_N_DATA, at);
            } else {
                /* the reader closed while the train was in the downlink: discarded
                 * (with anything readable left, which a closed reader never reads) */
                uint32_t k = rcv_ready(r);
                ring_drop(h->part, &r->rcv, k);
                rcv_consumed(r, k);
            }
        }
        h->part->stats.segments_delivered++;
        wnd_report(r);
    }
    if (flags & SIM_SEG_SYNACK) {
        if (r->tcp == SIM_TCP_SYN_SENT) {
            sim_disarm(h, &r->t_watch);
            sim_disarm(h, &r->t_ctl);
            r->ctl = SIM_CTL_NONE;
            r->tcp = SIM_TCP_ESTABLISHED;
            h->part->stats.streams_established++;
            start_watch(r);
            emit(r, 0, SIM_SEG_ACK);
            notify(r, SIM_N_CONNECT, now);
            pump(r); /* a FIN queued by shutdown_write before the connection came up */
        }
    }
    if (flags & SIM_SEG_FIN) {
        r->eof_received = 1;
        if (r->user == SIM_USER_ACTIVE) notify(r, SIM_N_EOF, now);
        /* the FIN's ACK: the closer learns that every byte arrived */
        sim_smsg *m = smsg_to_peer(r, SIM_M_FINACK, 0);
        sim_host *ph = sim_host_at(w, r->peer_host);
        smsg_post(h, r->peer_host, m, now + sim_latency_ns(h, h, ph));
    }
    if (flags & SIM_SEG_RST) {
        reset_received(r);
        return;
    }
    if (flags & SIM_SEG_ACK) {
        if (r->tcp == SIM_TCP_SYN_RCVD) {
            if (r->listener != NULL)
                accept_stream(r);
            else
                fail(r, TP_ERR_CONN_RESET);
        }
    }
    if (r->user == SIM_USER_DETACHED) maybe_destroy(r); /* its last wait was this FIN */
}

static void rxq_fire(void *arg);

static void rxq_free(tp_stream *r) {
    sim_tcb *t = r->tcb;
    if (t == NULL || t->rxq == NULL) return;
    struct sim_rxq *q = t->rxq;
    sim_disarm(r->host, &q->t);
    sim_backend_free(r->host->part, q->q, (size_t)q->cap * sizeof *q->q);
    sim_backend_free(r->host->part, q, sizeof *q);
    t->rxq = NULL;
    if (t->rcv_hold > 0) { /* held bytes are the tail of rcv */
        r->rcv.len -= t->rcv_hold;
        if (r->rcv.len == 0) ring_drop(r->host->part, &r->rcv, 0);
        t->rcv_hold = 0;
    }
}

/* The receiver's downlink (README "Queues"): the head train passes it (or is dropped,
 * and then handed over when its retransmission arrives), then reaches the reader. */
static void rxq_run(tp_stream *r) {
    sim_host *h = r->host;
    sim_world *w = h->world;
    const sim_tcp_config *tc = &w->cfg.tcp;
    for (;;) {
        if (r->dead || r->tcb == NULL || r->tcb->rxq == NULL) return;
        struct sim_rxq *q = r->tcb->rxq;
        if (q->count == 0) {
            rxq_free(r);
            return;
        }
        int64_t now = sim_now(h);
        sim_held *e = &q->q[q->head];
        if (e->time_ns > now) {
            sim_arm(h, &q->t, e->time_ns);
            return;
        }
        if (e->stage == 0 && e->len > 0 && h->down_bps > 0) {
            /* The train's packets came in spaced by the sender's uplink: the downlink
             * takes them from the first one's arrival, and an idle downlink passes them
             * through as they come (one serialization per packet, at the sender, as on
             * one link); a busy one queues and serializes them. */
            sim_host *from = sim_host_at(w, r->peer_host);
            uint32_t pk = (e->len + tc->mss_bytes - 1) / tc->mss_bytes;
            uint64_t wire = e->len + (uint64_t)pk * tc->header_bytes;
            uint64_t last = wire - (uint64_t)(pk - 1) * (tc->mss_bytes + tc->header_bytes);
            int64_t span = sim_ser_ns(wire - last, from->up_bps);
            int64_t first = now - span;
            int64_t start = h->down_free_ns > first ? h->down_free_ns : first;
            /* the queue as this train found it when it came in (earlier trains of the
             * same stream held it back here) */
            int64_t came = e->came_ns < now ? e->came_ns : now;
            uint64_t backlog = h->down_free_ns > came
                                   ? (uint64_t)(h->down_free_ns - came) * h->down_bps / 1000000000ull
                                   : 0;
            if (backlog + wire > tc->queue_bytes) {
                /* Drop-tail: the sender learns it by duplicate ACKs one latency later
                 * and sends the train again; it comes back here then. */
                int64_t back = sim_latency_ns(h, h, from);
                int64_t detect = now + back;
                h->part->stats.packets_dropped += pk;
                h->part->stats.segments_retransmitted++;
                e->time_ns = e->came_ns = detect + sim_ser_ns(wire, from->up_bps) + sim_latency_ns(h, from, h);
                sim_smsg *m = smsg_to_peer(r, SIM_M_DROP, 0);
                m->tag = e->tag;
                m->seq = pk;
                m->v1 = e->time_ns + back;
                smsg_post(h, r->peer_host, m, detect);
                sim_trace(h, SIM_TRACE_RETX, r->id, e->len, 100);
                continue;
            }
            int64_t ser_wire = sim_ser_ns(wire, h->down_bps), ser_last = sim_ser_ns(last, h->down_bps);
            int64_t done = start + ser_wire - ser_last;
            if (done < now) done = now;
            h->down_free_ns = start + ser_wire;
            /* Queueing in the downlink (beyond what the train's own pace needs) delays
             * its ACK by as much: the sender is told, and sees the queue in its RTT
             * samples. */
            int64_t nat = came - span + ser_wire - ser_last;
            if (nat < came) nat = came;
            if (done > nat && e->tag != 0) {
                sim_smsg *m = smsg_to_peer(r, SIM_M_QUEUED, 0);
                m->tag = e->tag;
                m->v1 = done - nat;
                smsg_post(h, r->peer_host, m, now + sim_latency_ns(h, h, from));
            }
            e->stage = 1;
            if (done > now) {
                e->time_ns = done;
                continue;
            }
        }
        sim_held x = *e;
        q->head = (uint16_t)((q->head + 1) % q->cap);
        q->count--;
        rx_handover(r, x.len, x.flags, true);
    }
}

static void rxq_fire(void *arg) {
    struct sim_rxq *q = arg;
    OWN(q->s);
    rxq_run(q->s);
}

static void rxq_push(tp_stream *r, sim_held e) {
    sim_tcb *t = tcb_get(r);
    sim_part *p = r->host->part;
    struct sim_rxq *q = t->rxq;
    if (q == NULL) {
        q = sim_backend_alloc(p, sizeof *q);
        q->s = r;
        tp_timer_init(&q->t, rxq_fire, q);
        t->rxq = q;
    }
    if (q->count == q->cap) {
        uint16_t cap = q->cap ? (uint16_t)(q->cap * 2) : 4;
        TP_ASSERT(cap > q->cap);
        sim_held *n = sim_backend_alloc(p, (size_t)cap * sizeof *n);
        for (uint16_t i = 0; i < q->count; i++) n[i] = q->q[(q->head + i) % q->cap];
        sim_backend_free(p, q->q, (size_t)q->cap * sizeof *q->q);
        q->q = n;
        q->cap = cap;
        q->head = 0;
    }
    q->q[(q->head + q->count) % q->cap] = e;
    q->count++;
    if (q->count == 1) rxq_run(r);
}

/* A segment of the peer arrives (an event of this host at the segment's arrival time,
 * the same instant as the sender's tx_fire for it). */
static void seg_arrives(sim_host *h, sim_smsg *m) {
    sim_world *w = h->world;
    /* Lost on a cut path or at a host that is down: the sender sees the same and
     * retransmits. */
    if (!sim_path_open(w, m->from_host, h->index)) return;
    tp_stream *r = stream_find(h, m->to_id);
    if (r == NULL) {
        /* Nobody has this connection here (it is gone, or the host restarted). */
        if (!(m->flags & SIM_SEG_RST)) answer_rst(h, m);
        return;
    }
    OWN(r);
    /* in sequence only: a copy behind a missing segment is dropped (the sender sends
     * it again after the missing one) */
    if (m->seq != (r->tcb != NULL ? r->tcb->rcv_nxt : 0)) return;
    int64_t now = sim_now(h);
    r->last_heard_ns = now;
    if ((m->flags & SIM_SEG_SYNACK) && r->tcp == SIM_TCP_SYN_SENT) r->peer_id = m->from_id;
    uint8_t flags = m->flags & (SIM_SEG_FIN | SIM_SEG_SYNACK | SIM_SEG_ACK | SIM_SEG_RST);
    sim_tcb *t = r->tcb;
    bool hold = (t != NULL && t->rxq != NULL) ||
                (m->len > 0 && h->down_bps > 0 && r->tcp != SIM_TCP_DEAD);
    if (m->len > 0) {
        t = tcb_get(r);
        t->rcv_nxt += m->len;
        /* its ACK goes on this host's uplink */
        uint32_t debt = h->ack_debt_bytes + w->cfg.tcp.header_bytes;
        h->ack_debt_bytes = (uint16_t)(debt > UINT16_MAX ? UINT16_MAX : debt);
        if (reader_open(r)) {
            ring_push(h->part, &r->rcv, w->cfg.tcp.rmem_max_bytes, m->data, m->len);
            uint32_t off;
            uint8_t mask;
            if (sim_corrupt_pick(h, h, m->len, &off, &mask)) {
                /* the byte at `off` within the segment just appended */
                uint32_t k = r->rcv.head + r->rcv.len - m->len + off;
                while (k >= r->rcv.cap) k -= r->rcv.cap;
                r->rcv.buf[k] ^= mask;
            }
            if (hold) t->rcv_hold += m->len;
        } else {
            flags |= HELD_VOID; /* the reader closed: discarded */
            rcv_consumed(r, m->len);
        }
    }
    if (!hold) {
        rx_handover(r, m->len, flags, false);
        return;
    }
    rxq_push(r, (sim_held){now, now, m->len, flags, 0, m->tag});
}

/* ------------------------------------------------------------------------------------ */
/* Messages other than segments                                                         */

static void syn_send(tp_stream *c);

/* A SYN reaches this host: the listener's answer (README "Handshake", "Backlog"). */
static void syn_arrives(sim_host *h, sim_smsg *m) {
    sim_world *w = h->world;
    /* lost on a cut path or at a down host: the client, at this same instant, retries */
    if (!sim_path_open(w, m->from_host, h->index)) return;
    sim_host *from = sim_host_at(w, m->from_host);
    tp_listener *l = NULL;
    for (tp_listener *x = h->listeners; x; x = x->next)
        if (x->local.port == m->port) l = x;
    if (l == NULL || l->pending >= l->backlog) {
        sim_smsg *a = smsg_get(h->part, 0);
        a->kind = SIM_M_REFUSED;
        a->from_host = h->index;
        a->from_id = 0;
        a->to_id = m->from_id;
        smsg_post(h, m->from_host, a, sim_now(h) + sim_latency_ns(h, h, from));
        return;
    }
    tp_stream *a = stream_new(h);
    a->tcp = SIM_TCP_SYN_RCVD;
    a->user = SIM_USER_UNADOPTED;
    a->listener = l;
    l->pending++;
    a->local.ip = h->ip;
    a->local.port = m->port;
    a->remote.ip = from->ip;
    a->remote.port = m->from_port;
    a->peer_host = m->from_host;
    a->peer_id = m->from_id;
    /* The accepted side gives up if the final ACK never comes. */
    sim_arm(h, &a->t_watch, sim_now(h) + w->cfg.syn_timeout_ns);
    emit(a, 0, SIM_SEG_SYNACK);
}

static void smsg_fire(void *arg) {
    sim_smsg *m = arg;
    sim_host *h = m->to;
    sim_world *w = h->world;
    int64_t now = sim_now(h);
    sim_trace(h, SIM_TRACE_MSG, m->kind, m->to_id, m->len);
    tp_stream *s = NULL;
    if (h->state == SIM_HOST_UP) {
        switch (m->kind) {
        case SIM_M_SEG: seg_arrives(h, m); break;
        case SIM_M_SYN: syn_arrives(h, m); break;
        case SIM_M_REFUSED:
            s = stream_find(h, m->to_id);
            if (s == NULL || s->tcp != SIM_TCP_SYN_SENT) break;
            OWN(s);
            if (sim_path_open(w, m->from_host, h->index)) {
                h->part->stats.connects_refused++;
                fail(s, TP_ERR_CONN_REFUSED);
            } else {
                if (s->syn_tries < 12) s->syn_tries++; /* the refusal was lost: the SYN is retried */
                syn_send(s);
            }
            break;
        case SIM_M_RST:
            s = stream_find(h, m->to_id);
            if (s != NULL && s->tcp != SIM_TCP_DEAD && sim_path_open(w, m->from_host, h->index)) {
                OWN(s);
                reset_received(s);
            }
            break;
        case SIM_M_FINACK:
            s = stream_find(h, m->to_id);
            if (s == NULL) break;
            OWN(s);
            confirm_due(s);
            s->fin_acked = 1;
            s->progress_ns = now;
            if (s->user == SIM_USER_CLOSING && s->close_reason == TP_OK && s->tcp != SIM_TCP_DEAD)
                notify(s, SIM_N_CLOSE, now);
            maybe_destroy(s);
            break;
        case SIM_M_WND:
            s = stream_find(h, m->to_id);
            if (s == NULL || s->tcb == NULL) break;
            OWN(s);
            {
                uint32_t rd = (uint32_t)((uint64_t)m->v1 & 0xffffffffu), clamp = (uint32_t)((uint64_t)m->v1 >> 32);
                if ((int32_t)(rd - s->tcb->peer_read) > 0) s->tcb->peer_read = rd;
                if (clamp > s->tcb->peer_clamp) s->tcb->peer_clamp = clamp;
            }
            pump(s);
            break;
        case SIM_M_KA:
            if (!sim_path_open(w, m->from_host, h->index)) break; /* unanswered */
            s = stream_find(h, m->to_id);
            if (s == NULL) {
                answer_rst(h, m);
            } else {
                OWN(s);
                sim_smsg *a = smsg_to_peer(s, SIM_M_KA_ACK, 0);
                a->to_id = m->from_id;
                smsg_post(h, m->from_host, a, now + sim_latency_ns(h, h, sim_host_at(w, m->from_host)));
            }
            break;
        case SIM_M_KA_ACK:
            if (!sim_path_open(w, m->from_host, h->index)) break;
            s = stream_find(h, m->to_id);
            if (s == NULL) break;
            OWN(s);
            s->last_heard_ns = now;
            s->ka_unanswered = 0;
            break;
        case SIM_M_DROP:
            s = stream_find(h, m->to_id);
            if (s == NULL || s->tcb == NULL || s->tcp != SIM_TCP_ESTABLISHED) break;
            OWN(s);
            ack_push(s, (sim_ack){now, 0, 0, SIM_ACK_LOSS, 0});
            s->tcb->retransmits += m->seq;
            ack_move(s, m->tag, m->v1);
            break;
        case SIM_M_QUEUED:
            s = stream_find(h, m->to_id);
            if (s == NULL || s->tcb == NULL) break;
            OWN(s);
            {
                const sim_ack *q = s->tcb->acks + s->tcb->ack_head;
                for (uint32_t i = 0; i < s->tcb->ack_count; i++)
                    if (q[i].tag == m->tag && (q[i].flags & SIM_ACK_SAMPLE)) {
                        ack_move(s, m->tag, q[i].time_ns + m->v1);
                        break;
                    }
            }
            break;
        default: TP_UNREACHABLE();
        }
    }
    smsg_put(h->part, m);
}
/* ------------------------------------------------------------------------------------ */
/* Callbacks to the user                                                                */

static void deliver_data(tp_stream *s) {
    OWN(s);
    /* Split the buffered bytes into 1..3 on_data calls at random cut points. */
    uint32_t total = rcv_ready(s);
    uint32_t pieces = 1;
    uint64_t r = sim_host_rng_below(s->host, 8);
    if (r >= 6 && total >= 3)
        pieces = 3;
    else if (r >= 4 && total >= 2)
        pieces = 2;
    uint32_t cuts[3];
    if (pieces == 1) {
        cuts[0] = total;
    } else if (pieces == 2) {
        cuts[0] = 1 + (uint32_t)sim_host_rng_below(s->host, total - 1);
        cuts[1] = total - cuts[0];
    } else {
        uint32_t a = 1 + (uint32_t)sim_host_rng_below(s->host, total - 2);
        uint32_t b = 1 + (uint32_t)sim_host_rng_below(s->host, total - a - 1);
        cuts[0] = a;
        cuts[1] = b;
        cuts[2] = total - a - b;
    }
    for (uint32_t i = 0; i < pieces; i++) {
        uint32_t n = cuts[i];
        while (n > 0) {
            if (s->dead || s->user != SIM_USER_ACTIVE || s->paused || s->tcp == SIM_TCP_DEAD) {
                wnd_report(s);
                return;
            }
            /* A contiguous run of the ring (the wrap point splits once more). */
            uint32_t run = s->rcv.cap - s->rcv.head;
            if (run > n) run = n;
            const uint8_t *p = s->rcv.buf + s->rcv.head;
            sim_trace(s->host, SIM_TRACE_DATA, s->id, run, 0);
            sim_trace_bytes(s->host, p, run);
            s->host->part->stats.bytes_delivered += run;
            s->host->part->stats.data_callbacks++;
            s->in_data_cb = 1;
            rcv_adjust(s, run);
            s->cbs->on_data(s->arg, s, p, run);
            s->in_data_cb = 0;
            /* The bytes stay put during the callback (env.h: borrowed for its
             * duration): close/reset inside it leave the ring to us. */
            if (s->dead) return;
            if (s->user != SIM_USER_ACTIVE || s->tcp == SIM_TCP_DEAD) {
                uint32_t k = rcv_ready(s); /* closed or reset meanwhile */
                ring_drop(s->host->part, &s->rcv, k);
                rcv_consumed(s, k);
                wnd_report(s);
                return;
            }
            ring_drop(s->host->part, &s->rcv, run);
            rcv_consumed(s, run);
            n -= run;
        }
    }
    wnd_report(s); /* the window opened: the sender learns it one latency later */
}

static void notify_fire(void *arg) {
    tp_stream *s = arg;
    OWN(s);
    sim_world *w = s->host->world;
    s->host->part->cb_host = s->host;
    sim_trace(s->host, SIM_TRACE_NOTIFY, s->id, s->notify, s->user);
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
    if (!s->paused && rcv_ready(s) > 0) {
        deliver_data(s);
        if (s->tcb != NULL) s->tcb->resumed = 0; /* (the memory lives until the flush) */
        if (s->dead || s->user != SIM_USER_ACTIVE) return;
    }
    if (s->eof_received && !s->eof_delivered && rcv_ready(s) == 0 && !s->paused &&
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
    if (s->want_writable && s->snd.len < snd_max(w, s) && s->tcp != SIM_TCP_DEAD) {
        s->want_writable = 0;
        s->cbs->on_writable(s->arg, s);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Timers: SYN, keepalive, user timeout                                                 */

static void watch_fire(void *arg) {
    tp_stream *s = arg;
    OWN(s);
    sim_world *w = s->host->world;
    const sim_world_config *c = &w->cfg;
    int64_t now = sim_now(s->host);
    sim_trace(s->host, SIM_TRACE_WATCH, s->id, s->tcp, 0);
    if (s->tcp == SIM_TCP_SYN_SENT || s->tcp == SIM_TCP_SYN_RCVD) {
        if (s->tcp == SIM_TCP_SYN_SENT) s->host->part->stats.connects_timed_out++;
        fail(s, TP_ERR_TIMEOUT);
        return;
    }
    if (s->tcp != SIM_TCP_ESTABLISHED) return;
    confirm_due(s);
    bool lingering = s->user == SIM_USER_DETACHED && s->fin_acked;
    if (lingering && now - s->progress_ns >= SIM_FIN_WAIT_NS) {
        destroy(s); /* the peer never closed its side */
        return;
    }
    bool pending = s->snd.len > 0 || (s->fin_queued && !s->fin_acked);
    if (pending && c->user_timeout_ns > 0 && now - s->progress_ns >= c->user_timeout_ns) {
        s->host->part->stats.streams_timed_out++;
        fail(s, TP_ERR_TIMEOUT);
        return;
    }
    if (!pending && c->keepalive_idle_ns > 0 && now - s->last_heard_ns >= c->keepalive_idle_ns) {
        /* A keepalive probe: a message to the peer, answered by a message (alive) or
         * by an RST (it lacks the connection), or lost (cut path, peer down). Each
         * probe counts as unanswered until an answer arrives. */
        uint16_t k = s->ka_unanswered < UINT16_MAX ? (uint16_t)(s->ka_unanswered + 1) : UINT16_MAX;
        bool dead = c->user_timeout_ns > 0 ? now - s->last_heard_ns >= c->user_timeout_ns
                                           : k > c->keepalive_count;
        if (dead) {
            s->host->part->stats.streams_timed_out++;
            fail(s, TP_ERR_TIMEOUT);
            return;
        }
        s->ka_unanswered = k;
        if (s->peer_host != NO_HOST && s->peer_id != 0) {
            sim_host *ph = sim_host_at(w, s->peer_host);
            sim_smsg *m = smsg_to_peer(s, SIM_M_KA, 0);
            smsg_post(s->host, s->peer_host, m, now + sim_latency_ns(s->host, s->host, ph));
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
    if (next != INT64_MAX) sim_arm(s->host, &s->t_watch, next <= now ? now + 1 : next);
}

/* SYN attempts: Linux sends the SYN at 0 and again at 1, 3, 7, 15, ... s after the
 * connect (the timer starts at 1 s and doubles) until syn_timeout_ns. Attempt number
 * c->syn_tries is lost with the path's random loss (the next one is then scheduled at
 * once) or at its arrival if the path is cut or the host down. */
static void syn_send(tp_stream *c) {
    OWN(c);
    sim_world *w = c->host->world;
    sim_host *to = host_of(w, c->peer_host);
    c->ctl = SIM_CTL_SYN;
    if (to == NULL) return;
    uint32_t loss = sim_loss_ppm(w, c->host, to);
    while (c->syn_tries < 12 && loss > 0 && sim_host_rng_below(c->host, 1000000) < loss) {
        c->syn_tries++;
        c->host->part->stats.segments_retransmitted++;
    }
    int64_t send = c->progress_ns + (1000000000LL << c->syn_tries) - 1000000000LL;
    if (send < sim_now(c->host)) send = sim_now(c->host);
    int64_t at = send + sim_latency_ns(c->host, c->host, to);
    /* The SYN to the remote host, and our own look at its arrival (a cut path or a down
     * host loses it: both ends see the same world state at that instant). */
    sim_arm(c->host, &c->t_ctl, at);
    sim_smsg *m = smsg_get(c->host->part, 0);
    m->kind = SIM_M_SYN;
    m->from_host = c->host->index;
    m->from_id = c->id;
    m->to_id = 0;
    m->port = c->remote.port;
    m->from_port = c->local.port;
    smsg_post(c->host, c->peer_host, m, at);
}

static void ctl_fire(void *arg) {
    tp_stream *s = arg;
    OWN(s);
    sim_world *w = s->host->world;
    uint8_t ctl = s->ctl;
    s->ctl = SIM_CTL_NONE;
    sim_trace(s->host, SIM_TRACE_CTL, s->id, ctl, 0);
    switch (ctl) {
    case SIM_CTL_SYN:
        if (!sim_path_open(w, s->host->index, s->peer_host)) {
            /* Lost: the next attempt (the SYN timeout ends it). */
            if (s->syn_tries < 12) s->syn_tries++;
            s->host->part->stats.segments_retransmitted++;
            syn_send(s);
        } /* else the SYN-ACK or the refusal is on its way */
        break;
    case SIM_CTL_ACK:
        if (s->tcb != NULL && !s->dead) acks_fire(s);
        break;
    default: break;
    }
}
/* ------------------------------------------------------------------------------------ */
/* The env operations                                                                   */

tp_err sim_stream_listen(sim_host *h, const tp_point *local, int backlog, tp_accept_cb cb,
                         void *arg, tp_listener **out) {
    TP_ASSERT(h->state == SIM_HOST_UP);
    HOST_OWN(h);
    if (!sim_host_ip_matches(h, &local->ip)) return TP_ERR_ADDR_NOT_AVAILABLE;
    uint16_t port = local->port;
    for (tp_listener *l = h->listeners; l; l = l->next)
        if (port != 0 && l->local.port == port) return TP_ERR_ADDR_IN_USE;
    if (port == 0) port = sim_host_ephemeral_port(h);
    tp_listener *l = sim_backend_alloc(h->part, sizeof *l);
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
    HOST_OWN(h);
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
            tx_watch(s);
            if (s->peer_id != 0) emit(s, 0, SIM_SEG_RST);
            s->tcp = SIM_TCP_DEAD;
            s->user = SIM_USER_DETACHED;
            sim_disarm(h, &s->t_watch);
            maybe_destroy(s);
        }
    }
    sim_backend_free(h->part, l, sizeof *l);
}

tp_err sim_stream_connect(sim_host *h, const tp_point *remote, const tp_stream_cbs *cbs,
                          void *arg, tp_stream **out) {
    TP_ASSERT(h->state == SIM_HOST_UP);
    HOST_OWN(h);
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
    sim_arm(c->host, &c->t_watch, sim_now(h) + w->cfg.syn_timeout_ns);
    syn_send(c);
    h->part->stats.streams_connected_out++;
    sim_trace(h, SIM_TRACE_CTL, c->id, 100, c->peer_host);
    *out = c;
    return TP_OK;
}

void sim_stream_adopt(sim_host *h, tp_stream *s, const tp_stream_cbs *cbs, void *arg) {
    TP_ASSERT(s->host == h && s->user == SIM_USER_UNADOPTED);
    OWN(s);
    s->cbs = cbs;
    s->arg = arg;
    s->user = SIM_USER_ACTIVE;
    if (rcv_ready(s) > 0 || s->eof_received) notify(s, SIM_N_DATA, h->world->now_ns);
}

tp_err sim_stream_write(sim_host *h, tp_stream *s, const uint8_t *data, size_t len,
                        size_t *taken) {
    TP_ASSERT(s->host == h && !s->dead);
    OWN(s);
    TP_ASSERT(s->user == SIM_USER_ACTIVE || s->user == SIM_USER_UNADOPTED ||
              s->user == SIM_USER_CLOSING);
    sim_world *w = h->world;
    if (s->tcp == SIM_TCP_SYN_SENT) return TP_ERR_STATE;
    if (s->tcp == SIM_TCP_DEAD || s->user == SIM_USER_CLOSING || s->fin_queued)
        return TP_ERR_CLOSED;
    confirm_due(s); /* the room that arrivals freed */
    uint32_t max = snd_max(w, s);
    uint32_t room = s->snd.len < max ? max - s->snd.len : 0;
    uint32_t n = len < room ? (uint32_t)len : room;
    if (s->snd.len == 0 && n > 0) s->progress_ns = sim_now(s->host);
    ring_push(s->host->part, &s->snd, max, data, n);
    if (n < len) {
        s->want_writable = 1;
        tx_watch(s); /* on_writable comes when an arrival frees room */
    }
    pump(s);
    *taken = n;
    return TP_OK;
}

void sim_stream_read_pause(sim_host *h, tp_stream *s) {
    TP_ASSERT(s->host == h && !s->dead);
    OWN(s);
    s->paused = 1;
    if (s->tcb != NULL) { /* receive autotuning: the measurement restarts (rcv_adjust) */
        s->tcb->copied = 0;
        s->tcb->rcv_space_ns = h->world->now_ns;
    }
}

void sim_stream_read_resume(sim_host *h, tp_stream *s) {
    TP_ASSERT(s->host == h && !s->dead);
    OWN(s);
    if (!s->paused) return;
    s->paused = 0;
    if (s->tcb != NULL && rcv_ready(s) > 0) s->tcb->resumed = 1; /* rcv_adjust */
    if (rcv_ready(s) > 0 || (s->eof_received && !s->eof_delivered))
        notify(s, SIM_N_DATA, h->world->now_ns);
}

void sim_stream_shutdown_write(sim_host *h, tp_stream *s) {
    TP_ASSERT(s->host == h && !s->dead);
    OWN(s);
    if (s->fin_queued || s->tcp == SIM_TCP_DEAD) return;
    s->fin_queued = 1;
    pump(s);
}

void sim_stream_close(sim_host *h, tp_stream *s) {
    TP_ASSERT(s->host == h && !s->dead);
    OWN(s);
    /* env.h: closing twice, or after reset, is a programmer error. */
    TP_ASSERT(s->user == SIM_USER_ACTIVE || s->user == SIM_USER_UNADOPTED);
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
    if (!s->in_data_cb) { /* else after on_data */
        uint32_t k = rcv_ready(s);
        ring_drop(h->part, &s->rcv, k);
        rcv_consumed(s, k);
        wnd_report(s);
    }
    tx_watch(s); /* its end depends on its last segments' arrivals */
    if (!s->fin_queued) {
        s->fin_queued = 1;
        pump(s);
    }
    if (s->fin_acked && had_user) notify(s, SIM_N_CLOSE, sim_now(s->host));
    maybe_destroy(s);
}

void sim_stream_reset(sim_host *h, tp_stream *s) {
    TP_ASSERT(s->host == h && !s->dead);
    OWN(s);
    TP_ASSERT(s->user != SIM_USER_DETACHED); /* reset after on_close */
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
        if (s->snd.len == 0) ring_drop(s->host->part, &s->snd, 0);
    }
    if (!s->in_data_cb) { /* else after on_data */
        uint32_t k = rcv_ready(s);
        ring_drop(h->part, &s->rcv, k);
        rcv_consumed(s, k);
    }
    listener_unpend(s);
    s->tcp = SIM_TCP_DEAD;
    sim_disarm(s->host, &s->t_watch);
    sim_disarm(s->host, &s->t_ctl);
    tx_watch(s);
    if (s->peer_id != 0) emit(s, 0, SIM_SEG_RST);
    if (had_user) {
        s->notify = SIM_N_CLOSE;
        notify(s, SIM_N_CLOSE, sim_now(s->host));
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
        sim_backend_free(h->part, l, sizeof *l);
    }
}

void sim_streams_host_halt(sim_host *h) {
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
        tx_watch(s);
        s->notify = 0;
        sim_disarm(s->host, &s->t_notify);
        uint32_t k = rcv_ready(s);
        ring_drop(h->part, &s->rcv, k);
        rcv_consumed(s, k);
        wnd_report(s);
        if (!s->fin_queued) {
            s->fin_queued = 1;
            pump(s);
        }
        maybe_destroy(s);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Introspection                                                                        */

void sim_stream_tcp_info(const sim_host *h, const tp_stream *s, sim_tcp_info *out) {
    TP_ASSERT(s->host == h);
    const sim_world *w = h->world;
    memset(out, 0, sizeof *out);
    sim_tcb copy;
    const sim_tcb *t = NULL;
    if (s->tcb != NULL) { /* with the ACK returns due by now applied (to a copy) */
        copy = *s->tcb;
        acks_apply_to(&copy, s->tcb->acks + s->tcb->ack_head, s->tcb->ack_count, sim_now(s->host));
        t = &copy;
    }
    out->syn_retries = s->syn_tries;
    if (t == NULL) {
        out->cwnd_packets = w->cfg.tcp.initial_window_packets;
        out->ssthresh_packets = UINT32_MAX;
        out->rcv_wnd_bytes = w->cfg.receive_buffer_bytes / 2;
        out->rto_ns = rto_ns(w, NULL, 0);
        return;
    }
    out->cwnd_packets = t->cwnd;
    out->ssthresh_packets = t->ssthresh;
    out->inflight_packets = t->inflight;
    out->rcv_wnd_bytes = t->rcv_wnd;
    out->srtt_ns = t->srtt_ns;
    out->rttvar_ns = t->rttvar_ns;
    out->backoff = t->backoff;
    out->rto_ns = rto_ns(w, t, t->backoff);
    out->packets_sent = t->packets_sent;
    out->retransmits = t->retransmits;
    out->loss_events = t->loss_events;
    out->rto_events = t->rto_events;
    out->restarts = t->restarts;
}

uint64_t sim_world_context_checks(const sim_world *w) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < w->part_count; i++) n += w->parts[i]->ctx_checks;
    return n;
}
