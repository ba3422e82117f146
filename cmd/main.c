/* cmd/main.c — `tidepool <command> [options]`: dispatch to the subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#include "cmd/cmd.h"

static const tp_cmd commands[] = {
    {"admin", "query and steer a running node over its admin RPC", cmd_admin},
    {"demo", "run the demo flooding protocol: simulated (demo sim) or real (demo node)", cmd_demo},
    {"identity", "generate, show or check a node identity (identity.json)", cmd_identity},
    {"merge", "combine run databases into one campaign database (merge OUT.db RUN.db...)", cmd_merge},
    {"node", "run a real P2P node (node run --data-dir DIR ...)", cmd_node},
    {"report", "plots and an HTML page from results databases (report DB --out DIR)", cmd_report},
    {"shrink", "shrink a failing swarm run to a minimal Lua scenario (shrink DIR/fail-SEED)", cmd_shrink},
    {"sim", "run a Lua scenario in the deterministic network simulator", cmd_sim},
    {"swarm", "swarm testing: random worlds and fault schedules, invariants (--seeds N)", cmd_swarm},
    {"sweep", "run a parameter sweep locally (--jobs J) or on Slurm (--slurm)", cmd_sweep},
    {"version", "print the version of tidepool and of its libraries", cmd_version},
};

static void usage(FILE *out) {
    fprintf(out,
            "usage: tidepool <command> [options]\n"
            "\n"
            "A re-implementation of the Tezos (Octez) peer-to-peer layer with a\n"
            "deterministic network simulator.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'tidepool <command> --help' describes a command.\n"
                 "\nexit codes (every command): 0 success; 1 the operation ran and failed (a\n"
                 "scenario's verdict, a failed check); 2 usage error (an unknown or bad option,\n"
                 "command or argument); 3 bad input file or environment.\n");
}

bool cmd_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return true;
    }
    return false;
}

void cmd_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "tidepool %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Edit distance with adjacent transpositions counted as one edit (optimal string
 * alignment): "bna" is one edit from "ban". */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return SIZE_MAX;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *cmd_nearest(const char *given, const char *const *known) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; known[i]; i++) {
        size_t d = edit_distance(given, known[i]);
        if (d < best_d) {
            best_d = d;
            best = known[i];
        }
    }
    size_t len = strlen(given);
    if (best && best_d <= 2 && best_d * 2 < len) return best;
    /* a prefix of exactly one option ("--max" is not, "--quie" is) */
    const char *only = NULL;
    for (size_t i = 0; known[i]; i++)
        if (len >= 3 && strncmp(known[i], given, len) == 0) {
            if (only) return NULL;
            only = known[i];
        }
    return only;
}

int cmd_unknown_option(const char *cmd, const char *given, const char *const *known) {
    const char *near = cmd_nearest(given, known);
    if (near)
        cmd_error(cmd, "unknown option '%s' (did you mean '%s'? see tidepool %s --help)", given,
                  near, cmd);
    else
        cmd_error(cmd, "unknown option '%s' (see tidepool %s --help)", given, cmd);
    return TP_EXIT_USAGE;
}

bool cmd_make_parent_dir(const char *path) {
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        errno = ENAMETOOLONG;
        return false;
    }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return true; /* the current directory or / */
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return false;
    struct stat st;
    if (stat(dir, &st) != 0) return false;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    return true;
}

bool cmd_parse_u64(const char *cmd, const char *option, const char *text, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    if (text == NULL || *text == '\0' || *text == '-') {
        cmd_error(cmd, "%s expects a non-negative integer (got '%s')", option,
                  text ? text : "nothing");
        return false;
    }
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        cmd_error(cmd, "%s expects a non-negative integer (got '%s')", option, text);
        return false;
    }
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return TP_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return TP_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) return cmd_version(1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    const char *names[sizeof commands / sizeof commands[0] + 1];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) names[i] = commands[i].name;
    names[sizeof commands / sizeof commands[0]] = NULL;
    const char *near = cmd_nearest(argv[1], names);
    if (near)
        fprintf(stderr, "tidepool: unknown command '%s' (did you mean '%s'?)\n\n", argv[1], near);
    else
        fprintf(stderr, "tidepool: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return TP_EXIT_USAGE;
}
