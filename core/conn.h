/* core/conn.h — one connection: a tp_socket bound to an env stream, with its bounded
 * queues, the handling of P2P messages and the application queue (spec §4.4-§4.5,
 * §8.6).
 *
 * Octez: P2p_conn (the answer loop, the app message queue, throttling) together with
 * the reader/writer workers of P2p_socket. tp_conn is the thin adapter that turns the
 * sans-IO tp_socket into a live connection:
 * - bytes from on_data are fed to the socket; when the connection must not read on
 *   (the application queue is full, or a throttled message waits), the unread rest of
 *   the delivery is kept (at most one delivery) and the stream is paused with
 *   tp_env_stream_read_pause: real back-pressure down to TCP;
 * - output is flushed with tp_env_stream_write, honouring short writes (continue on
 *   on_writable). The writer queue is bounded in bytes (outgoing_queue_bytes):
 *   tp_conn_write_now drops a message that does not fit (spec §4.5), tp_conn_write
 *   returns TP_ERR_AGAIN and the owner's on_writable fires once the queue has drained
 *   (tidepool's form of Octez's blocking write), tp_conn_write_sync calls back once the
 *   bytes were handed to the transport.
 * - Bootstrap / Advertise / Swap / Disconnect / decoding errors are handled as spec §4.4
 *   says, through the owner's handlers (the pool knowledge lives there); application
 *   messages go to the application queue (at most app_queue_messages messages and
 *   incoming_queue_bytes bytes; reading pauses while it is full).
 * - Throttling (spec §4.4, Octez v24+): a Bootstrap or Advertise within 100 ms of the
 *   previous one of the same type, or a Swap_request / Swap_ack within 60 s, is not
 *   dropped: its handling waits until the cooldown has passed, and reading is paused
 *   meanwhile, so messages keep their order and a flooding peer only fills its own TCP
 *   window (memory stays bounded: one held frame of at most a few KiB).
 *
 * - I/O scheduling (spec §8, core/sched.h), when the config names a scheduler: the
 *   connection registers at init and unregisters when it starts closing. Every byte
 *   read or written is counted there (per-connection and node P2p_stat). With a
 *   download cap the reader keeps the stream paused except while it holds a read
 *   grant (at most read_buffer_size bytes; what a delivery brings above the grant is
 *   charged with tp_sched_account, so the next window pays for it); with an upload
 *   cap the writer hands the transport at most its write grant, completes it with
 *   what the transport took, and asks again (after on_writable for a short write). A
 *   closing connection writes its last bytes (a Nack) without a grant. Without a cap
 *   in a direction, that direction is only counted: no extra event per read or write.
 *
 * The owner (core/connect.c) allocates nothing here: it embeds tp_conn in its own
 * allocation, supplies the handlers, and frees the memory only from on_closed (libuv's
 * rule). Fields marked "owner" belong to the connect handler.
 */
#ifndef TP_CONN_H
#define TP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "message.h"
#include "pool.h"
#include "sched.h"
#include "socket.h"

typedef struct tp_conn tp_conn;

typedef struct tp_conn_config {
    size_t outgoing_queue_bytes;   /* 8 MiB (spec §10) */
    size_t incoming_queue_bytes;   /* 8 MiB: bytes of the application queue */
    uint32_t app_queue_messages;   /* 10 (spec §8.6) */
    int64_t bootstrap_cooldown_ns; /* 100 ms; also Advertise; 0 disables */
    int64_t swap_cooldown_ns;      /* 60 s; 0 disables */
    const tp_app_registry *registry;
    tp_sched *sched;               /* the node's I/O scheduler; NULL: none */
} tp_conn_config;

/* What a connection asks of its owner. All mandatory. Handlers run from env callbacks
 * (stream callbacks and the connection's timers), never from inside a tp_conn_* call;
 * they may call any tp_conn_* function, including tp_conn_close. */
