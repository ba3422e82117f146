/* tests/test_crypto.c — channel keys, nonces, chunk seal/open, message splitting and
 * the streaming reassembler (core/crypto, spec §2.4, §3), against ../shared/vectors. */
#include "vectors.h"

#include <sodium.h>

#include "core/crypto.h"
#include "core/message.h"

/* ---- a memory-only env that counts bytes ------------------------------------------- */

typedef struct mem_ctx {
    size_t live;
    size_t peak;
    size_t fail_above; /* refuse single allocations larger than this (0: never) */
} mem_ctx;

static void *mem_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size) {
    mem_ctx *m = ctx;
    if (new_size == 0) {
        free(ptr);
        m->live -= old_size;
        return NULL;
    }
    if (m->fail_above && new_size > m->fail_above) return NULL;
    void *p = realloc(ptr, new_size);
    if (p == NULL) return NULL;
    m->live = m->live - old_size + new_size;
    if (m->live > m->peak) m->peak = m->live;
    return p;
}

static tp_env_ops mem_ops;
static tp_env mem_env(mem_ctx *m) {
    memset(&mem_ops, 0, sizeof mem_ops);
    mem_ops.realloc = mem_realloc;
    tp_env e = {m, &mem_ops};
    return e;
}

/* ---- vectors -------------------------------------------------------------------------- */

typedef struct handshake {
    vec_file *v;
    tp_identity a, b;
    tp_channel_key key;
    tp_nonce a_local, a_remote, b_local, b_remote;
} handshake;

static void handshake_load(handshake *h) {
    h->v = vec_open("handshake_vectors.json");
    vec_file *v = h->v;
    vec_hex_exact(v, vec_get(v, "identities", "A", "public_key"), h->a.public_key, 32);
    vec_hex_exact(v, vec_get(v, "identities", "A", "secret_key"), h->a.secret_key, 32);
    vec_hex_exact(v, vec_get(v, "identities", "B", "public_key"), h->b.public_key, 32);
    vec_hex_exact(v, vec_get(v, "identities", "B", "secret_key"), h->b.secret_key, 32);
    assert_int_equal(tp_channel_key_precompute(&h->key, h->b.public_key, h->a.secret_key), TP_OK);
    vec_hex_exact(v, vec_get(v, "A_outgoing", "local_nonce"), h->a_local.bytes, 24);
    vec_hex_exact(v, vec_get(v, "A_outgoing", "remote_nonce"), h->a_remote.bytes, 24);
    vec_hex_exact(v, vec_get(v, "B_incoming", "local_nonce"), h->b_local.bytes, 24);
    vec_hex_exact(v, vec_get(v, "B_incoming", "remote_nonce"), h->b_remote.bytes, 24);
}

static void test_channel_key_vectors(void **state) {
    (void)state;
    handshake h;
    handshake_load(&h);
    uint8_t want[32];
    vec_hex_exact(h.v, vec_get(h.v, "channel_key_hex (crypto_box_beforenm)"), want, 32);
    assert_memory_equal(h.key.bytes, want, 32);
    tp_channel_key other = {{0}, false};
    assert_int_equal(tp_channel_key_precompute(&other, h.a.public_key, h.b.secret_key), TP_OK);
    assert_memory_equal(other.bytes, want, 32); /* both sides agree */
    /* a low-order public key (all zero) is refused */
    uint8_t zero_pk[32] = {0};
    assert_int_equal(tp_channel_key_precompute(&other, zero_pk, h.a.secret_key), TP_ERR_WEAK_KEY);
    tp_channel_key_wipe(&other);
    uint8_t zero[32] = {0};
    assert_memory_equal(other.bytes, zero, 32);
    vec_close(h.v);

    /* tezedge's crypto_box vector: precompute, then seal 137 bytes */
    vec_file *c = vec_open("cited_vectors.json");
    uint8_t pk[32], sk[32], pre[32];
    tp_nonce nonce;
    vec_hex_exact(c, vec_get(c, "crypto_box_precompute_and_seal", "public_key"), pk, 32);
    vec_hex_exact(c, vec_get(c, "crypto_box_precompute_and_seal", "secret_key"), sk, 32);
    vec_hex_exact(c, vec_get(c, "crypto_box_precompute_and_seal", "precomputed_key"), pre, 32);
    vec_hex_exact(c, vec_get(c, "crypto_box_precompute_and_seal", "nonce"), nonce.bytes, 24);
    tp_channel_key k = {{0}, false};
    assert_int_equal(tp_channel_key_precompute(&k, pk, sk), TP_OK);
    assert_memory_equal(k.bytes, pre, 32);
    size_t plain_len, boxed_len;
    uint8_t *plain = vec_hex_at(c, vec_get(c, "crypto_box_precompute_and_seal", "plaintext"), &plain_len);
    uint8_t *boxed = vec_hex_at(
        c, vec_get(c, "crypto_box_precompute_and_seal", "box_easy_afternm_output_MAC_then_ciphertext"),
        &boxed_len);
    assert_int_equal(plain_len, 137);
    assert_int_equal(boxed_len, 137 + 16);
    uint8_t chunk[2 + 16 + 137];
    size_t n;
    tp_nonce before = nonce;
    assert_int_equal(tp_chunk_seal(&k, &nonce, plain, plain_len, chunk, sizeof chunk, &n), TP_OK);
    assert_int_equal(n, sizeof chunk);
    assert_int_equal(chunk[0], 0);
    assert_int_equal(chunk[1], 16 + 137);
    assert_memory_equal(chunk + 2, boxed, boxed_len);
    tp_nonce_increment(&before);
    assert_memory_equal(nonce.bytes, before.bytes, 24);
    free(plain);
    free(boxed);
    vec_close(c);
}

