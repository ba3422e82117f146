/* core/maintenance.h — the maintenance worker: keep the connection count between the
 * thresholds (spec §6).
 *
 * Octez: P2p_maintenance. One run (spec §6.3) dials known points when there are too few
 * connections (try_to_contact), asks the neighbours and the LAN for more points when
 * there is nobody left to dial (ask_for_more_contacts: Bootstrap + discovery wake-up,
 * then wait for a new point, a new peer or 5 s), kills random connections when there
 * are too many, and proposes a swap when the count is in range (spec §5.6).
 *
 * Octez's worker is an Lwt loop; here it is an event-driven state machine on env timers
 * and callbacks: no threads, nothing blocks. It wakes up (spec §6.2):
 * - at activation (tp_maintenance_activate);
 * - when the idle timer expires (maintenance_idle_time, 120 s);
 * - on an explicit request (tp_maintenance_maintain, whose callback fires at the end
 *   of a complete cycle, like Octez's `maintain` promise);
 * - on the too_few / too_many triggers the connect handler fires
 *   (tp_maintenance_trigger_too_few / _too_many).
 * Only an idle worker hears these: during a run they are lost, as Octez's P2p_trigger
 * conditions with no waiter are (only a new point or peer ends the 5 s wait).
 *
 * Events: MAINTENANCE_STARTED / MAINTENANCE_ENDED (code = active connections) frame the
 * cycles that find the count out of range, as in Octez; TOO_FEW_CONNECTIONS /
 * TOO_MANY_CONNECTIONS (code = the count) at each do_maintain step out of range;
 * BOOTSTRAP_SENT per Bootstrap (with the peer). An in-range wake-up proposes a swap and
 * goes back to sleep without those events.
 *
 * Deliberate difference: Octez's `maintain` promise resolves only when a cycle with
 * work to do ends (a request made while the count is in range waits for a later one);
 * here every cycle ends its waiters, so `maintain` always returns after one cycle.
 * An option (off by default, Octez's exact timing): wait_jitter_pm lengthens the 5 s
 * wait for contacts by a random jitter, because two nodes that dial each other at the
 * same instant reject each other (Already_connected) and, in a simulation with exact
 * timings, collide again at every retry (a private ring never forms).
 *
 * Ownership: the caller allocates the tp_maintenance and keeps it in place (it embeds
 * timers). It uses the pool and the ACL directly (reads only, plus the ACL's expiry
 * side effects) and drives the node through tp_maintenance_ops. The swap (optional) and
 * the discovery wake-up are reached through the ops too, so this module does not
 * depend on the node.
 */
#ifndef TP_MAINTENANCE_H
#define TP_MAINTENANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "env.h"
#include "pool.h"
#include "swap.h"
#include "table.h"

/* ---- bounds (spec §6.1) ------------------------------------------------------------ */

typedef struct tp_maintenance_bounds {
    uint32_t min_threshold, min_target, max_target, max_threshold;
} tp_maintenance_bounds;

/* step_min = (expected - min)/3, step_max = (max - expected)/3;
 * min_threshold = min + step_min, min_target = min + 2 step_min,
 * max_target = max - 2 step_max, max_threshold = max - step_max.
 * 10/50/100 gives 23/36/68/84. Requires min <= expected <= max. */
tp_maintenance_bounds tp_maintenance_bounds_of(uint32_t min_connections,
                                               uint32_t expected_connections,
                                               uint32_t max_connections);

/* `--connections N` (spec §6.1, §5.3): min N/2 (1 when N = 1, as Octez's
 * shared_arg.ml), expected N, max 3N/2, and the known points / peer ids tables (8N,
 * 8N/4*3). Any output pointer may be NULL. */
void tp_connections_option(uint32_t n, uint32_t *min_connections, uint32_t *expected,
                           uint32_t *max_connections, uint32_t *known_max,
                           uint32_t *known_target);

/* ---- the worker ---------------------------------------------------------------------- */

typedef struct tp_maintenance_config {
    uint32_t min_connections;        /* 10 */
    uint32_t expected_connections;   /* 50 */
    uint32_t max_connections;        /* 100 */
    int64_t idle_time_ns;            /* maintenance-idle-time: 120 s (> 0) */
    int64_t time_between_looking_for_peers_ns; /* 5 s (hard-coded in Octez) */
    /* tidepool option: that wait is lengthened by a random 0..wait_jitter_pm per-mille
     * (200: up to +1 s) so that symmetric dials do not collide forever; 0 (default) =
     * Octez's exact wait. */
    uint32_t wait_jitter_pm;
    bool private_mode;
} tp_maintenance_config;

void tp_maintenance_config_default(tp_maintenance_config *cfg);

/* The node side. connections, active_connections, connect and disconnect are
 * mandatory; send_bootstrap, discovery_wakeup and send_swap_request may be NULL. */
typedef struct tp_maintenance_ops {
    /* Connections that count towards the thresholds (Octez active_connections: the
     * connected peers). A disconnect must stop counting at once. */
    uint32_t (*active_connections)(void *arg);
    /* The running connections, as tp_swap_ops.connections. */
    size_t (*connections)(void *arg, tp_conn_view *out, size_t cap);
    /* Dials a known point through the connect handler. On TP_OK, done fires exactly
     * once, later (TP_OK when the connection is Running); on error it never fires. */
    tp_err (*connect)(void *arg, tp_point_info *point, tp_worker_connect_cb done,
                      void *done_arg);
    void (*disconnect)(void *arg, void *conn, tp_worker_disconnect_reason reason);
    /* write_now of a Bootstrap message on conn; false if dropped. */
    bool (*send_bootstrap)(void *arg, void *conn);
    /* Resets the LAN discovery sender's delay (tp_discovery_wakeup). */
    void (*discovery_wakeup)(void *arg);
    /* Proposes a swap (tp_swap_send_request). */
    bool (*send_swap_request)(void *arg);
    void *arg;
} tp_maintenance_ops;

