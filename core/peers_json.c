/* core/peers_json.c — peers.json (spec §5.7, §5.8) and RFC 3339. See peers_json.h. */
#include "peers_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "point.h"

#define NS_PER_S ((int64_t)1000000000)

/* ---- RFC 3339 ----------------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

/* Howard Hinnant's civil calendar algorithms (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m) {
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return days[m - 1];
}

/* Writes v as exactly `width` decimal digits (zero-padded; v < 10^width). */
static void put_digits(char *out, uint64_t v, int width) {
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

char *tp_rfc3339_format(int64_t wall_ns, char buf[TP_RFC3339_MAX]) {
    int64_t secs = floor_div(wall_ns, NS_PER_S);
    int64_t frac = wall_ns - secs * NS_PER_S;
    int64_t days = floor_div(secs, 86400);
    int64_t sod = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int n;
    if (y >= 0 && y <= 9999) {
        /* the common case, by hand (every peers.json save formats thousands of these) */
        put_digits(buf, (uint64_t)y, 4);
        buf[4] = '-';
        put_digits(buf + 5, m, 2);
        buf[7] = '-';
        put_digits(buf + 8, d, 2);
        buf[10] = 'T';
        put_digits(buf + 11, (uint64_t)(sod / 3600), 2);
        buf[13] = ':';
        put_digits(buf + 14, (uint64_t)(sod / 60 % 60), 2);
        buf[16] = ':';
        put_digits(buf + 17, (uint64_t)(sod % 60), 2);
        n = 19;
    } else {
        n = snprintf(buf, TP_RFC3339_MAX, "%04lld-%02u-%02uT%02u:%02u:%02u", (long long)y, m,
                     d, (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60),
                     (unsigned)(sod % 60));
    }
    TP_ASSERT(n > 0 && n < TP_RFC3339_MAX - 12);
    if (frac != 0) {
        char f[9];
        put_digits(f, (uint64_t)frac, 9);
        size_t fl = 9;
        while (fl > 1 && f[fl - 1] == '0') fl--;
        buf[n++] = '.';
        memcpy(buf + n, f, fl);
        n += (int)fl;
    }
    buf[n++] = 'Z';
    buf[n] = '\0';
    return buf;
}

/* Reads exactly `count` decimal digits at text[*pos]. */
static bool digits(const char *text, size_t len, size_t *pos, unsigned count, int64_t *out) {
    if (*pos + count > len) return false;
    int64_t v = 0;
    for (unsigned i = 0; i < count; i++) {
        char c = text[*pos + i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    *pos += count;
    *out = v;
    return true;
}

static bool expect(const char *text, size_t len, size_t *pos, char c1, char c2) {
    if (*pos >= len || (text[*pos] != c1 && text[*pos] != c2)) return false;
    (*pos)++;
    return true;
}

tp_err tp_rfc3339_parse(const char *text, size_t len, int64_t *wall_ns) {
    size_t pos = 0;
    /* Zero-initialised: gcc -O3 cannot see that digits() writes them on success. */
    int64_t y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, frac = 0;
    if (!digits(text, len, &pos, 4, &y) || !expect(text, len, &pos, '-', '-') ||
        !digits(text, len, &pos, 2, &mo) || !expect(text, len, &pos, '-', '-') ||
        !digits(text, len, &pos, 2, &d) || !expect(text, len, &pos, 'T', 't') ||
        !digits(text, len, &pos, 2, &h) || !expect(text, len, &pos, ':', ':') ||
        !digits(text, len, &pos, 2, &mi) || !expect(text, len, &pos, ':', ':') ||
        !digits(text, len, &pos, 2, &s))
        return TP_ERR_DECODE_BAD_VALUE;
    if (pos < len && text[pos] == '.') {
        pos++;
        unsigned n = 0;
        while (pos < len && text[pos] >= '0' && text[pos] <= '9') {
            if (n == 9) return TP_ERR_DECODE_BAD_VALUE;
            frac = frac * 10 + (text[pos] - '0');
            n++;
            pos++;
        }
        if (n == 0) return TP_ERR_DECODE_BAD_VALUE;
        for (; n < 9; n++) frac *= 10;
    }
    int64_t offset_s = 0;
    if (pos < len && (text[pos] == 'Z' || text[pos] == 'z')) {
        pos++;
    } else if (pos < len && (text[pos] == '+' || text[pos] == '-')) {
        int sign = text[pos] == '+' ? 1 : -1;
        pos++;
        int64_t oh = 0, om = 0;
        if (!digits(text, len, &pos, 2, &oh) || !expect(text, len, &pos, ':', ':') ||
            !digits(text, len, &pos, 2, &om) || oh > 23 || om > 59)
            return TP_ERR_DECODE_BAD_VALUE;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return TP_ERR_DECODE_BAD_VALUE;
    }
    if (pos != len) return TP_ERR_DECODE_BAD_VALUE;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, (unsigned)mo) || h > 23 ||
        mi > 59 || s > 60)
        return TP_ERR_DECODE_BAD_VALUE;
    if (s == 60) s = 59; /* a leap second: POSIX time has none */
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   s - offset_s;
    if (secs <= INT64_MIN / NS_PER_S + 1 || secs >= INT64_MAX / NS_PER_S - 1)
        return TP_ERR_DECODE_BAD_VALUE;
    *wall_ns = secs * NS_PER_S + frac;
    return TP_OK;
}

/* ---- encode ------------------------------------------------------------------------------- */

static bool is_peer_event_kind(unsigned k) {
    return k == TP_POOL_EVENT_INCOMING_REQUEST || k == TP_POOL_EVENT_REJECTING_REQUEST ||
           k == TP_POOL_EVENT_REQUEST_REJECTED || k == TP_POOL_EVENT_CONNECTION_ESTABLISHED ||
           k == TP_POOL_EVENT_DISCONNECTION || k == TP_POOL_EVENT_EXTERNAL_DISCONNECTION;
}

/* Octez writes addresses with Ipaddr.V6.to_string: IPv4 as "::ffff:a.b.c.d". */
static void write_addr(tp_json_writer *jw, const tp_ip *ip) {
    char text[TP_IP_TEXT_MAX + 8];
    size_t n = 0;
    if (tp_ip_is_v4mapped(ip)) {
        /* "::ffff:" then tp_ip_format's "a.b.c.d" (formatted by hand, core/addr.c) */
        memcpy(text, "::ffff:", 7);
        tp_ip_format(ip, text + 7);
    } else {
        tp_ip_format(ip, text);
    }
    n = strlen(text);
    tp_json_key(jw, "addr");
    tp_json_string_n(jw, text, n);
}

static void write_conn_id(tp_json_writer *jw, const tp_point *p) {
    tp_json_begin_object(jw);
    write_addr(jw, &p->ip);
    if (p->port != 0) {
        tp_json_key(jw, "port");
        tp_json_uint64(jw, p->port);
    }
    tp_json_end_object(jw);
}

static void write_time(tp_json_writer *jw, int64_t wall_ns) {
    char t[TP_RFC3339_MAX];
    tp_json_string(jw, tp_rfc3339_format(wall_ns, t));
}

static const char *const last_names[4] = {"last_failed_connection", "last_rejected_connection",
                                          "last_established_connection", "last_disconnection"};

static tp_stamped_point *peer_last(tp_peer_info *p, int i) {
    switch (i) {
    case 0: return &p->last_failed_connection;
    case 1: return &p->last_rejected_connection;
    case 2: return &p->last_established_connection;
    default: return &p->last_disconnection;
    }
}

tp_err tp_peers_json_encode(const tp_pool *pool, char *buf, size_t cap, size_t *len) {
    tp_json_writer jw;
    tp_json_writer_init(&jw, buf, cap, false);
    tp_json_begin_array(&jw);
    uint32_t it = 0;
    tp_peer_info *p;
    while ((p = tp_pool_next_peer(pool, &it)) != NULL) {
        char id[TP_PEER_ID_TEXT_SIZE];
        tp_json_begin_object(&jw);
        tp_json_key(&jw, "peer_id");
        tp_json_string(&jw, tp_peer_id_to_b58(&p->peer_id, id));
        tp_json_key(&jw, "created");
        write_time(&jw, p->created_wall_ns);
        tp_json_key(&jw, "trusted");
        tp_json_bool(&jw, p->trusted);
        tp_json_key(&jw, "peer_metadata");
        tp_json_begin_object(&jw);
        tp_json_end_object(&jw);
        tp_json_key(&jw, "events");
        tp_json_begin_array(&jw);
        for (uint16_t i = 0; i < p->events.count; i++) {
            const tp_pool_event *e = tp_pool_event_ring_at(&p->events, i);
            if (!is_peer_event_kind(e->kind)) continue;
            tp_json_begin_object(&jw);
            tp_json_key(&jw, "kind");
            tp_json_string(&jw, tp_pool_event_kind_name((tp_pool_event_kind)e->kind));
            tp_json_key(&jw, "timestamp");
            write_time(&jw, tp_pool_wall_of(pool, e->time_ns));
            write_addr(&jw, &e->point.ip);
            if (e->point.port != 0) {
                tp_json_key(&jw, "port");
                tp_json_uint64(&jw, e->point.port);
            }
            tp_json_end_object(&jw);
        }
        tp_json_end_array(&jw);
        for (int i = 0; i < 4; i++) {
            const tp_stamped_point *sp = peer_last(p, i);
            if (sp->time_ns == TP_TIME_NONE) continue;
            tp_json_key(&jw, last_names[i]);
            tp_json_begin_array(&jw);
            write_conn_id(&jw, &sp->point);
            write_time(&jw, tp_pool_wall_of(pool, sp->time_ns));
            tp_json_end_array(&jw);
        }
        tp_json_end_object(&jw);
    }
    tp_json_end_array(&jw);
    return tp_json_writer_finish(&jw, len);
}

/* ---- decode ------------------------------------------------------------------------------- */

typedef struct dctx {
    const tp_json_doc *doc;
    const char *name;
    size_t entry;      /* 1-based; 0 = the root */
    char *error;
    size_t error_size;
} dctx;

__attribute__((format(printf, 4, 5))) static tp_err fail(dctx *c, size_t tok, const char *field,
                                                         const char *fmt, ...) {
    if (c->error != NULL && c->error_size > 0) {
        size_t line = 0, col = 0;
        tp_json_position(c->doc, tok < c->doc->count ? tp_json_tok(c->doc, tok)->start : 0,
                         &line, &col);
        int n = snprintf(c->error, c->error_size, "%s:%zu:%zu: ", c->name, line, col);
        if (n < 0) n = 0;
        size_t off = (size_t)n < c->error_size ? (size_t)n : c->error_size - 1;
        if (c->entry > 0) {
            n = snprintf(c->error + off, c->error_size - off, "entry %zu, ", c->entry);
            if (n > 0) off += (size_t)n < c->error_size - off ? (size_t)n : c->error_size - off - 1;
        }
        if (field != NULL) {
            n = snprintf(c->error + off, c->error_size - off, "field \"%s\": ", field);
            if (n > 0) off += (size_t)n < c->error_size - off ? (size_t)n : c->error_size - off - 1;
        }
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->error + off, c->error_size - off, fmt, ap);
        va_end(ap);
    }
    return TP_ERR_DECODE_BAD_JSON;
}

