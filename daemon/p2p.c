/* daemon/p2p.c — node + maintenance + discovery (see p2p.h). */
#include "daemon/p2p.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/connect.h"
#include "core/peers_json.h"
#include "core/pool.h"

struct dm_p2p {
    const tp_env *env;
    tp_node *node;
    tp_maintenance maint;
    bool maint_enabled, maint_inited;
    tp_discovery disco;
    bool disco_enabled, disco_inited;
    tp_app_msg_def app_defs[1];
    uint64_t app_received;
    tp_peers_file peers_file;
    bool peers_file_inited;
    size_t peers_loaded;
    tp_err peers_load_result, peers_save_result;
    bool peers_may_save; /* the load ran and the file is ours to replace */
    void (*shutdown_cb)(void *arg);
    void *shutdown_arg;
    char greeting[128];
    void (*on_text)(void *arg, const tp_peer_id *from, const char *text);
    void *on_text_arg;
    bool no_greeting;
};

/* ------------------------------------------------------------------------------------ */
/* configuration                                                                        */

void dm_p2p_node_config(const dm_config *cfg, const tp_identity *id, const dm_p2p_options *opt,
                        tp_node_config *out) {
    tp_node_config_default(out);
    out->identity = *id;
    tp_err e = tp_pow_target_of_difficulty(cfg->expected_pow, &out->pow_target);
    TP_ASSERT(e == TP_OK); /* range checked by the config loader */
    out->listen = opt->listen;
    out->advertised_port = cfg->has_advertised_net_port ? cfg->advertised_net_port : 0;
    out->chain_name = cfg->chain_name;
    size_t nd = cfg->ddb_versions_count < TP_VERSIONS_MAX ? cfg->ddb_versions_count : TP_VERSIONS_MAX;
    memcpy(out->ddb_versions, cfg->ddb_versions, nd * sizeof cfg->ddb_versions[0]);
    out->ddb_versions_count = nd;
    size_t np = cfg->p2p_versions_count < TP_VERSIONS_MAX ? cfg->p2p_versions_count : TP_VERSIONS_MAX;
    memcpy(out->p2p_versions, cfg->p2p_versions, np * sizeof cfg->p2p_versions[0]);
    out->p2p_versions_count = np;
    out->disable_mempool = cfg->disable_mempool;
    out->private_mode = cfg->private_mode;
    const dm_limits *l = &cfg->limits;
    out->min_connections = l->min_connections;
    out->expected_connections = l->expected_connections;
    out->max_connections = l->max_connections;
    out->max_incoming_connections = l->max_incoming_connections;
    out->maintenance_idle_time_ns = l->maintenance_enabled ? l->maintenance_idle_time_ns : 0;
    out->connection_timeout_ns = l->connection_timeout_ns;
    out->authentication_timeout_ns = l->authentication_timeout_ns;
    if (l->incoming_message_queue_size > 0)
        out->incoming_message_queue_size = (size_t)l->incoming_message_queue_size;
    if (l->outgoing_message_queue_size > 0)
        out->outgoing_message_queue_size = (size_t)l->outgoing_message_queue_size;
    if (l->incoming_app_message_queue_size > 0)
        out->incoming_app_message_queue_size = (uint32_t)l->incoming_app_message_queue_size;
    out->binary_chunks_size = l->binary_chunks_size;
    for (size_t i = 0; i < opt->bootstrap_count && i < TP_NODE_TRUSTED_MAX; i++) {
        tp_node_trusted_point *t = &out->trusted_points[out->trusted_points_count++];
        t->point = opt->bootstrap[i];
        t->has_expected_peer_id = opt->bootstrap_has_expected[i];
        if (t->has_expected_peer_id) t->expected_peer_id = opt->bootstrap_expected[i];
    }
    out->pool.max_known_points = l->max_known_points;
    out->pool.target_known_points = l->max_known_points_target;
    out->pool.max_known_peer_ids = l->max_known_peer_ids;
    out->pool.target_known_peer_ids = l->max_known_peer_ids_target;
    out->pool.backoff_factor_pm = cfg->reconnection.factor_permille;
    out->pool.backoff_initial_ns = cfg->reconnection.initial_delay_ns;
    out->pool.backoff_disconnection_ns = cfg->reconnection.disconnection_delay_ns;
    out->pool.backoff_cap_ns = cfg->reconnection.increase_cap_ns;
    out->acl.ip_greylist_timeout_ns = l->greylist_timeout_ns;
    out->acl.peer_greylist_size = l->peer_greylist_size;
}

