/* demo/demo.c — the flooding demo protocol (demo.h, demo/README.md).
 *
 * Written only against core/env.h, with core's rules: no OS calls, no globals, memory
 * through tp_env_realloc, randomness from tp_env_random, integer decisions, iteration
 * in insertion order (connections and points are arrays kept in arrival order), so a
 * simulated run is reproducible from its seed.
 *
 * Ownership: the host owns an array of connection pointers (arrival order) and each
 * connection struct; a connection is freed only in its stream's on_close (env.h's rule),
 * or by crash_drop.
 */
#include "demo/demo.h"

#include <string.h>

#define ORIGINS_MAX 64u          /* origins tracked by the de-duplication table */
#define WINDOW_BITS 256u         /* pings per origin remembered below the highest seq */
#define TX_MAX (64u * 1024u)     /* bytes queued per connection beyond what env took */
#define BACKOFF_NS_MIN 250000000LL
#define BACKOFF_NS_MAX 5000000000LL
#define BACKLOG 64

typedef struct demo_point {
    tp_point point;
    uint32_t failures;
    int64_t retry_at_ns;
    bool self; /* a HELLO told us this point is ourselves */
} demo_point;

typedef struct demo_origin {
    uint64_t origin;
    uint32_t top;              /* highest seq seen */
    uint64_t window[WINDOW_BITS / 64]; /* bit i: seq top - i seen */
    int64_t used_ns;
} demo_origin;

typedef struct demo_conn {
    tp_demo *host;
    tp_stream *s;
    bool outgoing;
    bool connected;  /* outgoing: on_connect came; incoming: always */
    bool got_hello;
    bool closing;    /* close or reset called */
    bool has_point;  /* point is the peer's listening point */
    tp_point point;
    uint64_t peer_id;
    uint8_t rx[2 + TP_DEMO_FRAME_MAX];
    size_t rx_len;
    uint8_t *tx;
    size_t tx_len, tx_cap;
} demo_conn;

struct tp_demo {
    const tp_env *env;
    tp_demo_config cfg;
    tp_point *seeds;
    uint64_t id;
    tp_listener *listener;
    tp_timer maintenance_timer, ping_timer, stopped_timer;
    bool started, stopping;
    demo_point *points;
    uint32_t points_len;
    demo_conn **conns;
    uint32_t conns_len;
    demo_origin origins[ORIGINS_MAX];
    uint32_t origins_len;
    int64_t *delays;
    size_t delays_len;
    uint32_t next_seq;
    tp_demo_stats st;
};

/* ------------------------------------------------------------------------------------ */
/* wire: a strict cursor (big-endian)                                                   */

typedef struct cursor {
    const uint8_t *p;
    size_t len, pos;
} cursor;

static bool take(cursor *c, size_t n, const uint8_t **out) {
    if (c->len - c->pos < n) return false;
    *out = c->p + c->pos;
    c->pos += n;
    return true;
}