static tp_err get_time(dctx *c, size_t tok, const char *field, int64_t *out) {
    tp_json_type t = tp_json_type_of(c->doc, tok);
    if (t == TP_JSON_NUMBER) {
        int64_t secs;
        tp_err err = tp_json_get_int64(c->doc, tok, &secs);
        if (err == TP_ERR_INVAL)
            return fail(c, tok, field, "a numeric timestamp must be whole seconds since 1970");
        if (err != TP_OK || secs <= INT64_MIN / NS_PER_S + 1 || secs >= INT64_MAX / NS_PER_S - 1)
            return fail(c, tok, field, "integer timestamp out of range (seconds since 1970)");
        *out = secs * NS_PER_S;
        return TP_OK;
    }
    if (t == TP_JSON_STRING) {
        const tp_json_token *k = tp_json_tok(c->doc, tok);
        /* Timestamps never need escapes; a string with one is malformed anyway. */
        if (tp_rfc3339_parse(c->doc->text + k->start, k->end - k->start, out) == TP_OK)
            return TP_OK;
    }
    return fail(c, tok, field, "expected an RFC 3339 timestamp or an integer, got %s",
                t == TP_JSON_STRING ? "a malformed date" : tp_json_type_name(t));
}

/* {"addr": ..., "port"?: n} */
static tp_err get_conn_id(dctx *c, size_t tok, const char *field, tp_point *out) {
    if (tp_json_type_of(c->doc, tok) != TP_JSON_OBJECT)
        return fail(c, tok, field, "expected an object {\"addr\", \"port\"}, got %s",
                    tp_json_type_name(tp_json_type_of(c->doc, tok)));
    tp_point p;
    memset(&p, 0, sizeof p);
    bool has_addr = false;
    size_t k = tok + 1;
    for (uint32_t i = 0; i < tp_json_tok(c->doc, tok)->children; i++) {
        size_t v = k + 1;
        if (tp_json_string_eq(c->doc, k, "addr")) {
            char text[64];
            size_t n;
            if (tp_json_type_of(c->doc, v) != TP_JSON_STRING ||
                tp_json_get_string(c->doc, v, text, sizeof text, &n) != TP_OK ||
                tp_ip_parse(text, n, &p.ip) != TP_OK)
                return fail(c, v, field, "\"addr\" must be an IP address text");
            has_addr = true;
        } else if (tp_json_string_eq(c->doc, k, "port")) {
            int64_t port;
            if (tp_json_get_int64(c->doc, v, &port) != TP_OK || port < 1 || port > 65535)
                return fail(c, v, field, "\"port\" must be an integer in 1..65535");
            p.port = (uint16_t)port;
        } else {
            return fail(c, k, field, "unknown member (expected \"addr\" or \"port\")");
        }
        k = tp_json_next(c->doc, v);
    }
    if (!has_addr) return fail(c, tok, field, "missing \"addr\"");
    *out = p;
    return TP_OK;
}

