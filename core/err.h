/* core/err.h — the one error type of tidepool, and always-on assertions.
 *
 * Every fallible function returns a tp_err: 0 (TP_OK) on success, a negative value on
 * failure. The values come from one X-macro list, which also yields tp_strerror() and
 * tp_errname(). Out-parameters are written only on success. There is no errno and no
 * global error state.
 *
 * Append new codes at the end of their group; the numeric values are not persisted
 * anywhere (results databases store the name), but keeping the order stable keeps
 * logs comparable between versions.
 *
 * Programmer errors (a broken invariant, a misuse of an API) are not tp_err values:
 * they are TP_ASSERT failures, which stay on in every build type.
 */
#ifndef TP_ERR_H
#define TP_ERR_H

#include <stdbool.h>

/* X(NAME, "text a user can act on") */
#define TP_ERR_LIST(X)                                                                   \
    X(OK, "success")                                                                     \
    /* generic */                                                                        \
    X(NOMEM, "out of memory")                                                            \
    X(INVAL, "invalid argument")                                                         \
    X(AGAIN, "resource temporarily unavailable; try again later")                        \
    X(LIMIT, "a configured limit was reached")                                           \
    X(NOT_FOUND, "not found")                                                            \
    X(EXISTS, "already exists")                                                          \
    X(TOO_BIG, "data larger than the buffer or the allowed maximum")                     \
    X(IO, "input/output error")                                                          \
    X(CANCELLED, "operation cancelled")                                                  \
    X(NOT_SUPPORTED, "operation not supported by this backend")                          \
    X(CORRUPT, "stored data is corrupt")                                                 \
    X(STATE, "operation not allowed in the current state")                               \
    /* transport (env streams and datagrams) */                                          \
    X(CLOSED, "connection closed")                                                       \
    X(CONN_REFUSED, "connection refused by the remote host")                             \
    X(CONN_RESET, "connection reset by the remote host")                                 \
    X(TIMEOUT, "operation timed out")                                                    \
    X(UNREACHABLE, "host unreachable")                                                   \
    X(ADDR_IN_USE, "address already in use: another process listens on this port")      \
    X(ADDR_NOT_AVAILABLE, "address not available on this host")                          \
    /* decoding (bytes from the network or from files are hostile until decoded) */     \
    X(DECODE_TRUNCATED, "decoding: input ends before the value is complete")             \
    X(DECODE_TRAILING, "decoding: extra bytes after the value")                          \
    X(DECODE_TOO_LONG, "decoding: length or count above the allowed maximum")            \
    X(DECODE_BAD_TAG, "decoding: unknown tag")                                           \
    X(DECODE_BAD_VALUE, "decoding: field value out of range")                            \
    X(DECODE_BAD_POINT, "decoding: malformed point (expected ip:port or [ipv6]:port)")   \
    X(DECODE_BAD_JSON, "decoding: malformed JSON")                                     \
    X(DECODE_EMPTY, "decoding: empty message frame (a P2P message needs at least a tag)") \
    X(BAD_BASE58, "not valid Base58: only the Bitcoin alphabet (no 0, O, I, l) is allowed") \
    X(BAD_CHECKSUM, "Base58Check checksum mismatch: the text is mistyped or truncated")  \
    X(BAD_PREFIX, "Base58Check value of the wrong kind (a peer id starts with 'id')")    \
    X(BAD_HEX, "malformed hex string: expected an even number of 0-9a-f characters")  \
    /* identity, handshake and encrypted framing (spec §1-§3) */                         \
    X(NOT_ENOUGH_POW, "proof of work below the required difficulty: generate a new "   \
      "identity with a higher --difficulty")                                             \
    X(BAD_DIFFICULTY, "proof-of-work difficulty must be a number in [0, 256]")           \
    X(WEAK_KEY, "public key gives an all-zero shared secret (low-order point)")          \
    X(DECIPHER, "cannot decrypt chunk: bad MAC (wrong key, wrong nonce or corrupted)")   \
    X(INVALID_CIPHERTEXT_SIZE, "encrypted chunk shorter than its 16-byte MAC")           \
    X(INVALID_MESSAGE_SIZE, "message or chunk larger than the protocol allows")          \
    X(INVALID_CHUNKS_SIZE, "binary chunk size must be in [19, 65535] bytes")            \
    X(IDENTITY_KEYS_MISMATCH, "identity: public_key is not the public key of "          \
      "secret_key; the file is corrupt or was edited: restore it or generate a new one") \
    X(IDENTITY_PEER_ID_MISMATCH, "identity: peer_id is not the hash of public_key; "    \
      "remove the peer_id field or restore the file")                                    \
    X(IDENTITY_MISSING_FIELD, "identity: a required field is missing")                  \
    X(IDENTITY_BAD_FIELD, "identity: a field has the wrong type or length")           \
    /* connections and admission (spec §2.6-2.7, §7) */                                 \
    X(MYSELF, "the remote peer is this node itself (same peer id)")                     \
    X(PEER_BANNED, "the remote peer id is blacklisted or greylisted: unban it first")   \
    X(POINT_BANNED, "the point's address is blacklisted or greylisted: unban it first") \
    X(IDENTITY_CHECK_FAILURE, "the remote peer id differs from the point's expected "  \
      "peer id: fix the #peer_id of the point")                                          \
    X(PRIVATE_MODE, "private mode: only trusted points and peers may connect")          \
    X(REJECTED, "connection rejected by us (Nack sent)")                                \
    X(REJECTED_BY_NACK, "connection rejected by the remote (Nack received)")            \
    X(TOO_MANY_CONNECTIONS, "too many connections: raise max_connections")              \
    X(PENDING_CONNECTION, "a connection to this point is already being established")  \
    X(ALREADY_CONNECTED, "already connected to this point or peer")                     \
    X(CONNECTION_FAILED, "could not open a TCP connection to the point")                \
    /* files (env file_* on a real disk); appended: codes above keep their values */    \
    X(NOT_FILE, "not a regular file (a directory, FIFO, device or socket): move it "    \
                "away or point to a regular file")                                       \
    X(DANGLING_LINK, "a symbolic link to a file that does not exist: restore its "      \
                     "target or remove the link")                                        \
    X(NO_SPACE, "no space left on the device: free some space")                         \
    X(READ_ONLY, "the file system is read-only: remount it read-write or use a "        \
                 "writable directory")                                                   \
    X(PERMISSION, "permission denied: check the owner and mode of the file and "       \
                  "its directory")

