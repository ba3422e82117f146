/* tests/test_message.c — connection messages, metadata, Ack/Nack, P2P messages and the
 * discovery datagram (core/message, spec §2.2, §2.5, §2.8, §4, §9), against the vectors. */
#include "vectors.h"

#include "core/message.h"
#include "core/point.h"

/* Every strict prefix of a valid encoding must fail to decode, and so must the
 * encoding followed by one extra byte. */
typedef tp_err (*decode_fn)(const uint8_t *data, size_t len);

static void check_prefixes_and_trailing(const uint8_t *valid, size_t len, decode_fn decode) {
    uint8_t *buf = malloc(len + 1);
    memcpy(buf, valid, len);
    for (size_t l = 0; l < len; l++) {
        tp_err e = decode(buf, l);
        if (e == TP_OK) fail_msg("a %zu-byte prefix of a %zu-byte encoding decoded", l, len);
    }
    buf[len] = 0;
    assert_int_equal(decode(buf, len + 1), TP_ERR_DECODE_TRAILING);
    assert_int_equal(decode(buf, len), TP_OK);
    free(buf);
}

static tp_err decode_conn(const uint8_t *d, size_t n) {
    tp_connection_msg m;
    return tp_connection_msg_decode(d, n, &m);
}
static tp_err decode_ack(const uint8_t *d, size_t n) {
    tp_ack a;
    return tp_ack_decode(d, n, &a);
}
static tp_err decode_p2p(const uint8_t *d, size_t n) {
    tp_p2p_msg m;
    return tp_p2p_msg_decode(d, n, NULL, &m);
}
static tp_err decode_md(const uint8_t *d, size_t n) {
    tp_metadata m;
    return tp_metadata_decode(d, n, &m);
}

/* ---- connection messages ---------------------------------------------------------- */

