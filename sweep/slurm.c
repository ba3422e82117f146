/* sweep/slurm.c — `tidepool sweep SWEEP.lua --slurm`: a Slurm job array for the tasks
 * and a merge job that depends on it.
 *
 * The tasks are cut into B batches of N consecutive tasks (in description order);
 * array index i runs batch i with `tidepool sweep SWEEP --out OUT --task-batch i
 * --tasks-per-batch N`, which loads the same description, so the task list (and every
 * task id) is the one computed here. Batches skip finished tasks, so resubmitting a
 * sweep after a partial run (time limit, node failure, scancel) only redoes the rest.
 * The merge job (`--collect`) runs after the whole array, whatever its exit codes
 * (afterany): it merges what finished and reports what is missing. Each task writes its
 * own SQLite file; only the merge job writes campaign.db.
 *
 * Paths in the scripts are absolute (the binary, the description, the output) and the
 * scripts cd to the directory the sweep was submitted from, so relative scenario paths
 * resolve exactly as in a local sweep and the runs record the same commands. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sweep/sweep.h"

#define SLURM_ARRAY_MAX 1000 /* Slurm's default MaxArraySize is 1001: indices 0..1000 */

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* Writes s single-quoted for a POSIX shell. */
static void sh_quote(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* #SBATCH values cannot be quoted: refuse what would break the line. */
static bool sbatch_safe(const char *s) {
    for (; *s; s++)
        if (*s == '\n' || *s == ' ' || *s == '\t' || *s == '\'' || *s == '"' || *s == '#')
            return false;
    return true;
}

static bool absolute(const char *path, char *out, size_t cap) {
    if (path[0] == '/') {
        int n = snprintf(out, cap, "%s", path);
        return n > 0 && (size_t)n < cap;
    }
    char cwd[SW_PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return false;
    const char *p = path;
    while (p[0] == '.' && p[1] == '/') p += 2;
    int n = snprintf(out, cap, "%s/%s", cwd, p);
    return n > 0 && (size_t)n < cap;
}

static void header(FILE *f, const sw_sweep *s, const sw_slurm_options *o, const char *job,
                   const char *log_pattern) {
    fprintf(f, "#!/bin/bash\n");
    fprintf(f, "#SBATCH --job-name=%s\n", job);
    fprintf(f, "#SBATCH --output=%s\n", log_pattern);
    fprintf(f, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n");
    if (o->partition) fprintf(f, "#SBATCH --partition=%s\n", o->partition);
    if (o->time_limit) fprintf(f, "#SBATCH --time=%s\n", o->time_limit);
    if (o->mem) fprintf(f, "#SBATCH --mem=%s\n", o->mem);
    (void)s;
}

static bool write_script(const char *path, FILE **out) {
    FILE *f = fopen(path, "w");
    if (!f) return false;
    *out = f;
    return true;
}

/* Runs argv, captures the first line of its stdout; returns the exit code or -1. */
static int run_capture(char *const argv[], char *line, size_t cap, char *err_line,
                       size_t err_cap) {
    int out[2], errp[2];
    if (pipe(out) != 0) return -1;
    if (pipe(errp) != 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(errp[1], 2);
        close(out[0]);
        close(out[1]);
        close(errp[0]);
        close(errp[1]);
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(errp[1]);
    FILE *f = fdopen(out[0], "r");
    FILE *g = fdopen(errp[0], "r");
    line[0] = err_line[0] = '\0';
    char buf[1024];
    /* Small outputs: read stdout fully, then stderr (sbatch writes a few lines). */
    if (f) {
        bool first = true;
        while (fgets(buf, sizeof buf, f))
            if (first) {
                if (snprintf(line, cap, "%s", buf) >= (int)cap) line[cap - 1] = '\0';
                line[strcspn(line, "\r\n")] = '\0';
                first = false;
            }
        fclose(f);
    }
    if (g) {
        size_t len = 0;
        while (fgets(buf, sizeof buf, g)) {
            buf[strcspn(buf, "\r\n")] = '\0';
            if (len + 3 < err_cap)
                len += (size_t)snprintf(err_line + len, err_cap - len, "%s%s", len ? "; " : "", buf);
        }
        fclose(g);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* "12345" or "12345;cluster" -> "12345". */
static bool job_id(const char *line, char *out, size_t cap) {
    size_t n = strspn(line, "0123456789");
    if (n == 0 || n >= cap || (line[n] != '\0' && line[n] != ';')) return false;
    memcpy(out, line, n);
    out[n] = '\0';
    return true;
}

static bool sbatch(char *const argv[], const char *script, char *job, size_t job_cap, char *err,
                   size_t err_cap) {
    char line[256], errs[1024];
    int rc = run_capture(argv, line, sizeof line, errs, sizeof errs);
    if (rc != 0 || !job_id(line, job, job_cap)) {
        set_err(err, err_cap,
                "sbatch %s failed (exit code %d%s%s%s%s); check that Slurm's sbatch is on "
                "PATH and that the partition/time/mem options are valid for this cluster",
                script, rc, errs[0] ? ": " : "", errs, line[0] ? "; output: " : "", line);
        return false;
    }
    return true;
}

int sw_slurm_submit(const sw_sweep *s, const char *sweep_path, const char *out_dir,
                    const sw_slurm_options *o, sw_slurm_result *res, char *err,
                    size_t err_cap) {
    memset(res, 0, sizeof *res);
    if (s->task_count == 0) {
        set_err(err, err_cap, "%s: the sweep has no tasks", sweep_path);
        return -1;
    }
    const char *opts[][2] = {{"--partition", o->partition}, {"--time", o->time_limit},
                             {"--mem", o->mem}};
    for (size_t i = 0; i < 3; i++)
        if (opts[i][1] && (!opts[i][1][0] || !sbatch_safe(opts[i][1]))) {
            set_err(err, err_cap, "%s '%s': expected a plain Slurm value (no spaces or quotes)",
                    opts[i][0], opts[i][1]);
            return -1;
        }
    size_t per = o->tasks_per_job;
    if (per == 0) per = (s->task_count + SLURM_ARRAY_MAX - 1) / SLURM_ARRAY_MAX;
    size_t batches = (s->task_count + per - 1) / per;
    if (batches > SLURM_ARRAY_MAX) {
        set_err(err, err_cap,
                "%zu array tasks exceed Slurm's default MaxArraySize (1001); use "
                "--tasks-per-job %zu or more",
                batches, (s->task_count + SLURM_ARRAY_MAX - 1) / SLURM_ARRAY_MAX);
        return -1;
    }
    res->array_size = batches;
    res->tasks_per_job = per;
    char exe[SW_PATH_MAX], sweep_abs[SW_PATH_MAX], out_abs[SW_PATH_MAX], cwd[SW_PATH_MAX];
    if (!absolute(o->tidepool_exe, exe, sizeof exe) ||
        !absolute(sweep_path, sweep_abs, sizeof sweep_abs) ||
        !absolute(out_dir, out_abs, sizeof out_abs) || !getcwd(cwd, sizeof cwd)) {
        set_err(err, err_cap, "paths too long");
        return -1;
    }
    char dir[SW_PATH_MAX], logs[SW_PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/slurm", out_abs) >= (int)sizeof dir ||
        snprintf(logs, sizeof logs, "%s/slurm/logs", out_abs) >= (int)sizeof logs ||
        snprintf(res->array_script, sizeof res->array_script, "%s/array.sh", dir) >=
            (int)sizeof res->array_script ||
        snprintf(res->merge_script, sizeof res->merge_script, "%s/merge.sh", dir) >=
            (int)sizeof res->merge_script) {
        set_err(err, err_cap, "%s: path too long", out_abs);
        return -1;
    }
    mkdir(out_abs, 0777);
    mkdir(dir, 0777);
    if (mkdir(logs, 0777) != 0 && errno != EEXIST) {
        set_err(err, err_cap, "%s: cannot create it (%s)", logs, strerror(errno));
        return -1;
    }
    if (!sbatch_safe(out_abs)) {
        set_err(err, err_cap,
                "%s: Slurm's #SBATCH --output cannot hold spaces or quotes; choose another "
                "--out",
                out_abs);
        return -1;
    }

    FILE *f;
    char job[SW_NAME_MAX + 32], log_pattern[SW_PATH_MAX + 32];
    if (!write_script(res->array_script, &f)) {
        set_err(err, err_cap, "%s: cannot write it (%s)", res->array_script, strerror(errno));
        return -1;
    }
    snprintf(job, sizeof job, "tidepool-%s", s->name);
    snprintf(log_pattern, sizeof log_pattern, "%s/batch-%%A_%%a.log", logs);
    header(f, s, o, job, log_pattern);
    if (o->max_parallel)
        fprintf(f, "#SBATCH --array=0-%zu%%%u\n", batches - 1, o->max_parallel);
    else
        fprintf(f, "#SBATCH --array=0-%zu\n", batches - 1);
    fprintf(f,
            "# Written by `tidepool sweep --slurm` for %zu tasks: array index i runs tasks\n"
            "# [i*%zu, (i+1)*%zu) of the description, skipping finished ones.\n"
            "set -eu\ncd ",
            s->task_count, per, per);
    sh_quote(f, cwd);
    fputs("\nexec ", f);
    sh_quote(f, exe);
    fputs(" sweep ", f);
    sh_quote(f, sweep_abs);
    fputs(" --out ", f);
    sh_quote(f, out_abs);
    for (size_t i = 0; i < o->extra_count; i++) {
        fputc(' ', f);
        sh_quote(f, o->extra_args[i]);
    }
    fprintf(f, " --task-batch \"$SLURM_ARRAY_TASK_ID\" --tasks-per-batch %zu\n", per);
    bool ok = fclose(f) == 0;
    chmod(res->array_script, 0755);

    if (ok && !write_script(res->merge_script, &f)) ok = false;
    if (ok) {
        snprintf(job, sizeof job, "tidepool-%s-merge", s->name);
        snprintf(log_pattern, sizeof log_pattern, "%s/merge-%%j.log", logs);
        header(f, s, o, job, log_pattern);
        fputs("# Written by `tidepool sweep --slurm`: runs after the array (afterany),\n"
              "# writes results.jsonl and campaign.db from the finished tasks.\n"
              "set -eu\ncd ",
              f);
        sh_quote(f, cwd);
        fputs("\nexec ", f);
        sh_quote(f, exe);
        fputs(" sweep ", f);
        sh_quote(f, sweep_abs);
        fputs(" --out ", f);
        sh_quote(f, out_abs);
        for (size_t i = 0; i < o->extra_count; i++) {
            fputc(' ', f);
            sh_quote(f, o->extra_args[i]);
        }
        fputs(" --collect\n", f);
        ok = fclose(f) == 0;
        chmod(res->merge_script, 0755);
    }
    if (!ok) {
        set_err(err, err_cap, "%s: cannot write the Slurm scripts (%s)", dir, strerror(errno));
        return -1;
    }
    if (o->dry_run) return 0;

    char *argv1[] = {"sbatch", "--parsable", res->array_script, NULL};
    if (!sbatch(argv1, res->array_script, res->array_job, sizeof res->array_job, err, err_cap))
        return -1;
    char dep[128];
    snprintf(dep, sizeof dep, "--dependency=afterany:%s", res->array_job);
    char *argv2[] = {"sbatch", "--parsable", dep, res->merge_script, NULL};
    if (!sbatch(argv2, res->merge_script, res->merge_job, sizeof res->merge_job, err, err_cap)) {
        char inner[1024];
        snprintf(inner, sizeof inner, "%s", err);
        set_err(err, err_cap, "%s (the array job %s was submitted; cancel it with scancel %s)",
                inner, res->array_job, res->array_job);
        return -1;
    }
    return 0;
}
