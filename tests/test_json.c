/* tests/test_json.c — the strict JSON reader and writer (core/json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/json.h"

static tp_err parse(const char *text, tp_json_doc *doc, tp_json_token *tokens, size_t cap) {
    return tp_json_parse(doc, text, strlen(text), tokens, cap);
}

static void test_accepts_valid_documents(void **state) {
    (void)state;
    static const char *const valid[] = {
        "0", "-0", "1.5e10", "-12.25E-3", "true", "false", "null", "\"\"", "[]", "{}",
        " \t\r\n[1, [2, [3]], {\"a\": {}}]\n", "{\"a\":1,\"b\":[true,false,null]}",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
    };
    tp_json_token tokens[64];
    tp_json_doc doc;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        tp_err e = parse(valid[i], &doc, tokens, 64);
        if (e != TP_OK) fail_msg("rejected valid JSON %s: %s", valid[i], doc.error);
    }
}

static void test_rejects_invalid_documents(void **state) {
    (void)state;
    static const char *const invalid[] = {
        "", " ", "01", "-", "1.", ".5", "1e", "+1", "NaN", "Infinity", "tru", "nul",
        "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{a:1}", "{\"a\":1", "[", "\"abc",
        "\"a\nb\"", "\"\\x\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "1 2", "[] x",
        "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}", "\xef\xbb\xbf{}", "// c\n{}", "'a'",
    };
    tp_json_token tokens[64];
    tp_json_doc doc;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        tp_err e = parse(invalid[i], &doc, tokens, 64);
        if (e != TP_ERR_DECODE_BAD_JSON) fail_msg("accepted invalid JSON #%zu: %s", i, invalid[i]);
        assert_non_null(doc.error);
        assert_true(doc.error_offset <= strlen(invalid[i]));
    }
    /* the position names line and column */
    assert_int_equal(parse("{\n  \"a\": 1,\n  \"b\": x\n}", &doc, tokens, 64), TP_ERR_DECODE_BAD_JSON);
    size_t line, col;
    tp_json_position(&doc, doc.error_offset, &line, &col);
    assert_int_equal(line, 3);
    assert_int_equal(col, 8);
    /* limits: too many tokens, too deep */
    assert_int_equal(parse("[1,2,3,4]", &doc, tokens, 4), TP_ERR_TOO_BIG);
    char deep[100];
    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    deep[80] = '\0';
    assert_int_equal(parse(deep, &doc, tokens, 64), TP_ERR_TOO_BIG);
    /* embedded NUL is not whitespace */
    assert_int_equal(tp_json_parse(&doc, "{}\0", 3, tokens, 64), TP_ERR_DECODE_BAD_JSON);
}

static void test_accessors(void **state) {
    (void)state;
    const char *text = "{\"name\":\"caf\\u00e9\",\"n\":-9223372036854775808,\"big\":9223372036854775808,"
                       "\"f\":2.5,\"ok\":true,\"list\":[1,{\"x\":[]},3],\"last\":null}";
    tp_json_token tokens[64];
    tp_json_doc doc;
    assert_int_equal(parse(text, &doc, tokens, 64), TP_OK);
    assert_int_equal(tp_json_tok(&doc, 0)->children, 7);
    char s[16];
    size_t len;
    size_t v = tp_json_object_get(&doc, 0, "name");
    assert_int_equal(tp_json_get_string(&doc, v, s, sizeof s, &len), TP_OK);
    assert_string_equal(s, "caf\xc3\xa9");
    assert_int_equal(len, 5);
    assert_true(tp_json_string_eq(&doc, v, "caf\xc3\xa9"));
    assert_false(tp_json_string_eq(&doc, v, "cafe"));
    assert_int_equal(tp_json_get_string(&doc, v, s, 5, &len), TP_ERR_TOO_BIG);
    int64_t i;
    assert_int_equal(tp_json_get_int64(&doc, tp_json_object_get(&doc, 0, "n"), &i), TP_OK);
    assert_true(i == INT64_MIN);
    assert_int_equal(tp_json_get_int64(&doc, tp_json_object_get(&doc, 0, "big"), &i), TP_ERR_DECODE_BAD_VALUE);
    assert_int_equal(tp_json_get_int64(&doc, tp_json_object_get(&doc, 0, "f"), &i), TP_ERR_INVAL);
    double d;
    assert_int_equal(tp_json_get_double(&doc, tp_json_object_get(&doc, 0, "f"), &d), TP_OK);
    assert_true(d == 2.5);
    bool b;
    assert_int_equal(tp_json_get_bool(&doc, tp_json_object_get(&doc, 0, "ok"), &b), TP_OK);
    assert_true(b);
    assert_int_equal(tp_json_get_bool(&doc, tp_json_object_get(&doc, 0, "last"), &b), TP_ERR_INVAL);
    size_t list = tp_json_object_get(&doc, 0, "list");
    assert_int_equal(tp_json_type_of(&doc, list), TP_JSON_ARRAY);
    assert_int_equal(tp_json_tok(&doc, list)->children, 3);
    size_t e1 = list + 1, e2 = tp_json_next(&doc, e1), e3 = tp_json_next(&doc, e2);
    assert_int_equal(tp_json_type_of(&doc, e2), TP_JSON_OBJECT);
    assert_int_equal(tp_json_get_int64(&doc, e3, &i), TP_OK);
    assert_int_equal(i, 3);
    /* the member after the nested list is found (subtree skipping works) */
    assert_int_equal(tp_json_type_of(&doc, tp_json_object_get(&doc, 0, "last")), TP_JSON_NULL);
    assert_true(tp_json_object_get(&doc, 0, "missing") == TP_JSON_NONE);
    assert_true(tp_json_object_get(&doc, list, "x") == TP_JSON_NONE);
    assert_string_equal(tp_json_type_name(TP_JSON_OBJECT), "object");
}

