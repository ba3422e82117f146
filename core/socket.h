/* core/socket.h — the authenticated, encrypted byte channel of one connection, as a
 * sans-IO state machine: the handshake (spec §2.2-§2.8, §2.11) and the chunk framing
 * of P2P messages (spec §3, §4.1).
 *
 * Octez: P2p_socket (authenticate, accept, nack, Crypto, Connection_message,
 * Metadata, Ack) minus its Lwt reader/writer workers. tp_socket never touches a
 * stream, a timer or the clock: the owner (core/conn.c) feeds it the bytes that arrive
 * (tp_socket_feed) and drains the bytes it has to send (tp_socket_out /
 * tp_socket_out_consume). That makes the handshake testable byte for byte without any
 * network (tests/test_socket.c replays vectors/handshake_vectors.json through it).
 *
 * Sequence (both sides write before they read, so nothing deadlocks, spec §2.11):
 *   init            -> our framed connection message is in the output
 *   feed ...        -> remote connection message: PoW check, key agreement, nonces;
 *                      our metadata chunk is queued
 *   feed ...        -> remote metadata: event AUTHENTICATED (Myself is an error)
 *   accept or nack  -> the owner's admission decision (spec §2.7): Ack, or Nack/Nack_v0
 *                      chosen by the remote's announced p2p version (spec §2.8)
 *   feed ...        -> after accept: event ACK (running) or NACK (Rejected_by_nack)
 *   write_message / feed -> event MESSAGE: one whole P2P frame (spec §4.1)
 *
 * Errors are sticky: after a failed feed the socket is dead and the owner closes the
 * stream. tp_socket_err_greylists() tells which failures greylist the remote IP
 * (exactly the list of spec §2.9).
 *
 * Ownership: the caller allocates the tp_socket and the config; the config (and the
 * identity, target and chain name it points to) must outlive the socket. The socket
 * allocates its buffers through the env, lazily, and releases big idle buffers; free
 * everything with tp_socket_deinit (only tp_env_free is called, so it is also the
 * crash-drop path).
 */
#ifndef TP_SOCKET_H
#define TP_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "env.h"
#include "identity.h"
#include "message.h"

/* Our chain name is bounded (Octez's are at most ~40 bytes). A remote chain name longer
 * than this can never equal ours, so only its length is kept. */
#define TP_SOCKET_CHAIN_NAME_MAX 128

typedef struct tp_socket_config {
    const tp_identity *identity;
    const tp_pow_target *pow_target;   /* checked against the remote stamp (spec §2.3) */
    uint16_t port;                     /* advertised port in our connection message; 0 none */
    const uint8_t *chain_name;
    size_t chain_name_len;             /* <= TP_SOCKET_CHAIN_NAME_MAX */
    uint16_t distributed_db_version;   /* the greatest we support (announced) */
    uint16_t p2p_version;              /* the greatest we support (announced) */
    tp_metadata metadata;              /* ours: disable_mempool, private_node (spec §2.5) */
    size_t binary_chunks_size;         /* [19, 65535], overhead included; 0 = 65535 */
    size_t message_size_max;           /* bound on a received frame; 0 = 100 MiB */
    /* Test-only: the 24-byte message nonce of our connection message. NULL (always, in
     * a node) draws 24 fresh bytes from the env's random stream. */
    const uint8_t *message_nonce;
} tp_socket_config;

typedef enum tp_socket_state {
    TP_SOCKET_CONN_MSG = 0,  /* reading the remote connection message */
    TP_SOCKET_METADATA,      /* reading the remote metadata chunk */
    TP_SOCKET_AUTHENTICATED, /* waiting for the owner: tp_socket_accept or tp_socket_nack */
    TP_SOCKET_ACK,           /* Ack sent, reading the remote Ack/Nack */
    TP_SOCKET_RUNNING,       /* P2P messages both ways */
    TP_SOCKET_NACKED,        /* we sent a Nack, or received one: nothing more to read */
    TP_SOCKET_FAILED,
} tp_socket_state;

typedef enum tp_socket_event {
    TP_SOCKET_EV_NONE = 0,      /* all input consumed, nothing happened yet */
    TP_SOCKET_EV_AUTHENTICATED, /* remote metadata read: decide (spec §2.7) */
    TP_SOCKET_EV_ACK,           /* remote Ack: the connection runs */
    TP_SOCKET_EV_NACK,          /* remote Nack / Nack_v0: tp_socket_unit has the plaintext */
    TP_SOCKET_EV_MESSAGE,       /* one P2P frame: tp_socket_unit */
} tp_socket_event;

/* What the remote announced (spec §2.2, §2.5). */
typedef struct tp_socket_remote {
    uint16_t port; /* advertised listening port; 0 = none */
    uint8_t public_key[TP_PUBLIC_KEY_SIZE];
    tp_peer_id peer_id;
    uint8_t chain_name[TP_SOCKET_CHAIN_NAME_MAX];
    size_t chain_name_len; /* the real length; bytes kept only when <= the max */
    uint16_t distributed_db_version;
    uint16_t p2p_version;
    tp_metadata metadata;
} tp_socket_remote;

