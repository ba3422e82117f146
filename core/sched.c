/* core/sched.c — the I/O scheduler (spec §8). See sched.h. */
#include "sched.h"

#include <string.h>

enum { Q_NONE = 0, Q_HIGH = 1, Q_LOW = 2 };

#define NS_PER_S ((int64_t)1000000000)

void tp_sched_config_default(tp_sched_config *cfg) {
    cfg->max_download_bps = 0;
    cfg->max_upload_bps = 0;
    cfg->read_buffer_size = 16384;
    cfg->write_chunk_size = 16384;
    cfg->refresh_ns = NS_PER_S;
    cfg->cap_slices = 1; /* Octez: p2p_io_scheduler.ml update_quota, once per second */
}

static void on_kick(void *arg);
static void on_refresh(void *arg);
static void on_slice(void *arg);

/* One slice's worth of the cap. */
static int64_t slice_quota(const tp_sched *s, int64_t max_bps) {
    return max_bps * (s->cfg.refresh_ns / 1000000) / 1000 / s->cfg.cap_slices;
}

static int64_t slice_ns(const tp_sched *s) {
    return s->cfg.refresh_ns / s->cfg.cap_slices;
}

static bool capped(const tp_sched *s) {
    return s->side[0].max_bps > 0 || s->side[1].max_bps > 0;
}

void tp_sched_init(tp_sched *s, const tp_env *env, const tp_sched_config *cfg) {
    TP_ASSERT(cfg->max_download_bps >= 0 && cfg->max_upload_bps >= 0);
    TP_ASSERT(cfg->read_buffer_size > 0 && cfg->write_chunk_size > 0);
    TP_ASSERT(cfg->refresh_ns >= 1000000);
    TP_ASSERT(cfg->cap_slices >= 1 && cfg->cap_slices <= 1000);
    memset(s, 0, sizeof *s);
    s->env = env;
    s->cfg = *cfg;
    for (int d = 0; d < 2; d++) {
        tp_sched_side *side = &s->side[d];
        side->sched = s;
        side->dir = (tp_sched_dir)d;
        side->max_bps = d == TP_SCHED_READ ? cfg->max_download_bps : cfg->max_upload_bps;
        side->global_quota = slice_quota(s, side->max_bps);
        tp_ma_init(&side->ma);
        tp_timer_init(&side->kick, on_kick, side);
    }
    tp_timer_init(&s->refresh, on_refresh, s);
    tp_timer_init(&s->slice, on_slice, s);
}

void tp_sched_deinit(tp_sched *s) {
    while (s->head != NULL) tp_sched_unregister(s->head);
    for (int d = 0; d < 2; d++) tp_env_timer_stop(s->env, &s->side[d].kick);
    tp_env_timer_stop(s->env, &s->refresh);
    tp_env_timer_stop(s->env, &s->slice);
}

/* ---- queues ---------------------------------------------------------------------------- */

static tp_sched_queue *queue_of(tp_sched_side *side, uint8_t q) {
    return q == Q_HIGH ? &side->high : &side->low;
}

static void queue_push(tp_sched_side *side, tp_sched_entry *e, uint8_t q) {
    TP_ASSERT(e->queue == Q_NONE);
    tp_sched_queue *qu = queue_of(side, q);
    e->next = NULL;
    e->prev = qu->tail;
    if (qu->tail) qu->tail->next = e;
    else qu->head = e;
    qu->tail = e;
    qu->len++;
    e->queue = q;
}

static void queue_remove(tp_sched_side *side, tp_sched_entry *e) {
    if (e->queue == Q_NONE) return;
    tp_sched_queue *qu = queue_of(side, e->queue);
    if (e->prev) e->prev->next = e->next;
    else qu->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else qu->tail = e->prev;
    qu->len--;
    e->next = e->prev = NULL;
    e->queue = Q_NONE;
}

static bool may_dispatch(const tp_sched_side *side) {
    return side->max_bps == 0 || side->global_quota >= 0;
}

