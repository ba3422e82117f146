/* tests/test_err.c — the error enum, strerror, event names and address text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/event.h"

static void test_strerror_every_code(void **state) {
    (void)state;
    assert_int_equal(TP_OK, 0);
    assert_string_equal(tp_errname(TP_OK), "OK");
    for (int i = 1; i < TP_ERR_COUNT; i++) {
        tp_err e = (tp_err)-i;
        assert_true(e < 0);
        const char *text = tp_strerror(e);
        assert_non_null(text);
        assert_true(strlen(text) > 5);
        assert_string_not_equal(text, "unknown error");
        /* names are distinct */
        for (int j = 1; j < i; j++) assert_string_not_equal(tp_errname(e), tp_errname((tp_err)-j));
    }
    assert_string_equal(tp_strerror((tp_err)-TP_ERR_COUNT), "unknown error");
    assert_string_equal(tp_strerror((tp_err)5), "unknown error");
    assert_string_equal(tp_errname(TP_ERR_DECODE_TRUNCATED), "DECODE_TRUNCATED");
}

static void test_event_names(void **state) {
    (void)state;
    /* Octez's /network/log union tags 0..25 in order (spec §11). */
    assert_int_equal(TP_EVENT_TOO_FEW_CONNECTIONS, 0);
    assert_int_equal(TP_EVENT_SWAP_FAILURE, 25);
    assert_string_equal(tp_event_kind_name(TP_EVENT_CONNECTION_ESTABLISHED),
                        "connection_established");
    assert_string_equal(tp_event_kind_name(TP_EVENT_KIND_COUNT), "unknown");
}

static void test_point_format(void **state) {
    (void)state;
    char buf[TP_POINT_TEXT_MAX];
    tp_point p = tp_point_v4(0x7f000001, 9732);
    assert_string_equal(tp_point_format(&p, buf), "127.0.0.1:9732");
    tp_point q = {{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}, 9732};
    assert_string_equal(tp_point_format(&q, buf), "[2001:db8::1]:9732");
    tp_point z = {{{0}}, 1};
    assert_string_equal(tp_point_format(&z, buf), "[::]:1");
    tp_point one_zero = {{{0, 1, 0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7}}, 2};
    assert_string_equal(tp_point_format(&one_zero, buf), "[1:0:2:3:4:5:6:7]:2");
    assert_true(tp_ip_is_v4mapped(&p.ip));
    assert_false(tp_ip_is_v4mapped(&q.ip));
    assert_int_equal(tp_ip_v4(&p.ip), 0x7f000001);
    assert_true(tp_point_cmp(&p, &q) < 0); /* ::ffff:… sorts before 2001:… */
}

/* IPv4 points and addresses are formatted by hand: check them against printf over the
 * byte values where the digit count changes, and every port width. */
static void test_point_format_v4_matches_printf(void **state) {
    (void)state;
    static const unsigned bytes[] = {0, 1, 9, 10, 99, 100, 199, 200, 249, 250, 255};
    static const unsigned ports[] = {0, 1, 9, 10, 99, 100, 999, 1000, 9732, 10000, 65535};
    size_t nb = sizeof bytes / sizeof bytes[0], checked = 0;
    for (size_t a = 0; a < nb; a++)
        for (size_t b = 0; b < nb; b++)
            for (size_t c = 0; c < nb; c++)
                for (size_t d = 0; d < nb; d++) {
                    uint32_t v4 = bytes[a] << 24 | bytes[b] << 16 | bytes[c] << 8 | bytes[d];
                    uint16_t port = (uint16_t)ports[(a + b + c + d) % nb];
                    tp_point p = tp_point_v4(v4, port);
                    char want[TP_POINT_TEXT_MAX], got[TP_POINT_TEXT_MAX], ip[TP_IP_TEXT_MAX];
                    snprintf(want, sizeof want, "%u.%u.%u.%u", bytes[a], bytes[b], bytes[c],
                             bytes[d]);
                    assert_string_equal(tp_ip_format(&p.ip, ip), want);
                    snprintf(want, sizeof want, "%u.%u.%u.%u:%u", bytes[a], bytes[b], bytes[c],
                             bytes[d], port);
                    assert_string_equal(tp_point_format(&p, got), want);
                    checked++;
                }
    assert_int_equal(checked, nb * nb * nb * nb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_every_code),
        cmocka_unit_test(test_event_names),
        cmocka_unit_test(test_point_format),
        cmocka_unit_test(test_point_format_v4_matches_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
