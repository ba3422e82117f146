/* core/node.c — the public face of the P2P layer: the assembly of pool, ACL, connect
 * handler, I/O scheduler, maintenance, swap, LAN discovery and peers file. See node.h.
 * Octez: P2p (create + activate + shutdown). */
#include "node.h"

#include <stdio.h>
#include <string.h>

#include "encoding.h"


void tp_node_config_default(tp_node_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    tp_err e = tp_pow_target_of_difficulty(TP_POW_DIFFICULTY_DEFAULT, &cfg->pow_target);
    TP_ASSERT(e == TP_OK);
    cfg->listen.port = 9732; /* ip :: (all zero) */
    cfg->chain_name = "TEZOS_MAINNET";
    cfg->ddb_versions[0] = 0;
    cfg->ddb_versions[1] = 1;
    cfg->ddb_versions[2] = 2;
    cfg->ddb_versions_count = 3;
    cfg->p2p_versions[0] = 0;
    cfg->p2p_versions[1] = 1;
    cfg->p2p_versions_count = 2;
    cfg->min_connections = 10;
    cfg->expected_connections = 50;
    cfg->max_connections = 100;
    cfg->max_incoming_connections = 20;
    cfg->listen_backlog = 20;
    cfg->maintenance_idle_time_ns = 120LL * 1000000000LL;
    cfg->connection_timeout_ns = 10LL * 1000000000LL;
    cfg->authentication_timeout_ns = 5LL * 1000000000LL;
    cfg->incoming_message_queue_size = 8u << 20;
    cfg->outgoing_message_queue_size = 8u << 20;
    cfg->incoming_app_message_queue_size = 10;
    cfg->binary_chunks_size = 0;
    cfg->bootstrap_cooldown_ns = 100LL * 1000000LL;
    cfg->swap_cooldown_ns = 60LL * 1000000000LL;
    cfg->swap_linger_ns = 30LL * 1000000000LL;
    cfg->discovery_enabled = false;
    cfg->discovery_point = tp_point_v4(0xffffffffu, TP_DISCOVERY_PORT_DEFAULT);
    cfg->trust_discovered_peers = false;
    cfg->peers_file = "peers.json";
    cfg->peers_save_interval_ns = 60LL * 1000000000LL;
    cfg->max_download_speed_bps = 0;
    cfg->max_upload_speed_bps = 0;
    cfg->read_buffer_size = 16384;
    cfg->bandwidth_cap_slices = 1;
    tp_pool_config_default(&cfg->pool);
    tp_acl_config_default(&cfg->acl);
}

