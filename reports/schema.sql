-- reports/schema.sql — the results database of `tidepool sim` (one file, many runs).
--
-- Written by lua/results.c (the writer used by `tidepool sim`); read by the report
-- generator (`tidepool report`) and by sweeps. Every table is documented, column by
-- column, in reports/README.md, together with the SQL that answers the acceptance
-- questions (time-to-min-connections CDF, final degree distribution, components over
-- time, propagation percentiles).
--
-- Conventions:
--   * every row belongs to one run (run_id -> runs.id); a database may hold many runs
--     (several seeds, a sweep) and queries always filter on run_id;
--   * times are virtual nanoseconds since the start of the run (*_ns), integers;
--   * `node` and `host` are the simulator's host index (0-based): one node per host;
--   * peer ids are Base58Check text ("id..."), points are "a.b.c.d:port" text;
--   * NULL means "not applicable / unknown", never 0.
-- The statements are idempotent (IF NOT EXISTS): the writer runs this file on every
-- open. schema_version is bumped on any incompatible change.

PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Version 2 added deliveries.header_ns and the blocks table (the block workload of
-- issue 17) and runs.build_commit, build_dirty and build_id (issue 20); the writer and
-- `tidepool merge --upgrade` upgrade a version-1 database in place (CREATE TABLE and
-- ALTER TABLE ADD COLUMN: old rows read NULL there).
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '2');

CREATE TABLE IF NOT EXISTS runs (
    id              INTEGER PRIMARY KEY,
    scenario        TEXT NOT NULL,            -- script path as given to tidepool sim
    seed            INTEGER NOT NULL,         -- the run seed (0 .. 2^63-1)
    parameters      TEXT NOT NULL,            -- JSON object: every param() read, final values
    code_version    TEXT NOT NULL,            -- git describe of the binary
    build_commit    TEXT,                     -- git commit of the binary (buildinfo/)
    build_dirty     INTEGER,                  -- 1 built from a tree with uncommitted changes
    build_id        TEXT,                     -- 16 hex: hash of the binary (buildinfo/)
    log_level       TEXT NOT NULL,            -- 'none' | 'info' | 'debug'
    started_at      TEXT NOT NULL,            -- wall clock, ISO 8601 UTC
    command         TEXT,                     -- the exact command that replays the run
    trace_hash      TEXT,                     -- 16 hex digits; NULL while running
    wall_time_s     REAL,                     -- real seconds the run took
    virtual_time_ns INTEGER,                  -- virtual time at the end
    events_executed INTEGER,                  -- simulator events executed
    verdict         TEXT NOT NULL DEFAULT 'running'
                    CHECK (verdict IN ('running', 'pass', 'fail', 'error')),
    message         TEXT                      -- first failure or error, with file:line
);

CREATE TABLE IF NOT EXISTS regions (
    run_id  INTEGER NOT NULL REFERENCES runs(id),
    region  INTEGER NOT NULL,                 -- 0-based region index
    name    TEXT NOT NULL,
    PRIMARY KEY (run_id, region)
);

CREATE TABLE IF NOT EXISTS hosts (
    run_id           INTEGER NOT NULL REFERENCES runs(id),
    host             INTEGER NOT NULL,        -- simulator host index (0-based)
    ip               TEXT NOT NULL,
    region           INTEGER NOT NULL,        -- regions.region
    as_number        INTEGER NOT NULL,
    up_bytes_per_s   INTEGER NOT NULL,        -- 0 = unlimited (at creation)
    down_bytes_per_s INTEGER NOT NULL,
    loss_ppm         INTEGER NOT NULL,
    PRIMARY KEY (run_id, host)
);

CREATE TABLE IF NOT EXISTS nodes (
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    node       INTEGER NOT NULL,              -- = hosts.host it runs on
    kind       TEXT NOT NULL,                 -- 'demo' | 'tidepool' | 'hostile:<behaviour>'
    peer_id    TEXT,                          -- Base58 peer id, NULL for kinds without one
    point      TEXT,                          -- listening point "ip:port"
    config     TEXT NOT NULL,                 -- JSON: the full effective config
    created_ns INTEGER NOT NULL,              -- virtual time the node was created
    PRIMARY KEY (run_id, node)
);

