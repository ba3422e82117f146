/* tests/test_config.c — daemon/config: config.json with Octez's p2p keys (spec §10).
 * Positive: defaults, every key read with its unit. Negative: syntax, unknown keys (with
 * a suggestion), types, ranges, cross-field limits, bad points, missing file — each
 * error names the key and its line:column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"

#define NS INT64_C(1000000000)

static tp_err parse(dm_config *cfg, const char *text, char *err) {
    dm_config_default(cfg);
    err[0] = '\0';
    return dm_config_parse(cfg, "config.json", text, strlen(text), err, DM_ERROR_SIZE);
}

static void test_defaults(void **state) {
    (void)state;
    dm_config cfg;
    char err[DM_ERROR_SIZE];
    assert_int_equal(parse(&cfg, "{}", err), TP_OK);
    assert_int_equal(cfg.limits.min_connections, 10);
    assert_int_equal(cfg.limits.expected_connections, 50);
    assert_int_equal(cfg.limits.max_connections, 100);
    assert_int_equal(cfg.limits.max_incoming_connections, 20);
    assert_int_equal(cfg.limits.connection_timeout_ns, 10 * NS);
    assert_int_equal(cfg.limits.authentication_timeout_ns, 5 * NS);
    assert_true(cfg.limits.maintenance_enabled);
    assert_int_equal(cfg.limits.maintenance_idle_time_ns, 120 * NS);
    assert_true(cfg.limits.swap_enabled);
    assert_int_equal(cfg.limits.max_download_speed_bps, -1);
    assert_int_equal(cfg.listen_addr.cp.port, 9732);
    assert_int_equal(cfg.listen_addr.cp.kind, TP_HOST_IP);
    assert_false(cfg.has_discovery_addr);
    assert_false(cfg.rpc_enabled);
    assert_int_equal(cfg.bootstrap_peers_count, 0);
    assert_true(cfg.expected_pow == 26.0);
    assert_string_equal(cfg.chain_name, DM_CHAIN_NAME_DEFAULT);
    assert_true(strcmp(cfg.chain_name, "TEZOS_MAINNET") != 0); /* never mainnet by default */
    assert_int_equal(cfg.reconnection.factor_permille, 1200);
}

static const char *FULL =
    "{\n"
    "  \"data-dir\": \"/var/lib/tidepool\",\n"
    "  \"log\": {\"output\": \"stderr\"},\n"
    "  \"p2p\": {\n"
    "    \"expected-proof-of-work\": 24.5,\n"
    "    \"bootstrap-peers\": [\"127.0.0.1:19732\", \"[::1]:19733\", \"boot.example.org\",\n"
    "                        \"10.0.0.1:9732#idssJHDL1z8fkryZaYVF9fQRMktoWg\"],\n"
    "    \"listen-addr\": \"127.0.0.1:19731\",\n"
    "    \"advertised-net-port\": 29731,\n"
    "    \"discovery-addr\": \"255.255.255.255:10733\",\n"
    "    \"private-mode\": true,\n"
    "    \"greylisting_config\": {\"factor\": 1.5, \"initial-delay\": 0.5,\n"
    "                           \"disconnection-delay\": 30, \"increase-cap\": 3600},\n"
    "    \"limits\": {\n"
    "      \"connection-timeout\": 3, \"authentication-timeout\": 2.5,\n"
    "      \"min-connections\": 2, \"expected-connections\": 4, \"max-connections\": 8,\n"
    "      \"backlog\": 30, \"max-incoming-connections\": 12,\n"
    "      \"max-download-speed\": 1024, \"max-upload-speed\": 2,\n"
    "      \"swap-linger\": null, \"maintenance-idle-time\": 60,\n"
    "      \"binary-chunks-size\": 8, \"read-buffer-size\": 4096,\n"
    "      \"max_known_points\": [800, 600], \"max_known_peer_ids\": [500, 100],\n"
    "      \"peer_greylist_size\": 100, \"ip_greylist_size_in_kilobytes\": 64,\n"
    "      \"ip_greylist_cleanup_delay\": 600, \"greylist-timeout\": 700,\n"
    "      \"incoming-app-message-queue-size\": 33\n"
    "    }\n"
    "  },\n"
    "  \"rpc\": {\"listen-addrs\": [\"127.0.0.1:18732\"]},\n"
    "  \"network\": {\"chain_name\": \"TEZOS_MAINNET\", \"distributed_db_versions\": [2],\n"
    "              \"p2p_versions\": [0, 1]}\n"
    "}\n";

