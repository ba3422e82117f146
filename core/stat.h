/* core/stat.h — byte counters with moving averages (Octez: Moving_average, P2p_stat;
 * spec §8.4–8.5).
 *
 * A tp_moving_average counts bytes: tp_ma_add() adds to `total` and to the current
 * window; tp_ma_tick() (every ~1 s, driven by the I/O scheduler's refresh timer) folds
 * the window into the average with Octez's integer formula
 *     average = alpha_pm * current * 1000 / elapsed_ms / 1000
 *             + (1000 - alpha_pm) * average / 1000          (alpha = 0.2 → 200 ‰)
 * so the average is in bytes per second and behaviour never depends on floating point.
 */
#ifndef TP_STAT_H
#define TP_STAT_H

#include <stdint.h>

#define TP_MA_ALPHA_PM 200 /* alpha 0.2 in per-mille (spec §8.4) */

typedef struct tp_moving_average {
    int64_t total;      /* bytes since creation */
    int64_t current;    /* bytes in the window being measured */
    int64_t average;    /* bytes per second */
} tp_moving_average;

static inline void tp_ma_init(tp_moving_average *ma) {
    ma->total = 0;
    ma->current = 0;
    ma->average = 0;
}

static inline void tp_ma_add(tp_moving_average *ma, int64_t bytes) {
    ma->total += bytes;
    ma->current += bytes;
}

/* Closes the window that lasted elapsed_ns (> 0). */
void tp_ma_tick(tp_moving_average *ma, int64_t elapsed_ns);

/* The window length tp_ma_tick uses: whole milliseconds, at least 1. */
static inline int64_t tp_ma_elapsed_ms(int64_t elapsed_ns) {
    int64_t ms = elapsed_ns / 1000000;
    return ms > 0 ? ms : 1;
}

/* tp_ma_tick with the window already in milliseconds (tp_ma_elapsed_ms): the same
 * arithmetic, for callers that close many windows of one length at once (the I/O
 * scheduler's refresh). An idle average at 0 stays 0; a 1000 ms window needs no
 * division for the rate (current * 1000 / 1000 = current exactly). */
static inline void tp_ma_tick_ms(tp_moving_average *ma, int64_t elapsed_ms) {
    if (ma->current == 0 && ma->average == 0) return;
    int64_t rate = elapsed_ms == 1000 ? ma->current : ma->current * 1000 / elapsed_ms;
    ma->average = (TP_MA_ALPHA_PM * rate + (1000 - TP_MA_ALPHA_PM) * ma->average) / 1000;
    ma->current = 0;
}

/* P2p_stat: what /network/stat and connection stats report. */
typedef struct tp_stat {
    int64_t total_sent;       /* bytes */
    int64_t total_recv;       /* bytes */
    int32_t current_inflow;   /* bytes/s (int31 in Octez) */
    int32_t current_outflow;  /* bytes/s */
} tp_stat;

/* Builds a P2p_stat from a download and an upload counter (rates clamped to int31). */
tp_stat tp_stat_from(const tp_moving_average *down, const tp_moving_average *up);

#endif