const char *tp_node_config_check(const tp_node_config *cfg, char *buf, size_t cap) {
#define BAD(...)                                                                         \
    do {                                                                                 \
        snprintf(buf, cap, __VA_ARGS__);                                                 \
        return buf;                                                                      \
    } while (0)
    if (tp_identity_check(&cfg->identity) != TP_OK)
        BAD("node config: identity is not a valid key pair with its peer id: load or "
            "generate one (tp_identity_init_from_env + tp_pow_search)");
    if (cfg->chain_name == NULL || strlen(cfg->chain_name) > TP_SOCKET_CHAIN_NAME_MAX)
        BAD("node config: chain_name must be set and at most %d bytes",
            TP_SOCKET_CHAIN_NAME_MAX);
    if (cfg->ddb_versions_count == 0 || cfg->ddb_versions_count > TP_VERSIONS_MAX)
        BAD("node config: ddb_versions_count must be in 1..%d (got %zu)", TP_VERSIONS_MAX,
            cfg->ddb_versions_count);
    if (cfg->p2p_versions_count == 0 || cfg->p2p_versions_count > TP_VERSIONS_MAX)
        BAD("node config: p2p_versions_count must be in 1..%d (got %zu)", TP_VERSIONS_MAX,
            cfg->p2p_versions_count);
    if (cfg->listen_backlog < 1 || cfg->listen_backlog > 65535)
        BAD("node config: listen_backlog must be in 1..65535 (got %u)", cfg->listen_backlog);
    if (cfg->min_connections > cfg->expected_connections ||
        cfg->expected_connections > cfg->max_connections)
        BAD("node config: connections must satisfy min <= expected <= max (got %u, %u, %u)",
            cfg->min_connections, cfg->expected_connections, cfg->max_connections);
    if (cfg->binary_chunks_size != 0 &&
        (cfg->binary_chunks_size < TP_CHUNKS_SIZE_MIN ||
         cfg->binary_chunks_size > TP_CHUNK_SIZE_MAX))
        BAD("node config: binary_chunks_size must be 0 (default) or in [19, 65535] bytes "
            "(got %zu)", cfg->binary_chunks_size);
    if (cfg->connection_timeout_ns <= 0 || cfg->authentication_timeout_ns <= 0)
        BAD("node config: connection and authentication timeouts must be > 0");
    if (cfg->incoming_message_queue_size == 0 || cfg->outgoing_message_queue_size == 0 ||
        cfg->incoming_app_message_queue_size == 0)
        BAD("node config: message queue sizes must be > 0");
    if (cfg->maintenance_idle_time_ns < 0)
        BAD("node config: maintenance_idle_time_ns must be >= 0 (0 disables the "
            "maintenance; got %lld)", (long long)cfg->maintenance_idle_time_ns);
    if (cfg->maintenance_wait_jitter_pm > 1000)
        BAD("node config: maintenance_wait_jitter_pm must be in 0..1000 per-mille (got %u)",
            cfg->maintenance_wait_jitter_pm);
    if (cfg->swap_linger_ns < 0)
        BAD("node config: swap_linger_ns must be >= 0 (0 disables swap; got %lld)",
            (long long)cfg->swap_linger_ns);
    if (cfg->bootstrap_cooldown_ns < 0 || cfg->swap_cooldown_ns < 0)
        BAD("node config: bootstrap_cooldown_ns and swap_cooldown_ns must be >= 0");
    if (cfg->peers_save_interval_ns < 0)
        BAD("node config: peers_save_interval_ns must be >= 0 (0 saves only at shutdown; "
            "got %lld)", (long long)cfg->peers_save_interval_ns);
    if (cfg->peers_file != NULL && strlen(cfg->peers_file) >= TP_NODE_PEERS_FILE_MAX)
        BAD("node config: peers_file must be shorter than %d bytes (got %zu): use a shorter "
            "path", TP_NODE_PEERS_FILE_MAX, strlen(cfg->peers_file));
    if (cfg->max_download_speed_bps < 0 || cfg->max_upload_speed_bps < 0)
        BAD("node config: max_download_speed_bps and max_upload_speed_bps must be >= 0 "
            "bytes/s (0 = unlimited; got %lld and %lld)",
            (long long)cfg->max_download_speed_bps, (long long)cfg->max_upload_speed_bps);
    if (cfg->read_buffer_size < 64 || cfg->read_buffer_size > (1u << 24))
        BAD("node config: read_buffer_size must be in [64, 16777216] bytes (default 16384; "
            "got %u)", cfg->read_buffer_size);
    if (cfg->bandwidth_cap_slices < 1 || cfg->bandwidth_cap_slices > 1000)
        BAD("node config: bandwidth_cap_slices must be in [1, 1000] (1 = Octez's credit "
            "once per second; got %u)", cfg->bandwidth_cap_slices);
    if (cfg->discovery_enabled && cfg->maintenance_idle_time_ns > 0 && cfg->listen.port != 0) {
        uint16_t port = cfg->advertised_port != 0 ? cfg->advertised_port : cfg->listen.port;
        if (port > 32767)
            BAD("node config: discovery_enabled needs a listening (advertised) port <= 32767 "
                "(LAN discovery carries it in a signed 16-bit field; got %u): choose a lower "
                "port or disable discovery", port);
        if (cfg->discovery_point.port == 0)
            BAD("node config: discovery_point needs a port (default 10732)");
    }
    if (cfg->trusted_points_count > TP_NODE_TRUSTED_MAX)
        BAD("node config: at most %d trusted points (got %zu)", TP_NODE_TRUSTED_MAX,
            cfg->trusted_points_count);
    if (cfg->app_msgs_count > TP_NODE_APP_MSGS_MAX)
        BAD("node config: at most %d application messages (got %zu)", TP_NODE_APP_MSGS_MAX,
            cfg->app_msgs_count);
    for (size_t i = 0; i < cfg->app_msgs_count; i++) {
        if (cfg->app_msgs[i].tag < TP_MSG_APP_FIRST)
            BAD("node config: app message %zu has tag 0x%04x; application tags start at "
                "0x0010", i, cfg->app_msgs[i].tag);
        for (size_t j = 0; j < i; j++)
            if (cfg->app_msgs[j].tag == cfg->app_msgs[i].tag)
                BAD("node config: app messages %zu and %zu share tag 0x%04x", j, i,
                    cfg->app_msgs[i].tag);
    }
    return NULL;
#undef BAD
}

/* ---- the workers' side of the node (tp_maintenance_ops, tp_swap_ops) ------------------ */

/* Connections that count towards the thresholds: running and not closing (a
 * disconnect stops counting at once, maintenance.h). Bounded by the connections the
 * handler holds (max_connections + pending handshakes). */
static uint32_t op_active(void *arg) {
    tp_node *n = arg;
    uint32_t k = 0;
    for (tp_conn *c = n->handler.head; c != NULL; c = c->next)
        if (tp_conn_is_running(c)) k++;
    return k;
}

static size_t op_connections(void *arg, tp_conn_view *out, size_t cap) {
    tp_node *n = arg;
    size_t k = 0;
    for (tp_conn *c = n->handler.head; c != NULL; c = c->next) {
        if (!tp_conn_is_running(c)) continue;
        if (k < cap) {
            tp_conn_view *v = &out[k];
            memset(v, 0, sizeof *v);
            v->conn = c;
            v->peer_id = c->sock.remote.peer_id;
            v->point = c->id_point; /* spec §2.3: its port is the announced one */
            v->private_peer = c->sock.remote.metadata.private_node;
            v->trusted = (c->peer != NULL && c->peer->trusted) ||
                         (c->point != NULL && c->point->trusted);
        }
        k++;
    }
    return k;
}

static void maint_dial_cb(void *arg, tp_node *n, tp_err err, tp_conn *c) {
    (void)n;
    (void)c;
    tp_maintenance_dial_done(arg, err);
}

