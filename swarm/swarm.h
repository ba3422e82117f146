/* swarm/swarm.h — swarm testing: random worlds and realized fault schedules over many
 * seeds, run with the invariant checker armed (lua/invariants.h), and delta debugging
 * of a failing run down to a minimal Lua scenario.
 *
 * What it is for: `tidepool swarm` and `tidepool shrink` (cmd/cmd_swarm.c,
 * cmd/cmd_shrink.c). A seed S determines a world (size, regions and latency, link
 * rates, node limits, private nodes) and a *realized fault schedule* (partitions,
 * crashes and restarts, loss, clock steps and drift, bandwidth changes, bans, hostile
 * peers of every kind), each event with its start and, where it has one, its end. The
 * generator emits a self-contained Lua scenario (world + configs + the schedule as a
 * Lua table, one event per line + a fixed runner + the invariant checker); running the
 * seed is running that scenario with `tidepool sim FILE --seed S`, so replay is exact
 * and shrinking is editing the table and the node count in the text.
 *
 * Octez has no counterpart; the idea is FoundationDB/TigerBeetle-style simulation
 * testing (TigerBeetle's vopr.zig), with ddmin (Zeller & Hildebrandt 2002) to shrink.
 *
 * Ownership: texts returned by sw_* are malloc'd and owned by the caller (free()).
 * Runs happen in forked children (a crash or an assertion in core/ is a failure of the
 * seed, not of the swarm).
 */
#ifndef TP_SWARM_H
#define TP_SWARM_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>

/* The scenario's markers, read back by the shrinker. */
#define SW_MARK_NODES "-- @swarm:nodes"
#define SW_MARK_BEGIN "-- @swarm:schedule begin"
#define SW_MARK_END "-- @swarm:schedule end"

#define SW_EVENTS_MAX 32
#define SW_NODES_MAX 64

/* Times stated in the scenario (virtual seconds): the overlay must be one component
 * SW_SETTLE_S after the last fault; a node may stay below min_connections with a
 * dialable candidate for SW_BELOW_MIN_GRACE_S; the run goes on SW_TAIL_S past the
 * settle point. */
#define SW_SETTLE_S 300
#define SW_BELOW_MIN_GRACE_S 120
#define SW_TAIL_S 30

typedef enum sw_op {
    SW_PARTITION = 0, /* nodes in `set` cut from everyone else, healed at `until` */
    SW_CRASH,         /* crash (no FIN) `node`, restart at `until` */
    SW_STOP,          /* clean stop of `node` (peers saved), start at `until` */
    SW_LOSS,          /* loss `value` (ppm) on `node`'s links, back to 0 at `until` */
    SW_CLOCK_STEP,    /* the clock of `node` jumps `value` seconds */
    SW_CLOCK_DRIFT,   /* drift `value` ppm on `node`, back to 0 at `until` */
    SW_BANDWIDTH,     /* `node`'s links at `value` bytes/s, restored at `until` */
    SW_BAN_PEER,      /* `node` bans the peer of `target`, unbans at `until` (0: never) */
    SW_BAN_IP,        /* `node` bans the IP of `target`, unbans at `until` (0: never) */
    SW_HOSTILE,       /* a hostile peer of kind `kind` attacks `node` until `until` */
    SW_OP_COUNT
} sw_op;

const char *sw_op_name(sw_op op);

typedef struct sw_event {
    sw_op op;
    double t, until;          /* virtual seconds; until 0: no end */
    uint32_t node, target;    /* 1-based node indices */
    uint64_t set;             /* partition: bit i-1 = node i */
    int64_t value;
    char kind[24];            /* hostile behaviour */
    uint32_t connections;     /* hostile slots */
} sw_event;

typedef struct sw_world {
    uint64_t seed;
    uint32_t nodes;
    uint32_t regions;
    uint32_t latency_ms[3][3];
    uint32_t jitter_ms;
    uint64_t rate_bps[SW_NODES_MAX]; /* per node; 0 = unlimited */
    bool private_node[SW_NODES_MAX];
    uint32_t min_connections, max_extra, max_incoming;
    uint32_t maintenance_idle_s, backoff_cap_s, backoff_disconnection_s;
    uint32_t queue_bytes;
    uint32_t max_known_points;
    bool swap;
    sw_event events[SW_EVENTS_MAX];
    uint32_t event_count;
} sw_world;

