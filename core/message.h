/* core/message.h — the byte layouts of the handshake and of P2P messages.
 *
 * Octez: Connection_message (P2p_socket), Connection_metadata, Ack/Nack (P2p_socket),
 * P2p_message, P2p_rejection motives, and the P2p_discovery datagram. Spec §2.2,
 * §2.5, §2.8, §4.1-§4.3, §9. Every decoder reads through a tp_reader and consumes
 * exactly its input (trailing bytes are TP_ERR_DECODE_TRAILING); every error is a
 * distinct tp_err value.
 *
 * Ownership: decoded structs may borrow from the input buffer (chain names, application
 * payloads); those pointers are valid as long as the input is. Points are copied.
 */
#ifndef TP_MESSAGE_H
#define TP_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"
#include "identity.h"

/* ---- connection message (spec §2.2) ------------------------------------------------- */

/* Body without the chain name: port 2 + pk 32 + stamp 24 + nonce 24 + len 4 + versions 4 */
#define TP_CONNECTION_MSG_FIXED 90
/* The frame's u16 length covers the body only: body < 65536 bytes. */
#define TP_CONNECTION_MSG_BODY_MAX 65535
#define TP_CONNECTION_MSG_FRAME_MAX (2 + TP_CONNECTION_MSG_BODY_MAX)
#define TP_CHAIN_NAME_MAX (TP_CONNECTION_MSG_BODY_MAX - TP_CONNECTION_MSG_FIXED)

typedef struct tp_connection_msg {
    uint16_t port; /* advertised listening port; 0 = none */
    uint8_t public_key[TP_PUBLIC_KEY_SIZE];
    uint8_t pow_stamp[TP_POW_STAMP_SIZE];
    uint8_t message_nonce[24];
    const uint8_t *chain_name; /* borrowed; not NUL-terminated */
    size_t chain_name_len;
    uint16_t distributed_db_version; /* the greatest we support */
    uint16_t p2p_version;            /* the greatest we support */
} tp_connection_msg;

/* Encodes the framed message (u16 body length + body), the bytes that are sent and
 * hashed into the nonces. Errors: TP_ERR_TOO_BIG (cap, or a chain name too long). */
TP_MUST_USE tp_err tp_connection_msg_encode(const tp_connection_msg *m, uint8_t *out,
                                            size_t cap, size_t *len);
/* Decodes a whole frame (2 + body bytes). chain_name borrows from frame.
 * Errors: DECODE_TRUNCATED, DECODE_TRAILING (frame longer than its length says, or
 * bytes after the last field), DECODE_TOO_LONG (chain name longer than the body). */
TP_MUST_USE tp_err tp_connection_msg_decode(const uint8_t *frame, size_t len,
                                            tp_connection_msg *out);

/* ---- metadata (spec §2.5) ------------------------------------------------------------ */

#define TP_METADATA_SIZE 2
typedef struct tp_metadata {
    bool disable_mempool;
    bool private_node;
} tp_metadata;

void tp_metadata_encode(const tp_metadata *m, uint8_t out[TP_METADATA_SIZE]);
/* Errors: DECODE_TRUNCATED, DECODE_TRAILING (exactly 2 bytes; any non-zero is true). */
TP_MUST_USE tp_err tp_metadata_decode(const uint8_t *data, size_t len, tp_metadata *out);

/* ---- Ack / Nack (spec §2.8) ---------------------------------------------------------- */

#define TP_NACK_POINTS_MAX 100 /* decoding bound; Octez sends at most 50 */

typedef enum tp_ack_kind {
    TP_ACK = 0x00,
    TP_NACK = 0x01,
    TP_NACK_V0 = 0xff,
} tp_ack_kind;

/* P2p_rejection motives (int16). Other values decode as "Unknown_motive(code)": the
 * code is kept as is. */
enum {
    TP_MOTIVE_NO_MOTIVE = 0,
    TP_MOTIVE_TOO_MANY_CONNECTIONS = 1,
    TP_MOTIVE_UNKNOWN_CHAIN_NAME = 2,
    TP_MOTIVE_DEPRECATED_P2P_VERSION = 3,
    TP_MOTIVE_DEPRECATED_DISTRIBUTED_DB_VERSION = 4,
    TP_MOTIVE_ALREADY_CONNECTED = 5,
};
/* "too_many_connections", ...; "unknown_motive" for other codes. */
const char *tp_motive_name(int16_t motive);

typedef struct tp_ack {
    tp_ack_kind kind;
    int16_t motive;       /* TP_NACK only */
    size_t points_count;  /* TP_NACK only */
    tp_point points[TP_NACK_POINTS_MAX];
} tp_ack;

