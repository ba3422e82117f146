/* tests/fuzz/fuzz_reassembler.c — the streaming chunk reassembler.
 *
 * Input layout: byte 0 = feed step (bytes per feed call, 1..256), byte 1 = flags
 * (bit 0: messages mode; bit 1: the rest is raw wire bytes, not sealed records; bit 2:
 * flip one bit of the sealed stream at a position given by byte 2), then records of
 * (u16 length mod 2048, bytes) that the harness seals as chunks with the right key and
 * nonce, so the fuzzer reaches the framing logic behind the MAC. Properties: every unit
 * in messages mode is a frame whose size prefix matches its length and is >= 2; units
 * never carry more bytes than were sealed; after an error every call returns it; memory
 * stays bounded by the bytes fed plus one chunk; nothing leaks (ASan). */
#include "fuzz.h"

#include "core/crypto.h"
#include "core/encoding.h"

typedef struct mem {
    size_t live;
} mem;

static void *mem_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size) {
    mem *m = ctx;
    if (new_size == 0) {
        free(ptr);
        m->live -= old_size;
        return NULL;
    }
    void *p = realloc(ptr, new_size);
    if (p != NULL) m->live = m->live - old_size + new_size;
    return p;
}

static const tp_env_ops ops = {.realloc = mem_realloc};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    size_t step = (size_t)data[0] + 1;
    uint8_t flags = data[1];
    size_t flip_at = data[2];
    data += 3;
    size -= 3;
    tp_channel_key key = {{0}, false};
    memset(key.bytes, 0x42, sizeof key.bytes);
    tp_nonce nonce;
    memset(nonce.bytes, 0xfe, sizeof nonce.bytes); /* close to the wrap-around */

    /* the wire stream */
    size_t cap = size * 2 + 64 * 18 + 64;
    uint8_t *wire = malloc(cap);
    size_t wire_len = 0, sealed_plain = 0;
    if (flags & 2) {
        memcpy(wire, data, size);
        wire_len = size;
    } else {
        tp_nonce send = nonce;
        size_t k = 0;
        while (k + 2 <= size) {
            size_t len = tp_be16_load(data + k) % 2048;
            k += 2;
            if (len > size - k) len = size - k;
            size_t n;
            if (tp_chunk_seal(&key, &send, data + k, len, wire + wire_len, cap - wire_len, &n) != TP_OK)
                break;
            wire_len += n;
            sealed_plain += len;
            k += len;
        }
        if ((flags & 4) && wire_len > 0) wire[flip_at % wire_len] ^= 0x01;
    }

    mem m = {0};
    tp_env env = {&m, &ops};
    tp_reassembler r;
    tp_reassembler_init(&r, &env, &key, &nonce, 1u << 20);
    bool messages = flags & 1;
    if (messages) FUZZ_CHECK(tp_reassembler_set_mode(&r, TP_REASSEMBLE_MESSAGES) == TP_OK);
    size_t off = 0, out_total = 0;
    tp_err err = TP_OK;
    while (off < wire_len && err == TP_OK) {
        size_t piece = wire_len - off < step ? wire_len - off : step;
        size_t consumed;
        err = tp_reassembler_feed(&r, wire + off, piece, &consumed);
        FUZZ_CHECK(consumed <= piece);
        off += consumed;
        const uint8_t *u;
        size_t ul;
        while (tp_reassembler_next(&r, &u, &ul)) {
            if (messages) {
                FUZZ_CHECK(ul >= 6 && tp_be32_load(u) + 4 == ul);
            }
            out_total += ul;
        }
        /* memory follows the bytes that arrived, plus buffer doubling and one chunk */
        FUZZ_CHECK(m.live <= 2 * (off + 65536) + 4096);
        /* every unit was taken above, so a successful feed always makes progress */
        FUZZ_CHECK(err != TP_OK || consumed > 0);
    }
    if (err != TP_OK) {
        size_t consumed;
        FUZZ_CHECK(tp_reassembler_feed(&r, wire, wire_len, &consumed) == err && consumed == 0);
    }
    if (!(flags & 6)) {
        FUZZ_CHECK(out_total <= sealed_plain);
        if (!messages) FUZZ_CHECK(err == TP_OK && out_total == sealed_plain);
    }
    tp_reassembler_deinit(&r);
    FUZZ_CHECK(m.live == 0);
    free(wire);
    return 0;
}
