/* core/event.h — structured events: the one stream of "what happened" in a node.
 *
 * core/ emits events through tp_env_event() (env.h). simnet/ writes them to the results
 * database (the events table) and folds them into the trace hash; realnet/ writes them
 * as structured log lines and feeds the RPC's /network/log stream. The first group of
 * kinds mirrors Octez's P2p_connection.P2p_event (spec §11, union tags 0–25, in that
 * order); the rest are tidepool's own.
 */
#ifndef TP_EVENT_H
#define TP_EVENT_H

#include <stdint.h>

#include "addr.h"

/* X(NAME, "snake_case name as in Octez's /network/log") */
#define TP_EVENT_LIST(X)                                                                 \
    X(TOO_FEW_CONNECTIONS, "too_few_connections")                                        \
    X(TOO_MANY_CONNECTIONS, "too_many_connections")                                      \
    X(NEW_POINT, "new_point")                                                            \
    X(NEW_PEER, "new_peer")                                                              \
    X(GC_POINTS, "gc_points")                                                            \
    X(GC_PEER_IDS, "gc_peer_ids")                                                        \
    X(INCOMING_CONNECTION, "incoming_connection")                                        \
    X(OUTGOING_CONNECTION, "outgoing_connection")                                        \
    X(AUTHENTICATION_FAILED, "authentication_failed")                                    \
    X(ACCEPTING_REQUEST, "accepting_request")                                            \
    X(REJECTING_REQUEST, "rejecting_request")                                            \
    X(REQUEST_REJECTED, "request_rejected")                                              \
    X(CONNECTION_ESTABLISHED, "connection_established")                                  \
    X(DISCONNECTION, "disconnection")                                                    \
    X(EXTERNAL_DISCONNECTION, "external_disconnection")                                  \
    X(BOOTSTRAP_SENT, "bootstrap_sent")                                                  \
    X(BOOTSTRAP_RECEIVED, "bootstrap_received")                                          \
    X(ADVERTISE_SENT, "advertise_sent")                                                  \
    X(ADVERTISE_RECEIVED, "advertise_received")                                          \
    X(SWAP_REQUEST_SENT, "swap_request_sent")                                            \
    X(SWAP_REQUEST_RECEIVED, "swap_request_received")                                    \
    X(SWAP_REQUEST_IGNORED, "swap_request_ignored")                                      \
    X(SWAP_ACK_SENT, "swap_ack_sent")                                                    \
    X(SWAP_ACK_RECEIVED, "swap_ack_received")                                            \
    X(SWAP_SUCCESS, "swap_success")                                                      \
    X(SWAP_FAILURE, "swap_failure")                                                      \
    /* tidepool's own (not encodable in Octez's /network/log) */                         \
    X(MAINTENANCE_STARTED, "maintenance_started")                                        \
    X(MAINTENANCE_ENDED, "maintenance_ended")                                            \
    X(GREYLIST_IP, "greylist_ip")                                                        \
    X(GREYLIST_PEER, "greylist_peer")                                                    \
    X(BAN, "ban")                                                                        \
    X(UNBAN, "unban")                                                                    \
    X(APP_MESSAGE, "app_message")                                                        \
    X(DISCOVERY_SENT, "discovery_sent")                                                  \
    X(DISCOVERY_RECEIVED, "discovery_received")                                          \
    X(NODE_STARTED, "node_started")                                                      \
    X(NODE_STOPPED, "node_stopped")                                                      \
    X(STORAGE_ERROR, "storage_error")                                                    \
    X(DEMO, "demo")

typedef enum tp_event_kind {
#define TP_X_(name, text) TP_EVENT_##name,
    TP_EVENT_LIST(TP_X_)
#undef TP_X_
    TP_EVENT_KIND_COUNT
} tp_event_kind;

/* Detail levels: simnet logs events up to a configured level so that 10,000-node runs
 * can keep the log cheap. Every kind has a fixed level (tp_event_level). */
typedef enum tp_event_level {
    TP_EVENT_LEVEL_INFO = 0,  /* connections, bans, maintenance: the default */
    TP_EVENT_LEVEL_DEBUG = 1, /* every message sent/received, points learned */
} tp_event_level;

enum {
    TP_EVENT_HAS_PEER = 1u << 0,
    TP_EVENT_HAS_POINT = 1u << 1,
    /* Log at debug level whatever the kind's level. Core never sets it; lua/'s connection
     * tap does (its connection_established / disconnection repeat the connections
     * table). Carried in the event itself so that a sink that runs later (simnet's
     * parallel engine hands events over at barriers) still sees it. */
    TP_EVENT_LOG_DEBUG = 1u << 2,
};

/* One event. Pointers inside are borrowed for the duration of the tp_env_event call:
 * a sink that keeps the event copies what it needs. */
typedef struct tp_event {
    tp_event_kind kind;
    uint32_t flags;          /* TP_EVENT_HAS_*, TP_EVENT_LOG_DEBUG */
    uint8_t peer_id[16];     /* valid with TP_EVENT_HAS_PEER */
    tp_point point;          /* valid with TP_EVENT_HAS_POINT */
    int32_t code;            /* a tp_err, a Nack motive, a count: kind-specific, else 0 */
    const char *detail;      /* short human text, or NULL */
} tp_event;

/* "connection_established", ...; never NULL. */
const char *tp_event_kind_name(tp_event_kind kind);
tp_event_level tp_event_kind_level(tp_event_kind kind);

#endif
