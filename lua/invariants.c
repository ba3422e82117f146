/* lua/invariants.c — the swarm's invariant checker (see invariants.h for the list and
 * the exact rules). The per-node checks are a pure walk over a tp_node; the Lua side
 * (sim.invariants / sim.check_invariants) arms a world timer, keeps the stateful
 * checks' per-host state and reports violations as failed assertions. */
#include "lua/invariants.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/tl_impl.h"

static const char *const inv_names[TL_INV_COUNT] = {
    "connection_limit", "banned_peer_connected", "state_agreement", "bounds",
    "memory",           "overlay_connected",     "min_connections",
};

const char *tl_inv_name(tl_inv_kind k) {
    return (unsigned)k < TL_INV_COUNT ? inv_names[k] : "unknown";
}

bool tl_inv_parse(const char *name, tl_inv_kind *out) {
    for (int i = 0; i < TL_INV_COUNT; i++)
        if (strcmp(name, inv_names[i]) == 0) {
            *out = (tl_inv_kind)i;
            return true;
        }
    return false;
}

/* ---- per-node checks ----------------------------------------------------------------- */

typedef struct node_ctx {
    bool (*in_grace)(void *arg, const tp_conn *c); /* may be NULL: no grace */
    void *grace_arg;
    uint32_t host;
    int64_t now_ns;
    tl_inv_report_cb report;
    void *arg;
    bool seen[TL_INV_COUNT];
    uint32_t count;
} node_ctx;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void violation(node_ctx *x, tl_inv_kind kind, const char *fmt, ...) {
    if (x->seen[kind]) return;
    x->seen[kind] = true;
    x->count++;
    tl_inv_violation v;
    memset(&v, 0, sizeof v);
    v.kind = kind;
    v.host = x->host;
    v.time_ns = x->now_ns;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v.detail, sizeof v.detail, fmt, ap);
    va_end(ap);
    if (x->report != NULL) x->report(x->arg, &v);
}

static bool conn_in_list(tp_node *n, const void *conn, bool *running) {
    for (tp_conn *c = tp_node_first_conn(n); c != NULL; c = c->next)
        if (c == conn) {
            *running = c->running;
            return true;
        }
    return false;
}

static void check_limits(tp_node *n, node_ctx *x) {
    const tp_node_config *cfg = tp_node_config_of(n);
    const tp_connect *h = tp_node_connect_handler(n);
    if (h->pending_incoming > cfg->max_incoming_connections)
        violation(x, TL_INV_CONNECTION_LIMIT,
                  "%" PRIu32 " incoming handshakes pending > max_incoming_connections %" PRIu32,
                  h->pending_incoming, cfg->max_incoming_connections);
    uint64_t hard = (uint64_t)cfg->max_connections + cfg->max_incoming_connections;
    if (h->active > hard)
        violation(x, TL_INV_CONNECTION_LIMIT,
                  "%" PRIu32 " running connections > max_connections %" PRIu32
                  " + max_incoming_connections %" PRIu32,
                  h->active, cfg->max_connections, cfg->max_incoming_connections);
}

static void check_banned(tp_node *n, node_ctx *x) {
    tp_acl *acl = tp_node_acl(n);
    for (tp_conn *c = tp_node_first_conn(n); c != NULL; c = c->next) {
        if (!tp_conn_is_running(c)) continue;
        const tp_peer_id *peer = tp_node_conn_peer_id(c);
        const char *why = NULL;
        if (tp_acl_blacklisted_peer(acl, peer->bytes)) why = "blacklisted peer";
        else if (tp_acl_greylisted_peer(acl, peer->bytes)) why = "greylisted peer";
        else if (tp_acl_blacklisted_ip(acl, &c->remote_addr.ip)) why = "blacklisted IP";
        if (why == NULL) continue;
        if (x->in_grace != NULL && x->in_grace(x->grace_arg, c)) continue;
        char id[TP_PEER_ID_TEXT_SIZE], pt[TP_POINT_TEXT_MAX];
        violation(x, TL_INV_BANNED_PEER_CONNECTED,
                  "running %s connection to a %s: %s at %s",
                  c->incoming ? "incoming" : "outgoing", why, tp_peer_id_to_b58(peer, id),
                  tp_point_format(&c->remote_addr, pt));
    }
}

