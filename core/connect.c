/* core/connect.c — accept, connect, admission, connection lifecycle (spec §2.7, §7).
 * See connect.h. Octez: P2p_connect_handler, the answerer of P2p_protocol. */
#include "connect.h"

#include <string.h>

#include "encoding.h"

/* ---- events -------------------------------------------------------------------------- */

static void emit(tp_connect *h, tp_event_kind kind, const tp_peer_id *peer,
                 const tp_point *point, int32_t code, const char *detail) {
    tp_env_emit(h->env, kind, peer ? peer->bytes : NULL, point, code, detail);
}

static const tp_peer_id *conn_peer_id(const tp_conn *c) {
    return c->sock.state >= TP_SOCKET_AUTHENTICATED ? &c->sock.remote.peer_id : NULL;
}

/* ---- list ---------------------------------------------------------------------------- */

static void link_conn(tp_connect *h, tp_conn *c) {
    c->prev = h->tail;
    c->next = NULL;
    if (h->tail != NULL)
        h->tail->next = c;
    else
        h->head = c;
    h->tail = c;
    h->conn_count++;
    c->seq = h->next_seq++;
}

static void unlink_conn(tp_connect *h, tp_conn *c) {
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        h->tail = c->prev;
    c->prev = c->next = NULL;
    TP_ASSERT(h->conn_count > 0);
    h->conn_count--;
}

static bool acl_ip_filter(void *arg, const tp_ip *ip) {
    return tp_acl_banned_ip(arg, ip);
}

/* A point heard of (Advertise, Nack list): registered untrusted; my_id_points are
 * refused by the pool, and a table full of uncollectable points drops it. */
static void learn_point(tp_connect *h, const tp_point *point) {
    tp_point_info *p;
    tp_err e = tp_pool_register_point(h->pool, point, -1, NULL, &p);
    (void)e;
}

static void fire_connect_cb(tp_conn *c, tp_err err) {
    if (c->connect_cb == NULL) return;
    tp_connect_cb cb = c->connect_cb;
    c->connect_cb = NULL;
    cb(c->connect_arg, err, c);
}

/* ---- greylisting (spec §2.9, §5.4) --------------------------------------------------- */

static void greylist_ip(tp_connect *h, const tp_ip *ip, const tp_peer_id *peer, tp_err why) {
    tp_acl_greylist_ip(h->acl, ip);
    h->stats.greylisted_ips++;
    tp_point p = {*ip, 0};
    emit(h, TP_EVENT_GREYLIST_IP, peer, &p, why, tp_errname(why));
}

bool tp_connect_greylist_peer(tp_connect *h, const tp_peer_id *peer) {
    tp_peer_info *pi = tp_pool_peer(h->pool, peer);
    if (pi == NULL || pi->state != TP_PEER_RUNNING || pi->conn == NULL) return false;
    tp_conn *c = pi->conn;
    greylist_ip(h, &c->remote_addr.ip, peer, TP_OK);
    tp_acl_greylist_peer(h->acl, peer->bytes);
    h->stats.greylisted_peers++;
    emit(h, TP_EVENT_GREYLIST_PEER, peer, &c->remote_addr, 0, NULL);
    return true;
}

/* ---- conn handlers ------------------------------------------------------------------- */

static void on_connected(void *arg, tp_conn *c) {
    (void)arg;
    (void)c;
}

static void greylist_ip(tp_connect *h, const tp_ip *ip, const tp_peer_id *peer, tp_err why);

/* tidepool option greylist_ip_after_timeouts (core/connect.h): one more timed-out
 * incoming handshake from ip; greylists it at the threshold. */
