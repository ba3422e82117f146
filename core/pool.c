/* core/pool.c — known points and peers, their state machines, GC and listings
 * (see pool.h; spec §5.1–5.3, §5.5). */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

/* Table values sit right after 18-byte point keys, so they are not pointer-aligned:
 * load and store them with memcpy (an unaligned dereference is undefined behaviour). */
static void *load_ptr(const void *v) {
    void *p;
    memcpy(&p, v, sizeof p);
    return p;
}
static void store_ptr(void *v, const void *p) {
    memcpy(v, &p, sizeof p);
}

/* A point's table value: the info pointer, then a copy of what tp_pool_list_known_points
 * reads (last_seen, connected, known_public), kept in step by point_hot_sync at every
 * change of those fields. That listing runs for every Nack and Bootstrap (about 110,000
 * times in a 1,000-node join) over up to 400 points; reading the values in the table's
 * dense entry array instead of each info (a separate allocation, a cache miss) halves
 * its cost. */
enum { HOT_SEEN = sizeof(void *), HOT_FLAGS = HOT_SEEN + 8, POINT_VALUE_SIZE = HOT_FLAGS + 1 };
enum { HOT_CONNECTED = 1, HOT_KNOWN_PUBLIC = 2 };

static const char *const pool_event_names[TP_POOL_EVENT_KIND_COUNT] = {
#define TP_X_(name, text) [TP_POOL_EVENT_##name] = text,
    TP_POOL_EVENT_LIST(TP_X_)
#undef TP_X_
};

const char *tp_pool_event_kind_name(tp_pool_event_kind k) {
    if ((unsigned)k >= TP_POOL_EVENT_KIND_COUNT) return "unknown";
    return pool_event_names[k];
}

bool tp_pool_event_kind_parse(const char *name, size_t len, tp_pool_event_kind *out) {
    for (int k = 0; k < TP_POOL_EVENT_KIND_COUNT; k++) {
        if (strlen(pool_event_names[k]) == len && memcmp(pool_event_names[k], name, len) == 0) {
            *out = (tp_pool_event_kind)k;
            return true;
        }
    }
    return false;
}

const char *tp_point_state_name(tp_point_state s) {
    switch (s) {
    case TP_POINT_DISCONNECTED: return "disconnected";
    case TP_POINT_REQUESTED: return "requested";
    case TP_POINT_ACCEPTED: return "accepted";
    case TP_POINT_RUNNING: return "running";
    }
    return "unknown";
}

const char *tp_peer_state_name(tp_peer_state s) {
    switch (s) {
    case TP_PEER_DISCONNECTED: return "disconnected";
    case TP_PEER_ACCEPTED: return "accepted";
    case TP_PEER_RUNNING: return "running";
    }
    return "unknown";
}

void tp_pool_config_default(tp_pool_config *cfg) {
    cfg->max_known_points = 400;
    cfg->target_known_points = 300;
    cfg->max_known_peer_ids = 400;
    cfg->target_known_peer_ids = 300;
    cfg->backoff_factor_pm = 1200;
    cfg->backoff_initial_ns = (int64_t)1000000000;
    cfg->backoff_disconnection_ns = (int64_t)60 * 1000000000;
    cfg->backoff_cap_ns = (int64_t)172800 * 1000000000;
    cfg->event_ring_size = 100;
    cfg->my_id_points_size = 7;
}

/* ---- event rings ---------------------------------------------------------------------- */

const tp_pool_event *tp_pool_event_ring_at(const tp_pool_event_ring *ring, uint16_t i) {
    TP_ASSERT(i < ring->count);
    return &ring->items[(ring->start + i) % ring->cap];
}

/* Storage grows geometrically (4, 8, 16, ... up to event_ring_size) while the ring has
 * never wrapped (start == 0), so a point or peer with a short history pays for a short
 * one: with Octez's 100 entries (48 bytes each) for every one of up to 400 points and
 * 400 peers, full-size rings were most of a simulated node's memory (bench/RESULTS.md).
 * What is kept is unchanged: the event_ring_size most recent events. Shared with
 * peers_json.c (tp_pool_event_ring_reserve). */
bool tp_pool_event_ring_reserve(tp_pool *pool, tp_pool_event_ring *ring) {
    uint16_t max = pool->cfg.event_ring_size;
    if (max == 0) return false;
    if (ring->count < ring->cap) return true;
    if (ring->cap >= max) return ring->items != NULL; /* full size: overwrite the oldest */
    TP_ASSERT(ring->start == 0);
    uint16_t cap = ring->cap == 0 ? 4 : (uint16_t)(ring->cap * 2u > max ? max : ring->cap * 2u);
    if (cap > max) cap = max;
    tp_pool_event *items = tp_env_realloc(pool->env, ring->items,
                                          sizeof(tp_pool_event) * ring->cap,
                                          sizeof(tp_pool_event) * cap);
    if (items == NULL) return ring->items != NULL; /* history is best effort */
    ring->items = items;
    ring->cap = cap;
    return true;
}

