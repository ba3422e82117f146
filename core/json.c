/* core/json.c — strict JSON tokenizer and writer (see json.h). */
#include "json.h"

#include <stdlib.h>
#include <string.h>

/* ---- reader ------------------------------------------------------------------------ */

typedef struct parser {
    tp_json_doc *doc;
    size_t cap;
    size_t pos;
} parser;

static tp_err fail(parser *p, tp_err e, const char *what, size_t at) {
    p->doc->error = what;
    p->doc->error_offset = at;
    return e;
}

static void skip_ws(parser *p) {
    const char *t = p->doc->text;
    while (p->pos < p->doc->len &&
           (t[p->pos] == ' ' || t[p->pos] == '\t' || t[p->pos] == '\n' || t[p->pos] == '\r'))
        p->pos++;
}

static tp_err new_token(parser *p, tp_json_type type, size_t start, size_t *idx) {
    if (p->doc->count >= p->cap) return fail(p, TP_ERR_TOO_BIG, "too many JSON values", start);
    tp_json_token *t = &p->doc->tokens[p->doc->count];
    t->type = (uint32_t)type;
    t->start = (uint32_t)start;
    t->end = (uint32_t)start;
    t->children = 0;
    t->skip = 1;
    *idx = p->doc->count++;
    return TP_OK;
}

static int hex4(const char *s) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Decodes one character of a validated string body at *i; returns the code point. */
static uint32_t str_next(const char *text, size_t *i) {
    const unsigned char *s = (const unsigned char *)text;
    size_t k = *i;
    if (s[k] != '\\') {
        size_t len = utf8_len(s + k, 4); /* validated: the bytes are there */
        uint32_t cp;
        if (len == 1) cp = s[k];
        else if (len == 2) cp = (uint32_t)(s[k] & 0x1f) << 6 | (s[k + 1] & 0x3f);
        else if (len == 3)
            cp = (uint32_t)(s[k] & 0x0f) << 12 | (uint32_t)(s[k + 1] & 0x3f) << 6 |
                 (s[k + 2] & 0x3f);
        else
            cp = (uint32_t)(s[k] & 0x07) << 18 | (uint32_t)(s[k + 1] & 0x3f) << 12 |
                 (uint32_t)(s[k + 2] & 0x3f) << 6 | (s[k + 3] & 0x3f);
        *i = k + len;
        return cp;
    }
    char e = text[k + 1];
    *i = k + 2;
    switch (e) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u': {
        uint32_t hi = (uint32_t)hex4(text + k + 2);
        *i = k + 6;
        if (hi >= 0xd800 && hi <= 0xdbff) {
            uint32_t lo = (uint32_t)hex4(text + k + 8);
            *i = k + 12;
            return 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
        }
        return hi;
    }
    default: return (uint32_t)(unsigned char)e; /* " \ / */
    }
}

