/* simnet/sim_thread.c — the worker threads of a parallel run (README "Parallel runs").
 *
 * T threads run P partitions (8 per thread by default): the calling thread is thread 0,
 * threads 1..T-1 are workers. Each thread owns the partitions i, i + T, i + 2T, ...; at
 * every window they are ordered by the wall time each took in the last window, longest
 * first (a host busy with a block stays busy for a few windows). A thread takes its own
 * from the front of its list, and when it has none left it takes from the back of
 * another thread's list: the long ones start first, at home, and the short ones fill
 * the end of the window wherever a thread is free. A partition taken first takes in the
 * messages the other partitions posted to it in the last window, then runs its events.
 *
 * A list is handed out through one atomic word (front and back, compare-and-swap), so a
 * partition is run by exactly one thread per window. A window starts when the caller
 * bumps `gen` (release) and ends when every worker has bumped `done` (release; the
 * caller acquires it). Everything a partition writes is its own, its outboxes included;
 * a thread's slot (sim_tslot) is the thread's. These words are the only synchronisation:
 * no lock is taken on the hot path. Waiting spins briefly, then sleeps on a futex. The
 * wall-clock figures steer the order in which partitions run and feed --stats; they
 * never change what a partition does, so the run is the same whatever they are. */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "simnet/sim_impl.h"

/* Which sim_tslot the running thread uses: 0 on the calling thread, i on worker i. */
_Thread_local uint32_t sim_tidx;

/* Spinning before sleeping: a futex wake-up costs tens to hundreds of microseconds (more
 * in a virtual machine), as much as a window's imbalance, so a thread that has a core to
 * itself spins up to ~1 ms (a window of the standard workload takes about that); with
 * more threads than cores a spinner would take the core a worker needs: it sleeps at
 * once, nearly. */
#define SPIN_ROUNDS_OWN_CORE 40000
#define SPIN_ROUNDS_SHARED 100

typedef struct sim_worker {
    struct sim_pool *pool;
    uint32_t index; /* thread index, 1.. */
    pthread_t th;
} sim_worker;

/* A thread's list of partitions (index, index + T, ...), longest first, and the word
 * handing them out in a window: front << 32 | back; on a cache line of its own. */
typedef struct sim_claim {
    _Atomic uint64_t range;
    uint32_t count;
    uint32_t *list;
} __attribute__((aligned(64))) sim_claim;

struct sim_pool {
    sim_world *w;
    uint32_t n;                 /* workers (threads - 1; 0 when one thread runs partitions) */
    uint32_t threads;
    int spin_rounds;            /* SPIN_ROUNDS_OWN_CORE or SPIN_ROUNDS_SHARED */
    sim_worker *workers;
    sim_claim *claim;           /* one per thread */
    _Atomic uint32_t gen;       /* bumped to start a window (or to quit) */
    _Atomic uint32_t done;      /* workers done with the current window */
    _Atomic uint32_t sleepers;  /* workers asleep on gen */
    _Atomic uint32_t main_asleep;
    _Atomic bool quit;
    _Atomic int64_t end;        /* the window's end */
    _Atomic uint32_t in_set;    /* the outbox set the window's partitions take in */
};

static void futex_wait(_Atomic uint32_t *word, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int n) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

uint64_t sim_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Takes a partition from c's list: from the front (its owner) or the back (another
 * thread). Returns its index, or UINT32_MAX when the list is used up. */
static uint32_t take(sim_claim *c, bool front) {
    uint64_t v = atomic_load_explicit(&c->range, memory_order_relaxed);
    for (;;) {
        uint32_t f = (uint32_t)(v >> 32), b = (uint32_t)v;
        if (f >= b) return UINT32_MAX;
        uint64_t nv = front ? v + (1ull << 32) : v - 1;
        if (atomic_compare_exchange_weak_explicit(&c->range, &v, nv, memory_order_relaxed,
                                                  memory_order_relaxed))
            return c->list[front ? f : b - 1];
    }
}

static void run_part(sim_part *p, int64_t end, uint32_t in_set) {
    uint64_t t0 = sim_mono_ns();
    sim_part_take_in(p, in_set);
    sim_part_run_window(p, end);
    p->last_ns = sim_mono_ns() - t0;
    p->busy_ns += p->last_ns;
}

/* Thread `self` runs partitions until none is left in the window: its own, then the
 * others' (from the next thread on). */
static void run_parts(struct sim_pool *pool, uint32_t self, int64_t end, uint32_t in_set) {
    sim_world *w = pool->w;
    sim_thread_stats *st = &w->tslot[self].st;
    uint32_t T = pool->threads, k;
    while ((k = take(&pool->claim[self], true)) != UINT32_MAX) {
        run_part(w->parts[k], end, in_set);
        st->parts_run++;
    }
    for (uint32_t j = 1; j < T; j++) {
        uint32_t other = self + j < T ? self + j : self + j - T;
        while ((k = take(&pool->claim[other], false)) != UINT32_MAX) {
            run_part(w->parts[k], end, in_set);
            st->parts_run++;
            st->parts_taken++;
        }
    }
}

/* Orders each list longest first by the last window's times (insertion sort: a list
 * holds about 8, and is nearly sorted already) and opens it. */
