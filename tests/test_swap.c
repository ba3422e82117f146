/* tests/test_swap.c — core/swap (spec §5.6) on a fake network: N nodes, each with its
 * own pool and tp_swap, sharing one mock env; connections are edges of a graph;
 * messages and dial completions are queued and delivered in order by a pump (never
 * inside the call that sent them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "core/swap.h"
#include "tests/mock_env.h"

#define S_NS ((int64_t)1000000000)
#define NMAX 8
#define QMAX 256

static tp_point pt(uint32_t n) {
    return tp_point_v4(0x0a000000 | (n + 1), 9732);
}
static tp_peer_id pid(uint32_t n) {
    tp_peer_id id;
    memset(&id, 0, sizeof id);
    id.bytes[0] = (uint8_t)(n + 1);
    id.bytes[15] = 0xaa;
    return id;
}

typedef enum { Q_REQUEST, Q_ACK, Q_CONNECT } qkind;

typedef struct qitem {
    qkind kind;
    uint32_t from, to;
    tp_point point;
    tp_peer_id peer;
    tp_worker_connect_cb done;
    void *done_arg;
} qitem;

struct world;
typedef struct wnode {
    struct world *w;
    uint32_t index;
    tp_pool pool;
    tp_swap swap;
    bool private_node;
    bool alive; /* answers dials */
} wnode;

typedef struct world {
    mock_env m;
    uint32_t n;
    wnode nodes[NMAX];
    bool edge[NMAX][NMAX];
    qitem q[QMAX];
    uint32_t qhead, qtail;
    uint32_t disconnect_swapped;
} world;

static void push(world *w, qitem it) {
    assert_true(w->qtail - w->qhead < QMAX);
    w->q[w->qtail++ % QMAX] = it;
}

static int32_t node_of_point(world *w, const tp_point *p) {
    for (uint32_t i = 0; i < w->n; i++) {
        tp_point x = pt(i);
        if (tp_point_eq(&x, p)) return (int32_t)i;
    }
    return -1;
}

static size_t op_connections(void *arg, tp_conn_view *out, size_t cap) {
    wnode *a = arg;
    world *w = a->w;
    size_t k = 0;
    for (uint32_t b = 0; b < w->n; b++) {
        if (!w->edge[a->index][b]) continue;
        if (k < cap) {
            out[k].conn = (void *)(uintptr_t)(b + 1);
            out[k].peer_id = pid(b);
            out[k].point = pt(b);
            out[k].private_peer = w->nodes[b].private_node;
            out[k].trusted = false;
        }
        k++;
    }
    return k;
}

static bool op_send_request(void *arg, void *conn, const tp_point *point, const tp_peer_id *peer) {
    wnode *a = arg;
    push(a->w, (qitem){Q_REQUEST, a->index, (uint32_t)(uintptr_t)conn - 1, *point, *peer, NULL, NULL});
    return true;
}

static bool op_send_ack(void *arg, void *conn, const tp_point *point, const tp_peer_id *peer) {
    wnode *a = arg;
    push(a->w, (qitem){Q_ACK, a->index, (uint32_t)(uintptr_t)conn - 1, *point, *peer, NULL, NULL});
    return true;
}

static tp_err op_connect(void *arg, const tp_point *point, tp_worker_connect_cb done, void *done_arg) {
    wnode *a = arg;
    push(a->w, (qitem){Q_CONNECT, a->index, 0, *point, {{0}}, done, done_arg});
    return TP_OK;
}

static void op_disconnect(void *arg, void *conn, tp_worker_disconnect_reason reason) {
    wnode *a = arg;
    world *w = a->w;
    uint32_t b = (uint32_t)(uintptr_t)conn - 1;
    assert_true(w->edge[a->index][b]);
    assert_int_equal(reason, TP_DISCONNECT_PEER_SWAPPED);
    w->edge[a->index][b] = w->edge[b][a->index] = false;
    w->disconnect_swapped++;
    tp_peer_id pa = pid(a->index), pb = pid(b);
    tp_swap_on_disconnection(&a->swap, &pb);
    tp_swap_on_disconnection(&w->nodes[b].swap, &pa);
}