static void test_full(void **state) {
    (void)state;
    dm_config cfg;
    char err[DM_ERROR_SIZE];
    assert_int_equal(parse(&cfg, FULL, err), TP_OK);
    assert_string_equal(cfg.data_dir, "/var/lib/tidepool");
    assert_true(cfg.expected_pow == 24.5);
    assert_int_equal(cfg.bootstrap_peers_count, 4);
    assert_int_equal(cfg.bootstrap_peers[0].cp.port, 19732);
    assert_int_equal(cfg.bootstrap_peers[1].cp.kind, TP_HOST_IP);
    assert_int_equal(cfg.bootstrap_peers[2].cp.kind, TP_HOST_DOMAIN);
    assert_false(cfg.bootstrap_peers[2].cp.has_port);
    assert_true(cfg.bootstrap_peers[3].cp.has_peer_id);
    assert_string_equal(cfg.bootstrap_peers[0].text, "127.0.0.1:19732");
    assert_int_equal(cfg.listen_addr.cp.port, 19731);
    assert_true(cfg.has_advertised_net_port);
    assert_int_equal(cfg.advertised_net_port, 29731);
    assert_true(cfg.has_discovery_addr);
    assert_int_equal(cfg.discovery_addr.cp.port, 10733);
    assert_true(cfg.private_mode);
    assert_int_equal(cfg.reconnection.factor_permille, 1500);
    assert_int_equal(cfg.reconnection.initial_delay_ns, NS / 2);
    assert_int_equal(cfg.reconnection.increase_cap_ns, 3600 * NS);
    const dm_limits *l = &cfg.limits;
    assert_int_equal(l->connection_timeout_ns, 3 * NS);
    assert_int_equal(l->authentication_timeout_ns, 2500000000LL);
    assert_int_equal(l->min_connections, 2);
    assert_int_equal(l->expected_connections, 4);
    assert_int_equal(l->max_connections, 8);
    assert_int_equal(l->backlog, 30);
    assert_int_equal(l->max_incoming_connections, 12);
    assert_int_equal(l->max_download_speed_bps, 1024 * 1024); /* KiB/s */
    assert_int_equal(l->max_upload_speed_bps, 2048);
    assert_false(l->swap_enabled);
    assert_true(l->maintenance_enabled);
    assert_int_equal(l->maintenance_idle_time_ns, 60 * NS);
    assert_int_equal(l->binary_chunks_size, 8192); /* KiB */
    assert_int_equal(l->read_buffer_size, 4096);
    assert_int_equal(l->max_known_points, 800);
    assert_int_equal(l->max_known_points_target, 600);
    assert_int_equal(l->max_known_peer_ids_target, 100);
    assert_int_equal(l->peer_greylist_size, 100);
    assert_int_equal(l->ip_greylist_cleanup_delay_ns, 600 * NS);
    assert_int_equal(l->greylist_timeout_ns, 700 * NS);
    assert_int_equal(l->incoming_app_message_queue_size, 33);
    assert_true(cfg.rpc_enabled);
    assert_int_equal(cfg.rpc_listen_addr.cp.port, 18732);
    assert_string_equal(cfg.chain_name, "TEZOS_MAINNET");
    assert_int_equal(cfg.ddb_versions_count, 1);
    assert_int_equal(cfg.ddb_versions[0], 2);
    assert_int_equal(cfg.p2p_versions_count, 2);
}

/* A bad config and the error it must give: position prefix and a fragment. */
typedef struct bad_case {
    const char *text;
    tp_err code;
    const char *where;    /* "config.json:L:C:" */
    const char *fragment; /* part of the message */
} bad_case;

