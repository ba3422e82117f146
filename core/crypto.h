/* core/crypto.h — channel keys, nonces and the encrypted chunk framing (spec §2.4, §3).
 *
 * Octez: P2p_socket.Crypto and the nonce/key parts of Crypto_box (Hacl.Box, Hacl.Nonce).
 * A chunk on the wire is  u16 BE L | MAC(16) | ciphertext(L-16)  where MAC||ciphertext
 * is exactly libsodium's crypto_box_easy_afternm output (XSalsa20-Poly1305, spec §3.1).
 *
 * Sending: tp_chunk_seal() (one chunk) or tp_chunks_seal_message() (one P2P message cut
 * into chunks of binary_chunks_size, spec §3.4). Receiving: tp_chunk_open() (one whole
 * chunk) or a tp_reassembler, which takes wire bytes in any split, decrypts chunks and
 * yields complete units (whole chunks during the handshake, whole P2P message frames
 * afterwards), growing its buffers only as bytes actually arrive.
 *
 * Simulation-only fast mode (`tidepool sim --crypto fast`, bench/README.md): a key made
 * by tp_channel_key_precompute_sim_fast() carries sim_fast = true, and every function
 * here then replaces XSalsa20-Poly1305 by a copy of the plaintext plus a 16-byte keyed
 * tag from a fast non-cryptographic hash (over key, nonce, length and bytes), with
 * exactly the same framing, sizes and nonce sequence: a bad tag is still
 * TP_ERR_DECIPHER, so corruption, greylisting and every protocol decision behave as
 * with real crypto. It is NOT confidential nor authenticated against an adversary. Only
 * core/socket.c makes such keys, and only when its env says so (tp_env_sim_crypto_fast),
 * which realnet never does.
 *
 * Ownership: keys are plain values; wipe them with tp_channel_key_wipe(). A
 * tp_reassembler is caller-allocated and owns two buffers allocated through its env
 * (tp_env_realloc), released by tp_reassembler_deinit().
 */
#ifndef TP_CRYPTO_H
#define TP_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "err.h"

#define TP_NONCE_SIZE 24
#define TP_CHANNEL_KEY_SIZE 32
#define TP_MAC_SIZE 16
#define TP_CHUNK_HEADER_SIZE 2
/* Octez's bufsize, extrabytes and max_content_length (spec §3.2). */
#define TP_CHUNK_SIZE_MAX 65535
#define TP_CHUNK_OVERHEAD (TP_CHUNK_HEADER_SIZE + TP_MAC_SIZE)
#define TP_CHUNK_PLAINTEXT_MAX (TP_CHUNK_SIZE_MAX - TP_CHUNK_OVERHEAD) /* 65517, sending */
#define TP_CHUNK_WIRE_MAX (TP_CHUNK_HEADER_SIZE + TP_CHUNK_SIZE_MAX)    /* 65537 bytes */
/* binary_chunks_size bounds (bytes including the 18 bytes of overhead). */
#define TP_CHUNKS_SIZE_MIN 19
/* Octez's maximum P2P message (4-byte size prefix included), spec §3.4. */
#define TP_MESSAGE_SIZE_MAX (100u * 1024u * 1024u)

typedef struct tp_nonce {
    uint8_t bytes[TP_NONCE_SIZE];
} tp_nonce;

typedef struct tp_channel_key {
    uint8_t bytes[TP_CHANNEL_KEY_SIZE];
    bool sim_fast; /* simulation only: the fast stand-in cipher (see the header) */
} tp_channel_key;

/* +1 as a 192-bit big-endian integer, wrapping (spec §3.3; NOT sodium_increment). */
void tp_nonce_increment(tp_nonce *n);

/* crypto_box_beforenm(remote_pk, local_sk) (spec §2.4).
 * Errors: TP_ERR_WEAK_KEY (a low-order remote key gives an all-zero shared secret). */
TP_MUST_USE tp_err tp_channel_key_precompute(tp_channel_key *out,
                                             const uint8_t remote_public_key[32],
                                             const uint8_t local_secret_key[32]);

