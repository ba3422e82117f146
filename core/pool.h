/* core/pool.h — the node's knowledge: known points and peers, their states and history.
 *
 * Octez: P2p_pool (the tables, register_point/register_peer, GC, list_known_points,
 * my_id_points), P2p_point_state and P2p_peer_state (state machines and info records).
 * Spec §5.1–5.3, §5.5, §5.7.
 *
 * A tp_pool owns one tp_point_info per known point (key: IPv6 address + port) and one
 * tp_peer_info per known peer (key: peer id). Infos are allocated individually (through
 * the env) and never move, so other modules may hold pointers to them for as long as
 * they are registered; an info is only freed by tp_pool_unregister_point / GC, and GC
 * never frees a point or peer that is not Disconnected, so a connection's point and
 * peer infos stay valid for the connection's life.
 *
 * Connections are not owned here: `conn` fields are opaque pointers set by the connect
 * handler. The pool never dials or closes anything; it records and answers.
 *
 * Times: every *_ns field is monotonic env time (tp_env_now_ns); TP_TIME_NONE means
 * "never". Wall-clock values (peers.json, RPC) are derived with tp_pool_wall_of.
 * Exception: a peer's `created_wall_ns`, which is persisted as is.
 */
#ifndef TP_POOL_H
#define TP_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "env.h"
#include "identity.h"
#include "table.h"

#define TP_TIME_NONE INT64_MIN

typedef enum tp_point_state {
    TP_POINT_DISCONNECTED = 0,
    TP_POINT_REQUESTED,   /* we are dialing it */
    TP_POINT_ACCEPTED,    /* authenticated, Ack exchange in progress */
    TP_POINT_RUNNING,
} tp_point_state;

typedef enum tp_peer_state {
    TP_PEER_DISCONNECTED = 0,
    TP_PEER_ACCEPTED,
    TP_PEER_RUNNING,
} tp_peer_state;

const char *tp_point_state_name(tp_point_state s); /* "disconnected", ... (RPC names) */
const char *tp_peer_state_name(tp_peer_state s);

/* Point and peer history events (Octez P2p_point.Pool_event / P2p_peer.Pool_event).
 * Names are the JSON "kind"/"event_kind" strings. */
#define TP_POOL_EVENT_LIST(X)                                                            \
    X(OUTGOING_REQUEST, "outgoing_request")                                              \
    X(INCOMING_REQUEST, "incoming_request")                                              \
    X(ACCEPTING_REQUEST, "accepting_request")                                            \
    X(REJECTING_REQUEST, "rejecting_request")                                            \
    X(REQUEST_REJECTED, "request_rejected")                                              \
    X(CONNECTION_ESTABLISHED, "connection_established")                                  \
    X(DISCONNECTION, "disconnection")                                                    \
    X(EXTERNAL_DISCONNECTION, "external_disconnection")

typedef enum tp_pool_event_kind {
#define TP_X_(name, text) TP_POOL_EVENT_##name,
    TP_POOL_EVENT_LIST(TP_X_)
#undef TP_X_
    TP_POOL_EVENT_KIND_COUNT
} tp_pool_event_kind;

const char *tp_pool_event_kind_name(tp_pool_event_kind k);
/* Parses a kind name; false if unknown. */
bool tp_pool_event_kind_parse(const char *name, size_t len, tp_pool_event_kind *out);

/* One history entry. For a point's history `peer` is set when has_peer; for a peer's
 * history `point` is the connection's point (port 0 = none). */
typedef struct tp_pool_event {
    int64_t time_ns;
    tp_point point;
    uint8_t kind;      /* tp_pool_event_kind */
    uint8_t has_peer;
    tp_peer_id peer;
} tp_pool_event;

/* A bounded ring of the most recent events (Octez: 100). Storage is allocated on the
 * first event, so a pool configured with ring size 0 (large simulations) pays nothing. */
typedef struct tp_pool_event_ring {
    tp_pool_event *items;
    uint16_t cap, start, count;
} tp_pool_event_ring;