/* ------------------------------------------------------------------------------------ */
/* hooks and maintenance ops                                                            */

static void emit(dm_p2p *p, tp_event_kind kind, const tp_peer_id *peer, const char *detail) {
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    if (peer) {
        ev.flags |= TP_EVENT_HAS_PEER;
        memcpy(ev.peer_id, peer->bytes, TP_PEER_ID_SIZE);
    }
    ev.detail = detail;
    tp_env_event(p->env, &ev);
}

static void h_app_message(void *arg, tp_node *n, tp_conn *c, uint16_t tag,
                          const uint8_t *payload, size_t len) {
    dm_p2p *p = arg;
    (void)n;
    p->app_received++;
    char text[DM_APP_TEXT_MAX + 1];
    size_t k = len < DM_APP_TEXT_MAX ? len : DM_APP_TEXT_MAX;
    memcpy(text, payload, k);
    text[k] = '\0'; /* rn_event_format escapes what it must */
    if (tag != DM_APP_TEXT_TAG) return;
    emit(p, TP_EVENT_APP_MESSAGE, tp_node_conn_peer_id(c), text);
    if (p->on_text) p->on_text(p->on_text_arg, tp_node_conn_peer_id(c), text);
}

static void h_new_connection(void *arg, tp_node *n, tp_conn *c) {
    dm_p2p *p = arg;
    if (p->no_greeting) return;
    /* greet: one application message per new connection */
    tp_err e = tp_node_send(n, c, DM_APP_TEXT_TAG, (const uint8_t *)p->greeting,
                            strlen(p->greeting), true);
    (void)e; /* a full queue drops it, like any write_now */
}

static void h_too_few(void *arg, tp_node *n) {
    dm_p2p *p = arg;
    (void)n;
    if (p->maint_enabled) tp_maintenance_trigger_too_few(&p->maint);
}

static void h_too_many(void *arg, tp_node *n) {
    dm_p2p *p = arg;
    (void)n;
    if (p->maint_enabled) tp_maintenance_trigger_too_many(&p->maint);
}

static void pool_new_point(void *arg, tp_point_info *pi) {
    dm_p2p *p = arg;
    (void)pi;
    if (p->maint_enabled && p->maint_inited) tp_maintenance_on_new_point(&p->maint);
}

static void pool_new_peer(void *arg, tp_peer_info *pi) {
    dm_p2p *p = arg;
    (void)pi;
    if (p->maint_enabled && p->maint_inited) tp_maintenance_on_new_peer(&p->maint);
}

static uint32_t op_active(void *arg) {
    return tp_node_active_connections(((dm_p2p *)arg)->node);
}

static size_t op_connections(void *arg, tp_conn_view *out, size_t cap) {
    dm_p2p *p = arg;
    size_t n = 0;
    tp_pool *pool = tp_node_pool(p->node);
    for (tp_conn *c = tp_node_first_conn(p->node); c; c = c->next) {
        if (!tp_conn_is_running(c)) continue;
        if (n < cap) {
            tp_conn_view *v = &out[n];
            memset(v, 0, sizeof *v);
            v->conn = c;
            v->peer_id = *tp_node_conn_peer_id(c);
            v->point = c->remote_addr;
            v->point.port = c->sock.remote.port;
            v->private_peer = c->sock.remote.metadata.private_node;
            tp_peer_info *pi = tp_pool_peer(pool, &v->peer_id);
            tp_point_info *po = v->point.port ? tp_pool_point(pool, &v->point) : NULL;
            v->trusted = (pi && pi->trusted) || (po && po->trusted);
        }
        n++;
    }
    return n;
}

static void dial_done(void *arg, tp_node *n, tp_err err, tp_conn *c) {
    (void)n;
    (void)c;
    tp_maintenance_dial_done(arg, err);
}

static tp_err op_connect(void *arg, tp_point_info *point, tp_worker_connect_cb done,
                         void *done_arg) {
    dm_p2p *p = arg;
    (void)done; /* tp_maintenance_dial_done, called directly (maintenance.h) */
    return tp_node_connect(p->node, &point->point, 0, dial_done, done_arg);
}

static void op_disconnect(void *arg, void *conn, tp_worker_disconnect_reason reason) {
    dm_p2p *p = arg;
    (void)reason;
    tp_connect_disconnect(tp_node_connect_handler(p->node), conn);
}

