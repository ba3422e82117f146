/* lua/scenario.h — running one Lua scenario against the simulator (`tidepool sim`).
 *
 * What it is for: a scenario is a Lua 5.4 script that builds a simulated world
 * (regions, latency, hosts, bandwidth, loss), puts nodes on hosts, schedules faults
 * and workloads at virtual times, runs the virtual clock, samples metrics and checks
 * outcomes. tl_state executes one script with one seed in a sandboxed Lua state
 * (DESIGN.md "lua/ and scenarios/"; the API is documented in lua/README.md) and records
 * the run in a results database (lua/results.h, reports/schema.sql). Octez has no
 * counterpart: this is tidepool's simulation front end.
 *
 * Determinism: the Lua state has no wall clock, no io/os, no C modules, no loadfile;
 * math.random is a xoshiro256** stream seeded from the run seed; `pairs` iterates in
 * sorted key order. Same script, same seed, same parameters => same trace hash and the
 * same event rows.
 *
 * Ownership: tl_state allocates and frees everything it uses; the config's strings are
 * borrowed for the call. Not re-entrant across threads (one run per thread is fine).
 */
#ifndef TP_LUA_SCENARIO_H
#define TP_LUA_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "simnet/sim.h"

#include "lua/results.h"

/* A --set key=value pair. */
typedef struct tl_param {
    const char *key;
    const char *value;
} tl_param;

/* Progress report, called between slices of virtual time (never inside an event). */
typedef struct tl_progress {
    int64_t virtual_ns;
    uint64_t events_executed;
    uint32_t hosts;
} tl_progress;

typedef struct tl_run_config {
    const char *script_path;     /* required; used as the chunk name in messages */
    uint64_t seed;               /* <= INT64_MAX (stored in SQLite) */
    const char *db_path;         /* NULL: no results database */
    tl_log_level log_level;      /* default TL_LOG_INFO */
    const tl_param *params;      /* --set pairs (copied as needed) */
    size_t param_count;
    const char *code_version;    /* recorded in runs.code_version */
    const char *command;         /* the replay command, recorded in runs.command */
    const char *build_commit;    /* runs.build_commit (buildinfo/), NULL unknown */
    int build_dirty;             /* runs.build_dirty: 1, 0, or -1 unknown */
    const char *build_id;        /* runs.build_id (buildinfo/), NULL unknown */
    size_t lua_memory_limit_bytes; /* 0: 1 GiB */
    double max_wall_s;           /* `--max-wall`: stop with verdict error after this many
                                    real seconds (0: no limit); checked in Lua code and
                                    between simulator events */
    uint64_t max_events;         /* `--max-events`: stop with verdict error once the
                                    simulator has executed more events (0: no limit) */
    uint32_t test_partitions;    /* testing the parallel simulator's buffers (lua/README.md
                                    "Threads"): with a world of one partition, lua/ files
                                    host h's rows and tallies under partition
                                    h % test_partitions as if there were that many; 0:
                                    the world's own partitions. Nothing else changes. */
    void (*progress)(void *arg, const tl_progress *p); /* may be NULL */
    void *progress_arg;
    FILE *out;                   /* print()/log() output; NULL: stderr */
    bool out_clear_line;         /* start each output line with "\r\033[K" (a progress
                                    line is shown on the same terminal) */
    bool crypto_fast;            /* simulation-only fast channel crypto (`--crypto fast`,
                                    simnet's crypto_fast); recorded in runs.parameters
                                    as "crypto": "fast" */
    uint32_t threads;            /* `--threads`: worker threads of the simulator (0 or 1:
                                    one); the run is the same at any count */
    uint32_t partitions;         /* `--partitions`: how many shares the hosts are split
                                    into (0: simnet's default, 8 per thread) */
} tl_run_config;

typedef enum tl_verdict {
    TL_VERDICT_PASS = 0,  /* script ended, every check passed */
    TL_VERDICT_FAIL = 1,  /* a check() failed or fail() was called */
    TL_VERDICT_ERROR = 3, /* the script is malformed or misused the API (file:line) */
} tl_verdict;

typedef struct tl_run_result {
    tl_verdict verdict;
    char message[1024];      /* the first failure / error ("file:line: ..."), or "" */
    uint64_t trace_hash;
    int64_t virtual_ns;
    uint64_t events_executed;
    uint32_t hosts;
    uint32_t nodes;
    uint32_t checks_passed;
    uint32_t checks_failed;
    int64_t run_id;          /* runs.id, or -1 without a database */
    bool param_error;        /* the error is a --set value (unknown parameter, wrong
                                type): a usage error of the command line */
    double wall_s;
    uint32_t threads;        /* threads the simulator used (fewer than asked: see note) */
    uint32_t partitions;     /* partitions they ran */
    char threads_note[160];  /* why, or "" */
    int64_t lookahead_ns;    /* the window length */
    sim_run_stats run_stats; /* per-thread busy and barrier-wait time (--stats) */
} tl_run_result;

void tl_run_config_default(tl_run_config *cfg);

/* Runs the scenario; fills *out (always) and returns out->verdict. A results database
 * that cannot be opened gives TL_VERDICT_ERROR with the reason in out->message. */
tl_verdict tl_run(const tl_run_config *cfg, tl_run_result *out);

/* "pass" / "fail" / "error". */
const char *tl_verdict_name(tl_verdict v);

#endif
