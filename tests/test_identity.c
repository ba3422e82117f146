/* tests/test_identity.c — keys, peer ids, proof of work and identity.json (core/identity,
 * spec §1), against ../shared/vectors. */
#include "vectors.h"

#include <math.h>
#include <sodium.h>

#include "core/identity.h"

/* ---- helpers ------------------------------------------------------------------------- */

/* Decimal text of a 256-bit little-endian integer (schoolbook division by 10). */
static void le256_to_decimal(const uint8_t le[32], char *out, size_t cap) {
    uint8_t be[32];
    for (int i = 0; i < 32; i++) be[i] = le[31 - i];
    char digits[100];
    size_t nd = 0;
    for (;;) {
        bool zero = true;
        for (int i = 0; i < 32; i++) zero = zero && be[i] == 0;
        if (zero) break;
        unsigned rem = 0;
        for (int i = 0; i < 32; i++) {
            unsigned cur = rem * 256 + be[i];
            be[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
        }
        digits[nd++] = (char)('0' + rem);
    }
    if (nd == 0) digits[nd++] = '0';
    assert_true(nd < cap);
    for (size_t i = 0; i < nd; i++) out[i] = digits[nd - 1 - i];
    out[nd] = '\0';
}

static void load_identity_vector(vec_file *v, const char *who, tp_identity *id) {
    vec_hex_exact(v, vec_get(v, "identities", who, "public_key"), id->public_key, 32);
    vec_hex_exact(v, vec_get(v, "identities", who, "secret_key"), id->secret_key, 32);
    vec_hex_exact(v, vec_get(v, "identities", who, "proof_of_work_stamp"), id->pow_stamp, 24);
    tp_peer_id_of_public_key(id->public_key, &id->peer_id);
}

/* ---- peer ids ------------------------------------------------------------------------ */

static void test_peer_id_vectors(void **state) {
    (void)state;
    vec_file *v = vec_open("handshake_vectors.json");
    const char *who[] = {"A", "B"};
    for (int i = 0; i < 2; i++) {
        tp_identity id;
        load_identity_vector(v, who[i], &id);
        uint8_t want[16];
        vec_hex_exact(v, vec_get(v, "identities", who[i], "peer_id_hex"), want, 16);
        assert_memory_equal(id.peer_id.bytes, want, 16);
        char *b58 = vec_string_at(v, vec_get(v, "identities", who[i], "peer_id_b58"));
        char text[TP_PEER_ID_TEXT_SIZE];
        assert_string_equal(tp_peer_id_to_b58(&id.peer_id, text), b58);
        tp_peer_id back;
        assert_int_equal(tp_peer_id_of_b58(b58, strlen(b58), &back), TP_OK);
        assert_true(tp_peer_id_eq(&back, &id.peer_id));
        assert_int_equal(tp_identity_check(&id), TP_OK);
        free(b58);
    }
    /* negative: garbage, wrong checksum, a valid b58check that is not a peer id */
    tp_peer_id out;
    assert_int_equal(tp_peer_id_of_b58("idssJHDL1z8fkryZaYVF9fQRMktoW0", 30, &out),
                     TP_ERR_BAD_BASE58);
    assert_int_equal(tp_peer_id_of_b58("idssJHDL1z8fkryZaYVF9fQRMktoWh", 30, &out),
                     TP_ERR_BAD_CHECKSUM);
    /* a tz1 address: valid Base58Check, other prefix and length */
    assert_int_equal(tp_peer_id_of_b58("tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx", 36, &out),
                     TP_ERR_BAD_PREFIX);
    assert_int_equal(tp_peer_id_of_b58("1234", 4, &out), TP_ERR_BAD_CHECKSUM);
    vec_close(v);
}

/* ---- proof of work ------------------------------------------------------------------- */

static void test_pow_target_table(void **state) {
    (void)state;
    vec_file *v = vec_open("handshake_vectors.json");
    size_t table = vec_get(v, "pow_targets_le_uint256_hex");
    const tp_json_token *t = tp_json_tok(&v->doc, table);
    assert_int_equal(t->children, 10);
    size_t k = table + 1;
    for (uint32_t i = 0; i < t->children; i++) {
        char *key = vec_string_at(v, k);
        double difficulty = strtod(key, NULL);
        uint8_t want_be[32];
        vec_hex_exact(v, k + 1, want_be, 32);
        tp_pow_target target;
        assert_int_equal(tp_pow_target_of_difficulty(difficulty, &target), TP_OK);
        for (int b = 0; b < 32; b++) {
            if (target.le[31 - b] != want_be[b])
                fail_msg("target(%s): byte %d is %02x, expected %02x", key, b,
                         target.le[31 - b], want_be[b]);
        }
        free(key);
        k = tp_json_next(&v->doc, k + 1);
    }
    tp_pow_target target;
    assert_int_equal(tp_pow_target_of_difficulty(-0.5, &target), TP_ERR_BAD_DIFFICULTY);
    assert_int_equal(tp_pow_target_of_difficulty(256.01, &target), TP_ERR_BAD_DIFFICULTY);
    assert_int_equal(tp_pow_target_of_difficulty(NAN, &target), TP_ERR_BAD_DIFFICULTY);
    assert_int_equal(tp_pow_target_of_difficulty(INFINITY, &target), TP_ERR_BAD_DIFFICULTY);
    vec_close(v);
}

static void test_pow_cited_vector(void **state) {
    (void)state;
    vec_file *v = vec_open("cited_vectors.json");
    uint8_t pk[32], stamp[24], want_hash[32], hash[32], buf[56];
    vec_hex_exact(v, vec_get(v, "proof_of_work", "public_key"), pk, 32);
    vec_hex_exact(v, vec_get(v, "proof_of_work", "stamp"), stamp, 24);
    vec_hex_exact(v, vec_get(v, "proof_of_work", "blake2b256(pk||stamp)"), want_hash, 32);
    memcpy(buf, pk, 32);
    memcpy(buf + 32, stamp, 24);
    crypto_generichash(hash, 32, buf, 56, NULL, 0);
    assert_memory_equal(hash, want_hash, 32);
    int64_t level;
    assert_int_equal(tp_json_get_int64(&v->doc, vec_get(v, "proof_of_work", "le_leading_zero_bits"),
                                       &level),
                     TP_OK);
    assert_int_equal(tp_pow_level(pk, stamp), (unsigned)level);
    tp_pow_target t24, t26, t27;
    assert_int_equal(tp_pow_target_of_difficulty(24.0, &t24), TP_OK);
    assert_int_equal(tp_pow_target_of_difficulty(26.0, &t26), TP_OK);
    assert_int_equal(tp_pow_target_of_difficulty(27.0, &t27), TP_OK);
    bool pass24, pass26;
    assert_int_equal(tp_json_get_bool(&v->doc, vec_get(v, "proof_of_work", "passes_target_24"), &pass24), TP_OK);
    assert_int_equal(tp_json_get_bool(&v->doc, vec_get(v, "proof_of_work", "passes_target_26"), &pass26), TP_OK);
    assert_true(tp_pow_check(pk, stamp, &t24) == pass24);
    assert_true(tp_pow_check(pk, stamp, &t26) == pass26);
    assert_false(tp_pow_check(pk, stamp, &t27)); /* exactly 26 bits */
    /* a stamp off by one fails with overwhelming probability */
    stamp[0] ^= 1;
    assert_false(tp_pow_check(pk, stamp, &t24));
    vec_close(v);
}

static void test_pow_little_endian_reading(void **state) {
    (void)state;
    vec_file *v = vec_open("cited_vectors.json");
    size_t cases = vec_get(v, "Z_of_bits_little_endian", "cases");
    const tp_json_token *t = tp_json_tok(&v->doc, cases);
    assert_int_equal(t->children, 2);
    size_t c = cases + 1;
    for (uint32_t i = 0; i < t->children; i++) {
        uint8_t bytes[32];
        vec_hex_exact(v, c + 1, bytes, 32);
        char *want = vec_string_at(v, c + 2);
        char got[100];
        le256_to_decimal(bytes, got, sizeof got);
        assert_string_equal(got, want);
        free(want);
        c = tp_json_next(&v->doc, c);
    }
    /* The second value is ~2^227.5: it meets difficulty 28 and not 29 as read LE. */
    uint8_t h[32];
    vec_hex_exact(v, tp_json_next(&v->doc, cases + 1) + 1, h, 32);
    tp_pow_target t28, t29;
    assert_int_equal(tp_pow_target_of_difficulty(28.0, &t28), TP_OK);
    assert_int_equal(tp_pow_target_of_difficulty(29.0, &t29), TP_OK);
    assert_true(tp_pow_hash_meets(h, &t28));
    assert_false(tp_pow_hash_meets(h, &t29));
    vec_close(v);
}

static void test_stamp_increment_vectors(void **state) {
    (void)state;
    vec_file *v = vec_open("handshake_vectors.json");
    size_t list = vec_get(v, "nonce_increment_examples");
    size_t k = list + 1;
    for (uint32_t i = 0; i < tp_json_tok(&v->doc, list)->children; i++) {
        uint8_t in[24], out[24];
        vec_hex_exact(v, tp_json_object_get(&v->doc, k, "in"), in, 24);
        vec_hex_exact(v, tp_json_object_get(&v->doc, k, "out"), out, 24);
        tp_stamp_increment(in);
        assert_memory_equal(in, out, 24);
        k = tp_json_next(&v->doc, k);
    }
    vec_close(v);
}

static void test_pow_search_resumable(void **state) {
    (void)state;
    uint8_t seed[32] = {1, 2, 3};
    tp_identity id;
    tp_identity_init_from_seed(&id, seed);
    tp_pow_target target;
    assert_int_equal(tp_pow_target_of_difficulty(10.0, &target), TP_OK);
    uint8_t one_shot[24], sliced[24];
    memcpy(one_shot, id.pow_stamp, 24);
    memcpy(sliced, id.pow_stamp, 24);
    bool found = false;
    uint64_t n1 = tp_pow_search(id.public_key, one_shot, &target, UINT64_MAX, &found);
    assert_true(found);
    assert_true(tp_pow_check(id.public_key, one_shot, &target));
    assert_true(tp_pow_level(id.public_key, one_shot) >= 10);
    /* the same search in slices of 7 attempts ends on the same stamp, same count */
    uint64_t total = 0;
    found = false;
    while (!found) total += tp_pow_search(id.public_key, sliced, &target, 7, &found);
    assert_memory_equal(sliced, one_shot, 24);
    assert_true(total == n1);
    /* a zero-attempt slice changes nothing */
    assert_true(tp_pow_search(id.public_key, sliced, &target, 0, &found) == 0);
    assert_false(found);
    /* difficulty 256 (target 0) is never met in a short slice */
    tp_pow_target impossible;
    assert_int_equal(tp_pow_target_of_difficulty(256.0, &impossible), TP_OK);
    uint8_t s[24] = {0};
    assert_true(tp_pow_search(id.public_key, s, &impossible, 100, &found) == 100);
    assert_false(found);
    uint8_t expect[24] = {0};
    expect[23] = 100; /* the next stamp to test */
    assert_memory_equal(s, expect, 24);
    /* expected attempts: 2^10 for difficulty 10, 1 for 0 */
    assert_true(fabs(tp_pow_expected_attempts(&target) - 1024.0) < 1e-6);
    tp_pow_target zero;
    assert_int_equal(tp_pow_target_of_difficulty(0.0, &zero), TP_OK);
    assert_true(fabs(tp_pow_expected_attempts(&zero) - 1.0) < 1e-9);
}

/* ---- identities ------------------------------------------------------------------------ */

static void mock_random(void *ctx, void *buf, size_t len) {
    uint8_t *counter = ctx;
    for (size_t i = 0; i < len; i++) ((uint8_t *)buf)[i] = (*counter)++;
}

static void test_identity_from_seed_and_env(void **state) {
    (void)state;
    uint8_t seed_a[32] = {0}, seed_b[32] = {1};
    tp_identity a1, a2, b;
    tp_identity_init_from_seed(&a1, seed_a);
    tp_identity_init_from_seed(&a2, seed_a);
    tp_identity_init_from_seed(&b, seed_b);
    assert_memory_equal(&a1, &a2, sizeof a1);
    assert_memory_not_equal(a1.public_key, b.public_key, 32);
    assert_memory_not_equal(a1.pow_stamp, b.pow_stamp, 24);
    assert_int_equal(tp_identity_check(&a1), TP_OK);
    /* the keys are crypto_box_seed_keypair's */
    uint8_t pk[32], sk[32];
    crypto_box_seed_keypair(pk, sk, seed_b);
    assert_memory_equal(pk, b.public_key, 32);
    assert_memory_equal(sk, b.secret_key, 32);
    /* from an env: 32 bytes of its random stream */
    tp_env_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.random_bytes = mock_random;
    uint8_t counter = 0;
    tp_env env = {&counter, &ops};
    tp_identity e;
    tp_identity_init_from_env(&e, &env);
    assert_int_equal(counter, 32);
    uint8_t seq[32];
    for (int i = 0; i < 32; i++) seq[i] = (uint8_t)i;
    tp_identity from_seq;
    tp_identity_init_from_seed(&from_seq, seq);
    assert_memory_equal(&e, &from_seq, sizeof e);
    /* check: a wrong public key, a wrong peer id */
    tp_identity bad = a1;
    bad.public_key[0] ^= 1;
    assert_int_equal(tp_identity_check(&bad), TP_ERR_IDENTITY_KEYS_MISMATCH);
    bad = a1;
    bad.peer_id.bytes[0] ^= 1;
    assert_int_equal(tp_identity_check(&bad), TP_ERR_IDENTITY_PEER_ID_MISMATCH);
    tp_identity_wipe(&bad);
    uint8_t zero[sizeof bad] = {0};
    assert_memory_equal(&bad, zero, sizeof bad);
}

static void test_tezedge_identity_files(void **state) {
    (void)state;
    /* spec §13's table: file, peer id, LE zero bits */
    static const struct {
        const char *file;
        const char *peer_id;
        unsigned level;
    } files[] = {
        {"tezos-dissector_data_identity.json", "idssJHDL1z8fkryZaYVF9fQRMktoWg", 26},
        {"docker_identities_identity_ocaml.json", "idrRoknJh9zwEePNswF3MPGFzmKaVp", 26},
        {"docker_identities_identity_tezedge.json", "idsyBpzU3VspRyD3GEDWkgUBRqQNti", 29},
        {"docker_identities_identity_tezedge_master.json", "ids7JCpfepEW3tLsykqqTCHTEAnsfM", 27},
        {"light_node_etc_drone_identities_identity_1.json", "idt6jzf5Sj4MVXTzxtwXUmJpsHR1bf", 36},
        {"light_node_etc_drone_identities_identity_2.json", "idqn7Fro4kCjuB6w2DJXh43UVDwdkR", 27},
        {"tezos_messages_benches_identity.json", "idqjq34sB6uHWdFzJDB97zwXAdHASb", 26},
    };
    tp_pow_target t26;
    assert_int_equal(tp_pow_target_of_difficulty(26.0, &t26), TP_OK);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tezedge/%s", files[i].file);
        size_t len;
        char *text = vec_read_file(rel, &len);
        tp_identity id;
        char err[TP_IDENTITY_ERROR_SIZE];
        tp_err e = tp_identity_from_json(text, len, &id, err, sizeof err);
        if (e != TP_OK) fail_msg("%s: %s (%s)", rel, err, tp_errname(e));
        char b58[TP_PEER_ID_TEXT_SIZE];
        assert_string_equal(tp_peer_id_to_b58(&id.peer_id, b58), files[i].peer_id);
        assert_int_equal(tp_pow_level(id.public_key, id.pow_stamp), files[i].level);
        assert_true(tp_pow_check(id.public_key, id.pow_stamp, &t26));
        /* write it back and read it again: the same identity */
        char out[512];
        size_t out_len;
        assert_int_equal(tp_identity_to_json(&id, out, sizeof out, &out_len), TP_OK);
        assert_int_equal(strlen(out), out_len);
        tp_identity again;
        assert_int_equal(tp_identity_from_json(out, out_len, &again, err, sizeof err), TP_OK);
        assert_memory_equal(&again, &id, sizeof id);
        free(text);
    }
}

