/* daemon/node_rpc.c — /network/... over a tp_node (see node_rpc.h). */
#include "daemon/node_rpc.h"

#include <stdio.h>
#include <string.h>

#include "core/acl.h"
#include "core/pool.h"

/* Octez times are RFC 3339 strings; the pool keeps monotonic ns. */
static json_t *time_of(tp_node *n, int64_t mono_ns) {
    return dm_json_time(tp_pool_wall_of(tp_node_pool(n), mono_ns));
}

static json_t *metadata(const tp_metadata *m) {
    return json_pack("{s:b,s:b}", "disable_mempool", m->disable_mempool, "private_node",
                     m->private_node);
}

/* P2p_stat: int64 totals as strings (data_encoding's int64 in JSON), rates as ints. */
static json_t *stat_json(const tp_stat *st) {
    char s[24], v[24];
    snprintf(s, sizeof s, "%lld", (long long)st->total_sent);
    snprintf(v, sizeof v, "%lld", (long long)st->total_recv);
    return json_pack("{s:s,s:s,s:i,s:i}", "total_sent", s, "total_recv", v, "current_inflow",
                     (int)st->current_inflow, "current_outflow", (int)st->current_outflow);
}

static json_t *conn_info(tp_node *n, tp_conn *c) {
    const tp_socket_remote *r = &c->sock.remote;
    tp_point id_point = c->remote_addr;
    id_point.port = r->port; /* the announced listening port; none = omitted */
    json_t *o = json_object();
    json_object_set_new(o, "incoming", json_boolean(c->incoming));
    json_object_set_new(o, "peer_id", dm_json_peer_id(&r->peer_id));
    json_object_set_new(o, "id_point", dm_json_id_point(&id_point));
    json_object_set_new(o, "remote_socket_port", json_integer(c->remote_addr.port));
    char chain[TP_SOCKET_CHAIN_NAME_MAX + 1];
    size_t cl = r->chain_name_len <= TP_SOCKET_CHAIN_NAME_MAX ? r->chain_name_len : 0;
    memcpy(chain, r->chain_name, cl);
    chain[cl] = '\0';
    json_object_set_new(o, "announced_version",
                        json_pack("{s:s,s:i,s:i}", "chain_name", chain,
                                  "distributed_db_version", r->distributed_db_version,
                                  "p2p_version", r->p2p_version));
    json_object_set_new(o, "private", json_boolean(r->metadata.private_node));
    json_object_set_new(o, "local_metadata", metadata(&c->sock_cfg.metadata));
    json_object_set_new(o, "remote_metadata", metadata(&r->metadata));
    (void)n;
    return o;
}

static tp_conn *running_conn_of(tp_node *n, const tp_peer_id *peer) {
    for (tp_conn *c = tp_node_first_conn(n); c; c = c->next)
        if (tp_conn_is_running(c) && tp_peer_id_eq(tp_node_conn_peer_id(c), peer)) return c;
    return NULL;
}

static void b_self(void *arg, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    dm_rpc_ok(r, dm_json_peer_id(tp_node_peer_id(nr->node)));
}

static void b_stat(void *arg, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_stat st = tp_node_stat(nr->node);
    dm_rpc_ok(r, stat_json(&st));
}

static void b_version(void *arg, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    const tp_node_config *cfg = tp_node_config_of(nr->node);
    uint16_t ddb = 0, p2p = 0;
    for (size_t i = 0; i < cfg->ddb_versions_count; i++)
        if (cfg->ddb_versions[i] > ddb) ddb = cfg->ddb_versions[i];
    for (size_t i = 0; i < cfg->p2p_versions_count; i++)
        if (cfg->p2p_versions[i] > p2p) p2p = cfg->p2p_versions[i];
    /* Octez's /version: {version{major, minor, additional_info}, network_version,
     * commit_info{commit_hash, commit_date}}; tidepool's own version numbers */
    int major = 0, minor = 0;
    if (nr->version) (void)sscanf(nr->version, "%d.%d", &major, &minor);
    dm_rpc_ok(r, json_pack("{s:{s:i,s:i,s:s},s:{s:s,s:i,s:i},s:{s:s,s:s}}", "version", "major",
                           major, "minor", minor, "additional_info", "dev", "network_version",
                           "chain_name", nr->node->chain_name, "distributed_db_version", ddb,
                           "p2p_version", p2p, "commit_info", "commit_hash",
                           nr->commit_hash ? nr->commit_hash : "unknown", "commit_date", ""));
}