static tp_err op_maint_connect(void *arg, tp_point_info *pi, tp_worker_connect_cb done,
                               void *done_arg) {
    (void)done; /* tp_maintenance_dial_done, called directly (maintenance.h) */
    return tp_node_connect(arg, &pi->point, 0, maint_dial_cb, done_arg);
}

static void swap_dial_cb(void *arg, tp_node *n, tp_err err, tp_conn *c) {
    (void)n;
    (void)c;
    tp_swap_dial_done(arg, err);
}

static tp_err op_swap_connect(void *arg, const tp_point *pt, tp_worker_connect_cb done,
                              void *done_arg) {
    (void)done; /* tp_swap_dial_done, called directly (swap.h) */
    return tp_node_connect(arg, pt, 0, swap_dial_cb, done_arg);
}

static void op_disconnect(void *arg, void *conn, tp_worker_disconnect_reason reason) {
    tp_node *n = arg;
    (void)reason;
    tp_connect_disconnect(&n->handler, conn);
}

/* size 2 | tag Bootstrap (spec §4.2) */
static const uint8_t bootstrap_frame[6] = {0, 0, 0, 2, 0, 2};

static bool op_send_bootstrap(void *arg, void *conn) {
    (void)arg;
    return tp_conn_write_frame(conn, bootstrap_frame, sizeof bootstrap_frame, true) == TP_OK;
}

static void op_discovery_wakeup(void *arg) {
    tp_node *n = arg;
    if (n->disco_started) tp_discovery_wakeup(&n->disco);
}

static bool op_send_swap_request_any(void *arg) {
    tp_node *n = arg;
    return tp_swap_send_request(&n->swap);
}

static bool send_swap_msg(void *conn, uint16_t tag, const tp_point *pt, const tp_peer_id *peer) {
    tp_p2p_msg m;
    memset(&m, 0, sizeof m);
    m.tag = tag;
    m.points_count = 1;
    m.points[0] = *pt;
    m.peer_id = *peer;
    uint8_t frame[128];
    size_t len;
    if (tp_p2p_msg_encode(&m, frame, sizeof frame, &len) != TP_OK) return false;
    return tp_conn_write_frame(conn, frame, len, true) == TP_OK;
}

static bool op_send_swap_request(void *arg, void *conn, const tp_point *pt,
                                 const tp_peer_id *peer) {
    (void)arg;
    return send_swap_msg(conn, TP_MSG_SWAP_REQUEST, pt, peer);
}

static bool op_send_swap_ack(void *arg, void *conn, const tp_point *pt, const tp_peer_id *peer) {
    (void)arg;
    return send_swap_msg(conn, TP_MSG_SWAP_ACK, pt, peer);
}

/* pool hooks: a new point or peer ends the maintenance's wait for contacts */
static void p_new_point(void *arg, tp_point_info *p) {
    tp_node *n = arg;
    (void)p;
    if (n->maint_on && n->active && !n->shutting_down) tp_maintenance_on_new_point(&n->maint);
}
static void p_new_peer(void *arg, tp_peer_info *p) {
    tp_node *n = arg;
    (void)p;
    if (n->maint_on && n->active && !n->shutting_down) tp_maintenance_on_new_peer(&n->maint);
}

/* ---- hooks from the connect handler -------------------------------------------------- */

static void h_new_connection(void *arg, tp_conn *c) {
    tp_node *n = arg;
    if (n->cfg.hooks.on_new_connection) n->cfg.hooks.on_new_connection(n->cfg.hooks.arg, n, c);
}
static void h_disconnection(void *arg, tp_conn *c) {
    tp_node *n = arg;
    tp_swap_on_disconnection(&n->swap, &c->sock.remote.peer_id);
    if (n->cfg.hooks.on_disconnection) n->cfg.hooks.on_disconnection(n->cfg.hooks.arg, n, c);
}
static void h_too_few(void *arg) {
    tp_node *n = arg;
    if (n->maint_on && n->active && !n->shutting_down) tp_maintenance_trigger_too_few(&n->maint);
    if (n->cfg.hooks.too_few_connections) n->cfg.hooks.too_few_connections(n->cfg.hooks.arg, n);
}
static void h_too_many(void *arg) {
    tp_node *n = arg;
    if (n->maint_on && n->active && !n->shutting_down) tp_maintenance_trigger_too_many(&n->maint);
    if (n->cfg.hooks.too_many_connections)
        n->cfg.hooks.too_many_connections(n->cfg.hooks.arg, n);
}
static void h_swap_request(void *arg, tp_conn *c, const tp_point *p, const tp_peer_id *peer) {
    tp_node *n = arg;
    /* spec §5.6: the disabled / private / linger / point-state checks are the swap's */
    if (!n->shutting_down) (void)tp_swap_on_request(&n->swap, c, &c->sock.remote.peer_id, p, peer);
    if (n->cfg.hooks.on_swap_request) n->cfg.hooks.on_swap_request(n->cfg.hooks.arg, n, c, p, peer);
}
static void h_swap_ack(void *arg, tp_conn *c, const tp_point *p, const tp_peer_id *peer) {
    tp_node *n = arg;
    if (!n->shutting_down) (void)tp_swap_on_ack(&n->swap, c, &c->sock.remote.peer_id, p, peer);
    if (n->cfg.hooks.on_swap_ack) n->cfg.hooks.on_swap_ack(n->cfg.hooks.arg, n, c, p, peer);
}
static void h_app_message(void *arg, tp_conn *c) {
    tp_node *n = arg;
    if (n->cfg.hooks.on_app_message == NULL) {
        if (n->cfg.hooks.on_app_readable) n->cfg.hooks.on_app_readable(n->cfg.hooks.arg, n, c);
        return;
    }
    uint16_t tag;
    const uint8_t *payload;
    size_t len;
    while (!c->closing && tp_conn_app_peek(c, &tag, &payload, &len)) {
        n->cfg.hooks.on_app_message(n->cfg.hooks.arg, n, c, tag, payload, len);
        tp_conn_app_drop(c);
    }
}
static void h_writable(void *arg, tp_conn *c) {
    tp_node *n = arg;
    if (n->cfg.hooks.on_writable) n->cfg.hooks.on_writable(n->cfg.hooks.arg, n, c);
}
static void shutdown_fire(void *arg) {
    tp_node *n = arg;
    if (n->shutdown_done || n->handler.conn_count > 0) return;
    n->shutdown_done = true;
    /* spec §5.7: every connection is closed, the last stamps are in: save (never over
     * a file the load could not read) */
    if (n->pf_on && n->peers_may_save) n->peers_save_result = tp_peers_file_save(&n->pf);
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TP_EVENT_NODE_STOPPED;
    tp_env_event(n->env, &ev);
    if (n->shutdown_cb) n->shutdown_cb(n->shutdown_arg, n);
}
static void h_all_closed(void *arg) {
    tp_node *n = arg;
    tp_env_timer_start_in(n->env, &n->shutdown_timer, 0);
}

