/* core/maintenance.c — the maintenance worker (spec §6). See maintenance.h.
 *
 * The Octez loop
 *     maintain () = if out of range then (do_maintain (); maintain ()) else swap
 *     too_few n   = if not (try_to_contact ...) then ask_for_more_contacts (); do_maintain
 * becomes step(): it advances the cycle until it must wait for dials (CONTACTING), for
 * new points or 5 s (WAITING), or until the count is in range (the cycle ends, IDLE).
 * Every resumption after a wait goes through the kick timer, so the node's callbacks
 * (dial completions, pool hooks, triggers) never re-enter the node through this worker.
 */
#include "maintenance.h"

#include <stdlib.h>
#include <string.h>

#define NS_PER_S ((int64_t)1000000000)

tp_maintenance_bounds tp_maintenance_bounds_of(uint32_t min_connections,
                                               uint32_t expected_connections,
                                               uint32_t max_connections) {
    TP_ASSERT(min_connections <= expected_connections);
    TP_ASSERT(expected_connections <= max_connections);
    uint32_t step_min = (expected_connections - min_connections) / 3;
    uint32_t step_max = (max_connections - expected_connections) / 3;
    tp_maintenance_bounds b;
    b.min_threshold = min_connections + step_min;
    b.min_target = min_connections + 2 * step_min;
    b.max_target = max_connections - 2 * step_max;
    b.max_threshold = max_connections - step_max;
    return b;
}

void tp_connections_option(uint32_t n, uint32_t *min_connections, uint32_t *expected,
                           uint32_t *max_connections, uint32_t *known_max,
                           uint32_t *known_target) {
    /* shared_arg.ml: "To avoid the lack of connections when x is 1, we define the
     * minimum to 1 manually" */
    if (min_connections) *min_connections = n == 1 ? 1 : n / 2;
    if (expected) *expected = n;
    if (max_connections) *max_connections = 3 * n / 2;
    if (known_max) *known_max = 8 * n;
    if (known_target) *known_target = 8 * n / 4 * 3;
}

void tp_maintenance_config_default(tp_maintenance_config *cfg) {
    cfg->min_connections = 10;
    cfg->expected_connections = 50;
    cfg->max_connections = 100;
    cfg->idle_time_ns = 120 * NS_PER_S;
    cfg->time_between_looking_for_peers_ns = 5 * NS_PER_S;
    cfg->wait_jitter_pm = 0;
    cfg->private_mode = false;
}

static void on_idle(void *arg);
static void on_wait(void *arg);
static void on_kick(void *arg);

void tp_maintenance_init(tp_maintenance *m, const tp_env *env, tp_pool *pool, tp_acl *acl,
                         const tp_maintenance_config *cfg, const tp_maintenance_ops *ops) {
    TP_ASSERT(ops->active_connections && ops->connections && ops->connect && ops->disconnect);
    TP_ASSERT(cfg->idle_time_ns > 0 && cfg->time_between_looking_for_peers_ns > 0);
    memset(m, 0, sizeof *m);
    m->env = env;
    m->pool = pool;
    m->acl = acl;
    m->cfg = *cfg;
    m->bounds = tp_maintenance_bounds_of(cfg->min_connections, cfg->expected_connections,
                                         cfg->max_connections);
    m->ops = *ops;
    m->phase = TP_MAINTENANCE_INACTIVE;
    tp_timer_init(&m->idle_timer, on_idle, m);
    tp_timer_init(&m->wait_timer, on_wait, m);
    tp_timer_init(&m->kick_timer, on_kick, m);
    uint8_t key[16];
    tp_env_random(env, key, sizeof key);
    /* The pool holds at most max_known_points + 1 points (GC off-by-one). */
    tp_table_init(&m->seen, env, sizeof(tp_point), 0, pool->cfg.max_known_points + 16, key);
}

void tp_maintenance_stop(tp_maintenance *m) {
    tp_env_timer_stop(m->env, &m->idle_timer);
    tp_env_timer_stop(m->env, &m->wait_timer);
    tp_env_timer_stop(m->env, &m->kick_timer);
    m->phase = TP_MAINTENANCE_INACTIVE;
    m->cycle_running = false;
    m->cycle_logged = false;
    m->contacting = false;
    m->waiters_count = 0;
    m->round_pending = 0; /* completions still on their way are ignored */
}

