/* tests/test_node_pool.c — whole tidepool nodes (core/node.c) on simnet, mirroring
 * Octez's tezt test_p2p_pool and the version/private-mode tests (spec §12): all-to-all
 * connect and exchange (simple), overcrowded (Nack Too_many_connections carries the
 * other points), overcrowded-mixed (p2p v0 peers get Nack_v_0 and no points),
 * no-common-network-protocol (chain name and ddb version mismatches, with the right
 * motive on each side), private mode, and the same seed giving the same run.
 * Prints its seeds. */
#include "tests/sim_harness.h"

/* ---- simple: 20 nodes all-to-all ------------------------------------------------------ */

#define ALL 20

static void all_cfg(hs_node *hn, uint32_t i) {
    (void)i;
    hn->cfg.disable_peer_discovery = true; /* only the dials of the test */
}

static uint64_t run_all_to_all(uint64_t seed, uint32_t *received_out) {
    hs *h = hs_create(seed, ALL, all_cfg);
    hs_start_all(h);
    for (uint32_t i = 0; i < ALL; i++)
        for (uint32_t j = i + 1; j < ALL; j++) assert_int_equal(hs_connect(h, i, j), TP_OK);
    hs_run_for(h, 3 * HS_S);
    for (uint32_t i = 0; i < ALL; i++) {
        hs_node *hn = &h->nodes[i];
        assert_int_equal(tp_node_active_connections(hn->node), ALL - 1);
        assert_int_equal(hn->connect_ok, ALL - 1 - i);
        assert_int_equal(hn->connect_fail, 0);
        assert_int_equal(hn->new_conns, ALL - 1);
        assert_int_equal(h->events[i][TP_EVENT_CONNECTION_ESTABLISHED], ALL - 1);
        assert_int_equal(h->events[i][TP_EVENT_GREYLIST_IP], 0);
        /* every connection is Running in the pool, point and peer */
        for (tp_conn *c = tp_node_first_conn(hn->node); c; c = c->next) {
            assert_true(tp_conn_is_running(c));
            assert_int_equal(c->peer->state, TP_PEER_RUNNING);
            if (c->point) assert_int_equal(c->point->state, TP_POINT_RUNNING);
            assert_int_equal(c->ddb_version, 2);
            assert_int_equal(c->p2p_version, 1);
        }
    }
    /* each node broadcasts one message and sends one to each peer directly */
    for (uint32_t i = 0; i < ALL; i++) {
        uint8_t text[32];
        int n = snprintf((char *)text, sizeof text, "hello from %u", i);
        assert_int_equal(tp_node_broadcast(h->nodes[i].node, HS_TAG_TEXT, text, (size_t)n),
                         ALL - 1);
        for (uint32_t j = 0; j < ALL; j++) {
            if (j == i) continue;
            assert_int_equal(tp_node_send_to_peer(h->nodes[i].node,
                                                  tp_node_peer_id(h->nodes[j].node), HS_TAG_TEXT,
                                                  text, (size_t)n, false),
                             TP_OK);
        }
    }
    hs_run_for(h, 2 * HS_S);
    for (uint32_t i = 0; i < ALL; i++) {
        received_out[i] = h->nodes[i].app_msgs;
        assert_int_equal(h->nodes[i].app_msgs, 2 * (ALL - 1));
    }
    /* unknown tag and oversized payload are refused before anything is queued */
    tp_conn *c0 = tp_node_first_conn(h->nodes[0].node);
    uint8_t big[5000] = {0};
    assert_int_equal(tp_node_send(h->nodes[0].node, c0, 0x0099, big, 1, true), TP_ERR_INVAL);
    assert_int_equal(tp_node_send(h->nodes[0].node, c0, HS_TAG_TEXT, big, sizeof big, true),
                     TP_ERR_INVAL);
    uint64_t hash = sim_world_trace_hash(h->w);
    hs_destroy(h);
    return hash;
}

static void test_all_to_all(void **state) {
    (void)state;
    uint32_t a[ALL], b[ALL];
    uint64_t h1 = run_all_to_all(11, a);
    uint64_t h2 = run_all_to_all(11, b);
    printf("trace %016llx\n", (unsigned long long)h1);
    assert_true(h1 == h2); /* same seed, same run */
    assert_memory_equal(a, b, sizeof a);
}

/* ---- overcrowded (tezt test_p2p_pool) ------------------------------------------------- */

#define CROWD 8

