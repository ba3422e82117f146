/* sweep/sweep.h — parameter sweeps: many independent `tidepool sim` runs of one
 * scenario, locally (a pool of worker processes) or on a Slurm cluster (a job array
 * plus a dependent merge job), combined into one campaign database.
 *
 * What it is for: a study ("how does time-to-bootstrap change with peers_k from 2 to
 * 8, over 50 seeds each?") is a sweep description in Lua (sw_sweep_load) that expands
 * into a deterministic, numbered list of tasks. Each task is (scenario, parameter
 * values, seed) and runs as its own `tidepool sim` subprocess that writes its own
 * SQLite file, OUT/tasks/<id>/run.db, and one JSON line, OUT/tasks/<id>/result.json
 * (written atomically: temp file + rename). A task is finished iff its result.json
 * exists; resuming a sweep skips finished tasks and reruns the others from scratch
 * (their partial files are deleted first). The task id is a hash of (scenario,
 * parameters, seed), so it does not depend on the order of the description; what the
 * task ran is its identity (sw_identity: the scenario file's content and the binary's
 * build), recorded in result.json: a finished task whose identity no longer matches is
 * stale and runs again (or is kept, if the caller asks).
 * sw_merge combines run databases into one campaign database (reports/schema.sql),
 * ATTACH + INSERT with run ids remapped, one transaction per input. Octez has no
 * counterpart: this is tidepool's batch front end (DESIGN.md "One CLI": sweep).
 *
 * Ownership: sw_sweep owns all its memory (sw_sweep_free). Functions that can fail
 * return 0 or -1 and then write a user-facing message (file, place, fix) into the
 * caller's err buffer. Nothing here is used by core/ or simnet/: this is CLI-side
 * code and may call the OS.
 */
#ifndef TP_SWEEP_H
#define TP_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SW_NAME_MAX 64       /* parameter names, including the NUL */
#define SW_VALUE_MAX 256     /* a parameter value as text, including the NUL */
#define SW_PARAMS_MAX 64     /* parameters per task (grid + fixed + drawn) */
#define SW_TASKS_MAX 100000 /* tasks per sweep (memory: ~330 bytes per task and parameter) */
#define SW_PATH_MAX 4096

typedef enum sw_kind { SW_INTEGER, SW_NUMBER, SW_STRING, SW_BOOLEAN } sw_kind;

/* One parameter value of a task, as text (what `tidepool sim --set name=value` gets). */
typedef struct sw_param {
    char name[SW_NAME_MAX];
    char value[SW_VALUE_MAX];
    sw_kind kind;
} sw_param;

typedef struct sw_task {
    size_t index;       /* 0-based position in the description's order */
    char id[17];        /* 16 hex digits: BLAKE2b of (scenario, params, seed) */
    uint64_t seed;      /* <= INT64_MAX */
    size_t param_count;
    const sw_param *params; /* sorted by name; points into sw_sweep storage */
} sw_task;

typedef struct sw_sweep {
    char path[SW_PATH_MAX];     /* the description file, as given */
    char name[SW_NAME_MAX];     /* `name` key, or the file's base name */
    char scenario[SW_PATH_MAX]; /* as written in the description (part of task ids) */
    char scenario_path[SW_PATH_MAX]; /* resolved: what `tidepool sim` is given */
    char out_dir[SW_PATH_MAX];  /* `out` key ("" if absent) */
    char log_level[8];          /* "" (sim's default) | none | info | debug */
    size_t grid_points, draw_count, seeds_per_point;
    size_t draws_dropped;       /* draws equal to an earlier draw (not run twice) */
    size_t task_count;
    sw_task *tasks;
    sw_param *param_storage;    /* task_count * params_per_task */
} sw_sweep;

/* Command-line overrides of a description (`tidepool sweep --set name=value --seeds
 * N|a,b,c`): applied to the returned table before validation, so they are checked like
 * the file's own values. A --set value is an integer, number or boolean if it reads as
 * one, else a string; it replaces params.name (or draws.params.name) with that one
 * value. seeds: "" keeps the description's; "N" is a count; "a,b,c" a list. */
typedef struct sw_overrides {
    const char *const *sets; /* "name=value" */
    size_t set_count;
    const char *seeds;       /* NULL or "" keeps the description's */
} sw_overrides;

/* Loads and expands a sweep description (sweep/README.md): evaluates path in a Lua
 * sandbox (no io/os/require, no math.random, an instruction limit, the scenarios' Lua
 * memory limit), validates the
 * returned table and expands grid x draws x seeds into tasks. On error returns -1 and
 * writes "FILE:LINE: ..." (Lua errors) or "FILE: key 'params.x': ..." into err;
 * *out is then empty (safe to sw_sweep_free). */
