/* core/discovery.h — LAN discovery over UDP datagrams (spec §9).
 *
 * Octez: P2p_discovery (its Answer and Sender workers). The sender broadcasts a 28-byte
 * datagram ("DISCOMAGIC" || peer id || int16 listening port, core/message.h) to
 * discovery_addr:discovery_port, then sleeps 0.1 s, 0.2 s, ... doubling up to 51.2 s;
 * tp_discovery_wakeup (called by the maintenance when it lacks contacts) resets the
 * delay and sends at once. The answerer listens on discovery_port and registers
 * (sender IP, announced port) as a point of the pool for every valid datagram from
 * another peer id — trusted when trust_discovered_peers is set (sandbox mode).
 *
 * A wake-up follows the spec: send now, then sleep 0.1 s, 0.2 s, ... again. (Octez's
 * sender, as written, doubles once more right after its reset, so its first sleep after
 * a wake-up is 0.2 s; the difference is one datagram.)
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
    int64_t delay_initial_ns;        /* 0.1 s */
    int64_t delay_max_ns;            /* 51.2 s */
} tp_discovery_config;

/* Defaults: 255.255.255.255:10732, port 9732, zero peer id, untrusted, 0.1 s .. 51.2 s. */
void tp_discovery_config_default(tp_discovery_config *cfg);

typedef struct tp_discovery {
    const tp_env *env;
    tp_pool *pool;
    tp_discovery_config cfg;
    tp_dgram *sock;        /* NULL when stopped */
    tp_timer send_timer;
    int64_t delay_ns;      /* the sleep after the next send */
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

/* Resets the delay to its initial value and sends on the next loop turn (spec §9: the
 * maintenance's wake-up). No-op when stopped. */
void tp_discovery_wakeup(tp_discovery *d);

/* Closes the socket and stops the timer. Idempotent. */
void tp_discovery_stop(tp_discovery *d);
/* simnet halt: forgets the socket and the timer (they vanished with the host); no env
 * call. */
void tp_discovery_crash_drop(tp_discovery *d);

#endif