static void test_writer(void **state) {
    (void)state;
    char buf[256];
    tp_json_writer jw;
    tp_json_writer_init(&jw, buf, sizeof buf, false);
    tp_json_begin_object(&jw);
    tp_json_key(&jw, "s");
    tp_json_string(&jw, "a\"b\\c\n\x01");
    tp_json_key(&jw, "n");
    tp_json_int64(&jw, -42);
    tp_json_key(&jw, "u");
    tp_json_uint64(&jw, UINT64_MAX);
    tp_json_key(&jw, "l");
    tp_json_begin_array(&jw);
    tp_json_bool(&jw, true);
    tp_json_null(&jw);
    tp_json_int64(&jw, INT64_MIN);
    tp_json_begin_object(&jw);
    tp_json_end_object(&jw);
    tp_json_end_array(&jw);
    tp_json_end_object(&jw);
    size_t len;
    assert_int_equal(tp_json_writer_finish(&jw, &len), TP_OK);
    assert_string_equal(buf, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"n\":-42,\"u\":18446744073709551615,"
                             "\"l\":[true,null,-9223372036854775808,{}]}");
    assert_int_equal(len, strlen(buf));
    /* what we write, we read back */
    tp_json_token tokens[32];
    tp_json_doc doc;
    assert_int_equal(tp_json_parse(&doc, buf, len, tokens, 32), TP_OK);
    char s[32];
    size_t sl;
    assert_int_equal(tp_json_get_string(&doc, tp_json_object_get(&doc, 0, "s"), s, sizeof s, &sl), TP_OK);
    assert_memory_equal(s, "a\"b\\c\n\x01", 8);
    /* pretty form parses too */
    tp_json_writer_init(&jw, buf, sizeof buf, true);
    tp_json_begin_object(&jw);
    tp_json_key(&jw, "a");
    tp_json_begin_array(&jw);
    tp_json_uint64(&jw, 1);
    tp_json_uint64(&jw, 2);
    tp_json_end_array(&jw);
    tp_json_end_object(&jw);
    assert_int_equal(tp_json_writer_finish(&jw, &len), TP_OK);
    assert_string_equal(buf, "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n");
    assert_int_equal(tp_json_parse(&doc, buf, len, tokens, 32), TP_OK);
    /* a full buffer is a sticky TOO_BIG, never an overflow */
    char small[8];
    tp_json_writer_init(&jw, small, sizeof small, false);
    tp_json_begin_array(&jw);
    tp_json_string(&jw, "0123456789");
    tp_json_end_array(&jw);
    assert_int_equal(tp_json_writer_finish(&jw, &len), TP_ERR_TOO_BIG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_valid_documents),
        cmocka_unit_test(test_rejects_invalid_documents),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
