/* tests/test_peers_json.c — core/peers_json: RFC 3339 (pure), peers.json encoding and
 * strict decoding (spec §5.8) with precise errors, loading into the pool (§5.7: the
 * last_seen point is registered), and the file worker on a mock env with an in-memory
 * disk: clean restart, crash after a periodic save, corrupt and truncated files kept
 * aside (never overwritten), write and rename failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "core/peers_json.h"
#include "tests/mock_env.h"
#include "tests/sim_harness.h"

#define S_NS ((int64_t)1000000000)
#define MS_NS ((int64_t)1000000)

/* ---- an in-memory disk ---------------------------------------------------------------- */

#define FILES_MAX 16
typedef struct mfile {
    char name[128];
    uint8_t *data;
    size_t len;
    bool used;
} mfile;

static struct {
    mfile files[FILES_MAX];
    bool fail_write, fail_rename;
    uint32_t writes;
} disk;

static mfile *disk_find(const char *name) {
    for (int i = 0; i < FILES_MAX; i++)
        if (disk.files[i].used && strcmp(disk.files[i].name, name) == 0) return &disk.files[i];
    return NULL;
}

static void disk_put(const char *name, const void *data, size_t len) {
    mfile *f = disk_find(name);
    for (int i = 0; f == NULL && i < FILES_MAX; i++)
        if (!disk.files[i].used) f = &disk.files[i];
    assert_non_null(f);
    free(f->data);
    f->used = true;
    snprintf(f->name, sizeof f->name, "%s", name);
    f->data = malloc(len + 1);
    memcpy(f->data, data, len);
    f->len = len;
}

static void disk_reset(void) {
    for (int i = 0; i < FILES_MAX; i++) free(disk.files[i].data);
    memset(&disk, 0, sizeof disk);
}

static tp_err fs_read(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len) {
    mfile *f = disk_find(name);
    if (f == NULL) return TP_ERR_NOT_FOUND;
    if (f->len > cap) {
        *len = f->len;
        return TP_ERR_TOO_BIG;
    }
    if (f->len) memcpy(buf, f->data, f->len);
    *len = f->len;
    return TP_OK;
}

static tp_err fs_write(void *ctx, const char *name, const uint8_t *data, size_t len) {
    if (disk.fail_write) return TP_ERR_IO;
    disk.writes++;
    disk_put(name, data, len);
    return TP_OK;
}

static tp_err fs_rename(void *ctx, const char *from, const char *to) {
    if (disk.fail_rename) return TP_ERR_IO;
    mfile *f = disk_find(from);
    if (f == NULL) return TP_ERR_NOT_FOUND;
    mfile *t = disk_find(to);
    if (t != NULL) {
        free(t->data);
        t->used = false;
        t->data = NULL;
    }
    snprintf(f->name, sizeof f->name, "%s", to);
    return TP_OK;
}

static tp_env_ops fs_ops;

static void env_init(mock_env *m, uint64_t seed) {
    printf("seed %llu\n", (unsigned long long)seed);
    mock_env_init(m, seed);
    fs_ops = mock_env_ops;
    fs_ops.file_read = fs_read;
    fs_ops.file_write = fs_write;
    fs_ops.file_rename = fs_rename;
    m->env.ops = &fs_ops;
}

static tp_point pt(uint32_t n, uint16_t port) {
    return tp_point_v4(0x0a000000 | n, port);
}
static tp_peer_id pid(uint32_t n) {
    tp_peer_id id;
    memset(&id, 0x33, sizeof id);
    memcpy(id.bytes, &n, sizeof n);
    return id;
}

static void pool_init(tp_pool *pool, mock_env *m) {
    tp_pool_config pc;
    tp_pool_config_default(&pc);
    tp_pool_init(pool, &m->env, &pc, NULL);
}

/* ---- RFC 3339 ------------------------------------------------------------------------------- */

static void check_fmt(int64_t ns, const char *want) {
    char buf[TP_RFC3339_MAX];
    assert_string_equal(tp_rfc3339_format(ns, buf), want);
    int64_t back;
    assert_int_equal(tp_rfc3339_parse(want, strlen(want), &back), TP_OK);
    assert_int_equal(back, ns);
}

