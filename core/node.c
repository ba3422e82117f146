/* core/node.c — the public face of the P2P layer (first version). See node.h.
 * Octez: P2p. */
#include "node.h"

#include <stdio.h>
#include <string.h>

#include "encoding.h"

#define LISTEN_BACKLOG 20 /* spec §2.1 */

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
    cfg->maintenance_idle_time_ns = 120LL * 1000000000LL;
    cfg->connection_timeout_ns = 10LL * 1000000000LL;
    cfg->authentication_timeout_ns = 5LL * 1000000000LL;
    cfg->incoming_message_queue_size = 8u << 20;
    cfg->outgoing_message_queue_size = 8u << 20;
    cfg->incoming_app_message_queue_size = 10;
    cfg->binary_chunks_size = 0;
    cfg->bootstrap_cooldown_ns = 100LL * 1000000LL;
    cfg->swap_cooldown_ns = 60LL * 1000000000LL;
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

/* ---- hooks from the connect handler -------------------------------------------------- */

static void h_new_connection(void *arg, tp_conn *c) {
    tp_node *n = arg;
    if (n->cfg.hooks.on_new_connection) n->cfg.hooks.on_new_connection(n->cfg.hooks.arg, n, c);
}
static void h_disconnection(void *arg, tp_conn *c) {
    tp_node *n = arg;
    if (n->cfg.hooks.on_disconnection) n->cfg.hooks.on_disconnection(n->cfg.hooks.arg, n, c);
}
static void h_too_few(void *arg) {
    tp_node *n = arg;
    if (n->cfg.hooks.too_few_connections) n->cfg.hooks.too_few_connections(n->cfg.hooks.arg, n);
}
static void h_too_many(void *arg) {
    tp_node *n = arg;
    if (n->cfg.hooks.too_many_connections)
        n->cfg.hooks.too_many_connections(n->cfg.hooks.arg, n);
}
static void h_swap_request(void *arg, tp_conn *c, const tp_point *p, const tp_peer_id *peer) {
    tp_node *n = arg;
    if (n->cfg.hooks.on_swap_request) n->cfg.hooks.on_swap_request(n->cfg.hooks.arg, n, c, p, peer);
}
static void h_swap_ack(void *arg, tp_conn *c, const tp_point *p, const tp_peer_id *peer) {
    tp_node *n = arg;
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
    /* spec §2.7 step 6 (v24+): the maintenance's max_threshold when it runs. */
    if (cfg->maintenance_idle_time_ns > 0) {
        uint32_t step_max = (cfg->max_connections - cfg->expected_connections) / 3;
        cc->connections_threshold = cfg->max_connections - step_max;
    } else {
        cc->connections_threshold = cfg->max_connections;
    }
    cc->connection_timeout_ns = cfg->connection_timeout_ns;
    cc->authentication_timeout_ns = cfg->authentication_timeout_ns;

    tp_pool_init(&n->pool, env, &cfg->pool, NULL);
    tp_acl_init(&n->acl, env, &cfg->acl);
    tp_connect_hooks hooks = {h_new_connection, h_disconnection, h_too_few, h_too_many,
                              h_swap_request,   h_swap_ack,      h_app_message, h_writable,
                              h_all_closed,     n};
    tp_connect_init(&n->handler, env, &n->ccfg, &n->pool, &n->acl, &hooks);
    tp_timer_init(&n->shutdown_timer, shutdown_fire, n);
    *out = n;
    return TP_OK;
}

static void node_free(tp_node *n) {
    tp_pool_deinit(&n->pool);
    tp_acl_deinit(&n->acl);
    tp_env_free(n->env, n->scratch, n->scratch_cap);
    tp_identity_wipe(&n->cfg.identity);
    tp_env_free(n->env, n, sizeof *n);
}

void tp_node_destroy(tp_node *n) {
    TP_ASSERT(n->handler.conn_count == 0 && n->listener == NULL);
    tp_env_timer_stop(n->env, &n->shutdown_timer);
    node_free(n);
}

void tp_node_crash_drop(tp_node *n) {
    tp_connect_drop(&n->handler);
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
    if (n->cfg.listen.port != 0)
        TP_TRY(tp_env_listen(n->env, &n->cfg.listen, LISTEN_BACKLOG, on_accept, n, &n->listener));
    n->active = true;
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
    if (n->listener != NULL) {
        tp_env_listener_close(n->env, n->listener);
        n->listener = NULL;
    }
    tp_connect_shutdown(&n->handler);
    if (n->handler.conn_count == 0) tp_env_timer_start_in(n->env, &n->shutdown_timer, 0);
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

static tp_err encode_app(tp_node *n, uint16_t tag, const uint8_t *payload, size_t len,
                         size_t *frame_len) {
    const tp_app_msg_def *def = tp_app_registry_find(&n->registry, tag);
    if (def == NULL || len > def->max_len) return TP_ERR_INVAL;
    size_t need = 6 + len;
    if (n->scratch_cap < need) {
        size_t cap = need < 4096 ? 4096 : need;
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
    return tp_conn_write_frame(c, n->scratch, flen, now);
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
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    if (peer) {
        ev.flags |= TP_EVENT_HAS_PEER;
        memcpy(ev.peer_id, peer->bytes, TP_PEER_ID_SIZE);
    }
    if (ip) {
        ev.flags |= TP_EVENT_HAS_POINT;
        ev.point.ip = *ip;
    }
    tp_env_event(n->env, &ev);
}

tp_err tp_node_ban_addr(tp_node *n, const tp_ip *ip) {
    TP_TRY(tp_acl_ban_ip(&n->acl, ip));
    acl_event(n, TP_EVENT_BAN, NULL, ip);
    uint32_t it = 0;
    tp_point_info *p;
    while ((p = tp_pool_next_point(&n->pool, &it)) != NULL)
        if (tp_ip_eq(&p->point.ip, ip)) p->trusted = false;
    /* spec §5.4: every running connection from that IP: ban its peer and kick it. */
    for (tp_conn *c = n->handler.head; c != NULL; c = c->next) {
        if (!tp_conn_is_running(c) || !tp_ip_eq(&c->remote_addr.ip, ip)) continue;
        tp_err e = tp_acl_ban_peer(&n->acl, c->sock.remote.peer_id.bytes);
        (void)e; /* a full blacklist still kicks */
        if (c->peer != NULL) c->peer->trusted = false;
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
size_t tp_node_connections_memory(const tp_node *n) {
    size_t total = 0;
    for (const tp_conn *c = n->handler.head; c != NULL; c = c->next)
        total += sizeof *c + tp_conn_memory(c);
    return total;
}
