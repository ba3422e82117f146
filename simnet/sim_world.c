/* simnet/sim_world.c — the simulated world: configuration, hosts and their addresses,
 * the virtual clock and run loop, the world random stream, the trace hash, partitions
 * and link parameters, scheduled faults, and the application lifecycle (start, clean
 * stop, crash). Streams, datagrams and disks live in their own files (sim_impl.h).
 *
 * Octez has no simulator; this is tidepool's own (DESIGN.md "simnet/"). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "simnet/sim_impl.h"

/* ------------------------------------------------------------------------------------ */
/* Configuration                                                                        */

void sim_world_config_default(sim_world_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 0;
    cfg->region_count = 1;
    cfg->latency = NULL;
    cfg->default_latency.base_ns = 10 * 1000000LL;
    cfg->default_latency.jitter_ns = 1 * 1000000LL;
    cfg->wall_start_ns = 1767225600LL * 1000000000LL; /* 2026-01-01T00:00:00Z */
    cfg->loopback_latency_ns = 20 * 1000LL;
    cfg->segment_bytes = 16384;
    cfg->send_buffer_bytes = 128 * 1024;
    cfg->receive_buffer_bytes = 128 * 1024;
    cfg->syn_timeout_ns = 20 * 1000000000LL;
    cfg->user_timeout_ns = 45 * 1000000000LL;
    cfg->keepalive_idle_ns = 10 * 1000000000LL;
    cfg->keepalive_interval_ns = 5 * 1000000000LL;
    cfg->keepalive_count = 9;
    cfg->tcp.cc = SIM_TCP_CUBIC;
    cfg->tcp.mss_bytes = 1448;
    cfg->tcp.header_bytes = 52;
    cfg->tcp.initial_window_packets = 10;
    cfg->tcp.slow_start_after_idle = true;
    cfg->tcp.rmem_max_bytes = 6u << 20;
    cfg->tcp.wmem_max_bytes = 4u << 20;
    cfg->tcp.queue_bytes = 4u << 20;
    cfg->tcp.rto_min_ns = 200 * 1000000LL;
    cfg->tcp.delayed_ack_ns = 40 * 1000000LL;
    cfg->tcp.quickack_packets = 16;
    cfg->rto_max_ns = 60 * 1000000000LL;
    cfg->disk_sync_delay_ns = 0;
    cfg->disk_compress = false;
    cfg->host_memory_limit_bytes = 0;
}

const char *sim_world_config_check(const sim_world_config *c, char *buf, size_t cap) {
#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            snprintf(buf, cap, __VA_ARGS__);                                             \
            return buf;                                                                  \
        }                                                                                \
    } while (0)
    CHECK(c->region_count >= 1 && c->region_count <= SIM_REGIONS_MAX,
          "sim_world_config.region_count must be in 1..%u (got %" PRIu32 ")",
          SIM_REGIONS_MAX, c->region_count);
    CHECK(c->segment_bytes >= 512 && c->segment_bytes <= (1u << 20),
          "sim_world_config.segment_bytes must be in 512..1048576 (got %" PRIu32 ")",
          c->segment_bytes);
    CHECK(c->send_buffer_bytes >= c->segment_bytes && c->send_buffer_bytes <= (1u << 28),
          "sim_world_config.send_buffer_bytes must be in segment_bytes..268435456 (got %" PRIu32
          ", segment_bytes %" PRIu32 ")",
          c->send_buffer_bytes, c->segment_bytes);
    CHECK(c->receive_buffer_bytes >= c->segment_bytes && c->receive_buffer_bytes <= (1u << 28),
          "sim_world_config.receive_buffer_bytes must be in segment_bytes..268435456 (got %" PRIu32
          ", segment_bytes %" PRIu32 ")",
          c->receive_buffer_bytes, c->segment_bytes);
    CHECK(c->syn_timeout_ns > 0, "sim_world_config.syn_timeout_ns must be > 0 (got %" PRId64 ")",
          c->syn_timeout_ns);
    CHECK(c->user_timeout_ns >= 0, "sim_world_config.user_timeout_ns must be >= 0 (0 disables)");
    CHECK(c->keepalive_idle_ns >= 0, "sim_world_config.keepalive_idle_ns must be >= 0 (0 disables)");
    CHECK(c->keepalive_idle_ns == 0 || c->keepalive_interval_ns > 0,
          "sim_world_config.keepalive_interval_ns must be > 0 when keepalive is enabled");
    const sim_tcp_config *t = &c->tcp;
    CHECK(t->cc == SIM_TCP_CUBIC || t->cc == SIM_TCP_RENO,
          "sim_world_config.tcp.cc must be SIM_TCP_CUBIC or SIM_TCP_RENO (got %d)", (int)t->cc);
    CHECK(t->mss_bytes >= 88 && t->mss_bytes <= 65495,
          "sim_world_config.tcp.mss_bytes must be in 88..65495 (got %" PRIu32 "; Linux: 1448)",
          t->mss_bytes);
    CHECK(t->header_bytes <= 1024,
          "sim_world_config.tcp.header_bytes must be in 0..1024 (got %" PRIu32 "; Linux: 52)",
          t->header_bytes);
    CHECK(t->initial_window_packets >= 1 && t->initial_window_packets <= 1000,
          "sim_world_config.tcp.initial_window_packets must be in 1..1000 (got %" PRIu32
          "; Linux: 10)", t->initial_window_packets);
    CHECK(t->rmem_max_bytes >= c->receive_buffer_bytes && t->rmem_max_bytes <= (1u << 30),
          "sim_world_config.tcp.rmem_max_bytes must be in receive_buffer_bytes..1073741824 (got %"
          PRIu32 ", receive_buffer_bytes %" PRIu32 ")", t->rmem_max_bytes, c->receive_buffer_bytes);
    CHECK(t->wmem_max_bytes >= c->send_buffer_bytes && t->wmem_max_bytes <= (1u << 30),
          "sim_world_config.tcp.wmem_max_bytes must be in send_buffer_bytes..1073741824 (got %"
          PRIu32 ", send_buffer_bytes %" PRIu32 ")", t->wmem_max_bytes, c->send_buffer_bytes);
    CHECK(t->queue_bytes >= 2u * (t->mss_bytes + t->header_bytes),
          "sim_world_config.tcp.queue_bytes must hold two packets (>= %" PRIu32 ", got %" PRIu64 ")",
          2u * (t->mss_bytes + t->header_bytes), t->queue_bytes);
    CHECK(t->rto_min_ns > 0 && c->rto_max_ns >= t->rto_min_ns,
          "sim_world_config.tcp.rto_min_ns must be > 0 and <= rto_max_ns (got %" PRId64 ", %" PRId64 ")",
          t->rto_min_ns, c->rto_max_ns);
    CHECK(t->delayed_ack_ns >= 0 && t->delayed_ack_ns <= 1000000000LL,
          "sim_world_config.tcp.delayed_ack_ns must be in 0..1 s (got %" PRId64 "; Linux: 40 ms)",
          t->delayed_ack_ns);
    CHECK(t->quickack_packets <= 255,
          "sim_world_config.tcp.quickack_packets must be in 0..255 (got %" PRIu32 "; Linux: 16)",
          t->quickack_packets);
    CHECK(c->loopback_latency_ns >= 0 && c->disk_sync_delay_ns >= 0 && c->wall_start_ns >= 0,
          "sim_world_config: loopback_latency_ns, disk_sync_delay_ns and wall_start_ns must be >= 0");
    CHECK(c->default_latency.base_ns >= 0 && c->default_latency.jitter_ns >= 0,
          "sim_world_config.default_latency must have base_ns >= 0 and jitter_ns >= 0");
    if (c->latency != NULL) {
        for (uint32_t i = 0; i < c->region_count * c->region_count; i++)
            CHECK(c->latency[i].base_ns >= 0 && c->latency[i].jitter_ns >= 0,
                  "sim_world_config.latency[%" PRIu32 "] (from region %" PRIu32 " to %" PRIu32
                  ") must have base_ns >= 0 and jitter_ns >= 0",
                  i, i / c->region_count, i % c->region_count);
    }
    return NULL;
#undef CHECK
}

/* ------------------------------------------------------------------------------------ */
/* Randomness and hashing                                                               */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A host's model stream: splitmix64 from BLAKE-free seeding (the seed and the host
 * index), so each host draws its jitter, loss and splits alone, in its own order. */
uint64_t sim_host_rng_next(sim_host *h) { return splitmix64(&h->mrng); }

uint64_t sim_host_rng_below(sim_host *h, uint64_t bound) {
    TP_ASSERT(bound > 0);
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    for (;;) {
        uint64_t x = sim_host_rng_next(h);
        if (x < limit) return x % bound;
    }
}

static inline uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v;
    h *= 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

static uint64_t trace_mix(uint64_t h, int64_t now_ns, uint64_t kind, uint64_t a, uint64_t b,
                          uint64_t c) {
    h = mix(h, (uint64_t)now_ns);
    h = mix(h, kind);
    h = mix(h, a);
    h = mix(h, b);
    return mix(h, c);
}

void sim_trace(sim_host *h, uint64_t kind, uint64_t a, uint64_t b, uint64_t c) {
    h->trace = trace_mix(h->trace, h->part->now_ns, kind, a, b, c);
}

void sim_wtrace(sim_world *w, uint64_t kind, uint64_t a, uint64_t b, uint64_t c) {
    w->trace = trace_mix(w->trace, w->now_ns, kind, a, b, c);
}

