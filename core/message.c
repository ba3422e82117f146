/* core/message.c — handshake and P2P message codecs (spec §2.2, §2.5, §2.8, §4, §9). */
#include "message.h"

#include <string.h>

#include "encoding.h"
#include "point.h"

static const char discovery_magic[10] = {'D', 'I', 'S', 'C', 'O', 'M', 'A', 'G', 'I', 'C'};

/* ---- connection message -------------------------------------------------------------- */

tp_err tp_connection_msg_encode(const tp_connection_msg *m, uint8_t *out, size_t cap,
                                size_t *len) {
    TP_ASSERT(m->chain_name != NULL || m->chain_name_len == 0);
    if (m->chain_name_len > TP_CHAIN_NAME_MAX) return TP_ERR_TOO_BIG;
    tp_writer w;
    tp_writer_init(&w, out, cap);
    tp_writer_mark mark;
    TP_TRY(tp_write_size_begin(&w, 2, &mark));
    TP_TRY(tp_write_u16(&w, m->port));
    TP_TRY(tp_write_bytes(&w, m->public_key, TP_PUBLIC_KEY_SIZE));
    TP_TRY(tp_write_bytes(&w, m->pow_stamp, TP_POW_STAMP_SIZE));
    TP_TRY(tp_write_bytes(&w, m->message_nonce, sizeof m->message_nonce));
    TP_TRY(tp_write_string(&w, m->chain_name, m->chain_name_len));
    TP_TRY(tp_write_u16(&w, m->distributed_db_version));
    TP_TRY(tp_write_u16(&w, m->p2p_version));
    TP_TRY(tp_write_size_end(&w, mark));
    *len = w.len;
    return TP_OK;
}

tp_err tp_connection_msg_decode(const uint8_t *frame, size_t len, tp_connection_msg *out) {
    tp_reader r;
    tp_reader_init(&r, frame, len);
    uint16_t body_len;
    TP_TRY(tp_read_u16(&r, &body_len));
    if (tp_reader_remaining(&r) < body_len) return TP_ERR_DECODE_TRUNCATED;
    if (tp_reader_remaining(&r) > body_len) return TP_ERR_DECODE_TRAILING;
    tp_connection_msg m;
    TP_TRY(tp_read_u16(&r, &m.port));
    TP_TRY(tp_read_bytes(&r, m.public_key, TP_PUBLIC_KEY_SIZE));
    TP_TRY(tp_read_bytes(&r, m.pow_stamp, TP_POW_STAMP_SIZE));
    TP_TRY(tp_read_bytes(&r, m.message_nonce, sizeof m.message_nonce));
    TP_TRY(tp_read_string(&r, TP_CHAIN_NAME_MAX, &m.chain_name, &m.chain_name_len));
    TP_TRY(tp_read_u16(&r, &m.distributed_db_version));
    TP_TRY(tp_read_u16(&r, &m.p2p_version));
    TP_TRY(tp_reader_end(&r));
    *out = m;
    return TP_OK;
}

/* ---- metadata ---------------------------------------------------------------------- */

void tp_metadata_encode(const tp_metadata *m, uint8_t out[TP_METADATA_SIZE]) {
    out[0] = m->disable_mempool ? 0xff : 0x00;
    out[1] = m->private_node ? 0xff : 0x00;
}

tp_err tp_metadata_decode(const uint8_t *data, size_t len, tp_metadata *out) {
    tp_reader r;
    tp_reader_init(&r, data, len);
    tp_metadata m;
    TP_TRY(tp_read_bool(&r, &m.disable_mempool));
    TP_TRY(tp_read_bool(&r, &m.private_node));
    TP_TRY(tp_reader_end(&r));
    *out = m;
    return TP_OK;
}

/* ---- points as strings (spec §4.3) --------------------------------------------------- */

static tp_err write_point(tp_writer *w, const tp_point *p) {
    char text[TP_POINT_TEXT_MAX];
    tp_point_format(p, text);
    return tp_write_string(w, text, strlen(text));
}

static tp_err read_point(tp_reader *r, tp_point *out) {
    const uint8_t *text;
    size_t n;
    TP_TRY(tp_read_string(r, TP_POINT_WIRE_TEXT_MAX, &text, &n));
    return tp_point_parse_wire((const char *)text, n, out);
}

/* Elements back to back until the end of r, at most max of them. */
static tp_err read_point_list(tp_reader *r, size_t max, tp_point *points, size_t *count) {
    size_t n = 0;
    while (tp_reader_remaining(r) > 0) {
        if (n >= max) return TP_ERR_DECODE_TOO_LONG;
        TP_TRY(read_point(r, &points[n]));
        n++;
    }
    *count = n;
    return TP_OK;
}

