/* core/env.h — everything core/ may ask of the outside world.
 *
 * A tp_env is a context pointer plus a const table of operations. simnet/ provides one
 * env per virtual host (all of them in one process, one virtual clock); realnet/
 * provides one for a real process (epoll, sockets, files); tests may provide a scripted
 * mock. core/ never calls an OS function: it reaches the world only through the
 * static inline tp_env_* wrappers below, which check their arguments. That makes them
 * the one choke point for assertions, counters and fault injection (the shape of
 * SQLite's os.c over its VFS).
 *
 * Octez has no such layer (Lwt and Unix are called directly); this is tidepool's
 * foundation for running the same P2P code in simulation and for real.
 *
 * ## Threading and re-entrancy
 * - An env and everything made from it is used from one thread.
 * - **No callback ever runs inside an env call.** Every callback is delivered later,
 *   from the backend's event loop, on a fresh stack. So stream_write never calls
 *   on_writable, stream_close never calls on_close, timer_start with a past deadline
 *   does not run the timer before returning. Core code can therefore call any env
 *   function from any callback without guarding against re-entry.
 * - Callbacks may call any env function, including closing the very handle the
 *   callback is about, and stopping or restarting the very timer that fired.
 *
 * ## Time
 * - now_ns: monotonic nanoseconds since an arbitrary origin (for simnet, the start of
 *   the run); never decreases. wall_ns: Unix-epoch nanoseconds, for timestamps that are
 *   stored or shown (peers.json, greylist expiry in RPC output); it may jump, and in
 *   simnet it carries the host's clock offset and drift. Both are frozen during a
 *   callback: two reads in one callback return the same value.
 * - Units are in names: *_ns is nanoseconds.
 *
 * ## Ownership
 * - Timers are caller-allocated (embedded in core's structures); the backend keeps a
 *   pointer to an armed timer, so an armed timer must not move or be freed: stop it
 *   first.
 * - Streams, listeners and datagram sockets are backend-allocated opaque handles. A
 *   handle stays valid until its close callback has returned; after that the backend
 *   frees it and the pointer must not be used again. The close callback is the only
 *   place where core may free the memory its callbacks refer to (libuv's rule).
 * - Byte buffers passed *to* the env are borrowed for the duration of the call (the
 *   backend copies what it keeps). Buffers passed *from* the env to a callback are
 *   borrowed for the duration of the callback.
 *
 * ## Errors
 * - Functions return a tp_err. If a call fails synchronously, its callbacks never fire
 *   (and out-parameters are untouched).
 */
#ifndef TP_ENV_H
#define TP_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "err.h"
#include "event.h"

typedef struct tp_env tp_env;
typedef struct tp_env_ops tp_env_ops;

/* ------------------------------------------------------------------------------------ */
/* Timers                                                                               */

typedef void (*tp_timer_cb)(void *arg);

/* A one-shot timer, caller-allocated. Initialise with tp_timer_init, then arm with
 * tp_env_timer_start (absolute deadline) or tp_env_timer_start_in (relative). It fires
 * at most once per start; starting an armed timer re-arms it (the old deadline is
 * forgotten). Timers with equal deadlines fire in the order in which they were started
 * (start sequence), so behaviour never depends on memory addresses. */
typedef struct tp_timer {
    tp_timer_cb cb;
    void *arg;
    int64_t deadline_ns;     /* read-only for core: the current deadline when armed */
    /* backend-private: */
    uint64_t backend_seq;    /* start sequence, the tie-breaker for equal deadlines */
    uint32_t backend_index;  /* position in the backend's queue; UINT32_MAX = not armed */
    uint32_t backend_flags;
} tp_timer;

#define TP_TIMER_NOT_ARMED UINT32_MAX

static inline void tp_timer_init(tp_timer *t, tp_timer_cb cb, void *arg) {
    t->cb = cb;
    t->arg = arg;
    t->deadline_ns = 0;
    t->backend_seq = 0;
    t->backend_index = TP_TIMER_NOT_ARMED;
    t->backend_flags = 0;
}

