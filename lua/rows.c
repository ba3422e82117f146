/* lua/rows.c — per-partition row buffers and their ordered merge (see rows.h). */
#include "lua/rows.h"

#include <stdlib.h>

#include "core/err.h"

void tl_rowbuf_push(tl_rowbuf *b, const tl_row *r) {
    if (b->len == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        tl_row *rows = realloc(b->rows, cap * sizeof *rows);
        TP_ASSERT(rows != NULL);
        b->rows = rows;
        b->cap = cap;
    }
    b->rows[b->len++] = *r;
}

void tl_rowbuf_free(tl_rowbuf *b) {
    free(b->rows);
    b->rows = NULL;
    b->len = b->cap = 0;
}

int tl_row_cmp(const tl_row *a, const tl_row *b) {
    if (a->time_ns != b->time_ns) return a->time_ns < b->time_ns ? -1 : 1;
    if (a->host != b->host) return a->host < b->host ? -1 : 1;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    return 0;
}

static int cmp_rows(const void *a, const void *b) { return tl_row_cmp(a, b); }

size_t tl_rows_merge(tl_rowbuf *bufs, uint32_t count, tl_row_emit_fn emit, void *arg) {
    /* A partition's rows come in its execution order: time never decreases, but rows of
     * its hosts at one instant may come in any host order; sort each, then merge. Keys
     * are unique, so the order is total and qsort's instability does not matter. */
    size_t total = 0;
    for (uint32_t p = 0; p < count; p++) {
        if (bufs[p].len > 1) qsort(bufs[p].rows, bufs[p].len, sizeof *bufs[p].rows, cmp_rows);
        total += bufs[p].len;
    }
    if (total == 0) return 0;
    size_t *next = calloc(count, sizeof *next);
    TP_ASSERT(next != NULL);
    for (size_t k = 0; k < total; k++) {
        const tl_row *best = NULL;
        uint32_t from = 0;
        for (uint32_t p = 0; p < count; p++) {
            if (next[p] == bufs[p].len) continue;
            const tl_row *r = &bufs[p].rows[next[p]];
            if (best == NULL || tl_row_cmp(r, best) < 0) {
                best = r;
                from = p;
            }
        }
        next[from]++;
        emit(arg, best);
    }
    free(next);
    for (uint32_t p = 0; p < count; p++) bufs[p].len = 0;
    return total;
}
