/* core/sched.h — the I/O scheduler: global bandwidth caps and fair per-connection
 * quotas (spec §8).
 *
 * Octez: P2p_io_scheduler (with P2p_stat and Moving_average, core/stat.h). Octez runs
 * one loop per direction that completes one read or write per connection at a time and
 * queues the completions in a high- or low-priority FIFO depending on the connection's
 * quota. tidepool's connections are sans-IO state machines over the env's streams, so
 * the scheduler hands out *permissions* instead of doing the I/O itself:
 *
 *     tp_sched_request(c, dir, want, cb, arg)   ask for up to `want` bytes
 *     cb(arg, c, dir, granted)                  later: go ahead with <= granted bytes
 *     tp_sched_complete(c, dir, used)           report what was really transferred
 *
 * Bytes that arrive without a permission (the env pushes data) are reported with
 * tp_sched_account; they count and use quota like any other. A connection has at most
 * one request or grant outstanding per direction (spec §8.1).
 *
 * Per direction (READ = download, WRITE = upload):
 * - a request goes to the high queue if its connection's quota is > 0, else to the low
 *   queue; the dispatcher serves high first, FIFO within a queue;
 * - with a cap (max_download_bps / max_upload_bps > 0), nothing is granted while the
 *   global quota is negative; the cap is credited as min(global_quota, 0) + its share
 *   (spec §8.2–8.3). By default, as Octez (p2p_io_scheduler.ml update_quota), a whole
 *   second's worth once per second, so all connections burst at the start of the
 *   second and the fastest links take most of it (Jain's index 0.92 in the
 *   trivial-quota test). Option (core/README.md "Deliberate differences"): credit it
 *   in cap_slices slices per refresh window (10: every 100 ms), which keeps every
 *   connection queued when a slice opens and turns the queues into a round robin
 *   (Jain's index >= 0.98). The long-run rate is the cap either way;
 * - every refresh (1 s) the moving averages tick (alpha 0.2) and each connection's
 *   quota becomes min(quota, 0) + global average / number of connections; low-queue
 *   entries whose connection's quota became > 0 move to the high queue. Only the
 *   connections that moved bytes since the last refresh are visited: an idle one
 *   catches up when it is next used or read (its average decays by the same integer
 *   steps, and its quota follows from the running sum of the shares), so the values
 *   are exactly the ones a walk over every connection would give, and a node's refresh
 *   costs what its busy connections cost (test_sched_lazy_refresh_exact);
 * - a grant is at most read_buffer_size (reads, 16 KiB) or write_chunk_size (writes)
 *   bytes. Quotas are charged with the granted bytes at grant time and refunded what
 *   was not used at completion, so the next window pays for any overshoot.
 *
 * Grants are delivered from an env timer (never inside tp_sched_request), in a pass
 * that serves at most the entries queued when it began; a connection that re-requests
 * from its grant callback is served in the next pass (round robin). With no cap, an
 * endless source that re-requests at once is granted without end at one instant:
 * real connections are paced by the transport.
 *
 * Ownership: the caller allocates the tp_sched and each tp_sched_conn (embedded in its
 * connection) and keeps them in place while registered. No memory is allocated.
 */
#ifndef TP_SCHED_H
#define TP_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "stat.h"

typedef enum tp_sched_dir {
    TP_SCHED_READ = 0,  /* download */
    TP_SCHED_WRITE = 1, /* upload */
} tp_sched_dir;

typedef struct tp_sched tp_sched;
typedef struct tp_sched_conn tp_sched_conn;

/* Permission for up to `granted` bytes (> 0). */
typedef void (*tp_sched_grant_cb)(void *arg, tp_sched_conn *c, tp_sched_dir dir,
                                  size_t granted);

typedef struct tp_sched_entry {
    tp_sched_conn *conn;
    tp_moving_average ma;
    int64_t quota;        /* bytes; may be negative */
    size_t want;          /* queued request (0: none) */
    size_t granted;       /* outstanding grant (0: none) */
    bool granted_high;    /* the grant was served from the high queue */
    uint8_t queue;        /* 0 none, 1 high, 2 low */
    tp_sched_grant_cb cb;
    void *arg;
    struct tp_sched_entry *next, *prev;
} tp_sched_entry;