static void count_incoming_timeout(tp_connect *h, const tp_ip *ip) {
    uint32_t i = 0;
    while (i < h->timeout_ips_used && memcmp(h->timeout_ips[i].ip.bytes, ip->bytes, 16) != 0) i++;
    if (i == h->timeout_ips_used) {
        if (h->timeout_ips_used < TP_CONNECT_TIMEOUT_IPS_MAX) {
            i = h->timeout_ips_used++;
        } else {
            i = h->timeout_ips_next; /* the oldest entry */
            h->timeout_ips_next = (h->timeout_ips_next + 1) % TP_CONNECT_TIMEOUT_IPS_MAX;
        }
        h->timeout_ips[i].ip = *ip;
        h->timeout_ips[i].count = 0;
    }
    if (++h->timeout_ips[i].count >= h->cfg->greylist_ip_after_timeouts) {
        h->timeout_ips[i].count = 0;
        greylist_ip(h, ip, NULL, TP_ERR_TIMEOUT);
    }
}

static void timeout_fire(void *arg) {
    tp_conn *c = arg;
    tp_connect *h = c->harg;
    h->stats.timeouts++;
    /* spec §2.10: a timeout is a cancellation; it never greylists (Octez). */
    emit(h, TP_EVENT_AUTHENTICATION_FAILED, conn_peer_id(c), &c->remote_addr, TP_ERR_TIMEOUT,
         "timeout");
    if (h->cfg->greylist_ip_after_timeouts > 0 && c->pending_incoming)
        count_incoming_timeout(h, &c->remote_addr.ip);
    c->requested_close = true;
    tp_conn_close(c, TP_ERR_TIMEOUT, false);
}

/* spec §2.7 step 5: for one version kind. */
static bool select_version(const uint16_t *ours, size_t n, uint16_t remote, uint16_t *out) {
    uint16_t best = 0;
    for (size_t i = 0; i < n; i++)
        if (ours[i] > best) best = ours[i];
    if (best <= remote) {
        *out = best;
        return true;
    }
    for (size_t i = 0; i < n; i++)
        if (ours[i] == remote) {
            *out = remote;
            return true;
        }
    return false;
}

/* Close without Nack after an admission failure (spec §2.7 steps 1, 3, 7). */
static void refuse(tp_connect *h, tp_conn *c, tp_err why) {
    emit(h, TP_EVENT_AUTHENTICATION_FAILED, conn_peer_id(c), &c->remote_addr, why,
         tp_errname(why));
    /* Octez (p2p_connect_handler.ml raw_authenticate): after Peer_banned,
     * Identity_check_failure and Private_mode nothing resets the dialed point, which
     * stays Requested (see tp_connect_config.reset_refused_points). */
    if (!c->incoming && !h->cfg->reset_refused_points &&
        (why == TP_ERR_PEER_BANNED || why == TP_ERR_IDENTITY_CHECK_FAILURE ||
         why == TP_ERR_PRIVATE_MODE)) {
        c->point_owned = false;
        h->stats.points_left_requested++;
    }
    c->requested_close = true;
    tp_conn_close(c, why, true);
    if (c->incoming) { /* owns neither info (see the Nack case) */
        c->point = NULL;
        c->peer = NULL;
    }
}