static void b_connections(void *arg, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    json_t *list = json_array();
    for (tp_conn *c = tp_node_first_conn(nr->node); c; c = c->next)
        if (tp_conn_is_running(c)) json_array_append_new(list, conn_info(nr->node, c));
    dm_rpc_ok(r, list);
}

static void b_connection(void *arg, const tp_peer_id *peer, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_conn *c = running_conn_of(nr->node, peer);
    char b58[TP_PEER_ID_TEXT_SIZE];
    if (!c) {
        dm_rpc_fail(r, 404, "no connection with peer %s", tp_peer_id_to_b58(peer, b58));
        return;
    }
    dm_rpc_ok(r, conn_info(nr->node, c));
}

static void b_kick(void *arg, const tp_peer_id *peer, bool wait, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    (void)wait; /* the node flushes its queues on a graceful close anyway */
    char b58[TP_PEER_ID_TEXT_SIZE];
    if (!tp_node_kick(nr->node, peer)) {
        dm_rpc_fail(r, 404, "no connection with peer %s: nothing to kick",
                    tp_peer_id_to_b58(peer, b58));
        return;
    }
    dm_rpc_ok(r, NULL);
}

static const char *point_state_name(tp_point_state s) {
    return tp_point_state_name(s);
}

static unsigned point_filter_bit(tp_point_state s) {
    switch (s) {
    case TP_POINT_REQUESTED:
        return DM_FILTER_REQUESTED;
    case TP_POINT_ACCEPTED:
        return DM_FILTER_ACCEPTED;
    case TP_POINT_RUNNING:
        return DM_FILTER_RUNNING;
    default:
        return DM_FILTER_DISCONNECTED;
    }
}

/* Octez's Time.recent over optional stamps (TP_TIME_NONE = absent). */
static const tp_stamped_peer *recent_peer(const tp_stamped_peer *a, const tp_stamped_peer *b) {
    if (a->time_ns == TP_TIME_NONE) return b;
    if (b->time_ns == TP_TIME_NONE) return a;
    return a->time_ns >= b->time_ns ? a : b;
}

static const tp_stamped_point *recent_point(const tp_stamped_point *a,
                                            const tp_stamped_point *b) {
    if (a->time_ns == TP_TIME_NONE) return b;
    if (b->time_ns == TP_TIME_NONE) return a;
    return a->time_ns >= b->time_ns ? a : b;
}

static json_t *stamped_peer(tp_node *n, const tp_stamped_peer *sp) {
    return json_pack("[o,o]", dm_json_peer_id(&sp->peer), time_of(n, sp->time_ns));
}

