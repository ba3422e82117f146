/* core/table.c — bounded insertion-ordered hash table (see table.h). */
#include "table.h"

#include <sodium.h>
#include <string.h>

#define LIVE_BIT ((uint64_t)1 << 63)
#define SLOT_EMPTY 0u
#define SLOT_DELETED UINT32_MAX

static uint64_t hash_key(const tp_table *t, const void *key) {
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, key, t->key_size, t->hash_key);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h = h << 8 | out[i];
    return h & ~LIVE_BIT;
}

static inline uint8_t *entry_at(const tp_table *t, uint32_t pos) {
    return t->entries + (size_t)pos * t->entry_size;
}

static inline uint64_t entry_header(const uint8_t *e) {
    uint64_t h;
    memcpy(&h, e, sizeof h);
    return h;
}

static inline void entry_set_header(uint8_t *e, uint64_t h) {
    memcpy(e, &h, sizeof h);
}

static inline void *entry_key(const tp_table *t, uint8_t *e) {
    (void)t;
    return e + 8;
}

static inline void *entry_value(const tp_table *t, uint8_t *e) {
    return e + 8 + t->key_size;
}

void tp_table_init(tp_table *t, const tp_env *env, size_t key_size, size_t value_size,
                   uint32_t count_max, const uint8_t hash_key_in[16]) {
    TP_ASSERT(key_size >= 1 && key_size <= 64);
    TP_ASSERT(value_size <= 4096);
    TP_ASSERT(count_max >= 1 && count_max <= (1u << 28));
    memset(t, 0, sizeof *t);
    t->env = env;
    memcpy(t->hash_key, hash_key_in, 16);
    t->key_size = (uint32_t)key_size;
    t->value_size = (uint32_t)value_size;
    t->entry_size = (uint32_t)((8 + key_size + value_size + 7) & ~(size_t)7);
    t->count_max = count_max;
}

void tp_table_deinit(tp_table *t) {
    tp_env_free(t->env, t->entries, (size_t)t->entries_cap * t->entry_size);
    tp_env_free(t->env, t->index, (size_t)t->index_cap * sizeof(uint32_t));
    t->entries = NULL;
    t->index = NULL;
    t->entries_cap = t->index_cap = t->entries_len = t->count = 0;
}

/* Finds the index slot holding key, or UINT32_MAX. */
static uint32_t find_slot(const tp_table *t, const void *key, uint64_t h) {
    if (t->index_cap == 0) return UINT32_MAX;
    uint32_t mask = t->index_cap - 1;
    for (uint32_t i = (uint32_t)h & mask, n = 0; n < t->index_cap; i = (i + 1) & mask, n++) {
        uint32_t s = t->index[i];
        if (s == SLOT_EMPTY) return UINT32_MAX;
        if (s == SLOT_DELETED) continue;
        uint8_t *e = entry_at(t, s - 1);
        if ((entry_header(e) & ~LIVE_BIT) == h && memcmp(entry_key(t, e), key, t->key_size) == 0)
            return i;
    }
    return UINT32_MAX;
}

static void index_put(tp_table *t, uint64_t h, uint32_t pos) {
    uint32_t mask = t->index_cap - 1;
    uint32_t i = (uint32_t)h & mask;
    while (t->index[i] != SLOT_EMPTY && t->index[i] != SLOT_DELETED) i = (i + 1) & mask;
    t->index[i] = pos + 1;
}

/* Squeezes out dead entries (keeping order) and rebuilds an index of index_cap slots. */
static tp_err rebuild(tp_table *t, uint32_t entries_cap, uint32_t index_cap) {
    uint8_t *entries = t->entries;
    if (entries_cap != t->entries_cap) {
        entries = tp_env_realloc(t->env, t->entries, (size_t)t->entries_cap * t->entry_size,
                                 (size_t)entries_cap * t->entry_size);
        if (entries == NULL) return TP_ERR_NOMEM;
        t->entries = entries;
        t->entries_cap = entries_cap;
    }
    uint32_t *index = t->index;
    if (index_cap != t->index_cap) {
        index = tp_env_alloc(t->env, (size_t)index_cap * sizeof(uint32_t));
        if (index == NULL) return TP_ERR_NOMEM;
        tp_env_free(t->env, t->index, (size_t)t->index_cap * sizeof(uint32_t));
        t->index = index;
        t->index_cap = index_cap;
    }
    memset(t->index, 0, (size_t)t->index_cap * sizeof(uint32_t));
    uint32_t out = 0;
    for (uint32_t pos = 0; pos < t->entries_len; pos++) {
        uint8_t *e = entry_at(t, pos);
        uint64_t h = entry_header(e);
        if (!(h & LIVE_BIT)) continue;
        if (out != pos) memmove(entry_at(t, out), e, t->entry_size);
        index_put(t, h & ~LIVE_BIT, out);
        out++;
    }
    t->entries_len = out;
    return TP_OK;
}