/* [ {addr, port?}, time ] */
static tp_err get_stamped(dctx *c, size_t tok, const char *field, tp_point *pt, int64_t *wall) {
    if (tp_json_type_of(c->doc, tok) != TP_JSON_ARRAY || tp_json_tok(c->doc, tok)->children != 2)
        return fail(c, tok, field, "expected [ {\"addr\", \"port\"}, timestamp ]");
    size_t a = tok + 1;
    TP_TRY(get_conn_id(c, a, field, pt));
    return get_time(c, tp_json_next(c->doc, a), field, wall);
}

static tp_err get_event(dctx *c, size_t tok, tp_pool_event *out) {
    const char *field = "events";
    if (tp_json_type_of(c->doc, tok) != TP_JSON_OBJECT)
        return fail(c, tok, field, "each event must be an object");
    tp_pool_event e;
    memset(&e, 0, sizeof e);
    bool has_kind = false, has_time = false, has_addr = false;
    size_t k = tok + 1;
    for (uint32_t i = 0; i < tp_json_tok(c->doc, tok)->children; i++) {
        size_t v = k + 1;
        if (tp_json_string_eq(c->doc, k, "kind")) {
            char name[40];
            size_t n;
            tp_pool_event_kind kind;
            if (tp_json_type_of(c->doc, v) != TP_JSON_STRING ||
                tp_json_get_string(c->doc, v, name, sizeof name, &n) != TP_OK ||
                !tp_pool_event_kind_parse(name, n, &kind) || !is_peer_event_kind(kind))
                return fail(c, v, field,
                            "\"kind\" must be one of incoming_request, rejecting_request, "
                            "request_rejected, connection_established, disconnection, "
                            "external_disconnection");
            e.kind = (uint8_t)kind;
            has_kind = true;
        } else if (tp_json_string_eq(c->doc, k, "timestamp")) {
            TP_TRY(get_time(c, v, field, &e.time_ns));
            has_time = true;
        } else if (tp_json_string_eq(c->doc, k, "addr")) {
            char text[64];
            size_t n;
            if (tp_json_type_of(c->doc, v) != TP_JSON_STRING ||
                tp_json_get_string(c->doc, v, text, sizeof text, &n) != TP_OK ||
                tp_ip_parse(text, n, &e.point.ip) != TP_OK)
                return fail(c, v, field, "\"addr\" must be an IP address text");
            has_addr = true;
        } else if (tp_json_string_eq(c->doc, k, "port")) {
            int64_t port;
            if (tp_json_get_int64(c->doc, v, &port) != TP_OK || port < 1 || port > 65535)
                return fail(c, v, field, "\"port\" must be an integer in 1..65535");
            e.point.port = (uint16_t)port;
        } else {
            return fail(c, k, field, "unknown event member (expected kind, timestamp, addr, port)");
        }
        k = tp_json_next(c->doc, v);
    }
    if (!has_kind || !has_time || !has_addr)
        return fail(c, tok, field, "an event needs \"kind\", \"timestamp\" and \"addr\"");
    *out = e; /* time_ns is wall time here */
    return TP_OK;
}