static json_t *point_info(tp_node *n, const tp_point_info *p) {
    json_t *o = json_object();
    json_object_set_new(o, "trusted", json_boolean(p->trusted));
    if (p->reconnection_end_ns != TP_TIME_NONE)
        json_object_set_new(o, "greylisted_until", time_of(n, p->reconnection_end_ns));
    json_t *st = json_pack("{s:s}", "event_kind", point_state_name(p->state));
    if (p->state == TP_POINT_ACCEPTED || p->state == TP_POINT_RUNNING) {
        json_object_set_new(st, "p2p_peer_id", dm_json_peer_id(&p->peer_id));
        json_object_set_new(o, "p2p_peer_id", dm_json_peer_id(&p->peer_id));
    }
    json_object_set_new(o, "state", st);
    if (p->last_failed_connection_ns != TP_TIME_NONE)
        json_object_set_new(o, "last_failed_connection", time_of(n, p->last_failed_connection_ns));
    if (p->last_rejected_connection.time_ns != TP_TIME_NONE)
        json_object_set_new(o, "last_rejected_connection",
                            stamped_peer(n, &p->last_rejected_connection));
    if (p->last_established_connection.time_ns != TP_TIME_NONE)
        json_object_set_new(o, "last_established_connection",
                            stamped_peer(n, &p->last_established_connection));
    if (p->last_disconnection.time_ns != TP_TIME_NONE)
        json_object_set_new(o, "last_disconnection", stamped_peer(n, &p->last_disconnection));
    /* Octez P2p_point.Info: last_seen is [peer_id, time] (the most recent of rejected,
     * established, disconnection); last_miss a time */
    const tp_stamped_peer *seen = recent_peer(
        &p->last_rejected_connection,
        recent_peer(&p->last_established_connection, &p->last_disconnection));
    if (seen->time_ns != TP_TIME_NONE) json_object_set_new(o, "last_seen", stamped_peer(n, seen));
    int64_t miss = tp_point_last_miss(p);
    if (miss != TP_TIME_NONE) json_object_set_new(o, "last_miss", time_of(n, miss));
    if (p->has_expected_peer_id)
        json_object_set_new(o, "expected_peer_id", dm_json_peer_id(&p->expected_peer_id));
    return o;
}

static void b_points(void *arg, unsigned filters, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    json_t *list = json_array();
    uint32_t it = 0;
    tp_point_info *p;
    while ((p = tp_pool_next_point(tp_node_pool(nr->node), &it)) != NULL) {
        if (filters && !(filters & point_filter_bit(p->state))) continue;
        json_array_append_new(list, json_pack("[o,o]", dm_json_point(&p->point),
                                              point_info(nr->node, p)));
    }
    dm_rpc_ok(r, list);
}

static void b_point(void *arg, const tp_point *pt, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_point_info *p = tp_pool_point(tp_node_pool(nr->node), pt);
    char txt[TP_POINT_TEXT_MAX];
    if (!p) {
        dm_rpc_fail(r, 404, "unknown point %s", tp_point_format(pt, txt));
        return;
    }
    dm_rpc_ok(r, point_info(nr->node, p));
}

static void connect_done(void *arg, tp_node *n, tp_err err, tp_conn *c) {
    (void)n;
    (void)c;
    dm_rpc_pending *pending = arg;
    dm_rpc_result r;
    if (err == TP_OK)
        dm_rpc_ok(&r, NULL);
    else
        dm_rpc_fail(&r, 500, "connection failed: %s (%s)", tp_strerror(err), tp_errname(err));
    dm_rpc_complete(pending, &r);
}

static int b_point_connect(void *arg, const tp_point *pt, int64_t timeout_ns,
                           dm_rpc_pending *pending, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_err e = tp_node_connect(nr->node, pt, timeout_ns, connect_done, pending);
    if (e != TP_OK) {
        char txt[TP_POINT_TEXT_MAX];
        dm_rpc_fail(r, e == TP_ERR_ALREADY_CONNECTED || e == TP_ERR_PENDING_CONNECTION ? 409 : 500,
                    "cannot connect to %s: %s", tp_point_format(pt, txt), tp_strerror(e));
        return 0;
    }
    return DM_RPC_PENDING;
}

