/* tests/fuzz/fuzz_connection_msg.c — tp_connection_msg_decode on arbitrary frames.
 * Property: whatever decodes re-encodes to exactly the input (the encoding is
 * canonical), and decoding never reads outside the input (ASan). */
#include "fuzz.h"

#include "core/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tp_connection_msg m;
    if (tp_connection_msg_decode(data, size, &m) != TP_OK) return 0;
    uint8_t *out = malloc(TP_CONNECTION_MSG_FRAME_MAX);
    size_t n;
    FUZZ_CHECK(tp_connection_msg_encode(&m, out, TP_CONNECTION_MSG_FRAME_MAX, &n) == TP_OK);
    FUZZ_CHECK(n == size && memcmp(out, data, size) == 0);
    free(out);
    return 0;
}
