/* lua/results.c — the SQLite results writer (see results.h; schema: reports/schema.sql). */
#include "lua/results.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "schema_sql.h"

enum {
    ST_RUN_BEGIN,
    ST_RUN_END,
    ST_REGION,
    ST_HOST,
    ST_NODE,
    ST_EVENT,
    ST_SAMPLE,
    ST_CONNECTION,
    ST_DELIVERY,
    ST_BLOCK_DELIVERY,
    ST_BLOCK,
    ST_ASSERTION,
    ST_COUNT
};

static const char *const statement_sql[ST_COUNT] = {
    [ST_RUN_BEGIN] = "INSERT INTO runs(scenario, seed, parameters, code_version, log_level,"
                     " started_at, command, build_commit, build_dirty, build_id)"
                     " VALUES (?1, ?2, '{}', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_RUN_END] = "UPDATE runs SET parameters = ?2, trace_hash = ?3, wall_time_s = ?4,"
                   " virtual_time_ns = ?5, events_executed = ?6, verdict = ?7, message = ?8"
                   " WHERE id = ?1",
    [ST_REGION] = "INSERT INTO regions(run_id, region, name) VALUES (?1, ?2, ?3)",
    [ST_HOST] = "INSERT INTO hosts(run_id, host, ip, region, as_number, up_bytes_per_s,"
                " down_bytes_per_s, loss_ppm) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_NODE] = "INSERT OR REPLACE INTO nodes(run_id, node, kind, peer_id, point, config,"
                " created_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_EVENT] = "INSERT INTO events(run_id, seq, time_ns, node, kind, peer, peer_node, point,"
                 " code, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_SAMPLE] = "INSERT INTO samples(run_id, time_ns, node, metric, value)"
                  " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_CONNECTION] = "INSERT INTO connections(run_id, node, peer_node, peer_id, point, incoming,"
                      " opened_ns, closed_ns, close_reason)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_DELIVERY] = "INSERT INTO deliveries(run_id, message, node, origin_node, sent_ns,"
                    " received_ns, delay_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_BLOCK_DELIVERY] = "INSERT INTO deliveries(run_id, message, node, origin_node, sent_ns,"
                          " header_ns, received_ns, delay_ns)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7 - ?5)",
    [ST_BLOCK] = "INSERT INTO blocks(run_id, block, origin_node, created_ns, predecessor, level,"
                 " header_bytes, ops_bytes, nodes_running, holders, bytes_useful,"
                 " bytes_duplicate, bytes_requests)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_ASSERTION] = "INSERT INTO assertions(run_id, time_ns, file, line, message, passed)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};

struct tl_results {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    tl_log_level level;
    int64_t run_id;
    uint64_t event_seq;
    uint64_t rows;
    uint32_t rows_in_batch;
    bool in_tx;
    char path[256];
    char error[1024];
};

const char *tl_log_level_name(tl_log_level level) {
    switch (level) {
    case TL_LOG_NONE: return "none";
    case TL_LOG_INFO: return "info";
    case TL_LOG_DEBUG: return "debug";
    }
    return "?";
}

bool tl_log_level_parse(const char *text, tl_log_level *out) {
    static const tl_log_level all[] = {TL_LOG_NONE, TL_LOG_INFO, TL_LOG_DEBUG};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(text, tl_log_level_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

static bool fail_db(tl_results *r, const char *what) {
    if (r->error[0] == '\0')
        snprintf(r->error, sizeof r->error, "%s: %s: %.400s", r->path, what, sqlite3_errmsg(r->db));
    return false;
}

static bool exec(tl_results *r, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        if (r->error[0] == '\0')
            snprintf(r->error, sizeof r->error, "%s: %.400s", r->path, msg ? msg : "SQLite error");
        sqlite3_free(msg);
        return false;
    }
    return true;
}

/* The schema's tables (before the "-- @indexes" line) or its indexes (after it). */
static bool exec_schema(tl_results *r, bool indexes) {
    const char *mark = strstr(tl_schema_sql, "-- @indexes");
    if (!mark) return exec(r, indexes ? "" : tl_schema_sql);
    if (indexes) return exec(r, mark);
    size_t n = (size_t)(mark - tl_schema_sql);
    char *tables = malloc(n + 1);
    if (!tables) return false;
    memcpy(tables, tl_schema_sql, n);
    tables[n] = '\0';
    bool ok = exec(r, tables);
    free(tables);
    return ok;
}

/* Schema version 1 -> 2 (reports/schema.sql): the blocks table, deliveries.header_ns and
 * the build identity columns of runs. The writer runs it after the schema script, which
 * creates a new database at the current version (and the blocks table of an old one);
 * `tidepool merge --upgrade` runs it alone. */
/* How many columns named column the table has (0 or 1; 0 also when there is no such
 * table); -1 on an SQLite error (err written). */
static int column_count(sqlite3 *db, const char *table, const char *column, char *err,
                        size_t cap, const char *path) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", -1,
                           &st, NULL) != SQLITE_OK) {
        snprintf(err, cap, "%s: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return n;
}

static bool upgrade_schema(sqlite3 *db, char *err, size_t cap, const char *path) {
    int has = column_count(db, "runs", "build_id", err, cap, path);
    if (has != 0) return has > 0;
    /* a version-1 deliveries table lacks header_ns (one the schema script just made has it) */
    int deliveries = column_count(db, "deliveries", "run_id", err, cap, path);
    int header = column_count(db, "deliveries", "header_ns", err, cap, path);
    if (deliveries < 0 || header < 0) return false;
    bool add_header = deliveries > 0 && header == 0;
    char *msg = NULL;
    const char *blocks = strstr(tl_schema_sql, "CREATE TABLE IF NOT EXISTS blocks");
    const char *blocks_end = blocks ? strstr(blocks, ");") : NULL;
    if (!blocks_end) {
        snprintf(err, cap, "%s: upgrading from schema_version 1: no blocks table in the schema",
                 path);
        return false;
    }
    char *create_blocks = sqlite3_mprintf("%.*s);", (int)(blocks_end - blocks), blocks);
    if (!create_blocks) {
        snprintf(err, cap, "%s: upgrading from schema_version 1: out of memory", path);
        return false;
    }
    char *sql = sqlite3_mprintf("BEGIN; %s %s"
                                " ALTER TABLE runs ADD COLUMN build_commit TEXT;"
                                " ALTER TABLE runs ADD COLUMN build_dirty INTEGER;"
                                " ALTER TABLE runs ADD COLUMN build_id TEXT;"
                                " UPDATE meta SET value = '2' WHERE key = 'schema_version'"
                                " AND value = '1'; COMMIT;",
                                create_blocks,
                                add_header ? "ALTER TABLE deliveries ADD COLUMN header_ns INTEGER;"
                                           : "");
    sqlite3_free(create_blocks);
    if (!sql) {
        snprintf(err, cap, "%s: upgrading from schema_version 1: out of memory", path);
        return false;
    }
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        snprintf(err, cap, "%s: upgrading the results database from schema_version 1: %s", path,
                 msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return false;
    }
    return true;
}

bool tl_results_upgrade(const char *path, char *err, size_t cap) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, cap, "%s: cannot open: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return false;
    }
    sqlite3_stmt *st;
    bool results = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'",
                                      -1, &st, NULL) == SQLITE_OK &&
                   sqlite3_step(st) == SQLITE_ROW;
    bool v1 = results && strcmp((const char *)sqlite3_column_text(st, 0), "1") == 0;
    sqlite3_finalize(st);
    bool ok = true;
    if (!results) {
        snprintf(err, cap, "%s: not a tidepool results database (no meta.schema_version)", path);
        ok = false;
    } else if (v1) {
        sqlite3_busy_timeout(db, 5000);
        ok = upgrade_schema(db, err, cap, path);
    }
    sqlite3_close(db);
    return ok;
}

tl_results *tl_results_open(const char *path, tl_log_level level, char *err, size_t cap) {
    tl_results *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, cap, "%s: out of memory", path);
        return NULL;
    }
    r->level = level;
    r->run_id = -1;
    snprintf(r->path, sizeof r->path, "%s", path);
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, cap, "%s: cannot open the results database: %s (check the directory "
                 "exists and is writable)", path, r->db ? sqlite3_errmsg(r->db) : "out of memory");
        sqlite3_close(r->db);
        free(r);
        return NULL;
    }
    /* A results database is an artifact that a crash may lose: trade durability for
     * speed (one fsync-free transaction per batch). Write-ahead logging while the run
     * writes: somebody reading the database meanwhile (sqlite3, a report of the run so
     * far) does not block the batch commits; in rollback mode a read longer than the
     * busy timeout failed a commit, which ended the logging for the rest of the run.
     * tl_results_close returns the file to rollback mode (an ordinary file, readable
     * where -wal/-shm files cannot be created). */
    /* A 64 MiB page cache: a 10,000-node run writes about a million rows into a few
     * B-trees; with SQLite's default 2 MiB, index pages spill to the file in the
     * middle of every batch (measured by bench/bench_logging). */
    bool ok = exec(r, "PRAGMA synchronous = OFF; PRAGMA journal_mode = WAL;"
                      " PRAGMA busy_timeout = 5000; PRAGMA cache_size = -65536;"
                      " PRAGMA temp_store = MEMORY;") &&
              exec_schema(r, false);
    if (ok && !upgrade_schema(r->db, r->error, sizeof r->error, r->path)) ok = false;
    for (int i = 0; ok && i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(r->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &r->st[i],
                               NULL) != SQLITE_OK)
            ok = fail_db(r, "preparing a statement (is this a results database of another "
                            "tidepool version? use a new --db file)");
    if (!ok) {
        snprintf(err, cap, "%s", r->error);
        tl_results_close(r);
        return NULL;
    }
    return r;
}

