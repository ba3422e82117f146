/* core/encoding.c — data_encoding primitives over tp_reader / tp_writer (spec,
 * "Conventions"). */
#include "encoding.h"

#include <string.h>

tp_err tp_reader_end(const tp_reader *r) {
    return r->pos == r->len ? TP_OK : TP_ERR_DECODE_TRAILING;
}

static tp_err take(tp_reader *r, size_t n, const uint8_t **p) {
    if (tp_reader_remaining(r) < n) return TP_ERR_DECODE_TRUNCATED;
    *p = r->data + r->pos;
    r->pos += n;
    return TP_OK;
}

tp_err tp_read_u8(tp_reader *r, uint8_t *out) {
    const uint8_t *p;
    TP_TRY(take(r, 1, &p));
    *out = p[0];
    return TP_OK;
}

tp_err tp_read_u16(tp_reader *r, uint16_t *out) {
    const uint8_t *p;
    TP_TRY(take(r, 2, &p));
    *out = tp_be16_load(p);
    return TP_OK;
}

tp_err tp_read_i16(tp_reader *r, int16_t *out) {
    uint16_t v;
    TP_TRY(tp_read_u16(r, &v));
    *out = (int16_t)v; /* two's complement, as on the wire */
    return TP_OK;
}

tp_err tp_read_u32(tp_reader *r, uint32_t *out) {
    const uint8_t *p;
    TP_TRY(take(r, 4, &p));
    *out = tp_be32_load(p);
    return TP_OK;
}

tp_err tp_read_i32(tp_reader *r, int32_t *out) {
    uint32_t v;
    TP_TRY(tp_read_u32(r, &v));
    *out = (int32_t)v;
    return TP_OK;
}

tp_err tp_read_u64(tp_reader *r, uint64_t *out) {
    const uint8_t *p;
    TP_TRY(take(r, 8, &p));
    *out = (uint64_t)tp_be32_load(p) << 32 | tp_be32_load(p + 4);
    return TP_OK;
}

tp_err tp_read_i64(tp_reader *r, int64_t *out) {
    uint64_t v;
    TP_TRY(tp_read_u64(r, &v));
    *out = (int64_t)v;
    return TP_OK;
}

tp_err tp_read_bool(tp_reader *r, bool *out) {
    uint8_t v;
    TP_TRY(tp_read_u8(r, &v));
    *out = v != 0;
    return TP_OK;
}

tp_err tp_read_uint30(tp_reader *r, uint32_t *out) {
    if (tp_reader_remaining(r) < 4) return TP_ERR_DECODE_TRUNCATED;
    uint32_t v = tp_be32_load(r->data + r->pos);
    if (v > TP_UINT30_MAX) return TP_ERR_DECODE_TOO_LONG;
    r->pos += 4;
    *out = v;
    return TP_OK;
}

tp_err tp_read_bytes(tp_reader *r, void *out, size_t n) {
    const uint8_t *p;
    TP_TRY(take(r, n, &p));
    if (n > 0) memcpy(out, p, n);
    return TP_OK;
}

tp_err tp_read_view(tp_reader *r, size_t n, const uint8_t **out) {
    return take(r, n, out);
}

void tp_read_rest(tp_reader *r, const uint8_t **out, size_t *n) {
    *out = r->data + r->pos;
    *n = tp_reader_remaining(r);
    r->pos = r->len;
}

tp_err tp_read_string(tp_reader *r, size_t max_len, const uint8_t **out, size_t *n) {
    tp_reader save = *r;
    uint32_t len;
    TP_TRY(tp_read_uint30(r, &len));
    if (len > max_len) {
        *r = save;
        return TP_ERR_DECODE_TOO_LONG;
    }
    const uint8_t *p;
    tp_err e = take(r, len, &p);
    if (e != TP_OK) {
        *r = save;
        return e;
    }
    *out = p;
    *n = len;
    return TP_OK;
}