int sw_sweep_load(const char *path, sw_sweep *out, char *err, size_t err_cap)
    __attribute__((warn_unused_result));
/* The same with command-line overrides (ov may be NULL). */
int sw_sweep_load_with(const char *path, const sw_overrides *ov, sw_sweep *out, char *err,
                       size_t err_cap) __attribute__((warn_unused_result));
void sw_sweep_free(sw_sweep *s);

/* Task paths under the output directory (snprintf-style; false if it does not fit). */
bool sw_task_dir(const char *out_dir, const sw_task *t, char *buf, size_t cap);
bool sw_task_file(const char *out_dir, const sw_task *t, const char *file, char *buf,
                  size_t cap);

/* True if the task's result.json exists and is complete (ends in "}\n"). */
bool sw_task_finished(const char *out_dir, const sw_task *t);

/* ---- what a task ran ------------------------------------------------------------ */

/* A task's identity besides its id (parameters and seed): the scenario file's content
 * (scenarios cannot load other files: lua/runtime.c removes dofile, loadfile and
 * require, so the file is all they run) and the build of the binary that runs it. */
typedef struct sw_identity {
    char scenario_hash[17]; /* first 8 bytes (hex) of BLAKE2b over the scenario file */
    char build[160];        /* the binary's build identity, e.g. "155a9d9 b2:0123abcd..." */
} sw_identity;

/* Hashes s->scenario_path's content; build is copied. -1 with "FILE: cannot read the
 * scenario (...)" in err. */
int sw_identity_compute(const sw_sweep *s, const char *build, sw_identity *out, char *err,
                        size_t err_cap) __attribute__((warn_unused_result));

typedef enum sw_task_state {
    SW_TASK_MISSING,      /* no complete result.json */
    SW_TASK_CURRENT,      /* finished, with this identity */
    SW_TASK_STALE,        /* finished, but it ran another scenario content or build */
} sw_task_state;

typedef struct sw_task_status {
    sw_task_state state;
    bool scenario_changed, build_changed; /* for SW_TASK_STALE (both false: no identity
                                             recorded, an older tidepool wrote it) */
    char verdict[16];                     /* of a finished task: pass | fail | error */
    char old_build[160];                  /* the build that ran it ("" if unrecorded) */
} sw_task_status;

/* Reads the task's result.json and compares its recorded identity with id. */
sw_task_status sw_task_check(const char *out_dir, const sw_task *t, const sw_identity *id);

/* ---- running tasks ------------------------------------------------------------- */

typedef struct sw_run_options {
    const char *tidepool_exe; /* the binary whose `sim` runs a task (/proc/self/exe) */
    unsigned jobs;            /* worker processes, >= 1 */
    bool progress_tty;        /* a progress bar on stderr (else one line per task) */
    bool quiet;               /* nothing but errors */
    size_t first, count;      /* the task range to run: [first, first + count) */
    const sw_identity *identity; /* what the tasks run now (recorded in result.json) */
    bool keep_stale;          /* a finished task of another identity counts as finished */
    double task_timeout_s;    /* a task running longer is killed (0: no limit) */
    size_t stop_after;        /* stop when the first N ended tasks all hit the same error
                                 (0: never) */
} sw_run_options;

typedef struct sw_run_stats {
    size_t total;            /* tasks in the range */
    size_t already_finished; /* skipped: result.json existed (current, or stale and kept) */
    size_t earlier_passed, earlier_failed, earlier_error; /* their verdicts */
    size_t stale;            /* finished earlier with another identity: rerun (or kept) */
    size_t stale_scenario, stale_build; /* why (a task can count in both) */
    char stale_old_build[160];          /* one build that ran a stale task */
    size_t ran;              /* finished in this call */
    size_t passed, failed, errors; /* verdicts of the tasks finished in this call
                                      (errors: the run ended in a scenario error) */
    size_t timed_out;        /* killed after task_timeout_s (recorded as an error result) */
    size_t broken;           /* could not produce a result (killed, usage, exec) */
    size_t not_started;      /* left unrun because the sweep stopped early */
    bool interrupted;        /* SIGINT/SIGTERM: children killed, partial tasks removed */
    bool stopped_early;      /* the first tasks all hit the same error (stop_message) */
    char stop_message[600];
} sw_run_stats;

/* Runs the unfinished tasks of the range with opts->jobs workers, each task a
 * `tidepool sim` subprocess (stdout -> sim.json, stderr -> sim.log in its task
 * directory). Installs SIGINT/SIGTERM handlers for the duration of the call: on a
 * signal it kills the running children, deletes their partial task directories, and
 * returns with stats->interrupted. Returns -1 (err) only if the output directory
 * cannot be created. */