typedef struct dpeer {
    tp_peer_id id;
    int64_t created_wall_ns;
    bool trusted;
    size_t events_tok; /* TP_JSON_NONE: absent */
    tp_point last_point[4];
    int64_t last_wall[4]; /* TP_TIME_NONE: absent */
} dpeer;

static tp_err get_peer(dctx *c, size_t tok, dpeer *out) {
    if (tp_json_type_of(c->doc, tok) != TP_JSON_OBJECT)
        return fail(c, tok, NULL, "expected an object, got %s",
                    tp_json_type_name(tp_json_type_of(c->doc, tok)));
    dpeer p;
    memset(&p, 0, sizeof p);
    p.events_tok = TP_JSON_NONE;
    for (int i = 0; i < 4; i++) p.last_wall[i] = TP_TIME_NONE;
    bool has_id = false, has_created = false;
    size_t k = tok + 1;
    for (uint32_t i = 0; i < tp_json_tok(c->doc, tok)->children; i++) {
        size_t v = k + 1;
        if (tp_json_string_eq(c->doc, k, "peer_id")) {
            char text[64];
            size_t n;
            if (tp_json_type_of(c->doc, v) != TP_JSON_STRING ||
                tp_json_get_string(c->doc, v, text, sizeof text, &n) != TP_OK ||
                tp_peer_id_of_b58(text, n, &p.id) != TP_OK)
                return fail(c, v, "peer_id", "expected a peer id (Base58Check \"id...\")");
            has_id = true;
        } else if (tp_json_string_eq(c->doc, k, "created")) {
            TP_TRY(get_time(c, v, "created", &p.created_wall_ns));
            has_created = true;
        } else if (tp_json_string_eq(c->doc, k, "trusted")) {
            if (tp_json_get_bool(c->doc, v, &p.trusted) != TP_OK)
                return fail(c, v, "trusted", "expected true or false");
        } else if (tp_json_string_eq(c->doc, k, "peer_metadata")) {
            /* the upper layer's JSON: any value, ignored */
        } else if (tp_json_string_eq(c->doc, k, "events")) {
            if (tp_json_type_of(c->doc, v) != TP_JSON_ARRAY)
                return fail(c, v, "events", "expected an array");
            size_t e = v + 1;
            for (uint32_t j = 0; j < tp_json_tok(c->doc, v)->children; j++) {
                tp_pool_event ev;
                TP_TRY(get_event(c, e, &ev));
                e = tp_json_next(c->doc, e);
            }
            p.events_tok = v;
        } else {
            int which = -1;
            for (int j = 0; j < 4; j++)
                if (tp_json_string_eq(c->doc, k, last_names[j])) which = j;
            if (which < 0) {
                char key[48];
                size_t n;
                if (tp_json_get_string(c->doc, k, key, sizeof key, &n) != TP_OK)
                    snprintf(key, sizeof key, "(a long name)");
                return fail(c, k, NULL,
                            "unknown field \"%s\" (expected peer_id, created, trusted, "
                            "peer_metadata, events, last_failed_connection, "
                            "last_rejected_connection, last_established_connection, "
                            "last_disconnection)",
                            key);
            }
            TP_TRY(get_stamped(c, v, last_names[which], &p.last_point[which],
                               &p.last_wall[which]));
        }
        k = tp_json_next(c->doc, v);
    }
    if (!has_id) return fail(c, tok, "peer_id", "missing");
    if (!has_created) return fail(c, tok, "created", "missing");
    *out = p;
    return TP_OK;
}

