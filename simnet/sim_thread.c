/* simnet/sim_thread.c — the worker threads of a parallel run (README "Parallel runs").
 *
 * Partition 0 runs on the calling thread; partitions 1..P-1 each on a worker. A window
 * starts when the caller bumps `gen` (release) and ends when every worker has bumped
 * `done` (release; the caller acquires it). Everything a window writes is its own
 * partition's, so these two words are the only synchronisation: no lock is taken on
 * the hot path. Waiting spins briefly, then sleeps on a futex (a worker is never woken
 * by a syscall if it is still spinning). The wall-clock figures are for --stats only. */
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

/* Spinning before sleeping: a futex wake-up costs tens to hundreds of microseconds (more
 * in a virtual machine), as much as a window's imbalance, so a thread that has a core to
 * itself spins up to ~1 ms (a window of the standard workload takes about that); with
 * more threads than cores a spinner would take the core a worker needs: it sleeps at
 * once, nearly. */
#define SPIN_ROUNDS_OWN_CORE 40000
#define SPIN_ROUNDS_SHARED 100

typedef struct sim_worker {
    struct sim_pool *pool;
    sim_part *part;
    pthread_t th;
} sim_worker;

struct sim_pool {
    uint32_t n;                 /* workers */
    int spin_rounds;            /* SPIN_ROUNDS_OWN_CORE or SPIN_ROUNDS_SHARED */
    sim_worker *workers;
    _Atomic uint32_t gen;       /* bumped to start a window (or to quit) */
    _Atomic uint32_t done;      /* workers done with the current window */
    _Atomic uint32_t sleepers;  /* workers asleep on gen */
    _Atomic uint32_t main_asleep;
    _Atomic bool quit;
    _Atomic int64_t end;        /* the window's end */
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

static void *worker_main(void *arg) {
    sim_worker *wk = arg;
    struct sim_pool *pool = wk->pool;
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
        wk->part->wait_ns += t1 - t0;
        if (atomic_load_explicit(&pool->quit, memory_order_acquire)) return NULL;
        sim_part_run_window(wk->part, atomic_load_explicit(&pool->end, memory_order_relaxed));
        wk->part->busy_ns += sim_mono_ns() - t1;
        if (atomic_fetch_add_explicit(&pool->done, 1, memory_order_seq_cst) + 1 == pool->n &&
            atomic_load(&pool->main_asleep))
            futex_wake(&pool->done, 1);
    }
}

void sim_pool_start(sim_world *w) {
    if (w->part_count <= 1 || w->pool != NULL) return;
    struct sim_pool *pool = calloc(1, sizeof *pool);
    TP_ASSERT(pool != NULL);
    pool->n = w->part_count - 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pool->spin_rounds = cores >= (long)w->part_count ? SPIN_ROUNDS_OWN_CORE : SPIN_ROUNDS_SHARED;
    pool->workers = calloc(pool->n, sizeof *pool->workers);
    TP_ASSERT(pool->workers != NULL);
    for (uint32_t i = 0; i < pool->n; i++) {
        sim_worker *wk = &pool->workers[i];
        wk->pool = pool;
        wk->part = w->parts[i + 1];
        int rc = pthread_create(&wk->th, NULL, worker_main, wk);
        if (rc != 0) {
            fprintf(stderr, "simnet: cannot start worker thread %u of %u: %s\n", i + 1, pool->n,
                    strerror(rc));
            TP_ASSERT(rc == 0 && "pthread_create failed");
        }
    }
    w->pool = pool;
}

void sim_pool_run(sim_world *w, int64_t end) {
    struct sim_pool *pool = w->pool;
    TP_ASSERT(pool != NULL);
    atomic_store_explicit(&pool->end, end, memory_order_relaxed);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool->gen, 1, memory_order_seq_cst);
    if (atomic_load(&pool->sleepers) > 0) futex_wake(&pool->gen, INT_MAX);
    sim_part *p0 = w->parts[0];
    uint64_t t1 = sim_mono_ns();
    sim_part_run_window(p0, end);
    uint64_t t2 = sim_mono_ns();
    p0->busy_ns += t2 - t1;
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
    p0->wait_ns += sim_mono_ns() - t2;
}

void sim_pool_stop(sim_world *w) {
    struct sim_pool *pool = w->pool;
    if (pool == NULL) return;
    atomic_store_explicit(&pool->quit, true, memory_order_release);
    atomic_fetch_add_explicit(&pool->gen, 1, memory_order_seq_cst);
    futex_wake(&pool->gen, INT_MAX);
    for (uint32_t i = 0; i < pool->n; i++) pthread_join(pool->workers[i].th, NULL);
    free(pool->workers);
    free(pool);
    w->pool = NULL;
}
