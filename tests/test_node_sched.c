/* tests/test_node_sched.c — issue 5's acceptance for the I/O scheduler (spec §8) on
 * complete nodes over simnet: Octez's "trivial-quota" case (test_p2p_io_scheduler,
 * spec §12) with real tidepool nodes — a server node with max_download_speed 1 MiB/s
 * and max_upload_speed 256 KiB/s, 8 client nodes without limits; every node sends
 * application messages of 64 B to 64 KiB as fast as its queues take them. Over 60
 * virtual seconds the server's aggregate rates are within 5 % of the caps and Jain's
 * fairness index across its connections is >= 0.98 both ways. The numbers come from
 * the node's own statistics (tp_node_stat / tp_node_conn_stat). Prints its seed. */
#include "tests/sim_harness.h"

#define CLIENTS 8
#define DOWN_BPS (1024 * 1024)
#define UP_BPS (256 * 1024)
#define MSG_MIN 64
#define MSG_MAX 65536

static uint8_t payload[MSG_MAX];
static uint64_t rng_state;

/* the test's own message sizes (a 64-bit LCG seeded from the test seed) */
static size_t next_size(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return MSG_MIN + (size_t)((rng_state >> 33) % (MSG_MAX - MSG_MIN + 1));
}

/* Queue messages on c until its writer queue is full (on_writable calls again). */
static void pump(tp_node *n, tp_conn *c) {
    for (int k = 0; k < 64; k++) {
        if (!tp_conn_is_running(c)) return;
        tp_err e = tp_node_send(n, c, HS_TAG_BIG, payload, next_size(), false);
        if (e != TP_OK) return; /* TP_ERR_AGAIN: on_writable follows */
    }
}

static void on_new(void *arg, tp_node *n, tp_conn *c) {
    hs_on_new(arg, n, c);
    pump(n, c);
}
static void on_writable(void *arg, tp_node *n, tp_conn *c) {
    hs_on_writable(arg, n, c);
    pump(n, c);
}

static void sched_cfg(hs_node *hn, uint32_t i) {
    tp_node_config *c = &hn->cfg;
    c->outgoing_message_queue_size = 256 * 1024; /* keep the test's memory small */
    c->hooks.on_new_connection = on_new;
    c->hooks.on_writable = on_writable;
    if (i == 0) {
        c->max_download_speed_bps = DOWN_BPS;
        c->max_upload_speed_bps = UP_BPS;
        c->read_buffer_size = 16384;
    }
}

static double jain(const uint64_t *x, size_t n) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        s += (double)x[i];
        s2 += (double)x[i] * (double)x[i];
    }
    return s2 > 0 ? s * s / ((double)n * s2) : 0;
}

static void test_trivial_quota(void **state) {
    (void)state;
    hs *h = hs_create(8, 1 + CLIENTS, sched_cfg);
    rng_state = h->seed;
    hs_start_all(h);
    for (uint32_t i = 1; i <= CLIENTS; i++) assert_int_equal(hs_connect(h, i, 0), TP_OK);
    hs_run_for(h, 2 * HS_S); /* connected and flowing */
    tp_node *srv = h->nodes[0].node;
    assert_int_equal(tp_node_active_connections(srv), CLIENTS);
    tp_conn *conns[CLIENTS];
    uint64_t rx0[CLIENTS], tx0[CLIENTS];
    uint32_t k = 0;
    for (tp_conn *c = tp_node_first_conn(srv); c != NULL; c = c->next) {
        if (!tp_conn_is_running(c)) continue;
        assert_true(k < CLIENTS);
        conns[k] = c;
        tp_stat st = tp_node_conn_stat(c);
        rx0[k] = (uint64_t)st.total_recv;
        tx0[k] = (uint64_t)st.total_sent;
        k++;
    }
    assert_int_equal(k, CLIENTS);
    tp_stat g0 = tp_node_stat(srv);
    hs_run_for(h, 60 * HS_S);
    uint64_t down[CLIENTS], up[CLIENTS], td = 0, tu = 0;
    for (uint32_t i = 0; i < CLIENTS; i++) {
        assert_true(tp_conn_is_running(conns[i])); /* nobody dropped */
        tp_stat st = tp_node_conn_stat(conns[i]);
        down[i] = (uint64_t)st.total_recv - rx0[i];
        up[i] = (uint64_t)st.total_sent - tx0[i];
        td += down[i];
        tu += up[i];
    }
    tp_stat g1 = tp_node_stat(srv);
    double rd = (double)td / 60.0, ru = (double)tu / 60.0;
    double jd = jain(down, CLIENTS), ju = jain(up, CLIENTS);
    uint64_t msgs = 0;
    for (uint32_t i = 0; i <= CLIENTS; i++) msgs += h->nodes[i].app_msgs;
    printf("server: down %.0f B/s (cap %d), up %.0f B/s (cap %d), jain %.4f / %.4f; "
           "current inflow %d B/s, outflow %d B/s; %llu messages delivered\n",
           rd, DOWN_BPS, ru, UP_BPS, jd, ju, g1.current_inflow, g1.current_outflow,
           (unsigned long long)msgs);
    /* the node's totals are the sum of its connections' (all were counted) */
    assert_int_equal((uint64_t)(g1.total_recv - g0.total_recv), td);
    assert_int_equal((uint64_t)(g1.total_sent - g0.total_sent), tu);
    assert_true(rd >= 0.95 * DOWN_BPS && rd <= 1.05 * DOWN_BPS);
    assert_true(ru >= 0.95 * UP_BPS && ru <= 1.05 * UP_BPS);
    assert_true(jd >= 0.98 && ju >= 0.98);
    /* the moving averages follow the caps too */
    assert_true(g1.current_inflow >= 0.9 * DOWN_BPS && g1.current_inflow <= 1.1 * DOWN_BPS);
    assert_true(g1.current_outflow >= 0.9 * UP_BPS && g1.current_outflow <= 1.1 * UP_BPS);
    /* the clients are not limited: each sent what the server let in */
    assert_true(msgs > 1000);
    hs_destroy(h);
}

