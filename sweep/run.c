/* sweep/run.c — running sweep tasks as `tidepool sim` subprocesses, and collecting
 * their results (results.jsonl, campaign.db).
 *
 * Layout of an output directory (sweep/README.md):
 *   OUT/tasks/<id>/run.db       the task's results database (`tidepool sim --db`)
 *   OUT/tasks/<id>/sim.json     sim's stdout (its one-line JSON summary)
 *   OUT/tasks/<id>/sim.log      sim's stderr
 *   OUT/tasks/<id>/result.json  one JSON line; its existence means "finished"
 *   OUT/results.jsonl           every finished task's line, in task order
 *   OUT/campaign.db             the merged campaign database
 *
 * Each task is a child process (fork + exec of the tidepool binary): a crash or a
 * memory blow-up in one run cannot take the sweep down, and Slurm runs exactly the same
 * command. Children get PR_SET_PDEATHSIG = SIGKILL, so killing the sweep (even with
 * SIGKILL) never leaves a child writing into a task directory that the next, resumed
 * sweep is about to clean and reuse. A task directory is wiped before its task starts:
 * whatever a killed run left there (a partial run.db, a journal) is gone. result.json is
 * written to a temporary name and renamed, so it is either absent or complete. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sweep/sweep.h"

#define SW_JOBS_MAX 1024
#define RESULT_LINE_MAX 32768

/* Set by the SIGINT/SIGTERM handler while sw_run_tasks runs (CLI code, one sweep per
 * process: the only way a signal handler can reach the loop). */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) { stop_signal = sig; }

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static double monotonic_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool sw_task_dir(const char *out_dir, const sw_task *t, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "%s/tasks/%s", out_dir, t->id);
    return n > 0 && (size_t)n < cap;
}

bool sw_task_file(const char *out_dir, const sw_task *t, const char *file, char *buf,
                  size_t cap) {
    int n = snprintf(buf, cap, "%s/tasks/%s/%s", out_dir, t->id, file);
    return n > 0 && (size_t)n < cap;
}

bool sw_task_finished(const char *out_dir, const sw_task *t) {
    char path[SW_PATH_MAX];
    if (!sw_task_file(out_dir, t, "result.json", path, sizeof path)) return false;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char tail[2] = {0};
    bool ok = fseek(f, -2, SEEK_END) == 0 && fread(tail, 1, 2, f) == 2 && tail[0] == '}' &&
              tail[1] == '\n';
    fclose(f);
    return ok;
}

int sw_identity_compute(const sw_sweep *s, const char *build, sw_identity *out, char *err,
                        size_t err_cap) {
    memset(out, 0, sizeof *out);
    snprintf(out->build, sizeof out->build, "%s", build ? build : "");
    if (sodium_init() < 0) {
        set_err(err, err_cap, "libsodium failed to initialise");
        return -1;
    }
    FILE *f = fopen(s->scenario_path, "rb");
    if (!f) {
        set_err(err, err_cap, "%s: cannot read the scenario of %s (%s); fix `scenario` in the "
                              "description (paths are tried from the current directory, then "
                              "from the description's)",
                s->scenario_path, s->path, strerror(errno));
        return -1;
    }
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) crypto_generichash_update(&st, buf, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        set_err(err, err_cap, "%s: cannot read the scenario (%s)", s->scenario_path,
                strerror(errno));
        return -1;
    }
    unsigned char h[16];
    crypto_generichash_final(&st, h, sizeof h);
    for (size_t i = 0; i < 8; i++) snprintf(out->scenario_hash + 2 * i, 3, "%02x", h[i]);
    return 0;
}

/* The string value of "key":"..." in a one-line JSON object written by write_result
 * (no escapes in the values looked up here: hex, verdicts, build ids). */
static bool json_field(const char *line, const char *key, char *buf, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(line, pat);
    if (!p) return false;
    p += strlen(pat);
    size_t len = 0;
    while (p[len] && p[len] != '"') {
        if (p[len] == '\\' && p[len + 1]) len++;
        len++;
    }
    if (len >= cap) len = cap - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return true;
}