/* ---- Ack / Nack -------------------------------------------------------------------- */

const char *tp_motive_name(int16_t motive) {
    switch (motive) {
    case TP_MOTIVE_NO_MOTIVE: return "no_motive";
    case TP_MOTIVE_TOO_MANY_CONNECTIONS: return "too_many_connections";
    case TP_MOTIVE_UNKNOWN_CHAIN_NAME: return "unknown_chain_name";
    case TP_MOTIVE_DEPRECATED_P2P_VERSION: return "deprecated_p2p_version";
    case TP_MOTIVE_DEPRECATED_DISTRIBUTED_DB_VERSION: return "deprecated_distributed_db_version";
    case TP_MOTIVE_ALREADY_CONNECTED: return "already_connected";
    default: return "unknown_motive";
    }
}

tp_err tp_ack_encode(const tp_ack *a, uint8_t *out, size_t cap, size_t *len) {
    tp_writer w;
    tp_writer_init(&w, out, cap);
    switch (a->kind) {
    case TP_ACK:
    case TP_NACK_V0: TP_TRY(tp_write_u8(&w, (uint8_t)a->kind)); break;
    case TP_NACK: {
        if (a->points_count > TP_NACK_POINTS_MAX) return TP_ERR_INVAL;
        TP_TRY(tp_write_u8(&w, TP_NACK));
        TP_TRY(tp_write_i16(&w, a->motive));
        tp_writer_mark mark;
        TP_TRY(tp_write_size_begin(&w, 4, &mark));
        for (size_t i = 0; i < a->points_count; i++) TP_TRY(write_point(&w, &a->points[i]));
        TP_TRY(tp_write_size_end(&w, mark));
        break;
    }
    default: return TP_ERR_INVAL;
    }
    *len = w.len;
    return TP_OK;
}

static tp_err ack_decode(const uint8_t *data, size_t len, tp_ack *out) {
    tp_reader r;
    tp_reader_init(&r, data, len);
    uint8_t tag;
    TP_TRY(tp_read_u8(&r, &tag));
    out->points_count = 0;
    out->motive = 0;
    switch (tag) {
    case TP_ACK:
    case TP_NACK_V0:
        TP_TRY(tp_reader_end(&r));
        out->kind = (tp_ack_kind)tag;
        return TP_OK;
    case TP_NACK: {
        int16_t motive;
        tp_reader list;
        size_t count;
        TP_TRY(tp_read_i16(&r, &motive));
        TP_TRY(tp_read_dynamic(&r, TP_UINT30_MAX, &list));
        TP_TRY(tp_reader_end(&r));
        TP_TRY(read_point_list(&list, TP_NACK_POINTS_MAX, out->points, &count));
        out->kind = TP_NACK;
        out->motive = motive;
        out->points_count = count;
        return TP_OK;
    }
    default: return TP_ERR_DECODE_BAD_TAG;
    }
}

tp_err tp_ack_decode(const uint8_t *data, size_t len, tp_ack *out) {
    tp_ack a; /* out-params are written only on success */
    TP_TRY(ack_decode(data, len, &a));
    out->kind = a.kind;
    out->motive = a.motive;
    out->points_count = a.points_count;
    memcpy(out->points, a.points, a.points_count * sizeof a.points[0]);
    return TP_OK;
}

/* ---- P2P messages -------------------------------------------------------------------- */

const tp_app_msg_def *tp_app_registry_find(const tp_app_registry *reg, uint16_t tag) {
    if (reg == NULL) return NULL;
    for (size_t i = 0; i < reg->count; i++)
        if (reg->defs[i].tag == tag) return &reg->defs[i];
    return NULL;
}

tp_err tp_p2p_msg_encode(const tp_p2p_msg *m, uint8_t *out, size_t cap, size_t *len) {
    tp_writer w;
    tp_writer_init(&w, out, cap);
    tp_writer_mark mark;
    TP_TRY(tp_write_size_begin(&w, 4, &mark));
    TP_TRY(tp_write_u16(&w, m->tag));
    switch (m->tag) {
    case TP_MSG_DISCONNECT:
    case TP_MSG_BOOTSTRAP: break;
    case TP_MSG_ADVERTISE:
        if (m->points_count > TP_ADVERTISE_POINTS_MAX) return TP_ERR_INVAL;
        for (size_t i = 0; i < m->points_count; i++) TP_TRY(write_point(&w, &m->points[i]));
        break;
    case TP_MSG_SWAP_REQUEST:
    case TP_MSG_SWAP_ACK:
        if (m->points_count != 1) return TP_ERR_INVAL;
        TP_TRY(write_point(&w, &m->points[0]));
        TP_TRY(tp_write_bytes(&w, m->peer_id.bytes, TP_PEER_ID_SIZE));
        break;
    default:
        if (m->tag < TP_MSG_APP_FIRST) return TP_ERR_INVAL;
        TP_TRY(tp_write_bytes(&w, m->payload, m->payload_len));
        break;
    }
    TP_TRY(tp_write_size_end(&w, mark));
    *len = w.len;
    return TP_OK;
}

