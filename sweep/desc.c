/* sweep/desc.c — sweep descriptions: evaluate the Lua file in a sandbox, validate the
 * table it returns, expand grid x draws x seeds into numbered tasks with stable ids.
 *
 * The sandbox follows lua/runtime.c's (no io, os, package, debug; no dofile, loadfile,
 * require; text-only load) and goes further: math.random is removed (random values
 * come from `draws`, seeded from the description, so the task list is the same on
 * every machine), and an instruction limit stops a runaway loop. Errors raised while
 * the file runs carry FILE:LINE (Lua's own); errors found while validating the
 * returned table name the file and the key ("sweep.lua: params.nodes[2]: ...").
 *
 * Draws: splitmix64 from draws.seed; for draw i, one value per drawn parameter in
 * sorted-name order. Floats are formatted with %.9g, so a value is the same text on
 * every machine (log_uniform relies on libm's exp/log; results could in principle
 * differ in the last digit between libm versions). */
#include <errno.h>
#include <inttypes.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sweep/sweep.h"

#define DIST_MT "tidepool.sweep.distribution"
#define LIST_VALUES_MAX 100000
#define INSTRUCTIONS_MAX 100000000 /* the count hook fires once, after this many */
/* The scenarios' Lua memory limit (lua/runtime.c, lua_memory_limit_bytes' default). */
#define LUA_MEMORY_MAX ((size_t)1 << 30)

typedef enum dist_kind { DIST_UNIFORM, DIST_INTEGER, DIST_LOG_UNIFORM, DIST_CHOICE } dist_kind;

typedef struct sw_value {
    sw_kind kind;
    char text[SW_VALUE_MAX];
} sw_value;

/* One named parameter: fixed (1 value), a grid axis (n values) or drawn. */
typedef struct axis {
    char name[SW_NAME_MAX];
    size_t count;
    sw_value *values;  /* grid/fixed values, or choice() values */
    bool drawn;
    dist_kind dist;
    double lo, hi;     /* uniform / log_uniform */
    int64_t ilo, ihi;  /* integer */
} axis;

typedef struct loader {
    const char *path;
    char *err;
    size_t err_cap;
    axis axes[SW_PARAMS_MAX];
    size_t axis_count;
    uint64_t *seeds;
    size_t seed_count;
    size_t draw_count;
    uint64_t draw_seed;
} loader;

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* ---- the sandbox ----------------------------------------------------------------- */

typedef struct mem_account {
    size_t used, limit;
    bool hit;
} mem_account;

/* lauxlib's allocator plus a limit, as lua/runtime.c's tl_alloc. */
static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    mem_account *m = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        m->used -= old;
        return NULL;
    }
    if (nsize > old && m->used - old + nsize > m->limit) {
        m->hit = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) m->used = m->used - old + nsize;
    return p;
}

static int l_unavailable(lua_State *L) {
    return luaL_error(L, "%s is not available in sweep descriptions (they are sandboxed: "
                         "no files, no clock, no unseeded randomness; use draws = {...} "
                         "for random parameter values)",
                      lua_tostring(L, lua_upvalueindex(1)));
}

static int l_load_text(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

static void push_dist(lua_State *L, const char *kind) {
    lua_newtable(L);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    luaL_setmetatable(L, DIST_MT);
}

static int l_uniform(lua_State *L) {
    lua_Number lo = luaL_checknumber(L, 1), hi = luaL_checknumber(L, 2);
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return luaL_error(L, "uniform(lo, hi): expected finite lo < hi (got %f, %f)", lo, hi);
    push_dist(L, "uniform");
    lua_pushnumber(L, lo);
    lua_setfield(L, -2, "lo");
    lua_pushnumber(L, hi);
    lua_setfield(L, -2, "hi");
    return 1;
}

static int l_log_uniform(lua_State *L) {
    lua_Number lo = luaL_checknumber(L, 1), hi = luaL_checknumber(L, 2);
    if (!(lo > 0 && lo < hi) || !isfinite(hi))
        return luaL_error(L, "log_uniform(lo, hi): expected 0 < lo < hi (got %f, %f)", lo, hi);
    push_dist(L, "log_uniform");
    lua_pushnumber(L, lo);
    lua_setfield(L, -2, "lo");
    lua_pushnumber(L, hi);
    lua_setfield(L, -2, "hi");
    return 1;
}

static int l_integer(lua_State *L) {
    lua_Integer lo = luaL_checkinteger(L, 1), hi = luaL_checkinteger(L, 2);
    if (lo > hi)
        return luaL_error(L, "integer(lo, hi): expected lo <= hi (got %lld, %lld)",
                          (long long)lo, (long long)hi);
    push_dist(L, "integer");
    lua_pushinteger(L, lo);
    lua_setfield(L, -2, "lo");
    lua_pushinteger(L, hi);
    lua_setfield(L, -2, "hi");
    return 1;
}

static int l_choice(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    if (n < 1) return luaL_error(L, "choice{...}: expected a non-empty list of values");
    push_dist(L, "choice");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "values");
    return 1;
}

