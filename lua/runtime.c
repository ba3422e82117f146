/* lua/runtime.c — the scenario runtime: a sandboxed Lua 5.4 state with a memory limit,
 * deterministic math.random and pairs, parameters (--set), virtual time (at / after /
 * every / run_for / run_until), assertions (check / fail), metric samples, and tl_state,
 * which runs one script and records it (lua/scenario.h; API: lua/README.md). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lua/invariants.h"
#include "lua/tl_impl.h"

static const char run_key = 'R'; /* registry key: the tl_state */

tl_state *tl_run_of(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &run_key);
    tl_state *run = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return run;
}

/* ------------------------------------------------------------------------------------ */
/* Allocator with a limit (lauxlib's l_alloc plus accounting)                           */

static void *tl_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    tl_state *run = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        run->mem_used -= old;
        return NULL;
    }
    if (nsize > old && run->mem_used - old + nsize > run->mem_limit) {
        run->mem_limit_hit = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) run->mem_used = run->mem_used - old + nsize;
    return p;
}

/* ------------------------------------------------------------------------------------ */
/* math.random: xoshiro256** seeded from the run seed (splitmix64)                      */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(tl_state *run, uint64_t seed) {
    uint64_t x = seed ^ 0x5c3e4a1d2b6f7089ull; /* a stream apart from the world's */
    for (int i = 0; i < 4; i++) run->rng[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(tl_state *run) {
    uint64_t *s = run->rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n] without bias (rejection on a power-of-two mask, as Lua's project). */
static uint64_t rng_upto(tl_state *run, uint64_t n) {
    if (n == 0) return 0;
    uint64_t lim = n;
    lim |= lim >> 1; lim |= lim >> 2; lim |= lim >> 4;
    lim |= lim >> 8; lim |= lim >> 16; lim |= lim >> 32;
    uint64_t r;
    while ((r = rng_next(run) & lim) > n) {
    }
    return r;
}

static int l_random(lua_State *L) {
    tl_state *run = tl_run_of(L);
    lua_Integer lo, hi;
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, (lua_Number)(rng_next(run) >> 11) * 0x1.0p-53);
        return 1;
    case 1:
        lo = 1;
        hi = luaL_checkinteger(L, 1);
        if (hi == 0) { /* math.random(0): a whole random integer, as in Lua 5.4 */
            lua_pushinteger(L, (lua_Integer)rng_next(run));
            return 1;
        }
        break;
    case 2:
        lo = luaL_checkinteger(L, 1);
        hi = luaL_checkinteger(L, 2);
        break;
    default:
        return luaL_error(L, "math.random: expected 0, 1 or 2 arguments, got %d", lua_gettop(L));
    }
    luaL_argcheck(L, lo <= hi, lua_gettop(L), "interval is empty");
    uint64_t r = rng_upto(run, (uint64_t)hi - (uint64_t)lo);
    lua_pushinteger(L, (lua_Integer)(r + (uint64_t)lo));
    return 1;
}

static int l_randomseed(lua_State *L) {
    if (lua_gettop(L) == 0)
        return luaL_error(L, "math.randomseed: scenarios are seeded from --seed; "
                             "math.randomseed(n) needs an explicit integer");
    rng_seed(tl_run_of(L), (uint64_t)luaL_checkinteger(L, 1));
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Argument helpers                                                                     */

int tl_type_error(lua_State *L, const char *what, const char *key, const char *expected) {
    return luaL_error(L, "%s: '%s' expected %s, got %s", what, key, expected,
                      luaL_typename(L, -1));
}

int tl_field(lua_State *L, int tidx, const char *key) {
    return lua_getfield(L, tidx, key);
}

static size_t levenshtein(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    size_t prev[41], cur[41];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c) c = prev[j] + 1;
            if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1;
            cur[j] = c;
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

void tl_check_keys(lua_State *L, int tidx, const char *const *known, const char *what) {
    tidx = lua_absindex(L, tidx);
    /* Report the smallest offending key so the message does not depend on table order. */
    char bad[64] = "";
    bool have_bad = false, bad_type = false;
    lua_pushnil(L);
    while (lua_next(L, tidx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            bad_type = true;
            continue;
        }
        const char *k = lua_tostring(L, -1);
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            if (strcmp(k, known[i]) == 0) ok = true;
        if (!ok && (!have_bad || strcmp(k, bad) < 0)) {
            snprintf(bad, sizeof bad, "%s", k);
            have_bad = true;
        }
    }
    if (!have_bad && bad_type)
        luaL_error(L, "%s: expected a table with named fields (key = value), got a list "
                      "entry or a non-string key", what);
    if (!have_bad) return;
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; known[i]; i++) {
        size_t d = levenshtein(bad, known[i]);
        if (d < best_d) {
            best_d = d;
            best = known[i];
        }
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; known[i]; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, known[i]);
    }
    luaL_pushresult(&b);
    if (best)
        luaL_error(L, "%s: unknown key '%s' (did you mean '%s'?); known keys: %s", what, bad,
                   best, lua_tostring(L, -1));
    luaL_error(L, "%s: unknown key '%s'; known keys: %s", what, bad, lua_tostring(L, -1));
}

/* Parses "250ms", "2s", "1.5min", "1h", "10us", "100ns"; a number is seconds. */
static bool parse_duration(lua_State *L, int idx, int64_t *out) {
    double v;
    const char *unit = "";
    if (lua_type(L, idx) == LUA_TNUMBER) {
        v = lua_tonumber(L, idx) * 1e9;
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        char *end = NULL;
        errno = 0;
        v = strtod(s, &end);
        if (end == s || errno) return false;
        unit = end;
        double mul;
        if (strcmp(unit, "ns") == 0) mul = 1;
        else if (strcmp(unit, "us") == 0) mul = 1e3;
        else if (strcmp(unit, "ms") == 0) mul = 1e6;
        else if (strcmp(unit, "s") == 0 || *unit == '\0') mul = 1e9;
        else if (strcmp(unit, "min") == 0) mul = 60e9;
        else if (strcmp(unit, "h") == 0) mul = 3600e9;
        else return false;
        v *= mul;
    } else {
        return false;
    }
    if (!(v >= 0) || v > 9.2e18) return false;
    *out = (int64_t)llround(v);
    return true;
}