sw_task_status sw_task_check(const char *out_dir, const sw_task *t, const sw_identity *id) {
    sw_task_status r;
    memset(&r, 0, sizeof r);
    r.state = SW_TASK_MISSING;
    if (!sw_task_finished(out_dir, t)) return r;
    char path[SW_PATH_MAX];
    if (!sw_task_file(out_dir, t, "result.json", path, sizeof path)) return r;
    FILE *f = fopen(path, "r");
    if (!f) return r;
    char *line = malloc(RESULT_LINE_MAX);
    bool got = line && fgets(line, RESULT_LINE_MAX, f);
    fclose(f);
    if (!got) {
        free(line);
        return r;
    }
    json_field(line, "verdict", r.verdict, sizeof r.verdict);
    char hash[32] = "";
    bool has_hash = json_field(line, "scenario_hash", hash, sizeof hash);
    bool has_build = json_field(line, "build", r.old_build, sizeof r.old_build);
    free(line);
    r.state = SW_TASK_CURRENT;
    if (!id) return r;
    r.scenario_changed = has_hash && strcmp(hash, id->scenario_hash) != 0;
    r.build_changed = has_build && strcmp(r.old_build, id->build) != 0;
    if (!has_hash || !has_build || r.scenario_changed || r.build_changed) r.state = SW_TASK_STALE;
    return r;
}

static bool mkdir_p(const char *path) {
    char buf[SW_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return false;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(buf, 0777) == 0 || errno == EEXIST;
}

/* Empties a task directory (flat: only files) and recreates it. */
static bool reset_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[SW_PATH_MAX];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
                unlink(path);
        }
        closedir(d);
    }
    return mkdir_p(dir);
}

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* "name=value name=value" for messages. */
static void params_text(const sw_task *t, char *buf, size_t cap) {
    buf[0] = '\0';
    for (size_t i = 0; i < t->param_count; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s=%s", i ? " " : "", t->params[i].name,
                 t->params[i].value);
    }
}

/* ---- one task -------------------------------------------------------------------- */

typedef struct outcome {
    bool finished;       /* a result was written */
    bool timed_out;      /* killed after the task timeout (an error result) */
    char verdict[16];    /* pass | fail | error */
    char trace_hash[24]; /* "" if unknown */
    char message[512];
} outcome;

/* Reads the last run of the task's database. */
static bool read_run(const char *db_path, outcome *o) {
    sqlite3 *db = NULL;
    if (access(db_path, R_OK) != 0) return false;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return false;
    }
    sqlite3_stmt *st = NULL;
    bool ok = false;
    if (sqlite3_prepare_v2(db,
                           "SELECT verdict, trace_hash, message FROM runs ORDER BY id DESC "
                           "LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        const char *h = (const char *)sqlite3_column_text(st, 1);
        const char *m = (const char *)sqlite3_column_text(st, 2);
        if (v && strcmp(v, "running") != 0) {
            snprintf(o->verdict, sizeof o->verdict, "%s", v);
            snprintf(o->trace_hash, sizeof o->trace_hash, "%s", h ? h : "");
            snprintf(o->message, sizeof o->message, "%s", m ? m : "");
            ok = true;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

static bool write_result(const sw_sweep *s, const char *out_dir, const sw_task *t,
                         const sw_identity *id, const outcome *o, int exit_code,
                         double wall_s) {
    char tmp[SW_PATH_MAX], final[SW_PATH_MAX];
    if (!sw_task_file(out_dir, t, "result.json.tmp", tmp, sizeof tmp) ||
        !sw_task_file(out_dir, t, "result.json", final, sizeof final))
        return false;
    FILE *f = fopen(tmp, "w");
    if (!f) return false;
    fprintf(f, "{\"id\":\"%s\",\"scenario\":", t->id);
    json_string(f, s->scenario_path);
    fprintf(f, ",\"seed\":%" PRIu64 ",\"params\":{", t->seed);
    for (size_t i = 0; i < t->param_count; i++) {
        const sw_param *p = &t->params[i];
        if (i) fputc(',', f);
        json_string(f, p->name);
        fputc(':', f);
        if (p->kind == SW_STRING)
            json_string(f, p->value);
        else
            fputs(p->value, f);
    }
    fprintf(f, "},\"verdict\":\"%s\",\"trace_hash\":", o->verdict);
    if (o->trace_hash[0])
        json_string(f, o->trace_hash);
    else
        fputs("null", f);
    fprintf(f, ",\"wall_time_s\":%.3f,\"exit_code\":%d,\"db\":\"tasks/%s/run.db\"", wall_s,
            exit_code, t->id);
    if (id) {
        fprintf(f, ",\"scenario_hash\":\"%s\",\"build\":", id->scenario_hash);
        json_string(f, id->build);
    }
    if (o->message[0]) {
        fputs(",\"message\":", f);
        json_string(f, o->message);
    }
    fputs("}\n", f);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, final) == 0;
}

/* The first line of a file (for "why did this task break"). */
static void first_line(const char *path, char *buf, size_t cap) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fgets(buf, (int)cap, f)) buf[strcspn(buf, "\r\n")] = '\0';
    fclose(f);
}