static void test_connection_message_vectors(void **state) {
    (void)state;
    vec_file *v = vec_open("handshake_vectors.json");
    const char *who[] = {"A", "B"};
    const char *keys[] = {"connection_message_A_framed_hex", "connection_message_B_framed_hex"};
    for (int i = 0; i < 2; i++) {
        tp_connection_msg m;
        memset(&m, 0, sizeof m);
        int64_t port, ddb, p2p;
        assert_int_equal(tp_json_get_int64(&v->doc, vec_get(v, "connection_message_params", who[i], "port"), &port), TP_OK);
        assert_int_equal(tp_json_get_int64(&v->doc, vec_get(v, "connection_message_params", who[i], "distributed_db_version"), &ddb), TP_OK);
        assert_int_equal(tp_json_get_int64(&v->doc, vec_get(v, "connection_message_params", who[i], "p2p_version"), &p2p), TP_OK);
        m.port = (uint16_t)port;
        m.distributed_db_version = (uint16_t)ddb;
        m.p2p_version = (uint16_t)p2p;
        vec_hex_exact(v, vec_get(v, "identities", who[i], "public_key"), m.public_key, 32);
        vec_hex_exact(v, vec_get(v, "identities", who[i], "proof_of_work_stamp"), m.pow_stamp, 24);
        vec_hex_exact(v, vec_get(v, "connection_message_params", who[i], "message_nonce"), m.message_nonce, 24);
        char *chain = vec_string_at(v, vec_get(v, "connection_message_params", who[i], "chain_name"));
        m.chain_name = (const uint8_t *)chain;
        m.chain_name_len = strlen(chain);
        size_t want_len;
        uint8_t *want = vec_hex_at(v, vec_get(v, keys[i]), &want_len);
        uint8_t out[256];
        size_t n;
        assert_int_equal(tp_connection_msg_encode(&m, out, sizeof out, &n), TP_OK);
        assert_int_equal(n, want_len);
        assert_int_equal(n, 105); /* mainnet: 0x0067 + 103 bytes */
        assert_memory_equal(out, want, n);
        tp_connection_msg d;
        assert_int_equal(tp_connection_msg_decode(want, want_len, &d), TP_OK);
        assert_int_equal(d.port, m.port);
        assert_memory_equal(d.public_key, m.public_key, 32);
        assert_memory_equal(d.pow_stamp, m.pow_stamp, 24);
        assert_memory_equal(d.message_nonce, m.message_nonce, 24);
        assert_int_equal(d.chain_name_len, m.chain_name_len);
        assert_memory_equal(d.chain_name, chain, d.chain_name_len);
        assert_int_equal(d.distributed_db_version, 2);
        assert_int_equal(d.p2p_version, 1);
        check_prefixes_and_trailing(want, want_len, decode_conn);
        /* too small an output buffer */
        assert_int_equal(tp_connection_msg_encode(&m, out, 104, &n), TP_ERR_TOO_BIG);
        free(want);
        free(chain);
    }
    vec_close(v);
    /* tezedge's real connection messages (135-byte bodies) decode and re-encode */
    vec_file *c = vec_open("cited_vectors.json");
    const char *ckeys[] = {"sent_msg_framed", "recv_msg_framed"};
    const uint16_t ports[] = {19739, 19738};
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *msg = vec_hex_at(c, vec_get(c, "nonce_derivation", ckeys[i]), &len);
        tp_connection_msg d;
        assert_int_equal(tp_connection_msg_decode(msg, len, &d), TP_OK);
        assert_int_equal(len, 2 + 135);
        assert_int_equal(d.port, ports[i]);
        assert_int_equal(d.chain_name_len, strlen("SANDBOXED_TEZOS_ALPHANET_2018-11-30T15:30:56Z"));
        assert_memory_equal(d.chain_name, "SANDBOXED_TEZOS_ALPHANET_2018-11-30T15:30:56Z", d.chain_name_len);
        uint8_t out[256];
        size_t n;
        assert_int_equal(tp_connection_msg_encode(&d, out, sizeof out, &n), TP_OK);
        assert_int_equal(n, len);
        assert_memory_equal(out, msg, len);
        free(msg);
    }
    vec_close(c);
}

static void test_connection_message_rejects(void **state) {
    (void)state;
    /* the greylisting example of spec §2.9: 00 0a "Hello, world. This..." */
    const char *hello = "\x00\x0aHello, world. This is not a connection message";
    tp_connection_msg m;
    assert_int_equal(tp_connection_msg_decode((const uint8_t *)hello, 12, &m), TP_ERR_DECODE_TRUNCATED);
    assert_int_equal(tp_connection_msg_decode((const uint8_t *)hello, 20, &m), TP_ERR_DECODE_TRAILING);
    /* a chain name length beyond the body */
    uint8_t body[2 + 90] = {0};
    body[1] = 90;
    body[2 + 82 + 3] = 5; /* chain name length 5, but only 4 bytes follow */
    assert_int_equal(tp_connection_msg_decode(body, sizeof body, &m), TP_ERR_DECODE_TRUNCATED);
    body[2 + 82] = 0x40; /* 2^30 + 5: not a uint30 */
    assert_int_equal(tp_connection_msg_decode(body, sizeof body, &m), TP_ERR_DECODE_TOO_LONG);
    /* a valid body with an extra byte inside the frame */
    uint8_t extra[2 + 91] = {0};
    extra[1] = 91;
    assert_int_equal(tp_connection_msg_decode(extra, sizeof extra, &m), TP_ERR_DECODE_TRAILING);
    extra[1] = 90;
    assert_int_equal(tp_connection_msg_decode(extra, sizeof extra - 1, &m), TP_OK);
    assert_int_equal(m.chain_name_len, 0);
}

/* ---- metadata and Ack/Nack ---------------------------------------------------------- */

