/* cmd/cmd_sweep.c — `tidepool sweep SWEEP.lua [--jobs J | --slurm ...]`: run a parameter
 * sweep (sweep/sweep.h, sweep/README.md) locally with J worker processes, or hand it to
 * Slurm as a job array plus a dependent merge job. Local sweeps are resumable (finished
 * tasks are not run again) and end with OUT/results.jsonl and OUT/campaign.db.
 *
 * A finished task is one whose result.json records the same identity as now (the
 * scenario file's content and this binary's build, cmd_build_id): one that ran another
 * version is stale and runs again, unless --keep-stale.
 *
 * Exit codes: 0 every task finished and passed; 1 some task failed its checks, ended in
 * an error, timed out, could not run, or is missing; 2 usage, or the sweep stopped
 * because its first tasks all hit the same error; 3 a malformed description or unusable
 * output directory; 130 interrupted (SIGINT/SIGTERM: finished tasks are kept). The
 * summary line says which. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "sweep/sweep.h"

#define EXIT_INTERRUPTED 130
#define TASK_TIMEOUT_DEFAULT_S 1800 /* 30 min: generous for a simulation, finite for a loop */
#define STOP_AFTER_SAME_ERROR 3      /* the first N ended tasks, all with one error: stop */

static void sweep_usage(FILE *out) {
    fprintf(out,
            "usage: tidepool sweep SWEEP.lua [--out DIR] [--jobs J] [--quiet]\n"
            "                      [--set NAME=VALUE]... [--seeds N|A,B,C] [--keep-stale]\n"
            "                      [--task-timeout S]\n"
            "       tidepool sweep SWEEP.lua --slurm [--partition P] [--max-parallel K]\n"
            "                      [--time T] [--mem M] [--tasks-per-job N] [--dry-run]\n"
            "       tidepool sweep SWEEP.lua --list | --collect\n"
            "       tidepool sweep SWEEP.lua --task-batch I --tasks-per-batch N\n"
            "\n"
            "Runs a parameter sweep: one scenario over a grid and/or random draws of its\n"
            "parameters, several seeds per point. Each task is one `tidepool sim` run in its\n"
            "own process, with its own database OUT/tasks/<id>/run.db and result line\n"
            "OUT/tasks/<id>/result.json. Finished tasks are never run again: run the same\n"
            "command after an interruption to resume. At the end, OUT/results.jsonl holds\n"
            "every task's line and OUT/campaign.db all runs (see tidepool report).\n"
            "A task's result records what it ran (the scenario file's content and this\n"
            "binary's build): after an edit to the scenario or a rebuild, finished tasks\n"
            "that ran another version run again (the sweep says which and why).\n"
            "The description format is in sweep/README.md; examples in sweeps/.\n"
            "\n"
            "options:\n"
            "  --out DIR            output directory (default: the description's `out`)\n"
            "  --jobs J             worker processes (default: the number of CPUs)\n"
            "  --quiet              only errors and the final summary\n"
            "  --set NAME=VALUE     one value of parameter NAME for every task (replaces the\n"
            "                       description's list or draw of it; repeatable)\n"
            "  --seeds N|A,B,C      N seeds from seed_base, or this list of seeds\n"
            "  --keep-stale         keep the results of finished tasks that ran another\n"
            "                       scenario content or another build (default: rerun them)\n"
            "  --task-timeout S     kill a task still running after S seconds and record it as\n"
            "                       an error (default %d; 0: no limit)\n"
            "  --no-collect         do not write results.jsonl / campaign.db at the end\n"
            "  --list               print the tasks (index, id, seed, parameters) and exit\n"
            "  --collect            only (re)build results.jsonl and campaign.db from the\n"
            "                       finished tasks (what the Slurm merge job runs)\n"
            "\n"
            "Slurm:\n"
            "  --slurm              write OUT/slurm/array.sh (a job array over the tasks) and\n"
            "                       OUT/slurm/merge.sh (runs after it: afterany), submit both\n"
            "                       with sbatch --parsable and print the job ids\n"
            "  --partition P        #SBATCH --partition (default: the cluster's default)\n"
            "  --max-parallel K     at most K array tasks at once (--array=0-N%%K)\n"
            "  --time T, --mem M    #SBATCH --time / --mem for every array task\n"
            "  --tasks-per-job N    tasks per array index (default: as many as needed to stay\n"
            "                       within 1000 array indices)\n"
            "  --dry-run            write the scripts but do not submit them\n"
            "  --task-batch I       run array index I's tasks (what array.sh runs), with\n"
            "  --tasks-per-batch N  N tasks per index\n"
            "\n"
            "exit codes: 0 every task finished and passed; 1 a task failed its checks, ended\n"
            "in an error, timed out, broke or is missing; 2 usage, or the first %d tasks all\n"
            "hit the same error (the sweep stops early); 3 malformed description or unusable\n"
            "output; 130 interrupted. The last line says which.\n"
            "\n"
            "examples:\n"
            "  tidepool sweep sweeps/bootstrap_expected.lua --jobs 8\n"
            "  tidepool sweep sweeps/bootstrap_expected.lua --seeds 5 --set nodes=50\n"
            "  tidepool sweep sweeps/bootstrap_expected.lua --slurm --partition short "
            "--max-parallel 50\n",
            TASK_TIMEOUT_DEFAULT_S, STOP_AFTER_SAME_ERROR);
}