static void check_agreement(tp_node *n, node_ctx *x) {
    tp_connect *h = tp_node_connect_handler(n);
    tp_pool *pool = tp_node_pool(n);
    uint32_t listed = 0, running = 0, pending = 0;
    for (tp_conn *c = tp_node_first_conn(n); c != NULL; c = c->next) {
        listed++;
        if (c->pending_incoming) pending++;
        if (!c->running) continue;
        running++;
        char pt[TP_POINT_TEXT_MAX];
        tp_point_format(&c->remote_addr, pt);
        const tp_peer_id *peer = tp_node_conn_peer_id(c);
        if (c->peer == NULL || c->peer->state != TP_PEER_RUNNING || c->peer->conn != c ||
            !tp_peer_id_eq(&c->peer->peer_id, peer))
            violation(x, TL_INV_STATE_AGREEMENT,
                      "running connection with %s: its peer is %s (conn %s, same id: %s)", pt,
                      c->peer == NULL ? "missing" : tp_peer_state_name(c->peer->state),
                      c->peer != NULL && c->peer->conn == c ? "this one" : "another",
                      c->peer != NULL && tp_peer_id_eq(&c->peer->peer_id, peer) ? "yes" : "no");
        if (c->point != NULL &&
            (c->point->state != TP_POINT_RUNNING || c->point->conn != c ||
             !tp_peer_id_eq(&c->point->peer_id, peer)))
            violation(x, TL_INV_STATE_AGREEMENT,
                      "running connection with %s: its point is %s (conn %s)", pt,
                      tp_point_state_name(c->point->state),
                      c->point->conn == c ? "this one" : "another");
    }
    if (listed != h->conn_count || running != h->active || pending != h->pending_incoming)
        violation(x, TL_INV_STATE_AGREEMENT,
                  "connect handler counts conn_count %" PRIu32 " active %" PRIu32
                  " pending_incoming %" PRIu32 ", its list has %" PRIu32 " / %" PRIu32
                  " running / %" PRIu32 " pending",
                  h->conn_count, h->active, h->pending_incoming, listed, running, pending);
    uint32_t it = 0, points_running = 0, peers_running = 0;
    tp_point_info *p;
    while ((p = tp_pool_next_point(pool, &it)) != NULL) {
        if (p->state != TP_POINT_RUNNING) continue;
        points_running++;
        bool r = false;
        if (!conn_in_list(n, p->conn, &r) || !r) {
            char pt[TP_POINT_TEXT_MAX];
            violation(x, TL_INV_STATE_AGREEMENT,
                      "point %s is Running but its connection is %s",
                      tp_point_format(&p->point, pt), r ? "?" : "not a running connection");
        }
    }
    it = 0;
    tp_peer_info *pi;
    while ((pi = tp_pool_next_peer(pool, &it)) != NULL) {
        if (pi->state != TP_PEER_RUNNING) continue;
        peers_running++;
        bool r = false;
        if (!conn_in_list(n, pi->conn, &r) || !r) {
            char id[TP_PEER_ID_TEXT_SIZE];
            violation(x, TL_INV_STATE_AGREEMENT,
                      "peer %s is Running but has no running connection",
                      tp_peer_id_to_b58(&pi->peer_id, id));
        }
    }
    if (points_running != pool->points_connected || peers_running != pool->peers_connected ||
        peers_running != h->active)
        violation(x, TL_INV_STATE_AGREEMENT,
                  "pool counts points_connected %" PRIu32 " peers_connected %" PRIu32
                  ", Running infos %" PRIu32 " points / %" PRIu32 " peers, %" PRIu32
                  " running connections",
                  pool->points_connected, pool->peers_connected, points_running,
                  peers_running, h->active);
}

