/* sweep/merge.c — `tidepool merge OUT.db RUN.db ...`: combine run databases into one
 * campaign database.
 *
 * Each run database (written by `tidepool sim --db`, reports/schema.sql) is ATTACHed
 * read-only to the output connection and its runs are copied with INSERT ... SELECT,
 * one transaction per input, so the only SQLite file written is the local output: no
 * shared database over a network filesystem (SQLite's locking is not reliable there),
 * each cluster task writes its own file and the merge happens once, at the end.
 *
 * Run ids are remapped (the output assigns new ones, in input order and, within an
 * input, in the input's id order); child rows keep their stored order (rowid, or the
 * primary key for WITHOUT ROWID tables). Re-merging the same run is a no-op: a run is
 * identified by (scenario, seed, parameters, trace_hash). Runs still 'running' (the
 * writer was killed) are not copied. The list of tables copied is every table of the
 * output schema with a run_id column, so a table added to reports/schema.sql is
 * merged without touching this file (schema_version guards incompatible changes). */
#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sweep/sweep.h"
#include "sweep_schema_sql.h"

#define TABLES_MAX 32
#define COLUMNS_MAX 64
#define SQL_MAX 8192

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

bool sw_schema_version_text(char *buf, size_t cap) {
    const char *key = "'schema_version', '";
    const char *p = strstr(sw_schema_sql, key);
    if (!p) return false;
    p += strlen(key);
    size_t n = strcspn(p, "'");
    if (n == 0 || n >= cap) return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return true;
}

typedef struct table_info {
    char name[64];
    char columns[COLUMNS_MAX][64];
    size_t column_count;
    char order_by[256]; /* "rowid" or the primary key columns */
} table_info;

typedef struct merger {
    sqlite3 *db;
    char *err;
    size_t err_cap;
    table_info runs;
    table_info children[TABLES_MAX];
    size_t child_count;
} merger;

static bool exec(merger *m, const char *what, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(m->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(m->err, m->err_cap, "%s: %s", what, msg ? msg : sqlite3_errmsg(m->db));
        sqlite3_free(msg);
        return false;
    }
    return true;
}

static bool load_table(merger *m, const char *name, table_info *t) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    sqlite3_stmt *st;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT name, pk FROM pragma_table_info('%s') ORDER BY cid", name);
    if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK) return false;
    char pk[8][64];
    int pk_count = 0, pk_pos[8];
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (t->column_count == COLUMNS_MAX) break;
        snprintf(t->columns[t->column_count++], 64, "%s", sqlite3_column_text(st, 0));
        int p = sqlite3_column_int(st, 1);
        if (p > 0 && pk_count < 8) {
            pk_pos[pk_count] = p;
            snprintf(pk[pk_count++], 64, "%s", sqlite3_column_text(st, 0));
        }
    }
    sqlite3_finalize(st);
    /* WITHOUT ROWID tables have no rowid: order by their primary key. */
    bool without_rowid = false;
    snprintf(sql, sizeof sql, "SELECT sql FROM sqlite_master WHERE type='table' AND name='%s'",
             name);
    if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        without_rowid = strstr((const char *)sqlite3_column_text(st, 0), "WITHOUT ROWID") != NULL;
    sqlite3_finalize(st);
    if (without_rowid && pk_count > 0) {
        for (int k = 1; k <= pk_count; k++)
            for (int i = 0; i < pk_count; i++)
                if (pk_pos[i] == k) {
                    size_t len = strlen(t->order_by);
                    snprintf(t->order_by + len, sizeof t->order_by - len, "%s\"%s\"",
                             len ? ", " : "", pk[i]);
                }
    } else {
        snprintf(t->order_by, sizeof t->order_by, "rowid");
    }
    return t->column_count > 0;
}

static bool load_schema(merger *m) {
    if (!load_table(m, "runs", &m->runs)) {
        set_err(m->err, m->err_cap, "the output has no runs table");
        return false;
    }
    sqlite3_stmt *st;
    const char *sql = "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' "
                      "AND m.name NOT LIKE 'sqlite_%' AND m.name NOT IN ('meta', 'runs') "
                      "AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) "
                      "WHERE name = 'run_id') ORDER BY m.name";
    if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK) {
        set_err(m->err, m->err_cap, "reading the output schema: %s", sqlite3_errmsg(m->db));
        return false;
    }
    bool ok = true;
    while (ok && sqlite3_step(st) == SQLITE_ROW) {
        if (m->child_count == TABLES_MAX) {
            set_err(m->err, m->err_cap, "more than %d tables in the schema", TABLES_MAX);
            ok = false;
            break;
        }
        ok = load_table(m, (const char *)sqlite3_column_text(st, 0),
                        &m->children[m->child_count++]);
    }
    sqlite3_finalize(st);
    return ok;
}

