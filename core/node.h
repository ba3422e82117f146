/* core/node.h — a tidepool P2P node: the public face of the complete P2P layer.
 *
 * Octez: P2p (P2p.create + P2p.activate, connect, send / try_send / broadcast / recv,
 * ban / trust, maintain, stat, connections and points listings, shutdown). A tp_node
 * assembles and owns everything Octez's P2p assembles:
 * - its pool (core/pool.h) and ACL (core/acl.h);
 * - its connect handler (core/connect.h) with every connection, and its listener;
 * - the I/O scheduler (core/sched.h, spec §8): every connection's reader and writer go
 *   through it; max_download_speed_bps / max_upload_speed_bps cap the node's aggregate
 *   rates with fair per-connection quotas; tp_node_stat / tp_node_conn_stat read it;
 * - the maintenance worker (core/maintenance.h, spec §6), started at activation when
 *   maintenance_idle_time_ns > 0, woken by the too_few / too_many triggers of the
 *   connect handler and by the pool's new point / new peer hooks, dialing through the
 *   node, sending Bootstrap, waking the discovery and proposing swaps;
 * - the swap protocol (core/swap.h, spec §5.6) when swap_linger_ns > 0 and the node is
 *   not private: incoming Swap_request / Swap_ack are handled here;
 * - LAN discovery (core/discovery.h, spec §9) when discovery_enabled, the node listens
 *   and the maintenance is enabled (Octez's condition);
 * - the peers file (core/peers_json.h, spec §5.7): loaded at activation right after
 *   the trusted points, saved every peers_save_interval_ns and once more when the
 *   shutdown completed (never over a file that could not be loaded).
 * The user's hooks (tp_node_hooks) are called in addition, after the node's own
 * handling: they observe, they need not do anything.
 *
 * Ownership: tp_node_create allocates the node through the env and copies the config
 * (the identity included; the registry's definitions, the chain name and the peers
 * file name are copied too). tp_node_destroy frees it once tp_node_shutdown completed
 * (or before activation); tp_node_crash_drop frees it at any time without any env call
 * other than tp_env_free (simnet's sim_app_ops.halt): the workers vanish with it and
 * what survives on the host's disk is the last periodic save of the peers file.
 */
#ifndef TP_NODE_H
#define TP_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "conn.h"
#include "connect.h"
#include "discovery.h"
#include "env.h"
#include "identity.h"
#include "maintenance.h"
#include "message.h"
#include "peers_json.h"
#include "pool.h"
#include "sched.h"
#include "stat.h"
#include "swap.h"

typedef struct tp_node tp_node;

#define TP_NODE_APP_MSGS_MAX 64
#define TP_NODE_TRUSTED_MAX 64
#define TP_NODE_PEERS_FILE_MAX 512 /* bytes of the peers file name, NUL included */

typedef struct tp_node_trusted_point {
    tp_point point;
    bool has_expected_peer_id;
    tp_peer_id expected_peer_id;
} tp_node_trusted_point;

/* Hooks; all optional (NULL). `conn` pointers are valid for the call; a connection's
 * peer id is tp_node_conn_peer_id(conn). */
typedef struct tp_node_hooks {
    /* Push mode: called for every application message as it arrives (the payload is
     * borrowed for the call). When NULL, messages wait in each connection's bounded
     * application queue for tp_node_recv (pull mode; reading pauses while full). */
    void (*on_app_message)(void *arg, tp_node *n, tp_conn *c, uint16_t tag,
                           const uint8_t *payload, size_t len);
    void (*on_new_connection)(void *arg, tp_node *n, tp_conn *c);
    void (*on_disconnection)(void *arg, tp_node *n, tp_conn *c);
    void (*too_few_connections)(void *arg, tp_node *n);
    void (*too_many_connections)(void *arg, tp_node *n);
    /* spec §5.6: called after the node's own swap handling (observation only). */
    void (*on_swap_request)(void *arg, tp_node *n, tp_conn *c, const tp_point *point,
                            const tp_peer_id *peer);
    void (*on_swap_ack)(void *arg, tp_node *n, tp_conn *c, const tp_point *point,
                        const tp_peer_id *peer);
    /* A tp_node_send that returned TP_ERR_AGAIN may be retried on this connection. */
    void (*on_writable)(void *arg, tp_node *n, tp_conn *c);
    /* Pull mode: a message is waiting on c. */
    void (*on_app_readable)(void *arg, tp_node *n, tp_conn *c);
    void *arg;
} tp_node_hooks;