static void check_parse(const char *text, int64_t want_s, int64_t want_frac) {
    int64_t got;
    assert_int_equal(tp_rfc3339_parse(text, strlen(text), &got), TP_OK);
    assert_int_equal(got, want_s * S_NS + want_frac);
}

static void check_bad(const char *text) {
    int64_t got = 12345;
    assert_int_equal(tp_rfc3339_parse(text, strlen(text), &got), TP_ERR_DECODE_BAD_VALUE);
    assert_int_equal(got, 12345); /* out-param untouched */
}

static void test_rfc3339(void **state) {
    (void)state;
    check_fmt(0, "1970-01-01T00:00:00Z");
    check_fmt(1767225600 * S_NS, "2026-01-01T00:00:00Z");
    check_fmt(1767225600 * S_NS + 250 * MS_NS, "2026-01-01T00:00:00.25Z");
    check_fmt(951782400 * S_NS + 1, "2000-02-29T00:00:00.000000001Z");
    check_fmt(-1, "1969-12-31T23:59:59.999999999Z");
    check_fmt(4107542399LL * S_NS, "2100-02-28T23:59:59Z");
    check_parse("2026-01-01T01:00:00+01:00", 1767225600, 0);
    check_parse("2025-12-31T23:00:00-01:00", 1767225600, 0);
    check_parse("2026-01-01t00:00:00z", 1767225600, 0);
    check_parse("2026-01-01T00:00:00-00:00", 1767225600, 0);
    check_parse("2026-01-01T00:00:00.5Z", 1767225600, 500 * MS_NS);
    check_parse("2016-12-31T23:59:60Z", 1483228799, 0); /* leap second read as :59 */
    const char *bad[] = {"",
                         "2026-02-29T00:00:00Z", /* 2026 is not a leap year */
                         "1900-02-29T00:00:00Z", /* nor is 1900 */
                         "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
                         "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
                         "2026-01-01T00:00:61Z", "2026-01-01T00:00:00", "2026-01-01 00:00:00Z",
                         "2026-1-01T00:00:00Z", "2026-01-01T00:00:00.Z",
                         "2026-01-01T00:00:00.1234567891Z", "2026-01-01T00:00:00+01:60",
                         "2026-01-01T00:00:00+1:00", "2026-01-01T00:00:00Zx",
                         "1500-01-01T00:00:00Z", /* before int64 nanoseconds */
                         "2300-01-01T00:00:00Z", "+026-01-01T00:00:00Z", "2026-01-01T00:00:00 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) check_bad(bad[i]);
    /* round trips over the whole int64 range of the format (1678..2261) */
    mock_env m;
    mock_env_init(&m, 77);
    printf("seed 77\n");
    for (int i = 0; i < 2000; i++) {
        int64_t x = (int64_t)tp_env_random_below(&m.env, (uint64_t)1 << 62) * 2 - ((int64_t)1 << 62);
        if (i % 2) x -= x % S_NS; /* whole seconds too */
        char buf[TP_RFC3339_MAX];
        tp_rfc3339_format(x, buf);
        int64_t back;
        assert_int_equal(tp_rfc3339_parse(buf, strlen(buf), &back), TP_OK);
        assert_int_equal(back, x);
    }
}

/* ---- encode / load --------------------------------------------------------------------------- */

/* A pool with history: peer 1 trusted, connected then disconnected (events, last_*),
 * peer 2 rejected, peer 3 never connected. */
static void fill(tp_pool *pool, mock_env *m) {
    tp_peer_info *p1, *p2, *p3;
    tp_peer_id id1 = pid(1), id2 = pid(2), id3 = pid(3);
    assert_int_equal(tp_pool_register_peer(pool, &id1, &p1), TP_OK);
    mock_env_advance(m, 1234 * MS_NS);
    assert_int_equal(tp_pool_register_peer(pool, &id2, &p2), TP_OK);
    assert_int_equal(tp_pool_register_peer(pool, &id3, &p3), TP_OK);
    p1->trusted = true;
    tp_point a = pt(1, 9732);
    tp_peer_log_incoming(pool, p1, &a);
    tp_peer_set_accepted(pool, p1, &a);
    tp_peer_set_running(pool, p1, &a, NULL);
    mock_env_advance(m, 5 * S_NS + 7);
    tp_peer_set_disconnected(pool, p1, false);
    tp_point b = tp_point_v4(0x0a000002, 0); /* incoming, no port announced */
    tp_peer_set_accepted(pool, p2, &b);
    tp_peer_set_disconnected(pool, p2, true);
    mock_env_advance(m, S_NS);
}

static char *encode(tp_pool *pool, size_t *len) {
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    assert_int_equal(tp_peers_json_encode(pool, buf, cap, len), TP_OK);
    return buf;
}

static void test_roundtrip(void **state) {
    (void)state;
    mock_env m;
    env_init(&m, 1);
    tp_pool a;
    pool_init(&a, &m);
    fill(&a, &m);
    size_t len;
    char *text = encode(&a, &len);
    printf("%s\n", text);
    assert_non_null(strstr(text, "\"trusted\":true"));
    assert_non_null(strstr(text, "\"addr\":\"::ffff:10.0.0.1\",\"port\":9732"));
    assert_non_null(strstr(text, "\"kind\":\"connection_established\""));
    assert_non_null(strstr(text, "\"peer_metadata\":{}"));
    /* too small a buffer is an error, not a truncated file */
    char small[64];
    size_t l2;
    assert_int_equal(tp_peers_json_encode(&a, small, sizeof small, &l2), TP_ERR_TOO_BIG);

    tp_pool b;
    pool_init(&b, &m);
    size_t loaded = 0;
    char err[TP_PEERS_JSON_ERROR_SIZE] = "";
    assert_int_equal(tp_peers_json_load(&b, "peers.json", text, len, &loaded, err, sizeof err), TP_OK);
    assert_int_equal(loaded, 3);
    assert_int_equal(tp_pool_peers_count(&b), 3);
    uint32_t ia = 0, ib = 0;
    tp_peer_info *pa, *pb;
    while ((pa = tp_pool_next_peer(&a, &ia)) != NULL) {
        pb = tp_pool_next_peer(&b, &ib);
        assert_non_null(pb);
        assert_memory_equal(pa->peer_id.bytes, pb->peer_id.bytes, 16);
        assert_int_equal(pa->trusted, pb->trusted);
        assert_int_equal(pa->created_wall_ns, pb->created_wall_ns);
        assert_int_equal(pb->state, TP_PEER_DISCONNECTED);
        assert_int_equal(pa->last_disconnection.time_ns, pb->last_disconnection.time_ns);
        assert_true(tp_point_eq(&pa->last_disconnection.point, &pb->last_disconnection.point));
        assert_int_equal(pa->last_rejected_connection.time_ns, pb->last_rejected_connection.time_ns);
        assert_int_equal(pa->last_established_connection.time_ns,
                         pb->last_established_connection.time_ns);
        /* the peer events of Octez's list (accepting_request is a point event) */
        uint16_t j = 0;
        for (uint16_t i = 0; i < pa->events.count; i++) {
            const tp_pool_event *ea = tp_pool_event_ring_at(&pa->events, i);
            if (ea->kind == TP_POOL_EVENT_ACCEPTING_REQUEST || ea->kind == TP_POOL_EVENT_OUTGOING_REQUEST)
                continue;
            assert_true(j < pb->events.count);
            const tp_pool_event *eb = tp_pool_event_ring_at(&pb->events, j++);
            assert_int_equal(ea->kind, eb->kind);
            assert_int_equal(ea->time_ns, eb->time_ns);
            assert_true(tp_point_eq(&ea->point, &eb->point));
        }
        assert_int_equal(j, pb->events.count);
    }
    assert_int_equal(tp_pool_points_count(&a), 0);
    /* spec §5.7: peer 1's last_seen (its disconnection) has a port: registered; peer 2's
     * (a rejection from a port-less point) has none */
    assert_int_equal(tp_pool_points_count(&b), 1);
    tp_point a1 = pt(1, 9732);
    assert_non_null(tp_pool_point(&b, &a1));
    /* and the output of the loaded pool is byte for byte the same */
    size_t len2;
    char *text2 = encode(&b, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(text, text2, len);
    free(text);
    free(text2);
    tp_pool_deinit(&a);
    tp_pool_deinit(&b);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
}

/* What Octez (or a hand) may write: integer created, offsets, arbitrary metadata, no
 * optional fields, addresses in every text form. */
static void test_accepted_variants(void **state) {
    (void)state;
    mock_env m;
    env_init(&m, 2);
    tp_pool p;
    pool_init(&p, &m);
    char id1[TP_PEER_ID_TEXT_SIZE], id2[TP_PEER_ID_TEXT_SIZE], id3[TP_PEER_ID_TEXT_SIZE];
    tp_peer_id i1 = pid(11), i2 = pid(12), i3 = pid(13);
    tp_peer_id_to_b58(&i1, id1);
    tp_peer_id_to_b58(&i2, id2);
    tp_peer_id_to_b58(&i3, id3);
    char text[2048];
    snprintf(text, sizeof text,
             "[ {\"peer_id\": \"%s\", \"created\": 1700000000},\n"
             "  {\"peer_id\": \"%s\", \"created\": \"2023-11-14T23:13:20+01:00\", \"trusted\": false,\n"
             "   \"peer_metadata\": {\"responses\": {\"sent\": [1, 2]}, \"score\": 1.0},\n"
             "   \"events\": [{\"kind\": \"external_disconnection\", \"timestamp\": 1700000001,"
             " \"addr\": \"1.2.3.4\"}],\n"
             "   \"last_disconnection\": [{\"addr\": \"2001:db8::1\", \"port\": 9732}, \"2023-11-14T22:13:21.5Z\"]},\n"
             "  {\"peer_id\": \"%s\", \"created\": \"2023-11-14T22:13:20Z\", \"trusted\": true, \"events\": [],\n"
             "   \"last_established_connection\": [{\"addr\": \"::ffff:10.0.0.9\"}, 1700000000]} ]",
             id1, id2, id3);
    size_t loaded;
    char err[TP_PEERS_JSON_ERROR_SIZE] = "";
    tp_err e = tp_peers_json_load(&p, "peers.json", text, strlen(text), &loaded, err, sizeof err);
    if (e != TP_OK) printf("%s\n", err);
    assert_int_equal(e, TP_OK);
    assert_int_equal(loaded, 3);
    tp_peer_info *a = tp_pool_peer(&p, &i1), *b = tp_pool_peer(&p, &i2), *c = tp_pool_peer(&p, &i3);
    assert_int_equal(a->created_wall_ns, 1700000000 * S_NS);
    assert_int_equal(b->created_wall_ns, 1700000000 * S_NS); /* 23:13:20+01:00 */
    assert_true(c->trusted);
    assert_int_equal(b->events.count, 1);
    assert_int_equal(tp_pool_wall_of(&p, b->last_disconnection.time_ns), 1700000001 * S_NS + 500 * MS_NS);
    /* b's last_seen point (IPv6, with port) registered; c's has no port */
    assert_int_equal(tp_pool_points_count(&p), 1);
    assert_int_equal(tp_pool_next_point(&p, &(uint32_t){0})->point.port, 9732);
    tp_pool_deinit(&p);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
}

typedef struct bad_case {
    const char *text; /* %s = a valid peer id */
    const char *needle;
} bad_case;

/* Every malformed input fails with a message naming the problem (and the entry and
 * field when there is one), and leaves the pool untouched even if earlier entries
 * were valid. */
static void test_decode_errors(void **state) {
    (void)state;
    mock_env m;
    env_init(&m, 3);
    tp_peer_id i1 = pid(21);
    char id[TP_PEER_ID_TEXT_SIZE];
    tp_peer_id_to_b58(&i1, id);
    const bad_case cases[] = {
        {"", "empty"},
        {"[", "peers.json:1:"},
        {"{}", "expected an array of peers"},
        {"[1]", "entry 1, expected an object"},
        {"[OK, {\"created\": 1}]", "entry 2, field \"peer_id\": missing"},
        {"[OK, {\"peer_id\": \"idXXX\", \"created\": 1}]", "entry 2, field \"peer_id\""},
        {"[OK, {\"peer_id\": \"%s\"}]", "field \"created\": missing"},
        {"[OK, {\"peer_id\": \"%s\", \"created\": \"yesterday\"}]", "field \"created\": expected an RFC 3339"},
        {"[OK, {\"peer_id\": \"%s\", \"created\": true}]", "got boolean"},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1.5}]", "whole seconds"},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"color\": 1}]", "unknown field \"color\""},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"trusted\": \"yes\"}]", "field \"trusted\""},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"events\": {}}]", "field \"events\": expected an array"},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"events\": [{\"kind\": \"outgoing_request\", "
         "\"timestamp\": 1, \"addr\": \"1.2.3.4\"}]}]", "\"kind\" must be one of"},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"events\": [{\"kind\": \"disconnection\", "
         "\"timestamp\": 1}]}]", "needs \"kind\", \"timestamp\" and \"addr\""},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"events\": [{\"kind\": \"disconnection\", "
         "\"timestamp\": 1, \"addr\": \"1.2.3.4\", \"port\": 70000}]}]", "1..65535"},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"last_disconnection\": [{\"addr\": "
         "\"1.2.3.4\"}, 1, 2]}]", "field \"last_disconnection\": expected ["},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"last_disconnection\": [{\"addr\": "
         "\"host.example\"}, 1]}]", "must be an IP address"},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"last_disconnection\": [{\"port\": 1}, 1]}]",
         "missing \"addr\""},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"last_failed_connection\": [{\"addr\": "
         "\"1.2.3.4\", \"port\": 0}, 1]}]", "1..65535"},
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1},]", "peers.json:1:"},  /* trailing comma */
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1, \"created\": 2}]", "peers.json:1:"}, /* dup */
        {"[OK, {\"peer_id\": \"%s\", \"created\": 1}", "peers.json:1:"}, /* truncated */
    };
    tp_peer_id i2 = pid(22);
    char id2[TP_PEER_ID_TEXT_SIZE];
    tp_peer_id_to_b58(&i2, id2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* OK becomes a valid entry (peer 21), %s the id of peer 22 */
        char text[2048];
        size_t o = 0;
        const char *src = cases[i].text;
        for (size_t k = 0; src[k] != '\0';) {
            if (strncmp(src + k, "OK", 2) == 0) {
                o += (size_t)snprintf(text + o, sizeof text - o, "{\"peer_id\": \"%s\", \"created\": 1}", id);
                k += 2;
            } else if (strncmp(src + k, "%s", 2) == 0) {
                o += (size_t)snprintf(text + o, sizeof text - o, "%s", id2);
                k += 2;
            } else {
                text[o++] = src[k++];
            }
        }
        text[o] = '\0';
        tp_pool p;
        pool_init(&p, &m);
        char err[TP_PEERS_JSON_ERROR_SIZE] = "";
        size_t loaded = 99;
        tp_err e = tp_peers_json_load(&p, "peers.json", text, strlen(text), &loaded, err, sizeof err);
        printf("case %zu: %s\n  -> %s\n", i, text, err);
        assert_int_equal(e, TP_ERR_DECODE_BAD_JSON);
        assert_non_null(strstr(err, cases[i].needle));
        assert_int_equal(loaded, 99);
        assert_int_equal(tp_pool_peers_count(&p), 0); /* all or nothing */
        tp_pool_deinit(&p);
    }
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
}

