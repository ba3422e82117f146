/* lua/tidepool.c — tidepool nodes (core/node.h) on simulated hosts, from Lua.
 *
 * sim.node(host, {config}) / sim.nodes(hosts, {config}) install a tp_node as the host's
 * sim app, with any field of tp_node_config (Octez defaults, spec §10) except that the
 * proof of work defaults to difficulty 0 in simulation (a 26-bit stamp costs seconds per
 * identity; set pow_difficulty to test it). Identities are deterministic: derived from
 * the run seed and the host index. Node operations (connect, ban/trust, send/broadcast,
 * kick), queries (connections, points, peers, stat) and the block workload (lua/chain.c:
 * Octez's Current_head / Get_block_headers / Get_operations_for_blocks flow) are
 * methods of the node userdata. Connections are logged from the node's hooks
 * (connections table); core's own events feed the events table through simnet.
 *
 * core/node.h runs the complete P2P layer itself (maintenance, swap, peers file, I/O
 * scheduler; discovery when configured): the config keys `maintenance`, `swap_linger`,
 * `peers_file` and `peers_save_interval` map onto its config fields, so nodes bootstrap
 * from their trusted points like Octez's, and a simulation runs the same node as
 * `tidepool node run`. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/point.h"
#include "lua/invariants.h"
#include "lua/tl_impl.h"

/* Application messages every simulated tidepool node registers: text, and the block
 * workload's (lua/chain.c; sizes from distributed_db_message.ml's bounds). */
enum { TL_TAG_TEXT = 0x10 };
#define TL_TEXT_MAX 65536u

static const tp_app_msg_def tl_app_msgs[] = {
    {TL_TAG_TEXT, TL_TEXT_MAX, "text"},
    {TL_TAG_GET_CURRENT_HEAD, 0, "get_current_head"},
    {TL_TAG_CURRENT_HEAD, TL_HEADER_BYTES_MAX, "current_head"},
    {TL_TAG_GET_BLOCK_HEADERS, 40, "get_block_headers"},
    {TL_TAG_BLOCK_HEADER, TL_HEADER_BYTES_MAX, "block_header"},
    {TL_TAG_GET_OPERATIONS_FOR_BLOCKS, 40, "get_operations_for_blocks"},
    {TL_TAG_OPERATIONS_FOR_BLOCKS, 4 + TL_OPS_BYTES_MAX, "operations_for_blocks"},
};

/* Per-connection record (tp_conn.user): when it opened. */
typedef struct tl_conn_rec {
    int64_t opened_ns;
} tl_conn_rec;

bool tl_tp_running(const tl_app *a) { return a->node != NULL; }

uint32_t tl_tp_degree(const tl_app *a) {
    return a->node ? tp_node_active_connections(a->node) : 0;
}

void tl_tp_neighbors(tl_app *a, void (*fn)(void *arg, int64_t peer_host), void *arg) {
    if (!a->node) return;
    for (tp_conn *c = tp_node_first_conn(a->node); c; c = c->next)
        if (tp_conn_is_running(c)) fn(arg, tl_host_of_point(a->run, &c->remote_addr));
}

/* ------------------------------------------------------------------------------------ */
/* Connection logging                                                                   */

/* A connections row for c at virtual time now (closed_ns < 0: still open at the end).
 * reason: a string with static storage (the row keeps the pointer). The peer id's
 * Base58 text is made when the row is written (world context: the run's cache). */
static void log_conn(tl_app *a, tp_conn *c, int64_t now, int64_t closed_ns, const char *reason) {
    tl_state *run = a->run;
    tl_conn_rec *rec = c->user;
    if (!rec) return;
    if (run->res && !(run->finishing && closed_ns >= 0)) {
        tl_row r = {.kind = TL_ROW_CONNECTION,
                    .u.conn = {.remote = c->remote_addr,
                               .peer_node = tl_host_of_point(run, &c->remote_addr),
                               .has_peer_id = true, .incoming = c->incoming,
                               .opened_ns = rec->opened_ns, .closed_ns = closed_ns,
                               .reason = reason}};
        memcpy(r.u.conn.peer_id, tp_node_conn_peer_id(c)->bytes, sizeof r.u.conn.peer_id);
        tl_row_put(a, now, &r);
    }
}

static void drop_conn_rec(tp_conn *c) {
    free(c->user);
    c->user = NULL;
}

static void h_new_connection(void *arg, tp_node *n, tp_conn *c) {
    tl_app *a = arg;
    tl_conn_rec *rec = calloc(1, sizeof *rec);
    TP_ASSERT(rec != NULL);
    rec->opened_ns = tp_env_now_ns(a->env);
    c->user = rec;
    tl_chain_on_connection(a, c);
}

static void h_disconnection(void *arg, tp_node *n, tp_conn *c) {
    tl_app *a = arg;
    int64_t now = tp_env_now_ns(a->env);
    log_conn(a, c, now, now, tl_close_reason(c->close_reason));
    drop_conn_rec(c);
}

/* End of run (world context). */
void tl_tp_finish(tl_app *a) {
    if (!a->node) return;
    int64_t now = sim_world_now_ns(a->run->w);
    for (tp_conn *c = tp_node_first_conn(a->node); c; c = c->next)
        if (c->user) log_conn(a, c, now, -1, NULL);
}

/* ------------------------------------------------------------------------------------ */
/* Application messages                                                                 */