/* Draws the world and the realized fault schedule of a seed (deterministic). */
void sw_generate(uint64_t seed, sw_world *w);

/* The Lua scenario of a world (malloc'd text). */
char *sw_emit_lua(const sw_world *w);
/* The schedule as JSON (malloc'd text). */
char *sw_schedule_json(const sw_world *w);

/* ---- running one scenario in a child process ------------------------------------------ */

typedef struct sw_outcome {
    int verdict;            /* tl_verdict, or -1: the child crashed / was killed */
    char message[1024];     /* first failure, or the signal */
    char invariant[40];     /* the violated invariant's name, "crash", "error", or "" */
    double wall_s;
    uint64_t events;
} sw_outcome;

/* Runs scenario file `path` with `seed` in a forked child (db_path may be NULL), with a
 * wall-clock limit (0: none; the child is killed past it and the outcome is a
 * failure "timeout"). Returns false if the child could not be started. */
bool sw_run_file(const char *path, uint64_t seed, const char *db_path, double limit_s,
                 sw_outcome *out);
/* The invariant named in a failure message ("invariant NAME violated"), "error" for a
 * malformed scenario, "check" for a plain check(); writes "" for a pass. */
void sw_classify(int verdict, const char *message, char *out, size_t cap);

/* ---- the swarm -------------------------------------------------------------------------- */

typedef struct sw_swarm_config {
    uint64_t first_seed;
    uint64_t seeds;
    uint32_t jobs;
    double budget_s;         /* 0: none; no new seed starts past it */
    const char *out_dir;     /* where fail-<seed>/ directories go */
    const char *exe;         /* the tidepool binary, for replay.txt ("tidepool") */
    double seed_limit_s;     /* wall limit per seed (0: 120 s) */
    bool quiet;
} sw_swarm_config;

typedef struct sw_swarm_result {
    uint64_t run, passed, failed;
    uint64_t per_invariant[10]; /* TL_INV_* then crash, error, other */
    uint64_t first_failing_seed;  /* UINT64_MAX: none */
    double wall_s;
} sw_swarm_result;

/* Runs the swarm; prints progress (stderr) and a summary (stdout). Returns false on an
 * environment error (out_dir cannot be made), with the reason on stderr. */
bool sw_swarm(const sw_swarm_config *cfg, sw_swarm_result *res);

/* ---- shrinking --------------------------------------------------------------------------- */

typedef struct sw_shrink_config {
    const char *input;       /* a fail-<seed> directory or a scenario file */
    const char *output;      /* NULL: shrunk.lua next to the input */
    uint32_t max_runs;       /* 0: 300 */
    double budget_s;         /* 0: 600 */
    double run_limit_s;      /* per candidate, 0: 120 */
    bool quiet;
} sw_shrink_config;

typedef struct sw_shrink_result {
    char invariant[40];
    uint32_t events_before, events_after;
    uint32_t nodes_before, nodes_after;
    uint32_t runs;
    uint64_t seed;
    char output[PATH_MAX + 64];
} sw_shrink_result;

/* Returns 0 ok (shrunk.lua written), 1 the input does not fail (nothing to shrink),
 * 3 bad input (message on stderr). */
int sw_shrink(const sw_shrink_config *cfg, sw_shrink_result *res);

/* Text helpers shared by the shrinker and the tests: the schedule lines of a scenario
 * text and its node count. Returns false if the markers are missing. */
bool sw_parse_scenario(const char *text, uint32_t *nodes, uint64_t *seed, size_t *begin,
                       size_t *end);
/* Reads a whole file (malloc'd, NUL-terminated); NULL on error. */
char *sw_read_file(const char *path, size_t *len);
bool sw_write_file(const char *path, const char *text);

#endif
