/* cmd/build_id.c — the running binary's build identity: the git revision it was built
 * from (TP_GIT_VERSION, `git describe --always --dirty`) and a hash of the binary itself
 * (BLAKE2b of /proc/self/exe), so two builds that share a revision (a local edit, a
 * planted bug, another compiler) still differ. `tidepool sweep` records it in every
 * task's result.json and reruns tasks that another build ran (sweep/README.md).
 * One function on purpose: the same identity belongs in `tidepool version` and the runs
 * table (issue 20), which can call it. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

bool cmd_build_id(char *buf, size_t cap) {
    if (sodium_init() < 0) return false;
    FILE *f = fopen("/proc/self/exe", "rb");
    if (!f) return false;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    unsigned char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) crypto_generichash_update(&st, chunk, n);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) return false;
    unsigned char h[16];
    crypto_generichash_final(&st, h, sizeof h);
    char hex[17];
    for (size_t i = 0; i < 8; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
    int w = snprintf(buf, cap, "%s b2:%s", TP_GIT_VERSION, hex);
    return w > 0 && (size_t)w < cap;
}
