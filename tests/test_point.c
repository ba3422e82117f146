/* tests/test_point.c — point text: wire-strict parsing and the configuration grammar
 * (core/point, spec §4.3), with Octez's points.ok / points.ko fixtures. */
#include "vectors.h"

#include "core/point.h"

/* Calls fn on each non-empty line of a fixture; returns the number of lines. */
static size_t for_each_line(const char *rel, void (*fn)(const char *line, size_t len)) {
    size_t len;
    char *text = vec_read_file(rel, &len);
    size_t count = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text[i] == '\n') {
            size_t l = i - start;
            if (l > 0 && text[start + l - 1] == '\r') l--;
            if (l > 0) {
                fn(text + start, l);
                count++;
            }
            start = i + 1;
        }
    }
    free(text);
    return count;
}

static void expect_ok(const char *line, size_t len) {
    tp_config_point p;
    tp_err e = tp_point_parse_config(line, len, &p);
    if (e != TP_OK) fail_msg("points.ok: \"%.*s\" rejected (%s)", (int)len, line, tp_errname(e));
    /* what we know from the text itself */
    bool has_hash = memchr(line, '#', len) != NULL;
    assert_true(p.has_peer_id == has_hash);
    if (line[0] == '[') assert_int_equal(p.kind, TP_HOST_IP);
}

static void expect_ko(const char *line, size_t len) {
    tp_config_point p;
    if (tp_point_parse_config(line, len, &p) == TP_OK)
        fail_msg("points.ko: \"%.*s\" accepted", (int)len, line);
}

static void test_octez_fixtures(void **state) {
    (void)state;
    assert_int_equal(for_each_line("octez/points.ok", expect_ok), 21);
    assert_int_equal(for_each_line("octez/points.ko", expect_ko), 13);
}

static void test_config_point_fields(void **state) {
    (void)state;
    tp_config_point p;
    const char *s = "www.foo.com:8444#idqSpQPFDBN4yMhLEzwtqGgxRLNrj4";
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_OK);
    assert_int_equal(p.kind, TP_HOST_DOMAIN);
    assert_string_equal(p.domain, "www.foo.com");
    assert_true(p.has_port);
    assert_int_equal(p.port, 8444);
    assert_true(p.has_peer_id);
    char b58[TP_PEER_ID_TEXT_SIZE];
    assert_string_equal(tp_peer_id_to_b58(&p.peer_id, b58), "idqSpQPFDBN4yMhLEzwtqGgxRLNrj4");

    s = "127.0.0.1";
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_OK);
    assert_int_equal(p.kind, TP_HOST_IP);
    assert_true(tp_ip_is_v4mapped(&p.ip));
    assert_int_equal(tp_ip_v4(&p.ip), 0x7f000001);
    assert_false(p.has_port);
    assert_false(p.has_peer_id);

    s = "01.2.3.4:5"; /* not canonical: left to the resolver, like Octez */
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_OK);
    assert_int_equal(p.kind, TP_HOST_DOMAIN);
    assert_string_equal(p.domain, "01.2.3.4");
    tp_point pt;
    assert_int_equal(tp_config_point_to_point(&p, 9732, &pt), TP_ERR_INVAL);

    s = "[0::0:0]:8444";
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_OK);
    tp_ip zero = {{0}};
    assert_true(tp_ip_eq(&p.ip, &zero));
    assert_int_equal(p.port, 8444);

    assert_int_equal(tp_config_point_to_point(&p, 9732, &pt), TP_OK);
    assert_int_equal(pt.port, 8444);
    s = "127.0.0.1";
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_OK);
    assert_int_equal(tp_config_point_to_point(&p, 9732, &pt), TP_OK);
    assert_int_equal(pt.port, 9732);
    assert_int_equal(tp_ip_v4(&pt.ip), 0x7f000001);

    s = "_:8444";
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_OK);
    assert_int_equal(p.kind, TP_HOST_ANY);
    assert_int_equal(p.port, 8444);
    assert_int_equal(tp_point_parse_config("", 0, &p), TP_OK);
    assert_int_equal(p.kind, TP_HOST_ANY);

    /* the parts of the error: a bad peer id is reported as such */
    s = "foo.com#idqSpQPFDBN4yMhLEzwtqGgxRLNrj5";
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_ERR_BAD_CHECKSUM);
    s = "foo.com:65536";
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_ERR_DECODE_BAD_POINT);
    s = "foo.com:0008444"; /* int_of_string accepts leading zeros */
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_OK);
    assert_int_equal(p.port, 8444);
    s = "[1.2.3.4]:1"; /* brackets hold IPv6 only */
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_ERR_DECODE_BAD_POINT);
    s = "[::1]x";
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_ERR_DECODE_BAD_POINT);
    s = "[gg::1]";
    assert_int_equal(tp_point_parse_config(s, strlen(s), &p), TP_ERR_DECODE_BAD_POINT);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    assert_int_equal(tp_point_parse_config(longname, 254, &p), TP_ERR_DECODE_TOO_LONG);
    assert_int_equal(tp_point_parse_config(longname, 253, &p), TP_OK);
}