int64_t tl_check_duration(lua_State *L, int idx, const char *what) {
    int64_t ns = 0;
    if (!parse_duration(L, idx, &ns)) {
        if (lua_type(L, idx) == LUA_TSTRING)
            luaL_error(L, "%s: expected a duration like 250ms, 2s, 1.5min, 1h (or a number "
                          "of seconds >= 0), got '%s'", what, lua_tostring(L, idx));
        luaL_error(L, "%s: expected a duration (number of seconds, or a string like '250ms'), "
                      "got %s", what, luaL_typename(L, idx));
    }
    return ns;
}

int64_t tl_opt_duration_field(lua_State *L, int tidx, const char *key, int64_t dflt,
                              const char *what) {
    int64_t v = dflt;
    if (tl_field(L, tidx, key) != LUA_TNIL) {
        char w[128];
        snprintf(w, sizeof w, "%s: '%s'", what, key);
        v = tl_check_duration(L, -1, w);
    }
    lua_pop(L, 1);
    return v;
}

/* Bytes per second: a number, or "10Mbit", "100kbit", "1MB", "2MiB", "1Gbit" (/s
 * implied). */
uint64_t tl_check_rate(lua_State *L, int idx, const char *what) {
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, idx);
        if (v >= 0 && v < 1.8e19) return (uint64_t)v;
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        char *end = NULL;
        double v = strtod(s, &end);
        static const struct {
            const char *unit;
            double bytes;
        } units[] = {{"", 1},          {"B", 1},          {"kB", 1e3},     {"MB", 1e6},
                     {"GB", 1e9},      {"KiB", 1024},     {"MiB", 1048576}, {"GiB", 1073741824},
                     {"bit", 0.125},   {"kbit", 125},     {"Mbit", 125e3}, {"Gbit", 125e6}};
        if (end != s && v >= 0) {
            const char *u = end;
            size_t ul = strlen(u);
            if (ul >= 2 && strcmp(u + ul - 2, "/s") == 0) ul -= 2;
            for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
                if (strlen(units[i].unit) == ul && strncmp(u, units[i].unit, ul) == 0)
                    return (uint64_t)llround(v * units[i].bytes);
        }
        luaL_error(L, "%s: expected a rate in bytes/s or a string like '10Mbit', '1MB', "
                      "'512kbit' (0 = unlimited), got '%s'", what, s);
    }
    luaL_error(L, "%s: expected a rate (bytes/s number or '10Mbit'), got %s", what,
               luaL_typename(L, idx));
    return 0;
}

/* A loss probability: a number in [0, 1] or "1.5%"; returns parts per million. */
uint32_t tl_check_ppm(lua_State *L, int idx, const char *what) {
    double v = -1;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        v = lua_tonumber(L, idx);
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        char *end = NULL;
        double p = strtod(s, &end);
        if (end != s && strcmp(end, "%") == 0) v = p / 100;
    }
    if (!(v >= 0 && v <= 1))
        luaL_error(L, "%s: expected a probability in [0, 1] or a percentage like '2%%'", what);
    return (uint32_t)llround(v * 1e6);
}

lua_Integer tl_opt_int_field(lua_State *L, int tidx, const char *key, lua_Integer dflt,
                             lua_Integer lo, lua_Integer hi, const char *what) {
    lua_Integer v = dflt;
    int t = tl_field(L, tidx, key);
    if (t != LUA_TNIL) {
        int isint = 0;
        v = lua_tointegerx(L, -1, &isint);
        if (!isint) tl_type_error(L, what, key, "an integer");
        if (v < lo || v > hi)
            luaL_error(L, "%s: '%s' must be in %I..%I (got %I)", what, key, (LUAI_UACINT)lo,
                       (LUAI_UACINT)hi, (LUAI_UACINT)v);
    }
    lua_pop(L, 1);
    return v;
}

bool tl_opt_bool_field(lua_State *L, int tidx, const char *key, bool dflt, const char *what) {
    bool v = dflt;
    int t = tl_field(L, tidx, key);
    if (t != LUA_TNIL) {
        if (t != LUA_TBOOLEAN) tl_type_error(L, what, key, "a boolean");
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* ------------------------------------------------------------------------------------ */
/* Caller position, errors raised by callbacks                                          */

static void caller_position(lua_State *L, int level, char *file, size_t cap, int *line) {
    lua_Debug ar;
    snprintf(file, cap, "?");
    *line = 0;
    /* Find the nearest Lua function at or above `level`. */
    for (int l = level; lua_getstack(L, l, &ar); l++) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.currentline > 0) {
            snprintf(file, cap, "%s", ar.source[0] == '@' ? ar.source + 1 : ar.short_src);
            *line = ar.currentline;
            return;
        }
    }
}

void tl_callback_error(tl_state *run) {
    lua_State *L = run->L;
    if (run->pending_error_ref == LUA_NOREF)
        run->pending_error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else
        lua_pop(L, 1);
    if (run->w) sim_world_stop(run->w);
}

/* Rethrows an error a callback raised during the last slice of virtual time. */
static void rethrow_pending(lua_State *L, tl_state *run) {
    if (run->pending_error_ref == LUA_NOREF) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->pending_error_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, run->pending_error_ref);
    run->pending_error_ref = LUA_NOREF;
    lua_error(L);
}

/* Message handler: keeps fail()'s sentinel, turns other values into strings. */
static int msgh(lua_State *L) {
    tl_state *run = tl_run_of(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->fail_sentinel_ref);
    if (lua_rawequal(L, 1, -1)) {
        lua_pop(L, 1);
        return 1;
    }
    lua_pop(L, 1);
    if (lua_type(L, 1) == LUA_TSTRING) return 1;
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    char pos[300];
    int line;
    caller_position(L, 1, pos, sizeof pos, &line);
    lua_pushfstring(L, "%s:%d: error object is a %s value", pos, line, luaL_typename(L, 1));
    return 1;
}

/* Calls the function on top of the stack (nargs = 0) under msgh. On error the error
 * value is left on the stack and false is returned. */
