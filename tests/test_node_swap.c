/* tests/test_node_swap.c — issue 5's acceptance for the swap protocol and private mode,
 * on complete nodes over simnet (core/node.h handles Swap_request / Swap_ack through
 * core/swap.h; the test adds no glue): Octez's 1b-1a-swaper-2a-2b line (spec §5.6,
 * §12), swap disabled, swap_linger, and a private node that connects only to its
 * trusted points, is never advertised and never proposed in a swap (spec §7.4). Every
 * test prints its seed. */
#include "tests/sim_harness.h"

static bool nodes_linked(hs *h, uint32_t a, uint32_t b) {
    tp_conn *c = tp_node_conn_of_peer(h->nodes[a].node, tp_node_peer_id(h->nodes[b].node));
    return c != NULL && tp_conn_is_running(c);
}

static uint32_t nodes_edges(hs *h) {
    uint32_t mask = 0;
    for (uint32_t a = 0; a < 5; a++)
        for (uint32_t b = a + 1; b < 5; b++) {
            bool ab = nodes_linked(h, a, b);
            assert_int_equal(ab, nodes_linked(h, b, a)); /* both sides agree */
            if (ab) mask |= 1u << (a * 5 + b);
        }
    return mask;
}

#define EDGE(a, b) (1u << ((a) * 5 + (b)))

static bool swap_disabled;
static void swap_cfg(hs_node *hn, uint32_t i) {
    (void)i;
    hs_no_workers(&hn->cfg); /* no maintenance: only the swap changes the graph */
    hn->cfg.swap_linger_ns = swap_disabled ? 0 : 30 * HS_S;
}

/* Octez's p2p-swap: 1b-1a-swaper-2a-2b (nodes 0-1-2-3-4); the swaper proposes a swap.
 * It ends as 1b-swaper-1a-2a-2b or 1b-1a-2a-swaper-2b (both happen over seeds); with
 * swap disabled (swap_linger 0) the request is still sent, as Octez's maintenance
 * sends it (p2p_maintenance.ml `maintain` -> send_swap_request; swap_linger = None only
 * stops the answers in p2p_protocol.ml), the recipient ignores it and the line does
 * not change. */
static void test_swap_line(void **state) {
    (void)state;
    const uint32_t shape1 = EDGE(0, 2) | EDGE(1, 2) | EDGE(1, 3) | EDGE(3, 4);
    const uint32_t shape2 = EDGE(0, 1) | EDGE(1, 3) | EDGE(2, 3) | EDGE(2, 4);
    const uint32_t line = EDGE(0, 1) | EDGE(1, 2) | EDGE(2, 3) | EDGE(3, 4);
    int seen1 = 0, seen2 = 0;
    for (uint64_t seed = 1; seed <= 9; seed++) {
        swap_disabled = seed == 9;
        hs *h = hs_create(300 + seed, 5, swap_cfg);
        hs_start_all(h);
        for (uint32_t i = 0; i < 4; i++) assert_int_equal(hs_connect(h, i, i + 1), TP_OK);
        hs_run_for(h, 5 * HS_S);
        assert_int_equal(nodes_edges(h), line);
        tp_swap *sw = tp_node_swap(h->nodes[2].node);
        assert_int_equal(tp_swap_enabled(sw), !swap_disabled);
        bool sent = tp_swap_send_request(sw);
        hs_run_for(h, 20 * HS_S);
        uint32_t got = nodes_edges(h);
        if (swap_disabled) {
            assert_true(sent);
            /* one request, one SWAP_REQUEST_RECEIVED (it was logged twice, by the
             * connect handler and the swap; Octez logs it once, p2p_protocol.ml) */
            assert_int_equal(h->events[1][TP_EVENT_SWAP_REQUEST_RECEIVED] +
                                 h->events[3][TP_EVENT_SWAP_REQUEST_RECEIVED], 1);
            assert_int_equal(h->events[1][TP_EVENT_SWAP_ACK_SENT] +
                                 h->events[3][TP_EVENT_SWAP_ACK_SENT], 0);
            assert_int_equal(got, line);
        } else {
            assert_true(sent);
            assert_true(got == shape1 || got == shape2);
            if (got == shape1)
                seen1++;
            else
                seen2++;
        }
        hs_destroy(h);
    }
    printf("shapes: %d x 1b-swaper-1a-2a-2b, %d x 1b-1a-2a-swaper-2b\n", seen1, seen2);
    assert_true(seen1 > 0 && seen2 > 0);
}

/* Writes Swap_request(point of node `target`, its peer id) from node `from` to node
 * `to` over their connection. */
static void send_swap_request(hs *h, uint32_t from, uint32_t to, uint32_t target) {
    tp_p2p_msg m;
    memset(&m, 0, sizeof m);
    m.tag = TP_MSG_SWAP_REQUEST;
    m.points_count = 1;
    m.points[0] = hs_point(h, target);
    m.peer_id = *tp_node_peer_id(h->nodes[target].node);
    uint8_t frame[128];
    size_t len;
    assert_int_equal(tp_p2p_msg_encode(&m, frame, sizeof frame, &len), TP_OK);
    tp_conn *c = tp_node_conn_of_peer(h->nodes[from].node, tp_node_peer_id(h->nodes[to].node));
    assert_non_null(c);
    assert_int_equal(tp_conn_write_frame(c, frame, len, false), TP_OK);
}

static void linger_cfg(hs_node *hn, uint32_t i) {
    (void)i;
    hs_no_workers(&hn->cfg);
    hn->cfg.swap_linger_ns = 30 * HS_S;
}