/* range(first, last [, step]): the list first, first+step, ... <= last (integers). */
static int l_range(lua_State *L) {
    lua_Integer a = luaL_checkinteger(L, 1), b = luaL_checkinteger(L, 2);
    lua_Integer step = luaL_optinteger(L, 3, 1);
    if (step <= 0) return luaL_error(L, "range(first, last, step): step must be > 0");
    if (b < a) return luaL_error(L, "range(first, last): expected first <= last");
    if ((b - a) / step >= LIST_VALUES_MAX)
        return luaL_error(L, "range: more than %d values", LIST_VALUES_MAX);
    lua_newtable(L);
    lua_Integer i = 1;
    for (lua_Integer v = a; v <= b; v += step) {
        lua_pushinteger(L, v);
        lua_rawseti(L, -2, i++);
        if (b - v < step) break;
    }
    return 1;
}

static void hook_count(lua_State *L, lua_Debug *ar) {
    (void)ar;
    luaL_error(L, "the sweep description ran for too long (more than %d Lua "
                  "instructions): does it loop forever?",
               INSTRUCTIONS_MAX);
}

static void open_sandbox(lua_State *L) {
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},    {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8},  {NULL, NULL}};
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    static const char *const removed[] = {"dofile", "loadfile", "require", NULL};
    for (size_t i = 0; removed[i]; i++) {
        lua_pushstring(L, removed[i]);
        lua_pushcclosure(L, l_unavailable, 1);
        lua_setglobal(L, removed[i]);
    }
    lua_pushcfunction(L, l_load_text);
    lua_setglobal(L, "load");
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_getglobal(L, "math");
    static const char *const math_removed[] = {"random", "randomseed", NULL};
    for (size_t i = 0; math_removed[i]; i++) {
        lua_pushfstring(L, "math.%s", math_removed[i]);
        lua_pushcclosure(L, l_unavailable, 1);
        lua_setfield(L, -2, math_removed[i]);
    }
    lua_pop(L, 1);
    luaL_newmetatable(L, DIST_MT);
    lua_pop(L, 1);
    static const luaL_Reg helpers[] = {{"uniform", l_uniform}, {"log_uniform", l_log_uniform},
                                       {"integer", l_integer}, {"choice", l_choice},
                                       {"range", l_range},     {NULL, NULL}};
    lua_pushglobaltable(L);
    luaL_setfuncs(L, helpers, 0);
    lua_pop(L, 1);
    lua_sethook(L, hook_count, LUA_MASKCOUNT, INSTRUCTIONS_MAX);
}

/* ---- validation ------------------------------------------------------------------ */

static bool is_dist(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return false;
    luaL_getmetatable(L, DIST_MT);
    bool eq = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return eq;
}

static bool valid_name(const char *s) {
    if (!s[0] || strlen(s) >= SW_NAME_MAX) return false;
    if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (const char *p = s; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

static void format_number(double d, char *buf, size_t cap) {
    snprintf(buf, cap, "%.9g", d);
}

/* Converts the scalar at idx into *v; false (with err) if it is not one. */
static bool to_value(loader *ld, lua_State *L, int idx, const char *where, sw_value *v) {
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v->kind = SW_INTEGER;
            snprintf(v->text, sizeof v->text, "%lld", (long long)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d)) {
                set_err(ld->err, ld->err_cap, "%s: %s: expected a finite number", ld->path,
                        where);
                return false;
            }
            v->kind = SW_NUMBER;
            format_number(d, v->text, sizeof v->text);
        }
        return true;
    case LUA_TBOOLEAN:
        v->kind = SW_BOOLEAN;
        snprintf(v->text, sizeof v->text, "%s", lua_toboolean(L, idx) ? "true" : "false");
        return true;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (len >= SW_VALUE_MAX || strlen(s) != len) {
            set_err(ld->err, ld->err_cap,
                    "%s: %s: a string value must be shorter than %d bytes and hold no NUL",
                    ld->path, where, SW_VALUE_MAX);
            return false;
        }
        v->kind = SW_STRING;
        memcpy(v->text, s, len + 1);
        return true;
    }
    default:
        set_err(ld->err, ld->err_cap,
                "%s: %s: expected a number, string or boolean (or a list of them), got %s",
                ld->path, where, luaL_typename(L, idx));
        return false;
    }
}