static void admission(tp_connect *h, tp_conn *c) {
    const tp_connect_config *cfg = h->cfg;
    const tp_socket_remote *r = &c->sock.remote;
    const tp_peer_id *peer = &r->peer_id;
    /* 1. banned peer: close, no Nack. */
#ifdef TP_PLANTED_BUG_SKIP_BANNED_PEER_CHECK
    /* Deliberately planted bug (swarm testing, -DTP_PLANTED_BUG=SKIP_BANNED_PEER_CHECK):
     * the banned-peer check is skipped; tests/swarm_planted_bug.test.sh must find it. */
#else
    if (tp_acl_banned_peer(h->acl, peer->bytes)) {
        refuse(h, c, TP_ERR_PEER_BANNED);
        return;
    }
#endif
    /* 2. id_point (spec §2.3) and the point used for the checks. */
    if (c->incoming) {
        c->id_point.ip = c->remote_addr.ip;
        c->id_point.port = r->port;
        if (r->port != 0 && !tp_pool_is_my_id_point(h->pool, &c->id_point)) {
            tp_point_info *p = NULL;
            if (tp_pool_register_point(h->pool, &c->id_point, -1, NULL, &p) == TP_OK)
                c->point = p;
        }
    }
    tp_point_info *point = c->point;
    /* 3. expected peer id. */
    if (point != NULL && point->has_expected_peer_id &&
        !tp_peer_id_eq(&point->expected_peer_id, peer)) {
        refuse(h, c, TP_ERR_IDENTITY_CHECK_FAILURE);
        return;
    }
    /* 4. register the peer. */
    tp_peer_info *pi = NULL;
    tp_err e = tp_pool_register_peer(h->pool, peer, &pi);
    if (e != TP_OK) {
        refuse(h, c, e);
        return;
    }
    c->peer = pi;
    if (c->incoming) tp_peer_log_incoming(h->pool, pi, &c->id_point);
    /* 5. versions. */
    int motive = -1;
    if (r->chain_name_len != cfg->socket.chain_name_len ||
        memcmp(r->chain_name, cfg->socket.chain_name, r->chain_name_len) != 0)
        motive = TP_MOTIVE_UNKNOWN_CHAIN_NAME;
    else if (!select_version(cfg->ddb_versions, cfg->ddb_versions_count,
                             r->distributed_db_version, &c->ddb_version))
        motive = TP_MOTIVE_DEPRECATED_DISTRIBUTED_DB_VERSION;
    else if (!select_version(cfg->p2p_versions, cfg->p2p_versions_count, r->p2p_version,
                             &c->p2p_version))
        motive = TP_MOTIVE_DEPRECATED_P2P_VERSION;
    /* 6. slots. */
    else if (h->active >= cfg->connections_threshold)
        motive = TP_MOTIVE_TOO_MANY_CONNECTIONS;
    else {
        /* 7. is_acceptable. */
        if (cfg->private_mode && !(point != NULL && point->trusted) && !pi->trusted) {
            refuse(h, c, TP_ERR_PRIVATE_MODE);
            return;
        }
        if (point != NULL &&
            (point->state == TP_POINT_ACCEPTED || point->state == TP_POINT_RUNNING ||
             (point->state == TP_POINT_REQUESTED && c->incoming)))
            motive = TP_MOTIVE_ALREADY_CONNECTED;
        else if (pi->state == TP_PEER_ACCEPTED || pi->state == TP_PEER_RUNNING)
            motive = TP_MOTIVE_ALREADY_CONNECTED;
    }
    /* 8. known_public, even when rejected. */
    if (point != NULL) tp_point_set_known_public(h->pool, point, !r->metadata.private_node);
    /* 9. outcome. */
    if (motive >= 0) {
        h->stats.rejected_by_us++;
        emit(h, TP_EVENT_REJECTING_REQUEST, peer, &c->id_point, motive, tp_motive_name((int16_t)motive));
        if (point != NULL) tp_point_log_rejecting(h->pool, point, peer);
        tp_peer_log_rejecting(h->pool, pi, &c->id_point);
        if (point != NULL && (motive == TP_MOTIVE_UNKNOWN_CHAIN_NAME ||
                              motive == TP_MOTIVE_DEPRECATED_DISTRIBUTED_DB_VERSION ||
                              motive == TP_MOTIVE_DEPRECATED_P2P_VERSION)) {
            /* spec §2.7 step 9: forget the point (not greylisted: other nodes of our
             * network may share that IP). Octez (p2p_connect_handler.ml `authenticate`)
             * unregisters the socket's address: for an outgoing connection the dialed
             * point, forgotten once it is Disconnected again (on close); for an
             * incoming one the remote's ephemeral address, not the point it announced,
             * which stays known (the spec reads it as the announced point; the source
             * wins). The connection stops referring to the announced point (GC could
             * free it before the close). */
            if (c->incoming) {
                tp_point_info *sp = tp_pool_point(h->pool, &c->remote_addr);
                if (sp != NULL && sp->state == TP_POINT_DISCONNECTED)
                    (void)tp_pool_unregister_point(h->pool, &c->remote_addr);
                c->point = NULL;
            } else {
                c->unregister_point = true;
            }
        }
        tp_point list[TP_NACK_POINTS_SENT];
        size_t n = 0;
        if (r->p2p_version > 0 && !cfg->disable_peer_discovery)
            n = tp_pool_list_known_points(h->pool, TP_NACK_POINTS_SENT, acl_ip_filter, h->acl,
                                          list);
        c->requested_close = true;
        tp_conn_nack(c, (int16_t)motive, list, n);
        /* An incoming connection owns neither info: drop the references, the pool may
         * collect them before the stream's close callback. */
        if (c->incoming) {
            c->point = NULL;
            c->peer = NULL;
        }
        return;
    }
    if (point != NULL) {
        tp_point_set_accepted(h->pool, point, peer);
        c->point_owned = true;
    }
    tp_peer_set_accepted(h->pool, pi, &c->id_point);
    c->peer_owned = true;
    emit(h, TP_EVENT_ACCEPTING_REQUEST, peer, &c->id_point, 0, NULL);
    e = tp_conn_accept(c);
    if (e != TP_OK) {
        c->requested_close = true;
        tp_conn_close(c, e, false);
    }
}