static void h_app_message(void *arg, tp_node *n, tp_conn *c, uint16_t tag, const uint8_t *p,
                          size_t len) {
    tl_app *a = arg;
    a->app_bytes_in += len;
    if (tag == TL_TAG_TEXT) {
        a->text_in++;
        return;
    }
    if (!tl_chain_on_message(a, c, tag, p, len)) a->app_bad++;
}

/* ------------------------------------------------------------------------------------ */
/* The sim app                                                                          */

static void connect_cb(void *arg, tp_node *n, tp_err err, tp_conn *c) {
    (void)arg;
    (void)n;
    (void)err;
    (void)c;
}

/* The node's whole configuration: the shared part plus its own identity, address and
 * hooks' argument. */
static void node_config_of(tl_app *a, tp_node_config *out) {
    *out = a->ncfg->cfg;
    out->chain_name = a->ncfg->chain_name;
    out->identity = a->identity;
    out->listen.ip = sim_host_ip(sim_world_host(a->run->w, a->host));
    out->listen.port = a->listen_port;
    out->hooks.arg = a;
}

void tl_ncfg_release(tl_ncfg *c) {
    if (c != NULL && --c->refs == 0) free(c);
}

static void tp_app_start(void *app, sim_host *h, const tp_env *env) {
    tl_app *a = app;
    a->env = env;
    a->stopping = false;
    a->incarnation++;
    tp_node_config cfg;
    node_config_of(a, &cfg);
    tp_err e = tp_node_create(env, &cfg, &a->node);
    if (e == TP_OK) {
        e = tp_node_activate(a->node);
        if (e != TP_OK) {
            tp_node_destroy(a->node);
            a->node = NULL;
        }
    }
    if (e != TP_OK) {
        snprintf(a->start_error, sizeof a->start_error,
                 "tidepool node on host %u did not start: %s", a->host, tp_strerror(e));
        return;
    }
    tl_chain_on_start(a);
    for (size_t i = 0; i < a->dial_count; i++)
        if (tp_node_connect(a->node, &a->dial[i], 0, connect_cb, a) != TP_OK) a->dial_errors++;
}

static void shutdown_done(void *arg, tp_node *n) {
    (void)arg;
    (void)n;
}

static void tp_app_stop(void *app, sim_host *h, const tp_env *env) {
    tl_app *a = app;
    a->stopping = true;
    /* the node stops its workers and saves peers.json once its connections closed */
    if (a->node) tp_node_shutdown(a->node, shutdown_done, a);
}

static void tp_app_halt(void *app, sim_host *h, const tp_env *env) {
    tl_app *a = app;
    if (!a->node) return;
    int64_t now = tp_env_now_ns(env); /* the host's clock: in host context too */
    for (tp_conn *c = tp_node_first_conn(a->node); c; c = c->next) {
        if (!c->user) continue;
        log_conn(a, c, now, now, a->stopping ? "stopped" : "crash");
        drop_conn_rec(c);
    }
    tp_node_crash_drop(a->node);
    a->node = NULL;
    tl_chain_on_halt(a);
}

static const sim_app_ops tp_app_ops = {tp_app_start, tp_app_stop, tp_app_halt};

void tl_tp_free(tl_app *a) {
    tl_ncfg_release(a->ncfg);
    a->ncfg = NULL;
    free(a->dial);
    a->dial = NULL;
    tl_chain_free(a);
}

/* ------------------------------------------------------------------------------------ */
/* Config                                                                               */

static const char *const node_keys[] = {
    "port", "advertised_port", "chain_name", "private_mode", "disable_mempool",
    "disable_peer_discovery", "min_connections", "expected_connections", "max_connections",
    "max_incoming_connections", "max_pending_incoming_per_ip", "greylist_ip_after_timeouts", "maintenance_idle_time", "connection_timeout",
    "authentication_timeout", "incoming_message_queue_size", "outgoing_message_queue_size",
    "incoming_app_message_queue_size", "binary_chunks_size", "bootstrap_cooldown",
    "swap_cooldown", "trusted_points", "connect", "pow_difficulty", "identity_difficulty",
    "identity_fails_difficulty",
    "max_known_points", "target_known_points", "max_known_peer_ids", "target_known_peer_ids",
    "backoff_factor_pm", "backoff_initial", "backoff_disconnection", "backoff_cap",
    "event_ring_size", "ip_blacklist_max", "peer_blacklist_max", "ip_greylist_max",
    "greylist_timeout", "peer_greylist_size", "start", "maintenance", "swap_linger", "peers_file", "peers_save_interval",
    "max_download_speed", "max_upload_speed", "read_buffer_size", "discovery",
    "trust_discovered_peers", "maintenance_wait_jitter_pm", "bandwidth_cap_slices",
    "reset_refused_points", "validation_delay", "header_bytes", "ops_bytes", "request_log", NULL};

/* A point: "ip:port", or a host/node (its listening port if it is a tidepool node,
 * else default_port). */
bool tl_to_point(lua_State *L, int idx, uint16_t default_port, tp_point *out) {
    tl_state *run = tl_run_of(L);
    uint32_t hi = 0;
    if (tl_test_host(L, idx, &hi)) {
        out->ip = sim_host_ip(sim_world_host(run->w, hi));
        out->port = default_port;
        if (hi < run->apps_cap && run->apps[hi] && run->apps[hi]->kind == TL_APP_TIDEPOOL)
            out->port = run->apps[hi]->listen_port;
        return true;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return tp_point_parse_wire(s, len, out) == TP_OK;
    }
    return false;
}

