/* tests/test_node_config.c — the complete node's configuration (core/node.h): Octez's
 * defaults for the assembled workers (spec §10), tp_node_config_check's messages naming
 * each field, and which workers a config turns on (maintenance, swap, discovery, peers
 * file, scheduler caps). */
#include "tests/sim_harness.h"

static tp_node_config base(hs *h) {
    tp_node_config c = h->nodes[0].cfg;
    hs_workers(&c);
    return c;
}

static void expect_bad(const tp_node_config *c, const char *field) {
    char buf[256];
    const char *why = tp_node_config_check(c, buf, sizeof buf);
    assert_non_null(why);
    printf("  %s\n", why);
    assert_non_null(strstr(why, field));
}

/* Octez's defaults (spec §10) for what the node now assembles. */
static void test_defaults(void **state) {
    (void)state;
    tp_node_config c;
    tp_node_config_default(&c);
    assert_int_equal(c.maintenance_idle_time_ns, 120 * HS_S);
    assert_int_equal(c.maintenance_wait_jitter_pm, 0); /* Octez's exact timing */
    assert_int_equal(c.swap_linger_ns, 30 * HS_S);
    assert_false(c.discovery_enabled);
    assert_int_equal(c.discovery_point.port, 10732);
    assert_int_equal(tp_ip_v4(&c.discovery_point.ip), 0xffffffffu);
    assert_false(c.trust_discovered_peers);
    assert_string_equal(c.peers_file, "peers.json");
    assert_int_equal(c.peers_save_interval_ns, 60 * HS_S);
    assert_int_equal(c.max_download_speed_bps, 0);
    assert_int_equal(c.max_upload_speed_bps, 0);
    assert_int_equal(c.read_buffer_size, 16384);
    /* Octez credits the caps once per second (p2p_io_scheduler.ml update_quota) */
    assert_int_equal(c.bandwidth_cap_slices, 1);
}

/* Every new field's check names the field and says what to do. */
static void test_check_messages(void **state) {
    (void)state;
    hs *h = hs_create(61, 1, NULL);
    tp_node_config c = base(h);
    char buf[256];
    assert_null(tp_node_config_check(&c, buf, sizeof buf));
    c = base(h);
    c.maintenance_idle_time_ns = -1;
    expect_bad(&c, "maintenance_idle_time_ns");
    c = base(h);
    c.maintenance_wait_jitter_pm = 1001;
    expect_bad(&c, "maintenance_wait_jitter_pm");
    c = base(h);
    c.swap_linger_ns = -1;
    expect_bad(&c, "swap_linger_ns");
    c = base(h);
    c.peers_save_interval_ns = -5;
    expect_bad(&c, "peers_save_interval_ns");
    c = base(h);
    char longname[TP_NODE_PEERS_FILE_MAX + 8];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    c.peers_file = longname;
    expect_bad(&c, "peers_file");
    c = base(h);
    c.max_download_speed_bps = -1;
    expect_bad(&c, "max_download_speed_bps");
    c = base(h);
    c.max_upload_speed_bps = -1;
    expect_bad(&c, "max_upload_speed_bps");
    c = base(h);
    c.read_buffer_size = 8;
    expect_bad(&c, "read_buffer_size");
    c = base(h);
    c.bandwidth_cap_slices = 0;
    expect_bad(&c, "bandwidth_cap_slices");
    c = base(h);
    c.discovery_enabled = true;
    c.listen.port = 40000; /* the datagram's int16 cannot carry it */
    expect_bad(&c, "discovery_enabled");
    c.advertised_port = 9732; /* the advertised port is what it announces */
    assert_null(tp_node_config_check(&c, buf, sizeof buf));
    c.maintenance_idle_time_ns = 0; /* no maintenance, no discovery: no constraint */
    c.advertised_port = 0;
    assert_null(tp_node_config_check(&c, buf, sizeof buf));
    /* tp_node_create refuses what the check refuses */
    c = base(h);
    c.swap_linger_ns = -1;
    tp_node *n = NULL;
    sim_host *host = sim_world_host(h->w, 0);
    sim_host_start(host); /* the harness app creates its own node; we use the env */
    assert_int_equal(tp_node_create(sim_host_env(host), &c, &n), TP_ERR_INVAL);
    assert_null(n);
    hs_destroy(h);
}

