/* core/connect.h — the connect handler: incoming accepts, outgoing connects, the
 * admission decision after authentication, connection creation and teardown
 * (spec §2.7, §2.9-§2.10, §7).
 *
 * Octez: P2p_connect_handler (accept, connect, raw_authenticate, create_connection)
 * plus the answerer of P2p_protocol (Bootstrap/Advertise handling, spec §4.4).
 *
 * It owns every tp_conn (allocated through the env, one per stream, from accept/dial
 * to the stream's close callback) and keeps them in one list in creation order. It
 * uses, but does not own, the pool (points, peers and their state machines) and the
 * ACL. What happens, in Octez's order:
 * - accept (spec §7.1): incoming_connection event; refused when max_incoming_connections
 *   handshakes are pending; a banned IP is closed before any byte; otherwise the
 *   handshake runs under authentication_timeout (5 s).
 * - connect (spec §7.2): Point_banned, Too_many_connections (strictly above max),
 *   register the point, Private_mode, Pending_connection / Connected, then Requested
 *   and a TCP connect; connection_timeout (10 s) covers connect + handshake + Ack.
 * - admission (spec §2.7): banned peer, point registration, expected peer id, peer
 *   registration, versions, slot check, private mode, already connected, known_public;
 *   a Nack (with up to 50 known points unless discovery is disabled) or an Ack.
 * - greylisting (spec §2.9, §4.4): exactly the socket failures of
 *   tp_socket_err_greylists greylist the IP during the handshake; a decoding error on a
 *   running connection greylists the peer id and its IP. Timeouts never greylist.
 * - hooks: new connection, disconnection, too_few / too_many triggers, swap messages,
 *   application messages (for the node and, later, the maintenance and swap).
 *
 * Events (event.h) are emitted for every step.
 */
#ifndef TP_CONNECT_H
#define TP_CONNECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "conn.h"
#include "env.h"
#include "pool.h"
#include "socket.h"

#define TP_VERSIONS_MAX 8
#define TP_NACK_POINTS_SENT 50 /* spec §2.7 step 9, §5.5 */

typedef struct tp_connect_config {
    tp_socket_config socket;   /* identity, target, port, chain name, greatest versions */
    tp_conn_config conn;
    uint16_t ddb_versions[TP_VERSIONS_MAX]; /* supported distributed_db versions */
    size_t ddb_versions_count;
    uint16_t p2p_versions[TP_VERSIONS_MAX];
    size_t p2p_versions_count;
    bool private_mode;
    bool disable_peer_discovery;
    uint32_t min_connections;
    uint32_t max_connections;
    uint32_t max_incoming_connections;
    /* tidepool option, not in Octez (0: off, Octez's behaviour): at most this many
     * pending incoming handshakes from one IP. Octez's only bound is
     * max_incoming_connections for all IPs together (p2p_connect_handler.ml, accept),
     * so one host reopening silent
     * sockets as soon as they are closed keeps honest newcomers out (scenarios/
     * slot_exhaustion.lua measures it). Refused like the global limit: closed at once. */
    uint32_t max_pending_incoming_per_ip;
    /* tidepool option, not in Octez (0: off): greylist an IP (spec §2.9's greylist, its
     * usual duration) once this many of its incoming handshakes have timed out. Octez
     * never greylists on a timeout (spec §2.10: a cancellation); counted per IP in a
     * small table (TP_CONNECT_TIMEOUT_IPS_MAX IPs, the oldest entry reused). */
    uint32_t greylist_ip_after_timeouts;
    /* Slot check of spec §2.7 step 6: reject with Too_many_connections when
     * active >= this (the maintenance's max_threshold, or max_connections). */
    uint32_t connections_threshold;
    int64_t connection_timeout_ns;     /* outgoing, 10 s */
    int64_t authentication_timeout_ns; /* incoming, 5 s */
    /* tidepool option (core/README.md "Deliberate differences"), false = Octez: an
     * outgoing connection refused after authentication for Peer_banned,
     * Identity_check_failure or Private_mode leaves its point Requested for good, as
     * Octez's raw_authenticate does (p2p_connect_handler.ml: those errors take the
     * `Error errs` branch, which never calls set_disconnected), so the point is never
     * dialed again and refuses incoming connections (Already_connected) until a
     * restart. true: the point goes back to Disconnected with a reconnection delay. */
    bool reset_refused_points;
} tp_connect_config;

typedef void (*tp_connect_cb)(void *arg, tp_err err, tp_conn *c);