static tp_point check_point(lua_State *L, int idx, const char *what) {
    tp_point p;
    if (!tl_to_point(L, idx, 9732, &p))
        luaL_error(L, "%s: expected a host, a node or 'ip:port', got %s", what,
                   lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : luaL_typename(L, idx));
    return p;
}

static void points_field(lua_State *L, int tidx, const char *key, tp_point *out, size_t max,
                         size_t *count, const char *what) {
    *count = 0;
    int t = tl_field(L, tidx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (t != LUA_TTABLE) tl_type_error(L, what, key, "a list of hosts, nodes or 'ip:port'");
    size_t n = lua_rawlen(L, -1);
    if (n > max) luaL_error(L, "%s: '%s' holds at most %d points (got %d)", what, key, (int)max, (int)n);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        if (!tl_to_point(L, -1, 9732, &out[i]))
            luaL_error(L, "%s: %s[%d] expected a host, a node or 'ip:port', got %s", what, key,
                       (int)i + 1, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    *count = n;
}

static double opt_number_field(lua_State *L, int tidx, const char *key, double dflt,
                               double lo, double hi, const char *what) {
    double v = dflt;
    if (tl_field(L, tidx, key) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TNUMBER) tl_type_error(L, what, key, "a number");
        v = lua_tonumber(L, -1);
        if (!(v >= lo && v <= hi))
            luaL_error(L, "%s: '%s' must be in [%f, %f]", what, key, lo, hi);
    }
    lua_pop(L, 1);
    return v;
}

/* A deterministic identity for (run seed, host), whose stamp meets difficulty. */
void tl_make_identity(tl_state *run, uint32_t host, double difficulty, tp_identity *id) {
    uint8_t seed[TP_SEED_SIZE];
    uint64_t x = run->cfg->seed * 0x9e3779b97f4a7c15ull + host + 1;
    for (size_t i = 0; i < sizeof seed; i++) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 29;
        seed[i] = (uint8_t)x;
    }
    tp_identity_init_from_seed(id, seed);
    tp_pow_target t;
    if (tp_pow_target_of_difficulty(difficulty, &t) != TP_OK) return;
    bool found = false;
    while (!found) (void)tp_pow_search(id->public_key, id->pow_stamp, &t, 1u << 20, &found);
}

/* Parses the config table into *n (a scratch owned by Lua, so that an error leaves
 * nothing behind) and a's own fields; node_config_share then makes it a shared one. */