static void workers_cfg(hs_node *hn, uint32_t i) {
    hs_workers(&hn->cfg);
    switch (i) {
    case 0: break;                                   /* Octez's defaults */
    case 1: hn->cfg.maintenance_idle_time_ns = 0;    /* no maintenance (so no discovery) */
            hn->cfg.discovery_enabled = true; break;
    case 2: hn->cfg.peers_file = "/dev/null"; break; /* Octez's way to disable it */
    case 3: hn->cfg.peers_file = ""; break;
    case 4: hn->cfg.swap_linger_ns = 0;
            hn->cfg.discovery_enabled = true; break;
    case 5: hn->cfg.private_mode = true; break;
    default: break;
    }
}

/* Which workers each config turns on. */
static void test_workers_on_off(void **state) {
    (void)state;
    hs *h = hs_create(62, 6, workers_cfg);
    hs_start_all(h);
    hs_run_for(h, 1 * HS_S);
    tp_node *n[6];
    for (int i = 0; i < 6; i++) n[i] = h->nodes[i].node;
    assert_non_null(tp_node_maintenance(n[0]));
    assert_true(tp_swap_enabled(tp_node_swap(n[0])));
    assert_null(tp_node_discovery(n[0]));
    assert_non_null(tp_node_peers_file(n[0]));
    assert_string_equal(tp_node_peers_file(n[0])->cfg.name, "peers.json");
    assert_null(tp_node_maintenance(n[1]));
    assert_null(tp_node_discovery(n[1]));
    assert_null(tp_node_peers_file(n[2]));
    assert_null(tp_node_peers_file(n[3]));
    size_t loaded = 7;
    assert_int_equal(tp_node_peers_loaded(n[2], &loaded), TP_OK);
    assert_false(tp_swap_enabled(tp_node_swap(n[4])));
    assert_non_null(tp_node_discovery(n[4]));
    assert_false(tp_swap_enabled(tp_node_swap(n[5]))); /* private nodes never swap */
    assert_non_null(tp_node_maintenance(n[5]));
    /* a clean stop saves the peers file (node 0) and not without one (node 2) */
    sim_host_stop(sim_world_host(h->w, 0), 2 * HS_S);
    sim_host_stop(sim_world_host(h->w, 2), 2 * HS_S);
    hs_run_for(h, 1 * HS_S);
    assert_int_equal(tp_node_peers_saved(n[0]), TP_OK);
    assert_int_equal(tp_node_peers_saved(n[2]), TP_ERR_STATE);
    assert_int_equal(tp_node_maintain(n[0], NULL, NULL), TP_ERR_STATE); /* shutting down */
    hs_destroy(h);
}

static void stopped(void *arg, tp_node *n) {
    (void)n;
    (*(int *)arg)++;
}

static void all_cfg(hs_node *hn, uint32_t i) {
    hs_workers(&hn->cfg);
    hn->cfg.min_connections = 1;
    hn->cfg.expected_connections = 2;
    hn->cfg.max_connections = 3;
    hn->cfg.discovery_enabled = true;
    hn->cfg.max_download_speed_bps = 50000;
    hn->cfg.max_upload_speed_bps = 50000;
    hn->cfg.peers_save_interval_ns = 5 * HS_S;
    (void)i;
}

/* A node with every worker on (maintenance, swap, discovery, peers file, capped
 * scheduler), connected and busy, shuts down: the callback fires once every
 * connection closed, the peers file was saved, and tp_node_destroy gives every byte
 * back (the others are crash-dropped by the harness, also to zero). */
static void test_shutdown_destroy(void **state) {
    (void)state;
    hs *h = hs_create(63, 4, all_cfg);
    hs_start_all(h);
    hs_run_for(h, 20 * HS_S);
    tp_node *n = h->nodes[0].node;
    assert_true(tp_node_active_connections(n) >= 1);
    assert_true(tp_node_peers_file(n)->saves >= 1);
    int done = 0;
    tp_node_shutdown(n, stopped, &done);
    assert_int_equal(done, 0);
    hs_run_for(h, 2 * HS_S);
    assert_int_equal(done, 1);
    assert_int_equal(tp_node_peers_saved(n), TP_OK);
    assert_int_equal(tp_node_maintain(n, NULL, NULL), TP_ERR_STATE);
    tp_node_destroy(n);
    h->nodes[0].node = NULL;
    assert_int_equal(sim_host_memory_bytes(sim_world_host(h->w, 0)), 0);
    hs_run_for(h, 10 * HS_S); /* nothing of it fires any more */
    hs_destroy(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_check_messages),
        cmocka_unit_test(test_workers_on_off),
        cmocka_unit_test(test_shutdown_destroy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