static bool read_version(merger *m, const char *schema, char *buf, size_t cap, bool *has_meta) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT value FROM %s.meta WHERE key = 'schema_version'", schema);
    sqlite3_stmt *st;
    *has_meta = false;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK) return false;
    *has_meta = true;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

/* Appends "a, b, c" (quoted column names, from index `from`) to buf. */
static void column_list(const table_info *t, size_t from, const char *prefix, char *buf,
                        size_t cap) {
    for (size_t i = from; i < t->column_count; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s\"%s\"", i > from ? ", " : "", prefix, t->columns[i]);
    }
}

/* Builds "INSERT INTO main.T (run_id, c...) SELECT ?1, c... FROM src.T WHERE run_id = ?2
 * ORDER BY ..." for a child table. */
static void child_insert_sql(const table_info *t, char *sql, size_t cap) {
    char cols[SQL_MAX / 2] = "", rest[SQL_MAX / 2] = "";
    column_list(t, 0, "", cols, sizeof cols);
    for (size_t i = 0; i < t->column_count; i++) {
        size_t len = strlen(rest);
        if (strcmp(t->columns[i], "run_id") == 0)
            snprintf(rest + len, sizeof rest - len, "%s?1", i ? ", " : "");
        else
            snprintf(rest + len, sizeof rest - len, "%s\"%s\"", i ? ", " : "", t->columns[i]);
    }
    if (snprintf(sql, cap,
                 "INSERT INTO main.\"%s\" (%s) SELECT %s FROM src.\"%s\" WHERE run_id = ?2 "
                 "ORDER BY %s",
                 t->name, cols, rest, t->name, t->order_by) >= (int)cap)
        sql[0] = '\0'; /* too long: the prepare fails and names the table */
}

