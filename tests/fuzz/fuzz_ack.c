/* tests/fuzz/fuzz_ack.c — Ack / Nack_v_0 / Nack{motive, points} decoding.
 * Properties: at most 100 points; decode(encode(decode(x))) equals decode(x); when
 * every point text of the input is canonical, encode(decode(x)) == x. */
#include "fuzz.h"

#include "core/message.h"

static bool same(const tp_ack *a, const tp_ack *b) {
    if (a->kind != b->kind || a->points_count != b->points_count) return false;
    if (a->kind == TP_NACK && a->motive != b->motive) return false;
    for (size_t i = 0; i < a->points_count; i++)
        if (!tp_point_eq(&a->points[i], &b->points[i])) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static tp_ack a, b;
    if (tp_ack_decode(data, size, &a) != TP_OK) return 0;
    FUZZ_CHECK(a.points_count <= TP_NACK_POINTS_MAX);
    static uint8_t out[TP_ACK_ENCODED_MAX];
    size_t n;
    FUZZ_CHECK(tp_ack_encode(&a, out, sizeof out, &n) == TP_OK);
    FUZZ_CHECK(tp_ack_decode(out, n, &b) == TP_OK);
    FUZZ_CHECK(same(&a, &b));
    /* Only non-canonical point texts (e.g. "[A::1]:1", "[0::1]:1") may change bytes. */
    if (a.kind != TP_NACK || a.points_count == 0)
        FUZZ_CHECK(n == size && memcmp(out, data, n) == 0);
    return 0;
}