static tp_err parse_string(parser *p, size_t *idx) {
    const char *t = p->doc->text;
    size_t n = p->doc->len;
    size_t open = p->pos;
    p->pos++; /* the quote */
    size_t start = p->pos;
    for (;;) {
        if (p->pos >= n) return fail(p, TP_ERR_DECODE_BAD_JSON, "unterminated string", open);
        unsigned char c = (unsigned char)t[p->pos];
        if (c == '"') break;
        if (c < 0x20)
            return fail(p, TP_ERR_DECODE_BAD_JSON, "control character in string (use \\n, \\t, ...)",
                        p->pos);
        if (c == '\\') {
            if (p->pos + 1 >= n)
                return fail(p, TP_ERR_DECODE_BAD_JSON, "unterminated string", open);
            char e = t[p->pos + 1];
            if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                e == 'r' || e == 't') {
                p->pos += 2;
                continue;
            }
            if (e != 'u') return fail(p, TP_ERR_DECODE_BAD_JSON, "invalid escape", p->pos);
            if (n - p->pos < 6 || hex4(t + p->pos + 2) < 0)
                return fail(p, TP_ERR_DECODE_BAD_JSON, "invalid \\u escape", p->pos);
            int cp = hex4(t + p->pos + 2);
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(p, TP_ERR_DECODE_BAD_JSON, "unpaired surrogate escape", p->pos);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (n - p->pos < 12 || t[p->pos + 6] != '\\' || t[p->pos + 7] != 'u' ||
                    hex4(t + p->pos + 8) < 0xdc00 || hex4(t + p->pos + 8) > 0xdfff)
                    return fail(p, TP_ERR_DECODE_BAD_JSON, "unpaired surrogate escape", p->pos);
                p->pos += 12;
            } else {
                p->pos += 6;
            }
            continue;
        }
        size_t len = utf8_len((const unsigned char *)t + p->pos, n - p->pos);
        if (len == 0) return fail(p, TP_ERR_DECODE_BAD_JSON, "invalid UTF-8 in string", p->pos);
        p->pos += len;
    }
    TP_TRY(new_token(p, TP_JSON_STRING, start, idx));
    p->doc->tokens[*idx].end = (uint32_t)p->pos;
    p->pos++; /* closing quote */
    return TP_OK;
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static tp_err parse_number(parser *p, size_t *idx) {
    const char *t = p->doc->text;
    size_t n = p->doc->len;
    size_t start = p->pos;
    if (p->pos < n && t[p->pos] == '-') p->pos++;
    if (p->pos >= n || !is_digit(t[p->pos]))
        return fail(p, TP_ERR_DECODE_BAD_JSON, "invalid number", start);
    if (t[p->pos] == '0') {
        p->pos++;
        if (p->pos < n && is_digit(t[p->pos]))
            return fail(p, TP_ERR_DECODE_BAD_JSON, "leading zero in number", start);
    } else {
        while (p->pos < n && is_digit(t[p->pos])) p->pos++;
    }
    if (p->pos < n && t[p->pos] == '.') {
        p->pos++;
        if (p->pos >= n || !is_digit(t[p->pos]))
            return fail(p, TP_ERR_DECODE_BAD_JSON, "digit expected after '.'", p->pos);
        while (p->pos < n && is_digit(t[p->pos])) p->pos++;
    }
    if (p->pos < n && (t[p->pos] == 'e' || t[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < n && (t[p->pos] == '+' || t[p->pos] == '-')) p->pos++;
        if (p->pos >= n || !is_digit(t[p->pos]))
            return fail(p, TP_ERR_DECODE_BAD_JSON, "digit expected in exponent", p->pos);
        while (p->pos < n && is_digit(t[p->pos])) p->pos++;
    }
    TP_TRY(new_token(p, TP_JSON_NUMBER, start, idx));
    p->doc->tokens[*idx].end = (uint32_t)p->pos;
    return TP_OK;
}

static bool strings_equal(const tp_json_doc *doc, size_t a, size_t b) {
    const tp_json_token *ta = &doc->tokens[a], *tb = &doc->tokens[b];
    size_t i = ta->start, j = tb->start;
    while (i < ta->end && j < tb->end)
        if (str_next(doc->text, &i) != str_next(doc->text, &j)) return false;
    return i == ta->end && j == tb->end;
}

static tp_err parse_value(parser *p, unsigned depth, size_t *idx);

static tp_err parse_container(parser *p, unsigned depth, bool object, size_t *idx) {
    tp_json_doc *doc = p->doc;
    if (depth >= TP_JSON_DEPTH_MAX)
        return fail(p, TP_ERR_TOO_BIG, "JSON nested too deeply", p->pos);
    size_t me;
    TP_TRY(new_token(p, object ? TP_JSON_OBJECT : TP_JSON_ARRAY, p->pos, &me));
    p->pos++; /* [ or { */
    skip_ws(p);
    char close = object ? '}' : ']';
    uint32_t children = 0;
    if (p->pos < doc->len && doc->text[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            skip_ws(p);
            if (object) {
                if (p->pos >= doc->len || doc->text[p->pos] != '"')
                    return fail(p, TP_ERR_DECODE_BAD_JSON, "expected a string key", p->pos);
                size_t key;
                TP_TRY(parse_string(p, &key));
                /* duplicate keys: compare with the earlier keys of this object */
                for (size_t k = me + 1; k < key; k = tp_json_next(doc, k + 1))
                    if (strings_equal(doc, k, key))
                        return fail(p, TP_ERR_DECODE_BAD_JSON, "duplicate key in object",
                                    doc->tokens[key].start - 1);
                skip_ws(p);
                if (p->pos >= doc->len || doc->text[p->pos] != ':')
                    return fail(p, TP_ERR_DECODE_BAD_JSON, "expected ':' after key", p->pos);
                p->pos++;
            }
            size_t child;
            TP_TRY(parse_value(p, depth + 1, &child));
            (void)child;
            children++;
            skip_ws(p);
            if (p->pos >= doc->len)
                return fail(p, TP_ERR_DECODE_BAD_JSON,
                            object ? "unterminated object (expected ',' or '}')"
                                   : "unterminated array (expected ',' or ']')",
                            p->pos);
            char c = doc->text[p->pos];
            if (c == ',') {
                p->pos++;
                continue;
            }
            if (c == close) {
                p->pos++;
                break;
            }
            return fail(p, TP_ERR_DECODE_BAD_JSON,
                        object ? "expected ',' or '}'" : "expected ',' or ']'", p->pos);
        }
    }
    doc->tokens[me].children = children;
    doc->tokens[me].end = (uint32_t)p->pos;
    doc->tokens[me].skip = (uint32_t)(doc->count - me);
    *idx = me;
    return TP_OK;
}

static tp_err parse_literal(parser *p, const char *word, tp_json_type type, size_t *idx) {
    size_t n = strlen(word);
    if (p->doc->len - p->pos < n || memcmp(p->doc->text + p->pos, word, n) != 0)
        return fail(p, TP_ERR_DECODE_BAD_JSON, "unexpected character (expected a JSON value)",
                    p->pos);
    TP_TRY(new_token(p, type, p->pos, idx));
    p->pos += n;
    p->doc->tokens[*idx].end = (uint32_t)p->pos;
    return TP_OK;
}

static tp_err parse_value(parser *p, unsigned depth, size_t *idx) {
    skip_ws(p);
    if (p->pos >= p->doc->len)
        return fail(p, TP_ERR_DECODE_BAD_JSON, "unexpected end of input (expected a value)",
                    p->pos);
    char c = p->doc->text[p->pos];
    switch (c) {
    case '{': return parse_container(p, depth, true, idx);
    case '[': return parse_container(p, depth, false, idx);
    case '"': return parse_string(p, idx);
    case 't': return parse_literal(p, "true", TP_JSON_TRUE, idx);
    case 'f': return parse_literal(p, "false", TP_JSON_FALSE, idx);
    case 'n': return parse_literal(p, "null", TP_JSON_NULL, idx);
    default:
        if (c == '-' || is_digit(c)) return parse_number(p, idx);
        return fail(p, TP_ERR_DECODE_BAD_JSON, "unexpected character (expected a JSON value)",
                    p->pos);
    }
}

tp_err tp_json_parse(tp_json_doc *doc, const char *text, size_t len, tp_json_token *tokens,
                     size_t cap) {
    TP_ASSERT(text != NULL || len == 0);
    doc->text = text;
    doc->len = len;
    doc->tokens = tokens;
    doc->count = 0;
    doc->error = NULL;
    doc->error_offset = 0;
    parser p = {doc, cap, 0};
    if (len >= UINT32_MAX) return fail(&p, TP_ERR_TOO_BIG, "JSON text too large", 0);
    size_t root;
    tp_err e = parse_value(&p, 0, &root);
    if (e == TP_OK) {
        skip_ws(&p);
        if (p.pos != len)
            e = fail(&p, TP_ERR_DECODE_BAD_JSON, "extra characters after the JSON value", p.pos);
    }
    if (e != TP_OK) doc->count = 0;
    return e;
}

void tp_json_position(const tp_json_doc *doc, size_t offset, size_t *line, size_t *col) {
    size_t l = 1, c = 1;
    for (size_t i = 0; i < offset && i < doc->len; i++) {
        if (doc->text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

const char *tp_json_type_name(tp_json_type t) {
    switch (t) {
    case TP_JSON_NULL: return "null";
    case TP_JSON_FALSE:
    case TP_JSON_TRUE: return "boolean";
    case TP_JSON_NUMBER: return "number";
    case TP_JSON_STRING: return "string";
    case TP_JSON_ARRAY: return "array";
    case TP_JSON_OBJECT: return "object";
    }
    return "unknown";
}

static size_t utf8_put(uint32_t cp, char out[4]);

bool tp_json_string_eq(const tp_json_doc *doc, size_t i, const char *s) {
    const tp_json_token *t = tp_json_tok(doc, i);
    if (t->type != TP_JSON_STRING) return false;
    /* Re-encode the token's characters as UTF-8 and compare with s byte by byte. */
    size_t k = t->start, j = 0, slen = strlen(s);
    while (k < t->end) {
        char buf[4];
        size_t m = utf8_put(str_next(doc->text, &k), buf);
        if (slen - j < m || memcmp(s + j, buf, m) != 0) return false;
        j += m;
    }
    return j == slen;
}

size_t tp_json_object_get(const tp_json_doc *doc, size_t obj, const char *key) {
    const tp_json_token *t = tp_json_tok(doc, obj);
    if (t->type != TP_JSON_OBJECT) return TP_JSON_NONE;
    size_t k = obj + 1;
    for (uint32_t m = 0; m < t->children; m++) {
        if (tp_json_string_eq(doc, k, key)) return k + 1;
        k = tp_json_next(doc, k + 1);
    }
    return TP_JSON_NONE;
}

static size_t utf8_put(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

tp_err tp_json_get_string(const tp_json_doc *doc, size_t i, char *out, size_t cap, size_t *len) {
    const tp_json_token *t = tp_json_tok(doc, i);
    if (t->type != TP_JSON_STRING) return TP_ERR_INVAL;
    size_t k = t->start, n = 0;
    while (k < t->end) {
        char buf[4];
        size_t m = utf8_put(str_next(doc->text, &k), buf);
        if (cap - n <= m) return TP_ERR_TOO_BIG; /* keep room for the NUL */
        memcpy(out + n, buf, m);
        n += m;
    }
    if (cap == 0) return TP_ERR_TOO_BIG;
    out[n] = '\0';
    *len = n;
    return TP_OK;
}

tp_err tp_json_get_int64(const tp_json_doc *doc, size_t i, int64_t *out) {
    const tp_json_token *t = tp_json_tok(doc, i);
    if (t->type != TP_JSON_NUMBER) return TP_ERR_INVAL;
    const char *s = doc->text + t->start;
    size_t n = t->end - t->start, k = 0;
    bool neg = false;
    if (s[0] == '-') {
        neg = true;
        k = 1;
    }
    uint64_t v = 0;
    for (; k < n; k++) {
        if (!is_digit(s[k])) return TP_ERR_INVAL; /* fraction or exponent */
        unsigned d = (unsigned)(s[k] - '0');
        if (v > (UINT64_MAX - d) / 10) return TP_ERR_DECODE_BAD_VALUE;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return TP_ERR_DECODE_BAD_VALUE;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return TP_ERR_DECODE_BAD_VALUE;
        *out = (int64_t)v;
    }
    return TP_OK;
}

tp_err tp_json_get_double(const tp_json_doc *doc, size_t i, double *out) {
    const tp_json_token *t = tp_json_tok(doc, i);
    if (t->type != TP_JSON_NUMBER) return TP_ERR_INVAL;
    char buf[64];
    size_t n = t->end - t->start;
    if (n >= sizeof buf) return TP_ERR_INVAL;
    memcpy(buf, doc->text + t->start, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL); /* JSON number syntax is a subset of strtod's (C locale) */
    return TP_OK;
}

tp_err tp_json_get_bool(const tp_json_doc *doc, size_t i, bool *out) {
    const tp_json_token *t = tp_json_tok(doc, i);
    if (t->type == TP_JSON_TRUE) *out = true;
    else if (t->type == TP_JSON_FALSE) *out = false;
    else return TP_ERR_INVAL;
    return TP_OK;
}

/* ---- writer ------------------------------------------------------------------------ */

static const char json_hex_digits[] = "0123456789abcdef";

void tp_json_writer_init(tp_json_writer *jw, char *buf, size_t cap, bool pretty) {
    TP_ASSERT(buf != NULL && cap > 0);
    tp_writer_init(&jw->out, (uint8_t *)buf, cap - 1); /* room for the final NUL */
    jw->err = TP_OK;
    jw->depth = 0;
    jw->pretty = pretty;
    jw->after_key = false;
    memset(jw->has_items, 0, sizeof jw->has_items);
}

static inline void emit(tp_json_writer *jw, const char *s, size_t n) {
    if (jw->err != TP_OK) return;
    tp_writer *w = &jw->out;
    if (w->cap - w->len < n) {
        jw->err = TP_ERR_TOO_BIG; /* what tp_write_bytes says; the writer is unchanged */
        return;
    }
    if (n > 0) memcpy(w->data + w->len, s, n);
    w->len += n;
}

static void emit_str(tp_json_writer *jw, const char *s) {
    emit(jw, s, strlen(s));
}

static void newline_indent(tp_json_writer *jw) {
    if (!jw->pretty) return;
    emit(jw, "\n", 1);
    for (unsigned i = 0; i < jw->depth; i++) emit(jw, "  ", 2);
}

/* Before any value or key: the separator and indentation. */
static void before_item(tp_json_writer *jw) {
    if (jw->after_key) {
        jw->after_key = false;
        return;
    }
    if (jw->depth > 0) {
        if (jw->has_items[jw->depth]) emit(jw, ",", 1);
        newline_indent(jw);
        jw->has_items[jw->depth] = true;
    }
}

static void begin(tp_json_writer *jw, const char *open) {
    before_item(jw);
    TP_ASSERT(jw->depth < TP_JSON_DEPTH_MAX);
    emit_str(jw, open);
    jw->depth++;
    jw->has_items[jw->depth] = false;
}

static void end(tp_json_writer *jw, const char *close) {
    TP_ASSERT(jw->depth > 0 && !jw->after_key);
    bool had = jw->has_items[jw->depth];
    jw->depth--;
    if (had) newline_indent(jw);
    emit_str(jw, close);
}

void tp_json_begin_object(tp_json_writer *jw) {
    begin(jw, "{");
}
void tp_json_end_object(tp_json_writer *jw) {
    end(jw, "}");
}
void tp_json_begin_array(tp_json_writer *jw) {
    begin(jw, "[");
}
void tp_json_end_array(tp_json_writer *jw) {
    end(jw, "]");
}

static void write_escaped(tp_json_writer *jw, const char *s, size_t n) {
    /* the common case: nothing to escape, one copy */
    size_t plain = 0;
    while (plain < n) {
        unsigned char c = (unsigned char)s[plain];
        if (c < 0x20 || c == '"' || c == '\\') break;
        plain++;
    }
    if (plain == n && jw->err == TP_OK && jw->out.cap - jw->out.len >= n + 2) {
        uint8_t *o = jw->out.data + jw->out.len;
        o[0] = '"';
        memcpy(o + 1, s, n);
        o[n + 1] = '"';
        jw->out.len += n + 2;
        return;
    }
    emit(jw, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        emit(jw, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = json_hex_digits[c >> 4];
            esc[5] = json_hex_digits[c & 15];
            elen = 6;
        }
        emit(jw, esc, elen);
    }
    emit(jw, s + run, n - run);
    emit(jw, "\"", 1);
}

void tp_json_key(tp_json_writer *jw, const char *key) {
    TP_ASSERT(jw->depth > 0 && !jw->after_key);
    before_item(jw);
    write_escaped(jw, key, strlen(key));
    emit(jw, jw->pretty ? ": " : ":", jw->pretty ? 2 : 1);
    jw->after_key = true;
}

void tp_json_string_n(tp_json_writer *jw, const char *s, size_t n) {
    before_item(jw);
    write_escaped(jw, s, n);
}

void tp_json_string(tp_json_writer *jw, const char *s) {
    tp_json_string_n(jw, s, strlen(s));
}

void tp_json_uint64(tp_json_writer *jw, uint64_t v) {
    before_item(jw);
    char buf[24];
    size_t k = sizeof buf;
    do {
        buf[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    emit(jw, buf + k, sizeof buf - k);
}

void tp_json_int64(tp_json_writer *jw, int64_t v) {
    if (v < 0) {
        before_item(jw);
        emit(jw, "-", 1);
        jw->after_key = true; /* the digits follow without a separator */
        tp_json_uint64(jw, (uint64_t)0 - (uint64_t)v);
    } else {
        tp_json_uint64(jw, (uint64_t)v);
    }
}

void tp_json_bool(tp_json_writer *jw, bool v) {
    before_item(jw);
    emit_str(jw, v ? "true" : "false");
}

void tp_json_null(tp_json_writer *jw) {
    before_item(jw);
    emit_str(jw, "null");
}

tp_err tp_json_writer_finish(tp_json_writer *jw, size_t *len) {
    TP_ASSERT(jw->depth == 0 && !jw->after_key);
    if (jw->pretty) emit(jw, "\n", 1);
    if (jw->err != TP_OK) return jw->err;
    jw->out.data[jw->out.len] = '\0'; /* the byte reserved at init */
    *len = jw->out.len;
    return TP_OK;
}