void sim_trace_bytes(sim_host *h, const uint8_t *data, size_t len) {
    uint64_t x = h->trace;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, data + i, 8);
        x = mix(x, v);
    }
    uint64_t tail = 0;
    for (; i < len; i++) tail = tail << 8 | data[i];
    h->trace = mix(mix(x, tail), len);
}

/* The host's stream: ChaCha20 keyed by BLAKE2b-256("tidepool simnet host" || seed ||
 * index), one 64-byte block per nonce (the block counter). Created on first use so
 * that idle hosts stay small. */
static void host_rng_fill(sim_host *h, uint8_t *out, size_t len) {
    if (h->rng == NULL) {
        h->rng = sim_backend_alloc(h->part, sizeof *h->rng);
        uint8_t msg[20 + 16];
        memcpy(msg, "tidepool simnet host", 20);
        uint64_t seed = h->world->cfg.seed, idx = h->index;
        for (int i = 0; i < 8; i++) {
            msg[20 + i] = (uint8_t)(seed >> (8 * i));
            msg[28 + i] = (uint8_t)(idx >> (8 * i));
        }
        crypto_generichash(h->rng->key, sizeof h->rng->key, msg, sizeof msg, NULL, 0);
        h->rng->pos = 64;
    }
    sim_host_rng *r = h->rng;
    while (len > 0) {
        if (r->pos == 64) {
            uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
            for (int i = 0; i < 8; i++) nonce[i] = (uint8_t)(r->block >> (8 * i));
            r->block++;
            crypto_stream_chacha20(r->buf, sizeof r->buf, nonce, r->key);
            r->pos = 0;
        }
        size_t n = 64u - r->pos;
        if (n > len) n = len;
        memcpy(out, r->buf + r->pos, n);
        r->pos = (uint8_t)(r->pos + n);
        out += n;
        len -= n;
    }
}

void sim_host_random(sim_host *h, void *buf, size_t len) { host_rng_fill(h, buf, len); }

/* ------------------------------------------------------------------------------------ */
/* Backend memory (accounted, so benchmarks can report bytes per host)                  */

void *sim_backend_alloc(sim_part *p, size_t size) {
    void *ptr = calloc(1, size);
    TP_ASSERT(ptr != NULL); /* simnet's own bookkeeping: out of memory ends the run */
    p->backend_bytes += (int64_t)size;
    return ptr;
}

void *sim_backend_realloc(sim_part *p, void *ptr, size_t old_size, size_t new_size) {
    void *n = realloc(ptr, new_size);
    TP_ASSERT(n != NULL);
    p->backend_bytes += (int64_t)new_size - (int64_t)old_size;
    return n;
}

void sim_backend_free(sim_part *p, void *ptr, size_t size) {
    if (ptr == NULL) return;
    p->backend_bytes -= (int64_t)size;
    free(ptr);
}

/* ------------------------------------------------------------------------------------ */
/* World                                                                                */

static void outboxes_drain(sim_world *w);

static sim_part *part_new(sim_world *w, uint32_t index) {
    /* its own cache lines: partitions are written by different threads */
    size_t bytes = (sizeof(sim_part) + 63) & ~(size_t)63;
    sim_part *p = aligned_alloc(64, bytes);
    if (p == NULL) return NULL;
    memset(p, 0, bytes);
    p->world = w;
    p->index = index;
    p->now_ns = w->now_ns;
    p->out_min[0] = p->out_min[1] = INT64_MAX;
    return p;
}

static void part_free(sim_part *p) {
    for (int k = 0; k < 2; k++) {
        if (p->out[k] == NULL) continue;
        for (uint32_t d = 0; d < p->world->part_count; d++) free(p->out[k][d].ev);
        free(p->out[k]);
    }
    free(p->rep);
    free(p->rep_text);
    free(p);
}

tp_err sim_world_create(const sim_world_config *cfg, sim_world **out) {
    char msg[200];
    if (sim_world_config_check(cfg, msg, sizeof msg) != NULL) return TP_ERR_INVAL;
    if (sodium_init() < 0) return TP_ERR_NOMEM;
    sim_world *w = calloc(1, sizeof *w);
    if (w == NULL) return TP_ERR_NOMEM;
    w->cfg = *cfg;
    w->cfg.latency = NULL;
    uint32_t rc = cfg->region_count;
    w->latency = calloc((size_t)rc * rc, sizeof *w->latency);
    w->region_loss = calloc((size_t)rc * rc, sizeof *w->region_loss);
    w->region_hosts = calloc(rc, sizeof *w->region_hosts);
    w->parts = calloc(SIM_THREADS_MAX, sizeof *w->parts);
    if (w->parts) w->parts[0] = part_new(w, 0);
    w->tslot = aligned_alloc(64, SIM_THREADS_MAX * sizeof *w->tslot);
    if (w->tslot) memset(w->tslot, 0, SIM_THREADS_MAX * sizeof *w->tslot);
    if (w->latency == NULL || w->region_loss == NULL || w->region_hosts == NULL ||
        w->parts == NULL || w->parts[0] == NULL || w->tslot == NULL) {
        free(w->tslot);
        free(w->latency);
        free(w->region_loss);
        free(w->region_hosts);
        if (w->parts) free(w->parts[0]);
        free(w->parts);
        free(w);
        return TP_ERR_NOMEM;
    }
    w->part_count = 1;
    w->part_block = 1;
    w->threads_wanted = 1;
    w->thread_count = 1;
    for (uint32_t i = 0; i < rc * rc; i++)
        w->latency[i] = cfg->latency ? cfg->latency[i] : cfg->default_latency;
    w->trace = mix(0x6a09e667f3bcc908ULL, cfg->seed);
    w->lookahead_ns = INT64_MAX / 4;
    w->host_ran_ns = -1;
    *out = w;
    return TP_OK;
}

struct sim_halt {
    tp_timer t;
    sim_host *host;
};

typedef struct sim_sched {
    tp_timer t;
    struct sim_sched *next, *prev;
    sim_world *world;
    sim_fault f;
    uint32_t *hosts;
    uint32_t *hosts_b;
} sim_sched;

static void sched_free(sim_world *w, sim_sched *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        w->scheds = s->next;
    if (s->next) s->next->prev = s->prev;
    free(s->hosts);
    free(s->hosts_b);
    free(s);
}

void sim_world_destroy(sim_world *w) {
    if (w == NULL) return;
    sim_pool_stop(w);
    outboxes_drain(w); /* in-flight packets and messages must be in a queue */
    for (uint32_t i = 0; i < w->thread_count; i++) sim_kx_free(&w->tslot[i]);
    for (uint32_t i = 0; i < w->part_count; i++) {
        sim_part *p = w->parts[i];
        sim_packets_free(p); /* needs the queue: in-flight packets live only there */
        sim_smsgs_free(p);   /* the same for stream messages */
        sim_queue_deinit(&p->q);
    }
    sim_queue_deinit(&w->wq);
    for (uint32_t i = 0; i < w->host_count; i++) {
        sim_host *h = sim_host_at(w, i);
        sim_streams_host_crash(h);
        sim_dgrams_host_drop(h);
        sim_disk_wipe(h);
        free(h->rng);
        free(h->halt);
    }
    for (uint32_t i = 0; i < w->part_count; i++) {
        sim_part *p = w->parts[i];
        sim_disk_free_codec(p);
        sim_streams_flush_graveyard(p);
        sim_ring_cache_free(p);
        sim_packets_free(p);
        sim_smsgs_free(p);
    }
    while (w->scheds) sched_free(w, w->scheds);
    for (uint32_t i = 0; i < w->chunk_count; i++) free(w->chunks[i]);
    free(w->chunks);
    free(w->ip_map);
    free(w->subnets);
    for (uint32_t i = 0; i < w->partition_count; i++) {
        free(w->partitions[i].a_bits);
        free(w->partitions[i].b_bits);
    }
    free(w->partitions);
    free(w->latency);
    free(w->region_loss);
    free(w->region_hosts);
    for (uint32_t i = 0; i < w->part_count; i++) part_free(w->parts[i]);
    free(w->parts);
    free(w->tslot);
    free(w);
}

int64_t sim_world_now_ns(const sim_world *w) { return w->now_ns; }
uint64_t sim_world_seed(const sim_world *w) { return w->cfg.seed; }

/* The run's hash: the world's accumulator, then every host's that saw an event, in host
 * order. Each host's own accumulator depends only on its events in its order, so the
 * hash is the same however the hosts were spread over threads. */
uint64_t sim_world_trace_hash(const sim_world *w) {
    uint64_t x = w->trace;
    for (uint32_t i = 0; i < w->host_count; i++) {
        const sim_host *h = sim_host_at(w, i);
        if (h->trace != 0) x = mix(mix(x, i), h->trace);
    }
    return x;
}

void sim_world_stats(const sim_world *w, sim_stats *out) {
    memset(out, 0, sizeof *out);
    uint64_t *o = (uint64_t *)out;
    for (uint32_t i = 0; i < w->part_count; i++) {
        const uint64_t *s = (const uint64_t *)&w->parts[i]->stats;
        for (size_t k = 0; k < sizeof *out / sizeof(uint64_t); k++) o[k] += s[k];
    }
}

uint64_t sim_world_backend_bytes(const sim_world *w) {
    int64_t b = 0;
    for (uint32_t i = 0; i < w->part_count; i++) b += w->parts[i]->backend_bytes;
    return b > 0 ? (uint64_t)b : 0;
}