typedef struct sweep_args {
    const char *path, *out;
    uint64_t jobs;
    bool quiet, no_collect, list, collect, slurm, dry_run, keep_stale;
    const char *sets[SW_PARAMS_MAX];
    size_t set_count;
    const char *seeds;
    uint64_t task_timeout_s;
    bool batch_set, per_batch_set;
    uint64_t batch, per_batch;
    sw_slurm_options so;
    uint64_t max_parallel, tasks_per_job;
} sweep_args;

static int parse(int argc, char **argv, sweep_args *a) {
    memset(a, 0, sizeof *a);
    a->task_timeout_s = TASK_TIMEOUT_DEFAULT_S;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(o, "--out") == 0 || strcmp(o, "--jobs") == 0 ||
                     strcmp(o, "--partition") == 0 || strcmp(o, "--max-parallel") == 0 ||
                     strcmp(o, "--time") == 0 || strcmp(o, "--mem") == 0 ||
                     strcmp(o, "--tasks-per-job") == 0 || strcmp(o, "--task-batch") == 0 ||
                     strcmp(o, "--tasks-per-batch") == 0 || strcmp(o, "--set") == 0 ||
                     strcmp(o, "--seeds") == 0 || strcmp(o, "--task-timeout") == 0;
        if (takes && !v) {
            cmd_error("sweep", "%s expects a value (see tidepool sweep --help)", o);
            return TP_EXIT_USAGE;
        }
        if (strcmp(o, "--out") == 0) {
            a->out = v;
        } else if (strcmp(o, "--jobs") == 0) {
            if (!cmd_parse_u64("sweep", "--jobs", v, &a->jobs)) return TP_EXIT_USAGE;
            if (a->jobs < 1 || a->jobs > 1024) {
                cmd_error("sweep", "--jobs expects 1..1024 (got %s)", v);
                return TP_EXIT_USAGE;
            }
        } else if (strcmp(o, "--set") == 0) {
            if (a->set_count == SW_PARAMS_MAX) {
                cmd_error("sweep", "at most %d --set options", SW_PARAMS_MAX);
                return TP_EXIT_USAGE;
            }
            if (!strchr(v, '=') || v[0] == '=') {
                cmd_error("sweep", "--set expects NAME=VALUE (got '%s'), e.g. --set nodes=50", v);
                return TP_EXIT_USAGE;
            }
            a->sets[a->set_count++] = v;
        } else if (strcmp(o, "--seeds") == 0) {
            a->seeds = v;
        } else if (strcmp(o, "--task-timeout") == 0) {
            if (!cmd_parse_u64("sweep", o, v, &a->task_timeout_s)) return TP_EXIT_USAGE;
        } else if (strcmp(o, "--keep-stale") == 0) {
            a->keep_stale = true;
        } else if (strcmp(o, "--partition") == 0) {
            a->so.partition = v;
        } else if (strcmp(o, "--time") == 0) {
            a->so.time_limit = v;
        } else if (strcmp(o, "--mem") == 0) {
            a->so.mem = v;
        } else if (strcmp(o, "--max-parallel") == 0) {
            if (!cmd_parse_u64("sweep", o, v, &a->max_parallel)) return TP_EXIT_USAGE;
            if (a->max_parallel < 1 || a->max_parallel > 100000) {
                cmd_error("sweep", "--max-parallel expects 1..100000 (got %s)", v);
                return TP_EXIT_USAGE;
            }
        } else if (strcmp(o, "--tasks-per-job") == 0) {
            if (!cmd_parse_u64("sweep", o, v, &a->tasks_per_job)) return TP_EXIT_USAGE;
            if (a->tasks_per_job < 1 || a->tasks_per_job > SW_TASKS_MAX) {
                cmd_error("sweep", "--tasks-per-job expects 1..%d (got %s)", SW_TASKS_MAX, v);
                return TP_EXIT_USAGE;
            }
        } else if (strcmp(o, "--task-batch") == 0) {
            if (!cmd_parse_u64("sweep", o, v, &a->batch)) return TP_EXIT_USAGE;
            a->batch_set = true;
        } else if (strcmp(o, "--tasks-per-batch") == 0) {
            if (!cmd_parse_u64("sweep", o, v, &a->per_batch)) return TP_EXIT_USAGE;
            if (a->per_batch < 1) {
                cmd_error("sweep", "--tasks-per-batch expects at least 1");
                return TP_EXIT_USAGE;
            }
            a->per_batch_set = true;
        } else if (strcmp(o, "--quiet") == 0) {
            a->quiet = true;
        } else if (strcmp(o, "--no-collect") == 0) {
            a->no_collect = true;
        } else if (strcmp(o, "--list") == 0) {
            a->list = true;
        } else if (strcmp(o, "--collect") == 0) {
            a->collect = true;
        } else if (strcmp(o, "--slurm") == 0) {
            a->slurm = true;
        } else if (strcmp(o, "--dry-run") == 0) {
            a->dry_run = true;
        } else if (o[0] == '-' && o[1] != '\0') {
            cmd_error("sweep", "unknown option '%s' (see tidepool sweep --help)", o);
            return TP_EXIT_USAGE;
        } else if (!a->path) {
            a->path = o;
            continue;
        } else {
            cmd_error("sweep", "one sweep description at a time (got '%s' and '%s')", a->path, o);
            return TP_EXIT_USAGE;
        }
        if (takes) i++;
    }
    if (!a->path) {
        cmd_error("sweep", "missing the sweep description, e.g. tidepool sweep "
                           "sweeps/bootstrap_expected.lua --jobs 4");
        return TP_EXIT_USAGE;
    }
    int modes = a->list + a->collect + a->slurm + a->batch_set;
    if (modes > 1) {
        cmd_error("sweep", "--list, --collect, --slurm and --task-batch exclude each other");
        return TP_EXIT_USAGE;
    }
    if (a->batch_set != a->per_batch_set) {
        cmd_error("sweep", "--task-batch and --tasks-per-batch go together");
        return TP_EXIT_USAGE;
    }
    bool slurm_opts = a->so.partition || a->so.time_limit || a->so.mem || a->max_parallel ||
                      a->tasks_per_job || a->dry_run;
    if (slurm_opts && !a->slurm) {
        cmd_error("sweep", "--partition, --max-parallel, --time, --mem, --tasks-per-job and "
                           "--dry-run only apply with --slurm");
        return TP_EXIT_USAGE;
    }
    return TP_EXIT_OK;
}

