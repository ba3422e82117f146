/* lua/rows.h — result rows written from host context, buffered per partition and
 * merged in a fixed order.
 *
 * What it is for: under the parallel simulator (issue 21, lua/README.md "Threads") the
 * events of different hosts run on different threads at once, one thread per
 * partition of the hosts. Code running in a host's event (a node's connection closing,
 * a block validated, a demo node halting) must not write the results database, which
 * is one SQLite handle for the run. It appends a tl_row to its partition's tl_rowbuf
 * instead; at every barrier (workers parked) the P buffers are merged into one
 * sequence ordered by (time_ns, host, seq) — seq being the writing host's own count of
 * rows — and written in that order. That key depends on the simulated world only, so
 * the database is the same whatever the number of partitions (tests/test_rows.c).
 *
 * The rows are plain data: text (points, Base58 peer ids, message names) is made when
 * the row is written (lua/parts.c), in world context, where the run's caches live.
 *
 * Ownership: a tl_rowbuf owns its array; tl_rows_merge empties the buffers it merges.
 * Not thread-safe: each buffer is written by one thread at a time (its partition's),
 * merged by the main thread while no worker runs. Octez has no counterpart.
 */
#ifndef TP_LUA_ROWS_H
#define TP_LUA_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

typedef enum tl_row_kind {
    TL_ROW_CONNECTION = 1, /* connections: a connection closed (or open at the end) */
    TL_ROW_DELIVERY,       /* deliveries: the demo's pings */
    TL_ROW_BLOCK_DELIVERY, /* deliveries: a block validated by a node */
} tl_row_kind;

typedef struct tl_row {
    /* the merge key: unique per row of a run */
    int64_t time_ns; /* virtual time the host wrote it */
    uint32_t host;   /* the writing host (the row's node) */
    uint64_t seq;    /* the host's own count of rows written before this one */
    tl_row_kind kind;
    union {
        struct {
            tp_point remote;
            int64_t peer_node; /* host index, -1: not a host */
            bool has_peer_id;
            uint8_t peer_id[16];
            bool incoming;
            int64_t opened_ns, closed_ns; /* closed_ns < 0: still open */
            const char *reason;           /* a string with static storage, or NULL */
        } conn;
        struct {
            char message[32];
            int64_t origin_node, sent_ns, received_ns, delay_ns; /* < 0: NULL */
        } delivery;
        struct {
            uint32_t block, origin_node;
            int64_t created_ns, header_ns, adopted_ns;
        } block;
    } u;
} tl_row;

typedef struct tl_rowbuf {
    tl_row *rows;
    size_t len, cap;
} tl_rowbuf;

/* Appends a copy of *r (aborts on out of memory, as the rest of lua/ does). */
void tl_rowbuf_push(tl_rowbuf *b, const tl_row *r);
void tl_rowbuf_free(tl_rowbuf *b);

/* <0, 0, >0 as a's key (time_ns, host, seq) is before, equal to, after b's. */
int tl_row_cmp(const tl_row *a, const tl_row *b);

typedef void (*tl_row_emit_fn)(void *arg, const tl_row *r);

/* Calls emit for every row of the count buffers in key order — whichever buffer holds
 * a row — and empties them (capacity kept). Returns the number of rows emitted. */
size_t tl_rows_merge(tl_rowbuf *bufs, uint32_t count, tl_row_emit_fn emit, void *arg);

#endif