static void node_config(lua_State *L, int tidx, tl_app *a, tl_ncfg *n, bool *start,
                        const char *what) {
    tl_state *run = tl_run_of(L);
    tl_check_keys(L, tidx, node_keys, what);
    tp_node_config *c = &n->cfg;
    tp_node_config_default(c);
    c->listen.ip = sim_host_ip(sim_world_host(run->w, a->host));
    c->listen.port = (uint16_t)tl_opt_int_field(L, tidx, "port", 9732, 0, 65535, what);
    c->advertised_port = (uint16_t)tl_opt_int_field(L, tidx, "advertised_port", 0, 0, 65535, what);
    if (tl_field(L, tidx, "chain_name") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING) tl_type_error(L, what, "chain_name", "a string");
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (len > TP_SOCKET_CHAIN_NAME_MAX)
            luaL_error(L, "%s: 'chain_name' is at most %d bytes", what, TP_SOCKET_CHAIN_NAME_MAX);
        memcpy(n->chain_name, s, len + 1);
    } else {
        snprintf(n->chain_name, sizeof n->chain_name, "%s", c->chain_name);
    }
    lua_pop(L, 1);
    c->chain_name = n->chain_name;
    c->private_mode = tl_opt_bool_field(L, tidx, "private_mode", c->private_mode, what);
    c->disable_mempool = tl_opt_bool_field(L, tidx, "disable_mempool", c->disable_mempool, what);
    c->disable_peer_discovery = tl_opt_bool_field(L, tidx, "disable_peer_discovery", c->disable_peer_discovery, what);
    c->min_connections = (uint32_t)tl_opt_int_field(L, tidx, "min_connections", c->min_connections, 0, 100000, what);
    c->expected_connections = (uint32_t)tl_opt_int_field(L, tidx, "expected_connections", c->expected_connections, 0, 100000, what);
    c->max_connections = (uint32_t)tl_opt_int_field(L, tidx, "max_connections", c->max_connections, 0, 100000, what);
    c->max_incoming_connections = (uint32_t)tl_opt_int_field(L, tidx, "max_incoming_connections", c->max_incoming_connections, 0, 100000, what);
    c->max_pending_incoming_per_ip = (uint32_t)tl_opt_int_field(L, tidx, "max_pending_incoming_per_ip", c->max_pending_incoming_per_ip, 0, 100000, what);
    c->greylist_ip_after_timeouts = (uint32_t)tl_opt_int_field(L, tidx, "greylist_ip_after_timeouts", c->greylist_ip_after_timeouts, 0, 100000, what);
    c->maintenance_idle_time_ns = tl_opt_duration_field(L, tidx, "maintenance_idle_time", c->maintenance_idle_time_ns, what);
    c->connection_timeout_ns = tl_opt_duration_field(L, tidx, "connection_timeout", c->connection_timeout_ns, what);
    c->authentication_timeout_ns = tl_opt_duration_field(L, tidx, "authentication_timeout", c->authentication_timeout_ns, what);
    c->incoming_message_queue_size = (size_t)tl_opt_int_field(L, tidx, "incoming_message_queue_size", (lua_Integer)c->incoming_message_queue_size, 0, INT32_MAX, what);
    c->outgoing_message_queue_size = (size_t)tl_opt_int_field(L, tidx, "outgoing_message_queue_size", (lua_Integer)c->outgoing_message_queue_size, 0, INT32_MAX, what);
    c->incoming_app_message_queue_size = (uint32_t)tl_opt_int_field(L, tidx, "incoming_app_message_queue_size", c->incoming_app_message_queue_size, 0, 1000000, what);
    c->binary_chunks_size = (size_t)tl_opt_int_field(L, tidx, "binary_chunks_size", (lua_Integer)c->binary_chunks_size, 0, 65535, what);
    c->bootstrap_cooldown_ns = tl_opt_duration_field(L, tidx, "bootstrap_cooldown", c->bootstrap_cooldown_ns, what);
    c->swap_cooldown_ns = tl_opt_duration_field(L, tidx, "swap_cooldown", c->swap_cooldown_ns, what);
    tp_point trusted[TP_NODE_TRUSTED_MAX];
    size_t nt = 0;
    points_field(L, tidx, "trusted_points", trusted, TP_NODE_TRUSTED_MAX, &nt, what);
    for (size_t i = 0; i < nt; i++) {
        memset(&c->trusted_points[i], 0, sizeof c->trusted_points[i]);
        c->trusted_points[i].point = trusted[i];
    }
    c->trusted_points_count = nt;
    /* points to dial at every start (no maintenance yet); copied out at the end so
     * that a config error leaves nothing allocated */
    tp_point dial[256];
    size_t ndial = 0;
    points_field(L, tidx, "connect", dial, 256, &ndial, what);
    double pow = opt_number_field(L, tidx, "pow_difficulty", 0, 0, 256, what);
    double idd = opt_number_field(L, tidx, "identity_difficulty", pow, 0, 256, what);
    if (tp_pow_target_of_difficulty(pow, &c->pow_target) != TP_OK)
        luaL_error(L, "%s: bad 'pow_difficulty'", what);
    if (idd > 24) luaL_error(L, "%s: 'identity_difficulty' above 24 would take too long per node", what);
    tl_make_identity(run, a->host, idd, &c->identity);
    /* A stamp that must FAIL a difficulty: the "too little proof of work" attacker. */
    double weak = opt_number_field(L, tidx, "identity_fails_difficulty", -1, -1, 256, what);
    if (weak > 0) {
        tp_pow_target t;
        if (tp_pow_target_of_difficulty(weak, &t) != TP_OK)
            luaL_error(L, "%s: bad 'identity_fails_difficulty'", what);
        while (tp_pow_check(c->identity.public_key, c->identity.pow_stamp, &t))
            tp_stamp_increment(c->identity.pow_stamp);
    }
    memcpy(c->app_msgs, tl_app_msgs, sizeof tl_app_msgs);
    c->app_msgs_count = sizeof tl_app_msgs / sizeof tl_app_msgs[0];
    tp_pool_config *p = &c->pool;
    p->max_known_points = (uint32_t)tl_opt_int_field(L, tidx, "max_known_points", p->max_known_points, 1, 10000000, what);
    p->target_known_points = (uint32_t)tl_opt_int_field(L, tidx, "target_known_points", p->target_known_points, 0, 10000000, what);
    p->max_known_peer_ids = (uint32_t)tl_opt_int_field(L, tidx, "max_known_peer_ids", p->max_known_peer_ids, 1, 10000000, what);
    p->target_known_peer_ids = (uint32_t)tl_opt_int_field(L, tidx, "target_known_peer_ids", p->target_known_peer_ids, 0, 10000000, what);
    p->backoff_factor_pm = (uint32_t)tl_opt_int_field(L, tidx, "backoff_factor_pm", p->backoff_factor_pm, 1000, 100000, what);
    p->backoff_initial_ns = tl_opt_duration_field(L, tidx, "backoff_initial", p->backoff_initial_ns, what);
    p->backoff_disconnection_ns = tl_opt_duration_field(L, tidx, "backoff_disconnection", p->backoff_disconnection_ns, what);
    p->backoff_cap_ns = tl_opt_duration_field(L, tidx, "backoff_cap", p->backoff_cap_ns, what);
    p->event_ring_size = (uint16_t)tl_opt_int_field(L, tidx, "event_ring_size", p->event_ring_size, 0, 65535, what);
    tp_acl_config *acl = &c->acl;
    acl->ip_blacklist_max = (uint32_t)tl_opt_int_field(L, tidx, "ip_blacklist_max", acl->ip_blacklist_max, 1, 10000000, what);
    acl->peer_blacklist_max = (uint32_t)tl_opt_int_field(L, tidx, "peer_blacklist_max", acl->peer_blacklist_max, 1, 10000000, what);
    acl->ip_greylist_max = (uint32_t)tl_opt_int_field(L, tidx, "ip_greylist_max", acl->ip_greylist_max, 1, 10000000, what);
    acl->ip_greylist_timeout_ns = tl_opt_duration_field(L, tidx, "greylist_timeout", acl->ip_greylist_timeout_ns, what);
    acl->peer_greylist_size = (uint32_t)tl_opt_int_field(L, tidx, "peer_greylist_size", acl->peer_greylist_size, 1, 10000000, what);
    *start = tl_opt_bool_field(L, tidx, "start", true, what);
    /* the node's workers (core/node.h): maintenance = false is maintenance_idle_time 0 */
    if (!tl_opt_bool_field(L, tidx, "maintenance", true, what)) c->maintenance_idle_time_ns = 0;
    c->swap_linger_ns = tl_opt_duration_field(L, tidx, "swap_linger", c->swap_linger_ns, what);
    c->peers_file = tl_opt_bool_field(L, tidx, "peers_file", true, what) ? "peers.json" : NULL;
    c->peers_save_interval_ns = tl_opt_duration_field(L, tidx, "peers_save_interval", c->peers_save_interval_ns, what);
    /* the I/O scheduler's caps in bytes/s (0: unlimited) and LAN discovery (spec §8, §9) */
    c->max_download_speed_bps = tl_opt_int_field(L, tidx, "max_download_speed", c->max_download_speed_bps, 0, INT64_MAX / 2, what);
    c->max_upload_speed_bps = tl_opt_int_field(L, tidx, "max_upload_speed", c->max_upload_speed_bps, 0, INT64_MAX / 2, what);
    c->read_buffer_size = (uint32_t)tl_opt_int_field(L, tidx, "read_buffer_size", c->read_buffer_size, 64, 1 << 24, what);
    c->discovery_enabled = tl_opt_bool_field(L, tidx, "discovery", c->discovery_enabled, what);
    c->trust_discovered_peers = tl_opt_bool_field(L, tidx, "trust_discovered_peers", c->trust_discovered_peers, what);
    c->maintenance_wait_jitter_pm = (uint32_t)tl_opt_int_field(L, tidx, "maintenance_wait_jitter_pm", c->maintenance_wait_jitter_pm, 0, 1000, what);
    /* tidepool option (core/README.md "Deliberate differences"): 1 = Octez */
    c->bandwidth_cap_slices = (uint32_t)tl_opt_int_field(L, tidx, "bandwidth_cap_slices", c->bandwidth_cap_slices, 1, 1000, what);
    c->reset_refused_points = tl_opt_bool_field(L, tidx, "reset_refused_points", c->reset_refused_points, what);
    /* the block workload (lua/chain.c); a round 100 ms to validate a block, a header of
     * a few hundred bytes (a Tezos header with its protocol data is about 250-400) and
     * operations of tens of kB */
    a->chainp.validation_delay_ns = tl_opt_duration_field(L, tidx, "validation_delay", 100000000LL, what);
    a->chainp.header_bytes = (uint32_t)tl_opt_int_field(L, tidx, "header_bytes", 300, 16, TL_HEADER_BYTES_MAX, what);
    a->chainp.ops_bytes = (uint32_t)tl_opt_int_field(L, tidx, "ops_bytes", 30000, 0, TL_OPS_BYTES_MAX, what);
    a->chainp.request_log = tl_opt_bool_field(L, tidx, "request_log", false, what);
    c->hooks = (tp_node_hooks){0};
    c->hooks.on_app_message = h_app_message;
    c->hooks.on_new_connection = h_new_connection;
    c->hooks.on_disconnection = h_disconnection;
    c->hooks.arg = a;
    char buf[256];
    const char *bad = tp_node_config_check(c, buf, sizeof buf);
    if (bad) luaL_error(L, "%s: %s", what, bad);
    a->dial = calloc(ndial ? ndial : 1, sizeof *a->dial);
    TP_ASSERT(a->dial != NULL);
    memcpy(a->dial, dial, ndial * sizeof *dial);
    a->dial_count = ndial;
    /* what is the node's own moves out of the shared part */
    a->identity = c->identity;
    a->listen_port = c->listen.port;
    memset(&c->identity, 0, sizeof c->identity);
    memset(&c->listen.ip, 0, sizeof c->listen.ip);
    c->hooks.arg = NULL;
    c->chain_name = NULL;
}

