/* tests/fuzz/fuzz_p2p_msg.c — P2P message frames (u32 size | u16 tag | payload) with a
 * small application registry. Properties: points <= 100; application payloads within
 * their registered maximum; decode(encode(decode(x))) equals decode(x). */
#include "fuzz.h"

#include "core/message.h"

static const tp_app_msg_def defs[] = {
    {0x10, 64, "text"}, {0x11, 0, "empty"}, {0x1234, 1000, "blob"}};
static const tp_app_registry reg = {defs, 3};

static bool same(const tp_p2p_msg *a, const tp_p2p_msg *b) {
    if (a->tag != b->tag || a->points_count != b->points_count) return false;
    for (size_t i = 0; i < a->points_count; i++)
        if (!tp_point_eq(&a->points[i], &b->points[i])) return false;
    if (a->tag == TP_MSG_SWAP_ACK || a->tag == TP_MSG_SWAP_REQUEST)
        if (!tp_peer_id_eq(&a->peer_id, &b->peer_id)) return false;
    if (a->app != b->app || a->payload_len != b->payload_len) return false;
    return a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static tp_p2p_msg a, b;
    if (tp_p2p_msg_decode(data, size, &reg, &a) != TP_OK) return 0;
    FUZZ_CHECK(a.points_count <= TP_ADVERTISE_POINTS_MAX);
    if (a.tag >= TP_MSG_APP_FIRST) FUZZ_CHECK(a.app != NULL && a.payload_len <= a.app->max_len);
    static uint8_t out[8192];
    size_t n;
    FUZZ_CHECK(tp_p2p_msg_encode(&a, out, sizeof out, &n) == TP_OK);
    FUZZ_CHECK(tp_p2p_msg_decode(out, n, &reg, &b) == TP_OK);
    FUZZ_CHECK(same(&a, &b));
    if (a.points_count == 0) FUZZ_CHECK(n == size && memcmp(out, data, n) == 0);
    return 0;
}
