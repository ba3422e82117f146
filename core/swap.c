/* core/swap.c — the swap protocol (spec §5.6). See swap.h. */
#include "swap.h"

#include <string.h>

typedef struct tp_swap_sent {
    int64_t time_ns;
    tp_peer_id proposed_peer;
} tp_swap_sent;

void tp_swap_config_default(tp_swap_config *cfg) {
    cfg->swap_linger_ns = (int64_t)30 * 1000000000;
    cfg->private_mode = false;
    cfg->tracked_connections_max = 1024;
}

void tp_swap_init(tp_swap *s, const tp_env *env, tp_pool *pool, const tp_swap_config *cfg,
                  const tp_swap_ops *ops) {
    TP_ASSERT(ops->connections && ops->send_swap_request && ops->send_swap_ack &&
              ops->connect && ops->disconnect);
    TP_ASSERT(cfg->swap_linger_ns >= 0 && cfg->tracked_connections_max >= 1);
    memset(s, 0, sizeof *s);
    s->env = env;
    s->pool = pool;
    s->cfg = *cfg;
    s->ops = *ops;
    s->latest_accepted_ns = TP_TIME_NONE;
    s->latest_successful_ns = TP_TIME_NONE;
    uint8_t key[16];
    tp_env_random(env, key, sizeof key);
    tp_table_init(&s->sent, env, TP_PEER_ID_SIZE, sizeof(tp_swap_sent),
                  cfg->tracked_connections_max, key);
    for (size_t i = 0; i < TP_SWAP_PENDING_MAX; i++) s->pending[i].swap = s;
}

void tp_swap_deinit(tp_swap *s) {
    tp_table_deinit(&s->sent);
    tp_env_free(s->env, s->views, s->views_cap * sizeof(tp_conn_view));
    s->views = NULL;
    s->views_cap = 0;
}

/* Refreshes the scratch list of connections; returns the count (0 on out of memory:
 * the swap is best effort). */
static size_t load_views(tp_swap *s) {
    for (;;) {
        size_t n = s->ops.connections(s->ops.arg, s->views, s->views_cap);
        if (n <= s->views_cap) return n;
        size_t cap = n + 8;
        tp_conn_view *v = tp_env_realloc(s->env, s->views, s->views_cap * sizeof *v,
                                         cap * sizeof *v);
        if (v == NULL) return 0;
        s->views = v;
        s->views_cap = cap;
    }
}

static void emit(tp_swap *s, tp_event_kind kind, const tp_peer_id *peer, const tp_point *pt,
                 const char *detail) {
    tp_env_emit(s->env, kind, peer ? peer->bytes : NULL, pt, 0, detail);
}

/* A uniformly random index among views[i] that satisfy: not private, not `exclude`
 * (peer id, may be NULL), and (if need_port) a listening port. SIZE_MAX if none. */
static size_t pick_random(tp_swap *s, size_t n, const tp_peer_id *exclude, bool need_port) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        const tp_conn_view *v = &s->views[i];
        if (v->private_peer) continue;
        if (exclude && tp_peer_id_eq(&v->peer_id, exclude)) continue;
        if (need_port && v->point.port == 0) continue;
        count++;
    }
    if (count == 0) return SIZE_MAX;
    size_t k = (size_t)tp_env_random_below(s->env, count);
    for (size_t i = 0; i < n; i++) {
        const tp_conn_view *v = &s->views[i];
        if (v->private_peer) continue;
        if (exclude && tp_peer_id_eq(&v->peer_id, exclude)) continue;
        if (need_port && v->point.port == 0) continue;
        if (k-- == 0) return i;
    }
    TP_UNREACHABLE();
}

static const tp_conn_view *find_peer(tp_swap *s, size_t n, const tp_peer_id *peer) {
    for (size_t i = 0; i < n; i++)
        if (tp_peer_id_eq(&s->views[i].peer_id, peer)) return &s->views[i];
    return NULL;
}