int sw_run_tasks(const sw_sweep *s, const char *out_dir, const sw_run_options *opts,
                 sw_run_stats *stats, char *err, size_t err_cap)
    __attribute__((warn_unused_result));

/* Locks the output directory for this process (OUT/.lock, flock): exclusive for a
 * local sweep and for collecting, shared for Slurm batches (which run side by side on
 * disjoint tasks). Returns the lock's descriptor (kept open until exit), or -1 with
 * "another tidepool sweep is using OUT ..." in err. Where the filesystem has no flock
 * (some network filesystems), returns -2 and the caller goes on unlocked. */
int sw_lock_out(const char *out_dir, bool exclusive, char *err, size_t err_cap);

/* ---- collecting ------------------------------------------------------------------ */

typedef struct sw_collect_stats {
    size_t finished, missing; /* tasks with / without a (current, or kept) result */
    size_t stale;             /* finished with another identity, left out (counted in
                                 missing) unless keep_stale */
    size_t runs_merged, runs_skipped;
} sw_collect_stats;

/* Writes OUT/results.jsonl (every finished task's result line, in task order) and
 * rebuilds OUT/campaign.db from the finished tasks' run.db files, merged in sorted
 * task-id order (deterministic whatever the order the tasks ran in). Both files are
 * written to temporary names and renamed. Returns -1 (err) on I/O or merge errors. */
int sw_collect(const sw_sweep *s, const char *out_dir, const sw_identity *id, bool keep_stale,
               sw_collect_stats *stats, char *err, size_t err_cap)
    __attribute__((warn_unused_result));

/* ---- Slurm ----------------------------------------------------------------------- */

typedef struct sw_slurm_options {
    const char *tidepool_exe;  /* absolute path written into the scripts */
    const char *partition;     /* NULL: the cluster's default */
    const char *time_limit;    /* --time, NULL: default */
    const char *mem;           /* --mem, NULL: default */
    unsigned max_parallel;     /* the %K throttle; 0: none */
    size_t tasks_per_job;      /* 0: ceil(tasks / 1000) (Slurm's default MaxArraySize) */
    bool dry_run;              /* write the scripts, do not submit */
    const char *const *extra_args; /* appended to both scripts' tidepool commands (the
                                      --set/--seeds/--keep-stale overrides), quoted */
    size_t extra_count;
} sw_slurm_options;

typedef struct sw_slurm_result {
    size_t array_size, tasks_per_job;
    char array_script[SW_PATH_MAX], merge_script[SW_PATH_MAX];
    char array_job[64], merge_job[64]; /* "" on a dry run */
} sw_slurm_result;

/* Writes OUT/slurm/array.sh (--array=0-(B-1)[%K], each index runs `tidepool sweep
 * SWEEP --out OUT --task-batch i --tasks-per-batch N`) and OUT/slurm/merge.sh
 * (`tidepool sweep SWEEP --out OUT --collect`), then, unless dry_run, submits them
 * with `sbatch --parsable` (the merge job with --dependency=afterany:<array job>).
 * Paths in the scripts are absolute; the scripts cd to the current directory. */
int sw_slurm_submit(const sw_sweep *s, const char *sweep_path, const char *out_dir,
                    const sw_slurm_options *opts, sw_slurm_result *res, char *err,
                    size_t err_cap) __attribute__((warn_unused_result));

/* ---- merging --------------------------------------------------------------------- */

typedef struct sw_merge_stats {
    size_t inputs;
    size_t runs_added;      /* runs copied */
    size_t runs_duplicate;  /* already in the output: same scenario, seed, parameters,
                               trace_hash */
    size_t runs_unfinished; /* verdict 'running' (a killed run): not copied */
} sw_merge_stats;

/* Merges run databases into out_path (created with reports/schema.sql if missing).
 * For each input, in the order given: checks its schema_version against the output's
 * (refuses a mismatch), then in one transaction copies every finished run whose
 * (scenario, seed, parameters, trace_hash) is not in the output yet, with a new run id,
 * and all its rows of every table that has a run_id column, in their stored order.
 * Inputs are opened read-only and never modified. Stops at the first failing input
 * (earlier inputs stay merged) and returns -1 with "INPUT: reason; fix" in err. */
int sw_merge(const char *out_path, const char *const *inputs, size_t input_count,
             sw_merge_stats *stats, char *err, size_t err_cap)
    __attribute__((warn_unused_result));

/* Copies the schema_version this binary writes (from reports/schema.sql) into buf. */
bool sw_schema_version_text(char *buf, size_t cap);

#endif