static void check_bounds(tp_node *n, node_ctx *x) {
    const tp_node_config *cfg = tp_node_config_of(n);
    tp_pool *pool = tp_node_pool(n);
    tp_acl *acl = tp_node_acl(n);
    if (tp_pool_points_count(pool) > (uint64_t)pool->cfg.max_known_points + 1)
        violation(x, TL_INV_BOUNDS, "%" PRIu32 " known points > max_known_points %" PRIu32 " + 1",
                  tp_pool_points_count(pool), pool->cfg.max_known_points);
    if (tp_pool_peers_count(pool) > (uint64_t)pool->cfg.max_known_peer_ids + 1)
        violation(x, TL_INV_BOUNDS,
                  "%" PRIu32 " known peers > max_known_peer_ids %" PRIu32 " + 1",
                  tp_pool_peers_count(pool), pool->cfg.max_known_peer_ids);
    struct {
        const tp_table *t;
        uint32_t max;
        const char *name;
    } lists[] = {
        {&acl->ip_black, acl->cfg.ip_blacklist_max, "ip_blacklist_max"},
        {&acl->peer_black, acl->cfg.peer_blacklist_max, "peer_blacklist_max"},
        {&acl->ip_grey, acl->cfg.ip_greylist_max, "ip_greylist_max"},
        {&acl->peer_grey, acl->cfg.peer_greylist_size, "peer_greylist_size"},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (tp_table_count(lists[i].t) > lists[i].max)
            violation(x, TL_INV_BOUNDS, "ACL list of %" PRIu32 " entries > %s %" PRIu32,
                      tp_table_count(lists[i].t), lists[i].name, lists[i].max);
    for (tp_conn *c = tp_node_first_conn(n); c != NULL; c = c->next) {
        char pt[TP_POINT_TEXT_MAX];
        if (c->appq_count > cfg->incoming_app_message_queue_size)
            violation(x, TL_INV_BOUNDS,
                      "connection with %s: %" PRIu32
                      " application messages queued > incoming_app_message_queue_size %" PRIu32,
                      tp_point_format(&c->remote_addr, pt), c->appq_count,
                      cfg->incoming_app_message_queue_size);
        uint64_t out = tp_conn_out_pending(c);
        if (out > (uint64_t)cfg->outgoing_message_queue_size + TL_INV_MESSAGE_WIRE_MAX)
            violation(x, TL_INV_BOUNDS,
                      "connection with %s: %" PRIu64
                      " bytes of output pending > outgoing_message_queue_size %zu + one message",
                      tp_point_format(&c->remote_addr, pt), out, cfg->outgoing_message_queue_size);
    }
}

static uint32_t check_node(tp_node *n, uint32_t host, int64_t now_ns, tl_inv_report_cb report,
                           void *arg, bool (*in_grace)(void *arg, const tp_conn *c),
                           void *grace_arg) {
    node_ctx x;
    memset(&x, 0, sizeof x);
    x.in_grace = in_grace;
    x.grace_arg = grace_arg;
    x.host = host;
    x.now_ns = now_ns;
    x.report = report;
    x.arg = arg;
    check_limits(n, &x);
    check_banned(n, &x);
    check_agreement(n, &x);
    check_bounds(n, &x);
    return x.count;
}

uint32_t tl_inv_check_node(tp_node *n, uint32_t host, int64_t now_ns, tl_inv_report_cb report,
                           void *arg) {
    return check_node(n, host, now_ns, report, arg, NULL, NULL);
}

static bool has_candidate(tp_node *n, int64_t now, tl_inv_dial_oracle could_dial, void *arg) {
    const tp_node_config *cfg = tp_node_config_of(n);
    tp_pool *pool = tp_node_pool(n);
    tp_acl *acl = tp_node_acl(n);
    uint32_t it = 0;
    tp_point_info *p;
    while ((p = tp_pool_next_point(pool, &it)) != NULL) {
        if (p->state != TP_POINT_DISCONNECTED) continue;
        if (tp_acl_banned_ip(acl, &p->point.ip)) continue;
        if (cfg->private_mode && !p->trusted) continue;
        if (tp_point_cannot_reconnect_yet(p, now)) continue;
        if (could_dial != NULL && !could_dial(arg, n, &p->point)) continue;
        return true;
    }
    return false;
}

bool tl_inv_check_min_connections(tp_node *n, uint32_t host, int64_t now_ns, int64_t grace_ns,
                                  int64_t *below_since_ns, tl_inv_dial_oracle could_dial,
                                  void *dial_arg, tl_inv_report_cb report, void *arg) {
    const tp_node_config *cfg = tp_node_config_of(n);
    bool below = cfg->maintenance_idle_time_ns > 0 && !n->shutting_down &&
                 tp_node_active_connections(n) < cfg->min_connections &&
                 has_candidate(n, now_ns, could_dial, dial_arg);
    if (!below) {
        *below_since_ns = TP_TIME_NONE;
        return false;
    }
    if (*below_since_ns == TP_TIME_NONE) *below_since_ns = now_ns;
    if (now_ns - *below_since_ns <= grace_ns) return false;
    tl_inv_violation v = {.kind = TL_INV_MIN_CONNECTIONS, .host = host, .time_ns = now_ns};
    snprintf(v.detail, sizeof v.detail,
             "%" PRIu32 " connections < min_connections %" PRIu32
             " for %.3f s > %.3f s while a dialable candidate point is known",
             tp_node_active_connections(n), cfg->min_connections,
             (double)(now_ns - *below_since_ns) / 1e9, (double)grace_ns / 1e9);
    if (report != NULL) report(arg, &v);
    return true;
}

uint64_t tl_inv_memory_bound(const tp_node_config *cfg) {
    uint64_t ring = cfg->pool.event_ring_size;
    uint64_t per_point = sizeof(tp_point_info) + ring * sizeof(tp_pool_event) + 64;
    uint64_t per_peer = sizeof(tp_peer_info) + ring * sizeof(tp_pool_event) + 64;
    uint64_t tables = ((uint64_t)cfg->pool.max_known_points + 1) * per_point +
                      ((uint64_t)cfg->pool.max_known_peer_ids + 1) * per_peer;
    uint64_t acl = ((uint64_t)cfg->acl.ip_blacklist_max + cfg->acl.peer_blacklist_max +
                    cfg->acl.ip_greylist_max + cfg->acl.peer_greylist_size) * 64;
    uint64_t chunk = 2 * 65536 + 4096; /* a chunk in each direction, framing */
    uint64_t per_conn = sizeof(tp_conn) + cfg->outgoing_message_queue_size +
                        TL_INV_MESSAGE_WIRE_MAX + cfg->incoming_message_queue_size +
                        (uint64_t)cfg->incoming_app_message_queue_size * 64 +
                        2 * (uint64_t)cfg->read_buffer_size + chunk;
    uint64_t slots = (uint64_t)cfg->max_connections + cfg->max_incoming_connections + 16;
    return ((uint64_t)1 << 20) + tables + acl + slots * per_conn;
}

/* ---- the Lua checker ------------------------------------------------------------------ */

#define TL_MT_INVARIANTS "tidepool.invariants"
#define TL_INVARIANTS_KEY "tidepool.invariants.checker"

typedef struct checker {
    tl_state *run;
    tp_timer timer;
    int64_t every_ns;
    int64_t settle_after_ns;     /* the last fault's time */
    int64_t settle_ns;           /* overlay_connected from settle_after + settle */
    int64_t below_min_grace_ns;
    uint64_t memory_bytes_max;   /* 0: tl_inv_memory_bound per node */
    bool stop;                   /* stop the run at the first violation */
    bool enabled[TL_INV_COUNT];
    uint32_t hosts_cap;
    int64_t *below_since_ns;     /* per host: since when below min with a candidate */
    uint8_t *honest;             /* per host: 1 honest (NULL: every tidepool node) */
    uint32_t honest_cap;
    uint32_t violations[TL_INV_COUNT];
    uint32_t checks;
    /* Octez's grace for bans (see invariants.h): per host, the node and the seqs of its
     * connections that were still in their handshake when a ban was made */
    struct grace {
        const tp_node *node;
        uint64_t *seqs;
        uint32_t count, cap;
    } *grace;
    uint32_t grace_cap;
} checker;

static void report_violation(void *arg, const tl_inv_violation *v) {
    checker *k = arg;
    tl_state *run = k->run;
    if (!k->enabled[v->kind]) return;
    k->violations[v->kind]++;
    if (k->violations[v->kind] > 1) return; /* the first of each kind is reported */
    char ip[TP_IP_TEXT_MAX] = "?";
    if (run->w != NULL && v->host < sim_world_host_count(run->w)) {
        tp_ip a = sim_host_ip(sim_world_host(run->w, v->host));
        tp_ip_format(&a, ip);
    }
    char msg[512];
    snprintf(msg, sizeof msg, "invariant %s violated: host %" PRIu32 " (%s) at %.3f s: %s",
             tl_inv_name(v->kind), v->host, ip, (double)v->time_ns / 1e9, v->detail);
    if (run->res != NULL) tl_results_assertion(run->res, v->time_ns, "invariant", 0, msg, false);
    run->checks_failed++;
    FILE *out = run->cfg->out ? run->cfg->out : stderr;
    if (run->cfg->out_clear_line) fputs("\r\033[K", out);
    fprintf(out, "FAIL %s\n", msg);
    if (run->verdict == TL_VERDICT_PASS) {
        run->verdict = TL_VERDICT_FAIL;
        snprintf(run->message, sizeof run->message, "%s", msg);
    }
}

static bool is_honest(const checker *k, uint32_t host) {
    if (k->honest == NULL) return true;
    return host < k->honest_cap && k->honest[host];
}

static bool reserve_hosts(checker *k, uint32_t n) {
    if (n <= k->hosts_cap) return true;
    int64_t *b = realloc(k->below_since_ns, n * sizeof *b);
    if (b == NULL) return false;
    for (uint32_t i = k->hosts_cap; i < n; i++) b[i] = TP_TIME_NONE;
    k->below_since_ns = b;
    k->hosts_cap = n;
    return true;
}

static uint32_t uf_find(uint32_t *parent, uint32_t i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

typedef struct edge_ctx {
    uint32_t *parent;
    uint32_t self;
    uint32_t n;
    const uint8_t *member;
} edge_ctx;

static void edge(void *arg, int64_t peer_host) {
    edge_ctx *e = arg;
    if (peer_host < 0 || (uint64_t)peer_host >= e->n || !e->member[peer_host]) return;
    uint32_t a = uf_find(e->parent, e->self), b = uf_find(e->parent, (uint32_t)peer_host);
    if (a != b) e->parent[a < b ? b : a] = a < b ? a : b;
}

static bool overlay_member(const checker *k, tl_app *a) {
    return a != NULL && a->kind == TL_APP_TIDEPOOL && a->node != NULL && is_honest(k, a->host);
}

/* Components of the running honest nodes; writes one member of a second
 * component (if any) to *other and of the first to *first. */
static uint32_t overlay_components(checker *k, uint32_t *first, uint32_t *other,
                                   uint32_t *members) {
    tl_state *run = k->run;
    uint32_t n = run->apps_cap;
    uint32_t *parent = malloc((n + 1) * sizeof *parent);
    uint8_t *member = calloc(n + 1, 1);
    uint32_t comps = 0;
    *members = 0;
    if (parent == NULL || member == NULL) goto out;
    for (uint32_t i = 0; i < n; i++) {
        parent[i] = i;
        member[i] = overlay_member(k, run->apps[i]);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!member[i]) continue;
        edge_ctx e = {parent, i, n, member};
        tl_app_neighbors(run->apps[i], edge, &e);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!member[i]) continue;
        (*members)++;
        if (uf_find(parent, i) != i) continue;
        if (comps == 0) *first = i;
        else if (comps == 1) *other = i;
        comps++;
    }
out:
    free(parent);
    free(member);
    return comps;
}