static void b_point_patch(void *arg, const tp_point *pt, dm_acl acl, const tp_peer_id *expected,
                          dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_node *n = nr->node;
    tp_err e = TP_OK;
    switch (acl) {
    case DM_ACL_BAN:
        tp_node_untrust_point(n, pt);
        e = tp_node_ban_addr(n, &pt->ip);
        break;
    case DM_ACL_TRUST:
        tp_node_unban_addr(n, &pt->ip);
        e = tp_node_trust_point(n, pt);
        break;
    case DM_ACL_OPEN:
        tp_node_unban_addr(n, &pt->ip);
        tp_node_untrust_point(n, pt);
        break;
    case DM_ACL_NONE:
        break;
    }
    char txt[TP_POINT_TEXT_MAX];
    if (e != TP_OK) {
        dm_rpc_fail(r, 500, "%s: %s", tp_point_format(pt, txt), tp_strerror(e));
        return;
    }
    tp_point_info *p = NULL;
    if (expected) {
        e = tp_pool_register_point(tp_node_pool(n), pt, -1, expected, &p);
        if (e != TP_OK) {
            dm_rpc_fail(r, 400, "cannot set the expected peer id of %s: %s",
                        tp_point_format(pt, txt), tp_strerror(e));
            return;
        }
        /* a connected peer with another id at that point is kicked (spec §11) */
        if (p->state == TP_POINT_RUNNING && !tp_peer_id_eq(&p->peer_id, expected)) {
            tp_node_greylist_peer(n, &p->peer_id);
            (void)tp_node_kick(n, &p->peer_id);
        }
    }
    p = tp_pool_point(tp_node_pool(n), pt);
    if (!p) {
        /* banned or opened without ever being known: Octez answers with a default info */
        dm_rpc_ok(r, json_pack("{s:b,s:{s:s}}", "trusted", 0, "state", "event_kind",
                               "disconnected"));
        return;
    }
    dm_rpc_ok(r, point_info(n, p));
}

static void b_point_banned(void *arg, const tp_point *pt, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_point_info *p = tp_pool_point(tp_node_pool(nr->node), pt);
    bool banned = !(p && p->trusted) && tp_acl_banned_ip(tp_node_acl(nr->node), &pt->ip);
    dm_rpc_ok(r, json_boolean(banned));
}

/* P2p_point.Pool_event: {"kind": {"event_kind", "p2p_peer_id"?}, "timestamp"} */
static json_t *point_event_json(tp_node *n, const tp_pool_event *e) {
    json_t *kind =
        json_pack("{s:s}", "event_kind", tp_pool_event_kind_name((tp_pool_event_kind)e->kind));
    if (e->has_peer) json_object_set_new(kind, "p2p_peer_id", dm_json_peer_id(&e->peer));
    return json_pack("{s:o,s:o}", "kind", kind, "timestamp", time_of(n, e->time_ns));
}

/* P2p_peer.Pool_event: {"kind", "timestamp", "addr", "port"?} */
static json_t *peer_event_json(tp_node *n, const tp_pool_event *e) {
    json_t *o = dm_json_id_point(&e->point);
    json_object_set_new(o, "kind",
                        json_string(tp_pool_event_kind_name((tp_pool_event_kind)e->kind)));
    json_object_set_new(o, "timestamp", time_of(n, e->time_ns));
    return o;
}

/* The items of `ring` after *cursor, oldest first, and *cursor past them. The ring is
 * in time order (the pool stamps items with the monotonic clock as it appends them):
 * skip the items older than the cursor's time and the first at_time items bearing it. */
static json_t *history_since(tp_node *n, const tp_pool_event_ring *ring,
                             dm_rpc_log_cursor *cursor,
                             json_t *(*encode)(tp_node *, const tp_pool_event *)) {
    json_t *list = json_array();
    dm_rpc_log_cursor next = *cursor;
    uint32_t skipped = 0;
    for (uint16_t i = 0; i < ring->count; i++) {
        const tp_pool_event *e = tp_pool_event_ring_at(ring, i);
        if (e->time_ns < cursor->time_ns) continue;
        if (e->time_ns == cursor->time_ns && skipped < cursor->at_time) {
            skipped++;
            continue;
        }
        json_array_append_new(list, encode(n, e));
        if (e->time_ns == next.time_ns) {
            next.at_time++;
        } else {
            next.time_ns = e->time_ns;
            next.at_time = 1;
        }
    }
    *cursor = next;
    return list;
}

static void b_point_log(void *arg, const tp_point *pt, dm_rpc_log_cursor *cursor,
                        dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_point_info *p = tp_pool_point(tp_node_pool(nr->node), pt);
    char txt[TP_POINT_TEXT_MAX];
    if (!p) {
        dm_rpc_fail(r, 404, "unknown point %s", tp_point_format(pt, txt));
        return;
    }
    dm_rpc_ok(r, history_since(nr->node, &p->events, cursor, point_event_json));
}

