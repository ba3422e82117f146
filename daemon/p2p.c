/* daemon/p2p.c — the node built from the config (see p2p.h). */
#include "daemon/p2p.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/peers_json.h"

struct dm_p2p {
    const tp_env *env;
    tp_node *node;
    tp_app_msg_def app_defs[1];
    uint64_t app_received;
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
    /* Octez derives ip_greylist_cleanup_delay from greylist-timeout; an explicit
     * ip_greylist_cleanup_delay (anything but its default) wins. */
    out->acl.ip_greylist_timeout_ns = l->ip_greylist_cleanup_delay_ns != INT64_C(86400000000000)
                                          ? l->ip_greylist_cleanup_delay_ns
                                          : l->greylist_timeout_ns;
    /* Octez's IP greylist is a Bloom filter of this many KiB; tidepool's is an exact
     * table (core/acl.h): one entry per 32 bytes of the budget (2048 KiB -> 65,536). */
    out->acl.ip_greylist_max = l->ip_greylist_size_in_kilobytes * 1024u / 32u;
    out->listen_backlog = l->backlog;
    out->acl.peer_greylist_size = l->peer_greylist_size;
    out->swap_linger_ns = l->swap_enabled ? l->swap_linger_ns : 0;
    out->max_download_speed_bps = l->max_download_speed_bps > 0 ? l->max_download_speed_bps : 0;
    out->max_upload_speed_bps = l->max_upload_speed_bps > 0 ? l->max_upload_speed_bps : 0;
    out->read_buffer_size = l->read_buffer_size;
    out->discovery_enabled = opt->discovery;
    if (opt->discovery) out->discovery_point = opt->discovery_point;
    out->trust_discovered_peers = opt->trust_discovered_peers;
    out->peers_file = "peers.json"; /* in the data directory; saved every 60 s and at the end */
}

/* ------------------------------------------------------------------------------------ */
/* hooks                                                                                */

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

/* ------------------------------------------------------------------------------------ */
/* lifecycle                                                                            */

tp_err dm_p2p_create(const tp_env *env, const dm_config *cfg, const tp_identity *id,
                     const dm_p2p_options *opt, dm_p2p **out, char *error, size_t cap) {
    dm_p2p *p = calloc(1, sizeof *p);
    if (!p) return TP_ERR_NOMEM;
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
    *out = p;
    return TP_OK;
}

tp_err dm_p2p_start(dm_p2p *p, char *error, size_t cap) {
    tp_err e = tp_node_activate(p->node);
    if (e != TP_OK) {
        const tp_node_config *nc = tp_node_config_of(p->node);
        char where[TP_POINT_TEXT_MAX];
        if (error && cap)
            snprintf(error, cap, "cannot listen for peers on %s: %s%s%s",
                     tp_point_format(&nc->listen, where), tp_strerror(e),
                     e == TP_ERR_ADDR_IN_USE ? " (choose another port with --net-addr or "
                                               "p2p.listen-addr)"
                                             : "",
                     nc->discovery_enabled ? "; or the LAN discovery socket could not be "
                                             "opened (p2p.discovery-addr)"
                                           : "");
        return e;
    }
    return TP_OK;
}

tp_node *dm_p2p_node(dm_p2p *p) {
    return p->node;
}

uint64_t dm_p2p_app_received(const dm_p2p *p) {
    return p->app_received;
}

tp_err dm_p2p_peers_loaded(const dm_p2p *p, size_t *count) {
    return tp_node_peers_loaded(p->node, count);
}

tp_err dm_p2p_peers_saved(const dm_p2p *p) {
    return tp_node_peers_saved(p->node);
}

const char *dm_p2p_peers_error(const dm_p2p *p) {
    tp_peers_file *pf = tp_node_peers_file(p->node);
    return pf ? pf->error : "";
}

static void node_down(void *arg, tp_node *n) {
    (void)n;
    dm_p2p *p = arg;
    if (p->shutdown_cb) p->shutdown_cb(p->shutdown_arg);
}

void dm_p2p_shutdown(dm_p2p *p, void (*cb)(void *arg), void *arg) {
    p->shutdown_cb = cb;
    p->shutdown_arg = arg;
    tp_node_shutdown(p->node, node_down, p); /* the node saves peers.json at the end */
}

void dm_p2p_destroy(dm_p2p *p) {
    if (!p) return;
    if (p->node) tp_node_destroy(p->node);
    free(p);
}
