/* lua/world.c — the simulated world from Lua: sim.world{...} (regions, latency matrix,
 * jitter, TCP model), hosts (one by one or in bulk, bandwidth, loss, clock), every
 * simnet fault (partition/heal, crash/stop/start, link changes, clock step/drift, disk
 * wipe), world queries, and the event sink that feeds the results database. simnet's
 * model is documented in simnet/sim.h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/identity.h"
#include "core/point.h"
#include "lua/invariants.h"
#include "lua/tl_impl.h"

sim_world *tl_world(lua_State *L) {
    tl_state *run = tl_run_of(L);
    if (run->ended)
        luaL_error(L, "a simulation call was made after the run ended (from a __gc finalizer "
                      "during teardown?): the world is gone; do that work before the scenario "
                      "returns");
    if (!run->w)
        luaL_error(L, "no world yet: call sim.world{...} first (e.g. sim.world{regions = 1})");
    return run->w;
}

void tl_format_point(const tp_point *p, char *buf, size_t cap) {
    if (cap >= TP_POINT_TEXT_MAX) { /* the common case: no copy */
        tp_point_format(p, buf);
        return;
    }
    char t[TP_POINT_TEXT_MAX];
    snprintf(buf, cap, "%s", tp_point_format(p, t));
}

/* ------------------------------------------------------------------------------------ */
/* Regions                                                                              */

static uint32_t check_region(lua_State *L, int idx, const char *what) {
    tl_state *run = tl_run_of(L);
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *name = lua_tostring(L, idx);
        for (uint32_t r = 0; r < run->region_count; r++)
            if (strcmp(run->region_names[r], name) == 0) return r;
        luaL_error(L, "%s: unknown region '%s' (regions are named in sim.world{regions = "
                      "{...}})", what, name);
    }
    int isint = 0;
    lua_Integer r = lua_tointegerx(L, idx, &isint);
    if (!isint)
        luaL_error(L, "%s: expected a region name or number (1..%d), got %s", what,
                   (int)run->region_count, luaL_typename(L, idx));
    if (r < 1 || r > (lua_Integer)run->region_count)
        luaL_error(L, "%s: region %d out of range 1..%d", what, (int)r, (int)run->region_count);
    return (uint32_t)(r - 1);
}

static sim_latency check_latency(lua_State *L, int idx, int64_t default_jitter, const char *what) {
    sim_latency lat = {0, default_jitter};
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_rawgeti(L, idx, 1);
        lat.base_ns = tl_check_duration(L, -1, what);
        lua_pop(L, 1);
        if (lua_rawgeti(L, idx, 2) != LUA_TNIL) lat.jitter_ns = tl_check_duration(L, -1, what);
        lua_pop(L, 1);
    } else {
        lat.base_ns = tl_check_duration(L, idx, what);
    }
    return lat;
}

/* ------------------------------------------------------------------------------------ */
/* sim.world{...}                                                                       */

