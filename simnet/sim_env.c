/* simnet/sim_env.c — the tp_env operations of a simulated host (core/env.h). ctx is
 * the sim_host. Each operation checks the host is up (a crashed host runs no code),
 * then forwards to the module that implements it. */
#include "simnet/sim_impl.h"


static int64_t env_now_ns(void *ctx) {
    sim_host *h = ctx;
    return h->part->now_ns;
}

static int64_t env_wall_ns(void *ctx) { return sim_host_wall_ns(ctx); }

static void env_timer_start(void *ctx, tp_timer *t, int64_t deadline_ns) {
    sim_host *h = ctx;
    TP_ASSERT(h->state == SIM_HOST_UP);
    sim_timer_start_flags(h->world, t, deadline_ns, h->index + 1);
}

static void env_timer_stop(void *ctx, tp_timer *t) {
    sim_host *h = ctx;
    if (t->backend_index == TP_TIMER_NOT_ARMED) return;
    TP_ASSERT(t->backend_flags == h->index + 1); /* a timer of another host */
    sim_timer_stop_flags(h->world, t);
}

static tp_err env_listen(void *ctx, const tp_point *local, int backlog, tp_accept_cb cb,
                         void *arg, tp_listener **out) {
    return sim_stream_listen(ctx, local, backlog, cb, arg, out);
}
static void env_listener_close(void *ctx, tp_listener *l) { sim_stream_listener_close(ctx, l); }
static tp_err env_stream_connect(void *ctx, const tp_point *remote, const tp_stream_cbs *cbs,
                                 void *arg, tp_stream **out) {
    return sim_stream_connect(ctx, remote, cbs, arg, out);
}
static void env_stream_adopt(void *ctx, tp_stream *s, const tp_stream_cbs *cbs, void *arg) {
    sim_stream_adopt(ctx, s, cbs, arg);
}
static tp_err env_stream_write(void *ctx, tp_stream *s, const uint8_t *data, size_t len,
                               size_t *taken) {
    return sim_stream_write(ctx, s, data, len, taken);
}
static void env_stream_read_pause(void *ctx, tp_stream *s) { sim_stream_read_pause(ctx, s); }
static void env_stream_read_resume(void *ctx, tp_stream *s) { sim_stream_read_resume(ctx, s); }
static void env_stream_shutdown_write(void *ctx, tp_stream *s) {
    sim_stream_shutdown_write(ctx, s);
}
static void env_stream_close(void *ctx, tp_stream *s) { sim_stream_close(ctx, s); }
static void env_stream_reset(void *ctx, tp_stream *s) { sim_stream_reset(ctx, s); }
static void env_stream_addresses(void *ctx, tp_stream *s, tp_point *local, tp_point *remote) {
    sim_stream_addresses(ctx, s, local, remote);
}

static tp_err env_dgram_open(void *ctx, const tp_point *local, tp_dgram_cb cb, void *arg,
                             tp_dgram **out) {
    return sim_dgram_open(ctx, local, cb, arg, out);
}
static tp_err env_dgram_send(void *ctx, tp_dgram *d, const tp_point *to, const uint8_t *data,
                             size_t len) {
    return sim_dgram_send(ctx, d, to, data, len);
}
static void env_dgram_close(void *ctx, tp_dgram *d) { sim_dgram_close(ctx, d); }

static void env_random(void *ctx, void *buf, size_t len) { sim_host_random(ctx, buf, len); }

static tp_err env_file_read(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len) {
    return sim_disk_read(ctx, name, buf, cap, len);
}
static tp_err env_file_write(void *ctx, const char *name, const uint8_t *data, size_t len) {
    return sim_disk_write(ctx, name, data, len);
}
static tp_err env_file_rename(void *ctx, const char *from, const char *to) {
    return sim_disk_rename(ctx, from, to);
}

/* Per-host accounting of the application's memory (sim_host_memory_bytes), with an
 * optional budget (host_memory_limit_bytes). */
static void *env_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size) {
    sim_host *h = ctx;
    TP_ASSERT(h->memory_bytes >= old_size);
    if (new_size == 0) {
        free(ptr);
        h->memory_bytes -= old_size;
        return NULL;
    }
    uint64_t limit = h->world->cfg.host_memory_limit_bytes;
    if (limit > 0 && h->memory_bytes - old_size + new_size > limit) return NULL;
    void *p = realloc(ptr, new_size);
    if (p == NULL) return NULL;
    h->memory_bytes = h->memory_bytes - old_size + new_size;
    return p;
}

static void env_event(void *ctx, const tp_event *ev) {
    sim_host *h = ctx;
    h->part->stats.events_reported++;
    sim_trace(h, SIM_TRACE_EVENT, h->index, (uint64_t)ev->kind, (uint64_t)(int64_t)ev->code);
    if (ev->flags & TP_EVENT_HAS_PEER) sim_trace_bytes(h, ev->peer_id, sizeof ev->peer_id);
    if (ev->flags & TP_EVENT_HAS_POINT) {
        sim_trace_bytes(h, ev->point.ip.bytes, 16);
        sim_trace(h, SIM_TRACE_EVENT, ev->point.port, 0, 0);
    }
    /* from a host's event: handed to event_cb at the barrier, in (time, host, host
     * order) order; from world-level code (between windows): at once */
    sim_world *w = h->world;
    if (w->cfg.event_cb == NULL) return;
    if (w->in_events)
        sim_report_add(h, ev);
    else
        w->cfg.event_cb(w->cfg.event_arg, h->index, h->part->now_ns, ev);
}

static bool env_sim_crypto_fast(void *ctx) {
    sim_host *h = ctx;
    return h->world->cfg.crypto_fast;
}

static tp_err env_sim_key_agreement(void *ctx, uint8_t out[32], const uint8_t remote_pk[32],
                                    const uint8_t local_sk[32]) {
    sim_host *h = ctx;
    return sim_key_agreement(h->part, out, remote_pk, local_sk);
}

const tp_env_ops sim_env_ops = {
    .now_ns = env_now_ns,
    .wall_ns = env_wall_ns,
    .timer_start = env_timer_start,
    .timer_stop = env_timer_stop,
    .listen = env_listen,
    .listener_close = env_listener_close,
    .stream_connect = env_stream_connect,
    .stream_adopt = env_stream_adopt,
    .stream_write = env_stream_write,
    .stream_read_pause = env_stream_read_pause,
    .stream_read_resume = env_stream_read_resume,
    .stream_shutdown_write = env_stream_shutdown_write,
    .stream_close = env_stream_close,
    .stream_reset = env_stream_reset,
    .stream_addresses = env_stream_addresses,
    .dgram_open = env_dgram_open,
    .dgram_send = env_dgram_send,
    .dgram_close = env_dgram_close,
    .random_bytes = env_random,
    .file_read = env_file_read,
    .file_write = env_file_write,
    .file_rename = env_file_rename,
    .realloc = env_realloc,
    .event = env_event,
    .sim_crypto_fast = env_sim_crypto_fast,
    .sim_key_agreement = env_sim_key_agreement,
};
