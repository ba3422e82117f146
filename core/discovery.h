/* core/discovery.h — LAN discovery over UDP datagrams (spec §9).
 *
 * Octez: P2p_discovery (its Answer and Sender workers). The sender broadcasts a 28-byte
 * datagram ("DISCOMAGIC" || peer id || int16 listening port, core/message.h) to
 * discovery_addr:discovery_port, then sleeps; tp_discovery_wakeup (called by the
 * maintenance when it lacks contacts) restarts it and sends at once. The answerer
 * listens on discovery_port and registers (sender IP, announced port) as a point of
 * the pool for every valid datagram from another peer id, trusted when
 * trust_discovered_peers is set (sandbox mode) and untrusted otherwise — a known
 * trusted point included, as Octez's register_new_point ~trusted:false does.
 *
 * The sleeps follow Octez's Sender exactly (p2p_discovery.ml `loop` and
 * `loop_completion`, state {delay; loop}): each sleep that runs out adds one to
 * `loop` and doubles the delay, except when `loop` reaches loop_max (10), where the
 * delay stays and `loop` steps back; a wake-up returns Config.initial {0.1 s; 0},
 * which loop_completion doubles at once. So from the start: 0.1, 0.2, ... 25.6 s,
 * then 51.2 s for ever; after a wake-up: 0.2, 0.4, ... 51.2 s, then 102.4 s for
 * ever. (spec §9 reads the wake-up as a plain reset; the source wins.)
 *
 * tidepool uses one datagram socket, bound to [::]:discovery_port, for both workers
 * (Octez opens a second, unbound one for sending). The receiver ignores the source
 * port anyway, and the datagram carries the port to dial.
 *
 * Ownership: the caller allocates the tp_discovery and keeps it in place (it embeds a
 * timer); the socket belongs to the module from start to stop. The pool must outlive
 * it.
 */
#ifndef TP_DISCOVERY_H
#define TP_DISCOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "env.h"
#include "identity.h"
#include "message.h"
#include "pool.h"

#define TP_DISCOVERY_PORT_DEFAULT 10732

typedef struct tp_discovery_config {
    tp_point discovery_point;        /* where to send: 255.255.255.255:10732 by default */
    uint16_t listening_port;         /* the P2P port we announce (<= 32767, spec §9) */
    tp_peer_id peer_id;              /* ours: datagrams carrying it are ignored */
    bool trust_discovered_peers;     /* register discovered points as trusted */
    int64_t delay_initial_ns;        /* 0.1 s (Octez Sender.Config.initial) */
    uint32_t loop_max;               /* 10 (Octez Sender.Config.max_loop) */
} tp_discovery_config;

/* Defaults: 255.255.255.255:10732, port 9732, zero peer id, untrusted, 0.1 s, 10. */
void tp_discovery_config_default(tp_discovery_config *cfg);

typedef struct tp_discovery {
    const tp_env *env;
    tp_pool *pool;
    tp_discovery_config cfg;
    tp_dgram *sock;        /* NULL when stopped */
    tp_timer send_timer;
    int64_t delay_ns;      /* Octez's Sender config: the sleep after the next send */
    uint32_t loop;         /* ... and its loop count */
    bool sleeping;         /* the timer ends a sleep (then loop_completion applies) */
    uint8_t msg[TP_DISCOVERY_MSG_SIZE];
    uint64_t sent, send_errors, received, ignored, registered;
} tp_discovery;

/* Initialises a stopped worker; encodes the datagram once.
 * Errors: TP_ERR_INVAL (listening_port 0 or > 32767: the int16 field cannot carry it;
 * Octez cannot either). On error nothing needs deinit. */
TP_MUST_USE tp_err tp_discovery_init(tp_discovery *d, const tp_env *env, tp_pool *pool,
                                     const tp_discovery_config *cfg);

/* Opens [::]:discovery_port and sends the first datagram on the next loop turn.
 * Errors: those of tp_env_dgram_open (TP_ERR_ADDR_IN_USE, ...). */
TP_MUST_USE tp_err tp_discovery_start(tp_discovery *d);

/* Restarts the sender (Octez: restart_discovery; the config becomes
 * loop_completion(initial) = {0.2 s; 0}) and sends on the next loop turn (spec §9: the
 * maintenance's wake-up). No-op when stopped. */
void tp_discovery_wakeup(tp_discovery *d);

/* Closes the socket and stops the timer. Idempotent. */
void tp_discovery_stop(tp_discovery *d);
/* simnet halt: forgets the socket and the timer (they vanished with the host); no env
 * call. */
void tp_discovery_crash_drop(tp_discovery *d);

#endif
