/* core/socket.c — handshake and chunk framing as a sans-IO state machine (spec §2-§3).
 * See socket.h. Octez: P2p_socket. */
#include "socket.h"

#include <sodium.h>
#include <string.h>

#include "encoding.h"

#define OUT_IDLE_KEEP 0 /* an empty output buffer above this size is released (as in conn.c) */

bool tp_socket_err_greylists(tp_err e) {
    switch (e) {
    case TP_ERR_NOT_ENOUGH_POW:
    case TP_ERR_WEAK_KEY:
    case TP_ERR_DECIPHER:
    case TP_ERR_INVALID_MESSAGE_SIZE:
    case TP_ERR_INVALID_CHUNKS_SIZE:
    case TP_ERR_DECODE_TRUNCATED:
    case TP_ERR_DECODE_TRAILING:
    case TP_ERR_DECODE_TOO_LONG:
    case TP_ERR_DECODE_BAD_TAG:
    case TP_ERR_DECODE_BAD_VALUE:
    case TP_ERR_DECODE_BAD_POINT:
    case TP_ERR_DECODE_EMPTY:
        return true;
    default:
        return false;
    }
}

static size_t chunks_size(const tp_socket *s) {
    return s->cfg->binary_chunks_size == 0 ? TP_CHUNK_SIZE_MAX : s->cfg->binary_chunks_size;
}

/* Makes room for `need` more output bytes (compacting first). */
static tp_err out_reserve(tp_socket *s, size_t need) {
    if (s->out_head > 0 && s->out_cap - s->out_len < need) {
        size_t pending = s->out_len - s->out_head;
        memmove(s->out, s->out + s->out_head, pending);
        s->out_head = 0;
        s->out_len = pending;
    }
    if (s->out_cap - s->out_len >= need) return TP_OK;
    size_t want = s->out_len + need;
    size_t n = s->out_cap < 256 ? 256 : s->out_cap;
    while (n < want) n *= 2;
    uint8_t *p = tp_env_realloc(s->env, s->out, s->out_cap, n);
    if (p == NULL) return TP_ERR_NOMEM;
    s->out = p;
    s->out_cap = n;
    return TP_OK;
}

static tp_err out_append(tp_socket *s, const uint8_t *data, size_t len) {
    TP_TRY(out_reserve(s, len));
    memcpy(s->out + s->out_len, data, len);
    s->out_len += len;
    return TP_OK;
}

/* Seals one chunk (handshake: metadata, Ack/Nack) into the output. */
static tp_err out_seal_chunk(tp_socket *s, const uint8_t *plain, size_t len) {
    size_t wire = tp_chunk_wire_size(len);
    TP_TRY(out_reserve(s, wire));
    size_t n = 0;
    TP_TRY(tp_chunk_seal(&s->key, &s->local_nonce, plain, len, s->out + s->out_len, wire, &n));
    TP_ASSERT(n == wire);
    s->out_len += n;
    return TP_OK;
}

void tp_socket_out_consume(tp_socket *s, size_t n) {
    TP_ASSERT(n <= s->out_len - s->out_head);
    s->out_head += n;
    if (s->out_head == s->out_len) {
        s->out_head = s->out_len = 0;
        if (s->out_cap > OUT_IDLE_KEEP) {
            tp_env_free(s->env, s->out, s->out_cap);
            s->out = NULL;
            s->out_cap = 0;
        }
    }
}

size_t tp_socket_memory(const tp_socket *s) {
    return s->out_cap + s->rmsg_need + s->local_msg_len + (s->reader_live ? tp_reassembler_memory(&s->reader) : 0);
}

