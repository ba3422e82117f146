/* lua/invariants.h — the swarm's invariant checker: properties every tidepool node of a
 * simulated world must keep at every instant, checked continuously from a world timer.
 *
 * What it is for: `tidepool swarm` (swarm/) runs thousands of random worlds with random
 * fault schedules; this checker is what makes a run fail. It lives next to the node
 * bindings because it reads the node objects the Lua world holds (tl_app.node). Octez
 * has no counterpart: it asserts Octez's rules (spec §2.7, §5.1-§5.4, §6, §7) from the
 * outside, on the state core/ keeps.
 *
 * The invariants (names as reported in the results database and the JSON summary):
 * - connection_limit: pending incoming handshakes <= max_incoming_connections (spec
 *   §7.1, checked at accept); running connections <= max_connections +
 *   max_incoming_connections (the slot check of spec §2.7 step 6 counts running
 *   connections only, so handshakes admitted concurrently may overshoot it, as in
 *   Octez; incoming ones are bounded by the pending limit, and the maintenance dials
 *   only while below its targets).
 * - banned_peer_connected: no running connection (running and not closing) whose peer
 *   is blacklisted or greylisted, or whose remote IP is blacklisted. Exact grace: a ban
 *   (tp_node_ban_peer / tp_node_ban_addr) closes the *running* connections at once, and
 *   core greylists a running peer only on the decoding error that closes it (spec
 *   §4.4); but a handshake already past its checks when the ban is made completes, in
 *   Octez as here (P2p_pool.Points.ban / Peers.ban kick Running connections only;
 *   raw_authenticate checks the peer ban once, the IP never after accept/dial). So the
 *   connections in their handshake at the instant of a ban (recorded when the ban
 *   is made, tl_inv_note_ban) may become and stay running; any other is a violation.
 *   (tl_inv_check_node alone, without that record, allows none.) A greylisted *IP* alone is not a violation: Octez keeps the other
 *   connections of a greylisted address (only new ones are refused at accept/dial).
 *   (tp_node_greylist_peer, the RPC's greylist, does not disconnect either — like
 *   Octez — and is not driven by scenarios; a scenario calling it would need an
 *   exemption.)
 * - state_agreement: the handler's counters equal its list (conn_count, active,
 *   pending_incoming); a running connection has a Running peer (and point, if any) whose
 *   conn is that connection with the same peer id; the pool's points_connected /
 *   peers_connected equal the Running infos; every Running point or peer points at a
 *   running connection of the list; peers_connected == active.
 * - bounds: known points <= max_known_points + 1 and peers <= max_known_peer_ids + 1
 *   (Octez's off-by-one: a point is added after a GC that could free nothing); each
 *   ACL list <= its maximum; per connection: application queue <= its message count,
 *   pending output <= outgoing_message_queue_size + one message of any size (an empty
 *   queue takes one message whatever its size, spec §4.5; TL_INV_MESSAGE_WIRE_MAX).
 * - memory: sim_host_memory_bytes of the node's host <= tl_inv_memory_bound(config).
 * - overlay_connected: from `settle_after` + `settle` on (the last fault + a stated
 *   time), the running honest tidepool nodes form one connected component (private
 *   nodes included: they carry connections between their trusted peers). Octez's
 *   maintenance dials only below min_connections, so this holds only in worlds where
 *   two content components cannot coexist — the swarm's have min >= nodes / 2 (a
 *   component whose nodes all reach min has more than half the nodes); a scenario
 *   with a lower min should not arm this check (only = {...}).
 * - min_connections: an honest running node does not stay below min_connections for
 *   longer than `below_min_grace` while it knows a dialable candidate point and its
 *   maintenance is enabled. Candidate: known, Disconnected, IP not banned, no
 *   reconnection backoff running, trusted if the node is private — exactly the
 *   maintenance's rule, core/maintenance.c — and, from the simulator's oracle, a dial
 *   would succeed (see tl_inv_check_min_connections).
 *
 * Ownership: the checker of a run is a Lua userdata (anchored in the registry) that
 * owns its per-host state (malloc) and its world timer.
 */
