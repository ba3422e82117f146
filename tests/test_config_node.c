/* tests/test_config_node.c — from config.json to the node: daemon/p2p's mapping of
 * Octez's keys onto tp_node_config (units: KiB/s to bytes/s, seconds to ns; null
 * disabling the maintenance and the swap; bootstrap peers as trusted points with their
 * expected peer ids; versions, chain name, private mode, discovery), and that the
 * result passes tp_node_config_check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "daemon/p2p.h"

#define NS INT64_C(1000000000)

static void identity(tp_identity *id) {
    uint8_t seed[TP_SEED_SIZE];
    memset(seed, 7, sizeof seed);
    tp_identity_init_from_seed(id, seed);
}

static void test_defaults_map(void **state) {
    (void)state;
    dm_config cfg;
    dm_config_default(&cfg);
    tp_identity id;
    identity(&id);
    dm_p2p_options opt;
    memset(&opt, 0, sizeof opt);
    opt.listen = tp_point_v4(0x7f000001, 9732);
    tp_node_config nc;
    dm_p2p_node_config(&cfg, &id, &opt, &nc);
    char why[256];
    assert_null(tp_node_config_check(&nc, why, sizeof why));
    assert_string_equal(nc.chain_name, DM_CHAIN_NAME_DEFAULT);
    assert_int_equal(nc.min_connections, 10);
    assert_int_equal(nc.expected_connections, 50);
    assert_int_equal(nc.max_connections, 100);
    assert_int_equal(nc.maintenance_idle_time_ns, 120 * NS);
    assert_int_equal(nc.swap_linger_ns, 30 * NS);
    assert_int_equal(nc.max_download_speed_bps, 0); /* unlimited */
    assert_false(nc.discovery_enabled);
    assert_string_equal(nc.peers_file, "peers.json");
    assert_true(tp_peer_id_eq(&nc.identity.peer_id, &id.peer_id));
    /* PoW 26 by default: a stamp of level 25 fails, as Octez */
    tp_pow_target t26;
    assert_int_equal(tp_pow_target_of_difficulty(26.0, &t26), TP_OK);
    assert_memory_equal(&nc.pow_target, &t26, sizeof t26);
}

static const char *CONFIG =
    "{\"p2p\": {\"expected-proof-of-work\": 0, \"private-mode\": true,\n"
    "  \"advertised-net-port\": 4000, \"disable_mempool\": true,\n"
    "  \"greylisting_config\": {\"factor\": 2, \"initial-delay\": 0.5},\n"
    "  \"limits\": {\"min-connections\": 3, \"expected-connections\": 6, \"max-connections\": 9,\n"
    "    \"max-download-speed\": 100, \"max-upload-speed\": 50, \"swap-linger\": null,\n"
    "    \"maintenance-idle-time\": null, \"connection-timeout\": 2.5,\n"
    "    \"authentication-timeout\": 1, \"max-incoming-connections\": 7,\n"
    "    \"binary-chunks-size\": 2, \"read-buffer-size\": 8192,\n"
    "    \"incoming-app-message-queue-size\": 4, \"max_known_points\": [50, 40],\n"
    "    \"greylist-timeout\": 60, \"peer_greylist_size\": 10, \"backlog\": 33,\n"
    "    \"ip_greylist_size_in_kilobytes\": 64}},\n"
    " \"network\": {\"chain_name\": \"TEZOS_MAINNET\", \"distributed_db_versions\": [2],\n"
    "   \"p2p_versions\": [0, 1]}}";