static void pump(world *w) {
    while (w->qhead != w->qtail) {
        qitem it = w->q[w->qhead++ % QMAX];
        switch (it.kind) {
        case Q_REQUEST:
        case Q_ACK: {
            if (!w->edge[it.from][it.to]) break; /* the connection is gone */
            tp_peer_id src = pid(it.from);
            void *conn = (void *)(uintptr_t)(it.from + 1);
            if (it.kind == Q_REQUEST)
                tp_swap_on_request(&w->nodes[it.to].swap, conn, &src, &it.point, &it.peer);
            else
                tp_swap_on_ack(&w->nodes[it.to].swap, conn, &src, &it.point, &it.peer);
            break;
        }
        case Q_CONNECT: {
            int32_t b = node_of_point(w, &it.point);
            bool ok = b >= 0 && (uint32_t)b != it.from && w->nodes[b].alive &&
                      !w->edge[it.from][b];
            if (ok) w->edge[it.from][b] = w->edge[b][it.from] = true;
            it.done(it.done_arg, ok ? TP_OK : TP_ERR_CONN_REFUSED);
            break;
        }
        }
    }
}

static void world_init(world *w, uint64_t seed, uint32_t n, int64_t linger_ns) {
    printf("seed %llu\n", (unsigned long long)seed);
    memset(w, 0, sizeof *w);
    mock_env_init(&w->m, seed);
    w->n = n;
    for (uint32_t i = 0; i < n; i++) {
        wnode *a = &w->nodes[i];
        a->w = w;
        a->index = i;
        a->alive = true;
        tp_pool_config pc;
        tp_pool_config_default(&pc);
        tp_pool_init(&a->pool, &w->m.env, &pc, NULL);
        tp_swap_config sc;
        tp_swap_config_default(&sc);
        sc.swap_linger_ns = linger_ns;
        tp_swap_ops ops = {op_connections, op_send_request, op_send_ack, op_connect, op_disconnect, a};
        tp_swap_init(&a->swap, &w->m.env, &a->pool, &sc, &ops);
    }
}

static void world_deinit(world *w) {
    for (uint32_t i = 0; i < w->n; i++) {
        tp_swap_deinit(&w->nodes[i].swap);
        tp_pool_deinit(&w->nodes[i].pool);
    }
    assert_int_equal(mock_env_bytes_allocated(&w->m), 0);
}

static void link_(world *w, uint32_t a, uint32_t b) {
    w->edge[a][b] = w->edge[b][a] = true;
}

static uint32_t edges_mask(const world *w) {
    uint32_t mask = 0;
    for (uint32_t a = 0; a < w->n; a++)
        for (uint32_t b = a + 1; b < w->n; b++)
            if (w->edge[a][b]) mask |= 1u << (a * 5 + b);
    return mask;
}

static uint32_t mask_of(const uint32_t (*pairs)[2], size_t n) {
    uint32_t mask = 0;
    for (size_t i = 0; i < n; i++) mask |= 1u << (pairs[i][0] * 5 + pairs[i][1]);
    return mask;
}

enum { B1 = 0, A1 = 1, SW = 2, A2 = 3, B2 = 4 };

static void line_topology(world *w) {
    link_(w, B1, A1);
    link_(w, A1, SW);
    link_(w, SW, A2);
    link_(w, A2, B2);
}

/* Octez's p2p-swap: 1b-1a-swaper-2a-2b ends as 1b-swaper-1a-2a-2b or
 * 1b-1a-2a-swaper-2b; over seeds, both shapes happen. */