static void b_peer_log(void *arg, const tp_peer_id *id, dm_rpc_log_cursor *cursor,
                       dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_peer_info *p = tp_pool_peer(tp_node_pool(nr->node), id);
    char b58[TP_PEER_ID_TEXT_SIZE];
    if (!p) {
        dm_rpc_fail(r, 404, "unknown peer %s", tp_peer_id_to_b58(id, b58));
        return;
    }
    dm_rpc_ok(r, history_since(nr->node, &p->events, cursor, peer_event_json));
}

static unsigned peer_filter_bit(tp_peer_state s) {
    const char *name = tp_peer_state_name(s);
    if (strcmp(name, "accepted") == 0) return DM_FILTER_ACCEPTED;
    if (strcmp(name, "running") == 0) return DM_FILTER_RUNNING;
    return DM_FILTER_DISCONNECTED;
}

static json_t *stamped_point(tp_node *n, const tp_stamped_point *sp) {
    return json_pack("[o,o]", dm_json_id_point(&sp->point), time_of(n, sp->time_ns));
}

static json_t *peer_info(tp_node *n, const tp_peer_info *p) {
    json_t *o = json_object();
    json_object_set_new(o, "score", json_real(p->score_pm / 1000.0));
    json_object_set_new(o, "trusted", json_boolean(p->trusted));
    json_object_set_new(o, "peer_metadata", json_object());
    json_object_set_new(o, "state", json_string(tp_peer_state_name(p->state)));
    if (p->current_point.port != 0 || !tp_ip_eq(&p->current_point.ip, &(tp_ip){{0}}))
        json_object_set_new(o, "reachable_at", dm_json_id_point(&p->current_point));
    tp_stat st = {0, 0, 0, 0};
    tp_conn *c = p->conn;
    if (c) {
        st = tp_node_conn_stat(c);
        json_object_set_new(o, "conn_metadata", metadata(&c->sock.remote.metadata));
    }
    json_object_set_new(o, "stat", stat_json(&st));
    if (p->last_failed_connection.time_ns != TP_TIME_NONE)
        json_object_set_new(o, "last_failed_connection",
                            stamped_point(n, &p->last_failed_connection));
    if (p->last_rejected_connection.time_ns != TP_TIME_NONE)
        json_object_set_new(o, "last_rejected_connection",
                            stamped_point(n, &p->last_rejected_connection));
    if (p->last_established_connection.time_ns != TP_TIME_NONE)
        json_object_set_new(o, "last_established_connection",
                            stamped_point(n, &p->last_established_connection));
    if (p->last_disconnection.time_ns != TP_TIME_NONE)
        json_object_set_new(o, "last_disconnection", stamped_point(n, &p->last_disconnection));
    /* Octez P2p_peer.Info: last_seen and last_miss are [id_point, time] too */
    const tp_stamped_point *seen = recent_point(
        &p->last_rejected_connection,
        recent_point(&p->last_established_connection, &p->last_disconnection));
    const tp_stamped_point *miss = recent_point(
        &p->last_failed_connection,
        recent_point(&p->last_rejected_connection, &p->last_disconnection));
    if (seen->time_ns != TP_TIME_NONE) json_object_set_new(o, "last_seen", stamped_point(n, seen));
    if (miss->time_ns != TP_TIME_NONE) json_object_set_new(o, "last_miss", stamped_point(n, miss));
    return o;
}

static void b_peers(void *arg, unsigned filters, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    json_t *list = json_array();
    uint32_t it = 0;
    tp_peer_info *p;
    while ((p = tp_pool_next_peer(tp_node_pool(nr->node), &it)) != NULL) {
        if (filters && !(filters & peer_filter_bit(p->state))) continue;
        json_array_append_new(list, json_pack("[o,o]", dm_json_peer_id(&p->peer_id),
                                              peer_info(nr->node, p)));
    }
    dm_rpc_ok(r, list);
}

