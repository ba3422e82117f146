/* core/json.h — a small strict JSON (RFC 8259) reader and writer for core's files:
 * identity.json now, peers.json and the node config later.
 *
 * core/ may depend on libsodium only, hence this module. Octez reads these files with
 * data_encoding's JSON backend (Ezjsonm); tidepool's reader is stricter than most:
 * - exactly one value, surrounded only by JSON whitespace; no BOM, no comments, no
 *   trailing commas, no leading zeros, no NaN/Infinity;
 * - strings: valid UTF-8, no raw control characters, escapes checked (surrogates must
 *   pair); duplicate keys in one object are an error;
 * - nesting depth at most TP_JSON_DEPTH_MAX, token count at most the caller's array.
 *
 * Reader: a jsmn-style tokenizer. The caller supplies the token array; tokens point into
 * the caller's text (which must outlive the doc). No allocation. Token 0 is the root.
 * An object's tokens are key, value, key, value, ... (keys are STRING tokens).
 *
 * Writer: appends to a caller buffer with a sticky error (TP_ERR_TOO_BIG when full), so
 * a sequence of calls is checked once at the end with tp_json_writer_finish().
 */
#ifndef TP_JSON_H
#define TP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encoding.h"
#include "err.h"

#define TP_JSON_DEPTH_MAX 32
#define TP_JSON_NONE SIZE_MAX /* "no such token" */

typedef enum tp_json_type {
    TP_JSON_NULL,
    TP_JSON_FALSE,
    TP_JSON_TRUE,
    TP_JSON_NUMBER,
    TP_JSON_STRING,
    TP_JSON_ARRAY,
    TP_JSON_OBJECT,
} tp_json_type;

typedef struct tp_json_token {
    uint32_t type;     /* tp_json_type */
    uint32_t start;    /* byte offset in the text; strings exclude their quotes */
    uint32_t end;      /* one past the last byte */
    uint32_t children; /* array: elements; object: members (key/value pairs) */
    uint32_t skip;     /* tokens in this subtree, itself included */
} tp_json_token;

typedef struct tp_json_doc {
    const char *text;
    size_t len;
    tp_json_token *tokens;
    size_t count;
    /* after a failed parse: */
    const char *error;   /* static description, e.g. "expected ',' or '}'" */
    size_t error_offset; /* byte offset of the problem */
} tp_json_doc;

/* Parses text[0..len) into tokens[0..cap). Errors: TP_ERR_DECODE_BAD_JSON (doc->error
 * and doc->error_offset say what and where), TP_ERR_TOO_BIG (more tokens than cap,
 * text above 4 GiB, or nesting deeper than TP_JSON_DEPTH_MAX; doc->error says which). */
TP_MUST_USE tp_err tp_json_parse(tp_json_doc *doc, const char *text, size_t len,
                                 tp_json_token *tokens, size_t cap);

/* 1-based line and column (in bytes) of a byte offset, for messages like
 * "identity.json:3:14: ...". */
void tp_json_position(const tp_json_doc *doc, size_t offset, size_t *line, size_t *col);

static inline const tp_json_token *tp_json_tok(const tp_json_doc *doc, size_t i) {
    TP_ASSERT(i < doc->count);
    return &doc->tokens[i];
}
static inline tp_json_type tp_json_type_of(const tp_json_doc *doc, size_t i) {
    return (tp_json_type)tp_json_tok(doc, i)->type;
}
/* The token after the subtree at i (the next sibling, when there is one). */
static inline size_t tp_json_next(const tp_json_doc *doc, size_t i) {
    return i + tp_json_tok(doc, i)->skip;
}
/* Name of a type for messages ("string", "object", ...). */
const char *tp_json_type_name(tp_json_type t);

/* The value of member `key` of object token obj, or TP_JSON_NONE. */
size_t tp_json_object_get(const tp_json_doc *doc, size_t obj, const char *key);
/* True iff string token i decodes to exactly the NUL-terminated `s`. */
bool tp_json_string_eq(const tp_json_doc *doc, size_t i, const char *s);

/* Decoded (unescaped) string token i into out, NUL-terminated; *len excludes the NUL.
 * Errors: TP_ERR_INVAL (not a string), TP_ERR_TOO_BIG (cap too small). */
TP_MUST_USE tp_err tp_json_get_string(const tp_json_doc *doc, size_t i, char *out, size_t cap,
                                      size_t *len);
/* An integer number token (no fraction, no exponent) in int64 range.
 * Errors: TP_ERR_INVAL (not an integer number), TP_ERR_DECODE_BAD_VALUE (out of range). */
TP_MUST_USE tp_err tp_json_get_int64(const tp_json_doc *doc, size_t i, int64_t *out);
/* Any number token as a double. Errors: TP_ERR_INVAL (not a number). */
TP_MUST_USE tp_err tp_json_get_double(const tp_json_doc *doc, size_t i, double *out);
/* Errors: TP_ERR_INVAL (not true/false). */
TP_MUST_USE tp_err tp_json_get_bool(const tp_json_doc *doc, size_t i, bool *out);

/* ---- writer ------------------------------------------------------------------------ */

typedef struct tp_json_writer {
    tp_writer out;
    tp_err err;
    unsigned depth;
    bool pretty;
    bool after_key;
    bool has_items[TP_JSON_DEPTH_MAX + 1];
} tp_json_writer;

/* pretty: members on their own lines, indented by two spaces. */
void tp_json_writer_init(tp_json_writer *jw, char *buf, size_t cap, bool pretty);
void tp_json_begin_object(tp_json_writer *jw);
void tp_json_end_object(tp_json_writer *jw);
void tp_json_begin_array(tp_json_writer *jw);
void tp_json_end_array(tp_json_writer *jw);
/* An object key (must be inside an object, before each value). */
void tp_json_key(tp_json_writer *jw, const char *key);
void tp_json_string(tp_json_writer *jw, const char *s);
void tp_json_string_n(tp_json_writer *jw, const char *s, size_t n);
void tp_json_int64(tp_json_writer *jw, int64_t v);
void tp_json_uint64(tp_json_writer *jw, uint64_t v);
void tp_json_bool(tp_json_writer *jw, bool v);
void tp_json_null(tp_json_writer *jw);
/* Checks that every container was closed, appends a newline when pretty, and a NUL
 * (not counted in *len). Errors: TP_ERR_TOO_BIG (buffer too small). */
TP_MUST_USE tp_err tp_json_writer_finish(tp_json_writer *jw, size_t *len);

#endif