static bool merge_runs(merger *m, const char *input, sw_merge_stats *stats) {
    /* runs: every column but id, in the output's column order. */
    char cols[SQL_MAX / 2] = "";
    size_t first = strcmp(m->runs.columns[0], "id") == 0 ? 1 : 0;
    column_list(&m->runs, first, "", cols, sizeof cols);
    char sql[SQL_MAX];
    snprintf(sql, sizeof sql,
             "SELECT id, verdict, scenario, seed, parameters, trace_hash FROM src.runs "
             "ORDER BY id");
    sqlite3_stmt *sel = NULL, *dup = NULL, *ins = NULL, *seen = NULL;
    sqlite3_stmt *child[TABLES_MAX] = {0};
    bool ok = true;
    if (sqlite3_prepare_v2(m->db,
                           "INSERT INTO temp.merge_seen (scenario, seed, parameters, trace_hash) "
                           "VALUES (?1, ?2, ?3, ?4)",
                           -1, &seen, NULL) != SQLITE_OK)
        goto sql_error;
    if (sqlite3_prepare_v2(m->db, sql, -1, &sel, NULL) != SQLITE_OK) goto sql_error;
    if (sqlite3_prepare_v2(m->db,
                           "SELECT 1 FROM temp.merge_seen WHERE seed = ?2 AND trace_hash IS ?4 "
                           "AND scenario = ?1 AND parameters = ?3",
                           -1, &dup, NULL) != SQLITE_OK)
        goto sql_error;
    if (snprintf(sql, sizeof sql, "INSERT INTO main.runs (%s) SELECT %s FROM src.runs WHERE id = ?1",
                 cols, cols) >= (int)sizeof sql)
        goto sql_error;
    if (sqlite3_prepare_v2(m->db, sql, -1, &ins, NULL) != SQLITE_OK) goto sql_error;
    for (size_t i = 0; i < m->child_count; i++) {
        /* A table added to the schema within one schema_version (additive: `metrics`)
         * that an older input lacks has no rows to copy. */
        sqlite3_stmt *has = NULL;
        bool present = false;
        if (sqlite3_prepare_v2(m->db, "SELECT 1 FROM src.sqlite_master WHERE type = 'table' "
                                      "AND name = ?1", -1, &has, NULL) == SQLITE_OK) {
            sqlite3_bind_text(has, 1, m->children[i].name, -1, SQLITE_STATIC);
            present = sqlite3_step(has) == SQLITE_ROW;
        }
        sqlite3_finalize(has);
        if (!present) continue; /* child[i] stays NULL */
        child_insert_sql(&m->children[i], sql, sizeof sql);
        if (!sql[0] || sqlite3_prepare_v2(m->db, sql, -1, &child[i], NULL) != SQLITE_OK)
            goto sql_error;
    }
    int rc;
    while (ok && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
        sqlite3_int64 old_id = sqlite3_column_int64(sel, 0);
        const char *verdict = (const char *)sqlite3_column_text(sel, 1);
        if (verdict && strcmp(verdict, "running") == 0) {
            stats->runs_unfinished++;
            continue;
        }
        sqlite3_reset(dup);
        for (int k = 0; k < 4; k++) sqlite3_bind_value(dup, k + 1, sqlite3_column_value(sel, k + 2));
        rc = sqlite3_step(dup);
        if (rc == SQLITE_ROW) {
            stats->runs_duplicate++;
            continue;
        }
        if (rc != SQLITE_DONE) goto sql_error;
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, old_id);
        if (sqlite3_step(ins) != SQLITE_DONE) goto sql_error;
        sqlite3_int64 new_id = sqlite3_last_insert_rowid(m->db);
        sqlite3_reset(seen);
        for (int k = 0; k < 4; k++) sqlite3_bind_value(seen, k + 1, sqlite3_column_value(sel, k + 2));
        if (sqlite3_step(seen) != SQLITE_DONE) goto sql_error;
        for (size_t i = 0; i < m->child_count; i++) {
            if (!child[i]) continue; /* the input lacks this table */
            sqlite3_reset(child[i]);
            sqlite3_bind_int64(child[i], 1, new_id);
            sqlite3_bind_int64(child[i], 2, old_id);
            if (sqlite3_step(child[i]) != SQLITE_DONE) goto sql_error;
        }
        stats->runs_added++;
    }
    goto done;
sql_error:
    set_err(m->err, m->err_cap,
            "%s: copying its runs failed: %s (is it a tidepool results database written by "
            "the same schema version?)",
            input, sqlite3_errmsg(m->db));
    ok = false;
done:
    sqlite3_finalize(sel);
    sqlite3_finalize(dup);
    sqlite3_finalize(ins);
    sqlite3_finalize(seen);
    for (size_t i = 0; i < m->child_count; i++) sqlite3_finalize(child[i]);
    return ok;
}

/* file: URI for a read-only ATTACH ('%', '?' and '#' escaped). */
static bool ro_uri(const char *path, char *buf, size_t cap) {
    size_t n = 0;
    const char *head = "file:";
    for (const char *p = head; *p; p++) buf[n++] = *p;
    for (const char *p = path; *p; p++) {
        if (n + 4 >= cap) return false;
        if (*p == '%' || *p == '?' || *p == '#') {
            n += (size_t)snprintf(buf + n, cap - n, "%%%02X", (unsigned char)*p);
        } else {
            buf[n++] = *p;
        }
    }
    const char *tail = "?mode=ro";
    if (n + strlen(tail) + 1 > cap) return false;
    memcpy(buf + n, tail, strlen(tail) + 1);
    return true;
}

