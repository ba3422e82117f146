/* core/acl.h — access control lists: who may not connect (Octez: P2p_acl, spec §5.4).
 *
 * Four lists:
 * 1. IP blacklist — manual (the ban RPC), a plain bounded set.
 * 2. Peer blacklist — manual, a plain bounded set of peer ids.
 * 3. IP greylist — automatic (failed handshakes, decoding errors), entries expire
 *    `ip_greylist_timeout_ns` after they were (last) added.
 * 4. Peer greylist — automatic, an LRU set of `peer_greylist_size` ids (1023): re-adding
 *    a peer refreshes it; adding to a full set evicts the least recently added
 *    (Octez's test_p2p_peerset: capacity 3, add foo bar baz foo zor evicts bar).
 *
 * banned_ip = blacklist ∪ greylist; banned_peer = peer blacklist ∪ peer greylist.
 *
 * Deliberate difference from Octez: Octez's IP greylist is a time-decaying Bloom filter
 * (2048 KiB of 4-bit countdowns, entries living ~21–22.5 h, false positives possible),
 * plus a FIFO used only for the RPC listing. tidepool keeps an exact, bounded table of
 * (ip → expiry): no false positives, expiry exactly after the timeout (86400 s by
 * default, Octez's greylist-timeout), and the listing is the table itself. When the
 * table is full the entry closest to expiry is dropped and `not_reliable_since` records
 * the first such overflow, the meaning Octez gives that field. The spec allows "any
 * greylist with an expiry of about 1 day".
 *
 * The ACL knows nothing of connections: kicking the peers of a banned IP is the pool's
 * job (spec §5.4, "Manual ban of an IP"). Memory comes from the env; the caller owns the
 * tp_acl struct.
 */
#ifndef TP_ACL_H
#define TP_ACL_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "env.h"
#include "table.h"

typedef struct tp_acl_config {
    uint32_t ip_blacklist_max;        /* default 65536 */
    uint32_t peer_blacklist_max;      /* default 65536 */
    uint32_t ip_greylist_max;         /* default 65536 */
    int64_t ip_greylist_timeout_ns;   /* default 86400 s (Octez greylist-timeout) */
    uint32_t peer_greylist_size;      /* default 1023 (Octez peer_greylist_size) */
} tp_acl_config;

void tp_acl_config_default(tp_acl_config *cfg);

typedef struct tp_acl {
    const tp_env *env;
    tp_acl_config cfg;
    tp_table ip_black;     /* tp_ip → (nothing) */
    tp_table peer_black;   /* peer id → (nothing) */
    tp_table ip_grey;      /* tp_ip → int64 expiry (monotonic ns); order = expiry order */
    tp_table peer_grey;    /* peer id → (nothing); order = LRU */
    int64_t not_reliable_since_wall_ns; /* 0 = never overflowed */
} tp_acl;

/* Initialises an empty ACL; the hash key of its tables is drawn from the env. */
void tp_acl_init(tp_acl *acl, const tp_env *env, const tp_acl_config *cfg);
void tp_acl_deinit(tp_acl *acl);

/* Manual bans. Errors: TP_ERR_LIMIT (the list is full), TP_ERR_NOMEM. Banning twice is
 * TP_OK. */
TP_MUST_USE tp_err tp_acl_ban_ip(tp_acl *acl, const tp_ip *ip);
TP_MUST_USE tp_err tp_acl_ban_peer(tp_acl *acl, const uint8_t peer_id[16]);

/* Automatic greylisting. Never fails: a full IP greylist drops the entry closest to
 * expiry (and marks the listing unreliable); a full peer greylist evicts the least
 * recently added peer. Re-adding refreshes the entry. */
void tp_acl_greylist_ip(tp_acl *acl, const tp_ip *ip);
void tp_acl_greylist_peer(tp_acl *acl, const uint8_t peer_id[16]);

/* Removes the IP from the blacklist and the greylist / the peer from both lists. */
void tp_acl_unban_ip(tp_acl *acl, const tp_ip *ip);
void tp_acl_unban_peer(tp_acl *acl, const uint8_t peer_id[16]);

/* Empties all four lists (Octez: DELETE /network/greylist clears everything). */
void tp_acl_clear(tp_acl *acl);

/* Queries. They drop expired greylist entries as a side effect. */
bool tp_acl_banned_ip(tp_acl *acl, const tp_ip *ip);
bool tp_acl_banned_peer(tp_acl *acl, const uint8_t peer_id[16]);
bool tp_acl_blacklisted_ip(const tp_acl *acl, const tp_ip *ip);
bool tp_acl_blacklisted_peer(const tp_acl *acl, const uint8_t peer_id[16]);
bool tp_acl_greylisted_ip(tp_acl *acl, const tp_ip *ip);
bool tp_acl_greylisted_peer(const tp_acl *acl, const uint8_t peer_id[16]);

/* Drops expired IP greylist entries (cheap: they sit at the front). */
void tp_acl_expire(tp_acl *acl);

/* Listings in insertion (greylist: expiry) order, for the RPC and the results log:
 *     uint32_t it = 0; tp_ip ip; int64_t expiry;
 *     while (tp_acl_next_greylisted_ip(acl, &it, &ip, &expiry)) ...
 * Call tp_acl_expire first to hide expired entries. */
bool tp_acl_next_greylisted_ip(const tp_acl *acl, uint32_t *it, tp_ip *ip, int64_t *expiry_ns);
bool tp_acl_next_greylisted_peer(const tp_acl *acl, uint32_t *it, uint8_t peer_id[16]);
bool tp_acl_next_blacklisted_ip(const tp_acl *acl, uint32_t *it, tp_ip *ip);
bool tp_acl_next_blacklisted_peer(const tp_acl *acl, uint32_t *it, uint8_t peer_id[16]);

#endif