static const tp_conn_view *find_point(tp_swap *s, size_t n, const tp_point *pt) {
    for (size_t i = 0; i < n; i++)
        if (tp_point_eq(&s->views[i].point, pt)) return &s->views[i];
    return NULL;
}

bool tp_swap_send_request(tp_swap *s) {
    /* Not tp_swap_enabled: swap_linger = None (--disable-p2p-swap) only stops Octez
     * from answering (p2p_protocol.ml swap_request / swap_ack); its maintenance still
     * proposes (p2p_maintenance.ml `maintain` calls send_swap_request unless private). */
    if (s->cfg.private_mode) return false;
    size_t n = load_views(s);
    size_t r = pick_random(s, n, NULL, false);
    if (r == SIZE_MAX) return false;
    tp_conn_view recipient = s->views[r];
    size_t p = pick_random(s, n, &recipient.peer_id, true);
    if (p == SIZE_MAX) return false;
    tp_conn_view proposed = s->views[p];
    emit(s, TP_EVENT_SWAP_REQUEST_SENT, &recipient.peer_id, &proposed.point, NULL);
    if (!s->ops.send_swap_request(s->ops.arg, recipient.conn, &proposed.point,
                                  &proposed.peer_id))
        return false;
    void *value;
    tp_err err = tp_table_insert(&s->sent, recipient.peer_id.bytes, &value);
    if (err == TP_ERR_LIMIT) {
        /* Full: forget the oldest entry (connections that never said goodbye). */
        const void *k0;
        void *v0;
        if (tp_table_first(&s->sent, &k0, &v0)) {
            tp_peer_id old;
            memcpy(old.bytes, k0, TP_PEER_ID_SIZE);
            (void)tp_table_remove(&s->sent, old.bytes);
        }
        err = tp_table_insert(&s->sent, recipient.peer_id.bytes, &value);
    }
    if (err == TP_OK || err == TP_ERR_EXISTS) {
        tp_swap_sent *sent = value;
        sent->time_ns = tp_env_now_ns(s->env);
        sent->proposed_peer = proposed.peer_id;
    }
    s->requests_sent++;
    return true;
}

void tp_swap_dial_done(void *arg, tp_err result) {
    tp_swap_pending *pd = arg;
    tp_swap *s = pd->swap;
    TP_ASSERT(pd->used);
    pd->used = false;
    if (result == TP_OK) {
        s->latest_successful_ns = tp_env_now_ns(s->env);
        s->successes++;
        emit(s, TP_EVENT_SWAP_SUCCESS, &pd->source, NULL, NULL);
        size_t n = load_views(s);
        const tp_conn_view *v = find_peer(s, n, &pd->drop_peer);
        if (v) s->ops.disconnect(s->ops.arg, v->conn, TP_DISCONNECT_PEER_SWAPPED);
    } else {
        s->latest_accepted_ns = s->latest_successful_ns;
        s->failures++;
        emit(s, TP_EVENT_SWAP_FAILURE, &pd->source, NULL, tp_strerror(result));
    }
}

static tp_swap_pending *pending_get(tp_swap *s) {
    for (size_t i = 0; i < TP_SWAP_PENDING_MAX; i++)
        if (!s->pending[i].used) return &s->pending[i];
    return NULL;
}

/* Dials new_point; on success drop_peer is disconnected. Returns false if the dial
 * could not start. */
static bool start_swap(tp_swap *s, bool is_ack, const tp_peer_id *source,
                       const tp_peer_id *drop_peer, const tp_point *new_point) {
    tp_swap_pending *pd = pending_get(s);
    if (pd == NULL) return false;
    pd->used = true;
    pd->is_ack = is_ack;
    pd->source = *source;
    pd->drop_peer = *drop_peer;
    /* Octez's `swap` (shared by both sides) stamps latest_accepted_swap. */
    s->latest_accepted_ns = tp_env_now_ns(s->env);
    tp_err err = s->ops.connect(s->ops.arg, new_point, tp_swap_dial_done, pd);
    if (err != TP_OK) {
        /* The dial failed at once: the same outcome as a failed connection. */
        tp_swap_dial_done(pd, err);
    }
    return true;
}