/* Hooks for the node and later layers; every one may be NULL. */
typedef struct tp_connect_hooks {
    void (*on_new_connection)(void *arg, tp_conn *c);
    void (*on_disconnection)(void *arg, tp_conn *c);
    void (*too_few_connections)(void *arg);
    void (*too_many_connections)(void *arg);
    void (*on_swap_request)(void *arg, tp_conn *c, const tp_point *point, const tp_peer_id *peer);
    void (*on_swap_ack)(void *arg, tp_conn *c, const tp_point *point, const tp_peer_id *peer);
    void (*on_app_message)(void *arg, tp_conn *c);
    void (*on_writable)(void *arg, tp_conn *c);
    void (*on_all_closed)(void *arg); /* after tp_connect_shutdown, when the last closed */
    void *arg;
} tp_connect_hooks;

typedef struct tp_connect_stats {
    uint64_t incoming, outgoing;
    uint64_t refused_pending_limit, refused_banned_ip, refused_pending_per_ip;
    uint64_t established, rejected_by_us, rejected_by_nack;
    uint64_t auth_failed, timeouts, greylisted_ips, greylisted_peers;
    uint64_t points_left_requested; /* refused after auth, point kept Requested (Octez) */
    uint64_t bootstrap_received, advertise_received, advertise_sent;
} tp_connect_stats;

#define TP_CONNECT_TIMEOUT_IPS_MAX 16

typedef struct tp_connect {
    const tp_env *env;
    const tp_connect_config *cfg; /* borrowed; outlives the handler */
    tp_pool *pool;
    tp_acl *acl;
    tp_connect_hooks hooks;
    tp_conn *head, *tail;
    uint32_t conn_count;       /* every tp_conn alive (all states) */
    uint32_t pending_incoming; /* incoming handshakes in progress (spec §7.1) */
    uint32_t active;           /* running connections */
    uint64_t next_seq;
    bool shutting_down;
    tp_connect_stats stats;
    /* greylist_ip_after_timeouts: timed-out incoming handshakes per IP (insertion order) */
    struct {
        tp_ip ip;
        uint32_t count;
    } timeout_ips[TP_CONNECT_TIMEOUT_IPS_MAX];
    uint32_t timeout_ips_used, timeout_ips_next;
} tp_connect;

void tp_connect_init(tp_connect *h, const tp_env *env, const tp_connect_config *cfg,
                     tp_pool *pool, tp_acl *acl, const tp_connect_hooks *hooks);

/* The listener's accept callback body (spec §7.1): adopts or closes s. */
void tp_connect_accept(tp_connect *h, tp_stream *s, const tp_point *remote);

/* Dials `point` (spec §7.2). trusted: -1 leave as is, 0/1 set; expected may be NULL;
 * timeout_ns 0 uses connection_timeout. On TP_OK, cb fires exactly once: TP_OK with the
 * running connection, or the failure (CONNECTION_FAILED, TIMEOUT, REJECTED,
 * REJECTED_BY_NACK, PEER_BANNED, MYSELF, IDENTITY_CHECK_FAILURE, PRIVATE_MODE, a
 * handshake error, CANCELLED at shutdown). Synchronous errors (cb never fires):
 * POINT_BANNED, TOO_MANY_CONNECTIONS, PRIVATE_MODE, PENDING_CONNECTION,
 * ALREADY_CONNECTED, INVAL (port 0 or our own point), LIMIT, NOMEM, STATE (shutting
 * down). *out (may be NULL) receives the connection being established. */
TP_MUST_USE tp_err tp_connect_connect(tp_connect *h, const tp_point *point, int trusted,
                                      const tp_peer_id *expected, int64_t timeout_ns,
                                      tp_connect_cb cb, void *arg, tp_conn **out);

/* Octez broadcast_bootstrap_msg: write_now's Bootstrap on every running connection to a
 * non-private peer (none in private mode or with discovery disabled). Returns the
 * count. */
uint32_t tp_connect_broadcast_bootstrap(tp_connect *h);

/* Closes a connection at our request (a Disconnection, not external). */
void tp_connect_disconnect(tp_connect *h, tp_conn *c);

/* greylist_peer (spec §5.4): only if the peer has a running connection: its IP and its
 * id are greylisted. Returns whether it did. Does not disconnect. */
bool tp_connect_greylist_peer(tp_connect *h, const tp_peer_id *peer);

/* Closes every connection; on_all_closed fires from the last one's close callback (if
 * there is none, it does not fire: check tp_connect_idle). New accepts and connects are
 * refused from now on. */
void tp_connect_shutdown(tp_connect *h);
static inline bool tp_connect_idle(const tp_connect *h) {
    return h->conn_count == 0;
}

/* Crash drop: frees every connection without any env call other than tp_env_free. */
void tp_connect_drop(tp_connect *h);

/* Iteration in creation order over every connection (any state):
 *   for (tp_conn *c = h->head; c; c = c->next) ... */

/* True if c completed the handshake and is running. */
static inline bool tp_conn_is_running(const tp_conn *c) {
    return c->running && !c->closing;
}

#endif