static void crowd_cfg(hs_node *hn, uint32_t i) {
    if (i == 0) {
        /* the target: min = expected = max = 0, no maintenance: rejects everyone with
         * Nack(Too_many_connections); max_incoming large enough for all handshakes */
        hn->cfg.min_connections = hn->cfg.expected_connections = hn->cfg.max_connections = 0;
        hn->cfg.maintenance_idle_time_ns = 0;
        hn->cfg.max_incoming_connections = CROWD;
    }
}

static void crowd_mixed_cfg(hs_node *hn, uint32_t i) {
    crowd_cfg(hn, i);
    if (i > 0 && i % 2 == 0) {
        hn->cfg.p2p_versions[0] = 0; /* speaks p2p v0 only */
        hn->cfg.p2p_versions_count = 1;
    }
}

static uint32_t client_points_known(hs *h, uint32_t i) {
    uint32_t known = 0;
    for (uint32_t j = 1; j < h->count; j++) {
        if (j == i) continue;
        tp_point p = hs_point(h, j);
        if (tp_pool_point(tp_node_pool(h->nodes[i].node), &p) != NULL) known++;
    }
    return known;
}

static void overcrowded_run(bool mixed) {
    hs *h = hs_create(mixed ? 23 : 22, CROWD, mixed ? crowd_mixed_cfg : crowd_cfg);
    hs_start_all(h);
    /* two rounds: in the second, the target knows every client as a public point */
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = 1; i < CROWD; i++) assert_int_equal(hs_connect(h, i, 0), TP_OK);
        hs_run_for(h, 2 * HS_S);
    }
    assert_int_equal(tp_node_active_connections(h->nodes[0].node), 0);
    assert_int_equal(h->events[0][TP_EVENT_REJECTING_REQUEST], 2 * (CROWD - 1));
    assert_int_equal(h->last_code[0][TP_EVENT_REJECTING_REQUEST], TP_MOTIVE_TOO_MANY_CONNECTIONS);
    for (uint32_t i = 1; i < CROWD; i++) {
        hs_node *hn = &h->nodes[i];
        assert_int_equal(hn->connect_fail, 2);
        assert_int_equal(hn->connect_ok, 0);
        assert_int_equal(hn->last_connect_err, TP_ERR_REJECTED_BY_NACK);
        assert_int_equal(h->events[i][TP_EVENT_REQUEST_REJECTED], 2);
        bool v0 = mixed && i % 2 == 0;
        if (v0) {
            /* Nack_v_0: no motive, no list */
            assert_int_equal(h->last_code[i][TP_EVENT_REQUEST_REJECTED], TP_MOTIVE_NO_MOTIVE);
            assert_int_equal(client_points_known(h, i), 0);
        } else {
            assert_int_equal(h->last_code[i][TP_EVENT_REQUEST_REJECTED],
                             TP_MOTIVE_TOO_MANY_CONNECTIONS);
            /* learned every other client from the second Nack's list */
            assert_int_equal(client_points_known(h, i), CROWD - 2);
        }
        assert_int_equal(h->events[i][TP_EVENT_GREYLIST_IP], 0);
    }
    hs_destroy(h);
}

static void test_overcrowded(void **state) {
    (void)state;
    overcrowded_run(false);
}

static void test_overcrowded_mixed(void **state) {
    (void)state;
    overcrowded_run(true);
}

/* ---- no common network protocol ------------------------------------------------------- */

static void chain_cfg(hs_node *hn, uint32_t i) {
    if (i == 1) hn->cfg.chain_name = "SANDBOXED_TEZOS";
}

static void test_chain_name_mismatch(void **state) {
    (void)state;
    hs *h = hs_create(31, 2, chain_cfg);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 0, 1), TP_OK);
    hs_run_for(h, 2 * HS_S);
    /* both sides reject with Unknown_chain_name (each Nacks; neither reads the other's) */
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(h->events[i][TP_EVENT_REJECTING_REQUEST], 1);
        assert_int_equal(h->last_code[i][TP_EVENT_REJECTING_REQUEST], TP_MOTIVE_UNKNOWN_CHAIN_NAME);
        assert_int_equal(tp_node_active_connections(h->nodes[i].node), 0);
        assert_int_equal(h->events[i][TP_EVENT_GREYLIST_IP], 0); /* not greylisted */
        tp_point other = hs_point(h, 1 - i);
        assert_false(tp_acl_banned_ip(tp_node_acl(h->nodes[i].node), &other.ip));
    }
    assert_int_equal(h->nodes[0].connect_fail, 1);
    assert_int_equal(h->nodes[0].last_connect_err, TP_ERR_REJECTED);
    /* the dialed point is unregistered (spec §2.7 step 9) */
    tp_point p1 = hs_point(h, 1);
    assert_null(tp_pool_point(tp_node_pool(h->nodes[0].node), &p1));
    /* the incoming side keeps the point the dialer announced (issue 18, item 7):
     * Octez's p2p_connect_handler.ml `authenticate` unregisters the socket's address
     * (the dialer's ephemeral port), not its announced point */
    tp_point p0 = hs_point(h, 0);
    assert_non_null(tp_pool_point(tp_node_pool(h->nodes[1].node), &p0));
    hs_destroy(h);
}