static bool self_exe(char *buf, size_t cap) {
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0) return false;
    buf[n] = '\0';
    return true;
}

static void list_tasks(const sw_sweep *s) {
    printf("# %zu tasks: %zu grid points x %zu draws x %zu seeds; scenario %s", s->task_count,
           s->grid_points, s->draw_count ? s->draw_count : 1, s->seeds_per_point,
           s->scenario_path);
    if (s->draws_dropped) printf(" (%zu repeated draws dropped)", s->draws_dropped);
    printf("\n");
    for (size_t i = 0; i < s->task_count; i++) {
        const sw_task *t = &s->tasks[i];
        printf("%zu %s seed=%" PRIu64, t->index, t->id, t->seed);
        for (size_t k = 0; k < t->param_count; k++)
            printf(" %s=%s", t->params[k].name, t->params[k].value);
        printf("\n");
    }
}

static int collect(const sw_sweep *s, const char *out, const sw_identity *id, bool keep_stale,
                   bool quiet, bool hint, size_t *missing) {
    char err[2048];
    sw_collect_stats cs;
    *missing = 0;
    if (sw_collect(s, out, id, keep_stale, &cs, err, sizeof err) != 0) {
        cmd_error("sweep", "%s", err);
        return TP_EXIT_INPUT;
    }
    if (!quiet || cs.missing)
        fprintf(stderr,
                "sweep: %zu of %zu tasks finished; results: %s/results.jsonl; campaign: "
                "%s/campaign.db (%zu runs)\n",
                cs.finished, s->task_count, out, out, cs.runs_merged);
    *missing = cs.missing;
    if (cs.missing && hint) {
        fprintf(stderr,
                "sweep: %zu tasks have no result yet%s; run `tidepool sweep %s` (or resubmit "
                "with --slurm) to run them\n",
                cs.missing,
                cs.stale ? " (some ran another scenario content or build: --keep-stale uses "
                           "them anyway)"
                         : "",
                s->path);
    }
    return cs.missing ? TP_EXIT_FAIL : TP_EXIT_OK;
}