static void test_nonce_derivation_vectors(void **state) {
    (void)state;
    /* handshake transcript: A initiates, B responds */
    handshake h;
    handshake_load(&h);
    size_t la, lb;
    uint8_t *ma = vec_hex_at(h.v, vec_get(h.v, "connection_message_A_framed_hex"), &la);
    uint8_t *mb = vec_hex_at(h.v, vec_get(h.v, "connection_message_B_framed_hex"), &lb);
    tp_nonce local, remote, i2r, r2i;
    vec_hex_exact(h.v, vec_get(h.v, "nonce_init_to_resp"), i2r.bytes, 24);
    vec_hex_exact(h.v, vec_get(h.v, "nonce_resp_to_init"), r2i.bytes, 24);
    tp_nonces_derive(ma, la, mb, lb, false, &local, &remote);
    assert_memory_equal(local.bytes, h.a_local.bytes, 24);
    assert_memory_equal(remote.bytes, h.a_remote.bytes, 24);
    assert_memory_equal(local.bytes, r2i.bytes, 24); /* the initiator sends with Resp->Init */
    tp_nonces_derive(ma, la, mb, lb, true, &local, &remote);
    assert_memory_equal(local.bytes, h.b_local.bytes, 24);
    assert_memory_equal(remote.bytes, h.b_remote.bytes, 24);
    assert_memory_equal(local.bytes, i2r.bytes, 24);
    free(ma);
    free(mb);
    vec_close(h.v);

    /* tezedge's nonce.rs: sent/recv messages seen from one side */
    vec_file *c = vec_open("cited_vectors.json");
    size_t ls, lr;
    uint8_t *sent = vec_hex_at(c, vec_get(c, "nonce_derivation", "sent_msg_framed"), &ls);
    uint8_t *recv = vec_hex_at(c, vec_get(c, "nonce_derivation", "recv_msg_framed"), &lr);
    tp_nonce want_local, want_remote;
    /* outgoing: we initiated, our message is init_msg */
    vec_hex_exact(c, vec_get(c, "nonce_derivation", "incoming_false", "local"), want_local.bytes, 24);
    vec_hex_exact(c, vec_get(c, "nonce_derivation", "incoming_false", "remote"), want_remote.bytes, 24);
    tp_nonces_derive(sent, ls, recv, lr, false, &local, &remote);
    assert_memory_equal(local.bytes, want_local.bytes, 24);
    assert_memory_equal(remote.bytes, want_remote.bytes, 24);
    /* incoming: the remote initiated, its message is init_msg */
    vec_hex_exact(c, vec_get(c, "nonce_derivation", "incoming_true", "local"), want_local.bytes, 24);
    vec_hex_exact(c, vec_get(c, "nonce_derivation", "incoming_true", "remote"), want_remote.bytes, 24);
    tp_nonces_derive(recv, lr, sent, ls, true, &local, &remote);
    assert_memory_equal(local.bytes, want_local.bytes, 24);
    assert_memory_equal(remote.bytes, want_remote.bytes, 24);
    /* increments */
    size_t cases = vec_get(c, "nonce_increment", "cases");
    size_t k = cases + 1;
    for (uint32_t i = 0; i < tp_json_tok(&c->doc, cases)->children; i++) {
        tp_nonce in, out;
        vec_hex_exact(c, k + 1, in.bytes, 24);
        vec_hex_exact(c, k + 2, out.bytes, 24);
        tp_nonce_increment(&in);
        assert_memory_equal(in.bytes, out.bytes, 24);
        k = tp_json_next(&c->doc, k);
    }
    free(sent);
    free(recv);
    vec_close(c);
}

static void test_handshake_chunks_vectors(void **state) {
    (void)state;
    handshake h;
    handshake_load(&h);
    size_t seq = vec_get(h.v, "handshake_sequence");
    const tp_json_token *t = tp_json_tok(&h.v->doc, seq);
    assert_int_equal(t->children, 6);
    /* Each side's nonce state evolves as the chunks go: A sends with a_local, B with
     * b_local; the vector gives the nonce of each step, which must be ours. */
    tp_nonce a_send = h.a_local, b_send = h.b_local, a_recv = h.a_remote, b_recv = h.b_remote;
    size_t k = seq + 1;
    for (uint32_t i = 0; i < t->children; i++) {
        char *step = vec_string_at(h.v, tp_json_object_get(&h.v->doc, k, "step"));
        bool from_a = strncmp(step, "A->B", 4) == 0;
        size_t plain_len, wire_len;
        uint8_t *plain = vec_hex_at(h.v, tp_json_object_get(&h.v->doc, k, "plaintext"), &plain_len);
        uint8_t *wire = vec_hex_at(h.v, tp_json_object_get(&h.v->doc, k, "wire_chunk"), &wire_len);
        tp_nonce want_nonce;
        vec_hex_exact(h.v, tp_json_object_get(&h.v->doc, k, "nonce"), want_nonce.bytes, 24);
        tp_nonce *send = from_a ? &a_send : &b_send;
        tp_nonce *recv = from_a ? &b_recv : &a_recv;
        assert_memory_equal(send->bytes, want_nonce.bytes, 24);
        assert_memory_equal(recv->bytes, want_nonce.bytes, 24);
        uint8_t out[256], back[256];
        size_t n, m;
        assert_int_equal(tp_chunk_seal(&h.key, send, plain, plain_len, out, sizeof out, &n), TP_OK);
        if (n != wire_len || memcmp(out, wire, n) != 0) fail_msg("step %s: wire chunk differs", step);
        assert_int_equal(tp_chunk_open(&h.key, recv, wire, wire_len, back, sizeof back, &m), TP_OK);
        assert_int_equal(m, plain_len);
        assert_memory_equal(back, plain, m);
        free(step);
        free(plain);
        free(wire);
        k = tp_json_next(&h.v->doc, k);
    }
    vec_close(h.v);
}

