/* tests/test_simnet_util.h — shared fixture for the simnet tests (test_simnet*.c):
 * a "probe" stream endpoint that records every callback (with its virtual time) and
 * can send a buffer with back-pressure, plus a listener that adopts into a pool of
 * probes. Header-only (static functions) so each test file stays one executable. */
#ifndef TP_TEST_SIMNET_UTIL_H
#define TP_TEST_SIMNET_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "simnet/sim.h"

#define MS 1000000LL
#define SEC 1000000000LL

/* Every callback the env may deliver, in order, so tests can check ordering rules. */
enum { EV_CONNECT = 1, EV_DATA, EV_EOF, EV_WRITABLE, EV_CLOSE };

typedef struct probe {
    const tp_env *env;
    tp_stream *s;
    bool used;
    /* received */
    uint8_t *rx;
    size_t rx_len, rx_cap;
    size_t data_calls;
    size_t max_piece, min_piece;
    int64_t first_data_ns, last_data_ns;
    /* lifecycle */
    int connects, eofs, writables, closes;
    int callbacks_after_close;
    tp_err reason;
    int64_t connect_ns, close_ns, eof_ns;
    char log[256];
    size_t log_len;
    /* sending */
    const uint8_t *tx;
    size_t tx_len, tx_off;
    bool close_after_send;
    bool reset_on_eof;
    bool close_on_eof;
    bool pause_on_accept;
    bool echo; /* write back whatever arrives (unbounded buffer in pend) */
    uint8_t *pend;
    size_t pend_len, pend_cap;
} probe;

static inline int64_t now_of(const probe *p) { return tp_env_now_ns(p->env); }

static void probe_log(probe *p, char c) {
    if (p->closes > 0) p->callbacks_after_close++;
    if (p->log_len + 1 < sizeof p->log) {
        p->log[p->log_len++] = c;
        p->log[p->log_len] = 0;
    }
}

static void append(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *d, size_t n) {
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n) c *= 2;
        *buf = realloc(*buf, c);
        assert_non_null(*buf);
        *cap = c;
    }
    memcpy(*buf + *len, d, n);
    *len += n;
}

static void probe_pump(probe *p) {
    while (p->s && p->tx_off < p->tx_len) {
        size_t taken = 0;
        tp_err e = tp_env_stream_write(p->env, p->s, p->tx + p->tx_off, p->tx_len - p->tx_off, &taken);
        if (e != TP_OK) return;
        p->tx_off += taken;
        if (taken == 0 || p->tx_off < p->tx_len) return;
    }
    while (p->s && p->echo && p->pend_len > 0) {
        size_t taken = 0;
        if (tp_env_stream_write(p->env, p->s, p->pend, p->pend_len, &taken) != TP_OK) return;
        memmove(p->pend, p->pend + taken, p->pend_len - taken);
        p->pend_len -= taken;
        if (taken == 0) return;
    }
    if (p->s && p->close_after_send && p->tx_off == p->tx_len) {
        p->close_after_send = false;
        tp_env_stream_close(p->env, p->s);
    }
}

static void cb_connect(void *arg, tp_stream *s) {
    probe *p = arg;
    assert_ptr_equal(s, p->s);
    probe_log(p, 'C');
    p->connects++;
    p->connect_ns = now_of(p);
    probe_pump(p);
}

static void cb_data(void *arg, tp_stream *s, const uint8_t *d, size_t n) {
    probe *p = arg;
    assert_ptr_equal(s, p->s);
    assert_true(n > 0);
    probe_log(p, 'D');
    if (p->data_calls == 0) {
        p->first_data_ns = now_of(p);
        p->min_piece = n;
    }
    p->data_calls++;
    if (n > p->max_piece) p->max_piece = n;
    if (n < p->min_piece) p->min_piece = n;
    p->last_data_ns = now_of(p);
    append(&p->rx, &p->rx_len, &p->rx_cap, d, n);
    if (p->echo) {
        append(&p->pend, &p->pend_len, &p->pend_cap, d, n);
        probe_pump(p);
    }
}

static void cb_eof(void *arg, tp_stream *s) {
    probe *p = arg;
    assert_ptr_equal(s, p->s);
    probe_log(p, 'E');
    p->eofs++;
    p->eof_ns = now_of(p);
    if (p->reset_on_eof) {
        tp_env_stream_reset(p->env, s);
    } else if (p->close_on_eof) {
        tp_env_stream_close(p->env, s);
    }
}

