/* core/crypto.c — nonces, channel keys, chunk seal/open, reassembly (spec §2.4, §3). */
#include "crypto.h"

#include <sodium.h>
#include <string.h>

#include "encoding.h"

/* The 12-byte derivation seeds of spec §2.4 (no terminator is hashed). */
static const char seed_init_to_resp[] = "Init -> Resp";
static const char seed_resp_to_init[] = "Resp -> Init";

void tp_nonce_increment(tp_nonce *n) {
    for (int i = TP_NONCE_SIZE - 1; i >= 0; i--)
        if (++n->bytes[i] != 0) return;
}

tp_err tp_channel_key_precompute(tp_channel_key *out, const uint8_t remote_public_key[32],
                                 const uint8_t local_secret_key[32]) {
    tp_channel_key k = {.sim_fast = false};
    if (crypto_box_beforenm(k.bytes, remote_public_key, local_secret_key) != 0) {
        sodium_memzero(&k, sizeof k);
        return TP_ERR_WEAK_KEY;
    }
    *out = k;
    sodium_memzero(&k, sizeof k);
    return TP_OK;
}

tp_err tp_channel_key_agree(const tp_env *env, tp_channel_key *out,
                            const uint8_t remote_public_key[32],
                            const uint8_t local_secret_key[32]) {
    tp_channel_key k = {.sim_fast = false};
    tp_err e = tp_env_sim_key_agreement(env, k.bytes, remote_public_key, local_secret_key);
    if (e == TP_ERR_NOT_SUPPORTED)
        return tp_channel_key_precompute(out, remote_public_key, local_secret_key);
    if (e == TP_OK) *out = k;
    sodium_memzero(&k, sizeof k);
    return e;
}

void tp_channel_key_wipe(tp_channel_key *k) {
    sodium_memzero(k, sizeof *k);
}

/* ---- the simulation-only fast stand-in (crypto.h) ------------------------------------- */

/* X25519 points of small order, as libsodium lists them (has_small_order in
 * crypto_scalarmult/curve25519/ref10/x25519_ref10.c): 0, 1, the two points of order 8,
 * p - 1, p, p + 1. They are compared ignoring the top bit, which X25519 ignores too.
 * tests/test_crypto.c checks that crypto_box_beforenm refuses each of them. */