/* Defaults (tp_node_config_default) are Octez's (spec §10). */
typedef struct tp_node_config {
    tp_identity identity;            /* required (copied) */
    tp_pow_target pow_target;        /* remote stamps: difficulty 26 by default */
    tp_point listen;                 /* [::]:9732; port 0: do not listen */
    uint16_t advertised_port;        /* 0: the listening port */
    const char *chain_name;          /* "TEZOS_MAINNET"; <= 128 bytes (copied) */
    uint16_t ddb_versions[TP_VERSIONS_MAX]; /* supported; the greatest is announced */
    size_t ddb_versions_count;       /* {0, 1, 2} */
    uint16_t p2p_versions[TP_VERSIONS_MAX];
    size_t p2p_versions_count;       /* {0, 1} */
    bool disable_mempool;
    bool private_mode;
    bool disable_peer_discovery;
    uint32_t min_connections;        /* 10 */
    uint32_t expected_connections;   /* 50 */
    uint32_t max_connections;        /* 100 */
    uint32_t max_incoming_connections; /* 20 */
    uint32_t max_pending_incoming_per_ip; /* 0: off (Octez); tidepool option, core/connect.h */
    uint32_t greylist_ip_after_timeouts;  /* 0: off (Octez); tidepool option, core/connect.h */
    uint32_t listen_backlog;         /* 20: listen(2) backlog (Octez `backlog`, spec §2.1) */
    int64_t maintenance_idle_time_ns; /* 120 s; 0 = maintenance disabled (slot check
                                         then uses max_connections, spec §2.7 step 6) */
    /* tidepool option (not in Octez): lengthen the maintenance's 5 s wait for contacts
     * by a random 0..this per-mille, so that two nodes that keep dialing each other at
     * the same instant (each rejects the other: Already_connected) stop colliding in
     * simulations with exact timings (tp_maintenance_config.wait_jitter_pm). */
    uint32_t maintenance_wait_jitter_pm; /* 0 (Octez) */
    int64_t connection_timeout_ns;   /* 10 s */
    int64_t authentication_timeout_ns; /* 5 s */
    size_t incoming_message_queue_size;  /* 8 MiB */
    size_t outgoing_message_queue_size;  /* 8 MiB */
    uint32_t incoming_app_message_queue_size; /* 10 */
    size_t binary_chunks_size;       /* 0 = 65535 (65517 plaintext bytes) */
    int64_t bootstrap_cooldown_ns;   /* 100 ms (spec §4.4) */
    int64_t swap_cooldown_ns;        /* 60 s: Swap_* throttling per connection (spec §4.4) */
    /* spec §5.6: minimum time between two accepted swap requests; 0 = swap disabled
     * (--disable-p2p-swap). Private nodes never swap. */
    int64_t swap_linger_ns;          /* 30 s */
    /* spec §9: LAN discovery, on only if discovery_enabled, the node listens
     * (listen.port != 0) and the maintenance is enabled; it announces the advertised
     * port (<= 32767, the datagram's int16). */
    bool discovery_enabled;          /* false (Octez: no discovery-addr) */
    tp_point discovery_point;        /* 255.255.255.255:10732 (as ::ffff:...) */
    bool trust_discovered_peers;     /* false (Octez sets it in sandbox mode) */
    /* spec §5.7: the peers file, a name for the env's storage (copied). NULL, "" or
     * "/dev/null": no peers file at all. */
    const char *peers_file;          /* "peers.json" */
    int64_t peers_save_interval_ns;  /* 60 s; 0 = only at shutdown (Octez) */
    /* spec §8: the I/O scheduler. Caps in bytes/s (Octez's config is in KiB/s: x1024);
     * 0 = unlimited. read_buffer_size bounds one read grant. */
    int64_t max_download_speed_bps;  /* 0 */
    int64_t max_upload_speed_bps;    /* 0 */
    uint32_t read_buffer_size;       /* 16384 */
    /* tidepool option (core/README.md "Deliberate differences"): credit the caps in
     * this many slices per second instead of once per second (Octez,
     * p2p_io_scheduler.ml update_quota), which spreads a capped node's bandwidth
     * fairly over its connections. 1..1000; 1 = Octez. */
    uint32_t bandwidth_cap_slices;   /* 1 */
    /* tidepool option (core/README.md "Deliberate differences"): see
     * tp_connect_config.reset_refused_points. false = Octez: a dialed point refused
     * after authentication (Peer_banned, Identity_check_failure, Private_mode) stays
     * Requested and is never dialed again. */
    bool reset_refused_points;       /* false */
    tp_node_trusted_point trusted_points[TP_NODE_TRUSTED_MAX];
    size_t trusted_points_count;
    tp_app_msg_def app_msgs[TP_NODE_APP_MSGS_MAX]; /* names are borrowed */
    size_t app_msgs_count;
    tp_pool_config pool;
    tp_acl_config acl;
    tp_node_hooks hooks;
} tp_node_config;

void tp_node_config_default(tp_node_config *cfg);
/* NULL when usable; otherwise writes one sentence naming the field, the problem and the
 * fix into buf and returns it. */
