/* core/identity.c — keys, peer ids, proof of work, identity.json (spec §1). */
#include "identity.h"

#include <math.h>
#include <sodium.h>
#include <string.h>

#include "base58.h"
#include "encoding.h"
#include "json.h"

/* Base58Check prefix of peer ids (Crypto_box.Public_key_hash): texts start with "id". */
static const uint8_t peer_id_prefix[2] = {0x99, 0x67};
/* Personalisation of the PoW start stamp derived from a seed (tidepool's own choice). */
static const char stamp_seed_label[] = "tidepool-pow-stamp";
/* The fields of identity.json (spec §1.5). */
static const char *const identity_fields[] = {"peer_id", "public_key", "secret_key",
                                              "proof_of_work_stamp"};

/* ---- peer ids ---------------------------------------------------------------------- */

void tp_peer_id_of_public_key(const uint8_t public_key[TP_PUBLIC_KEY_SIZE], tp_peer_id *out) {
    /* A 16-byte BLAKE2b digest, not a truncated 32-byte one (spec §1.2). */
    crypto_generichash(out->bytes, TP_PEER_ID_SIZE, public_key, TP_PUBLIC_KEY_SIZE, NULL, 0);
}

char *tp_peer_id_to_b58(const tp_peer_id *id, char out[TP_PEER_ID_TEXT_SIZE]) {
    size_t len;
    tp_err e = tp_base58check_encode(peer_id_prefix, sizeof peer_id_prefix, id->bytes,
                                     TP_PEER_ID_SIZE, out, TP_PEER_ID_TEXT_SIZE, &len);
    TP_ASSERT(e == TP_OK && len == TP_PEER_ID_TEXT_SIZE - 1);
    return out;
}

tp_err tp_peer_id_of_b58(const char *text, size_t text_len, tp_peer_id *out) {
    tp_peer_id id;
    TP_TRY(tp_base58check_decode(text, text_len, peer_id_prefix, sizeof peer_id_prefix,
                                 id.bytes, TP_PEER_ID_SIZE));
    *out = id;
    return TP_OK;
}

/* ---- proof of work ----------------------------------------------------------------- */