/* The shared copy of a parsed config: the last one made if it is byte for byte the
 * same (consecutive sim.node calls with one table, or sim.nodes), else a new one. */
static tl_ncfg *node_config_share(tl_state *run, const tl_ncfg *n) {
    tl_ncfg *last = run->last_ncfg;
    if (last != NULL && memcmp(&last->cfg, &n->cfg, sizeof n->cfg) == 0 &&
        strcmp(last->chain_name, n->chain_name) == 0) {
        last->refs++;
        return last;
    }
    tl_ncfg *c = malloc(sizeof *c);
    TP_ASSERT(c != NULL);
    *c = *n;
    c->refs = 2; /* the node's and run->last_ncfg's */
    tl_ncfg_release(run->last_ncfg);
    run->last_ncfg = c;
    return c;
}

static void make_node(lua_State *L, uint32_t hi, int tidx, const char *what) {
    tl_state *run = tl_run_of(L);
    sim_world *w = tl_world(L);
    if (run->apps_cap > hi && run->apps[hi])
        luaL_error(L, "%s: host %d already has a node (one node per host)", what, (int)hi);
    /* Parse into a scratch app first so a config error leaves nothing behind. */
    tl_app *tmp = lua_newuserdatauv(L, sizeof *tmp, 0);
    memset(tmp, 0, sizeof *tmp);
    tmp->run = run;
    tmp->host = hi;
    tl_ncfg *parsed = lua_newuserdatauv(L, sizeof *parsed, 0);
    memset(parsed, 0, sizeof *parsed);
    bool start = true;
    node_config(L, tidx, tmp, parsed, &start, what);
    tl_app *a = tl_new_app(run, L, hi, what);
    tl_app copy = *tmp;
    copy.run = run;
    *a = copy;
    a->kind = TL_APP_TIDEPOOL;
    a->ncfg = node_config_share(run, parsed);
    lua_pop(L, 2);
    sim_host *h = sim_world_host(w, hi);
    sim_host_set_app(h, &tp_app_ops, a);
    if (run->res) {
        char pt[TP_POINT_TEXT_MAX], pid[TP_PEER_ID_TEXT_SIZE], json[768];
        const tp_node_config *c = &a->ncfg->cfg;
        snprintf(json, sizeof json,
                 "{\"port\":%u,\"chain_name\":\"%s\",\"private_mode\":%s,\"min_connections\":%u,"
                 "\"expected_connections\":%u,\"max_connections\":%u,"
                 "\"max_incoming_connections\":%u,\"maintenance_idle_time_ns\":%" PRId64
                 ",\"connection_timeout_ns\":%" PRId64 ",\"authentication_timeout_ns\":%" PRId64
                 ",\"trusted_points\":%zu,\"connect\":%zu,\"max_known_points\":%u,"
                 "\"max_known_peer_ids\":%u}",
                 a->listen_port, a->ncfg->chain_name, c->private_mode ? "true" : "false",
                 c->min_connections, c->expected_connections, c->max_connections,
                 c->max_incoming_connections, c->maintenance_idle_time_ns,
                 c->connection_timeout_ns, c->authentication_timeout_ns,
                 c->trusted_points_count, a->dial_count, c->pool.max_known_points,
                 c->pool.max_known_peer_ids);
        tp_point listen = {sim_host_ip(h), a->listen_port};
        tl_results_node(run->res, hi, "tidepool", tp_peer_id_to_b58(&a->identity.peer_id, pid),
                        tp_point_format(&listen, pt), json, sim_world_now_ns(w));
    }
    if (start) {
        sim_host_start(h);
        tl_nodes_check_started(L, hi);
    }
    tl_push_node(L, hi);
}

