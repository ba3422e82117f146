/* tests/test_acl.c — core/acl, mirroring Octez's test_p2p_banned_peers (IP greylist)
 * and test_p2p_peerset (peer greylist LRU), plus expiry and bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/acl.h"
#include "tests/mock_env.h"

#define S_NS ((int64_t)1000000000)

static tp_ip ip4(uint32_t a) {
    return tp_ip_from_v4(a);
}

static void peer(uint8_t id[16], uint8_t tag) {
    memset(id, 0, 16);
    id[0] = tag;
    id[15] = (uint8_t)~tag;
}

/* test_p2p_banned_peers: empty bans nothing; added IPs are banned; clear unbans. */
static void test_ip_greylist(void **state) {
    (void)state;
    mock_env m;
    mock_env_init(&m, 7);
    tp_acl_config cfg;
    tp_acl_config_default(&cfg);
    tp_acl acl;
    tp_acl_init(&acl, &m.env, &cfg);
    tp_ip a = ip4(0x0a000001), b = ip4(0x0a000002), c = ip4(0x0a000003);
    assert_false(tp_acl_banned_ip(&acl, &a));
    tp_acl_greylist_ip(&acl, &a);
    tp_acl_greylist_ip(&acl, &b);
    assert_true(tp_acl_banned_ip(&acl, &a));
    assert_true(tp_acl_banned_ip(&acl, &b));
    assert_false(tp_acl_banned_ip(&acl, &c));
    assert_false(tp_acl_blacklisted_ip(&acl, &a));
    tp_acl_clear(&acl);
    assert_false(tp_acl_banned_ip(&acl, &a));
    assert_false(tp_acl_banned_ip(&acl, &b));
    tp_acl_deinit(&acl);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
}

/* Entries expire after the timeout; re-greylisting refreshes the expiry. */
static void test_ip_greylist_expiry(void **state) {
    (void)state;
    mock_env m;
    mock_env_init(&m, 8);
    tp_acl_config cfg;
    tp_acl_config_default(&cfg);
    tp_acl acl;
    tp_acl_init(&acl, &m.env, &cfg);
    tp_ip a = ip4(0x01020304), b = ip4(0x05060708);
    tp_acl_greylist_ip(&acl, &a);
    mock_env_advance(&m, 43200 * S_NS); /* half a day */
    tp_acl_greylist_ip(&acl, &b);
    tp_acl_greylist_ip(&acl, &a); /* refresh a: now expires after b */
    mock_env_advance(&m, 43200 * S_NS - 1);
    assert_true(tp_acl_banned_ip(&acl, &a));
    assert_true(tp_acl_banned_ip(&acl, &b));
    mock_env_advance(&m, 43200 * S_NS + 1); /* b's full day has passed, a's too */
    assert_false(tp_acl_banned_ip(&acl, &a));
    assert_false(tp_acl_banned_ip(&acl, &b));
    /* order of expiry: b is dropped before a in a listing at the right moment */
    tp_acl_greylist_ip(&acl, &a);
    mock_env_advance(&m, 10 * S_NS);
    tp_acl_greylist_ip(&acl, &b);
    mock_env_advance(&m, 86400 * S_NS - 5 * S_NS);
    tp_acl_expire(&acl);
    uint32_t it = 0, n = 0;
    tp_ip got;
    int64_t expiry;
    while (tp_acl_next_greylisted_ip(&acl, &it, &got, &expiry)) {
        assert_true(tp_ip_eq(&got, &b));
        assert_true(expiry > m.now_ns);
        n++;
    }
    assert_int_equal(n, 1);
    tp_acl_deinit(&acl);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
}

/* A full IP greylist drops the entry closest to expiry and marks the listing. */
static void test_ip_greylist_bound(void **state) {
    (void)state;
    mock_env m;
    mock_env_init(&m, 9);
    tp_acl_config cfg;
    tp_acl_config_default(&cfg);
    cfg.ip_greylist_max = 3;
    tp_acl acl;
    tp_acl_init(&acl, &m.env, &cfg);
    for (uint32_t i = 1; i <= 3; i++) {
        tp_ip x = ip4(i);
        tp_acl_greylist_ip(&acl, &x);
        mock_env_advance(&m, S_NS);
    }
    assert_int_equal(acl.not_reliable_since_wall_ns, 0);
    tp_ip four = ip4(4), one = ip4(1), two = ip4(2);
    tp_acl_greylist_ip(&acl, &four);
    assert_true(acl.not_reliable_since_wall_ns != 0);
    assert_false(tp_acl_banned_ip(&acl, &one));
    assert_true(tp_acl_banned_ip(&acl, &two));
    assert_true(tp_acl_banned_ip(&acl, &four));
    assert_int_equal(tp_table_count(&acl.ip_grey), 3);
    tp_acl_deinit(&acl);
}

