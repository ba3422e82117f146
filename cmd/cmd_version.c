/* cmd/cmd_version.c — `tidepool version [--json]`. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

int cmd_version(int argc, char **argv) {
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: tidepool version [--json]\n\n"
                   "Prints tidepool's version, the git revision it was built from, and the\n"
                   "versions of the libraries it uses.\n");
            return TP_EXIT_OK;
        } else {
            cmd_error("version", "unknown option '%s' (try --help)", argv[i]);
            return TP_EXIT_USAGE;
        }
    }
    if (json)
        printf("{\"version\":\"%s\",\"git\":\"%s\",\"libsodium\":\"%s\"}\n", TP_VERSION,
               TP_GIT_VERSION, sodium_version_string());
    else
        printf("tidepool %s (git %s)\nlibsodium %s\n", TP_VERSION, TP_GIT_VERSION,
               sodium_version_string());
    return TP_EXIT_OK;
}