/* ---- the file worker ------------------------------------------------------------------------- */

static void file_worker(tp_peers_file *pf, tp_pool *pool, mock_env *m, int64_t interval_ns) {
    tp_peers_file_config cfg;
    tp_peers_file_config_default(&cfg);
    cfg.save_interval_ns = interval_ns;
    tp_peers_file_init(pf, &m->env, pool, &cfg);
}

/* A clean restart keeps the peers; a crash keeps what the last periodic save had. */
static void test_restart_and_crash(void **state) {
    (void)state;
    disk_reset();
    mock_env m;
    env_init(&m, 4);
    tp_pool pool;
    pool_init(&pool, &m);
    tp_peers_file pf;
    file_worker(&pf, &pool, &m, 60 * S_NS);
    size_t loaded = 7;
    assert_int_equal(tp_peers_file_load(&pf, &loaded), TP_OK); /* no file yet */
    assert_int_equal(loaded, 0);
    tp_peers_file_start(&pf);
    fill(&pool, &m);
    assert_int_equal(disk.writes, 0);
    mock_env_advance(&m, 60 * S_NS);
    assert_int_equal(disk.writes, 1); /* periodic save */
    mock_env_advance(&m, 120 * S_NS);
    assert_int_equal(disk.writes, 3);
    /* a peer learned after the last periodic save, then a crash: no shutdown save */
    tp_peer_info *late;
    tp_peer_id lid = pid(99);
    assert_int_equal(tp_pool_register_peer(&pool, &lid, &late), TP_OK);
    tp_peers_file_deinit(&pf);
    tp_pool_deinit(&pool);

    tp_pool p2;
    pool_init(&p2, &m);
    tp_peers_file pf2;
    file_worker(&pf2, &p2, &m, 60 * S_NS);
    assert_int_equal(tp_peers_file_load(&pf2, &loaded), TP_OK);
    assert_int_equal(loaded, 3); /* what the periodic save had */
    assert_null(tp_pool_peer(&p2, &lid));
    /* clean shutdown: the node saves */
    assert_int_equal(tp_pool_register_peer(&p2, &lid, &late), TP_OK);
    assert_int_equal(tp_peers_file_save(&pf2), TP_OK);
    tp_peers_file_deinit(&pf2);
    tp_pool_deinit(&p2);

    tp_pool p3;
    pool_init(&p3, &m);
    tp_peers_file pf3;
    file_worker(&pf3, &p3, &m, 0); /* Octez's behaviour: no periodic save */
    assert_int_equal(tp_peers_file_load(&pf3, &loaded), TP_OK);
    assert_int_equal(loaded, 4);
    assert_non_null(tp_pool_peer(&p3, &lid));
    tp_peers_file_start(&pf3);
    uint32_t w = disk.writes;
    mock_env_advance(&m, 600 * S_NS);
    assert_int_equal(disk.writes, w);
    tp_peers_file_deinit(&pf3);
    tp_pool_deinit(&p3);
    assert_int_equal(m.timers_count, 0);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
    disk_reset();
}

