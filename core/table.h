/* core/table.h — a bounded hash table with fixed-size keys, iterated in insertion order.
 *
 * The pool (points, peers), the ACL (blacklists, greylists) and the de-duplication
 * tables of core/ are all maps from a small fixed-size key (a 16-byte IP, an 18-byte
 * point, a 16-byte peer id) to a small fixed-size value. tp_table is that map:
 * - Lookups hash the key with SipHash-2-4 (libsodium crypto_shorthash) under a 16-byte
 *   key the owner draws from the env's random stream, so a hostile peer cannot flood one
 *   bucket, and a simulation stays deterministic (the key comes from the seeded stream).
 * - Iteration follows insertion order (a dense entry array plus an index of slots, the
 *   layout of CPython's dict), so no behaviour ever depends on hash order (STYLE.md,
 *   "Determinism"). Removing leaves a hole that a later compaction squeezes out, keeping
 *   the order of the remaining entries.
 * - Every table has a maximum number of entries, checked at insertion.
 * - Memory comes from the env (tp_env_realloc), so simnet can account it per node.
 *
 * Values move when the table grows or compacts: do not keep pointers to values across
 * an insertion or removal. Store a pointer as the value when an object must not move
 * (e.g. because it embeds an armed tp_timer).
 *
 * Octez uses OCaml Hashtbl / Map in P2p_pool and P2p_acl; this is their C stand-in.
 */
#ifndef TP_TABLE_H
#define TP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"

typedef struct tp_table {
    const tp_env *env;
    uint8_t hash_key[16];
    uint32_t key_size;
    uint32_t value_size;
    uint32_t entry_size;     /* 8-byte aligned: [u64 hash with live bit][key][value] */
    uint32_t count;          /* live entries */
    uint32_t count_max;
    uint32_t entries_len;    /* used entry slots, live or dead */
    uint32_t entries_cap;
    uint32_t index_cap;      /* power of two, or 0 */
    uint8_t *entries;
    uint32_t *index;         /* 0 empty, UINT32_MAX deleted, else entry position + 1 */
} tp_table;

/* Initialises an empty table (no memory is allocated until the first insertion).
 * key_size in 1..64, value_size in 0..4096, count_max >= 1. hash_key: 16 bytes from
 * the env's random stream. */
void tp_table_init(tp_table *t, const tp_env *env, size_t key_size, size_t value_size,
                   uint32_t count_max, const uint8_t hash_key[16]);
/* Frees the table's memory. The table is then empty and still usable (an insertion
 * allocates again), or may be re-initialised. */
void tp_table_deinit(tp_table *t);

static inline uint32_t tp_table_count(const tp_table *t) {
    return t->count;
}

/* The value stored under key, or NULL. Valid until the next insertion or removal. */
void *tp_table_get(const tp_table *t, const void *key);

/* Inserts key with a zeroed value and stores a pointer to that value in *value (valid
 * until the next insertion or removal). Errors: TP_ERR_EXISTS (the key is present;
 * *value then points to the existing value — the one exception to "out-params only on
 * success", since it is what every caller wants), TP_ERR_LIMIT (count_max reached),
 * TP_ERR_NOMEM. */
TP_MUST_USE tp_err tp_table_insert(tp_table *t, const void *key, void **value);

/* Removes key; false if it was absent. */
bool tp_table_remove(tp_table *t, const void *key);

/* Removes every entry (keeps the memory). */
void tp_table_clear(tp_table *t);

/* Iteration in insertion order:
 *     uint32_t it = 0; const void *key; void *value;
 *     while (tp_table_next(t, &it, &key, &value)) { ... }
 * The table must not be modified during the iteration, except by
 * tp_table_remove_current (which removes the entry just returned). */
bool tp_table_next(const tp_table *t, uint32_t *it, const void **key, void **value);
void tp_table_remove_current(tp_table *t, uint32_t it);

/* The oldest live entry (first in insertion order), or false if empty. */
bool tp_table_first(const tp_table *t, const void **key, void **value);

/* Moves an existing key to the end of the insertion order (for LRU refresh). Returns
 * false if absent. Its value pointer changes. */
bool tp_table_touch(tp_table *t, const void *key);

#endif
