/* core/identity.h — node identities: Curve25519 keys, peer ids, proof-of-work stamps
 * and the identity.json file (spec §1).
 *
 * Octez: P2p_identity, P2p_peer_id (Crypto_box.Public_key_hash), Crypto_box's PoW
 * functions (make_pow_target, check_proof_of_work, generate_proof_of_work) and
 * Identity_file. All functions are pure over caller memory; randomness comes from the
 * caller (a tp_env or a 32-byte seed), never from libsodium's global RNG.
 *
 * Ownership: a tp_identity holds the secret key; the owner calls tp_identity_wipe()
 * (sodium_memzero) before the memory is reused or freed.
 */
#ifndef TP_IDENTITY_H
#define TP_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "env.h"
#include "err.h"

#define TP_PUBLIC_KEY_SIZE 32
#define TP_SECRET_KEY_SIZE 32
#define TP_PEER_ID_SIZE 16
#define TP_POW_STAMP_SIZE 24
#define TP_SEED_SIZE 32
/* Base58Check text of a peer id: always 30 characters ("id…"), plus NUL. */
#define TP_PEER_ID_TEXT_SIZE 31
/* Octez's node default for `identity generate` and the remote-stamp check (spec §1.4). */
#define TP_POW_DIFFICULTY_DEFAULT 26.0

/* BLAKE2b-128 of the public key (spec §1.2). Compare with memcmp / tp_peer_id_cmp. */
typedef struct tp_peer_id {
    uint8_t bytes[TP_PEER_ID_SIZE];
} tp_peer_id;

/* A 256-bit PoW target, stored little-endian (byte 0 least significant), the order in
 * which the hash is compared (spec §1.3). */
typedef struct tp_pow_target {
    uint8_t le[32];
} tp_pow_target;

typedef struct tp_identity {
    uint8_t public_key[TP_PUBLIC_KEY_SIZE];
    uint8_t secret_key[TP_SECRET_KEY_SIZE];
    uint8_t pow_stamp[TP_POW_STAMP_SIZE];
    tp_peer_id peer_id;
} tp_identity;

/* ---- peer ids -------------------------------------------------------------------- */

void tp_peer_id_of_public_key(const uint8_t public_key[TP_PUBLIC_KEY_SIZE], tp_peer_id *out);
static inline int tp_peer_id_cmp(const tp_peer_id *a, const tp_peer_id *b) {
    return memcmp(a->bytes, b->bytes, TP_PEER_ID_SIZE);
}
static inline bool tp_peer_id_eq(const tp_peer_id *a, const tp_peer_id *b) {
    return tp_peer_id_cmp(a, b) == 0;
}
/* Base58Check text "id…" (30 characters + NUL). Returns out. */
char *tp_peer_id_to_b58(const tp_peer_id *id, char out[TP_PEER_ID_TEXT_SIZE]);
/* Parses "id…" text of exactly text_len bytes. Errors: TP_ERR_BAD_BASE58,
 * TP_ERR_BAD_CHECKSUM, TP_ERR_BAD_PREFIX (valid Base58Check, but not a peer id). */
TP_MUST_USE tp_err tp_peer_id_of_b58(const char *text, size_t text_len, tp_peer_id *out);

/* ---- proof of work (spec §1.3, §1.4) --------------------------------------------- */

/* Octez's make_pow_target: the float difficulty f in [0, 256] (Octez's definition uses
 * floating point; it is only used to build the target, never to steer a decision at
 * run time). Errors: TP_ERR_BAD_DIFFICULTY (NaN, negative, above 256). */
TP_MUST_USE tp_err tp_pow_target_of_difficulty(double difficulty, tp_pow_target *out);
/* True iff BLAKE2b-256(pk || stamp), read little-endian, is <= target. */
bool tp_pow_check(const uint8_t public_key[TP_PUBLIC_KEY_SIZE],
                  const uint8_t stamp[TP_POW_STAMP_SIZE], const tp_pow_target *target);
/* True iff a PoW hash (32 bytes, read little-endian) is <= target. */
bool tp_pow_hash_meets(const uint8_t hash[32], const tp_pow_target *target);
/* Number of most-significant zero bits of the LE-read hash (0..256): the highest
 * integer difficulty the stamp satisfies. */
unsigned tp_pow_level(const uint8_t public_key[TP_PUBLIC_KEY_SIZE],
                      const uint8_t stamp[TP_POW_STAMP_SIZE]);
/* Mean number of attempts to find a stamp for target t: 2^256 / (t + 1). For display
 * (progress, expected time) only. */