static void ddb_cfg(hs_node *hn, uint32_t i) {
    if (i == 0) {
        hn->cfg.ddb_versions[0] = 3; /* only a newer one */
        hn->cfg.ddb_versions_count = 1;
    }
}

static void test_ddb_version_mismatch(void **state) {
    (void)state;
    hs *h = hs_create(32, 2, ddb_cfg);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 0, 1), TP_OK);
    hs_run_for(h, 2 * HS_S);
    /* node 1 (supports 0..2, sees 3 announced) selects 2 and accepts; node 0 (supports
     * only 3, sees 2) rejects with Deprecated_distributed_db_version: node 1 gets the
     * Nack with that motive. */
    assert_int_equal(h->events[0][TP_EVENT_REJECTING_REQUEST], 1);
    assert_int_equal(h->last_code[0][TP_EVENT_REJECTING_REQUEST],
                     TP_MOTIVE_DEPRECATED_DISTRIBUTED_DB_VERSION);
    assert_int_equal(h->events[1][TP_EVENT_ACCEPTING_REQUEST], 1);
    assert_int_equal(h->events[1][TP_EVENT_REQUEST_REJECTED], 1);
    assert_int_equal(h->last_code[1][TP_EVENT_REQUEST_REJECTED],
                     TP_MOTIVE_DEPRECATED_DISTRIBUTED_DB_VERSION);
    assert_int_equal(tp_node_active_connections(h->nodes[0].node), 0);
    assert_int_equal(tp_node_active_connections(h->nodes[1].node), 0);
    /* node 1's view of the peer: Accepted -> Disconnected (a rejected connection) */
    tp_peer_info *pi = tp_pool_peer(tp_node_pool(h->nodes[1].node), tp_node_peer_id(h->nodes[0].node));
    assert_non_null(pi);
    assert_int_equal(pi->state, TP_PEER_DISCONNECTED);
    assert_true(pi->last_rejected_connection.time_ns != TP_TIME_NONE);
    hs_destroy(h);
}

/* ---- private mode ---------------------------------------------------------------------- */

static void private_cfg(hs_node *hn, uint32_t i) {
    if (i == 0) {
        hn->cfg.private_mode = true;
        /* node 1 is a trusted point */
        hn->cfg.trusted_points[0].point.ip = tp_ip_from_v4(0x0a000002); /* 10.0.0.2 */
        hn->cfg.trusted_points[0].point.port = HS_PORT;
        hn->cfg.trusted_points_count = 1;
    }
}

static void test_private_mode(void **state) {
    (void)state;
    hs *h = hs_create(41, 4, private_cfg);
    hs_start_all(h);
    tp_point p1 = hs_point(h, 1);
    assert_true(tp_point_eq(&h->nodes[0].cfg.trusted_points[0].point, &p1));
    /* an untrusted point dialing in: refused without Nack (Private_mode) */
    assert_int_equal(hs_connect(h, 2, 0), TP_OK);
    /* the trusted point dialing in: accepted */
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    hs_run_for(h, 2 * HS_S);
    assert_int_equal(h->nodes[1].connect_ok, 1);
    assert_int_equal(h->nodes[2].connect_ok, 0);
    assert_int_equal(h->nodes[2].connect_fail, 1);
    assert_int_equal(h->last_code[0][TP_EVENT_AUTHENTICATION_FAILED], TP_ERR_PRIVATE_MODE);
    assert_int_equal(tp_node_active_connections(h->nodes[0].node), 1);
    /* the private node's metadata says so: node 1 records the point as not public */
    tp_point p0 = hs_point(h, 0);
    tp_point_info *pi = tp_pool_point(tp_node_pool(h->nodes[1].node), &p0);
    assert_non_null(pi);
    assert_false(pi->known_public);
    assert_true(h->nodes[1].node->handler.head->sock.remote.metadata.private_node);
    /* the private node dials only trusted points */
    tp_point p3 = hs_point(h, 3);
    assert_int_equal(tp_node_connect(h->nodes[0].node, &p3, 0, NULL, NULL), TP_ERR_PRIVATE_MODE);
    /* trusting node 3's peer id lets it in */
    assert_int_equal(tp_node_trust_peer(h->nodes[0].node, tp_node_peer_id(h->nodes[3].node)), TP_OK);
    assert_int_equal(hs_connect(h, 3, 0), TP_OK);
    hs_run_for(h, 2 * HS_S);
    assert_int_equal(h->nodes[3].connect_ok, 1);
    assert_int_equal(tp_node_active_connections(h->nodes[0].node), 2);
    /* a private node ignores Bootstrap: it never answers with Advertise */
    assert_int_equal(h->events[0][TP_EVENT_ADVERTISE_SENT], 0);
    hs_destroy(h);
}