size_t sim_world_pending_events(const sim_world *w) {
    size_t n = sim_queue_len(&w->wq);
    for (uint32_t i = 0; i < w->part_count; i++) {
        const sim_part *p = w->parts[i];
        n += sim_queue_len(&p->q);
        for (int k = 0; k < 2; k++)
            for (uint32_t d = 0; p->out[k] != NULL && d < w->part_count; d++) n += p->out[k][d].len;
    }
    return n;
}

void sim_world_stop(sim_world *w) { atomic_store_explicit(&w->stop, true, memory_order_relaxed); }

uint32_t sim_world_part_count(const sim_world *w) { return w->part_count; }
uint32_t sim_world_thread_count(const sim_world *w) { return w->thread_count; }
uint32_t sim_host_part_index(const sim_host *h) { return h->part->index; }
int64_t sim_world_lookahead_ns(const sim_world *w) { return w->lookahead_ns; }
const char *sim_world_threads_note(const sim_world *w) { return w->threads_note; }

tp_err sim_world_set_threads(sim_world *w, uint32_t threads) {
    if (threads < 1 || threads > SIM_THREADS_MAX || w->started) return TP_ERR_INVAL;
    w->threads_wanted = threads;
    return TP_OK;
}

tp_err sim_world_set_partitions(sim_world *w, uint32_t parts) {
    if (parts > SIM_THREADS_MAX || w->started) return TP_ERR_INVAL;
    w->parts_wanted = parts;
    return TP_OK;
}

void sim_world_run_stats(const sim_world *w, sim_run_stats *out) {
    memset(out, 0, sizeof *out);
    out->windows = w->windows;
    out->barriers = w->barriers;
    out->serial_ns = w->serial_ns;
    out->parts = w->part_count;
    out->threads = w->thread_count;
    for (uint32_t i = 0; i < w->thread_count; i++) out->thread[i] = w->tslot[i].st;
    for (uint32_t i = 0; i < w->part_count; i++) {
        const sim_part *p = w->parts[i];
        out->part[i].busy_ns = p->busy_ns;
        out->part[i].events = p->events_run;
        out->messages += p->out_posted;
    }
    for (uint32_t i = 0; i < w->host_count; i++) out->part[sim_host_at(w, i)->part->index].hosts++;
}

/* ------------------------------------------------------------------------------------ */
/* Queue front-ends                                                                     */

/* The key of an event created by host h: h's index, then h's own sequence. Events of a
 * host are thereby ordered by (time, creator, creator's order), a function of the
 * simulated world alone. */
static inline uint64_t host_key(sim_host *h) {
    return ((uint64_t)(h->index + 1) << 40) | (++h->seq & ((1ull << 40) - 1));
}

void sim_arm(sim_host *h, tp_timer *t, int64_t time_ns) {
    sim_part *p = h->part;
    if (time_ns < p->now_ns) time_ns = p->now_ns;
    t->deadline_ns = time_ns;
    t->backend_flags = SIM_TF_INTERNAL | (h->index + 1);
    t->backend_seq = host_key(h);
    sim_queue_put(&p->q, t, time_ns);
}

void sim_disarm(sim_host *h, tp_timer *t) { sim_queue_remove(&h->part->q, t); }

void sim_post(sim_host *from, sim_host *to, tp_timer *t, int64_t time_ns) {
    sim_world *w = from->world;
    sim_part *p = from->part;
    TP_ASSERT(t->backend_index == TP_TIMER_NOT_ARMED);
    if (time_ns < p->now_ns) time_ns = p->now_ns;
    t->deadline_ns = time_ns;
    t->backend_flags = SIM_TF_INTERNAL | (to->index + 1);
    t->backend_seq = host_key(from);
    if (to->part != p && w->in_window) {
        /* another partition's queue, which another thread may be running: its outbox,
         * taken in when the next window starts, before this message's time */
        TP_ASSERT(time_ns >= w->window_end_ns && "a message faster than the lookahead");
        uint32_t set = w->out_set;
        sim_outbox *b = &p->out[set][to->part->index];
        if (b->len == b->cap) {
            uint32_t cap = b->cap ? b->cap * 2 : 64;
            tp_timer **o = realloc(b->ev, cap * sizeof *o);
            TP_ASSERT(o != NULL);
            b->ev = o;
            b->cap = cap;
        }
        b->ev[b->len++] = t;
        if (time_ns < p->out_min[set]) p->out_min[set] = time_ns;
        p->out_posted++;
        return;
    }
    sim_queue_put(&to->part->q, t, time_ns);
}

void sim_warm(sim_world *w, tp_timer *t, int64_t time_ns) {
    if (time_ns < w->now_ns) time_ns = w->now_ns;
    t->deadline_ns = time_ns;
    t->backend_flags = SIM_TF_INTERNAL;
    t->backend_seq = ++w->seq;
    sim_queue_put(&w->wq, t, time_ns);
}

void sim_wdisarm(sim_world *w, tp_timer *t) { sim_queue_remove(&w->wq, t); }

/* A host or world timer (flags = host index + 1, or 0). The queue key is clamped to
 * now so a past deadline runs on the next turn without moving the clock back. */
void sim_timer_start_flags(sim_world *w, tp_timer *t, int64_t deadline_ns, uint32_t flags) {
    TP_ASSERT(t->cb != NULL);
    if (t->backend_index != TP_TIMER_NOT_ARMED) {
        TP_ASSERT(t->backend_flags == flags); /* a timer belongs to one host */
    } else if (flags != 0) {
        sim_host_at(w, flags - 1)->timers_armed++;
    }
    t->deadline_ns = deadline_ns;
    t->backend_flags = flags;
    if (flags != 0) {
        sim_host *h = sim_host_at(w, flags - 1);
        t->backend_seq = host_key(h);
        sim_queue_put(&h->part->q, t, deadline_ns < h->part->now_ns ? h->part->now_ns : deadline_ns);
    } else {
        t->backend_seq = ++w->seq;
        sim_queue_put(&w->wq, t, deadline_ns < w->now_ns ? w->now_ns : deadline_ns);
    }
}

void sim_timer_stop_flags(sim_world *w, tp_timer *t) {
    if (t->backend_index == TP_TIMER_NOT_ARMED) return;
    TP_ASSERT((t->backend_flags & SIM_TF_INTERNAL) == 0);
    uint32_t flags = t->backend_flags;
    if (flags != 0) {
        sim_host *h = sim_host_at(w, flags - 1);
        sim_queue_remove(&h->part->q, t);
        h->timers_armed--;
    } else {
        sim_queue_remove(&w->wq, t);
    }
}

void sim_world_timer_start(sim_world *w, tp_timer *t, int64_t deadline_ns) {
    TP_ASSERT(deadline_ns >= 0);
    sim_timer_start_flags(w, t, deadline_ns, 0);
}

void sim_world_timer_stop(sim_world *w, tp_timer *t) { sim_timer_stop_flags(w, t); }

/* ------------------------------------------------------------------------------------ */
/* Run loop: windows and barriers (README "Parallel runs")                              */

/* The smallest one-way base latency between two distinct hosts: the window length.
 * Jitter only adds to it; a host talking to itself stays in its own partition. */
static void lookahead_update(sim_world *w) {
    uint32_t rc = w->cfg.region_count;
    int64_t l = INT64_MAX / 4;
    for (uint32_t a = 0; a < rc; a++) {
        if (w->region_hosts[a] == 0) continue;
        for (uint32_t b = 0; b < rc; b++) {
            if (w->region_hosts[b] == 0 || (a == b && w->region_hosts[a] < 2)) continue;
            int64_t base = w->latency[a * rc + b].base_ns;
            if (base < l) l = base;
        }
    }
    w->lookahead_ns = l;
}

/* Runs one event of partition p (its clock moves to the event's time). */
static void step_part(sim_part *p) {
    sim_qent e = sim_queue_begin_pop(&p->q);
    TP_ASSERT(e.time_ns >= p->now_ns);
    p->now_ns = e.time_ns;
    p->last_event_ns = e.time_ns;
    p->stats.events_executed++;
    p->events_run++;
    tp_timer *t = e.timer;
    uint32_t flags = t->backend_flags;
    if ((flags & SIM_TF_INTERNAL) == 0) {
        p->stats.timers_fired++;
        sim_host *h = sim_host_at(p->world, flags - 1);
        h->timers_armed--;
        p->cb_host = h;
        sim_trace(h, SIM_TRACE_TIMER, flags, t->backend_seq & ((1ull << 40) - 1), 0);
    }
    /* every event in a partition's queue is one host's: stream code checks it touches
     * only that host's endpoints (sim_stream.c, OWN) */
    uint32_t owner = flags & SIM_TF_HOST_MASK;
    sim_ctx_host = owner != 0 ? sim_host_at(p->world, owner - 1) : NULL;
    t->cb(t->arg);
    sim_ctx_host = NULL;
    p->cb_host = NULL;
    sim_queue_end_pop(&p->q); /* before the graveyard: the zombie may point into it */
    if (p->graveyard) sim_streams_flush_graveyard(p);
}

/* Runs partition p's events due before `end`. */
void sim_part_run_window(sim_part *p, int64_t end) {
    while (p->q.len > 0 && p->q.ent[0].time_ns < end) step_part(p);
}

/* Partition p takes in what the other partitions posted to its hosts in outbox set
 * `set`: at the start of its window (on the thread that runs it), or at a barrier. The
 * order of insertion does not matter: the queue orders by the events' keys. */