/* ---- create / destroy ---------------------------------------------------------------- */

static uint16_t max_u16(const uint16_t *v, size_t n) {
    uint16_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > m) m = v[i];
    return m;
}

tp_err tp_node_create(const tp_env *env, const tp_node_config *cfg, tp_node **out) {
    char why[256];
    if (tp_node_config_check(cfg, why, sizeof why) != NULL) return TP_ERR_INVAL;
    tp_node *n = tp_env_alloc(env, sizeof *n);
    if (n == NULL) return TP_ERR_NOMEM;
    memset(n, 0, sizeof *n);
    n->env = env;
    n->cfg = *cfg;
    size_t cn = strlen(cfg->chain_name);
    memcpy(n->chain_name, cfg->chain_name, cn);
    n->cfg.chain_name = NULL; /* use n->chain_name */
    n->registry.defs = n->cfg.app_msgs;
    n->registry.count = n->cfg.app_msgs_count;

    /* Largest frame we accept: Advertise (100 points), or the largest app message. */
    size_t frame_max = 6 + TP_ADVERTISE_POINTS_MAX * 51;
    for (size_t i = 0; i < n->cfg.app_msgs_count; i++)
        if ((size_t)n->cfg.app_msgs[i].max_len + 6 > frame_max)
            frame_max = (size_t)n->cfg.app_msgs[i].max_len + 6;
    if (frame_max > TP_MESSAGE_SIZE_MAX) frame_max = TP_MESSAGE_SIZE_MAX;

    tp_connect_config *cc = &n->ccfg;
    cc->socket.identity = &n->cfg.identity;
    cc->socket.pow_target = &n->cfg.pow_target;
    cc->socket.port = cfg->advertised_port != 0 ? cfg->advertised_port : cfg->listen.port;
    cc->socket.chain_name = (const uint8_t *)n->chain_name;
    cc->socket.chain_name_len = cn;
    cc->socket.distributed_db_version = max_u16(cfg->ddb_versions, cfg->ddb_versions_count);
    cc->socket.p2p_version = max_u16(cfg->p2p_versions, cfg->p2p_versions_count);
    cc->socket.metadata.disable_mempool = cfg->disable_mempool;
    cc->socket.metadata.private_node = cfg->private_mode;
    cc->socket.binary_chunks_size = cfg->binary_chunks_size;
    cc->socket.message_size_max = frame_max;
    cc->conn.outgoing_queue_bytes = cfg->outgoing_message_queue_size;
    cc->conn.incoming_queue_bytes = cfg->incoming_message_queue_size;
    cc->conn.app_queue_messages = cfg->incoming_app_message_queue_size;
    cc->conn.bootstrap_cooldown_ns = cfg->bootstrap_cooldown_ns;
    cc->conn.swap_cooldown_ns = cfg->swap_cooldown_ns;
    cc->conn.registry = &n->registry;
    memcpy(cc->ddb_versions, cfg->ddb_versions, sizeof cc->ddb_versions);
    cc->ddb_versions_count = cfg->ddb_versions_count;
    memcpy(cc->p2p_versions, cfg->p2p_versions, sizeof cc->p2p_versions);
    cc->p2p_versions_count = cfg->p2p_versions_count;
    cc->private_mode = cfg->private_mode;
    cc->disable_peer_discovery = cfg->disable_peer_discovery;
    cc->min_connections = cfg->min_connections;
    cc->max_connections = cfg->max_connections;
    cc->max_incoming_connections = cfg->max_incoming_connections;
    cc->max_pending_incoming_per_ip = cfg->max_pending_incoming_per_ip;
    cc->greylist_ip_after_timeouts = cfg->greylist_ip_after_timeouts;
    /* spec §2.7 step 6 (v24+): the maintenance's max_threshold when it runs. */
    if (cfg->maintenance_idle_time_ns > 0) {
        uint32_t step_max = (cfg->max_connections - cfg->expected_connections) / 3;
        cc->connections_threshold = cfg->max_connections - step_max;
    } else {
        cc->connections_threshold = cfg->max_connections;
    }
    cc->connection_timeout_ns = cfg->connection_timeout_ns;
    cc->authentication_timeout_ns = cfg->authentication_timeout_ns;
    cc->reset_refused_points = cfg->reset_refused_points;
    cc->conn.sched = &n->sched;

    /* spec §8: the I/O scheduler every connection registers with */
    tp_sched_config sch;
    tp_sched_config_default(&sch);
    sch.max_download_bps = cfg->max_download_speed_bps;
    sch.max_upload_bps = cfg->max_upload_speed_bps;
    sch.read_buffer_size = cfg->read_buffer_size;
    sch.cap_slices = cfg->bandwidth_cap_slices;
    tp_sched_init(&n->sched, env, &sch);

    tp_pool_hooks pool_hooks = {p_new_point, p_new_peer, n};
    tp_pool_init(&n->pool, env, &cfg->pool, &pool_hooks);
    tp_acl_init(&n->acl, env, &cfg->acl);
    tp_connect_hooks hooks = {h_new_connection, h_disconnection, h_too_few, h_too_many,
                              h_swap_request,   h_swap_ack,      h_app_message, h_writable,
                              h_all_closed,     n};
    tp_connect_init(&n->handler, env, &n->ccfg, &n->pool, &n->acl, &hooks);
    tp_timer_init(&n->shutdown_timer, shutdown_fire, n);

    /* spec §5.6: the swap (tp_swap_enabled says whether it takes part) */
    tp_swap_config sc;
    tp_swap_config_default(&sc);
    sc.swap_linger_ns = cfg->swap_linger_ns;
    sc.private_mode = cfg->private_mode;
    tp_swap_ops sops = {op_connections,  op_send_swap_request, op_send_swap_ack,
                        op_swap_connect, op_disconnect,        n};
    tp_swap_init(&n->swap, env, &n->pool, &sc, &sops);

    /* spec §6.2: no worker at all when the maintenance is disabled */
    n->maint_on = cfg->maintenance_idle_time_ns > 0;
    if (n->maint_on) {
        tp_maintenance_config mc;
        tp_maintenance_config_default(&mc);
        mc.min_connections = cfg->min_connections;
        mc.expected_connections = cfg->expected_connections;
        mc.max_connections = cfg->max_connections;
        mc.idle_time_ns = cfg->maintenance_idle_time_ns;
        mc.private_mode = cfg->private_mode;
        mc.wait_jitter_pm = cfg->maintenance_wait_jitter_pm;
        tp_maintenance_ops mops = {op_active,         op_connections,      op_maint_connect,
                                   op_disconnect,     op_send_bootstrap,   op_discovery_wakeup,
                                   op_send_swap_request_any, n};
        tp_maintenance_init(&n->maint, env, &n->pool, &n->acl, &mc, &mops);
    }

    /* spec §9: discovery when configured, listening and maintained */
    if (cfg->discovery_enabled && cfg->listen.port != 0 && n->maint_on) {
        tp_discovery_config dc;
        tp_discovery_config_default(&dc);
        dc.discovery_point = cfg->discovery_point;
        dc.listening_port = cc->socket.port;
        dc.peer_id = cfg->identity.peer_id;
        dc.trust_discovered_peers = cfg->trust_discovered_peers;
        tp_err e = tp_discovery_init(&n->disco, env, &n->pool, &dc);
        TP_ASSERT(e == TP_OK); /* the port was checked by tp_node_config_check */
        n->disco_on = true;
    }

    /* spec §5.7: the peers file */
    n->peers_load_result = TP_ERR_STATE;
    n->peers_save_result = TP_ERR_STATE;
    const char *pfn = cfg->peers_file;
    if (pfn != NULL && pfn[0] != '\0' && strcmp(pfn, "/dev/null") != 0) {
        memcpy(n->peers_file_name, pfn, strlen(pfn) + 1);
        tp_peers_file_config pfc;
        tp_peers_file_config_default(&pfc);
        pfc.name = n->peers_file_name;
        pfc.save_interval_ns = cfg->peers_save_interval_ns;
        tp_peers_file_init(&n->pf, env, &n->pool, &pfc);
        n->pf_on = true;
    }
    n->cfg.peers_file = NULL; /* use n->peers_file_name */
    *out = n;
    return TP_OK;
}