static tp_pool_event *ring_push(tp_pool *pool, tp_pool_event_ring *ring) {
    if (!tp_pool_event_ring_reserve(pool, ring)) return NULL;
    tp_pool_event *e;
    if (ring->count < ring->cap) {
        e = &ring->items[(ring->start + ring->count) % ring->cap];
        ring->count++;
    } else {
        e = &ring->items[ring->start];
        ring->start = (uint16_t)((ring->start + 1) % ring->cap);
    }
    memset(e, 0, sizeof *e);
    e->time_ns = tp_env_now_ns(pool->env);
    return e;
}

static void ring_free(tp_pool *pool, tp_pool_event_ring *ring) {
    tp_env_free(pool->env, ring->items, sizeof(tp_pool_event) * ring->cap);
    ring->items = NULL;
    ring->cap = ring->count = ring->start = 0;
}

static void point_log(tp_pool *pool, tp_point_info *p, tp_pool_event_kind kind,
                      const tp_peer_id *peer) {
    tp_pool_event *e = ring_push(pool, &p->events);
    if (e == NULL) return;
    e->kind = (uint8_t)kind;
    e->point = p->point;
    if (peer != NULL) {
        e->has_peer = 1;
        e->peer = *peer;
    }
}

static void peer_log(tp_pool *pool, tp_peer_info *p, tp_pool_event_kind kind,
                     const tp_point *point) {
    tp_pool_event *e = ring_push(pool, &p->events);
    if (e == NULL) return;
    e->kind = (uint8_t)kind;
    e->has_peer = 1;
    e->peer = p->peer_id;
    if (point != NULL) e->point = *point;
}

/* ---- derived times -------------------------------------------------------------------- */

static int64_t max_time(int64_t a, int64_t b) {
    return a > b ? a : b; /* TP_TIME_NONE is INT64_MIN: "never" loses */
}

int64_t tp_point_last_seen(const tp_point_info *p) {
    return max_time(p->last_rejected_connection.time_ns,
                    max_time(p->last_established_connection.time_ns,
                             p->last_disconnection.time_ns));
}

int64_t tp_point_last_miss(const tp_point_info *p) {
    return max_time(p->last_failed_connection_ns,
                    max_time(p->last_rejected_connection.time_ns, p->last_disconnection.time_ns));
}

int64_t tp_peer_last_seen(const tp_peer_info *p) {
    return max_time(p->last_established_connection.time_ns,
                    max_time(p->last_rejected_connection.time_ns, p->last_disconnection.time_ns));
}

int64_t tp_peer_last_miss(const tp_peer_info *p) {
    return max_time(p->last_failed_connection.time_ns,
                    max_time(p->last_rejected_connection.time_ns, p->last_disconnection.time_ns));
}

int64_t tp_pool_wall_of(const tp_pool *pool, int64_t mono_ns) {
    if (mono_ns == TP_TIME_NONE) return TP_TIME_NONE;
    return mono_ns - tp_env_now_ns(pool->env) + tp_env_wall_ns(pool->env);
}

int64_t tp_pool_mono_of(const tp_pool *pool, int64_t wall_ns) {
    if (wall_ns == TP_TIME_NONE) return TP_TIME_NONE;
    return wall_ns - tp_env_wall_ns(pool->env) + tp_env_now_ns(pool->env);
}

/* ---- init ----------------------------------------------------------------------------- */

void tp_pool_init(tp_pool *pool, const tp_env *env, const tp_pool_config *cfg,
                  const tp_pool_hooks *hooks) {
    TP_ASSERT(cfg->target_known_points <= cfg->max_known_points);
    TP_ASSERT(cfg->target_known_peer_ids <= cfg->max_known_peer_ids);
    TP_ASSERT(cfg->max_known_points >= 1 && cfg->max_known_peer_ids >= 1);
    TP_ASSERT(cfg->backoff_factor_pm >= 1000 && cfg->backoff_initial_ns >= 0);
    memset(pool, 0, sizeof *pool);
    pool->env = env;
    pool->cfg = *cfg;
    if (hooks != NULL) pool->hooks = *hooks;
    uint8_t key[16];
    tp_env_random(env, key, sizeof key);
    /* The tables may hold one more than max (the off-by-one of register_point). */
    tp_table_init(&pool->points, env, sizeof(tp_point), POINT_VALUE_SIZE,
                  cfg->max_known_points + 1, key);
    tp_table_init(&pool->peers, env, TP_PEER_ID_SIZE, sizeof(tp_peer_info *),
                  cfg->max_known_peer_ids + 1, key);
    tp_table_init(&pool->my_id_points, env, sizeof(tp_point), 0,
                  cfg->my_id_points_size > 0 ? cfg->my_id_points_size : 1, key);
}

