/* core/swap.h — the swap protocol: trade one of our connections for a peer's (spec §5.6).
 *
 * Octez: the swap half of P2p_maintenance (send_swap_request) and of P2p_pool /
 * P2p_protocol (swap_request, swap_ack, swap). The swap lets two well-connected nodes
 * exchange neighbours so that the graph keeps mixing: the initiator proposes one of its
 * peers to another; the recipient answers with one of its own peers, connects to the
 * proposed point and drops the peer it offered; the initiator connects to the offered
 * point and drops the peer it proposed.
 *
 * The module owns only its decisions and timestamps (latest_accepted_swap,
 * latest_successful_swap, and each connection's last_sent_swap_request). Everything it
 * does to the world goes through tp_swap_ops, which the node implements (connections,
 * message sending, dialing, disconnecting): the node calls tp_swap_on_request /
 * tp_swap_on_ack when a Swap_request / Swap_ack arrives on a connection and
 * tp_swap_on_disconnection when a connection ends, and the maintenance calls
 * tp_swap_send_request when the connection count is in range (spec §6.3).
 *
 * Ownership: the caller allocates the tp_swap; memory for the per-connection table
 * comes from the env. Connection handles (`void *conn`) are opaque to this module and
 * only compared and passed back to the ops; identity is by peer id.
 */
#ifndef TP_SWAP_H
#define TP_SWAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "env.h"
#include "identity.h"
#include "pool.h"
#include "table.h"

/* Why a worker closes a connection (Octez P2p_disconnection_reason, the two the
 * workers use). */
typedef enum tp_worker_disconnect_reason {
    TP_DISCONNECT_MAINTENANCE_TOO_MANY = 1, /* spec §6.3 too_many */
    TP_DISCONNECT_PEER_SWAPPED = 2,         /* spec §5.6 */
} tp_worker_disconnect_reason;

/* What the workers need to know about one running connection. The node fills these
 * from its own connection objects. */
typedef struct tp_conn_view {
    void *conn;            /* the node's handle, passed back to ops */
    tp_peer_id peer_id;
    tp_point point;        /* the peer's listening point (port 0: it announced none) */
    bool private_peer;     /* the remote's metadata says private_node */
    bool trusted;          /* the peer or its point is trusted */
} tp_conn_view;

/* A dial's outcome: TP_OK when the connection is established (Running), else why not. */
typedef void (*tp_worker_connect_cb)(void *arg, tp_err result);

/* The node side. All members are mandatory. */
typedef struct tp_swap_ops {
    /* Writes up to cap running connections (in a stable order: e.g. establishment
     * order) and returns how many there are in all (which may exceed cap). */
    size_t (*connections)(void *arg, tp_conn_view *out, size_t cap);
    /* write_now of Swap_request(point, peer) / Swap_ack(point, peer) on conn; false if
     * the message was dropped (queue full, connection closing). */
    bool (*send_swap_request)(void *arg, void *conn, const tp_point *point,
                              const tp_peer_id *peer);
    bool (*send_swap_ack)(void *arg, void *conn, const tp_point *point, const tp_peer_id *peer);
    /* Dials point (through the connect handler, with its checks). On TP_OK, done fires
     * exactly once, later (never inside this call); on an error it never fires. */
    tp_err (*connect)(void *arg, const tp_point *point, tp_worker_connect_cb done,
                      void *done_arg);
    /* Closes conn with reason (asynchronously is fine). */
    void (*disconnect)(void *arg, void *conn, tp_worker_disconnect_reason reason);
    void *arg;
} tp_swap_ops;

typedef struct tp_swap_config {
    /* Minimum time between two accepted swap requests (Octez swap_linger, 30 s);
     * 0 disables swapping entirely (--disable-p2p-swap). */
    int64_t swap_linger_ns;
    bool private_mode;               /* a private node neither sends nor answers swaps */
    uint32_t tracked_connections_max; /* bound of the last_sent_swap_request table: 1024 */
} tp_swap_config;

void tp_swap_config_default(tp_swap_config *cfg);

/* One dial in flight (a swap's connect-then-disconnect). */
typedef struct tp_swap_pending {
    struct tp_swap *swap;
    bool used;
    bool is_ack;             /* initiator side (we got a Swap_ack) */
    tp_peer_id source;       /* the peer that sent us the request / ack */
    tp_peer_id drop_peer;    /* the peer to disconnect on success */
} tp_swap_pending;

#define TP_SWAP_PENDING_MAX 8

typedef struct tp_swap {
    const tp_env *env;
    tp_pool *pool;
    tp_swap_config cfg;
    tp_swap_ops ops;
    int64_t latest_accepted_ns;   /* TP_TIME_NONE: never */
    int64_t latest_successful_ns; /* TP_TIME_NONE: never */
    tp_table sent;                /* peer id -> tp_swap_sent (last_sent_swap_request) */
    tp_conn_view *views;          /* scratch, from the env */
    size_t views_cap;
    tp_swap_pending pending[TP_SWAP_PENDING_MAX];
    uint64_t requests_sent, requests_ignored, acks_sent, successes, failures;
} tp_swap;

/* Initialises; ops is copied. The pool must outlive the swap. */
void tp_swap_init(tp_swap *s, const tp_env *env, tp_pool *pool, const tp_swap_config *cfg,
                  const tp_swap_ops *ops);
/* Frees the table (only tp_env_free: also the simnet halt path). Dials still in flight must have completed (or the node must never
 * call their done callbacks: e.g. when a simulated host halts). */
void tp_swap_deinit(tp_swap *s);

/* True when this node answers swaps (linger set and not private). A node with swap
 * disabled still proposes them (tp_swap_send_request), as Octez does. */
static inline bool tp_swap_enabled(const tp_swap *s) {
    return s->cfg.swap_linger_ns > 0 && !s->cfg.private_mode;
}

/* Initiating (spec §5.6), unless private (swap disabled does not stop it): a random
 * recipient among non-private connections, a random
 * proposed connection (non-private, not the recipient, with a listening port);
 * Swap_request(proposed point, proposed peer) to the recipient. Returns true if a
 * request was sent (SWAP_REQUEST_SENT event). */
bool tp_swap_send_request(tp_swap *s);

/* A Swap_request(new_point, new_peer) arrived from `source_peer` on conn. Applies the
 * disabled / swap_linger / point-state checks, answers Swap_ack with one of our other
 * non-private peers, dials new_point and, on success, disconnects the peer we offered
 * (reason Peer_swapped). Returns true if the swap went ahead (an ack was sent). */
bool tp_swap_on_request(tp_swap *s, void *conn, const tp_peer_id *source_peer,
                        const tp_point *new_point, const tp_peer_id *new_peer);

/* A Swap_ack(new_point, new_peer) arrived from `source_peer`: accepted only if we sent
 * that connection a request and new_point is not connected; then dial new_point and,
 * on success, disconnect the peer we proposed. No linger check. Returns true if a dial
 * started. */
bool tp_swap_on_ack(tp_swap *s, void *conn, const tp_peer_id *source_peer,
                    const tp_point *new_point, const tp_peer_id *new_peer);

/* The completion of a swap's dial started through ops.connect (the `done` it was given;
 * a node may call it directly with done_arg, as tp_maintenance_dial_done). */
void tp_swap_dial_done(void *done_arg, tp_err result);

/* The connection to peer ended: forget its last_sent_swap_request. */
void tp_swap_on_disconnection(tp_swap *s, const tp_peer_id *peer);

#endif
