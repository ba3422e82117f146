/* cmd/cmd.h — the tidepool CLI: one function per subcommand, and shared helpers.
 *
 * Exit codes (all subcommands): 0 success; 1 the operation ran and failed (a scenario's
 * verdict, a failed check); 2 usage error (bad option or argument); 3 bad input file or
 * environment (config, identity, database, port in use). */
#ifndef TP_CMD_H
#define TP_CMD_H

#include <stdbool.h>
#include <stdint.h>

enum { TP_EXIT_OK = 0, TP_EXIT_FAIL = 1, TP_EXIT_USAGE = 2, TP_EXIT_INPUT = 3 };

typedef struct tp_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
} tp_cmd;

int cmd_version(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_demo_sim(int argc, char **argv);
int cmd_identity(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_admin(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_swarm(int argc, char **argv);
int cmd_shrink(int argc, char **argv);

/* True if argv holds -h or --help (before a "--"). */
bool cmd_wants_help(int argc, char **argv);
/* Parses a non-negative integer option value; prints "tidepool NAME: OPTION expects
 * ..." and returns false on error. */
bool cmd_parse_u64(const char *cmd, const char *option, const char *text, uint64_t *out);
/* The running binary's build identity, "<git describe> b2:<16 hex of BLAKE2b of the
 * binary>" (cmd/build_id.c); false if /proc/self/exe cannot be read. */
bool cmd_build_id(char *buf, size_t cap);
/* The entry of known (NULL-terminated) nearest to given by edit distance, if it is close
 * enough to be a typo (at most 2 edits, and fewer than half the word); else NULL. */
const char *cmd_nearest(const char *given, const char *const *known);
/* Prints "tidepool CMD: unknown option 'X' (did you mean 'Y'?) (see tidepool CMD --help)"
 * and returns TP_EXIT_USAGE. */
int cmd_unknown_option(const char *cmd, const char *given, const char *const *known);
/* Creates the directory that will hold path (its dirname, with parents), so an output
 * file option works like --out DIR. False with errno set if it cannot. */
bool cmd_make_parent_dir(const char *path);
/* Prints "tidepool CMD: message" to stderr (printf-style). */
void cmd_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