/* The pool's ring rule (pool.c, tp_pool_event_ring_reserve): storage grows up to
 * event_ring_size entries, then the oldest is overwritten; freed by the pool. */
static void ring_append(tp_pool *pool, tp_pool_event_ring *ring, const tp_pool_event *ev) {
    if (!tp_pool_event_ring_reserve(pool, ring)) return; /* history is best effort */
    if (ring->count < ring->cap) {
        ring->items[(ring->start + ring->count) % ring->cap] = *ev;
        ring->count++;
    } else {
        ring->items[ring->start] = *ev;
        ring->start = (uint16_t)((ring->start + 1) % ring->cap);
    }
}

static tp_err apply_peer(tp_pool *pool, dctx *c, const dpeer *d) {
    tp_peer_info *pi;
    TP_TRY(tp_pool_register_peer(pool, &d->id, &pi));
    pi->trusted = d->trusted;
    pi->created_wall_ns = d->created_wall_ns;
    int newest = -1;
    for (int i = 0; i < 4; i++) {
        if (d->last_wall[i] == TP_TIME_NONE) continue;
        tp_stamped_point *sp = peer_last(pi, i);
        sp->point = d->last_point[i];
        sp->time_ns = tp_pool_mono_of(pool, d->last_wall[i]);
        /* last_seen: the most recent of rejected, established, disconnection */
        if (i >= 1 && (newest < 0 || d->last_wall[i] > d->last_wall[newest])) newest = i;
    }
    if (d->events_tok != TP_JSON_NONE) {
        size_t e = d->events_tok + 1;
        for (uint32_t j = 0; j < tp_json_tok(c->doc, d->events_tok)->children; j++) {
            tp_pool_event ev;
            tp_err err = get_event(c, e, &ev);
            TP_ASSERT(err == TP_OK); /* checked in the first pass */
            ev.time_ns = tp_pool_mono_of(pool, ev.time_ns);
            ring_append(pool, &pi->events, &ev);
            e = tp_json_next(c->doc, e);
        }
    }
    if (newest >= 0 && d->last_point[newest].port != 0) {
        tp_point_info *pt;
        tp_err err = tp_pool_register_point(pool, &d->last_point[newest], -1, NULL, &pt);
        (void)err; /* our own point, or a full table: not worth failing the load */
    }
    return TP_OK;
}