static void test_wire_points(void **state) {
    (void)state;
    static const struct {
        const char *text;
        bool ok;
    } cases[] = {
        {"1.2.3.4:9732", true},
        {"0.0.0.0:0", true},
        {"255.255.255.255:65535", true},
        {"[2001:db8::1]:9732", true},
        {"[::]:1", true},
        {"[::ffff:1.2.3.4]:9732", true},
        {"[fe80::e828:209d:20e:c0ae]:375", true},
        {"[1:2:3:4:5:6:7:8]:1", true},
        {"[1:2:3:4:5:6:1.2.3.4]:1", true},
        {"[1::]:1", true},
        {"1.2.3.4", false},          /* port mandatory */
        {"1.2.3.4:", false},
        {"1.2.3.4:65536", false},
        {"1.2.3.4:+1", false},
        {"1.2.3.4:01", false},       /* leading zero */
        {"01.2.3.4:1", false},
        {"1.2.3.256:1", false},
        {"1.2.3:1", false},
        {"1.2.3.4.5:1", false},
        {"localhost:9732", false},   /* no domains on the wire */
        {"1.2.3.4:9732#idqRfGME9Bdhde2rksPSz7s6naxMW4", true}, /* the id is dropped */
        {"1.2.3.4:9732#idqRfGME9Bdhde2rksPSz7s6naxMW5", false}, /* bad checksum */
        {"1.2.3.4:0", true},         /* port 0 parses (point_parser.mll: 0..65535) */
        {"1.2.3.4:1#", false},
        {"[1.2.3.4]:1", false},
        {"2001:db8::1:9732", false}, /* unbracketed IPv6 */
        {"[2001:db8::1]", false},
        {"[2001:db8:::1]:1", false},
        {"[1:2:3:4:5:6:7:8:9]:1", false},
        {"[1:2:3:4:5:6:7]:1", false},
        {"[1::2::3]:1", false},
        {"[12345::]:1", false},
        {"[:1::]:1", false},
        {"[1::1:]:1", false},
        {"[fe80::1%eth0]:1", false},
        {"[]:1", false},
        {"", false},
        {" 1.2.3.4:1", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_point p;
        tp_err e = tp_point_parse_wire(cases[i].text, strlen(cases[i].text), &p);
        if ((e == TP_OK) != cases[i].ok)
            fail_msg("wire point \"%s\": got %s", cases[i].text, tp_errname(e));
        if (e == TP_OK) {
            /* canonical texts print back identically */
            char text[TP_POINT_TEXT_MAX];
            tp_point_format(&p, text);
            tp_point q;
            assert_int_equal(tp_point_parse_wire(text, strlen(text), &q), TP_OK);
            assert_true(tp_point_eq(&p, &q));
        }
    }
    tp_point p;
    assert_int_equal(tp_point_parse_wire("[2001:db8::1]:9732", 18, &p), TP_OK);
    assert_int_equal(p.port, 9732);
    assert_int_equal(p.ip.bytes[0], 0x20);
    assert_int_equal(p.ip.bytes[1], 0x01);
    assert_int_equal(p.ip.bytes[15], 1);
    assert_int_equal(tp_point_parse_wire("[::ffff:1.2.3.4]:9", 18, &p), TP_OK);
    assert_true(tp_ip_is_v4mapped(&p.ip));
    assert_int_equal(tp_ip_v4(&p.ip), 0x01020304);
    /* `addr:port#peer_id` with a valid peer id: accepted, the id dropped (issue 18,
     * item 7; Octez's wire decoder is of_string_exn, point_parser.mll parse_full_addr) */
    {
        tp_peer_id id;
        memset(&id, 0x42, sizeof id);
        char b58[64], text[80];
        tp_peer_id_to_b58(&id, b58);
        snprintf(text, sizeof text, "1.2.3.4:1#%s", b58);
        assert_true(strlen(text) <= 47);
        assert_int_equal(tp_point_parse_wire(text, strlen(text), &p), TP_OK);
        assert_int_equal(tp_ip_v4(&p.ip), 0x01020304);
        assert_int_equal(p.port, 1);
    }
    /* 47 characters is the maximum */
    const char *max47 = "[1111:2222:3333:4444:5555:6666:7777:8888]:65535";
    assert_int_equal(strlen(max47), 47);
    assert_int_equal(tp_point_parse_wire(max47, 47, &p), TP_OK);
    char longer[64];
    snprintf(longer, sizeof longer, "%s0", max47);
    assert_int_equal(tp_point_parse_wire(longer, 48, &p), TP_ERR_DECODE_TOO_LONG);
    /* the wire parser never reads past len */
    assert_int_equal(tp_point_parse_wire("1.2.3.4:97", 9, &p), TP_OK);
    assert_int_equal(p.port, 9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_octez_fixtures),
        cmocka_unit_test(test_config_point_fields),
        cmocka_unit_test(test_wire_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
