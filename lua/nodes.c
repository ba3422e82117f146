/* lua/nodes.c — nodes on simulated hosts, from Lua.
 *
 * - sim.demo_node / sim.demo_nodes: the demo flooding protocol (demo/demo.h) as a sim
 *   app, the node kind that runs today.
 * - sim.node / sim.hostile: the tidepool node (lua/tidepool.c, its block workload in
 *   lua/chain.c) and hostile peers (lua/hostile.c).
 * - The connection tap: every app gets a tp_env that forwards to its host's env and
 *   observes streams (connect, accept, close), so the runtime knows each node's open
 *   connections (degree, overlay components) and logs them (connections table, and
 *   connection_established / disconnection events) without the app's cooperation.
 *   For the demo a "connection" is an established TCP stream.
 * - Overlay queries: node:degree(), node:connections(), sim.degrees(), sim.components(),
 *   sim.sample_overlay{}.
 *
 * Ownership: tl_app structs (one per host that ever got a node) belong to the run and
 * are freed by tl_nodes_free after the world is destroyed; tap records are malloc'd per
 * stream and freed at on_close or when the app halts (the simulator drops a halted
 * host's streams without callbacks). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/point.h"
#include "lua/tl_impl.h"

/* ------------------------------------------------------------------------------------ */
/* The connection tap                                                                   */

static void tap_link(tl_app *a, tl_tap_stream *ts) {
    ts->next = a->streams;
    ts->prev = NULL;
    if (a->streams) a->streams->prev = ts;
    a->streams = ts;
}

static void tap_unlink(tl_app *a, tl_tap_stream *ts) {
    if (ts->prev) ts->prev->next = ts->next;
    else a->streams = ts->next;
    if (ts->next) ts->next->prev = ts->prev;
}

int64_t tl_host_of_point(tl_state *run, const tp_point *p) {
    uint32_t index;
    return sim_world_host_index_by_ip(run->w, &p->ip, &index) ? (int64_t)index : -1;
}

static void tap_established(tl_tap_stream *ts) {
    tl_app *a = ts->app;
    ts->established = true;
    ts->opened_ns = tp_env_now_ns(a->env);
    ts->peer_node = tl_host_of_point(a->run, &ts->remote);
    a->degree++;
    tp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TP_EVENT_CONNECTION_ESTABLISHED;
    ev.flags = TP_EVENT_HAS_POINT;
    ev.point = ts->remote;
    ev.code = ts->incoming;
    ev.detail = ts->incoming ? "incoming stream (tap)" : "outgoing stream (tap)";
    ev.flags |= TP_EVENT_LOG_DEBUG; /* it repeats the connections table */
    tp_env_event(a->env, &ev);
}

const char *tl_close_reason(tp_err reason) {
    switch (reason) {
    case TP_OK: return "closed";
    case TP_ERR_CANCELLED: return "reset_local";
    case TP_ERR_CONN_RESET: return "reset_remote";
    case TP_ERR_TIMEOUT: return "timeout";
    case TP_ERR_CLOSED: return "closed_remote";
    default: return tp_errname(reason);
    }
}

/* reason: a string with static storage (the row keeps the pointer). */
static void tap_record_close(tl_tap_stream *ts, int64_t closed_ns, const char *reason) {
    tl_app *a = ts->app;
    tl_state *run = a->run;
    if (!ts->established) return;
    a->degree--;
    ts->established = false;
    if (run->res && !run->finishing) {
        tl_row r = {.kind = TL_ROW_CONNECTION,
                    .u.conn = {.remote = ts->remote, .peer_node = ts->peer_node,
                               .incoming = ts->incoming, .opened_ns = ts->opened_ns,
                               .closed_ns = closed_ns, .reason = reason}};
        tl_row_put(a, closed_ns, &r);
    }
}

static void tcb_connect(void *arg, tp_stream *s) {
    tl_tap_stream *ts = arg;
    tap_established(ts);
    ts->cbs->on_connect(ts->arg, s);
}
static void tcb_data(void *arg, tp_stream *s, const uint8_t *data, size_t len) {
    tl_tap_stream *ts = arg;
    ts->cbs->on_data(ts->arg, s, data, len);
}
static void tcb_eof(void *arg, tp_stream *s) {
    tl_tap_stream *ts = arg;
    if (ts->cbs->on_eof)
        ts->cbs->on_eof(ts->arg, s);
    else
        ts->app->env->ops->stream_close(ts->app->env->ctx, s); /* env.h: EOF closes */
}
static void tcb_writable(void *arg, tp_stream *s) {
    tl_tap_stream *ts = arg;
    ts->cbs->on_writable(ts->arg, s);
}
static void tcb_close(void *arg, tp_stream *s, tp_err reason) {
    tl_tap_stream *ts = arg;
    tl_app *a = ts->app;
    if (ts->established) {
        tap_record_close(ts, tp_env_now_ns(a->env), tl_close_reason(reason));
        tp_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = TP_EVENT_DISCONNECTION;
        ev.flags = TP_EVENT_HAS_POINT;
        ev.point = ts->remote;
        ev.code = reason;
        ev.detail = tl_close_reason(reason);
        ev.flags |= TP_EVENT_LOG_DEBUG; /* it repeats the connections table */
        tp_env_event(a->env, &ev);
    }
    tap_unlink(a, ts);
    const tp_stream_cbs *cbs = ts->cbs;
    void *carg = ts->arg;
    free(ts);
    cbs->on_close(carg, s, reason);
}
static const tp_stream_cbs tap_cbs = {tcb_connect, tcb_data, tcb_eof, tcb_writable, tcb_close};