static inline int tp_timer_is_armed(const tp_timer *t) {
    return t->backend_index != TP_TIMER_NOT_ARMED;
}

/* ------------------------------------------------------------------------------------ */
/* Streams (TCP semantics)                                                              */

typedef struct tp_stream tp_stream;
typedef struct tp_listener tp_listener;

/* The callbacks of one stream. All are mandatory except on_eof (NULL: EOF is treated
 * as a close request). `arg` is the pointer given with the callbacks.
 *
 * Order, for a stream that tp_env_stream_connect returned TP_OK for:
 *   on_connect once (if the connection is established), then any number of on_data /
 *   on_writable, at most one on_eof, then exactly one on_close. If the connection is
 *   never established (refused, unreachable, timed out, or closed by core first),
 *   on_connect does not fire and on_close reports why.
 * For an accepted stream: no on_connect (it is connected when handed over); then as
 * above. on_close is always the last callback and always fires exactly once. */
typedef struct tp_stream_cbs {
    /* The outgoing connection is established. */
    void (*on_connect)(void *arg, tp_stream *s);
    /* Bytes arrived, in order. Any split is possible: a sent buffer may arrive in
     * several pieces and pieces of consecutive writes may be merged. Not called while
     * reading is paused (tp_env_stream_read_pause). len > 0. */
    void (*on_data)(void *arg, tp_stream *s, const uint8_t *data, size_t len);
    /* The remote side shut down its writing half (TCP FIN): no more on_data. Writing
     * is still possible until core closes. */
    void (*on_eof)(void *arg, tp_stream *s);
    /* After a write took fewer bytes than offered, room is available again. Fires once
     * per short write. */
    void (*on_writable)(void *arg, tp_stream *s);
    /* The stream is gone. reason: TP_OK after tp_env_stream_close completed (all
     * written bytes were handed to the network, FIN sent); TP_ERR_CANCELLED after
     * tp_env_stream_reset or a close before the connection was established;
     * TP_ERR_CONN_REFUSED, TP_ERR_UNREACHABLE, TP_ERR_TIMEOUT for a connect that
     * failed; TP_ERR_CONN_RESET when the remote reset; TP_ERR_TIMEOUT when the
     * connection died silently (e.g. TCP user timeout). The handle is freed after this
     * returns. */
    void (*on_close)(void *arg, tp_stream *s, tp_err reason);
} tp_stream_cbs;

/* The listener's callback: a new connection arrived from `remote`. Before returning,
 * the callback must either adopt the stream with tp_env_stream_adopt (giving its
 * callbacks) or close/reset it (then, as for any stream, on_close is not delivered to
 * anyone since no callbacks were given). */
typedef void (*tp_accept_cb)(void *arg, tp_listener *l, tp_stream *s, const tp_point *remote);

/* ------------------------------------------------------------------------------------ */
/* Datagrams (UDP, for LAN discovery, spec §9)                                          */

typedef struct tp_dgram tp_dgram;

/* A datagram arrived from `from`. Datagrams are delivered whole or not at all. */
typedef void (*tp_dgram_cb)(void *arg, tp_dgram *d, const tp_point *from, const uint8_t *data,
                            size_t len);

/* ------------------------------------------------------------------------------------ */
/* The operations table                                                                 */

struct tp_env_ops {
    /* clock */
    int64_t (*now_ns)(void *ctx);
    int64_t (*wall_ns)(void *ctx);

    /* timers */
    void (*timer_start)(void *ctx, tp_timer *t, int64_t deadline_ns);
    void (*timer_stop)(void *ctx, tp_timer *t);

    /* streams */
    tp_err (*listen)(void *ctx, const tp_point *local, int backlog, tp_accept_cb cb, void *arg,
                     tp_listener **out);
    void (*listener_close)(void *ctx, tp_listener *l);
    tp_err (*stream_connect)(void *ctx, const tp_point *remote, const tp_stream_cbs *cbs,
                             void *arg, tp_stream **out);
    void (*stream_adopt)(void *ctx, tp_stream *s, const tp_stream_cbs *cbs, void *arg);
    tp_err (*stream_write)(void *ctx, tp_stream *s, const uint8_t *data, size_t len,
                           size_t *taken);
    void (*stream_read_pause)(void *ctx, tp_stream *s);
    void (*stream_read_resume)(void *ctx, tp_stream *s);
    void (*stream_shutdown_write)(void *ctx, tp_stream *s);
    void (*stream_close)(void *ctx, tp_stream *s);
    void (*stream_reset)(void *ctx, tp_stream *s);
    void (*stream_addresses)(void *ctx, tp_stream *s, tp_point *local, tp_point *remote);