static void test_chunk_open_rejects(void **state) {
    (void)state;
    handshake h;
    handshake_load(&h);
    const uint8_t plain[] = {0xde, 0xad, 0xbe, 0xef};
    uint8_t chunk[64], back[64];
    size_t n, m;
    tp_nonce send = h.a_local;
    assert_int_equal(tp_chunk_seal(&h.key, &send, plain, sizeof plain, chunk, sizeof chunk, &n), TP_OK);
    assert_int_equal(n, 22);
    /* every single-bit flip after the header is a MAC failure; the nonce does not move */
    for (size_t i = 2; i < n; i++) {
        tp_nonce recv = h.a_local;
        chunk[i] ^= 0x10;
        assert_int_equal(tp_chunk_open(&h.key, &recv, chunk, n, back, sizeof back, &m), TP_ERR_DECIPHER);
        assert_memory_equal(recv.bytes, h.a_local.bytes, 24);
        chunk[i] ^= 0x10;
    }
    tp_nonce recv = h.a_local;
    /* wrong nonce */
    tp_nonce later = h.a_local;
    tp_nonce_increment(&later);
    assert_int_equal(tp_chunk_open(&h.key, &later, chunk, n, back, sizeof back, &m), TP_ERR_DECIPHER);
    /* truncation, trailing bytes, buffer too small */
    assert_int_equal(tp_chunk_open(&h.key, &recv, chunk, 1, back, sizeof back, &m), TP_ERR_DECODE_TRUNCATED);
    assert_int_equal(tp_chunk_open(&h.key, &recv, chunk, n - 1, back, sizeof back, &m), TP_ERR_DECODE_TRUNCATED);
    assert_int_equal(tp_chunk_open(&h.key, &recv, chunk, n + 1, back, sizeof back, &m), TP_ERR_DECODE_TRAILING);
    assert_int_equal(tp_chunk_open(&h.key, &recv, chunk, n, back, 3, &m), TP_ERR_TOO_BIG);
    /* L < 16 */
    for (unsigned l = 0; l < 16; l++) {
        uint8_t tiny[18] = {0, (uint8_t)l};
        assert_int_equal(tp_chunk_open(&h.key, &recv, tiny, 2 + l, back, sizeof back, &m),
                         TP_ERR_INVALID_CIPHERTEXT_SIZE);
    }
    assert_int_equal(tp_chunk_open(&h.key, &recv, chunk, n, back, sizeof back, &m), TP_OK);
    assert_memory_equal(back, plain, sizeof plain);
    /* an empty plaintext (L = 16) is legal both ways */
    assert_int_equal(tp_chunk_seal(&h.key, &send, NULL, 0, chunk, sizeof chunk, &n), TP_OK);
    assert_int_equal(n, 18);
    assert_int_equal(tp_chunk_open(&h.key, &recv, chunk, n, back, 0, &m), TP_OK);
    assert_int_equal(m, 0);
    vec_close(h.v);
}

static void test_chunk_seal_limits(void **state) {
    (void)state;
    tp_channel_key key = {{0}, false};
    memset(key.bytes, 7, 32);
    tp_nonce nonce, recv;
    memset(nonce.bytes, 0, 24);
    recv = nonce;
    static uint8_t plain[TP_CHUNK_PLAINTEXT_MAX + 1], out[TP_CHUNK_WIRE_MAX + 1], back[65535];
    for (size_t i = 0; i < sizeof plain; i++) plain[i] = (uint8_t)(i * 31);
    size_t n, m;
    tp_nonce saved = nonce;
    assert_int_equal(tp_chunk_seal(&key, &nonce, plain, TP_CHUNK_PLAINTEXT_MAX + 1, out, sizeof out, &n),
                     TP_ERR_INVALID_MESSAGE_SIZE);
    assert_int_equal(tp_chunk_seal(&key, &nonce, plain, 10, out, 27, &n), TP_ERR_TOO_BIG);
    assert_memory_equal(nonce.bytes, saved.bytes, 24);
    assert_int_equal(tp_chunk_seal(&key, &nonce, plain, TP_CHUNK_PLAINTEXT_MAX, out, sizeof out, &n), TP_OK);
    assert_int_equal(n, 65535);
    assert_int_equal(out[0], 0xff);
    assert_int_equal(out[1], 0xfd); /* L = 65533 */
    assert_int_equal(tp_chunk_open(&key, &recv, out, n, back, sizeof back, &m), TP_OK);
    assert_int_equal(m, TP_CHUNK_PLAINTEXT_MAX);
    assert_memory_equal(back, plain, m);
    /* a receiver accepts L up to 65535 (plaintext 65519), more than a sender sends */
    uint8_t *big = malloc(TP_CHUNK_WIRE_MAX);
    uint8_t *big_plain = calloc(1, 65519);
    tp_nonce n2 = recv;
    big[0] = 0xff;
    big[1] = 0xff;
    assert_int_equal(crypto_box_easy_afternm(big + 2, big_plain, 65519, n2.bytes, key.bytes), 0);
    assert_int_equal(tp_chunk_open(&key, &recv, big, TP_CHUNK_WIRE_MAX, back, sizeof back, &m), TP_OK);
    assert_int_equal(m, 65519);
    free(big);
    free(big_plain);
}