static void point_free(tp_pool *pool, tp_point_info *p) {
    ring_free(pool, &p->events);
    tp_env_free(pool->env, p, sizeof *p);
}

static void peer_free(tp_pool *pool, tp_peer_info *p) {
    ring_free(pool, &p->events);
    tp_env_free(pool->env, p, sizeof *p);
}

void tp_pool_deinit(tp_pool *pool) {
    uint32_t it = 0;
    void *v;
    while (tp_table_next(&pool->points, &it, NULL, &v)) {
        point_free(pool, (tp_point_info *)load_ptr(v));
    }
    it = 0;
    while (tp_table_next(&pool->peers, &it, NULL, &v)) {
        peer_free(pool, (tp_peer_info *)load_ptr(v));
    }
    tp_table_deinit(&pool->points);
    tp_table_deinit(&pool->peers);
    tp_table_deinit(&pool->my_id_points);
}

/* Table keys: a tp_point has padding after port; build keys explicitly. */
static void point_key(const tp_point *p, uint8_t key[sizeof(tp_point)]) {
    memset(key, 0, sizeof(tp_point));
    memcpy(key, p->ip.bytes, 16);
    key[16] = (uint8_t)(p->port >> 8);
    key[17] = (uint8_t)p->port;
}

static void hot_store(void *v, const tp_point_info *p) {
    int64_t seen = tp_point_last_seen(p);
    uint8_t flags = (uint8_t)((p->state != TP_POINT_DISCONNECTED ? HOT_CONNECTED : 0) |
                              (p->known_public ? HOT_KNOWN_PUBLIC : 0));
    memcpy((uint8_t *)v + HOT_SEEN, &seen, sizeof seen);
    ((uint8_t *)v)[HOT_FLAGS] = flags;
}

/* Copies p's listing fields into its table value (see POINT_VALUE_SIZE). */
static void point_hot_sync(tp_pool *pool, const tp_point_info *p) {
    uint8_t key[sizeof(tp_point)];
    point_key(&p->point, key);
    void *v = tp_table_get(&pool->points, key);
    TP_ASSERT(v != NULL && load_ptr(v) == p);
    hot_store(v, p);
}

/* ---- points --------------------------------------------------------------------------- */

tp_point_info *tp_pool_point(const tp_pool *pool, const tp_point *point) {
    uint8_t key[sizeof(tp_point)];
    point_key(point, key);
    void *v = tp_table_get(&pool->points, key);
    return v == NULL ? NULL : (tp_point_info *)load_ptr(v);
}

tp_point_info *tp_pool_next_point(const tp_pool *pool, uint32_t *it) {
    void *v;
    if (!tp_table_next(&pool->points, it, NULL, &v)) return NULL;
    return (tp_point_info *)load_ptr(v);
}

tp_peer_info *tp_pool_next_peer(const tp_pool *pool, uint32_t *it) {
    void *v;
    if (!tp_table_next(&pool->peers, it, NULL, &v)) return NULL;
    return (tp_peer_info *)load_ptr(v);
}

static void emit(tp_pool *pool, tp_event_kind kind, const tp_peer_id *peer, const tp_point *point,
                 int32_t code) {
    tp_env_emit(pool->env, kind, peer ? peer->bytes : NULL, point, code, NULL);
}

typedef struct gc_item {
    int64_t key1;
    int64_t key2;
    uint64_t tie; /* the info's random tie: Octez's Hashtbl order */
    uint64_t seq; /* a total order even if two ties collide */
    void *info;
} gc_item;