tp_err tp_socket_init(tp_socket *s, const tp_env *env, const tp_socket_config *cfg,
                      bool incoming) {
    TP_ASSERT(cfg->identity != NULL && cfg->pow_target != NULL);
    size_t cs = cfg->binary_chunks_size == 0 ? TP_CHUNK_SIZE_MAX : cfg->binary_chunks_size;
    if (cs < TP_CHUNKS_SIZE_MIN || cs > TP_CHUNK_SIZE_MAX) return TP_ERR_INVALID_CHUNKS_SIZE;
    if (cfg->chain_name_len > TP_SOCKET_CHAIN_NAME_MAX) return TP_ERR_INVAL;
    memset(s, 0, sizeof *s);
    s->env = env;
    s->cfg = cfg;
    s->incoming = incoming;
    s->state = TP_SOCKET_CONN_MSG;
    tp_connection_msg m;
    memset(&m, 0, sizeof m);
    m.port = cfg->port;
    memcpy(m.public_key, cfg->identity->public_key, TP_PUBLIC_KEY_SIZE);
    memcpy(m.pow_stamp, cfg->identity->pow_stamp, TP_POW_STAMP_SIZE);
    if (cfg->message_nonce != NULL)
        memcpy(m.message_nonce, cfg->message_nonce, sizeof m.message_nonce);
    else
        tp_env_random(env, m.message_nonce, sizeof m.message_nonce);
    m.chain_name = cfg->chain_name;
    m.chain_name_len = cfg->chain_name_len;
    m.distributed_db_version = cfg->distributed_db_version;
    m.p2p_version = cfg->p2p_version;
    uint8_t msg[2 + TP_CONNECTION_MSG_FIXED + TP_SOCKET_CHAIN_NAME_MAX];
    size_t len;
    TP_TRY(tp_connection_msg_encode(&m, msg, sizeof msg, &len));
    s->local_msg = tp_env_alloc(env, len);
    if (s->local_msg == NULL) return TP_ERR_NOMEM;
    memcpy(s->local_msg, msg, len);
    s->local_msg_len = len;
    tp_err e = out_append(s, msg, len);
    if (e != TP_OK) tp_socket_deinit(s);
    return e;
}

static void free_local_msg(tp_socket *s) {
    tp_env_free(s->env, s->local_msg, s->local_msg_len);
    s->local_msg = NULL;
    s->local_msg_len = 0;
}

void tp_socket_deinit(tp_socket *s) {
    free_local_msg(s);
    tp_env_free(s->env, s->rmsg, s->rmsg_need);
    s->rmsg = NULL;
    s->rmsg_need = 0;
    tp_env_free(s->env, s->out, s->out_cap);
    s->out = NULL;
    s->out_cap = s->out_len = s->out_head = 0;
    if (s->reader_live) tp_reassembler_deinit(&s->reader);
    s->reader_live = false;
    tp_channel_key_wipe(&s->key);
    sodium_memzero(&s->local_nonce, sizeof s->local_nonce);
}

/* The remote connection message is complete in s->rmsg (spec §2.2-§2.4). */
static tp_err on_connection_msg(tp_socket *s) {
    tp_connection_msg m;
    TP_TRY(tp_connection_msg_decode(s->rmsg, s->rmsg_len, &m));
    /* spec §2.3: the stamp is checked against our target before anything encrypted. */
    if (!tp_pow_check(m.public_key, m.pow_stamp, s->cfg->pow_target))
        return TP_ERR_NOT_ENOUGH_POW;
    tp_socket_remote *r = &s->remote;
    r->port = m.port;
    memcpy(r->public_key, m.public_key, TP_PUBLIC_KEY_SIZE);
    tp_peer_id_of_public_key(m.public_key, &r->peer_id);
    r->chain_name_len = m.chain_name_len;
    if (m.chain_name_len <= TP_SOCKET_CHAIN_NAME_MAX)
        memcpy(r->chain_name, m.chain_name, m.chain_name_len);
    r->distributed_db_version = m.distributed_db_version;
    r->p2p_version = m.p2p_version;
    /* spec §2.4: key agreement, then nonces from both framed messages, initiator first. */
    if (tp_env_sim_crypto_fast(s->env)) /* simulation only: `tidepool sim --crypto fast` */
        TP_TRY(tp_channel_key_precompute_sim_fast(&s->key, m.public_key,
                                                  s->cfg->identity->public_key));
    else
        TP_TRY(tp_channel_key_agree(s->env, &s->key, m.public_key, s->cfg->identity->secret_key));
    tp_nonce remote_nonce;
    if (s->incoming)
        tp_nonces_derive(s->rmsg, s->rmsg_len, s->local_msg, s->local_msg_len, true,
                         &s->local_nonce, &remote_nonce);
    else
        tp_nonces_derive(s->local_msg, s->local_msg_len, s->rmsg, s->rmsg_len, false,
                         &s->local_nonce, &remote_nonce);
    tp_env_free(s->env, s->rmsg, s->rmsg_need);
    s->rmsg = NULL;
    s->rmsg_need = 0;
    free_local_msg(s);
    tp_reassembler_init(&s->reader, s->env, &s->key, &remote_nonce, s->cfg->message_size_max);
    s->reader_live = true;
    /* spec §2.5: write our metadata, then read theirs. */
    uint8_t meta[TP_METADATA_SIZE];
    tp_metadata_encode(&s->cfg->metadata, meta);
    TP_TRY(out_seal_chunk(s, meta, sizeof meta));
    s->state = TP_SOCKET_METADATA;
    return TP_OK;
}