/* Makes room for one more entry at the end of the entry array. */
static tp_err ensure_room(tp_table *t) {
    uint32_t need = t->count + 1;
    bool entries_full = t->entries_len >= t->entries_cap;
    bool index_loaded = (uint64_t)(t->entries_len + 1) * 4 > (uint64_t)t->index_cap * 3;
    if (!entries_full && !index_loaded) return TP_OK;
    uint32_t entries_cap = t->entries_cap;
    if (need > entries_cap / 2 || entries_cap == 0) {
        /* Grow: double, but never beyond what count_max can use. */
        entries_cap = entries_cap == 0 ? 8 : entries_cap * 2;
        if (entries_cap > t->count_max) entries_cap = t->count_max;
        if (entries_cap < need) entries_cap = need;
        /* Never shrink: rebuild compacts after resizing, so the array must still
         * hold every used slot. */
        if (entries_cap < t->entries_cap) entries_cap = t->entries_cap;
    }
    uint32_t index_cap = 8;
    while ((uint64_t)index_cap * 3 < (uint64_t)(entries_cap + 1) * 4) index_cap *= 2;
    return rebuild(t, entries_cap, index_cap);
}

void *tp_table_get(const tp_table *t, const void *key) {
    if (t->count == 0) return NULL;
    uint64_t h = hash_key(t, key);
    uint32_t slot = find_slot(t, key, h);
    if (slot == UINT32_MAX) return NULL;
    return entry_value(t, entry_at(t, t->index[slot] - 1));
}

tp_err tp_table_insert(tp_table *t, const void *key, void **value) {
    TP_ASSERT(value != NULL);
    uint64_t h = hash_key(t, key);
    uint32_t slot = find_slot(t, key, h);
    if (slot != UINT32_MAX) {
        *value = entry_value(t, entry_at(t, t->index[slot] - 1));
        return TP_ERR_EXISTS;
    }
    if (t->count >= t->count_max) return TP_ERR_LIMIT;
    TP_TRY(ensure_room(t));
    uint32_t pos = t->entries_len++;
    uint8_t *e = entry_at(t, pos);
    memset(e, 0, t->entry_size);
    entry_set_header(e, h | LIVE_BIT);
    memcpy(entry_key(t, e), key, t->key_size);
    index_put(t, h, pos);
    t->count++;
    *value = entry_value(t, e);
    return TP_OK;
}

static void kill_slot(tp_table *t, uint32_t slot) {
    uint8_t *e = entry_at(t, t->index[slot] - 1);
    entry_set_header(e, entry_header(e) & ~LIVE_BIT);
    t->index[slot] = SLOT_DELETED;
    t->count--;
    if (t->count == 0) {
        /* Nothing is alive: start over so the array does not fill with holes. */
        t->entries_len = 0;
        memset(t->index, 0, (size_t)t->index_cap * sizeof(uint32_t));
    }
}

bool tp_table_remove(tp_table *t, const void *key) {
    if (t->count == 0) return false;
    uint64_t h = hash_key(t, key);
    uint32_t slot = find_slot(t, key, h);
    if (slot == UINT32_MAX) return false;
    kill_slot(t, slot);
    return true;
}

void tp_table_clear(tp_table *t) {
    t->count = 0;
    t->entries_len = 0;
    if (t->index != NULL) memset(t->index, 0, (size_t)t->index_cap * sizeof(uint32_t));
}

bool tp_table_next(const tp_table *t, uint32_t *it, const void **key, void **value) {
    while (*it < t->entries_len) {
        uint8_t *e = entry_at(t, (*it)++);
        if (entry_header(e) & LIVE_BIT) {
            if (key != NULL) *key = entry_key(t, e);
            if (value != NULL) *value = entry_value(t, e);
            return true;
        }
    }
    return false;
}

void tp_table_remove_current(tp_table *t, uint32_t it) {
    TP_ASSERT(it >= 1 && it <= t->entries_len);
    uint8_t *e = entry_at(t, it - 1);
    uint64_t h = entry_header(e);
    TP_ASSERT(h & LIVE_BIT);
    uint32_t slot = find_slot(t, entry_key(t, e), h & ~LIVE_BIT);
    TP_ASSERT(slot != UINT32_MAX);
    kill_slot(t, slot);
}

bool tp_table_first(const tp_table *t, const void **key, void **value) {
    uint32_t it = 0;
    return tp_table_next(t, &it, key, value);
}

bool tp_table_touch(tp_table *t, const void *key) {
    if (t->count == 0) return false;
    uint64_t h = hash_key(t, key);
    if (find_slot(t, key, h) == UINT32_MAX) return false;
    if (ensure_room(t) != TP_OK) {
        /* No memory to move it: the order is a hint (LRU), keep the entry in place. */
        return true;
    }
    uint32_t slot = find_slot(t, key, h); /* positions may have moved */
    uint32_t old_pos = t->index[slot] - 1;
    if (old_pos == t->entries_len - 1) return true; /* already the newest */
    uint32_t new_pos = t->entries_len++;
    memcpy(entry_at(t, new_pos), entry_at(t, old_pos), t->entry_size);
    uint8_t *old = entry_at(t, old_pos);
    entry_set_header(old, entry_header(old) & ~LIVE_BIT);
    t->index[slot] = new_pos + 1;
    return true;
}