static int l_node(lua_State *L) {
    return tl_node_constructor(L, "sim.node(host, config)", false, make_node);
}

static int l_nodes(lua_State *L) {
    return tl_node_constructor(L, "sim.nodes(hosts, config)", true, make_node);
}

/* ------------------------------------------------------------------------------------ */
/* Node methods                                                                         */

static tl_app *check_tp(lua_State *L, const char *method) {
    tl_app *a = tl_check_node(L, 1);
    if (a->kind != TL_APP_TIDEPOOL)
        luaL_error(L, "node:%s() is for tidepool nodes (sim.node); this is a %s node", method,
                   "demo");
    if (!a->node)
        luaL_error(L, "node:%s(): the node on host %d is not running (crashed or stopped)",
                   method, (int)a->host);
    return a;
}

static tp_peer_id check_peer(lua_State *L, int idx, const char *what) {
    tl_state *run = tl_run_of(L);
    uint32_t hi = 0;
    if (tl_test_host(L, idx, &hi) && hi < run->apps_cap && run->apps[hi] &&
        run->apps[hi]->kind == TL_APP_TIDEPOOL)
        return run->apps[hi]->identity.peer_id;
    tp_peer_id id;
    memset(&id, 0, sizeof id); /* luaL_error does not return; clang cannot tell */
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (tp_peer_id_of_b58(s, len, &id) == TP_OK) return id;
    }
    luaL_error(L, "%s: expected a tidepool node or a peer id ('id...'), got %s", what,
               luaL_typename(L, idx));
    return id;
}

static void push_err(lua_State *L, tp_err e) {
    if (e == TP_OK) {
        lua_pushboolean(L, 1);
        lua_pushnil(L);
    } else {
        lua_pushboolean(L, 0);
        lua_pushstring(L, tp_errname(e));
    }
}

static int m_connect(lua_State *L) {
    tl_app *a = check_tp(L, "connect");
    tp_point p = check_point(L, 2, "node:connect(point)");
    push_err(L, tp_node_connect(a->node, &p, 0, connect_cb, a));
    return 2;
}

static tp_ip check_ip(lua_State *L, int idx, const char *what) {
    tl_state *run = tl_run_of(L);
    uint32_t hi = 0;
    if (tl_test_host(L, idx, &hi)) return sim_host_ip(sim_world_host(run->w, hi));
    tp_ip ip;
    memset(&ip, 0, sizeof ip); /* luaL_error does not return; clang cannot tell */
    size_t len;
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
    if (!s || tp_ip_parse(s, len, &ip) != TP_OK)
        luaL_error(L, "%s: expected a host, a node or an IP address string", what);
    return ip;
}

/* A ban (world context) arms the invariant checker's grace for the handshakes in
 * flight at this instant (lua/invariants.h). */