static void test_keys_map(void **state) {
    (void)state;
    dm_config cfg;
    dm_config_default(&cfg);
    char err[DM_ERROR_SIZE];
    assert_int_equal(dm_config_parse(&cfg, "config.json", CONFIG, strlen(CONFIG), err, sizeof err),
                     TP_OK);
    tp_identity id;
    identity(&id);
    dm_p2p_options opt;
    memset(&opt, 0, sizeof opt);
    opt.listen = tp_point_v4(0x7f000001, 5000);
    opt.bootstrap[0] = tp_point_v4(0x0a000001, 9732);
    opt.bootstrap_has_expected[0] = true;
    assert_int_equal(tp_peer_id_of_b58("idrRoknJh9zwEePNswF3MPGFzmKaVp", 30,
                                       &opt.bootstrap_expected[0]),
                     TP_OK);
    opt.bootstrap[1] = tp_point_v4(0x0a000002, 9733);
    opt.bootstrap_count = 2;
    opt.discovery = true;
    opt.discovery_point = tp_point_v4(0x0a0000ff, 10733);
    tp_node_config nc;
    dm_p2p_node_config(&cfg, &id, &opt, &nc);
    char why[256];
    assert_null(tp_node_config_check(&nc, why, sizeof why));
    assert_string_equal(nc.chain_name, "TEZOS_MAINNET");
    assert_int_equal(nc.ddb_versions_count, 1);
    assert_int_equal(nc.ddb_versions[0], 2);
    assert_int_equal(nc.p2p_versions_count, 2);
    assert_true(nc.private_mode);
    assert_true(nc.disable_mempool);
    assert_int_equal(nc.advertised_port, 4000);
    assert_int_equal(nc.listen.port, 5000);
    assert_int_equal(nc.min_connections, 3);
    assert_int_equal(nc.expected_connections, 6);
    assert_int_equal(nc.max_connections, 9);
    assert_int_equal(nc.max_incoming_connections, 7);
    assert_int_equal(nc.max_download_speed_bps, 100 * 1024); /* KiB/s */
    assert_int_equal(nc.max_upload_speed_bps, 50 * 1024);
    assert_int_equal(nc.swap_linger_ns, 0);             /* null: swap off */
    assert_int_equal(nc.maintenance_idle_time_ns, 0);   /* null: maintenance off */
    assert_int_equal(nc.connection_timeout_ns, 2500000000LL);
    assert_int_equal(nc.authentication_timeout_ns, 1 * NS);
    assert_int_equal(nc.binary_chunks_size, 2048);      /* KiB */
    assert_int_equal(nc.read_buffer_size, 8192);
    assert_int_equal(nc.incoming_app_message_queue_size, 4);
    assert_int_equal(nc.pool.max_known_points, 50);
    assert_int_equal(nc.pool.target_known_points, 40);
    assert_int_equal(nc.pool.backoff_factor_pm, 2000);
    assert_int_equal(nc.pool.backoff_initial_ns, NS / 2);
    assert_int_equal(nc.acl.ip_greylist_timeout_ns, 60 * NS);
    assert_int_equal(nc.acl.peer_greylist_size, 10);
    assert_int_equal(nc.listen_backlog, 33);
    assert_int_equal(nc.acl.ip_greylist_max, 64 * 1024 / 32);
    assert_int_equal(nc.trusted_points_count, 2);
    assert_true(nc.trusted_points[0].has_expected_peer_id);
    assert_false(nc.trusted_points[1].has_expected_peer_id);
    assert_int_equal(nc.trusted_points[1].point.port, 9733);
    assert_true(nc.discovery_enabled);
    assert_int_equal(nc.discovery_point.port, 10733);
    tp_pow_target t0;
    assert_int_equal(tp_pow_target_of_difficulty(0.0, &t0), TP_OK);
    assert_memory_equal(&nc.pow_target, &t0, sizeof t0);
    /* an explicit ip_greylist_cleanup_delay wins over greylist-timeout */
    dm_config cfg2;
    dm_config_default(&cfg2);
    cfg2.limits.greylist_timeout_ns = 60 * NS;
    cfg2.limits.ip_greylist_cleanup_delay_ns = 90 * NS;
    tp_node_config nc2;
    dm_p2p_node_config(&cfg2, &id, &opt, &nc2);
    assert_int_equal(nc2.acl.ip_greylist_timeout_ns, 90 * NS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_map),
        cmocka_unit_test(test_keys_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