#define FWD(a) ((tl_app *)(a))->env
static int64_t t_now(void *c) { return FWD(c)->ops->now_ns(FWD(c)->ctx); }
static int64_t t_wall(void *c) { return FWD(c)->ops->wall_ns(FWD(c)->ctx); }
static void t_timer_start(void *c, tp_timer *t, int64_t d) { FWD(c)->ops->timer_start(FWD(c)->ctx, t, d); }
static void t_timer_stop(void *c, tp_timer *t) { FWD(c)->ops->timer_stop(FWD(c)->ctx, t); }

static void t_accept(void *arg, tp_listener *l, tp_stream *s, const tp_point *remote) {
    tl_listen_wrap *lw = arg;
    tl_app *a = lw->app;
    tl_tap_stream *ts = calloc(1, sizeof *ts);
    TP_ASSERT(ts != NULL);
    ts->app = a;
    ts->s = s;
    ts->remote = *remote;
    ts->incoming = true;
    a->adopting = ts;
    lw->cb(lw->arg, l, s, remote);
    a->adopting = NULL;
    if (!ts->cbs) free(ts); /* closed or reset in the accept callback */
}

static tp_err t_listen(void *c, const tp_point *local, int backlog, tp_accept_cb cb, void *arg,
                       tp_listener **out) {
    tl_app *a = c;
    tl_listen_wrap *lw = calloc(1, sizeof *lw);
    TP_ASSERT(lw != NULL);
    lw->app = a;
    lw->cb = cb;
    lw->arg = arg;
    tp_err e = a->env->ops->listen(a->env->ctx, local, backlog, t_accept, lw, out);
    if (e != TP_OK) {
        free(lw);
        return e;
    }
    lw->l = *out;
    lw->next = a->listens;
    a->listens = lw;
    return TP_OK;
}

static void t_listener_close(void *c, tp_listener *l) {
    tl_app *a = c;
    for (tl_listen_wrap **p = &a->listens; *p; p = &(*p)->next)
        if ((*p)->l == l) {
            tl_listen_wrap *lw = *p;
            *p = lw->next;
            free(lw);
            break;
        }
    a->env->ops->listener_close(a->env->ctx, l);
}

static tp_err t_connect(void *c, const tp_point *remote, const tp_stream_cbs *cbs, void *arg,
                        tp_stream **out) {
    tl_app *a = c;
    tl_tap_stream *ts = calloc(1, sizeof *ts);
    TP_ASSERT(ts != NULL);
    ts->app = a;
    ts->cbs = cbs;
    ts->arg = arg;
    ts->remote = *remote;
    tp_err e = a->env->ops->stream_connect(a->env->ctx, remote, &tap_cbs, ts, out);
    if (e != TP_OK) {
        free(ts);
        return e;
    }
    ts->s = *out;
    tap_link(a, ts);
    return TP_OK;
}

static void t_adopt(void *c, tp_stream *s, const tp_stream_cbs *cbs, void *arg) {
    tl_app *a = c;
    tl_tap_stream *ts = a->adopting;
    TP_ASSERT(ts != NULL && ts->s == s); /* env.h: adopt only inside the accept callback */
    ts->cbs = cbs;
    ts->arg = arg;
    a->env->ops->stream_adopt(a->env->ctx, s, &tap_cbs, ts);
    tap_link(a, ts);
    tap_established(ts);
}