struct tp_sched_conn {
    tp_sched *sched;      /* NULL when not registered */
    tp_sched_entry dir[2];
    tp_sched_conn *next, *prev;
    /* the refresh its entries are current at (tp_sched.refreshes then), the running
     * share sums then (tp_sched.share_sum), and the list of connections with bytes
     * in the current window */
    uint64_t synced;
    int64_t share_base[2];
    tp_sched_conn *busy_next, *busy_prev;
    bool busy;
};

typedef struct tp_sched_config {
    int64_t max_download_bps;  /* bytes/s; 0 = unlimited (Octez config is KiB/s: x1024) */
    int64_t max_upload_bps;
    uint32_t read_buffer_size; /* largest read grant: 16384 */
    uint32_t write_chunk_size; /* largest write grant: 16384 */
    int64_t refresh_ns;        /* quota and moving-average refresh: 1 s */
    uint32_t cap_slices;       /* global cap credited in this many slices per refresh
                                * window: 1 (Octez); 10 = tidepool's fairer option */
} tp_sched_config;

void tp_sched_config_default(tp_sched_config *cfg);

typedef struct tp_sched_queue {
    tp_sched_entry *head, *tail;
    uint32_t len;
} tp_sched_queue;

typedef struct tp_sched_side {
    tp_sched *sched;
    tp_sched_dir dir;
    tp_sched_queue high, low;
    int64_t max_bps;
    int64_t global_quota;
    tp_moving_average ma;  /* every byte of the direction, all connections */
    tp_timer kick;
} tp_sched_side;

struct tp_sched {
    const tp_env *env;
    tp_sched_config cfg;
    tp_sched_side side[2];
    tp_sched_conn *head, *tail; /* registration order */
    uint32_t conns;
    tp_timer refresh;
    tp_timer slice;             /* credits the caps (only when a cap is set) */
    int64_t last_refresh_ns;
    uint64_t grants, refreshes;
    int64_t share[2];           /* each connection's share at the last refresh */
    int64_t share_sum[2];       /* the sum of the shares of every refresh so far */
    tp_sched_conn *busy;        /* connections with bytes since the last refresh */
};

void tp_sched_init(tp_sched *s, const tp_env *env, const tp_sched_config *cfg);
/* Unregisters every connection and stops the timers. */
void tp_sched_deinit(tp_sched *s);
/* simnet halt: nothing to free (the scheduler allocates nothing) and no env call; the
 * owner simply forgets s and its connections. Provided for symmetry. */
static inline void tp_sched_crash_drop(tp_sched *s) {
    s->head = s->tail = NULL;
    s->conns = 0;
}

/* Registers c (zeroed by this call). The refresh timer runs while at least one
 * connection is registered. */
void tp_sched_register(tp_sched *s, tp_sched_conn *c);
/* Drops c's queued requests and outstanding grants (no callback fires afterwards). Its
 * bytes stay in the global statistics. Idempotent. */
void tp_sched_unregister(tp_sched_conn *c);

/* Asks for permission to transfer up to want (> 0) bytes in direction dir; cb fires
 * later with the grant. Errors: TP_ERR_STATE (not registered, or a request or grant is
 * already outstanding in that direction). On error cb never fires. */
TP_MUST_USE tp_err tp_sched_request(tp_sched_conn *c, tp_sched_dir dir, size_t want,
                                    tp_sched_grant_cb cb, void *arg);
/* Withdraws a queued request (not a grant). */
void tp_sched_cancel(tp_sched_conn *c, tp_sched_dir dir);
/* Ends the outstanding grant: used (<= granted) bytes were transferred. */
void tp_sched_complete(tp_sched_conn *c, tp_sched_dir dir, size_t used);
/* Bytes transferred without a grant (e.g. data the env pushed): counted and charged to
 * the quotas. */
void tp_sched_account(tp_sched_conn *c, tp_sched_dir dir, size_t bytes);

/* A connection's quota in direction dir now (bytes; may be negative). */
int64_t tp_sched_conn_quota(const tp_sched_conn *c, tp_sched_dir dir);

/* P2p_stat of one connection / of everything (spec §8.5). */
tp_stat tp_sched_conn_stat(const tp_sched_conn *c);
tp_stat tp_sched_global_stat(const tp_sched *s);

#endif
