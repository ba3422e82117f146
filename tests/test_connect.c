/* tests/test_connect.c — the connect handler (core/connect.c) in simulation, mirroring
 * Octez's test_p2p_connect_handler and the ACL semantics of spec §5.4/§7: a pending
 * handshake counts against max_incoming_connections while authentication hangs (and
 * times out without greylisting), hooks fire exactly once, a banned IP is closed before
 * any handshake byte, banning an IP kicks its peers, connect's synchronous errors,
 * self-connection (Myself, my_id_points), expected peer id, clean shutdown, and
 * close-on-read / write_sync. Prints its seeds. */
#include "tests/hostile.h"
#include "tests/sim_harness.h"

static void limit_cfg(hs_node *hn, uint32_t i) {
    if (i == 0) hn->cfg.max_incoming_connections = 2;
}

static void test_pending_handshake_limit(void **state) {
    (void)state;
    hs *h = hs_create(101, 2, limit_cfg);
    hs_start_all(h);
    hostile x[3];
    hostile_add(h, &x[0], HOSTILE_STALL, 0);
    hostile_add(h, &x[1], HOSTILE_STALL, 0);
    hs_run_for(h, 200 * HS_MS);
    tp_connect *ch = tp_node_connect_handler(hs_node_of(h, 0));
    assert_int_equal(ch->pending_incoming, 2);
    /* the third one (and an honest node) is refused while both handshakes hang */
    hostile_add(h, &x[2], HOSTILE_STALL, 0);
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    hs_run_for(h, 500 * HS_MS);
    assert_int_equal(ch->stats.refused_pending_limit, 2);
    assert_int_equal(ch->pending_incoming, 2);
    assert_true(x[2].closed);
    assert_int_equal(x[2].bytes_in, 0); /* closed before any handshake byte */
    assert_true(x[0].bytes_in > 0);     /* the pending ones got our connection message */
    assert_false(x[0].closed);
    assert_int_equal(h->nodes[1].connect_fail, 1);
    /* authentication_timeout (5 s): both are dropped, without greylisting */
    hs_run_for(h, 5 * HS_S);
    assert_int_equal(ch->pending_incoming, 0);
    assert_int_equal(ch->stats.timeouts, 2);
    assert_true(x[0].closed && x[1].closed);
    assert_int_equal(h->last_code[0][TP_EVENT_AUTHENTICATION_FAILED], TP_ERR_TIMEOUT);
    assert_int_equal(h->events[0][TP_EVENT_GREYLIST_IP], 0);
    for (int k = 0; k < 3; k++) {
        tp_ip ip = sim_host_ip(x[k].host);
        assert_false(tp_acl_banned_ip(tp_node_acl(hs_node_of(h, 0)), &ip));
    }
    /* now the honest node gets in */
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(h->nodes[1].connect_ok, 1);
    hs_destroy(h);
}

static void test_hooks_fire_once(void **state) {
    (void)state;
    hs *h = hs_create(102, 2, NULL);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 0, 1), TP_OK);
    hs_run_for(h, 1 * HS_S);
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(h->nodes[i].new_conns, 1);
        assert_int_equal(h->nodes[i].disconns, 0);
    }
    assert_int_equal(h->nodes[0].connect_ok, 1);
    assert_true(tp_node_kick(hs_node_of(h, 0), tp_node_peer_id(hs_node_of(h, 1))));
    hs_run_for(h, 1 * HS_S);
    hs_run_for(h, 10 * HS_S);
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(h->nodes[i].new_conns, 1);
        assert_int_equal(h->nodes[i].disconns, 1);
        assert_int_equal(tp_node_active_connections(hs_node_of(h, i)), 0);
        assert_int_equal(h->nodes[i].too_few, 1); /* 0 < min_connections (10) */
    }
    assert_int_equal(h->nodes[0].connect_ok, 1); /* the completion fired once */
    assert_int_equal(h->events[0][TP_EVENT_DISCONNECTION], 1);
    assert_int_equal(h->events[1][TP_EVENT_EXTERNAL_DISCONNECTION], 1);
    /* the pool recorded it: Running -> Disconnected with the 60 s reconnection delay */
    tp_point p1 = hs_point(h, 1);
    tp_point_info *pi = tp_pool_point(tp_node_pool(hs_node_of(h, 0)), &p1);
    assert_non_null(pi);
    assert_int_equal(pi->state, TP_POINT_DISCONNECTED);
    assert_true(pi->last_disconnection.time_ns != TP_TIME_NONE);
    assert_false(tp_node_kick(hs_node_of(h, 0), tp_node_peer_id(hs_node_of(h, 1))));
    hs_destroy(h);
}