const char *tp_node_config_check(const tp_node_config *cfg, char *buf, size_t cap);

/* Errors: TP_ERR_INVAL (tp_node_config_check fails), TP_ERR_NOMEM. */
TP_MUST_USE tp_err tp_node_create(const tp_env *env, const tp_node_config *cfg, tp_node **out);
/* Activation (Octez P2p.activate, spec §5.7, §6.2, §9): registers the trusted points,
 * loads the peers file (a corrupt one is kept aside and reported by a STORAGE_ERROR
 * event: the node goes on, see tp_node_peers_loaded), starts listening, the periodic
 * save, LAN discovery and the maintenance (its first cycle on the next loop turn).
 * Errors: env listen errors, discovery's socket errors (the node is then left
 * inactive: shut it down or destroy it). */
TP_MUST_USE tp_err tp_node_activate(tp_node *n);

/* P2p.maintain: runs a maintenance cycle now (or cuts a wait short) and calls cb once a
 * cycle ended (from a later callback). Errors: TP_ERR_STATE (maintenance disabled, not
 * active, or shutting down), TP_ERR_LIMIT (too many waiters). On error cb never
 * fires. */
typedef void (*tp_node_maintain_cb)(void *arg, tp_node *n);
TP_MUST_USE tp_err tp_node_maintain(tp_node *n, tp_node_maintain_cb cb, void *arg);

typedef void (*tp_node_connect_cb)(void *arg, tp_node *n, tp_err err, tp_conn *c);
/* Dials a point (spec §7.2); timeout_ns 0: connection_timeout. cb fires exactly once
 * on TP_OK (see tp_connect_connect for the errors). */
TP_MUST_USE tp_err tp_node_connect(tp_node *n, const tp_point *point, int64_t timeout_ns,
                                   tp_node_connect_cb cb, void *arg);

/* ---- messages ------------------------------------------------------------------------ */

/* Sends an application message to a connection (Octez write): TP_ERR_AGAIN when the
 * writer queue is full (retry after on_writable). now=true is write_now (try_send):
 * TP_ERR_AGAIN means dropped. Errors: TP_ERR_INVAL (unregistered tag or payload above
 * its max_len), TP_ERR_AGAIN, TP_ERR_CLOSED, TP_ERR_STATE, TP_ERR_NOMEM. */
TP_MUST_USE tp_err tp_node_send(tp_node *n, tp_conn *c, uint16_t tag, const uint8_t *payload,
                                size_t len, bool now);
/* The same to the running connection of a peer. Errors also TP_ERR_NOT_FOUND. */
TP_MUST_USE tp_err tp_node_send_to_peer(tp_node *n, const tp_peer_id *peer, uint16_t tag,
                                        const uint8_t *payload, size_t len, bool now);
/* Encodes once and write_now's it on every running connection (spec §4.5). Returns
 * the number of connections that took it. */
uint32_t tp_node_broadcast(tp_node *n, uint16_t tag, const uint8_t *payload, size_t len);
/* Asks every running non-private peer for points (Bootstrap, spec §4.4, §6.3); none in
 * private mode or with peer discovery disabled. Returns the number asked. */
uint32_t tp_node_broadcast_bootstrap(tp_node *n);
/* Pull mode: takes the oldest message of the first connection (creation order) that
 * has one; copies the payload into buf. false: none. Errors as a false return with
 * *len set to the needed size when cap is too small (the message stays). */
bool tp_node_recv(tp_node *n, tp_conn **from, uint16_t *tag, uint8_t *buf, size_t cap,
                  size_t *len);

/* ---- ACL (spec §5.4, §11) ------------------------------------------------------------- */

/* ban (Octez P2p_pool.Points.ban): blacklist the IP, and for every running connection
 * from it blacklist the peer and disconnect it. Trust is left alone: the RPC untrusts
 * the one point it names first (tp_node_untrust_point). */
TP_MUST_USE tp_err tp_node_ban_addr(tp_node *n, const tp_ip *ip);
void tp_node_unban_addr(tp_node *n, const tp_ip *ip);
/* trust a point: unban its IP, register it trusted. untrust: trusted = false. */
TP_MUST_USE tp_err tp_node_trust_point(tp_node *n, const tp_point *point);
void tp_node_untrust_point(tp_node *n, const tp_point *point);
/* ban a peer: untrust, blacklist, disconnect it if connected. */
TP_MUST_USE tp_err tp_node_ban_peer(tp_node *n, const tp_peer_id *peer);
void tp_node_unban_peer(tp_node *n, const tp_peer_id *peer);
TP_MUST_USE tp_err tp_node_trust_peer(tp_node *n, const tp_peer_id *peer);
void tp_node_untrust_peer(tp_node *n, const tp_peer_id *peer);
bool tp_node_greylist_peer(tp_node *n, const tp_peer_id *peer);
/* Disconnects a peer (kick). false: not connected. */
bool tp_node_kick(tp_node *n, const tp_peer_id *peer);
void tp_node_acl_clear(tp_node *n);