static const uint8_t small_order_points[7][32] = {
    {0},
    {1},
    {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
     0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
     0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

static bool has_small_order(const uint8_t pk[32]) {
    for (size_t i = 0; i < 7; i++) {
        uint8_t diff = (uint8_t)((pk[31] ^ small_order_points[i][31]) & 0x7f);
        for (size_t j = 0; j < 31; j++) diff |= (uint8_t)(pk[j] ^ small_order_points[i][j]);
        if (diff == 0) return true;
    }
    return false;
}

tp_err tp_channel_key_precompute_sim_fast(tp_channel_key *out, const uint8_t remote_public_key[32],
                                          const uint8_t local_public_key[32]) {
    if (has_small_order(remote_public_key)) return TP_ERR_WEAK_KEY;
    static const char label[] = "tidepool sim fast key";
    bool local_first = memcmp(local_public_key, remote_public_key, 32) < 0;
    crypto_generichash_state st;
    tp_channel_key k;
    crypto_generichash_init(&st, NULL, 0, TP_CHANNEL_KEY_SIZE);
    crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
    crypto_generichash_update(&st, local_first ? local_public_key : remote_public_key, 32);
    crypto_generichash_update(&st, local_first ? remote_public_key : local_public_key, 32);
    crypto_generichash_final(&st, k.bytes, TP_CHANNEL_KEY_SIZE);
    k.sim_fast = true;
    *out = k;
    sodium_memzero(&k, sizeof k);
    return TP_OK;
}

static uint64_t load64_le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void store64_le(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Two 64-bit lanes; each step (xor a word, multiply by an odd constant, xor-shift) is a
 * bijection of the lane state for a given word, so two inputs that differ in exactly
 * one 8-byte word (any single corrupted byte) always give different tags. */
static void fast_tag(const tp_channel_key *key, const tp_nonce *nonce, const uint8_t *data,
                     size_t len, uint8_t tag[TP_MAC_SIZE]) {
    uint64_t a = load64_le(key->bytes) ^ load64_le(nonce->bytes) ^ (uint64_t)len;
    uint64_t b = load64_le(key->bytes + 8) ^ load64_le(nonce->bytes + 8);
    uint64_t k2 = load64_le(key->bytes + 16) ^ load64_le(nonce->bytes + 16);
    uint64_t k3 = load64_le(key->bytes + 24);
    a = (a ^ k3) * 0x9e3779b97f4a7c15ull;
    b = (b ^ k2) * 0xc2b2ae3d27d4eb4full;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = load64_le(data + i);
        a = (a ^ w) * 0xff51afd7ed558ccdull;
        a ^= a >> 32;
        b = (b ^ w) * 0xc4ceb9fe1a85ec53ull;
        b ^= b >> 29;
    }
    if (i < len) {
        uint8_t last[8] = {0};
        memcpy(last, data + i, len - i);
        uint64_t w = load64_le(last) ^ ((uint64_t)(len - i) << 56);
        a = (a ^ w) * 0xff51afd7ed558ccdull;
        a ^= a >> 32;
        b = (b ^ w) * 0xc4ceb9fe1a85ec53ull;
        b ^= b >> 29;
    }
    a ^= k2;
    a *= 0x9e3779b97f4a7c15ull;
    a ^= a >> 31;
    b ^= k3;
    b *= 0xd6e8feb86659fd93ull;
    b ^= b >> 31;
    store64_le(tag, a);
    store64_le(tag + 8, b);
}

/* crypto_box_easy_afternm's layout: out = tag(16) || "ciphertext" (a copy). */
static void fast_seal(const tp_channel_key *key, const tp_nonce *nonce, const uint8_t *plain,
                      size_t len, uint8_t *out) {
    if (len > 0) memcpy(out + TP_MAC_SIZE, plain, len);
    fast_tag(key, nonce, plain, len, out);
}

/* Opens in = tag || body (in_len >= 16) into plain; false on a bad tag. */
static bool fast_open(const tp_channel_key *key, const tp_nonce *nonce, const uint8_t *in,
                      size_t in_len, uint8_t *plain) {
    uint8_t tag[TP_MAC_SIZE];
    size_t len = in_len - TP_MAC_SIZE;
    fast_tag(key, nonce, in + TP_MAC_SIZE, len, tag);
    if (sodium_memcmp(tag, in, TP_MAC_SIZE) != 0) return false;
    if (len > 0) memcpy(plain, in + TP_MAC_SIZE, len);
    return true;
}

/* Real or fast, by key; both return 0 on success like libsodium. */
static int box_seal(const tp_channel_key *key, const tp_nonce *nonce, const uint8_t *plain,
                    size_t len, uint8_t *out) {
    if (key->sim_fast) {
        fast_seal(key, nonce, plain, len, out);
        return 0;
    }
    return crypto_box_easy_afternm(out, plain, len, nonce->bytes, key->bytes);
}

static int box_open(const tp_channel_key *key, const tp_nonce *nonce, const uint8_t *in,
                    size_t in_len, uint8_t *plain) {
    if (key->sim_fast) return fast_open(key, nonce, in, in_len, plain) ? 0 : -1;
    return crypto_box_open_easy_afternm(plain, in, in_len, nonce->bytes, key->bytes);
}

static void derive_one(const uint8_t *init_msg, size_t init_len, const uint8_t *resp_msg,
                       size_t resp_len, const char *seed, tp_nonce *out) {
    crypto_generichash_state st;
    uint8_t h[32];
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, init_msg, init_len);
    crypto_generichash_update(&st, resp_msg, resp_len);
    crypto_generichash_update(&st, (const uint8_t *)seed, 12);
    crypto_generichash_final(&st, h, sizeof h);
    memcpy(out->bytes, h, TP_NONCE_SIZE);
}

void tp_nonces_derive(const uint8_t *init_msg, size_t init_len, const uint8_t *resp_msg,
                      size_t resp_len, bool incoming, tp_nonce *local, tp_nonce *remote) {
    TP_ASSERT(init_msg != NULL && resp_msg != NULL && local != NULL && remote != NULL);
    tp_nonce i2r, r2i;
    derive_one(init_msg, init_len, resp_msg, resp_len, seed_init_to_resp, &i2r);
    derive_one(init_msg, init_len, resp_msg, resp_len, seed_resp_to_init, &r2i);
    /* spec §2.4: the initiator sends with "Resp -> Init", as Octez does. */
    *local = incoming ? i2r : r2i;
    *remote = incoming ? r2i : i2r;
}

tp_err tp_chunk_seal(const tp_channel_key *key, tp_nonce *nonce, const uint8_t *plain,
                     size_t len, uint8_t *out, size_t cap, size_t *out_len) {
    TP_ASSERT(plain != NULL || len == 0);
    if (len > TP_CHUNK_PLAINTEXT_MAX) return TP_ERR_INVALID_MESSAGE_SIZE;
    size_t wire = tp_chunk_wire_size(len);
    if (cap < wire) return TP_ERR_TOO_BIG;
    TP_ASSERT(plain == NULL || plain + len <= out || out + wire <= plain);
    tp_be16_store(out, (uint16_t)(TP_MAC_SIZE + len));
    /* crypto_box_easy_afternm never fails for valid lengths. */
    int rc = box_seal(key, nonce, plain, len, out + TP_CHUNK_HEADER_SIZE);
    TP_ASSERT(rc == 0);
    tp_nonce_increment(nonce);
    *out_len = wire;
    return TP_OK;
}

tp_err tp_chunk_open(const tp_channel_key *key, tp_nonce *nonce, const uint8_t *chunk,
                     size_t chunk_len, uint8_t *plain, size_t cap, size_t *plain_len) {
    if (chunk_len < TP_CHUNK_HEADER_SIZE) return TP_ERR_DECODE_TRUNCATED;
    size_t l = tp_be16_load(chunk);
    if (l < TP_MAC_SIZE) return TP_ERR_INVALID_CIPHERTEXT_SIZE;
    if (chunk_len < TP_CHUNK_HEADER_SIZE + l) return TP_ERR_DECODE_TRUNCATED;
    if (chunk_len > TP_CHUNK_HEADER_SIZE + l) return TP_ERR_DECODE_TRAILING;
    if (cap < l - TP_MAC_SIZE) return TP_ERR_TOO_BIG;
    if (box_open(key, nonce, chunk + TP_CHUNK_HEADER_SIZE, l, plain) != 0) return TP_ERR_DECIPHER;
    tp_nonce_increment(nonce);
    *plain_len = l - TP_MAC_SIZE;
    return TP_OK;
}

size_t tp_chunks_wire_size(size_t len, size_t chunks_size) {
    TP_ASSERT(chunks_size >= TP_CHUNKS_SIZE_MIN && chunks_size <= TP_CHUNK_SIZE_MAX);
    size_t piece = chunks_size - TP_CHUNK_OVERHEAD;
    size_t n = (len + piece - 1) / piece;
    return len + n * TP_CHUNK_OVERHEAD;
}

tp_err tp_chunks_seal_message(const tp_channel_key *key, tp_nonce *nonce, const uint8_t *msg,
                              size_t len, size_t chunks_size, uint8_t *out, size_t cap,
                              size_t *out_len) {
    if (chunks_size < TP_CHUNKS_SIZE_MIN || chunks_size > TP_CHUNK_SIZE_MAX)
        return TP_ERR_INVALID_CHUNKS_SIZE;
    if (cap < tp_chunks_wire_size(len, chunks_size)) return TP_ERR_TOO_BIG;
    size_t piece = chunks_size - TP_CHUNK_OVERHEAD;
    size_t w = 0;
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        size_t wrote;
        tp_err e = tp_chunk_seal(key, nonce, msg + off, n, out + w, cap - w, &wrote);
        TP_ASSERT(e == TP_OK); /* sizes were checked above */
        w += wrote;
    }
    *out_len = w;
    return TP_OK;
}

