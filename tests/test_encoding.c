/* tests/test_encoding.c — data_encoding primitives (core/encoding), hex and Base58. */
#include "vectors.h"

#include "core/base58.h"
#include "core/encoding.h"

static void test_read_integers_big_endian(void **state) {
    (void)state;
    const uint8_t in[] = {0x12, 0x34, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x01, 0x01, 0x02,
                          0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x7f};
    tp_reader r;
    tp_reader_init(&r, in, sizeof in);
    uint16_t u16;
    int16_t i16;
    int32_t i32;
    uint64_t u64;
    bool b1, b2;
    assert_int_equal(tp_read_u16(&r, &u16), TP_OK);
    assert_int_equal(u16, 0x1234);
    assert_int_equal(tp_read_i16(&r, &i16), TP_OK);
    assert_int_equal(i16, -2);
    assert_int_equal(tp_read_i32(&r, &i32), TP_OK);
    assert_int_equal(i32, (int32_t)0x80000001u);
    assert_int_equal(tp_read_u64(&r, &u64), TP_OK);
    assert_true(u64 == 0x0102030405060708ull);
    assert_int_equal(tp_read_bool(&r, &b1), TP_OK);
    assert_int_equal(tp_read_bool(&r, &b2), TP_OK);
    assert_false(b1);
    assert_true(b2); /* any non-zero byte is true */
    assert_int_equal(tp_reader_end(&r), TP_OK);
    assert_int_equal(tp_read_u8(&r, (uint8_t *)&b1), TP_ERR_DECODE_TRUNCATED);
}

static void test_read_truncated_and_trailing(void **state) {
    (void)state;
    const uint8_t in[] = {0x00, 0x00, 0x00};
    tp_reader r;
    tp_reader_init(&r, in, sizeof in);
    uint32_t v = 77;
    assert_int_equal(tp_read_u32(&r, &v), TP_ERR_DECODE_TRUNCATED);
    assert_int_equal(v, 77);     /* out-param untouched */
    assert_int_equal(r.pos, 0);  /* nothing consumed */
    uint16_t w;
    assert_int_equal(tp_read_u16(&r, &w), TP_OK);
    assert_int_equal(tp_reader_end(&r), TP_ERR_DECODE_TRAILING);
}

static void test_read_string_bounds(void **state) {
    (void)state;
    const uint8_t ok[] = {0, 0, 0, 3, 'a', 'b', 'c'};
    const uint8_t short_body[] = {0, 0, 0, 4, 'a', 'b', 'c'};
    const uint8_t huge[] = {0x40, 0, 0, 0, 'a'}; /* 2^30: not a uint30 */
    const uint8_t *p;
    size_t n;
    tp_reader r;
    tp_reader_init(&r, ok, sizeof ok);
    assert_int_equal(tp_read_string(&r, 3, &p, &n), TP_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "abc", 3);
    tp_reader_init(&r, ok, sizeof ok);
    assert_int_equal(tp_read_string(&r, 2, &p, &n), TP_ERR_DECODE_TOO_LONG);
    assert_int_equal(r.pos, 0);
    tp_reader_init(&r, short_body, sizeof short_body);
    assert_int_equal(tp_read_string(&r, 100, &p, &n), TP_ERR_DECODE_TRUNCATED);
    tp_reader_init(&r, huge, sizeof huge);
    assert_int_equal(tp_read_string(&r, SIZE_MAX, &p, &n), TP_ERR_DECODE_TOO_LONG);
    tp_reader sub;
    tp_reader_init(&r, ok, sizeof ok);
    assert_int_equal(tp_read_dynamic(&r, 10, &sub), TP_OK);
    assert_int_equal(tp_reader_remaining(&sub), 3);
    assert_int_equal(tp_reader_end(&r), TP_OK);
}

