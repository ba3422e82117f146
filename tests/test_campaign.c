/* tests/test_campaign.c — the statistics of the campaign page (reports/campaign.h) on
 * known values: the median and its exact order-statistic 95 % interval (ranks from
 * the binomial distribution, the textbook values for n = 10 and n = 100), censored runs
 * counted as +infinity, the n < 6 fallback with its stated coverage, and the Wilson
 * interval of a pass rate. The end-to-end check against a campaign database is
 * tests/sweep_campaign_report.test.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "reports/campaign.h"

static void test_median_ci_no_censoring(void **state) {
    (void)state;
    const double v[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    rep_median_ci r;
    rep_median_ci_compute(v, 10, 0, &r);
    assert_int_equal(r.n, 10);
    assert_int_equal(r.censored, 0);
    assert_true(r.median == 5.5);
    /* P(Bin(10, 1/2) <= 1) = 11/1024 <= 0.025 < P(<= 2) = 56/1024: ranks 2 and 9. */
    assert_int_equal(r.lo_rank, 2);
    assert_int_equal(r.hi_rank, 9);
    assert_true(r.lo == 2 && r.hi == 9);
    assert_true(fabs(r.coverage - (1 - 2 * 11.0 / 1024)) < 1e-12);
}

static void test_median_ci_n100(void **state) {
    (void)state;
    double v[100];
    for (int i = 0; i < 100; i++) v[i] = i + 1; /* x_(k) = k */
    rep_median_ci r;
    rep_median_ci_compute(v, 100, 0, &r);
    /* The tabulated exact interval for n = 100: x_(40) .. x_(61), coverage 0.9648. */
    assert_int_equal(r.lo_rank, 40);
    assert_int_equal(r.hi_rank, 61);
    assert_true(r.lo == 40 && r.hi == 61);
    assert_true(fabs(r.coverage - 0.9648) < 0.0005);
    assert_true(r.median == 50.5);
}

static void test_median_ci_censored(void **state) {
    (void)state;
    /* 7 observed + 3 runs where the event never happened (n = 10). */
    const double v[7] = {1, 2, 3, 4, 5, 6, 7};
    rep_median_ci r;
    rep_median_ci_compute(v, 7, 3, &r);
    assert_int_equal(r.n, 10);
    assert_int_equal(r.censored, 3);
    assert_true(r.median == 5.5); /* x_(5), x_(6) observed */
    assert_true(r.lo == 2);
    assert_true(isinf(r.hi)); /* x_(9) is censored: "not reached" */
    /* More than half censored: the median itself is not reached. */
    const double w[4] = {1, 2, 3, 4};
    rep_median_ci_compute(w, 4, 6, &r);
    assert_true(isinf(r.median));
    assert_true(r.lo == 2);
    assert_true(isinf(r.hi));
    /* All censored: every statistic is infinite, never a number. */
    rep_median_ci_compute(NULL, 0, 4, &r);
    assert_true(isinf(r.median) && isinf(r.lo) && isinf(r.hi));
}

static void test_median_ci_small_n(void **state) {
    (void)state;
    const double v[5] = {1, 1, 3, 4, 5};
    rep_median_ci r;
    rep_median_ci_compute(v, 5, 0, &r);
    assert_true(r.median == 3);
    assert_int_equal(r.lo_rank, 1);
    assert_int_equal(r.hi_rank, 5);
    assert_true(r.lo == 1 && r.hi == 5);
    assert_true(fabs(r.coverage - 0.9375) < 1e-12); /* 1 - 2 / 2^5: below 95 %, stated */
    const double six[6] = {1, 2, 3, 4, 5, 6};
    rep_median_ci_compute(six, 6, 0, &r);
    assert_true(r.coverage >= 0.95); /* n = 6 is the smallest n with a 95 % interval */
    assert_true(r.lo == 1 && r.hi == 6 && r.median == 3.5);
    rep_median_ci_compute(NULL, 0, 0, &r);
    assert_int_equal(r.n, 0);
    assert_true(isnan(r.median));
}

static void test_wilson(void **state) {
    (void)state;
    double lo, hi;
    rep_wilson_ci(5, 10, &lo, &hi);
    assert_true(fabs(lo - 0.2366) < 1e-4 && fabs(hi - 0.7634) < 1e-4);
    rep_wilson_ci(7, 7, &lo, &hi);
    assert_true(fabs(lo - 0.6457) < 1e-4);
    assert_true(hi == 1);
    rep_wilson_ci(0, 7, &lo, &hi);
    assert_true(lo == 0);
    assert_true(fabs(hi - 0.3543) < 1e-4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median_ci_no_censoring), cmocka_unit_test(test_median_ci_n100),
        cmocka_unit_test(test_median_ci_censored),     cmocka_unit_test(test_median_ci_small_n),
        cmocka_unit_test(test_wilson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