static void test_banned_ip_closed_before_handshake(void **state) {
    (void)state;
    hs *h = hs_create(103, 2, NULL);
    hs_start_all(h);
    hs_run_for(h, 10 * HS_MS);
    /* the hostile's host will be 10.0.0.3 */
    tp_ip hostile_ip = tp_ip_from_v4(0x0a000003);
    assert_int_equal(tp_node_ban_addr(hs_node_of(h, 0), &hostile_ip), TP_OK);
    hostile x;
    hostile_add(h, &x, HOSTILE_STALL, 0);
    tp_ip real = sim_host_ip(x.host);
    assert_true(tp_ip_eq(&real, &hostile_ip));
    hs_run_for(h, 1 * HS_S);
    tp_connect *ch = tp_node_connect_handler(hs_node_of(h, 0));
    assert_int_equal(ch->stats.refused_banned_ip, 1);
    assert_true(x.closed);
    assert_int_equal(x.bytes_in, 0);
    /* dialing a banned IP fails at once */
    tp_point p1 = hs_point(h, 1);
    assert_int_equal(tp_node_ban_addr(hs_node_of(h, 0), &p1.ip), TP_OK);
    assert_int_equal(hs_connect(h, 0, 1), TP_ERR_POINT_BANNED);
    tp_node_unban_addr(hs_node_of(h, 0), &p1.ip);
    assert_int_equal(hs_connect(h, 0, 1), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(h->nodes[0].connect_ok, 1);
    hs_destroy(h);
}

/* spec §5.4: banning an IP blacklists the peers connected from it and kicks them. */
static void test_ban_addr_kicks_peers(void **state) {
    (void)state;
    hs *h = hs_create(104, 3, NULL);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    assert_int_equal(hs_connect(h, 2, 0), TP_OK);
    hs_run_for(h, 1 * HS_S);
    tp_node *n0 = hs_node_of(h, 0);
    assert_int_equal(tp_node_active_connections(n0), 2);
    tp_point p1 = hs_point(h, 1);
    assert_int_equal(tp_node_ban_addr(n0, &p1.ip), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(tp_node_active_connections(n0), 1);
    assert_true(tp_acl_blacklisted_peer(tp_node_acl(n0), tp_node_peer_id(hs_node_of(h, 1))->bytes));
    assert_false(tp_acl_banned_peer(tp_node_acl(n0), tp_node_peer_id(hs_node_of(h, 2))->bytes));
    assert_int_equal(h->nodes[1].disconns, 1);
    /* the banned node's new attempt is closed before the handshake */
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(h->nodes[1].connect_fail, 1);
    assert_int_equal(tp_node_connect_handler(n0)->stats.refused_banned_ip, 1);
    /* unban the address: the peer is still blacklisted: Peer_banned, no Nack */
    tp_node_unban_addr(n0, &p1.ip);
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(h->nodes[1].connect_fail, 2);
    assert_int_equal(h->last_code[0][TP_EVENT_AUTHENTICATION_FAILED], TP_ERR_PEER_BANNED);
    /* unban the peer too: back in */
    tp_node_unban_peer(n0, tp_node_peer_id(hs_node_of(h, 1)));
    assert_int_equal(hs_connect(h, 1, 0), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(h->nodes[1].connect_ok, 2);
    /* ban a peer: kicked at once */
    assert_int_equal(tp_node_ban_peer(n0, tp_node_peer_id(hs_node_of(h, 2))), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_null(tp_node_conn_of_peer(n0, tp_node_peer_id(hs_node_of(h, 2))));
    /* trust = unban + trusted; the RPC's ban = untrust the given point + ban its
     * address (Octez p2p_directory.ml: Points.untrust then Points.ban). Banning the
     * address untrusts nothing else (issue 18, item 7: p2p_pool.ml Points.ban only
     * blacklists and kicks): another trusted point at the same IP stays trusted. */
    tp_point p2 = hs_point(h, 2);
    tp_point p2b = {p2.ip, (uint16_t)(p2.port + 1)};
    assert_int_equal(tp_node_trust_point(n0, &p2), TP_OK);
    assert_int_equal(tp_node_trust_point(n0, &p2b), TP_OK);
    assert_true(tp_pool_point(tp_node_pool(n0), &p2)->trusted);
    tp_node_untrust_point(n0, &p2);
    assert_int_equal(tp_node_ban_addr(n0, &p2.ip), TP_OK);
    assert_true(tp_acl_banned_ip(tp_node_acl(n0), &p2.ip));
    assert_false(tp_pool_point(tp_node_pool(n0), &p2)->trusted);
    assert_true(tp_pool_point(tp_node_pool(n0), &p2b)->trusted);
    assert_int_equal(tp_node_trust_point(n0, &p2), TP_OK);
    assert_false(tp_acl_banned_ip(tp_node_acl(n0), &p2.ip));
    assert_true(tp_pool_point(tp_node_pool(n0), &p2)->trusted);
    tp_node_untrust_point(n0, &p2);
    assert_false(tp_pool_point(tp_node_pool(n0), &p2)->trusted);
    hs_destroy(h);
}

/* spec §7.2: the synchronous refusals, and a dial timeout that applies the backoff. */
static void test_connect_errors(void **state) {
    (void)state;
    hs *h = hs_create(105, 2, NULL);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 0, 1), TP_OK);
    assert_int_equal(hs_connect(h, 0, 1), TP_ERR_PENDING_CONNECTION);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(hs_connect(h, 0, 1), TP_ERR_ALREADY_CONNECTED);
    tp_point none = {tp_ip_from_v4(0x0a000063), HS_PORT}; /* 10.0.0.99: no such host */
    assert_int_equal(tp_node_connect(hs_node_of(h, 0), &none, 0, hs_connect_cb, &h->nodes[0]),
                     TP_OK);
    hs_run_for(h, 9 * HS_S);
    assert_int_equal(h->nodes[0].connect_fail, 0);
    hs_run_for(h, 2 * HS_S); /* connection_timeout: 10 s */
    assert_int_equal(h->nodes[0].connect_fail, 1);
    assert_int_equal(h->nodes[0].last_connect_err, TP_ERR_TIMEOUT);
    tp_point_info *pi = tp_pool_point(tp_node_pool(hs_node_of(h, 0)), &none);
    assert_non_null(pi);
    assert_int_equal(pi->state, TP_POINT_DISCONNECTED);
    assert_true(pi->last_failed_connection_ns != TP_TIME_NONE);
    assert_true(tp_point_cannot_reconnect_yet(pi, sim_world_now_ns(h->w)));
    assert_int_equal(h->events[0][TP_EVENT_GREYLIST_IP], 0);
    /* a port-0 point (Octez registers it) fails to connect, with the failure's
     * reconnection delay (p2p_connect_handler.ml connect: set_disconnected) */
    tp_point p0 = {tp_ip_from_v4(0x0a000002), 0};
    assert_int_equal(tp_node_connect(hs_node_of(h, 0), &p0, 0, hs_connect_cb, &h->nodes[0]),
                     TP_ERR_CONNECTION_FAILED);
    pi = tp_pool_point(tp_node_pool(hs_node_of(h, 0)), &p0);
    assert_non_null(pi);
    assert_int_equal(pi->state, TP_POINT_DISCONNECTED);
    assert_true(tp_point_cannot_reconnect_yet(pi, sim_world_now_ns(h->w)));
    hs_destroy(h);
}

/* spec §2.6: dialing our own listening point fails with Myself (on both ends, which are
 * the same node), does not greylist, and the point joins my_id_points. */
static void test_myself(void **state) {
    (void)state;
    hs *h = hs_create(106, 1, NULL);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 0, 0), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(h->nodes[0].connect_fail, 1);
    assert_int_equal(h->nodes[0].last_connect_err, TP_ERR_MYSELF);
    assert_int_equal(h->events[0][TP_EVENT_GREYLIST_IP], 0);
    tp_point self = hs_point(h, 0);
    assert_true(tp_pool_is_my_id_point(tp_node_pool(hs_node_of(h, 0)), &self));
    assert_null(tp_pool_point(tp_node_pool(hs_node_of(h, 0)), &self));
    assert_int_equal(hs_connect(h, 0, 0), TP_ERR_INVAL); /* never dialed again */
    hs_destroy(h);
}

static void expected_cfg(hs_node *hn, uint32_t i) {
    if (i == 0) {
        hn->cfg.trusted_points[0].point.ip = tp_ip_from_v4(0x0a000002);
        hn->cfg.trusted_points[0].point.port = HS_PORT;
        hn->cfg.trusted_points[0].has_expected_peer_id = true;
        memset(hn->cfg.trusted_points[0].expected_peer_id.bytes, 0xab, TP_PEER_ID_SIZE);
        hn->cfg.trusted_points_count = 1;
    }
}

/* spec §2.7 step 3: a point's expected peer id must match. */
static void test_expected_peer_id(void **state) {
    (void)state;
    hs *h = hs_create(107, 2, expected_cfg);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 0, 1), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(h->nodes[0].connect_fail, 1);
    assert_int_equal(h->nodes[0].last_connect_err, TP_ERR_IDENTITY_CHECK_FAILURE);
    assert_int_equal(tp_node_active_connections(hs_node_of(h, 1)), 0);
    hs_destroy(h);
}