/* The same key, through the env's key agreement when it has one (simnet remembers it per
 * pair of identities: tp_env_ops.sim_key_agreement); otherwise exactly
 * tp_channel_key_precompute. */
TP_MUST_USE tp_err tp_channel_key_agree(const tp_env *env, tp_channel_key *out,
                                        const uint8_t remote_public_key[32],
                                        const uint8_t local_secret_key[32]);

void tp_channel_key_wipe(tp_channel_key *k);

/* Simulation only (`--crypto fast`): a key both sides compute alike without X25519,
 * BLAKE2b-256("tidepool sim fast key" || lower public key || higher public key), marked
 * sim_fast. Keeps the decision of tp_channel_key_precompute: TP_ERR_WEAK_KEY for a
 * remote key of small order (the points libsodium refuses, for which X25519 gives an
 * all-zero secret). */
TP_MUST_USE tp_err tp_channel_key_precompute_sim_fast(tp_channel_key *out,
                                                      const uint8_t remote_public_key[32],
                                                      const uint8_t local_public_key[32]);

/* Nonce derivation from the framed connection messages (2-byte length + body, exactly
 * as sent) of the initiator and of the responder (spec §2.4):
 *   init_to_resp = BLAKE2b-256(init || resp || "Init -> Resp")[0..24)
 *   resp_to_init = BLAKE2b-256(init || resp || "Resp -> Init")[0..24)
 * and the assignment Octez uses (it looks inverted; it is not a typo):
 *   outgoing side (incoming = false): local = resp_to_init, remote = init_to_resp
 *   incoming side (incoming = true):  local = init_to_resp, remote = resp_to_init */
void tp_nonces_derive(const uint8_t *init_msg, size_t init_len, const uint8_t *resp_msg,
                      size_t resp_len, bool incoming, tp_nonce *local, tp_nonce *remote);

/* Wire size of a chunk carrying plain_len bytes. */
static inline size_t tp_chunk_wire_size(size_t plain_len) {
    return TP_CHUNK_OVERHEAD + plain_len;
}

/* Seals plain[0..len) into out (L | MAC | ciphertext, tp_chunk_wire_size(len) bytes)
 * with *nonce, then increments *nonce. plain and out must not overlap.
 * Errors (nothing written, nonce unchanged): TP_ERR_INVALID_MESSAGE_SIZE (len > 65517),
 * TP_ERR_TOO_BIG (cap too small). */
TP_MUST_USE tp_err tp_chunk_seal(const tp_channel_key *key, tp_nonce *nonce,
                                 const uint8_t *plain, size_t len, uint8_t *out, size_t cap,
                                 size_t *out_len);
/* Opens exactly one whole wire chunk (chunk_len = 2 + L) into plain, then increments
 * *nonce. Errors (nonce unchanged, plain may hold garbage): TP_ERR_DECODE_TRUNCATED
 * (fewer than 2 + L bytes), TP_ERR_DECODE_TRAILING (more), TP_ERR_INVALID_CIPHERTEXT_SIZE
 * (L < 16), TP_ERR_DECIPHER (bad MAC), TP_ERR_TOO_BIG (cap < L - 16). */
TP_MUST_USE tp_err tp_chunk_open(const tp_channel_key *key, tp_nonce *nonce,
                                 const uint8_t *chunk, size_t chunk_len, uint8_t *plain,
                                 size_t cap, size_t *plain_len);

/* Total wire bytes of a message of len bytes sent with binary_chunks_size chunks_size
 * (pass TP_CHUNK_SIZE_MAX for Octez's default): one chunk per chunks_size - 18 bytes,
 * the last one shorter. 0 for len 0. */
size_t tp_chunks_wire_size(size_t len, size_t chunks_size);
/* Cuts msg into chunks of (chunks_size - 18) plaintext bytes and seals each with
 * *nonce, incrementing it per chunk (spec §3.4: every message starts a fresh chunk).
 * Errors (nothing written, nonce unchanged): TP_ERR_INVALID_CHUNKS_SIZE (chunks_size
 * outside [19, 65535]), TP_ERR_TOO_BIG (cap < tp_chunks_wire_size). */