tp_err tp_peers_json_load(tp_pool *pool, const char *name, const char *text, size_t len,
                          size_t *loaded, char *error, size_t error_size) {
    tp_json_doc doc;
    memset(&doc, 0, sizeof doc);
    dctx c = {&doc, name, 0, error, error_size};
    if (len > TP_PEERS_JSON_MAX) {
        if (error && error_size)
            snprintf(error, error_size, "%s: %zu bytes, above the %zu-byte limit", name, len,
                     TP_PEERS_JSON_MAX);
        return TP_ERR_TOO_BIG;
    }
    size_t ntok = len / 2 + 2;
    tp_json_token *tokens = tp_env_alloc(pool->env, ntok * sizeof *tokens);
    if (tokens == NULL) {
        if (error && error_size) snprintf(error, error_size, "%s: out of memory", name);
        return TP_ERR_NOMEM;
    }
    tp_err err = tp_json_parse(&doc, text, len, tokens, ntok);
    if (err != TP_OK) {
        if (error && error_size) {
            size_t line, col;
            tp_json_position(&doc, doc.error_offset, &line, &col);
            snprintf(error, error_size, "%s:%zu:%zu: %s%s", name, line, col,
                     doc.error ? doc.error : "malformed JSON",
                     len == 0 ? " (the file is empty)" : "");
        }
        err = TP_ERR_DECODE_BAD_JSON;
        goto out;
    }
    if (tp_json_type_of(&doc, 0) != TP_JSON_ARRAY) {
        err = fail(&c, 0, NULL, "expected an array of peers, got %s",
                   tp_json_type_name(tp_json_type_of(&doc, 0)));
        goto out;
    }
    uint32_t n = tp_json_tok(&doc, 0)->children;
    /* pass 1: check everything */
    size_t t = 1;
    for (uint32_t i = 0; i < n; i++) {
        dpeer d;
        c.entry = i + 1;
        err = get_peer(&c, t, &d);
        if (err != TP_OK) goto out;
        t = tp_json_next(&doc, t);
    }
    /* pass 2: apply */
    size_t applied = 0;
    t = 1;
    for (uint32_t i = 0; i < n; i++) {
        dpeer d;
        c.entry = i + 1;
        err = get_peer(&c, t, &d);
        TP_ASSERT(err == TP_OK);
        if (apply_peer(pool, &c, &d) != TP_OK) break; /* the pool is full */
        applied++;
        t = tp_json_next(&doc, t);
    }
    if (loaded) *loaded = applied;
    err = TP_OK;
out:
    tp_env_free(pool->env, tokens, ntok * sizeof *tokens);
    return err;
}