static bool op_bootstrap(void *arg, void *conn) {
    (void)arg;
    static const uint8_t frame[6] = {0, 0, 0, 2, 0, 2}; /* size 2 | tag Bootstrap (spec §4.2) */
    return tp_conn_write_frame(conn, frame, sizeof frame, true) == TP_OK;
}

static void op_discovery_wakeup(void *arg) {
    dm_p2p *p = arg;
    if (p->disco_enabled) tp_discovery_wakeup(&p->disco);
}

/* ------------------------------------------------------------------------------------ */
/* lifecycle                                                                            */

tp_err dm_p2p_create(const tp_env *env, const dm_config *cfg, const tp_identity *id,
                     const dm_p2p_options *opt, dm_p2p **out, char *error, size_t cap) {
    dm_p2p *p = calloc(1, sizeof *p);
    if (!p) return TP_ERR_NOMEM;
    p->peers_load_result = TP_ERR_STATE; /* not loaded yet */
    p->peers_save_result = TP_ERR_STATE;
    p->env = env;
    p->on_text = opt->on_text;
    p->on_text_arg = opt->on_text_arg;
    p->no_greeting = opt->no_greeting;
    tp_node_config *nc = calloc(1, sizeof *nc);
    if (!nc) {
        free(p);
        return TP_ERR_NOMEM;
    }
    dm_p2p_node_config(cfg, id, opt, nc);
    p->app_defs[0].tag = DM_APP_TEXT_TAG;
    p->app_defs[0].max_len = DM_APP_TEXT_MAX;
    p->app_defs[0].name = "tidepool.text";
    nc->app_msgs[0] = p->app_defs[0];
    nc->app_msgs_count = 1;
    nc->hooks.on_app_message = h_app_message;
    nc->hooks.on_new_connection = h_new_connection;
    nc->hooks.too_few_connections = h_too_few;
    nc->hooks.too_many_connections = h_too_many;
    nc->hooks.arg = p;
    char why[256];
    const char *bad = tp_node_config_check(nc, why, sizeof why);
    if (bad) {
        if (error && cap) snprintf(error, cap, "%s", bad);
        tp_identity_wipe(&nc->identity);
        free(nc);
        free(p);
        return TP_ERR_INVAL;
    }
    tp_err e = tp_node_create(env, nc, &p->node);
    tp_identity_wipe(&nc->identity);
    free(nc);
    if (e != TP_OK) {
        if (error && cap) snprintf(error, cap, "cannot create the node: %s", tp_strerror(e));
        free(p);
        return e;
    }
    if (opt->message_nonce) p->node->ccfg.socket.message_nonce = opt->message_nonce;
    char b58[TP_PEER_ID_TEXT_SIZE];
    snprintf(p->greeting, sizeof p->greeting, "hello from %s", tp_peer_id_to_b58(&id->peer_id, b58));
    /* pool hooks: the node made its pool without any */
    tp_pool *pool = tp_node_pool(p->node);
    pool->hooks.on_new_point = pool_new_point;
    pool->hooks.on_new_peer = pool_new_peer;
    pool->hooks.arg = p;
    p->maint_enabled = cfg->limits.maintenance_enabled;
    if (p->maint_enabled) {
        tp_maintenance_config mc;
        tp_maintenance_config_default(&mc);
        mc.min_connections = cfg->limits.min_connections;
        mc.expected_connections = cfg->limits.expected_connections;
        mc.max_connections = cfg->limits.max_connections;
        mc.idle_time_ns = cfg->limits.maintenance_idle_time_ns > 0
                              ? cfg->limits.maintenance_idle_time_ns
                              : mc.idle_time_ns;
        mc.private_mode = cfg->private_mode;
        tp_maintenance_ops ops = {op_active,    op_connections,      op_connect, op_disconnect,
                                  op_bootstrap, op_discovery_wakeup, NULL,       p};
        tp_maintenance_init(&p->maint, env, pool, tp_node_acl(p->node), &mc, &ops);
        p->maint_inited = true;
    }
    p->disco_enabled = opt->discovery && opt->listen.port != 0 && p->maint_enabled;
    if (p->disco_enabled) {
        tp_discovery_config dc;
        tp_discovery_config_default(&dc);
        dc.discovery_point = opt->discovery_point;
        dc.listening_port = cfg->has_advertised_net_port ? cfg->advertised_net_port : opt->listen.port;
        dc.peer_id = id->peer_id;
        dc.trust_discovered_peers = opt->trust_discovered_peers;
        e = tp_discovery_init(&p->disco, env, pool, &dc);
        if (e != TP_OK) {
            if (error && cap)
                snprintf(error, cap,
                         "discovery-addr: the listening port %u cannot be announced (LAN "
                         "discovery carries it in a signed 16-bit field: use a port <= "
                         "32767)",
                         dc.listening_port);
            dm_p2p_destroy(p);
            return e;
        }
        p->disco_inited = true;
    }
    tp_peers_file_config pfc;
    tp_peers_file_config_default(&pfc); /* "peers.json", saved every 60 s and at shutdown */
    tp_peers_file_init(&p->peers_file, env, pool, &pfc);
    p->peers_file_inited = true;
    *out = p;
    return TP_OK;
}