static void test_metadata(void **state) {
    (void)state;
    uint8_t out[2];
    tp_metadata a = {false, false}, b = {true, false}, c = {false, true};
    tp_metadata_encode(&a, out);
    assert_int_equal(out[0], 0x00);
    assert_int_equal(out[1], 0x00);
    tp_metadata_encode(&b, out);
    assert_int_equal(out[0], 0xff);
    assert_int_equal(out[1], 0x00);
    tp_metadata_encode(&c, out);
    assert_int_equal(out[1], 0xff);
    tp_metadata d;
    const uint8_t odd[2] = {0x01, 0x00};
    assert_int_equal(tp_metadata_decode(odd, 2, &d), TP_OK);
    assert_true(d.disable_mempool);
    assert_false(d.private_node);
    check_prefixes_and_trailing(out, 2, decode_md);
}

static void check_ack_vector(vec_file *v, size_t at, tp_ack_kind kind, int16_t motive,
                             const char *point) {
    size_t len;
    uint8_t *bytes = vec_hex_at(v, at, &len);
    tp_ack a;
    assert_int_equal(tp_ack_decode(bytes, len, &a), TP_OK);
    assert_int_equal(a.kind, kind);
    if (kind == TP_NACK) {
        assert_int_equal(a.motive, motive);
        assert_int_equal(a.points_count, 1);
        char text[TP_POINT_TEXT_MAX];
        assert_string_equal(tp_point_format(&a.points[0], text), point);
    }
    uint8_t out[TP_ACK_ENCODED_MAX];
    size_t n;
    assert_int_equal(tp_ack_encode(&a, out, sizeof out, &n), TP_OK);
    assert_int_equal(n, len);
    assert_memory_equal(out, bytes, len);
    check_prefixes_and_trailing(bytes, len, decode_ack);
    free(bytes);
}

static void test_ack_vectors(void **state) {
    (void)state;
    vec_file *v = vec_open("handshake_vectors.json");
    check_ack_vector(v, vec_get(v, "ack_plaintexts", "Ack"), TP_ACK, 0, NULL);
    check_ack_vector(v, vec_get(v, "ack_plaintexts", "Nack_v_0"), TP_NACK_V0, 0, NULL);
    check_ack_vector(v, vec_get(v, "ack_plaintexts", "Nack(Too_many_connections,[127.0.0.1:9832])"),
                     TP_NACK, TP_MOTIVE_TOO_MANY_CONNECTIONS, "127.0.0.1:9832");
    vec_close(v);
    vec_file *c = vec_open("cited_vectors.json");
    check_ack_vector(c, vec_get(c, "ack_encodings", "Ack"), TP_ACK, 0, NULL);
    check_ack_vector(c, vec_get(c, "ack_encodings", "Nack_v_0"), TP_NACK_V0, 0, NULL);
    check_ack_vector(c, vec_get(c, "ack_encodings", "Nack(Deprecated_p2p_version=3,[127.0.0.1:9832])"),
                     TP_NACK, TP_MOTIVE_DEPRECATED_P2P_VERSION, "127.0.0.1:9832");
    check_ack_vector(c, vec_get(c, "ack_encodings", "Nack(Unknown_chain_name=2,[127.0.0.1:9832])"),
                     TP_NACK, TP_MOTIVE_UNKNOWN_CHAIN_NAME, "127.0.0.1:9832");
    vec_close(c);
    assert_string_equal(tp_motive_name(TP_MOTIVE_ALREADY_CONNECTED), "already_connected");
    assert_string_equal(tp_motive_name(42), "unknown_motive");
}

/* A Nack with n copies of a point string. */
static size_t build_nack(uint8_t *out, size_t n, const char *point, int16_t motive) {
    size_t pl = strlen(point), k = 0;
    out[k++] = 0x01;
    tp_be16_store(out + k, (uint16_t)motive);
    k += 2;
    tp_be32_store(out + k, (uint32_t)(n * (4 + pl)));
    k += 4;
    for (size_t i = 0; i < n; i++) {
        tp_be32_store(out + k, (uint32_t)pl);
        memcpy(out + k + 4, point, pl);
        k += 4 + pl;
    }
    return k;
}