static void test_bad_configs(void **state) {
    (void)state;
    static const bad_case cases[] = {
        /* syntax */
        {"{\n  \"p2p\": {\n    \"private-mode\": true,\n  }\n}", TP_ERR_DECODE_BAD_JSON,
         "config.json:4:", "malformed JSON"},
        {"", TP_ERR_DECODE_BAD_JSON, "config.json:1:1:", "malformed JSON"},
        {"{\"p2p\": {}, \"p2p\": {}}", TP_ERR_DECODE_BAD_JSON, "config.json:1:", "malformed"},
        {"[1]", TP_ERR_INVAL, "config.json:1:1:", "must be a JSON object"},
        /* unknown keys, with a suggestion */
        {"{\n  \"p2p\": {\n    \"limits\": {\n      \"max-conections\": 5\n    }\n  }\n}",
         TP_ERR_INVAL, "config.json:4:7:", "did you mean \"max-connections\"?"},
        {"{\"p2p\": {\"listen_addr\": \"[::]:1\"}}", TP_ERR_INVAL, "config.json:1:10:",
         "did you mean \"listen-addr\"?"},
        {"{\"p2pp\": {}}", TP_ERR_INVAL, "config.json:1:2:", "did you mean \"p2p\"?"},
        {"{\"zzzzzzzzzz\": 1}", TP_ERR_INVAL, "config.json:1:2:", "unknown key \"zzzzzzzzzz\""},
        /* types */
        {"{\"p2p\": {\"private-mode\": \"yes\"}}", TP_ERR_INVAL, "config.json:1:26:",
         "\"p2p.private-mode\" must be a boolean (got string)"},
        {"{\"p2p\": {\"limits\": {\"min-connections\": 2.5}}}", TP_ERR_INVAL,
         "config.json:1:40:", "\"p2p.limits.min-connections\" must be an integer"},
        {"{\"p2p\": {\"limits\": {\"connection-timeout\": \"10s\"}}}", TP_ERR_INVAL,
         "config.json:1:43:", "number of seconds"},
        {"{\"p2p\": {\"bootstrap-peers\": \"1.2.3.4:9732\"}}", TP_ERR_INVAL,
         "config.json:1:29:", "must be an array"},
        /* ranges */
        {"{\"p2p\": {\"limits\": {\"backlog\": 300}}}", TP_ERR_INVAL, "config.json:1:32:",
         "in [1, 255] (got 300)"},
        {"{\"p2p\": {\"limits\": {\"binary-chunks-size\": 64}}}", TP_ERR_INVAL,
         "config.json:1:", "\"p2p.limits.binary-chunks-size\" must be in [1, 63]"},
        {"{\"p2p\": {\"limits\": {\"max-download-speed\": 0}}}", TP_ERR_INVAL,
         "config.json:1:", "max-download-speed"},
        {"{\"p2p\": {\"expected-proof-of-work\": 300}}", TP_ERR_INVAL, "config.json:1:",
         "[0, 256]"},
        {"{\"p2p\": {\"limits\": {\"connection-timeout\": -1}}}", TP_ERR_INVAL,
         "config.json:1:", "between 0 and 1e9"},
        {"{\"p2p\": {\"limits\": {\"max_known_points\": [10, 20]}}}", TP_ERR_INVAL,
         "config.json:1:", "target must be <= the max"},
        {"{\"p2p\": {\"limits\": {\"max_known_points\": [10]}}}", TP_ERR_INVAL,
         "config.json:1:", "[max, target]"},
        /* cross-field: names the key at fault and both values */
        {"{\"p2p\": {\"limits\": {\n  \"expected-connections\": 50,\n  \"max-connections\": 10}}}",
         TP_ERR_INVAL, "config.json:3:22:",
         "\"p2p.limits.max-connections\" must be >= \"expected-connections\" (got 10 < 50)"},
        {"{\"p2p\": {\"limits\": {\"min-connections\": 60}}}", TP_ERR_INVAL, "config.json:1:",
         "must be >= \"min-connections\" (got 50 < 60)"},
        /* points */
        {"{\"p2p\": {\"bootstrap-peers\": [\"1.2.3.4:99999\"]}}", TP_ERR_INVAL,
         "config.json:1:30:", "\"1.2.3.4:99999\" is not a point"},
        {"{\"p2p\": {\"listen-addr\": \"[::1:9732\"}}", TP_ERR_INVAL, "config.json:1:", "not a point"},
        {"{\"p2p\": {\"bootstrap-peers\": [\"1.2.3.4:1#idBAD\"]}}", TP_ERR_INVAL,
         "config.json:1:", "not a point"},
        /* rpc / network */
        {"{\"rpc\": {\"listen-addrs\": [\"127.0.0.1:1\", \"127.0.0.1:2\"]}}", TP_ERR_INVAL,
         "config.json:1:", "at most one"},
        {"{\"rpc\": {\"cors-origin\": [\"*\"]}}", TP_ERR_INVAL, "config.json:1:",
         "not supported"},
        {"{\"network\": {\"chain_name\": \"\"}}", TP_ERR_INVAL, "config.json:1:",
         "must not be empty"},
        {"{\"network\": {\"p2p_versions\": []}}", TP_ERR_INVAL, "config.json:1:",
         "1 to 8 versions"},
        {"{\"network\": {\"p2p_versions\": [70000]}}", TP_ERR_INVAL, "config.json:1:",
         "[0, 65535]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dm_config cfg;
        char err[DM_ERROR_SIZE];
        tp_err e = parse(&cfg, cases[i].text, err);
        if (e != cases[i].code || strncmp(err, cases[i].where, strlen(cases[i].where)) != 0 ||
            strstr(err, cases[i].fragment) == NULL)
            fail_msg("case %zu: %s\n  got %d: %s\n  want %d: %s ... %s", i, cases[i].text, e,
                     err, cases[i].code, cases[i].where, cases[i].fragment);
    }
}

static void test_too_many_bootstrap_peers(void **state) {
    (void)state;
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "{\"p2p\": {\"bootstrap-peers\": [");
    for (int i = 0; i < DM_BOOTSTRAP_PEERS_MAX + 1; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\"10.0.0.%d:9732\"", i ? "," : "",
                              i % 250 + 1);
    snprintf(text + n, sizeof text - n, "]}}");
    dm_config cfg;
    char err[DM_ERROR_SIZE];
    assert_int_equal(parse(&cfg, text, err), TP_ERR_TOO_BIG);
    assert_non_null(strstr(err, "at most 64"));
}