/* Octez logs Swap_request_ignored for the linger and point-state checks only; the
 * other give-ups (swap disabled, nobody to offer, ack dropped) are silent there and
 * only counted here. */
static void ignored(tp_swap *s, const tp_peer_id *source, const char *why, bool logged) {
    s->requests_ignored++;
    if (logged) emit(s, TP_EVENT_SWAP_REQUEST_IGNORED, source, NULL, why);
}

bool tp_swap_on_request(tp_swap *s, void *conn, const tp_peer_id *source_peer,
                        const tp_point *new_point, const tp_peer_id *new_peer) {
    (void)conn;
    (void)new_peer; /* Octez ignores the announced peer id too: the handshake decides */
    emit(s, TP_EVENT_SWAP_REQUEST_RECEIVED, source_peer, new_point, NULL);
    if (!tp_swap_enabled(s)) {
        ignored(s, source_peer, "swap disabled", false);
        return false;
    }
    int64_t now = tp_env_now_ns(s->env);
    int64_t last = s->latest_accepted_ns;
    if (s->latest_successful_ns != TP_TIME_NONE &&
        (last == TP_TIME_NONE || s->latest_successful_ns > last))
        last = s->latest_successful_ns;
    if (last != TP_TIME_NONE && now - last < s->cfg.swap_linger_ns) {
        ignored(s, source_peer, "swap_linger", true);
        return false;
    }
    /* The point is looked up, not registered: registering is the connect handler's
     * job when it dials (Octez does the same, to keep the maintenance out of it). */
    const tp_point_info *pi = tp_pool_point(s->pool, new_point);
    if (pi != NULL && pi->state != TP_POINT_DISCONNECTED) {
        ignored(s, source_peer, "proposed point already connected", true);
        return false;
    }
    size_t n = load_views(s);
    size_t k = pick_random(s, n, source_peer, true);
    if (k == SIZE_MAX) {
        ignored(s, source_peer, "no peer to offer", false);
        return false;
    }
    tp_conn_view ours = s->views[k];
    const tp_conn_view *src = find_peer(s, n, source_peer);
    void *src_conn = src ? src->conn : conn;
    if (!s->ops.send_swap_ack(s->ops.arg, src_conn, &ours.point, &ours.peer_id)) {
        ignored(s, source_peer, "ack dropped", false);
        return false;
    }
    s->acks_sent++;
    emit(s, TP_EVENT_SWAP_ACK_SENT, source_peer, &ours.point, NULL);
    if (!start_swap(s, false, source_peer, &ours.peer_id, new_point)) {
        s->latest_accepted_ns = s->latest_successful_ns;
        s->failures++;
        emit(s, TP_EVENT_SWAP_FAILURE, source_peer, NULL, "too many swaps in flight");
    }
    return true;
}

bool tp_swap_on_ack(tp_swap *s, void *conn, const tp_peer_id *source_peer,
                    const tp_point *new_point, const tp_peer_id *new_peer) {
    (void)conn;
    (void)new_peer;
    emit(s, TP_EVENT_SWAP_ACK_RECEIVED, source_peer, new_point, NULL);
    if (!tp_swap_enabled(s)) return false;
    tp_swap_sent *sent = tp_table_get(&s->sent, source_peer->bytes);
    if (sent == NULL) return false; /* we never asked this connection */
    tp_peer_id proposed = sent->proposed_peer;
    /* One ack per request (tidepool: Octez keeps the record, so repeated acks could
     * each start a dial). */
    (void)tp_table_remove(&s->sent, source_peer->bytes);
    size_t n = load_views(s);
    if (find_point(s, n, new_point) != NULL) return false;
    tp_point_info *pi = tp_pool_point(s->pool, new_point);
    if (pi != NULL && pi->state == TP_POINT_RUNNING) return false;
    return start_swap(s, true, source_peer, &proposed, new_point);
}

void tp_swap_on_disconnection(tp_swap *s, const tp_peer_id *peer) {
    (void)tp_table_remove(&s->sent, peer->bytes);
}