/* ---- listings and state ------------------------------------------------------------- */

/* Every connection, any state, in creation order: for (c = tp_node_first_conn(n); c;
 * c = c->next). Use tp_conn_is_running to keep the established ones. */
static inline tp_conn *tp_node_first_conn(tp_node *n);
uint32_t tp_node_active_connections(const tp_node *n);
tp_conn *tp_node_conn_of_peer(tp_node *n, const tp_peer_id *peer);
static inline const tp_peer_id *tp_node_conn_peer_id(const tp_conn *c) {
    return &c->sock.remote.peer_id;
}
const tp_peer_id *tp_node_peer_id(const tp_node *n);
tp_pool *tp_node_pool(tp_node *n);
tp_acl *tp_node_acl(tp_node *n);
tp_connect *tp_node_connect_handler(tp_node *n);
const tp_node_config *tp_node_config_of(const tp_node *n);
/* Bytes held by the node's connections (structs and buffers), for memory checks; the
 * env's own accounting (simnet: sim_host_memory_bytes) covers everything. */
size_t tp_node_connections_memory(const tp_node *n);

/* P2p_stat (spec §8.5) of the whole node / of one connection, from the scheduler. */
tp_stat tp_node_stat(const tp_node *n);
tp_stat tp_node_conn_stat(const tp_conn *c);

/* The workers; NULL when disabled by the config (or, for discovery, not started). */
tp_maintenance *tp_node_maintenance(tp_node *n);
tp_swap *tp_node_swap(tp_node *n);            /* never NULL; see tp_swap_enabled */
tp_discovery *tp_node_discovery(tp_node *n);
tp_peers_file *tp_node_peers_file(tp_node *n); /* NULL: no peers file */
tp_sched *tp_node_sched(tp_node *n);
/* The peers file's load at activation: TP_OK (also when missing or disabled),
 * TP_ERR_CORRUPT (kept aside; the text is in tp_node_peers_file(n)->error), TP_ERR_IO,
 * TP_ERR_NOMEM, TP_ERR_STATE (not activated yet); *count (may be NULL) the peers
 * loaded. */
TP_MUST_USE tp_err tp_node_peers_loaded(const tp_node *n, size_t *count);
/* The save at the end of the shutdown: TP_ERR_STATE when none happened (no file,
 * shutdown not finished, or the load had failed and the file is left alone). */
TP_MUST_USE tp_err tp_node_peers_saved(const tp_node *n);

/* ---- lifecycle ----------------------------------------------------------------------- */

/* Stops the workers (maintenance, discovery, periodic save), stops listening and
 * closes every connection; once all are closed the peers file is saved and cb fires
 * (from a later callback, never inside this call). */
void tp_node_shutdown(tp_node *n, void (*cb)(void *arg, tp_node *n), void *arg);
/* Frees a node that is idle (never activated, or shutdown completed). */
void tp_node_destroy(tp_node *n);
/* simnet halt: frees everything, calling no env function but tp_env_free. */
void tp_node_crash_drop(tp_node *n);

/* ---- internals visible for the inline accessor ---------------------------------------- */
struct tp_node {
    const tp_env *env;
    tp_node_config cfg;
    char chain_name[TP_SOCKET_CHAIN_NAME_MAX];
    tp_app_registry registry;
    tp_connect_config ccfg;
    tp_pool pool;
    tp_acl acl;
    tp_connect handler;
    tp_listener *listener;
    bool active, shutting_down, shutdown_done;
    void (*shutdown_cb)(void *arg, tp_node *n);
    void *shutdown_arg;
    tp_timer shutdown_timer;
    uint8_t *scratch; /* encoding buffer, reused */
    size_t scratch_cap;
    /* the assembled workers */
    tp_sched sched;
    tp_swap swap;
    tp_maintenance maint;
    bool maint_on;             /* maintenance enabled (initialised) */
    tp_discovery disco;
    bool disco_on;             /* discovery initialised (started at activation) */
    bool disco_started;
    tp_peers_file pf;
    bool pf_on;
    char peers_file_name[TP_NODE_PEERS_FILE_MAX];
    tp_err peers_load_result, peers_save_result;
    size_t peers_loaded;
    bool peers_may_save;
    struct tp_node_maintain_slot {
        tp_node *node;
        tp_node_maintain_cb cb;
        void *arg;
        bool used;
    } maintain_slots[TP_MAINTENANCE_WAITERS_MAX]; /* tp_node_maintain calls in flight */
};

static inline tp_conn *tp_node_first_conn(tp_node *n) {
    return n->handler.head;
}

#endif