TP_MUST_USE tp_err tp_chunks_seal_message(const tp_channel_key *key, tp_nonce *nonce,
                                          const uint8_t *msg, size_t len, size_t chunks_size,
                                          uint8_t *out, size_t cap, size_t *out_len);

/* ---- streaming reassembler ---------------------------------------------------------- */

typedef enum tp_reassembler_mode {
    /* Each decrypted chunk is one unit (metadata and Ack/Nack in the handshake). */
    TP_REASSEMBLE_CHUNKS,
    /* Units are P2P message frames: u32 size | u16 tag | payload (spec §4.1), which may
     * span chunks; several may share a chunk (leftovers are kept). */
    TP_REASSEMBLE_MESSAGES,
} tp_reassembler_mode;

typedef struct tp_reassembler {
    const tp_env *env; /* allocator */
    tp_channel_key key;
    tp_nonce nonce; /* the remote nonce: the next chunk is opened with it */
    tp_reassembler_mode mode;
    size_t message_size_max; /* bound on a frame, size prefix included */
    tp_err error;            /* sticky: after an error, every call returns it */
    /* the chunk being received: its 2-byte header, then MAC + ciphertext */
    uint8_t header[TP_CHUNK_HEADER_SIZE];
    size_t header_len;
    uint8_t *chunk;
    size_t chunk_len, chunk_cap;
    /* decrypted bytes not yet handed out; [plain_pos, plain_len) is pending */
    uint8_t *plain;
    size_t plain_pos, plain_len, plain_cap;
    bool unit_ready; /* a complete unit of unit_len bytes starts at plain_pos */
    size_t unit_len;
    uint64_t chunks_opened;
} tp_reassembler;

/* Starts in TP_REASSEMBLE_CHUNKS mode. message_size_max: 0 means TP_MESSAGE_SIZE_MAX;
 * it must be >= 6. Nothing is allocated until bytes arrive. */
void tp_reassembler_init(tp_reassembler *r, const tp_env *env, const tp_channel_key *key,
                         const tp_nonce *remote_nonce, size_t message_size_max);
/* Frees the buffers and wipes the key. */
void tp_reassembler_deinit(tp_reassembler *r);
/* Switches mode; only allowed when no decrypted bytes are pending (between units).
 * Errors: TP_ERR_STATE. */
TP_MUST_USE tp_err tp_reassembler_set_mode(tp_reassembler *r, tp_reassembler_mode mode);

/* Consumes wire bytes until all of data is consumed or a complete unit is ready (then
 * *consumed < len may hold: call tp_reassembler_next, then feed the rest).
 * Errors (sticky; the connection must be closed): TP_ERR_INVALID_CIPHERTEXT_SIZE (L <
 * 16), TP_ERR_DECIPHER (bad MAC), TP_ERR_INVALID_MESSAGE_SIZE (a frame larger than
 * message_size_max), TP_ERR_DECODE_EMPTY (a frame too short to hold a tag),
 * TP_ERR_NOMEM (the env refused memory). *consumed is set in every case. */
TP_MUST_USE tp_err tp_reassembler_feed(tp_reassembler *r, const uint8_t *data, size_t len,
                                       size_t *consumed);
/* Hands out the next complete unit: a chunk's plaintext, or a whole message frame (size
 * prefix included). *unit stays valid until the next call on r. Returns false if no
 * unit is complete. */
bool tp_reassembler_next(tp_reassembler *r, const uint8_t **unit, size_t *unit_len);
/* Releases the buffers while nothing is pending (no unit ready, no partial chunk or
 * message): the last unit handed out is then invalid. For owners that are done with
 * it, so that an idle connection holds no buffer after a big message. */
void tp_reassembler_trim(tp_reassembler *r);
/* Decrypted bytes pending (a partial message), for tests and accounting. */
static inline size_t tp_reassembler_pending(const tp_reassembler *r) {
    return r->plain_len - r->plain_pos;
}
/* Bytes currently allocated by r. */
static inline size_t tp_reassembler_memory(const tp_reassembler *r) {
    return r->chunk_cap + r->plain_cap;
}

#endif