static tp_err on_unit(tp_socket *s, const uint8_t *unit, size_t len, tp_socket_event *ev) {
    switch (s->state) {
    case TP_SOCKET_METADATA: {
        TP_TRY(tp_metadata_decode(unit, len, &s->remote.metadata));
        /* spec §2.6: after the metadata; a replayed message of ours fails earlier with
         * a decipher error since the replayer cannot know our secret key. */
        if (tp_peer_id_eq(&s->remote.peer_id, &s->cfg->identity->peer_id)) return TP_ERR_MYSELF;
        s->state = TP_SOCKET_AUTHENTICATED;
        *ev = TP_SOCKET_EV_AUTHENTICATED;
        return TP_OK;
    }
    case TP_SOCKET_ACK: {
        if (len < 1) return TP_ERR_DECODE_TRUNCATED;
        if (unit[0] == TP_ACK) {
            if (len != 1) return TP_ERR_DECODE_TRAILING;
            TP_TRY(tp_reassembler_set_mode(&s->reader, TP_REASSEMBLE_MESSAGES));
            s->state = TP_SOCKET_RUNNING;
            *ev = TP_SOCKET_EV_ACK;
            return TP_OK;
        }
        /* A malformed Nack is a decoding error (spec §2.9). */
        tp_ack a;
        TP_TRY(tp_ack_decode(unit, len, &a));
        s->nack_motive = a.kind == TP_NACK ? a.motive : TP_MOTIVE_NO_MOTIVE;
        s->unit = unit;
        s->unit_len = len;
        s->state = TP_SOCKET_NACKED;
        *ev = TP_SOCKET_EV_NACK;
        return TP_OK;
    }
    case TP_SOCKET_RUNNING:
        s->unit = unit;
        s->unit_len = len;
        s->messages_in++;
        *ev = TP_SOCKET_EV_MESSAGE;
        return TP_OK;
    default:
        TP_UNREACHABLE();
    }
}

static tp_err feed(tp_socket *s, const uint8_t *data, size_t len, size_t *consumed,
                   tp_socket_event *ev) {
    size_t k = 0;
    for (;;) {
        *consumed = k;
        switch (s->state) {
        case TP_SOCKET_CONN_MSG: {
            if (k == len) return TP_OK;
            if (s->rmsg == NULL) {
                /* The 2-byte length first; then exactly that many body bytes. */
                s->rhdr[s->rhdr_len++] = data[k++];
                if (s->rhdr_len < 2) continue;
                size_t body = tp_be16_load(s->rhdr);
                s->rmsg_need = 2 + body;
                s->rmsg = tp_env_alloc(s->env, s->rmsg_need);
                if (s->rmsg == NULL) {
                    s->rmsg_need = 0;
                    return TP_ERR_NOMEM;
                }
                tp_be16_store(s->rmsg, (uint16_t)body);
                s->rmsg_len = 2;
            }
            size_t take = s->rmsg_need - s->rmsg_len;
            if (take > len - k) take = len - k;
            memcpy(s->rmsg + s->rmsg_len, data + k, take);
            s->rmsg_len += take;
            k += take;
            if (s->rmsg_len == s->rmsg_need) TP_TRY(on_connection_msg(s));
            continue;
        }
        case TP_SOCKET_METADATA:
        case TP_SOCKET_ACK:
        case TP_SOCKET_RUNNING: {
            const uint8_t *unit;
            size_t unit_len;
            if (tp_reassembler_next(&s->reader, &unit, &unit_len))
                return on_unit(s, unit, unit_len, ev);
            if (s->reader.error != TP_OK) return s->reader.error;
            if (k == len) return TP_OK;
            size_t n = 0;
            tp_err e = tp_reassembler_feed(&s->reader, data + k, len - k, &n);
            k += n;
            *consumed = k;
            if (e != TP_OK) return e;
            continue;
        }
        case TP_SOCKET_AUTHENTICATED:
        case TP_SOCKET_NACKED:
            return TP_OK;
        case TP_SOCKET_FAILED:
            return s->error;
        }
    }
}