    /* datagrams */
    tp_err (*dgram_open)(void *ctx, const tp_point *local, tp_dgram_cb cb, void *arg,
                         tp_dgram **out);
    tp_err (*dgram_send)(void *ctx, tp_dgram *d, const tp_point *to, const uint8_t *data,
                         size_t len);
    void (*dgram_close)(void *ctx, tp_dgram *d);

    /* randomness */
    void (*random_bytes)(void *ctx, void *buf, size_t len);

    /* storage */
    tp_err (*file_read)(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len);
    tp_err (*file_write)(void *ctx, const char *name, const uint8_t *data, size_t len);
    tp_err (*file_rename)(void *ctx, const char *from, const char *to);

    /* memory */
    void *(*realloc)(void *ctx, void *ptr, size_t old_size, size_t new_size);

    /* events */
    void (*event)(void *ctx, const tp_event *ev);

    /* Simulation only, optional (NULL = false): whether the channel crypto of this env's
     * connections uses core/crypto.h's fast stand-in (`tidepool sim --crypto fast`).
     * realnet never sets it: a real node always runs X25519 and XSalsa20-Poly1305. */
    bool (*sim_crypto_fast)(void *ctx);

    /* Simulation only, optional (NULL: core computes it itself): the handshake's X25519
     * key agreement, crypto_box_beforenm(out, remote_public_key, local_secret_key), with
     * exactly its bytes and its refusal of weak keys (TP_ERR_WEAK_KEY). simnet remembers
     * recent results per pair of public keys: the two ends of a connection agree on the
     * same key, and the same two identities meet again and again, so a pair costs one
     * X25519 instead of two or more (`tidepool sim` with real crypto; bench/README.md).
     * realnet never sets it. */
    tp_err (*sim_key_agreement)(void *ctx, uint8_t out[32], const uint8_t remote_public_key[32],
                                const uint8_t local_secret_key[32]);
};

struct tp_env {
    void *ctx;
    const tp_env_ops *ops;
};

/* ------------------------------------------------------------------------------------ */
/* The wrappers: core/ calls only these.                                                */

/* Monotonic time in ns; frozen during a callback; never decreases. */
static inline int64_t tp_env_now_ns(const tp_env *env) {
    return env->ops->now_ns(env->ctx);
}

/* Wall-clock time in ns since the Unix epoch (may jump; in simnet it includes the
 * host's clock offset and drift). */
static inline int64_t tp_env_wall_ns(const tp_env *env) {
    return env->ops->wall_ns(env->ctx);
}

/* Arms `t` to fire at monotonic time deadline_ns (a past deadline fires on the next
 * turn of the event loop, never inside this call). Re-arms an armed timer. */
static inline void tp_env_timer_start(const tp_env *env, tp_timer *t, int64_t deadline_ns) {
    TP_ASSERT(t != NULL && t->cb != NULL);
    TP_ASSERT(deadline_ns >= 0);
    env->ops->timer_start(env->ctx, t, deadline_ns);
}

/* Arms `t` to fire delay_ns from now (delay_ns >= 0). */
static inline void tp_env_timer_start_in(const tp_env *env, tp_timer *t, int64_t delay_ns) {
    TP_ASSERT(delay_ns >= 0);
    tp_env_timer_start(env, t, tp_env_now_ns(env) + delay_ns);
}

/* Disarms `t`. A no-op if it is not armed (including when it already fired). */
static inline void tp_env_timer_stop(const tp_env *env, tp_timer *t) {
    TP_ASSERT(t != NULL);
    env->ops->timer_stop(env->ctx, t);
}