static bool protected_call(lua_State *L) {
    int base = lua_gettop(L);
    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    int rc = lua_pcall(L, 0, 0, base);
    lua_remove(L, base);
    return rc == LUA_OK;
}

/* ------------------------------------------------------------------------------------ */
/* Timers: at / after / every                                                           */

typedef struct tl_timer {
    tp_timer t;
    tl_state *run;
    int fn_ref;
    int self_ref;      /* keeps the userdata alive while armed */
    int64_t period_ns; /* 0: one-shot */
    int64_t stop_ns;   /* periodic: last allowed firing time (INT64_MAX: none) */
} tl_timer;

static void timer_release(tl_timer *tm) {
    lua_State *L = tm->run->L;
    if (tm->self_ref != LUA_NOREF) {
        int ref = tm->self_ref;
        tm->self_ref = LUA_NOREF;
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
    }
}

static void timer_fire(void *arg) {
    tl_timer *tm = arg;
    tl_state *run = tm->run;
    lua_State *L = run->L;
    /* Keep the userdata reachable during the call even if it releases itself. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, tm->self_ref);
    int64_t now = sim_world_now_ns(run->w);
    bool periodic = tm->period_ns > 0 && now + tm->period_ns <= tm->stop_ns;
    if (periodic)
        sim_world_timer_start(run->w, &tm->t, now + tm->period_ns);
    else
        timer_release(tm);
    lua_rawgeti(L, LUA_REGISTRYINDEX, tm->fn_ref);
    run->in_callback = true;
    bool ok = protected_call(L);
    run->in_callback = false;
    if (!ok) tl_callback_error(run);
    lua_pop(L, 1); /* the userdata */
}

static int timer_cancel(lua_State *L) {
    tl_timer *tm = luaL_checkudata(L, 1, TL_MT_TIMER);
    if (tm->run->w && tp_timer_is_armed(&tm->t)) sim_world_timer_stop(tm->run->w, &tm->t);
    timer_release(tm);
    return 0;
}

static int timer_gc(lua_State *L) {
    tl_timer *tm = luaL_checkudata(L, 1, TL_MT_TIMER);
    /* Only reachable by the GC once unarmed (self_ref) or when the world is gone. */
    if (tm->run->w && tp_timer_is_armed(&tm->t)) sim_world_timer_stop(tm->run->w, &tm->t);
    if (tm->fn_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, tm->fn_ref);
    tm->fn_ref = LUA_NOREF;
    return 0;
}

static int timer_pending(lua_State *L) {
    tl_timer *tm = luaL_checkudata(L, 1, TL_MT_TIMER);
    lua_pushboolean(L, tp_timer_is_armed(&tm->t));
    return 1;
}

static int new_timer(lua_State *L, int fn_idx, int64_t first_ns, int64_t period_ns,
                     int64_t stop_ns) {
    tl_state *run = tl_run_of(L);
    sim_world *w = tl_world(L);
    luaL_checktype(L, fn_idx, LUA_TFUNCTION);
    tl_timer *tm = lua_newuserdatauv(L, sizeof *tm, 0);
    memset(tm, 0, sizeof *tm);
    tm->run = run;
    tm->fn_ref = LUA_NOREF;
    tm->self_ref = LUA_NOREF;
    luaL_setmetatable(L, TL_MT_TIMER);
    tp_timer_init(&tm->t, timer_fire, tm);
    tm->period_ns = period_ns;
    tm->stop_ns = stop_ns;
    lua_pushvalue(L, fn_idx);
    tm->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    tm->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    sim_world_timer_start(w, &tm->t, first_ns);
    return 1;
}

static int l_at(lua_State *L) {
    int64_t t = tl_check_duration(L, 1, "at(time, fn): time");
    int64_t now = sim_world_now_ns(tl_world(L));
    if (t < now)
        return luaL_error(L, "at(%f s): that virtual time is in the past (now %f s); use "
                             "after(delay, fn) for relative times", (double)t / 1e9,
                          (double)now / 1e9);
    return new_timer(L, 2, t, 0, INT64_MAX);
}

static int l_after(lua_State *L) {
    int64_t d = tl_check_duration(L, 1, "after(delay, fn): delay");
    return new_timer(L, 2, sim_world_now_ns(tl_world(L)) + d, 0, INT64_MAX);
}

static int l_every(lua_State *L) {
    int64_t p = tl_check_duration(L, 1, "every(period, fn, opts): period");
    if (p <= 0) return luaL_error(L, "every(period, fn): period must be > 0");
    int64_t now = sim_world_now_ns(tl_world(L));
    int64_t start = now + p, stop = INT64_MAX;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        static const char *const keys[] = {"start", "stop", NULL};
        tl_check_keys(L, 3, keys, "every(period, fn, opts)");
        start = tl_opt_duration_field(L, 3, "start", start, "every(period, fn, opts)");
        stop = tl_opt_duration_field(L, 3, "stop", stop, "every(period, fn, opts)");
        if (start < now) return luaL_error(L, "every: 'start' is in the past");
    }
    return new_timer(L, 2, start, p, stop);
}

/* ------------------------------------------------------------------------------------ */
/* Running the clock                                                                    */

static void set_error(tl_state *run, const char *msg) {
    if (run->verdict == TL_VERDICT_ERROR) return;
    run->verdict = TL_VERDICT_ERROR;
    snprintf(run->message, sizeof run->message, "%s", msg);
}

#define SLICE_NS 100000000LL /* progress and condition checks every 100 ms virtual */

static void check_unused_params(lua_State *L, tl_state *run);

static void progress(tl_state *run) {
    if (!run->cfg->progress) return;
    sim_stats st;
    sim_world_stats(run->w, &st);
    tl_progress p = {sim_world_now_ns(run->w), st.events_executed, sim_world_host_count(run->w)};
    run->cfg->progress(run->cfg->progress_arg, &p);
}

static double wall_seconds(void);