/* Reads the sequence at idx (a list of scalars) into a new array. */
static bool read_list(loader *ld, lua_State *L, int idx, const char *where, sw_value **out,
                      size_t *count) {
    lua_Integer n = luaL_len(L, idx);
    if (n < 1) {
        set_err(ld->err, ld->err_cap, "%s: %s: an empty list has no values to sweep over",
                ld->path, where);
        return false;
    }
    if (n > LIST_VALUES_MAX) {
        set_err(ld->err, ld->err_cap, "%s: %s: more than %d values", ld->path, where,
                LIST_VALUES_MAX);
        return false;
    }
    /* Only 1..n: a list with holes or extra keys is a mistake worth naming. */
    lua_Integer keys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        keys++;
        lua_pop(L, 1);
    }
    if (keys != n) {
        set_err(ld->err, ld->err_cap,
                "%s: %s: expected a list {v1, v2, ...} (it has %lld keys besides 1..%lld)",
                ld->path, where, (long long)(keys - n), (long long)n);
        return false;
    }
    sw_value *vals = calloc((size_t)n, sizeof *vals);
    if (!vals) {
        set_err(ld->err, ld->err_cap, "%s: out of memory", ld->path);
        return false;
    }
    for (lua_Integer i = 1; i <= n; i++) {
        char w[256];
        snprintf(w, sizeof w, "%s[%lld]", where, (long long)i);
        lua_rawgeti(L, idx, i);
        bool ok = !lua_istable(L, -1) && to_value(ld, L, lua_gettop(L), w, &vals[i - 1]);
        if (lua_istable(L, -1))
            set_err(ld->err, ld->err_cap, "%s: %s: expected a number, string or boolean, got %s",
                    ld->path, w, is_dist(L, -1) ? "a distribution (those go in draws.params)"
                                                 : "a table");
        lua_pop(L, 1);
        if (!ok) {
            free(vals);
            return false;
        }
    }
    *out = vals;
    *count = (size_t)n;
    return true;
}

static axis *new_axis(loader *ld, const char *name, const char *where) {
    for (size_t i = 0; i < ld->axis_count; i++)
        if (strcmp(ld->axes[i].name, name) == 0) {
            set_err(ld->err, ld->err_cap,
                    "%s: %s: parameter '%s' is both in params and in draws.params; keep one",
                    ld->path, where, name);
            return NULL;
        }
    if (ld->axis_count == SW_PARAMS_MAX) {
        set_err(ld->err, ld->err_cap, "%s: %s: more than %d parameters", ld->path, where,
                SW_PARAMS_MAX);
        return NULL;
    }
    axis *a = &ld->axes[ld->axis_count++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    return a;
}

/* Collects the string keys of the table at idx, sorted; false on a non-string or
 * invalid key. */
static bool sorted_keys(loader *ld, lua_State *L, int idx, const char *where,
                        char (*keys)[SW_NAME_MAX], size_t *count) {
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING || !valid_name(lua_tostring(L, -1))) {
            char k[80];
            if (lua_type(L, -1) == LUA_TSTRING)
                snprintf(k, sizeof k, "'%.60s'", lua_tostring(L, -1));
            else
                snprintf(k, sizeof k, "a %s key", luaL_typename(L, -1));
            lua_pop(L, 1);
            set_err(ld->err, ld->err_cap,
                    "%s: %s: %s is not a parameter name (letters, digits and _, not "
                    "starting with a digit, shorter than %d bytes)",
                    ld->path, where, k, SW_NAME_MAX);
            return false;
        }
        if (n == SW_PARAMS_MAX) {
            lua_pop(L, 1);
            set_err(ld->err, ld->err_cap, "%s: %s: more than %d parameters", ld->path, where,
                    SW_PARAMS_MAX);
            return false;
        }
        snprintf(keys[n++], SW_NAME_MAX, "%s", lua_tostring(L, -1));
    }
    qsort(keys, n, SW_NAME_MAX, (int (*)(const void *, const void *))strcmp);
    *count = n;
    return true;
}

static bool read_params(loader *ld, lua_State *L, int idx) {
    char keys[SW_PARAMS_MAX][SW_NAME_MAX];
    size_t n;
    if (!sorted_keys(ld, L, idx, "params", keys, &n)) return false;
    for (size_t i = 0; i < n; i++) {
        char where[128];
        snprintf(where, sizeof where, "params.%s", keys[i]);
        lua_getfield(L, idx, keys[i]);
        int v = lua_gettop(L);
        axis *a = new_axis(ld, keys[i], where);
        bool ok = a != NULL;
        if (ok && is_dist(L, v)) {
            set_err(ld->err, ld->err_cap,
                    "%s: %s: a distribution belongs in draws = { count = N, params = { %s = "
                    "... } }; params takes values or lists of values",
                    ld->path, where, keys[i]);
            ok = false;
        } else if (ok && lua_istable(L, v)) {
            ok = read_list(ld, L, v, where, &a->values, &a->count);
            for (size_t x = 0; ok && x < a->count; x++)
                for (size_t y = 0; ok && y < x; y++)
                    if (strcmp(a->values[x].text, a->values[y].text) == 0) {
                        set_err(ld->err, ld->err_cap,
                                "%s: %s[%zu]: the value %s is listed twice (also at [%zu]); "
                                "remove one",
                                ld->path, where, x + 1, a->values[x].text, y + 1);
                        ok = false;
                    }
        } else if (ok) {
            a->values = calloc(1, sizeof *a->values);
            a->count = 1;
            ok = a->values && to_value(ld, L, v, where, &a->values[0]);
        }
        lua_pop(L, 1);
        if (!ok) return false;
    }
    return true;
}