static void test_split_message_any_chunk_size(void **state) {
    (void)state;
    tp_channel_key key = {{0}, false};
    memset(key.bytes, 3, 32);
    static uint8_t msg[200000], wire[300000], back[70000];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i ^ (i >> 8));
    const size_t sizes[] = {19, 20, 21, 100, 1000, 65534, 65535};
    const size_t lens[] = {1, 2, 3, 4, 17, 65517, 65518, 131034, 200000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            size_t cs = sizes[s], len = lens[l];
            if (cs < 100 && len > 20000) continue; /* keeps the test fast */
            tp_nonce send = {{0}}, recv = {{0}};
            size_t n;
            assert_int_equal(tp_chunks_seal_message(&key, &send, msg, len, cs, wire, sizeof wire, &n), TP_OK);
            size_t piece = cs - 18, chunks = (len + piece - 1) / piece;
            assert_int_equal(n, len + 18 * chunks);
            assert_int_equal(n, tp_chunks_wire_size(len, cs));
            /* open the chunks one by one: every chunk but the last is full */
            size_t off = 0, got = 0, count = 0;
            while (off < n) {
                size_t l16 = (size_t)wire[off] << 8 | wire[off + 1];
                size_t m;
                assert_int_equal(tp_chunk_open(&key, &recv, wire + off, 2 + l16, back, sizeof back, &m), TP_OK);
                assert_memory_equal(back, msg + got, m);
                if (off + 2 + l16 < n) assert_int_equal(m, piece);
                got += m;
                off += 2 + l16;
                count++;
            }
            assert_int_equal(got, len);
            assert_int_equal(count, chunks);
            assert_memory_equal(send.bytes, recv.bytes, 24);
        }
    }
    tp_nonce nonce = {{0}};
    size_t n;
    assert_int_equal(tp_chunks_seal_message(&key, &nonce, msg, 10, 18, wire, sizeof wire, &n),
                     TP_ERR_INVALID_CHUNKS_SIZE);
    assert_int_equal(tp_chunks_seal_message(&key, &nonce, msg, 10, 65536, wire, sizeof wire, &n),
                     TP_ERR_INVALID_CHUNKS_SIZE);
    assert_int_equal(tp_chunks_seal_message(&key, &nonce, msg, 10, 21, wire, 20, &n), TP_ERR_TOO_BIG);
}

/* ---- reassembler ------------------------------------------------------------------------ */

/* Feeds wire bytes in pieces of `step` bytes (0: all at once) and collects the units. */
typedef struct collected {
    uint8_t data[300000];
    size_t len;
    size_t units;
    size_t unit_ends[64];
} collected;

static tp_err feed_all(tp_reassembler *r, const uint8_t *wire, size_t n, size_t step, collected *c) {
    size_t off = 0;
    while (off < n) {
        size_t piece = step == 0 || n - off < step ? n - off : step;
        size_t used = 0;
        while (used < piece) {
            size_t consumed;
            tp_err e = tp_reassembler_feed(r, wire + off + used, piece - used, &consumed);
            if (e != TP_OK) return e;
            used += consumed;
            const uint8_t *u;
            size_t ul;
            while (tp_reassembler_next(r, &u, &ul)) {
                assert_true(c->len + ul <= sizeof c->data);
                memcpy(c->data + c->len, u, ul);
                c->len += ul;
                if (c->units < 64) c->unit_ends[c->units] = c->len;
                c->units++;
            }
        }
        off += piece;
    }
    return TP_OK;
}