static void create_connection(tp_connect *h, tp_conn *c) {
    tp_env_timer_stop(h->env, &c->timeout_timer);
    if (c->pending_incoming) {
        c->pending_incoming = false;
        h->pending_incoming--;
    }
    const tp_peer_id *peer = &c->sock.remote.peer_id;
    if (c->point != NULL) tp_point_set_running(h->pool, c->point, peer, c);
    tp_peer_set_running(h->pool, c->peer, &c->id_point, c);
    c->running = true;
    h->active++;
    h->stats.established++;
    emit(h, TP_EVENT_CONNECTION_ESTABLISHED, peer, &c->id_point, c->incoming, NULL);
    fire_connect_cb(c, TP_OK);
    if (c->closing) return;
    if (h->hooks.on_new_connection != NULL) h->hooks.on_new_connection(h->hooks.arg, c);
    /* spec §7.3 (>= since March 2026). */
    if (h->active >= h->cfg->max_connections) {
        emit(h, TP_EVENT_TOO_MANY_CONNECTIONS, NULL, NULL, (int32_t)h->active, NULL);
        if (h->hooks.too_many_connections != NULL) h->hooks.too_many_connections(h->hooks.arg);
    }
}

static void on_nack(tp_connect *h, tp_conn *c) {
    h->stats.rejected_by_nack++;
    const uint8_t *unit;
    size_t len;
    tp_socket_unit(&c->sock, &unit, &len);
    tp_ack a;
    if (tp_ack_decode(unit, len, &a) == TP_OK) {
        emit(h, TP_EVENT_REQUEST_REJECTED, &c->sock.remote.peer_id, &c->id_point,
             a.kind == TP_NACK ? a.motive : TP_MOTIVE_NO_MOTIVE, "nack");
        /* spec §2.7: the alternative points become known points. */
        if (a.kind == TP_NACK && !h->cfg->disable_peer_discovery) {
            for (size_t i = 0; i < a.points_count; i++) {
                learn_point(h, &a.points[i]);
            }
        }
    }
    c->requested_close = true;
    tp_conn_close(c, TP_ERR_REJECTED_BY_NACK, true);
}

static void on_handshake(void *arg, tp_conn *c, tp_socket_event ev) {
    tp_connect *h = arg;
    switch (ev) {
    case TP_SOCKET_EV_AUTHENTICATED:
        c->authenticated = true;
        if (h->shutting_down) {
            c->requested_close = true;
            tp_conn_close(c, TP_ERR_CANCELLED, false);
            return;
        }
        admission(h, c);
        return;
    case TP_SOCKET_EV_ACK:
        create_connection(h, c);
        return;
    case TP_SOCKET_EV_NACK:
        on_nack(h, c);
        return;
    default:
        TP_UNREACHABLE();
    }
}

