/* simnet/sim_queue.c — the world's event queue: a 4-ary implicit min-heap of
 * (time, insertion sequence, timer) ordered by time then sequence, so equal-time
 * events run in insertion order (DESIGN.md "simnet/"). Each timer keeps its heap
 * position in tp_timer.backend_index, which makes cancel and re-arm O(log n). The
 * queue owns only its array; the timers belong to their owners (core or simnet). */
#include <string.h>

#include "simnet/sim_impl.h"

static inline bool ent_less(const sim_qent *a, const sim_qent *b) {
    return a->time_ns < b->time_ns ||
           (a->time_ns == b->time_ns && a->timer->backend_seq < b->timer->backend_seq);
}

static void sift_up(sim_queue *q, uint32_t i, sim_qent e) {
    sim_qent *ent = q->ent;
    while (i > 0) {
        uint32_t p = (i - 1) >> 2;
        if (!ent_less(&e, &ent[p])) break;
        ent[i] = ent[p];
        ent[i].timer->backend_index = i;
        i = p;
    }
    ent[i] = e;
    e.timer->backend_index = i;
}

static void sift_down(sim_queue *q, uint32_t i, sim_qent e) {
    sim_qent *ent = q->ent;
    uint32_t n = q->len;
    for (;;) {
        uint32_t c = 4 * i + 1;
        if (c >= n) break;
        uint32_t m = c;
        uint32_t end = c + 4 < n ? c + 4 : n;
        for (uint32_t k = c + 1; k < end; k++)
            if (ent_less(&ent[k], &ent[m])) m = k;
        if (!ent_less(&ent[m], &e)) break;
        ent[i] = ent[m];
        ent[i].timer->backend_index = i;
        i = m;
    }
    ent[i] = e;
    e.timer->backend_index = i;
}

/* Removes the zombie root without touching its timer (which may already be freed). */
static void drop_zombie(sim_queue *q) {
    if (!q->zombie) return;
    q->zombie = false;
    sim_qent last = q->ent[--q->len];
    if (q->len > 0) sift_down(q, 0, last);
}

sim_qent sim_queue_begin_pop(sim_queue *q) {
    TP_ASSERT(!q->zombie && q->len > 0);
    sim_qent top = q->ent[0];
    top.timer->backend_index = TP_TIMER_NOT_ARMED;
    q->zombie = true;
    return top;
}

void sim_queue_end_pop(sim_queue *q) { drop_zombie(q); }

void sim_queue_deinit(sim_queue *q) {
    drop_zombie(q);
    for (uint32_t i = 0; i < q->len; i++) q->ent[i].timer->backend_index = TP_TIMER_NOT_ARMED;
    free(q->raw);
    q->raw = q->ent = NULL;
    q->len = q->cap = 0;
}

void sim_queue_put(sim_queue *q, tp_timer *t, int64_t time_ns) {
    sim_qent e = {time_ns, t};
    if (q->zombie) {
        if (t == q->ent[0].timer && t->backend_index == TP_TIMER_NOT_ARMED) {
            q->zombie = false; /* the running timer re-arms itself: reuse the root */
            sift_down(q, 0, e);
            return;
        }
        drop_zombie(q);
    }
    if (t->backend_index != TP_TIMER_NOT_ARMED) {
        uint32_t i = t->backend_index;
        TP_ASSERT(i < q->len && q->ent[i].timer == t);
        if (ent_less(&e, &q->ent[i]))
            sift_up(q, i, e);
        else
            sift_down(q, i, e);
        return;
    }
    if (q->len == q->cap) {
        uint32_t cap = q->cap ? q->cap * 2 : 1024;
        size_t bytes = ((size_t)cap + 4) * sizeof(sim_qent);
        sim_qent *raw = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        TP_ASSERT(raw != NULL); /* the simulator cannot continue without its queue */
        if (q->len) memcpy(raw + 3, q->ent, (size_t)q->len * sizeof(sim_qent));
        free(q->raw);
        q->raw = raw;
        q->ent = raw + 3;
        q->cap = cap;
    }
    sift_up(q, q->len++, e);
}

void sim_queue_remove(sim_queue *q, tp_timer *t) {
    if (t->backend_index == TP_TIMER_NOT_ARMED) return;
    drop_zombie(q);
    uint32_t i = t->backend_index;
    TP_ASSERT(i < q->len && q->ent[i].timer == t);
    t->backend_index = TP_TIMER_NOT_ARMED;
    sim_qent last = q->ent[--q->len];
    if (i == q->len) return;
    if (i > 0 && ent_less(&last, &q->ent[(i - 1) >> 2]))
        sift_up(q, i, last);
    else
        sift_down(q, i, last);
}

sim_qent sim_queue_pop(sim_queue *q) {
    drop_zombie(q);
    TP_ASSERT(q->len > 0);
    sim_qent top = q->ent[0];
    top.timer->backend_index = TP_TIMER_NOT_ARMED;
    sim_qent last = q->ent[--q->len];
    if (q->len > 0) sift_down(q, 0, last);
    return top;
}

void sim_queue_filter(sim_queue *q, bool (*drop)(const tp_timer *t, void *arg), void *arg) {
    drop_zombie(q);
    uint32_t n = 0;
    for (uint32_t i = 0; i < q->len; i++) {
        if (drop(q->ent[i].timer, arg)) {
            q->ent[i].timer->backend_index = TP_TIMER_NOT_ARMED;
        } else {
            q->ent[n++] = q->ent[i];
        }
    }
    q->len = n;
    for (uint32_t i = 0; i < n; i++) q->ent[i].timer->backend_index = i;
    /* Floyd's heapify: the order of equal keys cannot matter since (time, seq) is a
     * total order. */
    if (n > 1) {
        for (uint32_t i = (n - 2) / 4 + 1; i-- > 0;) sift_down(q, i, q->ent[i]);
    }
}