/* ---- reassembler ---------------------------------------------------------------------- */

void tp_reassembler_init(tp_reassembler *r, const tp_env *env, const tp_channel_key *key,
                         const tp_nonce *remote_nonce, size_t message_size_max) {
    TP_ASSERT(env != NULL && key != NULL && remote_nonce != NULL);
    memset(r, 0, sizeof *r);
    r->env = env;
    r->key = *key;
    r->nonce = *remote_nonce;
    r->mode = TP_REASSEMBLE_CHUNKS;
    r->message_size_max = message_size_max == 0 ? TP_MESSAGE_SIZE_MAX : message_size_max;
    TP_ASSERT(r->message_size_max >= 6);
    r->error = TP_OK;
}

void tp_reassembler_deinit(tp_reassembler *r) {
    tp_env_free(r->env, r->chunk, r->chunk_cap);
    tp_env_free(r->env, r->plain, r->plain_cap);
    r->chunk = NULL;
    r->plain = NULL;
    r->chunk_cap = r->plain_cap = 0;
    tp_channel_key_wipe(&r->key);
}

tp_err tp_reassembler_set_mode(tp_reassembler *r, tp_reassembler_mode mode) {
    if (r->error != TP_OK) return r->error;
    if (r->unit_ready || tp_reassembler_pending(r) != 0) return TP_ERR_STATE;
    r->mode = mode;
    return TP_OK;
}

