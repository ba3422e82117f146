/* buildinfo/buildinfo.h — the build identity of the running binary: which commit it was
 * built from, whether the tree had uncommitted changes, and a hash of the executable
 * file itself.
 *
 * Why all three: a commit names the source only when the tree was clean, and two builds
 * of one commit with different options (a planted-bug build, another compiler) behave
 * differently; the binary's hash tells any two builds apart. Results databases (runs
 * table), swarm's replay.txt and `tidepool version` record it; a replay that carries the
 * recording build's id (`tidepool sim --expect-build ID`) says so when this binary is
 * another build. Used by cmd/ and meant for sweep/ too (one identity for the project).
 *
 * The commit and dirty flag are taken at build time (buildinfo/gen.cmake runs at every
 * build); the hash is computed at run time from /proc/self/exe, once per process. */
#ifndef TP_BUILDINFO_H
#define TP_BUILDINFO_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tp_build_info {
    const char *version;     /* tidepool's version, "0.1.0" */
    const char *commit;      /* full git commit (40 hex) or "unknown" outside git */
    const char *describe;    /* `git describe --always --dirty --tags`, "unknown" */
    int dirty;               /* 1 uncommitted changes to tracked files, 0 clean, -1 unknown */
    const char *planted_bug; /* CMake's TP_PLANTED_BUG, "" in normal builds */
    char binary_hash[33];    /* BLAKE2b-128 of the executable, 32 hex digits, or "unknown" */
    char id[17];             /* the build id: the first 16 digits of binary_hash */
} tp_build_info;

/* The running binary's identity. Never fails: what cannot be known reads "unknown".
 * The returned pointer stays valid for the life of the process. */
const tp_build_info *tp_build_info_get(void);

/* One line for humans: "0.1.0 commit 155a9d9 (dirty) build 1a2b3c4d5e6f7a8b"
 * (+ " planted-bug NAME"). Always NUL-terminated; truncated to cap. */
void tp_build_info_text(const tp_build_info *b, char *buf, size_t cap);

/* True when `expected` (a build id or any prefix of the binary hash of at least 8 hex
 * digits, case-insensitive) names this binary. */
bool tp_build_info_matches(const tp_build_info *b, const char *expected);

/* True when `text` is a well-formed build id: 8 to 32 hex digits. */
bool tp_build_id_valid(const char *text);

#endif
