/* demo/demo.h — a small flooding protocol written only against core/env.h.
 *
 * What it is for: the first end-to-end check that one protocol source runs unchanged in
 * the simulator (simnet's env, thousands of hosts in one process) and on real sockets
 * (realnet's env, `tidepool demo node`). It is not Octez's protocol and not part of
 * core/: it has no Octez counterpart (the closest is the gossip of P2p_pool's
 * Bootstrap/Advertise plus a flooded application message).
 *
 * The protocol (details in demo/README.md): each host listens on a point, knows some
 * seed points, and keeps up to `peers_k` outgoing connections to random known points.
 * On every connection both sides first send HELLO (host id + listening port), then
 * POINTS (a sample of known points); POINTS is also gossiped to one random peer per
 * maintenance tick, so hosts learn points beyond their seeds. An originating host sends
 * PING(origin id, seq, origin timestamp) every ping interval; every host forwards a ping
 * it has not seen to all its connections except the one it came from, and
 * de-duplicates with a bounded per-origin sliding window. Frames are length-prefixed
 * and decoded strictly: a malformed frame resets the connection.
 *
 * Ownership: tp_demo_create allocates the host through tp_env_realloc; the host owns
 * its connections and buffers. The env must outlive the host. Life cycle:
 *   create -> start -> ... -> stop -> (on_stopped, once every stream's on_close came
 *   back) -> destroy;  or, when the simulator crashes the host: crash_drop.
 * Everything runs on the env's thread; no function here calls back into the caller
 * synchronously (on_stopped is delivered from a timer).
 */
#ifndef TP_DEMO_H
#define TP_DEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"

typedef struct tp_demo tp_demo;

/* Wire limits (demo/README.md). */
#define TP_DEMO_FRAME_MAX 1024u      /* bytes of one frame body (tag + payload) */
#define TP_DEMO_POINTS_PER_MSG 32u   /* points in one POINTS message */

typedef struct tp_demo_config {
    tp_point listen;           /* where to listen (port required; :: = every address) */
    const tp_point *seeds;     /* seed points (copied by create) */
    size_t seeds_count;
    uint32_t peers_k;          /* outgoing connections to keep (K) */
    uint32_t connections_max;  /* incoming + outgoing; beyond it accepts are closed */
    uint32_t points_max;       /* known points kept (seeds included) */
    uint32_t delays_max;       /* per-ping delays recorded (later ones only counted) */
    bool originate;            /* this host originates pings */
    uint32_t pings;            /* how many pings to originate */
    int64_t ping_interval_ns;  /* between two originated pings */
    int64_t ping_start_delay_ns;     /* from start to the first ping */
    int64_t maintenance_interval_ns; /* dialing and point gossip period */
    uint64_t id;               /* host id; 0 = random from the env */
    /* Called once, from a timer, when a stop has completed (every stream closed). */
    void (*on_stopped)(void *arg);
    void *on_stopped_arg;
} tp_demo_config;

typedef struct tp_demo_stats {
    uint64_t pings_originated;
    uint64_t pings_unique;      /* distinct pings of other origins received */
    uint64_t pings_duplicate;   /* received again (or too old for the window) */
    uint64_t pings_forwarded;   /* ping frames queued to peers (forwarded + originated) */
    uint64_t pings_dropped;     /* not sent: the peer's send queue was full */
    uint64_t connections_in;    /* accepted, in total */
    uint64_t connections_out;   /* established outgoing, in total */
    uint64_t connections_open;  /* currently open (HELLO received) */
    uint64_t connect_failures;  /* outgoing attempts that never got to HELLO */
    uint64_t frames_bad;        /* connections reset for a malformed frame */
    uint64_t bytes_in;
    uint64_t bytes_out;         /* bytes taken by the env */
    uint64_t points_known;
    uint64_t delay_count;       /* = pings_unique */
    int64_t delay_ns_min;       /* 0 when delay_count is 0 */
    int64_t delay_ns_max;
    int64_t delay_ns_sum;
} tp_demo_stats;

/* K = 4, connections_max = 32, points_max = 256, delays_max = 4096, 1 s ping interval,
 * 2 s start delay, 500 ms maintenance, 10 pings, not originating, random id. */
void tp_demo_config_default(tp_demo_config *cfg);

/* Allocates a host on env (nothing is opened yet). Errors: TP_ERR_INVAL (port 0,
 * K = 0, connections_max < K, zero interval), TP_ERR_NOMEM. */
TP_MUST_USE tp_err tp_demo_create(const tp_env *env, const tp_demo_config *cfg, tp_demo **out);

/* Listens and arms the maintenance (and ping) timers. Errors: those of tp_env_listen
 * (TP_ERR_ADDR_IN_USE, ...); on error nothing stays open and start may be retried. */
TP_MUST_USE tp_err tp_demo_start(tp_demo *d);

/* Stops: timers off, listener closed, every stream closed gracefully. The stop is
 * complete when every on_close came back (tp_demo_is_stopped; on_stopped fires). */
void tp_demo_stop(tp_demo *d);
bool tp_demo_is_stopped(const tp_demo *d);

/* Frees a host that was never started or whose stop completed. */
void tp_demo_destroy(tp_demo *d);

/* Frees all memory of the host without calling any env function except
 * tp_env_realloc: for a simulated crash, where the simulator makes the host's handles
 * and timers vanish silently (it must drop the host's armed timers itself). */
void tp_demo_crash_drop(tp_demo *d);

void tp_demo_get_stats(const tp_demo *d, tp_demo_stats *out);
/* The recorded delivery delays (origin timestamp to receipt), in receipt order;
 * borrowed until the next callback of the host. */
const int64_t *tp_demo_delays(const tp_demo *d, size_t *count);
uint64_t tp_demo_id(const tp_demo *d);

/* Strict decoders, exposed for tests and fuzzing: one frame body (tag + payload). On
 * TP_OK the message is written to *out. Errors: TP_ERR_DECODE_* (never asserts). */
typedef enum tp_demo_tag { TP_DEMO_HELLO = 1, TP_DEMO_POINTS = 2, TP_DEMO_PING = 3 } tp_demo_tag;
typedef struct tp_demo_msg {
    tp_demo_tag tag;
    uint64_t id;          /* HELLO: host id; PING: origin id */
    uint16_t listen_port; /* HELLO */
    uint32_t seq;         /* PING */
    int64_t sent_ns;      /* PING: origin timestamp */
    uint32_t points_count; /* POINTS */
    tp_point points[TP_DEMO_POINTS_PER_MSG];
} tp_demo_msg;
TP_MUST_USE tp_err tp_demo_decode(const uint8_t *body, size_t len, tp_demo_msg *out);
/* Encodes a frame (2-byte length + body) into buf; returns its length, 0 if cap is too
 * small. */
size_t tp_demo_encode(const tp_demo_msg *msg, uint8_t *buf, size_t cap);

#endif