/* "a passed, b failed their checks" from the non-zero counts ("" if all are zero). */
static void counts_text(char *buf, size_t cap, size_t passed, size_t failed, size_t errors,
                        size_t timed_out, size_t broken) {
    const char *names[] = {"passed", "failed their checks", "ended in an error", "timed out",
                           "broke"};
    size_t v[] = {passed, failed, errors, timed_out, broken};
    buf[0] = '\0';
    for (size_t i = 0; i < 5; i++) {
        if (!v[i]) continue;
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%zu %s", len ? ", " : "", v[i], names[i]);
    }
}

/* The last line: what ran, what earlier runs left, and why the exit code is what it is. */
static void summary(const sw_run_stats *st, size_t missing, int rc) {
    char now[256], before[256];
    counts_text(now, sizeof now, st->passed, st->failed, st->errors, st->timed_out, st->broken);
    counts_text(before, sizeof before, st->earlier_passed, st->earlier_failed,
                st->earlier_error, 0, 0);
    size_t ran = st->ran + st->broken;
    fprintf(stderr, "sweep: ran %zu task%s%s%s%s", ran, ran == 1 ? "" : "s", now[0] ? " (" : "",
            now, now[0] ? ")" : "");
    if (st->already_finished)
        fprintf(stderr, "; %zu earlier task%s (%s)", st->already_finished,
                st->already_finished == 1 ? "" : "s", before);
    if (st->not_started) fprintf(stderr, "; %zu not started", st->not_started);
    if (missing) fprintf(stderr, "; %zu without a result", missing);
    fprintf(stderr, ": exit %d\n", rc);
}