/* Listens for streams on `local` (the IPv6 any address :: listens on every address of
 * the host). backlog bounds connections completed by the transport but not yet handed
 * to `cb`; beyond it, connection attempts are refused.
 * Errors: TP_ERR_ADDR_IN_USE, TP_ERR_ADDR_NOT_AVAILABLE, TP_ERR_NOMEM. */
TP_MUST_USE static inline tp_err tp_env_listen(const tp_env *env, const tp_point *local,
                                               int backlog, tp_accept_cb cb, void *arg,
                                               tp_listener **out) {
    TP_ASSERT(local != NULL && cb != NULL && out != NULL && backlog > 0);
    return env->ops->listen(env->ctx, local, backlog, cb, arg, out);
}

/* Stops listening; the handle is freed at once (no callback). Connections already
 * handed to the accept callback are not affected. */
static inline void tp_env_listener_close(const tp_env *env, tp_listener *l) {
    TP_ASSERT(l != NULL);
    env->ops->listener_close(env->ctx, l);
}

/* Starts connecting to `remote`. On TP_OK, *out is the new stream, and the callbacks
 * will report the outcome (on_connect, or on_close with the reason). The env applies no
 * timeout of its own beyond the transport's (simnet: an unreachable host gives
 * TP_ERR_TIMEOUT after a long SYN-retry time); core applies Octez's timeouts itself and
 * resets the stream when they expire.
 * Errors: TP_ERR_INVAL (port 0), TP_ERR_NOMEM. */
TP_MUST_USE static inline tp_err tp_env_stream_connect(const tp_env *env, const tp_point *remote,
                                                       const tp_stream_cbs *cbs, void *arg,
                                                       tp_stream **out) {
    TP_ASSERT(remote != NULL && cbs != NULL && out != NULL);
    TP_ASSERT(cbs->on_connect != NULL && cbs->on_data != NULL && cbs->on_writable != NULL &&
              cbs->on_close != NULL);
    return env->ops->stream_connect(env->ctx, remote, cbs, arg, out);
}

/* Gives an accepted stream its callbacks; call it inside the accept callback. `cbs`
 * must outlive the stream (use a static const table). on_connect is not used. */
static inline void tp_env_stream_adopt(const tp_env *env, tp_stream *s, const tp_stream_cbs *cbs,
                                       void *arg) {
    TP_ASSERT(s != NULL && cbs != NULL);
    TP_ASSERT(cbs->on_data != NULL && cbs->on_writable != NULL && cbs->on_close != NULL);
    env->ops->stream_adopt(env->ctx, s, cbs, arg);
}

/* Offers len bytes; the backend copies as many as its send buffer has room for and
 * stores that count in *taken (0..len). When *taken < len, on_writable fires once room
 * is available again. Back-pressure is real: a peer that does not read fills the
 * buffers and writes take 0 bytes.
 * Errors: TP_ERR_CLOSED (the stream is closing, or the remote reset it; on_close is
 * on its way), TP_ERR_STATE (not connected yet). */
TP_MUST_USE static inline tp_err tp_env_stream_write(const tp_env *env, tp_stream *s,
                                                     const uint8_t *data, size_t len,
                                                     size_t *taken) {
    TP_ASSERT(s != NULL && taken != NULL && (data != NULL || len == 0));
    return env->ops->stream_write(env->ctx, s, data, len, taken);
}

/* Stops on_data deliveries until resume; the data waits in the backend (and, once its
 * buffer is full, the remote's writes are pushed back). Idempotent. */
static inline void tp_env_stream_read_pause(const tp_env *env, tp_stream *s) {
    TP_ASSERT(s != NULL);
    env->ops->stream_read_pause(env->ctx, s);
}

/* Resumes on_data deliveries (delivered later, from the event loop). Idempotent. */
static inline void tp_env_stream_read_resume(const tp_env *env, tp_stream *s) {
    TP_ASSERT(s != NULL);
    env->ops->stream_read_resume(env->ctx, s);
}

