/* simnet/sim_crypto.c — the handshake's key agreement, remembered per pair of identities.
 *
 * Every tidepool handshake computes crypto_box_beforenm(remote_pk, local_sk): one X25519
 * on each end. The two ends of a connection get the same key, and in a simulation the
 * same identities meet again and again (the join of 1,000 nodes opens ~110,000
 * connections among ~130,000 distinct pairs of identities over 10 minutes), so simnet
 * keeps recent results in a direct-mapped table keyed by the unordered pair of public
 * keys. A pair then costs one X25519, not two or more: the same bytes, the same
 * refusals (a weak key is never stored; the next attempt computes and refuses again),
 * nothing else changes (hits and misses do not touch the trace or any decision).
 *
 * The local public key is derived from the secret key (crypto_scalarmult_base, kept in
 * a second direct-mapped table keyed by the secret key), never taken from the caller: a
 * host whose identity claims someone else's public key with its own secret key must not
 * receive the other identity's keys from the memo. */
#include "sim_impl.h"

#include <sodium.h>
#include <string.h>

#define KX_SLOTS 65536u  /* pairs: 6.4 MB, allocated on the first handshake */
#define PK_SLOTS 16384u  /* secret key -> public key: 1 MB */

typedef struct kx_slot {
    uint8_t lo[32], hi[32]; /* the two public keys, in memcmp order */
    uint8_t key[32];
    bool used;
} kx_slot;

typedef struct pk_slot {
    uint8_t sk[32], pk[32];
    bool used;
} pk_slot;

struct sim_kx {
    kx_slot *pairs;
    pk_slot *keys;
    sim_part *part; /* whose backend_bytes count it */
};

static uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The memo is the running thread's, not the partition's: a thread runs several
 * partitions, and a pair's two ends are then more often in one memo. Its bytes are
 * counted in the partition that made it (a sum over partitions is what is reported). */
static struct sim_kx *kx_of(sim_part *w) {
    sim_tslot *t = &w->world->tslot[sim_tidx];
    if (t->kx == NULL) {
        t->kx = sim_backend_alloc(w, sizeof *t->kx);
        t->kx->pairs = sim_backend_alloc(w, KX_SLOTS * sizeof(kx_slot));
        t->kx->keys = sim_backend_alloc(w, PK_SLOTS * sizeof(pk_slot));
        t->kx->part = w;
    }
    return t->kx;
}

void sim_kx_free(sim_tslot *t) {
    if (t->kx == NULL) return;
    sim_part *w = t->kx->part;
    sodium_memzero(t->kx->pairs, KX_SLOTS * sizeof(kx_slot));
    sodium_memzero(t->kx->keys, PK_SLOTS * sizeof(pk_slot));
    sim_backend_free(w, t->kx->pairs, KX_SLOTS * sizeof(kx_slot));
    sim_backend_free(w, t->kx->keys, PK_SLOTS * sizeof(pk_slot));
    sim_backend_free(w, t->kx, sizeof *t->kx);
    t->kx = NULL;
}

/* The public key of a secret key (X25519 clamps, as crypto_box does). */
static void public_of(struct sim_kx *kx, const uint8_t sk[32], uint8_t pk[32]) {
    /* keys are uniformly random bytes: any 64 bits of them make a good index */
    pk_slot *s = &kx->keys[load64(sk) % PK_SLOTS];
    if (!s->used || memcmp(s->sk, sk, 32) != 0) {
        int rc = crypto_scalarmult_base(s->pk, sk);
        TP_ASSERT(rc == 0); /* a clamped scalar never gives the identity */
        memcpy(s->sk, sk, 32);
        s->used = true;
    }
    memcpy(pk, s->pk, 32);
}

tp_err sim_key_agreement(sim_part *w, uint8_t out[32], const uint8_t remote_pk[32],
                         const uint8_t local_sk[32]) {
    struct sim_kx *kx = kx_of(w);
    uint8_t local_pk[32];
    public_of(kx, local_sk, local_pk);
    bool local_low = memcmp(local_pk, remote_pk, 32) < 0;
    const uint8_t *lo = local_low ? local_pk : remote_pk;
    const uint8_t *hi = local_low ? remote_pk : local_pk;
    /* symmetric in the pair; a remote key may be chosen by a hostile host, which can
     * only make its own pairs collide and recompute */
    uint64_t h = load64(lo) ^ (load64(hi) * 0x9e3779b97f4a7c15ULL);
    kx_slot *s = &kx->pairs[(h ^ (h >> 29)) % KX_SLOTS];
    if (s->used && memcmp(s->lo, lo, 32) == 0 && memcmp(s->hi, hi, 32) == 0) {
        memcpy(out, s->key, 32);
        w->stats.key_agreements_reused++;
        sodium_memzero(local_pk, sizeof local_pk);
        return TP_OK;
    }
    w->stats.key_agreements_computed++;
    if (crypto_box_beforenm(out, remote_pk, local_sk) != 0) {
        sodium_memzero(out, 32);
        return TP_ERR_WEAK_KEY;
    }
    memcpy(s->lo, lo, 32);
    memcpy(s->hi, hi, 32);
    memcpy(s->key, out, 32);
    s->used = true;
    return TP_OK;
}