void tp_maintenance_crash_drop(tp_maintenance *m) {
    m->phase = TP_MAINTENANCE_INACTIVE;
    m->waiters_count = 0;
    tp_table_deinit(&m->seen);
    tp_env_free(m->env, m->cands, m->cands_cap * sizeof *m->cands);
    tp_env_free(m->env, m->views, m->views_cap * sizeof *m->views);
    m->cands = NULL;
    m->views = NULL;
    m->cands_cap = m->views_cap = 0;
}

void tp_maintenance_deinit(tp_maintenance *m) {
    tp_maintenance_stop(m);
    tp_table_deinit(&m->seen);
    tp_env_free(m->env, m->cands, m->cands_cap * sizeof *m->cands);
    tp_env_free(m->env, m->views, m->views_cap * sizeof *m->views);
    m->cands = NULL;
    m->views = NULL;
    m->cands_cap = m->views_cap = 0;
}

static void emit(tp_maintenance *m, tp_event_kind kind, int32_t code, const tp_peer_id *peer) {
    tp_env_emit(m->env, kind, peer ? peer->bytes : NULL, NULL, code, NULL);
}

static void kick(tp_maintenance *m) {
    tp_env_timer_start(m->env, &m->kick_timer, tp_env_now_ns(m->env));
}

/* Something asks for a cycle (idle timer, request, trigger). Only an idle worker
 * listens: as in Octez, whose worker waits on the idle timer, please_maintain and the
 * too_few / too_many conditions only between two runs (p2p_maintenance.ml
 * `Internal.create` callback), a wake-up during a run is lost (P2p_trigger /
 * Lwt_condition broadcasts with no waiter) — in particular it does not cut the 5 s of
 * ask_for_more_contacts short, which only a new point or peer does. A maintain
 * request's callback still fires when the running cycle ends (Octez: just_maintained). */
static void wake(tp_maintenance *m) {
    if (m->phase != TP_MAINTENANCE_IDLE) return;
    m->phase = TP_MAINTENANCE_STARTING;
    kick(m);
}

void tp_maintenance_activate(tp_maintenance *m) {
    if (m->phase != TP_MAINTENANCE_INACTIVE) return;
    m->phase = TP_MAINTENANCE_IDLE;
    wake(m);
}

tp_err tp_maintenance_maintain(tp_maintenance *m, tp_maintenance_done_cb cb, void *arg) {
    if (m->phase == TP_MAINTENANCE_INACTIVE) return TP_ERR_STATE;
    if (cb != NULL) {
        if (m->waiters_count == TP_MAINTENANCE_WAITERS_MAX) return TP_ERR_LIMIT;
        m->waiters[m->waiters_count].cb = cb;
        m->waiters[m->waiters_count].arg = arg;
        m->waiters_count++;
    }
    wake(m);
    return TP_OK;
}

void tp_maintenance_trigger_too_few(tp_maintenance *m) {
    wake(m);
}

void tp_maintenance_trigger_too_many(tp_maintenance *m) {
    wake(m);
}

static void new_contact(tp_maintenance *m) {
    /* Private mode just sleeps 5 s (spec §6.3): news do not cut its wait short. */
    if (m->phase == TP_MAINTENANCE_WAITING && !m->cfg.private_mode) kick(m);
}

void tp_maintenance_on_new_point(tp_maintenance *m) {
    new_contact(m);
}

void tp_maintenance_on_new_peer(tp_maintenance *m) {
    new_contact(m);
}

/* ---- scratch lists ------------------------------------------------------------------- */

static size_t load_views(tp_maintenance *m) {
    for (;;) {
        size_t n = m->ops.connections(m->ops.arg, m->views, m->views_cap);
        if (n <= m->views_cap) return n;
        size_t cap = n + 8;
        tp_conn_view *v = tp_env_realloc(m->env, m->views, m->views_cap * sizeof *v,
                                         cap * sizeof *v);
        if (v == NULL) return 0;
        m->views = v;
        m->views_cap = cap;
    }
}

