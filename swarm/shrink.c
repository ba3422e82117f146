/* swarm/shrink.c — `tidepool shrink`: delta debugging (ddmin, Zeller & Hildebrandt 2002)
 * of a failing swarm scenario's fault schedule, then of its world size (halving the node
 * count, then one node at a time), then ddmin again, re-running every candidate in a
 * child with the same seed and keeping it only if it fails the *same* invariant. The
 * result is a runnable scenario (shrunk.lua). See swarm.h. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "swarm/swarm.h"

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool sw_parse_scenario(const char *text, uint32_t *nodes, uint64_t *seed, size_t *begin,
                       size_t *end) {
    const char *s = strstr(text, "-- @swarm:seed ");
    const char *nl = strstr(text, SW_MARK_NODES);
    const char *b = strstr(text, SW_MARK_BEGIN "\n");
    const char *e = strstr(text, SW_MARK_END);
    if (s == NULL || nl == NULL || b == NULL || e == NULL || e < b) return false;
    /* "local NODES = N -- @swarm:nodes": N is just before the marker */
    const char *line = nl;
    while (line > text && line[-1] != '\n') line--;
    unsigned n;
    if (sscanf(line, "local NODES = %u", &n) != 1 || n == 0 || n > SW_NODES_MAX) return false;
    unsigned long long sd;
    if (sscanf(s, "-- @swarm:seed %llu", &sd) != 1) return false;
    *nodes = n;
    *seed = sd;
    *begin = (size_t)(b - text) + strlen(SW_MARK_BEGIN "\n");
    *end = (size_t)(e - text);
    return true;
}

typedef struct shrinker {
    const sw_shrink_config *cfg;
    char *tail;               /* the text after the schedule */
    char *pre_nodes, *mid;    /* text: [pre_nodes] N [mid] lines [tail] */
    char **lines;             /* the schedule lines (each with its "\n") */
    uint32_t line_count;
    uint64_t seed;
    char invariant[40];
    char message[1024];
    char cand_path[PATH_MAX + 64];
    uint32_t runs, max_runs;
    double t0, budget_s, run_limit_s;
    char **extra;             /* lines made by renumbering (owned) */
    uint32_t extra_count, extra_cap;
} shrinker;

static char *build(const shrinker *k, uint32_t nodes, char *const *lines, uint32_t count) {
    size_t len = strlen(k->pre_nodes) + strlen(k->mid) + strlen(k->tail) + 32;
    for (uint32_t i = 0; i < count; i++) len += strlen(lines[i]);
    char *t = malloc(len);
    if (t == NULL) abort();
    size_t off = (size_t)sprintf(t, "%s%u%s", k->pre_nodes, nodes, k->mid);
    for (uint32_t i = 0; i < count; i++) {
        size_t n = strlen(lines[i]);
        memcpy(t + off, lines[i], n);
        off += n;
    }
    strcpy(t + off, k->tail);
    return t;
}

static bool out_of_budget(const shrinker *k) {
    return k->runs >= k->max_runs || wall_now() - k->t0 > k->budget_s;
}

/* Runs a candidate; true if it fails the same invariant. */
static bool fails(shrinker *k, uint32_t nodes, char *const *lines, uint32_t count) {
    if (out_of_budget(k)) return false;
    char *text = build(k, nodes, lines, count);
    bool ok = sw_write_file(k->cand_path, text);
    free(text);
    if (!ok) return false;
    k->runs++;
    sw_outcome o;
    if (!sw_run_file(k->cand_path, k->seed, NULL, k->run_limit_s, &o)) return false;
    bool same = strcmp(o.invariant, k->invariant) == 0;
    if (!k->cfg->quiet)
        fprintf(stderr, "shrink: run %u: %u nodes, %u events: %s\n", k->runs, nodes, count,
                same ? "fails the same way" : o.invariant[0] ? o.invariant : "passes");
    return same;
}