static void on_bootstrap(void *arg, tp_conn *c) {
    tp_connect *h = arg;
    h->stats.bootstrap_received++;
    emit(h, TP_EVENT_BOOTSTRAP_RECEIVED, &c->sock.remote.peer_id, NULL, 0, NULL);
    /* spec §4.4: ignored with discovery disabled, by private nodes, and from private
     * senders; answered only with a non-empty list, through write_now. */
    if (h->cfg->disable_peer_discovery || h->cfg->private_mode ||
        c->sock.remote.metadata.private_node)
        return;
    tp_p2p_msg m;
    m.tag = TP_MSG_ADVERTISE;
    m.points_count = tp_pool_list_known_points(h->pool, TP_NACK_POINTS_SENT, acl_ip_filter,
                                               h->acl, m.points);
    if (m.points_count == 0) return;
    uint8_t frame[6 + TP_NACK_POINTS_SENT * 51];
    size_t len;
    if (tp_p2p_msg_encode(&m, frame, sizeof frame, &len) != TP_OK) return;
    if (tp_conn_write_frame(c, frame, len, true) == TP_OK) {
        h->stats.advertise_sent++;
        emit(h, TP_EVENT_ADVERTISE_SENT, &c->sock.remote.peer_id, NULL,
             (int32_t)m.points_count, NULL);
    }
}

static void on_advertise(void *arg, tp_conn *c, const tp_point *points, size_t count) {
    tp_connect *h = arg;
    h->stats.advertise_received++;
    emit(h, TP_EVENT_ADVERTISE_RECEIVED, &c->sock.remote.peer_id, NULL, (int32_t)count, NULL);
    if (h->cfg->disable_peer_discovery || h->cfg->private_mode) return;
    for (size_t i = 0; i < count; i++) {
        /* points in my_id_points are refused by the pool; other failures (a full
         * table of connected points) just drop the point. */
        learn_point(h, &points[i]);
    }
}

static void on_swap_request(void *arg, tp_conn *c, const tp_point *point,
                            const tp_peer_id *peer) {
    tp_connect *h = arg;
    /* The SWAP_REQUEST_RECEIVED event is the swap's (core/swap.c), once: Octez logs
     * it in p2p_protocol.ml Default_answerer.swap_request; a private node's answerer
     * (Private_answerer) does not. */
    if (h->cfg->private_mode) return; /* spec §7.4 */
    if (h->hooks.on_swap_request != NULL) h->hooks.on_swap_request(h->hooks.arg, c, point, peer);
}

static void on_swap_ack(void *arg, tp_conn *c, const tp_point *point, const tp_peer_id *peer) {
    tp_connect *h = arg;
    if (h->cfg->private_mode) return; /* SWAP_ACK_RECEIVED: core/swap.c, as above */
    if (h->hooks.on_swap_ack != NULL) h->hooks.on_swap_ack(h->hooks.arg, c, point, peer);
}

static void on_app_message(void *arg, tp_conn *c) {
    tp_connect *h = arg;
    uint16_t tag;
    const uint8_t *payload;
    size_t len;
    if (tp_conn_app_peek(c, &tag, &payload, &len))
        emit(h, TP_EVENT_APP_MESSAGE, &c->sock.remote.peer_id, NULL, tag, NULL);
    if (h->hooks.on_app_message != NULL) h->hooks.on_app_message(h->hooks.arg, c);
}

static void on_writable(void *arg, tp_conn *c) {
    tp_connect *h = arg;
    if (h->hooks.on_writable != NULL) h->hooks.on_writable(h->hooks.arg, c);
}