static void test_reassembler_handshake_vectors_any_split(void **state) {
    (void)state;
    handshake h;
    handshake_load(&h);
    /* What A receives from B: metadata, Ack (chunk units), then the Advertise message. */
    size_t seq = vec_get(h.v, "handshake_sequence");
    const char *steps[] = {"B->A metadata", "B->A Ack", "B->A P2P Advertise"};
    uint8_t wire[512], plains[3][128];
    size_t wire_len = 0, plain_lens[3];
    for (int s = 0; s < 3; s++) {
        size_t k = seq + 1;
        bool found = false;
        for (uint32_t i = 0; i < 6 && !found; i++) {
            char *step = vec_string_at(h.v, tp_json_object_get(&h.v->doc, k, "step"));
            if (strncmp(step, steps[s], strlen(steps[s])) == 0) {
                size_t wl, pl;
                uint8_t *w = vec_hex_at(h.v, tp_json_object_get(&h.v->doc, k, "wire_chunk"), &wl);
                uint8_t *p = vec_hex_at(h.v, tp_json_object_get(&h.v->doc, k, "plaintext"), &pl);
                memcpy(wire + wire_len, w, wl);
                wire_len += wl;
                memcpy(plains[s], p, pl);
                plain_lens[s] = pl;
                free(w);
                free(p);
                found = true;
            }
            free(step);
            k = tp_json_next(&h.v->doc, k);
        }
        assert_true(found);
    }
    mem_ctx mem = {0};
    tp_env env = mem_env(&mem);
    const size_t steps_sizes[] = {1, 2, 3, 7, 19, 20, 0};
    for (size_t si = 0; si < sizeof steps_sizes / sizeof steps_sizes[0]; si++) {
        tp_reassembler r;
        tp_reassembler_init(&r, &env, &h.key, &h.a_remote, 0);
        collected *c = calloc(1, sizeof *c);
        /* handshake units: two whole chunks; feed exactly their bytes */
        size_t hs = 20 + 19;
        assert_int_equal(feed_all(&r, wire, hs, steps_sizes[si], c), TP_OK);
        assert_int_equal(c->units, 2);
        assert_int_equal(c->unit_ends[0], 2);
        assert_memory_equal(c->data, plains[0], 2);
        assert_memory_equal(c->data + 2, plains[1], 1);
        tp_metadata md;
        assert_int_equal(tp_metadata_decode(c->data, 2, &md), TP_OK);
        assert_true(md.disable_mempool);
        assert_false(md.private_node);
        assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES), TP_OK);
        c->len = 0;
        c->units = 0;
        assert_int_equal(feed_all(&r, wire + hs, wire_len - hs, steps_sizes[si], c), TP_OK);
        assert_int_equal(c->units, 1);
        assert_int_equal(c->len, plain_lens[2]);
        assert_memory_equal(c->data, plains[2], plain_lens[2]);
        assert_int_equal(tp_reassembler_pending(&r), 0);
        free(c);
        tp_reassembler_deinit(&r);
        assert_int_equal(mem.live, 0);
    }
    vec_close(h.v);
}

static void test_reassembler_spanning_and_packed_messages(void **state) {
    (void)state;
    tp_channel_key key = {{0}, false};
    memset(key.bytes, 5, 32);
    mem_ctx mem = {0};
    tp_env env = mem_env(&mem);
    /* three messages: Bootstrap, a 70000-byte application frame, Disconnect */
    static uint8_t frames[80000], wire[600000];
    size_t flen = 0;
    const uint8_t boot[] = {0, 0, 0, 2, 0, 2};
    memcpy(frames + flen, boot, 6);
    flen += 6;
    tp_be32_store(frames + flen, 70002);
    tp_be16_store(frames + flen + 4, 0x10);
    for (size_t i = 0; i < 70000; i++) frames[flen + 6 + i] = (uint8_t)(i * 7);
    flen += 70006;
    const uint8_t disc[] = {0, 0, 0, 2, 0, 1};
    memcpy(frames + flen, disc, 6);
    flen += 6;
    size_t ends[3] = {6, 70012, 70018};
    /* (a) Octez style: each message in its own chunks, chunk sizes 21 and default */
    const size_t sizes[] = {21, 1000, TP_CHUNK_SIZE_MAX};
    for (size_t s = 0; s < 3; s++) {
        tp_nonce send = {{1}}, recv = {{1}};
        size_t wl = 0, n, start = 0;
        for (int m = 0; m < 3; m++) {
            assert_int_equal(tp_chunks_seal_message(&key, &send, frames + start, ends[m] - start, sizes[s],
                                                    wire + wl, sizeof wire - wl, &n),
                             TP_OK);
            wl += n;
            start = ends[m];
        }
        tp_reassembler r;
        tp_reassembler_init(&r, &env, &key, &recv, 0);
        assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES), TP_OK);
        collected *c = calloc(1, sizeof *c);
        assert_int_equal(feed_all(&r, wire, wl, s == 0 ? 0 : 4093, c), TP_OK);
        assert_int_equal(c->units, 3);
        for (int m = 0; m < 3; m++) assert_int_equal(c->unit_ends[m], ends[m]);
        assert_memory_equal(c->data, frames, flen);
        free(c);
        tp_reassembler_deinit(&r);
    }
    /* (b) several messages packed in one chunk, and a message split mid-prefix */
    tp_nonce send = {{2}}, recv = {{2}};
    uint8_t packed[12];
    memcpy(packed, boot, 6);
    memcpy(packed + 6, disc, 6);
    size_t wl = 0, n;
    assert_int_equal(tp_chunk_seal(&key, &send, packed, 12, wire, sizeof wire, &n), TP_OK);
    wl += n;
    assert_int_equal(tp_chunk_seal(&key, &send, boot, 3, wire + wl, sizeof wire - wl, &n), TP_OK);
    wl += n;
    assert_int_equal(tp_chunk_seal(&key, &send, NULL, 0, wire + wl, sizeof wire - wl, &n), TP_OK);
    wl += n;
    assert_int_equal(tp_chunk_seal(&key, &send, boot + 3, 3, wire + wl, sizeof wire - wl, &n), TP_OK);
    wl += n;
    tp_reassembler r;
    tp_reassembler_init(&r, &env, &key, &recv, 0);
    assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES), TP_OK);
    collected *c = calloc(1, sizeof *c);
    assert_int_equal(feed_all(&r, wire, wl, 1, c), TP_OK);
    assert_int_equal(c->units, 3);
    assert_int_equal(c->unit_ends[0], 6);
    assert_int_equal(c->unit_ends[1], 12);
    assert_int_equal(c->unit_ends[2], 18);
    assert_int_equal(r.chunks_opened, 4);
    /* mode switch refused while a partial message is pending */
    assert_int_equal(tp_chunk_seal(&key, &send, boot, 2, wire, sizeof wire, &n), TP_OK);
    assert_int_equal(feed_all(&r, wire, n, 0, c), TP_OK);
    assert_int_equal(tp_reassembler_pending(&r), 2);
    assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_CHUNKS), TP_ERR_STATE);
    free(c);
    tp_reassembler_deinit(&r);
    assert_int_equal(mem.live, 0);
}