/* Half-close: after the bytes already taken, the remote sees EOF. Reading goes on. */
static inline void tp_env_stream_shutdown_write(const tp_env *env, tp_stream *s) {
    TP_ASSERT(s != NULL);
    env->ops->stream_shutdown_write(env->ctx, s);
}

/* Graceful close: bytes already taken are still delivered, then FIN. No on_data,
 * on_eof or on_writable fire after this call; on_close(TP_OK) follows (or another
 * reason if the connection fails before the bytes are out). Calling it twice, or after
 * reset, is a programmer error. */
static inline void tp_env_stream_close(const tp_env *env, tp_stream *s) {
    TP_ASSERT(s != NULL);
    env->ops->stream_close(env->ctx, s);
}

/* Abortive close: unsent bytes are dropped and the remote sees a reset. Only on_close
 * (TP_ERR_CANCELLED) fires after this call. */
static inline void tp_env_stream_reset(const tp_env *env, tp_stream *s) {
    TP_ASSERT(s != NULL);
    env->ops->stream_reset(env->ctx, s);
}

/* The local and remote addresses of a stream (either out-pointer may be NULL). */
static inline void tp_env_stream_addresses(const tp_env *env, tp_stream *s, tp_point *local,
                                           tp_point *remote) {
    TP_ASSERT(s != NULL);
    env->ops->stream_addresses(env->ctx, s, local, remote);
}

/* Opens a datagram socket bound to `local` (port required; the any address :: receives
 * on every address of the host, including broadcasts to its subnets).
 * Errors: TP_ERR_ADDR_IN_USE, TP_ERR_NOMEM. */
TP_MUST_USE static inline tp_err tp_env_dgram_open(const tp_env *env, const tp_point *local,
                                                   tp_dgram_cb cb, void *arg, tp_dgram **out) {
    TP_ASSERT(local != NULL && cb != NULL && out != NULL);
    return env->ops->dgram_open(env->ctx, local, cb, arg, out);
}

/* Sends one datagram (fire and forget: it may be lost). `to` may be the limited
 * broadcast address 255.255.255.255 (as ::ffff:255.255.255.255) or a subnet's broadcast
 * address; it then reaches the hosts of the sender's subnet only.
 * Errors: TP_ERR_TOO_BIG (len > 65507), TP_ERR_UNREACHABLE. */
TP_MUST_USE static inline tp_err tp_env_dgram_send(const tp_env *env, tp_dgram *d,
                                                   const tp_point *to, const uint8_t *data,
                                                   size_t len) {
    TP_ASSERT(d != NULL && to != NULL && (data != NULL || len == 0));
    return env->ops->dgram_send(env->ctx, d, to, data, len);
}

/* Closes the socket; freed at once, no further callback. */
static inline void tp_env_dgram_close(const tp_env *env, tp_dgram *d) {
    TP_ASSERT(d != NULL);
    env->ops->dgram_close(env->ctx, d);
}

/* Fills buf with random bytes: the host's deterministic stream in simnet (derived from
 * the run seed and the host's index), OS entropy in realnet. Keys are made from these
 * bytes with crypto_box_seed_keypair, never with libsodium's global RNG. */
static inline void tp_env_random(const tp_env *env, void *buf, size_t len) {
    TP_ASSERT(buf != NULL || len == 0);
    env->ops->random_bytes(env->ctx, buf, len);
}

/* A uniform integer in [0, bound) without modulo bias (bound > 0). */
static inline uint64_t tp_env_random_below(const tp_env *env, uint64_t bound) {
    TP_ASSERT(bound > 0);
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    for (;;) {
        uint64_t x;
        tp_env_random(env, &x, sizeof x);
        if (x < limit) return x % bound;
    }
}

/* Reads the whole file `name` (relative to the node's data directory; no "/" or ".."
 * components) into buf. On TP_OK, *len is its size. On TP_ERR_TOO_BIG, *len is set to
 * the size needed (the one exception to "out-params only on success"), so the caller
 * can retry with a bigger buffer. Errors: TP_ERR_NOT_FOUND, TP_ERR_TOO_BIG, TP_ERR_IO. */
