/* cmd/cmd_version.c — `tidepool version [--json]`. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "buildinfo/buildinfo.h"
#include "cmd/cmd.h"

#ifdef TP_MALLOC_MIMALLOC
#include <mimalloc.h>
#endif

/* The allocator the binary runs on (CMake's TP_MALLOC): "mimalloc 2.0.9" or "system". */
static const char *allocator(char *buf, size_t cap) {
#ifdef TP_MALLOC_MIMALLOC
    int v = mi_version(); /* e.g. 209 */
    snprintf(buf, cap, "mimalloc %d.%d.%d", v / 100, v / 10 % 10, v % 10);
    return buf;
#else
    (void)buf;
    (void)cap;
    return "system";
#endif
}

int cmd_version(int argc, char **argv) {
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: tidepool version [--json]\n\n"
                   "Prints tidepool's version and build identity: the git commit it was\n"
                   "built from, whether the tree had uncommitted changes (dirty), and the\n"
                   "build id (a hash of this binary, as recorded in results databases and\n"
                   "replay commands), then the versions of its libraries and its allocator.\n"
                   "\n"
                   "exit codes: 0 printed; 2 usage error.\n");
            return TP_EXIT_OK;
        } else {
            cmd_error("version", "unknown option '%s' (try --help)", argv[i]);
            return TP_EXIT_USAGE;
        }
    }
    char abuf[64];
    const char *alloc = allocator(abuf, sizeof abuf);
    const tp_build_info *b = tp_build_info_get();
    const char *dirty = b->dirty == 1 ? "true" : b->dirty == 0 ? "false" : "null";
    if (json)
        printf("{\"version\":\"%s\",\"git\":\"%s\",\"commit\":\"%s\",\"dirty\":%s,"
               "\"build_id\":\"%s\",\"binary_hash\":\"%s\",\"planted_bug\":\"%s\","
               "\"libsodium\":\"%s\",\"malloc\":\"%s\"}\n",
               TP_VERSION, b->describe, b->commit, dirty, b->id, b->binary_hash, b->planted_bug,
               sodium_version_string(), alloc);
    else
        printf("tidepool %s (git %s)\ncommit %s%s\nbuild id %s (binary %s)%s%s\n"
               "libsodium %s\nmalloc %s\n",
               TP_VERSION, b->describe, b->commit,
               b->dirty == 1 ? " (dirty: uncommitted changes)" : b->dirty < 0 ? " (dirty: unknown)" : "",
               b->id, b->binary_hash, b->planted_bug[0] ? "\nplanted bug " : "", b->planted_bug,
               sodium_version_string(), alloc);
    return TP_EXIT_OK;
}