static void test_swap_line(void **state) {
    (void)state;
    const uint32_t shape1[][2] = {{B1, SW}, {A1, SW}, {A1, A2}, {A2, B2}};
    const uint32_t shape2[][2] = {{B1, A1}, {A1, A2}, {SW, A2}, {SW, B2}};
    uint32_t m1 = mask_of(shape1, 4), m2 = mask_of(shape2, 4);
    int seen1 = 0, seen2 = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        world w;
        world_init(&w, seed, 5, 30 * S_NS);
        line_topology(&w);
        assert_true(tp_swap_send_request(&w.nodes[SW].swap));
        pump(&w);
        uint32_t got = edges_mask(&w);
        assert_true(got == m1 || got == m2);
        if (got == m1) seen1++;
        else seen2++;
        assert_int_equal(w.disconnect_swapped, 2);
        assert_int_equal(w.nodes[SW].swap.successes, 1);
        world_deinit(&w);
    }
    assert_true(seen1 > 0 && seen2 > 0);
}

/* With swap disabled (no linger) nothing changes: the initiator still sends its
 * request (issue 18, item 3: Octez's swap_linger = None only stops the answers in
 * p2p_protocol.ml swap_request / swap_ack; p2p_maintenance.ml `maintain` still calls
 * send_swap_request), and a recipient with swap disabled ignores it. */
static void test_swap_disabled(void **state) {
    (void)state;
    world w;
    world_init(&w, 2, 5, 0);
    line_topology(&w);
    uint32_t before = edges_mask(&w);
    assert_true(tp_swap_send_request(&w.nodes[SW].swap));
    assert_int_equal(w.nodes[SW].swap.requests_sent, 1);
    pump(&w);
    assert_int_equal(edges_mask(&w), before);
    /* a private node proposes nothing */
    w.nodes[SW].swap.cfg.private_mode = true;
    assert_false(tp_swap_send_request(&w.nodes[SW].swap));
    w.nodes[SW].swap.cfg.private_mode = false;
    uint64_t ignored_before = w.nodes[A1].swap.requests_ignored;
    /* a request arriving is ignored */
    tp_peer_id src = pid(SW), p2 = pid(A2);
    tp_point a2 = pt(A2);
    assert_false(tp_swap_on_request(&w.nodes[A1].swap, (void *)(uintptr_t)(SW + 1), &src, &a2, &p2));
    pump(&w);
    assert_int_equal(edges_mask(&w), before);
    assert_int_equal(w.nodes[A1].swap.requests_ignored, ignored_before + 1);
    assert_int_equal(w.m.event_counts[TP_EVENT_SWAP_ACK_SENT], 0);
    world_deinit(&w);
}

/* swap_linger: after an accepted swap, requests within 30 s are ignored; after 30 s
 * one is accepted again. A failed swap resets latest_accepted to latest_successful. */
static void test_swap_linger(void **state) {
    (void)state;
    world w;
    world_init(&w, 3, 8, 30 * S_NS);
    /* R = 0 connected to 1..4; 5, 6, 7 are outsiders proposed by the requests */
    for (uint32_t i = 1; i <= 4; i++) link_(&w, 0, i);
    tp_swap *r = &w.nodes[0].swap;
    tp_peer_id s1 = pid(1), s2 = pid(2);
    tp_point x5 = pt(5), x6 = pt(6), x7 = pt(7);
    tp_peer_id p5 = pid(5), p6 = pid(6), p7 = pid(7);
    /* no ack from 1 back: the initiator side has no record, it is ignored there */
    assert_true(tp_swap_on_request(r, (void *)2, &s1, &x5, &p5));
    pump(&w);
    assert_true(w.edge[0][5]);
    assert_int_equal(r->successes, 1);
    mock_env_advance(&w.m, 10 * S_NS);
    assert_false(tp_swap_on_request(r, (void *)3, &s2, &x6, &p6));
    pump(&w);
    assert_false(w.edge[0][6]);
    mock_env_advance(&w.m, 19 * S_NS); /* 29 s after the success */
    assert_false(tp_swap_on_request(r, (void *)3, &s2, &x6, &p6));
    mock_env_advance(&w.m, 1 * S_NS); /* 30 s */
    assert_true(tp_swap_on_request(r, (void *)3, &s2, &x6, &p6));
    pump(&w);
    assert_true(w.edge[0][6]);
    assert_int_equal(w.m.event_counts[TP_EVENT_SWAP_REQUEST_IGNORED], 2);
    /* a failure does not hold the next request back beyond the last success */
    mock_env_advance(&w.m, 30 * S_NS);
    w.nodes[7].alive = false;
    tp_peer_id s3 = pid(3);
    assert_true(tp_swap_on_request(r, (void *)4, &s3, &x7, &p7));
    pump(&w);
    assert_false(w.edge[0][7]);
    assert_int_equal(r->failures, 1);
    w.nodes[7].alive = true;
    assert_true(tp_swap_on_request(r, (void *)4, &s3, &x7, &p7)); /* at once */
    pump(&w);
    assert_true(w.edge[0][7]);
    /* a proposed point that is not Disconnected in our pool: ignored, and the
     * request does not register unknown points (the connect handler does) */
    mock_env_advance(&w.m, 31 * S_NS);
    tp_point_info *pi;
    tp_point x1 = pt(1);
    assert_int_equal(tp_pool_register_point(&w.nodes[0].pool, &x1, -1, NULL, &pi), TP_OK);
    tp_point_set_requested(&w.nodes[0].pool, pi);
    uint32_t ign = w.m.event_counts[TP_EVENT_SWAP_REQUEST_IGNORED];
    assert_false(tp_swap_on_request(r, (void *)4, &s3, &x1, &p5));
    assert_int_equal(w.m.event_counts[TP_EVENT_SWAP_REQUEST_IGNORED], ign + 1);
    uint32_t known = tp_pool_points_count(&w.nodes[0].pool);
    tp_point far = tp_point_v4(0xc0a80001, 9732);
    assert_true(tp_swap_on_request(r, (void *)4, &s3, &far, &p5));
    assert_int_equal(tp_pool_points_count(&w.nodes[0].pool), known);
    pump(&w); /* the dial to an unknown host fails */
    world_deinit(&w);
}

