/* bench/bench_crypto.c — encrypted framing and proof-of-work throughput (core/crypto,
 * core/identity) against raw libsodium on the same buffers.
 *
 *   seal+open: tp_chunk_seal + tp_chunk_open of a full chunk (65517 plaintext bytes, the
 *              largest Octez sends) vs crypto_box_easy_afternm +
 *              crypto_box_open_easy_afternm of the same bytes with the same key; MB/s of
 *              plaintext through one seal and one open, median of 7 runs.
 *   PoW:       tp_pow_search attempts/s (an unreachable target, so every attempt runs)
 *              vs crypto_generichash of 56 bytes (pk || stamp) per second.
 *
 * Prints figures only; never fails (a slow machine is not a bug).
 * Usage: bench_crypto [seconds-per-run, default 0.3]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/crypto.h"
#include "core/identity.h"

#define RUNS 7

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static volatile uint8_t sink;

/* One run of seal+open with our API; returns plaintext MB/s. */
static double run_ours(const tp_channel_key *key, uint8_t *plain, uint8_t *wire, uint8_t *back,
                       size_t len, double seconds) {
    tp_nonce send = {{0}}, recv = {{0}};
    uint64_t iters = 0;
    double start = now_s(), t;
    do {
        for (int i = 0; i < 16; i++) {
            size_t n, m;
            if (tp_chunk_seal(key, &send, plain, len, wire, TP_CHUNK_WIRE_MAX, &n) != TP_OK ||
                tp_chunk_open(key, &recv, wire, n, back, len, &m) != TP_OK) {
                fprintf(stderr, "bench_crypto: seal/open failed\n");
                exit(1);
            }
        }
        iters += 16;
        t = now_s() - start;
    } while (t < seconds);
    sink ^= back[0];
    return (double)iters * (double)len / t / 1e6;
}

/* The same with raw libsodium calls on the same buffers. */
static double run_raw(const tp_channel_key *key, uint8_t *plain, uint8_t *wire, uint8_t *back,
                      size_t len, double seconds) {
    uint8_t nonce[24] = {0};
    uint64_t iters = 0;
    double start = now_s(), t;
    do {
        for (int i = 0; i < 16; i++) {
            if (crypto_box_easy_afternm(wire + 2, plain, len, nonce, key->bytes) != 0 ||
                crypto_box_open_easy_afternm(back, wire + 2, len + 16, nonce, key->bytes) != 0) {
                fprintf(stderr, "bench_crypto: raw seal/open failed\n");
                exit(1);
            }
        }
        iters += 16;
        t = now_s() - start;
    } while (t < seconds);
    sink ^= back[0];
    return (double)iters * (double)len / t / 1e6;
}

static double run_pow_ours(const uint8_t pk[32], double seconds) {
    tp_pow_target impossible;
    if (tp_pow_target_of_difficulty(256.0, &impossible) != TP_OK) exit(1);
    uint8_t stamp[24] = {0};
    uint64_t attempts = 0;
    bool found;
    double start = now_s(), t;
    do {
        attempts += tp_pow_search(pk, stamp, &impossible, 4096, &found);
        t = now_s() - start;
    } while (t < seconds);
    return (double)attempts / t;
}

static double run_pow_raw(const uint8_t pk[32], double seconds) {
    uint8_t buf[56], h[32];
    memcpy(buf, pk, 32);
    memset(buf + 32, 0, 24);
    uint64_t n = 0;
    double start = now_s(), t;
    do {
        for (int i = 0; i < 4096; i++) {
            buf[55] = (uint8_t)i;
            crypto_generichash(h, 32, buf, sizeof buf, NULL, 0);
        }
        n += 4096;
        t = now_s() - start;
    } while (t < seconds);
    sink ^= h[0];
    return (double)n / t;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.3;
    if (!(seconds > 0)) seconds = 0.3;
    if (sodium_init() < 0) return 1;
    uint8_t seed[32] = {1};
    tp_identity a, b;
    tp_identity_init_from_seed(&a, seed);
    seed[0] = 2;
    tp_identity_init_from_seed(&b, seed);
    tp_channel_key key = {{0}, false};
    if (tp_channel_key_precompute(&key, b.public_key, a.secret_key) != TP_OK) return 1;

    const size_t len = TP_CHUNK_PLAINTEXT_MAX;
    uint8_t *plain = malloc(len), *wire = malloc(TP_CHUNK_WIRE_MAX), *back = malloc(len);
    for (size_t i = 0; i < len; i++) plain[i] = (uint8_t)(i * 131);
    double ours[RUNS], raw[RUNS];
    for (int r = 0; r < RUNS; r++) { /* interleaved, so drift affects both alike */
        raw[r] = run_raw(&key, plain, wire, back, len, seconds);
        ours[r] = run_ours(&key, plain, wire, back, len, seconds);
    }
    double mo = median(ours, RUNS), mr = median(raw, RUNS);
    printf("seal+open, %zu-byte chunks (median of %d runs of %.2f s)\n", len, RUNS, seconds);
    printf("  tidepool tp_chunk_seal+tp_chunk_open     %9.1f MB/s\n", mo);
    printf("  libsodium box_easy_afternm+open_afternm  %9.1f MB/s\n", mr);
    printf("  ratio                                    %9.1f %%\n", 100.0 * mo / mr);

    double po[RUNS], pr[RUNS];
    for (int r = 0; r < RUNS; r++) {
        pr[r] = run_pow_raw(a.public_key, seconds);
        po[r] = run_pow_ours(a.public_key, seconds);
    }
    double mpo = median(po, RUNS), mpr = median(pr, RUNS);
    printf("proof-of-work search (median of %d runs)\n", RUNS);
    printf("  tidepool tp_pow_search                   %9.3f M attempts/s\n", mpo / 1e6);
    printf("  raw crypto_generichash(56 bytes)         %9.3f M hashes/s\n", mpr / 1e6);
    printf("  ratio                                    %9.1f %%\n", 100.0 * mpo / mpr);
    tp_pow_target t26;
    if (tp_pow_target_of_difficulty(26.0, &t26) == TP_OK)
        printf("  expected time for difficulty 26          %9.1f s on one core\n",
               tp_pow_expected_attempts(&t26) / mpo);
    tp_channel_key_wipe(&key);
    tp_identity_wipe(&a);
    tp_identity_wipe(&b);
    free(plain);
    free(wire);
    free(back);
    return 0;
}