/* Called when a task's process has exited: writes its result if it has one. */
static outcome finish_task(const sw_sweep *s, const char *out_dir, const sw_task *t,
                           const sw_identity *id, int status, double wall_s,
                           double timeout_s) {
    outcome o;
    memset(&o, 0, sizeof o);
    if (timeout_s > 0) {
        /* Killed by the task timeout: a result (verdict error), so a resumed sweep does
         * not hang on the same loop again; its run is not merged (still 'running'). */
        o.timed_out = true;
        snprintf(o.verdict, sizeof o.verdict, "error");
        snprintf(o.message, sizeof o.message,
                 "timed out: still running after %.0f s (the sweep's --task-timeout); "
                 "killed, no results",
                 timeout_s);
        o.finished = write_result(s, out_dir, t, id, &o, -1, wall_s);
        return o;
    }
    char db[SW_PATH_MAX], log[SW_PATH_MAX];
    sw_task_file(out_dir, t, "run.db", db, sizeof db);
    sw_task_file(out_dir, t, "sim.log", log, sizeof log);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    /* sim exits 0 pass, 1 fail, 3 error: those end with a finished run in the
     * database. Anything else (a signal, a usage error, exec failing) is not a result. */
    if ((code == 0 || code == 1 || code == 3) && read_run(db, &o)) {
        o.finished = write_result(s, out_dir, t, id, &o, code, wall_s);
        if (!o.finished) snprintf(o.message, sizeof o.message, "cannot write result.json");
        return o;
    }
    snprintf(o.verdict, sizeof o.verdict, "broken");
    char line[400];
    first_line(log, line, sizeof line);
    if (WIFSIGNALED(status))
        snprintf(o.message, sizeof o.message, "killed by signal %d; see %.300s", WTERMSIG(status),
                 log);
    else
        snprintf(o.message, sizeof o.message, "exit code %d%s%.200s; see %.250s", code,
                 line[0] ? ": " : "", line, log);
    return o;
}

