/* daemon/config.h — the real node's configuration file (config.json), with Octez's keys.
 *
 * Octez: src/bin_node/config_file.ml (the "p2p" section, P2p_limits' encoding and the
 * reconnection "greylisting_config"), spec §10 for the defaults. tidepool reads the same
 * keys, so an Octez config's p2p section works as is; sections that only matter to an
 * Octez node ("log", "shell", "internal-events", "metrics_addr", ...) are accepted and
 * ignored (dm_config_ignored_sections). Every other unknown key is an error with a
 * suggestion.
 *
 * Deliberate differences (said plainly):
 * - "network" is tidepool's own object {"chain_name", "distributed_db_versions",
 *   "p2p_versions"}; the default chain name is a sandbox name (DM_CHAIN_NAME_DEFAULT),
 *   never a live network's, so a node never joins mainnet by accident.
 * - bootstrap-peers default to none (Octez: the network's default peers).
 * - Stricter than data_encoding: duplicate keys, trailing commas and the like are
 *   refused (core/json.h), and cross-field ranges are checked at load time
 *   (min-connections <= expected-connections <= max-connections, target <= max).
 *
 * Errors name the file, the line:column of the offending key or value, the key's path,
 * and the fix: `config.json:12:7: "p2p.limits.max-connections" must be >=
 * "expected-connections" (got 10 < 50)`.
 *
 * Ownership: dm_config is a plain value (fixed-size arrays, no pointers); copy freely.
 * The parser is pure over the caller's text (it allocates its token array with malloc).
 */
#ifndef DM_CONFIG_H
#define DM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/point.h"

#define DM_CONFIG_FILE_MAX (1024 * 1024)
#define DM_BOOTSTRAP_PEERS_MAX 64
#define DM_VERSIONS_MAX 8
#define DM_CHAIN_NAME_MAX 128
#define DM_PATH_MAX 1024
#define DM_ERROR_SIZE 512
#define DM_CHAIN_NAME_DEFAULT "TIDEPOOL_SANDBOX"
#define DM_P2P_PORT_DEFAULT 9732
#define DM_DISCOVERY_PORT_DEFAULT 10732
#define DM_RPC_PORT_DEFAULT 8732

/* A point as written in the config, with its text kept for messages. */
typedef struct dm_point {
    tp_config_point cp;
    char text[TP_DOMAIN_MAX + 80];
} dm_point;

typedef struct dm_limits {
    int64_t connection_timeout_ns;     /* 10 s */
    int64_t authentication_timeout_ns; /* 5 s */
    int64_t greylist_timeout_ns;       /* 86400 s */
    bool maintenance_enabled;          /* "maintenance-idle-time": null disables */
    int64_t maintenance_idle_time_ns;  /* 120 s */
    uint32_t min_connections;          /* 10 */
    uint32_t expected_connections;     /* 50 */
    uint32_t max_connections;          /* 100 */
    uint32_t backlog;                  /* 20 */
    uint32_t max_incoming_connections; /* 20 */
    int64_t max_download_speed_bps;    /* bytes/s from KiB/s; -1: unlimited */
    int64_t max_upload_speed_bps;      /* -1: unlimited */
    uint32_t read_buffer_size;         /* 16384 */
    int64_t read_queue_size;           /* -1: default (unset) */
    int64_t write_queue_size;
    int64_t incoming_app_message_queue_size;
    int64_t incoming_message_queue_size;
    int64_t outgoing_message_queue_size;
    uint32_t max_known_points, max_known_points_target;     /* 400, 300 */
    uint32_t max_known_peer_ids, max_known_peer_ids_target; /* 400, 300 */
    uint32_t peer_greylist_size;               /* 1023 */
    uint32_t ip_greylist_size_in_kilobytes;    /* 2048 */
    int64_t ip_greylist_cleanup_delay_ns;      /* 86400 s */
    bool swap_enabled;                         /* "swap-linger": null disables */
    int64_t swap_linger_ns;                    /* 30 s */
    uint32_t binary_chunks_size;               /* bytes (config: KiB 1..63); 0 = unset */
} dm_limits;

typedef struct dm_reconnection {
    uint32_t factor_permille;      /* 1.2 -> 1200 */
    int64_t initial_delay_ns;      /* 1 s */
    int64_t disconnection_delay_ns; /* 60 s */
    int64_t increase_cap_ns;       /* 172800 s */
} dm_reconnection;

typedef struct dm_config {
    char data_dir[DM_PATH_MAX]; /* "" : not given */
    /* p2p */
    dm_point listen_addr;       /* "[::]:9732" */
    bool has_advertised_net_port;
    uint16_t advertised_net_port;
    bool has_discovery_addr;
    dm_point discovery_addr;
    double expected_pow;        /* 26.0; only builds the target (spec §1.4) */
    bool private_mode;
    bool disable_mempool;
    dm_point bootstrap_peers[DM_BOOTSTRAP_PEERS_MAX];
    size_t bootstrap_peers_count;
    dm_limits limits;
    dm_reconnection reconnection;
    /* rpc */
    bool rpc_enabled;           /* a listen address was given (config or --rpc-addr) */
    dm_point rpc_listen_addr;   /* "localhost:8732" */
    /* network (tidepool's own) */
    char chain_name[DM_CHAIN_NAME_MAX + 1];
    uint16_t ddb_versions[DM_VERSIONS_MAX];
    size_t ddb_versions_count;  /* {0, 1, 2} */
    uint16_t p2p_versions[DM_VERSIONS_MAX];
    size_t p2p_versions_count;  /* {0, 1} */
} dm_config;

/* Octez's defaults (spec §10) with tidepool's sandbox network; no RPC. */
void dm_config_default(dm_config *cfg);

/* Parses config text over the values already in cfg (start from dm_config_default):
 * keys present replace them. `name` is used in messages ("config.json"). On error, cfg
 * may be partly updated (callers discard it) and `error` (cap bytes) receives one line
 * "name:line:col: what, and the fix". Errors: TP_ERR_DECODE_BAD_JSON (syntax),
 * TP_ERR_INVAL (unknown key, wrong type, out of range, inconsistent), TP_ERR_TOO_BIG
 * (file above DM_CONFIG_FILE_MAX, too many bootstrap peers). */
TP_MUST_USE tp_err dm_config_parse(dm_config *cfg, const char *name, const char *text,
                                   size_t len, char *error, size_t cap);

/* Reads and parses a file. Errors: those of dm_config_parse, TP_ERR_NOT_FOUND,
 * TP_ERR_IO (with the OS's reason in `error`). */
TP_MUST_USE tp_err dm_config_load(dm_config *cfg, const char *path, char *error, size_t cap);

/* Cross-field checks (also run by dm_config_parse; run it again after command-line
 * overrides). Errors: TP_ERR_INVAL with a sentence naming the keys. */
TP_MUST_USE tp_err dm_config_check(const dm_config *cfg, char *error, size_t cap);

/* Sets a point field from command-line text (e.g. --net-addr). Errors: TP_ERR_INVAL
 * with a message naming `option`. */
TP_MUST_USE tp_err dm_point_set(dm_point *p, const char *option, const char *text, char *error,
                                size_t cap);

/* Top-level sections of an Octez config.json that tidepool accepts and ignores. */
extern const char *const dm_config_ignored_sections[];

#endif