/* ddmin over lines[0..*count): on return lines holds a 1-minimal failing subset (as far
 * as the budget allowed). */
static void ddmin(shrinker *k, uint32_t nodes, char **lines, uint32_t *count) {
    uint32_t n = *count;
    if (n == 0) return;
    if (fails(k, nodes, lines, 0)) {
        *count = 0;
        return;
    }
    char **buf = malloc(n * sizeof *buf);
    if (buf == NULL) abort();
    uint32_t gran = 2;
    while (n >= 2 && !out_of_budget(k)) {
        if (gran > n) gran = n;
        bool reduced = false;
        /* subsets */
        for (uint32_t c = 0; c < gran && !reduced; c++) {
            uint32_t lo = (uint32_t)((uint64_t)n * c / gran), hi = (uint32_t)((uint64_t)n * (c + 1) / gran);
            uint32_t m = 0;
            for (uint32_t i = lo; i < hi; i++) buf[m++] = lines[i];
            if (m < n && fails(k, nodes, buf, m)) {
                memcpy(lines, buf, m * sizeof *buf);
                n = m;
                gran = 2;
                reduced = true;
            }
        }
        /* complements */
        for (uint32_t c = 0; c < gran && !reduced && gran > 2; c++) {
            uint32_t lo = (uint32_t)((uint64_t)n * c / gran), hi = (uint32_t)((uint64_t)n * (c + 1) / gran);
            uint32_t m = 0;
            for (uint32_t i = 0; i < n; i++)
                if (i < lo || i >= hi) buf[m++] = lines[i];
            if (fails(k, nodes, buf, m)) {
                memcpy(lines, buf, m * sizeof *buf);
                n = m;
                gran = gran - 1 > 2 ? gran - 1 : 2;
                reduced = true;
            }
        }
        if (reduced) continue;
        if (gran >= n) break;
        gran = gran * 2 < n ? gran * 2 : n;
    }
    /* a single event: it may still be unnecessary (the empty set was tried first) */
    free(buf);
    *count = n;
}

/* Does an event line name only nodes <= nodes? (partition sets keep their valid
 * members in the runner; a set left with none is dropped) */
static bool line_fits(const char *line, uint32_t nodes) {
    const char *p;
    unsigned v;
    if ((p = strstr(line, "node = ")) != NULL && sscanf(p, "node = %u", &v) == 1 && v > nodes)
        return false;
    if ((p = strstr(line, "target = ")) != NULL && sscanf(p, "target = %u", &v) == 1 &&
        v > nodes)
        return false;
    if ((p = strstr(line, "set = {")) != NULL) {
        p += strlen("set = {");
        bool any = false;
        while (*p && *p != '}') {
            if (sscanf(p, "%u", &v) == 1 && v <= nodes) any = true;
            while (*p && *p != ',' && *p != '}') p++;
            if (*p == ',') p++;
        }
        if (!any) return false;
    }
    return true;
}

static uint32_t filter_lines(char **lines, uint32_t count, uint32_t nodes, char **out) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < count; i++)
        if (line_fits(lines[i], nodes)) out[m++] = lines[i];
    return m;
}

/* Tries a smaller world; on success updates *nodes, lines, *count. */
static bool try_nodes(shrinker *k, uint32_t to, uint32_t *nodes, char **lines, uint32_t *count) {
    char **buf = malloc((*count + 1) * sizeof *buf);
    if (buf == NULL) abort();
    uint32_t m = filter_lines(lines, *count, to, buf);
    bool ok = fails(k, to, buf, m);
    if (ok) {
        memcpy(lines, buf, m * sizeof *buf);
        *count = m;
        *nodes = to;
    }
    free(buf);
    return ok;
}

/* ---- renumbering: the nodes the schedule names, moved to the lowest indices ------------- */