TP_MUST_USE static inline tp_err tp_env_file_read(const tp_env *env, const char *name,
                                                  uint8_t *buf, size_t cap, size_t *len) {
    TP_ASSERT(name != NULL && len != NULL && (buf != NULL || cap == 0));
    return env->ops->file_read(env->ctx, name, buf, cap, len);
}

/* Replaces the file `name` atomically: after a crash the file holds either the old or
 * the new content, never a mix (realnet: write a temporary file, fsync, rename, fsync
 * the directory; simnet: the same observable rule). Errors: TP_ERR_IO. */
TP_MUST_USE static inline tp_err tp_env_file_write(const tp_env *env, const char *name,
                                                   const uint8_t *data, size_t len) {
    TP_ASSERT(name != NULL && (data != NULL || len == 0));
    return env->ops->file_write(env->ctx, name, data, len);
}

/* Renames a file, replacing `to` (used to keep a corrupt file aside, never to lose it).
 * Errors: TP_ERR_NOT_FOUND, TP_ERR_IO. */
TP_MUST_USE static inline tp_err tp_env_file_rename(const tp_env *env, const char *from,
                                                    const char *to) {
    TP_ASSERT(from != NULL && to != NULL);
    return env->ops->file_rename(env->ctx, from, to);
}

/* Memory, in the shape of Lua's lua_Alloc: new_size 0 frees (returns NULL); otherwise
 * returns the (re)allocated block or NULL when out of memory (the old block is then
 * untouched). old_size is the size the block was allocated with (0 for NULL), which
 * lets simnet account memory per virtual node and enforce a budget. */
static inline void *tp_env_realloc(const tp_env *env, void *ptr, size_t old_size,
                                   size_t new_size) {
    TP_ASSERT(ptr != NULL || old_size == 0);
    return env->ops->realloc(env->ctx, ptr, old_size, new_size);
}

static inline void *tp_env_alloc(const tp_env *env, size_t size) {
    return tp_env_realloc(env, NULL, 0, size);
}

static inline void tp_env_free(const tp_env *env, void *ptr, size_t size) {
    if (ptr != NULL) (void)tp_env_realloc(env, ptr, size, 0);
}

/* True only in a simulation run with `--crypto fast` (see tp_env_ops.sim_crypto_fast). */
static inline bool tp_env_sim_crypto_fast(const tp_env *env) {
    return env->ops->sim_crypto_fast != NULL && env->ops->sim_crypto_fast(env->ctx);
}

/* The handshake's key agreement through the env when it offers one (simnet), else
 * TP_ERR_NOT_SUPPORTED (the caller computes it; see tp_env_ops.sim_key_agreement). */
static inline tp_err tp_env_sim_key_agreement(const tp_env *env, uint8_t out[32],
                                              const uint8_t remote_public_key[32],
                                              const uint8_t local_secret_key[32]) {
    if (env->ops->sim_key_agreement == NULL) return TP_ERR_NOT_SUPPORTED;
    return env->ops->sim_key_agreement(env->ctx, out, remote_public_key, local_secret_key);
}

/* Reports a structured event (event.h). The sink decides what to keep. */
static inline void tp_env_event(const tp_env *env, const tp_event *ev) {
    TP_ASSERT(ev != NULL && (unsigned)ev->kind < TP_EVENT_KIND_COUNT);
    env->ops->event(env->ctx, ev);
}

/* Reports an event built from its parts: peer_id is 16 bytes or NULL, point NULL when
 * the event has none, detail NULL or borrowed for the call. The one place core/ fills a
 * tp_event, so every module reports events the same way. */
static inline void tp_env_emit(const tp_env *env, tp_event_kind kind, const uint8_t *peer_id,
                               const tp_point *point, int32_t code, const char *detail) {
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    if (peer_id != NULL) {
        ev.flags |= TP_EVENT_HAS_PEER;
        memcpy(ev.peer_id, peer_id, sizeof ev.peer_id);
    }
    if (point != NULL) {
        ev.flags |= TP_EVENT_HAS_POINT;
        ev.point = *point;
    }
    ev.code = code;
    ev.detail = detail;
    tp_env_event(env, &ev);
}

#endif