static int gc_item_cmp(const void *a, const void *b) {
    const gc_item *x = a, *y = b;
    if (x->key1 != y->key1) return x->key1 < y->key1 ? -1 : 1;
    if (x->key2 != y->key2) return x->key2 < y->key2 ? -1 : 1;
    if (x->tie != y->tie) return x->tie < y->tie ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

uint32_t tp_pool_gc_points(tp_pool *pool) {
    uint32_t count = tp_table_count(&pool->points);
    if (count <= pool->cfg.target_known_points) return 0;
    uint32_t to_remove = count - pool->cfg.target_known_points;
    gc_item *items = tp_env_alloc(pool->env, sizeof(gc_item) * count);
    if (items == NULL) return 0;
    int64_t now = tp_env_now_ns(pool->env);
    uint32_t n = 0, it = 0;
    tp_point_info *p;
    while ((p = tp_pool_next_point(pool, &it)) != NULL) {
        if (p->state != TP_POINT_DISCONNECTED || p->trusted) continue;
        int64_t miss = tp_point_last_miss(p);
        items[n].key1 = miss == TP_TIME_NONE ? now : miss; /* never missed counts as now */
        items[n].key2 = 0;
        items[n].tie = p->tie; /* ties: Octez's Hashtbl order, random per node */
        items[n].seq = p->seq;
        items[n].info = p;
        n++;
    }
    qsort(items, n, sizeof *items, gc_item_cmp);
    uint32_t removed = 0;
    for (uint32_t i = 0; i < n && removed < to_remove; i++) {
        tp_point_info *victim = items[i].info;
        uint8_t key[sizeof(tp_point)];
        point_key(&victim->point, key);
        tp_table_remove(&pool->points, key);
        point_free(pool, victim);
        removed++;
    }
    tp_env_free(pool->env, items, sizeof(gc_item) * count);
    if (removed > 0) emit(pool, TP_EVENT_GC_POINTS, NULL, NULL, (int32_t)removed);
    return removed;
}

tp_err tp_pool_register_point(tp_pool *pool, const tp_point *point, int trusted,
                              const tp_peer_id *expected, tp_point_info **out) {
    /* Port 0 is a point like any other: Octez's register_point takes what its wire
     * parser gives (point_parser.mll: ports 0..65535). Dialing it fails (connect.c). */
    tp_point_info *p = tp_pool_point(pool, point);
    if (p != NULL) {
        if (trusted == 1) p->trusted = true;
        if (trusted == 0) p->trusted = false;
        if (expected != NULL) {
            p->has_expected_peer_id = true;
            p->expected_peer_id = *expected;
        }
        *out = p;
        return TP_OK;
    }
    if (tp_pool_is_my_id_point(pool, point)) return TP_ERR_INVAL;
    if (tp_table_count(&pool->points) >= pool->cfg.max_known_points) {
        tp_pool_gc_points(pool);
        if (tp_table_count(&pool->points) > pool->cfg.max_known_points) return TP_ERR_LIMIT;
    }
    p = tp_env_alloc(pool->env, sizeof *p);
    if (p == NULL) return TP_ERR_NOMEM;
    memset(p, 0, sizeof *p);
    p->point = *point;
    p->state = TP_POINT_DISCONNECTED;
    p->trusted = trusted == 1;
    if (expected != NULL) {
        p->has_expected_peer_id = true;
        p->expected_peer_id = *expected;
    }
    p->last_failed_connection_ns = TP_TIME_NONE;
    p->last_rejected_connection.time_ns = TP_TIME_NONE;
    p->last_established_connection.time_ns = TP_TIME_NONE;
    p->last_disconnection.time_ns = TP_TIME_NONE;
    p->reconnection_end_ns = TP_TIME_NONE;
    p->seq = pool->next_seq++;
    tp_env_random(pool->env, &p->tie, sizeof p->tie);
    uint8_t key[sizeof(tp_point)];
    point_key(point, key);
    void *v;
    tp_err e = tp_table_insert(&pool->points, key, &v);
    if (e != TP_OK) {
        tp_env_free(pool->env, p, sizeof *p);
        return e == TP_ERR_EXISTS ? TP_ERR_STATE : e;
    }
    store_ptr(v, p);
    hot_store(v, p);
    emit(pool, TP_EVENT_NEW_POINT, NULL, point, 0);
    if (pool->hooks.on_new_point != NULL) pool->hooks.on_new_point(pool->hooks.arg, p);
    *out = p;
    return TP_OK;
}

bool tp_pool_unregister_point(tp_pool *pool, const tp_point *point) {
    tp_point_info *p = tp_pool_point(pool, point);
    if (p == NULL || p->state != TP_POINT_DISCONNECTED) return false;
    uint8_t key[sizeof(tp_point)];
    point_key(point, key);
    tp_table_remove(&pool->points, key);
    point_free(pool, p);
    return true;
}

void tp_pool_add_my_id_point(tp_pool *pool, const tp_point *point) {
    if (pool->cfg.my_id_points_size == 0) return;
    uint8_t key[sizeof(tp_point)];
    point_key(point, key);
    if (!tp_table_touch(&pool->my_id_points, key)) {
        if (tp_table_count(&pool->my_id_points) >= pool->cfg.my_id_points_size) {
            const void *oldest;
            if (tp_table_first(&pool->my_id_points, &oldest, NULL)) {
                uint8_t k[sizeof(tp_point)];
                memcpy(k, oldest, sizeof k);
                tp_table_remove(&pool->my_id_points, k);
            }
        }
        void *v;
        tp_err e = tp_table_insert(&pool->my_id_points, key, &v);
        (void)e; /* NOMEM: we may dial ourselves once more; harmless */
    }
    (void)tp_pool_unregister_point(pool, point);
}

bool tp_pool_is_my_id_point(const tp_pool *pool, const tp_point *point) {
    uint8_t key[sizeof(tp_point)];
    point_key(point, key);
    return tp_table_get(&pool->my_id_points, key) != NULL;
}

/* set_reconnection_delay (spec §5.1): end = now + current delay (initial when none),
 * next delay = min(current * factor, cap). */
static void apply_backoff(tp_pool *pool, tp_point_info *p, int64_t now) {
    int64_t delay = p->reconnection_end_ns == TP_TIME_NONE ? pool->cfg.backoff_initial_ns
                                                            : p->reconnection_delay_ns;
    p->reconnection_end_ns = now + delay;
    int64_t next = delay;
    if (delay < pool->cfg.backoff_cap_ns) {
        /* delay * factor / 1000 without overflow for delays up to the cap (2 days). */
        next = delay / 1000 * (int64_t)pool->cfg.backoff_factor_pm +
               delay % 1000 * (int64_t)pool->cfg.backoff_factor_pm / 1000;
    }
    p->reconnection_delay_ns = next < pool->cfg.backoff_cap_ns ? next : pool->cfg.backoff_cap_ns;
}

void tp_point_reset_backoff(tp_point_info *p) {
    p->reconnection_end_ns = TP_TIME_NONE;
    p->reconnection_delay_ns = 0;
}

void tp_point_set_requested(tp_pool *pool, tp_point_info *p) {
    TP_ASSERT(p->state == TP_POINT_DISCONNECTED || p->state == TP_POINT_REQUESTED);
    p->state = TP_POINT_REQUESTED;
    point_hot_sync(pool, p);
    point_log(pool, p, TP_POOL_EVENT_OUTGOING_REQUEST, NULL);
}

void tp_point_set_accepted(tp_pool *pool, tp_point_info *p, const tp_peer_id *peer) {
    TP_ASSERT(p->state == TP_POINT_DISCONNECTED || p->state == TP_POINT_REQUESTED);
    p->state = TP_POINT_ACCEPTED;
    p->peer_id = *peer;
    point_hot_sync(pool, p);
    point_log(pool, p, TP_POOL_EVENT_ACCEPTING_REQUEST, peer);
}

void tp_point_set_running(tp_pool *pool, tp_point_info *p, const tp_peer_id *peer, void *conn) {
    TP_ASSERT(p->state != TP_POINT_RUNNING);
    TP_ASSERT(p->state != TP_POINT_ACCEPTED || tp_peer_id_eq(&p->peer_id, peer));
    p->state = TP_POINT_RUNNING;
    p->peer_id = *peer;
    p->conn = conn;
    p->last_established_connection.peer = *peer;
    p->last_established_connection.time_ns = tp_env_now_ns(pool->env);
    point_hot_sync(pool, p);
    pool->points_connected++;
    point_log(pool, p, TP_POOL_EVENT_CONNECTION_ESTABLISHED, peer);
}

void tp_point_set_disconnected(tp_pool *pool, tp_point_info *p, bool requested) {
    int64_t now = tp_env_now_ns(pool->env);
    switch (p->state) {
    case TP_POINT_REQUESTED:
        apply_backoff(pool, p, now);
        p->last_failed_connection_ns = now;
        point_log(pool, p, TP_POOL_EVENT_REQUEST_REJECTED, NULL);
        break;
    case TP_POINT_ACCEPTED:
        apply_backoff(pool, p, now);
        p->last_rejected_connection.peer = p->peer_id;
        p->last_rejected_connection.time_ns = now;
        point_log(pool, p, TP_POOL_EVENT_REQUEST_REJECTED, &p->peer_id);
        break;
    case TP_POINT_RUNNING:
        p->reconnection_delay_ns = pool->cfg.backoff_initial_ns;
        p->reconnection_end_ns = now + pool->cfg.backoff_disconnection_ns;
        p->last_disconnection.peer = p->peer_id;
        p->last_disconnection.time_ns = now;
        TP_ASSERT(pool->points_connected > 0);
        pool->points_connected--;
        point_log(pool, p,
                  requested ? TP_POOL_EVENT_DISCONNECTION : TP_POOL_EVENT_EXTERNAL_DISCONNECTION,
                  &p->peer_id);
        break;
    case TP_POINT_DISCONNECTED:
        TP_UNREACHABLE();
    }
    p->state = TP_POINT_DISCONNECTED;
    p->conn = NULL;
    point_hot_sync(pool, p);
}

void tp_point_set_known_public(tp_pool *pool, tp_point_info *p, bool known_public) {
    p->known_public = known_public;
    point_hot_sync(pool, p);
}

void tp_point_log_rejecting(tp_pool *pool, tp_point_info *p, const tp_peer_id *peer) {
    point_log(pool, p, TP_POOL_EVENT_REJECTING_REQUEST, peer);
}

/* ---- peers ---------------------------------------------------------------------------- */

tp_peer_info *tp_pool_peer(const tp_pool *pool, const tp_peer_id *peer) {
    void *v = tp_table_get(&pool->peers, peer->bytes);
    return v == NULL ? NULL : (tp_peer_info *)load_ptr(v);
}

uint32_t tp_pool_gc_peers(tp_pool *pool) {
    uint32_t count = tp_table_count(&pool->peers);
    if (count <= pool->cfg.target_known_peer_ids) return 0;
    uint32_t to_remove = count - pool->cfg.target_known_peer_ids;
    gc_item *items = tp_env_alloc(pool->env, sizeof(gc_item) * count);
    if (items == NULL) return 0;
    uint32_t n = 0, it = 0;
    tp_peer_info *p;
    while ((p = tp_pool_next_peer(pool, &it)) != NULL) {
        if (p->state != TP_PEER_DISCONNECTED || p->trusted) continue;
        items[n].key1 = p->score_pm;            /* lowest score first */
        items[n].key2 = -p->created_wall_ns;    /* then the most recently created */
        items[n].tie = p->tie;                  /* then Octez's Hashtbl order: random */
        items[n].seq = p->seq;
        items[n].info = p;
        n++;
    }
    qsort(items, n, sizeof *items, gc_item_cmp);
    uint32_t removed = 0;
    for (uint32_t i = 0; i < n && removed < to_remove; i++) {
        tp_peer_info *victim = items[i].info;
        tp_table_remove(&pool->peers, victim->peer_id.bytes);
        peer_free(pool, victim);
        removed++;
    }
    tp_env_free(pool->env, items, sizeof(gc_item) * count);
    if (removed > 0) emit(pool, TP_EVENT_GC_PEER_IDS, NULL, NULL, (int32_t)removed);
    return removed;
}

tp_err tp_pool_register_peer(tp_pool *pool, const tp_peer_id *peer, tp_peer_info **out) {
    tp_peer_info *p = tp_pool_peer(pool, peer);
    if (p != NULL) {
        *out = p;
        return TP_OK;
    }
    if (tp_table_count(&pool->peers) >= pool->cfg.max_known_peer_ids) {
        tp_pool_gc_peers(pool);
        if (tp_table_count(&pool->peers) > pool->cfg.max_known_peer_ids) return TP_ERR_LIMIT;
    }
    p = tp_env_alloc(pool->env, sizeof *p);
    if (p == NULL) return TP_ERR_NOMEM;
    memset(p, 0, sizeof *p);
    p->peer_id = *peer;
    p->state = TP_PEER_DISCONNECTED;
    p->created_wall_ns = tp_env_wall_ns(pool->env);
    p->score_pm = 1000;
    p->last_failed_connection.time_ns = TP_TIME_NONE;
    p->last_rejected_connection.time_ns = TP_TIME_NONE;
    p->last_established_connection.time_ns = TP_TIME_NONE;
    p->last_disconnection.time_ns = TP_TIME_NONE;
    p->seq = pool->next_seq++;
    tp_env_random(pool->env, &p->tie, sizeof p->tie);
    void *v;
    tp_err e = tp_table_insert(&pool->peers, peer->bytes, &v);
    if (e != TP_OK) {
        tp_env_free(pool->env, p, sizeof *p);
        return e == TP_ERR_EXISTS ? TP_ERR_STATE : e;
    }
    store_ptr(v, p);
    emit(pool, TP_EVENT_NEW_PEER, peer, NULL, 0);
    if (pool->hooks.on_new_peer != NULL) pool->hooks.on_new_peer(pool->hooks.arg, p);
    *out = p;
    return TP_OK;
}

void tp_peer_set_accepted(tp_pool *pool, tp_peer_info *p, const tp_point *current_point) {
    TP_ASSERT(p->state == TP_PEER_DISCONNECTED);
    p->state = TP_PEER_ACCEPTED;
    p->current_point = *current_point;
    peer_log(pool, p, TP_POOL_EVENT_ACCEPTING_REQUEST, current_point);
}

void tp_peer_set_running(tp_pool *pool, tp_peer_info *p, const tp_point *current_point,
                         void *conn) {
    TP_ASSERT(p->state != TP_PEER_RUNNING);
    TP_ASSERT(p->state != TP_PEER_ACCEPTED || tp_point_eq(&p->current_point, current_point));
    p->state = TP_PEER_RUNNING;
    p->current_point = *current_point;
    p->conn = conn;
    p->last_established_connection.point = *current_point;
    p->last_established_connection.time_ns = tp_env_now_ns(pool->env);
    pool->peers_connected++;
    peer_log(pool, p, TP_POOL_EVENT_CONNECTION_ESTABLISHED, current_point);
}

void tp_peer_set_disconnected(tp_pool *pool, tp_peer_info *p, bool requested) {
    int64_t now = tp_env_now_ns(pool->env);
    switch (p->state) {
    case TP_PEER_ACCEPTED:
        p->last_rejected_connection.point = p->current_point;
        p->last_rejected_connection.time_ns = now;
        peer_log(pool, p, TP_POOL_EVENT_REQUEST_REJECTED, &p->current_point);
        break;
    case TP_PEER_RUNNING:
        p->last_disconnection.point = p->current_point;
        p->last_disconnection.time_ns = now;
        TP_ASSERT(pool->peers_connected > 0);
        pool->peers_connected--;
        peer_log(pool, p,
                 requested ? TP_POOL_EVENT_DISCONNECTION : TP_POOL_EVENT_EXTERNAL_DISCONNECTION,
                 &p->current_point);
        break;
    case TP_PEER_DISCONNECTED:
        TP_UNREACHABLE();
    }
    p->state = TP_PEER_DISCONNECTED;
    p->conn = NULL;
}

void tp_peer_log_rejecting(tp_pool *pool, tp_peer_info *p, const tp_point *point) {
    peer_log(pool, p, TP_POOL_EVENT_REJECTING_REQUEST, point);
}

void tp_peer_log_incoming(tp_pool *pool, tp_peer_info *p, const tp_point *point) {
    peer_log(pool, p, TP_POOL_EVENT_INCOMING_REQUEST, point);
}

/* ---- list_known_points (spec §5.5) ---------------------------------------------------- */

typedef struct known_item {
    int32_t group;    /* 0 connected/connecting, 1 disconnected with last_seen, 2 none */
    int64_t order;    /* ascending within the group */
    uint64_t tiebreak; /* random */
    tp_point point;
} known_item;

/* The sort key of items[index]: 24 bytes instead of the 48-byte item, compared inline. */
typedef struct known_key {
    int64_t order;
    uint64_t tiebreak;
    int32_t group;
    uint32_t index;
} known_key;

/* (group, order, tiebreak, point): a strict total order (points are unique), so any
 * correct sort gives the one result qsort gave before. */
static inline bool known_less(const known_key *x, const known_key *y, const known_item *items) {
    if (x->group != y->group) return x->group < y->group;
    if (x->order != y->order) return x->order < y->order;
    if (x->tiebreak != y->tiebreak) return x->tiebreak < y->tiebreak;
    return tp_point_cmp(&items[x->index].point, &items[y->index].point) < 0;
}

/* Insertion-sorted runs of 16, then bottom-up merges between a and tmp; returns the
 * array holding the result (a or tmp). */
static known_key *known_sort(known_key *a, known_key *tmp, uint32_t n, const known_item *items) {
    TP_ASSERT(n <= UINT32_MAX / 4); /* 2 * width never wraps */
    const uint32_t run = 16;
    for (uint32_t lo = 0; lo < n; lo += run) {
        uint32_t hi = n - lo > run ? lo + run : n;
        for (uint32_t i = lo + 1; i < hi; i++) {
            known_key k = a[i];
            uint32_t j = i;
            while (j > lo && known_less(&k, &a[j - 1], items)) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = k;
        }
    }
    for (uint32_t width = run; width < n; width *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * width) {
            uint32_t mid = n - lo > width ? lo + width : n;
            uint32_t hi = n - mid > width ? mid + width : n;
            uint32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = known_less(&a[j], &a[i], items) ? a[j++] : a[i++];
            while (i < mid) tmp[k++] = a[i++];
            while (j < hi) tmp[k++] = a[j++];
        }
        known_key *t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

size_t tp_pool_list_known_points(tp_pool *pool, size_t size, tp_pool_ip_filter is_banned,
                                 void *arg, tp_point *out) {
    uint32_t count = tp_table_count(&pool->points);
    if (size == 0 || count == 0) return 0;
    /* One block: the items, then two arrays of sort keys (known_sort: compact keys
     * and an inlined comparison instead of qsort over the items). The walk reads the
     * table's copies of the listing fields (POINT_VALUE_SIZE), in the table's order,
     * drawing one tie-break per listed point as before. */
    size_t block = (sizeof(known_item) + 2 * sizeof(known_key)) * count;
    known_item *items = tp_env_alloc(pool->env, block);
    if (items == NULL) return 0;
    known_key *keys = (known_key *)(void *)(items + count);
    known_key *keys_tmp = keys + count;
    uint32_t n = 0, it = 0;
    const void *key;
    void *v;
    while (tp_table_next(&pool->points, &it, &key, &v)) {
        /* the table value's copy of the listing fields (POINT_VALUE_SIZE): the infos
         * themselves are not touched */
        uint8_t flags = ((const uint8_t *)v)[HOT_FLAGS];
        if (!(flags & HOT_KNOWN_PUBLIC)) continue;
        tp_point pt;
        memset(&pt, 0, sizeof pt);
        memcpy(pt.ip.bytes, key, 16);
        pt.port = (uint16_t)(((const uint8_t *)key)[16] << 8 | ((const uint8_t *)key)[17]);
        if (is_banned != NULL && is_banned(arg, &pt.ip)) continue;
        int64_t seen;
        memcpy(&seen, (const uint8_t *)v + HOT_SEEN, sizeof seen);
        known_item *k = &items[n++];
        k->point = pt;
        tp_env_random(pool->env, &k->tiebreak, sizeof k->tiebreak);
        if (flags & HOT_CONNECTED) {
            /* Octez's compare_known_point_info: connected (not Disconnected) points
             * first, by last_seen ascending with None before any time (compare_last_seen
             * p1 p2: None < Some), so a point still connecting, without history, leads */
            k->group = 0;
            k->order = seen == TP_TIME_NONE ? INT64_MIN : seen;
        } else if (seen != TP_TIME_NONE) {
            k->group = 1;
            k->order = -seen; /* most recently seen first */
        } else {
            k->group = 2;
            k->order = 0;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        keys[i] = (known_key){items[i].order, items[i].tiebreak, items[i].group, i};
    const known_key *sorted = known_sort(keys, keys_tmp, n, items);
    size_t other = size * 2 / 5;
    size_t best = size - other;
    size_t out_n = 0;
    if ((size_t)n <= best + other) {
        /* Octez's `sample`: the whole sorted list, in order */
        for (uint32_t i = 0; i < n; i++) out[out_n++] = items[sorted[i].index].point;
    } else {
        /* Octez's `sample best other` (p2p_pool.ml): indexes 0..best-1, then `other`
         * random indexes in [best, n), sorted; walking the list, element i is taken
         * when i >= the next index, so a repeated index spills onto the next element
         * (fewer than `other` only when it spills past the end). The result is built
         * by prepending: it goes out reversed (the random picks first, from the last,
         * then the best ones from the worst). The indexes reuse keys_tmp's memory. */
        uint32_t *idx = (uint32_t *)(void *)(sorted == keys ? keys_tmp : keys);
        size_t total = best + other;
        for (size_t j = 0; j < best; j++) idx[j] = (uint32_t)j;
        for (size_t j = best; j < total; j++)
            idx[j] = (uint32_t)best + (uint32_t)tp_env_random_below(pool->env, n - best);
        for (size_t j = best + 1; j < total; j++) { /* insertion sort of the random part */
            uint32_t r = idx[j];
            size_t q = j;
            while (q > best && idx[q - 1] > r) {
                idx[q] = idx[q - 1];
                q--;
            }
            idx[q] = r;
        }
        size_t q = 0, picked = 0;
        for (uint32_t i = 0; i < n && q < total; i++) {
            if (i >= idx[q]) {
                q++;
                picked++;
            }
        }
        /* second walk: write the picks from the end of out (reversed order) */
        q = 0;
        size_t w = picked;
        for (uint32_t i = 0; i < n && q < total; i++) {
            if (i >= idx[q]) {
                q++;
                out[--w] = items[sorted[i].index].point;
            }
        }
        out_n = picked;
    }
    tp_env_free(pool->env, items, block);
    return out_n;
}