static bool cands_reserve(tp_maintenance *m, size_t n) {
    if (n <= m->cands_cap) return true;
    size_t cap = n + 16;
    tp_point_info **c = tp_env_realloc(m->env, m->cands, m->cands_cap * sizeof *c,
                                       cap * sizeof *c);
    if (c == NULL) return false;
    m->cands = c;
    m->cands_cap = cap;
    return true;
}

/* ---- try_to_contact (spec §6.3) ------------------------------------------------------ */

/* Never missed first, then the oldest last_miss (Octez: p2p_maintenance.ml
 * `connectable`, a Bounded_heap of the max_to_contact greatest). Ties in the point's
 * random `tie` (pool.h): Octez fills the heap in the order of its seeded Hashtbl
 * (p2p_pool.ml `create`, ~random:true), so equally good points are an effectively
 * random pick, fixed for a node until the table changes. Registration order would make
 * every node dial the earliest-learned points first. */
static int cand_cmp(const void *a, const void *b) {
    const tp_point_info *pa = *(tp_point_info *const *)a;
    const tp_point_info *pb = *(tp_point_info *const *)b;
    int64_t ma = tp_point_last_miss(pa), mb = tp_point_last_miss(pb);
    if (ma != mb) {
        if (ma == TP_TIME_NONE) return -1;
        if (mb == TP_TIME_NONE) return 1;
        return ma < mb ? -1 : 1;
    }
    if (pa->tie != pb->tie) return pa->tie < pb->tie ? -1 : 1;
    return (pa->seq > pb->seq) - (pa->seq < pb->seq);
}

typedef enum round_result { ROUND_NONE, ROUND_LAUNCHED, ROUND_SYNC } round_result;


/* The seen set of the current try_to_contact (Octez: an unbounded set). Points the GC
 * dropped during the cycle stay in it; when it is full, those are pruned (a point that
 * is no longer known cannot be dialed), so every point the pool holds fits: the pool
 * holds at most max_known_points < count_max. Without the pruning a full set made
 * every later point "never seen", and a round whose dials all failed at once (e.g.
 * Pending_connection) started over forever. */
static bool seen_add(tp_maintenance *m, const tp_point *pt) {
    void *v;
    if (tp_table_insert(&m->seen, pt, &v) == TP_OK) return true;
    uint32_t it = 0;
    const void *key;
    void *val;
    while (tp_table_next(&m->seen, &it, &key, &val))
        if (tp_pool_point(m->pool, key) == NULL) tp_table_remove_current(&m->seen, it);
    return tp_table_insert(&m->seen, pt, &v) == TP_OK;
}

static round_result launch_round(tp_maintenance *m) {
    int64_t now = tp_env_now_ns(m->env);
    size_t ncand = 0;
    if (!cands_reserve(m, tp_pool_points_count(m->pool))) return ROUND_NONE;
    uint32_t it = 0;
    tp_point_info *p;
    while ((p = tp_pool_next_point(m->pool, &it)) != NULL) {
        /* Ignore: reconsidered in a later round. */
        if (tp_table_get(&m->seen, &p->point) != NULL) continue;
        if (m->acl != NULL && tp_acl_banned_ip(m->acl, &p->point.ip)) continue;
        if (m->cfg.private_mode && !p->trusted) continue;
        int64_t miss = tp_point_last_miss(p);
        if (p->state != TP_POINT_DISCONNECTED ||
            (miss != TP_TIME_NONE && miss > m->start_time_ns) ||
            tp_point_cannot_reconnect_yet(p, now)) {
            (void)seen_add(m, &p->point); /* Seen */
            continue;
        }
        /* Candidate; only if it is recorded as seen, so that rounds whose dials all
         * fail at once still make progress (out of memory: skipped this cycle) */
        if (seen_add(m, &p->point)) m->cands[ncand++] = p;
    }
    if (ncand == 0) return ROUND_NONE;
    qsort(m->cands, ncand, sizeof *m->cands, cand_cmp);
    size_t k = ncand;
    if (m->max_to_contact < (int64_t)k) k = (size_t)(m->max_to_contact > 0 ? m->max_to_contact : 0);
    if (k == 0) return ROUND_NONE;
    m->round_id++;
    m->round_pending = (uint32_t)k;
    m->round_success = 0;
    m->round_launching = true;
    /* Dial the k best in Octez's order: Bounded_heap.get sorts its content in the
     * heap's ascending order, so the most recent miss goes first and the never-missed
     * points last (establish: List.map_p starts the dials in list order). The
     * candidates are already registered, so dialing them adds no point and cannot
     * trigger a GC that would free the infos listed. */
    for (size_t j = k; j-- > 0;) {
        m->dials++;
        tp_err err = m->ops.connect(m->ops.arg, m->cands[j], tp_maintenance_dial_done, m);
        if (err != TP_OK) m->round_pending--;
    }
    m->round_launching = false;
    if (m->round_pending > 0) return ROUND_LAUNCHED;
    m->min_to_contact -= m->round_success;
    m->max_to_contact -= m->round_success;
    return ROUND_SYNC;
}

