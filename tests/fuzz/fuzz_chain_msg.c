/* tests/fuzz/fuzz_chain_msg.c — the block workload's messages (lua/chain_msg.c:
 * tl_chain_decode, which lua/chain.c calls on every payload of tags 0x30..0x35 before
 * checking it against the run).
 *
 * Input layout: byte 0 picks the tag, 0x2f + byte % 8 (0x30..0x35 are the workload's;
 * 0x2f and 0x36 are not), the rest is the payload.
 *
 * Properties. Failure: the code is a TP_ERR_DECODE_* (BAD_TAG exactly for a tag that is
 * not the workload's), the out-param is untouched, and the text names the message (or
 * the tag) and is NUL-terminated within its buffer, also a buffer too small for it.
 * Success: the message is the tag's, its fields are within their bounds (1..10 ids below
 * TL_BLOCKS_MAX; a header of 16..8192 bytes whose size is the payload's; operations
 * of at most 1 MiB), and it re-encodes to exactly the payload (the format is
 * canonical: no two byte strings decode to the same message) — and not into a buffer
 * one byte short. Decoding is deterministic and ignores the why buffer. An
 * Operations_for_blocks over 1 MiB is beyond the fuzzer's input size: tests/test_blocks.c
 * (decode_negative) covers it. */
#include "fuzz.h"

#include "lua/chain_msg.h"

static bool is_decode_error(tp_err e) {
    return e == TP_ERR_DECODE_TRUNCATED || e == TP_ERR_DECODE_TRAILING ||
           e == TP_ERR_DECODE_TOO_LONG || e == TP_ERR_DECODE_BAD_TAG ||
           e == TP_ERR_DECODE_BAD_VALUE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint16_t tag = (uint16_t)(0x2f + data[0] % 8);
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    const char *name = tl_chain_tag_name(tag);

    tl_chain_msg m, m2;
    memset(&m, 0xa5, sizeof m);
    memset(&m2, 0x5a, sizeof m2);
    char why[256] = {0};
    tp_err e = tl_chain_decode(tag, len ? p : NULL, len, &m, why, sizeof why);
    tp_err e2 = tl_chain_decode(tag, len ? p : NULL, len, &m2, NULL, 0);
    FUZZ_CHECK(e == e2);

    if (e != TP_OK) {
        FUZZ_CHECK(is_decode_error(e));
        FUZZ_CHECK((e == TP_ERR_DECODE_BAD_TAG) == (name == NULL));
        tl_chain_msg canary;
        memset(&canary, 0xa5, sizeof canary);
        FUZZ_CHECK(memcmp(&m, &canary, sizeof m) == 0);
        FUZZ_CHECK(memchr(why, 0, sizeof why) != NULL);
        if (name != NULL) {
            FUZZ_CHECK(strncmp(why, name, strlen(name)) == 0 && why[strlen(name)] == ':');
        } else {
            FUZZ_CHECK(strncmp(why, "tag 0x", 6) == 0);
        }
        FUZZ_CHECK(strlen(why) > strlen(name ? name : "tag 0x0000") + 2);
        /* a short buffer still ends in NUL, and holds a prefix of the full text */
        char small[12];
        memset(small, 'x', sizeof small);
        FUZZ_CHECK(tl_chain_decode(tag, len ? p : NULL, len, &m2, small, sizeof small) == e);
        FUZZ_CHECK(memchr(small, 0, sizeof small) != NULL);
        FUZZ_CHECK(strncmp(small, why, strlen(small)) == 0);
        return 0;
    }

    FUZZ_CHECK(name != NULL);
    FUZZ_CHECK(memcmp(&m, &m2, sizeof m) == 0);
    FUZZ_CHECK(m.tag == tag);
    switch (tag) {
    case TL_TAG_GET_CURRENT_HEAD: FUZZ_CHECK(len == 0); break;
    case TL_TAG_CURRENT_HEAD:
    case TL_TAG_BLOCK_HEADER: {
        const tl_chain_header *h = &m.header;
        FUZZ_CHECK(h->header_bytes == len);
        FUZZ_CHECK(len >= TL_CHAIN_HEADER_FIXED && len <= TL_HEADER_BYTES_MAX);
        if (h->block == TL_GENESIS) {
            FUZZ_CHECK(len == TL_CHAIN_HEADER_FIXED && h->pred == TL_GENESIS &&
                       h->level == 0 && h->ops_bytes == 0);
        } else {
            FUZZ_CHECK(h->block < TL_BLOCKS_MAX && h->level >= 1);
            FUZZ_CHECK(h->pred == TL_GENESIS ? h->level == 1 : h->pred < h->block);
            FUZZ_CHECK(h->ops_bytes <= TL_OPS_BYTES_MAX);
        }
        break;
    }
    case TL_TAG_GET_BLOCK_HEADERS:
    case TL_TAG_GET_OPERATIONS_FOR_BLOCKS:
        FUZZ_CHECK(m.ids_count >= 1 && m.ids_count <= TL_CHAIN_IDS_MAX);
        FUZZ_CHECK(4 * (size_t)m.ids_count == len);
        for (uint32_t k = 0; k < m.ids_count; k++) FUZZ_CHECK(m.ids[k] < TL_BLOCKS_MAX);
        break;
    case TL_TAG_OPERATIONS_FOR_BLOCKS:
        FUZZ_CHECK(m.block < TL_BLOCKS_MAX && m.ops_bytes <= TL_OPS_BYTES_MAX);
        FUZZ_CHECK(4 + (size_t)m.ops_bytes == len);
        break;
    default: FUZZ_CHECK(!"a decoded message of an unknown tag");
    }

    /* canonical: re-encodes to exactly the payload */
    FUZZ_CHECK(tl_chain_encoded_len(&m) == len);
    uint8_t *buf = malloc(len + 1);
    FUZZ_CHECK(buf != NULL);
    memset(buf, 0xee, len + 1);
    FUZZ_CHECK(tl_chain_encode(&m, buf, len) == len);
    FUZZ_CHECK(len == 0 || memcmp(buf, p, len) == 0);
    FUZZ_CHECK(buf[len] == 0xee);
    if (len > 0) {
        memset(buf, 0xee, len + 1);
        FUZZ_CHECK(tl_chain_encode(&m, buf, len - 1) == 0);
        for (size_t k = 0; k <= len; k++) FUZZ_CHECK(buf[k] == 0xee);
    }
    free(buf);
    return 0;
}