static void node_free(tp_node *n) {
    tp_swap_deinit(&n->swap);
    tp_pool_deinit(&n->pool);
    tp_acl_deinit(&n->acl);
    tp_env_free(n->env, n->scratch, n->scratch_cap);
    tp_identity_wipe(&n->cfg.identity);
    tp_env_free(n->env, n, sizeof *n);
}

void tp_node_destroy(tp_node *n) {
    TP_ASSERT(n->handler.conn_count == 0 && n->listener == NULL);
    tp_env_timer_stop(n->env, &n->shutdown_timer);
    if (n->maint_on) tp_maintenance_deinit(&n->maint);
    if (n->disco_on) tp_discovery_stop(&n->disco);
    if (n->pf_on) tp_peers_file_deinit(&n->pf);
    tp_sched_deinit(&n->sched);
    node_free(n);
}

void tp_node_crash_drop(tp_node *n) {
    /* no env call but tp_env_free: the connections forget the scheduler first */
    for (tp_conn *c = n->handler.head; c != NULL; c = c->next) c->sc.sched = NULL;
    tp_sched_crash_drop(&n->sched);
    tp_connect_drop(&n->handler);
    if (n->maint_on) tp_maintenance_crash_drop(&n->maint);
    if (n->disco_on) tp_discovery_crash_drop(&n->disco);
    if (n->pf_on) tp_peers_file_crash_drop(&n->pf);
    node_free(n);
}