static void cb_writable(void *arg, tp_stream *s) {
    probe *p = arg;
    assert_ptr_equal(s, p->s);
    probe_log(p, 'W');
    p->writables++;
    probe_pump(p);
}

static void cb_close(void *arg, tp_stream *s, tp_err reason) {
    probe *p = arg;
    assert_ptr_equal(s, p->s);
    probe_log(p, 'X');
    p->closes++;
    p->reason = reason;
    p->close_ns = now_of(p);
    p->s = NULL;
}

static const tp_stream_cbs probe_cbs = {cb_connect, cb_data, cb_eof, cb_writable, cb_close};

static void probe_free(probe *p) {
    free(p->rx);
    free(p->pend);
    memset(p, 0, sizeof *p);
}

/* A server: accepts into the first unused probe of `pool`. */
typedef struct server {
    const tp_env *env;
    tp_listener *l;
    probe pool[16];
    int accepted;
    bool echo;
    bool close_after_send;
    bool pause_on_accept;
    bool close_on_eof;
    bool reset_in_accept;
    const uint8_t *tx;
    size_t tx_len;
    int64_t accept_ns;
} server;

static void srv_accept(void *arg, tp_listener *l, tp_stream *s, const tp_point *remote) {
    server *sv = arg;
    (void)l;
    (void)remote;
    sv->accept_ns = tp_env_now_ns(sv->env);
    if (sv->reset_in_accept) {
        tp_env_stream_reset(sv->env, s);
        return;
    }
    for (size_t i = 0; i < sizeof sv->pool / sizeof sv->pool[0]; i++) {
        probe *p = &sv->pool[i];
        if (p->used) continue;
        p->used = true;
        p->env = sv->env;
        p->s = s;
        p->echo = sv->echo;
        p->tx = sv->tx;
        p->tx_len = sv->tx_len;
        p->close_after_send = sv->close_after_send;
        p->close_on_eof = sv->close_on_eof;
        sv->accepted++;
        tp_env_stream_adopt(sv->env, s, &probe_cbs, p);
        if (sv->pause_on_accept) tp_env_stream_read_pause(sv->env, s);
        probe_pump(p);
        return;
    }
    tp_env_stream_close(sv->env, s); /* pool full */
}

static void server_listen(server *sv, sim_host *h, uint16_t port, int backlog) {
    sv->env = sim_host_env(h);
    tp_point local = {{{0}}, port};
    assert_int_equal(tp_env_listen(sv->env, &local, backlog, srv_accept, sv, &sv->l), TP_OK);
}

static void server_free(server *sv) {
    for (size_t i = 0; i < sizeof sv->pool / sizeof sv->pool[0]; i++) probe_free(&sv->pool[i]);
}

static void probe_connect(probe *p, sim_host *from, sim_host *to, uint16_t port) {
    p->env = sim_host_env(from);
    p->used = true;
    tp_point remote = {sim_host_ip(to), port};
    assert_int_equal(tp_env_stream_connect(p->env, &remote, &probe_cbs, p, &p->s), TP_OK);
}

/* A world with `n` hosts in region 0 (10.0.0.x). cfg NULL: defaults with the given
 * one-way latency and jitter; otherwise *cfg as given (its seed replaced by `seed`). */
static sim_world *make_world(uint64_t seed, uint32_t n, int64_t latency_ns, int64_t jitter_ns,
                             const sim_world_config *cfg_in) {
    sim_world_config cfg;
    sim_world_config_default(&cfg);
    cfg.default_latency.base_ns = latency_ns;
    cfg.default_latency.jitter_ns = jitter_ns;
    if (cfg_in) cfg = *cfg_in;
    cfg.seed = seed;
    sim_world *w = NULL;
    assert_int_equal(sim_world_create(&cfg, &w), TP_OK);
    uint32_t first;
    if (n) assert_int_equal(sim_hosts_add_in_region(w, 0, n, NULL, &first), TP_OK);
    printf("# seed %llu\n", (unsigned long long)seed);
    return w;
}

static uint8_t *pattern(size_t n, uint32_t salt) {
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    uint32_t x = 2463534242u ^ salt;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (uint8_t)x;
    }
    return b;
}

#endif