static bool merge_one(merger *m, const char *input, const char *version,
                      sw_merge_stats *stats) {
    struct stat sb;
    if (stat(input, &sb) != 0) {
        set_err(m->err, m->err_cap, "%s: cannot open it (%s)", input, strerror(errno));
        return false;
    }
    if (!S_ISREG(sb.st_mode)) {
        set_err(m->err, m->err_cap, "%s: not a regular file", input);
        return false;
    }
    char uri[SW_PATH_MAX + 64];
    if (!ro_uri(input, uri, sizeof uri)) {
        set_err(m->err, m->err_cap, "%s: path too long", input);
        return false;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->db, "ATTACH ?1 AS src", -1, &st, NULL) != SQLITE_OK) {
        set_err(m->err, m->err_cap, "%s: %s", input, sqlite3_errmsg(m->db));
        return false;
    }
    sqlite3_bind_text(st, 1, uri, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        set_err(m->err, m->err_cap,
                "%s: cannot read it as an SQLite database (%s); give run databases written "
                "by `tidepool sim --db`",
                input, sqlite3_errmsg(m->db));
        return false;
    }
    bool ok = true;
    char src_version[64];
    bool has_meta;
    if (!read_version(m, "src", src_version, sizeof src_version, &has_meta)) {
        const char *why = sqlite3_errmsg(m->db);
        if (!has_meta && strstr(why, "no such table"))
            set_err(m->err, m->err_cap,
                    "%s: not a tidepool results database (it has no meta table); give run "
                    "databases written by `tidepool sim --db`",
                    input);
        else
            set_err(m->err, m->err_cap,
                    "%s: cannot read it as an SQLite database (%s); give run databases "
                    "written by `tidepool sim --db`",
                    input, why);
        ok = false;
    } else if (strcmp(src_version, version) != 0) {
        set_err(m->err, m->err_cap,
                "%s: schema_version %s, but this tidepool writes version %s; merge it with "
                "the tidepool that wrote it, or rerun that run with this one",
                input, src_version[0] ? src_version : "(missing)", version);
        ok = false;
    }
    if (ok) ok = exec(m, input, "BEGIN IMMEDIATE");
    if (ok) {
        sw_merge_stats local = {0};
        ok = merge_runs(m, input, &local);
        if (ok) ok = exec(m, input, "COMMIT");
        if (ok) {
            stats->runs_added += local.runs_added;
            stats->runs_duplicate += local.runs_duplicate;
            stats->runs_unfinished += local.runs_unfinished;
            stats->inputs++;
        } else {
            sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    sqlite3_exec(m->db, "DETACH src", NULL, NULL, NULL);
    return ok;
}

int sw_merge(const char *out_path, const char *const *inputs, size_t input_count,
             sw_merge_stats *stats, char *err, size_t err_cap) {
    memset(stats, 0, sizeof *stats);
    char version[64];
    if (!sw_schema_version_text(version, sizeof version)) {
        set_err(err, err_cap, "the compiled schema has no schema_version (build problem)");
        return -1;
    }
    merger m = {.err = err, .err_cap = err_cap};
    for (size_t i = 0; i < input_count; i++)
        if (strcmp(inputs[i], out_path) == 0) {
            set_err(err, err_cap, "%s: the output cannot also be an input", out_path);
            return -1;
        }
    if (sqlite3_open_v2(out_path, &m.db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                        NULL) != SQLITE_OK) {
        set_err(err, err_cap, "%s: cannot open or create it: %s", out_path,
                m.db ? sqlite3_errmsg(m.db) : "out of memory");
        sqlite3_close(m.db);
        return -1;
    }
    sqlite3_busy_timeout(m.db, 10000);
    bool ok = true;
    char out_version[64];
    bool has_meta;
    /* An existing output must be ours, of our version, before we add anything to it. */
    if (read_version(&m, "main", out_version, sizeof out_version, &has_meta) &&
        out_version[0] && strcmp(out_version, version) != 0) {
        set_err(err, err_cap,
                "%s: schema_version %s, but this tidepool writes version %s; merge into a "
                "new file",
                out_path, out_version, version);
        ok = false;
    }
    if (ok) {
        char what[SW_PATH_MAX + 64];
        snprintf(what, sizeof what, "%s: creating the schema", out_path);
        ok = exec(&m, what, sw_schema_sql);
    }
    if (ok) {
        ok = load_schema(&m);
        /* The runs already merged, indexed, in a temporary table (not in the file): the
         * duplicate check stays O(log n) per run on a campaign of 100,000 runs. */
        if (ok)
            ok = exec(&m, "indexing the runs already merged",
                      "CREATE TEMP TABLE merge_seen AS SELECT scenario, seed, parameters, "
                      "trace_hash FROM main.runs WHERE verdict <> 'running';"
                      "CREATE INDEX temp.merge_seen_by_seed ON merge_seen(seed, trace_hash)");
        if (!ok) {
            char inner[512];
            snprintf(inner, sizeof inner, "%s", err);
            set_err(err, err_cap, "%s: %s", out_path, inner);
        }
    }
    for (size_t i = 0; ok && i < input_count; i++) ok = merge_one(&m, inputs[i], version, stats);
    sqlite3_close(m.db);
    return ok ? 0 : -1;
}
