/* tests/fuzz/fuzz_config.c — the daemon's config.json parser (daemon/config.c:
 * dm_config_parse, the from-memory half that dm_config_load calls after reading the
 * file).
 *
 * Properties: it never crashes; an error comes with a non-empty, NUL-terminated message
 * that starts with the file's name; a success gives a config that passes
 * dm_config_check, with counts within their arrays and NUL-terminated strings; the
 * parse is deterministic (the same text over the defaults twice gives the same bytes);
 * a tiny message buffer is never overrun (ASan). */
#include "fuzz.h"

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    static dm_config cfg, again;
    char err[DM_ERROR_SIZE];
    memset(err, 'x', sizeof err);
    dm_config_default(&cfg);
    tp_err e = dm_config_parse(&cfg, "config.json", text, size, err, sizeof err);
    if (e != TP_OK) {
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
        FUZZ_CHECK(strncmp(err, "config.json", strlen("config.json")) == 0);
        FUZZ_CHECK(strlen(err) > strlen("config.json: "));
    } else {
        char why[DM_ERROR_SIZE];
        FUZZ_CHECK(dm_config_check(&cfg, why, sizeof why) == TP_OK);
        FUZZ_CHECK(cfg.bootstrap_peers_count <= DM_BOOTSTRAP_PEERS_MAX);
        FUZZ_CHECK(cfg.ddb_versions_count <= DM_VERSIONS_MAX);
        FUZZ_CHECK(cfg.p2p_versions_count <= DM_VERSIONS_MAX);
        FUZZ_CHECK(memchr(cfg.data_dir, '\0', sizeof cfg.data_dir) != NULL);
        FUZZ_CHECK(memchr(cfg.chain_name, '\0', sizeof cfg.chain_name) != NULL);
        FUZZ_CHECK(memchr(cfg.listen_addr.text, '\0', sizeof cfg.listen_addr.text) != NULL);
        for (size_t i = 0; i < cfg.bootstrap_peers_count; i++)
            FUZZ_CHECK(memchr(cfg.bootstrap_peers[i].text, '\0',
                              sizeof cfg.bootstrap_peers[i].text) != NULL);
        const dm_limits *l = &cfg.limits;
        FUZZ_CHECK(l->min_connections <= l->expected_connections &&
                   l->expected_connections <= l->max_connections);
        dm_config_default(&again);
        FUZZ_CHECK(dm_config_parse(&again, "config.json", text, size, err, sizeof err) == TP_OK);
        FUZZ_CHECK(memcmp(&cfg, &again, sizeof cfg) == 0);
    }
    /* a message buffer too small for any message: truncated, never overrun */
    char tiny[8];
    dm_config_default(&again);
    tp_err e2 = dm_config_parse(&again, "config.json", text, size, tiny, sizeof tiny);
    FUZZ_CHECK(e2 == e);
    if (e2 != TP_OK) FUZZ_CHECK(memchr(tiny, '\0', sizeof tiny) != NULL);
    return 0;
}
