/* lua/results.h — the SQLite results writer of `tidepool sim`.
 *
 * What it is for: recording one simulation run (the run row, regions, hosts, nodes,
 * the p2p event log, metric samples, connections, deliveries and assertion outcomes)
 * into a results database whose schema is reports/schema.sql (compiled in). Documented
 * tables and example queries: reports/README.md. Octez has no counterpart.
 *
 * Why it lives in lua/ and not in reports/: DESIGN.md lets reports/ know nothing but
 * SQLite and gnuplot; the writer is fed by the scenario runtime (simnet's event sink,
 * Lua's sample()/check()) and is only ever used by `tidepool sim`, so it sits next to
 * its only caller. It depends on nothing of core/ but event names; reports/ only reads.
 *
 * Cost: every statement is prepared once; rows are written inside one transaction that
 * is committed every TL_RESULTS_BATCH_ROWS rows (and at the end), so a 10,000-node run
 * logs at the cost of a sqlite3_step per row. The level of detail (tl_log_level)
 * decides what is written beyond the run, hosts, nodes and assertions.
 *
 * Ownership: tl_results owns its sqlite3 handle; strings passed in are only read during
 * the call (each row is written before it returns) and may be freed after it. Not thread-safe (one run, one
 * thread). Errors: functions return false after the first SQLite error and keep it in
 * tl_results_error(); later writes become no-ops so a run is never aborted by its log.
 */
#ifndef TP_LUA_RESULTS_H
#define TP_LUA_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tl_results tl_results;

/* Level of detail of the event log:
 *  NONE : the run row, regions, hosts, nodes and assertions only (no events, samples,
 *         connections, deliveries) — the baseline for the logging benchmark;
 *  INFO : plus samples, connections, deliveries and events of level info (core/event.h);
 *  DEBUG: plus events of level debug (every message). */
typedef enum tl_log_level { TL_LOG_NONE = 0, TL_LOG_INFO = 1, TL_LOG_DEBUG = 2 } tl_log_level;

#define TL_RESULTS_BATCH_ROWS 20000u

/* "none" / "info" / "debug". */
const char *tl_log_level_name(tl_log_level level);
/* Parses a level name; false if unknown. */
bool tl_log_level_parse(const char *text, tl_log_level *out);

/* Opens (creating if needed) the database at path and applies the schema. NULL on
 * error, with a sentence naming the file and the problem in err (cap bytes). */
tl_results *tl_results_open(const char *path, tl_log_level level, char *err, size_t cap);

/* Upgrades the results database at path from schema_version 1 to the current version
 * in place (adds the runs.build_* columns); a no-op for a current database. False with
 * a sentence in err if it is not a results database or cannot be written. */
bool tl_results_upgrade(const char *path, char *err, size_t cap);

/* Commits and closes (NULL is a no-op). */
void tl_results_close(tl_results *r);

tl_log_level tl_results_level(const tl_results *r);
/* The first SQLite error, or NULL. */
const char *tl_results_error(const tl_results *r);
int64_t tl_results_run_id(const tl_results *r);
uint64_t tl_results_rows(const tl_results *r);

typedef struct tl_run_info {
    const char *scenario;
    uint64_t seed;           /* <= INT64_MAX */
    const char *code_version;
    const char *started_at;  /* ISO 8601 UTC */
    const char *command;     /* replay command, may be NULL */
    const char *build_commit; /* buildinfo/: git commit, NULL unknown */
    int build_dirty;          /* 1 dirty, 0 clean, -1 unknown (NULL in the table) */
    const char *build_id;     /* buildinfo/: hash of the binary, NULL unknown */
} tl_run_info;

/* Inserts the runs row (verdict 'running'); every later row uses its id. */
bool tl_results_run_begin(tl_results *r, const tl_run_info *info);

/* Fills in the end of the run: final parameters JSON, trace hash, times, verdict
 * ("pass" / "fail" / "error") and message (may be NULL), and commits. */
bool tl_results_run_end(tl_results *r, const char *parameters_json, uint64_t trace_hash,
                        double wall_time_s, int64_t virtual_time_ns, uint64_t events_executed,
                        const char *verdict, const char *message);

/* After tl_results_run_end: replaces the run's verdict and message (an error found while
 * tearing the run down, e.g. in a Lua __gc finalizer). */
bool tl_results_run_verdict(tl_results *r, const char *verdict, const char *message);

bool tl_results_region(tl_results *r, uint32_t region, const char *name);
bool tl_results_host(tl_results *r, uint32_t host, const char *ip, uint32_t region,
                     uint32_t as_number, uint64_t up_bytes_per_s, uint64_t down_bytes_per_s,
                     uint32_t loss_ppm);
bool tl_results_node(tl_results *r, uint32_t node, const char *kind, const char *peer_id,
                     const char *point, const char *config_json, int64_t created_ns);
/* peer, point, detail may be NULL; peer_node < 0: NULL. Written only if the level
 * allows (debug_level: the event kind's level is debug). */
bool tl_results_event(tl_results *r, int64_t time_ns, uint32_t node, const char *kind,
                      bool debug_level, const char *peer, int64_t peer_node, const char *point,
                      int32_t code, const char *detail);
/* node < 0: a global metric (NULL). */
bool tl_results_sample(tl_results *r, int64_t time_ns, int64_t node, const char *metric,
                       double value);
/* closed_ns < 0: still open (NULL); peer_node < 0: NULL. */
bool tl_results_connection(tl_results *r, uint32_t node, int64_t peer_node, const char *peer_id,
                           const char *point, bool incoming, int64_t opened_ns, int64_t closed_ns,
                           const char *close_reason);
/* origin_node, sent_ns, received_ns < 0: NULL (unknown). */
bool tl_results_delivery(tl_results *r, const char *message, uint32_t node, int64_t origin_node,
                         int64_t sent_ns, int64_t received_ns, int64_t delay_ns);
/* A node validated (adopted) a block of the block workload: deliveries row with
 * header_ns (when the node first had its header; < 0: NULL) and received_ns = the
 * adoption time, delay_ns = adopted_ns - created_ns. */
bool tl_results_block_delivery(tl_results *r, const char *message, uint32_t node,
                               uint32_t origin_node, int64_t created_ns, int64_t header_ns,
                               int64_t adopted_ns);
/* The blocks row of a block (written at the end of the run); predecessor < 0: NULL. */
bool tl_results_block(tl_results *r, uint32_t block, uint32_t origin_node, int64_t created_ns,
                      int64_t predecessor, uint32_t level, uint32_t header_bytes,
                      uint32_t ops_bytes, uint32_t nodes_running, uint32_t holders,
                      uint64_t bytes_useful, uint64_t bytes_duplicate, uint64_t bytes_requests);
/* How the report summarises a sample() metric (reports/schema.sql `metrics`): summary
 * is last | max | min | mean | time_to; threshold (time_to only) and unit may be
 * NaN / NULL. A second call for the same metric replaces the first. */
bool tl_results_metric_info(tl_results *r, const char *metric, const char *summary,
                            double threshold, const char *unit);
/* Records a node's role (sim.node(h, {role = ...})) as "role" in its nodes.config JSON. */
bool tl_results_node_role(tl_results *r, uint32_t node, const char *role);
bool tl_results_assertion(tl_results *r, int64_t time_ns, const char *file, int line,
                          const char *message, bool passed);

#endif