static bool reset_refused;
static void refused_cfg(hs_node *hn, uint32_t i) {
    expected_cfg(hn, i);
    hn->cfg.reset_refused_points = reset_refused;
}

/* Issue 18, item 4: a dialed point refused after authentication — Peer_banned,
 * Identity_check_failure (Private_mode alike) — stays Requested, as in Octez
 * (p2p_connect_handler.ml raw_authenticate: those errors take the `Error errs` branch,
 * which never calls P2p_point_state.set_disconnected): never dialed again
 * (Pending_connection: the maintenance classifies it Seen). With
 * the tidepool option reset_refused_points the point is Disconnected again with a
 * reconnection delay. Node 0 expects a wrong peer id at node 1's point (trusted) and
 * bans node 2's peer id. */
static void test_refused_point_left_requested(void **state) {
    (void)state;
    for (int opt = 0; opt <= 1; opt++) {
        reset_refused = opt == 1;
        hs *h = hs_create(112, 3, refused_cfg);
        hs_start_all(h);
        tp_node *n0 = hs_node_of(h, 0);
        assert_int_equal(tp_node_ban_peer(n0, tp_node_peer_id(hs_node_of(h, 2))), TP_OK);
        assert_int_equal(hs_connect(h, 0, 1), TP_OK);
        assert_int_equal(hs_connect(h, 0, 2), TP_OK);
        hs_run_for(h, 1 * HS_S);
        assert_int_equal(h->nodes[0].connect_fail, 2);
        tp_point p1 = hs_point(h, 1), p2 = hs_point(h, 2);
        tp_point_info *i1 = tp_pool_point(tp_node_pool(n0), &p1);
        tp_point_info *i2 = tp_pool_point(tp_node_pool(n0), &p2);
        assert_non_null(i1);
        assert_non_null(i2);
        if (!reset_refused) {
            assert_int_equal(i1->state, TP_POINT_REQUESTED);
            assert_int_equal(i2->state, TP_POINT_REQUESTED);
            assert_int_equal(tp_node_connect_handler(n0)->stats.points_left_requested, 2);
            hs_run_for(h, 60 * HS_S); /* long past any reconnection delay */
            assert_int_equal(hs_connect(h, 0, 1), TP_ERR_PENDING_CONNECTION);
            assert_int_equal(hs_connect(h, 0, 2), TP_ERR_PENDING_CONNECTION);
        } else {
            assert_int_equal(i1->state, TP_POINT_DISCONNECTED);
            assert_int_equal(i2->state, TP_POINT_DISCONNECTED);
            assert_true(tp_point_cannot_reconnect_yet(i2, sim_world_now_ns(h->w)));
            hs_run_for(h, 5 * HS_S); /* past the reconnection delay */
            assert_int_equal(hs_connect(h, 0, 2), TP_OK);
        }
        hs_destroy(h);
    }
}

