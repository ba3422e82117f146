/* tests/test_node_hostile.c — hostile peers against a tidepool node in simulation
 * (tests/hostile.h): one that stalls after TCP connect, one that sends garbage, one
 * with too little PoW, one that floods Advertise, one that announces a message above
 * 100 MiB. Each is rejected or greylisted as Octez would (spec §2.9, §2.10, §4.4), the
 * target's memory stays bounded, and honest nodes keep exchanging messages with the
 * target all along. Prints its seed. */
#include "tests/hostile.h"
#include "tests/sim_harness.h"

#define HOSTILES 5
#define MEMORY_BOUND (2u << 20) /* bytes, the target's whole node */

static void run_scenario(uint64_t seed, uint64_t *trace) {
    hs *h = hs_create(seed, 3, NULL);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    assert_int_equal(hs_connect(h, 2, 0), TP_OK);
    hs_run_for(h, 500 * HS_MS);
    assert_int_equal(tp_node_active_connections(hs_node_of(h, 0)), 2);

    hostile x[HOSTILES];
    const hostile_mode modes[HOSTILES] = {HOSTILE_STALL, HOSTILE_GARBAGE, HOSTILE_LOW_POW,
                                          HOSTILE_FLOOD_ADVERTISE, HOSTILE_BIG_PREFIX};
    for (int k = 0; k < HOSTILES; k++) hostile_add(h, &x[k], modes[k], 0);

    /* honest traffic for 10 s: each honest node sends a message every 100 ms */
    uint64_t mem_max = 0;
    uint32_t sent = 0;
    for (int step = 0; step < 100; step++) {
        for (uint32_t i = 1; i <= 2; i++) {
            char text[32];
            int n = snprintf(text, sizeof text, "ping %u/%d", i, step);
            assert_int_equal(tp_node_send_to_peer(hs_node_of(h, i), tp_node_peer_id(hs_node_of(h, 0)),
                                                  HS_TAG_TEXT, (const uint8_t *)text, (size_t)n,
                                                  false),
                             TP_OK);
            sent++;
        }
        hs_run_for(h, 100 * HS_MS);
        uint64_t m = sim_host_memory_bytes(sim_world_host(h->w, 0));
        if (m > mem_max) mem_max = m;
    }
    hs_run_for(h, 1 * HS_S);
    tp_node *t = hs_node_of(h, 0);
    tp_acl *acl = tp_node_acl(t);
    tp_connect *ch = tp_node_connect_handler(t);
    tp_conn *fc = tp_node_conn_of_peer(t, &x[3].id.peer_id);
    assert_non_null(fc);
    printf("target memory max %llu bytes; flood: %llu Advertise sent, %llu handled, "
           "%llu delayed by the throttle\n",
           (unsigned long long)mem_max, (unsigned long long)x[3].frames_sent,
           (unsigned long long)ch->stats.advertise_received,
           (unsigned long long)fc->stats.throttled);
    assert_true(fc->stats.throttled >= ch->stats.advertise_received - 1);

    /* honest connections carried on: every ping arrived, nobody honest was hurt */
    assert_int_equal(h->nodes[0].app_msgs, sent);
    assert_int_equal(h->nodes[1].disconns + h->nodes[2].disconns, 0);
    for (uint32_t i = 1; i <= 2; i++) {
        tp_point p = hs_point(h, i);
        assert_false(tp_acl_banned_ip(acl, &p.ip));
    }
    assert_true(mem_max < MEMORY_BOUND);

    tp_ip ip[HOSTILES];
    for (int k = 0; k < HOSTILES; k++) ip[k] = sim_host_ip(x[k].host);
    /* stall: dropped by the authentication timeout (5 s), never greylisted */
    assert_true(x[0].closed);
    assert_false(tp_acl_banned_ip(acl, &ip[0]));
    assert_true(ch->stats.timeouts >= 1);
    /* garbage connection message: a decoding error, the IP is greylisted */
    assert_true(x[1].closed);
    assert_true(tp_acl_greylisted_ip(acl, &ip[1]));
    /* too little proof of work: greylisted */
    assert_true(x[2].closed);
    assert_true(tp_acl_greylisted_ip(acl, &ip[2]));
    /* Advertise flood: not a protocol violation (Octez throttles, it does not ban):
     * still connected, handled at most once per 100 ms, the rest held back in TCP */
    assert_false(x[3].closed);
    assert_false(tp_acl_banned_ip(acl, &ip[3]));
    assert_true(ch->stats.advertise_received >= 50);
    assert_true(ch->stats.advertise_received <= 10 * 11 + 2);
    assert_true(x[3].frames_sent > ch->stats.advertise_received);
    /* size prefix above 100 MiB: the peer and its IP are greylisted, nothing allocated */
    assert_true(x[4].closed);
    assert_true(tp_acl_greylisted_ip(acl, &ip[4]));
    assert_true(tp_acl_greylisted_peer(acl, x[4].id.peer_id.bytes));
    assert_int_equal(h->last_code[0][TP_EVENT_GREYLIST_PEER], TP_ERR_INVALID_MESSAGE_SIZE);
    /* a greylisted IP that comes back is closed before any handshake byte */
    hostile_connect(&x[1]);
    hs_run_for(h, 1 * HS_S);
    assert_true(x[1].closed);
    assert_int_equal(x[1].bytes_in, 0);
    assert_true(ch->stats.refused_banned_ip >= 1);
    *trace = sim_world_trace_hash(h->w);
    hs_destroy(h);
}