tp_err dm_p2p_start(dm_p2p *p, char *error, size_t cap) {
    tp_err e = tp_node_activate(p->node);
    if (e != TP_OK) {
        const tp_node_config *nc = tp_node_config_of(p->node);
        char where[TP_POINT_TEXT_MAX];
        if (error && cap)
            snprintf(error, cap, "cannot listen for peers on %s: %s%s",
                     tp_point_format(&nc->listen, where), tp_strerror(e),
                     e == TP_ERR_ADDR_IN_USE ? " (choose another port with --net-addr or "
                                               "p2p.listen-addr)"
                                             : "");
        return e;
    }
    /* spec §5.7: the peers file after the trusted points; a corrupt file is kept aside
     * and the node goes on (tp_peers_file_load reports it as an event) */
    p->peers_load_result = tp_peers_file_load(&p->peers_file, &p->peers_loaded);
    /* Save at shutdown only what was loaded (or a fresh table): a node that failed to
     * read its file must not overwrite it. */
    p->peers_may_save = p->peers_load_result == TP_OK || p->peers_load_result == TP_ERR_CORRUPT;
    tp_peers_file_start(&p->peers_file);
    if (p->disco_enabled) {
        e = tp_discovery_start(&p->disco);
        if (e != TP_OK) {
            if (error && cap)
                snprintf(error, cap, "cannot open the LAN discovery socket: %s", tp_strerror(e));
            return e;
        }
    }
    if (p->maint_enabled) tp_maintenance_activate(&p->maint);
    return TP_OK;
}

tp_node *dm_p2p_node(dm_p2p *p) {
    return p->node;
}

uint64_t dm_p2p_app_received(const dm_p2p *p) {
    return p->app_received;
}

tp_err dm_p2p_peers_loaded(const dm_p2p *p, size_t *count) {
    *count = p->peers_loaded;
    return p->peers_load_result;
}

const char *dm_p2p_peers_error(const dm_p2p *p) {
    return p->peers_file.error;
}

static void node_down(void *arg, tp_node *n) {
    (void)n;
    dm_p2p *p = arg;
    /* every connection is closed: the last stamps are in; save once more (Octez saves
     * at pool shutdown only) */
    if (p->peers_file_inited) tp_peers_file_stop(&p->peers_file);
    p->peers_save_result = p->peers_may_save ? tp_peers_file_save(&p->peers_file) : TP_ERR_STATE;
    if (p->shutdown_cb) p->shutdown_cb(p->shutdown_arg);
}

void dm_p2p_shutdown(dm_p2p *p, void (*cb)(void *arg), void *arg) {
    p->shutdown_cb = cb;
    p->shutdown_arg = arg;
    if (p->disco_inited) tp_discovery_stop(&p->disco);
    if (p->maint_inited) tp_maintenance_stop(&p->maint);
    p->maint_enabled = false; /* triggers from closing connections are ignored */
    tp_node_shutdown(p->node, node_down, p);
}

tp_err dm_p2p_peers_saved(const dm_p2p *p) {
    return p->peers_save_result;
}

void dm_p2p_destroy(dm_p2p *p) {
    if (!p) return;
    if (p->peers_file_inited) tp_peers_file_deinit(&p->peers_file);
    if (p->disco_inited) tp_discovery_stop(&p->disco);
    if (p->maint_inited) tp_maintenance_deinit(&p->maint);
    if (p->node) tp_node_destroy(p->node);
    free(p);
}