static void on_accept(void *arg, tp_listener *l, tp_stream *s, const tp_point *remote) {
    tp_node *n = arg;
    (void)l;
    tp_connect_accept(&n->handler, s, remote);
}

tp_err tp_node_activate(tp_node *n) {
    TP_ASSERT(!n->active && !n->shutting_down);
    for (size_t i = 0; i < n->cfg.trusted_points_count; i++) {
        const tp_node_trusted_point *t = &n->cfg.trusted_points[i];
        tp_point_info *p;
        TP_TRY(tp_pool_register_point(&n->pool, &t->point, 1,
                                      t->has_expected_peer_id ? &t->expected_peer_id : NULL, &p));
    }
    /* spec §5.7: the peers file after the trusted points. A corrupt file is kept aside
     * and reported (STORAGE_ERROR): the node goes on with what it has. */
    if (n->pf_on && n->peers_load_result == TP_ERR_STATE) {
        n->peers_load_result = tp_peers_file_load(&n->pf, &n->peers_loaded);
        n->peers_may_save =
            n->peers_load_result == TP_OK || n->peers_load_result == TP_ERR_CORRUPT;
    } else if (!n->pf_on) {
        n->peers_load_result = TP_OK;
    }
    if (n->cfg.listen.port != 0 && n->listener == NULL)
        TP_TRY(tp_env_listen(n->env, &n->cfg.listen, (int)n->cfg.listen_backlog, on_accept, n, &n->listener));
    if (n->disco_on && !n->disco_started) {
        tp_err e = tp_discovery_start(&n->disco);
        if (e != TP_OK) {
            if (n->listener != NULL) tp_env_listener_close(n->env, n->listener);
            n->listener = NULL;
            return e;
        }
        n->disco_started = true;
    }
    /* never over a file we could not read */
    if (n->pf_on && n->peers_may_save) tp_peers_file_start(&n->pf);
    n->active = true;
    if (n->maint_on) tp_maintenance_activate(&n->maint);
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TP_EVENT_NODE_STARTED;
    ev.flags = TP_EVENT_HAS_PEER | TP_EVENT_HAS_POINT;
    memcpy(ev.peer_id, n->cfg.identity.peer_id.bytes, TP_PEER_ID_SIZE);
    ev.point = n->cfg.listen;
    tp_env_event(n->env, &ev);
    return TP_OK;
}

void tp_node_shutdown(tp_node *n, void (*cb)(void *arg, tp_node *n), void *arg) {
    TP_ASSERT(!n->shutting_down);
    n->shutting_down = true;
    n->shutdown_cb = cb;
    n->shutdown_arg = arg;
    /* the workers first: the closing connections' triggers find them stopped */
    if (n->maint_on) tp_maintenance_stop(&n->maint);
    if (n->disco_on) {
        tp_discovery_stop(&n->disco);
        n->disco_started = false;
    }
    if (n->pf_on) tp_peers_file_stop(&n->pf);
    if (n->listener != NULL) {
        tp_env_listener_close(n->env, n->listener);
        n->listener = NULL;
    }
    tp_connect_shutdown(&n->handler);
    if (n->handler.conn_count == 0) tp_env_timer_start_in(n->env, &n->shutdown_timer, 0);
}

/* ---- maintain ------------------------------------------------------------------------ */

static void maintain_done(void *arg) {
    struct tp_node_maintain_slot *slot = arg;
    slot->used = false;
    if (slot->cb != NULL) slot->cb(slot->arg, slot->node);
}

tp_err tp_node_maintain(tp_node *n, tp_node_maintain_cb cb, void *arg) {
    if (!n->maint_on || !n->active || n->shutting_down) return TP_ERR_STATE;
    struct tp_node_maintain_slot *slot = NULL;
    for (size_t i = 0; i < TP_MAINTENANCE_WAITERS_MAX; i++)
        if (!n->maintain_slots[i].used) {
            slot = &n->maintain_slots[i];
            break;
        }
    if (slot == NULL) return TP_ERR_LIMIT;
    TP_TRY(tp_maintenance_maintain(&n->maint, maintain_done, slot));
    slot->node = n;
    slot->cb = cb;
    slot->arg = arg;
    slot->used = true;
    return TP_OK;
}

