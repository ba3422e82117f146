/* lua/parts.c — the runtime's per-partition state for the parallel simulator: result
 * rows written from host context (lua/rows.h), the block workload's tallies and
 * message scratch, and what world context does with them at a barrier (lua/README.md
 * "Threads").
 *
 * Host context appends to its partition only (tl_part_of); world context — a barrier,
 * a Lua callback, the end of the run — writes the rows to the results database in
 * (time, host, per-host sequence) order, folds the tallies into run->blocks and
 * resizes the partitions (tl_parts_sync). A row made in world context (a host crashed
 * from a callback) is written at once, after every buffered row, so rows keep the
 * order in which the world made them. */
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

void tl_rows_flush(tl_state *run) {
    if (run->res == NULL || run->part_count == 0) return;
    (void)tl_rows_merge(run->rows, run->part_count, emit_row, run);
}

/* The tallies counted since the last fold, into run->blocks. */
static void fold_tallies(tl_state *run) {
    for (uint32_t p = 0; p < run->part_count; p++) {
        tl_part *part = &run->parts[p];
        if (!part->tally_dirty) continue;
        for (uint32_t i = 0; i < run->block_count; i++) {
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

static void free_parts(tl_state *run) {
    for (uint32_t p = 0; p < run->part_count; p++) {
        tl_rowbuf_free(&run->rows[p]);
        free(run->parts[p].tally);
        free(run->parts[p].body);
    }
    free(run->rows);
    free(run->parts);
    run->rows = NULL;
    run->parts = NULL;
    run->part_count = 0;
    run->tally_cap = 0;
    run->body_cap = 0;
}

/* The world's partitions; tl_run_config.test_partitions stands in for them when the
 * world has only one (tests/test_rows.c: the rows do not depend on the count). */
static uint32_t part_count(const tl_state *run) {
    uint32_t n = run->w ? sim_world_part_count(run->w) : 1;
    return n == 1 && run->cfg->test_partitions > 0 ? run->cfg->test_partitions : n;
}

static uint32_t part_index(tl_state *run, uint32_t host) {
    uint32_t i = sim_host_part_index(sim_world_host(run->w, host));
    if (run->part_count > 1 && sim_world_part_count(run->w) == 1) /* test_partitions */
        i = host % run->part_count;
    return i;
}

void tl_parts_sync(tl_state *run) {
    tl_rows_flush(run);
    fold_tallies(run);
    uint32_t count = part_count(run);
    TP_ASSERT(count >= 1);
    if (count != run->part_count) { /* empty now: rows written, tallies folded */
        free_parts(run);
        run->parts = calloc(count, sizeof *run->parts);
        run->rows = calloc(count, sizeof *run->rows);
        TP_ASSERT(run->parts != NULL && run->rows != NULL);
        run->part_count = count;
    }
    if (run->block_cap > run->tally_cap) {
        uint32_t cap = run->block_cap;
        for (uint32_t p = 0; p < count; p++) {
            tl_block_tally *t = realloc(run->parts[p].tally, (size_t)cap * sizeof *t);
            TP_ASSERT(t != NULL);
            memset(t + run->tally_cap, 0, (size_t)(cap - run->tally_cap) * sizeof *t);
            run->parts[p].tally = t;
        }
        run->tally_cap = cap;
    }
    uint32_t body = run->block_body_cap > TL_BODY_MIN ? run->block_body_cap : TL_BODY_MIN;
    if (body > run->body_cap) {
        for (uint32_t p = 0; p < count; p++) {
            uint8_t *b = realloc(run->parts[p].body, body);
            TP_ASSERT(b != NULL);
            run->parts[p].body = b;
        }
        run->body_cap = body;
    }
}

void tl_on_barrier(void *arg, sim_world *w) {
    (void)w;
    tl_parts_sync(arg);
}

void tl_parts_free(tl_state *run) { free_parts(run); }

tl_part *tl_part_of(tl_app *a) {
    tl_state *run = a->run;
    if (run->part_count == 0) {
        /* first use, before any run_for: only world context can get here */
        TP_ASSERT(tl_world_context(run));
        tl_parts_sync(run);
    }
    uint32_t i = part_index(run, a->host);
    TP_ASSERT(i < run->part_count);
    return &run->parts[i];
}

tl_block_tally *tl_tally_of(tl_app *a, uint32_t id) {
    tl_part *part = tl_part_of(a);
    TP_ASSERT(id < a->run->tally_cap);
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
    tl_rowbuf_push(&run->rows[tl_part_of(a) - run->parts], r);
}
