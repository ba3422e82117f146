/* swarm/run.c — running scenarios in forked children, and the swarm campaign
 * (`tidepool swarm`): seeds in parallel (--jobs), a wall budget, failures saved with
 * their scenario, schedule, replay command and results database. See swarm.h. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buildinfo/buildinfo.h"
#include "lua/invariants.h"
#include "lua/scenario.h"
#include "swarm/swarm.h"


static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *sw_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n < cap - 1) break;
        cap *= 2;
        char *q = realloc(buf, cap);
        if (q == NULL) {
            free(buf);
            buf = NULL;
        }
        buf = q;
    }
    bool err = ferror(f);
    fclose(f);
    if (buf == NULL || err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len != NULL) *len = n;
    return buf;
}

bool sw_write_file(const char *path, const char *text) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return false;
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) return false;
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) unlink(tmp);
    return ok;
}

void sw_classify(int verdict, const char *message, char *out, size_t cap) {
    if (verdict == TL_VERDICT_PASS) {
        snprintf(out, cap, "%s", "");
        return;
    }
    if (verdict == TL_VERDICT_ERROR) {
        snprintf(out, cap, "%s", "error");
        return;
    }
    if (verdict < 0) {
        snprintf(out, cap, "%s", strncmp(message, "timeout", 7) == 0 ? "timeout" : "crash");
        return;
    }
    const char *p = strstr(message, "invariant ");
    if (p != NULL) {
        p += strlen("invariant ");
        size_t n = strcspn(p, " ");
        tl_inv_kind k;
        char name[40];
        if (n < sizeof name) {
            memcpy(name, p, n);
            name[n] = '\0';
            if (tl_inv_parse(name, &k)) {
                snprintf(out, cap, "%s", name);
                return;
            }
        }
    }
    snprintf(out, cap, "%s", "check");
}

/* ---- children ------------------------------------------------------------------------- */

typedef struct child_msg {
    int verdict;
    char message[1024];
    uint64_t events;
} child_msg;

typedef struct child {
    pid_t pid;
    int fd;
    double started;
    uint64_t seed;
    child_msg msg;
    size_t got;
    bool used;
} child;