static void kick(tp_sched_side *side) {
    if (side->high.len + side->low.len == 0 || !may_dispatch(side)) return;
    if (tp_timer_is_armed(&side->kick)) return;
    tp_env_timer_start(side->sched->env, &side->kick, tp_env_now_ns(side->sched->env));
}

/* ---- lazy refresh ------------------------------------------------------------------------ */

/* Entry d of c as of the last refresh, from its values at refresh c->synced: every
 * refresh in between was idle for it (a connection with bytes is on the busy list and
 * is refreshed eagerly), so its average took that many idle ticks (rate 0:
 * average = 800 * average / 1000, the same integer steps) and its quota went
 *     q(i+1) = min(q(i), 0) + share(i+1)
 * Shares are >= 0, so while q stays negative it is q(j) + the shares since, and once it
 * is >= 0 it is the latest share: q(k) = q(j) + S(k) - S(j) if q(j) + S(k-1) - S(j) < 0,
 * else share(k), with S the running sum of the shares. */
static void entry_now(const tp_sched *s, const tp_sched_conn *c, int d, int64_t *average,
                      int64_t *quota) {
    const tp_sched_entry *e = &c->dir[d];
    uint64_t missed = s->refreshes - c->synced;
    *average = e->ma.average;
    *quota = e->quota;
    if (missed == 0) return;
    TP_ASSERT(e->ma.current == 0);
    tp_moving_average ma = e->ma;
    for (uint64_t i = 0; i < missed && ma.average != 0; i++) tp_ma_tick_ms(&ma, 1000);
    *average = ma.average;
    int64_t since = s->share_sum[d] - c->share_base[d];
    if (e->quota + since - s->share[d] < 0) *quota = e->quota + since;
    else *quota = s->share[d];
}

/* Brings c's entries to the last refresh (see entry_now). */
static void sync_conn(tp_sched_conn *c) {
    const tp_sched *s = c->sched;
    if (c->synced == s->refreshes) return;
    for (int d = 0; d < 2; d++) {
        entry_now(s, c, d, &c->dir[d].ma.average, &c->dir[d].quota);
        c->share_base[d] = s->share_sum[d];
    }
    c->synced = s->refreshes;
}

static void busy_remove(tp_sched *s, tp_sched_conn *c) {
    if (!c->busy) return;
    if (c->busy_prev) c->busy_prev->busy_next = c->busy_next;
    else s->busy = c->busy_next;
    if (c->busy_next) c->busy_next->busy_prev = c->busy_prev;
    c->busy_next = c->busy_prev = NULL;
    c->busy = false;
}

/* Counts bytes in c's current window: c is refreshed eagerly at the next refresh. */
static void count_bytes(tp_sched *s, tp_sched_entry *e, int64_t bytes) {
    tp_sched_conn *c = e->conn;
    if (bytes > 0 && !c->busy) {
        sync_conn(c);
        c->busy = true;
        c->busy_prev = NULL;
        c->busy_next = s->busy;
        if (s->busy) s->busy->busy_prev = c;
        s->busy = c;
    }
    tp_ma_add(&e->ma, bytes);
}

/* ---- registration ------------------------------------------------------------------------ */

void tp_sched_register(tp_sched *s, tp_sched_conn *c) {
    memset(c, 0, sizeof *c);
    c->sched = s;
    c->synced = s->refreshes;
    for (int d = 0; d < 2; d++) {
        c->dir[d].conn = c;
        tp_ma_init(&c->dir[d].ma);
        c->share_base[d] = s->share_sum[d];
    }
    c->prev = s->tail;
    if (s->tail) s->tail->next = c;
    else s->head = c;
    s->tail = c;
    s->conns++;
    if (!tp_timer_is_armed(&s->refresh)) {
        s->last_refresh_ns = tp_env_now_ns(s->env);
        tp_env_timer_start_in(s->env, &s->refresh, s->cfg.refresh_ns);
        if (capped(s)) tp_env_timer_start_in(s->env, &s->slice, slice_ns(s));
    }
}

