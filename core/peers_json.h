/* core/peers_json.h — the peers file (peers.json): what the node learned about peers,
 * kept across restarts (spec §5.7, §5.8).
 *
 * Octez: P2p_pool's load/save of `peers.json` (P2p_peer_state.Info.encoding, the
 * list of peer infos) and the RFC 3339 timestamps of Time.System. Format: a JSON array
 * of objects
 *     { "peer_id": "id…", "created": "<RFC 3339>", "trusted": bool,
 *       "peer_metadata": <any JSON>,
 *       "events": [ { "kind": k, "timestamp": "<RFC 3339>", "addr": a, "port"?: n }, … ],
 *       "last_failed_connection"?: [ { "addr": a, "port"?: n }, "<RFC 3339>" ],
 *       "last_rejected_connection"?, "last_established_connection"?,
 *       "last_disconnection"? (same shape) }
 * with `addr` as Octez writes it (IPv6 text, IPv4 as "::ffff:a.b.c.d") and k one of
 * incoming_request, rejecting_request, request_rejected, connection_established,
 * disconnection, external_disconnection.
 * - Writer: every field is written (trusted and events even when false / empty);
 *   timestamps are UTC ("Z") with the fraction of a second trimmed of trailing zeros;
 *   peer_metadata is `{}`: tidepool's peers carry no application metadata (the L1
 *   node's counters record is the shell's business, and the score is a constant).
 * - Reader: strict JSON (core/json.h); unknown fields are refused; trusted, events,
 *   peer_metadata and the last_* fields are optional; peer_metadata may be any JSON
 *   value and is ignored; timestamps are RFC 3339 strings (any offset, 0–9 fraction
 *   digits) or integer seconds since the epoch (Octez accepts both). Errors name the
 *   position, the entry and the field: `peers.json:1:93: entry 2, field "created":
 *   expected an RFC 3339 timestamp or an integer`.
 * - Loading is all-or-nothing: the whole file is checked before the pool is touched.
 *
 * tidepool difference (a deliberate improvement over Octez, which saves only at pool
 * shutdown, spec §5.7): tp_peers_file also saves periodically (every 60 s by default),
 * so a crash loses at most one period of what the node learned. Saves are atomic
 * (tp_env_file_write). A corrupt or truncated file is never overwritten: it is renamed
 * to `peers.json.corrupt-<unix seconds>`, a STORAGE_ERROR event says so, and the node
 * starts with an empty table; if the rename fails, saving stays disabled for this run.
 *
 * Ownership: the caller allocates the tp_peers_file and keeps it in place (it embeds a
 * timer); buffers come from the env and are freed before each call returns.
 */
#ifndef TP_PEERS_JSON_H
#define TP_PEERS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "pool.h"

/* ---- RFC 3339 (pure, no time.h) ------------------------------------------------------- */

#define TP_RFC3339_MAX 40 /* "YYYY-MM-DDTHH:MM:SS.fffffffffZ" + NUL, with room */

/* Formats Unix-epoch nanoseconds as UTC RFC 3339 ("2026-01-01T00:00:00Z",
 * "2026-01-01T00:00:00.25Z"). Returns buf. */
char *tp_rfc3339_format(int64_t wall_ns, char buf[TP_RFC3339_MAX]);
/* Parses exactly len bytes of RFC 3339 date-time (T or t, Z or z or ±HH:MM, fraction of
 * 1–9 digits; second 60 is read as 59) into Unix-epoch nanoseconds.
 * Errors: TP_ERR_DECODE_BAD_VALUE (malformed, out of range, or outside int64 ns,
 * i.e. before 1678 or after 2261). */
TP_MUST_USE tp_err tp_rfc3339_parse(const char *text, size_t len, int64_t *wall_ns);

/* ---- encode / decode -------------------------------------------------------------------- */