static void test_reassembler_rejects_and_bounds_memory(void **state) {
    (void)state;
    tp_channel_key key = {{0}, false};
    memset(key.bytes, 9, 32);
    mem_ctx mem = {0};
    tp_env env = mem_env(&mem);
    uint8_t wire[256];
    size_t n, consumed;
    tp_reassembler r;
    collected *c = calloc(1, sizeof *c);

    /* L < 16 */
    tp_nonce nonce = {{0}};
    tp_reassembler_init(&r, &env, &key, &nonce, 0);
    const uint8_t short_chunk[] = {0x00, 0x0f};
    assert_int_equal(tp_reassembler_feed(&r, short_chunk, 2, &consumed), TP_ERR_INVALID_CIPHERTEXT_SIZE);
    /* sticky */
    assert_int_equal(tp_reassembler_feed(&r, short_chunk, 2, &consumed), TP_ERR_INVALID_CIPHERTEXT_SIZE);
    assert_int_equal(consumed, 0);
    tp_reassembler_deinit(&r);

    /* bad MAC, in both modes */
    for (int mode = 0; mode < 2; mode++) {
        tp_nonce send = {{0}};
        const uint8_t boot[] = {0, 0, 0, 2, 0, 2};
        assert_int_equal(tp_chunk_seal(&key, &send, boot, 6, wire, sizeof wire, &n), TP_OK);
        wire[5] ^= 1;
        tp_reassembler_init(&r, &env, &key, &nonce, 0);
        if (mode) assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES), TP_OK);
        assert_int_equal(feed_all(&r, wire, n, 5, c), TP_ERR_DECIPHER);
        tp_reassembler_deinit(&r);
    }

    /* empty frame (size 0) and a 1-byte frame: decoding errors */
    const uint8_t empties[2][5] = {{0, 0, 0, 0}, {0, 0, 0, 1, 0}};
    for (int i = 0; i < 2; i++) {
        tp_nonce send = {{0}};
        assert_int_equal(tp_chunk_seal(&key, &send, empties[i], 4 + (size_t)i, wire, sizeof wire, &n), TP_OK);
        tp_reassembler_init(&r, &env, &key, &nonce, 0);
        assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES), TP_OK);
        assert_int_equal(feed_all(&r, wire, n, 0, c), TP_ERR_DECODE_EMPTY);
        tp_reassembler_deinit(&r);
    }

    /* A hostile size prefix (1 GiB - 1, then 100 MiB) does not make it allocate: it is
     * refused at once above the maximum, and within the maximum memory follows the
     * bytes that actually arrived. */
    const uint32_t claims[] = {0x3fffffff, TP_MESSAGE_SIZE_MAX - 3, TP_MESSAGE_SIZE_MAX - 4};
    const tp_err expect[] = {TP_ERR_INVALID_MESSAGE_SIZE, TP_ERR_INVALID_MESSAGE_SIZE, TP_OK};
    for (int i = 0; i < 3; i++) {
        tp_nonce send = {{0}};
        uint8_t prefix[6];
        tp_be32_store(prefix, claims[i]);
        tp_be16_store(prefix + 4, 0x10);
        assert_int_equal(tp_chunk_seal(&key, &send, prefix, 6, wire, sizeof wire, &n), TP_OK);
        mem.peak = mem.live;
        tp_reassembler_init(&r, &env, &key, &nonce, 0);
        assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES), TP_OK);
        assert_int_equal(feed_all(&r, wire, n, 0, c), expect[i]);
        assert_true(mem.peak < 4096);
        tp_reassembler_deinit(&r);
    }
    /* a configured maximum below Octez's */
    {
        tp_nonce send = {{0}};
        uint8_t prefix[6];
        tp_be32_store(prefix, 1000);
        tp_be16_store(prefix + 4, 0x10);
        assert_int_equal(tp_chunk_seal(&key, &send, prefix, 6, wire, sizeof wire, &n), TP_OK);
        tp_reassembler_init(&r, &env, &key, &nonce, 1003);
        assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES), TP_OK);
        assert_int_equal(feed_all(&r, wire, n, 0, c), TP_ERR_INVALID_MESSAGE_SIZE);
        tp_reassembler_deinit(&r);
        send = (tp_nonce){{0}};
        assert_int_equal(tp_chunk_seal(&key, &send, prefix, 6, wire, sizeof wire, &n), TP_OK);
        tp_reassembler_init(&r, &env, &key, &nonce, 1004);
        assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES), TP_OK);
        assert_int_equal(feed_all(&r, wire, n, 0, c), TP_OK);
        tp_reassembler_deinit(&r);
    }
    /* a frame of exactly the maximum arrives whole; memory stays within one frame plus
     * one chunk (plus the chunk buffer), whatever the doubling */
    {
        const size_t max = 1u << 20;
        uint8_t *frame = calloc(1, max);
        uint8_t *big = malloc(tp_chunks_wire_size(max, TP_CHUNK_SIZE_MAX));
        tp_be32_store(frame, (uint32_t)(max - 4));
        tp_be16_store(frame + 4, 0x10);
        tp_nonce send = {{0}};
        size_t bn;
        assert_int_equal(tp_chunks_seal_message(&key, &send, frame, max, TP_CHUNK_SIZE_MAX, big,
                                                tp_chunks_wire_size(max, TP_CHUNK_SIZE_MAX), &bn),
                         TP_OK);
        mem.peak = mem.live;
        tp_reassembler_init(&r, &env, &key, &nonce, max);
        assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES), TP_OK);
        size_t off = 0, units = 0;
        while (off < bn) {
            assert_int_equal(tp_reassembler_feed(&r, big + off, bn - off, &consumed), TP_OK);
            off += consumed;
            const uint8_t *u;
            size_t ul;
            while (tp_reassembler_next(&r, &u, &ul)) {
                assert_int_equal(ul, max);
                assert_memory_equal(u, frame, max);
                units++;
            }
        }
        assert_int_equal(units, 1);
        assert_true(mem.peak <= max + 2 * TP_CHUNK_SIZE_MAX);
        tp_reassembler_deinit(&r);
        free(frame);
        free(big);
    }
    /* the env refusing memory is an error value, not a crash */
    {
        mem_ctx stingy = {0, 0, 100};
        tp_env env2 = mem_env(&stingy);
        tp_nonce send = {{0}};
        const uint8_t boot[] = {0, 0, 0, 2, 0, 2};
        assert_int_equal(tp_chunk_seal(&key, &send, boot, 6, wire, sizeof wire, &n), TP_OK);
        tp_reassembler_init(&r, &env2, &key, &nonce, 0);
        assert_int_equal(feed_all(&r, wire, n, 0, c), TP_ERR_NOMEM);
        tp_reassembler_deinit(&r);
        assert_int_equal(stingy.live, 0);
        env = mem_env(&mem);
    }
    free(c);
    assert_int_equal(mem.live, 0);
}