static pid_t spawn_task(const sw_sweep *s, const char *out_dir, const sw_task *t,
                        const char *exe) {
    char dir[SW_PATH_MAX], db[SW_PATH_MAX], json[SW_PATH_MAX], log[SW_PATH_MAX];
    if (!sw_task_dir(out_dir, t, dir, sizeof dir) || !sw_task_file(out_dir, t, "run.db", db, sizeof db) ||
        !sw_task_file(out_dir, t, "sim.json", json, sizeof json) ||
        !sw_task_file(out_dir, t, "sim.log", log, sizeof log))
        return -1;
    if (!reset_dir(dir)) return -1;
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, t->seed);
    size_t argc_max = 14 + 2 * t->param_count;
    char **argv = calloc(argc_max, sizeof *argv);
    char (*sets)[SW_NAME_MAX + SW_VALUE_MAX] = calloc(t->param_count + 1, sizeof *sets);
    if (!argv || !sets) {
        free(argv);
        free(sets);
        return -1;
    }
    size_t n = 0;
    argv[n++] = (char *)exe;
    argv[n++] = "sim";
    argv[n++] = (char *)s->scenario_path;
    argv[n++] = "--seed";
    argv[n++] = seed;
    argv[n++] = "--db";
    argv[n++] = db;
    argv[n++] = "--quiet";
    argv[n++] = "--threads"; /* one thread per task: the sweep runs tasks side by side */
    argv[n++] = "1";
    if (s->log_level[0]) {
        argv[n++] = "--log";
        argv[n++] = (char *)s->log_level;
    }
    for (size_t i = 0; i < t->param_count; i++) {
        snprintf(sets[i], sizeof sets[i], "%s=%s", t->params[i].name, t->params[i].value);
        argv[n++] = "--set";
        argv[n++] = sets[i];
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127); /* the sweep died before prctl */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int in = open("/dev/null", O_RDONLY);
        int out = open(json, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int err = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (in < 0 || out < 0 || err < 0) _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        close(in);
        close(out);
        close(err);
        execv(exe, argv);
        dprintf(2, "tidepool sweep: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    free(argv);
    free(sets);
    return pid;
}

/* ---- the worker pool ------------------------------------------------------------- */

typedef struct slot {
    pid_t pid;
    const sw_task *task;
    double started;
    bool timed_out; /* SIGKILLed by the task timeout */
} slot;

typedef struct pool {
    const sw_sweep *s;
    const char *out_dir;
    const sw_run_options *opts;
    sw_run_stats *stats;
    size_t running;
    double start;
    double last_bar;
    bool bar_shown;
    /* The early stop: the first ended tasks' errors (normalised), while they agree. */
    size_t ended;
    bool all_same_error;
    char first_error[512];
} pool;

static void fmt_duration(double s, char *buf, size_t cap) {
    if (s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

static void draw_bar(pool *p) {
    const sw_run_stats *st = p->stats;
    size_t done = st->already_finished + st->ran;
    size_t width = 30, fill = st->total ? done * width / st->total : width;
    char bar[64];
    for (size_t i = 0; i < width; i++) bar[i] = i < fill ? '#' : '-';
    bar[width] = '\0';
    double elapsed = monotonic_s() - p->start;
    char el[32], eta[32] = "?";
    fmt_duration(elapsed, el, sizeof el);
    size_t left = st->total - done;
    size_t ended = st->ran + st->broken;
    if (ended > 0) fmt_duration(elapsed / (double)ended * (double)left, eta, sizeof eta);
    fprintf(stderr, "\r\033[Ksweep [%s] %zu/%zu done  %zu failed  %zu running  %s elapsed  ETA %s",
            bar, done, st->total, st->failed + st->broken, p->running, el, eta);
    fflush(stderr);
    p->bar_shown = true;
    p->last_bar = monotonic_s();
}

static void clear_bar(pool *p) {
    if (p->bar_shown) fprintf(stderr, "\r\033[K");
    p->bar_shown = false;
}

static void report_task(pool *p, const sw_task *t, const outcome *o, double wall_s) {
    const sw_run_stats *st = p->stats;
    bool bad = !o->finished || strcmp(o->verdict, "pass") != 0;
    if (p->opts->quiet && o->finished) return;
    if (p->opts->progress_tty && !bad) return;
    char params[1024];
    params_text(t, params, sizeof params);
    clear_bar(p);
    fprintf(stderr, "sweep: [%zu/%zu] task %s seed %" PRIu64 "%s%s: %s (%.2f s)%s%s\n",
            st->already_finished + st->ran, st->total, t->id, t->seed, params[0] ? " " : "",
            params, o->verdict, wall_s, o->message[0] && bad ? ": " : "",
            bad ? o->message : "");
}

/* The message without what differs between tasks of one mistake: digits (line numbers,
 * values, seeds) and the "; see OUT/tasks/<id>/sim.log" tail of broken tasks. */
static void normalise_error(const char *m, char *buf, size_t cap) {
    size_t n = 0;
    const char *see = strstr(m, "; see ");
    size_t len = see ? (size_t)(see - m) : strlen(m);
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        if (m[i] >= '0' && m[i] <= '9') {
            if (n == 0 || buf[n - 1] != '#') buf[n++] = '#';
            continue;
        }
        buf[n++] = m[i];
    }
    buf[n] = '\0';
}

/* The early stop: while the first opts->stop_after ended tasks all broke or ended in an
 * error with the same message, the sweep goes on; once that many agree it stops. A pass
 * or a failed check (the scenario ran) ends the watch. */
static void note_error(pool *p, const outcome *o) {
    size_t limit = p->opts->stop_after;
    if (limit == 0 || p->ended >= limit) return;
    bool is_error = !o->finished || (strcmp(o->verdict, "error") == 0 && !o->timed_out);
    char norm[512];
    normalise_error(o->message, norm, sizeof norm);
    if (p->ended == 0) {
        p->all_same_error = is_error && norm[0];
        snprintf(p->first_error, sizeof p->first_error, "%s", norm);
    } else if (!is_error || strcmp(norm, p->first_error) != 0) {
        p->all_same_error = false;
    }
    p->ended++;
    if (p->ended == limit && p->all_same_error) {
        p->stats->stopped_early = true;
        snprintf(p->stats->stop_message, sizeof p->stats->stop_message, "%.590s", o->message);
    }
}

static void reap(pool *p, slot *slots, size_t nslots, pid_t pid, int status) {
    for (size_t i = 0; i < nslots; i++) {
        if (slots[i].pid != pid) continue;
        double wall = monotonic_s() - slots[i].started;
        const sw_task *t = slots[i].task;
        slots[i].pid = 0;
        p->running--;
        if (stop_signal && WIFSIGNALED(status)) {
            /* Killed by us (or by the same Ctrl-C): not a result. */
            char dir[SW_PATH_MAX];
            if (sw_task_dir(p->out_dir, t, dir, sizeof dir)) reset_dir(dir);
            return;
        }
        outcome o = finish_task(p->s, p->out_dir, t, p->opts->identity, status, wall,
                                slots[i].timed_out ? p->opts->task_timeout_s : 0);
        if (o.finished) {
            p->stats->ran++;
            if (o.timed_out)
                p->stats->timed_out++;
            else if (strcmp(o.verdict, "pass") == 0)
                p->stats->passed++;
            else if (strcmp(o.verdict, "fail") == 0)
                p->stats->failed++;
            else
                p->stats->errors++;
        } else {
            p->stats->broken++;
        }
        report_task(p, t, &o, wall);
        note_error(p, &o);
        return;
    }
}

int sw_run_tasks(const sw_sweep *s, const char *out_dir, const sw_run_options *opts,
                 sw_run_stats *stats, char *err, size_t err_cap) {
    memset(stats, 0, sizeof *stats);
    char tasks_dir[SW_PATH_MAX];
    snprintf(tasks_dir, sizeof tasks_dir, "%s/tasks", out_dir);
    if (!mkdir_p(tasks_dir)) {
        set_err(err, err_cap, "%s: cannot create the output directory (%s)", tasks_dir,
                strerror(errno));
        return -1;
    }
    size_t first = opts->first < s->task_count ? opts->first : s->task_count;
    size_t end = opts->count > s->task_count - first ? s->task_count : first + opts->count;
    stats->total = end - first;
    /* Pending tasks, in task order. */
    const sw_task **todo = calloc(stats->total + 1, sizeof *todo);
    if (!todo) {
        set_err(err, err_cap, "out of memory");
        return -1;
    }
    size_t ntodo = 0;
    for (size_t i = first; i < end; i++) {
        sw_task_status ts = sw_task_check(out_dir, &s->tasks[i], opts->identity);
        if (ts.state == SW_TASK_STALE) {
            stats->stale++;
            stats->stale_scenario += ts.scenario_changed;
            stats->stale_build += ts.build_changed;
            if (ts.build_changed && !stats->stale_old_build[0])
                snprintf(stats->stale_old_build, sizeof stats->stale_old_build, "%s",
                         ts.old_build);
        }
        if (ts.state == SW_TASK_CURRENT || (ts.state == SW_TASK_STALE && opts->keep_stale)) {
            stats->already_finished++;
            if (strcmp(ts.verdict, "pass") == 0)
                stats->earlier_passed++;
            else if (strcmp(ts.verdict, "fail") == 0)
                stats->earlier_failed++;
            else
                stats->earlier_error++;
        } else {
            todo[ntodo++] = &s->tasks[i];
        }
    }
    unsigned jobs = opts->jobs == 0 ? 1 : opts->jobs > SW_JOBS_MAX ? SW_JOBS_MAX : opts->jobs;
    slot slots[SW_JOBS_MAX];
    memset(slots, 0, sizeof slots);
    pool p = {.s = s, .out_dir = out_dir, .opts = opts, .stats = stats, .start = monotonic_s()};
    if (stats->stale) {
        char why[400] = "";
        if (stats->stale_scenario)
            snprintf(why, sizeof why, "the scenario %.300s changed since %zu of them ran",
                     s->scenario_path, stats->stale_scenario);
        if (stats->stale_build) {
            size_t len = strlen(why);
            snprintf(why + len, sizeof why - len,
                     "%s%zu ran with another build of tidepool (%.80s; this one is %.80s)",
                     len ? "; " : "", stats->stale_build, stats->stale_old_build,
                     opts->identity ? opts->identity->build : "?");
        }
        if (!why[0])
            snprintf(why, sizeof why, "their results do not record what they ran (an older "
                                      "tidepool wrote them)");
        fprintf(stderr, "sweep: %zu finished task%s ran something else: %s; %s\n", stats->stale,
                stats->stale == 1 ? "" : "s", why,
                opts->keep_stale ? "keeping their results (--keep-stale)"
                                 : "running them again (--keep-stale keeps their results)");
    }
    if (!opts->quiet)
        fprintf(stderr, "sweep: %zu tasks, %zu already finished, %zu to run with %u worker%s\n",
                stats->total, stats->already_finished, ntodo, jobs, jobs == 1 ? "" : "s");

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    size_t next = 0;
    while (!stop_signal && ((next < ntodo && !stats->stopped_early) || p.running > 0)) {
        while (!stop_signal && !stats->stopped_early && next < ntodo && p.running < jobs) {
            size_t k = 0;
            while (slots[k].pid != 0) k++;
            const sw_task *t = todo[next++];
            pid_t pid = spawn_task(s, out_dir, t, opts->tidepool_exe);
            if (pid < 0) {
                outcome o = {.finished = false};
                snprintf(o.verdict, sizeof o.verdict, "broken");
                snprintf(o.message, sizeof o.message, "cannot start it (%s)", strerror(errno));
                stats->broken++;
                report_task(&p, t, &o, 0);
                continue;
            }
            slots[k] = (slot){.pid = pid, .task = t, .started = monotonic_s()};
            p.running++;
        }
        if (opts->task_timeout_s > 0) {
            double now = monotonic_s();
            for (size_t i = 0; i < jobs; i++)
                if (slots[i].pid > 0 && !slots[i].timed_out &&
                    now - slots[i].started > opts->task_timeout_s) {
                    kill(slots[i].pid, SIGKILL);
                    slots[i].timed_out = true;
                }
        }
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            reap(&p, slots, jobs, pid, status);
        } else {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (opts->progress_tty && !opts->quiet && (pid > 0 || monotonic_s() - p.last_bar > 0.5))
            draw_bar(&p);
    }
    if (stats->stopped_early) stats->not_started = ntodo - next;
    if (stop_signal) {
        stats->interrupted = true;
        /* Stop the children, then clean up what they left. */
        for (size_t i = 0; i < jobs; i++)
            if (slots[i].pid > 0) kill(slots[i].pid, SIGTERM);
        double deadline = monotonic_s() + 5;
        while (p.running > 0) {
            int status;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid > 0) {
                reap(&p, slots, jobs, pid, status);
                continue;
            }
            if (pid < 0 && errno == ECHILD) break;
            if (monotonic_s() > deadline)
                for (size_t i = 0; i < jobs; i++)
                    if (slots[i].pid > 0) kill(slots[i].pid, SIGKILL);
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (opts->progress_tty && !opts->quiet) {
        draw_bar(&p);
        fputc('\n', stderr);
    }
    free(todo);
    return 0;
}

int sw_lock_out(const char *out_dir, bool exclusive, char *err, size_t err_cap) {
    if (!mkdir_p(out_dir)) {
        set_err(err, err_cap, "%s: cannot create the output directory (%s)", out_dir,
                strerror(errno));
        return -1;
    }
    char path[SW_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/.lock", out_dir) >= (int)sizeof path) {
        set_err(err, err_cap, "%s: path too long", out_dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        set_err(err, err_cap, "%s: cannot open it (%s)", path, strerror(errno));
        return -1;
    }
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            set_err(err, err_cap,
                    "another tidepool sweep is using %s (it holds %s): wait for it to end, "
                    "or give another --out",
                    out_dir, path);
            return -1;
        }
        return -2; /* no flock here: go on without */
    }
    return fd;
}

/* ---- collecting ------------------------------------------------------------------ */

static int by_id(const void *a, const void *b) {
    return strcmp((*(const sw_task *const *)a)->id, (*(const sw_task *const *)b)->id);
}

static void remove_db(const char *path) {
    static const char *const suffixes[] = {"", "-journal", "-wal", "-shm", NULL};
    char p[SW_PATH_MAX + 16];
    for (size_t i = 0; suffixes[i]; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

int sw_collect(const sw_sweep *s, const char *out_dir, const sw_identity *id, bool keep_stale,
               sw_collect_stats *stats, char *err, size_t err_cap) {
    memset(stats, 0, sizeof *stats);
    if (!mkdir_p(out_dir)) {
        set_err(err, err_cap, "%s: cannot create the output directory (%s)", out_dir,
                strerror(errno));
        return -1;
    }
    char tmp[SW_PATH_MAX], final[SW_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/results.jsonl.tmp", out_dir);
    snprintf(final, sizeof final, "%s/results.jsonl", out_dir);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        set_err(err, err_cap, "%s: cannot write it (%s)", tmp, strerror(errno));
        return -1;
    }
    const sw_task **done = calloc(s->task_count + 1, sizeof *done);
    char *line = malloc(RESULT_LINE_MAX);
    if (!done || !line) {
        fclose(f);
        free(done);
        free(line);
        set_err(err, err_cap, "out of memory");
        return -1;
    }
    size_t ndone = 0;
    for (size_t i = 0; i < s->task_count; i++) {
        const sw_task *t = &s->tasks[i];
        char path[SW_PATH_MAX];
        FILE *r = NULL;
        sw_task_status ts = sw_task_check(out_dir, t, id);
        if (ts.state == SW_TASK_STALE) stats->stale++;
        bool use = ts.state == SW_TASK_CURRENT || (ts.state == SW_TASK_STALE && keep_stale);
        if (use && sw_task_file(out_dir, t, "result.json", path, sizeof path))
            r = fopen(path, "r");
        if (!r || !fgets(line, RESULT_LINE_MAX, r)) {
            if (r) fclose(r);
            stats->missing++;
            continue;
        }
        fclose(r);
        fputs(line, f);
        stats->finished++;
        done[ndone++] = t;
    }
    free(line);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, final) != 0) {
        free(done);
        set_err(err, err_cap, "%s: cannot write it (%s)", final, strerror(errno));
        return -1;
    }
    /* The campaign: merged in sorted task-id order, into a fresh file. */
    qsort(done, ndone, sizeof *done, by_id);
    char (*paths)[SW_PATH_MAX] = calloc(ndone + 1, sizeof *paths);
    const char **inputs = calloc(ndone + 1, sizeof *inputs);
    if (!paths || !inputs) {
        free(done);
        free(paths);
        free(inputs);
        set_err(err, err_cap, "out of memory");
        return -1;
    }
    size_t ninputs = 0;
    for (size_t i = 0; i < ndone; i++) {
        if (!sw_task_file(out_dir, done[i], "run.db", paths[ninputs], SW_PATH_MAX)) continue;
        if (access(paths[ninputs], R_OK) != 0) continue;
        inputs[ninputs] = paths[ninputs];
        ninputs++;
    }
    snprintf(tmp, sizeof tmp, "%s/campaign.db.tmp", out_dir);
    snprintf(final, sizeof final, "%s/campaign.db", out_dir);
    remove_db(tmp);
    sw_merge_stats ms;
    int rc = sw_merge(tmp, inputs, ninputs, &ms, err, err_cap);
    free(done);
    free(paths);
    free(inputs);
    if (rc != 0) {
        remove_db(tmp);
        return -1;
    }
    stats->runs_merged = ms.runs_added;
    stats->runs_skipped = ms.runs_duplicate + ms.runs_unfinished;
    if (rename(tmp, final) != 0) {
        set_err(err, err_cap, "%s: cannot write it (%s)", final, strerror(errno));
        return -1;
    }
    return 0;
}