void sim_part_take_in(sim_part *p, uint32_t set) {
    sim_world *w = p->world;
    for (uint32_t s = 0; s < w->part_count; s++) {
        sim_outbox *b = &w->parts[s]->out[set][p->index];
        for (uint32_t k = 0; k < b->len; k++) sim_queue_put(&p->q, b->ev[k], b->ev[k]->deadline_ns);
        b->len = 0;
    }
}

/* Every outbox emptied into its queue, on the calling thread: before world events (a
 * crash, a cut, a Lua callback sees every event in a queue), when a run returns, and at
 * destruction. */
static void outboxes_drain(sim_world *w) {
    if (w->part_count == 1) return;
    for (uint32_t set = 0; set < 2; set++)
        for (uint32_t i = 0; i < w->part_count; i++) sim_part_take_in(w->parts[i], set);
    for (uint32_t i = 0; i < w->part_count; i++) w->parts[i]->out_min[0] = w->parts[i]->out_min[1] = INT64_MAX;
}

/* The time of the next host event: in a queue, or in an outbox the last window wrote. */
static int64_t parts_next_ns(const sim_world *w) {
    int64_t t = INT64_MAX;
    uint32_t pending = w->out_set ^ 1;
    for (uint32_t i = 0; i < w->part_count; i++) {
        const sim_part *p = w->parts[i];
        if (p->q.len > 0 && p->q.ent[0].time_ns < t) t = p->q.ent[0].time_ns;
        if (p->out_min[pending] < t) t = p->out_min[pending];
    }
    return t;
}

static int64_t world_next_ns(const sim_world *w) {
    return w->wq.len > 0 ? w->wq.ent[0].time_ns : INT64_MAX;
}

static void set_now_all(sim_world *w, int64_t t) {
    w->now_ns = t;
    for (uint32_t i = 0; i < w->part_count; i++) w->parts[i]->now_ns = t;
}

/* Reports: tp_env_event calls wait in their partition, in (time, host, host order)
 * order once sorted, for the barrier. */
typedef struct sim_report {
    int64_t time_ns;
    uint32_t host;
    uint32_t detail_off; /* into the partition's rep_text; UINT32_MAX: no detail */
    uint64_t seq;
    tp_event ev;
} sim_report;

void sim_report_add(sim_host *h, const tp_event *ev) {
    sim_part *p = h->part;
    if (p->rep_len == p->rep_cap) {
        uint32_t cap = p->rep_cap ? p->rep_cap * 2 : 256;
        sim_report *r = realloc(p->rep, cap * sizeof *r);
        TP_ASSERT(r != NULL);
        p->rep = r;
        p->rep_cap = cap;
    }
    sim_report *r = &p->rep[p->rep_len++];
    r->time_ns = p->now_ns;
    r->host = h->index;
    r->seq = ++h->seq;
    r->ev = *ev;
    r->ev.detail = NULL;
    r->detail_off = UINT32_MAX;
    if (ev->detail != NULL) {
        size_t n = strlen(ev->detail) + 1;
        if (p->rep_text_len + n > p->rep_text_cap) {
            size_t cap = p->rep_text_cap ? p->rep_text_cap * 2 : 4096;
            while (cap < p->rep_text_len + n) cap *= 2;
            char *tx = realloc(p->rep_text, cap);
            TP_ASSERT(tx != NULL);
            p->rep_text = tx;
            p->rep_text_cap = cap;
        }
        memcpy(p->rep_text + p->rep_text_len, ev->detail, n);
        r->detail_off = (uint32_t)p->rep_text_len;
        p->rep_text_len += n;
    }
}

