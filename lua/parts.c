/* lua/parts.c — the runtime's per-partition state for the parallel simulator: result
 * rows written from host context (lua/rows.h), the block workload's tallies and
 * message scratch, and what world context does with them at a barrier (lua/README.md
 * "Threads").
 *
 * Host context touches its partition only (tl_part_of, which also grows that
 * partition's arrays); world context — a barrier, a Lua callback, the end of the run —
 * writes the rows to the results database in (time, host, per-host sequence) order
 * and folds the tallies into run->blocks (tl_parts_sync). A row made in world context
 * (a host crashed from a callback) is written at once, after every buffered row, so
 * rows keep the order in which the world made them.
 *
 * There are TL_PARTS_MAX partitions (simnet's maximum), made at the first use: simnet
 * fixes how many it uses at its first sim_run_* call, from inside it, before any
 * barrier, so the array must already cover any count. Unused ones cost a few bytes. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/point.h"
#include "lua/tl_impl.h"

#define TL_BODY_MIN 64u /* every message but the blocks' own: headers of <= 64 bytes */

static void emit_row(void *arg, const tl_row *r) {
    tl_state *run = arg;
    switch (r->kind) {
    case TL_ROW_CONNECTION: {
        char pt[TP_POINT_TEXT_MAX];
        const char *peer = r->u.conn.has_peer_id ? tl_peer_b58(run, r->u.conn.peer_id) : NULL;
        tl_results_connection(run->res, r->host, r->u.conn.peer_node, peer,
                              tp_point_format(&r->u.conn.remote, pt), r->u.conn.incoming,
                              r->u.conn.opened_ns, r->u.conn.closed_ns, r->u.conn.reason);
        return;
    }
    case TL_ROW_DELIVERY:
        tl_results_delivery(run->res, r->u.delivery.message, r->host, r->u.delivery.origin_node,
                            r->u.delivery.sent_ns, r->u.delivery.received_ns,
                            r->u.delivery.delay_ns);
        return;
    case TL_ROW_BLOCK_DELIVERY: {
        char msg[32];
        snprintf(msg, sizeof msg, "block:%" PRIu32, r->u.block.block);
        tl_results_block_delivery(run->res, msg, r->host, r->u.block.origin_node,
                                  r->u.block.created_ns, r->u.block.header_ns,
                                  r->u.block.adopted_ns);
        return;
    }
    }
    TP_UNREACHABLE();
}

/* World context: the partitions, made once. */
static void make_parts(tl_state *run) {
    if (run->parts != NULL) return;
    uint32_t n = TL_PARTS_MAX;
    if (run->cfg->test_partitions > n) n = run->cfg->test_partitions;
    run->parts = aligned_alloc(_Alignof(tl_part), n * sizeof *run->parts);
    run->merge = calloc(n, sizeof *run->merge);
    TP_ASSERT(run->parts != NULL && run->merge != NULL);
    memset(run->parts, 0, n * sizeof *run->parts);
    run->part_count = n;
}

void tl_rows_flush(tl_state *run) {
    if (run->res == NULL || run->parts == NULL) return;
    uint32_t n = run->part_count;
    for (uint32_t p = 0; p < n; p++) run->merge[p] = run->parts[p].rows;
    (void)tl_rows_merge(run->merge, n, emit_row, run);
    for (uint32_t p = 0; p < n; p++) run->parts[p].rows = run->merge[p]; /* emptied */
}

/* The tallies counted since the last fold, into run->blocks. */
static void fold_tallies(tl_state *run) {
    for (uint32_t p = 0; p < run->part_count; p++) {
        tl_part *part = &run->parts[p];
        if (!part->tally_dirty) continue;
        /* blocks made since this partition last counted have no entry here yet */
        uint32_t n = part->tally_len < run->block_count ? part->tally_len : run->block_count;
        for (uint32_t i = 0; i < n; i++) {
            tl_block_tally *t = &part->tally[i];
            tl_block *b = &run->blocks[i];
            b->holders += (uint32_t)t->holders;
            b->bytes_useful += t->bytes_useful;
            b->bytes_duplicate += t->bytes_duplicate;
            b->bytes_requests += t->bytes_requests;
            memset(t, 0, sizeof *t);
        }
        part->tally_dirty = false;
    }
}

void tl_parts_sync(tl_state *run) {
    make_parts(run); /* before the first host event (advance() calls this first) */
    tl_rows_flush(run);
    fold_tallies(run);
}

void tl_on_barrier(void *arg, sim_world *w) {
    (void)w;
    tl_parts_sync(arg);
}

void tl_parts_free(tl_state *run) {
    for (uint32_t p = 0; p < run->part_count; p++) {
        tl_rowbuf_free(&run->parts[p].rows);
        free(run->parts[p].tally);
        free(run->parts[p].body);
    }
    free(run->parts);
    free(run->merge);
    run->parts = NULL;
    run->merge = NULL;
    run->part_count = 0;
}

/* The partition of host: simnet's, or host % test_partitions in a world of one
 * partition (tests/test_rows.c). */
static uint32_t part_index(tl_state *run, uint32_t host) {
    if (run->cfg->test_partitions > 0 && sim_world_part_count(run->w) == 1)
        return host % run->cfg->test_partitions;
    return sim_host_part_index(sim_world_host(run->w, host));
}

tl_part *tl_part_of(tl_app *a) {
    tl_state *run = a->run;
    if (run->parts == NULL) {
        /* the first use is in world context: node creation or a run's first slice */
        TP_ASSERT(tl_world_context(run));
        make_parts(run);
    }
    uint32_t i = part_index(run, a->host);
    TP_ASSERT(i < run->part_count);
    tl_part *part = &run->parts[i];
    /* The arrays grow to the blocks made so far (block_cap, block_body_cap: written in
     * world context only), here, by the partition's own thread. */
    if (part->tally_len < run->block_cap) {
        uint32_t cap = run->block_cap;
        tl_block_tally *t = realloc(part->tally, (size_t)cap * sizeof *t);
        TP_ASSERT(t != NULL);
        memset(t + part->tally_len, 0, (size_t)(cap - part->tally_len) * sizeof *t);
        part->tally = t;
        part->tally_len = cap;
    }
    uint32_t body = run->block_body_cap > TL_BODY_MIN ? run->block_body_cap : TL_BODY_MIN;
    if (part->body_len < body) {
        uint8_t *b = realloc(part->body, body);
        TP_ASSERT(b != NULL);
        part->body = b;
        part->body_len = body;
    }
    return part;
}

tl_block_tally *tl_tally_of(tl_app *a, uint32_t id) {
    tl_part *part = tl_part_of(a);
    TP_ASSERT(id < part->tally_len);
    part->tally_dirty = true;
    return &part->tally[id];
}

void tl_row_put(tl_app *a, int64_t now_ns, tl_row *r) {
    tl_state *run = a->run;
    if (run->res == NULL) return;
    r->time_ns = now_ns;
    r->host = a->host;
    r->seq = a->row_seq++;
    if (tl_world_context(run)) {
        tl_rows_flush(run); /* the rows of host events so far come first */
        emit_row(run, r);
        return;
    }
    tl_rowbuf_push(&tl_part_of(a)->rows, r);
}
