/* lua/chain_msg.c — the block workload's wire format (see chain_msg.h): strict decoding
 * through a tp_reader, and the encoder it inverts. */
#include "lua/chain_msg.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/encoding.h"

const char *tl_chain_tag_name(uint16_t tag) {
    switch (tag) {
    case TL_TAG_GET_CURRENT_HEAD: return "get_current_head";
    case TL_TAG_CURRENT_HEAD: return "current_head";
    case TL_TAG_GET_BLOCK_HEADERS: return "get_block_headers";
    case TL_TAG_BLOCK_HEADER: return "block_header";
    case TL_TAG_GET_OPERATIONS_FOR_BLOCKS: return "get_operations_for_blocks";
    case TL_TAG_OPERATIONS_FOR_BLOCKS: return "operations_for_blocks";
    default: return NULL;
    }
}

static tp_err fail(tp_err e, char *why, size_t why_cap, uint16_t tag, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Writes "<message>: <problem>" into why (if any); returns e. */
static tp_err fail(tp_err e, char *why, size_t why_cap, uint16_t tag, const char *fmt, ...) {
    if (why == NULL || why_cap == 0) return e;
    const char *name = tl_chain_tag_name(tag);
    int n = name ? snprintf(why, why_cap, "%s: ", name)
                 : snprintf(why, why_cap, "tag 0x%04x: ", (unsigned)tag);
    if (n < 0 || (size_t)n >= why_cap) return e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why + n, why_cap - (size_t)n, fmt, ap);
    va_end(ap);
    return e;
}

/* A u32 the caller has checked is there. */
static uint32_t read_u32_present(tp_reader *r) {
    uint32_t v = 0;
    tp_err e = tp_read_u32(r, &v);
    TP_ASSERT(e == TP_OK);
    return v;
}

/* Every byte of r's remainder is zero; else the offset of the first that is not. */
static bool rest_zero(tp_reader *r, size_t *bad) {
    const uint8_t *p;
    size_t n;
    tp_read_rest(r, &p, &n);
    for (size_t k = 0; k < n; k++)
        if (p[k] != 0) {
            *bad = (size_t)(p + k - r->data);
            return false;
        }
    return true;
}

static tp_err decode_header(uint16_t tag, const uint8_t *p, size_t len, tl_chain_header *h,
                            char *why, size_t why_cap) {
    if (len < TL_CHAIN_HEADER_FIXED)
        return fail(TP_ERR_DECODE_TRUNCATED, why, why_cap, tag,
                    "%zu bytes, a header has at least %u", len, TL_CHAIN_HEADER_FIXED);
    if (len > TL_HEADER_BYTES_MAX)
        return fail(TP_ERR_DECODE_TOO_LONG, why, why_cap, tag,
                    "%zu bytes, a header has at most %u", len, TL_HEADER_BYTES_MAX);
    tp_reader r;
    tp_reader_init(&r, p, len);
    tl_chain_header v = {.header_bytes = (uint32_t)len};
    v.block = read_u32_present(&r);
    v.pred = read_u32_present(&r);
    v.level = read_u32_present(&r);
    v.ops_bytes = read_u32_present(&r);
    if (v.block == TL_GENESIS) {
        if (len != TL_CHAIN_HEADER_FIXED)
            return fail(TP_ERR_DECODE_TRAILING, why, why_cap, tag,
                        "the genesis header is %u bytes, got %zu", TL_CHAIN_HEADER_FIXED, len);
        if (v.pred != TL_GENESIS || v.level != 0 || v.ops_bytes != 0)
            return fail(TP_ERR_DECODE_BAD_VALUE, why, why_cap, tag,
                        "the genesis header is {genesis, genesis, level 0, 0 operation "
                        "bytes}, got predecessor %" PRIu32 ", level %" PRIu32
                        ", %" PRIu32 " operation bytes",
                        v.pred, v.level, v.ops_bytes);
    } else {
        if (v.block >= TL_BLOCKS_MAX)
            return fail(TP_ERR_DECODE_BAD_VALUE, why, why_cap, tag,
                        "bytes 0..3: block id %" PRIu32 " above the maximum %u", v.block,
                        TL_BLOCKS_MAX - 1);
        /* a block's predecessor was made before it: the genesis at level 1, else an
         * earlier block at level >= 2 */
        if (v.pred == TL_GENESIS ? v.level != 1 : (v.pred >= v.block || v.level < 2))
            return fail(TP_ERR_DECODE_BAD_VALUE, why, why_cap, tag,
                        "bytes 4..11: block %" PRIu32 " at level %" PRIu32
                        " cannot have predecessor %" PRIu32
                        " (the genesis is the predecessor at level 1 only; any other is an "
                        "earlier block)",
                        v.block, v.level, v.pred);
        if (v.ops_bytes > TL_OPS_BYTES_MAX)
            return fail(TP_ERR_DECODE_TOO_LONG, why, why_cap, tag,
                        "bytes 12..15: %" PRIu32 " operation bytes, at most %u",
                        v.ops_bytes, TL_OPS_BYTES_MAX);
        size_t bad;
        if (!rest_zero(&r, &bad))
            return fail(TP_ERR_DECODE_BAD_VALUE, why, why_cap, tag,
                        "padding byte %zu is 0x%02x, must be 0", bad, p[bad]);
    }
    TP_ASSERT(tp_reader_end(&r) == TP_OK);
    *h = v;
    return TP_OK;
}