static void test_ack_rejects(void **state) {
    (void)state;
    static uint8_t buf[20000];
    tp_ack a;
    const uint8_t bad_tag[] = {0x02};
    assert_int_equal(tp_ack_decode(bad_tag, 1, &a), TP_ERR_DECODE_BAD_TAG);
    const uint8_t fe[] = {0xfe};
    assert_int_equal(tp_ack_decode(fe, 1, &a), TP_ERR_DECODE_BAD_TAG);
    size_t n = build_nack(buf, 100, "[2001:db8::1]:9732", 5);
    assert_int_equal(tp_ack_decode(buf, n, &a), TP_OK);
    assert_int_equal(a.points_count, 100);
    assert_int_equal(a.motive, 5);
    n = build_nack(buf, 101, "[2001:db8::1]:9732", 5);
    assert_int_equal(tp_ack_decode(buf, n, &a), TP_ERR_DECODE_TOO_LONG);
    n = build_nack(buf, 1, "localhost:9732", 1);
    assert_int_equal(tp_ack_decode(buf, n, &a), TP_ERR_DECODE_BAD_POINT);
    n = build_nack(buf, 1, "[1111:2222:3333:4444:5555:6666:7777:8888]:65535", 1); /* 47 chars */
    assert_int_equal(tp_ack_decode(buf, n, &a), TP_OK);
    n = build_nack(buf, 1, "[1111:2222:3333:4444:5555:6666:7777:8888]:065535", 1); /* 48 */
    assert_int_equal(tp_ack_decode(buf, n, &a), TP_ERR_DECODE_TOO_LONG);
    /* an unknown motive code is kept */
    n = build_nack(buf, 0, "", -7);
    assert_int_equal(tp_ack_decode(buf, n, &a), TP_OK);
    assert_int_equal(a.motive, -7);
    assert_int_equal(a.points_count, 0);
    /* the list length must cover whole elements */
    n = build_nack(buf, 1, "1.2.3.4:1", 1);
    buf[6] = (uint8_t)(buf[6] + 1); /* list length one too long */
    assert_int_equal(tp_ack_decode(buf, n, &a), TP_ERR_DECODE_TRUNCATED);
    buf[6] = (uint8_t)(buf[6] - 2); /* one too short: the element overruns the list */
    assert_int_equal(tp_ack_decode(buf, n, &a), TP_ERR_DECODE_TRAILING);
    /* encoding more than 100 points is refused */
    tp_ack many;
    memset(&many, 0, sizeof many);
    many.kind = TP_NACK;
    many.points_count = 101;
    assert_int_equal(tp_ack_encode(&many, buf, sizeof buf, &n), TP_ERR_INVAL);
}

/* ---- P2P messages ------------------------------------------------------------------- */