static void sync_done(void *arg, tp_conn *c, tp_err err) {
    (void)c;
    int *v = arg;
    *v = err == TP_OK ? 1 : -1;
}

static void shutdown_done(void *arg, tp_node *n) {
    (void)n;
    (*(int *)arg)++;
}

/* write_sync completes once the bytes are out; a clean shutdown closes everything,
 * reports once, and frees every byte; the peer sees an external disconnection (Octez
 * close-on-read). */
static void test_write_sync_and_shutdown(void **state) {
    (void)state;
    hs *h = hs_create(108, 2, NULL);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 0, 1), TP_OK);
    hs_run_for(h, 1 * HS_S);
    tp_conn *c = tp_node_conn_of_peer(hs_node_of(h, 0), tp_node_peer_id(hs_node_of(h, 1)));
    assert_non_null(c);
    uint8_t frame[6 + 100] = {0, 0, 0, 102, 0, HS_TAG_TEXT};
    int done = 0;
    assert_int_equal(tp_conn_write_sync(c, frame, sizeof frame, sync_done, &done), TP_OK);
    assert_int_equal(done, 0); /* never inside the call */
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(done, 1);
    assert_int_equal(h->nodes[1].app_msgs, 1);
    int stopped = 0;
    tp_node_shutdown(hs_node_of(h, 0), shutdown_done, &stopped);
    assert_int_equal(stopped, 0);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(stopped, 1);
    assert_int_equal(h->events[1][TP_EVENT_EXTERNAL_DISCONNECTION], 1);
    assert_int_equal(h->events[0][TP_EVENT_DISCONNECTION], 1);
    assert_int_equal(tp_node_send_to_peer(hs_node_of(h, 1), tp_node_peer_id(hs_node_of(h, 0)),
                                          HS_TAG_TEXT, frame, 4, false),
                     TP_ERR_NOT_FOUND);
    tp_node_destroy(h->nodes[0].node);
    h->nodes[0].node = NULL;
    assert_int_equal(sim_host_memory_bytes(sim_world_host(h->w, 0)), 0);
    hs_destroy(h);
}