/* swap_linger (spec §5.6): node 0 (connected to 1, 2, 3) accepts a Swap_request from 1
 * (dials the proposed node 4, drops the peer it offered), ignores one from another
 * neighbour 5 s later (SWAP_REQUEST_IGNORED, no dial), and accepts again once 30 s
 * have passed since the accepted one. */
static void test_swap_linger(void **state) {
    (void)state;
    hs *h = hs_create(41, 7, linger_cfg);
    hs_start_all(h);
    for (uint32_t i = 1; i <= 3; i++) assert_int_equal(hs_connect(h, 0, i), TP_OK);
    hs_run_for(h, 3 * HS_S);
    tp_swap *sw = tp_node_swap(h->nodes[0].node);
    send_swap_request(h, 1, 0, 4);
    hs_run_for(h, 3 * HS_S);
    assert_int_equal(h->events[0][TP_EVENT_SWAP_ACK_SENT], 1);
    assert_true(nodes_linked(h, 0, 4));
    assert_int_equal(sw->successes, 1);
    /* one of 2, 3 was offered and dropped; the other sends the next request */
    uint32_t other = nodes_linked(h, 0, 2) ? 2 : 3;
    assert_true(nodes_linked(h, 0, other));
    uint32_t ignored = h->events[0][TP_EVENT_SWAP_REQUEST_IGNORED];
    send_swap_request(h, other, 0, 5);
    hs_run_for(h, 3 * HS_S);
    assert_int_equal(h->events[0][TP_EVENT_SWAP_REQUEST_IGNORED], ignored + 1);
    assert_int_equal(h->events[0][TP_EVENT_SWAP_ACK_SENT], 1);
    assert_false(nodes_linked(h, 0, 5));
    /* 30 s after the accepted one: accepted again (from node 4, a fresh connection) */
    hs_run_for(h, 25 * HS_S);
    send_swap_request(h, 4, 0, 6);
    hs_run_for(h, 3 * HS_S);
    assert_int_equal(h->events[0][TP_EVENT_SWAP_ACK_SENT], 2);
    assert_true(nodes_linked(h, 0, 6));
    printf("swaps: %llu successes, %u ignored\n", (unsigned long long)sw->successes,
           h->events[0][TP_EVENT_SWAP_REQUEST_IGNORED]);
    hs_destroy(h);
}

/* ---- private mode (spec §7.4) --------------------------------------------------------- */

#define PRIV_NODES 12
#define PRIV 11

static void priv_cfg(hs_node *hn, uint32_t i) {
    hs_workers(&hn->cfg);
    hn->cfg.peers_file = NULL;
    hn->cfg.min_connections = 2;
    hn->cfg.expected_connections = 4;
    hn->cfg.max_connections = 6;
    hn->cfg.swap_linger_ns = 2 * HS_S;          /* many swaps */
    hn->cfg.maintenance_idle_time_ns = 10 * HS_S; /* frequent cycles: swap proposals */
    hn->cfg.swap_cooldown_ns = 1 * HS_S;
    if (i == PRIV) {
        /* the private node trusts nodes 0 and 1 */
        hn->cfg.private_mode = true;
        hn->cfg.trusted_points_count = 2;
        for (uint32_t k = 0; k < 2; k++) {
            memset(&hn->cfg.trusted_points[k], 0, sizeof hn->cfg.trusted_points[k]);
            hn->cfg.trusted_points[k].point = hs_point(hn->hs, k);
        }
    } else {
        hn->cfg.trusted_points_count = 1; /* everyone else bootstraps from node 2 */
        memset(&hn->cfg.trusted_points[0], 0, sizeof hn->cfg.trusted_points[0]);
        hn->cfg.trusted_points[0].point = hs_point(hn->hs, 2);
    }
}

/* A private node among 11 public ones that swap often: it connects only to its trusted
 * points (0, 1), sends no Bootstrap and no swap request, and nobody else ever learns
 * its point (never advertised, never proposed in a swap — a swap proposal would give
 * the recipient its point), while swaps do happen around it. */
static void test_private_node(void **state) {
    (void)state;
    hs *h = hs_create(51, PRIV_NODES, priv_cfg);
    hs_start_all(h);
    hs_run_for(h, 180 * HS_S);
    tp_node *p = h->nodes[PRIV].node;
    uint32_t conns = 0;
    tp_point t0 = hs_point(h, 0), t1 = hs_point(h, 1);
    for (tp_conn *c = tp_node_first_conn(p); c != NULL; c = c->next) {
        if (!tp_conn_is_running(c)) continue;
        conns++;
        assert_true(tp_ip_eq(&c->remote_addr.ip, &t0.ip) || tp_ip_eq(&c->remote_addr.ip, &t1.ip));
    }
    assert_true(conns >= 1);
    assert_int_equal(h->events[PRIV][TP_EVENT_BOOTSTRAP_SENT], 0);
    assert_int_equal(h->events[PRIV][TP_EVENT_SWAP_REQUEST_SENT], 0);
    assert_int_equal(tp_node_swap(p)->requests_sent, 0);
    tp_point pp = hs_point(h, PRIV);
    uint64_t swaps = 0;
    for (uint32_t i = 0; i < PRIV_NODES; i++) {
        if (i == PRIV) continue;
        swaps += tp_node_swap(h->nodes[i].node)->successes;
        if (i <= 1) continue;
        assert_null(tp_pool_point(tp_node_pool(h->nodes[i].node), &pp));
        assert_null(tp_node_conn_of_peer(h->nodes[i].node, tp_node_peer_id(p)));
    }
    printf("private node: %u connections; swaps around it: %llu\n", conns,
           (unsigned long long)swaps);
    assert_true(swaps > 0);
    hs_destroy(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_line),
        cmocka_unit_test(test_swap_linger),
        cmocka_unit_test(test_private_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