/* i-th event, oldest first (i < ring->count). */
const tp_pool_event *tp_pool_event_ring_at(const tp_pool_event_ring *ring, uint16_t i);

typedef struct tp_stamped_peer {
    tp_peer_id peer;
    int64_t time_ns; /* TP_TIME_NONE: absent */
} tp_stamped_peer;

typedef struct tp_stamped_point {
    tp_point point;  /* port 0 = no port */
    int64_t time_ns; /* TP_TIME_NONE: absent */
} tp_stamped_point;

typedef struct tp_point_info {
    tp_point point;
    tp_point_state state;
    tp_peer_id peer_id; /* Accepted / Running */
    void *conn;         /* Running: the connection (connect handler's object) */
    bool trusted;
    bool known_public;  /* set after a handshake: not remote.private_node */
    bool has_expected_peer_id;
    tp_peer_id expected_peer_id;
    int64_t last_failed_connection_ns;
    tp_stamped_peer last_rejected_connection;
    tp_stamped_peer last_established_connection;
    tp_stamped_peer last_disconnection;
    /* reconnection backoff ("greylisted_until" in the RPC); end = TP_TIME_NONE: none */
    int64_t reconnection_delay_ns;
    int64_t reconnection_end_ns;
    uint64_t seq;       /* registration order */
    /* Drawn from the env's stream at registration and fixed for the point's life: the
     * order of Octez's known-points table (P2p_pool.create: a Hashtbl ~random:true),
     * which decides among equally good candidates (maintenance, GC). */
    uint64_t tie;
    tp_pool_event_ring events;
} tp_point_info;

typedef struct tp_peer_info {
    tp_peer_id peer_id;
    tp_peer_state state;
    tp_point current_point; /* Accepted / Running; port 0 = none */
    void *conn;             /* Running */
    bool trusted;
    int64_t created_wall_ns;
    int32_t score_pm;       /* per-mille; Octez L1's score is a constant 1.0 = 1000 */
    tp_stamped_point last_failed_connection;
    tp_stamped_point last_rejected_connection;
    tp_stamped_point last_established_connection;
    tp_stamped_point last_disconnection;
    uint64_t seq;
    uint64_t tie;           /* as tp_point_info.tie (Octez's known_peer_ids Hashtbl) */
    tp_pool_event_ring events;
} tp_peer_info;

/* Derived values (spec §5.1): last_seen = most recent of rejected, established and
 * disconnection; last_miss = later of failed and most recent of (rejected,
 * disconnection). TP_TIME_NONE when none. */
int64_t tp_point_last_seen(const tp_point_info *p);
int64_t tp_point_last_miss(const tp_point_info *p);
int64_t tp_peer_last_seen(const tp_peer_info *p);
int64_t tp_peer_last_miss(const tp_peer_info *p);

/* cannot_reconnect_yet: a backoff is set and now <= its end. */
static inline bool tp_point_cannot_reconnect_yet(const tp_point_info *p, int64_t now_ns) {
    return p->reconnection_end_ns != TP_TIME_NONE && now_ns <= p->reconnection_end_ns;
}

typedef struct tp_pool_config {
    uint32_t max_known_points;       /* GC trigger (Octez: 400) */
    uint32_t target_known_points;    /* GC target (300) */
    uint32_t max_known_peer_ids;     /* 400 */
    uint32_t target_known_peer_ids;  /* 300 */
    /* Point reconnection config (Octez greylisting_config, spec §5.1) */
    uint32_t backoff_factor_pm;      /* 1200 = 1.2 */
    int64_t backoff_initial_ns;      /* 1 s */
    int64_t backoff_disconnection_ns; /* 60 s */
    int64_t backoff_cap_ns;          /* 172800 s */
    uint16_t event_ring_size;        /* 100; 0 keeps no history (cheap simulations) */
    uint8_t my_id_points_size;       /* 7 */
} tp_pool_config;

void tp_pool_config_default(tp_pool_config *cfg);