static void b_peer(void *arg, const tp_peer_id *id, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_peer_info *p = tp_pool_peer(tp_node_pool(nr->node), id);
    char b58[TP_PEER_ID_TEXT_SIZE];
    if (!p) {
        dm_rpc_fail(r, 404, "unknown peer %s", tp_peer_id_to_b58(id, b58));
        return;
    }
    dm_rpc_ok(r, peer_info(nr->node, p));
}

static void b_peer_patch(void *arg, const tp_peer_id *id, dm_acl acl, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_node *n = nr->node;
    tp_err e = TP_OK;
    switch (acl) {
    case DM_ACL_BAN:
        tp_node_untrust_peer(n, id);
        e = tp_node_ban_peer(n, id);
        break;
    case DM_ACL_TRUST:
        tp_node_unban_peer(n, id);
        e = tp_node_trust_peer(n, id);
        break;
    case DM_ACL_OPEN:
        tp_node_unban_peer(n, id);
        tp_node_untrust_peer(n, id);
        break;
    case DM_ACL_NONE:
        break;
    }
    char b58[TP_PEER_ID_TEXT_SIZE];
    if (e != TP_OK) {
        dm_rpc_fail(r, 500, "%s: %s", tp_peer_id_to_b58(id, b58), tp_strerror(e));
        return;
    }
    tp_peer_info *p = tp_pool_peer(tp_node_pool(n), id);
    if (!p) {
        dm_rpc_ok(r, json_pack("{s:b,s:s}", "trusted", 0, "state", "disconnected"));
        return;
    }
    dm_rpc_ok(r, peer_info(n, p));
}

static void b_peer_banned(void *arg, const tp_peer_id *id, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_peer_info *p = tp_pool_peer(tp_node_pool(nr->node), id);
    bool banned = !(p && p->trusted) && tp_acl_banned_peer(tp_node_acl(nr->node), id->bytes);
    dm_rpc_ok(r, json_boolean(banned));
}

static void b_greylist_ips(void *arg, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    json_t *ips = json_array();
    uint32_t it = 0;
    tp_ip ip;
    int64_t expiry;
    char txt[TP_IP_TEXT_MAX];
    while (tp_acl_next_greylisted_ip(tp_node_acl(nr->node), &it, &ip, &expiry))
        json_array_append_new(ips, json_string(tp_ip_format(&ip, txt)));
    dm_rpc_ok(r, json_pack("{s:o,s:n}", "ips", ips, "not_reliable_since"));
}

static void b_greylist_peers(void *arg, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    json_t *list = json_array();
    uint32_t it = 0;
    tp_peer_id id;
    while (tp_acl_next_greylisted_peer(tp_node_acl(nr->node), &it, id.bytes))
        json_array_append_new(list, dm_json_peer_id(&id));
    dm_rpc_ok(r, list);
}

static void b_greylist_clear(void *arg, dm_rpc_result *r) {
    dm_node_rpc *nr = arg;
    tp_node_acl_clear(nr->node); /* all ACL tables, as Octez (spec §11) */
    dm_rpc_ok(r, NULL);
}

void dm_node_rpc_backend(dm_node_rpc *nr, dm_rpc_backend *be) {
    memset(be, 0, sizeof *be);
    be->self = b_self;
    be->stat = b_stat;
    be->version = b_version;
    be->connections = b_connections;
    be->connection = b_connection;
    be->kick = b_kick;
    be->points = b_points;
    be->point = b_point;
    be->point_connect = b_point_connect;
    be->point_patch = b_point_patch;
    be->point_banned = b_point_banned;
    be->point_log = b_point_log;
    be->peer_log = b_peer_log;
    be->peers = b_peers;
    be->peer = b_peer;
    be->peer_patch = b_peer_patch;
    be->peer_banned = b_peer_banned;
    be->greylist_ips = b_greylist_ips;
    be->greylist_peers = b_greylist_peers;
    be->greylist_clear = b_greylist_clear;
    be->arg = nr;
}