/* --max-wall / --max-events: the message of the run that passed one (set once). */
static bool limits_passed(tl_state *run) {
    if (run->limit_hit) return true;
    const tl_run_config *cfg = run->cfg;
    double now = run->wall_deadline_s > 0 ? wall_seconds() : 0;
    sim_stats st = {0};
    if (run->w) sim_world_stats(run->w, &st);
    char m[512];
    if (cfg->max_events > 0 && st.events_executed >= cfg->max_events) {
        snprintf(m, sizeof m, "%s: stopped after --max-events %llu simulator events, at "
                 "virtual time %.3f s (an endless scenario? raise --max-events if the run is "
                 "just long)", cfg->script_path, (unsigned long long)cfg->max_events,
                 run->w ? (double)sim_world_now_ns(run->w) / 1e9 : 0.0);
    } else if (run->wall_deadline_s > 0 && now > run->wall_deadline_s) {
        snprintf(m, sizeof m, "%s: stopped after --max-wall %g s of wall time, at virtual "
                 "time %.3f s after %llu simulator events (an endless loop in the scenario? "
                 "raise --max-wall if the run is just long)", cfg->script_path,
                 cfg->max_wall_s, run->w ? (double)sim_world_now_ns(run->w) / 1e9 : 0.0,
                 (unsigned long long)st.events_executed);
    } else {
        return false;
    }
    run->limit_hit = true;
    set_error(run, m);
    return true;
}

/* Lua count hook (installed only with a limit): a scenario looping in Lua, in its body or
 * in a callback, stops at the next check. */
static void limit_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    tl_state *run = tl_run_of(L);
    if (!run->finishing && limits_passed(run)) luaL_error(L, "%s", run->message);
}

/* Checked by the simulator between windows (simnet/README.md "Parallel runs") while a
 * limit is set: the events run so far, and the clock. World context: it writes the
 * run's state (limit_hit, the message), so it runs on the main thread, at barriers. */
static bool limit_pred(void *arg) {
    tl_state *run = arg;
    if (run->limit_hit) return true;
    bool wall_due = run->wall_deadline_s > 0;
    if (run->cfg->max_events > 0) {
        sim_stats st;
        sim_world_stats(run->w, &st);
        if (st.events_executed >= run->cfg->max_events) return limits_passed(run);
    }
    return wall_due && limits_passed(run);
}

static void enter_run(lua_State *L, tl_state *run, const char *fn) {
    if (run->in_callback || run->running)
        luaL_error(L, "%s cannot be called from inside an at/after/every callback (callbacks "
                      "run at one virtual instant; schedule more work with after())", fn);
    check_unused_params(L, run);
}

/* Advances to t_end in slices; with a condition (function at cond_idx), checks it
 * every check_ns and stops early when it is true. Returns the condition's value. */
static bool advance(lua_State *L, tl_state *run, int64_t t_end, int cond_idx, int64_t check_ns) {
    run->running = true;
    bool met = false;
    int64_t slice = cond_idx ? check_ns : SLICE_NS;
    for (;;) {
        if (cond_idx) {
            lua_pushvalue(L, cond_idx);
            run->in_callback = true;
            int rc = lua_pcall(L, 0, 1, 0);
            run->in_callback = false;
            if (rc != LUA_OK) {
                run->running = false;
                lua_error(L);
            }
            met = lua_toboolean(L, -1);
            lua_pop(L, 1);
            if (met) break;
        }
        int64_t now = sim_world_now_ns(run->w);
        if (now >= t_end) break;
        int64_t next = t_end - now > slice ? now + slice : t_end;
        /* Host events run from here (host context, lua/README.md "Threads"): every
         * partition's state is sized first; after, the rows they buffered are written
         * (the barrier hook does it between windows). */
        tl_parts_sync(run);
        if (run->wall_deadline_s > 0 || run->cfg->max_events > 0) {
            /* the same events as sim_run_until, stopping early past a limit */
            bool stopped = sim_run_until_pred(run->w, limit_pred, run, next);
            tl_parts_sync(run);
            if (stopped && run->limit_hit) {
                run->running = false;
                luaL_error(L, "%s", run->message);
            }
        } else {
            sim_run_until(run->w, next);
            tl_parts_sync(run);
        }
        progress(run);
        if (run->pending_error_ref != LUA_NOREF) {
            run->running = false;
            rethrow_pending(L, run);
        }
    }
    run->running = false;
    return met;
}

static int l_run_for(lua_State *L) {
    tl_state *run = tl_run_of(L);
    int64_t d = tl_check_duration(L, 1, "run_for(duration)");
    sim_world *w = tl_world(L);
    enter_run(L, run, "run_for");
    advance(L, run, sim_world_now_ns(w) + d, 0, 0);
    return 0;
}

static int l_run_until(lua_State *L) {
    tl_state *run = tl_run_of(L);
    sim_world *w = tl_world(L);
    if (lua_type(L, 1) != LUA_TFUNCTION) {
        /* run_until(time): absolute virtual time */
        int64_t t = tl_check_duration(L, 1, "run_until(time | cond, deadline)");
        enter_run(L, run, "run_until");
        if (t > sim_world_now_ns(w)) advance(L, run, t, 0, 0);
        lua_pushboolean(L, 1);
        return 1;
    }
    int64_t deadline = tl_check_duration(L, 2, "run_until(cond, deadline): deadline");
    int64_t check_ns = SLICE_NS;
    if (!lua_isnoneornil(L, 3)) check_ns = tl_check_duration(L, 3, "run_until: check_every");
    if (check_ns <= 0) return luaL_error(L, "run_until: check_every must be > 0");
    enter_run(L, run, "run_until");
    bool met = advance(L, run, deadline, 1, check_ns);
    lua_pushboolean(L, met);
    return 1;
}

static int l_now(lua_State *L) {
    tl_state *run = tl_run_of(L);
    lua_pushnumber(L, run->w ? (lua_Number)sim_world_now_ns(run->w) / 1e9 : 0.0);
    return 1;
}

static int l_now_ns(lua_State *L) {
    tl_state *run = tl_run_of(L);
    lua_pushinteger(L, run->w ? sim_world_now_ns(run->w) : 0);
    return 1;
}