/* Largest encoding: tag 1 + motive 2 + list length 4 + 100 * (4 + 47). */
#define TP_ACK_ENCODED_MAX (7 + TP_NACK_POINTS_MAX * 51)
/* Errors: TP_ERR_TOO_BIG (cap), TP_ERR_INVAL (more than 100 points). */
TP_MUST_USE tp_err tp_ack_encode(const tp_ack *a, uint8_t *out, size_t cap, size_t *len);
/* Errors: DECODE_TRUNCATED, DECODE_TRAILING, DECODE_BAD_TAG, DECODE_TOO_LONG (> 100
 * points, point string > 47), DECODE_BAD_POINT. */
TP_MUST_USE tp_err tp_ack_decode(const uint8_t *data, size_t len, tp_ack *out);

/* ---- P2P messages (spec §4) ---------------------------------------------------------- */

enum {
    TP_MSG_DISCONNECT = 0x0001,
    TP_MSG_BOOTSTRAP = 0x0002,
    TP_MSG_ADVERTISE = 0x0003,
    TP_MSG_SWAP_REQUEST = 0x0004,
    TP_MSG_SWAP_ACK = 0x0005,
    TP_MSG_APP_FIRST = 0x0010, /* application tags: 0x0010 .. 0xffff */
};
#define TP_ADVERTISE_POINTS_MAX 100

/* An application message kind, registered by the library's user (DESIGN: the core
 * never interprets application payloads). max_len bounds the payload (after the tag). */
typedef struct tp_app_msg_def {
    uint16_t tag; /* >= TP_MSG_APP_FIRST */
    uint32_t max_len;
    const char *name;
} tp_app_msg_def;

typedef struct tp_app_registry {
    const tp_app_msg_def *defs; /* borrowed; any order, tags distinct */
    size_t count;
} tp_app_registry;

/* The definition for tag, or NULL. */
const tp_app_msg_def *tp_app_registry_find(const tp_app_registry *reg, uint16_t tag);

typedef struct tp_p2p_msg {
    uint16_t tag;
    /* Advertise: up to 100 points; Swap_request / Swap_ack: points[0] */
    size_t points_count;
    tp_point points[TP_ADVERTISE_POINTS_MAX];
    tp_peer_id peer_id; /* Swap_request / Swap_ack */
    /* application messages: payload borrowed from the input, and its definition */
    const uint8_t *payload;
    size_t payload_len;
    const tp_app_msg_def *app;
} tp_p2p_msg;

/* Encodes one frame: u32 size | u16 tag | payload (spec §4.1). For application
 * messages, payload/payload_len are copied as is (the caller checks max_len when
 * sending). Errors: TP_ERR_TOO_BIG (cap), TP_ERR_INVAL (bad tag, > 100 points, swap
 * without exactly one point). */
TP_MUST_USE tp_err tp_p2p_msg_encode(const tp_p2p_msg *m, uint8_t *out, size_t cap,
                                     size_t *len);
/* Decodes exactly one frame. reg may be NULL (no application messages).
 * Errors: DECODE_TRUNCATED, DECODE_TRAILING (the frame holds more than one message or
 * the size prefix disagrees with len), DECODE_EMPTY (size < 2), DECODE_BAD_TAG
 * (0, 6..15, or an unregistered application tag), DECODE_TOO_LONG (> 100 points, an
 * application payload above its max_len, a point string > 47), DECODE_BAD_POINT. */
TP_MUST_USE tp_err tp_p2p_msg_decode(const uint8_t *frame, size_t len,
                                     const tp_app_registry *reg, tp_p2p_msg *out);

/* ---- LAN discovery datagram (spec §9) ---------------------------------------------- */

#define TP_DISCOVERY_MSG_SIZE 28
/* "DISCOMAGIC" || peer_id || int16 BE port. Errors: TP_ERR_INVAL (port > 32767: the
 * field is a signed int16 in Octez and cannot carry it). */
TP_MUST_USE tp_err tp_discovery_msg_encode(const tp_peer_id *id, uint16_t port,
                                           uint8_t out[TP_DISCOVERY_MSG_SIZE]);
/* Errors: DECODE_TRUNCATED / DECODE_TRAILING (not 28 bytes), DECODE_BAD_VALUE (bad
 * magic or a negative port). */
TP_MUST_USE tp_err tp_discovery_msg_decode(const uint8_t *data, size_t len, tp_peer_id *id,
                                           uint16_t *port);

#endif