typedef struct tp_conn_handlers {
    /* TCP connect done (outgoing). */
    void (*on_connected)(void *arg, tp_conn *c);
    /* A handshake step: EV_AUTHENTICATED (decide now: tp_conn_accept / tp_conn_nack /
     * tp_conn_close), EV_ACK (running), EV_NACK (the remote rejected us). */
    void (*on_handshake)(void *arg, tp_conn *c, tp_socket_event ev);
    /* spec §4.4. Points are valid for the call. */
    void (*on_bootstrap)(void *arg, tp_conn *c);
    void (*on_advertise)(void *arg, tp_conn *c, const tp_point *points, size_t count);
    void (*on_swap_request)(void *arg, tp_conn *c, const tp_point *point, const tp_peer_id *peer);
    void (*on_swap_ack)(void *arg, tp_conn *c, const tp_point *point, const tp_peer_id *peer);
    /* An application message was queued (tp_conn_app_pop to take it). */
    void (*on_app_message)(void *arg, tp_conn *c);
    /* A failure the owner must act on (greylisting, spec §2.9 / §4.4): a socket error
     * or a decoding error. The connection is already closing. */
    void (*on_error)(void *arg, tp_conn *c, tp_err err);
    /* The writer queue drained after tp_conn_write returned TP_ERR_AGAIN. */
    void (*on_writable)(void *arg, tp_conn *c);
    /* The stream is gone; the last callback. reason: why (the owner's close reason, or
     * the transport's). The owner may free the tp_conn from here. */
    void (*on_closed)(void *arg, tp_conn *c, tp_err reason);
} tp_conn_handlers;

typedef void (*tp_conn_sync_cb)(void *arg, tp_conn *c, tp_err err);

#define TP_CONN_SYNC_MAX 8

enum { TP_CONN_THROTTLE_BOOTSTRAP, TP_CONN_THROTTLE_ADVERTISE, TP_CONN_THROTTLE_SWAP_REQUEST,
       TP_CONN_THROTTLE_SWAP_ACK, TP_CONN_THROTTLE_COUNT };

typedef struct tp_conn_stats {
    uint64_t bytes_in, bytes_out;
    uint64_t messages_in, messages_out, messages_dropped;
    uint64_t throttled; /* messages whose handling was delayed */
} tp_conn_stats;

struct tp_conn {
    const tp_env *env;
    const tp_conn_config *cfg;
    const tp_conn_handlers *h;
    void *harg;
    tp_stream *stream;      /* NULL once closed */
    tp_point remote_addr;   /* the TCP peer (IP, socket port) */
    bool incoming;
    bool established;       /* TCP connected */
    bool closing;
    bool paused;            /* we paused the stream */
    bool want_writable;
    bool processing;        /* inside conn_process: no re-entry */
    bool resume_wanted;     /* app queue drained: resume reading from notify_timer */
    tp_err close_reason;
    tp_socket sock;
    tp_socket_config sock_cfg; /* copy owned here; the pointed-to data is the owner's */
    /* unread input kept while paused: [in_head, in_len) */
    uint8_t *in;
    size_t in_head, in_len, in_cap;
    /* throttling */
    int64_t last_handled_ns[TP_CONN_THROTTLE_COUNT];
    uint8_t *held;
    size_t held_len, held_cap;
    int64_t held_until_ns;
    tp_timer throttle_timer;
    tp_timer notify_timer; /* zero-delay: write_sync completions and on_writable */
    /* application queue: entries u16 tag | u32 len | payload, [appq_head, appq_len) */
    uint8_t *appq;
    size_t appq_head, appq_len, appq_cap;
    uint32_t appq_count;
    /* write_sync waiters: fire when bytes_out reaches `end` */
    struct {
        uint64_t end;
        tp_conn_sync_cb cb;
        void *arg;
    } sync[TP_CONN_SYNC_MAX];
    uint32_t sync_count;
    uint64_t queued_out; /* wire bytes ever queued */
    tp_conn_stats stats;
    /* I/O scheduler (spec §8): registered while sc.sched != NULL */
    tp_sched_conn sc;
    size_t read_grant, write_grant; /* outstanding grants (0: none) */
    bool read_asked, write_asked;   /* a request is queued */
    bool write_wait_writable;       /* a short write under a grant: wait for on_writable */