/* The simulator's oracle: a dial of `p` by node n (on host `self`) would be admitted
 * — a running tidepool node listens there, both directions are reachable, it is not
 * private, it bans neither our IP nor our peer id (nor has its slots full). */
typedef struct dial_ctx {
    tl_state *run;
    uint32_t self;
} dial_ctx;

static bool could_dial(void *arg, tp_node *n, const tp_point *p) {
    dial_ctx *d = arg;
    tl_state *run = d->run;
    sim_host *h = sim_world_host_by_ip(run->w, &p->ip);
    if (h == NULL) return false;
    uint32_t t = sim_host_index(h);
    if (t >= run->apps_cap || t == d->self) return false;
    tl_app *a = run->apps[t];
    if (a == NULL || a->kind != TL_APP_TIDEPOOL || a->node == NULL || a->node->shutting_down)
        return false;
    const tp_node_config *tc = tp_node_config_of(a->node);
    if (tc->listen.port != p->port || tc->private_mode) return false;
    if (!sim_reachable(run->w, d->self, t) || !sim_reachable(run->w, t, d->self)) return false;
    tp_acl *acl = tp_node_acl(a->node);
    tp_ip mine = sim_host_ip(sim_world_host(run->w, d->self));
    if (tp_acl_banned_ip(acl, &mine) || tp_acl_banned_peer(acl, tp_node_peer_id(n)->bytes))
        return false;
    return tp_node_active_connections(a->node) < tc->max_connections;
}