static int m_ban_ip(lua_State *L) {
    tl_app *a = check_tp(L, "ban_ip");
    tp_ip ip = check_ip(L, 2, "node:ban_ip(ip)");
    tp_err e = tp_node_ban_addr(a->node, &ip);
    if (e == TP_OK) tl_inv_note_ban(a->run, a->host);
    push_err(L, e);
    return 2;
}
static int m_unban_ip(lua_State *L) {
    tl_app *a = check_tp(L, "unban_ip");
    tp_ip ip = check_ip(L, 2, "node:unban_ip(ip)");
    tp_node_unban_addr(a->node, &ip);
    return 0;
}
static int m_ban_peer(lua_State *L) {
    tl_app *a = check_tp(L, "ban_peer");
    tp_peer_id p = check_peer(L, 2, "node:ban_peer(peer)");
    tp_err e = tp_node_ban_peer(a->node, &p);
    if (e == TP_OK) tl_inv_note_ban(a->run, a->host);
    push_err(L, e);
    return 2;
}
static int m_unban_peer(lua_State *L) {
    tl_app *a = check_tp(L, "unban_peer");
    tp_peer_id p = check_peer(L, 2, "node:unban_peer(peer)");
    tp_node_unban_peer(a->node, &p);
    return 0;
}
static int m_trust(lua_State *L) {
    tl_app *a = check_tp(L, "trust");
    tp_point p = check_point(L, 2, "node:trust(point)");
    push_err(L, tp_node_trust_point(a->node, &p));
    return 2;
}
static int m_untrust(lua_State *L) {
    tl_app *a = check_tp(L, "untrust");
    tp_point p = check_point(L, 2, "node:untrust(point)");
    tp_node_untrust_point(a->node, &p);
    return 0;
}
static int m_trust_peer(lua_State *L) {
    tl_app *a = check_tp(L, "trust_peer");
    tp_peer_id p = check_peer(L, 2, "node:trust_peer(peer)");
    push_err(L, tp_node_trust_peer(a->node, &p));
    return 2;
}
static int m_untrust_peer(lua_State *L) {
    tl_app *a = check_tp(L, "untrust_peer");
    tp_peer_id p = check_peer(L, 2, "node:untrust_peer(peer)");
    tp_node_untrust_peer(a->node, &p);
    return 0;
}
static int m_kick(lua_State *L) {
    tl_app *a = check_tp(L, "kick");
    tp_peer_id p = check_peer(L, 2, "node:kick(peer)");
    lua_pushboolean(L, tp_node_kick(a->node, &p));
    return 1;
}
static int m_send(lua_State *L) {
    tl_app *a = check_tp(L, "send");
    tp_peer_id p = check_peer(L, 2, "node:send(peer, text)");
    size_t len;
    const char *s = luaL_checklstring(L, 3, &len);
    if (len > TL_TEXT_MAX) return luaL_error(L, "node:send: text above %d bytes", (int)TL_TEXT_MAX);
    push_err(L, tp_node_send_to_peer(a->node, &p, TL_TAG_TEXT, (const uint8_t *)s, len, false));
    return 2;
}
static int m_broadcast(lua_State *L) {
    tl_app *a = check_tp(L, "broadcast");
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    if (len > TL_TEXT_MAX) return luaL_error(L, "node:broadcast: text above %d bytes", (int)TL_TEXT_MAX);
    lua_pushinteger(L, tp_node_broadcast(a->node, TL_TAG_TEXT, (const uint8_t *)s, len));
    return 1;
}
/* node:send_message(peer, tag, bytes) -> ok, err: any registered application message,
 * as is (to test the decoders: a malformed or unsolicited message). */
static int m_send_message(lua_State *L) {
    tl_app *a = check_tp(L, "send_message");
    tp_peer_id p = check_peer(L, 2, "node:send_message(peer, tag, bytes)");
    lua_Integer tag = luaL_checkinteger(L, 3);
    size_t len;
    const char *s = luaL_checklstring(L, 4, &len);
    if (tag < 0 || tag > 0xffff) return luaL_error(L, "node:send_message: tag %d out of 0..65535", (int)tag);
    push_err(L, tp_node_send_to_peer(a->node, &p, (uint16_t)tag, (const uint8_t *)s, len, false));
    return 2;
}

static int m_peer_id(lua_State *L) {
    tl_app *a = tl_check_node(L, 1);
    if (a->kind != TL_APP_TIDEPOOL) return luaL_error(L, "node:peer_id(): demo nodes have none");
    char pid[TP_PEER_ID_TEXT_SIZE];
    lua_pushstring(L, tp_peer_id_to_b58(&a->identity.peer_id, pid));
    return 1;
}

void tl_tp_push_connections(lua_State *L, tl_app *a) {
    lua_newtable(L);
    if (!a->node) return;
    lua_Integer k = 0;
    for (tp_conn *c = tp_node_first_conn(a->node); c; c = c->next) {
        if (!tp_conn_is_running(c)) continue;
        char pt[TP_POINT_TEXT_MAX], pid[TP_PEER_ID_TEXT_SIZE];
        lua_createtable(L, 0, 8);
        lua_pushstring(L, tp_point_format(&c->remote_addr, pt));
        lua_setfield(L, -2, "point");
        lua_pushstring(L, tp_peer_id_to_b58(tp_node_conn_peer_id(c), pid));
        lua_setfield(L, -2, "peer_id");
        int64_t ph = tl_host_of_point(a->run, &c->remote_addr);
        if (ph >= 0) {
            tl_push_host(L, (uint32_t)ph);
            lua_setfield(L, -2, "peer_host");
        }
        lua_pushboolean(L, c->incoming);
        lua_setfield(L, -2, "incoming");
        if (c->user) {
            lua_pushnumber(L, (lua_Number)((tl_conn_rec *)c->user)->opened_ns / 1e9);
            lua_setfield(L, -2, "since");
        }
        lua_pushinteger(L, (lua_Integer)c->stats.bytes_in);
        lua_setfield(L, -2, "bytes_in");
        lua_pushinteger(L, (lua_Integer)c->stats.bytes_out);
        lua_setfield(L, -2, "bytes_out");
        lua_rawseti(L, -2, ++k);
    }
}