static tp_err p2p_msg_decode(const uint8_t *frame, size_t len, const tp_app_registry *reg,
                             tp_p2p_msg *out) {
    tp_reader r, body;
    tp_reader_init(&r, frame, len);
    uint32_t size;
    TP_TRY(tp_read_u32(&r, &size));
    if (size > TP_UINT30_MAX) return TP_ERR_DECODE_TOO_LONG;
    if (size < 2) return TP_ERR_DECODE_EMPTY; /* spec §4.1: no room for a tag */
    if (tp_reader_remaining(&r) < size) return TP_ERR_DECODE_TRUNCATED;
    if (tp_reader_remaining(&r) > size) return TP_ERR_DECODE_TRAILING;
    tp_reader_init(&body, frame + 4, size);
    uint16_t tag;
    TP_TRY(tp_read_u16(&body, &tag));
    out->tag = tag;
    out->points_count = 0;
    out->payload = NULL;
    out->payload_len = 0;
    out->app = NULL;
    memset(&out->peer_id, 0, sizeof out->peer_id);
    switch (tag) {
    case TP_MSG_DISCONNECT:
    case TP_MSG_BOOTSTRAP: return tp_reader_end(&body);
    case TP_MSG_ADVERTISE:
        /* Variable.list: runs to the end of the frame, no length prefix (spec §4.2) */
        return read_point_list(&body, TP_ADVERTISE_POINTS_MAX, out->points, &out->points_count);
    case TP_MSG_SWAP_REQUEST:
    case TP_MSG_SWAP_ACK:
        TP_TRY(read_point(&body, &out->points[0]));
        TP_TRY(tp_read_bytes(&body, out->peer_id.bytes, TP_PEER_ID_SIZE));
        TP_TRY(tp_reader_end(&body));
        out->points_count = 1;
        return TP_OK;
    default: {
        if (tag < TP_MSG_APP_FIRST) return TP_ERR_DECODE_BAD_TAG;
        const tp_app_msg_def *def = tp_app_registry_find(reg, tag);
        if (def == NULL) return TP_ERR_DECODE_BAD_TAG;
        if (tp_reader_remaining(&body) > def->max_len) return TP_ERR_DECODE_TOO_LONG;
        tp_read_rest(&body, &out->payload, &out->payload_len);
        out->app = def;
        return TP_OK;
    }
    }
}

tp_err tp_p2p_msg_decode(const uint8_t *frame, size_t len, const tp_app_registry *reg,
                         tp_p2p_msg *out) {
    tp_p2p_msg m; /* out-params are written only on success */
    TP_TRY(p2p_msg_decode(frame, len, reg, &m));
    out->tag = m.tag;
    out->points_count = m.points_count;
    memcpy(out->points, m.points, m.points_count * sizeof m.points[0]);
    out->peer_id = m.peer_id;
    out->payload = m.payload;
    out->payload_len = m.payload_len;
    out->app = m.app;
    return TP_OK;
}

/* ---- discovery ----------------------------------------------------------------------- */

tp_err tp_discovery_msg_encode(const tp_peer_id *id, uint16_t port,
                               uint8_t out[TP_DISCOVERY_MSG_SIZE]) {
    if (port > INT16_MAX) return TP_ERR_INVAL;
    memcpy(out, discovery_magic, sizeof discovery_magic);
    memcpy(out + 10, id->bytes, TP_PEER_ID_SIZE);
    tp_be16_store(out + 26, port);
    return TP_OK;
}

tp_err tp_discovery_msg_decode(const uint8_t *data, size_t len, tp_peer_id *id, uint16_t *port) {
    tp_reader r;
    tp_reader_init(&r, data, len);
    uint8_t magic[10];
    tp_peer_id pid;
    int16_t p;
    TP_TRY(tp_read_bytes(&r, magic, sizeof magic));
    TP_TRY(tp_read_bytes(&r, pid.bytes, TP_PEER_ID_SIZE));
    TP_TRY(tp_read_i16(&r, &p));
    TP_TRY(tp_reader_end(&r));
    if (memcmp(magic, discovery_magic, sizeof magic) != 0 || p < 0)
        return TP_ERR_DECODE_BAD_VALUE;
    *id = pid;
    *port = (uint16_t)p;
    return TP_OK;
}