static void test_p2p_message_vectors(void **state) {
    (void)state;
    vec_file *v = vec_open("handshake_vectors.json");
    tp_peer_id peer_b;
    vec_hex_exact(v, vec_get(v, "identities", "B", "peer_id_hex"), peer_b.bytes, 16);
    size_t list = vec_get(v, "p2p_message_plaintexts");
    const tp_json_token *t = tp_json_tok(&v->doc, list);
    assert_int_equal(t->children, 5);
    const uint16_t tags[] = {TP_MSG_DISCONNECT, TP_MSG_BOOTSTRAP, TP_MSG_ADVERTISE,
                             TP_MSG_SWAP_REQUEST, TP_MSG_SWAP_ACK};
    size_t k = list + 1;
    for (uint32_t i = 0; i < t->children; i++) {
        size_t len;
        uint8_t *bytes = vec_hex_at(v, k + 1, &len);
        tp_p2p_msg m;
        assert_int_equal(tp_p2p_msg_decode(bytes, len, NULL, &m), TP_OK);
        assert_int_equal(m.tag, tags[i]);
        char text[TP_POINT_TEXT_MAX];
        if (m.tag == TP_MSG_ADVERTISE) {
            assert_int_equal(m.points_count, 2);
            assert_string_equal(tp_point_format(&m.points[0], text), "1.2.3.4:9732");
            assert_string_equal(tp_point_format(&m.points[1], text), "[2001:db8::1]:9732");
        }
        if (m.tag == TP_MSG_SWAP_REQUEST || m.tag == TP_MSG_SWAP_ACK) {
            assert_int_equal(m.points_count, 1);
            assert_string_equal(tp_point_format(&m.points[0], text), "1.2.3.4:9732");
            assert_true(tp_peer_id_eq(&m.peer_id, &peer_b));
        }
        uint8_t out[256];
        size_t n;
        assert_int_equal(tp_p2p_msg_encode(&m, out, sizeof out, &n), TP_OK);
        assert_int_equal(n, len);
        assert_memory_equal(out, bytes, len);
        check_prefixes_and_trailing(bytes, len, decode_p2p);
        free(bytes);
        k = tp_json_next(&v->doc, k + 1);
    }
    vec_close(v);
}

static void test_p2p_advertise_capture_and_negative_framing(void **state) {
    (void)state;
    vec_file *c = vec_open("cited_vectors.json");
    size_t body_len;
    uint8_t *body = vec_hex_at(c, vec_get(c, "advertise_body", "hex"), &body_len);
    uint8_t frame[256];
    tp_be32_store(frame, (uint32_t)(2 + body_len));
    tp_be16_store(frame + 4, TP_MSG_ADVERTISE);
    memcpy(frame + 6, body, body_len);
    tp_p2p_msg m;
    assert_int_equal(tp_p2p_msg_decode(frame, 6 + body_len, NULL, &m), TP_OK);
    size_t pts = vec_get(c, "advertise_body", "points");
    assert_int_equal(m.points_count, tp_json_tok(&c->doc, pts)->children);
    size_t k = pts + 1;
    for (size_t i = 0; i < m.points_count; i++) {
        char *want = vec_string_at(c, k);
        char text[TP_POINT_TEXT_MAX];
        assert_string_equal(tp_point_format(&m.points[i], text), want);
        free(want);
        k = tp_json_next(&c->doc, k);
    }
    uint8_t out[256];
    size_t n;
    assert_int_equal(tp_p2p_msg_encode(&m, out, sizeof out, &n), TP_OK);
    assert_int_equal(n, 6 + body_len);
    assert_memory_equal(out, frame, n);
    free(body);
    /* framings that must fail: an empty frame and two messages in one frame */
    size_t neg = vec_get(c, "peer_message_framing_negative", "must_fail");
    assert_int_equal(tp_json_tok(&c->doc, neg)->children, 2);
    const tp_err expect[] = {TP_ERR_DECODE_EMPTY, TP_ERR_DECODE_TRAILING};
    k = neg + 1;
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *bytes = vec_hex_at(c, k, &len);
        assert_int_equal(tp_p2p_msg_decode(bytes, len, NULL, &m), expect[i]);
        free(bytes);
        k = tp_json_next(&c->doc, k);
    }
    vec_close(c);
}

static size_t build_advertise(uint8_t *out, size_t n, const char *point) {
    size_t pl = strlen(point), k = 6;
    for (size_t i = 0; i < n; i++) {
        tp_be32_store(out + k, (uint32_t)pl);
        memcpy(out + k + 4, point, pl);
        k += 4 + pl;
    }
    tp_be32_store(out, (uint32_t)(k - 4));
    tp_be16_store(out + 4, TP_MSG_ADVERTISE);
    return k;
}