static uint64_t load_be(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

static void store_be(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[n - 1 - i] = (uint8_t)(v >> (8 * i));
}

tp_err tp_demo_decode(const uint8_t *body, size_t len, tp_demo_msg *out) {
    cursor c = {body, len, 0};
    const uint8_t *b;
    tp_demo_msg m;
    memset(&m, 0, sizeof m);
    if (len > TP_DEMO_FRAME_MAX) return TP_ERR_DECODE_TOO_LONG;
    if (!take(&c, 1, &b)) return TP_ERR_DECODE_TRUNCATED;
    switch (b[0]) {
    case TP_DEMO_HELLO:
        m.tag = TP_DEMO_HELLO;
        if (!take(&c, 10, &b)) return TP_ERR_DECODE_TRUNCATED;
        m.id = load_be(b, 8);
        m.listen_port = (uint16_t)load_be(b + 8, 2);
        break;
    case TP_DEMO_POINTS:
        m.tag = TP_DEMO_POINTS;
        if (!take(&c, 1, &b)) return TP_ERR_DECODE_TRUNCATED;
        m.points_count = b[0];
        if (m.points_count > TP_DEMO_POINTS_PER_MSG) return TP_ERR_DECODE_TOO_LONG;
        for (uint32_t i = 0; i < m.points_count; i++) {
            if (!take(&c, 18, &b)) return TP_ERR_DECODE_TRUNCATED;
            memcpy(m.points[i].ip.bytes, b, 16);
            m.points[i].port = (uint16_t)load_be(b + 16, 2);
            if (m.points[i].port == 0) return TP_ERR_DECODE_BAD_POINT;
        }
        break;
    case TP_DEMO_PING:
        m.tag = TP_DEMO_PING;
        if (!take(&c, 20, &b)) return TP_ERR_DECODE_TRUNCATED;
        m.id = load_be(b, 8);
        m.seq = (uint32_t)load_be(b + 8, 4);
        m.sent_ns = (int64_t)load_be(b + 12, 8);
        if (m.seq == 0) return TP_ERR_DECODE_BAD_VALUE;
        break;
    default:
        return TP_ERR_DECODE_BAD_TAG;
    }
    if (c.pos != c.len) return TP_ERR_DECODE_TRAILING;
    *out = m;
    return TP_OK;
}

size_t tp_demo_encode(const tp_demo_msg *m, uint8_t *buf, size_t cap) {
    size_t body;
    switch (m->tag) {
    case TP_DEMO_HELLO:
        body = 1 + 10;
        break;
    case TP_DEMO_POINTS:
        TP_ASSERT(m->points_count <= TP_DEMO_POINTS_PER_MSG);
        body = 1 + 1 + 18 * (size_t)m->points_count;
        break;
    case TP_DEMO_PING:
        body = 1 + 20;
        break;
    default:
        TP_UNREACHABLE();
    }
    if (cap < 2 + body) return 0;
    store_be(buf, body, 2);
    buf[2] = (uint8_t)m->tag;
    uint8_t *p = buf + 3;
    switch (m->tag) {
    case TP_DEMO_HELLO:
        store_be(p, m->id, 8);
        store_be(p + 8, m->listen_port, 2);
        break;
    case TP_DEMO_POINTS:
        p[0] = (uint8_t)m->points_count;
        for (uint32_t i = 0; i < m->points_count; i++) {
            memcpy(p + 1 + 18 * i, m->points[i].ip.bytes, 16);
            store_be(p + 1 + 18 * i + 16, m->points[i].port, 2);
        }
        break;
    case TP_DEMO_PING:
        store_be(p, m->id, 8);
        store_be(p + 8, m->seq, 4);
        store_be(p + 12, (uint64_t)m->sent_ns, 8);
        break;
    }
    return 2 + body;
}

/* ------------------------------------------------------------------------------------ */
/* helpers                                                                              */

static void demo_event(tp_demo *d, const tp_point *point, int32_t code, const char *detail) {
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TP_EVENT_DEMO;
    if (point) {
        ev.flags = TP_EVENT_HAS_POINT;
        ev.point = *point;
    }
    ev.code = code;
    ev.detail = detail;
    tp_env_event(d->env, &ev);
}

static bool ip_is_unspecified(const tp_ip *ip) {
    static const uint8_t zero[16] = {0};
    tp_ip v4any = tp_ip_from_v4(0);
    return memcmp(ip->bytes, zero, 16) == 0 || tp_ip_eq(ip, &v4any);
}

static demo_point *point_find(tp_demo *d, const tp_point *p) {
    for (uint32_t i = 0; i < d->points_len; i++)
        if (tp_point_eq(&d->points[i].point, p)) return &d->points[i];
    return NULL;
}

/* Learns a point (bounded: beyond points_max new points are ignored). */
static demo_point *point_learn(tp_demo *d, const tp_point *p) {
    if (p->port == 0 || ip_is_unspecified(&p->ip)) return NULL;
    if (tp_point_eq(p, &d->cfg.listen)) return NULL;
    demo_point *dp = point_find(d, p);
    if (dp || d->points_len >= d->cfg.points_max) return dp;
    dp = &d->points[d->points_len++];
    memset(dp, 0, sizeof *dp);
    dp->point = *p;
    d->st.points_known = d->points_len;
    return dp;
}

static bool point_busy(const tp_demo *d, const tp_point *p) {
    for (uint32_t i = 0; i < d->conns_len; i++)
        if (d->conns[i]->has_point && tp_point_eq(&d->conns[i]->point, p)) return true;
    return false;
}

static void conn_reset(demo_conn *c) {
    if (c->closing) return;
    c->closing = true;
    tp_env_stream_reset(c->host->env, c->s);
}

static void conn_close(demo_conn *c) {
    if (c->closing) return;
    c->closing = true;
    tp_env_stream_close(c->host->env, c->s);
}

static bool conn_ready(const demo_conn *c) {
    return c->connected && c->got_hello && !c->closing;
}

/* Sends one whole frame or nothing (a frame is never cut: the peer's decoder would
 * lose sync). Returns false when dropped because the queue is full. */
static bool conn_send(demo_conn *c, const uint8_t *frame, size_t len) {
    tp_demo *d = c->host;
    if (c->closing || !c->connected) return false;
    if (c->tx_len + len > TX_MAX) return false;
    size_t taken = 0;
    if (c->tx_len == 0) {
        tp_err e = tp_env_stream_write(d->env, c->s, frame, len, &taken);
        if (e != TP_OK) return true; /* closing: on_close is on its way */
        d->st.bytes_out += taken;
        if (taken == len) return true;
    }
    size_t rest = len - taken;
    if (c->tx_len + rest > c->tx_cap) {
        size_t cap = c->tx_cap ? c->tx_cap : 1024;
        while (cap < c->tx_len + rest) cap *= 2;
        if (cap > TX_MAX) cap = TX_MAX;
        uint8_t *b = tp_env_realloc(d->env, c->tx, c->tx_cap, cap);
        if (!b) {
            /* Part of the frame is out already: the stream cannot stay in sync. */
            if (taken > 0) conn_reset(c);
            return false;
        }
        c->tx = b;
        c->tx_cap = cap;
    }
    memcpy(c->tx + c->tx_len, frame + taken, rest);
    c->tx_len += rest;
    return true;
}

static void conn_send_msg(demo_conn *c, const tp_demo_msg *m) {
    uint8_t frame[2 + TP_DEMO_FRAME_MAX];
    size_t n = tp_demo_encode(m, frame, sizeof frame);
    TP_ASSERT(n > 0);
    (void)conn_send(c, frame, n);
}

static void conn_send_points(demo_conn *c) {
    tp_demo *d = c->host;
    tp_demo_msg m;
    memset(&m, 0, sizeof m);
    m.tag = TP_DEMO_POINTS;
    if (d->points_len > 0) {
        /* A window of consecutive entries from a random start: cheap and unbiased
         * enough for a demo. */
        uint32_t start = (uint32_t)tp_env_random_below(d->env, d->points_len);
        for (uint32_t i = 0; i < d->points_len && m.points_count < TP_DEMO_POINTS_PER_MSG; i++) {
            const demo_point *p = &d->points[(start + i) % d->points_len];
            if (p->self || (c->has_point && tp_point_eq(&p->point, &c->point))) continue;
            m.points[m.points_count++] = p->point;
        }
    }
    conn_send_msg(c, &m);
}

static void conn_send_hello(demo_conn *c) {
    tp_demo_msg m;
    memset(&m, 0, sizeof m);
    m.tag = TP_DEMO_HELLO;
    m.id = c->host->id;
    m.listen_port = c->host->cfg.listen.port;
    conn_send_msg(c, &m);
}

/* ------------------------------------------------------------------------------------ */
/* de-duplication: per origin, a sliding window over sequence numbers                  */

static void window_shift(uint64_t w[WINDOW_BITS / 64], uint32_t k) {
    const uint32_t words = WINDOW_BITS / 64;
    if (k >= WINDOW_BITS) {
        memset(w, 0, sizeof(uint64_t) * words);
        return;
    }
    uint32_t wk = k / 64, bk = k % 64;
    for (uint32_t i = words; i-- > 0;) {
        uint64_t v = 0;
        if (i >= wk) {
            v = w[i - wk] << bk;
            if (bk && i > wk) v |= w[i - wk - 1] >> (64 - bk);
        }
        w[i] = v;
    }
}

/* True if (origin, seq) was not seen before (and records it). */
static bool ping_is_new(tp_demo *d, uint64_t origin, uint32_t seq) {
    int64_t now = tp_env_now_ns(d->env);
    demo_origin *o = NULL;
    for (uint32_t i = 0; i < d->origins_len; i++)
        if (d->origins[i].origin == origin) o = &d->origins[i];
    if (!o) {
        if (d->origins_len < ORIGINS_MAX) {
            o = &d->origins[d->origins_len++];
        } else { /* evict the least recently used origin (first on ties: stable) */
            o = &d->origins[0];
            for (uint32_t i = 1; i < d->origins_len; i++)
                if (d->origins[i].used_ns < o->used_ns) o = &d->origins[i];
        }
        memset(o, 0, sizeof *o);
        o->origin = origin;
        o->top = seq;
        o->window[0] = 1;
        o->used_ns = now;
        return true;
    }
    o->used_ns = now;
    if (seq > o->top) {
        window_shift(o->window, seq - o->top);
        o->top = seq;
        o->window[0] |= 1;
        return true;
    }
    uint32_t diff = o->top - seq;
    if (diff >= WINDOW_BITS) return false; /* too old to tell: treated as seen */
    uint64_t bit = (uint64_t)1 << (diff % 64);
    if (o->window[diff / 64] & bit) return false;
    o->window[diff / 64] |= bit;
    return true;
}

static void flood(tp_demo *d, const demo_conn *except, const tp_demo_msg *ping) {
    uint8_t frame[2 + 21];
    size_t n = tp_demo_encode(ping, frame, sizeof frame);
    TP_ASSERT(n == sizeof frame);
    for (uint32_t i = 0; i < d->conns_len; i++) {
        demo_conn *c = d->conns[i];
        if (c == except || !conn_ready(c)) continue;
        if (conn_send(c, frame, n))
            d->st.pings_forwarded++;
        else
            d->st.pings_dropped++;
    }
}

/* ------------------------------------------------------------------------------------ */
/* message handling                                                                     */

/* The delivery delay of a ping stamped sent_ns by its origin, received at now_ns: 0 when
 * the origin's clock is ahead (clocks of different hosts may disagree), INT64_MAX when a
 * stamp far in the past would overflow the subtraction (any i64 comes off the wire). */
static int64_t ping_delay(int64_t now_ns, int64_t sent_ns) {
    if (sent_ns >= now_ns) return 0;
    if (sent_ns < 0 && now_ns > INT64_MAX + sent_ns) return INT64_MAX;
    return now_ns - sent_ns;
}

static void handle_msg(demo_conn *c, const tp_demo_msg *m) {
    tp_demo *d = c->host;
    if (!c->got_hello && m->tag != TP_DEMO_HELLO) {
        d->st.frames_bad++;
        conn_reset(c);
        return;
    }
    switch (m->tag) {
    case TP_DEMO_HELLO: {
        if (c->got_hello) { /* a second HELLO is a protocol violation */
            d->st.frames_bad++;
            conn_reset(c);
            return;
        }
        if (m->id == d->id) { /* we dialed ourselves: never again */
            if (c->outgoing && c->has_point) {
                demo_point *p = point_find(d, &c->point);
                if (p) p->self = true;
            }
            conn_close(c);
            return;
        }
        c->got_hello = true;
        c->peer_id = m->id;
        if (c->outgoing) {
            demo_point *p = c->has_point ? point_find(d, &c->point) : NULL;
            if (p) p->failures = 0;
            d->st.connections_out++;
        } else if (m->listen_port != 0) {
            tp_point remote;
            tp_env_stream_addresses(d->env, c->s, NULL, &remote);
            remote.port = m->listen_port;
            c->point = remote;
            c->has_point = true;
            (void)point_learn(d, &remote);
        }
        d->st.connections_open++;
        return;
    }
    case TP_DEMO_POINTS:
        for (uint32_t i = 0; i < m->points_count; i++) (void)point_learn(d, &m->points[i]);
        return;
    case TP_DEMO_PING:
        if (m->id == d->id || !ping_is_new(d, m->id, m->seq)) {
            d->st.pings_duplicate++;
            return;
        }
        d->st.pings_unique++;
        int64_t delay = ping_delay(tp_env_now_ns(d->env), m->sent_ns);
        if (d->st.delay_count == 0 || delay < d->st.delay_ns_min) d->st.delay_ns_min = delay;
        if (delay > d->st.delay_ns_max) d->st.delay_ns_max = delay;
        d->st.delay_ns_sum = delay > INT64_MAX - d->st.delay_ns_sum ? INT64_MAX
                                                                    : d->st.delay_ns_sum + delay;
        d->st.delay_count++;
        if (d->delays_len < d->cfg.delays_max) d->delays[d->delays_len++] = delay;
        flood(d, c, m);
        return;
    }
}

static void on_data(void *arg, tp_stream *s, const uint8_t *data, size_t len) {
    demo_conn *c = arg;
    tp_demo *d = c->host;
    d->st.bytes_in += len;
    while (len > 0 && !c->closing) {
        size_t frame_len = c->rx_len >= 2 ? 2 + (size_t)load_be(c->rx, 2) : 2;
        size_t want = frame_len - c->rx_len;
        size_t n = want < len ? want : len;
        memcpy(c->rx + c->rx_len, data, n);
        c->rx_len += n;
        data += n;
        len -= n;
        if (c->rx_len == 2) {
            size_t body = (size_t)load_be(c->rx, 2);
            if (body == 0 || body > TP_DEMO_FRAME_MAX) { /* hostile length */
                d->st.frames_bad++;
                conn_reset(c);
                return;
            }
            continue;
        }
        if (c->rx_len < frame_len) continue;
        tp_demo_msg m;
        tp_err e = tp_demo_decode(c->rx + 2, c->rx_len - 2, &m);
        c->rx_len = 0;
        if (e != TP_OK) {
            d->st.frames_bad++;
            demo_event(d, c->has_point ? &c->point : NULL, e, "malformed frame: reset");
            conn_reset(c);
            return;
        }
        handle_msg(c, &m);
    }
}

static void on_writable(void *arg, tp_stream *s) {
    demo_conn *c = arg;
    tp_demo *d = c->host;
    if (c->closing || c->tx_len == 0) return;
    size_t taken = 0;
    if (tp_env_stream_write(d->env, s, c->tx, c->tx_len, &taken) != TP_OK) return;
    d->st.bytes_out += taken;
    memmove(c->tx, c->tx + taken, c->tx_len - taken);
    c->tx_len -= taken;
}

static void on_connect(void *arg, tp_stream *s) {
    demo_conn *c = arg;
    c->connected = true;
    conn_send_hello(c);
    conn_send_points(c);
}

static void on_eof(void *arg, tp_stream *s) {
    conn_close(arg); /* the peer is leaving: so do we */
}

static void conn_free(demo_conn *c) {
    const tp_env *env = c->host->env;
    tp_env_free(env, c->tx, c->tx_cap);
    tp_env_free(env, c, sizeof *c);
}

static void on_close(void *arg, tp_stream *s, tp_err reason) {
    demo_conn *c = arg;
    tp_demo *d = c->host;
    if (c->got_hello) {
        d->st.connections_open--;
    } else if (c->outgoing) {
        d->st.connect_failures++;
        demo_point *p = c->has_point ? point_find(d, &c->point) : NULL;
        if (p) {
            int64_t backoff = BACKOFF_NS_MIN << (p->failures < 5 ? p->failures : 5);
            if (backoff > BACKOFF_NS_MAX) backoff = BACKOFF_NS_MAX;
            p->failures++;
            p->retry_at_ns = tp_env_now_ns(d->env) + backoff;
        }
    }
    /* Remove, keeping arrival order (forwarding order must not depend on chance). */
    for (uint32_t i = 0; i < d->conns_len; i++) {
        if (d->conns[i] != c) continue;
        memmove(&d->conns[i], &d->conns[i + 1], (d->conns_len - i - 1) * sizeof d->conns[0]);
        d->conns_len--;
        break;
    }
    conn_free(c);
    if (d->stopping && d->conns_len == 0) tp_env_timer_start_in(d->env, &d->stopped_timer, 0);
}

static const tp_stream_cbs demo_cbs = {on_connect, on_data, on_eof, on_writable, on_close};

static demo_conn *conn_new(tp_demo *d) {
    if (d->conns_len >= d->cfg.connections_max) return NULL;
    demo_conn *c = tp_env_alloc(d->env, sizeof *c);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->host = d;
    return c;
}

static void on_accept(void *arg, tp_listener *l, tp_stream *s, const tp_point *remote) {
    tp_demo *d = arg;
    demo_conn *c = d->stopping ? NULL : conn_new(d);
    if (!c) {
        tp_env_stream_close(d->env, s); /* full: no callbacks were given, none come */
        return;
    }
    c->s = s;
    c->connected = true;
    d->conns[d->conns_len++] = c;
    d->st.connections_in++;
    tp_env_stream_adopt(d->env, s, &demo_cbs, c);
    conn_send_hello(c);
    conn_send_points(c);
}

/* ------------------------------------------------------------------------------------ */
/* timers                                                                               */

static void dial(tp_demo *d, demo_point *p) {
    demo_conn *c = conn_new(d);
    if (!c) return;
    c->outgoing = true;
    c->has_point = true;
    c->point = p->point;
    tp_err e = tp_env_stream_connect(d->env, &p->point, &demo_cbs, c, &c->s);
    if (e != TP_OK) {
        conn_free(c);
        p->failures++;
        p->retry_at_ns = tp_env_now_ns(d->env) + BACKOFF_NS_MAX;
        d->st.connect_failures++;
        return;
    }
    d->conns[d->conns_len++] = c;
}

static void maintenance(void *arg) {
    tp_demo *d = arg;
    int64_t now = tp_env_now_ns(d->env);
    uint32_t outgoing = 0;
    for (uint32_t i = 0; i < d->conns_len; i++)
        if (d->conns[i]->outgoing && !d->conns[i]->closing) outgoing++;
    /* Dial random idle points until K outgoing connections (or no candidate). */
    while (outgoing < d->cfg.peers_k && d->conns_len < d->cfg.connections_max) {
        uint32_t candidates = 0;
        for (uint32_t i = 0; i < d->points_len; i++) {
            const demo_point *p = &d->points[i];
            if (!p->self && p->retry_at_ns <= now && !point_busy(d, &p->point)) candidates++;
        }
        if (candidates == 0) break;
        uint64_t pick = tp_env_random_below(d->env, candidates);
        for (uint32_t i = 0; i < d->points_len; i++) {
            demo_point *p = &d->points[i];
            if (p->self || p->retry_at_ns > now || point_busy(d, &p->point)) continue;
            if (pick-- == 0) {
                dial(d, p);
                break;
            }
        }
        outgoing++; /* counts the attempt even if dial failed: no busy loop */
    }
    /* Gossip known points to one random ready peer. */
    uint32_t ready = 0;
    for (uint32_t i = 0; i < d->conns_len; i++) ready += conn_ready(d->conns[i]);
    if (ready > 0) {
        uint64_t pick = tp_env_random_below(d->env, ready);
        for (uint32_t i = 0; i < d->conns_len; i++) {
            if (!conn_ready(d->conns[i])) continue;
            if (pick-- == 0) {
                conn_send_points(d->conns[i]);
                break;
            }
        }
    }
    tp_env_timer_start_in(d->env, &d->maintenance_timer, d->cfg.maintenance_interval_ns);
}

static void ping_tick(void *arg) {
    tp_demo *d = arg;
    if (d->st.pings_originated >= d->cfg.pings) return;
    tp_demo_msg m;
    memset(&m, 0, sizeof m);
    m.tag = TP_DEMO_PING;
    m.id = d->id;
    m.seq = ++d->next_seq;
    m.sent_ns = tp_env_now_ns(d->env);
    d->st.pings_originated++;
    flood(d, NULL, &m);
    if (d->st.pings_originated < d->cfg.pings)
        tp_env_timer_start_in(d->env, &d->ping_timer, d->cfg.ping_interval_ns);
    else
        demo_event(d, NULL, (int32_t)d->st.pings_originated, "all pings originated");
}

static void stopped_tick(void *arg) {
    tp_demo *d = arg;
    demo_event(d, NULL, 0, "stopped");
    if (d->cfg.on_stopped) d->cfg.on_stopped(d->cfg.on_stopped_arg);
}

/* ------------------------------------------------------------------------------------ */
/* life cycle                                                                           */

void tp_demo_config_default(tp_demo_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->peers_k = 4;
    cfg->connections_max = 32;
    cfg->points_max = 256;
    cfg->delays_max = 4096;
    cfg->pings = 10;
    cfg->ping_interval_ns = 1000000000LL;
    cfg->ping_start_delay_ns = 2000000000LL;
    cfg->maintenance_interval_ns = 500000000LL;
}

tp_err tp_demo_create(const tp_env *env, const tp_demo_config *cfg, tp_demo **out) {
    if (cfg->listen.port == 0 || cfg->peers_k == 0 || cfg->connections_max < cfg->peers_k ||
        cfg->points_max == 0 || cfg->ping_interval_ns <= 0 ||
        cfg->maintenance_interval_ns <= 0 || cfg->ping_start_delay_ns < 0 ||
        (cfg->seeds_count > 0 && cfg->seeds == NULL))
        return TP_ERR_INVAL;
    tp_demo *d = tp_env_alloc(env, sizeof *d);
    if (!d) return TP_ERR_NOMEM;
    memset(d, 0, sizeof *d);
    d->env = env;
    d->cfg = *cfg;
    d->cfg.seeds = NULL;
    d->points = tp_env_alloc(env, sizeof(demo_point) * cfg->points_max);
    d->conns = tp_env_alloc(env, sizeof(demo_conn *) * cfg->connections_max);
    d->delays = cfg->delays_max ? tp_env_alloc(env, sizeof(int64_t) * cfg->delays_max) : NULL;
    if (!d->points || !d->conns || (cfg->delays_max && !d->delays)) {
        tp_demo_crash_drop(d);
        return TP_ERR_NOMEM;
    }
    d->id = cfg->id;
    while (d->id == 0) tp_env_random(env, &d->id, sizeof d->id);
    for (size_t i = 0; i < cfg->seeds_count; i++) (void)point_learn(d, &cfg->seeds[i]);
    tp_timer_init(&d->maintenance_timer, maintenance, d);
    tp_timer_init(&d->ping_timer, ping_tick, d);
    tp_timer_init(&d->stopped_timer, stopped_tick, d);
    *out = d;
    return TP_OK;
}

tp_err tp_demo_start(tp_demo *d) {
    TP_ASSERT(!d->started);
    TP_TRY(tp_env_listen(d->env, &d->cfg.listen, BACKLOG, on_accept, d, &d->listener));
    d->started = true;
    demo_event(d, &d->cfg.listen, 0, d->cfg.originate ? "started, originating" : "started");
    tp_env_timer_start_in(d->env, &d->maintenance_timer, 0);
    if (d->cfg.originate && d->cfg.pings > 0)
        tp_env_timer_start_in(d->env, &d->ping_timer, d->cfg.ping_start_delay_ns);
    return TP_OK;
}

void tp_demo_stop(tp_demo *d) {
    if (d->stopping) return;
    d->stopping = true;
    tp_env_timer_stop(d->env, &d->maintenance_timer);
    tp_env_timer_stop(d->env, &d->ping_timer);
    if (d->listener) {
        tp_env_listener_close(d->env, d->listener);
        d->listener = NULL;
    }
    for (uint32_t i = 0; i < d->conns_len; i++) {
        demo_conn *c = d->conns[i];
        if (!c->connected && !c->closing) {
            c->closing = true;
            tp_env_stream_close(d->env, c->s); /* not connected: on_close(CANCELLED) */
        } else {
            conn_close(c);
        }
    }
    if (d->conns_len == 0) tp_env_timer_start_in(d->env, &d->stopped_timer, 0);
}

bool tp_demo_is_stopped(const tp_demo *d) {
    return d->stopping && d->conns_len == 0;
}

void tp_demo_destroy(tp_demo *d) {
    if (!d) return;
    TP_ASSERT(!d->started || tp_demo_is_stopped(d)); /* stop, then wait for on_stopped */
    tp_env_timer_stop(d->env, &d->stopped_timer);
    tp_env_timer_stop(d->env, &d->maintenance_timer);
    tp_env_timer_stop(d->env, &d->ping_timer);
    tp_demo_crash_drop(d);
}

void tp_demo_crash_drop(tp_demo *d) {
    if (!d) return;
    const tp_env *env = d->env;
    for (uint32_t i = 0; i < d->conns_len; i++) conn_free(d->conns[i]);
    tp_env_free(env, d->points, sizeof(demo_point) * d->cfg.points_max);
    tp_env_free(env, d->conns, sizeof(demo_conn *) * d->cfg.connections_max);
    tp_env_free(env, d->delays, sizeof(int64_t) * d->cfg.delays_max);
    tp_env_free(env, d, sizeof *d);
}

void tp_demo_get_stats(const tp_demo *d, tp_demo_stats *out) {
    *out = d->st;
    out->points_known = d->points_len;
}

const int64_t *tp_demo_delays(const tp_demo *d, size_t *count) {
    *count = d->delays_len;
    return d->delays;
}

uint64_t tp_demo_id(const tp_demo *d) {
    return d->id;
}