#define REASSEMBLER_IDLE_KEEP 0 /* empty buffers above this size are released (as in conn.c) */

/* Grows a buffer to at least `need` bytes (geometrically, but never above `limit`). */
static tp_err grow(const tp_env *env, uint8_t **buf, size_t *cap, size_t need, size_t limit) {
    if (*cap >= need) return TP_OK;
    size_t n = *cap < 256 ? 256 : *cap * 2;
    if (n < need) n = need;
    if (n > limit) n = limit;
    TP_ASSERT(n >= need);
    uint8_t *p = tp_env_realloc(env, *buf, *cap, n);
    if (p == NULL) return TP_ERR_NOMEM;
    *buf = p;
    *cap = n;
    return TP_OK;
}

/* Looks for a complete frame at the start of the pending bytes (messages mode). */
static tp_err find_message(tp_reassembler *r) {
    size_t pending = tp_reassembler_pending(r);
    if (r->unit_ready || pending < 4) return TP_OK;
    uint32_t size = tp_be32_load(r->plain + r->plain_pos);
    if (size < 2) return TP_ERR_DECODE_EMPTY; /* spec §4.1: an empty frame is an error */
    if (size > TP_UINT30_MAX || (uint64_t)size + 4 > r->message_size_max)
        return TP_ERR_INVALID_MESSAGE_SIZE;
    if (pending >= (size_t)size + 4) {
        r->unit_ready = true;
        r->unit_len = (size_t)size + 4;
    }
    return TP_OK;
}

static tp_err open_current_chunk(tp_reassembler *r) {
    size_t l = tp_be16_load(r->header);
    size_t plain_n = l - TP_MAC_SIZE;
    /* Drop bytes already handed out, then make room for this chunk's plaintext. */
    size_t pending = tp_reassembler_pending(r);
    if (r->plain_pos > 0) {
        if (pending > 0) memmove(r->plain, r->plain + r->plain_pos, pending);
        r->plain_pos = 0;
        r->plain_len = pending;
    }
    if (plain_n > 0) {
        size_t need = pending + plain_n;
        /* Pending bytes are less than one frame (<= message_size_max), so one frame
         * plus one chunk bounds the buffer; doubling stops there. */
        size_t limit = r->message_size_max + TP_CHUNK_SIZE_MAX;
        if (limit < need) limit = need;
        TP_TRY(grow(r->env, &r->plain, &r->plain_cap, need, limit));
        if (box_open(&r->key, &r->nonce, r->chunk, l, r->plain + r->plain_len) != 0)
            return TP_ERR_DECIPHER;
    } else {
        /* An empty chunk (L = 16) is legal; it still has a MAC to check. */
        uint8_t dummy[1];
        if (box_open(&r->key, &r->nonce, r->chunk, l, dummy) != 0) return TP_ERR_DECIPHER;
    }
    tp_nonce_increment(&r->nonce);
    r->chunks_opened++;
    r->plain_len += plain_n;
    r->header_len = 0;
    r->chunk_len = 0;
    if (r->mode == TP_REASSEMBLE_CHUNKS) {
        TP_ASSERT(r->plain_pos == 0 && r->plain_len == plain_n);
        r->unit_ready = true;
        r->unit_len = plain_n;
        return TP_OK;
    }
    return find_message(r);
}