static void step(tp_maintenance *m);

void tp_maintenance_dial_done(void *arg, tp_err result) {
    tp_maintenance *m = arg;
    if (m->round_pending == 0) return; /* a stale completion after a stop */
    m->round_pending--;
    if (result == TP_OK) {
        m->round_success++;
        m->dial_successes++;
    }
    if (m->round_launching || m->round_pending > 0) return;
    if (m->phase != TP_MAINTENANCE_CONTACTING) return;
    m->min_to_contact -= m->round_success;
    m->max_to_contact -= m->round_success;
    m->phase = TP_MAINTENANCE_RESUMING;
    kick(m);
}

/* ---- ask_for_more_contacts ----------------------------------------------------------- */

static void ask_for_more_contacts(tp_maintenance *m) {
    m->waits++;
    if (!m->cfg.private_mode) {
        if (m->ops.send_bootstrap != NULL) {
            size_t n = load_views(m);
            for (size_t i = 0; i < n; i++) {
                if (m->views[i].private_peer) continue;
                if (m->ops.send_bootstrap(m->ops.arg, m->views[i].conn)) {
                    m->bootstraps_sent++;
                    emit(m, TP_EVENT_BOOTSTRAP_SENT, 0, &m->views[i].peer_id);
                }
            }
        }
        if (m->ops.discovery_wakeup != NULL) m->ops.discovery_wakeup(m->ops.arg);
    }
    m->phase = TP_MAINTENANCE_WAITING;
    /* tidepool option: up to wait_jitter_pm per-mille more, drawn from the env's
     * stream (0 by default: Octez's exact wait). Two nodes that dial each other at the same instant reject each other's
     * incoming connection (Already_connected, spec §2.7) and, with Octez's exact 5 s
     * and identical backoffs, collide again at every retry in a simulation where
     * nothing else breaks the tie (a private ring never formed); real hosts have that
     * jitter anyway. */
    int64_t wait = m->cfg.time_between_looking_for_peers_ns;
    if (m->cfg.wait_jitter_pm > 0)
        wait += (int64_t)tp_env_random_below(
            m->env, (uint64_t)(wait / 1000 * m->cfg.wait_jitter_pm) + 1);
    tp_env_timer_start_in(m->env, &m->wait_timer, wait);
}

/* ---- too_many ------------------------------------------------------------------------ */

static uint32_t too_many(tp_maintenance *m, uint32_t n) {
    uint32_t k = n - m->bounds.max_target;
    size_t count = load_views(m);
    size_t eligible = 0;
    for (size_t i = 0; i < count; i++) {
        /* Connections to peers that are both private and trusted are never killed. */
        if (m->views[i].private_peer && m->views[i].trusted) continue;
        m->views[eligible++] = m->views[i];
    }
    /* Fisher-Yates shuffle with the env's stream: uniform, deterministic. */
    for (size_t i = eligible; i > 1; i--) {
        size_t j = (size_t)tp_env_random_below(m->env, i);
        tp_conn_view t = m->views[i - 1];
        m->views[i - 1] = m->views[j];
        m->views[j] = t;
    }
    uint32_t killed = 0;
    for (size_t i = 0; i < eligible && killed < k; i++) {
        m->ops.disconnect(m->ops.arg, m->views[i].conn, TP_DISCONNECT_MAINTENANCE_TOO_MANY);
        killed++;
        m->kills++;
    }
    return killed;
}