static bool child_start(child *c, const char *path, uint64_t seed, const char *db_path) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        FILE *devnull = fopen("/dev/null", "w");
        tl_run_config cfg;
        tl_run_config_default(&cfg);
        cfg.script_path = path;
        cfg.seed = seed;
        cfg.db_path = db_path;
        const tp_build_info *build = tp_build_info_get();
        cfg.code_version = build->describe;
        cfg.build_commit = strcmp(build->commit, "unknown") ? build->commit : NULL;
        cfg.build_dirty = build->dirty;
        cfg.build_id = strcmp(build->binary_hash, "unknown") ? build->id : NULL;
        cfg.out = devnull;
        tl_run_result r;
        tl_run(&cfg, &r);
        child_msg m;
        memset(&m, 0, sizeof m);
        m.verdict = (int)r.verdict;
        snprintf(m.message, sizeof m.message, "%s", r.message);
        m.events = r.events_executed;
        const char *p = (const char *)&m;
        size_t left = sizeof m;
        while (left > 0) {
            ssize_t w = write(fds[1], p, left);
            if (w <= 0) break;
            p += w;
            left -= (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    memset(c, 0, sizeof *c);
    c->pid = pid;
    c->fd = fds[0];
    c->started = wall_now();
    c->seed = seed;
    c->used = true;
    return true;
}

/* Reads what is available; returns true when the child is finished (pipe closed). */
static bool child_read(child *c) {
    for (;;) {
        ssize_t n = read(c->fd, (char *)&c->msg + c->got, sizeof c->msg - c->got);
        if (n > 0) {
            c->got += (size_t)n;
            if (c->got == sizeof c->msg) continue;
            return false;
        }
        if (n < 0 && errno == EINTR) continue;
        return true;
    }
}

static void child_finish(child *c, bool killed_for_time, sw_outcome *out) {
    close(c->fd);
    int status = 0;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
    }
    memset(out, 0, sizeof *out);
    out->wall_s = wall_now() - c->started;
    if (killed_for_time) {
        out->verdict = -1;
        snprintf(out->message, sizeof out->message, "timeout: killed after %.0f s of wall time",
                 out->wall_s);
    } else if (c->got == sizeof c->msg && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        out->verdict = c->msg.verdict;
        snprintf(out->message, sizeof out->message, "%s", c->msg.message);
        out->events = c->msg.events;
    } else {
        out->verdict = -1;
        if (WIFSIGNALED(status))
            snprintf(out->message, sizeof out->message,
                     "crash: the run died of signal %d (%s) — an assertion or a memory error",
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            snprintf(out->message, sizeof out->message, "crash: the run exited with status %d",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    sw_classify(out->verdict, out->message, out->invariant, sizeof out->invariant);
    c->used = false;
}

/* Waits for children until one finishes; returns its index (outcome in *out), or -1. */
static int wait_any(child *cs, uint32_t n, double limit_s, sw_outcome *out) {
    for (;;) {
        struct pollfd pf[64];
        int map[64];
        nfds_t k = 0;
        double now = wall_now();
        int timeout_ms = 1000;
        for (uint32_t i = 0; i < n && k < 64; i++) {
            if (!cs[i].used) continue;
            if (limit_s > 0 && now - cs[i].started > limit_s) {
                kill(cs[i].pid, SIGKILL);
                child_finish(&cs[i], true, out);
                return (int)i;
            }
            pf[k].fd = cs[i].fd;
            pf[k].events = POLLIN;
            map[k] = (int)i;
            k++;
        }
        if (k == 0) return -1;
        int r = poll(pf, k, timeout_ms);
        if (r < 0 && errno != EINTR) return -1;
        for (nfds_t j = 0; j < k && r > 0; j++) {
            if (pf[j].revents == 0) continue;
            child *c = &cs[map[j]];
            if (child_read(c)) {
                child_finish(c, false, out);
                return map[j];
            }
        }
    }
}

bool sw_run_file(const char *path, uint64_t seed, const char *db_path, double limit_s,
                 sw_outcome *out) {
    child c;
    if (!child_start(&c, path, seed, db_path)) return false;
    return wait_any(&c, 1, limit_s, out) == 0;
}

/* ---- the swarm ------------------------------------------------------------------------- */

static bool mkdir_p(const char *path) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return false;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(buf, 0777) == 0 || errno == EEXIST;
}

static int inv_index(const char *name) {
    tl_inv_kind k;
    if (tl_inv_parse(name, &k)) return (int)k;
    if (strcmp(name, "crash") == 0 || strcmp(name, "timeout") == 0) return TL_INV_COUNT;
    if (strcmp(name, "error") == 0) return TL_INV_COUNT + 1;
    return TL_INV_COUNT + 2;
}

static const char *index_name(int i) {
    if (i < TL_INV_COUNT) return tl_inv_name((tl_inv_kind)i);
    return i == TL_INV_COUNT ? "crash_or_timeout" : i == TL_INV_COUNT + 1 ? "error" : "check";
}

/* s for a POSIX shell: as is when it has only safe characters, else single-quoted. */
static const char *shell_quote(const char *s, char *buf, size_t cap) {
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,+@%", *p))
            plain = false;
    if (plain) {
        snprintf(buf, cap, "%s", s);
        return buf;
    }
    size_t n = 0;
    if (n + 1 < cap) buf[n++] = '\'';
    for (; *s && n + 5 < cap; s++) {
        if (*s == '\'') {
            memcpy(buf + n, "'\\''", 4);
            n += 4;
        } else {
            buf[n++] = *s;
        }
    }
    if (n + 1 < cap) buf[n++] = '\'';
    buf[n < cap ? n : cap - 1] = '\0';
    return buf;
}

static void save_failure(const sw_swarm_config *cfg, uint64_t seed, const char *work_path,
                         const sw_outcome *o) {
    char dir[PATH_MAX], path[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/fail-%" PRIu64, cfg->out_dir, seed);
    if (!mkdir_p(dir)) {
        fprintf(stderr, "tidepool swarm: cannot create %s: %s\n", dir, strerror(errno));
        return;
    }
    sw_world w;
    sw_generate(seed, &w);
    char *lua = sw_emit_lua(&w);
    char *json = sw_schedule_json(&w);
    snprintf(path, sizeof path, "%s/scenario.lua", dir);
    bool ok = sw_write_file(path, lua);
    char abs[PATH_MAX];
    const char *scen = realpath(path, abs) ? abs : path;
    snprintf(path, sizeof path, "%s/schedule.json", dir);
    ok = sw_write_file(path, json) && ok;
    char text[5 * PATH_MAX + 2048];
    char q_exe[PATH_MAX], q_scen[4 * PATH_MAX], q_dir[4 * PATH_MAX], build_text[160];
    const tp_build_info *build = tp_build_info_get();
    tp_build_info_text(build, build_text, sizeof build_text);
    shell_quote(cfg->exe ? cfg->exe : "tidepool", q_exe, sizeof q_exe);
    char expect[48] = "";
    if (strcmp(build->binary_hash, "unknown") != 0)
        snprintf(expect, sizeof expect, " --expect-build %s", build->id);
    snprintf(text, sizeof text,
             "%s sim %s --seed %" PRIu64 "%s\n"
             "# seed %" PRIu64 " failed: [%s] %s\n"
             "# recorded by tidepool %s\n"
             "# shrink it: %s shrink %s\n",
             q_exe, shell_quote(scen, q_scen, sizeof q_scen), seed, expect, seed, o->invariant,
             o->message, build_text, q_exe, shell_quote(dir, q_dir, sizeof q_dir));
    snprintf(path, sizeof path, "%s/replay.txt", dir);
    ok = sw_write_file(path, text) && ok;
    snprintf(path, sizeof path, "%s/outcome.txt", dir);
    snprintf(text, sizeof text, "invariant=%s\nmessage=%s\n", o->invariant, o->message);
    ok = sw_write_file(path, text) && ok;
    free(lua);
    free(json);
    if (!ok) fprintf(stderr, "tidepool swarm: could not write every file of %s\n", dir);
    /* the results database: the same run again (deterministic), now with a database */
    snprintf(path, sizeof path, "%s/results.db", dir);
    unlink(path);
    sw_outcome again;
    char scen_copy[PATH_MAX + 64];
    snprintf(scen_copy, sizeof scen_copy, "%s", scen);
    if (o->verdict >= 0 &&
        sw_run_file(scen_copy, seed, path, cfg->seed_limit_s > 0 ? cfg->seed_limit_s : 120, &again) &&
        strcmp(again.message, o->message) != 0)
        fprintf(stderr, "tidepool swarm: seed %" PRIu64 " did not replay identically (%s)\n",
                seed, again.message);
    (void)work_path;
}

/* Progress: on a terminal, one line rewritten in place with the total and an ETA;
 * otherwise (a log file, CI) a plain line every 10 % of the seeds or every 30 s. */
static void progress_line(const sw_swarm_config *cfg, const sw_swarm_result *res, double t0,
                          bool tty, double *last_line_s, uint64_t *last_line_run) {
    double now = wall_now(), elapsed = now - t0;
    uint64_t step = cfg->seeds / 10 ? cfg->seeds / 10 : 1;
    bool last = res->run == cfg->seeds;
    if (!tty && !last && res->run - *last_line_run < step && now - *last_line_s < 30) return;
    char eta[64] = "";
    if (res->run > 0 && res->run < cfg->seeds) {
        double left = elapsed / (double)res->run * (double)(cfg->seeds - res->run);
        if (cfg->budget_s > 0 && left > cfg->budget_s - elapsed)
            left = cfg->budget_s - elapsed > 0 ? cfg->budget_s - elapsed : 0;
        snprintf(eta, sizeof eta, ", ETA %.0f s", left);
    }
    fprintf(stderr, "%sswarm: %" PRIu64 "/%" PRIu64 " seeds run, %" PRIu64 " failed, %.1f s%s%s",
            tty ? "\r\033[K" : "", res->run, cfg->seeds, res->failed, elapsed, eta,
            tty ? "" : "\n");
    fflush(stderr);
    *last_line_s = now;
    *last_line_run = res->run;
}

bool sw_swarm(const sw_swarm_config *cfg, sw_swarm_result *res) {
    memset(res, 0, sizeof *res);
    res->first_failing_seed = UINT64_MAX;
    double t0 = wall_now();
    char work[PATH_MAX];
    snprintf(work, sizeof work, "%s/.work", cfg->out_dir);
    if (!mkdir_p(work)) {
        fprintf(stderr,
                "tidepool swarm: cannot create the output directory %s: %s (use --out DIR "
                "with a writable DIR)\n",
                work, strerror(errno));
        return false;
    }
    uint32_t jobs = cfg->jobs == 0 ? 1 : cfg->jobs > 64 ? 64 : cfg->jobs;
    double limit = cfg->seed_limit_s > 0 ? cfg->seed_limit_s : 120;
    child cs[64];
    memset(cs, 0, sizeof cs);
    uint64_t next_seed = cfg->first_seed, end_seed = cfg->first_seed + cfg->seeds;
    uint32_t running = 0;
    bool tty = isatty(2);
    double last_line_s = t0;
    uint64_t last_line_run = 0;
    for (;;) {
        bool budget_left = cfg->budget_s <= 0 || wall_now() - t0 < cfg->budget_s;
        while (running < jobs && next_seed < end_seed && budget_left) {
            uint32_t slot = 0;
            while (cs[slot].used) slot++;
            uint64_t seed = next_seed++;
            sw_world w;
            sw_generate(seed, &w);
            char *lua = sw_emit_lua(&w);
            char path[PATH_MAX + 64];
            snprintf(path, sizeof path, "%s/seed-%" PRIu64 ".lua", work, seed);
            bool ok = sw_write_file(path, lua);
            free(lua);
            if (!ok || !child_start(&cs[slot], path, seed, NULL)) {
                fprintf(stderr, "tidepool swarm: cannot run seed %" PRIu64 " (%s)\n", seed,
                        strerror(errno));
                return false;
            }
            running++;
        }
        if (running == 0) break;
        sw_outcome o;
        int i = wait_any(cs, jobs, limit, &o);
        if (i < 0) break;
        running--;
        uint64_t seed = cs[i].seed;
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/seed-%" PRIu64 ".lua", work, seed);
        res->run++;
        if (o.verdict == TL_VERDICT_PASS) {
            res->passed++;
        } else {
            res->failed++;
            res->per_invariant[inv_index(o.invariant)]++;
            if (seed < res->first_failing_seed) res->first_failing_seed = seed;
            fprintf(stderr, "%sseed %" PRIu64 " FAILED [%s]: %s\n", cfg->quiet ? "" : "\r\033[K",
                    seed, o.invariant, o.message);
            save_failure(cfg, seed, path, &o);
        }
        unlink(path);
        if (!cfg->quiet) progress_line(cfg, res, t0, tty, &last_line_s, &last_line_run);
    }
    rmdir(work);
    res->wall_s = wall_now() - t0;
    if (!cfg->quiet && tty) fputs("\r\033[K", stderr);
    printf("swarm: %" PRIu64 " seeds run (%" PRIu64 "..%" PRIu64 "), %" PRIu64 " passed, %" PRIu64
           " failed, %.1f s wall, %.0f seeds/hour\n",
           res->run, cfg->first_seed, cfg->first_seed + (res->run ? res->run - 1 : 0), res->passed,
           res->failed, res->wall_s, res->wall_s > 0 ? (double)res->run * 3600.0 / res->wall_s : 0);
    for (int i = 0; i < TL_INV_COUNT + 3; i++)
        if (res->per_invariant[i] > 0)
            printf("  %-22s %" PRIu64 " failing seeds\n", index_name(i), res->per_invariant[i]);
    if (res->failed > 0)
        printf("failing seeds saved in %s/fail-<seed>/ (scenario.lua, schedule.json, replay.txt, "
               "results.db)\n",
               cfg->out_dir);
    printf("{\"seeds_run\": %" PRIu64 ", \"passed\": %" PRIu64 ", \"failed\": %" PRIu64
           ", \"wall_s\": %.3f, \"seeds_per_hour\": %.0f, \"first_failing_seed\": ",
           res->run, res->passed, res->failed, res->wall_s,
           res->wall_s > 0 ? (double)res->run * 3600.0 / res->wall_s : 0);
    if (res->first_failing_seed == UINT64_MAX)
        printf("null");
    else
        printf("%" PRIu64, res->first_failing_seed);
    printf(", \"per_invariant\": {");
    bool first = true;
    for (int i = 0; i < TL_INV_COUNT + 3; i++) {
        printf("%s\"%s\": %" PRIu64, first ? "" : ", ", index_name(i), res->per_invariant[i]);
        first = false;
    }
    printf("}}\n");
    fflush(stdout);
    return true;
}