static int m_points(lua_State *L) {
    tl_app *a = check_tp(L, "points");
    tp_pool *pool = tp_node_pool(a->node);
    lua_newtable(L);
    lua_Integer k = 0;
    uint32_t it = 0;
    tp_point_info *p;
    while ((p = tp_pool_next_point(pool, &it))) {
        char pt[TP_POINT_TEXT_MAX];
        lua_createtable(L, 0, 3);
        lua_pushstring(L, tp_point_format(&p->point, pt));
        lua_setfield(L, -2, "point");
        lua_pushstring(L, tp_point_state_name(p->state));
        lua_setfield(L, -2, "state");
        lua_pushboolean(L, p->trusted);
        lua_setfield(L, -2, "trusted");
        lua_rawseti(L, -2, ++k);
    }
    return 1;
}

static int m_peers(lua_State *L) {
    tl_app *a = check_tp(L, "peers");
    tp_pool *pool = tp_node_pool(a->node);
    lua_newtable(L);
    lua_Integer k = 0;
    uint32_t it = 0;
    tp_peer_info *p;
    while ((p = tp_pool_next_peer(pool, &it))) {
        char pid[TP_PEER_ID_TEXT_SIZE];
        lua_createtable(L, 0, 3);
        lua_pushstring(L, tp_peer_id_to_b58(&p->peer_id, pid));
        lua_setfield(L, -2, "peer_id");
        lua_pushstring(L, tp_peer_state_name(p->state));
        lua_setfield(L, -2, "state");
        lua_pushboolean(L, p->trusted);
        lua_setfield(L, -2, "trusted");
        lua_rawseti(L, -2, ++k);
    }
    return 1;
}

static int m_stat(lua_State *L) {
    tl_app *a = check_tp(L, "stat");
    uint64_t bin = 0, bout = 0, min = 0, mout = 0, dropped = 0;
    for (tp_conn *c = tp_node_first_conn(a->node); c; c = c->next) {
        bin += c->stats.bytes_in;
        bout += c->stats.bytes_out;
        min += c->stats.messages_in;
        mout += c->stats.messages_out;
        dropped += c->stats.messages_dropped;
    }
    tp_pool *pool = tp_node_pool(a->node);
    lua_newtable(L);
#define SET(name, v)                           \
    lua_pushinteger(L, (lua_Integer)(v));      \
    lua_setfield(L, -2, name);
    SET("connections", tp_node_active_connections(a->node));
    SET("points_known", tp_pool_points_count(pool));
    SET("peers_known", tp_pool_peers_count(pool));
    SET("bytes_in", bin);
    SET("bytes_out", bout);
    SET("messages_in", min);
    SET("messages_out", mout);
    SET("messages_dropped", dropped);
    SET("text_in", a->text_in);
    SET("app_bytes_in", a->app_bytes_in);
    SET("app_bad", a->app_bad);
    SET("sends_dropped", a->sends_dropped);
    SET("dial_errors", a->dial_errors);
    const tl_chain_stats *cs = tl_chain_stats_of(a);
    SET("heads_sent", cs->heads_sent);
    SET("heads_received", cs->heads_received);
    SET("head_changes", cs->head_changes);
    SET("header_requests", cs->header_requests);
    SET("operations_requests", cs->ops_requests);
    SET("request_retries", cs->retries);
    SET("requests_abandoned", cs->requests_abandoned);
    SET("requests_refused", cs->requests_refused);
    SET("block_unsolicited", cs->unsolicited);
    SET("block_malformed", cs->malformed);
    SET("block_unadvertised", cs->unadvertised);
    tp_maintenance *mt = tp_node_maintenance(a->node);
    if (mt) {
        SET("maintenance_cycles", mt->cycles);
        SET("maintenance_dials", mt->dials);
        SET("maintenance_kills", mt->kills);
    }
    size_t loaded = 0;
    SET("peers_loaded", tp_node_peers_loaded(a->node, &loaded) == TP_OK ? loaded : 0);
    tp_peers_file *pf = tp_node_peers_file(a->node);
    if (pf) {
        SET("peers_saves", pf->saves);
        SET("peers_save_errors", pf->save_errors);
    }
#undef SET
    return 1;
}

void tl_open_tidepool(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"connect", m_connect},       {"ban_ip", m_ban_ip},
        {"unban_ip", m_unban_ip},     {"ban_peer", m_ban_peer},
        {"unban_peer", m_unban_peer}, {"trust", m_trust},
        {"untrust", m_untrust},       {"trust_peer", m_trust_peer},
        {"untrust_peer", m_untrust_peer},
        {"kick", m_kick},             {"send", m_send},
        {"broadcast", m_broadcast},   {"peer_id", m_peer_id},
        {"points", m_points},         {"peers", m_peers},
        {"stat", m_stat},             {"send_message", m_send_message},
        {NULL, NULL}};
    luaL_getmetatable(L, TL_MT_NODE);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
    static const luaL_Reg fns[] = {{"node", l_node},
                                   {"nodes", l_nodes},
                                   {NULL, NULL}};
    lua_getglobal(L, "sim");
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
    tl_open_chain(L);
}