/* Writes the line with every node index it names (node = N, target = N, set = {N, ...})
 * replaced by map[N] (map NULL: unchanged) into out (cap bytes), and ORs the indices
 * into *used (may be NULL). false: an index out of range, or out too small. */
static bool remap_line(const char *line, const uint32_t *map, uint32_t map_len, char *out,
                       size_t cap, uint64_t *used) {
    size_t o = 0;
    const char *p = line;
    while (*p) {
        const char *key = NULL;
        if (strncmp(p, "node = ", 7) == 0) key = "node = ";
        else if (strncmp(p, "target = ", 9) == 0) key = "target = ";
        if (key != NULL) {
            size_t kl = strlen(key);
            char *end;
            unsigned long v = strtoul(p + kl, &end, 10);
            if (end == p + kl || v == 0 || v >= map_len) return false;
            if (used != NULL) *used |= 1ULL << (v - 1);
            int n = snprintf(out + o, cap - o, "%s%u", key, map ? map[v] : (unsigned)v);
            if (n < 0 || (size_t)n >= cap - o) return false;
            o += (size_t)n;
            p = end;
            continue;
        }
        if (strncmp(p, "set = {", 7) == 0) {
            int n = snprintf(out + o, cap - o, "set = {");
            if (n < 0 || (size_t)n >= cap - o) return false;
            o += (size_t)n;
            p += 7;
            bool first = true;
            while (*p && *p != '}') {
                char *end;
                unsigned long v = strtoul(p, &end, 10);
                if (end == p || v == 0 || v >= map_len) return false;
                if (used != NULL) *used |= 1ULL << (v - 1);
                n = snprintf(out + o, cap - o, "%s%u", first ? "" : ", ", map ? map[v] : (unsigned)v);
                if (n < 0 || (size_t)n >= cap - o) return false;
                o += (size_t)n;
                first = false;
                p = end;
                while (*p == ',' || *p == ' ') p++;
            }
            continue;
        }
        if (o + 1 >= cap) return false;
        out[o++] = *p++;
    }
    out[o] = '\0';
    return true;
}

/* Tries the schedule with the nodes it names renumbered 1, 2, ... in their order, and
 * the world cut to max(2, that many) nodes (+ 0, 1 or 2 bystanders); keeps the first
 * that still fails the same way. */
static bool try_renumber(shrinker *k, uint32_t *nodes, char **lines, uint32_t *count) {
    uint64_t used = 0;
    char buf[1024];
    for (uint32_t i = 0; i < *count; i++)
        if (!remap_line(lines[i], NULL, SW_NODES_MAX + 1, buf, sizeof buf, &used)) return false;
    uint32_t map[SW_NODES_MAX + 1] = {0}, next = 0;
    for (uint32_t v = 1; v <= SW_NODES_MAX; v++)
        if (used >> (v - 1) & 1) map[v] = ++next;
    uint32_t lo = next < 2 ? 2 : next;
    bool identity = true;
    for (uint32_t v = 1; v <= SW_NODES_MAX; v++)
        if ((used >> (v - 1) & 1) && map[v] != v) identity = false;
    if (identity || lo >= *nodes) return false;
    char **cand = calloc(*count + 1, sizeof *cand);
    if (cand == NULL) abort();
    bool ok = true;
    for (uint32_t i = 0; i < *count && ok; i++) {
        ok = remap_line(lines[i], map, SW_NODES_MAX + 1, buf, sizeof buf, NULL);
        if (ok) cand[i] = strdup(buf);
    }
    if (ok && k->extra_count + *count > k->extra_cap) {
        uint32_t cap = k->extra_count + *count + 16;
        char **e = realloc(k->extra, cap * sizeof *e);
        if (e == NULL) abort();
        k->extra = e;
        k->extra_cap = cap;
    }
    /* the named nodes alone, or with one or two bystanders (a world of 2 can fail
     * differently: e.g. the simultaneous-open livelock of swarm/README) */
    uint32_t to = 0;
    for (uint32_t t = lo; ok && t <= lo + 2 && t < *nodes && to == 0; t++)
        if (fails(k, t, cand, *count)) to = t;
    if (to != 0) {
        for (uint32_t i = 0; i < *count; i++) {
            lines[i] = cand[i];
            k->extra[k->extra_count++] = cand[i]; /* owned by the shrinker from now on */
        }
        *nodes = to;
        free(cand);
        return true;
    }
    for (uint32_t i = 0; i < *count; i++) free(cand[i]);
    free(cand);
    return false;
}