/* Why the pool calls back: new points and peers wake up the maintenance (spec §6.3
 * ask_for_more_contacts waits for them). */
typedef struct tp_pool_hooks {
    void (*on_new_point)(void *arg, tp_point_info *p);
    void (*on_new_peer)(void *arg, tp_peer_info *p);
    void *arg;
} tp_pool_hooks;

typedef struct tp_pool {
    const tp_env *env;
    tp_pool_config cfg;
    tp_pool_hooks hooks;
    tp_table points;      /* tp_point (18 bytes) → tp_point_info* */
    tp_table peers;       /* peer id → tp_peer_info* */
    tp_table my_id_points; /* tp_point → nothing; LRU of our own addresses */
    uint64_t next_seq;
    uint32_t points_connected; /* Running points */
    uint32_t peers_connected;  /* Running peers */
} tp_pool;

/* Makes room for one more event in ring (storage grows 4, 8, ... up to the pool's
 * event_ring_size; at full size the next push overwrites the oldest). False when the
 * pool keeps no history or no storage could be had (history is best effort). */
bool tp_pool_event_ring_reserve(tp_pool *pool, tp_pool_event_ring *ring);

/* Initialises an empty pool. Hooks may be NULL. */
void tp_pool_init(tp_pool *pool, const tp_env *env, const tp_pool_config *cfg,
                  const tp_pool_hooks *hooks);
/* Frees every info, whatever its state: the owner tears connections down first (or,
 * when a simulated host crashes, simply forgets them). */
void tp_pool_deinit(tp_pool *pool);

/* ---- points -------------------------------------------------------------------------- */

tp_point_info *tp_pool_point(const tp_pool *pool, const tp_point *point);

/* register_point: returns the existing info (setting `trusted` as requested when
 * trusted >= 0), or creates one — after a GC if the table holds max_known_points or
 * more (Octez's off-by-one: the new point is added after the GC) — and fires
 * on_new_point and a NEW_POINT event. trusted: -1 leave as is / new points untrusted,
 * 0 untrust, 1 trust. expected (may be NULL) sets the expected peer id. A new point
 * that is in my_id_points is refused.
 * Port 0 is registered, as Octez does (a wire point may carry it; dialing it fails).
 * Errors: TP_ERR_INVAL (one of our own points), TP_ERR_LIMIT (the table is
 * full of points that cannot be collected), TP_ERR_NOMEM. */
TP_MUST_USE tp_err tp_pool_register_point(tp_pool *pool, const tp_point *point, int trusted,
                                          const tp_peer_id *expected, tp_point_info **out);

/* Removes a Disconnected point (chain or version mismatch: spec §2.7 step 9). Returns
 * false if unknown or not Disconnected. */
bool tp_pool_unregister_point(tp_pool *pool, const tp_point *point);

/* Adds a point to my_id_points (spec §2.6: we dialed ourselves) and forgets it as a
 * known point (if Disconnected). */
void tp_pool_add_my_id_point(tp_pool *pool, const tp_point *point);
bool tp_pool_is_my_id_point(const tp_pool *pool, const tp_point *point);

/* Point state transitions (spec §5.1); each asserts the source states Octez asserts,
 * logs the point's history event, and keeps points_connected right. */
void tp_point_set_requested(tp_pool *pool, tp_point_info *p);
void tp_point_set_accepted(tp_pool *pool, tp_point_info *p, const tp_peer_id *peer);
void tp_point_set_running(tp_pool *pool, tp_point_info *p, const tp_peer_id *peer, void *conn);
/* requested: true when we closed it (Disconnection), false when the remote did
 * (External_disconnection); only meaningful from Running. */
void tp_point_set_disconnected(tp_pool *pool, tp_point_info *p, bool requested);

/* Sets known_public (connect handler, spec §2.7 step 8); always through this, since
 * the pool keeps a copy for tp_pool_list_known_points. state and the last_* stamps
 * change only through the tp_point_set_* functions, for the same reason. */