static void test_writer_roundtrip_and_overflow(void **state) {
    (void)state;
    uint8_t buf[32];
    tp_writer w;
    tp_writer_init(&w, buf, sizeof buf);
    tp_writer_mark mark;
    assert_int_equal(tp_write_size_begin(&w, 4, &mark), TP_OK);
    assert_int_equal(tp_write_u16(&w, 0xabcd), TP_OK);
    assert_int_equal(tp_write_bool(&w, true), TP_OK);
    assert_int_equal(tp_write_bool(&w, false), TP_OK);
    assert_int_equal(tp_write_string(&w, "xy", 2), TP_OK);
    assert_int_equal(tp_write_i64(&w, -1), TP_OK);
    assert_int_equal(tp_write_size_end(&w, mark), TP_OK);
    const uint8_t expect[] = {0, 0, 0, 18, 0xab, 0xcd, 0xff, 0x00, 0, 0, 0, 2, 'x', 'y',
                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(w.len, sizeof expect);
    assert_memory_equal(buf, expect, sizeof expect);
    /* overflow: nothing is written, the cursor stays */
    uint8_t small[3];
    tp_writer_init(&w, small, sizeof small);
    assert_int_equal(tp_write_u16(&w, 1), TP_OK);
    assert_int_equal(tp_write_u16(&w, 2), TP_ERR_TOO_BIG);
    assert_int_equal(w.len, 2);
    assert_int_equal(tp_write_string(&w, "", 0), TP_ERR_TOO_BIG);
    /* a u16 size prefix that cannot hold its content */
    static uint8_t big[70000], src[65536];
    tp_writer_init(&w, big, sizeof big);
    assert_int_equal(tp_write_size_begin(&w, 2, &mark), TP_OK);
    assert_int_equal(tp_write_bytes(&w, src, 65536), TP_OK);
    assert_int_equal(tp_write_size_end(&w, mark), TP_ERR_TOO_BIG);
}

static void test_hex(void **state) {
    (void)state;
    uint8_t b[3];
    char out[7];
    assert_int_equal(tp_hex_decode("00fFa5", 6, b, 3), TP_OK);
    assert_string_equal(tp_hex_encode(b, 3, out), "00ffa5");
    assert_int_equal(tp_hex_decode("00ffa", 5, b, 3), TP_ERR_BAD_HEX);
    assert_int_equal(tp_hex_decode("00ffa5", 6, b, 2), TP_ERR_BAD_HEX);
    assert_int_equal(tp_hex_decode("00fga5", 6, b, 3), TP_ERR_BAD_HEX);
}

static void test_base58_known_values(void **state) {
    (void)state;
    /* Bitcoin's classic examples; leading zero bytes become '1's. */
    char out[TP_BASE58_TEXT_MAX];
    size_t n;
    const uint8_t hello[] = "hello world";
    assert_int_equal(tp_base58_encode(hello, 11, out, sizeof out, &n), TP_OK);
    assert_string_equal(out, "StV1DL6CwTryKyV");
    const uint8_t zeros[] = {0, 0, 1};
    assert_int_equal(tp_base58_encode(zeros, 3, out, sizeof out, &n), TP_OK);
    assert_string_equal(out, "112");
    uint8_t back[16];
    assert_int_equal(tp_base58_decode("112", 3, back, sizeof back, &n), TP_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(back, zeros, 3);
    assert_int_equal(tp_base58_decode("StV1DL6CwTryKyV", 15, back, sizeof back, &n), TP_OK);
    assert_memory_equal(back, hello, 11);
    /* negative: characters outside the alphabet, empty, too small buffer */
    assert_int_equal(tp_base58_decode("0OIl", 4, back, sizeof back, &n), TP_ERR_BAD_BASE58);
    assert_int_equal(tp_base58_decode("", 0, back, sizeof back, &n), TP_ERR_BAD_BASE58);
    assert_int_equal(tp_base58_decode("StV1DL6CwTryKyV", 15, back, 4, &n), TP_ERR_TOO_BIG);
    assert_int_equal(tp_base58_encode(hello, 11, out, 5, &n), TP_ERR_TOO_BIG);
}

/* The textbook digit-at-a-time conversion (what tp_base58_encode computed before it
 * worked in base 58^5 limbs), to check the fast one against. */
static void base58_reference(const uint8_t *in, size_t n, char *out) {
    static const char alpha[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    size_t zeros = 0;
    while (zeros < n && in[zeros] == 0) zeros++;
    uint8_t digits[TP_BASE58_TEXT_MAX];
    size_t nd = 0;
    for (size_t i = zeros; i < n; i++) {
        unsigned carry = in[i];
        for (size_t j = 0; j < nd; j++) {
            carry += (unsigned)digits[j] << 8;
            digits[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry > 0) {
            digits[nd++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < zeros; i++) out[k++] = '1';
    for (size_t i = 0; i < nd; i++) out[k++] = alpha[digits[nd - 1 - i]];
    out[k] = '\0';
}

static void test_base58_matches_reference(void **state) {
    (void)state;
    /* every length 0..TP_BASE58_BYTES_MAX, random bytes with 0-3 leading zeros, and the
     * extremes (all 0x00, all 0xff); deterministic xorshift stream */
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    uint8_t in[TP_BASE58_BYTES_MAX];
    char got[TP_BASE58_TEXT_MAX], want[TP_BASE58_TEXT_MAX];
    for (int round = 0; round < 20; round++) {
        for (size_t n = 0; n <= TP_BASE58_BYTES_MAX; n++) {
            for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                in[i] = round == 0 ? 0x00 : round == 1 ? 0xff : (uint8_t)x;
            }
            for (size_t i = 0; i < n && i < (size_t)(round % 4); i++) in[i] = 0;
            size_t len = 0;
            assert_int_equal(tp_base58_encode(in, n, got, sizeof got, &len), TP_OK);
            base58_reference(in, n, want);
            assert_string_equal(got, want);
            assert_int_equal(len, strlen(want));
        }
    }
}

static void test_base58check_peer_id_vectors(void **state) {
    (void)state;
    vec_file *v = vec_open("handshake_vectors.json");
    static const uint8_t prefix[2] = {0x99, 0x67};
    uint8_t zero[16] = {0}, ff[16];
    memset(ff, 0xff, sizeof ff);
    char out[64];
    size_t n;
    char *want_zero = vec_string_at(v, vec_get(v, "b58check_examples", "peer_id_of_zero_hash"));
    char *want_ff = vec_string_at(v, vec_get(v, "b58check_examples", "peer_id_of_ff_hash"));
    assert_int_equal(tp_base58check_encode(prefix, 2, zero, 16, out, sizeof out, &n), TP_OK);
    assert_string_equal(out, want_zero);
    assert_int_equal(n, 30);
    assert_int_equal(tp_base58check_encode(prefix, 2, ff, 16, out, sizeof out, &n), TP_OK);
    assert_string_equal(out, want_ff);
    uint8_t back[16];
    assert_int_equal(tp_base58check_decode(want_ff, 30, prefix, 2, back, 16), TP_OK);
    assert_memory_equal(back, ff, 16);
    /* one changed character breaks the checksum */
    char bad[31];
    memcpy(bad, want_ff, 31);
    bad[29] = bad[29] == 'D' ? 'E' : 'D';
    assert_int_equal(tp_base58check_decode(bad, 30, prefix, 2, back, 16), TP_ERR_BAD_CHECKSUM);
    /* right checksum, wrong prefix */
    static const uint8_t other[2] = {0x06, 0xa1};
    assert_int_equal(tp_base58check_decode(want_ff, 30, other, 2, back, 16), TP_ERR_BAD_PREFIX);
    /* right checksum, wrong payload length */
    assert_int_equal(tp_base58check_encode(prefix, 2, ff, 15, out, sizeof out, &n), TP_OK);
    assert_int_equal(tp_base58check_decode(out, n, prefix, 2, back, 16), TP_ERR_BAD_PREFIX);
    free(want_zero);
    free(want_ff);
    vec_close(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_integers_big_endian),
        cmocka_unit_test(test_read_truncated_and_trailing),
        cmocka_unit_test(test_read_string_bounds),
        cmocka_unit_test(test_writer_roundtrip_and_overflow),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base58_known_values),
        cmocka_unit_test(test_base58_matches_reference),
        cmocka_unit_test(test_base58check_peer_id_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