int sw_shrink(const sw_shrink_config *cfg, sw_shrink_result *res) {
    memset(res, 0, sizeof *res);
    char in_path[PATH_MAX], dir[PATH_MAX];
    struct stat st;
    if (stat(cfg->input, &st) != 0) {
        fprintf(stderr,
                "tidepool shrink: %s: no such file or directory (give a fail-<seed> directory "
                "written by `tidepool swarm`, or its scenario.lua)\n",
                cfg->input);
        return 3;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(dir, sizeof dir, "%s", cfg->input);
        snprintf(in_path, sizeof in_path, "%s/scenario.lua", cfg->input);
    } else {
        snprintf(in_path, sizeof in_path, "%s", cfg->input);
        snprintf(dir, sizeof dir, "%s", cfg->input);
        char *slash = strrchr(dir, '/');
        if (slash != NULL) *slash = '\0';
        else snprintf(dir, sizeof dir, ".");
    }
    char *text = sw_read_file(in_path, NULL);
    if (text == NULL) {
        fprintf(stderr, "tidepool shrink: cannot read %s (give a fail-<seed> directory or a "
                        "swarm scenario file)\n", in_path);
        return 3;
    }
    uint32_t nodes;
    uint64_t seed;
    size_t begin, end;
    if (!sw_parse_scenario(text, &nodes, &seed, &begin, &end)) {
        fprintf(stderr,
                "tidepool shrink: %s is not a swarm scenario: the markers '-- @swarm:seed', "
                "'%s', '%s' and '%s' are missing or out of order (shrink only scenarios "
                "written by `tidepool swarm`)\n",
                in_path, SW_MARK_NODES, SW_MARK_BEGIN, SW_MARK_END);
        free(text);
        return 3;
    }
    shrinker k;
    memset(&k, 0, sizeof k);
    k.cfg = cfg;
    k.seed = seed;
    k.max_runs = cfg->max_runs ? cfg->max_runs : 300;
    k.budget_s = cfg->budget_s > 0 ? cfg->budget_s : 600;
    k.run_limit_s = cfg->run_limit_s > 0 ? cfg->run_limit_s : 120;
    k.t0 = wall_now();
    /* split the text: [pre_nodes] N [mid ... begin] lines [end ... tail] */
    const char *nl = strstr(text, SW_MARK_NODES);
    const char *val = nl;
    while (val > text && val[-1] != '\n') val--;
    val += strlen("local NODES = ");
    const char *after_val = val + strspn(val, "0123456789");
    k.pre_nodes = strndup(text, (size_t)(val - text));
    k.mid = strndup(after_val, (size_t)(text + begin - after_val));
    k.tail = strdup(text + end);
    char **lines = malloc((SW_EVENTS_MAX * 4 + 1) * sizeof *lines);
    uint32_t count = 0;
    for (const char *p = text + begin; p < text + end && count < SW_EVENTS_MAX * 4;) {
        const char *q = memchr(p, '\n', (size_t)(text + end - p));
        size_t n = q ? (size_t)(q - p) + 1 : (size_t)(text + end - p);
        char *l = strndup(p, n);
        if (strspn(l, " \t\n") != strlen(l)) lines[count++] = l;
        else free(l);
        p += n;
    }
    char **all = malloc((count + 1) * sizeof *all);
    memcpy(all, lines, count * sizeof *lines);
    uint32_t all_count = count;
    snprintf(k.cand_path, sizeof k.cand_path, "%s/.shrink-candidate.lua", dir);
    res->seed = seed;
    res->events_before = count;
    res->nodes_before = nodes;
    int rc = 0;
    /* the original must fail; its invariant is the one to keep failing */
    sw_outcome o;
    if (!sw_write_file(k.cand_path, text) ||
        !sw_run_file(k.cand_path, seed, NULL, k.run_limit_s, &o)) {
        fprintf(stderr, "tidepool shrink: cannot run %s (write access to %s needed)\n", in_path,
                dir);
        rc = 3;
        goto out;
    }
    k.runs++;
    if (o.invariant[0] == '\0') {
        fprintf(stderr, "tidepool shrink: %s passes with seed %" PRIu64
                        " in this build: nothing to shrink (was it found with another build, "
                        "e.g. -DTP_PLANTED_BUG=...?)\n",
                in_path, seed);
        rc = 1;
        goto out;
    }
    snprintf(k.invariant, sizeof k.invariant, "%s", o.invariant);
    snprintf(k.message, sizeof k.message, "%s", o.message);
    snprintf(res->invariant, sizeof res->invariant, "%s", o.invariant);
    if (!cfg->quiet)
        fprintf(stderr, "shrink: seed %" PRIu64 ", %u nodes, %u events, fails [%s]: %s\n", seed,
                nodes, count, k.invariant, o.message);
    ddmin(&k, nodes, lines, &count);
    /* the world: halve while it still fails, then one node at a time */
    while (nodes / 2 >= 2 && !out_of_budget(&k) && try_nodes(&k, nodes / 2, &nodes, lines, &count)) {
    }
    while (nodes > 2 && !out_of_budget(&k) && try_nodes(&k, nodes - 1, &nodes, lines, &count)) {
    }
    ddmin(&k, nodes, lines, &count);
    /* the nodes the remaining faults name, renumbered to the lowest indices, and the
     * world cut to them; then the cut once more */
    if (!out_of_budget(&k) && try_renumber(&k, &nodes, lines, &count)) {
        while (nodes > 2 && !out_of_budget(&k) &&
               try_nodes(&k, nodes - 1, &nodes, lines, &count)) {
        }
    }
    {
        char *body = build(&k, nodes, lines, count);
        char header[PATH_MAX + 1024];
        snprintf(header, sizeof header,
                 "-- Shrunk by `tidepool shrink` from %s: %u -> %u fault events, %u -> %u nodes,\n"
                 "-- %u runs; still fails invariant %s with seed %" PRIu64 ".\n"
                 "-- Run: tidepool sim shrunk.lua --seed %" PRIu64 "\n",
                 in_path, res->events_before, count, res->nodes_before, nodes, k.runs,
                 k.invariant, seed, seed);
        char *full = malloc(strlen(header) + strlen(body) + 1);
        if (full == NULL) abort();
        strcpy(full, header);
        strcat(full, body);
        free(body);
        if (cfg->output != NULL) snprintf(res->output, sizeof res->output, "%s", cfg->output);
        else snprintf(res->output, sizeof res->output, "%s/shrunk.lua", dir);
        if (!sw_write_file(res->output, full)) {
            fprintf(stderr, "tidepool shrink: cannot write %s\n", res->output);
            rc = 3;
        }
        free(full);
    }
    res->events_after = count;
    res->nodes_after = nodes;
out:
    res->runs = k.runs;
    unlink(k.cand_path);
    for (uint32_t i = 0; i < all_count; i++) free(all[i]);
    free(all);
    for (uint32_t i = 0; i < k.extra_count; i++) free(k.extra[i]);
    free(k.extra);
    free(lines);
    free(k.pre_nodes);
    free(k.mid);
    free(k.tail);
    free(text);
    return rc;
}