static void on_error(void *arg, tp_conn *c, tp_err err) {
    tp_connect *h = arg;
    if (c->running) {
        /* spec §4.4: a decoding error greylists the peer (its id and its IP). Not a
         * bad MAC: Octez's P2p_conn worker greylists on Decoding_error only, and a
         * Decipher_error on a running connection just closes it (p2p_conn.ml
         * read_message's `Error err` case). */
        if (tp_socket_err_greylists(err) && err != TP_ERR_DECIPHER) {
            const tp_peer_id *peer = &c->sock.remote.peer_id;
            greylist_ip(h, &c->remote_addr.ip, peer, err);
            tp_acl_greylist_peer(h->acl, peer->bytes);
            h->stats.greylisted_peers++;
            emit(h, TP_EVENT_GREYLIST_PEER, peer, &c->remote_addr, err, tp_errname(err));
        }
        return;
    }
    h->stats.auth_failed++;
    emit(h, TP_EVENT_AUTHENTICATION_FAILED, conn_peer_id(c), &c->remote_addr, err,
         tp_errname(err));
    /* spec §2.9: exactly these failures greylist the IP during authentication — up to
     * the metadata. Errors in the Ack exchange do not: Octez greylists in
     * raw_authenticate's on_error around socket_authenticate only; socket_accept's
     * on_error (the Ack) does not (p2p_connect_handler.ml). */
    if (!c->authenticated && tp_socket_err_greylists(err))
        greylist_ip(h, &c->remote_addr.ip, conn_peer_id(c), err);
}

static void free_conn(tp_connect *h, tp_conn *c) {
    tp_conn_deinit(c);
    tp_env_free(h->env, c, sizeof *c);
}

static void on_closed(void *arg, tp_conn *c, tp_err reason) {
    tp_connect *h = arg;
    if (c->pending_incoming) {
        c->pending_incoming = false;
        h->pending_incoming--;
    }
    const tp_peer_id *peer = conn_peer_id(c);
    if (c->running) {
        c->running = false;
        TP_ASSERT(h->active > 0);
        h->active--;
        if (c->point != NULL) tp_point_set_disconnected(h->pool, c->point, c->requested_close);
        tp_peer_set_disconnected(h->pool, c->peer, c->requested_close);
        emit(h, c->requested_close ? TP_EVENT_DISCONNECTION : TP_EVENT_EXTERNAL_DISCONNECTION,
             peer, &c->id_point, reason, tp_errname(reason));
        if (h->hooks.on_disconnection != NULL) h->hooks.on_disconnection(h->hooks.arg, c);
        if (h->active < h->cfg->min_connections && !h->shutting_down) {
            emit(h, TP_EVENT_TOO_FEW_CONNECTIONS, NULL, NULL, (int32_t)h->active, NULL);
            if (h->hooks.too_few_connections != NULL)
                h->hooks.too_few_connections(h->hooks.arg);
        }
    } else {
        if (c->point_owned && c->point->state != TP_POINT_DISCONNECTED)
            tp_point_set_disconnected(h->pool, c->point, true);
        if (c->peer_owned && c->peer->state != TP_PEER_DISCONNECTED)
            tp_peer_set_disconnected(h->pool, c->peer, true);
        tp_err err = reason;
        if (!c->established && reason != TP_ERR_TIMEOUT && reason != TP_ERR_CANCELLED)
            err = TP_ERR_CONNECTION_FAILED;
        if (err == TP_OK) err = TP_ERR_CLOSED;
        if (c->point != NULL && c->point_owned) {
            tp_point pt = c->point->point;
            if (reason == TP_ERR_MYSELF && !c->incoming) tp_pool_add_my_id_point(h->pool, &pt);
            else if (c->unregister_point) (void)tp_pool_unregister_point(h->pool, &pt);
        }
        if (reason == TP_ERR_MYSELF && c->incoming && c->sock.remote.port != 0) {
            /* Octez's may_register_my_id_point records Myself (addr, Some port) on
             * either side; incoming, it is the remote address with the port announced
             * in the connection message (p2p_socket.ml authenticate: id_point). */
            tp_point me = {c->remote_addr.ip, c->sock.remote.port};
            tp_pool_add_my_id_point(h->pool, &me);
        }
        fire_connect_cb(c, err);
    }
    unlink_conn(h, c);
    free_conn(h, c);
    if (h->shutting_down && h->conn_count == 0 && h->hooks.on_all_closed != NULL)
        h->hooks.on_all_closed(h->hooks.arg);
}

