/* cmd/cmd_version.c — `tidepool version [--json]`. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

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
                   "Prints tidepool's version, the git revision it was built from, the\n"
                   "versions of the libraries it uses, and its allocator.\n");
            return TP_EXIT_OK;
        } else {
            cmd_error("version", "unknown option '%s' (try --help)", argv[i]);
            return TP_EXIT_USAGE;
        }
    }
    char abuf[64];
    const char *alloc = allocator(abuf, sizeof abuf);
    if (json)
        printf("{\"version\":\"%s\",\"git\":\"%s\",\"libsodium\":\"%s\",\"malloc\":\"%s\"}\n",
               TP_VERSION, TP_GIT_VERSION, sodium_version_string(), alloc);
    else
        printf("tidepool %s (git %s)\nlibsodium %s\nmalloc %s\n", TP_VERSION, TP_GIT_VERSION,
               sodium_version_string(), alloc);
    return TP_EXIT_OK;
}