static void test_load_file(void **state) {
    (void)state;
    char dir[] = "/tmp/tp_config_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    dm_config cfg;
    dm_config_default(&cfg);
    char err[DM_ERROR_SIZE];
    /* missing: names the path and the option */
    assert_int_equal(dm_config_load(&cfg, path, err, sizeof err), TP_ERR_NOT_FOUND);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "--config"));
    /* present: parsed, errors prefixed with the path given */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\n \"p2p\": {\"limits\": {\"max-connections\": 7, \"expected-connections\": 7,\n"
          "   \"min-connections\": 1}}}\n",
          f);
    fclose(f);
    assert_int_equal(dm_config_load(&cfg, path, err, sizeof err), TP_OK);
    assert_int_equal(cfg.limits.max_connections, 7);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\n \"p2p\": {\"private-mode\": 1}}\n", f);
    fclose(f);
    assert_int_equal(dm_config_load(&cfg, path, err, sizeof err), TP_ERR_INVAL);
    char want[300];
    snprintf(want, sizeof want, "%s:2:", path);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    unlink(path);
    rmdir(dir);
}

static void test_point_set_and_check(void **state) {
    (void)state;
    dm_config cfg;
    dm_config_default(&cfg);
    char err[DM_ERROR_SIZE];
    assert_int_equal(dm_point_set(&cfg.listen_addr, "--net-addr", "127.0.0.1:5000", err,
                                  sizeof err),
                     TP_OK);
    assert_int_equal(cfg.listen_addr.cp.port, 5000);
    assert_int_equal(dm_point_set(&cfg.listen_addr, "--net-addr", "1.2.3.4:70000", err,
                                  sizeof err),
                     TP_ERR_INVAL);
    assert_non_null(strstr(err, "--net-addr '1.2.3.4:70000'"));
    assert_int_equal(cfg.listen_addr.cp.port, 5000); /* untouched on error */
    cfg.limits.expected_connections = 200;
    assert_int_equal(dm_config_check(&cfg, err, sizeof err), TP_ERR_INVAL);
    assert_non_null(strstr(err, "expected-connections"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_too_many_bootstrap_peers),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_point_set_and_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
