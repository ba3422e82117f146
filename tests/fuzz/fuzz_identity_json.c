/* tests/fuzz/fuzz_identity_json.c — identity.json parsing (and the strict JSON reader
 * under it). Properties: a parsed identity passes tp_identity_check, writes back to JSON
 * that parses to the same identity; the error message is always NUL-terminated. */
#include "fuzz.h"

#include "core/identity.h"
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    tp_identity id, again;
    char err[TP_IDENTITY_ERROR_SIZE];
    tp_err e = tp_identity_from_json(text, size, &id, err, sizeof err);
    FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
    if (e == TP_OK) {
        FUZZ_CHECK(tp_identity_check(&id) == TP_OK);
        char out[512];
        size_t n;
        FUZZ_CHECK(tp_identity_to_json(&id, out, sizeof out, &n) == TP_OK);
        FUZZ_CHECK(tp_identity_from_json(out, n, &again, err, sizeof err) == TP_OK);
        FUZZ_CHECK(memcmp(&id, &again, sizeof id) == 0);
    }
    /* the generic reader: token invariants */
    static tp_json_token tokens[256];
    tp_json_doc doc;
    if (tp_json_parse(&doc, text, size, tokens, 256) == TP_OK) {
        FUZZ_CHECK(doc.count >= 1 && tokens[0].skip == doc.count);
        for (size_t i = 0; i < doc.count; i++) {
            FUZZ_CHECK(tokens[i].end <= size && tokens[i].start <= tokens[i].end);
            FUZZ_CHECK(i + tokens[i].skip <= doc.count);
            if (tokens[i].type == TP_JSON_STRING) {
                static char s[4096];
                size_t len;
                (void)tp_json_get_string(&doc, i, s, sizeof s, &len);
            }
        }
    }
    return 0;
}