void tp_point_set_known_public(tp_pool *pool, tp_point_info *p, bool known_public);
/* Records that we rejected an incoming connection from this point (no state change). */
void tp_point_log_rejecting(tp_pool *pool, tp_point_info *p, const tp_peer_id *peer);
void tp_point_reset_backoff(tp_point_info *p);

/* ---- peers --------------------------------------------------------------------------- */

tp_peer_info *tp_pool_peer(const tp_pool *pool, const tp_peer_id *peer);

/* register_peer: the existing info, or a new one (after a peer GC when the table holds
 * max_known_peer_ids or more), firing on_new_peer and a NEW_PEER event.
 * Errors: TP_ERR_LIMIT (nothing collectable), TP_ERR_NOMEM. */
TP_MUST_USE tp_err tp_pool_register_peer(tp_pool *pool, const tp_peer_id *peer,
                                         tp_peer_info **out);

void tp_peer_set_accepted(tp_pool *pool, tp_peer_info *p, const tp_point *current_point);
void tp_peer_set_running(tp_pool *pool, tp_peer_info *p, const tp_point *current_point,
                         void *conn);
void tp_peer_set_disconnected(tp_pool *pool, tp_peer_info *p, bool requested);
void tp_peer_log_rejecting(tp_pool *pool, tp_peer_info *p, const tp_point *point);
void tp_peer_log_incoming(tp_pool *pool, tp_peer_info *p, const tp_point *point);

/* ---- GC and listings ------------------------------------------------------------------ */

/* Collects points down to target_known_points (spec §5.3): only Disconnected, untrusted
 * points; the oldest last_miss first (never missed counts as now); ties in the random
 * order of `tie` (Octez: P2p_pool.gc_points, a Bounded_heap filled in Hashtbl order).
 * Returns the number removed (a GC_POINTS event when > 0). */
uint32_t tp_pool_gc_points(tp_pool *pool);
/* Collects peers down to target_known_peer_ids: Disconnected, untrusted; lowest score
 * first, then the most recently created first (fends off floods), then in the random
 * order of `tie` (Octez: P2p_pool.gc_peer_ids). */
uint32_t tp_pool_gc_peers(tp_pool *pool);

/* list_known_points ~ignore_private:true ~size (spec §5.5; Octez p2p_pool.ml
 * list_known_points): known_public points that are not banned (is_banned may be NULL),
 * sorted as compare_known_point_info (not Disconnected first — without last_seen
 * before any, then the oldest last_seen —, then Disconnected by last_seen descending,
 * then never seen; ties in random order), then Octez's `sample best other` with
 * other = size*2/5, best = size - other: all of them in that order when there are at
 * most size; otherwise the best ones plus `other` random indexes among the rest (a
 * repeated index spills onto the next element), the whole list reversed (`sample`
 * prepends; that order goes on the wire). Writes at most `size` points to out;
 * returns the count. */
typedef bool (*tp_pool_ip_filter)(void *arg, const tp_ip *ip);
size_t tp_pool_list_known_points(tp_pool *pool, size_t size, tp_pool_ip_filter is_banned,
                                 void *arg, tp_point *out);

/* Iteration in registration order:
 *   uint32_t it = 0; tp_point_info *p; while ((p = tp_pool_next_point(pool, &it))) ...
 * The pool must not gain or lose points during the iteration. */
tp_point_info *tp_pool_next_point(const tp_pool *pool, uint32_t *it);
tp_peer_info *tp_pool_next_peer(const tp_pool *pool, uint32_t *it);

static inline uint32_t tp_pool_points_count(const tp_pool *pool) {
    return tp_table_count(&pool->points);
}
static inline uint32_t tp_pool_peers_count(const tp_pool *pool) {
    return tp_table_count(&pool->peers);
}

/* Converts a monotonic time to wall-clock time (for output); TP_TIME_NONE stays. */
int64_t tp_pool_wall_of(const tp_pool *pool, int64_t mono_ns);
/* And back (for loading peers.json). */
int64_t tp_pool_mono_of(const tp_pool *pool, int64_t wall_ns);

#endif