static int l_duration(lua_State *L) {
    lua_pushnumber(L, (lua_Number)tl_check_duration(L, 1, "duration(x)") / 1e9);
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* Assertions, samples, output                                                          */

static int64_t now_or_zero(tl_state *run) { return run->w ? sim_world_now_ns(run->w) : 0; }

static void record_check(lua_State *L, tl_state *run, bool passed, const char *msg) {
    char file[300];
    int line;
    caller_position(L, 1, file, sizeof file, &line);
    if (run->res) tl_results_assertion(run->res, now_or_zero(run), file, line, msg, passed);
    if (passed) {
        run->checks_passed++;
        return;
    }
    run->checks_failed++;
    FILE *out = run->cfg->out ? run->cfg->out : stderr;
    if (run->cfg->out_clear_line) fputs("\r\033[K", out);
    fprintf(out, "FAIL %s:%d: %s (at virtual time %.3f s)\n", file, line, msg,
            (double)now_or_zero(run) / 1e9);
    if (run->verdict == TL_VERDICT_PASS) {
        run->verdict = TL_VERDICT_FAIL;
        snprintf(run->message, sizeof run->message, "%s:%d: %s", file, line, msg);
    }
}

static int l_check(lua_State *L) {
    luaL_checkany(L, 1);
    const char *msg = luaL_optstring(L, 2, "check failed");
    bool passed = lua_toboolean(L, 1);
    record_check(L, tl_run_of(L), passed, msg);
    lua_pushboolean(L, passed);
    return 1;
}

static int l_fail(lua_State *L) {
    tl_state *run = tl_run_of(L);
    const char *msg = luaL_optstring(L, 1, "fail() called");
    record_check(L, run, false, msg);
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->fail_sentinel_ref);
    return lua_error(L);
}

static int l_sample(lua_State *L) {
    tl_state *run = tl_run_of(L);
    const char *metric = luaL_checkstring(L, 1);
    lua_Number v;
    if (lua_type(L, 2) == LUA_TBOOLEAN)
        v = lua_toboolean(L, 2);
    else if (lua_type(L, 2) == LUA_TNUMBER)
        v = lua_tonumber(L, 2);
    else
        return luaL_error(L, "sample(metric, value, node): value expected a number, got %s",
                          luaL_typename(L, 2));
    int64_t node = -1;
    if (!lua_isnoneornil(L, 3)) node = tl_check_host(L, 3, "sample(metric, value, node)");
    if (run->res) tl_results_sample(run->res, now_or_zero(run), node, metric, v);
    return 0;
}

/* metric(name, {summary = "last"|"max"|"min"|"mean"|"time_to", threshold = x, unit = "s"}):
 * how the report summarises a sample() metric (its key-figure row, the campaign's
 * response); time_to is the first time the value reaches >= threshold. */
static int l_metric(lua_State *L) {
    tl_state *run = tl_run_of(L);
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const known[] = {"summary", "threshold", "unit", NULL};
    lua_pushnil(L);
    while (lua_next(L, 2) != 0) {
        lua_pop(L, 1);
        bool ok = false;
        for (size_t i = 0; known[i] && lua_type(L, -1) == LUA_TSTRING; i++)
            ok = ok || strcmp(lua_tostring(L, -1), known[i]) == 0;
        if (!ok)
            return luaL_error(L, "metric('%s', {...}): unknown key %s; known keys: summary, "
                                 "threshold, unit",
                              name, lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
    }
    lua_getfield(L, 2, "summary");
    const char *summary = luaL_optstring(L, -1, "last");
    static const char *const summaries[] = {"last", "max", "min", "mean", "time_to", NULL};
    bool valid = false;
    for (size_t i = 0; summaries[i]; i++) valid = valid || strcmp(summary, summaries[i]) == 0;
    if (!valid)
        return luaL_error(L, "metric('%s', {summary = '%s'}): expected last, max, min, mean or "
                             "time_to",
                          name, summary);
    lua_getfield(L, 2, "threshold");
    double threshold = 0.0 / 0.0;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            return luaL_error(L, "metric('%s', {threshold = ...}): expected a number, got %s",
                              name, luaL_typename(L, -1));
        threshold = lua_tonumber(L, -1);
    }
    bool time_to = strcmp(summary, "time_to") == 0;
    if (time_to != (threshold == threshold))
        return luaL_error(L, time_to ? "metric('%s', {summary = 'time_to'}): give the threshold "
                                       "the value must reach (threshold = x)"
                                     : "metric('%s', {threshold = ...}): a threshold only goes "
                                       "with summary = 'time_to'",
                          name);
    lua_getfield(L, 2, "unit");
    const char *unit = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    if (run->res) tl_results_metric_info(run->res, name, summary, threshold, unit);
    return 0;
}

static int l_print(lua_State *L) {
    tl_state *run = tl_run_of(L);
    FILE *out = run->cfg->out ? run->cfg->out : stderr;
    int n = lua_gettop(L);
    if (run->cfg->out_clear_line) fputs("\r\033[K", out);
    fprintf(out, "[%10.3f s] ", (double)now_or_zero(run) / 1e9);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) fputc('\t', out);
        fwrite(s, 1, len, out);
        lua_pop(L, 1);
    }
    fputc('\n', out);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Parameters                                                                           */

