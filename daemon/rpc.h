/* daemon/rpc.h — the admin RPC server: Octez's /network/... endpoints over HTTP.
 *
 * Octez: P2p_services + P2p_directory (spec §11), served by the node's RPC server
 * (default localhost:8732). tidepool serves them with libmicrohttpd in external-epoll
 * mode inside the realnet loop (rn_watch): every request is handled on the loop's
 * thread, between two P2P events, so the backend may touch the node directly.
 *
 * Who owns what: dm_rpc routes and validates (URL, method, peer ids, points, query
 * filters, PATCH bodies) and owns the log streams; the backend (dm_rpc_backend, given
 * at start) owns the node and builds the JSON bodies in Octez's shapes. Errors go back
 * as `[{"kind": "permanent", "id": "failure", "msg": "..."}]` (Octez's generic error
 * shape) with an HTTP status: 400 malformed argument, 404 unknown path or object, 405
 * wrong method, 413 body too large, 501 not implemented, 503 not ready.
 *
 * Slow operations (PUT /network/points/<point>: connect and wait) answer later: the
 * backend returns DM_RPC_PENDING and calls dm_rpc_complete once; the HTTP connection
 * is suspended meanwhile.
 *
 * GET /network/log streams events (chunked transfer), one JSON object per line, in
 * Octez's P2p_connection.P2p_event shapes exactly (e.g. {"event": "new_point", "point":
 * "1.2.3.4:9732"}, {"event": "connection_established", "id_point": {"addr", "port"},
 * "peer_id": "id…"}); tidepool's own event kinds (no case in Octez's encoding) are left
 * out. GET /network/log?all streams every kind as {"event", "point"?, "peer_id"?,
 * "code"?, "detail"?, "time"}. Fed by dm_rpc_log_event (the node's event sink calls it).
 * Each stream buffers at most DM_RPC_LOG_QUEUE_MAX lines; a client that does not read
 * loses the oldest.
 *
 * GET /network/points/<point>/log?monitor and /network/peers/<peer_id>/log?monitor
 * stream that point's / peer's history as Octez does (P2p_directory): the first value
 * is the whole history, the list the request without ?monitor answers; each later
 * value is a one-element list [event] per new event, in the same item encoding. The
 * items come from the backend's point_log / peer_log over a dm_rpc_log_cursor; the
 * events fed to dm_rpc_log_event are the trigger: one that names the stream's address
 * (same IP) or peer makes the server ask the backend for items past the cursor on the
 * next loop turn, and every DM_RPC_MONITOR_SWEEP_NS it asks for every stream anyway
 * (history entries with no /network/log event of their own, e.g. the request_rejected
 * of a failed dial). Same bound as /network/log: DM_RPC_LOG_QUEUE_MAX lines per stream,
 * the oldest dropped for a client that does not read.
 *
 * GET /network/full_stat is assembled here from the backend's stat, connections (split
 * by their "incoming" field), peers and points answers, taken in one loop turn:
 * {"stat", "incoming_connections", "outgoing_connections", "peers", "points"}.
 */
#ifndef DM_RPC_H
#define DM_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/event.h"
#include "core/identity.h"
#include "realnet/rn.h"

#define DM_RPC_LOG_QUEUE_MAX 1024
#define DM_RPC_BODY_MAX 4096
#define DM_RPC_CONNECTIONS_MAX 64
/* Log streams (/network/log, ...?monitor) open at once: the rest of the connections
 * stay for ordinary requests (a stream past it is answered 503). */
#define DM_RPC_STREAMS_MAX 48
/* A connection idle this long (no request, or a request not read on) is closed;
 * streams and answers the node is still computing are not idle. */
#define DM_RPC_IDLE_TIMEOUT_S 30
/* A new connection must send its request line within this (else closed, 408). */
#define DM_RPC_REQUEST_LINE_TIMEOUT_NS INT64_C(10000000000)
#define DM_RPC_MONITOR_SWEEP_NS INT64_C(1000000000)

typedef struct dm_rpc dm_rpc;
typedef struct dm_rpc_pending dm_rpc_pending;

/* What a backend call produces: status 200 with a body (a new jansson reference, or
 * NULL for an empty body), or an error status with a message. */
typedef struct dm_rpc_result {
    unsigned status;
    json_t *body;
    char message[256];
} dm_rpc_result;