static void commit(tl_results *r) {
    if (r->in_tx) {
        exec(r, "COMMIT");
        r->in_tx = false;
        r->rows_in_batch = 0;
    }
}

void tl_results_close(tl_results *r) {
    if (!r) return;
    if (r->db) {
        commit(r);
        /* back to rollback mode: checkpoints and removes the log (if a reader still has
         * the file open this fails harmlessly and the log stays until it is gone) */
        sqlite3_exec(r->db, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
    }
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(r->st[i]);
    sqlite3_close(r->db);
    free(r);
}

tl_log_level tl_results_level(const tl_results *r) { return r->level; }
const char *tl_results_error(const tl_results *r) { return r->error[0] ? r->error : NULL; }
int64_t tl_results_run_id(const tl_results *r) { return r->run_id; }
uint64_t tl_results_rows(const tl_results *r) { return r->rows; }

/* Starts a statement: opens the batch transaction if needed. */
static sqlite3_stmt *stmt(tl_results *r, int which) {
    if (r->error[0]) return NULL;
    if (!r->in_tx) {
        if (!exec(r, "BEGIN")) return NULL;
        r->in_tx = true;
    }
    /* Every statement binds all its parameters on every use: no clear_bindings. */
    sqlite3_stmt *s = r->st[which];
    if (which != ST_RUN_BEGIN) sqlite3_bind_int64(s, 1, r->run_id);
    return s;
}

static bool finish(tl_results *r, sqlite3_stmt *s, const char *what) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return fail_db(r, what);
    r->rows++;
    if (++r->rows_in_batch >= TL_RESULTS_BATCH_ROWS) commit(r);
    return true;
}