/* ---- the simulation-only fast stand-in (`tidepool sim --crypto fast`) ------------------ */

/* libsodium's small-order X25519 points (0, 1, the two of order 8, p - 1, p, p + 1). */
static const char *const small_order_hex[7] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

static void keypair_from(uint8_t tag, uint8_t pk[32], uint8_t sk[32]) {
    uint8_t seed[32];
    memset(seed, tag, sizeof seed);
    assert_int_equal(crypto_box_seed_keypair(pk, sk, seed), 0);
}

/* The fast key agreement keeps the real one's decisions: WEAK_KEY exactly for the keys
 * crypto_box_beforenm refuses (each small-order point, with and without the top bit),
 * and both sides derive the same key, marked sim_fast, unlike the real key. */
static void test_sim_fast_key_agreement(void **state) {
    (void)state;
    uint8_t pa[32], sa[32], pb[32], sb[32];
    keypair_from(1, pa, sa);
    keypair_from(2, pb, sb);
    for (size_t i = 0; i < 7; i++) {
        for (int top = 0; top < 2; top++) {
            uint8_t bad[32];
            assert_int_equal(sodium_hex2bin(bad, 32, small_order_hex[i], 64, NULL, NULL, NULL), 0);
            if (top) bad[31] |= 0x80;
            tp_channel_key real = {{0}, false}, fast = {{0}, false};
            assert_int_equal(tp_channel_key_precompute(&real, bad, sa), TP_ERR_WEAK_KEY);
            assert_int_equal(tp_channel_key_precompute_sim_fast(&fast, bad, pa), TP_ERR_WEAK_KEY);
        }
    }
    tp_channel_key ab, ba, real;
    assert_int_equal(tp_channel_key_precompute_sim_fast(&ab, pb, pa), TP_OK);
    assert_int_equal(tp_channel_key_precompute_sim_fast(&ba, pa, pb), TP_OK);
    assert_true(ab.sim_fast && ba.sim_fast);
    assert_memory_equal(ab.bytes, ba.bytes, 32);
    assert_int_equal(tp_channel_key_precompute(&real, pb, sa), TP_OK);
    assert_false(real.sim_fast);
    assert_memory_not_equal(ab.bytes, real.bytes, 32);
    uint8_t pc[32], sc[32];
    keypair_from(3, pc, sc);
    tp_channel_key ac;
    assert_int_equal(tp_channel_key_precompute_sim_fast(&ac, pc, pa), TP_OK);
    assert_memory_not_equal(ab.bytes, ac.bytes, 32);
    tp_channel_key_wipe(&ab);
    assert_false(ab.sim_fast); /* a wiped key is a real (zero) key */
}

/* Same framing, sizes and nonce sequence as the real cipher; every single flipped byte
 * of the MAC or body (and a wrong nonce or key) is TP_ERR_DECIPHER; a real key cannot
 * open a fast chunk. */