/* Private peers are never recipients nor proposed; a private node neither initiates
 * nor answers. An ack is only taken from a connection we asked, once. */
static void test_swap_private_and_acks(void **state) {
    (void)state;
    world w;
    world_init(&w, 4, 5, 30 * S_NS);
    line_topology(&w);
    w.nodes[A2].private_node = true;
    /* the only candidates left: 1a as recipient and nobody to propose */
    for (int i = 0; i < 10; i++) assert_false(tp_swap_send_request(&w.nodes[SW].swap));
    assert_int_equal(w.m.event_counts[TP_EVENT_SWAP_REQUEST_SENT], 0);
    world_deinit(&w);
    /* a private node (configured so) ignores requests and sends none */

    world_init(&w, 5, 5, 30 * S_NS);
    line_topology(&w);
    w.nodes[A1].swap.cfg.private_mode = true;
    tp_peer_id src = pid(SW), p2 = pid(A2);
    tp_point a2 = pt(A2);
    assert_false(tp_swap_on_request(&w.nodes[A1].swap, (void *)(uintptr_t)(SW + 1), &src, &a2, &p2));
    assert_false(tp_swap_send_request(&w.nodes[A1].swap));
    /* unsolicited ack: ignored */
    tp_peer_id sa1 = pid(A1), pb1 = pid(B1);
    tp_point b1 = pt(B1);
    assert_false(tp_swap_on_ack(&w.nodes[SW].swap, (void *)(uintptr_t)(A1 + 1), &sa1, &b1, &pb1));
    pump(&w);
    assert_false(w.edge[SW][B1]);
    /* an ack for a point we are already connected to: ignored */
    assert_true(tp_swap_send_request(&w.nodes[SW].swap)); /* to A1 or A2, proposing the other */
    tp_point a1p = pt(A1);
    tp_peer_id sa2 = pid(A2);
    assert_false(tp_swap_on_ack(&w.nodes[SW].swap, (void *)(uintptr_t)(A2 + 1), &sa2, &a1p, &sa1));
    assert_false(tp_swap_on_ack(&w.nodes[SW].swap, (void *)(uintptr_t)(A1 + 1), &sa1, &a1p, &sa1));
    world_deinit(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_line),
        cmocka_unit_test(test_swap_disabled),
        cmocka_unit_test(test_swap_linger),
        cmocka_unit_test(test_swap_private_and_acks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