static tp_err t_write(void *c, tp_stream *s, const uint8_t *d, size_t n, size_t *taken) {
    return FWD(c)->ops->stream_write(FWD(c)->ctx, s, d, n, taken);
}
static void t_pause(void *c, tp_stream *s) { FWD(c)->ops->stream_read_pause(FWD(c)->ctx, s); }
static void t_resume(void *c, tp_stream *s) { FWD(c)->ops->stream_read_resume(FWD(c)->ctx, s); }
static void t_shutdown(void *c, tp_stream *s) { FWD(c)->ops->stream_shutdown_write(FWD(c)->ctx, s); }
static void t_close(void *c, tp_stream *s) { FWD(c)->ops->stream_close(FWD(c)->ctx, s); }
static void t_reset(void *c, tp_stream *s) { FWD(c)->ops->stream_reset(FWD(c)->ctx, s); }
static void t_addresses(void *c, tp_stream *s, tp_point *l, tp_point *r) {
    FWD(c)->ops->stream_addresses(FWD(c)->ctx, s, l, r);
}
static tp_err t_dgram_open(void *c, const tp_point *local, tp_dgram_cb cb, void *arg, tp_dgram **out) {
    return FWD(c)->ops->dgram_open(FWD(c)->ctx, local, cb, arg, out);
}
static tp_err t_dgram_send(void *c, tp_dgram *d, const tp_point *to, const uint8_t *b, size_t n) {
    return FWD(c)->ops->dgram_send(FWD(c)->ctx, d, to, b, n);
}
static void t_dgram_close(void *c, tp_dgram *d) { FWD(c)->ops->dgram_close(FWD(c)->ctx, d); }
static void t_random(void *c, void *b, size_t n) { FWD(c)->ops->random_bytes(FWD(c)->ctx, b, n); }
static tp_err t_file_read(void *c, const char *name, uint8_t *b, size_t cap, size_t *len) {
    return FWD(c)->ops->file_read(FWD(c)->ctx, name, b, cap, len);
}
static tp_err t_file_write(void *c, const char *name, const uint8_t *d, size_t n) {
    return FWD(c)->ops->file_write(FWD(c)->ctx, name, d, n);
}
static tp_err t_file_rename(void *c, const char *from, const char *to) {
    return FWD(c)->ops->file_rename(FWD(c)->ctx, from, to);
}
static void *t_realloc(void *c, void *p, size_t o, size_t n) {
    return FWD(c)->ops->realloc(FWD(c)->ctx, p, o, n);
}
static void t_event(void *c, const tp_event *ev) { FWD(c)->ops->event(FWD(c)->ctx, ev); }
#undef FWD

static const tp_env_ops tap_ops = {
    .now_ns = t_now, .wall_ns = t_wall, .timer_start = t_timer_start, .timer_stop = t_timer_stop,
    .listen = t_listen, .listener_close = t_listener_close, .stream_connect = t_connect,
    .stream_adopt = t_adopt, .stream_write = t_write, .stream_read_pause = t_pause,
    .stream_read_resume = t_resume, .stream_shutdown_write = t_shutdown,
    .stream_close = t_close, .stream_reset = t_reset, .stream_addresses = t_addresses,
    .dgram_open = t_dgram_open, .dgram_send = t_dgram_send, .dgram_close = t_dgram_close,
    .random_bytes = t_random, .file_read = t_file_read, .file_write = t_file_write,
    .file_rename = t_file_rename, .realloc = t_realloc, .event = t_event,
};

/* The simulator dropped every stream and listener of the host without callbacks (at
 * virtual time now). */
static void tap_drop_all(tl_app *a, const char *reason, int64_t now) {
    while (a->streams) {
        tl_tap_stream *ts = a->streams;
        tap_record_close(ts, now, reason);
        tap_unlink(a, ts);
        free(ts);
    }
    while (a->listens) {
        tl_listen_wrap *lw = a->listens;
        a->listens = lw->next;
        free(lw);
    }
    a->degree = 0;
}

/* ------------------------------------------------------------------------------------ */
/* The demo as a sim app                                                                */

/* The host of the only originating demo node, or -1 (none, or several). */
static int64_t demo_originator(tl_state *run) {
    return run->demo_originators == 1 ? (int64_t)run->demo_origin : -1;
}

/* Writes the delays of the current incarnation as deliveries ("ping:<k>" = the k-th
 * distinct ping this node received; the demo does not expose sequence numbers), at
 * virtual time now. (run->demo_originators is written in world context only.) */
static void demo_log_deliveries(tl_app *a, int64_t now) {
    tl_state *run = a->run;
    if (!run->res || !a->demo) return;
    size_t n = 0;
    const int64_t *d = tp_demo_delays(a->demo, &n);
    int64_t origin = demo_originator(run);
    for (size_t k = 0; k < n; k++) {
        tl_row r = {.kind = TL_ROW_DELIVERY,
                    .u.delivery = {.origin_node = origin, .sent_ns = -1, .received_ns = -1,
                                   .delay_ns = d[k]}};
        snprintf(r.u.delivery.message, sizeof r.u.delivery.message, "ping:%zu", k + 1);
        tl_row_put(a, now, &r);
    }
}

static void app_start(void *app, sim_host *h, const tp_env *env) {
    tl_app *a = app;
    a->env = env;
    a->tap.ctx = a;
    a->tap.ops = &tap_ops;
    a->stopping = false;
    a->incarnation++;
    tp_err e = tp_demo_create(&a->tap, &a->dcfg, &a->demo);
    if (e == TP_OK) {
        e = tp_demo_start(a->demo);
        if (e != TP_OK) {
            tp_demo_destroy(a->demo);
            a->demo = NULL;
        }
    }
    if (e != TP_OK)
        snprintf(a->start_error, sizeof a->start_error, "demo node on host %u did not start: %s",
                 a->host, tp_strerror(e));
}

static void app_stop(void *app, sim_host *h, const tp_env *env) {
    tl_app *a = app;
    a->stopping = true;
    if (a->demo) tp_demo_stop(a->demo);
}