void dm_rpc_ok(dm_rpc_result *r, json_t *body);
void dm_rpc_fail(dm_rpc_result *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Point and peer filters (?filter=...), as bits. */
enum {
    DM_FILTER_REQUESTED = 1u << 0,
    DM_FILTER_ACCEPTED = 1u << 1,
    DM_FILTER_RUNNING = 1u << 2,
    DM_FILTER_DISCONNECTED = 1u << 3,
};

typedef enum dm_acl { DM_ACL_NONE, DM_ACL_BAN, DM_ACL_TRUST, DM_ACL_OPEN } dm_acl;

/* A position in a point's or peer's history (?monitor streams): the time of the last
 * item delivered and how many items bearing that time were delivered. Histories are
 * appended in time order (monotonic clock), so "after the cursor" is well defined; it
 * survives the history ring dropping its oldest entries. {INT64_MIN, 0} (the
 * DM_RPC_LOG_CURSOR_START value) is before everything. */
typedef struct dm_rpc_log_cursor {
    int64_t time_ns;
    uint32_t at_time;
} dm_rpc_log_cursor;

#define DM_RPC_LOG_CURSOR_START ((dm_rpc_log_cursor){INT64_MIN, 0})

/* Returned by point_connect when the answer comes later through dm_rpc_complete. */
#define DM_RPC_PENDING 1

/* The node side. Every function may be NULL (the endpoint answers 501). Each fills
 * `r` (dm_rpc_ok / dm_rpc_fail); arguments are already validated. */
typedef struct dm_rpc_backend {
    void (*self)(void *arg, dm_rpc_result *r);
    void (*stat)(void *arg, dm_rpc_result *r);
    void (*version)(void *arg, dm_rpc_result *r);
    void (*connections)(void *arg, dm_rpc_result *r);
    void (*connection)(void *arg, const tp_peer_id *peer, dm_rpc_result *r);
    void (*kick)(void *arg, const tp_peer_id *peer, bool wait, dm_rpc_result *r);
    void (*points)(void *arg, unsigned filters, dm_rpc_result *r);
    void (*point)(void *arg, const tp_point *p, dm_rpc_result *r);
    /* Returns DM_RPC_PENDING and keeps `pending` to call dm_rpc_complete later, or 0
     * after filling r. */
    int (*point_connect)(void *arg, const tp_point *p, int64_t timeout_ns,
                         dm_rpc_pending *pending, dm_rpc_result *r);
    void (*point_patch)(void *arg, const tp_point *p, dm_acl acl, const tp_peer_id *expected,
                        dm_rpc_result *r);
    void (*point_banned)(void *arg, const tp_point *p, dm_rpc_result *r);
    /* The point's / peer's event history, oldest first, as a JSON list: only the items
     * after *cursor, and *cursor moves past them (GET .../log passes
     * DM_RPC_LOG_CURSOR_START: the whole history). Unknown point / peer: 404. */
    void (*point_log)(void *arg, const tp_point *p, dm_rpc_log_cursor *cursor,
                      dm_rpc_result *r);
    void (*peer_log)(void *arg, const tp_peer_id *peer, dm_rpc_log_cursor *cursor,
                     dm_rpc_result *r);
    void (*peers)(void *arg, unsigned filters, dm_rpc_result *r);
    void (*peer)(void *arg, const tp_peer_id *peer, dm_rpc_result *r);
    void (*peer_patch)(void *arg, const tp_peer_id *peer, dm_acl acl, dm_rpc_result *r);
    void (*peer_banned)(void *arg, const tp_peer_id *peer, dm_rpc_result *r);
    void (*greylist_ips)(void *arg, dm_rpc_result *r);
    void (*greylist_peers)(void *arg, dm_rpc_result *r);
    void (*greylist_clear)(void *arg, dm_rpc_result *r);
    void *arg;
} dm_rpc_backend;

/* Starts serving on `at` (port 0: any free port; see dm_rpc_port) inside `loop`.
 * Errors: TP_ERR_ADDR_IN_USE, TP_ERR_ADDR_NOT_AVAILABLE (with `error` naming the
 * address and the fix), TP_ERR_IO, TP_ERR_NOMEM. The backend struct is copied. */
TP_MUST_USE tp_err dm_rpc_start(rn_loop *loop, const tp_point *at, const dm_rpc_backend *backend,
                                dm_rpc **out, char *error, size_t cap);
/* The port actually bound. */
uint16_t dm_rpc_port(const dm_rpc *rpc);
/* Completes a pending request (exactly once per DM_RPC_PENDING); takes r->body. */
void dm_rpc_complete(dm_rpc_pending *pending, dm_rpc_result *r);
/* Feeds an event to every /network/log stream, and wakes the point / peer log
 * monitors it concerns. */
void dm_rpc_log_event(dm_rpc *rpc, int64_t wall_ns, const tp_event *ev);
/* Number of open log streams: /network/log and the ?monitor ones (tests). */
size_t dm_rpc_log_streams(const dm_rpc *rpc);
/* Stops the server: resumes and closes every connection (log streams end) and frees
 * it. Requests still pending are dropped: complete them first (the node completes its
 * connects at shutdown, so stop the node before the server). */
void dm_rpc_stop(dm_rpc *rpc);

/* JSON helpers shared with the backend: "ip:port" text, b58 peer ids, Octez's
 * {"addr": ..., "port": ...} objects and RFC 3339 times. New references. */
json_t *dm_json_point(const tp_point *p);
json_t *dm_json_id_point(const tp_point *p);
json_t *dm_json_peer_id(const tp_peer_id *id);
json_t *dm_json_time(int64_t wall_ns);

/* Parses a peer id / a point given as a URL segment; on error writes a message naming
 * the text and the expected form. Errors: TP_ERR_INVAL. */
TP_MUST_USE tp_err dm_parse_peer_id(const char *text, tp_peer_id *out, char *error, size_t cap);
TP_MUST_USE tp_err dm_parse_point(const char *text, tp_point *out, char *error, size_t cap);

#endif
