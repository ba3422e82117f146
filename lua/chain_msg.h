/* lua/chain_msg.h — the wire format of the block workload's messages (lua/chain.c),
 * as pure functions: no run, no node, no Lua, so tests and the fuzzer
 * (tests/fuzz/fuzz_chain_msg.c) call them on bare bytes.
 *
 * The messages stand in for src/lib_shell/distributed_db_message.ml's Get_current_head,
 * Current_head, Get_block_headers, Block_header, Get_operations_for_blocks and
 * Operations_for_blocks (application tags 0x30..0x35). All integers are big-endian u32.
 *
 *   Get_current_head        empty
 *   Current_head, Block_header   a header: block id, predecessor id, level, operation
 *                           bytes, then zero padding up to the header's size (16 ..
 *                           TL_HEADER_BYTES_MAX bytes). The genesis header
 *                           (id TL_GENESIS) is exactly the 16 fixed bytes
 *                           {TL_GENESIS, TL_GENESIS, 0, 0}.
 *   Get_block_headers, Get_operations_for_blocks   1..TL_CHAIN_IDS_MAX block ids
 *                           (distributed_db_message.ml: max_length 10)
 *   Operations_for_blocks   block id, then the block's operation bytes, all zero
 *                           (one message for all validation passes)
 *
 * tl_chain_decode checks the format only; whether the ids name blocks of the run and
 * the fields match them is lua/chain.c's check (a message can be well formed and still
 * malformed for a given run). Tidepool differs from Octez here on purpose: the bytes
 * are a model (ids and sizes), not Octez's encodings. */
#ifndef TP_LUA_CHAIN_MSG_H
#define TP_LUA_CHAIN_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum {
    TL_TAG_GET_CURRENT_HEAD = 0x30,
    TL_TAG_CURRENT_HEAD = 0x31,
    TL_TAG_GET_BLOCK_HEADERS = 0x32,
    TL_TAG_BLOCK_HEADER = 0x33,
    TL_TAG_GET_OPERATIONS_FOR_BLOCKS = 0x34,
    TL_TAG_OPERATIONS_FOR_BLOCKS = 0x35,
};
#define TL_GENESIS UINT32_MAX          /* the predecessor of the first block */
#define TL_BLOCKS_MAX 65536u
#define TL_HEADER_BYTES_MAX 8192u      /* distributed_db_message.ml: block_header_max_size */
#define TL_OPS_BYTES_MAX (1u << 20)
#define TL_CHAIN_IDS_MAX 10u           /* get_block_headers / operations max_length */
#define TL_CHAIN_HEADER_FIXED 16u      /* id, predecessor, level, ops bytes */

typedef struct tl_chain_header {
    uint32_t block, pred, level, ops_bytes;
    uint32_t header_bytes; /* the whole header, padding included */
} tl_chain_header;

/* One decoded message; only the fields of its tag are meaningful. */
typedef struct tl_chain_msg {
    uint16_t tag;
    tl_chain_header header;             /* CURRENT_HEAD, BLOCK_HEADER */
    uint32_t ids_count;                 /* GET_BLOCK_HEADERS, GET_OPERATIONS_FOR_BLOCKS */
    uint32_t ids[TL_CHAIN_IDS_MAX];
    uint32_t block, ops_bytes;          /* OPERATIONS_FOR_BLOCKS */
} tl_chain_msg;

/* The message's name ("current_head"), or NULL for a tag that is not the workload's. */
const char *tl_chain_tag_name(uint16_t tag);

/* Decodes the payload p[0..len) of a message with the given tag, strictly: the payload
 * is consumed exactly, counts and sizes are within their maxima, ids are below
 * TL_BLOCKS_MAX, padding is zero. On TP_OK writes *out (and nothing else); on error
 * leaves *out alone and, if why is not NULL, writes a NUL-terminated text naming the
 * message, the problem and the byte offset (e.g. "block_header: padding byte 17 is
 * 0x01, must be 0") into why[0..why_cap). Errors: TP_ERR_DECODE_BAD_TAG (not a tag of
 * the workload), _TRUNCATED, _TRAILING, _TOO_LONG, _BAD_VALUE. Never asserts on the
 * bytes. */
TP_MUST_USE tp_err tl_chain_decode(uint16_t tag, const uint8_t *p, size_t len,
                                   tl_chain_msg *out, char *why, size_t why_cap);

/* The payload size of msg (the fields of msg->tag), as tl_chain_encode writes it. */
size_t tl_chain_encoded_len(const tl_chain_msg *msg);

/* Encodes msg's payload into buf[0..cap); returns its length, 0 if cap is too small
 * (Get_current_head's payload is empty: 0 as well). Whatever tl_chain_decode accepts
 * encodes back to exactly the same bytes. Asserts msg->tag is a workload tag. */
size_t tl_chain_encode(const tl_chain_msg *msg, uint8_t *buf, size_t cap);

/* Fills the header fields of msg and returns its encoding size; a shorthand of
 * tl_chain_encode for the workload's hot path. buf must hold h->header_bytes. */
size_t tl_chain_encode_header(const tl_chain_header *h, uint8_t *buf);

#endif
