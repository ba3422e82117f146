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
    cfg->cap_slices = 10;
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

/* ---- registration ------------------------------------------------------------------------ */

void tp_sched_register(tp_sched *s, tp_sched_conn *c) {
    memset(c, 0, sizeof *c);
    c->sched = s;
    for (int d = 0; d < 2; d++) {
        c->dir[d].conn = c;
        tp_ma_init(&c->dir[d].ma);
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
    for (int d = 0; d < 2; d++) {
        tp_sched_entry *e = &c->dir[d];
        queue_remove(&s->side[d], e);
        e->want = 0;
        e->granted = 0;
    }
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
    if (conn_quota) e->quota -= bytes;
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
    tp_ma_add(&e->ma, (int64_t)used);
    tp_ma_add(&side->ma, (int64_t)used);
    kick(side); /* a refund may have made the global quota non-negative again */
}

void tp_sched_account(tp_sched_conn *c, tp_sched_dir dir, size_t bytes) {
    tp_sched *s = c->sched;
    TP_ASSERT(s != NULL);
    tp_sched_entry *e = &c->dir[dir];
    tp_sched_side *side = &s->side[dir];
    charge(side, e, (int64_t)bytes, true);
    tp_ma_add(&e->ma, (int64_t)bytes);
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
    s->refreshes++;
    for (int d = 0; d < 2; d++) tp_ma_tick(&s->side[d].ma, elapsed);
    /* Every connection gets the same share of each direction's average: divide once.
     * This loop runs every second on every connection of every node (at 10,000 nodes,
     * 220,000 connections): keep it to loads, stores and multiplications. */
    int64_t share[2] = {0, 0};
    if (s->conns > 0)
        for (int d = 0; d < 2; d++) share[d] = s->side[d].ma.average / (int64_t)s->conns;
    int64_t elapsed_ms = tp_ma_elapsed_ms(elapsed);
    for (tp_sched_conn *c = s->head; c != NULL; c = c->next) {
        for (int d = 0; d < 2; d++) {
            tp_sched_entry *e = &c->dir[d];
            tp_ma_tick_ms(&e->ma, elapsed_ms);
            e->quota = (e->quota < 0 ? e->quota : 0) + share[d];
        }
    }
    for (int d = 0; d < 2; d++) {
        tp_sched_side *side = &s->side[d];
        /* low entries whose connection has quota again move up, in order */
        tp_sched_entry *e = side->low.head;
        while (e != NULL) {
            tp_sched_entry *next = e->next;
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
    return tp_stat_from(&c->dir[TP_SCHED_READ].ma, &c->dir[TP_SCHED_WRITE].ma);
}

tp_stat tp_sched_global_stat(const tp_sched *s) {
    return tp_stat_from(&s->side[TP_SCHED_READ].ma, &s->side[TP_SCHED_WRITE].ma);
}
