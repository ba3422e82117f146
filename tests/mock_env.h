/* tests/mock_env.h — a scripted env for unit tests of core/ modules that need a clock,
 * timers, randomness, memory and events but no network (streams and datagrams answer
 * TP_ERR_NOT_SUPPORTED). Header-only; one mock_env per test.
 *
 * - Time only moves when the test calls mock_env_advance(), which fires due timers in
 *   (deadline, start sequence) order, like simnet.
 * - Randomness is a deterministic stream from a seed (ChaCha20 through libsodium's
 *   randombytes_buf_deterministic over a counter).
 * - Memory is accounted; mock_env_deinit() fails the test on a leak.
 * - Events are counted per kind, and the last one is kept.
 */
#ifndef TP_TESTS_MOCK_ENV_H
#define TP_TESTS_MOCK_ENV_H

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/env.h"

#define MOCK_TIMERS_MAX 4096

typedef struct mock_env {
    tp_env env;
    int64_t now_ns;
    int64_t wall_offset_ns;
    uint64_t seq;
    tp_timer *timers[MOCK_TIMERS_MAX];
    uint32_t timers_count;
    uint8_t seed[randombytes_SEEDBYTES];
    uint64_t random_counter;
    size_t bytes_allocated;
    size_t allocations;
    uint32_t event_counts[TP_EVENT_KIND_COUNT];
    tp_event last_event;
} mock_env;

static int64_t mock_now(void *ctx) {
    return ((mock_env *)ctx)->now_ns;
}

static int64_t mock_wall(void *ctx) {
    mock_env *m = ctx;
    return m->now_ns + m->wall_offset_ns;
}

static void mock_timer_stop(void *ctx, tp_timer *t) {
    mock_env *m = ctx;
    if (t->backend_index == TP_TIMER_NOT_ARMED) return;
    uint32_t i = t->backend_index;
    m->timers[i] = m->timers[--m->timers_count];
    m->timers[i]->backend_index = i;
    t->backend_index = TP_TIMER_NOT_ARMED;
}

static void mock_timer_start(void *ctx, tp_timer *t, int64_t deadline_ns) {
    mock_env *m = ctx;
    mock_timer_stop(ctx, t);
    TP_ASSERT(m->timers_count < MOCK_TIMERS_MAX);
    t->deadline_ns = deadline_ns;
    t->backend_seq = m->seq++;
    t->backend_index = m->timers_count;
    m->timers[m->timers_count++] = t;
}

static void mock_random(void *ctx, void *buf, size_t len) {
    mock_env *m = ctx;
    /* Each call draws from a fresh ChaCha20 stream keyed by (seed XOR counter). */
    uint8_t key[randombytes_SEEDBYTES];
    memcpy(key, m->seed, sizeof key);
    uint64_t c = m->random_counter++;
    for (int i = 0; i < 8; i++) key[i] ^= (uint8_t)(c >> (8 * i));
    randombytes_buf_deterministic(buf, len, key);
}

static void *mock_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size) {
    mock_env *m = ctx;
    if (new_size == 0) {
        if (ptr != NULL) {
            m->bytes_allocated -= old_size;
            m->allocations--;
        }
        free(ptr);
        return NULL;
    }
    void *p = realloc(ptr, new_size);
    if (p == NULL) return NULL;
    if (ptr == NULL) m->allocations++;
    m->bytes_allocated += new_size - old_size;
    return p;
}

static void mock_event(void *ctx, const tp_event *ev) {
    mock_env *m = ctx;
    m->event_counts[ev->kind]++;
    m->last_event = *ev;
    m->last_event.detail = NULL;
}

static tp_err mock_not_supported_listen(void *ctx, const tp_point *local, int backlog,
                                        tp_accept_cb cb, void *arg, tp_listener **out) {
    return TP_ERR_NOT_SUPPORTED;
}
static tp_err mock_not_supported_connect(void *ctx, const tp_point *remote,
                                         const tp_stream_cbs *cbs, void *arg, tp_stream **out) {
    return TP_ERR_NOT_SUPPORTED;
}
static tp_err mock_not_supported_dgram_open(void *ctx, const tp_point *local, tp_dgram_cb cb,
                                            void *arg, tp_dgram **out) {
    return TP_ERR_NOT_SUPPORTED;
}
static tp_err mock_file_read(void *ctx, const char *name, uint8_t *buf, size_t cap,
                             size_t *len) {
    return TP_ERR_NOT_FOUND;
}
static tp_err mock_file_write(void *ctx, const char *name, const uint8_t *data, size_t len) {
    return TP_ERR_IO;
}
static tp_err mock_file_rename(void *ctx, const char *from, const char *to) {
    return TP_ERR_NOT_FOUND;
}

static const tp_env_ops mock_env_ops = {
    .now_ns = mock_now,
    .wall_ns = mock_wall,
    .timer_start = mock_timer_start,
    .timer_stop = mock_timer_stop,
    .listen = mock_not_supported_listen,
    .stream_connect = mock_not_supported_connect,
    .dgram_open = mock_not_supported_dgram_open,
    .random_bytes = mock_random,
    .file_read = mock_file_read,
    .file_write = mock_file_write,
    .file_rename = mock_file_rename,
    .realloc = mock_realloc,
    .event = mock_event,
};

static inline void mock_env_init(mock_env *m, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->env.ctx = m;
    m->env.ops = &mock_env_ops;
    m->now_ns = 1000000000; /* t = 1 s, so that "0" is never a valid recent time */
    m->wall_offset_ns = (int64_t)1767225600 * 1000000000; /* 2026-01-01T00:00:00Z */
    for (int i = 0; i < 8; i++) m->seed[i] = (uint8_t)(seed >> (8 * i));
}

/* Advances time to now + delta_ns, firing due timers in order (timers armed by a
 * callback for a time within the window fire too). */
static inline void mock_env_advance(mock_env *m, int64_t delta_ns) {
    int64_t end = m->now_ns + delta_ns;
    for (;;) {
        tp_timer *best = NULL;
        for (uint32_t i = 0; i < m->timers_count; i++) {
            tp_timer *t = m->timers[i];
            if (t->deadline_ns > end) continue;
            if (best == NULL || t->deadline_ns < best->deadline_ns ||
                (t->deadline_ns == best->deadline_ns && t->backend_seq < best->backend_seq))
                best = t;
        }
        if (best == NULL) break;
        if (best->deadline_ns > m->now_ns) m->now_ns = best->deadline_ns;
        mock_timer_stop(m, best);
        best->cb(best->arg);
    }
    m->now_ns = end;
}

/* Returns the bytes still allocated (0 when the module under test freed everything). */
static inline size_t mock_env_bytes_allocated(const mock_env *m) {
    return m->bytes_allocated;
}

#endif