/* Builds identity.json text from the vector identity A with one change applied. */
static tp_err parse_variant(const char *json, char *err, size_t err_size) {
    tp_identity id;
    return tp_identity_from_json(json, strlen(json), &id, err, err_size);
}

#define PK_A "d8246d13d0270cbfff4046b6d94b05ab19920bc5ad9fb77f3e945c40b340e874"
#define SK_A "8b4622bc512c8621a35fa19ff252129b208c8cdffb57e2d29c7974df718c7ff2"
#define ST_A "d1d0ebd55784bc92852d913dbf0fb5152d505b567d930fb2"
#define SK_B "213d61d6e41b443bec6bf0d00f17f59dfb4bdca409c9c03887cc5196be12502e"

static void test_identity_json_errors(void **state) {
    (void)state;
    char err[TP_IDENTITY_ERROR_SIZE];
    /* the reference identity A parses, with or without peer_id */
    assert_int_equal(parse_variant("{\"peer_id\":\"idssJHDL1z8fkryZaYVF9fQRMktoWg\",\"public_key\":\"" PK_A
                                   "\",\"secret_key\":\"" SK_A "\",\"proof_of_work_stamp\":\"" ST_A "\"}",
                                   err, sizeof err),
                     TP_OK);
    assert_int_equal(parse_variant("{\"public_key\":\"" PK_A "\",\"secret_key\":\"" SK_A
                                   "\",\"proof_of_work_stamp\":\"" ST_A "\"}",
                                   err, sizeof err),
                     TP_OK);
    /* missing fields, named */
    assert_int_equal(parse_variant("{\"public_key\":\"" PK_A "\",\"proof_of_work_stamp\":\"" ST_A "\"}",
                                   err, sizeof err),
                     TP_ERR_IDENTITY_MISSING_FIELD);
    assert_non_null(strstr(err, "\"secret_key\""));
    assert_int_equal(parse_variant("{\"public_key\":\"" PK_A "\",\"secret_key\":\"" SK_A "\"}", err,
                                   sizeof err),
                     TP_ERR_IDENTITY_MISSING_FIELD);
    assert_non_null(strstr(err, "\"proof_of_work_stamp\""));
    /* bad hex length, named with both lengths */
    assert_int_equal(parse_variant("{\"public_key\":\"" PK_A "00\",\"secret_key\":\"" SK_A
                                   "\",\"proof_of_work_stamp\":\"" ST_A "\"}",
                                   err, sizeof err),
                     TP_ERR_IDENTITY_BAD_FIELD);
    assert_non_null(strstr(err, "\"public_key\""));
    assert_non_null(strstr(err, "expected 64 hex characters, got 66"));
    /* non-hex */
    assert_int_equal(parse_variant("{\"public_key\":\"" PK_A "\",\"secret_key\":\"" SK_A
                                   "\",\"proof_of_work_stamp\":\"zz" ST_A "\"}",
                                   err, sizeof err),
                     TP_ERR_IDENTITY_BAD_FIELD);
    /* wrong type */
    assert_int_equal(parse_variant("{\"public_key\":12,\"secret_key\":\"" SK_A
                                   "\",\"proof_of_work_stamp\":\"" ST_A "\"}",
                                   err, sizeof err),
                     TP_ERR_IDENTITY_BAD_FIELD);
    /* keys mismatch: B's secret key with A's public key */
    assert_int_equal(parse_variant("{\"public_key\":\"" PK_A "\",\"secret_key\":\"" SK_B
                                   "\",\"proof_of_work_stamp\":\"" ST_A "\"}",
                                   err, sizeof err),
                     TP_ERR_IDENTITY_KEYS_MISMATCH);
    assert_non_null(strstr(err, "secret_key"));
    /* peer id mismatch: B's peer id with A's keys */
    assert_int_equal(parse_variant("{\"peer_id\":\"idrRoknJh9zwEePNswF3MPGFzmKaVp\",\"public_key\":\"" PK_A
                                   "\",\"secret_key\":\"" SK_A "\",\"proof_of_work_stamp\":\"" ST_A "\"}",
                                   err, sizeof err),
                     TP_ERR_IDENTITY_PEER_ID_MISMATCH);
    assert_non_null(strstr(err, "\"peer_id\""));
    /* a peer_id that is not a peer id */
    assert_int_equal(parse_variant("{\"peer_id\":\"hello\",\"public_key\":\"" PK_A
                                   "\",\"secret_key\":\"" SK_A "\",\"proof_of_work_stamp\":\"" ST_A "\"}",
                                   err, sizeof err),
                     TP_ERR_IDENTITY_BAD_FIELD);
    /* unknown field, duplicate field, not an object, malformed JSON with a position */
    assert_int_equal(parse_variant("{\"public_key\":\"" PK_A "\",\"secret_key\":\"" SK_A
                                   "\",\"proof_of_work_stamp\":\"" ST_A "\",\"extra\":1}",
                                   err, sizeof err),
                     TP_ERR_IDENTITY_BAD_FIELD);
    assert_non_null(strstr(err, "\"extra\""));
    assert_int_equal(parse_variant("{\"public_key\":\"" PK_A "\",\"public_key\":\"" PK_A "\"}", err,
                                   sizeof err),
                     TP_ERR_DECODE_BAD_JSON);
    assert_int_equal(parse_variant("[1,2]", err, sizeof err), TP_ERR_IDENTITY_BAD_FIELD);
    assert_int_equal(parse_variant("{\n  \"public_key\": \"ab\",,\n}", err, sizeof err),
                     TP_ERR_DECODE_BAD_JSON);
    assert_non_null(strstr(err, "2:"));
    /* too large */
    char *big = malloc(TP_IDENTITY_JSON_MAX + 2);
    memset(big, ' ', TP_IDENTITY_JSON_MAX + 1);
    big[TP_IDENTITY_JSON_MAX + 1] = '\0';
    assert_int_equal(parse_variant(big, err, sizeof err), TP_ERR_TOO_BIG);
    free(big);
    /* the error buffer may be NULL, and a tiny one stays terminated */
    assert_int_equal(parse_variant("{}", NULL, 0), TP_ERR_IDENTITY_MISSING_FIELD);
    char tiny[5];
    assert_int_equal(parse_variant("{}", tiny, sizeof tiny), TP_ERR_IDENTITY_MISSING_FIELD);
    assert_int_equal(strlen(tiny), 4);
    /* writing into a too small buffer */
    tp_identity id;
    uint8_t seed[32] = {9};
    tp_identity_init_from_seed(&id, seed);
    char out[100];
    size_t len;
    assert_int_equal(tp_identity_to_json(&id, out, sizeof out, &len), TP_ERR_TOO_BIG);
}