static const tp_conn_handlers conn_handlers = {
    on_connected, on_handshake, on_bootstrap, on_advertise, on_swap_request,
    on_swap_ack,  on_app_message, on_error, on_writable, on_closed,
};

/* ---- public -------------------------------------------------------------------------- */

void tp_connect_init(tp_connect *h, const tp_env *env, const tp_connect_config *cfg,
                     tp_pool *pool, tp_acl *acl, const tp_connect_hooks *hooks) {
    memset(h, 0, sizeof *h);
    h->env = env;
    h->cfg = cfg;
    h->pool = pool;
    h->acl = acl;
    if (hooks != NULL) h->hooks = *hooks;
}

void tp_connect_accept(tp_connect *h, tp_stream *s, const tp_point *remote) {
    h->stats.incoming++;
    emit(h, TP_EVENT_INCOMING_CONNECTION, NULL, remote, 0, NULL);
    /* spec §7.1 step 2: pending handshakes, not established connections, count. */
    if (h->shutting_down || h->pending_incoming >= h->cfg->max_incoming_connections) {
        h->stats.refused_pending_limit++;
        tp_env_stream_close(h->env, s);
        return;
    }
    /* tidepool option: a cap on one IP's pending handshakes (tp_connect_config). */
    if (h->cfg->max_pending_incoming_per_ip > 0) {
        uint32_t same_ip = 0;
        for (tp_conn *o = h->head; o != NULL; o = o->next)
            if (o->pending_incoming &&
                memcmp(o->id_point.ip.bytes, remote->ip.bytes, sizeof remote->ip.bytes) == 0)
                same_ip++;
        if (same_ip >= h->cfg->max_pending_incoming_per_ip) {
            h->stats.refused_pending_per_ip++;
            tp_env_stream_close(h->env, s);
            return;
        }
    }
    /* step 3: a banned IP is closed before any handshake byte. */
    if (tp_acl_banned_ip(h->acl, &remote->ip)) {
        h->stats.refused_banned_ip++;
        tp_env_stream_close(h->env, s);
        return;
    }
    tp_conn *c = tp_env_alloc(h->env, sizeof *c);
    if (c == NULL) {
        tp_env_stream_close(h->env, s);
        return;
    }
    tp_err e = tp_conn_init_incoming(c, h->env, &h->cfg->conn, &h->cfg->socket, &conn_handlers,
                                     h, s, remote);
    if (e != TP_OK) {
        tp_env_free(h->env, c, sizeof *c);
        tp_env_stream_close(h->env, s);
        return;
    }
    link_conn(h, c);
    c->pending_incoming = true;
    h->pending_incoming++;
    c->id_point = *remote;
    tp_timer_init(&c->timeout_timer, timeout_fire, c);
    tp_env_timer_start_in(h->env, &c->timeout_timer, h->cfg->authentication_timeout_ns);
}