typedef enum tp_err_index {
#define TP_X_(name, text) TP_ERRIDX_##name,
    TP_ERR_LIST(TP_X_)
#undef TP_X_
    TP_ERR_COUNT
} tp_err_index;

typedef enum tp_err {
#define TP_X_(name, text) TP_ERR_##name = -(int)TP_ERRIDX_##name,
    TP_ERR_LIST(TP_X_)
#undef TP_X_
} tp_err;

#define TP_OK TP_ERR_OK

/* Function attribute: the compiler refuses to let the caller drop the result. */
#define TP_MUST_USE __attribute__((warn_unused_result))

/* A sentence a user can act on; never NULL (unknown values give "unknown error"). */
const char *tp_strerror(tp_err err);
/* The code's name without prefix ("DECODE_TRUNCATED"); stable across versions. */
const char *tp_errname(tp_err err);

/* Assertions: always on, in every build type. A failed assertion is a bug in tidepool
 * (never a reaction to bad input) and ends the process with the place and expression. */
_Noreturn void tp_panic(const char *file, int line, const char *expr);

#define TP_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (__builtin_expect(!(cond), 0)) tp_panic(__FILE__, __LINE__, #cond);           \
    } while (0)
#define TP_UNREACHABLE() tp_panic(__FILE__, __LINE__, "unreachable")

/* Propagate an error: TP_TRY(f(x)); returns early from the enclosing function. */
#define TP_TRY(expr)                                                                     \
    do {                                                                                 \
        tp_err tp_try_err_ = (expr);                                                     \
        if (tp_try_err_ != TP_OK) return tp_try_err_;                                    \
    } while (0)

#endif
