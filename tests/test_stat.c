/* tests/test_stat.c — core/stat: moving average arithmetic (spec §8.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/stat.h"

#define S_NS ((int64_t)1000000000)

static void test_moving_average(void **state) {
    (void)state;
    tp_moving_average ma;
    tp_ma_init(&ma);
    tp_ma_add(&ma, 1000);
    tp_ma_tick(&ma, S_NS);
    assert_int_equal(ma.average, 200); /* 0.2 * 1000 B/s */
    assert_int_equal(ma.current, 0);
    tp_ma_add(&ma, 1000);
    tp_ma_tick(&ma, S_NS);
    assert_int_equal(ma.average, 360); /* 0.2*1000 + 0.8*200 */
    /* steady 1000 B/s converges to 1000 */
    for (int i = 0; i < 100; i++) {
        tp_ma_add(&ma, 1000);
        tp_ma_tick(&ma, S_NS);
    }
    assert_true(ma.average >= 995 && ma.average <= 1000);
    /* a 500 ms window holding 1000 bytes is a 2000 B/s rate */
    tp_moving_average b;
    tp_ma_init(&b);
    tp_ma_add(&b, 1000);
    tp_ma_tick(&b, S_NS / 2);
    assert_int_equal(b.average, 400);
    assert_int_equal(ma.total, 102000);
    tp_stat s = tp_stat_from(&b, &ma);
    assert_int_equal(s.total_recv, 1000);
    assert_int_equal(s.total_sent, 102000);
    assert_int_equal(s.current_inflow, 400);
    b.average = (int64_t)1 << 40;
    s = tp_stat_from(&b, &ma);
    assert_int_equal(s.current_inflow, 0x3fffffff);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moving_average),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