/* test_p2p_peerset: capacity 3; add foo, bar, baz, foo, zor evicts bar. */
static void test_peer_greylist_lru(void **state) {
    (void)state;
    mock_env m;
    mock_env_init(&m, 10);
    tp_acl_config cfg;
    tp_acl_config_default(&cfg);
    cfg.peer_greylist_size = 3;
    tp_acl acl;
    tp_acl_init(&acl, &m.env, &cfg);
    uint8_t foo[16], bar[16], baz[16], zor[16];
    peer(foo, 1);
    peer(bar, 2);
    peer(baz, 3);
    peer(zor, 4);
    assert_false(tp_acl_banned_peer(&acl, foo)); /* empty */
    tp_acl_greylist_peer(&acl, foo);
    tp_acl_greylist_peer(&acl, bar);
    tp_acl_greylist_peer(&acl, baz);
    tp_acl_greylist_peer(&acl, foo);
    tp_acl_greylist_peer(&acl, zor);
    assert_true(tp_acl_banned_peer(&acl, foo));
    assert_false(tp_acl_banned_peer(&acl, bar));
    assert_true(tp_acl_banned_peer(&acl, baz));
    assert_true(tp_acl_banned_peer(&acl, zor));
    /* remove */
    tp_acl_unban_peer(&acl, baz);
    assert_false(tp_acl_banned_peer(&acl, baz));
    tp_acl_deinit(&acl);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
}

/* Blacklists: manual, bounded, unban removes from both lists, clear empties all. */
static void test_blacklists(void **state) {
    (void)state;
    mock_env m;
    mock_env_init(&m, 11);
    tp_acl_config cfg;
    tp_acl_config_default(&cfg);
    cfg.ip_blacklist_max = 2;
    tp_acl acl;
    tp_acl_init(&acl, &m.env, &cfg);
    tp_ip a = ip4(1), b = ip4(2), c = ip4(3);
    assert_int_equal(tp_acl_ban_ip(&acl, &a), TP_OK);
    assert_int_equal(tp_acl_ban_ip(&acl, &a), TP_OK); /* twice is fine */
    assert_int_equal(tp_acl_ban_ip(&acl, &b), TP_OK);
    assert_int_equal(tp_acl_ban_ip(&acl, &c), TP_ERR_LIMIT);
    assert_true(tp_acl_blacklisted_ip(&acl, &a));
    tp_acl_greylist_ip(&acl, &a);
    tp_acl_unban_ip(&acl, &a);
    assert_false(tp_acl_banned_ip(&acl, &a)); /* gone from both lists */
    mock_env_advance(&m, 100000 * S_NS);
    assert_true(tp_acl_banned_ip(&acl, &b)); /* blacklist never expires */
    uint8_t p[16];
    peer(p, 9);
    assert_int_equal(tp_acl_ban_peer(&acl, p), TP_OK);
    tp_acl_greylist_peer(&acl, p);
    assert_true(tp_acl_blacklisted_peer(&acl, p));
    assert_true(tp_acl_greylisted_peer(&acl, p));
    tp_acl_unban_peer(&acl, p);
    assert_false(tp_acl_banned_peer(&acl, p));
    assert_int_equal(tp_acl_ban_peer(&acl, p), TP_OK);
    tp_acl_clear(&acl);
    assert_false(tp_acl_banned_peer(&acl, p));
    assert_false(tp_acl_banned_ip(&acl, &b));
    tp_acl_deinit(&acl);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_greylist),
        cmocka_unit_test(test_ip_greylist_expiry),
        cmocka_unit_test(test_ip_greylist_bound),
        cmocka_unit_test(test_peer_greylist_lru),
        cmocka_unit_test(test_blacklists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