/* ---- connect ------------------------------------------------------------------------- */

static void connect_done(void *arg, tp_err err, tp_conn *c) {
    tp_node *n = arg;
    tp_node_connect_cb cb = (tp_node_connect_cb)c->node_connect_cb;
    if (cb != NULL) cb(c->node_connect_arg, n, err, c);
}

tp_err tp_node_connect(tp_node *n, const tp_point *point, int64_t timeout_ns,
                       tp_node_connect_cb cb, void *arg) {
    if (n->shutting_down) return TP_ERR_STATE;
    tp_conn *c = NULL;
    TP_TRY(tp_connect_connect(&n->handler, point, -1, NULL, timeout_ns, connect_done, n, &c));
    c->node_connect_cb = (void (*)(void))cb;
    c->node_connect_arg = arg;
    return TP_OK;
}

/* ---- messages ------------------------------------------------------------------------ */

/* The frame scratch buffer: kept at this size between sends, released after a bigger
 * frame (a block) so that 100,000 idle nodes do not each hold one. */
#define SCRATCH_KEEP 256

static void scratch_trim(tp_node *n) {
    if (n->scratch_cap <= SCRATCH_KEEP) return;
    tp_env_free(n->env, n->scratch, n->scratch_cap);
    n->scratch = NULL;
    n->scratch_cap = 0;
}

static tp_err encode_app(tp_node *n, uint16_t tag, const uint8_t *payload, size_t len,
                         size_t *frame_len) {
    const tp_app_msg_def *def = tp_app_registry_find(&n->registry, tag);
    if (def == NULL || len > def->max_len) return TP_ERR_INVAL;
    size_t need = 6 + len;
    if (n->scratch_cap < need) {
        size_t cap = need < SCRATCH_KEEP ? SCRATCH_KEEP : need;
        uint8_t *p = tp_env_realloc(n->env, n->scratch, n->scratch_cap, cap);
        if (p == NULL) return TP_ERR_NOMEM;
        n->scratch = p;
        n->scratch_cap = cap;
    }
    tp_be32_store(n->scratch, (uint32_t)(len + 2));
    tp_be16_store(n->scratch + 4, tag);
    if (len > 0) memcpy(n->scratch + 6, payload, len);
    *frame_len = need;
    return TP_OK;
}

tp_err tp_node_send(tp_node *n, tp_conn *c, uint16_t tag, const uint8_t *payload, size_t len,
                    bool now) {
    if (!tp_conn_is_running(c)) return c->closing ? TP_ERR_CLOSED : TP_ERR_STATE;
    size_t flen;
    TP_TRY(encode_app(n, tag, payload, len, &flen));
    tp_err e = tp_conn_write_frame(c, n->scratch, flen, now);
    scratch_trim(n);
    return e;
}

tp_conn *tp_node_conn_of_peer(tp_node *n, const tp_peer_id *peer) {
    tp_peer_info *pi = tp_pool_peer(&n->pool, peer);
    if (pi == NULL || pi->state != TP_PEER_RUNNING) return NULL;
    return pi->conn;
}

tp_err tp_node_send_to_peer(tp_node *n, const tp_peer_id *peer, uint16_t tag,
                            const uint8_t *payload, size_t len, bool now) {
    tp_conn *c = tp_node_conn_of_peer(n, peer);
    if (c == NULL) return TP_ERR_NOT_FOUND;
    return tp_node_send(n, c, tag, payload, len, now);
}

uint32_t tp_node_broadcast(tp_node *n, uint16_t tag, const uint8_t *payload, size_t len) {
    size_t flen;
    if (encode_app(n, tag, payload, len, &flen) != TP_OK) return 0;
    uint32_t sent = 0;
    for (tp_conn *c = n->handler.head; c != NULL; c = c->next)
        if (tp_conn_is_running(c) && tp_conn_write_frame(c, n->scratch, flen, true) == TP_OK)
            sent++;
    scratch_trim(n);
    return sent;
}

uint32_t tp_node_broadcast_bootstrap(tp_node *n) {
    return tp_connect_broadcast_bootstrap(&n->handler);
}

bool tp_node_recv(tp_node *n, tp_conn **from, uint16_t *tag, uint8_t *buf, size_t cap,
                  size_t *len) {
    for (tp_conn *c = n->handler.head; c != NULL; c = c->next) {
        const uint8_t *payload;
        size_t plen;
        uint16_t t;
        if (c->closing || !tp_conn_app_peek(c, &t, &payload, &plen)) continue;
        *len = plen;
        if (plen > cap) return false;
        if (plen > 0) memcpy(buf, payload, plen);
        *tag = t;
        *from = c;
        tp_conn_app_drop(c);
        return true;
    }
    return false;
}

/* ---- ACL ----------------------------------------------------------------------------- */

static void acl_event(tp_node *n, tp_event_kind kind, const tp_peer_id *peer, const tp_ip *ip) {
    tp_point point = {{{0}}, 0};
    if (ip != NULL) point.ip = *ip;
    tp_env_emit(n->env, kind, peer ? peer->bytes : NULL, ip ? &point : NULL, 0, NULL);
}