static int report_cmp(const void *a, const void *b) {
    const sim_report *x = *(const sim_report *const *)a, *y = *(const sim_report *const *)b;
    if (x->time_ns != y->time_ns) return x->time_ns < y->time_ns ? -1 : 1;
    if (x->host != y->host) return x->host < y->host ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void reports_flush(sim_world *w) {
    size_t n = 0;
    for (uint32_t i = 0; i < w->part_count; i++) n += w->parts[i]->rep_len;
    if (n == 0) return;
    if (w->cfg.event_cb != NULL) {
        const sim_report **all = malloc(n * sizeof *all);
        TP_ASSERT(all != NULL);
        size_t k = 0;
        for (uint32_t i = 0; i < w->part_count; i++)
            for (uint32_t j = 0; j < w->parts[i]->rep_len; j++) all[k++] = &w->parts[i]->rep[j];
        qsort(all, n, sizeof *all, report_cmp);
        for (size_t j = 0; j < n; j++) {
            const sim_report *r = all[j];
            tp_event ev = r->ev;
            if (r->detail_off != UINT32_MAX) {
                const sim_part *p = sim_host_at(w, r->host)->part;
                ev.detail = p->rep_text + r->detail_off;
            }
            w->cfg.event_cb(w->cfg.event_arg, r->host, r->time_ns, &ev);
        }
        free(all);
    }
    for (uint32_t i = 0; i < w->part_count; i++) {
        w->parts[i]->rep_len = 0;
        w->parts[i]->rep_text_len = 0;
    }
}

/* Between windows, with every worker parked: reports are handed over, the scenario's
 * barrier hook runs. Messages between partitions stay in their outboxes (the next
 * window's partitions take them in, in parallel) unless world events come first. */
static void barrier(sim_world *w) {
    reports_flush(w);
    w->barriers++;
    if (w->cfg.barrier_cb) w->cfg.barrier_cb(w->cfg.barrier_arg, w);
}

/* Runs the first world event (the clocks already at its time). */
static void run_world_event(sim_world *w) {
    sim_qent e = sim_queue_begin_pop(&w->wq);
    tp_timer *tm = e.timer;
    w->parts[0]->stats.events_executed++;
    if ((tm->backend_flags & SIM_TF_INTERNAL) == 0) {
        w->parts[0]->stats.timers_fired++;
        sim_wtrace(w, SIM_TRACE_WORLD_TIMER, 0, tm->backend_seq, 0);
    }
    tm->cb(tm->arg);
    sim_queue_end_pop(&w->wq);
    for (uint32_t i = 0; i < w->part_count; i++)
        if (w->parts[i]->graveyard) sim_streams_flush_graveyard(w->parts[i]);
}

/* Runs the world events due at time t (and those they schedule for t), every partition's
 * clock at t. */
static void run_world_at(sim_world *w, int64_t t) {
    outboxes_drain(w);
    set_now_all(w, t);
    while (w->wq.len > 0 && w->wq.ent[0].time_ns == t) run_world_event(w);
}

/* Below this lookahead a window holds too little work for the barrier's cost (a few
 * microseconds): such a world runs on one thread (the run is the same either way). */
#define SIM_LOOKAHEAD_MIN_NS 50000

/* The first run fixes the partitions: blocks of consecutive hosts dealt round-robin
 * (sim_part_of_index, README), with the events already queued for them. */
static void start(sim_world *w) {
    if (w->started) return;
    w->started = true;
    lookahead_update(w);
    uint32_t n = w->threads_wanted;
    if (n > w->host_count) n = w->host_count > 0 ? w->host_count : 1;
    if (n > 1 && w->lookahead_ns <= 0) {
        snprintf(w->threads_note, sizeof w->threads_note,
                 "one thread: two hosts have a zero-latency path, so no window can run in "
                 "parallel (lookahead 0)");
        n = 1;
    } else if (n > 1 && w->lookahead_ns < SIM_LOOKAHEAD_MIN_NS) {
        snprintf(w->threads_note, sizeof w->threads_note,
                 "one thread: the smallest latency between two hosts (%" PRId64 " ns) makes "
                 "windows too short to gain from threads (less than %d us)",
                 w->lookahead_ns, SIM_LOOKAHEAD_MIN_NS / 1000);
        n = 1;
    } else if (n < w->threads_wanted) {
        snprintf(w->threads_note, sizeof w->threads_note,
                 "%u threads: the world has %u hosts", n, w->host_count);
    }
    uint32_t parts = 1;
    if (n > 1 || (w->parts_wanted > 1 && w->lookahead_ns >= SIM_LOOKAHEAD_MIN_NS)) {
        parts = w->parts_wanted > 0 ? w->parts_wanted : n * SIM_PARTS_PER_THREAD;
        if (parts > SIM_THREADS_MAX) parts = SIM_THREADS_MAX;
        if (parts > w->host_count) parts = w->host_count;
        if (parts < 1) parts = 1;
    }
    if (n > parts) {
        snprintf(w->threads_note, sizeof w->threads_note,
                 "%u thread%s: the hosts are split into %u partition%s", parts,
                 parts == 1 ? "" : "s", parts, parts == 1 ? "" : "s");
        n = parts;
    }
    w->thread_count = n;
    if (parts <= 1) return;
    for (uint32_t i = 1; i < parts; i++) {
        w->parts[i] = part_new(w, i);
        TP_ASSERT(w->parts[i] != NULL);
    }
    w->part_count = parts;
    for (uint32_t i = 0; i < parts; i++) {
        sim_part *p = w->parts[i];
        for (int k = 0; k < 2; k++) {
            p->out[k] = calloc(parts, sizeof *p->out[k]);
            TP_ASSERT(p->out[k] != NULL);
            p->out_min[k] = INT64_MAX;
        }
    }
    uint32_t block = w->host_count / (8 * parts);
    w->part_block = block < 1 ? 1 : block > SIM_PART_BLOCK_MAX ? SIM_PART_BLOCK_MAX : block;
    for (uint32_t i = 0; i < w->host_count; i++) {
        sim_host *h = sim_host_at(w, i);
        h->part = w->parts[sim_part_of_index(i, w->part_block, parts)];
    }
    /* move the queued events of other partitions' hosts out of partition 0 */
    sim_queue *q0 = &w->parts[0]->q;
    uint32_t len = q0->len;
    sim_qent *ents = malloc((len ? len : 1) * sizeof *ents);
    TP_ASSERT(ents != NULL);
    if (len > 0) memcpy(ents, q0->ent, len * sizeof *ents);
    for (uint32_t i = 0; i < len; i++) {
        uint32_t owner = ents[i].timer->backend_flags & SIM_TF_HOST_MASK;
        TP_ASSERT(owner != 0);
        sim_host *h = sim_host_at(w, owner - 1);
        if (h->part != w->parts[0]) {
            sim_queue_remove(q0, ents[i].timer);
            sim_queue_put(&h->part->q, ents[i].timer, ents[i].time_ns);
        }
    }
    free(ents);
    sim_pool_start(w);
}

/* One window: every partition runs its events before `end`, in parallel when there are
 * worker threads. Returns the time of the last event run (or -1). */
static void run_window(sim_world *w, int64_t end) {
    if (w->net_dirty) sim_streams_net_changed(w);
    w->windows++;
    w->window_end_ns = end;
    w->in_events = true;
    if (w->part_count == 1) {
        sim_part *p = w->parts[0];
        p->last_event_ns = -1;
        uint64_t t0 = sim_mono_ns();
        sim_part_run_window(p, end);
        uint64_t dt = sim_mono_ns() - t0;
        p->busy_ns += dt;
        w->tslot[0].st.busy_ns += dt;
        w->tslot[0].st.parts_run++;
    } else {
        for (uint32_t i = 0; i < w->part_count; i++) {
            w->parts[i]->last_event_ns = -1;
            w->parts[i]->out_min[w->out_set] = INT64_MAX; /* emptied by the last window */
        }
        w->in_window = true;
        sim_pool_run(w, end, w->out_set ^ 1);
        w->in_window = false;
        w->out_set ^= 1;
    }
    w->in_events = false;
    int64_t last = -1;
    for (uint32_t i = 0; i < w->part_count; i++)
        if (w->parts[i]->last_event_ns > last) last = w->parts[i]->last_event_ns;
    if (last >= 0) set_now_all(w, last);
    if (last > w->host_ran_ns) w->host_ran_ns = last;
}

/* Windows and world events up to t_end, or until pred or a stop. pred and barrier_cb
 * run between windows, when messages between partitions may still wait in outboxes
 * (sim_world_pending_events counts them). */
static bool run_windows(sim_world *w, int64_t t_end, bool (*pred)(void *arg), void *arg) {
    atomic_store_explicit(&w->stop, false, memory_order_relaxed);
    if (pred && pred(arg)) return true;
    for (;;) {
        int64_t th = parts_next_ns(w), tw = world_next_ns(w);
        int64_t t = th < tw ? th : tw;
        if (t > t_end) break;
        uint64_t s0 = 0;
        if (tw <= th) {
            s0 = sim_mono_ns();
            run_world_at(w, tw); /* world events first at an equal time */
        } else {
            int64_t end = w->lookahead_ns < INT64_MAX / 4 ? th + w->lookahead_ns : INT64_MAX / 2;
            if (w->lookahead_ns <= 0) end = th + 1;
            if (end > tw) end = tw;
            if (end > t_end) end = t_end + 1;
            run_window(w, end);
            s0 = sim_mono_ns();
        }
        barrier(w);
        w->serial_ns += sim_mono_ns() - s0;
        if (pred && pred(arg)) return true;
        if (atomic_load_explicit(&w->stop, memory_order_relaxed)) return pred ? pred(arg) : false;
    }
    if (t_end > w->now_ns) set_now_all(w, t_end);
    return pred ? pred(arg) : false;
}

/* The common loop of sim_run_until and sim_run_until_pred; on return every event is in
 * a queue (the caller may crash hosts, count or cancel events). */
static bool run_loop(sim_world *w, int64_t t_end, bool (*pred)(void *arg), void *arg) {
    start(w);
    bool met = run_windows(w, t_end, pred, arg);
    outboxes_drain(w);
    return met;
}

bool sim_step(sim_world *w) {
    start(w);
    TP_ASSERT(w->part_count == 1 && "sim_step runs one event: worlds with one thread only");
    atomic_store_explicit(&w->stop, false, memory_order_relaxed);
    int64_t th = parts_next_ns(w), tw = world_next_ns(w);
    if (th == INT64_MAX && tw == INT64_MAX) return false;
    if (tw <= th) {
        set_now_all(w, tw);
        run_world_event(w);
    } else {
        if (w->net_dirty) sim_streams_net_changed(w);
        w->in_events = true;
        step_part(w->parts[0]);
        w->in_events = false;
        w->host_ran_ns = w->parts[0]->now_ns;
        set_now_all(w, w->parts[0]->now_ns);
    }
    barrier(w);
    return true;
}

void sim_run_until(sim_world *w, int64_t t_ns) { (void)run_loop(w, t_ns, NULL, NULL); }

void sim_run_for(sim_world *w, int64_t duration_ns) {
    TP_ASSERT(duration_ns >= 0);
    sim_run_until(w, w->now_ns + duration_ns);
}

bool sim_run_until_pred(sim_world *w, bool (*pred)(void *arg), void *arg, int64_t deadline_ns) {
    return run_loop(w, deadline_ns, pred, arg);
}

/* ------------------------------------------------------------------------------------ */
/* Hosts and addresses                                                                  */

void sim_host_config_default(sim_host_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->subnet_prefix_bits = 24;
}

static uint32_t ip_hash(const tp_ip *ip) {
    uint64_t a, b;
    memcpy(&a, ip->bytes, 8);
    memcpy(&b, ip->bytes + 8, 8);
    uint64_t h = mix(mix(0x243f6a8885a308d3ULL, a), b);
    return (uint32_t)(h ^ (h >> 32));
}

static void ip_map_insert(sim_world *w, uint32_t index) {
    const tp_ip *ip = &sim_host_at(w, index)->ip;
    uint32_t mask = w->ip_map_cap - 1;
    uint32_t i = ip_hash(ip) & mask;
    while (w->ip_map[i].index1 != 0) i = (i + 1) & mask;
    w->ip_map[i].ip = *ip;
    w->ip_map[i].index1 = index + 1;
}

static void ip_map_grow(sim_world *w) {
    uint32_t old_cap = w->ip_map_cap;
    uint32_t cap = old_cap ? old_cap * 2 : 1024;
    sim_backend_free(w->parts[0], w->ip_map, (size_t)old_cap * sizeof *w->ip_map);
    w->ip_map = sim_backend_alloc(w->parts[0], (size_t)cap * sizeof *w->ip_map);
    w->ip_map_cap = cap;
    for (uint32_t i = 0; i < w->host_count; i++) ip_map_insert(w, i);
}

bool sim_world_host_index_by_ip(const sim_world *w, const tp_ip *ip, uint32_t *index) {
    if (w->ip_map_cap == 0) return false;
    uint32_t mask = w->ip_map_cap - 1;
    for (uint32_t i = ip_hash(ip) & mask; w->ip_map[i].index1 != 0; i = (i + 1) & mask) {
        if (tp_ip_eq(&w->ip_map[i].ip, ip)) {
            *index = w->ip_map[i].index1 - 1;
            return true;
        }
    }
    return false;
}

sim_host *sim_world_host_by_ip(sim_world *w, const tp_ip *ip) {
    uint32_t index;
    return sim_world_host_index_by_ip(w, ip, &index) ? sim_host_at(w, index) : NULL;
}

/* The network part of ip under the host's prefix (prefix counted in IPv4 bits for
 * IPv4-mapped addresses). */
static tp_ip subnet_network(const tp_ip *ip, uint8_t prefix_bits) {
    tp_ip n = *ip;
    unsigned bits = tp_ip_is_v4mapped(ip) ? 96u + prefix_bits : prefix_bits;
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits > 8 * i ? bits - 8 * i : 0;
        if (keep >= 8) continue;
        n.bytes[i] &= (uint8_t)(0xff00u >> keep);
    }
    return n;
}

static uint32_t subnet_hash(const tp_ip *net, uint8_t prefix) {
    return ip_hash(net) * 31u + prefix;
}

static sim_subnet *subnet_find(sim_world *w, const tp_ip *net, uint8_t prefix, bool create) {
    if (w->subnet_cap == 0 || (create && (w->subnet_count + 1) * 2 > w->subnet_cap)) {
        if (!create) return NULL;
        uint32_t old_cap = w->subnet_cap;
        sim_subnet *old = w->subnets;
        uint32_t cap = old_cap ? old_cap * 2 : 64;
        w->subnets = sim_backend_alloc(w->parts[0], (size_t)cap * sizeof *w->subnets);
        w->subnet_cap = cap;
        for (uint32_t i = 0; i < old_cap; i++) {
            if (!old[i].used) continue;
            uint32_t j = subnet_hash(&old[i].network, old[i].prefix_bits) & (cap - 1);
            while (w->subnets[j].used) j = (j + 1) & (cap - 1);
            w->subnets[j] = old[i];
        }
        sim_backend_free(w->parts[0], old, (size_t)old_cap * sizeof *old);
    }
    uint32_t mask = w->subnet_cap - 1;
    uint32_t i = subnet_hash(net, prefix) & mask;
    for (; w->subnets[i].used; i = (i + 1) & mask) {
        if (w->subnets[i].prefix_bits == prefix && tp_ip_eq(&w->subnets[i].network, net))
            return &w->subnets[i];
    }
    if (!create) return NULL;
    sim_subnet *s = &w->subnets[i];
    s->used = true;
    s->network = *net;
    s->prefix_bits = prefix;
    s->first_host = s->last_host = UINT32_MAX;
    w->subnet_count++;
    return s;
}

