/* tests/fuzz/fuzz_peers_json.c — the peers.json reader (core/peers_json.c, spec §5.8) and
 * the RFC 3339 parser under it, on a pool over tests/mock_env.h.
 *
 * Properties: a load either succeeds or fails with a non-empty, NUL-terminated message
 * and an untouched pool (no peer registered); after a successful load the pool encodes,
 * that text loads into a fresh pool, and the fresh pool encodes to the same bytes (the
 * writer's output is a fixed point of the reader); tp_rfc3339_parse of the raw input,
 * when it succeeds, gives a value whose tp_rfc3339_format parses back to the same value,
 * and a failed parse leaves the out-param alone; nothing leaks (the mock env counts
 * every byte, ASan the rest). */
#include "fuzz.h"

#include "core/peers_json.h"
#include "tests/mock_env.h"

/* Encodes the pool into a malloc'd buffer, growing it on TP_ERR_TOO_BIG. */
static char *encode(const tp_pool *pool, size_t *len) {
    size_t cap = 64 * 1024;
    for (;;) {
        char *buf = malloc(cap);
        FUZZ_CHECK(buf != NULL);
        tp_err e = tp_peers_json_encode(pool, buf, cap, len);
        if (e == TP_OK) {
            FUZZ_CHECK(*len < cap && buf[*len] == '\0');
            return buf;
        }
        free(buf);
        FUZZ_CHECK(e == TP_ERR_TOO_BIG && cap < 2 * TP_PEERS_JSON_MAX);
        cap *= 2;
    }
}

static void pool_init(tp_pool *pool, mock_env *m) {
    mock_env_init(m, 1);
    tp_pool_config pc;
    tp_pool_config_default(&pc);
    tp_pool_init(pool, &m->env, &pc, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;

    /* RFC 3339 on the raw bytes */
    int64_t ns = 0x5a5a5a5a;
    if (tp_rfc3339_parse(text, size, &ns) == TP_OK) {
        char buf[TP_RFC3339_MAX];
        tp_rfc3339_format(ns, buf);
        int64_t back = 0;
        FUZZ_CHECK(tp_rfc3339_parse(buf, strlen(buf), &back) == TP_OK);
        FUZZ_CHECK(back == ns);
    } else {
        FUZZ_CHECK(ns == 0x5a5a5a5a);
    }

    /* the reader */
    static mock_env m1, m2; /* big (timer table): kept out of the stack */
    static tp_pool p1, p2;
    pool_init(&p1, &m1);
    char err[TP_PEERS_JSON_ERROR_SIZE];
    memset(err, 'x', sizeof err);
    size_t loaded = 12345;
    tp_err e = tp_peers_json_load(&p1, "peers.json", text, size, &loaded, err, sizeof err);
    if (e != TP_OK) {
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
        FUZZ_CHECK(err[0] != '\0' && err[0] != 'x');
        uint32_t it = 0;
        FUZZ_CHECK(tp_pool_next_peer(&p1, &it) == NULL); /* all-or-nothing */
    } else {
        size_t len_a, len_b;
        char *a = encode(&p1, &len_a);
        pool_init(&p2, &m2);
        e = tp_peers_json_load(&p2, "peers.json", a, len_a, NULL, err, sizeof err);
        if (e != TP_OK) {
            fprintf(stderr, "re-load failed: %s\n--- encoded:\n%s\n", err, a);
            FUZZ_CHECK(e == TP_OK);
        }
        char *b = encode(&p2, &len_b);
        if (len_a != len_b || memcmp(a, b, len_a) != 0) {
            fprintf(stderr, "--- first encoding:\n%s\n--- second encoding:\n%s\n", a, b);
            FUZZ_CHECK(len_a == len_b && memcmp(a, b, len_a) == 0);
        }
        free(a);
        free(b);
        tp_pool_deinit(&p2);
        FUZZ_CHECK(mock_env_bytes_allocated(&m2) == 0);
    }
    tp_pool_deinit(&p1);
    FUZZ_CHECK(mock_env_bytes_allocated(&m1) == 0);
    return 0;
}