static void target_set_bit(tp_pow_target *t, unsigned bit) {
    if (bit < 256) t->le[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

tp_err tp_pow_target_of_difficulty(double f, tp_pow_target *out) {
    if (!(f >= 0.0 && f <= 256.0)) return TP_ERR_BAD_DIFFICULTY; /* also rejects NaN */
    /* Octez's make_pow_target (spec §1.4), in its own floating-point terms:
     *   frac, shift = modf f
     *   m = if frac = 0 then 2^54 - 1 else truncate (2 ** (54 - frac))
     *   target = shift < 202 ? (m << (202 - shift)) | (2^(202 - shift) - 1)
     *                        : m >> (shift - 202) */
    double shift_f;
    double frac = modf(f, &shift_f);
    unsigned shift = (unsigned)shift_f;
    uint64_t m = frac == 0.0 ? ((uint64_t)1 << 54) - 1 : (uint64_t)exp2(54.0 - frac);
    tp_pow_target t;
    memset(&t, 0, sizeof t);
    if (shift < 202) {
        unsigned s = 202 - shift;
        for (unsigned i = 0; i < s; i++) target_set_bit(&t, i);
        for (unsigned j = 0; j < 64; j++)
            if (m >> j & 1) target_set_bit(&t, s + j);
    } else {
        unsigned s = shift - 202; /* 0..54 */
        uint64_t v = s >= 64 ? 0 : m >> s;
        for (unsigned j = 0; j < 64; j++)
            if (v >> j & 1) target_set_bit(&t, j);
    }
    *out = t;
    return TP_OK;
}

static void pow_hash(const uint8_t pk[TP_PUBLIC_KEY_SIZE], const uint8_t stamp[TP_POW_STAMP_SIZE],
                     uint8_t h[32]) {
    uint8_t buf[TP_PUBLIC_KEY_SIZE + TP_POW_STAMP_SIZE];
    memcpy(buf, pk, TP_PUBLIC_KEY_SIZE);
    memcpy(buf + TP_PUBLIC_KEY_SIZE, stamp, TP_POW_STAMP_SIZE);
    crypto_generichash(h, 32, buf, sizeof buf, NULL, 0);
}

/* H (little-endian) <= target (little-endian): compare from the most significant byte. */
static bool le_leq(const uint8_t h[32], const uint8_t t[32]) {
    for (int i = 31; i >= 0; i--) {
        if (h[i] != t[i]) return h[i] < t[i];
    }
    return true;
}

bool tp_pow_hash_meets(const uint8_t hash[32], const tp_pow_target *target) {
    return le_leq(hash, target->le);
}

bool tp_pow_check(const uint8_t public_key[TP_PUBLIC_KEY_SIZE],
                  const uint8_t stamp[TP_POW_STAMP_SIZE], const tp_pow_target *target) {
    uint8_t h[32];
    pow_hash(public_key, stamp, h);
    return le_leq(h, target->le);
}

unsigned tp_pow_level(const uint8_t public_key[TP_PUBLIC_KEY_SIZE],
                      const uint8_t stamp[TP_POW_STAMP_SIZE]) {
    uint8_t h[32];
    pow_hash(public_key, stamp, h);
    unsigned zeros = 0;
    for (int i = 31; i >= 0; i--) {
        if (h[i] == 0) {
            zeros += 8;
            continue;
        }
        zeros += (unsigned)__builtin_clz(h[i]) - 24;
        break;
    }
    return zeros;
}

double tp_pow_expected_attempts(const tp_pow_target *target) {
    double t = 0.0;
    for (int i = 31; i >= 0; i--) t = t * 256.0 + target->le[i];
    return ldexp(1.0, 256) / (t + 1.0);
}

void tp_stamp_increment(uint8_t stamp[TP_POW_STAMP_SIZE]) {
    for (int i = TP_POW_STAMP_SIZE - 1; i >= 0; i--)
        if (++stamp[i] != 0) return;
}

uint64_t tp_pow_search(const uint8_t public_key[TP_PUBLIC_KEY_SIZE],
                       uint8_t stamp_inout[TP_POW_STAMP_SIZE], const tp_pow_target *target,
                       uint64_t max_attempts, bool *found) {
    uint8_t buf[TP_PUBLIC_KEY_SIZE + TP_POW_STAMP_SIZE];
    uint8_t *stamp = buf + TP_PUBLIC_KEY_SIZE;
    memcpy(buf, public_key, TP_PUBLIC_KEY_SIZE);
    memcpy(stamp, stamp_inout, TP_POW_STAMP_SIZE);
    uint8_t h[32];
    uint64_t n = 0;
    *found = false;
    while (n < max_attempts) {
        n++;
        crypto_generichash(h, 32, buf, sizeof buf, NULL, 0);
        if (le_leq(h, target->le)) {
            *found = true;
            break;
        }
        tp_stamp_increment(stamp);
    }
    memcpy(stamp_inout, stamp, TP_POW_STAMP_SIZE);
    return n;
}

/* ---- identities -------------------------------------------------------------------- */

void tp_identity_init_from_seed(tp_identity *id, const uint8_t seed[TP_SEED_SIZE]) {
    crypto_box_seed_keypair(id->public_key, id->secret_key, seed);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, TP_POW_STAMP_SIZE);
    crypto_generichash_update(&st, (const uint8_t *)stamp_seed_label, sizeof stamp_seed_label - 1);
    crypto_generichash_update(&st, seed, TP_SEED_SIZE);
    crypto_generichash_final(&st, id->pow_stamp, TP_POW_STAMP_SIZE);
    sodium_memzero(&st, sizeof st);
    tp_peer_id_of_public_key(id->public_key, &id->peer_id);
}

void tp_identity_init_from_env(tp_identity *id, const tp_env *env) {
    uint8_t seed[TP_SEED_SIZE];
    tp_env_random(env, seed, sizeof seed);
    tp_identity_init_from_seed(id, seed);
    sodium_memzero(seed, sizeof seed);
}

tp_err tp_identity_check(const tp_identity *id) {
    uint8_t pk[TP_PUBLIC_KEY_SIZE];
    /* X25519(sk, 9); libsodium clamps the scalar like HACL* (spec §1.1). An all-zero
     * result makes scalarmult_base fail: that cannot be the public key of anything. */
    if (crypto_scalarmult_base(pk, id->secret_key) != 0 ||
        sodium_memcmp(pk, id->public_key, TP_PUBLIC_KEY_SIZE) != 0)
        return TP_ERR_IDENTITY_KEYS_MISMATCH;
    tp_peer_id expected;
    tp_peer_id_of_public_key(id->public_key, &expected);
    if (!tp_peer_id_eq(&expected, &id->peer_id)) return TP_ERR_IDENTITY_PEER_ID_MISMATCH;
    return TP_OK;
}

void tp_identity_wipe(tp_identity *id) {
    sodium_memzero(id, sizeof *id);
}

/* ---- identity.json ------------------------------------------------------------------ */

/* A bounded message builder (core has no snprintf). */
typedef struct msgbuf {
    char *buf;
    size_t cap;
    size_t len;
} msgbuf;

static void msg_str(msgbuf *m, const char *s) {
    if (m->buf == NULL || m->cap == 0) return;
    while (*s != '\0' && m->len + 1 < m->cap) m->buf[m->len++] = *s++;
    m->buf[m->len] = '\0';
}

static void msg_uint(msgbuf *m, uint64_t v) {
    char d[24];
    size_t k = sizeof d;
    d[--k] = '\0';
    do {
        d[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    msg_str(m, d + k);
}

static tp_err field_error(msgbuf *m, tp_err e, const char *field, const char *what) {
    msg_str(m, "field \"");
    msg_str(m, field);
    msg_str(m, "\": ");
    msg_str(m, what);
    return e;
}

/* Reads a hex field of exactly n bytes. */
static tp_err json_hex_field(const tp_json_doc *doc, msgbuf *m, const char *field, uint8_t *out,
                             size_t n) {
    size_t v = tp_json_object_get(doc, 0, field);
    if (v == TP_JSON_NONE)
        return field_error(m, TP_ERR_IDENTITY_MISSING_FIELD, field,
                           "missing (every identity.json has public_key, secret_key and "
                           "proof_of_work_stamp)");
    if (tp_json_type_of(doc, v) != TP_JSON_STRING)
        return field_error(m, TP_ERR_IDENTITY_BAD_FIELD, field,
                           "expected a string of hex characters");
    char text[130];
    size_t len;
    if (tp_json_get_string(doc, v, text, sizeof text, &len) != TP_OK || len != 2 * n) {
        field_error(m, TP_ERR_IDENTITY_BAD_FIELD, field, "expected ");
        msg_uint(m, 2 * n);
        msg_str(m, " hex characters, got ");
        if (tp_json_get_string(doc, v, text, sizeof text, &len) == TP_OK) msg_uint(m, len);
        else msg_str(m, "more");
        return TP_ERR_IDENTITY_BAD_FIELD;
    }
    tp_err e = tp_hex_decode(text, len, out, n);
    sodium_memzero(text, sizeof text);
    if (e != TP_OK)
        return field_error(m, TP_ERR_IDENTITY_BAD_FIELD, field,
                           "not hexadecimal (expected only 0-9 and a-f)");
    return TP_OK;
}

tp_err tp_identity_from_json(const char *text, size_t len, tp_identity *out, char *error,
                             size_t error_size) {
    msgbuf m = {error, error_size, 0};
    if (error != NULL && error_size > 0) error[0] = '\0';
    if (len > TP_IDENTITY_JSON_MAX) {
        msg_str(&m, "file too large for an identity (");
        msg_uint(&m, len);
        msg_str(&m, " bytes; at most ");
        msg_uint(&m, TP_IDENTITY_JSON_MAX);
        msg_str(&m, ")");
        return TP_ERR_TOO_BIG;
    }
    tp_json_token tokens[32];
    tp_json_doc doc;
    tp_err e = tp_json_parse(&doc, text, len, tokens, sizeof tokens / sizeof tokens[0]);
    if (e != TP_OK) {
        size_t line, col;
        tp_json_position(&doc, doc.error_offset, &line, &col);
        msg_uint(&m, line);
        msg_str(&m, ":");
        msg_uint(&m, col);
        msg_str(&m, ": ");
        msg_str(&m, doc.error != NULL ? doc.error : "malformed JSON");
        return e == TP_ERR_TOO_BIG ? TP_ERR_DECODE_BAD_JSON : e;
    }
    if (tp_json_type_of(&doc, 0) != TP_JSON_OBJECT) {
        msg_str(&m, "expected a JSON object with public_key, secret_key and proof_of_work_stamp");
        return TP_ERR_IDENTITY_BAD_FIELD;
    }
    size_t k = 1;
    for (uint32_t i = 0; i < tp_json_tok(&doc, 0)->children; i++) {
        bool ok = false;
        for (size_t j = 0; j < sizeof identity_fields / sizeof identity_fields[0]; j++)
            ok = ok || tp_json_string_eq(&doc, k, identity_fields[j]);
        if (!ok) {
            char name[64];
            size_t nlen;
            msg_str(&m, "unknown field \"");
            msg_str(&m, tp_json_get_string(&doc, k, name, sizeof name, &nlen) == TP_OK ? name
                                                                                      : "?");
            msg_str(&m, "\" (allowed: peer_id, public_key, secret_key, proof_of_work_stamp)");
            return TP_ERR_IDENTITY_BAD_FIELD;
        }
        k = tp_json_next(&doc, k + 1);
    }
    tp_identity id;
    TP_TRY(json_hex_field(&doc, &m, "public_key", id.public_key, TP_PUBLIC_KEY_SIZE));
    e = json_hex_field(&doc, &m, "secret_key", id.secret_key, TP_SECRET_KEY_SIZE);
    if (e == TP_OK)
        e = json_hex_field(&doc, &m, "proof_of_work_stamp", id.pow_stamp, TP_POW_STAMP_SIZE);
    if (e != TP_OK) {
        tp_identity_wipe(&id);
        return e;
    }
    tp_peer_id_of_public_key(id.public_key, &id.peer_id);
    size_t v = tp_json_object_get(&doc, 0, "peer_id");
    if (v != TP_JSON_NONE) {
        char b58[64];
        size_t blen;
        tp_peer_id given;
        if (tp_json_type_of(&doc, v) != TP_JSON_STRING ||
            tp_json_get_string(&doc, v, b58, sizeof b58, &blen) != TP_OK ||
            tp_peer_id_of_b58(b58, blen, &given) != TP_OK) {
            tp_identity_wipe(&id);
            return field_error(&m, TP_ERR_IDENTITY_BAD_FIELD, "peer_id",
                               "expected a Base58Check peer id (30 characters, \"id...\")");
        }
        if (!tp_peer_id_eq(&given, &id.peer_id)) {
            tp_identity_wipe(&id);
            return field_error(&m, TP_ERR_IDENTITY_PEER_ID_MISMATCH, "peer_id",
                               "is not the hash of public_key (remove peer_id or restore the "
                               "file)");
        }
    }
    e = tp_identity_check(&id);
    if (e != TP_OK) {
        tp_identity_wipe(&id);
        return field_error(&m, e, "public_key",
                           "does not match secret_key (the file is corrupt or was edited)");
    }
    *out = id;
    tp_identity_wipe(&id);
    return TP_OK;
}

tp_err tp_identity_to_json(const tp_identity *id, char *buf, size_t cap, size_t *len) {
    char b58[TP_PEER_ID_TEXT_SIZE];
    char hex[2 * TP_PUBLIC_KEY_SIZE + 1];
    tp_json_writer jw;
    tp_json_writer_init(&jw, buf, cap, true);
    tp_json_begin_object(&jw);
    tp_json_key(&jw, "peer_id");
    tp_json_string(&jw, tp_peer_id_to_b58(&id->peer_id, b58));
    tp_json_key(&jw, "public_key");
    tp_json_string(&jw, tp_hex_encode(id->public_key, TP_PUBLIC_KEY_SIZE, hex));
    tp_json_key(&jw, "secret_key");
    tp_json_string(&jw, tp_hex_encode(id->secret_key, TP_SECRET_KEY_SIZE, hex));
    tp_json_key(&jw, "proof_of_work_stamp");
    tp_json_string(&jw, tp_hex_encode(id->pow_stamp, TP_POW_STAMP_SIZE, hex));
    tp_json_end_object(&jw);
    sodium_memzero(hex, sizeof hex);
    return tp_json_writer_finish(&jw, len);
}

tp_err tp_identity_load(const tp_env *env, tp_identity *out, char *error, size_t error_size) {
    uint8_t buf[TP_IDENTITY_JSON_MAX];
    size_t len = 0;
    if (error != NULL && error_size > 0) error[0] = '\0';
    tp_err e = tp_env_file_read(env, TP_IDENTITY_FILE, buf, sizeof buf, &len);
    if (e == TP_OK) e = tp_identity_from_json((const char *)buf, len, out, error, error_size);
    sodium_memzero(buf, sizeof buf);
    return e;
}

tp_err tp_identity_save(const tp_env *env, const tp_identity *id) {
    uint8_t probe[1];
    size_t len;
    tp_err e = tp_env_file_read(env, TP_IDENTITY_FILE, probe, sizeof probe, &len);
    if (e == TP_OK || e == TP_ERR_TOO_BIG) return TP_ERR_EXISTS;
    if (e != TP_ERR_NOT_FOUND) return e;
    char text[512];
    e = tp_identity_to_json(id, text, sizeof text, &len);
    TP_ASSERT(e == TP_OK); /* 512 bytes always hold an identity */
    e = tp_env_file_write(env, TP_IDENTITY_FILE, (const uint8_t *)text, len);
    sodium_memzero(text, sizeof text);
    return e;
}