/* The chunk buffer is free again once a chunk was opened: release it at once. */
static void release_idle_chunk(tp_reassembler *r) {
    if (r->header_len == 0 && r->chunk_len == 0 && r->chunk_cap > REASSEMBLER_IDLE_KEEP) {
        tp_env_free(r->env, r->chunk, r->chunk_cap);
        r->chunk = NULL;
        r->chunk_cap = 0;
    }
}

void tp_reassembler_trim(tp_reassembler *r) {
    if (!r->unit_ready && tp_reassembler_pending(r) == 0 && r->plain_cap > REASSEMBLER_IDLE_KEEP) {
        tp_env_free(r->env, r->plain, r->plain_cap);
        r->plain = NULL;
        r->plain_cap = r->plain_pos = r->plain_len = 0;
    }
    release_idle_chunk(r);
}

static tp_err feed(tp_reassembler *r, const uint8_t *data, size_t len, size_t *consumed) {
    size_t k = 0;
    *consumed = 0;
    /* An idle connection keeps no big buffer: release them once everything was read
     * (a node holds many idle connections; the occasional big message pays an
     * allocation). */
    tp_reassembler_trim(r);
    if (r->mode == TP_REASSEMBLE_MESSAGES) TP_TRY(find_message(r));
    while (k < len && !r->unit_ready) {
        if (r->header_len < TP_CHUNK_HEADER_SIZE) {
            r->header[r->header_len++] = data[k++];
            *consumed = k;
            if (r->header_len == TP_CHUNK_HEADER_SIZE &&
                tp_be16_load(r->header) < TP_MAC_SIZE)
                return TP_ERR_INVALID_CIPHERTEXT_SIZE;
            continue;
        }
        size_t l = tp_be16_load(r->header);
        size_t take = l - r->chunk_len;
        if (take > len - k) take = len - k;
        TP_TRY(grow(r->env, &r->chunk, &r->chunk_cap, r->chunk_len + take, l));
        memcpy(r->chunk + r->chunk_len, data + k, take);
        r->chunk_len += take;
        k += take;
        *consumed = k;
        if (r->chunk_len == l) TP_TRY(open_current_chunk(r));
    }
    release_idle_chunk(r);
    return TP_OK;
}

tp_err tp_reassembler_feed(tp_reassembler *r, const uint8_t *data, size_t len, size_t *consumed) {
    TP_ASSERT(data != NULL || len == 0);
    *consumed = 0;
    if (r->error != TP_OK) return r->error;
    tp_err e = feed(r, data, len, consumed);
    if (e != TP_OK) r->error = e;
    return e;
}

bool tp_reassembler_next(tp_reassembler *r, const uint8_t **unit, size_t *unit_len) {
    if (r->error != TP_OK) return false;
    if (!r->unit_ready && r->mode == TP_REASSEMBLE_MESSAGES) {
        tp_err e = find_message(r);
        if (e != TP_OK) {
            r->error = e; /* reported by the next feed */
            return false;
        }
    }
    if (!r->unit_ready) return false;
    /* An empty chunk may leave plain unallocated: hand out a valid pointer anyway. */
    *unit = r->plain != NULL ? r->plain + r->plain_pos : r->header;
    *unit_len = r->unit_len;
    r->plain_pos += r->unit_len;
    r->unit_ready = false;
    r->unit_len = 0;
    return true;
}