tp_err tp_node_ban_addr(tp_node *n, const tp_ip *ip) {
    TP_TRY(tp_acl_ban_ip(&n->acl, ip));
    acl_event(n, TP_EVENT_BAN, NULL, ip);
    /* spec §5.4: every running connection from that IP: ban its peer and kick it.
     * Nothing is untrusted: Octez's Points.ban (p2p_pool.ml) only blacklists and
     * kicks; its RPC untrusts the one point it was given first (p2p_directory.ml). */
    for (tp_conn *c = n->handler.head; c != NULL; c = c->next) {
        if (!tp_conn_is_running(c) || !tp_ip_eq(&c->remote_addr.ip, ip)) continue;
        tp_err e = tp_acl_ban_peer(&n->acl, c->sock.remote.peer_id.bytes);
        (void)e; /* a full blacklist still kicks */
        acl_event(n, TP_EVENT_BAN, &c->sock.remote.peer_id, NULL);
        tp_connect_disconnect(&n->handler, c);
    }
    return TP_OK;
}

void tp_node_unban_addr(tp_node *n, const tp_ip *ip) {
    tp_acl_unban_ip(&n->acl, ip);
    acl_event(n, TP_EVENT_UNBAN, NULL, ip);
}

tp_err tp_node_trust_point(tp_node *n, const tp_point *point) {
    tp_acl_unban_ip(&n->acl, &point->ip);
    tp_point_info *p;
    return tp_pool_register_point(&n->pool, point, 1, NULL, &p);
}

void tp_node_untrust_point(tp_node *n, const tp_point *point) {
    tp_point_info *p = tp_pool_point(&n->pool, point);
    if (p != NULL) p->trusted = false;
}

bool tp_node_kick(tp_node *n, const tp_peer_id *peer) {
    tp_conn *c = tp_node_conn_of_peer(n, peer);
    if (c == NULL) return false;
    tp_connect_disconnect(&n->handler, c);
    return true;
}

tp_err tp_node_ban_peer(tp_node *n, const tp_peer_id *peer) {
    TP_TRY(tp_acl_ban_peer(&n->acl, peer->bytes));
    tp_peer_info *pi = tp_pool_peer(&n->pool, peer);
    if (pi != NULL) pi->trusted = false;
    acl_event(n, TP_EVENT_BAN, peer, NULL);
    (void)tp_node_kick(n, peer);
    return TP_OK;
}

void tp_node_unban_peer(tp_node *n, const tp_peer_id *peer) {
    tp_acl_unban_peer(&n->acl, peer->bytes);
    acl_event(n, TP_EVENT_UNBAN, peer, NULL);
}

tp_err tp_node_trust_peer(tp_node *n, const tp_peer_id *peer) {
    tp_acl_unban_peer(&n->acl, peer->bytes);
    tp_peer_info *pi;
    TP_TRY(tp_pool_register_peer(&n->pool, peer, &pi));
    pi->trusted = true;
    return TP_OK;
}

void tp_node_untrust_peer(tp_node *n, const tp_peer_id *peer) {
    tp_peer_info *pi = tp_pool_peer(&n->pool, peer);
    if (pi != NULL) pi->trusted = false;
}

bool tp_node_greylist_peer(tp_node *n, const tp_peer_id *peer) {
    return tp_connect_greylist_peer(&n->handler, peer);
}

void tp_node_acl_clear(tp_node *n) {
    tp_acl_clear(&n->acl);
}

/* ---- accessors ----------------------------------------------------------------------- */

uint32_t tp_node_active_connections(const tp_node *n) {
    return n->handler.active;
}
const tp_peer_id *tp_node_peer_id(const tp_node *n) {
    return &n->cfg.identity.peer_id;
}
tp_pool *tp_node_pool(tp_node *n) {
    return &n->pool;
}
tp_acl *tp_node_acl(tp_node *n) {
    return &n->acl;
}
tp_connect *tp_node_connect_handler(tp_node *n) {
    return &n->handler;
}
const tp_node_config *tp_node_config_of(const tp_node *n) {
    return &n->cfg;
}
tp_stat tp_node_stat(const tp_node *n) {
    return tp_sched_global_stat(&n->sched);
}
tp_stat tp_node_conn_stat(const tp_conn *c) {
    return tp_sched_conn_stat(&c->sc);
}
tp_maintenance *tp_node_maintenance(tp_node *n) {
    return n->maint_on ? &n->maint : NULL;
}
tp_swap *tp_node_swap(tp_node *n) {
    return &n->swap;
}
tp_discovery *tp_node_discovery(tp_node *n) {
    return n->disco_on ? &n->disco : NULL;
}
tp_peers_file *tp_node_peers_file(tp_node *n) {
    return n->pf_on ? &n->pf : NULL;
}
tp_sched *tp_node_sched(tp_node *n) {
    return &n->sched;
}
tp_err tp_node_peers_loaded(const tp_node *n, size_t *count) {
    if (count != NULL) *count = n->peers_loaded;
    return n->peers_load_result;
}
tp_err tp_node_peers_saved(const tp_node *n) {
    return n->peers_save_result;
}
size_t tp_node_connections_memory(const tp_node *n) {
    size_t total = 0;
    for (const tp_conn *c = n->handler.head; c != NULL; c = c->next)
        total += sizeof *c + tp_conn_memory(c);
    return total;
}