static bool get_integer(loader *ld, lua_State *L, int idx, const char *where, int64_t min,
                        int64_t max, int64_t *out) {
    if (!lua_isinteger(L, idx)) {
        set_err(ld->err, ld->err_cap, "%s: %s: expected an integer, got %s", ld->path, where,
                lua_type(L, idx) == LUA_TNUMBER ? "a fractional number" : luaL_typename(L, idx));
        return false;
    }
    lua_Integer v = lua_tointeger(L, idx);
    if (v < min || v > max) {
        set_err(ld->err, ld->err_cap, "%s: %s: expected %" PRId64 "..%" PRId64 " (got %lld)",
                ld->path, where, min, max, (long long)v);
        return false;
    }
    *out = v;
    return true;
}

static bool check_keys(loader *ld, lua_State *L, int idx, const char *where,
                       const char *const *known) {
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        bool ok = false;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (size_t i = 0; known[i]; i++)
                if (strcmp(lua_tostring(L, -1), known[i]) == 0) ok = true;
        if (!ok) {
            char list[512] = "";
            for (size_t i = 0; known[i]; i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, known[i], sizeof list - strlen(list) - 1);
            }
            char key[80];
            if (lua_type(L, -1) == LUA_TSTRING)
                snprintf(key, sizeof key, "'%.60s'", lua_tostring(L, -1));
            else
                snprintf(key, sizeof key, "a %s key", luaL_typename(L, -1));
            lua_pop(L, 1);
            set_err(ld->err, ld->err_cap, "%s: %s: unknown key %s; known keys: %s", ld->path,
                    where, key, list);
            return false;
        }
    }
    return true;
}