/* First host of h's subnet (the chain continues through subnet_next). */
uint32_t sim_subnet_first(sim_world *w, const sim_host *h) {
    tp_ip net = subnet_network(&h->ip, h->prefix_bits);
    sim_subnet *s = subnet_find(w, &net, h->prefix_bits, false);
    return s ? s->first_host : UINT32_MAX;
}

/* Is `to` the broadcast address of h's subnet (all host bits set)? */
bool sim_is_subnet_broadcast(const sim_host *h, const tp_ip *to) {
    if (tp_ip_is_v4mapped(&h->ip) != tp_ip_is_v4mapped(to)) return false;
    unsigned bits = tp_ip_is_v4mapped(&h->ip) ? 96u + h->prefix_bits : h->prefix_bits;
    if (bits >= 128) return false;
    tp_ip a = subnet_network(&h->ip, h->prefix_bits), b = subnet_network(to, h->prefix_bits);
    if (!tp_ip_eq(&a, &b)) return false;
    for (unsigned i = 0; i < 128; i++) {
        if (i < bits) continue;
        if (((to->bytes[i / 8] >> (7 - i % 8)) & 1) == 0) return false;
    }
    return true;
}

tp_err sim_host_add(sim_world *w, const sim_host_config *cfg, sim_host **out) {
    const tp_ip zero = {{0}};
    if (cfg->region >= w->cfg.region_count) return TP_ERR_INVAL;
    if (tp_ip_eq(&cfg->ip, &zero)) return TP_ERR_INVAL;
    bool v4 = tp_ip_is_v4mapped(&cfg->ip);
    if (cfg->subnet_prefix_bits > (v4 ? 32 : 128)) return TP_ERR_INVAL;
    if (w->host_count >= SIM_TF_HOST_MASK - 1) return TP_ERR_LIMIT;
    if (sim_world_host_by_ip(w, &cfg->ip) != NULL) return TP_ERR_EXISTS;
    uint32_t index = w->host_count;
    if ((index >> SIM_HOST_CHUNK_SHIFT) >= w->chunk_count) {
        uint32_t n = w->chunk_count + 1;
        w->chunks = sim_backend_realloc(w->parts[0], w->chunks, (size_t)w->chunk_count * sizeof *w->chunks,
                                        (size_t)n * sizeof *w->chunks);
        w->chunks[w->chunk_count] = sim_backend_alloc(w->parts[0], SIM_HOST_CHUNK * sizeof(sim_host));
        w->chunk_count = n;
    }
    sim_host *h = sim_host_at(w, index);
    memset(h, 0, sizeof *h);
    h->world = w;
    h->part = w->parts[sim_part_of_index(index, w->part_block, w->part_count)];
    {
        uint64_t x = w->cfg.seed ^ 0x6d6f64656c000000ULL; /* "model" */
        x = splitmix64(&x) ^ ((uint64_t)index * 0x9e3779b97f4a7c15ULL);
        h->mrng = splitmix64(&x);
    }
    h->env.ctx = h;
    h->env.ops = &sim_env_ops;
    h->index = index;
    h->region = cfg->region;
    h->as_number = cfg->as_number;
    h->loss_ppm = cfg->loss_ppm > 1000000 ? 1000000 : cfg->loss_ppm;
    h->ip = cfg->ip;
    h->prefix_bits = cfg->subnet_prefix_bits;
    h->state = SIM_HOST_UP;
    h->next_port = 49152;
    h->subnet_next = UINT32_MAX;
    h->drift_ppm = cfg->clock_drift_ppm;
    h->up_bps = cfg->up_bytes_per_s;
    h->down_bps = cfg->down_bytes_per_s;
    h->wall_anchor_now_ns = w->now_ns;
    h->wall_anchor_wall_ns = w->cfg.wall_start_ns + w->now_ns + cfg->clock_offset_ns;
    w->host_count++;
    w->region_hosts[h->region]++;
    lookahead_update(w);
    if ((w->host_count) * 2 > w->ip_map_cap)
        ip_map_grow(w);
    else
        ip_map_insert(w, index);
    tp_ip net = subnet_network(&h->ip, h->prefix_bits);
    sim_subnet *s = subnet_find(w, &net, h->prefix_bits, true);
    if (s->first_host == UINT32_MAX)
        s->first_host = index;
    else
        sim_host_at(w, s->last_host)->subnet_next = index;
    s->last_host = index;
    *out = h;
    return TP_OK;
}

tp_err sim_hosts_add_in_region(sim_world *w, uint32_t region, uint32_t count,
                               const sim_host_config *tmpl, uint32_t *first_index) {
    if (region >= w->cfg.region_count || region > 255) return TP_ERR_INVAL;
    if ((uint64_t)w->region_auto_count[region] + count > 64000) return TP_ERR_LIMIT;
    sim_host_config c;
    if (tmpl)
        c = *tmpl;
    else
        sim_host_config_default(&c);
    c.region = region;
    c.as_number = 64512 + region;
    c.subnet_prefix_bits = 24;
    uint32_t first = w->host_count;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t k = w->region_auto_count[region];
        c.ip = tp_ip_from_v4((10u << 24) | (region << 16) | ((k / 250) << 8) | (k % 250 + 1));
        sim_host *h;
        TP_TRY(sim_host_add(w, &c, &h));
        w->region_auto_count[region]++;
    }
    *first_index = first;
    return TP_OK;
}

uint32_t sim_world_host_count(const sim_world *w) { return w->host_count; }
sim_host *sim_world_host(sim_world *w, uint32_t index) {
    TP_ASSERT(index < w->host_count);
    return sim_host_at(w, index);
}
uint32_t sim_host_index(const sim_host *h) { return h->index; }
tp_ip sim_host_ip(const sim_host *h) { return h->ip; }
uint32_t sim_host_region(const sim_host *h) { return h->region; }
uint32_t sim_host_as_number(const sim_host *h) { return h->as_number; }
sim_world *sim_host_world(const sim_host *h) { return h->world; }
const tp_env *sim_host_env(sim_host *h) { return &h->env; }
uint64_t sim_host_memory_bytes(const sim_host *h) { return h->memory_bytes; }
sim_host_state sim_host_get_state(const sim_host *h) { return (sim_host_state)h->state; }
bool sim_host_app_running(const sim_host *h) { return h->app_running; }

bool sim_host_ip_matches(const sim_host *h, const tp_ip *ip) {
    const tp_ip any6 = {{0}};
    tp_ip any4 = tp_ip_from_v4(0);
    return tp_ip_eq(ip, &any6) || tp_ip_eq(ip, &any4) || tp_ip_eq(ip, &h->ip);
}

