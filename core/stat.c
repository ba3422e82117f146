/* core/stat.c — moving averages (spec §8.4). */
#include "stat.h"

#include "err.h"

void tp_ma_tick(tp_moving_average *ma, int64_t elapsed_ns) {
    TP_ASSERT(elapsed_ns > 0);
    /* current * 1000 / elapsed_ms is the window's rate in B/s. */
    tp_ma_tick_ms(ma, tp_ma_elapsed_ms(elapsed_ns));
}

static int32_t clamp31(int64_t v) {
    if (v < 0) return 0;
    if (v > 0x3fffffff) return 0x3fffffff;
    return (int32_t)v;
}

tp_stat tp_stat_from(const tp_moving_average *down, const tp_moving_average *up) {
    tp_stat s;
    s.total_recv = down->total;
    s.total_sent = up->total;
    s.current_inflow = clamp31(down->average);
    s.current_outflow = clamp31(up->average);
    return s;
}