    /* ---- owner (connect handler) fields ---- */
    tp_timer timeout_timer;
    tp_point id_point;        /* spec §2.3 */
    tp_point_info *point;     /* the point used for admission, NULL if none */
    tp_peer_info *peer;       /* set once registered */
    bool running;             /* in the pool's Running state (counted as active) */
    bool pending_incoming;    /* counted against max_incoming_connections */
    bool requested_close;     /* we closed it (Disconnection vs External_disconnection) */
    bool point_owned;         /* we moved the point out of Disconnected */
    bool peer_owned;          /* we moved the peer out of Disconnected */
    bool unregister_point;    /* chain/version mismatch: forget the point (spec §2.7) */
    bool authenticated;       /* past the metadata exchange: admission ran */
    uint16_t ddb_version;     /* negotiated (spec §2.7 step 5), never sent */
    uint16_t p2p_version;
    void (*connect_cb)(void *arg, tp_err err, tp_conn *c);
    void *connect_arg;
    tp_conn *prev, *next;
    uint64_t seq;
    void *user;               /* free for the node's user */
    /* the node's connect completion (stored here so that a crash drop frees nothing
     * else): a tp_node_connect_cb cast to a generic function pointer, and its arg */
    void (*node_connect_cb)(void);
    void *node_connect_arg;
};

/* Initialises c for an accepted stream (adopting it) or an outgoing one (connecting
 * to `remote`). The socket's handshake starts at once (incoming) or on connect.
 * sock_cfg is copied. Errors (nothing to clean, the stream is not adopted):
 * TP_ERR_INVALID_CHUNKS_SIZE, TP_ERR_INVAL, TP_ERR_NOMEM, and for outgoing the env's
 * connect errors. */
TP_MUST_USE tp_err tp_conn_init_incoming(tp_conn *c, const tp_env *env, const tp_conn_config *cfg,
                                         const tp_socket_config *sock_cfg,
                                         const tp_conn_handlers *h, void *harg, tp_stream *s,
                                         const tp_point *remote);
TP_MUST_USE tp_err tp_conn_init_outgoing(tp_conn *c, const tp_env *env, const tp_conn_config *cfg,
                                         const tp_socket_config *sock_cfg,
                                         const tp_conn_handlers *h, void *harg,
                                         const tp_point *remote);

/* Handshake decisions (from on_handshake EV_AUTHENTICATED). Errors: TP_ERR_NOMEM. */
TP_MUST_USE tp_err tp_conn_accept(tp_conn *c);
/* Queues the Nack (spec §2.8) and closes gracefully. */
void tp_conn_nack(tp_conn *c, int16_t motive, const tp_point *points, size_t count);

/* Closes: graceful (what the transport took is delivered, then FIN) or reset. Further
 * handler calls: only on_closed, later. Idempotent. */
void tp_conn_close(tp_conn *c, tp_err reason, bool graceful);

/* Frees the buffers (tp_env_free only; call from on_closed or for a crash drop). */
void tp_conn_deinit(tp_conn *c);

/* ---- writing (running connections) -------------------------------------------------- */

/* Queues an encoded P2P frame (spec §4.1). now=true: write_now, TP_ERR_AGAIN means the
 * message was dropped (queue full). now=false: write, TP_ERR_AGAIN means "full, retry
 * after on_writable". Errors: TP_ERR_AGAIN, TP_ERR_CLOSED, TP_ERR_STATE (not running),
 * TP_ERR_NOMEM. A queue holds at least one message whatever its size. */
TP_MUST_USE tp_err tp_conn_write_frame(tp_conn *c, const uint8_t *frame, size_t len, bool now);
/* write_sync: queues like tp_conn_write and calls cb(arg, c, TP_OK) once every byte of
 * the message was taken by the transport, or cb(arg, c, TP_ERR_CLOSED) if the
 * connection closes first. Errors as tp_conn_write_frame (then cb never fires), plus
 * TP_ERR_LIMIT (TP_CONN_SYNC_MAX waiters already). */
TP_MUST_USE tp_err tp_conn_write_sync(tp_conn *c, const uint8_t *frame, size_t len,
                                      tp_conn_sync_cb cb, void *arg);

/* Bytes waiting in the writer queue. */
static inline size_t tp_conn_out_pending(const tp_conn *c) {
    return tp_socket_out_pending(&c->sock);
}

/* ---- application queue ---------------------------------------------------------------- */

static inline uint32_t tp_conn_app_count(const tp_conn *c) {
    return c->appq_count;
}
/* Borrows the oldest application message (valid until tp_conn_app_drop). false: none. */
bool tp_conn_app_peek(const tp_conn *c, uint16_t *tag, const uint8_t **payload, size_t *len);
/* Removes the oldest message; if the full queue had paused reading, reading resumes
 * (from a zero-delay timer, so no handler runs inside this call). */
void tp_conn_app_drop(tp_conn *c);

/* Memory held by the connection's buffers (not counting the struct). */
size_t tp_conn_memory(const tp_conn *c);

#endif