/* Largest peers.json read (a full 400-peer table with 100-event histories is ~5 MB). */
#define TP_PEERS_JSON_MAX ((size_t)32 << 20)
#define TP_PEERS_JSON_ERROR_SIZE 512

/* Writes every known peer (registration order) as peers.json text into buf
 * (NUL-terminated; *len excludes the NUL). Errors: TP_ERR_TOO_BIG (cap too small). */
TP_MUST_USE tp_err tp_peers_json_encode(const tp_pool *pool, char *buf, size_t cap,
                                        size_t *len);

/* Checks the whole text, then registers every peer (trusted flag, creation time,
 * last_* stamps, events into its history ring) and, for each peer whose last_seen
 * stamp has a port, that point (spec §5.7). Peers already known are updated. Loading
 * stops quietly when the pool refuses more peers (TP_ERR_LIMIT: its table is full of
 * uncollectable peers). `name` (e.g. "peers.json") prefixes messages written to
 * error (if not NULL). *loaded (may be NULL) receives the number of peers applied.
 * Errors: TP_ERR_DECODE_BAD_JSON (syntax, wrong types, unknown or missing fields, bad
 * values: the message says which), TP_ERR_TOO_BIG (text above TP_PEERS_JSON_MAX),
 * TP_ERR_NOMEM. On error the pool is untouched. */
TP_MUST_USE tp_err tp_peers_json_load(tp_pool *pool, const char *name, const char *text,
                                      size_t len, size_t *loaded, char *error,
                                      size_t error_size);

/* ---- the file worker -------------------------------------------------------------------- */

typedef struct tp_peers_file_config {
    const char *name;          /* "peers.json"; borrowed, must outlive the worker */
    int64_t save_interval_ns;  /* periodic save: 60 s; 0 = only explicit saves (Octez) */
} tp_peers_file_config;

void tp_peers_file_config_default(tp_peers_file_config *cfg);

typedef struct tp_peers_file {
    const tp_env *env;
    tp_pool *pool;
    tp_peers_file_config cfg;
    tp_timer timer;
    bool save_disabled;        /* a corrupt file could not be kept aside */
    uint64_t saves, save_errors;
    size_t last_size;          /* bytes of the last save (sizing hint) */
    char error[TP_PEERS_JSON_ERROR_SIZE]; /* the last problem, for logs and RPC */
} tp_peers_file;

void tp_peers_file_init(tp_peers_file *pf, const tp_env *env, tp_pool *pool,
                        const tp_peers_file_config *cfg);
/* Stops the periodic save (does not save). */
void tp_peers_file_deinit(tp_peers_file *pf);
/* simnet halt: nothing allocated, no env call (the timer vanished with the host). What
 * survives is the last save on the host's disk. */
static inline void tp_peers_file_crash_drop(tp_peers_file *pf) {
    (void)pf;
}

/* Loads the file into the pool (at node start, after the trusted points). A missing
 * file is TP_OK (nothing loaded). A file that fails to decode is renamed aside
 * (`<name>.corrupt-<unix seconds>`), a STORAGE_ERROR event carries pf->error, the pool
 * is left empty, and the result is TP_ERR_CORRUPT — the node goes on. TP_ERR_IO and
 * TP_ERR_NOMEM are reported the same way without renaming. */
TP_MUST_USE tp_err tp_peers_file_load(tp_peers_file *pf, size_t *loaded);

/* Saves now (atomically). On failure a STORAGE_ERROR event is emitted and the error
 * returned (TP_ERR_IO, TP_ERR_NOMEM, TP_ERR_STATE when saving is disabled). */
TP_MUST_USE tp_err tp_peers_file_save(tp_peers_file *pf);

/* Starts / stops the periodic save (no-op when save_interval_ns is 0). The node saves
 * once more at shutdown with tp_peers_file_save. */
void tp_peers_file_start(tp_peers_file *pf);
void tp_peers_file_stop(tp_peers_file *pf);

#endif