/* SQLITE_STATIC: every statement is stepped and reset (finish) before the function
 * that bound it returns, so the caller's strings outlive their use; no copy. */
static void bind_text(sqlite3_stmt *s, int i, const char *t) {
    if (t)
        sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static void bind_opt_int(sqlite3_stmt *s, int i, int64_t v) {
    if (v >= 0)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

bool tl_results_run_begin(tl_results *r, const tl_run_info *info) {
    sqlite3_stmt *s = stmt(r, ST_RUN_BEGIN);
    if (!s) return false;
    bind_text(s, 1, info->scenario);
    sqlite3_bind_int64(s, 2, (int64_t)info->seed);
    bind_text(s, 3, info->code_version);
    bind_text(s, 4, tl_log_level_name(r->level));
    bind_text(s, 5, info->started_at);
    bind_text(s, 6, info->command);
    bind_text(s, 7, info->build_commit);
    bind_opt_int(s, 8, info->build_dirty);
    bind_text(s, 9, info->build_id);
    if (!finish(r, s, "inserting the run")) return false;
    r->run_id = sqlite3_last_insert_rowid(r->db);
    /* Make the run visible at once (a crashed run stays 'running'). */
    commit(r);
    return r->error[0] == '\0';
}

bool tl_results_run_end(tl_results *r, const char *parameters_json, uint64_t trace_hash,
                        double wall_time_s, int64_t virtual_time_ns, uint64_t events_executed,
                        const char *verdict, const char *message) {
    sqlite3_stmt *s = stmt(r, ST_RUN_END);
    if (!s) return false;
    char hash[17];
    snprintf(hash, sizeof hash, "%016" PRIx64, trace_hash);
    bind_text(s, 2, parameters_json ? parameters_json : "{}");
    bind_text(s, 3, hash);
    sqlite3_bind_double(s, 4, wall_time_s);
    sqlite3_bind_int64(s, 5, virtual_time_ns);
    sqlite3_bind_int64(s, 6, (int64_t)events_executed);
    bind_text(s, 7, verdict);
    bind_text(s, 8, message);
    bool ok = finish(r, s, "finishing the run");
    commit(r);
    /* Indexes last: building them once is far cheaper than maintaining them per row. */
    ok = ok && exec_schema(r, true);
    return ok && r->error[0] == '\0';
}

bool tl_results_run_verdict(tl_results *r, const char *verdict, const char *message) {
    if (r->run_id < 0) return false;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(r->db, "UPDATE runs SET verdict = ?2, message = ?3 WHERE id = ?1", -1,
                           &s, NULL) != SQLITE_OK)
        return fail_db(r, "changing the run's verdict");
    sqlite3_bind_int64(s, 1, r->run_id);
    bind_text(s, 2, verdict);
    bind_text(s, 3, message);
    bool ok = sqlite3_step(s) == SQLITE_DONE;
    sqlite3_finalize(s);
    if (!ok) return fail_db(r, "changing the run's verdict");
    commit(r);
    return true;
}

bool tl_results_region(tl_results *r, uint32_t region, const char *name) {
    sqlite3_stmt *s = stmt(r, ST_REGION);
    if (!s) return false;
    sqlite3_bind_int64(s, 2, region);
    bind_text(s, 3, name);
    return finish(r, s, "inserting a region");
}

bool tl_results_host(tl_results *r, uint32_t host, const char *ip, uint32_t region,
                     uint32_t as_number, uint64_t up_bytes_per_s, uint64_t down_bytes_per_s,
                     uint32_t loss_ppm) {
    sqlite3_stmt *s = stmt(r, ST_HOST);
    if (!s) return false;
    sqlite3_bind_int64(s, 2, host);
    bind_text(s, 3, ip);
    sqlite3_bind_int64(s, 4, region);
    sqlite3_bind_int64(s, 5, as_number);
    sqlite3_bind_int64(s, 6, (int64_t)up_bytes_per_s);
    sqlite3_bind_int64(s, 7, (int64_t)down_bytes_per_s);
    sqlite3_bind_int64(s, 8, loss_ppm);
    return finish(r, s, "inserting a host");
}

bool tl_results_node(tl_results *r, uint32_t node, const char *kind, const char *peer_id,
                     const char *point, const char *config_json, int64_t created_ns) {
    sqlite3_stmt *s = stmt(r, ST_NODE);
    if (!s) return false;
    sqlite3_bind_int64(s, 2, node);
    bind_text(s, 3, kind);
    bind_text(s, 4, peer_id);
    bind_text(s, 5, point);
    bind_text(s, 6, config_json ? config_json : "{}");
    sqlite3_bind_int64(s, 7, created_ns);
    return finish(r, s, "inserting a node");
}

bool tl_results_event(tl_results *r, int64_t time_ns, uint32_t node, const char *kind,
                      bool debug_level, const char *peer, int64_t peer_node, const char *point,
                      int32_t code, const char *detail) {
    if (r->level == TL_LOG_NONE || (debug_level && r->level < TL_LOG_DEBUG)) return true;
    sqlite3_stmt *s = stmt(r, ST_EVENT);
    if (!s) return false;
    sqlite3_bind_int64(s, 2, (int64_t)r->event_seq++);
    sqlite3_bind_int64(s, 3, time_ns);
    sqlite3_bind_int64(s, 4, node);
    bind_text(s, 5, kind);
    bind_text(s, 6, peer);
    bind_opt_int(s, 7, peer_node);
    bind_text(s, 8, point);
    sqlite3_bind_int64(s, 9, code);
    bind_text(s, 10, detail);
    return finish(r, s, "inserting an event");
}

bool tl_results_sample(tl_results *r, int64_t time_ns, int64_t node, const char *metric,
                       double value) {
    if (r->level == TL_LOG_NONE) return true;
    sqlite3_stmt *s = stmt(r, ST_SAMPLE);
    if (!s) return false;
    sqlite3_bind_int64(s, 2, time_ns);
    bind_opt_int(s, 3, node);
    bind_text(s, 4, metric);
    sqlite3_bind_double(s, 5, value);
    return finish(r, s, "inserting a sample");
}

bool tl_results_node_role(tl_results *r, uint32_t node, const char *role) {
    if (r->level == TL_LOG_NONE || r->run_id < 0) return true;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(r->db,
                           "UPDATE nodes SET config = json_set(config, '$.role', ?3) WHERE "
                           "run_id = ?1 AND node = ?2",
                           -1, &s, NULL) != SQLITE_OK)
        return fail_db(r, "preparing the node role update");
    sqlite3_bind_int64(s, 1, r->run_id);
    sqlite3_bind_int64(s, 2, node);
    bind_text(s, 3, role);
    bool ok = sqlite3_step(s) == SQLITE_DONE;
    sqlite3_finalize(s);
    return ok || fail_db(r, "recording a node's role");
}