typedef struct tp_socket {
    const tp_env *env;
    const tp_socket_config *cfg;
    bool incoming;
    tp_socket_state state;
    tp_err error; /* sticky */
    /* our framed connection message, kept (allocated) until the nonces are derived */
    uint8_t *local_msg;
    size_t local_msg_len;
    /* the remote connection message while it arrives */
    uint8_t rhdr[2];
    size_t rhdr_len;
    uint8_t *rmsg;
    size_t rmsg_len, rmsg_need;
    tp_socket_remote remote;
    tp_channel_key key;
    tp_nonce local_nonce;
    tp_reassembler reader; /* initialised once the key is known */
    bool reader_live;
    /* output: [out_head, out_len) waits to be written */
    uint8_t *out;
    size_t out_head, out_len, out_cap;
    /* the last unit handed out (Nack plaintext, message frame) */
    const uint8_t *unit;
    size_t unit_len;
    int16_t nack_motive;
    uint64_t messages_in, messages_out;
} tp_socket;

/* Starts the handshake: our framed connection message is queued for output.
 * incoming: we accepted the stream (we are the responder, spec §2.4).
 * Errors: TP_ERR_INVALID_CHUNKS_SIZE, TP_ERR_INVAL (chain name too long), TP_ERR_NOMEM. */
TP_MUST_USE tp_err tp_socket_init(tp_socket *s, const tp_env *env, const tp_socket_config *cfg,
                                  bool incoming);
/* Frees the buffers and wipes the keys (tp_env_free only: also the crash-drop path). */
void tp_socket_deinit(tp_socket *s);

/* Consumes bytes until an event or the end of data. *consumed < len happens with an
 * event (call again with the rest after handling it) and in the AUTHENTICATED and
 * NACKED states (the owner keeps the rest). Errors are sticky: NOT_ENOUGH_POW,
 * WEAK_KEY, DECIPHER, INVALID_CIPHERTEXT_SIZE, INVALID_MESSAGE_SIZE, DECODE_*, MYSELF,
 * NOMEM; TP_ERR_STATE when called after a failure of another kind. */
TP_MUST_USE tp_err tp_socket_feed(tp_socket *s, const uint8_t *data, size_t len,
                                  size_t *consumed, tp_socket_event *ev);

/* Admission decisions, only in TP_SOCKET_AUTHENTICATED (spec §2.7 step 9). accept
 * queues our Ack and waits for the remote's. nack queues Nack{motive, points} if the
 * remote announced p2p_version > 0, else Nack_v0 (spec §2.8); at most 100 points.
 * Errors: TP_ERR_NOMEM. */
TP_MUST_USE tp_err tp_socket_accept(tp_socket *s);
TP_MUST_USE tp_err tp_socket_nack(tp_socket *s, int16_t motive, const tp_point *points,
                                  size_t count);

/* Queues one encoded P2P frame (u32 size | u16 tag | payload), cut into chunks of
 * binary_chunks_size (spec §3.4). Only in TP_SOCKET_RUNNING. The caller bounds the
 * output queue (tp_socket_out_pending). Errors: TP_ERR_NOMEM, TP_ERR_STATE. */
TP_MUST_USE tp_err tp_socket_write_message(tp_socket *s, const uint8_t *frame, size_t len);
/* Wire bytes a frame of len bytes takes once sealed. */
size_t tp_socket_wire_size(const tp_socket *s, size_t len);

/* The bytes waiting to be written (borrowed until the next call on s). */
static inline size_t tp_socket_out(const tp_socket *s, const uint8_t **data) {
    /* No buffer yet: NULL, not NULL + 0 (undefined behaviour, which clang's UBSan flags). */
    *data = s->out ? s->out + s->out_head : NULL;
    return s->out_len - s->out_head;
}
static inline size_t tp_socket_out_pending(const tp_socket *s) {
    return s->out_len - s->out_head;
}
/* n bytes were handed to the stream. */
void tp_socket_out_consume(tp_socket *s, size_t n);

/* The last unit: the Nack plaintext after EV_NACK, the frame after EV_MESSAGE. Valid
 * until the next tp_socket_feed. */
static inline void tp_socket_unit(const tp_socket *s, const uint8_t **unit, size_t *len) {
    *unit = s->unit;
    *len = s->unit_len;
}
/* The owner is done with the last unit: the input buffers are released if nothing is
 * pending (tp_reassembler_trim). The unit is invalid afterwards. */
void tp_socket_trim(tp_socket *s);
/* Bytes held by the socket's buffers (memory accounting, tests). */
size_t tp_socket_memory(const tp_socket *s);

/* True iff a handshake or framing failure greylists the remote IP (spec §2.9):
 * Not_enough_proof_of_work, Invalid_auth (a weak key), Decipher_error,
 * Invalid_message_size, Invalid_chunks_size and every decoding error. Timeouts,
 * closes, Myself, admission failures and a chunk shorter than its 16-byte MAC
 * (Octez's Invalid_incoming_ciphertext_size is not in raw_authenticate's list,
 * p2p_connect_handler.ml) do not. The connect handler applies it up to the metadata
 * only, and on a running connection without Decipher_error (core/connect.c). */
bool tp_socket_err_greylists(tp_err e);

#endif