static bool read_draws(loader *ld, lua_State *L, int idx) {
    static const char *const known[] = {"count", "seed", "params", NULL};
    if (!check_keys(ld, L, idx, "draws", known)) return false;
    int64_t count = 0, seed = 1;
    lua_getfield(L, idx, "count");
    bool ok = get_integer(ld, L, lua_gettop(L), "draws.count", 1, SW_TASKS_MAX, &count);
    lua_pop(L, 1);
    if (!ok) return false;
    lua_getfield(L, idx, "seed");
    if (!lua_isnil(L, -1))
        ok = get_integer(ld, L, lua_gettop(L), "draws.seed", 0, INT64_MAX, &seed);
    lua_pop(L, 1);
    if (!ok) return false;
    ld->draw_count = (size_t)count;
    ld->draw_seed = (uint64_t)seed;
    lua_getfield(L, idx, "params");
    int p = lua_gettop(L);
    if (!lua_istable(L, p)) {
        set_err(ld->err, ld->err_cap,
                "%s: draws.params: expected a table like { x = uniform(1, 10) }, got %s",
                ld->path, luaL_typename(L, p));
        lua_pop(L, 1);
        return false;
    }
    char keys[SW_PARAMS_MAX][SW_NAME_MAX];
    size_t n;
    ok = sorted_keys(ld, L, p, "draws.params", keys, &n);
    if (ok && n == 0) {
        set_err(ld->err, ld->err_cap, "%s: draws.params: no parameter to draw", ld->path);
        ok = false;
    }
    for (size_t i = 0; ok && i < n; i++) {
        char where[128];
        snprintf(where, sizeof where, "draws.params.%s", keys[i]);
        lua_getfield(L, p, keys[i]);
        int v = lua_gettop(L);
        axis *a = new_axis(ld, keys[i], where);
        ok = a != NULL;
        if (ok && !is_dist(L, v)) {
            set_err(ld->err, ld->err_cap,
                    "%s: %s: expected uniform(lo, hi), log_uniform(lo, hi), integer(lo, hi) "
                    "or choice{...}, got %s",
                    ld->path, where, luaL_typename(L, v));
            ok = false;
        }
        if (ok) {
            a->drawn = true;
            lua_getfield(L, v, "kind");
            const char *kind = lua_tostring(L, -1);
            if (strcmp(kind, "uniform") == 0)
                a->dist = DIST_UNIFORM;
            else if (strcmp(kind, "log_uniform") == 0)
                a->dist = DIST_LOG_UNIFORM;
            else if (strcmp(kind, "integer") == 0)
                a->dist = DIST_INTEGER;
            else
                a->dist = DIST_CHOICE;
            lua_pop(L, 1);
            if (a->dist == DIST_CHOICE) {
                lua_getfield(L, v, "values");
                ok = read_list(ld, L, lua_gettop(L), where, &a->values, &a->count);
                lua_pop(L, 1);
            } else {
                lua_getfield(L, v, "lo");
                lua_getfield(L, v, "hi");
                if (a->dist == DIST_INTEGER) {
                    a->ilo = lua_tointeger(L, -2);
                    a->ihi = lua_tointeger(L, -1);
                } else {
                    a->lo = lua_tonumber(L, -2);
                    a->hi = lua_tonumber(L, -1);
                }
                lua_pop(L, 2);
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return ok;
}

static bool read_seeds(loader *ld, lua_State *L, int idx, int64_t seed_base) {
    if (lua_isnil(L, idx)) {
        ld->seed_count = 1;
        ld->seeds = calloc(1, sizeof *ld->seeds);
        if (!ld->seeds) return false;
        ld->seeds[0] = (uint64_t)seed_base;
        return true;
    }
    if (lua_istable(L, idx)) {
        sw_value *vals = NULL;
        size_t n = 0;
        if (!read_list(ld, L, idx, "seeds", &vals, &n)) return false;
        ld->seeds = calloc(n, sizeof *ld->seeds);
        if (!ld->seeds) {
            free(vals);
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            char *end;
            errno = 0;
            long long v = strtoll(vals[i].text, &end, 10);
            if (vals[i].kind != SW_INTEGER || v < 0 || errno) {
                set_err(ld->err, ld->err_cap,
                        "%s: seeds[%zu]: expected an integer seed 0..9223372036854775807 "
                        "(got %s)",
                        ld->path, i + 1, vals[i].text);
                free(vals);
                return false;
            }
            for (size_t j = 0; j < i; j++)
                if (ld->seeds[j] == (uint64_t)v) {
                    set_err(ld->err, ld->err_cap, "%s: seeds[%zu]: seed %lld is listed twice",
                            ld->path, i + 1, v);
                    free(vals);
                    return false;
                }
            ld->seeds[i] = (uint64_t)v;
        }
        free(vals);
        ld->seed_count = n;
        return true;
    }
    int64_t n;
    if (!get_integer(ld, L, idx, "seeds (a count, or a list of seeds)", 1, SW_TASKS_MAX, &n))
        return false;
    if (seed_base > INT64_MAX - n) {
        set_err(ld->err, ld->err_cap, "%s: seed_base + seeds exceeds 9223372036854775807",
                ld->path);
        return false;
    }
    ld->seeds = calloc((size_t)n, sizeof *ld->seeds);
    if (!ld->seeds) return false;
    for (int64_t i = 0; i < n; i++) ld->seeds[i] = (uint64_t)(seed_base + i);
    ld->seed_count = (size_t)n;
    return true;
}

static bool read_string(loader *ld, lua_State *L, int t, const char *key, bool required,
                        char *out, size_t cap) {
    lua_getfield(L, t, key);
    bool ok = true;
    if (lua_isnil(L, -1)) {
        if (required) {
            set_err(ld->err, ld->err_cap, "%s: missing '%s' (e.g. %s)", ld->path, key,
                    strcmp(key, "scenario") == 0 ? "scenario = \"scenarios/bootstrap.lua\""
                                                 : "out = \"out/my-sweep\"");
            ok = false;
        }
    } else if (lua_type(L, -1) != LUA_TSTRING) {
        set_err(ld->err, ld->err_cap, "%s: %s: expected a string, got %s", ld->path, key,
                luaL_typename(L, -1));
        ok = false;
    } else {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (len == 0 || len >= cap || strlen(s) != len) {
            set_err(ld->err, ld->err_cap, "%s: %s: expected a non-empty string shorter than %zu",
                    ld->path, key, cap);
            ok = false;
        } else {
            memcpy(out, s, len + 1);
        }
    }
    lua_pop(L, 1);
    return ok;
}

/* ---- expansion ------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, n) without modulo bias. */
static uint64_t below(uint64_t *state, uint64_t n) {
    if (n == 0) return splitmix64(state); /* the full 2^64 range */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = splitmix64(state);
    while (r >= limit);
    return r % n;
}

static void draw_value(const axis *a, uint64_t *state, sw_value *v) {
    double u = (double)(splitmix64(state) >> 11) * 0x1.0p-53; /* [0, 1) */
    switch (a->dist) {
    case DIST_UNIFORM:
        v->kind = SW_NUMBER;
        format_number(a->lo + (a->hi - a->lo) * u, v->text, sizeof v->text);
        break;
    case DIST_LOG_UNIFORM:
        v->kind = SW_NUMBER;
        format_number(exp(log(a->lo) + (log(a->hi) - log(a->lo)) * u), v->text, sizeof v->text);
        break;
    case DIST_INTEGER: {
        uint64_t span = (uint64_t)a->ihi - (uint64_t)a->ilo + 1; /* 0: the whole range */
        v->kind = SW_INTEGER;
        snprintf(v->text, sizeof v->text, "%lld",
                 (long long)(uint64_t)((uint64_t)a->ilo + below(state, span)));
        break;
    }
    case DIST_CHOICE:
        *v = a->values[below(state, a->count)];
        break;
    }
}

static void task_id(const char *scenario, const sw_param *params, size_t n, uint64_t seed,
                    char out[17]) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, (const unsigned char *)scenario, strlen(scenario) + 1);
    for (size_t i = 0; i < n; i++) {
        crypto_generichash_update(&st, (const unsigned char *)params[i].name,
                                  strlen(params[i].name) + 1);
        crypto_generichash_update(&st, (const unsigned char *)params[i].value,
                                  strlen(params[i].value) + 1);
    }
    char s[32];
    snprintf(s, sizeof s, "seed=%" PRIu64, seed);
    crypto_generichash_update(&st, (const unsigned char *)s, strlen(s) + 1);
    unsigned char h[16];
    crypto_generichash_final(&st, h, sizeof h);
    for (size_t i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(((const sw_param *)a)->name, ((const sw_param *)b)->name);
}

static bool expand(loader *ld, sw_sweep *s) {
    size_t grid = 1;
    for (size_t i = 0; i < ld->axis_count; i++) {
        if (ld->axes[i].drawn) continue;
        if (ld->axes[i].count > SW_TASKS_MAX / grid) goto too_many;
        grid *= ld->axes[i].count;
    }
    size_t draws = ld->draw_count ? ld->draw_count : 1;
    if (draws > SW_TASKS_MAX / grid) goto too_many;
    if (ld->seed_count > SW_TASKS_MAX / (grid * draws)) goto too_many;
    size_t total = grid * draws * ld->seed_count;
    size_t np = ld->axis_count;
    s->grid_points = grid;
    s->draw_count = ld->draw_count;
    s->seeds_per_point = ld->seed_count;
    s->tasks = calloc(total, sizeof *s->tasks);
    s->param_storage = calloc(total * (np ? np : 1), sizeof *s->param_storage);
    sw_value *drawn = calloc(draws * (np ? np : 1), sizeof *drawn);
    if (!s->tasks || !s->param_storage || !drawn) {
        free(drawn);
        set_err(ld->err, ld->err_cap, "%s: out of memory for %zu tasks", ld->path, total);
        return false;
    }
    /* Draws once, shared by every grid point (draw i is the same point of the drawn
     * space at every grid point). A draw equal to an earlier one (discrete
     * distributions repeat) is dropped: the same task twice would be wasted work. */
    if (ld->draw_count) {
        uint64_t state = ld->draw_seed;
        size_t kept = 0;
        for (size_t d = 0; d < draws; d++) {
            sw_value *row = &drawn[kept * np];
            for (size_t i = 0; i < np; i++)
                if (ld->axes[i].drawn) draw_value(&ld->axes[i], &state, &row[i]);
            bool repeat = false;
            for (size_t e = 0; e < kept && !repeat; e++) {
                bool same = true;
                for (size_t i = 0; i < np && same; i++)
                    if (ld->axes[i].drawn && strcmp(drawn[e * np + i].text, row[i].text) != 0)
                        same = false;
                repeat = same;
            }
            if (!repeat) kept++;
        }
        s->draws_dropped = draws - kept;
        draws = kept;
        s->draw_count = kept;
        total = grid * draws * ld->seed_count;
    }
    size_t k = 0;
    for (size_t g = 0; g < grid; g++)
        for (size_t d = 0; d < draws; d++)
            for (size_t si = 0; si < ld->seed_count; si++, k++) {
                sw_task *t = &s->tasks[k];
                sw_param *p = &s->param_storage[k * np];
                /* Mixed radix over the grid axes in sorted-name order, the last name
                 * varying fastest. */
                size_t rest = g;
                for (size_t i = np; i-- > 0;) {
                    const axis *a = &ld->axes[i];
                    snprintf(p[i].name, sizeof p[i].name, "%s", a->name);
                    const sw_value *v;
                    if (a->drawn) {
                        v = &drawn[d * np + i];
                    } else {
                        v = &a->values[rest % a->count];
                        rest /= a->count;
                    }
                    p[i].kind = v->kind;
                    memcpy(p[i].value, v->text, sizeof p[i].value);
                }
                qsort(p, np, sizeof *p, name_cmp);
                t->index = k;
                t->seed = ld->seeds[si];
                t->params = p;
                t->param_count = np;
                task_id(s->scenario, p, np, t->seed, t->id);
            }
    free(drawn);
    s->task_count = total;
    /* Two tasks with the same id would share a directory: only possible if the grid
     * lists a value twice. */
    char (*ids)[17] = malloc(total * sizeof *ids);
    if (!ids) return true;
    for (size_t i = 0; i < total; i++) memcpy(ids[i], s->tasks[i].id, 17);
    qsort(ids, total, 17, (int (*)(const void *, const void *))strcmp);
    for (size_t i = 1; i < total; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0) {
            free(ids);
            set_err(ld->err, ld->err_cap,
                    "%s: two tasks have the same parameters and seed; remove the duplicate",
                    ld->path);
            return false;
        }
    free(ids);
    return true;
too_many:
    set_err(ld->err, ld->err_cap,
            "%s: the sweep expands to more than %d tasks (grid x draws x seeds); split it",
            ld->path, SW_TASKS_MAX);
    return false;
}

/* ---- loading --------------------------------------------------------------------- */

static void resolve_scenario(const char *sweep_path, const char *scenario, char *out,
                             size_t cap) {
    snprintf(out, cap, "%s", scenario);
    if (scenario[0] == '/' || access(scenario, R_OK) == 0) return;
    const char *slash = strrchr(sweep_path, '/');
    if (!slash) return;
    char joined[SW_PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - sweep_path), sweep_path,
                     scenario);
    if (n > 0 && (size_t)n < sizeof joined && access(joined, R_OK) == 0)
        snprintf(out, cap, "%s", joined);
}

static int run_file(lua_State *L) {
    const char *path = lua_touserdata(L, 1);
    if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
    lua_call(L, 0, 1);
    return 1;
}

static void free_loader(loader *ld) {
    for (size_t i = 0; i < ld->axis_count; i++) free(ld->axes[i].values);
    free(ld->seeds);
}

/* A --set value as Lua would write it: integer, number, boolean, else a string. */
static void push_typed(lua_State *L, const char *v) {
    char *end;
    errno = 0;
    long long i = strtoll(v, &end, 10);
    if (v[0] && *end == '\0' && errno == 0) {
        lua_pushinteger(L, i);
        return;
    }
    double d = strtod(v, &end);
    if (v[0] && *end == '\0' && isfinite(d)) {
        lua_pushnumber(L, d);
        return;
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
        lua_pushboolean(L, v[0] == 't');
        return;
    }
    lua_pushstring(L, v);
}

/* Applies --set and --seeds to the returned table at index t. */
static bool apply_overrides(loader *ld, lua_State *L, int t, const sw_overrides *ov) {
    for (size_t i = 0; i < ov->set_count; i++) {
        const char *eq = strchr(ov->sets[i], '=');
        char name[SW_NAME_MAX];
        size_t len = eq ? (size_t)(eq - ov->sets[i]) : 0;
        if (!eq || len == 0 || len >= sizeof name) {
            set_err(ld->err, ld->err_cap, "--set %s: expected name=value (e.g. --set nodes=50)",
                    ov->sets[i]);
            return false;
        }
        memcpy(name, ov->sets[i], len);
        name[len] = '\0';
        if (!valid_name(name)) {
            set_err(ld->err, ld->err_cap,
                    "--set %s: '%s' is not a parameter name (letters, digits and _)",
                    ov->sets[i], name);
            return false;
        }
        if (lua_getfield(L, t, "params") == LUA_TNIL) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setfield(L, t, "params");
        }
        if (lua_istable(L, -1)) {
            push_typed(L, eq + 1);
            lua_setfield(L, -2, name);
        }
        lua_pop(L, 1);
        /* A drawn parameter set on the command line is no longer drawn. */
        if (lua_getfield(L, t, "draws") == LUA_TTABLE) {
            int d = lua_gettop(L);
            if (lua_getfield(L, d, "params") == LUA_TTABLE) {
                lua_pushnil(L);
                lua_setfield(L, -2, name);
                lua_pushnil(L);
                bool empty = lua_next(L, -2) == 0;
                if (!empty) lua_pop(L, 2);
                if (empty) {
                    lua_pushnil(L);
                    lua_setfield(L, t, "draws");
                }
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    if (ov->seeds && ov->seeds[0]) {
        const char *p = ov->seeds;
        bool list = strchr(p, ',') != NULL;
        lua_newtable(L);
        lua_Integer k = 0;
        while (*p) {
            char *end;
            errno = 0;
            long long v = strtoll(p, &end, 10);
            if (end == p || v < 0 || errno || (*end && *end != ',')) {
                lua_pop(L, 1);
                set_err(ld->err, ld->err_cap,
                        "--seeds %s: expected a count (--seeds 20) or a list of seeds "
                        "(--seeds 3,9,27)",
                        ov->seeds);
                return false;
            }
            lua_pushinteger(L, v);
            lua_rawseti(L, -2, ++k);
            p = *end ? end + 1 : end;
        }
        if (!list) {
            lua_rawgeti(L, -1, 1);
            lua_remove(L, -2);
        }
        lua_setfield(L, t, "seeds");
    }
    return true;
}

int sw_sweep_load(const char *path, sw_sweep *out, char *err, size_t err_cap) {
    return sw_sweep_load_with(path, NULL, out, err, err_cap);
}

int sw_sweep_load_with(const char *path, const sw_overrides *ov, sw_sweep *out, char *err,
                       size_t err_cap) {
    memset(out, 0, sizeof *out);
    if (strlen(path) >= sizeof out->path) {
        set_err(err, err_cap, "%s: path too long", path);
        return -1;
    }
    if (access(path, R_OK) != 0) {
        set_err(err, err_cap, "%s: cannot read the sweep description (%s)", path,
                strerror(errno));
        return -1;
    }
    if (sodium_init() < 0) {
        set_err(err, err_cap, "libsodium failed to initialise");
        return -1;
    }
    loader ld = {.path = path, .err = err, .err_cap = err_cap};
    sw_sweep s;
    memset(&s, 0, sizeof s);
    snprintf(s.path, sizeof s.path, "%s", path);
    mem_account mem = {.limit = LUA_MEMORY_MAX};
    lua_State *L = lua_newstate(limited_alloc, &mem);
    if (!L) {
        set_err(err, err_cap, "%s: cannot create a Lua state (out of memory)", path);
        return -1;
    }
    open_sandbox(L);
    lua_pushcfunction(L, run_file);
    lua_pushlightuserdata(L, (void *)path);
    bool ok = true;
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        /* luaL_loadfile names the chunk "@path": messages already start with path. */
        if (mem.hit)
            set_err(err, err_cap,
                    "%s: the sweep description exceeded the Lua memory limit of %zu MiB (the "
                    "same as scenarios'): does it build a huge table?",
                    path, LUA_MEMORY_MAX >> 20);
        else
            set_err(err, err_cap, "%s", m ? m : "error while running the sweep description");
        ok = false;
    } else if (!lua_istable(L, -1)) {
        set_err(err, err_cap,
                "%s: the sweep description must return a table, e.g. return { scenario = "
                "\"scenarios/bootstrap.lua\", params = { nodes = {20, 40} }, seeds = 5, "
                "out = \"out/sweep\" } (got %s)",
                path, luaL_typename(L, -1));
        ok = false;
    }
    int t = lua_gettop(L);
    lua_sethook(L, NULL, 0, 0);
    static const char *const known[] = {"scenario", "params", "seeds", "seed_base", "draws",
                                        "out",      "log",    "name",  NULL};
    if (ok && ov) ok = apply_overrides(&ld, L, t, ov);
    if (ok) ok = check_keys(&ld, L, t, "the returned table", known);
    if (ok) ok = read_string(&ld, L, t, "scenario", true, s.scenario, sizeof s.scenario);
    if (ok) ok = read_string(&ld, L, t, "out", false, s.out_dir, sizeof s.out_dir);
    if (ok) ok = read_string(&ld, L, t, "name", false, s.name, sizeof s.name);
    if (ok) ok = read_string(&ld, L, t, "log", false, s.log_level, sizeof s.log_level);
    if (ok && s.log_level[0] && strcmp(s.log_level, "none") != 0 &&
        strcmp(s.log_level, "info") != 0 && strcmp(s.log_level, "debug") != 0) {
        set_err(err, err_cap, "%s: log: expected \"none\", \"info\" or \"debug\" (got \"%s\")",
                path, s.log_level);
        ok = false;
    }
    if (ok && s.name[0] && !valid_name(s.name)) {
        set_err(err, err_cap, "%s: name: letters, digits and _ only (got \"%s\")", path, s.name);
        ok = false;
    }
    if (ok) {
        lua_getfield(L, t, "params");
        if (lua_istable(L, -1))
            ok = read_params(&ld, L, lua_gettop(L));
        else if (!lua_isnil(L, -1)) {
            set_err(err, err_cap, "%s: params: expected a table like { nodes = {20, 40} }, got %s",
                    path, luaL_typename(L, -1));
            ok = false;
        }
        lua_pop(L, 1);
    }
    if (ok) {
        lua_getfield(L, t, "draws");
        if (lua_istable(L, -1))
            ok = read_draws(&ld, L, lua_gettop(L));
        else if (!lua_isnil(L, -1)) {
            set_err(err, err_cap, "%s: draws: expected { count = N, params = { ... } }, got %s",
                    path, luaL_typename(L, -1));
            ok = false;
        }
        lua_pop(L, 1);
    }
    int64_t seed_base = 1;
    if (ok) {
        lua_getfield(L, t, "seed_base");
        if (!lua_isnil(L, -1))
            ok = get_integer(&ld, L, lua_gettop(L), "seed_base", 0, INT64_MAX, &seed_base);
        lua_pop(L, 1);
    }
    if (ok) {
        lua_getfield(L, t, "seeds");
        ok = read_seeds(&ld, L, lua_gettop(L), seed_base);
        lua_pop(L, 1);
    }
    lua_close(L);
    if (ok) {
        /* Sorted names: the expansion and the ids do not depend on table order. */
        for (size_t i = 1; i < ld.axis_count; i++)
            for (size_t j = i; j > 0 && strcmp(ld.axes[j - 1].name, ld.axes[j].name) > 0; j--) {
                axis tmp = ld.axes[j];
                ld.axes[j] = ld.axes[j - 1];
                ld.axes[j - 1] = tmp;
            }
        if (!s.name[0]) {
            const char *base = strrchr(path, '/');
            base = base ? base + 1 : path;
            size_t len = strcspn(base, ".");
            if (len >= sizeof s.name) len = sizeof s.name - 1;
            memcpy(s.name, base, len);
            s.name[len] = '\0';
        }
        resolve_scenario(path, s.scenario, s.scenario_path, sizeof s.scenario_path);
        ok = expand(&ld, &s);
    }
    free_loader(&ld);
    if (!ok) {
        sw_sweep_free(&s);
        return -1;
    }
    *out = s;
    return 0;
}

void sw_sweep_free(sw_sweep *s) {
    free(s->tasks);
    free(s->param_storage);
    s->tasks = NULL;
    s->param_storage = NULL;
    s->task_count = 0;
}