static struct grace *grace_of(checker *k, uint32_t host) {
    if (host >= k->grace_cap) {
        uint32_t cap = host + 16;
        struct grace *g = realloc(k->grace, cap * sizeof *g);
        if (g == NULL) return NULL;
        memset(g + k->grace_cap, 0, (cap - k->grace_cap) * sizeof *g);
        k->grace = g;
        k->grace_cap = cap;
    }
    return &k->grace[host];
}

typedef struct grace_ctx {
    checker *k;
    uint32_t host;
} grace_ctx;

static bool in_grace(void *arg, const tp_conn *c) {
    grace_ctx *g = arg;
    if (g->host >= g->k->grace_cap) return false;
    const struct grace *gr = &g->k->grace[g->host];
    for (uint32_t i = 0; i < gr->count; i++)
        if (gr->seqs[i] == c->seq) return true;
    return false;
}

static checker *checker_of(tl_state *run) {
    lua_State *L = run->L;
    lua_getfield(L, LUA_REGISTRYINDEX, TL_INVARIANTS_KEY);
    checker *k = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return k;
}

void tl_inv_note_ban(tl_state *run, uint32_t host) {
    if (run->L == NULL || host >= run->apps_cap) return;
    tl_app *a = run->apps[host];
    if (a == NULL || a->kind != TL_APP_TIDEPOOL || a->node == NULL) return;
    checker *k = checker_of(run);
    if (k == NULL) return;
    struct grace *g = grace_of(k, host);
    if (g == NULL) return;
    if (g->node != a->node) g->count = 0; /* another incarnation of the node */
    g->node = a->node;
    /* the handshakes in flight now: Octez lets them complete (Points.ban / Peers.ban
     * kick Running connections only, raw_authenticate checks the peer ban once) */
    for (tp_conn *c = tp_node_first_conn(a->node); c != NULL; c = c->next) {
        if (c->running || c->closing) continue;
        if (g->count == g->cap) {
            uint32_t cap = g->cap ? 2 * g->cap : 16;
            uint64_t *seqs = realloc(g->seqs, cap * sizeof *seqs);
            if (seqs == NULL) return;
            g->seqs = seqs;
            g->cap = cap;
        }
        g->seqs[g->count++] = c->seq;
    }
}