static void lists_open(struct sim_pool *pool) {
    sim_world *w = pool->w;
    for (uint32_t i = 0; i < pool->threads; i++) {
        sim_claim *c = &pool->claim[i];
        for (uint32_t a = 1; a < c->count; a++) {
            uint32_t x = c->list[a];
            uint64_t ex = w->parts[x]->last_ns;
            uint32_t b = a;
            for (; b > 0 && w->parts[c->list[b - 1]]->last_ns < ex; b--) c->list[b] = c->list[b - 1];
            c->list[b] = x;
        }
        atomic_store_explicit(&c->range, (uint64_t)c->count, memory_order_relaxed);
    }
}

static void *worker_main(void *arg) {
    sim_worker *wk = arg;
    struct sim_pool *pool = wk->pool;
    sim_tidx = wk->index;
    sim_thread_stats *st = &pool->w->tslot[wk->index].st;
    uint32_t seen = 0;
    for (;;) {
        uint64_t t0 = sim_mono_ns();
        uint32_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool->gen, memory_order_acquire)) == seen) {
            if (spins++ < pool->spin_rounds) {
                cpu_relax();
                continue;
            }
            atomic_fetch_add(&pool->sleepers, 1);
            futex_wait(&pool->gen, seen);
            atomic_fetch_sub(&pool->sleepers, 1);
        }
        seen = g;
        uint64_t t1 = sim_mono_ns();
        st->wait_ns += t1 - t0;
        if (atomic_load_explicit(&pool->quit, memory_order_acquire)) return NULL;
        run_parts(pool, wk->index, atomic_load_explicit(&pool->end, memory_order_relaxed),
                  atomic_load_explicit(&pool->in_set, memory_order_relaxed));
        st->busy_ns += sim_mono_ns() - t1;
        if (atomic_fetch_add_explicit(&pool->done, 1, memory_order_seq_cst) + 1 == pool->n &&
            atomic_load(&pool->main_asleep))
            futex_wake(&pool->done, 1);
    }
}

void sim_pool_start(sim_world *w) {
    if (w->part_count <= 1 || w->pool != NULL) return;
    struct sim_pool *pool = calloc(1, sizeof *pool);
    TP_ASSERT(pool != NULL);
    pool->w = w;
    pool->threads = w->thread_count;
    pool->n = w->thread_count - 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pool->spin_rounds = cores >= (long)pool->threads ? SPIN_ROUNDS_OWN_CORE : SPIN_ROUNDS_SHARED;
    pool->claim = aligned_alloc(64, pool->threads * sizeof *pool->claim);
    TP_ASSERT(pool->claim != NULL);
    for (uint32_t i = 0; i < pool->threads; i++) {
        sim_claim *c = &pool->claim[i];
        atomic_init(&c->range, 0);
        c->count = (w->part_count - i + pool->threads - 1) / pool->threads;
        c->list = calloc(c->count ? c->count : 1, sizeof *c->list);
        TP_ASSERT(c->list != NULL);
        for (uint32_t k = 0; k < c->count; k++) c->list[k] = i + k * pool->threads;
    }
    pool->workers = calloc(pool->n ? pool->n : 1, sizeof *pool->workers);
    TP_ASSERT(pool->workers != NULL);
    for (uint32_t i = 0; i < pool->n; i++) {
        sim_worker *wk = &pool->workers[i];
        wk->pool = pool;
        wk->index = i + 1;
        int rc = pthread_create(&wk->th, NULL, worker_main, wk);
        if (rc != 0) {
            fprintf(stderr, "simnet: cannot start worker thread %u of %u: %s\n", i + 1, pool->n,
                    strerror(rc));
            TP_ASSERT(rc == 0 && "pthread_create failed");
        }
    }
    w->pool = pool;
}

void sim_pool_run(sim_world *w, int64_t end, uint32_t in_set) {
    struct sim_pool *pool = w->pool;
    TP_ASSERT(pool != NULL);
    TP_ASSERT(sim_tidx == 0 && "a world runs from the thread that runs it, not a worker");
    lists_open(pool);
    atomic_store_explicit(&pool->end, end, memory_order_relaxed);
    atomic_store_explicit(&pool->in_set, in_set, memory_order_relaxed);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool->gen, 1, memory_order_seq_cst);
    if (atomic_load(&pool->sleepers) > 0) futex_wake(&pool->gen, INT_MAX);
    sim_thread_stats *st = &w->tslot[0].st;
    uint64_t t1 = sim_mono_ns();
    run_parts(pool, 0, end, in_set);
    uint64_t t2 = sim_mono_ns();
    st->busy_ns += t2 - t1;
    uint32_t d;
    int spins = 0;
    while ((d = atomic_load_explicit(&pool->done, memory_order_acquire)) != pool->n) {
        if (spins++ < pool->spin_rounds) {
            cpu_relax();
            continue;
        }
        atomic_store(&pool->main_asleep, 1);
        if ((d = atomic_load(&pool->done)) != pool->n) futex_wait(&pool->done, d);
        atomic_store(&pool->main_asleep, 0);
    }
    st->wait_ns += sim_mono_ns() - t2;
}

void sim_pool_stop(sim_world *w) {
    struct sim_pool *pool = w->pool;
    if (pool == NULL) return;
    atomic_store_explicit(&pool->quit, true, memory_order_release);
    atomic_fetch_add_explicit(&pool->gen, 1, memory_order_seq_cst);
    futex_wake(&pool->gen, INT_MAX);
    for (uint32_t i = 0; i < pool->n; i++) pthread_join(pool->workers[i].th, NULL);
    free(pool->workers);
    for (uint32_t i = 0; i < pool->threads; i++) free(pool->claim[i].list);
    free(pool->claim);
    free(pool);
    w->pool = NULL;
}