/* ---- the file worker ------------------------------------------------------------------------ */

void tp_peers_file_config_default(tp_peers_file_config *cfg) {
    cfg->name = "peers.json";
    cfg->save_interval_ns = 60 * NS_PER_S;
}

static void on_save_timer(void *arg);

void tp_peers_file_init(tp_peers_file *pf, const tp_env *env, tp_pool *pool,
                        const tp_peers_file_config *cfg) {
    TP_ASSERT(cfg->name != NULL && cfg->save_interval_ns >= 0);
    memset(pf, 0, sizeof *pf);
    pf->env = env;
    pf->pool = pool;
    pf->cfg = *cfg;
    tp_timer_init(&pf->timer, on_save_timer, pf);
}

void tp_peers_file_deinit(tp_peers_file *pf) {
    tp_peers_file_stop(pf);
}

static void storage_error(tp_peers_file *pf, tp_err err) {
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TP_EVENT_STORAGE_ERROR;
    ev.code = (int32_t)err;
    ev.detail = pf->error;
    tp_env_event(pf->env, &ev);
}

/* Renames the corrupt file to a name that does not exist yet. */
static bool keep_aside(tp_peers_file *pf, char *aside, size_t aside_size) {
    int64_t secs = floor_div(tp_env_wall_ns(pf->env), NS_PER_S);
    for (int i = 0; i < 100; i++) {
        if (i == 0) snprintf(aside, aside_size, "%s.corrupt-%lld", pf->cfg.name, (long long)secs);
        else snprintf(aside, aside_size, "%s.corrupt-%lld-%d", pf->cfg.name, (long long)secs, i);
        size_t need;
        if (tp_env_file_read(pf->env, aside, NULL, 0, &need) != TP_ERR_NOT_FOUND) continue;
        return tp_env_file_rename(pf->env, pf->cfg.name, aside) == TP_OK;
    }
    return false;
}