static uint32_t check_all(checker *k) {
    tl_state *run = k->run;
    if (run->w == NULL) return 0;
    int64_t now = sim_world_now_ns(run->w);
    uint32_t before = 0;
    for (int i = 0; i < TL_INV_COUNT; i++) before += k->violations[i];
    k->checks++;
    (void)reserve_hosts(k, run->apps_cap);
    for (uint32_t i = 0; i < run->apps_cap; i++) {
        tl_app *a = run->apps[i];
        if (a == NULL || a->kind != TL_APP_TIDEPOOL || a->node == NULL) {
            if (i < k->hosts_cap) k->below_since_ns[i] = TP_TIME_NONE;
            continue;
        }
        tp_node *n = a->node;
        if (i < k->grace_cap && k->grace[i].node != n) k->grace[i].count = 0; /* restarted */
        grace_ctx gc = {k, i};
        check_node(n, i, now, report_violation, k, in_grace, &gc);
        /* memory */
        uint64_t used = sim_host_memory_bytes(sim_world_host(run->w, i));
        uint64_t bound = k->memory_bytes_max ? k->memory_bytes_max : tl_inv_memory_bound(&a->ncfg->cfg);
        if (used > bound) {
            tl_inv_violation v = {.kind = TL_INV_MEMORY, .host = i, .time_ns = now};
            snprintf(v.detail, sizeof v.detail,
                     "%" PRIu64 " bytes allocated > bound %" PRIu64 " (%s)", used, bound,
                     k->memory_bytes_max ? "memory_bytes_max" : "derived from the config");
            report_violation(k, &v);
        }
        /* min_connections */
        if (i < k->hosts_cap) {
            if (is_honest(k, i))
            {
                dial_ctx dc = {run, i};
                tl_inv_check_min_connections(n, i, now, k->below_min_grace_ns,
                                             &k->below_since_ns[i], could_dial, &dc,
                                             report_violation, k);
            }
            else
                k->below_since_ns[i] = TP_TIME_NONE;
        }
    }
    /* overlay_connected */
    if (k->settle_ns >= 0 && now >= k->settle_after_ns + k->settle_ns) {
        uint32_t first = 0, other = 0, members = 0;
        uint32_t comps = overlay_components(k, &first, &other, &members);
        if (comps > 1) {
            tl_inv_violation v = {.kind = TL_INV_OVERLAY_CONNECTED, .host = other, .time_ns = now};
            snprintf(v.detail, sizeof v.detail,
                     "%" PRIu32 " honest nodes form %" PRIu32
                     " components %.3f s after the last fault (%.3f s); host %" PRIu32
                     " is not connected to host %" PRIu32,
                     members, comps, (double)(now - k->settle_after_ns) / 1e9,
                     (double)k->settle_after_ns / 1e9, other, first);
            report_violation(k, &v);
        }
    }
    uint32_t after = 0;
    for (int i = 0; i < TL_INV_COUNT; i++) after += k->violations[i];
    return after - before;
}