/* ---- back-pressure: a pull-mode receiver that does not read (spec §4.5, §8.6) ----- */

static void pull_cfg(hs_node *hn, uint32_t i) {
    if (i == 1) hn->cfg.hooks.on_app_message = NULL; /* pull mode, app queue of 10 */
    if (i == 0) hn->cfg.outgoing_message_queue_size = 64 * 1024;
}

static void test_back_pressure(void **state) {
    (void)state;
    hs *h = hs_create(109, 2, pull_cfg);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 0, 1), TP_OK);
    hs_run_for(h, 1 * HS_S);
    tp_node *s = hs_node_of(h, 0), *r = hs_node_of(h, 1);
    tp_conn *sc = tp_node_conn_of_peer(s, tp_node_peer_id(r));
    tp_conn *rc = tp_node_conn_of_peer(r, tp_node_peer_id(s));
    assert_non_null(sc);
    assert_non_null(rc);
    uint8_t payload[4000];
    memset(payload, 0x5c, sizeof payload);
    uint32_t accepted = 0, dropped = 0;
    for (uint32_t k = 0; k < 200; k++) {
        memcpy(payload, &k, sizeof k);
        tp_err e = tp_node_send(s, sc, HS_TAG_TEXT, payload, sizeof payload, true);
        if (e == TP_OK) {
            accepted++;
        } else {
            assert_int_equal(e, TP_ERR_AGAIN); /* write_now drops when full */
            dropped++;
        }
        if (k % 10 == 9) hs_run_for(h, 20 * HS_MS);
    }
    hs_run_for(h, 2 * HS_S);
    /* the receiver holds exactly its app queue and has paused reading */
    assert_int_equal(tp_conn_app_count(rc), 10);
    assert_true(rc->paused);
    assert_true(dropped > 0);
    assert_int_equal(accepted + dropped, 200);
    assert_true(tp_conn_out_pending(sc) > 0);
    assert_true(tp_conn_out_pending(sc) <= 64 * 1024 + 4100);
    assert_int_equal(h->nodes[1].app_msgs, 0); /* pull mode: no push callback */
    /* write (not write_now): "full, wait for on_writable" */
    assert_int_equal(tp_node_send(s, sc, HS_TAG_TEXT, payload, sizeof payload, false),
                     TP_ERR_AGAIN);
    assert_int_equal(h->nodes[0].writable, 0);
    /* drain the receiver: everything that was accepted arrives, in order */
    uint32_t got = 0, last = 0;
    for (int round = 0; round < 400 && got < accepted; round++) {
        tp_conn *from;
        uint16_t tag;
        uint8_t buf[4096];
        size_t len;
        while (tp_node_recv(r, &from, &tag, buf, sizeof buf, &len)) {
            uint32_t k;
            assert_int_equal(len, sizeof payload);
            assert_int_equal(tag, HS_TAG_TEXT);
            assert_ptr_equal(from, rc);
            memcpy(&k, buf, sizeof k);
            if (got > 0) assert_true(k > last);
            last = k;
            got++;
        }
        hs_run_for(h, 10 * HS_MS);
    }
    assert_int_equal(got, accepted);
    assert_false(rc->paused);
    assert_true(h->nodes[0].writable >= 1);
    assert_int_equal(tp_conn_out_pending(sc), 0);
    hs_destroy(h);
}