int cmd_sweep(int argc, char **argv) {
    if (cmd_wants_help(argc, argv)) {
        sweep_usage(stdout);
        return TP_EXIT_OK;
    }
    sweep_args a;
    int rc = parse(argc, argv, &a);
    if (rc != TP_EXIT_OK) return rc;
    char err[2048];
    sw_sweep s;
    sw_overrides ov = {.sets = a.sets, .set_count = a.set_count, .seeds = a.seeds};
    if (sw_sweep_load_with(a.path, &ov, &s, err, sizeof err) != 0) {
        cmd_error("sweep", "%s", err);
        /* A bad --set / --seeds is a usage error; a bad file is malformed input. */
        return strncmp(err, "--", 2) == 0 ? TP_EXIT_USAGE : TP_EXIT_INPUT;
    }
    if (a.list) {
        list_tasks(&s);
        sw_sweep_free(&s);
        return TP_EXIT_OK;
    }
    const char *out = a.out ? a.out : s.out_dir;
    if (!out[0]) {
        cmd_error("sweep", "%s: no output directory: add out = \"out/%s\" to the description or "
                           "give --out DIR",
                  a.path, s.name);
        sw_sweep_free(&s);
        return TP_EXIT_USAGE;
    }
    char exe[SW_PATH_MAX], build[160];
    if (!self_exe(exe, sizeof exe) || !cmd_build_id(build, sizeof build)) {
        cmd_error("sweep", "cannot find or read the tidepool binary (/proc/self/exe)");
        sw_sweep_free(&s);
        return TP_EXIT_INPUT;
    }
    sw_identity ident;
    if (sw_identity_compute(&s, build, &ident, err, sizeof err) != 0) {
        cmd_error("sweep", "%s", err);
        sw_sweep_free(&s);
        return TP_EXIT_INPUT;
    }

    /* One local sweep (or collect) at a time per output directory; Slurm batches share. */
    if (!a.slurm && sw_lock_out(out, !a.batch_set, err, sizeof err) == -1) {
        cmd_error("sweep", "%s", err);
        sw_sweep_free(&s);
        return TP_EXIT_INPUT;
    }
    size_t missing = 0;
    if (a.collect) {
        rc = collect(&s, out, &ident, a.keep_stale, a.quiet, true, &missing);
        sw_sweep_free(&s);
        return rc;
    }

    if (a.slurm) {
        a.so.tidepool_exe = exe;
        a.so.max_parallel = (unsigned)a.max_parallel;
        a.so.tasks_per_job = (size_t)a.tasks_per_job;
        a.so.dry_run = a.dry_run;
        /* The batches and the merge job load the description with the same overrides. */
        const char *extra[2 * SW_PARAMS_MAX + 3];
        size_t nextra = 0;
        for (size_t i = 0; i < a.set_count; i++) {
            extra[nextra++] = "--set";
            extra[nextra++] = a.sets[i];
        }
        if (a.seeds) {
            extra[nextra++] = "--seeds";
            extra[nextra++] = a.seeds;
        }
        if (a.keep_stale) extra[nextra++] = "--keep-stale";
        a.so.extra_args = extra;
        a.so.extra_count = nextra;
        sw_slurm_result r;
        if (sw_slurm_submit(&s, a.path, out, &a.so, &r, err, sizeof err) != 0) {
            cmd_error("sweep", "%s", err);
            sw_sweep_free(&s);
            return TP_EXIT_INPUT;
        }
        size_t finished = 0;
        for (size_t i = 0; i < s.task_count; i++) {
            sw_task_state ts = sw_task_check(out, &s.tasks[i], &ident).state;
            finished += ts == SW_TASK_CURRENT || (ts == SW_TASK_STALE && a.keep_stale);
        }
        printf("sweep: %zu tasks (%zu already finished) in %zu array tasks of %zu\n",
               s.task_count, finished, r.array_size, r.tasks_per_job);
        printf("scripts: %s %s\n", r.array_script, r.merge_script);
        if (a.dry_run) {
            printf("dry run: not submitted; submit with\n"
                   "  jobid=$(sbatch --parsable %s) && sbatch --dependency=afterany:$jobid %s\n",
                   r.array_script, r.merge_script);
        } else {
            printf("array job %s\nmerge job %s (afterany:%s)\n", r.array_job, r.merge_job,
                   r.array_job);
            printf("watch: squeue -j %s,%s; campaign: %s/campaign.db when the merge job ends\n",
                   r.array_job, r.merge_job, out);
        }
        sw_sweep_free(&s);
        return TP_EXIT_OK;
    }

    sw_run_options ro = {.tidepool_exe = exe,
                         .quiet = a.quiet,
                         .identity = &ident,
                         .keep_stale = a.keep_stale,
                         .task_timeout_s = (double)a.task_timeout_s,
                         .stop_after = STOP_AFTER_SAME_ERROR};
    if (a.batch_set) {
        if (a.per_batch > SW_TASKS_MAX || a.batch > SW_TASKS_MAX ||
            a.batch * a.per_batch >= s.task_count) {
            cmd_error("sweep", "--task-batch %" PRIu64 " with %" PRIu64
                               " tasks per batch is past the %zu tasks of %s",
                      a.batch, a.per_batch, s.task_count, a.path);
            sw_sweep_free(&s);
            return TP_EXIT_USAGE;
        }
        ro.first = (size_t)(a.batch * a.per_batch);
        ro.count = (size_t)a.per_batch;
        ro.jobs = a.jobs ? (unsigned)a.jobs : 1;
    } else {
        ro.first = 0;
        ro.count = s.task_count;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ro.jobs = a.jobs ? (unsigned)a.jobs : cpus > 0 ? (unsigned)cpus : 1;
        ro.progress_tty = isatty(STDERR_FILENO);
    }
    sw_run_stats st;
    if (sw_run_tasks(&s, out, &ro, &st, err, sizeof err) != 0) {
        cmd_error("sweep", "%s", err);
        sw_sweep_free(&s);
        return TP_EXIT_INPUT;
    }
    size_t finished = st.already_finished + st.ran;
    if (st.interrupted) {
        fprintf(stderr,
                "sweep: interrupted: %zu of %zu tasks finished and kept; run the same command "
                "again to resume\n",
                finished, st.total);
        sw_sweep_free(&s);
        return EXIT_INTERRUPTED;
    }
    bool bad_now = st.failed || st.errors || st.timed_out || st.broken;
    bool bad_before = st.earlier_failed || st.earlier_error;
    rc = bad_now || bad_before || st.not_started ? TP_EXIT_FAIL : TP_EXIT_OK;
    if (!a.batch_set && !a.no_collect) {
        int crc = collect(&s, out, &ident, a.keep_stale, a.quiet, true, &missing);
        if (crc != TP_EXIT_OK && rc == TP_EXIT_OK) rc = crc;
    }
    if (st.stopped_early) {
        rc = TP_EXIT_USAGE;
        fprintf(stderr,
                "sweep: stopped early: the first %d tasks all ended with the same error, so the "
                "others would too:\n  %s\nfix the description or the scenario and run the same "
                "command again (%zu tasks not started)\n",
                STOP_AFTER_SAME_ERROR, st.stop_message, st.not_started);
    }
    summary(&st, missing, rc);
    sw_sweep_free(&s);
    return rc;
}
