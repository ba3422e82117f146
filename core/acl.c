/* core/acl.c — blacklists and greylists (see acl.h; spec §5.4). */
#include "acl.h"

#include <string.h>

void tp_acl_config_default(tp_acl_config *cfg) {
    cfg->ip_blacklist_max = 65536;
    cfg->peer_blacklist_max = 65536;
    cfg->ip_greylist_max = 65536;
    cfg->ip_greylist_timeout_ns = (int64_t)86400 * 1000000000;
    cfg->peer_greylist_size = 1023;
}

void tp_acl_init(tp_acl *acl, const tp_env *env, const tp_acl_config *cfg) {
    TP_ASSERT(cfg->ip_blacklist_max > 0 && cfg->peer_blacklist_max > 0);
    TP_ASSERT(cfg->ip_greylist_max > 0 && cfg->peer_greylist_size > 0);
    TP_ASSERT(cfg->ip_greylist_timeout_ns > 0);
    memset(acl, 0, sizeof *acl);
    acl->env = env;
    acl->cfg = *cfg;
    uint8_t key[16];
    tp_env_random(env, key, sizeof key);
    tp_table_init(&acl->ip_black, env, 16, 0, cfg->ip_blacklist_max, key);
    tp_table_init(&acl->peer_black, env, 16, 0, cfg->peer_blacklist_max, key);
    tp_table_init(&acl->ip_grey, env, 16, sizeof(int64_t), cfg->ip_greylist_max, key);
    tp_table_init(&acl->peer_grey, env, 16, 0, cfg->peer_greylist_size, key);
}

void tp_acl_deinit(tp_acl *acl) {
    tp_table_deinit(&acl->ip_black);
    tp_table_deinit(&acl->peer_black);
    tp_table_deinit(&acl->ip_grey);
    tp_table_deinit(&acl->peer_grey);
}

static tp_err set_add(tp_table *t, const void *key) {
    void *v;
    tp_err e = tp_table_insert(t, key, &v);
    return e == TP_ERR_EXISTS ? TP_OK : e;
}

tp_err tp_acl_ban_ip(tp_acl *acl, const tp_ip *ip) {
    return set_add(&acl->ip_black, ip->bytes);
}

tp_err tp_acl_ban_peer(tp_acl *acl, const uint8_t peer_id[16]) {
    return set_add(&acl->peer_black, peer_id);
}

void tp_acl_expire(tp_acl *acl) {
    int64_t now = tp_env_now_ns(acl->env);
    const void *key;
    void *v;
    /* Entries are kept in expiry order (same timeout, refresh moves to the end). */
    while (tp_table_first(&acl->ip_grey, &key, &v)) {
        int64_t expiry;
        memcpy(&expiry, v, sizeof expiry);
        if (expiry > now) break;
        uint8_t k[16];
        memcpy(k, key, 16);
        tp_table_remove(&acl->ip_grey, k);
    }
}

void tp_acl_greylist_ip(tp_acl *acl, const tp_ip *ip) {
    tp_acl_expire(acl);
    int64_t expiry = tp_env_now_ns(acl->env) + acl->cfg.ip_greylist_timeout_ns;
    void *v;
    if (tp_table_touch(&acl->ip_grey, ip->bytes)) {
        v = tp_table_get(&acl->ip_grey, ip->bytes);
        memcpy(v, &expiry, sizeof expiry);
        return;
    }
    if (tp_table_count(&acl->ip_grey) >= acl->cfg.ip_greylist_max) {
        const void *key;
        if (tp_table_first(&acl->ip_grey, &key, &v)) {
            uint8_t k[16];
            memcpy(k, key, 16);
            tp_table_remove(&acl->ip_grey, k);
        }
        if (acl->not_reliable_since_wall_ns == 0)
            acl->not_reliable_since_wall_ns = tp_env_wall_ns(acl->env);
    }
    if (tp_table_insert(&acl->ip_grey, ip->bytes, &v) == TP_OK)
        memcpy(v, &expiry, sizeof expiry);
    /* On TP_ERR_NOMEM the address is simply not greylisted: greylisting is a
     * best-effort defence and must never fail the caller. */
}