/* A world timer: world context (it reads every node, at a barrier of the parallel
 * simulator), marked as such for tl_world_context like the Lua callbacks. */
static void timer_fire(void *arg) {
    checker *k = arg;
    tl_state *run = k->run;
    bool was = run->in_callback;
    run->in_callback = true;
    uint32_t found = check_all(k);
    run->in_callback = was;
    if (found > 0 && k->stop && run->verdict == TL_VERDICT_FAIL) {
        /* stop the run: the fail() sentinel, raised from the next run_* return */
        lua_rawgeti(run->L, LUA_REGISTRYINDEX, run->fail_sentinel_ref);
        tl_callback_error(run);
        return;
    }
    sim_world_timer_start(run->w, &k->timer, sim_world_now_ns(run->w) + k->every_ns);
}

static int checker_gc(lua_State *L) {
    checker *k = luaL_checkudata(L, 1, TL_MT_INVARIANTS);
    if (k->run != NULL && k->run->w != NULL && tp_timer_is_armed(&k->timer))
        sim_world_timer_stop(k->run->w, &k->timer);
    free(k->below_since_ns);
    free(k->honest);
    for (uint32_t i = 0; i < k->grace_cap; i++) free(k->grace[i].seqs);
    free(k->grace);
    k->grace = NULL;
    k->grace_cap = 0;
    k->below_since_ns = NULL;
    k->honest = NULL;
    k->hosts_cap = k->honest_cap = 0;
    return 0;
}

static checker *get_checker(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, TL_INVARIANTS_KEY);
    checker *k = lua_isuserdata(L, -1) ? luaL_checkudata(L, -1, TL_MT_INVARIANTS) : NULL;
    lua_pop(L, 1);
    return k;
}

/* sim.invariants{every, settle_after, settle, below_min_grace, memory_bytes_max, honest,
 * stop, only} */