static int l_param(lua_State *L) {
    tl_state *run = tl_run_of(L);
    const char *name = luaL_checkstring(L, 1);
    int dt = lua_type(L, 2);
    if (dt != LUA_TNUMBER && dt != LUA_TSTRING && dt != LUA_TBOOLEAN && dt != LUA_TNIL)
        return luaL_error(L, "param('%s', default): default expected a number, string or "
                             "boolean, got %s", name, luaL_typename(L, 2));
    const char *given = NULL;
    for (size_t i = 0; i < run->cfg->param_count; i++)
        if (strcmp(run->cfg->params[i].key, name) == 0) {
            given = run->cfg->params[i].value; /* the last --set wins */
            run->param_used[i] = true;
        }
    if (!given) {
        lua_settop(L, 2);
    } else if (dt == LUA_TNUMBER && lua_isinteger(L, 2)) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(given, &end, 0);
        if (end == given || *end || errno) {
            run->param_error = true;
            return luaL_error(L, "--set %s=%s: expected an integer (the default is %I)", name,
                              given, (LUAI_UACINT)lua_tointeger(L, 2));
        }
        lua_pushinteger(L, v);
    } else if (dt == LUA_TNUMBER) {
        char *end = NULL;
        errno = 0;
        double v = strtod(given, &end);
        if (end == given || *end || errno) {
            run->param_error = true;
            return luaL_error(L, "--set %s=%s: expected a number (the default is %f)", name, given,
                              (double)lua_tonumber(L, 2));
        }
        lua_pushnumber(L, v);
    } else if (dt == LUA_TBOOLEAN) {
        if (!strcmp(given, "true") || !strcmp(given, "1") || !strcmp(given, "yes"))
            lua_pushboolean(L, 1);
        else if (!strcmp(given, "false") || !strcmp(given, "0") || !strcmp(given, "no"))
            lua_pushboolean(L, 0);
        else {
            run->param_error = true;
            return luaL_error(L, "--set %s=%s: expected true or false", name, given);
        }
    } else {
        lua_pushstring(L, given);
    }
    /* Record the effective value. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->params_ref);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    return 1;
}

static void check_unused_params(lua_State *L, tl_state *run) {
    for (size_t i = 0; i < run->cfg->param_count; i++) {
        if (run->param_used[i]) continue;
        /* List the parameters the script read so far (sorted for a stable message). */
        lua_rawgeti(L, LUA_REGISTRYINDEX, run->params_ref);
        const char *names[64];
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, -2) && n < 64) {
            lua_pop(L, 1);
            names[n++] = lua_tostring(L, -1); /* kept alive by the table */
        }
        for (size_t a = 1; a < n; a++)
            for (size_t b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
                const char *t = names[b];
                names[b] = names[b - 1];
                names[b - 1] = t;
            }
        luaL_Buffer buf;
        luaL_buffinit(L, &buf);
        for (size_t k = 0; k < n; k++) {
            if (k) luaL_addstring(&buf, ", ");
            luaL_addstring(&buf, names[k]);
        }
        if (n == 0) luaL_addstring(&buf, "none");
        luaL_pushresult(&buf);
        run->param_error = true;
        const char *best = NULL;
        size_t best_d = 3;
        for (size_t k = 0; k < n; k++) {
            size_t d = levenshtein(run->cfg->params[i].key, names[k]);
            if (d < best_d) {
                best_d = d;
                best = names[k];
            }
        }
        char hint[128] = "";
        if (best) snprintf(hint, sizeof hint, " (did you mean '%s'?)", best);
        luaL_error(L, "--set %s=%s: %s has no parameter '%s'%s; parameters read with param(): "
                      "%s (read every parameter before the first run_for)",
                   run->cfg->params[i].key, run->cfg->params[i].value, run->cfg->script_path,
                   run->cfg->params[i].key, hint, lua_tostring(L, -1));
    }
}

/* JSON of the params table, keys sorted. Pushes the string. */
static void push_params_json(lua_State *L, tl_state *run) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->params_ref);
    int t = lua_gettop(L);
    const char *names[256];
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, t) && n < 256) {
        lua_pop(L, 1);
        names[n++] = lua_tostring(L, -1);
    }
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
            const char *x = names[b];
            names[b] = names[b - 1];
            names[b - 1] = x;
        }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '{');
    for (size_t k = 0; k < n; k++) {
        if (k) luaL_addchar(&b, ',');
        luaL_addchar(&b, '"');
        luaL_addstring(&b, names[k]); /* parameter names are identifiers in practice */
        luaL_addstring(&b, "\":");
        lua_getfield(L, t, names[k]);
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *s = lua_tostring(L, -1);
            lua_pop(L, 1);
            luaL_addchar(&b, '"');
            for (; *s; s++) {
                char esc[8];
                if (*s == '"' || *s == '\\') {
                    luaL_addchar(&b, '\\');
                    luaL_addchar(&b, *s);
                } else if ((unsigned char)*s < 0x20) {
                    snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)*s);
                    luaL_addstring(&b, esc);
                } else {
                    luaL_addchar(&b, *s);
                }
            }
            luaL_addchar(&b, '"');
        } else if (lua_type(L, -1) == LUA_TBOOLEAN) {
            luaL_addstring(&b, lua_toboolean(L, -1) ? "true" : "false");
            lua_pop(L, 1);
        } else {
            char num[64];
            if (lua_isinteger(L, -1))
                snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, -1));
            else
                snprintf(num, sizeof num, "%.17g", (double)lua_tonumber(L, -1));
            lua_pop(L, 1);
            luaL_addstring(&b, num);
        }
    }
    luaL_addchar(&b, '}');
    luaL_pushresult(&b);
    lua_remove(L, t);
}

/* ------------------------------------------------------------------------------------ */
/* The sandbox                                                                          */

/* Deterministic pairs: keys in sorted order (booleans, then numbers, then strings);
 * tables, functions and userdata as keys have no stable order and raise an error.
 * Honours __pairs. */
static const char prelude[] =
    "local type, next, error, sort, getmetatable, rawget = type, next, error, table.sort,\n"
    "  getmetatable, rawget\n"
    "local rank = {boolean = 1, number = 2, string = 3}\n"
    "local function keycmp(a, b)\n"
    "  local ta, tb = type(a), type(b)\n"
    "  if ta ~= tb then return rank[ta] < rank[tb] end\n"
    "  if ta == 'boolean' then return (not a) and b end\n"
    "  return a < b\n"
    "end\n"
    "function sorted_pairs(t)\n"
    "  if type(t) ~= 'table' then\n"
    "    error('sorted_pairs: expected a table, got ' .. type(t), 2)\n"
    "  end\n"
    "  local keys, n = {}, 0\n"
    "  for k in next, t do\n"
    "    if not rank[type(k)] then\n"
    "      error('pairs: a table with ' .. type(k) .. ' keys has no deterministic order; '\n"
    "        .. 'index it by numbers or strings, or iterate with next() knowing the order '\n"
    "        .. 'may change between runs', 2)\n"
    "    end\n"
    "    n = n + 1; keys[n] = k\n"
    "  end\n"
    "  sort(keys, keycmp)\n"
    "  local i = 0\n"
    "  return function()\n"
    "    i = i + 1\n"
    "    local k = keys[i]\n"
    "    if k == nil then return nil end\n"
    "    return k, t[k]\n"
    "  end, t, nil\n"
    "end\n"
    "function pairs(t)\n"
    "  local mt = getmetatable(t)\n"
    "  if type(mt) == 'table' and rawget(mt, '__pairs') then return mt.__pairs(t) end\n"
    "  return sorted_pairs(t)\n"
    "end\n"
    "-- pick(list, k): k distinct elements of list, chosen with math.random\n"
    "function pick(list, k)\n"
    "  local n = #list\n"
    "  if k > n then error('pick: asked for ' .. k .. ' of ' .. n .. ' elements', 2) end\n"
    "  local idx = {}\n"
    "  for i = 1, n do idx[i] = i end\n"
    "  local out = {}\n"
    "  for i = 1, k do\n"
    "    local j = math.random(i, n)\n"
    "    idx[i], idx[j] = idx[j], idx[i]\n"
    "    out[i] = list[idx[i]]\n"
    "  end\n"
    "  return out\n"
    "end\n";