/* ---- triggers (spec §7.3) and the slot check (spec §2.7 step 6) ---------------------- */

static void trig_cfg(hs_node *hn, uint32_t i) {
    if (i == 0) {
        hn->cfg.min_connections = 1;
        hn->cfg.expected_connections = 1;
        hn->cfg.max_connections = 2; /* max_threshold = 2 - (2 - 1) / 3 = 2 */
    }
}

static void test_triggers_and_slots(void **state) {
    (void)state;
    hs *h = hs_create(110, 4, trig_cfg);
    hs_start_all(h);
    for (uint32_t i = 1; i <= 3; i++) {
        assert_int_equal(hs_connect(h, i, 0), TP_OK);
        hs_run_for(h, 500 * HS_MS);
    }
    tp_node *t = hs_node_of(h, 0);
    assert_int_equal(tp_node_active_connections(t), 2);
    assert_int_equal(h->nodes[0].too_many, 1); /* when active reached max */
    assert_int_equal(h->nodes[3].last_connect_err, TP_ERR_REJECTED_BY_NACK);
    assert_int_equal(h->last_code[3][TP_EVENT_REQUEST_REJECTED], TP_MOTIVE_TOO_MANY_CONNECTIONS);
    assert_true(tp_node_kick(t, tp_node_peer_id(hs_node_of(h, 1))));
    hs_run_for(h, 500 * HS_MS);
    assert_int_equal(h->nodes[0].too_few, 0); /* 1 is not below min 1 */
    assert_true(tp_node_kick(t, tp_node_peer_id(hs_node_of(h, 2))));
    hs_run_for(h, 500 * HS_MS);
    assert_int_equal(h->nodes[0].too_few, 1);
    assert_int_equal(h->events[0][TP_EVENT_TOO_FEW_CONNECTIONS], 1);
    assert_int_equal(h->events[0][TP_EVENT_TOO_MANY_CONNECTIONS], 1);
    hs_destroy(h);
}