tp_err tp_connect_connect(tp_connect *h, const tp_point *point, int trusted,
                          const tp_peer_id *expected, int64_t timeout_ns, tp_connect_cb cb,
                          void *arg, tp_conn **out) {
    TP_ASSERT(cb != NULL);
    if (h->shutting_down) return TP_ERR_STATE;
    /* spec §7.2 */
    if (tp_acl_banned_ip(h->acl, &point->ip)) return TP_ERR_POINT_BANNED;
    if (h->active > h->cfg->max_connections) return TP_ERR_TOO_MANY_CONNECTIONS;
    tp_point_info *p = NULL;
    TP_TRY(tp_pool_register_point(h->pool, point, trusted, expected, &p));
    if (h->cfg->private_mode && !p->trusted) return TP_ERR_PRIVATE_MODE;
    if (p->state == TP_POINT_REQUESTED || p->state == TP_POINT_ACCEPTED)
        return TP_ERR_PENDING_CONNECTION;
    if (p->state == TP_POINT_RUNNING) return TP_ERR_ALREADY_CONNECTED;
    if (point->port == 0) {
        /* A point learnt with port 0 (Octez registers it): the connect(2) fails, and
         * Octez's connect sets the point Requested, then Disconnected with the
         * failure's reconnection delay (p2p_connect_handler.ml connect). Here the env
         * refuses port 0 at once, so the same happens synchronously. */
        tp_point_set_requested(h->pool, p);
        tp_point_set_disconnected(h->pool, p, true);
        return TP_ERR_CONNECTION_FAILED;
    }
    tp_conn *c = tp_env_alloc(h->env, sizeof *c);
    if (c == NULL) return TP_ERR_NOMEM;
    tp_err e = tp_conn_init_outgoing(c, h->env, &h->cfg->conn, &h->cfg->socket, &conn_handlers,
                                     h, point);
    if (e != TP_OK) {
        tp_env_free(h->env, c, sizeof *c);
        return e;
    }
    link_conn(h, c);
    h->stats.outgoing++;
    c->id_point = *point; /* spec §2.3: the port we dialed */
    c->point = p;
    c->point_owned = true;
    c->connect_cb = cb;
    c->connect_arg = arg;
    tp_point_set_requested(h->pool, p);
    emit(h, TP_EVENT_OUTGOING_CONNECTION, NULL, point, 0, NULL);
    tp_timer_init(&c->timeout_timer, timeout_fire, c);
    tp_env_timer_start_in(h->env, &c->timeout_timer,
                          timeout_ns > 0 ? timeout_ns : h->cfg->connection_timeout_ns);
    if (out != NULL) *out = c;
    return TP_OK;
}

uint32_t tp_connect_broadcast_bootstrap(tp_connect *h) {
    /* spec §6.3 ask_for_more_contacts, §7.5: not with discovery disabled, not to
     * private peers, and a private node asks nobody. */
    if (h->cfg->disable_peer_discovery || h->cfg->private_mode) return 0;
    const uint8_t bootstrap[6] = {0, 0, 0, 2, 0, TP_MSG_BOOTSTRAP};
    uint32_t sent = 0;
    for (tp_conn *c = h->head; c != NULL; c = c->next) {
        if (!tp_conn_is_running(c) || c->sock.remote.metadata.private_node) continue;
        if (tp_conn_write_frame(c, bootstrap, sizeof bootstrap, true) != TP_OK) continue;
        sent++;
        emit(h, TP_EVENT_BOOTSTRAP_SENT, &c->sock.remote.peer_id, NULL, 0, NULL);
    }
    return sent;
}

void tp_connect_disconnect(tp_connect *h, tp_conn *c) {
    (void)h;
    c->requested_close = true;
    tp_conn_close(c, TP_ERR_CANCELLED, true);
}

void tp_connect_shutdown(tp_connect *h) {
    h->shutting_down = true;
    for (tp_conn *c = h->head; c != NULL; c = c->next) {
        c->requested_close = true;
        tp_conn_close(c, TP_ERR_CANCELLED, true);
    }
}

void tp_connect_drop(tp_connect *h) {
    tp_conn *c = h->head;
    while (c != NULL) {
        tp_conn *next = c->next;
        free_conn(h, c);
        c = next;
    }
    h->head = h->tail = NULL;
    h->conn_count = h->pending_incoming = h->active = 0;
}