double tp_pow_expected_attempts(const tp_pow_target *target);
/* Resumable search (spec §1.3): tests stamp_inout, then its big-endian successors, for
 * at most max_attempts stamps. On success *found = true and stamp_inout is the valid
 * stamp; otherwise *found = false and stamp_inout is the next stamp to test, so calling
 * again continues the search. Returns the number of stamps tested. */
uint64_t tp_pow_search(const uint8_t public_key[TP_PUBLIC_KEY_SIZE],
                       uint8_t stamp_inout[TP_POW_STAMP_SIZE], const tp_pow_target *target,
                       uint64_t max_attempts, bool *found);
/* 192-bit big-endian +1 modulo 2^192 (the nonce increment of spec §3.3). */
void tp_stamp_increment(uint8_t stamp[TP_POW_STAMP_SIZE]);

/* ---- identities ------------------------------------------------------------------- */

/* Keys from a 32-byte seed with crypto_box_seed_keypair; the PoW search start stamp is
 * derived from the seed too (BLAKE2b-192 of "tidepool-pow-stamp" || seed), so the same
 * seed gives the same identity. The stamp is NOT searched: call tp_pow_search on
 * id->pow_stamp (with id->public_key) afterwards. */
void tp_identity_init_from_seed(tp_identity *id, const uint8_t seed[TP_SEED_SIZE]);
/* The same with 32 seed bytes from the env's random stream (spec: keys from env bytes,
 * never from libsodium's global RNG). */
void tp_identity_init_from_env(tp_identity *id, const tp_env *env);
/* Checks the keypair (public key = X25519(secret key)) and the peer id.
 * Errors: TP_ERR_IDENTITY_KEYS_MISMATCH, TP_ERR_IDENTITY_PEER_ID_MISMATCH. */
TP_MUST_USE tp_err tp_identity_check(const tp_identity *id);
void tp_identity_wipe(tp_identity *id);

/* ---- identity.json (spec §1.5) ---------------------------------------------------- */

/* Largest identity.json accepted (a real one is about 250 bytes). */
#define TP_IDENTITY_JSON_MAX 4096
/* Room for a message written by tp_identity_from_json. */
#define TP_IDENTITY_ERROR_SIZE 256

/* Parses identity.json text: an object with "public_key" (64 hex), "secret_key" (64
 * hex), "proof_of_work_stamp" (48 hex) and optionally "peer_id" (b58). A missing
 * peer_id is recomputed; a present one must match the public key; the keys must match.
 * Unknown fields are rejected (data_encoding's JSON objects are closed). The PoW level
 * is not checked here (spec §1.5: only `identity check` does).
 * On error, `error` (if not NULL, `error_size` bytes) receives one line naming the field
 * or the position, e.g. `field "public_key": expected 64 hex characters, got 62`.
 * Errors: TP_ERR_DECODE_BAD_JSON, TP_ERR_TOO_BIG (text above TP_IDENTITY_JSON_MAX),
 * TP_ERR_IDENTITY_MISSING_FIELD, TP_ERR_IDENTITY_BAD_FIELD,
 * TP_ERR_IDENTITY_KEYS_MISMATCH, TP_ERR_IDENTITY_PEER_ID_MISMATCH. */
TP_MUST_USE tp_err tp_identity_from_json(const char *text, size_t len, tp_identity *out,
                                         char *error, size_t error_size);
/* Writes identity.json (all four fields, pretty, ends with a newline; NUL-terminated,
 * *len excludes the NUL). Errors: TP_ERR_TOO_BIG (cap too small; 512 is enough). */
TP_MUST_USE tp_err tp_identity_to_json(const tp_identity *id, char *buf, size_t cap,
                                       size_t *len);

/* The identity file's name in a node's data directory (spec §1.5). */
#define TP_IDENTITY_FILE "identity.json"

/* Reads and checks identity.json through the env's storage (tp_env_file_read).
 * Errors: TP_ERR_NOT_FOUND (no file: generate one), TP_ERR_IO, TP_ERR_TOO_BIG, and
 * every error of tp_identity_from_json (`error` says which field). */
TP_MUST_USE tp_err tp_identity_load(const tp_env *env, tp_identity *out, char *error,
                                    size_t error_size);
/* Writes identity.json through the env's storage, refusing to replace an existing one
 * (Octez never overwrites an identity). Errors: TP_ERR_EXISTS, TP_ERR_IO. */
TP_MUST_USE tp_err tp_identity_save(const tp_env *env, const tp_identity *id);

#endif