bool tl_results_metric_info(tl_results *r, const char *metric, const char *summary,
                            double threshold, const char *unit) {
    if (r->level == TL_LOG_NONE) return true;
    if (r->run_id < 0) return true;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(r->db,
                           "INSERT OR REPLACE INTO metrics(run_id, metric, summary, threshold, "
                           "unit) VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &s, NULL) != SQLITE_OK)
        return fail_db(r, "preparing the metrics insert");
    sqlite3_bind_int64(s, 1, r->run_id);
    bind_text(s, 2, metric);
    bind_text(s, 3, summary);
    if (threshold == threshold)
        sqlite3_bind_double(s, 4, threshold);
    else
        sqlite3_bind_null(s, 4);
    bind_text(s, 5, unit);
    bool ok = sqlite3_step(s) == SQLITE_DONE;
    sqlite3_finalize(s);
    return ok || fail_db(r, "inserting a metric declaration");
}

bool tl_results_connection(tl_results *r, uint32_t node, int64_t peer_node, const char *peer_id,
                           const char *point, bool incoming, int64_t opened_ns, int64_t closed_ns,
                           const char *close_reason) {
    if (r->level == TL_LOG_NONE) return true;
    sqlite3_stmt *s = stmt(r, ST_CONNECTION);
    if (!s) return false;
    sqlite3_bind_int64(s, 2, node);
    bind_opt_int(s, 3, peer_node);
    bind_text(s, 4, peer_id);
    bind_text(s, 5, point);
    sqlite3_bind_int64(s, 6, incoming ? 1 : 0);
    sqlite3_bind_int64(s, 7, opened_ns);
    bind_opt_int(s, 8, closed_ns);
    bind_text(s, 9, close_reason);
    return finish(r, s, "inserting a connection");
}

bool tl_results_delivery(tl_results *r, const char *message, uint32_t node, int64_t origin_node,
                         int64_t sent_ns, int64_t received_ns, int64_t delay_ns) {
    if (r->level == TL_LOG_NONE) return true;
    sqlite3_stmt *s = stmt(r, ST_DELIVERY);
    if (!s) return false;
    bind_text(s, 2, message);
    sqlite3_bind_int64(s, 3, node);
    bind_opt_int(s, 4, origin_node);
    bind_opt_int(s, 5, sent_ns);
    bind_opt_int(s, 6, received_ns);
    sqlite3_bind_int64(s, 7, delay_ns);
    return finish(r, s, "inserting a delivery");
}

bool tl_results_block_delivery(tl_results *r, const char *message, uint32_t node,
                               uint32_t origin_node, int64_t created_ns, int64_t header_ns,
                               int64_t adopted_ns) {
    if (r->level == TL_LOG_NONE) return true;
    sqlite3_stmt *s = stmt(r, ST_BLOCK_DELIVERY);
    if (!s) return false;
    bind_text(s, 2, message);
    sqlite3_bind_int64(s, 3, node);
    sqlite3_bind_int64(s, 4, origin_node);
    sqlite3_bind_int64(s, 5, created_ns);
    bind_opt_int(s, 6, header_ns);
    sqlite3_bind_int64(s, 7, adopted_ns);
    return finish(r, s, "inserting a block delivery");
}

bool tl_results_block(tl_results *r, uint32_t block, uint32_t origin_node, int64_t created_ns,
                      int64_t predecessor, uint32_t level, uint32_t header_bytes,
                      uint32_t ops_bytes, uint32_t nodes_running, uint32_t holders,
                      uint64_t bytes_useful, uint64_t bytes_duplicate, uint64_t bytes_requests) {
    if (r->level == TL_LOG_NONE) return true;
    sqlite3_stmt *s = stmt(r, ST_BLOCK);
    if (!s) return false;
    sqlite3_bind_int64(s, 2, block);
    sqlite3_bind_int64(s, 3, origin_node);
    sqlite3_bind_int64(s, 4, created_ns);
    bind_opt_int(s, 5, predecessor);
    sqlite3_bind_int64(s, 6, level);
    sqlite3_bind_int64(s, 7, header_bytes);
    sqlite3_bind_int64(s, 8, ops_bytes);
    sqlite3_bind_int64(s, 9, nodes_running);
    sqlite3_bind_int64(s, 10, holders);
    sqlite3_bind_int64(s, 11, (int64_t)bytes_useful);
    sqlite3_bind_int64(s, 12, (int64_t)bytes_duplicate);
    sqlite3_bind_int64(s, 13, (int64_t)bytes_requests);
    return finish(r, s, "inserting a block");
}

bool tl_results_assertion(tl_results *r, int64_t time_ns, const char *file, int line,
                          const char *message, bool passed) {
    sqlite3_stmt *s = stmt(r, ST_ASSERTION);
    if (!s) return false;
    sqlite3_bind_int64(s, 2, time_ns);
    bind_text(s, 3, file);
    sqlite3_bind_int64(s, 4, line);
    bind_text(s, 5, message);
    sqlite3_bind_int64(s, 6, passed ? 1 : 0);
    return finish(r, s, "inserting an assertion");
}