tp_err tp_read_dynamic(tp_reader *r, size_t max_len, tp_reader *sub) {
    const uint8_t *p;
    size_t n;
    TP_TRY(tp_read_string(r, max_len, &p, &n));
    tp_reader_init(sub, p, n);
    return TP_OK;
}

/* ---- writer ------------------------------------------------------------------------ */

static const uint8_t size_placeholder[4] = {0, 0, 0, 0};
static const char hex_digits[] = "0123456789abcdef";

static tp_err put(tp_writer *w, const void *data, size_t n) {
    if (w->cap - w->len < n) return TP_ERR_TOO_BIG;
    if (n > 0) memcpy(w->data + w->len, data, n);
    w->len += n;
    return TP_OK;
}

tp_err tp_write_u8(tp_writer *w, uint8_t v) {
    return put(w, &v, 1);
}

tp_err tp_write_u16(tp_writer *w, uint16_t v) {
    uint8_t b[2];
    tp_be16_store(b, v);
    return put(w, b, 2);
}

tp_err tp_write_i16(tp_writer *w, int16_t v) {
    return tp_write_u16(w, (uint16_t)v);
}

tp_err tp_write_u32(tp_writer *w, uint32_t v) {
    uint8_t b[4];
    tp_be32_store(b, v);
    return put(w, b, 4);
}

tp_err tp_write_i32(tp_writer *w, int32_t v) {
    return tp_write_u32(w, (uint32_t)v);
}

tp_err tp_write_u64(tp_writer *w, uint64_t v) {
    uint8_t b[8];
    tp_be32_store(b, (uint32_t)(v >> 32));
    tp_be32_store(b + 4, (uint32_t)v);
    return put(w, b, 8);
}

tp_err tp_write_i64(tp_writer *w, int64_t v) {
    return tp_write_u64(w, (uint64_t)v);
}

tp_err tp_write_bool(tp_writer *w, bool v) {
    return tp_write_u8(w, v ? 0xff : 0x00);
}

tp_err tp_write_bytes(tp_writer *w, const void *data, size_t n) {
    TP_ASSERT(data != NULL || n == 0);
    return put(w, data, n);
}

tp_err tp_write_string(tp_writer *w, const void *data, size_t n) {
    if (n > TP_UINT30_MAX) return TP_ERR_TOO_BIG;
    if (w->cap - w->len < 4 + n) return TP_ERR_TOO_BIG;
    TP_TRY(tp_write_u32(w, (uint32_t)n));
    return tp_write_bytes(w, data, n);
}

tp_err tp_write_size_begin(tp_writer *w, unsigned width, tp_writer_mark *mark) {
    TP_ASSERT(width == 2 || width == 4);
    size_t pos = w->len;
    TP_TRY(put(w, size_placeholder, width));
    mark->pos = pos;
    mark->width = width;
    return TP_OK;
}

tp_err tp_write_size_end(tp_writer *w, tp_writer_mark mark) {
    TP_ASSERT(mark.pos + mark.width <= w->len);
    size_t n = w->len - mark.pos - mark.width;
    if (mark.width == 2) {
        if (n > UINT16_MAX) return TP_ERR_TOO_BIG;
        tp_be16_store(w->data + mark.pos, (uint16_t)n);
    } else {
        if (n > TP_UINT30_MAX) return TP_ERR_TOO_BIG;
        tp_be32_store(w->data + mark.pos, (uint32_t)n);
    }
    return TP_OK;
}

/* ---- hex ---------------------------------------------------------------------------- */

char *tp_hex_encode(const uint8_t *in, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

tp_err tp_hex_decode(const char *text, size_t text_len, uint8_t *out, size_t n) {
    if (text_len != 2 * n) return TP_ERR_BAD_HEX;
    for (size_t i = 0; i < text_len; i++)
        if (hex_value(text[i]) < 0) return TP_ERR_BAD_HEX;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(hex_value(text[2 * i]) << 4 | hex_value(text[2 * i + 1]));
    return TP_OK;
}