/* Without caps the scheduler only counts: a node's stat still sees every byte. */
static void test_unlimited_counts(void **state) {
    (void)state;
    hs *h = hs_create(9, 2, NULL);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    hs_run_for(h, 2 * HS_S);
    tp_node *a = h->nodes[0].node, *b = h->nodes[1].node;
    tp_stat sa0 = tp_node_stat(a);
    tp_conn *c = tp_node_conn_of_peer(b, tp_node_peer_id(a));
    assert_non_null(c);
    for (int i = 0; i < 10; i++)
        assert_int_equal(tp_node_send(b, c, HS_TAG_TEXT, payload, 1000, false), TP_OK);
    hs_run_for(h, 1 * HS_S);
    tp_stat sa1 = tp_node_stat(a), sb = tp_node_stat(b);
    assert_int_equal(h->nodes[0].app_msgs, 10);
    int64_t got = sa1.total_recv - sa0.total_recv;
    printf("received %lld wire bytes for 10 x 1000 payload bytes\n", (long long)got);
    assert_true(got >= 10 * 1006 && got <= 10 * 1006 + 10 * 64); /* frames + chunk MACs */
    assert_int_equal(sb.total_sent, tp_node_stat(a).total_recv); /* one link: both ends agree */
    hs_destroy(h);
}

static void nack_cfg(hs_node *hn, uint32_t i) {
    if (i != 0) return;
    hn->cfg.max_download_speed_bps = 4096;
    hn->cfg.max_upload_speed_bps = 4096;
    hn->cfg.min_connections = 0;
    hn->cfg.expected_connections = 1;
    hn->cfg.max_connections = 1; /* no maintenance: the slot check uses max (1) */
}

/* Under tight caps the handshake still completes (through grants), and a connection
 * that closes writes its last bytes without one: the second client gets the Nack
 * (Too_many_connections), not a timeout. */
static void test_capped_handshake_and_nack(void **state) {
    (void)state;
    hs *h = hs_create(10, 3, nack_cfg);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    hs_run_for(h, 5 * HS_S);
    assert_int_equal(h->nodes[1].connect_ok, 1);
    assert_int_equal(tp_node_active_connections(h->nodes[0].node), 1);
    assert_int_equal(hs_connect(h, 2, 0), TP_OK);
    hs_run_for(h, 5 * HS_S);
    printf("second client: %s\n", tp_strerror(h->nodes[2].last_connect_err));
    assert_int_equal(h->nodes[2].connect_fail, 1);
    assert_int_equal(h->nodes[2].last_connect_err, TP_ERR_REJECTED_BY_NACK);
    hs_destroy(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trivial_quota),
        cmocka_unit_test(test_unlimited_counts),
        cmocka_unit_test(test_capped_handshake_and_nack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
