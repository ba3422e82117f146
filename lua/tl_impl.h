/* lua/tl_impl.h — internals shared by the files of lua/ (runtime.c: the Lua state,
 * sandbox, time and assertions; world.c: world, hosts and faults; nodes.c: nodes, the
 * connection tap and overlay queries). Not a public header. */
#ifndef TP_LUA_TL_IMPL_H
#define TP_LUA_TL_IMPL_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "demo/demo.h"
#include "lua/results.h"
#include "lua/scenario.h"
#include "simnet/sim.h"

typedef struct tl_app tl_app;

typedef struct tl_state {
    const tl_run_config *cfg;
    lua_State *L;
    sim_world *w;
    tl_results *res;
    /* Lua allocator accounting */
    size_t mem_used, mem_limit;
    bool mem_limit_hit;
    /* math.random */
    uint64_t rng[4];
    /* world */
    uint32_t region_count;
    char region_names[SIM_REGIONS_MAX][32];
    sim_world_config wcfg;
    sim_latency latency[SIM_REGIONS_MAX * SIM_REGIONS_MAX];
    /* apps, indexed by host */
    tl_app **apps;
    uint32_t apps_cap;
    uint32_t nodes;
    bool finishing;              /* the script ended: halts do not log */
    /* running the clock */
    bool in_callback;            /* inside an at/every callback */
    bool running;                /* inside run_for / run_until */
    int pending_error_ref;       /* LUA_NOREF, or the error raised by a callback */
    int fail_sentinel_ref;       /* the value fail() raises */
    int params_ref;              /* table: param name -> effective value */
    bool *param_used;            /* per cfg->params entry */
    /* verdict */
    tl_verdict verdict;
    char message[1024];
    uint32_t checks_passed, checks_failed;
    uint64_t event_counts[TP_EVENT_KIND_COUNT];
    /* scratch */
    char err[256];
} tl_state;

/* The run of a Lua state (stored in the registry). */
tl_state *tl_run_of(lua_State *L);

/* Argument helpers: raise "file:line: what: expected X, got Y" errors. */
int64_t tl_check_duration(lua_State *L, int idx, const char *what);
int64_t tl_opt_duration_field(lua_State *L, int tidx, const char *key, int64_t dflt,
                              const char *what);
uint64_t tl_check_rate(lua_State *L, int idx, const char *what);
uint32_t tl_check_ppm(lua_State *L, int idx, const char *what);
/* Checks that table tidx only has the given keys (NULL-terminated list); raises
 * "what: unknown key 'x' (did you mean 'y'?); known keys: ...". */
void tl_check_keys(lua_State *L, int tidx, const char *const *known, const char *what);
/* Pushes field `key` of table tidx and returns its type. */
int tl_field(lua_State *L, int tidx, const char *key);
lua_Integer tl_opt_int_field(lua_State *L, int tidx, const char *key, lua_Integer dflt,
                             lua_Integer lo, lua_Integer hi, const char *what);
bool tl_opt_bool_field(lua_State *L, int tidx, const char *key, bool dflt, const char *what);
/* Raises an error naming the field and the expected type. */
int tl_type_error(lua_State *L, const char *what, const char *key, const char *expected);

/* The world must exist (sim.world{} called); raises otherwise. */
sim_world *tl_world(lua_State *L);
/* Host userdata */
void tl_push_host(lua_State *L, uint32_t index);
/* Accepts a host or a node userdata; returns the host index. */
uint32_t tl_check_host(lua_State *L, int idx, const char *what);
bool tl_test_host(lua_State *L, int idx, uint32_t *index);
/* The host indices of a host, a node or an array of them, in a userdata pushed on the
 * stack (garbage-collected; pop it when done). */
uint32_t *tl_check_host_list(lua_State *L, int idx, const char *what, size_t *count);

void tl_open_world(lua_State *L);  /* sim.world, hosts, faults (world.c) */
void tl_open_nodes(lua_State *L);  /* sim.demo_node, queries (nodes.c) */

/* The simnet event sink (world.c). */
void tl_on_event(void *arg, uint32_t host, int64_t time_ns, const tp_event *ev);
/* Called when a Lua error escapes a callback: records it and stops the world. */
void tl_callback_error(tl_state *run);
/* End of run: write open connections and deliveries, halt every app (nodes.c). */
void tl_nodes_finish(tl_state *run);
void tl_nodes_free(tl_state *run);
/* After sim_host_start from Lua: raises the error if the host's node failed to start. */
void tl_nodes_check_started(lua_State *L, uint32_t host);
uint32_t tl_nodes_running(tl_state *run);

/* Format helpers */
void tl_format_point(const tp_point *p, char *buf, size_t cap);

#define TL_MT_HOST "tidepool.host"
#define TL_MT_NODE "tidepool.node"
#define TL_MT_TIMER "tidepool.timer"
#define TL_MT_PARTITION "tidepool.partition"

#endif