static int l_world(lua_State *L) {
    tl_state *run = tl_run_of(L);
    if (run->w) return luaL_error(L, "sim.world: the world exists already (call it once)");
    if (lua_isnoneornil(L, 1)) {
        lua_newtable(L);
        lua_replace(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = {
        "regions", "latency", "jitter", "default_latency", "region_loss", "wall_start",
        "loopback_latency", "segment_bytes", "send_buffer_bytes", "receive_buffer_bytes",
        "syn_timeout", "user_timeout", "keepalive_idle", "keepalive_interval",
        "keepalive_count", "rto_min", "rto_max", "disk_sync_delay", "disk_compress",
        "host_memory_limit_bytes", "tcp", NULL};
    const char *what = "sim.world{...}";
    tl_check_keys(L, 1, keys, what);
    sim_world_config *c = &run->wcfg;
    sim_world_config_default(c);
    c->seed = run->cfg->seed;
    c->crypto_fast = run->cfg->crypto_fast;
    c->event_cb = tl_on_event;
    c->event_arg = run;
    /* every barrier of the parallel simulator: buffered rows written, tallies folded */
    c->barrier_cb = tl_on_barrier;
    c->barrier_arg = run;

    /* regions: a count or a list of names */
    int t = tl_field(L, 1, "regions");
    if (t == LUA_TNIL) {
        run->region_count = 1;
    } else if (t == LUA_TNUMBER) {
        lua_Integer n = lua_tointeger(L, -1);
        if (!lua_isinteger(L, -1) || n < 1 || n > SIM_REGIONS_MAX)
            return luaL_error(L, "%s: 'regions' must be an integer in 1..%d or a list of names",
                              what, (int)SIM_REGIONS_MAX);
        run->region_count = (uint32_t)n;
    } else if (t == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        if (n < 1 || n > SIM_REGIONS_MAX)
            return luaL_error(L, "%s: 'regions' needs 1..%d names", what, (int)SIM_REGIONS_MAX);
        run->region_count = (uint32_t)n;
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
                return luaL_error(L, "%s: regions[%d] expected a name (string), got %s", what,
                                  (int)i, luaL_typename(L, -1));
            snprintf(run->region_names[i - 1], sizeof run->region_names[0], "%s",
                     lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    } else {
        return tl_type_error(L, what, "regions", "a number or a list of names");
    }
    lua_pop(L, 1);
    for (uint32_t r = 0; r < run->region_count; r++)
        if (run->region_names[r][0] == '\0')
            snprintf(run->region_names[r], sizeof run->region_names[0], "r%u", r + 1);
    c->region_count = run->region_count;

    int64_t jitter = tl_opt_duration_field(L, 1, "jitter", 1000000, what);
    if (tl_field(L, 1, "default_latency") != LUA_TNIL)
        c->default_latency = check_latency(L, lua_gettop(L), jitter, "sim.world: default_latency");
    lua_pop(L, 1);
    uint32_t n = run->region_count;
    for (uint32_t i = 0; i < n * n; i++) run->latency[i] = c->default_latency;
    t = tl_field(L, 1, "latency");
    if (t == LUA_TTABLE) {
        /* an n x n matrix, row = sender's region; entries: duration or {base, jitter} */
        if (lua_rawlen(L, -1) != n)
            return luaL_error(L, "%s: 'latency' must be a %d x %d matrix (one row per region), "
                                 "got %d rows", what, (int)n, (int)n, (int)lua_rawlen(L, -1));
        for (uint32_t i = 0; i < n; i++) {
            if (lua_rawgeti(L, -1, i + 1) != LUA_TTABLE || lua_rawlen(L, -1) != n)
                return luaL_error(L, "%s: latency[%d] must be a row of %d entries", what, (int)i + 1, (int)n);
            for (uint32_t j = 0; j < n; j++) {
                lua_rawgeti(L, -1, j + 1);
                char w[96];
                snprintf(w, sizeof w, "sim.world: latency[%u][%u]", i + 1, j + 1);
                run->latency[i * n + j] = check_latency(L, lua_gettop(L), jitter, w);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        return tl_type_error(L, what, "latency", "a matrix of durations");
    }
    lua_pop(L, 1);
    c->latency = run->latency;

    if (tl_field(L, 1, "wall_start") != LUA_TNIL) {
        if (!lua_isinteger(L, -1)) return tl_type_error(L, what, "wall_start", "Unix seconds (integer)");
        c->wall_start_ns = (int64_t)lua_tointeger(L, -1) * 1000000000;
    }
    lua_pop(L, 1);
    c->loopback_latency_ns = tl_opt_duration_field(L, 1, "loopback_latency", c->loopback_latency_ns, what);
    c->segment_bytes = (uint32_t)tl_opt_int_field(L, 1, "segment_bytes", c->segment_bytes, 0, UINT32_MAX, what);
    c->send_buffer_bytes = (uint32_t)tl_opt_int_field(L, 1, "send_buffer_bytes", c->send_buffer_bytes, 0, UINT32_MAX, what);
    c->receive_buffer_bytes = (uint32_t)tl_opt_int_field(L, 1, "receive_buffer_bytes", c->receive_buffer_bytes, 0, UINT32_MAX, what);
    c->syn_timeout_ns = tl_opt_duration_field(L, 1, "syn_timeout", c->syn_timeout_ns, what);
    c->user_timeout_ns = tl_opt_duration_field(L, 1, "user_timeout", c->user_timeout_ns, what);
    c->keepalive_idle_ns = tl_opt_duration_field(L, 1, "keepalive_idle", c->keepalive_idle_ns, what);
    c->keepalive_interval_ns = tl_opt_duration_field(L, 1, "keepalive_interval", c->keepalive_interval_ns, what);
    c->keepalive_count = (uint32_t)tl_opt_int_field(L, 1, "keepalive_count", c->keepalive_count, 0, 1000, what);
    /* rto_min at the top level is the same setting as tcp.rto_min (older scenarios) */
    c->tcp.rto_min_ns = tl_opt_duration_field(L, 1, "rto_min", c->tcp.rto_min_ns, what);
    c->rto_max_ns = tl_opt_duration_field(L, 1, "rto_max", c->rto_max_ns, what);
    c->disk_sync_delay_ns = tl_opt_duration_field(L, 1, "disk_sync_delay", c->disk_sync_delay_ns, what);
    c->disk_compress = tl_opt_bool_field(L, 1, "disk_compress", c->disk_compress, what);
    c->host_memory_limit_bytes = (uint64_t)tl_opt_int_field(L, 1, "host_memory_limit_bytes", 0, 0, INT64_MAX, what);

    /* tcp = {cc, mss, header_bytes, initial_window, slow_start_after_idle, rmem_max,
     * wmem_max, queue_bytes, rto_min, delayed_ack, quickack} (simnet/README.md "Streams") */
    t = tl_field(L, 1, "tcp");
    if (t != LUA_TNIL) {
        if (t != LUA_TTABLE) return tl_type_error(L, what, "tcp", "a table");
        int ti = lua_gettop(L);
        static const char *const tkeys[] = {
            "cc", "mss", "header_bytes", "initial_window", "slow_start_after_idle", "rmem_max",
            "wmem_max", "queue_bytes", "rto_min", "delayed_ack", "quickack", NULL};
        const char *twhat = "sim.world{tcp = {...}}";
        tl_check_keys(L, ti, tkeys, twhat);
        sim_tcp_config *tc = &c->tcp;
        int ct = tl_field(L, ti, "cc");
        if (ct != LUA_TNIL) {
            const char *cc = ct == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            if (cc != NULL && strcmp(cc, "cubic") == 0)
                tc->cc = SIM_TCP_CUBIC;
            else if (cc != NULL && strcmp(cc, "reno") == 0)
                tc->cc = SIM_TCP_RENO;
            else
                return luaL_error(L, "%s: 'cc' must be \"cubic\" or \"reno\"", twhat);
        }
        lua_pop(L, 1);
        tc->mss_bytes = (uint32_t)tl_opt_int_field(L, ti, "mss", tc->mss_bytes, 88, 65495, twhat);
        tc->header_bytes = (uint32_t)tl_opt_int_field(L, ti, "header_bytes", tc->header_bytes, 0, 1024, twhat);
        tc->initial_window_packets =
            (uint32_t)tl_opt_int_field(L, ti, "initial_window", tc->initial_window_packets, 1, 1000, twhat);
        tc->slow_start_after_idle =
            tl_opt_bool_field(L, ti, "slow_start_after_idle", tc->slow_start_after_idle, twhat);
        tc->rmem_max_bytes = (uint32_t)tl_opt_int_field(L, ti, "rmem_max", tc->rmem_max_bytes, 0, 1 << 30, twhat);
        tc->wmem_max_bytes = (uint32_t)tl_opt_int_field(L, ti, "wmem_max", tc->wmem_max_bytes, 0, 1 << 30, twhat);
        tc->queue_bytes = (uint64_t)tl_opt_int_field(L, ti, "queue_bytes", (int64_t)tc->queue_bytes, 0, INT64_MAX, twhat);
        tc->rto_min_ns = tl_opt_duration_field(L, ti, "rto_min", tc->rto_min_ns, twhat);
        tc->delayed_ack_ns = tl_opt_duration_field(L, ti, "delayed_ack", tc->delayed_ack_ns, twhat);
        tc->quickack_packets = (uint32_t)tl_opt_int_field(L, ti, "quickack", tc->quickack_packets, 0, 255, twhat);
        lua_settop(L, 1);
    } else {
        lua_pop(L, 1);
    }

    char buf[256];
    const char *bad = sim_world_config_check(c, buf, sizeof buf);
    if (bad) return luaL_error(L, "%s: %s", what, bad);
    if (sim_world_create(c, &run->w) != TP_OK)
        return luaL_error(L, "%s: cannot create the world (out of memory)", what);
    if (sim_world_set_threads(run->w, run->cfg->threads > 1 ? run->cfg->threads : 1) != TP_OK)
        return luaL_error(L, "%s: --threads must be in 1..%u (got %u)", what, SIM_THREADS_MAX,
                          run->cfg->threads);
    if (sim_world_set_partitions(run->w, run->cfg->partitions) != TP_OK)
        return luaL_error(L, "%s: --partitions must be in 1..%u (got %u)", what, SIM_THREADS_MAX,
                          run->cfg->partitions);

    /* region_loss = {{"eu", "us", 0.01}, ...} */
    if (tl_field(L, 1, "region_loss") == LUA_TTABLE) {
        int rl = lua_gettop(L);
        for (lua_Integer i = 1; lua_rawgeti(L, rl, i) == LUA_TTABLE; i++) {
            int e = lua_gettop(L);
            lua_rawgeti(L, e, 1);
            uint32_t ra = check_region(L, -1, "sim.world: region_loss entry");
            lua_rawgeti(L, e, 2);
            uint32_t rb = check_region(L, -1, "sim.world: region_loss entry");
            lua_rawgeti(L, e, 3);
            uint32_t ppm = tl_check_ppm(L, -1, "sim.world: region_loss entry");
            sim_set_region_loss(run->w, ra, rb, ppm);
            lua_settop(L, rl);
        }
    }
    lua_settop(L, 1);
    if (run->res)
        for (uint32_t r = 0; r < run->region_count; r++)
            tl_results_region(run->res, r, run->region_names[r]);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Hosts                                                                                */

typedef struct tl_host_ud {
    uint32_t index;
} tl_host_ud;

void tl_push_host(lua_State *L, uint32_t index) {
    tl_host_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->index = index;
    luaL_setmetatable(L, TL_MT_HOST);
}

bool tl_test_host(lua_State *L, int idx, uint32_t *index) {
    tl_host_ud *u = luaL_testudata(L, idx, TL_MT_HOST);
    if (!u) u = luaL_testudata(L, idx, TL_MT_NODE); /* a node is {host index} too */
    if (!u) return false;
    *index = u->index;
    return true;
}

uint32_t tl_check_host(lua_State *L, int idx, const char *what) {
    uint32_t i = 0;
    if (!tl_test_host(L, idx, &i))
        luaL_error(L, "%s: expected a host or a node, got %s", what, luaL_typename(L, idx));
    return i;
}

uint32_t *tl_check_host_list(lua_State *L, int idx, const char *what, size_t *count) {
    idx = lua_absindex(L, idx);
    uint32_t one = 0;
    if (tl_test_host(L, idx, &one)) {
        uint32_t *a = lua_newuserdatauv(L, sizeof *a, 0);
        a[0] = one;
        *count = 1;
        return a;
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "%s: expected a host, a node or a list of them, got %s", what,
                   luaL_typename(L, idx));
    size_t n = lua_rawlen(L, idx);
    uint32_t *a = lua_newuserdatauv(L, (n ? n : 1) * sizeof *a, 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        if (!tl_test_host(L, -1, &a[i]))
            luaL_error(L, "%s: entry %d expected a host or a node, got %s", what, (int)i + 1,
                       luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    *count = n;
    return a;
}

static sim_host *self_host(lua_State *L) {
    uint32_t i = tl_check_host(L, 1, "host method");
    return sim_world_host(tl_world(L), i);
}

static const char *const host_keys[] = {"count", "region", "ip", "as_number", "prefix", "up",
                                        "down", "loss", "clock_offset", "clock_drift_ppm", NULL};

static void host_template(lua_State *L, int t, sim_host_config *hc, const char *what) {
    sim_host_config_default(hc);
    if (tl_field(L, t, "region") != LUA_TNIL) hc->region = check_region(L, -1, what);
    lua_pop(L, 1);
    if (tl_field(L, t, "up") != LUA_TNIL) hc->up_bytes_per_s = tl_check_rate(L, -1, what);
    lua_pop(L, 1);
    if (tl_field(L, t, "down") != LUA_TNIL) hc->down_bytes_per_s = tl_check_rate(L, -1, what);
    lua_pop(L, 1);
    if (tl_field(L, t, "loss") != LUA_TNIL) hc->loss_ppm = tl_check_ppm(L, -1, what);
    lua_pop(L, 1);
    if (tl_field(L, t, "clock_offset") != LUA_TNIL) {
        /* may be negative: "-2s" is not a duration, so accept numbers of seconds too */
        if (lua_type(L, -1) == LUA_TNUMBER)
            hc->clock_offset_ns = (int64_t)(lua_tonumber(L, -1) * 1e9);
        else
            hc->clock_offset_ns = tl_check_duration(L, -1, what);
    }
    lua_pop(L, 1);
    hc->clock_drift_ppm = (int32_t)tl_opt_int_field(L, t, "clock_drift_ppm", 0, -1000000, 1000000, what);
}

/* Writes hosts [first, first + count) with the template's link settings. */
static void log_hosts(tl_state *run, uint32_t first, uint32_t count, const sim_host_config *hc) {
    if (!run->res) return;
    for (uint32_t i = first; i < first + count; i++) {
        sim_host *h = sim_world_host(run->w, i);
        tp_ip ip = sim_host_ip(h);
        char t[TP_IP_TEXT_MAX];
        tl_results_host(run->res, i, tp_ip_format(&ip, t), sim_host_region(h),
                        sim_host_as_number(h), hc->up_bytes_per_s, hc->down_bytes_per_s,
                        hc->loss_ppm);
    }
}

/* sim.hosts{count = N, region = r, up = ..., down = ..., loss = ...} -> list of hosts */
static int l_hosts(lua_State *L) {
    sim_world *w = tl_world(L);
    const char *what = "sim.hosts{...}";
    luaL_checktype(L, 1, LUA_TTABLE);
    tl_check_keys(L, 1, host_keys, what);
    if (tl_field(L, 1, "ip") != LUA_TNIL)
        return luaL_error(L, "%s: 'ip' is for sim.host{...} (one host); bulk hosts get "
                             "10.<region>.x.y addresses", what);
    lua_pop(L, 1);
    lua_Integer count = tl_opt_int_field(L, 1, "count", -1, 1, 1000000, what);
    if (count < 0) return luaL_error(L, "%s: 'count' is required (how many hosts)", what);
    sim_host_config hc;
    host_template(L, 1, &hc, what);
    uint32_t first = 0;
    tp_err e = sim_hosts_add_in_region(w, hc.region, (uint32_t)count, &hc, &first);
    if (e != TP_OK)
        return luaL_error(L, "%s: cannot add %d hosts: %s", what, (int)count, tp_strerror(e));
    lua_createtable(L, (int)count, 0);
    for (lua_Integer i = 0; i < count; i++) {
        tl_push_host(L, first + (uint32_t)i);
        lua_rawseti(L, -2, i + 1);
    }
    log_hosts(tl_run_of(L), first, (uint32_t)count, &hc);
    return 1;
}

/* sim.host{ip = "1.2.3.4", region = ..., as_number = ..., ...} -> host */
static int l_host(lua_State *L) {
    sim_world *w = tl_world(L);
    const char *what = "sim.host{...}";
    luaL_checktype(L, 1, LUA_TTABLE);
    tl_check_keys(L, 1, host_keys, what);
    sim_host_config hc;
    host_template(L, 1, &hc, what);
    if (tl_field(L, 1, "ip") != LUA_TSTRING)
        return luaL_error(L, "%s: 'ip' is required (a string like '192.0.2.7' or '2001:db8::1')",
                          what);
    size_t len;
    const char *ip = lua_tolstring(L, -1, &len);
    if (tp_ip_parse(ip, len, &hc.ip) != TP_OK)
        return luaL_error(L, "%s: 'ip' = '%s' is not an IPv4 or IPv6 address", what, ip);
    lua_pop(L, 1);
    hc.as_number = (uint32_t)tl_opt_int_field(L, 1, "as_number", 0, 0, UINT32_MAX, what);
    hc.subnet_prefix_bits = (uint8_t)tl_opt_int_field(L, 1, "prefix", tp_ip_is_v4mapped(&hc.ip) ? 24 : 64, 0, 128, what);
    if (tl_field(L, 1, "count") != LUA_TNIL)
        return luaL_error(L, "%s: 'count' is for sim.hosts{...}", what);
    lua_pop(L, 1);
    sim_host *h = NULL;
    tp_err e = sim_host_add(w, &hc, &h);
    if (e == TP_ERR_EXISTS) return luaL_error(L, "%s: ip '%s' is taken by another host", what, ip);
    if (e != TP_OK) return luaL_error(L, "%s: cannot add the host: %s", what, tp_strerror(e));
    tl_push_host(L, sim_host_index(h));
    log_hosts(tl_run_of(L), sim_host_index(h), 1, &hc);
    return 1;
}

static int l_host_count(lua_State *L) {
    lua_pushinteger(L, sim_world_host_count(tl_world(L)));
    return 1;
}

/* sim.host_at(id): the host with simulator index id (0-based, as in the database). */
static int l_host_at(lua_State *L) {
    sim_world *w = tl_world(L);
    lua_Integer i = luaL_checkinteger(L, 1);
    if (i < 0 || i >= (lua_Integer)sim_world_host_count(w))
        return luaL_error(L, "sim.host_at(%d): no such host (0..%d)", (int)i,
                          (int)sim_world_host_count(w) - 1);
    tl_push_host(L, (uint32_t)i);
    return 1;
}

static int h_id(lua_State *L) {
    lua_pushinteger(L, tl_check_host(L, 1, "host:id()"));
    return 1;
}
static int h_ip(lua_State *L) {
    tp_ip ip = sim_host_ip(self_host(L));
    char t[TP_IP_TEXT_MAX];
    lua_pushstring(L, tp_ip_format(&ip, t));
    return 1;
}
static int h_region(lua_State *L) {
    tl_state *run = tl_run_of(L);
    uint32_t r = sim_host_region(self_host(L));
    lua_pushstring(L, run->region_names[r]);
    lua_pushinteger(L, r + 1);
    return 2;
}
static int h_as(lua_State *L) {
    lua_pushinteger(L, sim_host_as_number(self_host(L)));
    return 1;
}
static int h_crash(lua_State *L) {
    sim_host *h = self_host(L);
    sim_host_crash(h);
    return 0;
}
static int h_stop(lua_State *L) {
    sim_host *h = self_host(L);
    int64_t grace = lua_isnoneornil(L, 2) ? 5000000000LL : tl_check_duration(L, 2, "host:stop(grace)");
    sim_host_stop(h, grace);
    return 0;
}
static int h_start(lua_State *L) {
    sim_host *h = self_host(L);
    sim_host_start(h);
    tl_nodes_check_started(L, sim_host_index(h));
    return 0;
}
static int h_is_up(lua_State *L) {
    lua_pushboolean(L, sim_host_get_state(self_host(L)) == SIM_HOST_UP);
    return 1;
}
static int h_app_running(lua_State *L) {
    lua_pushboolean(L, sim_host_app_running(self_host(L)));
    return 1;
}
static int h_set_bandwidth(lua_State *L) {
    sim_host *h = self_host(L);
    uint64_t up = tl_check_rate(L, 2, "host:set_bandwidth(up, down)");
    uint64_t down = lua_isnoneornil(L, 3) ? up : tl_check_rate(L, 3, "host:set_bandwidth(up, down)");
    sim_host_set_bandwidth(h, up, down);
    return 0;
}
static int h_set_loss(lua_State *L) {
    sim_host *h = self_host(L);
    sim_host_set_loss(h, tl_check_ppm(L, 2, "host:set_loss(p)"));
    return 0;
}
static int h_clock_step(lua_State *L) {
    sim_host *h = self_host(L);
    /* seconds, may be negative */
    lua_Number s = luaL_checknumber(L, 2);
    sim_host_clock_step(h, (int64_t)(s * 1e9));
    return 0;
}
static int h_clock_drift(lua_State *L) {
    sim_host *h = self_host(L);
    lua_Integer ppm = luaL_checkinteger(L, 2);
    if (ppm < -1000000 || ppm > 1000000)
        return luaL_error(L, "host:clock_drift(ppm): ppm must be in -1000000..1000000");
    sim_host_clock_drift(h, (int32_t)ppm);
    return 0;
}
static int h_wipe_disk(lua_State *L) {
    sim_host *h = self_host(L);
    if (sim_host_app_running(h))
        return luaL_error(L, "host:wipe_disk(): crash or stop the host first");
    sim_host_disk_wipe(h);
    return 0;
}
static int h_memory(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)sim_host_memory_bytes(self_host(L)));
    return 1;
}
static int h_tostring(lua_State *L) {
    uint32_t i = tl_check_host(L, 1, "host");
    tl_state *run = tl_run_of(L);
    if (!run->w) {
        lua_pushfstring(L, "host#%d", (int)i);
        return 1;
    }
    tp_ip ip = sim_host_ip(sim_world_host(run->w, i));
    char t[TP_IP_TEXT_MAX];
    lua_pushfstring(L, "%s#%d(%s)", luaL_testudata(L, 1, TL_MT_NODE) ? "node" : "host", (int)i,
                    tp_ip_format(&ip, t));
    return 1;
}
static int h_eq(lua_State *L) {
    uint32_t a = 0, b = 0;
    lua_pushboolean(L, tl_test_host(L, 1, &a) && tl_test_host(L, 2, &b) && a == b);
    return 1;
}

/* host:node(): the node on this host, or nil. Implemented in nodes.c through the
 * shared metatable lookups; declared here for the host table. */
static const luaL_Reg host_methods[] = {
    {"id", h_id},           {"ip", h_ip},
    {"region", h_region},   {"as_number", h_as},
    {"crash", h_crash},     {"stop", h_stop},
    {"start", h_start},     {"is_up", h_is_up},
    {"app_running", h_app_running},
    {"set_bandwidth", h_set_bandwidth},
    {"set_loss", h_set_loss},
    {"clock_step", h_clock_step},
    {"clock_drift", h_clock_drift},
    {"wipe_disk", h_wipe_disk},
    {"memory", h_memory},   {NULL, NULL}};

/* ------------------------------------------------------------------------------------ */
/* Faults and links                                                                     */

typedef struct tl_partition_ud {
    uint32_t id;
} tl_partition_ud;

static int l_partition(lua_State *L) {
    sim_world *w = tl_world(L);
    size_t na = 0, nb = 0;
    lua_settop(L, 2); /* b absent: slot 2 is nil, not the host list pushed for a */
    uint32_t *a = tl_check_host_list(L, 1, "sim.partition(a, b)", &na);
    uint32_t *b = NULL;
    if (!lua_isnoneornil(L, 2)) b = tl_check_host_list(L, 2, "sim.partition(a, b)", &nb);
    uint32_t id = 0;
    tp_err e = na == 0 ? TP_ERR_INVAL : sim_partition(w, a, na, b, nb, &id);
    if (e != TP_OK)
        return luaL_error(L, "sim.partition(a, b): %s (a must hold at least one host)",
                          tp_strerror(e));
    tl_partition_ud *p = lua_newuserdatauv(L, sizeof *p, 0);
    p->id = id;
    luaL_setmetatable(L, TL_MT_PARTITION);
    return 1;
}

static int p_heal(lua_State *L) {
    tl_partition_ud *p = luaL_checkudata(L, 1, TL_MT_PARTITION);
    sim_heal(tl_world(L), p->id);
    return 0;
}

static int l_heal_all(lua_State *L) {
    sim_heal_all(tl_world(L));
    return 0;
}

static int l_reachable(lua_State *L) {
    sim_world *w = tl_world(L);
    uint32_t a = tl_check_host(L, 1, "sim.reachable(a, b)");
    uint32_t b = tl_check_host(L, 2, "sim.reachable(a, b)");
    lua_pushboolean(L, sim_reachable(w, a, b));
    return 1;
}

static int l_set_latency(lua_State *L) {
    sim_world *w = tl_world(L);
    const char *what = "sim.set_latency(from, to, base, jitter)";
    uint32_t a = check_region(L, 1, what);
    uint32_t b = check_region(L, 2, what);
    sim_latency lat = {tl_check_duration(L, 3, what), 0};
    if (!lua_isnoneornil(L, 4)) lat.jitter_ns = tl_check_duration(L, 4, what);
    sim_set_latency(w, a, b, lat);
    return 0;
}

static int l_set_region_loss(lua_State *L) {
    sim_world *w = tl_world(L);
    const char *what = "sim.set_region_loss(a, b, p)";
    uint32_t a = check_region(L, 1, what);
    uint32_t b = check_region(L, 2, what);
    sim_set_region_loss(w, a, b, tl_check_ppm(L, 3, what));
    return 0;
}

static int l_stats(lua_State *L) {
    sim_stats st;
    sim_world_stats(tl_world(L), &st);
    lua_newtable(L);
#define F(name)                                   \
    lua_pushinteger(L, (lua_Integer)st.name);     \
    lua_setfield(L, -2, #name);
    F(events_executed) F(timers_fired) F(streams_connected_out) F(streams_established)
    F(streams_accepted) F(connects_refused) F(connects_timed_out) F(streams_reset)
    F(streams_timed_out) F(segments_delivered) F(segments_retransmitted) F(bytes_delivered)
    F(packets_sent) F(packets_lost) F(packets_dropped) F(acks_sent)
    F(data_callbacks) F(datagrams_sent) F(datagrams_delivered) F(datagrams_lost)
    F(events_reported) F(host_crashes) F(host_starts)
    F(key_agreements_computed) F(key_agreements_reused)
    F(disk_bytes_written) F(disk_bytes_stored)
#undef F
    return 1;
}

static int l_trace_hash(lua_State *L) {
    char h[17];
    snprintf(h, sizeof h, "%016" PRIx64, sim_world_trace_hash(tl_world(L)));
    lua_pushstring(L, h);
    return 1;
}

static int l_seed(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)tl_run_of(L)->cfg->seed);
    return 1;
}

/* sim.events(): counts of every event kind reported so far, {kind = count}. */
static int l_events(lua_State *L) {
    tl_state *run = tl_run_of(L);
    lua_newtable(L);
    for (int k = 0; k < TP_EVENT_KIND_COUNT; k++)
        if (run->event_counts[k]) {
            lua_pushinteger(L, (lua_Integer)run->event_counts[k]);
            lua_setfield(L, -2, tp_event_kind_name((tp_event_kind)k));
        }
    return 1;
}

static int l_regions(lua_State *L) {
    tl_state *run = tl_run_of(L);
    tl_world(L);
    lua_createtable(L, (int)run->region_count, 0);
    for (uint32_t r = 0; r < run->region_count; r++) {
        lua_pushstring(L, run->region_names[r]);
        lua_rawseti(L, -2, r + 1);
    }
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* The event sink                                                                       */

const char *tl_peer_b58(tl_state *run, const uint8_t id[TP_PEER_ID_SIZE]) {
    if (!run->b58_cache) {
        run->b58_cache = calloc(TL_B58_CACHE, sizeof *run->b58_cache);
        TP_ASSERT(run->b58_cache != NULL);
    }
    /* Peer ids are hashes: their first bytes spread evenly. */
    uint32_t slot = ((uint32_t)id[0] << 8 | id[1]) % TL_B58_CACHE;
    tl_b58_slot *e = &run->b58_cache[slot];
    if (!e->used || memcmp(e->id, id, TP_PEER_ID_SIZE) != 0) {
        tp_peer_id pid;
        memcpy(pid.bytes, id, TP_PEER_ID_SIZE);
        tp_peer_id_to_b58(&pid, e->text);
        memcpy(e->id, id, TP_PEER_ID_SIZE);
        e->used = true;
    }
    return e->text;
}

/* simnet's event sink. World context: the parallel simulator hands a window's events
 * over at its barrier, on the main thread, in (time, host, per-host sequence) order
 * (simnet/README.md), so this must not look at the host's state (it has moved on since
 * the event) nor at anything host code set just before reporting it: everything it
 * needs is in the arguments (the tap's debug level in ev->flags, TP_EVENT_LOG_DEBUG;
 * the ban grace of the invariant checker is recorded where the ban is made,
 * tl_inv_note_ban). It writes only world state: event counts, the Base58 cache, the
 * events table. */
void tl_on_event(void *arg, uint32_t host, int64_t time_ns, const tp_event *ev) {
    tl_state *run = arg;
    if ((unsigned)ev->kind < TP_EVENT_KIND_COUNT) run->event_counts[ev->kind]++;
    if (!run->res || tl_results_level(run->res) == TL_LOG_NONE) return;
    /* The tap's connection events repeat the connections table: debug level. (They are
     * reported at every level all the same, so the trace hash does not depend on it.) */
    bool debug = (ev->flags & TP_EVENT_LOG_DEBUG) ||
                 tp_event_kind_level(ev->kind) == TP_EVENT_LEVEL_DEBUG;
    if (debug && tl_results_level(run->res) < TL_LOG_DEBUG) return;
    char point[TP_POINT_TEXT_MAX];
    const char *peer_s = NULL, *point_s = NULL;
    int64_t peer_node = -1;
    if (ev->flags & TP_EVENT_HAS_PEER) peer_s = tl_peer_b58(run, ev->peer_id);
    if (ev->flags & TP_EVENT_HAS_POINT) {
        point_s = tp_point_format(&ev->point, point);
        uint32_t ph;
        if (sim_world_host_index_by_ip(run->w, &ev->point.ip, &ph)) peer_node = ph;
    }
    tl_results_event(run->res, time_ns, host, tp_event_kind_name(ev->kind), debug, peer_s,
                     peer_node, point_s, ev->code, ev->detail);
}

/* ------------------------------------------------------------------------------------ */

void tl_open_world(lua_State *L) {
    luaL_newmetatable(L, TL_MT_HOST);
    luaL_newlib(L, host_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, h_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, h_eq);
    lua_setfield(L, -2, "__eq");
    lua_pop(L, 1);
    luaL_newmetatable(L, TL_MT_PARTITION);
    lua_newtable(L);
    lua_pushcfunction(L, p_heal);
    lua_setfield(L, -2, "heal");
    lua_setfield(L, -2, "__index");
    /* local p <close> = sim.partition(a, b): healed when p goes out of scope */
    lua_pushcfunction(L, p_heal);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"world", l_world},
                                   {"hosts", l_hosts},
                                   {"host", l_host},
                                   {"host_count", l_host_count},
                                   {"host_at", l_host_at},
                                   {"regions", l_regions},
                                   {"partition", l_partition},
                                   {"heal_all", l_heal_all},
                                   {"reachable", l_reachable},
                                   {"set_latency", l_set_latency},
                                   {"set_region_loss", l_set_region_loss},
                                   {"stats", l_stats},
                                   {"trace_hash", l_trace_hash},
                                   {"seed", l_seed},
                                   {"events", l_events},
                                   {NULL, NULL}};
    lua_getglobal(L, "sim");
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}