void tp_sched_unregister(tp_sched_conn *c) {
    tp_sched *s = c->sched;
    if (s == NULL) return;
    sync_conn(c); /* its stats stay those of the last refresh */
    for (int d = 0; d < 2; d++) {
        tp_sched_entry *e = &c->dir[d];
        queue_remove(&s->side[d], e);
        e->want = 0;
        e->granted = 0;
    }
    busy_remove(s, c);
    if (c->prev) c->prev->next = c->next;
    else s->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else s->tail = c->prev;
    c->next = c->prev = NULL;
    c->sched = NULL;
    s->conns--;
    if (s->conns == 0) {
        tp_env_timer_stop(s->env, &s->refresh);
        tp_env_timer_stop(s->env, &s->slice);
    }
}

/* ---- requests ---------------------------------------------------------------------------- */

tp_err tp_sched_request(tp_sched_conn *c, tp_sched_dir dir, size_t want, tp_sched_grant_cb cb,
                        void *arg) {
    TP_ASSERT((dir == TP_SCHED_READ || dir == TP_SCHED_WRITE) && want > 0 && cb != NULL);
    tp_sched *s = c->sched;
    if (s == NULL) return TP_ERR_STATE;
    tp_sched_entry *e = &c->dir[dir];
    if (e->want > 0 || e->granted > 0) return TP_ERR_STATE;
    sync_conn(c);
    e->want = want;
    e->cb = cb;
    e->arg = arg;
    tp_sched_side *side = &s->side[dir];
    queue_push(side, e, e->quota > 0 ? Q_HIGH : Q_LOW);
    kick(side);
    return TP_OK;
}

void tp_sched_cancel(tp_sched_conn *c, tp_sched_dir dir) {
    tp_sched *s = c->sched;
    if (s == NULL) return;
    tp_sched_entry *e = &c->dir[dir];
    queue_remove(&s->side[dir], e);
    e->want = 0;
}

static void charge(tp_sched_side *side, tp_sched_entry *e, int64_t bytes, bool conn_quota) {
    side->global_quota -= bytes;
    if (conn_quota) {
        sync_conn(e->conn);
        e->quota -= bytes;
    }
}

void tp_sched_complete(tp_sched_conn *c, tp_sched_dir dir, size_t used) {
    tp_sched *s = c->sched;
    TP_ASSERT(s != NULL);
    tp_sched_entry *e = &c->dir[dir];
    TP_ASSERT(e->granted > 0 && used <= e->granted);
    tp_sched_side *side = &s->side[dir];
    /* refund what was granted but not used */
    charge(side, e, -(int64_t)(e->granted - used), e->granted_high);
    e->granted = 0;
    count_bytes(s, e, (int64_t)used);
    tp_ma_add(&side->ma, (int64_t)used);
    kick(side); /* a refund may have made the global quota non-negative again */
}