/* A truncated or corrupt file: a clear error event, the file kept aside under a new
 * name (never overwritten, even by a second corruption in the same second), the node
 * starts empty, and saving works again. If it cannot be moved, saving is disabled. */
static void test_corrupt_file(void **state) {
    (void)state;
    disk_reset();
    mock_env m;
    env_init(&m, 5);
    const char *truncated = "[{\"peer_id\": \"idtPbDY6Zd4g6q1xbcW8wYkc4vpNsS\", \"crea";
    disk_put("peers.json", truncated, strlen(truncated));
    tp_pool pool;
    pool_init(&pool, &m);
    tp_peers_file pf;
    file_worker(&pf, &pool, &m, 60 * S_NS);
    size_t loaded = 5;
    assert_int_equal(tp_peers_file_load(&pf, &loaded), TP_ERR_CORRUPT);
    assert_int_equal(loaded, 0);
    assert_int_equal(tp_pool_peers_count(&pool), 0);
    assert_int_equal(m.event_counts[TP_EVENT_STORAGE_ERROR], 1);
    printf("%s\n", pf.error);
    char aside[64];
    snprintf(aside, sizeof aside, "peers.json.corrupt-%lld", (long long)(mock_wall(&m) / S_NS));
    assert_non_null(strstr(pf.error, "peers.json:1:"));
    assert_non_null(strstr(pf.error, aside));
    assert_null(disk_find("peers.json"));
    mfile *kept = disk_find(aside);
    assert_non_null(kept);
    assert_int_equal(kept->len, strlen(truncated));
    assert_memory_equal(kept->data, truncated, kept->len);
    /* the node runs and saves */
    fill(&pool, &m);
    assert_int_equal(tp_peers_file_save(&pf), TP_OK);
    assert_non_null(disk_find("peers.json"));
    tp_peers_file_deinit(&pf);
    tp_pool_deinit(&pool);

    /* a second corruption when that name is taken (same wall second) gets another */
    snprintf(aside, sizeof aside, "peers.json.corrupt-%lld", (long long)(mock_wall(&m) / S_NS));
    disk_put(aside, truncated, strlen(truncated));
    disk_put("peers.json", "garbage", 7);
    tp_pool p2;
    pool_init(&p2, &m);
    file_worker(&pf, &p2, &m, 60 * S_NS);
    assert_int_equal(tp_peers_file_load(&pf, &loaded), TP_ERR_CORRUPT);
    char aside2[80];
    snprintf(aside2, sizeof aside2, "%s-1", aside);
    assert_non_null(disk_find(aside2));
    assert_int_equal(disk_find(aside)->len, strlen(truncated)); /* the first one intact */
    tp_peers_file_deinit(&pf);

    /* an empty file is corrupt too */
    disk_put("peers.json", "", 0);
    mock_env_advance(&m, 2 * S_NS);
    file_worker(&pf, &p2, &m, 60 * S_NS);
    assert_int_equal(tp_peers_file_load(&pf, &loaded), TP_ERR_CORRUPT);
    assert_non_null(strstr(pf.error, "empty"));
    tp_peers_file_deinit(&pf);

    /* the rename fails: the file stays, and is never overwritten */
    disk_put("peers.json", "[1]", 3);
    disk.fail_rename = true;
    file_worker(&pf, &p2, &m, 60 * S_NS);
    assert_int_equal(tp_peers_file_load(&pf, &loaded), TP_ERR_CORRUPT);
    assert_non_null(strstr(pf.error, "will not be overwritten"));
    tp_peers_file_start(&pf);
    mock_env_advance(&m, 61 * S_NS);
    assert_int_equal(tp_peers_file_save(&pf), TP_ERR_STATE);
    assert_int_equal(disk_find("peers.json")->len, 3);
    assert_memory_equal(disk_find("peers.json")->data, "[1]", 3);
    tp_peers_file_deinit(&pf);
    disk.fail_rename = false;

    /* a write failure is reported */
    disk.fail_write = true;
    file_worker(&pf, &p2, &m, 60 * S_NS);
    uint32_t before = m.event_counts[TP_EVENT_STORAGE_ERROR];
    assert_int_equal(tp_peers_file_save(&pf), TP_ERR_IO);
    assert_int_equal(m.event_counts[TP_EVENT_STORAGE_ERROR], before + 1);
    assert_non_null(strstr(pf.error, "not saved"));
    tp_peers_file_deinit(&pf);
    disk.fail_write = false;
    tp_pool_deinit(&p2);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
    disk_reset();
}