static void test_p2p_message_rejects(void **state) {
    (void)state;
    static uint8_t buf[20000];
    tp_p2p_msg m;
    size_t n = build_advertise(buf, 100, "255.255.255.255:65535");
    assert_int_equal(tp_p2p_msg_decode(buf, n, NULL, &m), TP_OK);
    assert_int_equal(m.points_count, 100);
    n = build_advertise(buf, 101, "1.1.1.1:1");
    assert_int_equal(tp_p2p_msg_decode(buf, n, NULL, &m), TP_ERR_DECODE_TOO_LONG);
    n = build_advertise(buf, 1, "example.com:9732");
    assert_int_equal(tp_p2p_msg_decode(buf, n, NULL, &m), TP_ERR_DECODE_BAD_POINT);
    /* a peer id suffix is accepted and dropped, as Octez's of_string_exn does */
    n = build_advertise(buf, 1, "1.2.3.4:9732#idqRfGME9Bdhde2rksPSz7s6naxMW4");
    assert_int_equal(tp_p2p_msg_decode(buf, n, NULL, &m), TP_OK);
    assert_int_equal(m.points[0].port, 9732);
    n = build_advertise(buf, 1, "1.2.3.4:9732#notAnId0");
    assert_int_equal(tp_p2p_msg_decode(buf, n, NULL, &m), TP_ERR_DECODE_BAD_POINT);
    /* unknown tags: 0, 6..15, and application tags nobody registered */
    const uint16_t unknown[] = {0x0000, 0x0006, 0x000f, 0x0010, 0xffff};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        uint8_t f[6] = {0, 0, 0, 2};
        tp_be16_store(f + 4, unknown[i]);
        assert_int_equal(tp_p2p_msg_decode(f, 6, NULL, &m), TP_ERR_DECODE_BAD_TAG);
    }
    /* registered application messages, bounded by their maximum length */
    const tp_app_msg_def defs[] = {{0x10, 4, "text"}, {0x11, 0, "ping"}};
    tp_app_registry reg = {defs, 2};
    uint8_t app[10] = {0, 0, 0, 6, 0, 0x10, 'a', 'b', 'c', 'd'};
    assert_int_equal(tp_p2p_msg_decode(app, 10, &reg, &m), TP_OK);
    assert_int_equal(m.tag, 0x10);
    assert_ptr_equal(m.app, &defs[0]);
    assert_int_equal(m.payload_len, 4);
    assert_memory_equal(m.payload, "abcd", 4);
    uint8_t out[16];
    assert_int_equal(tp_p2p_msg_encode(&m, out, sizeof out, &n), TP_OK);
    assert_int_equal(n, 10);
    assert_memory_equal(out, app, 10);
    uint8_t too_long[11] = {0, 0, 0, 7, 0, 0x10, 'a', 'b', 'c', 'd', 'e'};
    assert_int_equal(tp_p2p_msg_decode(too_long, 11, &reg, &m), TP_ERR_DECODE_TOO_LONG);
    uint8_t ping[6] = {0, 0, 0, 2, 0, 0x11};
    assert_int_equal(tp_p2p_msg_decode(ping, 6, &reg, &m), TP_OK);
    assert_int_equal(m.payload_len, 0);
    /* Swap without its peer id, or with an extra byte */
    uint8_t swap[64];
    size_t k = 6;
    tp_be32_store(swap + k, 9);
    memcpy(swap + k + 4, "1.2.3.4:5", 9);
    k += 13;
    memset(swap + k, 0xab, 17);
    tp_be16_store(swap + 4, TP_MSG_SWAP_ACK);
    tp_be32_store(swap, (uint32_t)(k + 16 - 4));
    assert_int_equal(tp_p2p_msg_decode(swap, k + 16, NULL, &m), TP_OK);
    tp_be32_store(swap, (uint32_t)(k + 15 - 4));
    assert_int_equal(tp_p2p_msg_decode(swap, k + 15, NULL, &m), TP_ERR_DECODE_TRUNCATED);
    tp_be32_store(swap, (uint32_t)(k + 17 - 4));
    assert_int_equal(tp_p2p_msg_decode(swap, k + 17, NULL, &m), TP_ERR_DECODE_TRAILING);
    /* a size above uint30, a frame shorter than its size, a 1-byte frame */
    uint8_t huge[6] = {0x40, 0, 0, 0, 0, 2};
    assert_int_equal(tp_p2p_msg_decode(huge, 6, NULL, &m), TP_ERR_DECODE_TOO_LONG);
    uint8_t one[5] = {0, 0, 0, 1, 0};
    assert_int_equal(tp_p2p_msg_decode(one, 5, NULL, &m), TP_ERR_DECODE_EMPTY);
    /* encoding errors */
    tp_p2p_msg bad;
    memset(&bad, 0, sizeof bad);
    bad.tag = TP_MSG_ADVERTISE;
    bad.points_count = 101;
    assert_int_equal(tp_p2p_msg_encode(&bad, buf, sizeof buf, &n), TP_ERR_INVAL);
    bad.tag = TP_MSG_SWAP_REQUEST;
    bad.points_count = 0;
    assert_int_equal(tp_p2p_msg_encode(&bad, buf, sizeof buf, &n), TP_ERR_INVAL);
    bad.tag = 7;
    assert_int_equal(tp_p2p_msg_encode(&bad, buf, sizeof buf, &n), TP_ERR_INVAL);
}