/* Called at the end of the maintenance cycle a tp_maintenance_maintain request waited
 * for. */
typedef void (*tp_maintenance_done_cb)(void *arg);

#define TP_MAINTENANCE_WAITERS_MAX 16

typedef enum tp_maintenance_phase {
    TP_MAINTENANCE_INACTIVE = 0, /* not activated, or stopped */
    TP_MAINTENANCE_IDLE,         /* waiting for a trigger or the idle timer */
    TP_MAINTENANCE_CONTACTING,   /* a try_to_contact round: dials in flight */
    TP_MAINTENANCE_WAITING,      /* ask_for_more_contacts: waiting for points */
    TP_MAINTENANCE_STARTING,     /* a cycle starts on the next loop turn */
    TP_MAINTENANCE_RESUMING,     /* a cycle goes on at the next loop turn */
} tp_maintenance_phase;

typedef struct tp_maintenance {
    const tp_env *env;
    tp_pool *pool;
    tp_acl *acl;
    tp_maintenance_config cfg;
    tp_maintenance_bounds bounds;
    tp_maintenance_ops ops;
    tp_maintenance_phase phase;
    tp_timer idle_timer;   /* idle time */
    tp_timer wait_timer;   /* ask_for_more_contacts' 5 s */
    tp_timer kick_timer;   /* runs a requested cycle on the next loop turn */
    /* try_to_contact state (spec §6.3) */
    bool cycle_running;
    bool cycle_logged;       /* MAINTENANCE_STARTED was emitted for this cycle */
    bool contacting;         /* a try_to_contact is in progress */
    int64_t start_time_ns;
    int64_t min_to_contact, max_to_contact;
    uint32_t round_pending;  /* dials of the current round still in flight */
    uint32_t round_success;
    bool round_launching;    /* inside the loop that starts the dials */
    uint64_t round_id;
    tp_table seen;           /* tp_point -> nothing */
    /* scratch */
    tp_point_info **cands;
    size_t cands_cap;
    tp_conn_view *views;
    size_t views_cap;
    /* maintain() waiters: completed at the end of the current cycle */
    struct {
        tp_maintenance_done_cb cb;
        void *arg;
    } waiters[TP_MAINTENANCE_WAITERS_MAX];
    uint32_t waiters_count;
    /* counters (tests, metrics) */
    uint64_t cycles;           /* completed cycles */
    uint64_t dials, dial_successes, kills, bootstraps_sent, waits;
} tp_maintenance;

/* Initialises an inactive worker. pool and acl must outlive it; ops is copied.
 * Asserts min <= expected <= max and idle_time_ns > 0 (a disabled maintenance is no
 * worker at all, spec §6.2). */
void tp_maintenance_init(tp_maintenance *m, const tp_env *env, tp_pool *pool, tp_acl *acl,
                         const tp_maintenance_config *cfg, const tp_maintenance_ops *ops);
/* Stops and frees. Dials in flight may still complete: their callbacks are ignored if
 * they arrive before deinit; after deinit the node must not call them (it tears its
 * connection attempts down first, or halts as a whole). */
void tp_maintenance_deinit(tp_maintenance *m);

/* simnet halt: frees the memory without any env call but tp_env_free (the host's
 * timers have vanished). */
void tp_maintenance_crash_drop(tp_maintenance *m);

/* The first run, on the next loop turn (spec §6.2: "right at activation"). */
void tp_maintenance_activate(tp_maintenance *m);
/* Stops every timer; waiters are dropped without a call. Idempotent. */
void tp_maintenance_stop(tp_maintenance *m);

/* P2p.maintain: start a cycle now if idle and call cb when a cycle ends (a running
 * cycle, 5 s wait included, goes on undisturbed). cb may be NULL. Errors: TP_ERR_LIMIT (too many waiters),
 * TP_ERR_STATE (not active). If it fails, cb is never called. */
TP_MUST_USE tp_err tp_maintenance_maintain(tp_maintenance *m, tp_maintenance_done_cb cb,
                                           void *arg);

/* The connect handler's triggers (spec §6.2, §7.3). */
void tp_maintenance_trigger_too_few(tp_maintenance *m);
void tp_maintenance_trigger_too_many(tp_maintenance *m);

/* The completion of a dial started through ops.connect: ops.connect receives
 * (done = tp_maintenance_dial_done, done_arg); a node whose own connect callback has a
 * different shape may call tp_maintenance_dial_done(done_arg, result) directly from it,
 * with no adapter to allocate. result: TP_OK when the connection is Running. */
void tp_maintenance_dial_done(void *done_arg, tp_err result);

/* The pool's hooks (tp_pool_hooks): a new point or peer ends an
 * ask_for_more_contacts wait. */
void tp_maintenance_on_new_point(tp_maintenance *m);
void tp_maintenance_on_new_peer(tp_maintenance *m);

#endif
