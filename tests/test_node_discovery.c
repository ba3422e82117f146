/* tests/test_node_discovery.c — issue 5's acceptance for LAN discovery (spec §9) on
 * complete nodes over simnet: core/node.h starts the discovery when discovery_enabled,
 * the node listens and the maintenance runs; the maintenance wakes it when it lacks
 * contacts. The test adds no glue. Every test prints its seed. */
#include "tests/sim_harness.h"

/* hs_create with two LANs: per_lan hosts in region 0 (10.0.0.0/24) then per_lan in
 * region 1 (10.1.0.0/24). */
static hs *hs_create_lans(uint64_t seed, uint32_t per_lan, void (*configure)(hs_node *, uint32_t)) {
    printf("seed %llu\n", (unsigned long long)seed);
    hs *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->seed = seed;
    h->count = 2 * per_lan;
    h->nodes = calloc(h->count, sizeof *h->nodes);
    assert_non_null(h->nodes);
    sim_world_config wc;
    sim_world_config_default(&wc);
    wc.seed = seed;
    wc.region_count = 2;
    wc.event_cb = hs_event_cb;
    wc.event_arg = h;
    assert_int_equal(sim_world_create(&wc, &h->w), TP_OK);
    uint32_t first;
    assert_int_equal(sim_hosts_add_in_region(h->w, 0, per_lan, NULL, &first), TP_OK);
    assert_int_equal(sim_hosts_add_in_region(h->w, 1, per_lan, NULL, &first), TP_OK);
    for (uint32_t i = 0; i < h->count; i++) {
        hs_node *hn = hs_node_setup(h, i, seed);
        if (configure) configure(hn, i);
        sim_host_set_app(sim_world_host(h->w, i), &hs_node_ops, hn);
    }
    return h;
}

static void lan_cfg(hs_node *hn, uint32_t i) {
    (void)i;
    tp_node_config *c = &hn->cfg;
    c->peers_file = NULL;
    c->trusted_points_count = 0; /* no bootstrap peers at all */
    c->min_connections = 2;
    c->expected_connections = 4;
    c->max_connections = 6;
    c->discovery_enabled = true; /* 255.255.255.255:10732 */
}

static uint32_t lan_of(const tp_ip *ip) {
    return (tp_ip_v4(ip) >> 16) & 0xff; /* 10.<lan>.x.x */
}

/* Two LANs, no bootstrap peers: through the LAN datagrams and the maintenance, every
 * node connects to members of its own LAN only, knows no point of the other LAN, and
 * every datagram it received came from its own LAN (each one either registered a point
 * of its LAN or was its own). */
static void test_two_lans(void **state) {
    (void)state;
    const uint32_t per_lan = 8;
    hs *h = hs_create_lans(4242, per_lan, lan_cfg);
    hs_start_all(h);
    hs_run_for(h, 60 * HS_S);
    tp_maintenance_bounds b = tp_maintenance_bounds_of(2, 4, 6);
    uint64_t received = 0;
    for (uint32_t i = 0; i < 2 * per_lan; i++) {
        tp_node *n = h->nodes[i].node;
        uint32_t lan = i / per_lan;
        uint32_t active = tp_node_active_connections(n);
        assert_true(active >= b.min_threshold && active <= b.max_threshold);
        for (tp_conn *c = tp_node_first_conn(n); c != NULL; c = c->next)
            assert_int_equal(lan_of(&c->remote_addr.ip), lan);
        uint32_t it = 0;
        tp_point_info *pi;
        uint32_t known = 0;
        while ((pi = tp_pool_next_point(tp_node_pool(n), &it)) != NULL) {
            assert_int_equal(lan_of(&pi->point.ip), lan);
            known++;
        }
        /* the LAN's other members (our own point may be there too, advertised back by a
         * neighbour, until a self-dial puts it in my_id_points) */
        assert_true(known >= per_lan - 1 && known <= per_lan);
        tp_discovery *d = tp_node_discovery(n);
        assert_non_null(d);
        assert_true(d->sent > 0);
        assert_true(d->registered >= per_lan - 1);
        /* every datagram from another peer registers a point (of its sender's IP):
         * none of the other LAN is known, so none crossed */
        assert_int_equal(d->received, d->registered + d->ignored);
        received += d->received;
    }
    printf("datagrams received %llu\n", (unsigned long long)received);
    hs_destroy(h);
}

static void nodisc_cfg(hs_node *hn, uint32_t i) {
    lan_cfg(hn, i);
    if (i == 0) hn->cfg.maintenance_idle_time_ns = 0; /* Octez: no maintenance, no discovery */
    if (i == 1) hn->cfg.listen.port = 0;              /* not listening: no discovery */
    if (i == 2) hn->cfg.discovery_enabled = false;
}

/* Discovery runs only when configured, listening and maintained (spec §9). */
static void test_discovery_conditions(void **state) {
    (void)state;
    hs *h = hs_create_lans(4243, 4, nodisc_cfg);
    hs_start_all(h);
    hs_run_for(h, 5 * HS_S);
    assert_null(tp_node_discovery(h->nodes[0].node));
    assert_null(tp_node_discovery(h->nodes[1].node));
    assert_null(tp_node_discovery(h->nodes[2].node));
    assert_non_null(tp_node_discovery(h->nodes[3].node));
    assert_true(tp_node_discovery(h->nodes[3].node)->sent > 0);
    hs_destroy(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_lans),
        cmocka_unit_test(test_discovery_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