static int l_invariants(lua_State *L) {
    static const char *const keys[] = {"every", "settle_after", "settle", "below_min_grace",
                                       "memory_bytes_max", "honest", "stop", "only", NULL};
    const char *what = "sim.invariants{...}";
    tl_state *run = tl_run_of(L);
    sim_world *w = tl_world(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    tl_check_keys(L, 1, keys, what);
    if (get_checker(L) != NULL) return luaL_error(L, "%s: the invariants are already armed", what);
    checker *k = lua_newuserdatauv(L, sizeof *k, 0);
    memset(k, 0, sizeof *k);
    luaL_setmetatable(L, TL_MT_INVARIANTS);
    k->run = run;
    k->every_ns = tl_opt_duration_field(L, 1, "every", 1000000000LL, what);
    if (k->every_ns <= 0) return luaL_error(L, "%s: 'every' must be > 0", what);
    k->settle_after_ns = tl_opt_duration_field(L, 1, "settle_after", 0, what);
    k->settle_ns = tl_opt_duration_field(L, 1, "settle", 300000000000LL, what);
    k->below_min_grace_ns = tl_opt_duration_field(L, 1, "below_min_grace", 120000000000LL, what);
    k->memory_bytes_max = (uint64_t)tl_opt_int_field(L, 1, "memory_bytes_max", 0, 0, INT64_MAX, what);
    k->stop = tl_opt_bool_field(L, 1, "stop", true, what);
    for (int i = 0; i < TL_INV_COUNT; i++) k->enabled[i] = true;
    if (tl_field(L, 1, "only") != LUA_TNIL) {
        if (!lua_istable(L, -1)) tl_type_error(L, what, "only", "a list of invariant names");
        for (int i = 0; i < TL_INV_COUNT; i++) k->enabled[i] = false;
        lua_Integer len = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= len; i++) {
            lua_geti(L, -1, i);
            tl_inv_kind kind;
            const char *s = lua_tostring(L, -1);
            if (s == NULL || !tl_inv_parse(s, &kind))
                return luaL_error(L, "%s: 'only': unknown invariant '%s' (known: connection_limit, "
                                  "banned_peer_connected, state_agreement, bounds, memory, "
                                  "overlay_connected, min_connections)",
                                  what, s ? s : "?");
            k->enabled[kind] = true;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    if (tl_field(L, 1, "honest") != LUA_TNIL) {
        size_t count;
        uint32_t *hosts = tl_check_host_list(L, -1, "sim.invariants{honest}", &count);
        uint32_t cap = sim_world_host_count(w) + 1;
        k->honest = calloc(cap, 1);
        if (k->honest == NULL) return luaL_error(L, "%s: out of memory", what);
        k->honest_cap = cap;
        for (size_t i = 0; i < count; i++)
            if (hosts[i] < cap) k->honest[hosts[i]] = 1;
        lua_pop(L, 1); /* the host list userdata */
    }
    lua_pop(L, 1);
    tp_timer_init(&k->timer, timer_fire, k);
    sim_world_timer_start(w, &k->timer, sim_world_now_ns(w) + k->every_ns);
    lua_setfield(L, LUA_REGISTRYINDEX, TL_INVARIANTS_KEY);
    return 0;
}

/* sim.check_invariants() -> violations found now (a fresh check; each kind is reported
 * once per run) */
static int l_check_invariants(lua_State *L) {
    checker *k = get_checker(L);
    if (k == NULL) return luaL_error(L, "sim.check_invariants(): call sim.invariants{...} first");
    lua_pushinteger(L, check_all(k));
    return 1;
}

/* sim.invariant_violations() -> {name = count, ...} (all kinds, 0 included), checks */
static int l_invariant_violations(lua_State *L) {
    checker *k = get_checker(L);
    lua_createtable(L, 0, TL_INV_COUNT);
    for (int i = 0; i < TL_INV_COUNT; i++) {
        lua_pushinteger(L, k ? k->violations[i] : 0);
        lua_setfield(L, -2, inv_names[i]);
    }
    lua_pushinteger(L, k ? k->checks : 0);
    return 2;
}

void tl_open_invariants(lua_State *L) {
    luaL_newmetatable(L, TL_MT_INVARIANTS);
    lua_pushcfunction(L, checker_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"invariants", l_invariants},
                                   {"check_invariants", l_check_invariants},
                                   {"invariant_violations", l_invariant_violations},
                                   {NULL, NULL}};
    lua_getglobal(L, "sim");
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}