/* ---- identity.json through the env's storage --------------------------------------- */

typedef struct one_file {
    char name[64];
    uint8_t data[8192];
    size_t len;
    bool exists;
    int writes;
} one_file;

static tp_err file_read(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len) {
    one_file *f = ctx;
    if (!f->exists || strcmp(name, f->name) != 0) return TP_ERR_NOT_FOUND;
    *len = f->len;
    if (f->len > cap) return TP_ERR_TOO_BIG;
    memcpy(buf, f->data, f->len);
    return TP_OK;
}

static tp_err file_write(void *ctx, const char *name, const uint8_t *data, size_t len) {
    one_file *f = ctx;
    if (len > sizeof f->data) return TP_ERR_IO;
    snprintf(f->name, sizeof f->name, "%s", name);
    memcpy(f->data, data, len);
    f->len = len;
    f->exists = true;
    f->writes++;
    return TP_OK;
}

static void test_identity_load_save_through_env(void **state) {
    (void)state;
    tp_env_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.file_read = file_read;
    ops.file_write = file_write;
    one_file f;
    memset(&f, 0, sizeof f);
    tp_env env = {&f, &ops};
    tp_identity id, loaded;
    char err[TP_IDENTITY_ERROR_SIZE];
    assert_int_equal(tp_identity_load(&env, &loaded, err, sizeof err), TP_ERR_NOT_FOUND);
    uint8_t seed[32] = {7};
    tp_identity_init_from_seed(&id, seed);
    assert_int_equal(tp_identity_save(&env, &id), TP_OK);
    assert_string_equal(f.name, "identity.json");
    assert_int_equal(tp_identity_load(&env, &loaded, err, sizeof err), TP_OK);
    assert_memory_equal(&loaded, &id, sizeof id);
    /* never overwritten */
    tp_identity other;
    seed[0] = 8;
    tp_identity_init_from_seed(&other, seed);
    assert_int_equal(tp_identity_save(&env, &other), TP_ERR_EXISTS);
    assert_int_equal(f.writes, 1);
    /* a corrupted file is reported with the field */
    f.data[f.len] = 0;
    char *pk = strstr((char *)f.data, "\"public_key\": \"");
    assert_non_null(pk);
    pk += strlen("\"public_key\": \"");
    *pk = *pk == '0' ? '1' : '0';
    assert_int_equal(tp_identity_load(&env, &loaded, err, sizeof err), TP_ERR_IDENTITY_PEER_ID_MISMATCH);
    assert_non_null(strstr(err, "peer_id"));
    /* a file too large for an identity */
    f.len = sizeof f.data;
    memset(f.data, ' ', f.len);
    assert_int_equal(tp_identity_load(&env, &loaded, err, sizeof err), TP_ERR_TOO_BIG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_id_vectors),
        cmocka_unit_test(test_pow_target_table),
        cmocka_unit_test(test_pow_cited_vector),
        cmocka_unit_test(test_pow_little_endian_reading),
        cmocka_unit_test(test_stamp_increment_vectors),
        cmocka_unit_test(test_pow_search_resumable),
        cmocka_unit_test(test_identity_from_seed_and_env),
        cmocka_unit_test(test_tezedge_identity_files),
        cmocka_unit_test(test_identity_json_errors),
        cmocka_unit_test(test_identity_load_save_through_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