/* spec §4.4 (tezt "garbled"): a decoding error on a running connection greylists the
 * peer id and its IP and closes; a Disconnect message just closes. */
static void test_running_decoding_error_and_disconnect(void **state) {
    (void)state;
    hs *h = hs_create(111, 3, NULL);
    hs_start_all(h);
    assert_int_equal(hs_connect(h, 0, 2), TP_OK);
    assert_int_equal(hs_connect(h, 1, 2), TP_OK);
    hs_run_for(h, 1 * HS_S);
    tp_node *t = hs_node_of(h, 2);
    /* node 1 says Disconnect: closed, nothing greylisted */
    tp_conn *c1 = tp_node_conn_of_peer(hs_node_of(h, 1), tp_node_peer_id(t));
    const uint8_t disconnect[6] = {0, 0, 0, 2, 0, TP_MSG_DISCONNECT};
    assert_int_equal(tp_conn_write_frame(c1, disconnect, 6, false), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_null(tp_node_conn_of_peer(t, tp_node_peer_id(hs_node_of(h, 1))));
    assert_int_equal(h->events[2][TP_EVENT_GREYLIST_PEER], 0);
    assert_int_equal(h->events[2][TP_EVENT_GREYLIST_IP], 0);
    /* node 0 sends a frame with an unregistered tag: a decoding error */
    tp_conn *c0 = tp_node_conn_of_peer(hs_node_of(h, 0), tp_node_peer_id(t));
    const uint8_t bad[8] = {0, 0, 0, 4, 0x00, 0x99, 1, 2};
    assert_int_equal(tp_conn_write_frame(c0, bad, sizeof bad, false), TP_OK);
    hs_run_for(h, 1 * HS_S);
    assert_null(tp_node_conn_of_peer(t, tp_node_peer_id(hs_node_of(h, 0))));
    assert_int_equal(h->last_code[2][TP_EVENT_GREYLIST_PEER], TP_ERR_DECODE_BAD_TAG);
    assert_true(tp_acl_greylisted_peer(tp_node_acl(t), tp_node_peer_id(hs_node_of(h, 0))->bytes));
    tp_point p0 = hs_point(h, 0);
    assert_true(tp_acl_greylisted_ip(tp_node_acl(t), &p0.ip));
    assert_int_equal(h->nodes[0].disconns, 1);
    /* greylist_peer only works on a running connection */
    assert_false(tp_node_greylist_peer(t, tp_node_peer_id(hs_node_of(h, 1))));
    hs_destroy(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_handshake_limit),
        cmocka_unit_test(test_hooks_fire_once),
        cmocka_unit_test(test_banned_ip_closed_before_handshake),
        cmocka_unit_test(test_ban_addr_kicks_peers),
        cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_myself),
        cmocka_unit_test(test_expected_peer_id),
        cmocka_unit_test(test_refused_point_left_requested),
        cmocka_unit_test(test_write_sync_and_shutdown),
        cmocka_unit_test(test_back_pressure),
        cmocka_unit_test(test_triggers_and_slots),
        cmocka_unit_test(test_running_decoding_error_and_disconnect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