void tp_acl_greylist_peer(tp_acl *acl, const uint8_t peer_id[16]) {
    if (tp_table_touch(&acl->peer_grey, peer_id)) return;
    if (tp_table_count(&acl->peer_grey) >= acl->cfg.peer_greylist_size) {
        const void *key;
        if (tp_table_first(&acl->peer_grey, &key, NULL)) {
            uint8_t k[16];
            memcpy(k, key, 16);
            tp_table_remove(&acl->peer_grey, k);
        }
    }
    void *v;
    tp_err e = tp_table_insert(&acl->peer_grey, peer_id, &v);
    /* TP_ERR_NOMEM: not greylisted; best effort, as for IPs. */
    (void)e;
}

void tp_acl_unban_ip(tp_acl *acl, const tp_ip *ip) {
    tp_table_remove(&acl->ip_black, ip->bytes);
    tp_table_remove(&acl->ip_grey, ip->bytes);
}

void tp_acl_unban_peer(tp_acl *acl, const uint8_t peer_id[16]) {
    tp_table_remove(&acl->peer_black, peer_id);
    tp_table_remove(&acl->peer_grey, peer_id);
}

void tp_acl_clear(tp_acl *acl) {
    tp_table_clear(&acl->ip_black);
    tp_table_clear(&acl->peer_black);
    tp_table_clear(&acl->ip_grey);
    tp_table_clear(&acl->peer_grey);
    acl->not_reliable_since_wall_ns = 0;
}

bool tp_acl_blacklisted_ip(const tp_acl *acl, const tp_ip *ip) {
    return tp_table_get(&acl->ip_black, ip->bytes) != NULL;
}

bool tp_acl_blacklisted_peer(const tp_acl *acl, const uint8_t peer_id[16]) {
    return tp_table_get(&acl->peer_black, peer_id) != NULL;
}

bool tp_acl_greylisted_ip(tp_acl *acl, const tp_ip *ip) {
    void *v = tp_table_get(&acl->ip_grey, ip->bytes);
    if (v == NULL) return false;
    int64_t expiry;
    memcpy(&expiry, v, sizeof expiry);
    if (expiry > tp_env_now_ns(acl->env)) return true;
    tp_acl_expire(acl);
    return false;
}

bool tp_acl_greylisted_peer(const tp_acl *acl, const uint8_t peer_id[16]) {
    return tp_table_get(&acl->peer_grey, peer_id) != NULL;
}

bool tp_acl_banned_ip(tp_acl *acl, const tp_ip *ip) {
    return tp_acl_blacklisted_ip(acl, ip) || tp_acl_greylisted_ip(acl, ip);
}

bool tp_acl_banned_peer(tp_acl *acl, const uint8_t peer_id[16]) {
    return tp_acl_blacklisted_peer(acl, peer_id) || tp_acl_greylisted_peer(acl, peer_id);
}

bool tp_acl_next_greylisted_ip(const tp_acl *acl, uint32_t *it, tp_ip *ip, int64_t *expiry_ns) {
    const void *key;
    void *v;
    if (!tp_table_next(&acl->ip_grey, it, &key, &v)) return false;
    memcpy(ip->bytes, key, 16);
    if (expiry_ns != NULL) memcpy(expiry_ns, v, sizeof *expiry_ns);
    return true;
}

bool tp_acl_next_greylisted_peer(const tp_acl *acl, uint32_t *it, uint8_t peer_id[16]) {
    const void *key;
    if (!tp_table_next(&acl->peer_grey, it, &key, NULL)) return false;
    memcpy(peer_id, key, 16);
    return true;
}

bool tp_acl_next_blacklisted_ip(const tp_acl *acl, uint32_t *it, tp_ip *ip) {
    const void *key;
    if (!tp_table_next(&acl->ip_black, it, &key, NULL)) return false;
    memcpy(ip->bytes, key, 16);
    return true;
}

bool tp_acl_next_blacklisted_peer(const tp_acl *acl, uint32_t *it, uint8_t peer_id[16]) {
    const void *key;
    if (!tp_table_next(&acl->peer_black, it, &key, NULL)) return false;
    memcpy(peer_id, key, 16);
    return true;
}
