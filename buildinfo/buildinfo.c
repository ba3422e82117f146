/* buildinfo/buildinfo.c — see buildinfo.h. */
#include "buildinfo/buildinfo.h"

#include <ctype.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buildinfo_gen.h"

/* The identity never changes while the process runs: computed once (the one mutable
 * static here; buildinfo/ is not core/). */
static tp_build_info info_cache;
static bool info_ready;

static void hash_executable(char out[33]) {
    snprintf(out, 33, "unknown");
    if (sodium_init() < 0) return;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    unsigned char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) crypto_generichash_update(&st, buf, (size_t)n);
    close(fd);
    if (n < 0) return;
    unsigned char h[16];
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(out, 33, h, sizeof h);
}

const tp_build_info *tp_build_info_get(void) {
    if (!info_ready) {
        tp_build_info *b = &info_cache;
        b->version = TP_VERSION;
        b->commit = TP_BUILD_COMMIT;
        b->describe = TP_BUILD_DESCRIBE;
        b->dirty = TP_BUILD_DIRTY;
        b->planted_bug = TP_BUILD_PLANTED_BUG;
        hash_executable(b->binary_hash);
        snprintf(b->id, sizeof b->id, "%.16s", b->binary_hash);
        info_ready = true;
    }
    return &info_cache;
}

void tp_build_info_text(const tp_build_info *b, char *buf, size_t cap) {
    snprintf(buf, cap, "%s commit %.12s%s build %s%s%s", b->version, b->commit,
             b->dirty == 1 ? " (dirty)" : b->dirty < 0 ? " (dirty: unknown)" : "", b->id,
             b->planted_bug[0] ? " planted-bug " : "", b->planted_bug);
}

bool tp_build_id_valid(const char *text) {
    size_t n = strlen(text);
    if (n < 8 || n > 32) return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)text[i])) return false;
    return true;
}

bool tp_build_info_matches(const tp_build_info *b, const char *expected) {
    if (!tp_build_id_valid(expected) || strcmp(b->binary_hash, "unknown") == 0) return false;
    for (size_t i = 0; expected[i]; i++)
        if (tolower((unsigned char)expected[i]) != b->binary_hash[i]) return false;
    return true;
}
