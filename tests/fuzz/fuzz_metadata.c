/* tests/fuzz/fuzz_metadata.c — connection metadata and the discovery datagram.
 * Properties: metadata decodes only from exactly 2 bytes and decode(encode(m)) == m;
 * a decoded discovery datagram re-encodes to the input. */
#include "fuzz.h"

#include "core/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tp_metadata m, m2;
    if (tp_metadata_decode(data, size, &m) == TP_OK) {
        FUZZ_CHECK(size == 2);
        uint8_t out[2];
        tp_metadata_encode(&m, out);
        FUZZ_CHECK(tp_metadata_decode(out, 2, &m2) == TP_OK);
        FUZZ_CHECK(m.disable_mempool == m2.disable_mempool && m.private_node == m2.private_node);
        FUZZ_CHECK((data[0] != 0) == m.disable_mempool && (data[1] != 0) == m.private_node);
    }
    tp_peer_id id;
    uint16_t port;
    if (tp_discovery_msg_decode(data, size, &id, &port) == TP_OK) {
        uint8_t out[TP_DISCOVERY_MSG_SIZE];
        FUZZ_CHECK(tp_discovery_msg_encode(&id, port, out) == TP_OK);
        FUZZ_CHECK(size == TP_DISCOVERY_MSG_SIZE && memcmp(out, data, size) == 0);
    }
    return 0;
}