static tp_err decode_ids(uint16_t tag, const uint8_t *p, size_t len, tl_chain_msg *m,
                         char *why, size_t why_cap) {
    if (len == 0)
        return fail(TP_ERR_DECODE_TRUNCATED, why, why_cap, tag, "no block id (1 to %u)",
                    TL_CHAIN_IDS_MAX);
    if (len > 4 * TL_CHAIN_IDS_MAX)
        return fail(TP_ERR_DECODE_TOO_LONG, why, why_cap, tag,
                    "%zu bytes, at most %u block ids (%u bytes)", len, TL_CHAIN_IDS_MAX,
                    4 * TL_CHAIN_IDS_MAX);
    if (len % 4 != 0)
        return fail(TP_ERR_DECODE_TRUNCATED, why, why_cap, tag,
                    "%zu bytes is not a whole number of 4-byte block ids", len);
    tp_reader r;
    tp_reader_init(&r, p, len);
    uint32_t n = (uint32_t)(len / 4);
    for (uint32_t k = 0; k < n; k++) {
        m->ids[k] = read_u32_present(&r);
        if (m->ids[k] >= TL_BLOCKS_MAX)
            return fail(TP_ERR_DECODE_BAD_VALUE, why, why_cap, tag,
                        "id %" PRIu32 " (bytes %" PRIu32 "..%" PRIu32
                        ") is %" PRIu32 ", above the maximum block id %u",
                        k + 1, 4 * k, 4 * k + 3, m->ids[k], TL_BLOCKS_MAX - 1);
    }
    TP_ASSERT(tp_reader_end(&r) == TP_OK);
    m->ids_count = n;
    return TP_OK;
}

static tp_err decode_ops(uint16_t tag, const uint8_t *p, size_t len, tl_chain_msg *m,
                         char *why, size_t why_cap) {
    tp_reader r;
    tp_reader_init(&r, p, len);
    uint32_t block;
    if (tp_read_u32(&r, &block) != TP_OK)
        return fail(TP_ERR_DECODE_TRUNCATED, why, why_cap, tag,
                    "%zu bytes, the block id needs 4", len);
    if (block >= TL_BLOCKS_MAX)
        return fail(TP_ERR_DECODE_BAD_VALUE, why, why_cap, tag,
                    "bytes 0..3: block id %" PRIu32 " above the maximum %u (the genesis "
                    "has no operations)",
                    block, TL_BLOCKS_MAX - 1);
    if (len - 4 > TL_OPS_BYTES_MAX)
        return fail(TP_ERR_DECODE_TOO_LONG, why, why_cap, tag,
                    "%zu operation bytes, at most %u", len - 4, TL_OPS_BYTES_MAX);
    size_t bad;
    if (!rest_zero(&r, &bad))
        return fail(TP_ERR_DECODE_BAD_VALUE, why, why_cap, tag,
                    "operation byte %zu is 0x%02x, must be 0", bad, p[bad]);
    m->block = block;
    m->ops_bytes = (uint32_t)(len - 4);
    return TP_OK;
}