static void app_halt(void *app, sim_host *h, const tp_env *env) {
    tl_app *a = app;
    int64_t now = tp_env_now_ns(env);
    tap_drop_all(a, a->stopping ? "stopped" : "crash", now);
    if (a->demo) {
        tp_demo_get_stats(a->demo, &a->last_stats);
        if (!a->run->finishing) demo_log_deliveries(a, now);
        tp_demo_crash_drop(a->demo);
        a->demo = NULL;
    }
}

static const sim_app_ops demo_app_ops = {app_start, app_stop, app_halt};

/* ------------------------------------------------------------------------------------ */
/* Generic node queries (dispatch on kind)                                              */

bool tl_app_running(const tl_app *a) {
    return a->kind == TL_APP_DEMO ? a->demo != NULL : tl_tp_running(a);
}

uint32_t tl_app_degree(const tl_app *a) {
    return a->kind == TL_APP_DEMO ? a->degree : tl_tp_degree(a);
}

void tl_app_neighbors(tl_app *a, void (*fn)(void *arg, int64_t peer_host), void *arg) {
    if (a->kind != TL_APP_DEMO) {
        tl_tp_neighbors(a, fn, arg);
        return;
    }
    for (tl_tap_stream *ts = a->streams; ts; ts = ts->next)
        if (ts->established) fn(arg, ts->peer_node);
}

