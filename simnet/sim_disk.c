/* simnet/sim_disk.c — each host's in-memory disk of small named files (env.h
 * "storage"). The disk survives a restart (crash or clean stop), not sim_host_disk_wipe.
 *
 * Atomicity: a write replaces a file's content in one step. With
 * disk_sync_delay_ns > 0, a write is durable only that long after it was made: a crash
 * before then brings back the previous durable content (or no file), never a mix; a
 * rename is a metadata operation that is durable at once (simplification, README).
 *
 * Compression (sim_world_config.disk_compress): each content is kept zstd-compressed
 * (level 1) when that is smaller, and decompressed on read. Only memory changes: a read
 * returns exactly the bytes written, so runs are the same with and without it. */
#include <string.h>
#include <zstd.h>

#include "simnet/sim_impl.h"

static bool name_ok(const char *name) {
    size_t n = strlen(name);
    return n > 0 && n <= SIM_FILE_NAME_MAX && strchr(name, '/') == NULL &&
           strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static sim_file *find(sim_host *h, const char *name) {
    for (sim_file *f = h->files; f; f = f->next)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

static void content_free(sim_part *w, sim_content *c) {
    sim_backend_free(w, c->bytes, c->stored_len);
    *c = (sim_content){0};
}

static void file_free(sim_part *w, sim_file *f) {
    content_free(w, &f->data);
    content_free(w, &f->old);
    sim_backend_free(w, f->name, strlen(f->name) + 1);
    sim_backend_free(w, f, sizeof *f);
}

static void unlink_file(sim_host *h, sim_file *f) {
    sim_file **pp = &h->files;
    while (*pp != f) pp = &(*pp)->next;
    *pp = f->next;
}

static uint8_t *dup_bytes(sim_part *w, const uint8_t *data, size_t len) {
    if (len == 0) return NULL;
    uint8_t *p = sim_backend_alloc(w, len);
    memcpy(p, data, len);
    return p;
}

/* Files below this are stored as they are: too small to gain. */
#define COMPRESS_MIN 256u

static sim_content content_make(sim_part *w, const uint8_t *data, size_t len) {
    sim_content c = {.len = len, .stored_len = len};
    if (w->world->cfg.disk_compress && len >= COMPRESS_MIN) {
        size_t bound = ZSTD_compressBound(len);
        if (w->zbuf_cap < bound) {
            free(w->zbuf);
            w->zbuf = malloc(bound);
            TP_ASSERT(w->zbuf != NULL); /* simnet's own bookkeeping */
            w->zbuf_cap = bound;
        }
        if (w->zstd_cctx == NULL) {
            w->zstd_cctx = ZSTD_createCCtx();
            TP_ASSERT(w->zstd_cctx != NULL);
        }
        size_t n = ZSTD_compressCCtx(w->zstd_cctx, w->zbuf, w->zbuf_cap, data, len, 1);
        TP_ASSERT(!ZSTD_isError(n)); /* cannot fail with a ZSTD_compressBound buffer */
        if (n < len) {
            c.bytes = dup_bytes(w, w->zbuf, n);
            c.stored_len = n;
            c.compressed = true;
        }
    }
    if (!c.compressed) c.bytes = dup_bytes(w, data, len);
    w->stats.disk_bytes_written += len;
    w->stats.disk_bytes_stored += c.stored_len;
    return c;
}

/* Copies the content into buf (cap >= c->len). */
static void content_read(sim_part *w, const sim_content *c, uint8_t *buf) {
    if (!c->compressed) {
        if (c->len) memcpy(buf, c->bytes, c->len);
        return;
    }
    if (w->zstd_dctx == NULL) {
        w->zstd_dctx = ZSTD_createDCtx();
        TP_ASSERT(w->zstd_dctx != NULL);
    }
    size_t n = ZSTD_decompressDCtx(w->zstd_dctx, buf, c->len, c->bytes, c->stored_len);
    /* simnet wrote these bytes itself: anything else is memory corruption */
    TP_ASSERT(!ZSTD_isError(n) && n == c->len);
}

void sim_disk_free_codec(sim_part *w) {
    ZSTD_freeCCtx(w->zstd_cctx);
    ZSTD_freeDCtx(w->zstd_dctx);
    free(w->zbuf);
    w->zstd_cctx = w->zstd_dctx = NULL;
    w->zbuf = NULL;
    w->zbuf_cap = 0;
}

tp_err sim_disk_read(sim_host *h, const char *name, uint8_t *buf, size_t cap, size_t *len) {
    TP_ASSERT(name_ok(name)); /* env.h: a plain name, no "/" or ".." */
    sim_file *f = find(h, name);
    if (f == NULL) return TP_ERR_NOT_FOUND;
    if (f->data.len > cap) {
        *len = f->data.len;
        return TP_ERR_TOO_BIG;
    }
    content_read(h->part, &f->data, buf);
    *len = f->data.len;
    return TP_OK;
}

static bool durable(const sim_part *w, const sim_file *f) {
    return w->world->cfg.disk_sync_delay_ns == 0 || w->now_ns - f->written_ns >= w->world->cfg.disk_sync_delay_ns;
}

tp_err sim_disk_write(sim_host *h, const char *name, const uint8_t *data, size_t len) {
    TP_ASSERT(name_ok(name));
    sim_part *w = h->part;
    if (len > SIM_FILE_BYTES_MAX) return TP_ERR_IO;
    sim_file *f = find(h, name);
    if (f == NULL) {
        size_t count = 0;
        for (sim_file *x = h->files; x; x = x->next) count++;
        if (count >= SIM_FILES_MAX) return TP_ERR_IO;
        f = sim_backend_alloc(w, sizeof *f);
        size_t n = strlen(name) + 1;
        f->name = sim_backend_alloc(w, n);
        memcpy(f->name, name, n);
        f->old_exists = false;
        f->next = h->files;
        h->files = f;
    } else if (durable(w, f)) {
        /* The current content becomes the fallback. */
        content_free(w, &f->old);
        f->old = f->data;
        f->old_exists = true;
        f->data = (sim_content){0};
    } else {
        content_free(w, &f->data); /* never durable: simply replaced */
    }
    f->data = content_make(w, data, len);
    f->written_ns = w->now_ns;
    if (w->world->cfg.disk_sync_delay_ns == 0) {
        content_free(w, &f->old);
        f->old_exists = false;
    }
    return TP_OK;
}

tp_err sim_disk_rename(sim_host *h, const char *from, const char *to) {
    TP_ASSERT(name_ok(from) && name_ok(to));
    sim_part *w = h->part;
    sim_file *f = find(h, from);
    if (f == NULL) return TP_ERR_NOT_FOUND;
    if (strcmp(from, to) == 0) return TP_OK;
    sim_file *g = find(h, to);
    if (g != NULL) {
        unlink_file(h, g);
        file_free(w, g);
    }
    size_t n = strlen(to) + 1;
    char *name = sim_backend_alloc(w, n);
    memcpy(name, to, n);
    sim_backend_free(w, f->name, strlen(f->name) + 1);
    f->name = name;
    return TP_OK;
}

void sim_disk_crash(sim_host *h) {
    sim_part *w = h->part;
    for (sim_file *f = h->files, *next; f; f = next) {
        next = f->next;
        if (durable(w, f)) continue;
        if (!f->old_exists) {
            unlink_file(h, f);
            file_free(w, f);
            continue;
        }
        content_free(w, &f->data);
        f->data = f->old;
        f->old = (sim_content){0};
        f->old_exists = false;
        f->written_ns = INT64_MIN / 2; /* durable */
    }
}

void sim_disk_wipe(sim_host *h) {
    while (h->files) {
        sim_file *f = h->files;
        h->files = f->next;
        file_free(h->part, f);
    }
}
