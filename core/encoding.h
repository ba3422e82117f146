/* core/encoding.h — bounds-checked reader/writer cursors for every wire format.
 *
 * Octez: data_encoding (binary backend), as the P2P layer uses it (spec, "Conventions"
 * at the top of tezos-p2p.md). All integers are big-endian. Every decoder in tidepool
 * reads through a tp_reader and ends with tp_reader_end(), so a value consumes exactly
 * its input or fails (data_encoding's "Extra_bytes" is TP_ERR_DECODE_TRAILING).
 *
 * Ownership: a reader borrows (data, len) from its caller and never copies; views it
 * returns point into that buffer. A writer fills a caller-supplied buffer and never
 * allocates; writing past the capacity fails with TP_ERR_TOO_BIG and leaves the cursor
 * where it was. Both are plain values in the style of s2n's stuffer: no hidden state.
 */
#ifndef TP_ENCODING_H
#define TP_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* data_encoding's uint30: lengths of strings, bytes, lists and dynamic_size blocks. */
#define TP_UINT30_MAX ((uint32_t)0x3fffffff)

typedef struct tp_reader {
    const uint8_t *data;
    size_t len;
    size_t pos; /* bytes consumed; pos <= len always */
} tp_reader;

typedef struct tp_writer {
    uint8_t *data;
    size_t cap;
    size_t len; /* bytes written; len <= cap always */
} tp_writer;

/* ---- reader ------------------------------------------------------------------------ */

static inline void tp_reader_init(tp_reader *r, const uint8_t *data, size_t len) {
    TP_ASSERT(data != NULL || len == 0);
    r->data = data;
    r->len = len;
    r->pos = 0;
}

static inline size_t tp_reader_remaining(const tp_reader *r) {
    return r->len - r->pos;
}

/* TP_OK iff the whole input was consumed, else TP_ERR_DECODE_TRAILING. */
TP_MUST_USE tp_err tp_reader_end(const tp_reader *r);

/* Fixed-width big-endian integers. Errors: TP_ERR_DECODE_TRUNCATED. */
TP_MUST_USE tp_err tp_read_u8(tp_reader *r, uint8_t *out);
TP_MUST_USE tp_err tp_read_u16(tp_reader *r, uint16_t *out);
TP_MUST_USE tp_err tp_read_i16(tp_reader *r, int16_t *out);
TP_MUST_USE tp_err tp_read_u32(tp_reader *r, uint32_t *out);
TP_MUST_USE tp_err tp_read_i32(tp_reader *r, int32_t *out);
TP_MUST_USE tp_err tp_read_u64(tp_reader *r, uint64_t *out);
TP_MUST_USE tp_err tp_read_i64(tp_reader *r, int64_t *out);
/* data_encoding bool: any non-zero byte is true. */
TP_MUST_USE tp_err tp_read_bool(tp_reader *r, bool *out);
/* uint30 (4 bytes, < 2^30). Errors: TRUNCATED, DECODE_TOO_LONG (>= 2^30). */
TP_MUST_USE tp_err tp_read_uint30(tp_reader *r, uint32_t *out);

/* Copies n fixed bytes. Errors: TRUNCATED. */
TP_MUST_USE tp_err tp_read_bytes(tp_reader *r, void *out, size_t n);
/* Borrows n bytes (*out points into the reader's buffer). Errors: TRUNCATED. */
TP_MUST_USE tp_err tp_read_view(tp_reader *r, size_t n, const uint8_t **out);
/* Borrows everything left (Variable.string / Variable.bytes); never fails. */
void tp_read_rest(tp_reader *r, const uint8_t **out, size_t *n);

/* A normal string/bytes: uint30 length then the bytes, borrowed. A length above
 * max_len fails with TP_ERR_DECODE_TOO_LONG before anything is read past the prefix.
 * Errors: TRUNCATED, TOO_LONG. */
TP_MUST_USE tp_err tp_read_string(tp_reader *r, size_t max_len, const uint8_t **out,
                                  size_t *n);
/* A dynamic_size block (uint30 byte length then content): *sub is a reader over
 * exactly the content, and r moves past it. The caller decodes sub and must finish with
 * tp_reader_end(sub). Errors: TRUNCATED, TOO_LONG (length above max_len). */
TP_MUST_USE tp_err tp_read_dynamic(tp_reader *r, size_t max_len, tp_reader *sub);

/* ---- writer ------------------------------------------------------------------------ */

static inline void tp_writer_init(tp_writer *w, uint8_t *data, size_t cap) {
    TP_ASSERT(data != NULL || cap == 0);
    w->data = data;
    w->cap = cap;
    w->len = 0;
}

/* All writers fail with TP_ERR_TOO_BIG when the buffer is full (nothing written). */
TP_MUST_USE tp_err tp_write_u8(tp_writer *w, uint8_t v);
TP_MUST_USE tp_err tp_write_u16(tp_writer *w, uint16_t v);
TP_MUST_USE tp_err tp_write_i16(tp_writer *w, int16_t v);
TP_MUST_USE tp_err tp_write_u32(tp_writer *w, uint32_t v);
TP_MUST_USE tp_err tp_write_i32(tp_writer *w, int32_t v);
TP_MUST_USE tp_err tp_write_u64(tp_writer *w, uint64_t v);
TP_MUST_USE tp_err tp_write_i64(tp_writer *w, int64_t v);
/* Writes 0xff for true, 0x00 for false (Octez's writer). */
TP_MUST_USE tp_err tp_write_bool(tp_writer *w, bool v);
TP_MUST_USE tp_err tp_write_bytes(tp_writer *w, const void *data, size_t n);
/* uint30 length + bytes. Errors: TOO_BIG (also when n >= 2^30). */
TP_MUST_USE tp_err tp_write_string(tp_writer *w, const void *data, size_t n);

/* A size prefix written before its content is known: begin reserves `width` bytes
 * (2 for uint16 frames, 4 for uint30 dynamic_size) and returns the mark; end patches
 * the length of everything written since. end fails with TP_ERR_TOO_BIG if the length
 * does not fit the width. */
typedef struct tp_writer_mark {
    size_t pos;
    unsigned width;
} tp_writer_mark;
TP_MUST_USE tp_err tp_write_size_begin(tp_writer *w, unsigned width, tp_writer_mark *mark);
TP_MUST_USE tp_err tp_write_size_end(tp_writer *w, tp_writer_mark mark);

/* ---- big-endian helpers over raw memory ------------------------------------------- */

static inline uint16_t tp_be16_load(const uint8_t *p) {
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t tp_be32_load(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void tp_be16_store(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void tp_be32_store(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- hex (identity.json, CLI, tests) ---------------------------------------------- */

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). Returns out. */
char *tp_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2*n hex characters (either case) into n bytes. Errors: TP_ERR_BAD_HEX
 * (odd length, a non-hex character, or text_len != 2*n). */
TP_MUST_USE tp_err tp_hex_decode(const char *text, size_t text_len, uint8_t *out, size_t n);

#endif