tp_err tp_peers_file_load(tp_peers_file *pf, size_t *loaded) {
    size_t count = 0;
    size_t need = 0;
    tp_err err = tp_env_file_read(pf->env, pf->cfg.name, NULL, 0, &need);
    if (err == TP_ERR_NOT_FOUND) {
        if (loaded) *loaded = 0;
        return TP_OK;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    if (err == TP_ERR_TOO_BIG && need <= TP_PEERS_JSON_MAX) {
        cap = need;
        buf = tp_env_alloc(pf->env, cap);
        if (buf == NULL) {
            snprintf(pf->error, sizeof pf->error, "%s: out of memory reading %zu bytes",
                     pf->cfg.name, need);
            storage_error(pf, TP_ERR_NOMEM);
            return TP_ERR_NOMEM;
        }
        size_t got;
        err = tp_env_file_read(pf->env, pf->cfg.name, buf, cap, &got);
        if (err == TP_OK) need = got;
    } else if (err == TP_ERR_TOO_BIG) {
        snprintf(pf->error, sizeof pf->error, "%s: %zu bytes, above the %zu-byte limit",
                 pf->cfg.name, need, TP_PEERS_JSON_MAX);
        err = TP_ERR_DECODE_BAD_JSON; /* treated as corrupt below */
        need = 0;
        goto corrupt;
    }
    if (err != TP_OK) {
        snprintf(pf->error, sizeof pf->error, "%s: cannot read: %s", pf->cfg.name,
                 tp_strerror(err));
        storage_error(pf, err);
        tp_env_free(pf->env, buf, cap);
        return err;
    }
    err = tp_peers_json_load(pf->pool, pf->cfg.name, buf ? (const char *)buf : "", need, &count,
                             pf->error, sizeof pf->error);
    tp_env_free(pf->env, buf, cap);
    if (err == TP_OK) {
        if (loaded) *loaded = count;
        return TP_OK;
    }
    if (err == TP_ERR_NOMEM) {
        storage_error(pf, err);
        return err;
    }
corrupt: {
    char aside[256];
    char why[TP_PEERS_JSON_ERROR_SIZE];
    memcpy(why, pf->error, sizeof why);
    why[sizeof why - 1] = '\0';
    if (keep_aside(pf, aside, sizeof aside)) {
        snprintf(pf->error, sizeof pf->error,
                 "%.200s; the file was moved to %.100s and the node starts with no known peers",
                 why, aside);
    } else {
        pf->save_disabled = true;
        snprintf(pf->error, sizeof pf->error,
                 "%.200s; it could not be moved aside, so it is left in place and will not be "
                 "overwritten: fix or remove it",
                 why);
    }
    storage_error(pf, TP_ERR_CORRUPT);
    if (loaded) *loaded = 0;
    return TP_ERR_CORRUPT;
}
}

tp_err tp_peers_file_save(tp_peers_file *pf) {
    if (pf->save_disabled) {
        snprintf(pf->error, sizeof pf->error,
                 "%s: not saved: the corrupt file found at start is still in place",
                 pf->cfg.name);
        storage_error(pf, TP_ERR_STATE);
        pf->save_errors++;
        return TP_ERR_STATE;
    }
    size_t cap = pf->last_size * 2;
    if (cap < 4096) cap = 4096;
    for (;;) {
        char *buf = tp_env_alloc(pf->env, cap);
        if (buf == NULL) {
            snprintf(pf->error, sizeof pf->error, "%s: not saved: out of memory", pf->cfg.name);
            storage_error(pf, TP_ERR_NOMEM);
            pf->save_errors++;
            return TP_ERR_NOMEM;
        }
        size_t len;
        tp_err err = tp_peers_json_encode(pf->pool, buf, cap, &len);
        if (err == TP_ERR_TOO_BIG && cap < 2 * TP_PEERS_JSON_MAX) {
            tp_env_free(pf->env, buf, cap);
            cap *= 2;
            continue;
        }
        if (err == TP_OK) err = tp_env_file_write(pf->env, pf->cfg.name, (const uint8_t *)buf, len);
        tp_env_free(pf->env, buf, cap);
        if (err != TP_OK) {
            snprintf(pf->error, sizeof pf->error, "%s: not saved: %s", pf->cfg.name,
                     tp_strerror(err));
            storage_error(pf, err);
            pf->save_errors++;
            return err;
        }
        pf->last_size = len;
        pf->saves++;
        return TP_OK;
    }
}

static void on_save_timer(void *arg) {
    tp_peers_file *pf = arg;
    tp_err err = tp_peers_file_save(pf);
    (void)err; /* reported by an event; try again next period */
    tp_env_timer_start_in(pf->env, &pf->timer, pf->cfg.save_interval_ns);
}

void tp_peers_file_start(tp_peers_file *pf) {
    if (pf->cfg.save_interval_ns == 0) return;
    tp_env_timer_start_in(pf->env, &pf->timer, pf->cfg.save_interval_ns);
}

void tp_peers_file_stop(tp_peers_file *pf) {
    tp_env_timer_stop(pf->env, &pf->timer);
}