static int l_load(lua_State *L) {
    /* load(chunk [, chunkname [, mode [, env]]]) with text mode forced. */
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    int rc = luaL_loadbufferx(L, s, len, name, "t");
    if (rc != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (!lua_isnoneornil(L, 4)) {
        lua_pushvalue(L, 4);
        if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    }
    return 1;
}

static int l_unavailable(lua_State *L) {
    return luaL_error(L, "%s is not available in scenarios (they are sandboxed for "
                         "determinism: no files, no wall clock)",
                      lua_tostring(L, lua_upvalueindex(1)));
}

static void open_sandbox(lua_State *L) {
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                    {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8},
                                    {LUA_COLIBNAME, luaopen_coroutine},
                                    {NULL, NULL}};
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    /* No files, no binary chunks, no C modules. */
    static const char *const removed[] = {"dofile", "loadfile", "require", NULL};
    for (size_t i = 0; removed[i]; i++) {
        lua_pushstring(L, removed[i]);
        lua_pushcclosure(L, l_unavailable, 1);
        lua_setglobal(L, removed[i]);
    }
    lua_pushcfunction(L, l_load);
    lua_setglobal(L, "load");
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_getglobal(L, "math");
    lua_pushcfunction(L, l_random);
    lua_setfield(L, -2, "random");
    lua_pushcfunction(L, l_randomseed);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);
    static const luaL_Reg globals[] = {{"param", l_param},       {"check", l_check},
                                       {"fail", l_fail},         {"sample", l_sample},
                                       {"metric", l_metric},
                                       {"print", l_print},       {"log", l_print},
                                       {"now", l_now},           {"now_ns", l_now_ns},
                                       {"at", l_at},             {"after", l_after},
                                       {"every", l_every},       {"run_for", l_run_for},
                                       {"run_until", l_run_until}, {"duration", l_duration},
                                       {NULL, NULL}};
    lua_pushglobaltable(L);
    luaL_setfuncs(L, globals, 0);
    lua_pop(L, 1);
    luaL_newmetatable(L, TL_MT_TIMER);
    static const luaL_Reg timer_methods[] = {{"cancel", timer_cancel},
                                             {"pending", timer_pending},
                                             {NULL, NULL}};
    luaL_newlib(L, timer_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, timer_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, timer_cancel);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_setglobal(L, "sim");
    tl_open_world(L);
    tl_open_nodes(L);
    tl_open_invariants(L); /* sim.invariants (lua/invariants.h) */
    if (luaL_loadbufferx(L, prelude, sizeof prelude - 1, "=prelude", "t") != LUA_OK ||
        lua_pcall(L, 0, 0, 0) != LUA_OK)
        TP_ASSERT(!"the Lua prelude must load");
}

/* ------------------------------------------------------------------------------------ */
/* tl_state                                                                               */

const char *tl_verdict_name(tl_verdict v) {
    switch (v) {
    case TL_VERDICT_PASS: return "pass";
    case TL_VERDICT_FAIL: return "fail";
    case TL_VERDICT_ERROR: return "error";
    }
    return "?";
}

void tl_run_config_default(tl_run_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->log_level = TL_LOG_INFO;
    cfg->code_version = "unknown";
    cfg->build_dirty = -1;
}

static double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


/* Runs the script body; handles the outcome of the error value. */
static void run_script(tl_state *run) {
    lua_State *L = run->L;
    int rc = luaL_loadfilex(L, run->cfg->script_path, "t");
    if (rc != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        if (rc == LUA_ERRFILE)
            snprintf(run->err, sizeof run->err, "%s (check the path of the scenario)",
                     m ? m : "cannot read the script");
        set_error(run, rc == LUA_ERRFILE ? run->err : (m ? m : "cannot load the script"));
        lua_pop(L, 1);
        return;
    }
    if (protected_call(L)) {
        /* Parameters never read are a mistake in the command line. */
        for (size_t i = 0; i < run->cfg->param_count; i++)
            if (!run->param_used[i]) {
                char m[512];
                run->param_error = true;
                snprintf(m, sizeof m, "--set %s=%s: %s has no parameter '%s' (see the "
                         "parameters at the top of the scenario)", run->cfg->params[i].key,
                         run->cfg->params[i].value, run->cfg->script_path,
                         run->cfg->params[i].key);
                set_error(run, m);
                break;
            }
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->fail_sentinel_ref);
    bool is_fail = lua_rawequal(L, -1, -2);
    lua_pop(L, 1);
    if (!is_fail) {
        const char *m = lua_tostring(L, -1);
        char buf[1024];
        if (run->mem_limit_hit)
            snprintf(buf, sizeof buf, "%s: the scenario exceeded its Lua memory limit of %zu "
                     "MiB", run->cfg->script_path, run->mem_limit >> 20);
        else
            snprintf(buf, sizeof buf, "%s", m ? m : "error");
        set_error(run, buf);
    }
    lua_pop(L, 1);
}

/* Lua's warning function: Lua reports errors in __gc finalizers as warnings ("error in
 * __gc" + message, in pieces: tocont). Collected into run->warn_buf. */
