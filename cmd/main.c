/* cmd/main.c — `tidepool <command> [options]`: dispatch to the subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

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
    fprintf(out, "\n'tidepool <command> --help' describes a command.\n");
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
    fprintf(stderr, "tidepool: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return TP_EXIT_USAGE;
}
