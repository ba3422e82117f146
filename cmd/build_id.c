/* cmd/build_id.c — the running binary's build identity as one string for sweep task ids:
 * "<git describe --dirty> b2:<build id>" from buildinfo/ (the commit and dirty flag taken
 * at build time, the id a hash of /proc/self/exe), so two builds that share a revision (a
 * local edit, a planted bug, another compiler) still differ. `tidepool sweep` records it
 * in every task's result.json and reruns tasks that another build ran (sweep/README.md).
 * The same identity is in `tidepool version` and the results' runs table. */
#include <stdio.h>
#include <string.h>

#include "buildinfo/buildinfo.h"
#include "cmd/cmd.h"

bool cmd_build_id(char *buf, size_t cap) {
    const tp_build_info *b = tp_build_info_get();
    if (strcmp(b->binary_hash, "unknown") == 0) return false; /* /proc/self/exe unreadable */
    int w = snprintf(buf, cap, "%s b2:%s", b->describe, b->id);
    return w > 0 && (size_t)w < cap;
}
