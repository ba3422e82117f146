/* core/base58.h — Base58 and Base58Check text (Bitcoin alphabet), as Octez's
 * Tezos_crypto.Base58 uses it for peer ids (spec §1.2).
 *
 * Base58Check = Base58(payload || first 4 bytes of SHA256(SHA256(payload))), where the
 * payload starts with a type prefix (0x99 0x67 for peer ids, giving texts "id…").
 * Pure functions over caller buffers; sizes are small (peer ids, keys), so the
 * quadratic textbook algorithm is used, with a hard input bound.
 */
#ifndef TP_BASE58_H
#define TP_BASE58_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Largest binary input (and decoded output) accepted; far above any Tezos b58 value. */
#define TP_BASE58_BYTES_MAX 128
/* Largest text accepted (ceil(128 * log(256)/log(58)) = 175, with slack). */
#define TP_BASE58_TEXT_MAX 180

/* Encodes n bytes (n <= TP_BASE58_BYTES_MAX) into out (NUL-terminated); *out_len is the
 * text length. Errors: TP_ERR_TOO_BIG (input too large or cap too small). */
TP_MUST_USE tp_err tp_base58_encode(const uint8_t *in, size_t n, char *out, size_t cap,
                                    size_t *out_len);
/* Decodes text into out. Errors: TP_ERR_BAD_BASE58 (a character outside the alphabet,
 * or empty text), TP_ERR_TOO_BIG (text or result above the bounds / cap). */
TP_MUST_USE tp_err tp_base58_decode(const char *text, size_t text_len, uint8_t *out,
                                    size_t cap, size_t *out_len);

/* Base58Check of prefix || payload. Errors: as tp_base58_encode. */
TP_MUST_USE tp_err tp_base58check_encode(const uint8_t *prefix, size_t prefix_len,
                                         const uint8_t *payload, size_t payload_len, char *out,
                                         size_t cap, size_t *out_len);
/* Decodes Base58Check text that must carry `prefix` and exactly payload_len payload
 * bytes. Errors: BAD_BASE58, BAD_CHECKSUM, BAD_PREFIX (wrong prefix or wrong length). */
TP_MUST_USE tp_err tp_base58check_decode(const char *text, size_t text_len,
                                         const uint8_t *prefix, size_t prefix_len,
                                         uint8_t *payload, size_t payload_len);

#endif