uint16_t sim_host_ephemeral_port(sim_host *h) {
    for (;;) {
        uint16_t p = h->next_port;
        h->next_port = p == 65535 ? 49152 : (uint16_t)(p + 1);
        bool used = false;
        for (tp_listener *l = h->listeners; l; l = l->next) used |= l->local.port == p;
        if (!used) return p;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Network model: latency, loss, serialization                                          */

int64_t sim_latency_ns(sim_host *actor, const sim_host *from, const sim_host *to) {
    const sim_world *w = actor->world;
    if (from == to) return w->cfg.loopback_latency_ns;
    const sim_latency *l = &w->latency[from->region * w->cfg.region_count + to->region];
    int64_t j = l->jitter_ns > 0 ? (int64_t)sim_host_rng_below(actor, (uint64_t)l->jitter_ns + 1) : 0;
    return l->base_ns + j;
}

uint32_t sim_loss_ppm(const sim_world *w, const sim_host *from, const sim_host *to) {
    if (from == to) return 0;
    uint64_t p = (uint64_t)from->loss_ppm + to->loss_ppm +
                 w->region_loss[from->region * w->cfg.region_count + to->region];
    return p > 1000000 ? 1000000 : (uint32_t)p;
}

int64_t sim_rto_ns(const sim_world *w, unsigned attempt) {
    int64_t r = w->cfg.tcp.rto_min_ns;
    for (unsigned i = 0; i < attempt && r < w->cfg.rto_max_ns; i++) r *= 2;
    return r < w->cfg.rto_max_ns ? r : w->cfg.rto_max_ns;
}

int64_t sim_ser_ns(uint64_t bytes, uint64_t bytes_per_s) {
    if (bytes_per_s == 0 || bytes == 0) return 0;
    /* bytes <= 2^28 here, so bytes * 1e9 fits in 64 bits */
    return (int64_t)((bytes * 1000000000ULL + bytes_per_s - 1) / bytes_per_s);
}

static inline bool bit_get(const uint8_t *bits, uint32_t len, uint32_t i) {
    return i < len && ((bits[i >> 3] >> (i & 7)) & 1);
}

bool sim_path_open(const sim_world *w, uint32_t from, uint32_t to) {
    if (to == UINT32_MAX || from == UINT32_MAX) return false;
    if (sim_host_at(w, to)->state != SIM_HOST_UP) return false;
    if (sim_host_at(w, from)->state != SIM_HOST_UP) return false;
    if (from == to) return true;
    for (uint32_t i = 0; i < w->partition_count; i++) {
        const sim_cut *p = &w->partitions[i];
        if (!p->active) continue;
        bool fa = bit_get(p->a_bits, p->bits_len, from), ta = bit_get(p->a_bits, p->bits_len, to);
        bool fb = p->b_bits ? bit_get(p->b_bits, p->bits_len, from) : !fa;
        bool tb = p->b_bits ? bit_get(p->b_bits, p->bits_len, to) : !ta;
        if ((fa && tb) || (ta && fb)) return false;
    }
    return true;
}

bool sim_reachable(const sim_world *w, uint32_t from, uint32_t to) {
    TP_ASSERT(from < w->host_count && to < w->host_count);
    return sim_path_open(w, from, to);
}

/* ------------------------------------------------------------------------------------ */
/* Partitions and link parameters                                                       */

/* The world state that decides whether a path is open (cuts, hosts up or down) changed:
 * streams confirm their segments lazily only while it does not (sim_stream.c), so
 * they are told before the next host event runs. */
static void net_changed(sim_world *w) {
    if (!w->net_dirty) w->net_change_ns = w->host_ran_ns;
    w->net_dirty = true;
}

static tp_err partition_make(sim_world *w, const uint32_t *a, size_t na, const uint32_t *b,
                             size_t nb, bool active, uint32_t *id) {
    if (na == 0) return TP_ERR_INVAL;
    for (size_t i = 0; i < na; i++)
        if (a[i] >= w->host_count) return TP_ERR_INVAL;
    for (size_t i = 0; b && i < nb; i++)
        if (b[i] >= w->host_count) return TP_ERR_INVAL;
    if (w->partition_count == w->partition_cap) {
        uint32_t cap = w->partition_cap ? w->partition_cap * 2 : 8;
        sim_cut *p = realloc(w->partitions, cap * sizeof *p);
        if (p == NULL) return TP_ERR_NOMEM;
        w->partitions = p;
        w->partition_cap = cap;
    }
    uint32_t len = w->host_count;
    size_t bytes = (len + 7) / 8;
    uint8_t *ab = calloc(bytes, 1);
    uint8_t *bb = b ? calloc(bytes, 1) : NULL;
    if (ab == NULL || (b && bb == NULL)) {
        free(ab);
        free(bb);
        return TP_ERR_NOMEM;
    }
    for (size_t i = 0; i < na; i++) ab[a[i] >> 3] |= (uint8_t)(1u << (a[i] & 7));
    for (size_t i = 0; b && i < nb; i++) bb[b[i] >> 3] |= (uint8_t)(1u << (b[i] & 7));
    sim_cut *p = &w->partitions[w->partition_count];
    p->id = w->partition_count + 1;
    p->active = active;
    if (active) net_changed(w);
    p->bits_len = len;
    p->a_bits = ab;
    p->b_bits = bb;
    w->partition_count++;
    *id = p->id;
    return TP_OK;
}

tp_err sim_partition(sim_world *w, const uint32_t *a, size_t a_count, const uint32_t *b,
                     size_t b_count, uint32_t *id) {
    TP_TRY(partition_make(w, a, a_count, b, b_count, true, id));
    sim_wtrace(w, SIM_TRACE_FAULT, SIM_FAULT_PARTITION, *id, a_count);
    return TP_OK;
}

void sim_heal(sim_world *w, uint32_t id) {
    if (id == 0 || id > w->partition_count) return;
    sim_cut *p = &w->partitions[id - 1];
    if (!p->active) return;
    p->active = false;
    net_changed(w);
    sim_wtrace(w, SIM_TRACE_FAULT, SIM_FAULT_HEAL, id, 0);
}

void sim_heal_all(sim_world *w) {
    for (uint32_t i = 0; i < w->partition_count; i++) w->partitions[i].active = false;
    net_changed(w);
    sim_wtrace(w, SIM_TRACE_FAULT, SIM_FAULT_HEAL_ALL, 0, 0);
}

void sim_host_set_bandwidth(sim_host *h, uint64_t up, uint64_t down) {
    h->up_bps = up;
    h->down_bps = down;
    sim_wtrace(h->world, SIM_TRACE_FAULT, SIM_FAULT_BANDWIDTH, up, down);
}

void sim_host_set_loss(sim_host *h, uint32_t loss_ppm) {
    h->loss_ppm = loss_ppm > 1000000 ? 1000000 : loss_ppm;
    sim_wtrace(h->world, SIM_TRACE_FAULT, SIM_FAULT_HOST_LOSS, h->index, loss_ppm);
}

void sim_host_set_corruption(sim_host *h, uint32_t corrupt_ppm) {
    h->corrupt_ppm = corrupt_ppm > 1000000 ? 1000000 : corrupt_ppm;
    sim_wtrace(h->world, SIM_TRACE_FAULT, SIM_FAULT_CORRUPTION, h->index, corrupt_ppm);
}

bool sim_corrupt_pick(sim_host *actor, const sim_host *to, uint32_t len, uint32_t *offset,
                      uint8_t *mask) {
    if (to->corrupt_ppm == 0 || len == 0) return false;
    if (sim_host_rng_below(actor, 1000000) >= to->corrupt_ppm) return false;
    *offset = (uint32_t)sim_host_rng_below(actor, len);
    *mask = (uint8_t)(1 + sim_host_rng_below(actor, 255));
    actor->part->stats.messages_corrupted++;
    return true;
}

void sim_set_latency(sim_world *w, uint32_t from, uint32_t to, sim_latency lat) {
    TP_ASSERT(from < w->cfg.region_count && to < w->cfg.region_count);
    TP_ASSERT(lat.base_ns >= 0 && lat.jitter_ns >= 0);
    w->latency[from * w->cfg.region_count + to] = lat;
    lookahead_update(w);
    /* partitions run in parallel only while every path takes time (README) */
    TP_ASSERT((w->part_count == 1 || w->lookahead_ns > 0) &&
              "a zero-latency path between hosts in a run with several threads: use one thread");
    sim_wtrace(w, SIM_TRACE_FAULT, SIM_FAULT_LATENCY, (uint64_t)lat.base_ns,
              (uint64_t)lat.jitter_ns);
}

void sim_set_region_loss(sim_world *w, uint32_t ra, uint32_t rb, uint32_t loss_ppm) {
    TP_ASSERT(ra < w->cfg.region_count && rb < w->cfg.region_count);
    if (loss_ppm > 1000000) loss_ppm = 1000000;
    w->region_loss[ra * w->cfg.region_count + rb] = loss_ppm;
    w->region_loss[rb * w->cfg.region_count + ra] = loss_ppm;
    sim_wtrace(w, SIM_TRACE_FAULT, SIM_FAULT_REGION_LOSS, ra * 256u + rb, loss_ppm);
}

/* ------------------------------------------------------------------------------------ */
/* Clocks                                                                               */

/* d * ppm / 1e6 without overflow for any d of a run and |ppm| < 2^31. */
static int64_t scale_ppm(int64_t d, int32_t ppm) {
    int64_t q = d / 1000000, r = d % 1000000;
    return q * ppm + r * ppm / 1000000;
}

int64_t sim_host_wall_ns(const sim_host *h) {
    int64_t d = h->part->now_ns - h->wall_anchor_now_ns;
    return h->wall_anchor_wall_ns + d + scale_ppm(d, h->drift_ppm);
}

void sim_host_clock_step(sim_host *h, int64_t delta_ns) {
    h->wall_anchor_wall_ns += delta_ns;
    sim_wtrace(h->world, SIM_TRACE_FAULT, SIM_FAULT_CLOCK_STEP, h->index, (uint64_t)delta_ns);
}

void sim_host_clock_drift(sim_host *h, int32_t drift_ppm) {
    h->wall_anchor_wall_ns = sim_host_wall_ns(h);
    h->wall_anchor_now_ns = h->part->now_ns;
    h->drift_ppm = drift_ppm;
    sim_wtrace(h->world, SIM_TRACE_FAULT, SIM_FAULT_CLOCK_DRIFT, h->index, (uint64_t)drift_ppm);
}

void sim_host_disk_wipe(sim_host *h) {
    sim_disk_wipe(h);
    sim_wtrace(h->world, SIM_TRACE_FAULT, SIM_FAULT_DISK_WIPE, h->index, 0);
}

/* ------------------------------------------------------------------------------------ */
/* Application lifecycle                                                                */

void sim_host_set_app(sim_host *h, const sim_app_ops *ops, void *app) {
    TP_ASSERT(!h->app_running);
    h->app_ops = ops;
    h->app = app;
}

static bool drop_host_timer(const tp_timer *t, void *arg) {
    const sim_host *h = arg;
    return (t->backend_flags & SIM_TF_INTERNAL) == 0 && t->backend_flags == h->index + 1;
}

static void drop_host_timers(sim_host *h) {
    if (h->timers_armed == 0) return;
    sim_queue_filter(&h->part->q, drop_host_timer, h);
    h->timers_armed = 0;
}

static void cancel_halt(sim_host *h) {
    if (h->halt == NULL) return;
    sim_disarm(h, &h->halt->t);
    free(h->halt);
    h->halt = NULL;
}

/* Runs an app hook with `h` as the host whose code is running (for the asserts). */
#define APP_HOOK(h, hook)                                                                \
    do {                                                                                 \
        sim_host *prev_ = (h)->part->cb_host;                                            \
        (h)->part->cb_host = (h);                                                        \
        (h)->app_ops->hook((h)->app, (h), &(h)->env);                                    \
        (h)->part->cb_host = prev_;                                                      \
    } while (0)

/* Crash, start and stop re-enter the app: never from inside that host's own code. */
#define ASSERT_NOT_OWN_CALLBACK(h)                                                       \
    TP_ASSERT((h)->part->cb_host != (h) &&                                               \
              "host lifecycle call from inside the host's own callback: use sim_fault_at")

static void app_halt(sim_host *h) {
    h->app_running = 0;
    h->app_stopping = 0;
    if (h->app_ops && h->app_ops->halt) APP_HOOK(h, halt);
}

void sim_host_start(sim_host *h) {
    ASSERT_NOT_OWN_CALLBACK(h);
    sim_world *w = h->world;
    bool booted = h->state == SIM_HOST_DOWN;
    if (booted) {
        h->state = SIM_HOST_UP;
        net_changed(w);
        /* The host's links are idle again after a reboot. */
        h->up_free_ns = h->down_free_ns = h->part->now_ns;
    }
    bool app = h->app_ops != NULL && !h->app_running;
    if (!booted && !app) return; /* already up and running */
    h->part->stats.host_starts++;
    sim_wtrace(w, SIM_TRACE_FAULT, SIM_FAULT_START, h->index, 0);
    if (!app) return;
    h->app_running = 1;
    if (h->app_ops->start) APP_HOOK(h, start);
}

void sim_host_crash(sim_host *h) {
    ASSERT_NOT_OWN_CALLBACK(h);
    sim_world *w = h->world;
    if (h->state == SIM_HOST_DOWN) return;
    h->part->stats.host_crashes++;
    sim_wtrace(w, SIM_TRACE_FAULT, SIM_FAULT_CRASH, h->index, 0);
    h->state = SIM_HOST_DOWN;
    net_changed(w);
    cancel_halt(h);
    drop_host_timers(h);
    sim_streams_host_crash(h);
    sim_dgrams_host_drop(h);
    sim_disk_crash(h);
    if (h->app_running) app_halt(h);
}

static bool drop_running_app_timer(const tp_timer *t, void *arg) {
    sim_world *w = arg;
    uint32_t flags = t->backend_flags;
    if ((flags & SIM_TF_INTERNAL) != 0 || flags == 0) return false;
    const sim_host *h = sim_host_at(w, flags - 1);
    return h->state != SIM_HOST_DOWN && h->app_running;
}

void sim_world_crash_running_apps(sim_world *w) {
    for (uint32_t i = 0; i < w->part_count; i++) {
        TP_ASSERT(w->parts[i]->cb_host == NULL);
        sim_queue_filter(&w->parts[i]->q, drop_running_app_timer, w);
    }
    for (uint32_t i = 0; i < w->host_count; i++) {
        sim_host *h = sim_host_at(w, i);
        if (h->state == SIM_HOST_DOWN || !h->app_running) continue;
        h->timers_armed = 0; /* dropped above: the crash skips its own scan */
        sim_host_crash(h);
    }
}

static void halt_fire(void *arg) {
    struct sim_halt *hl = arg;
    sim_host *h = hl->host;
    free(h->halt);
    h->halt = NULL;
    sim_trace(h, SIM_TRACE_APP, 2, h->index, 0);
    drop_host_timers(h);
    sim_streams_host_halt(h);
    sim_dgrams_host_drop(h);
    if (h->app_running) app_halt(h);
}

void sim_host_stop(sim_host *h, int64_t grace_ns) {
    TP_ASSERT(grace_ns >= 0);
    ASSERT_NOT_OWN_CALLBACK(h);
    sim_world *w = h->world;
    sim_wtrace(w, SIM_TRACE_FAULT, SIM_FAULT_STOP, h->index, (uint64_t)grace_ns);
    if (h->state == SIM_HOST_DOWN || !h->app_running || h->app_stopping) return;
    h->app_stopping = 1;
    if (h->app_ops->stop) APP_HOOK(h, stop);
    if (!h->app_running) return; /* the stop hook crashed it (scenario code) */
    h->halt = calloc(1, sizeof *h->halt);
    TP_ASSERT(h->halt != NULL);
    h->halt->host = h;
    tp_timer_init(&h->halt->t, halt_fire, h->halt);
    sim_arm(h, &h->halt->t, h->part->now_ns + grace_ns);
}

/* ------------------------------------------------------------------------------------ */
/* Scheduled faults                                                                     */

static void sched_apply(sim_world *w, const sim_fault *f, const sim_sched *s) {
    switch (f->kind) {
    case SIM_FAULT_PARTITION: {
        sim_cut *p = &w->partitions[f->partition_id - 1];
        p->active = true;
        net_changed(w);
        sim_wtrace(w, SIM_TRACE_FAULT, SIM_FAULT_PARTITION, p->id, f->host_count);
        break;
    }
    case SIM_FAULT_HEAL: sim_heal(w, f->partition_id); break;
    case SIM_FAULT_HEAL_ALL: sim_heal_all(w); break;
    case SIM_FAULT_LATENCY: {
        sim_latency l = {f->value_ns, f->jitter_ns};
        sim_set_latency(w, f->region_a, f->region_b, l);
        break;
    }
    case SIM_FAULT_REGION_LOSS: sim_set_region_loss(w, f->region_a, f->region_b, f->loss_ppm); break;
    default:
        for (size_t i = 0; i < f->host_count; i++) {
            sim_host *h = sim_host_at(w, s->hosts[i]);
            switch (f->kind) {
            case SIM_FAULT_CRASH: sim_host_crash(h); break;
            case SIM_FAULT_STOP: sim_host_stop(h, f->value_ns); break;
            case SIM_FAULT_START: sim_host_start(h); break;
            case SIM_FAULT_BANDWIDTH:
                sim_host_set_bandwidth(h, f->up_bytes_per_s, f->down_bytes_per_s);
                break;
            case SIM_FAULT_HOST_LOSS: sim_host_set_loss(h, f->loss_ppm); break;
            case SIM_FAULT_CLOCK_STEP: sim_host_clock_step(h, f->value_ns); break;
            case SIM_FAULT_CLOCK_DRIFT: sim_host_clock_drift(h, f->drift_ppm); break;
            case SIM_FAULT_DISK_WIPE: sim_host_disk_wipe(h); break;
            case SIM_FAULT_CORRUPTION: sim_host_set_corruption(h, f->loss_ppm); break;
            default: TP_UNREACHABLE();
            }
        }
    }
}

static void sched_fire(void *arg) {
    sim_sched *s = arg;
    sim_world *w = s->world;
    sched_apply(w, &s->f, s);
    sched_free(w, s);
}

static uint32_t *copy_hosts(const uint32_t *a, size_t n) {
    if (a == NULL || n == 0) return NULL;
    uint32_t *c = malloc(n * sizeof *c);
    if (c) memcpy(c, a, n * sizeof *c);
    return c;
}

tp_err sim_fault_at(sim_world *w, int64_t at_ns, const sim_fault *f, uint32_t *partition_id) {
    if (at_ns < w->now_ns || (unsigned)f->kind >= SIM_FAULT_KIND_COUNT) return TP_ERR_INVAL;
    for (size_t i = 0; i < f->host_count; i++)
        if (f->hosts == NULL || f->hosts[i] >= w->host_count) return TP_ERR_INVAL;
    for (size_t i = 0; i < f->host_b_count; i++)
        if (f->hosts_b == NULL || f->hosts_b[i] >= w->host_count) return TP_ERR_INVAL;
    if ((f->kind == SIM_FAULT_LATENCY || f->kind == SIM_FAULT_REGION_LOSS) &&
        (f->region_a >= w->cfg.region_count || f->region_b >= w->cfg.region_count))
        return TP_ERR_INVAL;
    if (f->kind == SIM_FAULT_LATENCY && (f->value_ns < 0 || f->jitter_ns < 0)) return TP_ERR_INVAL;
    if (f->kind == SIM_FAULT_STOP && f->value_ns < 0) return TP_ERR_INVAL;
    if (f->kind == SIM_FAULT_PARTITION && f->host_count == 0) return TP_ERR_INVAL;
    sim_sched *s = calloc(1, sizeof *s);
    if (s == NULL) return TP_ERR_NOMEM;
    s->world = w;
    s->f = *f;
    s->hosts = copy_hosts(f->hosts, f->host_count);
    s->hosts_b = copy_hosts(f->hosts_b, f->host_b_count);
    if ((f->host_count && !s->hosts) || (f->host_b_count && !s->hosts_b)) {
        free(s->hosts);
        free(s->hosts_b);
        free(s);
        return TP_ERR_NOMEM;
    }
    s->f.hosts = s->hosts;
    s->f.hosts_b = s->hosts_b;
    if (f->kind == SIM_FAULT_PARTITION) {
        uint32_t id;
        tp_err err = partition_make(w, f->hosts, f->host_count, f->hosts_b, f->host_b_count,
                                    false, &id);
        if (err != TP_OK) {
            free(s->hosts);
            free(s->hosts_b);
            free(s);
            return err;
        }
        s->f.partition_id = id;
        if (partition_id) *partition_id = id;
    }
    s->next = w->scheds;
    if (w->scheds) w->scheds->prev = s;
    w->scheds = s;
    tp_timer_init(&s->t, sched_fire, s);
    sim_warm(w, &s->t, at_ns);
    return TP_OK;
}