/* ---- bootstrap / advertise -------------------------------------------------------------- */

static void test_bootstrap_advertise(void **state) {
    (void)state;
    /* 0 knows 1, 2, 3 as public points (they connected to it); 4 connects to 0 and
     * sends Bootstrap: 0 answers Advertise with the known public points, which 4
     * registers as new points. */
    hs *h = hs_create(51, 5, NULL);
    hs_start_all(h);
    for (uint32_t i = 1; i <= 3; i++) assert_int_equal(hs_connect(h, i, 0), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(hs_connect(h, 4, 0), TP_OK);
    hs_run_for(h, 1 * HS_S);
    tp_conn *c = tp_node_conn_of_peer(h->nodes[4].node, tp_node_peer_id(h->nodes[0].node));
    assert_non_null(c);
    const uint8_t bootstrap[6] = {0, 0, 0, 2, 0, 2};
    assert_int_equal(tp_node_broadcast_bootstrap(h->nodes[4].node), 1);
    assert_int_equal(h->events[4][TP_EVENT_BOOTSTRAP_SENT], 1);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(h->events[0][TP_EVENT_BOOTSTRAP_RECEIVED], 1);
    assert_int_equal(h->events[0][TP_EVENT_ADVERTISE_SENT], 1);
    assert_int_equal(h->events[4][TP_EVENT_ADVERTISE_RECEIVED], 1);
    /* 4 now knows 1, 2, 3 (and its own point was never advertised to itself? it is:
     * 0 knows 4 as public too; 4's pool refuses nothing here but knows them all) */
    for (uint32_t i = 1; i <= 3; i++) {
        tp_point p = hs_point(h, i);
        assert_non_null(tp_pool_point(tp_node_pool(h->nodes[4].node), &p));
    }
    /* a second Bootstrap within 100 ms is delayed, not dropped (spec §4.4) */
    assert_int_equal(tp_conn_write_frame(c, bootstrap, 6, true), TP_OK);
    assert_int_equal(tp_conn_write_frame(c, bootstrap, 6, true), TP_OK);
    hs_run_for(h, 30 * HS_MS);
    tp_conn *back = tp_node_conn_of_peer(h->nodes[0].node, tp_node_peer_id(h->nodes[4].node));
    assert_non_null(back);
    uint32_t seen = h->events[0][TP_EVENT_BOOTSTRAP_RECEIVED];
    assert_true(seen <= 2);
    hs_run_for(h, 500 * HS_MS);
    assert_int_equal(h->events[0][TP_EVENT_BOOTSTRAP_RECEIVED], 3);
    assert_true(back->stats.throttled >= 1);
    /* Issue 18, item 7: a throttled message waits the full cooldown from the moment
     * it is read, not what is left of the cooldown since the last handled one (Octez:
     * p2p_protocol.ml throttle_callbacks sleeps cooldown_s, then stamps last_handled
     * after the sleep). B4 is handled at once; B5, read 60 ms later, waits 100 ms
     * more: at +160 ms, not at +100 ms. */
    assert_int_equal(tp_conn_write_frame(c, bootstrap, 6, true), TP_OK); /* B4 */
    hs_run_for(h, 60 * HS_MS);
    assert_int_equal(h->events[0][TP_EVENT_BOOTSTRAP_RECEIVED], 4);
    assert_int_equal(tp_conn_write_frame(c, bootstrap, 6, true), TP_OK); /* B5 */
    hs_run_for(h, 80 * HS_MS); /* +140 ms */
    assert_int_equal(h->events[0][TP_EVENT_BOOTSTRAP_RECEIVED], 4);
    hs_run_for(h, 60 * HS_MS); /* +200 ms */
    assert_int_equal(h->events[0][TP_EVENT_BOOTSTRAP_RECEIVED], 5);
    hs_destroy(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_to_all),
        cmocka_unit_test(test_overcrowded),
        cmocka_unit_test(test_overcrowded_mixed),
        cmocka_unit_test(test_chain_name_mismatch),
        cmocka_unit_test(test_ddb_version_mismatch),
        cmocka_unit_test(test_private_mode),
        cmocka_unit_test(test_bootstrap_advertise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