static void warn_collect(void *ud, const char *msg, int tocont) {
    tl_state *run = ud;
    if (!run->warn_error && run->warn_len == 0 && msg[0] == '@') return; /* control message */
    size_t n = strlen(msg);
    if (run->warn_len + n >= sizeof run->warn_buf) n = sizeof run->warn_buf - 1 - run->warn_len;
    memcpy(run->warn_buf + run->warn_len, msg, n);
    run->warn_len += n;
    run->warn_buf[run->warn_len] = '\0';
    if (!tocont) {
        if (strstr(run->warn_buf, "__gc")) run->warn_error = true;
        if (!run->warn_error) run->warn_len = 0; /* other warnings: not ours to keep */
    }
}

tl_verdict tl_run(const tl_run_config *cfg, tl_run_result *out) {
    memset(out, 0, sizeof *out);
    out->run_id = -1;
    double wall0 = wall_seconds();
    tl_state *run = calloc(1, sizeof *run);
    TP_ASSERT(run != NULL);
    run->cfg = cfg;
    run->mem_limit = cfg->lua_memory_limit_bytes ? cfg->lua_memory_limit_bytes : (size_t)1 << 30;
    run->pending_error_ref = LUA_NOREF;
    run->param_used = calloc(cfg->param_count + 1, sizeof(bool));
    TP_ASSERT(run->param_used != NULL);
    rng_seed(run, cfg->seed);

    if (cfg->seed > (uint64_t)INT64_MAX) {
        set_error(run, "--seed must be at most 9223372036854775807");
        goto report;
    }
    if (cfg->db_path) {
        char err[512];
        run->res = tl_results_open(cfg->db_path, cfg->log_level, err, sizeof err);
        if (!run->res) {
            set_error(run, err);
            goto report;
        }
        char started[64];
        time_t t = time(NULL);
        struct tm tmv;
        gmtime_r(&t, &tmv);
        strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tmv);
        tl_run_info info = {cfg->script_path, cfg->seed,         cfg->code_version,
                            started,           cfg->command,      cfg->build_commit,
                            cfg->build_dirty,  cfg->build_id};
        if (!tl_results_run_begin(run->res, &info)) {
            set_error(run, tl_results_error(run->res));
            goto report;
        }
        out->run_id = tl_results_run_id(run->res);
    }

    run->L = lua_newstate(tl_alloc, run);
    TP_ASSERT(run->L != NULL);
    lua_State *L = run->L;
    lua_setwarnf(L, warn_collect, run);
    lua_pushlightuserdata(L, run);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &run_key);
    lua_newtable(L);
    run->fail_sentinel_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    if (cfg->crypto_fast) { /* runs.parameters says the run did not use real crypto */
        lua_pushliteral(L, "fast");
        lua_setfield(L, -2, "crypto");
    }
    run->params_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    open_sandbox(L);
    if (cfg->max_wall_s > 0) run->wall_deadline_s = wall0 + cfg->max_wall_s;
    if (cfg->max_wall_s > 0 || cfg->max_events > 0)
        lua_sethook(L, limit_hook, LUA_MASKCOUNT, 100000);

    run_script(run);
    if (run->verdict == TL_VERDICT_PASS && run->checks_failed > 0) run->verdict = TL_VERDICT_FAIL;

    if (run->w) {
        out->trace_hash = sim_world_trace_hash(run->w);
        out->virtual_ns = sim_world_now_ns(run->w);
        sim_stats st;
        sim_world_stats(run->w, &st);
        out->events_executed = st.events_executed;
        out->hosts = sim_world_host_count(run->w);
        out->threads = sim_world_thread_count(run->w);
        out->partitions = sim_world_part_count(run->w);
        snprintf(out->threads_note, sizeof out->threads_note, "%s", sim_world_threads_note(run->w));
        out->lookahead_ns = sim_world_lookahead_ns(run->w);
        sim_world_run_stats(run->w, &out->run_stats);
        run->finishing = true;
        tl_nodes_finish(run);
    }
    out->nodes = run->nodes;
    out->wall_s = wall_seconds() - wall0;
    if (run->res) {
        push_params_json(L, run);
        bool ended = tl_results_run_end(run->res, lua_tostring(L, -1), out->trace_hash,
                                        out->wall_s, out->virtual_ns, out->events_executed,
                                        tl_verdict_name(run->verdict),
                                        run->message[0] ? run->message : NULL);
        const char *dberr = tl_results_error(run->res);
        if (!ended || dberr) {
            /* A database that stopped taking rows is an error of the run whatever the
             * scenario's verdict: its tables are incomplete. A failed check keeps its
             * message in front. */
            const char *what = dberr ? dberr : "the results database could not finish the run";
            if (run->verdict == TL_VERDICT_PASS) {
                set_error(run, what);
            } else if (strstr(run->message, what) == NULL) {
                char m[sizeof run->message];
                snprintf(m, sizeof m, "%.600s; and the results database is incomplete: %s",
                         run->message, what);
                run->verdict = TL_VERDICT_ERROR;
                snprintf(run->message, sizeof run->message, "%s", m);
            }
        }
        lua_pop(L, 1);
    }

report:
    run->ended = true;
    out->verdict = run->verdict;
    out->param_error = run->param_error && run->verdict == TL_VERDICT_ERROR;
    snprintf(out->message, sizeof out->message, "%s", run->message);
    out->checks_passed = run->checks_passed;
    out->checks_failed = run->checks_failed;
    if (run->w) {
        sim_world_destroy(run->w);
        run->w = NULL;
    }
    tl_nodes_free(run);
    tl_parts_free(run);
    free(run->blocks);
    free(run->b58_cache);
    if (run->L) lua_close(run->L);
    if (run->warn_error) {
        /* a finalizer failed during teardown: a misuse of the API, the run's error */
        char m[sizeof out->message];
        snprintf(m, sizeof m, "%s: error in a __gc finalizer during teardown: %s",
                 cfg->script_path, run->warn_buf);
        if (out->verdict != TL_VERDICT_ERROR) {
            out->verdict = TL_VERDICT_ERROR;
            snprintf(out->message, sizeof out->message, "%s", m);
        }
        if (run->res) (void)tl_results_run_verdict(run->res, "error", out->message);
    }
    tl_results_close(run->res);
    free(run->param_used);
    free(run);
    return out->verdict;
}