#ifndef TP_LUA_INVARIANTS_H
#define TP_LUA_INVARIANTS_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "core/node.h"

typedef enum tl_inv_kind {
    TL_INV_CONNECTION_LIMIT = 0,
    TL_INV_BANNED_PEER_CONNECTED,
    TL_INV_STATE_AGREEMENT,
    TL_INV_BOUNDS,
    TL_INV_MEMORY,
    TL_INV_OVERLAY_CONNECTED,
    TL_INV_MIN_CONNECTIONS,
    TL_INV_COUNT
} tl_inv_kind;

/* One message on the wire at most this big (the largest the simulations send: a block
 * of the gossip workload, framed); see `bounds`. */
#define TL_INV_MESSAGE_WIRE_MAX ((uint64_t)4 << 20)

/* "connection_limit", "banned_peer_connected", ... */
const char *tl_inv_name(tl_inv_kind k);
/* The kind of a name; false if unknown. */
bool tl_inv_parse(const char *name, tl_inv_kind *out);

typedef struct tl_inv_violation {
    tl_inv_kind kind;
    uint32_t host;      /* the node's host index */
    int64_t time_ns;    /* virtual time */
    char detail[256];
} tl_inv_violation;

typedef void (*tl_inv_report_cb)(void *arg, const tl_inv_violation *v);

/* Checks connection_limit, banned_peer_connected, state_agreement and bounds on one
 * running node; calls report for each violation found (at most one per kind). Returns
 * the number of violations. Reads the ACL through its queries (which drop expired
 * greylist entries, as core does). */
uint32_t tl_inv_check_node(tp_node *n, uint32_t host, int64_t now_ns, tl_inv_report_cb report,
                           void *arg);

/* min_connections for one node, called at every check with the caller's state for it
 * (*below_since_ns: TP_TIME_NONE at first): reports (and returns true) once the node has
 * stayed below min_connections, with its maintenance enabled and a dialable candidate
 * point known, for longer than grace_ns. A candidate is a point the maintenance would
 * dial (core/maintenance.c's rule) and, when could_dial is given, that the oracle says
 * would be admitted (the Lua checker's oracle asks the simulator: a running public
 * tidepool node listens there, reachable both ways, not banning us, with a free slot;
 * points advertised by a flood, nodes that banned us or are partitioned away are not
 * "dialable"). */
typedef bool (*tl_inv_dial_oracle)(void *arg, tp_node *n, const tp_point *point);
bool tl_inv_check_min_connections(tp_node *n, uint32_t host, int64_t now_ns, int64_t grace_ns,
                                  int64_t *below_since_ns, tl_inv_dial_oracle could_dial,
                                  void *dial_arg, tl_inv_report_cb report, void *arg);

/* The memory a node with this config may hold (bytes): a fixed base, the pool's and
 * the ACL's tables at their maxima, and per connection slot (max_connections +
 * max_incoming_connections + 16 in handshake) its structure, both message queues,
 * read buffers and chunk buffers. */
uint64_t tl_inv_memory_bound(const tp_node_config *cfg);

/* A node's ban just succeeded (node:ban_ip / node:ban_peer, lua/tidepool.c, world
 * context: the only bans of a simulation): records, for the node on host that banned,
 * which connections are still in their handshake at that instant — the only ones
 * banned_peer_connected lets become running to a banned peer or IP. Does nothing when
 * no checker is armed. (It used to be fed by the BAN event from simnet's event sink,
 * which the parallel simulator calls later, at a barrier, when the handshakes have
 * moved on.) */
struct tl_state;
void tl_inv_note_ban(struct tl_state *run, uint32_t host);

/* Registers sim.invariants{...} and sim.check_invariants() (lua/README.md). */
void tl_open_invariants(lua_State *L);

#endif
