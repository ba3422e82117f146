/* tests/vectors.h — helpers for tests that read ../shared/vectors (TP_SHARED_DIR).
 *
 * Loads a JSON vector file with core's strict JSON reader and fetches values by key
 * paths. Header-only; every helper fails the running cmocka test on a missing file or
 * key, so a test can never silently compare against nothing.
 */
#ifndef TP_TESTS_VECTORS_H
#define TP_TESTS_VECTORS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/encoding.h"
#include "core/json.h"

#define VEC_UNUSED __attribute__((unused))

typedef struct vec_file {
    char *text;
    size_t len;
    tp_json_doc doc;
    tp_json_token tokens[4096];
} vec_file;

/* Reads a whole file (relative to TP_SHARED_DIR/vectors) into a malloc'd buffer. */
VEC_UNUSED static char *vec_read_file(const char *rel, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/vectors/%s", TP_SHARED_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL) fail_msg("cannot open vector file %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

VEC_UNUSED static vec_file *vec_open(const char *rel) {
    vec_file *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->text = vec_read_file(rel, &v->len);
    tp_err e = tp_json_parse(&v->doc, v->text, v->len, v->tokens, 4096);
    if (e != TP_OK) fail_msg("%s: %s at byte %zu", rel, v->doc.error, v->doc.error_offset);
    return v;
}

VEC_UNUSED static void vec_close(vec_file *v) {
    free(v->text);
    free(v);
}

/* Token index of a key path (NULL-terminated list of keys) from the root. */
VEC_UNUSED static size_t vec_find(vec_file *v, ...) {
    va_list ap;
    va_start(ap, v);
    size_t at = 0;
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        at = tp_json_object_get(&v->doc, at, key);
        if (at == TP_JSON_NONE) fail_msg("vector key \"%s\" not found", key);
    }
    va_end(ap);
    return at;
}

/* A string value as a malloc'd C string. */
VEC_UNUSED static char *vec_string_at(vec_file *v, size_t at) {
    char *out = malloc(v->len + 1);
    size_t n;
    assert_non_null(out);
    assert_int_equal(tp_json_get_string(&v->doc, at, out, v->len + 1, &n), TP_OK);
    return out;
}

/* Decodes hex text into a malloc'd buffer. */
VEC_UNUSED static uint8_t *vec_unhex(const char *hex, size_t *n) {
    size_t len = strlen(hex);
    assert_true(len % 2 == 0);
    uint8_t *out = malloc(len / 2 + 1);
    assert_non_null(out);
    assert_int_equal(tp_hex_decode(hex, len, out, len / 2), TP_OK);
    *n = len / 2;
    return out;
}

/* The hex string at the token as bytes (malloc'd). */
VEC_UNUSED static uint8_t *vec_hex_at(vec_file *v, size_t at, size_t *n) {
    char *s = vec_string_at(v, at);
    uint8_t *b = vec_unhex(s, n);
    free(s);
    return b;
}

/* Copies a hex value of exactly n bytes into out. */
VEC_UNUSED static void vec_hex_exact(vec_file *v, size_t at, uint8_t *out, size_t n) {
    size_t got;
    uint8_t *b = vec_hex_at(v, at, &got);
    assert_int_equal(got, n);
    memcpy(out, b, n);
    free(b);
}

#define vec_get(v, ...) vec_find((v), __VA_ARGS__, (const char *)NULL)

#endif
