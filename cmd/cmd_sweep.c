/* cmd/cmd_sweep.c — `tidepool sweep SWEEP.lua [--jobs J | --slurm ...]`: run a parameter
 * sweep (sweep/sweep.h, sweep/README.md) locally with J worker processes, or hand it to
 * Slurm as a job array plus a dependent merge job. Local sweeps are resumable (finished
 * tasks are not run again) and end with OUT/results.jsonl and OUT/campaign.db.
 *
 * Exit codes: 0 every task finished and passed; 1 some task failed its checks, could
 * not run, or is missing; 2 usage; 3 a malformed description or unusable output
 * directory; 130 interrupted (SIGINT/SIGTERM: finished tasks are kept). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "sweep/sweep.h"

#define EXIT_INTERRUPTED 130

static void sweep_usage(FILE *out) {
    fprintf(out,
            "usage: tidepool sweep SWEEP.lua [--out DIR] [--jobs J] [--quiet]\n"
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
            "The description format is in sweep/README.md; examples in sweeps/.\n"
            "\n"
            "options:\n"
            "  --out DIR            output directory (default: the description's `out`)\n"
            "  --jobs J             worker processes (default: the number of CPUs)\n"
            "  --quiet              only errors and the final summary\n"
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
            "exit codes: 0 every task finished and passed; 1 a task failed, broke or is\n"
            "missing; 2 usage; 3 malformed description or unusable output; 130 interrupted.\n"
            "\n"
            "examples:\n"
            "  tidepool sweep sweeps/bootstrap_peers.lua --jobs 8\n"
            "  tidepool sweep sweeps/bootstrap_peers.lua --slurm --partition short --max-parallel 50\n");
}

typedef struct sweep_args {
    const char *path, *out;
    uint64_t jobs;
    bool quiet, no_collect, list, collect, slurm, dry_run;
    bool batch_set, per_batch_set;
    uint64_t batch, per_batch;
    sw_slurm_options so;
    uint64_t max_parallel, tasks_per_job;
} sweep_args;

static int parse(int argc, char **argv, sweep_args *a) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(o, "--out") == 0 || strcmp(o, "--jobs") == 0 ||
                     strcmp(o, "--partition") == 0 || strcmp(o, "--max-parallel") == 0 ||
                     strcmp(o, "--time") == 0 || strcmp(o, "--mem") == 0 ||
                     strcmp(o, "--tasks-per-job") == 0 || strcmp(o, "--task-batch") == 0 ||
                     strcmp(o, "--tasks-per-batch") == 0;
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
                           "sweeps/bootstrap_peers.lua --jobs 4");
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

static int collect(const sw_sweep *s, const char *out, bool quiet) {
    char err[2048];
    sw_collect_stats cs;
    if (sw_collect(s, out, &cs, err, sizeof err) != 0) {
        cmd_error("sweep", "%s", err);
        return TP_EXIT_INPUT;
    }
    if (!quiet || cs.missing)
        fprintf(stderr,
                "sweep: %zu of %zu tasks finished; results: %s/results.jsonl; campaign: "
                "%s/campaign.db (%zu runs)\n",
                cs.finished, s->task_count, out, out, cs.runs_merged);
    if (cs.missing) {
        fprintf(stderr,
                "sweep: %zu tasks have no result yet; run `tidepool sweep %s` (or resubmit "
                "with --slurm) to run them\n",
                cs.missing, s->path);
        return TP_EXIT_FAIL;
    }
    return TP_EXIT_OK;
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
    if (sw_sweep_load(a.path, &s, err, sizeof err) != 0) {
        cmd_error("sweep", "%s", err);
        return TP_EXIT_INPUT;
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
    char exe[SW_PATH_MAX];
    if (!self_exe(exe, sizeof exe)) {
        cmd_error("sweep", "cannot find the tidepool binary (/proc/self/exe)");
        sw_sweep_free(&s);
        return TP_EXIT_INPUT;
    }

    /* One local sweep (or collect) at a time per output directory; Slurm batches share. */
    if (!a.slurm && sw_lock_out(out, !a.batch_set, err, sizeof err) == -1) {
        cmd_error("sweep", "%s", err);
        sw_sweep_free(&s);
        return TP_EXIT_INPUT;
    }
    if (a.collect) {
        rc = collect(&s, out, a.quiet);
        sw_sweep_free(&s);
        return rc;
    }

    if (a.slurm) {
        a.so.tidepool_exe = exe;
        a.so.max_parallel = (unsigned)a.max_parallel;
        a.so.tasks_per_job = (size_t)a.tasks_per_job;
        a.so.dry_run = a.dry_run;
        sw_slurm_result r;
        if (sw_slurm_submit(&s, a.path, out, &a.so, &r, err, sizeof err) != 0) {
            cmd_error("sweep", "%s", err);
            sw_sweep_free(&s);
            return TP_EXIT_INPUT;
        }
        size_t finished = 0;
        for (size_t i = 0; i < s.task_count; i++) finished += sw_task_finished(out, &s.tasks[i]);
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

    sw_run_options ro = {.tidepool_exe = exe, .quiet = a.quiet};
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
    if (!a.quiet || st.failed || st.broken)
        fprintf(stderr, "sweep: ran %zu tasks: %zu passed, %zu failed their checks, %zu broke\n",
                st.ran + st.broken, st.passed, st.failed, st.broken);
    rc = st.failed || st.broken ? TP_EXIT_FAIL : TP_EXIT_OK;
    if (!a.batch_set && !a.no_collect) {
        int crc = collect(&s, out, a.quiet);
        if (crc != TP_EXIT_OK) rc = crc;
        /* A resumed sweep: verdicts of tasks finished earlier count too. */
        if (rc == TP_EXIT_OK && st.already_finished) {
            char path[SW_PATH_MAX + 32];
            snprintf(path, sizeof path, "%s/results.jsonl", out);
            FILE *f = fopen(path, "r");
            char line[32768];
            while (f && fgets(line, sizeof line, f))
                if (!strstr(line, "\"verdict\":\"pass\"")) rc = TP_EXIT_FAIL;
            if (f) fclose(f);
        }
    }
    sw_sweep_free(&s);
    return rc;
}