/* ---- the cycle ----------------------------------------------------------------------- */

/* The seen set matters only while contacting: release its memory in between (a node
 * spends most of its life with enough connections, and a simulation holds many). */
static void end_contacting(tp_maintenance *m) {
    m->contacting = false;
    tp_table_deinit(&m->seen);
}

static void finish(tp_maintenance *m) {
    m->cycle_running = false;
    end_contacting(m);
    m->phase = TP_MAINTENANCE_IDLE;
    m->cycles++;
    if (m->cycle_logged)
        emit(m, TP_EVENT_MAINTENANCE_ENDED, (int32_t)m->ops.active_connections(m->ops.arg), NULL);
    m->cycle_logged = false;
    tp_env_timer_start_in(m->env, &m->idle_timer, m->cfg.idle_time_ns);
    /* Waiters registered from inside a callback wait for the next cycle. */
    uint32_t count = m->waiters_count;
    struct {
        tp_maintenance_done_cb cb;
        void *arg;
    } w[TP_MAINTENANCE_WAITERS_MAX];
    memcpy(w, m->waiters, sizeof w[0] * count);
    m->waiters_count = 0;
    for (uint32_t i = 0; i < count; i++) w[i].cb(w[i].arg);
}

static void step(tp_maintenance *m) {
    for (;;) {
        if (m->contacting) {
            if (m->min_to_contact <= 0) { /* try_to_contact returned true */
                end_contacting(m);
                continue;
            }
            round_result r = launch_round(m);
            if (r == ROUND_LAUNCHED) {
                m->phase = TP_MAINTENANCE_CONTACTING;
                return;
            }
            if (r == ROUND_NONE) { /* try_to_contact returned false */
                end_contacting(m);
                ask_for_more_contacts(m);
                return;
            }
            continue; /* every dial failed at once: next round */
        }
        uint32_t n = m->ops.active_connections(m->ops.arg);
        if (n < m->bounds.min_threshold) {
            emit(m, TP_EVENT_TOO_FEW_CONNECTIONS, (int32_t)n, NULL);
            m->contacting = true;
            m->start_time_ns = tp_env_now_ns(m->env);
            tp_table_clear(&m->seen);
            m->min_to_contact = (int64_t)m->bounds.min_target - n;
            m->max_to_contact = (int64_t)m->bounds.max_target - n;
            continue;
        }
        if (n > m->bounds.max_threshold) {
            emit(m, TP_EVENT_TOO_MANY_CONNECTIONS, (int32_t)n, NULL);
            uint32_t killed = too_many(m, n);
            /* Nothing killable, or the node did not take the kills into account yet:
             * end the cycle rather than spin; the next trigger runs another. */
            if (killed == 0 || m->ops.active_connections(m->ops.arg) >= n) break;
            continue;
        }
        if (!m->cfg.private_mode && m->ops.send_swap_request != NULL)
            (void)m->ops.send_swap_request(m->ops.arg);
        break;
    }
    finish(m);
}

static void on_kick(void *arg) {
    tp_maintenance *m = arg;
    switch (m->phase) {
    case TP_MAINTENANCE_STARTING: {
        tp_env_timer_stop(m->env, &m->idle_timer);
        m->cycle_running = true;
        /* As Octez's worker loop: Maintenance_started/ended frame the cycles that have
         * work to do; an in-range wake-up only proposes a swap. */
        uint32_t n = m->ops.active_connections(m->ops.arg);
        m->cycle_logged = n < m->bounds.min_threshold || n > m->bounds.max_threshold;
        if (m->cycle_logged) emit(m, TP_EVENT_MAINTENANCE_STARTED, (int32_t)n, NULL);
        step(m);
        break;
    }
    case TP_MAINTENANCE_WAITING:
        tp_env_timer_stop(m->env, &m->wait_timer);
        step(m);
        break;
    case TP_MAINTENANCE_RESUMING:
        step(m);
        break;
    default:
        break;
    }
}

static void on_idle(void *arg) {
    wake((tp_maintenance *)arg);
}

static void on_wait(void *arg) {
    tp_maintenance *m = arg;
    if (m->phase == TP_MAINTENANCE_WAITING) step(m);
}