void tp_socket_trim(tp_socket *s) {
    if (s->reader_live) tp_reassembler_trim(&s->reader);
    s->unit = NULL;
    s->unit_len = 0;
}

tp_err tp_socket_feed(tp_socket *s, const uint8_t *data, size_t len, size_t *consumed,
                      tp_socket_event *ev) {
    TP_ASSERT(data != NULL || len == 0);
    *ev = TP_SOCKET_EV_NONE;
    *consumed = 0;
    if (s->state == TP_SOCKET_FAILED) return s->error != TP_OK ? s->error : TP_ERR_STATE;
    tp_err e = feed(s, data, len, consumed, ev);
    if (e != TP_OK) {
        s->error = e;
        s->state = TP_SOCKET_FAILED;
        *ev = TP_SOCKET_EV_NONE;
    }
    return e;
}

tp_err tp_socket_accept(tp_socket *s) {
    TP_ASSERT(s->state == TP_SOCKET_AUTHENTICATED);
    const uint8_t ack = TP_ACK;
    TP_TRY(out_seal_chunk(s, &ack, 1));
    s->state = TP_SOCKET_ACK;
    return TP_OK;
}

tp_err tp_socket_nack(tp_socket *s, int16_t motive, const tp_point *points, size_t count) {
    TP_ASSERT(s->state == TP_SOCKET_AUTHENTICATED);
    TP_ASSERT(count <= TP_NACK_POINTS_MAX);
    uint8_t buf[TP_ACK_ENCODED_MAX];
    size_t n;
    if (s->remote.p2p_version > 0) {
        /* spec §2.8: Nack with motive and list. Encoded with a writer here rather than
         * through tp_ack (a 1.8 KiB struct) to keep the stack small. */
        tp_writer w;
        tp_writer_init(&w, buf, sizeof buf);
        TP_TRY(tp_write_u8(&w, TP_NACK));
        TP_TRY(tp_write_i16(&w, motive));
        tp_writer_mark mark;
        TP_TRY(tp_write_size_begin(&w, 4, &mark));
        for (size_t i = 0; i < count; i++) {
            char text[TP_POINT_TEXT_MAX];
            tp_point_format(&points[i], text);
            TP_TRY(tp_write_string(&w, text, strlen(text)));
        }
        TP_TRY(tp_write_size_end(&w, mark));
        n = w.len;
    } else {
        buf[0] = TP_NACK_V0;
        n = 1;
    }
    TP_TRY(out_seal_chunk(s, buf, n));
    s->state = TP_SOCKET_NACKED;
    return TP_OK;
}

size_t tp_socket_wire_size(const tp_socket *s, size_t len) {
    return tp_chunks_wire_size(len, chunks_size(s));
}

tp_err tp_socket_write_message(tp_socket *s, const uint8_t *frame, size_t len) {
    if (s->state != TP_SOCKET_RUNNING) return TP_ERR_STATE;
    size_t wire = tp_socket_wire_size(s, len);
    TP_TRY(out_reserve(s, wire));
    size_t n = 0;
    TP_TRY(tp_chunks_seal_message(&s->key, &s->local_nonce, frame, len, chunks_size(s),
                                  s->out + s->out_len, wire, &n));
    TP_ASSERT(n == wire);
    s->out_len += n;
    s->messages_out++;
    return TP_OK;
}