void tl_app_push_connections(lua_State *L, tl_app *a) {
    if (a->kind != TL_APP_DEMO) {
        tl_tp_push_connections(L, a);
        return;
    }
    /* In the order the streams were created (the list is newest first). */
    size_t n = 0;
    tl_tap_stream *last = NULL;
    for (tl_tap_stream *ts = a->streams; ts; ts = ts->next) last = ts;
    lua_newtable(L);
    for (tl_tap_stream *ts = last; ts; ts = ts->prev) {
        if (!ts->established) continue;
        lua_createtable(L, 0, 4);
        char pt[TP_POINT_TEXT_MAX];
        lua_pushstring(L, tp_point_format(&ts->remote, pt));
        lua_setfield(L, -2, "point");
        if (ts->peer_node >= 0) {
            tl_push_host(L, (uint32_t)ts->peer_node);
            lua_setfield(L, -2, "peer_host");
        }
        lua_pushboolean(L, ts->incoming);
        lua_setfield(L, -2, "incoming");
        lua_pushnumber(L, (lua_Number)ts->opened_ns / 1e9);
        lua_setfield(L, -2, "since");
        lua_rawseti(L, -2, (lua_Integer)++n);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Lua: nodes                                                                           */

typedef struct tl_node_ud {
    uint32_t index; /* the host index: same layout as the host userdata */
} tl_node_ud;

void tl_push_node(lua_State *L, uint32_t host) {
    tl_node_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->index = host;
    luaL_setmetatable(L, TL_MT_NODE);
}

tl_app *tl_check_node(lua_State *L, int idx) {
    tl_state *run = tl_run_of(L);
    tl_node_ud *u = luaL_checkudata(L, idx, TL_MT_NODE);
    if (run->ended || u->index >= run->apps_cap || !run->apps[u->index])
        luaL_error(L, "a node method was called after the run ended (from a __gc finalizer "
                      "during teardown?): the world and its nodes are gone; do that work "
                      "before the scenario returns");
    return run->apps[u->index];
}

tl_app *tl_new_app(tl_state *run, lua_State *L, uint32_t host, const char *what) {
    if (host >= run->apps_cap) {
        uint32_t cap = run->apps_cap ? run->apps_cap : 64;
        while (cap <= host) cap *= 2;
        tl_app **n = realloc(run->apps, cap * sizeof *n);
        TP_ASSERT(n != NULL);
        memset(n + run->apps_cap, 0, (cap - run->apps_cap) * sizeof *n);
        run->apps = n;
        run->apps_cap = cap;
    }
    if (run->apps[host])
        luaL_error(L, "%s: host %d already has a node (one node per host)", what, (int)host);
    tl_app *a = calloc(1, sizeof *a);
    TP_ASSERT(a != NULL);
    a->run = run;
    a->host = host;
    run->apps[host] = a;
    run->nodes++;
    return a;
}

static const char *const demo_keys[] = {"port", "seeds", "peers_k", "connections_max",
                                        "points_max", "delays_max", "originate", "pings",
                                        "ping_interval", "ping_start_delay",
                                        "maintenance_interval", "id", "start", NULL};

/* Parses the config at tidx into cfg (seeds into a malloc'd array *seeds). */
static void demo_config(lua_State *L, int tidx, tp_demo_config *cfg, const char *what,
                        bool *start) {
    tl_check_keys(L, tidx, demo_keys, what);
    tp_demo_config_default(cfg);
    cfg->listen.port = (uint16_t)tl_opt_int_field(L, tidx, "port", 9732, 1, 65535, what);
    cfg->peers_k = (uint32_t)tl_opt_int_field(L, tidx, "peers_k", cfg->peers_k, 1, 4096, what);
    cfg->connections_max = (uint32_t)tl_opt_int_field(L, tidx, "connections_max", cfg->connections_max, 1, 65535, what);
    cfg->points_max = (uint32_t)tl_opt_int_field(L, tidx, "points_max", cfg->points_max, 1, 1000000, what);
    cfg->delays_max = (uint32_t)tl_opt_int_field(L, tidx, "delays_max", cfg->delays_max, 0, 1000000, what);
    cfg->originate = tl_opt_bool_field(L, tidx, "originate", false, what);
    cfg->pings = (uint32_t)tl_opt_int_field(L, tidx, "pings", cfg->pings, 0, 1000000, what);
    cfg->ping_interval_ns = tl_opt_duration_field(L, tidx, "ping_interval", cfg->ping_interval_ns, what);
    cfg->ping_start_delay_ns = tl_opt_duration_field(L, tidx, "ping_start_delay", cfg->ping_start_delay_ns, what);
    cfg->maintenance_interval_ns = tl_opt_duration_field(L, tidx, "maintenance_interval", cfg->maintenance_interval_ns, what);
    cfg->id = (uint64_t)tl_opt_int_field(L, tidx, "id", 0, 0, INT64_MAX, what);
    *start = tl_opt_bool_field(L, tidx, "start", true, what);
    if (cfg->connections_max < cfg->peers_k)
        luaL_error(L, "%s: 'connections_max' must be >= 'peers_k' (got %d < %d)", what,
                   (int)cfg->connections_max, (int)cfg->peers_k);
    if (cfg->ping_interval_ns <= 0 || cfg->maintenance_interval_ns <= 0)
        luaL_error(L, "%s: 'ping_interval' and 'maintenance_interval' must be > 0", what);
}

/* seeds: a list of hosts / nodes (their ip, with this config's port) or "ip:port". */
static tp_point *demo_seeds(lua_State *L, int tidx, uint16_t port, size_t *count,
                            const char *what) {
    *count = 0;
    int t = tl_field(L, tidx, "seeds");
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (t != LUA_TTABLE) tl_type_error(L, what, "seeds", "a list of hosts, nodes or 'ip:port'");
    size_t n = lua_rawlen(L, -1);
    tp_point *pts = malloc((n ? n : 1) * sizeof *pts);
    TP_ASSERT(pts != NULL);
    sim_world *w = tl_run_of(L)->w;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        uint32_t hi = 0;
        if (tl_test_host(L, -1, &hi)) {
            pts[i].ip = sim_host_ip(sim_world_host(w, hi));
            pts[i].port = port;
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            if (tp_point_parse_wire(s, len, &pts[i]) != TP_OK) {
                free(pts);
                luaL_error(L, "%s: seeds[%d] = '%s' is not a point (expected ip:port or "
                              "[ipv6]:port)", what, (int)i + 1, s);
            }
        } else {
            free(pts);
            luaL_error(L, "%s: seeds[%d] expected a host, a node or 'ip:port', got %s", what,
                       (int)i + 1, luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    *count = n;
    return pts;
}

static void raise_start_error(lua_State *L, tl_app *a) {
    if (a->start_error[0]) {
        char m[256];
        snprintf(m, sizeof m, "%s", a->start_error);
        a->start_error[0] = '\0';
        luaL_error(L, "%s", m);
    }
}

void tl_nodes_check_started(lua_State *L, uint32_t host) {
    tl_state *run = tl_run_of(L);
    if (host < run->apps_cap && run->apps[host]) raise_start_error(L, run->apps[host]);
}

/* Installs a demo app on host `hi` from the config table at tidx; pushes the node. */
static void make_demo(lua_State *L, uint32_t hi, int tidx, const char *what) {
    tl_state *run = tl_run_of(L);
    sim_world *w = tl_world(L);
    tp_demo_config cfg;
    bool start;
    demo_config(L, tidx, &cfg, what, &start);
    sim_host *h = sim_world_host(w, hi);
    cfg.listen.ip = sim_host_ip(h);
    size_t ns = 0;
    tp_point *seeds = demo_seeds(L, tidx, cfg.listen.port, &ns, what);
    if (run->apps_cap > hi && run->apps[hi]) {
        free(seeds);
        luaL_error(L, "%s: host %d already has a node (one node per host)", what, (int)hi);
    }
    tl_app *a = tl_new_app(run, L, hi, what);
    a->kind = TL_APP_DEMO;
    a->dcfg = cfg;
    if (cfg.originate) {
        run->demo_originators++;
        run->demo_origin = hi;
    }
    a->seeds = seeds;
    a->dcfg.seeds = seeds;
    a->dcfg.seeds_count = ns;
    sim_host_set_app(h, &demo_app_ops, a);
    if (run->res) {
        char pt[TP_POINT_TEXT_MAX], json[512];
        snprintf(json, sizeof json,
                 "{\"port\":%u,\"seeds\":%zu,\"peers_k\":%u,\"connections_max\":%u,"
                 "\"points_max\":%u,\"originate\":%s,\"pings\":%u,\"ping_interval_ns\":%" PRId64
                 ",\"ping_start_delay_ns\":%" PRId64 ",\"maintenance_interval_ns\":%" PRId64 "}",
                 cfg.listen.port, ns, cfg.peers_k, cfg.connections_max, cfg.points_max,
                 cfg.originate ? "true" : "false", cfg.pings, cfg.ping_interval_ns,
                 cfg.ping_start_delay_ns, cfg.maintenance_interval_ns);
        tl_results_node(run->res, hi, "demo", NULL, tp_point_format(&cfg.listen, pt), json,
                        sim_world_now_ns(w));
    }
    if (start) {
        sim_host_start(h);
        raise_start_error(L, a);
    }
    tl_push_node(L, hi);
}

/* The constructors of every node kind: sim.X(host, {config}) -> node and
 * sim.Xs(hosts, {config}) -> list of nodes (the same config for all). The config table
 * is at index 2 (an empty one when omitted); make() pushes one node. */
/* config.role: a name for the node's part in the scenario ("attacker", "victim", ...),
 * recorded in nodes.config (JSON "role") for the report, which splits figures by role
 * and can leave roles out. Letters, digits, '_' and '-', at most 32 bytes. Returns the
 * role ("" if none) and replaces the config at index 2 with a copy without the key, so
 * the node kinds' own key checks never see it. */
static void take_role(lua_State *L, const char *what, char *role, size_t cap) {
    role[0] = '\0';
    lua_getfield(L, 2, "role");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    size_t len = 0;
    const char *r = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    bool ok = r && len > 0 && len < cap && len <= 32;
    for (size_t i = 0; ok && i < len; i++)
        ok = (r[i] >= 'a' && r[i] <= 'z') || (r[i] >= 'A' && r[i] <= 'Z') ||
             (r[i] >= '0' && r[i] <= '9') || r[i] == '_' || r[i] == '-';
    if (!ok)
        luaL_error(L, "%s: 'role' expects a name of letters, digits, '_' and '-' (at most 32), "
                      "e.g. role = \"attacker\"",
                   what);
    memcpy(role, r, len + 1);
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, 2) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "role") == 0) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    lua_replace(L, 2);
}

int tl_node_constructor(lua_State *L, const char *what, bool many, tl_make_node_fn make) {
    size_t n = 1;
    uint32_t one, *hs = &one;
    if (many)
        hs = tl_check_host_list(L, 1, what, &n);
    else
        one = tl_check_host(L, 1, what);
    int list = lua_gettop(L);
    if (lua_isnoneornil(L, 2)) {
        lua_newtable(L);
        lua_replace(L, 2);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    char role[40];
    take_role(L, what, role, sizeof role);
    tl_state *run = tl_run_of(L);
    if (!many) {
        make(L, one, 2, what);
        if (role[0] && run->res) tl_results_node_role(run->res, one, role);
        return 1;
    }
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        make(L, hs[i], 2, what);
        if (role[0] && run->res) tl_results_node_role(run->res, hs[i], role);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_remove(L, list);
    return 1;
}

static int l_demo_node(lua_State *L) {
    return tl_node_constructor(L, "sim.demo_node(host, config)", false, make_demo);
}

static int l_demo_nodes(lua_State *L) {
    return tl_node_constructor(L, "sim.demo_nodes(hosts, config)", true, make_demo);
}

/* node methods */
static int n_host(lua_State *L) {
    tl_push_host(L, tl_check_node(L, 1)->host);
    return 1;
}
static int n_kind(lua_State *L) {
    tl_app *a = tl_check_node(L, 1);
    lua_pushstring(L, a->kind == TL_APP_DEMO ? "demo" : a->kind == TL_APP_TIDEPOOL ? "tidepool" : "hostile");
    return 1;
}
static int n_running(lua_State *L) {
    lua_pushboolean(L, tl_app_running(tl_check_node(L, 1)));
    return 1;
}
static int n_degree(lua_State *L) {
    lua_pushinteger(L, tl_app_degree(tl_check_node(L, 1)));
    return 1;
}
static int n_connections(lua_State *L) {
    tl_app_push_connections(L, tl_check_node(L, 1));
    return 1;
}
static tl_app *check_demo(lua_State *L, const char *method) {
    tl_app *a = tl_check_node(L, 1);
    if (a->kind != TL_APP_DEMO)
        luaL_error(L, "node:%s() is for demo nodes; a tidepool node has node:stat(), "
                      "node:points(), node:peers()", method);
    return a;
}
static int n_stats(lua_State *L) {
    tl_app *a = check_demo(L, "stats");
    tp_demo_stats st = a->last_stats;
    if (a->demo) tp_demo_get_stats(a->demo, &st);
    lua_newtable(L);
#define F(name)                               \
    lua_pushinteger(L, (lua_Integer)st.name); \
    lua_setfield(L, -2, #name);
    F(pings_originated) F(pings_unique) F(pings_duplicate) F(pings_forwarded) F(pings_dropped)
    F(connections_in) F(connections_out) F(connections_open) F(connect_failures) F(frames_bad)
    F(bytes_in) F(bytes_out) F(points_known) F(delay_count) F(delay_ns_min) F(delay_ns_max)
    F(delay_ns_sum)
#undef F
    return 1;
}
static int n_delays(lua_State *L) {
    tl_app *a = check_demo(L, "delays");
    lua_newtable(L);
    if (!a->demo) return 1;
    size_t n = 0;
    const int64_t *d = tp_demo_delays(a->demo, &n);
    for (size_t i = 0; i < n; i++) {
        lua_pushnumber(L, (lua_Number)d[i] / 1e9);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* Overlay queries                                                                      */

uint32_t tl_nodes_running(tl_state *run) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < run->apps_cap; i++)
        if (run->apps[i] && tl_app_running(run->apps[i])) n++;
    return n;
}

static uint32_t uf_find(uint32_t *parent, uint32_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

typedef struct union_ctx {
    tl_state *run;
    uint32_t *parent;
    uint32_t self;
} union_ctx;

/* An edge self -- peer when both run a node. */
static void union_edge(void *arg, int64_t peer) {
    union_ctx *u = arg;
    if (peer < 0 || (uint64_t)peer >= u->run->apps_cap) return;
    tl_app *b = u->run->apps[peer];
    if (!b || !tl_app_running(b)) return;
    uint32_t ra = uf_find(u->parent, u->self), rb = uf_find(u->parent, (uint32_t)peer);
    if (ra != rb) u->parent[ra] = rb;
}

static int cmp_desc(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x < y) - (x > y);
}

/* Components of the overlay among running nodes (edges: open connections between two
 * running nodes, either direction). Returns a malloc'd array of sizes, largest first. */
static uint32_t *components(tl_state *run, uint32_t *count) {
    uint32_t n = run->apps_cap;
    uint32_t *parent = malloc((n ? n : 1) * sizeof *parent);
    uint32_t *size = calloc(n ? n : 1, sizeof *size);
    TP_ASSERT(parent && size);
    for (uint32_t i = 0; i < n; i++) parent[i] = i;
    union_ctx u = {run, parent, 0};
    for (uint32_t i = 0; i < n; i++) {
        tl_app *a = run->apps[i];
        if (!a || !tl_app_running(a)) continue;
        u.self = i;
        tl_app_neighbors(a, union_edge, &u);
    }
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++)
        if (run->apps[i] && tl_app_running(run->apps[i])) size[uf_find(parent, i)]++;
    for (uint32_t i = 0; i < n; i++)
        if (size[i]) size[c++] = size[i];
    qsort(size, c, sizeof *size, cmp_desc);
    free(parent);
    *count = c;
    return size;
}

/* sim.components() -> count, {sizes, largest first} */
static int l_components(lua_State *L) {
    tl_state *run = tl_run_of(L);
    uint32_t c;
    uint32_t *sizes = components(run, &c);
    lua_pushinteger(L, c);
    lua_createtable(L, (int)c, 0);
    for (uint32_t i = 0; i < c; i++) {
        lua_pushinteger(L, sizes[i]);
        lua_rawseti(L, -2, i + 1);
    }
    free(sizes);
    return 2;
}

/* sim.degrees() -> {degree of each running node, in host order} */
static int l_degrees(lua_State *L) {
    tl_state *run = tl_run_of(L);
    lua_newtable(L);
    lua_Integer k = 0;
    for (uint32_t i = 0; i < run->apps_cap; i++) {
        tl_app *a = run->apps[i];
        if (!a || !tl_app_running(a)) continue;
        lua_pushinteger(L, tl_app_degree(a));
        lua_rawseti(L, -2, ++k);
    }
    return 1;
}

/* sim.all_nodes() -> every node ever created, in host order */
static int l_nodes(lua_State *L) {
    tl_state *run = tl_run_of(L);
    lua_newtable(L);
    lua_Integer k = 0;
    for (uint32_t i = 0; i < run->apps_cap; i++)
        if (run->apps[i]) {
            tl_push_node(L, i);
            lua_rawseti(L, -2, ++k);
        }
    return 1;
}

/* Samples the overlay now: global metrics and, with per_node, each node's degree. */
static void sample_overlay(tl_state *run, bool per_node) {
    if (!run->res || !run->w) return;
    int64_t now = sim_world_now_ns(run->w);
    uint32_t c;
    uint32_t *sizes = components(run, &c);
    uint64_t sum = 0;
    uint32_t running = 0, dmin = UINT32_MAX, dmax = 0;
    for (uint32_t i = 0; i < run->apps_cap; i++) {
        tl_app *a = run->apps[i];
        if (!a || !tl_app_running(a)) continue;
        uint32_t deg = tl_app_degree(a);
        running++;
        sum += deg;
        if (deg < dmin) dmin = deg;
        if (deg > dmax) dmax = deg;
        if (per_node) tl_results_sample(run->res, now, i, "degree", deg);
    }
    tl_results_sample(run->res, now, -1, "nodes_running", running);
    tl_results_sample(run->res, now, -1, "components", c);
    tl_results_sample(run->res, now, -1, "largest_component", c ? sizes[0] : 0);
    tl_results_sample(run->res, now, -1, "connection_ends", (double)sum);
    tl_results_sample(run->res, now, -1, "degree_min", running ? dmin : 0);
    tl_results_sample(run->res, now, -1, "degree_max", dmax);
    tl_results_sample(run->res, now, -1, "degree_mean", running ? (double)sum / running : 0);
    free(sizes);
}

static int l_sample_overlay_now(lua_State *L) {
    tl_state *run = tl_run_of(L);
    sample_overlay(run, lua_toboolean(L, lua_upvalueindex(1)));
    return 0;
}

/* sim.sample_overlay{every = "1s", per_node = false} -> timer */
static int l_sample_overlay(lua_State *L) {
    const char *what = "sim.sample_overlay{every, per_node}";
    if (lua_isnoneornil(L, 1)) {
        lua_newtable(L);
        lua_replace(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = {"every", "per_node", NULL};
    tl_check_keys(L, 1, keys, what);
    int64_t period = tl_opt_duration_field(L, 1, "every", 1000000000, what);
    bool per_node = tl_opt_bool_field(L, 1, "per_node", false, what);
    sample_overlay(tl_run_of(L), per_node);
    lua_getglobal(L, "every");
    lua_pushnumber(L, (lua_Number)period / 1e9);
    lua_pushboolean(L, per_node);
    lua_pushcclosure(L, l_sample_overlay_now, 1);
    lua_call(L, 2, 1);
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* End of run                                                                           */

void tl_nodes_finish(tl_state *run) {
    /* Connections still open and deliveries so far, then halt every app so its memory
     * is freed (halt writes nothing while finishing). World context: the rows of host
     * events come first. */
    run->running = false;
    run->in_callback = false;
    tl_parts_sync(run);
    int64_t now = sim_world_now_ns(run->w);
    for (uint32_t i = 0; i < run->apps_cap; i++) {
        tl_app *a = run->apps[i];
        if (!a || !tl_app_running(a)) continue;
        if (a->kind == TL_APP_TIDEPOOL) {
            tl_tp_finish(a);
            continue;
        }
        if (run->res) {
            for (tl_tap_stream *ts = a->streams; ts; ts = ts->next) {
                if (!ts->established) continue;
                char pt[TP_POINT_TEXT_MAX];
                tl_results_connection(run->res, a->host, ts->peer_node, NULL,
                                      tp_point_format(&ts->remote, pt), ts->incoming,
                                      ts->opened_ns, -1, NULL);
            }
            demo_log_deliveries(a, now);
        }
    }
    tl_chain_finish(run);
    /* every app runs on a host through run->apps: one pass over the event queue for all
     * (a sim_host_crash per host scanned the queue once per host) */
    sim_world_crash_running_apps(run->w);
}

void tl_nodes_free(tl_state *run) {
    for (uint32_t i = 0; i < run->apps_cap; i++) {
        tl_app *a = run->apps[i];
        if (!a) continue;
        tap_drop_all(a, "end", 0); /* finishing: writes nothing */
        tl_tp_free(a);
        tl_hostile_free(a);
        free(a->seeds);
        free(a);
    }
    free(run->apps);
    run->apps = NULL;
    run->apps_cap = 0;
    tl_ncfg_release(run->last_ncfg);
    run->last_ncfg = NULL;
}

void tl_open_nodes(lua_State *L) {
    static const luaL_Reg node_methods[] = {{"host", n_host},         {"kind", n_kind},
                                            {"running", n_running},   {"degree", n_degree},
                                            {"connections", n_connections},
                                            {"stats", n_stats},       {"delays", n_delays},
                                            {NULL, NULL}};
    luaL_newmetatable(L, TL_MT_NODE);
    luaL_newlib(L, node_methods);
    /* host methods (crash, stop, start, ip, ...) work on nodes too */
    luaL_getmetatable(L, TL_MT_HOST);
    lua_getfield(L, -1, "__index");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -6);
    }
    lua_pop(L, 2);
    lua_setfield(L, -2, "__index");
    luaL_getmetatable(L, TL_MT_HOST);
    lua_getfield(L, -1, "__tostring");
    lua_setfield(L, -3, "__tostring");
    lua_getfield(L, -1, "__eq");
    lua_setfield(L, -3, "__eq");
    lua_pop(L, 2);
    static const luaL_Reg fns[] = {{"demo_node", l_demo_node},
                                   {"demo_nodes", l_demo_nodes},
                                   {"components", l_components},
                                   {"degrees", l_degrees},
                                   {"all_nodes", l_nodes},
                                   {"sample_overlay", l_sample_overlay},
                                   {NULL, NULL}};
    lua_getglobal(L, "sim");
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
    tl_open_tidepool(L);
    tl_open_hostile(L);
}