static void test_sim_fast_seal_open(void **state) {
    (void)state;
    uint8_t pa[32], sa[32], pb[32], sb[32];
    keypair_from(4, pa, sa);
    keypair_from(5, pb, sb);
    tp_channel_key fast, real;
    assert_int_equal(tp_channel_key_precompute_sim_fast(&fast, pb, pa), TP_OK);
    assert_int_equal(tp_channel_key_precompute(&real, pb, sa), TP_OK);
    static uint8_t plain[TP_CHUNK_PLAINTEXT_MAX], wire_f[TP_CHUNK_WIRE_MAX],
        wire_r[TP_CHUNK_WIRE_MAX], back[TP_CHUNK_PLAINTEXT_MAX];
    for (size_t i = 0; i < sizeof plain; i++) plain[i] = (uint8_t)(i * 7 + 3);
    const size_t lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 100, 4096, TP_CHUNK_PLAINTEXT_MAX};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        size_t len = lens[l], nf, nr, m;
        tp_nonce sf = {{0}}, sr = {{0}};
        sf.bytes[23] = 0xff; /* the increment carries */
        sr = sf;
        tp_nonce recv = sf;
        assert_int_equal(tp_chunk_seal(&fast, &sf, plain, len, wire_f, sizeof wire_f, &nf), TP_OK);
        assert_int_equal(tp_chunk_seal(&real, &sr, plain, len, wire_r, sizeof wire_r, &nr), TP_OK);
        assert_int_equal(nf, nr);
        assert_int_equal(nf, tp_chunk_wire_size(len));
        assert_memory_equal(wire_f, wire_r, 2); /* the same length header */
        assert_memory_equal(sf.bytes, sr.bytes, 24);
        tp_nonce saved = recv;
        assert_int_equal(tp_chunk_open(&real, &recv, wire_f, nf, back, sizeof back, &m),
                         TP_ERR_DECIPHER);
        assert_int_equal(tp_chunk_open(&fast, &sf, wire_f, nf, back, sizeof back, &m),
                         TP_ERR_DECIPHER); /* the next nonce */
        assert_int_equal(tp_chunk_open(&fast, &recv, wire_f, nf, back, sizeof back, &m), TP_OK);
        assert_int_equal(m, len);
        if (len) assert_memory_equal(back, plain, len);
        assert_memory_equal(recv.bytes, sf.bytes, 24);
        /* every byte after the header, flipped one bit at a time (a sample for big ones) */
        size_t stride = nf > 2000 ? 97 : 1;
        for (size_t i = 2; i < nf; i += stride) {
            tp_nonce r2 = saved;
            uint8_t old = wire_f[i];
            wire_f[i] ^= (uint8_t)(1u << (i % 8));
            assert_int_equal(tp_chunk_open(&fast, &r2, wire_f, nf, back, sizeof back, &m),
                             TP_ERR_DECIPHER);
            assert_memory_equal(r2.bytes, saved.bytes, 24); /* unchanged on failure */
            wire_f[i] = old;
        }
    }
}

/* The reassembler opens fast chunks (message frames spanning chunks) and rejects a
 * corrupted one with the same sticky error as the real cipher. */
static void test_sim_fast_reassembler(void **state) {
    (void)state;
    uint8_t pa[32], sa[32], pb[32], sb[32];
    keypair_from(6, pa, sa);
    keypair_from(7, pb, sb);
    tp_channel_key key;
    assert_int_equal(tp_channel_key_precompute_sim_fast(&key, pa, pb), TP_OK);
    mem_ctx mem = {0};
    tp_env env = mem_env(&mem);
    static uint8_t msg[70000], wire[80000];
    uint32_t size = sizeof msg - 4;
    msg[0] = (uint8_t)(size >> 24);
    msg[1] = (uint8_t)(size >> 16);
    msg[2] = (uint8_t)(size >> 8);
    msg[3] = (uint8_t)size;
    for (size_t i = 4; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 13);
    collected *c = calloc(1, sizeof *c);
    for (int corrupt = 0; corrupt < 2; corrupt++) {
        tp_nonce send = {{0}}, recv = {{0}};
        size_t n;
        assert_int_equal(tp_chunks_seal_message(&key, &send, msg, sizeof msg, 1000, wire,
                                                sizeof wire, &n),
                         TP_OK);
        assert_int_equal(n, tp_chunks_wire_size(sizeof msg, 1000));
        if (corrupt) wire[n / 2] ^= 0x40;
        tp_reassembler r;
        tp_reassembler_init(&r, &env, &key, &recv, 0);
        assert_int_equal(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES), TP_OK);
        memset(c, 0, sizeof *c);
        tp_err e = feed_all(&r, wire, n, 333, c);
        if (corrupt) {
            assert_int_equal(e, TP_ERR_DECIPHER);
        } else {
            assert_int_equal(e, TP_OK);
            assert_int_equal(c->units, 1);
            assert_int_equal(c->len, sizeof msg);
            assert_memory_equal(c->data, msg, sizeof msg);
        }
        tp_reassembler_deinit(&r);
    }
    free(c);
    assert_int_equal(mem.live, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_key_vectors),
        cmocka_unit_test(test_nonce_derivation_vectors),
        cmocka_unit_test(test_handshake_chunks_vectors),
        cmocka_unit_test(test_chunk_open_rejects),
        cmocka_unit_test(test_chunk_seal_limits),
        cmocka_unit_test(test_split_message_any_chunk_size),
        cmocka_unit_test(test_reassembler_handshake_vectors_any_split),
        cmocka_unit_test(test_reassembler_spanning_and_packed_messages),
        cmocka_unit_test(test_reassembler_rejects_and_bounds_memory),
        cmocka_unit_test(test_sim_fast_key_agreement),
        cmocka_unit_test(test_sim_fast_seal_open),
        cmocka_unit_test(test_sim_fast_reassembler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