/* ---- discovery ---------------------------------------------------------------------- */

static void test_discovery_datagram(void **state) {
    (void)state;
    vec_file *v = vec_open("handshake_vectors.json");
    size_t len;
    uint8_t *want = vec_hex_at(v, vec_get(v, "discovery_udp_datagram_A_port9732"), &len);
    tp_peer_id a;
    vec_hex_exact(v, vec_get(v, "identities", "A", "peer_id_hex"), a.bytes, 16);
    uint8_t out[TP_DISCOVERY_MSG_SIZE];
    assert_int_equal(tp_discovery_msg_encode(&a, 9732, out), TP_OK);
    assert_int_equal(len, TP_DISCOVERY_MSG_SIZE);
    assert_memory_equal(out, want, len);
    tp_peer_id id;
    uint16_t port;
    assert_int_equal(tp_discovery_msg_decode(want, len, &id, &port), TP_OK);
    assert_true(tp_peer_id_eq(&id, &a));
    assert_int_equal(port, 9732);
    assert_int_equal(tp_discovery_msg_decode(want, len - 1, &id, &port), TP_ERR_DECODE_TRUNCATED);
    uint8_t longer[29];
    memcpy(longer, want, 28);
    assert_int_equal(tp_discovery_msg_decode(longer, 29, &id, &port), TP_ERR_DECODE_TRAILING);
    want[0] = 'd';
    assert_int_equal(tp_discovery_msg_decode(want, len, &id, &port), TP_ERR_DECODE_BAD_VALUE);
    want[0] = 'D';
    want[26] = 0x80; /* negative int16 port */
    assert_int_equal(tp_discovery_msg_decode(want, len, &id, &port), TP_ERR_DECODE_BAD_VALUE);
    assert_int_equal(tp_discovery_msg_encode(&a, 32768, out), TP_ERR_INVAL);
    assert_int_equal(tp_discovery_msg_encode(&a, 32767, out), TP_OK);
    free(want);
    vec_close(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connection_message_vectors),
        cmocka_unit_test(test_connection_message_rejects),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_ack_vectors),
        cmocka_unit_test(test_ack_rejects),
        cmocka_unit_test(test_p2p_message_vectors),
        cmocka_unit_test(test_p2p_advertise_capture_and_negative_framing),
        cmocka_unit_test(test_p2p_message_rejects),
        cmocka_unit_test(test_discovery_datagram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