CREATE TABLE IF NOT EXISTS events (
    run_id    INTEGER NOT NULL REFERENCES runs(id),
    seq       INTEGER NOT NULL,               -- order of the event within the run
    time_ns   INTEGER NOT NULL,
    node      INTEGER NOT NULL,               -- the host that reported the event
    kind      TEXT NOT NULL,                  -- core/event.h name: 'connection_established', ...
    peer      TEXT,                           -- peer id the event is about
    peer_node INTEGER,                        -- the host of `point`, when it is a simulated host
    point     TEXT,
    code      INTEGER NOT NULL,               -- kind-specific (a tp_err, a count, ...)
    detail    TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS samples (
    run_id  INTEGER NOT NULL REFERENCES runs(id),
    time_ns INTEGER NOT NULL,
    node    INTEGER,                          -- NULL: a global metric
    metric  TEXT NOT NULL,
    value   REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS connections (
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    node         INTEGER NOT NULL,            -- the node that holds this end
    peer_node    INTEGER,                     -- the simulated host at the other end
    peer_id      TEXT,
    point        TEXT,                        -- the remote point as this node sees it
    incoming     INTEGER NOT NULL,            -- 1: accepted, 0: dialed
    opened_ns    INTEGER NOT NULL,
    closed_ns    INTEGER,                     -- NULL: still open at the end of the run
    close_reason TEXT                         -- 'closed', 'reset', 'timeout', 'crash', ...
);

CREATE TABLE IF NOT EXISTS deliveries (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    message     TEXT NOT NULL,                -- what was propagated ('ping:3', a block id)
    node        INTEGER NOT NULL,             -- who received it
    origin_node INTEGER,                      -- who created it (NULL: unknown)
    sent_ns     INTEGER,                      -- creation time at the origin (NULL: unknown)
    received_ns INTEGER,                      -- first receipt at `node` (NULL: unknown);
                                              -- blocks: when `node` validated (adopted) it
    delay_ns    INTEGER NOT NULL,             -- origin to first receipt at `node`
    header_ns   INTEGER                       -- blocks: when `node` first had the header
                                              -- (NULL: not a block)
);

-- The block workload (lua/chain.c): one row per block, written at the end of the run.
-- Byte counts are application payload bytes as received, over every node: useful (a
-- header or operations the node lacked), duplicate (anything else about this block:
-- heads it knew, late or unsolicited answers), requests (Get_* bytes naming it).
CREATE TABLE IF NOT EXISTS blocks (
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    block           INTEGER NOT NULL,         -- block id; deliveries.message = 'block:<id>'
    origin_node     INTEGER NOT NULL,         -- the producer
    created_ns      INTEGER NOT NULL,
    predecessor     INTEGER,                  -- block id, NULL: genesis
    level           INTEGER NOT NULL,         -- genesis is level 0
    header_bytes    INTEGER NOT NULL,
    ops_bytes       INTEGER NOT NULL,
    nodes_running   INTEGER NOT NULL,         -- running nodes when it was produced
    holders         INTEGER NOT NULL,         -- nodes that validated it by the end
    bytes_useful    INTEGER NOT NULL,
    bytes_duplicate INTEGER NOT NULL,
    bytes_requests  INTEGER NOT NULL,
    PRIMARY KEY (run_id, block)
);

CREATE TABLE IF NOT EXISTS assertions (
    run_id  INTEGER NOT NULL REFERENCES runs(id),
    time_ns INTEGER NOT NULL,
    file    TEXT NOT NULL,
    line    INTEGER NOT NULL,
    message TEXT NOT NULL,
    passed  INTEGER NOT NULL                  -- 1 passed, 0 failed
);

-- Indexes for the report queries. The writer creates them at the end of a run (one
-- sort per index instead of a random B-tree insert per row; lua/results.c splits this
-- file at the line below), so a database of a run that crashed may lack them until the
-- next run; running this file again adds them.
-- How a scenario asked for a sample() metric to be summarised (Lua metric(name, {...})):
-- the report's key figures and campaign use it; a metric without a row is summarised by
-- its last value. Added within schema_version 1: readers treat a missing table as empty.
CREATE TABLE IF NOT EXISTS metrics (
    run_id    INTEGER NOT NULL REFERENCES runs(id),
    metric    TEXT NOT NULL,
    summary   TEXT NOT NULL                   -- 'last' | 'max' | 'min' | 'mean' | 'time_to'
              CHECK (summary IN ('last', 'max', 'min', 'mean', 'time_to')),
    threshold REAL,                           -- time_to: first time value >= threshold
    unit      TEXT,                           -- e.g. 's', '%', 'bytes' (NULL: none)
    PRIMARY KEY (run_id, metric)
);

-- @indexes
CREATE INDEX IF NOT EXISTS events_by_kind       ON events(run_id, kind, time_ns);
CREATE INDEX IF NOT EXISTS samples_by_metric    ON samples(run_id, metric, time_ns);
CREATE INDEX IF NOT EXISTS connections_by_node  ON connections(run_id, node, opened_ns);
CREATE INDEX IF NOT EXISTS deliveries_by_msg    ON deliveries(run_id, message, received_ns);
CREATE INDEX IF NOT EXISTS assertions_by_run    ON assertions(run_id, passed);