void tp_sched_account(tp_sched_conn *c, tp_sched_dir dir, size_t bytes) {
    tp_sched *s = c->sched;
    TP_ASSERT(s != NULL);
    tp_sched_entry *e = &c->dir[dir];
    tp_sched_side *side = &s->side[dir];
    charge(side, e, (int64_t)bytes, true);
    count_bytes(s, e, (int64_t)bytes);
    tp_ma_add(&side->ma, (int64_t)bytes);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static void on_kick(void *arg) {
    tp_sched_side *side = arg;
    tp_sched *s = side->sched;
    size_t cap = side->dir == TP_SCHED_READ ? s->cfg.read_buffer_size : s->cfg.write_chunk_size;
    /* Serve at most what is queued now; re-requests made from a grant callback wait
     * for the next pass. */
    uint32_t budget = side->high.len + side->low.len;
    while (budget-- > 0) {
        if (!may_dispatch(side)) return; /* the refresh kicks again */
        tp_sched_entry *e = side->high.head;
        bool high = e != NULL;
        if (e == NULL) e = side->low.head;
        if (e == NULL) break;
        queue_remove(side, e);
        size_t grant = e->want < cap ? e->want : cap;
        e->want = 0;
        e->granted = grant;
        e->granted_high = high;
        charge(side, e, (int64_t)grant, high);
        s->grants++;
        e->cb(e->arg, e->conn, side->dir, grant);
    }
    kick(side);
}

static void on_refresh(void *arg) {
    tp_sched *s = arg;
    int64_t now = tp_env_now_ns(s->env);
    int64_t elapsed = now - s->last_refresh_ns;
    if (elapsed <= 0) elapsed = 1;
    s->last_refresh_ns = now;
    for (int d = 0; d < 2; d++) tp_ma_tick(&s->side[d].ma, elapsed);
    /* Every connection gets the same share of each direction's average: divide once.
     * This loop runs every second on every connection of every node (at 10,000 nodes,
     * 220,000 connections): keep it to loads, stores and multiplications. */
    int64_t share[2] = {0, 0};
    if (s->conns > 0)
        for (int d = 0; d < 2; d++) share[d] = s->side[d].ma.average / (int64_t)s->conns;
    /* Connections with bytes in the window tick now; the others are idle and catch up
     * when next touched (entry_now), from these running sums. */
    int64_t elapsed_ms = tp_ma_elapsed_ms(elapsed);
    tp_sched_conn *busy = s->busy;
    s->busy = NULL;
    s->refreshes++;
    for (int d = 0; d < 2; d++) {
        s->share[d] = share[d];
        s->share_sum[d] += share[d];
    }
    while (busy != NULL) {
        tp_sched_conn *c = busy;
        busy = c->busy_next;
        c->busy = false;
        c->busy_next = c->busy_prev = NULL;
        TP_ASSERT(c->synced + 1 == s->refreshes); /* synced when it became busy */
        for (int d = 0; d < 2; d++) {
            tp_sched_entry *e = &c->dir[d];
            tp_ma_tick_ms(&e->ma, elapsed_ms);
            e->quota = (e->quota < 0 ? e->quota : 0) + share[d];
            c->share_base[d] = s->share_sum[d];
        }
        c->synced = s->refreshes;
    }
    for (int d = 0; d < 2; d++) {
        tp_sched_side *side = &s->side[d];
        /* low entries whose connection has quota again move up, in order */
        tp_sched_entry *e = side->low.head;
        while (e != NULL) {
            tp_sched_entry *next = e->next;
            sync_conn(e->conn);
            if (e->quota > 0) {
                queue_remove(side, e);
                queue_push(side, e, Q_HIGH);
            }
            e = next;
        }
        kick(side);
    }
    if (s->conns > 0) tp_env_timer_start(s->env, &s->refresh, now + s->cfg.refresh_ns);
}

static void on_slice(void *arg) {
    tp_sched *s = arg;
    for (int d = 0; d < 2; d++) {
        tp_sched_side *side = &s->side[d];
        if (side->max_bps == 0) continue;
        side->global_quota = (side->global_quota < 0 ? side->global_quota : 0) +
                             slice_quota(s, side->max_bps);
        kick(side);
    }
    if (s->conns > 0) tp_env_timer_start(s->env, &s->slice, tp_env_now_ns(s->env) + slice_ns(s));
}

/* ---- statistics ---------------------------------------------------------------------------- */

tp_stat tp_sched_conn_stat(const tp_sched_conn *c) {
    tp_moving_average ma[2] = {c->dir[0].ma, c->dir[1].ma};
    if (c->sched != NULL) {
        int64_t quota;
        for (int d = 0; d < 2; d++) entry_now(c->sched, c, d, &ma[d].average, &quota);
    }
    return tp_stat_from(&ma[TP_SCHED_READ], &ma[TP_SCHED_WRITE]);
}

int64_t tp_sched_conn_quota(const tp_sched_conn *c, tp_sched_dir dir) {
    int64_t average, quota = c->dir[dir].quota;
    if (c->sched != NULL) entry_now(c->sched, c, (int)dir, &average, &quota);
    return quota;
}

tp_stat tp_sched_global_stat(const tp_sched *s) {
    return tp_stat_from(&s->side[TP_SCHED_READ].ma, &s->side[TP_SCHED_WRITE].ma);
}