/* ---- on nodes (simnet, the host's disk) ------------------------------------------------- */

/* The node's own peers file (core/node.h: loaded at activation, saved periodically and
 * after the shutdown), saved every 10 s here. */
static void pj_cfg(hs_node *hn, uint32_t i) {
    (void)i;
    hn->cfg.peers_file = "peers.json";
    hn->cfg.peers_save_interval_ns = 10 * HS_S;
}

/* peers.json on a node: a crash after a periodic save and a clean restart both keep the
 * peers (and register their last_seen points); a corrupt file on the host's disk is kept
 * aside (never overwritten, not even by the shutdown save) and the node still starts. */
static void test_nodes_restart(void **state) {
    (void)state;
    hs *h = hs_create(99, 6, pj_cfg);
    hs_start_all(h);
    for (uint32_t i = 1; i < 6; i++) assert_int_equal(hs_connect(h, 0, i), TP_OK);
    hs_run_for(h, 5 * HS_S);
    assert_int_equal(tp_node_active_connections(h->nodes[0].node), 5);
    size_t loaded = 99;
    assert_int_equal(tp_node_peers_loaded(h->nodes[0].node, &loaded), TP_OK);
    assert_int_equal(loaded, 0);
    hs_run_for(h, 10 * HS_S); /* a periodic save happened at 10 s */
    sim_host *h0 = sim_world_host(h->w, 0);
    sim_host_crash(h0);
    hs_run_for(h, 1 * HS_S);
    sim_host_start(h0);
    assert_int_equal(tp_node_peers_loaded(h->nodes[0].node, &loaded), TP_OK);
    assert_int_equal(loaded, 5);
    tp_pool *pool = tp_node_pool(h->nodes[0].node);
    assert_int_equal(tp_pool_peers_count(pool), 5);
    for (uint32_t i = 1; i < 6; i++) {
        tp_point p = hs_point(h, i);
        assert_non_null(tp_pool_point(pool, &p)); /* last_seen points registered */
        assert_non_null(tp_pool_peer(pool, tp_node_peer_id(h->nodes[i].node)));
    }
    /* clean stop (the shutdown saves) and restart */
    tp_node *n0 = h->nodes[0].node;
    sim_host_stop(h0, 2 * HS_S);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(tp_node_peers_saved(n0), TP_OK);
    hs_run_for(h, 2 * HS_S);
    sim_host_start(h0);
    assert_int_equal(tp_node_peers_loaded(h->nodes[0].node, &loaded), TP_OK);
    assert_int_equal(loaded, 5);
    /* corrupt the file behind the node's back (the node's own env writes it) */
    const tp_env *env0 = sim_host_env(h0);
    assert_int_equal(tp_env_file_write(env0, "peers.json", (const uint8_t *)"[{", 2), TP_OK);
    sim_host_crash(h0);
    hs_run_for(h, 1 * HS_S);
    sim_host_start(h0);
    tp_node *n = h->nodes[0].node;
    assert_int_equal(tp_node_peers_loaded(n, &loaded), TP_ERR_CORRUPT);
    assert_int_equal(tp_pool_peers_count(tp_node_pool(n)), 0);
    assert_true(h->events[0][TP_EVENT_STORAGE_ERROR] >= 1);
    printf("%s\n", tp_node_peers_file(n)->error);
    assert_non_null(strstr(tp_node_peers_file(n)->error, "peers.json"));
    char aside[64];
    size_t need;
    snprintf(aside, sizeof aside, "peers.json.corrupt-%lld",
             (long long)(tp_env_wall_ns(env0) / 1000000000));
    assert_int_equal(tp_env_file_read(env0, aside, NULL, 0, &need), TP_ERR_TOO_BIG);
    assert_int_equal(need, 2);
    /* the node still starts and works: it dials and connects (once node 1 noticed the
     * crash: TCP user timeout, 45 s) */
    hs_run_for(h, 50 * HS_S);
    assert_int_equal(hs_connect(h, 0, 1), TP_OK);
    hs_run_for(h, 15 * HS_S);
    assert_int_equal(tp_node_active_connections(n), 1);
    /* a truncated file (valid prefix of a real save) is refused as well */
    size_t len = 0;
    assert_int_equal(tp_env_file_read(env0, "peers.json", NULL, 0, &len), TP_ERR_TOO_BIG);
    uint8_t *text = malloc(len);
    assert_non_null(text);
    assert_int_equal(tp_env_file_read(env0, "peers.json", text, len, &need), TP_OK);
    assert_int_equal(tp_env_file_write(env0, "peers.json", text, len / 2), TP_OK);
    free(text);
    sim_host_crash(h0);
    hs_run_for(h, 2 * HS_S); /* a different second: a second file aside */
    sim_host_start(h0);
    n = h->nodes[0].node;
    assert_int_equal(tp_node_peers_loaded(n, &loaded), TP_ERR_CORRUPT);
    printf("%s\n", tp_node_peers_file(n)->error);
    hs_destroy(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_accepted_variants),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_restart_and_crash),
        cmocka_unit_test(test_corrupt_file),
        cmocka_unit_test(test_nodes_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