tp_err tl_chain_decode(uint16_t tag, const uint8_t *p, size_t len, tl_chain_msg *out,
                       char *why, size_t why_cap) {
    TP_ASSERT(p != NULL || len == 0);
    TP_ASSERT(out != NULL);
    tl_chain_msg m;
    memset(&m, 0, sizeof m);
    m.tag = tag;
    tp_err e;
    switch (tag) {
    case TL_TAG_GET_CURRENT_HEAD:
        e = len == 0 ? TP_OK
                     : fail(TP_ERR_DECODE_TRAILING, why, why_cap, tag,
                            "%zu bytes, the message has no payload", len);
        break;
    case TL_TAG_CURRENT_HEAD:
    case TL_TAG_BLOCK_HEADER: e = decode_header(tag, p, len, &m.header, why, why_cap); break;
    case TL_TAG_GET_BLOCK_HEADERS:
    case TL_TAG_GET_OPERATIONS_FOR_BLOCKS: e = decode_ids(tag, p, len, &m, why, why_cap); break;
    case TL_TAG_OPERATIONS_FOR_BLOCKS: e = decode_ops(tag, p, len, &m, why, why_cap); break;
    default:
        e = fail(TP_ERR_DECODE_BAD_TAG, why, why_cap, tag,
                 "not a message of the block workload (tags 0x%02x..0x%02x)",
                 TL_TAG_GET_CURRENT_HEAD, TL_TAG_OPERATIONS_FOR_BLOCKS);
        break;
    }
    if (e == TP_OK) *out = m;
    return e;
}

size_t tl_chain_encoded_len(const tl_chain_msg *msg) {
    switch (msg->tag) {
    case TL_TAG_GET_CURRENT_HEAD: return 0;
    case TL_TAG_CURRENT_HEAD:
    case TL_TAG_BLOCK_HEADER: return msg->header.header_bytes;
    case TL_TAG_GET_BLOCK_HEADERS:
    case TL_TAG_GET_OPERATIONS_FOR_BLOCKS: return 4 * (size_t)msg->ids_count;
    case TL_TAG_OPERATIONS_FOR_BLOCKS: return 4 + (size_t)msg->ops_bytes;
    default: TP_UNREACHABLE(); /* not a tag of the block workload */
    }
}

size_t tl_chain_encode_header(const tl_chain_header *h, uint8_t *buf) {
    TP_ASSERT(h->header_bytes >= TL_CHAIN_HEADER_FIXED);
    memset(buf, 0, h->header_bytes);
    tp_be32_store(buf, h->block);
    tp_be32_store(buf + 4, h->pred);
    tp_be32_store(buf + 8, h->level);
    tp_be32_store(buf + 12, h->ops_bytes);
    return h->header_bytes;
}

size_t tl_chain_encode(const tl_chain_msg *msg, uint8_t *buf, size_t cap) {
    size_t n = tl_chain_encoded_len(msg);
    if (n > cap) return 0;
    switch (msg->tag) {
    case TL_TAG_CURRENT_HEAD:
    case TL_TAG_BLOCK_HEADER: return tl_chain_encode_header(&msg->header, buf);
    case TL_TAG_GET_BLOCK_HEADERS:
    case TL_TAG_GET_OPERATIONS_FOR_BLOCKS:
        TP_ASSERT(msg->ids_count <= TL_CHAIN_IDS_MAX);
        for (uint32_t k = 0; k < msg->ids_count; k++) tp_be32_store(buf + 4 * k, msg->ids[k]);
        return n;
    case TL_TAG_OPERATIONS_FOR_BLOCKS:
        memset(buf, 0, n);
        tp_be32_store(buf, msg->block);
        return n;
    default: return 0; /* Get_current_head: nothing to write */
    }
}