/* Where Octez does not greylist (issue 18, item 7), on node 0 with one honest peer:
 * - a chunk with a bad MAC where the Ack should be: an error of the Ack exchange, which
 *   Octez's p2p_connect_handler.ml raw_authenticate does not greylist (only the errors
 *   of socket_authenticate, up to the metadata, are);
 * - a chunk with a bad MAC on a running connection: Octez's p2p_conn.ml read_message
 *   greylists on Decoding_error only, and closes on the Decipher_error;
 * - an incoming connection from ourselves (our identity, announced port 4321): Myself,
 *   and Octez's p2p_connect_handler.ml may_register_my_id_point records the remote
 *   address with the announced port (p2p_socket.ml authenticate's id_point) in
 *   my_id_points, incoming or not. */
static void test_no_greylist_and_myself(void **state) {
    (void)state;
    hs *h = hs_create(2027, 2, NULL);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    hs_run_for(h, 500 * HS_MS);
    hostile x[3];
    hostile_add(h, &x[0], HOSTILE_BAD_ACK, 0);
    hostile_add(h, &x[1], HOSTILE_BAD_MAC, 0);
    hostile_add(h, &x[2], HOSTILE_BIG_PREFIX, 0);
    x[2].id = h->nodes[0].cfg.identity; /* its handshake starts at the TCP connect */
    x[2].scfg.port = 4321;
    hs_run_for(h, 2 * HS_S);
    tp_node *t = hs_node_of(h, 0);
    tp_acl *acl = tp_node_acl(t);
    for (int k = 0; k < 3; k++) {
        tp_ip ip = sim_host_ip(x[k].host);
        assert_true(x[k].closed);
        assert_true(x[k].frames_sent == (k < 2 ? 1u : 0u));
        assert_false(tp_acl_greylisted_ip(acl, &ip));
    }
    assert_false(tp_acl_greylisted_peer(acl, x[1].id.peer_id.bytes));
    assert_int_equal(h->events[0][TP_EVENT_GREYLIST_IP], 0);
    assert_int_equal(h->events[0][TP_EVENT_GREYLIST_PEER], 0);
    assert_int_equal(h->nodes[0].disconns, 1); /* the running one, closed */
    tp_point me = {sim_host_ip(x[2].host), 4321};
    assert_true(tp_pool_is_my_id_point(tp_node_pool(t), &me));
    assert_int_equal(tp_node_active_connections(t), 1); /* the honest peer stays */
    hs_destroy(h);
}

static void test_hostile_peers(void **state) {
    (void)state;
    uint64_t a, b;
    run_scenario(2026, &a);
    run_scenario(2026, &b);
    printf("trace %016llx\n", (unsigned long long)a);
    assert_true(a == b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_peers),
        cmocka_unit_test(test_no_greylist_and_myself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
