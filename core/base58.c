/* core/base58.c — Base58 / Base58Check (spec §1.2). */
#include "base58.h"

#include <sodium.h>
#include <string.h>

static const char b58_alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

static int b58_value(char c) {
    const char *p = memchr(b58_alphabet, c, 58);
    return (c != '\0' && p != NULL) ? (int)(p - b58_alphabet) : -1;
}

/* Base 58^5 limbs (656,356,768 < 2^32): each input byte touches a fifth of the limbs a
 * digit-at-a-time conversion would. Peer ids are encoded for every peers.json entry and
 * event-log row, so this is on the simulator's hot path. The digits are the same. */
#define B58_LIMB 656356768u /* 58^5 */

tp_err tp_base58_encode(const uint8_t *in, size_t n, char *out, size_t cap, size_t *out_len) {
    if (n > TP_BASE58_BYTES_MAX) return TP_ERR_TOO_BIG;
    size_t zeros = 0;
    while (zeros < n && in[zeros] == 0) zeros++;
    /* the value in base 58^5, little-endian */
    uint32_t limbs[TP_BASE58_TEXT_MAX / 5 + 1];
    size_t nlimbs = 0;
    for (size_t i = zeros; i < n; i++) {
        uint64_t carry = in[i];
        for (size_t j = 0; j < nlimbs; j++) {
            carry += (uint64_t)limbs[j] << 8;
            limbs[j] = (uint32_t)(carry % B58_LIMB);
            carry /= B58_LIMB;
        }
        while (carry > 0) {
            TP_ASSERT(nlimbs < sizeof limbs / sizeof limbs[0]);
            limbs[nlimbs++] = (uint32_t)(carry % B58_LIMB);
            carry /= B58_LIMB;
        }
    }
    /* base 58 digits, little-endian, without the high zeros of the last limb */
    uint8_t digits[TP_BASE58_TEXT_MAX + 5];
    size_t ndigits = 0;
    for (size_t j = 0; j < nlimbs; j++) {
        uint32_t v = limbs[j];
        for (int k = 0; k < 5; k++) {
            digits[ndigits++] = (uint8_t)(v % 58);
            v /= 58;
        }
    }
    while (ndigits > 0 && digits[ndigits - 1] == 0) ndigits--;
    size_t total = zeros + ndigits;
    if (total + 1 > cap) return TP_ERR_TOO_BIG;
    size_t k = 0;
    for (size_t i = 0; i < zeros; i++) out[k++] = '1';
    for (size_t i = 0; i < ndigits; i++) out[k++] = b58_alphabet[digits[ndigits - 1 - i]];
    out[k] = '\0';
    *out_len = total;
    return TP_OK;
}

tp_err tp_base58_decode(const char *text, size_t text_len, uint8_t *out, size_t cap,
                        size_t *out_len) {
    if (text_len == 0) return TP_ERR_BAD_BASE58;
    if (text_len > TP_BASE58_TEXT_MAX) return TP_ERR_TOO_BIG;
    for (size_t i = 0; i < text_len; i++)
        if (b58_value(text[i]) < 0) return TP_ERR_BAD_BASE58;
    size_t zeros = 0;
    while (zeros < text_len && text[zeros] == '1') zeros++;
    /* bytes, little-endian */
    uint8_t bytes[TP_BASE58_TEXT_MAX];
    size_t nbytes = 0;
    for (size_t i = zeros; i < text_len; i++) {
        unsigned carry = (unsigned)b58_value(text[i]);
        for (size_t j = 0; j < nbytes; j++) {
            carry += (unsigned)bytes[j] * 58;
            bytes[j] = (uint8_t)carry;
            carry >>= 8;
        }
        while (carry > 0) {
            TP_ASSERT(nbytes < sizeof bytes);
            bytes[nbytes++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    size_t total = zeros + nbytes;
    if (total > TP_BASE58_BYTES_MAX || total > cap) return TP_ERR_TOO_BIG;
    memset(out, 0, zeros);
    for (size_t i = 0; i < nbytes; i++) out[zeros + i] = bytes[nbytes - 1 - i];
    *out_len = total;
    return TP_OK;
}

static void checksum4(const uint8_t *data, size_t n, uint8_t out[4]) {
    uint8_t h1[crypto_hash_sha256_BYTES], h2[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h1, data, n);
    crypto_hash_sha256(h2, h1, sizeof h1);
    memcpy(out, h2, 4);
}

tp_err tp_base58check_encode(const uint8_t *prefix, size_t prefix_len, const uint8_t *payload,
                             size_t payload_len, char *out, size_t cap, size_t *out_len) {
    if (prefix_len + payload_len + 4 > TP_BASE58_BYTES_MAX) return TP_ERR_TOO_BIG;
    uint8_t buf[TP_BASE58_BYTES_MAX];
    if (prefix_len) memcpy(buf, prefix, prefix_len);
    if (payload_len) memcpy(buf + prefix_len, payload, payload_len);
    checksum4(buf, prefix_len + payload_len, buf + prefix_len + payload_len);
    return tp_base58_encode(buf, prefix_len + payload_len + 4, out, cap, out_len);
}

tp_err tp_base58check_decode(const char *text, size_t text_len, const uint8_t *prefix,
                             size_t prefix_len, uint8_t *payload, size_t payload_len) {
    uint8_t buf[TP_BASE58_BYTES_MAX];
    size_t n;
    tp_err e = tp_base58_decode(text, text_len, buf, sizeof buf, &n);
    if (e == TP_ERR_TOO_BIG) return TP_ERR_BAD_PREFIX; /* far too long for this kind */
    if (e != TP_OK) return e;
    if (n < 4) return TP_ERR_BAD_CHECKSUM;
    uint8_t sum[4];
    checksum4(buf, n - 4, sum);
    if (memcmp(sum, buf + n - 4, 4) != 0) return TP_ERR_BAD_CHECKSUM;
    if (n != prefix_len + payload_len + 4 || memcmp(buf, prefix, prefix_len) != 0)
        return TP_ERR_BAD_PREFIX;
    memcpy(payload, buf + prefix_len, payload_len);
    return TP_OK;
}
