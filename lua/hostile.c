/* lua/hostile.c — hostile peers from Lua: sim.hostile(host, {behaviour, target, ...}).
 *
 * A hostile peer is a small sim app on its own host that dials one target point and
 * misbehaves (spec §2 handshake, §4 messages; Octez's P2p_socket/P2p_conn must survive
 * all of these):
 *   stall            TCP connect, then silence (the authentication timeout must fire)
 *   slowloris        the first bytes of a connection message, one byte per `interval`
 *   garbage          `bytes` random bytes instead of a connection message
 *   big_prefix       a valid handshake, then a frame whose size prefix announces
 *                    100 MiB + 1 (more than any message may be)
 *   advertise_flood  a valid handshake, then Advertise messages (10 points each) as fast
 *                    as the transport takes them
 *   swap_spam        a valid handshake, then Swap_request messages as fast as the
 *                    transport takes them
 * ("too little proof of work" and "wrong chain" are tidepool nodes with
 * identity_fails_difficulty / chain_name: lua/README.md.) Each of `connections`
 * parallel slots reconnects `retry` after its connection closed, so an attacker keeps
 * pressing; `h:stats()` counts attempts, handshakes, bytes and frames. The handshake
 * goes through core's own tp_socket, as an honest peer's would. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/point.h"
#include "core/socket.h"
#include "lua/tl_impl.h"

typedef enum hmode {
    H_STALL,
    H_SLOWLORIS,
    H_GARBAGE,
    H_BIG_PREFIX,
    H_ADVERTISE_FLOOD,
    H_SWAP_SPAM,
    H_MODE_COUNT
} hmode;

static const char *const mode_names[H_MODE_COUNT] = {
    "stall", "slowloris", "garbage", "big_prefix", "advertise_flood", "swap_spam"};

#define H_SLOTS_MAX 256
#define H_OUT_MAX (256 * 1024) /* bytes queued in the socket before we wait */

typedef struct hslot hslot;

typedef struct tl_hostile {
    tl_app *app;
    hmode mode;
    tp_point target;
    uint32_t slots_count;
    int64_t interval_ns, retry_ns;
    uint32_t garbage_bytes;
    tp_identity id;
    tp_pow_target accept_any;
    tp_socket_config scfg;
    char chain[TP_SOCKET_CHAIN_NAME_MAX + 1];
    uint8_t frame[8 + 10 * 20 + 64];
    size_t frame_len;
    hslot *slots;
    bool up;
    /* stats */
    uint64_t attempts, connected, handshakes, bytes_out, bytes_in, frames_sent, closes;
} tl_hostile;

struct hslot {
    tl_hostile *x;
    tp_stream *s;
    tp_socket sock;
    bool sock_live, running;
    size_t drip;      /* slowloris: bytes of our connection message sent */
    tp_timer timer;   /* reconnect / drip */
};

static const tp_env *henv(tl_hostile *x) { return x->app->env; }

static void slot_connect(hslot *sl);

static void flush(hslot *sl) {
    tl_hostile *x = sl->x;
    while (sl->s && sl->sock_live) {
        const uint8_t *d;
        size_t n = tp_socket_out(&sl->sock, &d);
        if (n == 0) return;
        size_t taken = 0;
        if (tp_env_stream_write(henv(x), sl->s, d, n, &taken) != TP_OK) return;
        tp_socket_out_consume(&sl->sock, taken);
        x->bytes_out += taken;
        if (taken < n) return;
    }
}

/* Keeps the transport busy with the flood frame (bounded by H_OUT_MAX). */
static void flood(hslot *sl) {
    tl_hostile *x = sl->x;
    while (sl->s && sl->running && tp_socket_out_pending(&sl->sock) < H_OUT_MAX) {
        if (tp_socket_write_message(&sl->sock, x->frame, x->frame_len) != TP_OK) return;
        x->frames_sent++;
        flush(sl);
        if (tp_socket_out_pending(&sl->sock) > 0) return; /* wait for on_writable */
    }
}

static void on_running(hslot *sl) {
    tl_hostile *x = sl->x;
    sl->running = true;
    x->handshakes++;
    if (x->mode == H_BIG_PREFIX) {
        /* u32 size = 0x06400001 (100 MiB + 1), then an application tag */
        static const uint8_t big[6] = {0x06, 0x40, 0x00, 0x01, 0x00, 0x10};
        if (tp_socket_write_message(&sl->sock, big, sizeof big) == TP_OK) x->frames_sent++;
        flush(sl);
    } else {
        flood(sl);
    }
}

static void drip(void *arg) {
    hslot *sl = arg;
    tl_hostile *x = sl->x;
    if (!sl->s) return;
    const uint8_t *d;
    size_t n = tp_socket_out(&sl->sock, &d);
    if (sl->drip < n) {
        size_t taken = 0;
        if (tp_env_stream_write(henv(x), sl->s, d + sl->drip, 1, &taken) == TP_OK && taken == 1) {
            sl->drip++;
            x->bytes_out++;
        }
    }
    tp_env_timer_start_in(henv(x), &sl->timer, x->interval_ns);
}

static void h_connect(void *arg, tp_stream *s) {
    hslot *sl = arg;
    tl_hostile *x = sl->x;
    x->connected++;
    switch (x->mode) {
    case H_STALL:
        return;
    case H_GARBAGE: {
        uint8_t buf[4096];
        size_t n = x->garbage_bytes < sizeof buf ? x->garbage_bytes : sizeof buf;
        tp_env_random(henv(x), buf, n);
        size_t taken = 0;
        if (tp_env_stream_write(henv(x), s, buf, n, &taken) == TP_OK) x->bytes_out += taken;
        return;
    }
    default:
        break;
    }
    if (tp_socket_init(&sl->sock, henv(x), &x->scfg, false) != TP_OK) {
        tp_env_stream_reset(henv(x), s);
        return;
    }
    sl->sock_live = true;
    if (x->mode == H_SLOWLORIS) {
        sl->drip = 0;
        tp_env_timer_stop(henv(x), &sl->timer);
        tp_timer_init(&sl->timer, drip, sl);
        drip(sl);
        return;
    }
    flush(sl);
}

static void h_data(void *arg, tp_stream *s, const uint8_t *data, size_t len) {
    hslot *sl = arg;
    tl_hostile *x = sl->x;
    x->bytes_in += len;
    if (!sl->sock_live || x->mode == H_SLOWLORIS) return;
    size_t k = 0;
    while (k < len) {
        size_t n = 0;
        tp_socket_event ev = TP_SOCKET_EV_NONE;
        if (tp_socket_feed(&sl->sock, data + k, len - k, &n, &ev) != TP_OK) {
            tp_env_stream_reset(henv(x), s);
            return;
        }
        k += n;
        if (ev == TP_SOCKET_EV_AUTHENTICATED && tp_socket_accept(&sl->sock) != TP_OK) return;
        if (ev == TP_SOCKET_EV_ACK) on_running(sl);
        if (ev == TP_SOCKET_EV_NACK) break;
        if (ev == TP_SOCKET_EV_NONE && n == 0) break;
    }
    flush(sl);
}

static void h_eof(void *arg, tp_stream *s) {
    hslot *sl = arg;
    sl->running = false;
    tp_env_stream_close(henv(sl->x), s);
}

static void h_writable(void *arg, tp_stream *s) {
    hslot *sl = arg;
    flush(sl);
    if (sl->running && sl->x->mode != H_BIG_PREFIX) flood(sl);
}

static void reconnect(void *arg) {
    hslot *sl = arg;
    if (sl->x->up && !sl->s) slot_connect(sl);
}

static void h_close(void *arg, tp_stream *s, tp_err reason) {
    hslot *sl = arg;
    tl_hostile *x = sl->x;
    sl->s = NULL;
    sl->running = false;
    x->closes++;
    if (sl->sock_live) tp_socket_deinit(&sl->sock);
    sl->sock_live = false;
    tp_env_timer_stop(henv(x), &sl->timer); /* a slowloris drip may still be armed */
    tp_timer_init(&sl->timer, reconnect, sl);
    if (x->up) tp_env_timer_start_in(henv(x), &sl->timer, x->retry_ns);
}

static const tp_stream_cbs hostile_cbs = {h_connect, h_data, h_eof, h_writable, h_close};

static void slot_connect(hslot *sl) {
    tl_hostile *x = sl->x;
    x->attempts++;
    sl->running = false;
    if (tp_env_stream_connect(henv(x), &x->target, &hostile_cbs, sl, &sl->s) != TP_OK) {
        sl->s = NULL;
        tp_timer_init(&sl->timer, reconnect, sl);
        tp_env_timer_start_in(henv(x), &sl->timer, x->retry_ns);
    }
}

static void hostile_start(void *app, sim_host *h, const tp_env *env) {
    tl_app *a = app;
    tl_hostile *x = a->hostile;
    a->env = env;
    x->up = true;
    for (uint32_t i = 0; i < x->slots_count; i++) {
        memset(&x->slots[i], 0, sizeof x->slots[i]);
        x->slots[i].x = x;
        tp_timer_init(&x->slots[i].timer, reconnect, &x->slots[i]);
        slot_connect(&x->slots[i]);
    }
}

static void hostile_stop(void *app, sim_host *h, const tp_env *env) {
    tl_app *a = app;
    tl_hostile *x = a->hostile;
    x->up = false;
    for (uint32_t i = 0; i < x->slots_count; i++) {
        hslot *sl = &x->slots[i];
        tp_env_timer_stop(env, &sl->timer);
        if (sl->s) tp_env_stream_close(env, sl->s);
    }
}

static void hostile_halt(void *app, sim_host *h, const tp_env *env) {
    tl_app *a = app;
    tl_hostile *x = a->hostile;
    x->up = false;
    for (uint32_t i = 0; i < x->slots_count; i++) {
        hslot *sl = &x->slots[i];
        if (sl->sock_live) tp_socket_deinit(&sl->sock);
        sl->sock_live = false;
        sl->s = NULL;
    }
}

static const sim_app_ops hostile_ops = {hostile_start, hostile_stop, hostile_halt};

void tl_hostile_free(tl_app *a) {
    if (!a->hostile) return;
    free(a->hostile->slots);
    tp_identity_wipe(&a->hostile->id);
    free(a->hostile);
    a->hostile = NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Lua                                                                                  */

static const char *const hostile_keys[] = {"behaviour", "target", "connections", "interval",
                                           "retry", "bytes", "identity_difficulty",
                                           "chain_name", NULL};

/* sim.hostile(host, {behaviour, target, connections, interval, retry, bytes,
 *                    identity_difficulty, chain_name}) -> node (kind "hostile") */
static int l_hostile(lua_State *L) {
    tl_state *run = tl_run_of(L);
    sim_world *w = tl_world(L);
    const char *what = "sim.hostile(host, config)";
    uint32_t hi = tl_check_host(L, 1, what);
    luaL_checktype(L, 2, LUA_TTABLE);
    tl_check_keys(L, 2, hostile_keys, what);
    if (tl_field(L, 2, "behaviour") != LUA_TSTRING)
        return luaL_error(L, "%s: 'behaviour' is required: one of stall, slowloris, garbage, "
                             "big_prefix, advertise_flood, swap_spam", what);
    const char *b = lua_tostring(L, -1);
    int mode = -1;
    for (int i = 0; i < H_MODE_COUNT; i++)
        if (strcmp(b, mode_names[i]) == 0) mode = i;
    if (mode < 0)
        return luaL_error(L, "%s: unknown behaviour '%s' (expected stall, slowloris, garbage, "
                             "big_prefix, advertise_flood or swap_spam)", what, b);
    lua_pop(L, 1);
    tp_point target;
    tl_field(L, 2, "target");
    if (!tl_to_point(L, -1, 9732, &target))
        return luaL_error(L, "%s: 'target' expected a host, a node or 'ip:port'", what);
    lua_pop(L, 1);
    lua_Integer slots = tl_opt_int_field(L, 2, "connections", 1, 1, H_SLOTS_MAX, what);
    int64_t interval = tl_opt_duration_field(L, 2, "interval", 1000000000, what);
    int64_t retry = tl_opt_duration_field(L, 2, "retry", 1000000000, what);
    lua_Integer bytes = tl_opt_int_field(L, 2, "bytes", 32, 1, 4096, what);
    lua_Integer idd = tl_opt_int_field(L, 2, "identity_difficulty", 0, 0, 24, what);
    tp_node_config defaults;
    tp_node_config_default(&defaults);
    const char *chain = defaults.chain_name;
    if (tl_field(L, 2, "chain_name") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING) return tl_type_error(L, what, "chain_name", "a string");
        chain = lua_tostring(L, -1);
        if (strlen(chain) > TP_SOCKET_CHAIN_NAME_MAX)
            return luaL_error(L, "%s: 'chain_name' is at most %d bytes", what, TP_SOCKET_CHAIN_NAME_MAX);
    }
    if (interval <= 0 || retry <= 0) return luaL_error(L, "%s: 'interval' and 'retry' must be > 0", what);
    if (run->apps_cap > hi && run->apps[hi])
        return luaL_error(L, "%s: host %d already has a node (one node per host)", what, (int)hi);

    tl_hostile *x = calloc(1, sizeof *x);
    TP_ASSERT(x != NULL);
    x->slots = calloc((size_t)slots, sizeof *x->slots);
    TP_ASSERT(x->slots != NULL);
    x->mode = (hmode)mode;
    x->target = target;
    x->slots_count = (uint32_t)slots;
    x->interval_ns = interval;
    x->retry_ns = retry;
    x->garbage_bytes = (uint32_t)bytes;
    snprintf(x->chain, sizeof x->chain, "%s", chain);
    lua_pop(L, 1);
    tl_make_identity(run, hi, (double)idd, &x->id);
    tp_err e = tp_pow_target_of_difficulty(0.0, &x->accept_any);
    TP_ASSERT(e == TP_OK);
    x->scfg.identity = &x->id;
    x->scfg.pow_target = &x->accept_any;
    x->scfg.chain_name = (const uint8_t *)x->chain;
    x->scfg.chain_name_len = strlen(x->chain);
    x->scfg.distributed_db_version = 2;
    x->scfg.p2p_version = 1;
    tp_p2p_msg m;
    memset(&m, 0, sizeof m);
    if (mode == H_SWAP_SPAM) {
        m.tag = TP_MSG_SWAP_REQUEST;
        m.points_count = 1;
        m.points[0] = tp_point_v4(0x0a0a0a0au, 9732);
        memset(m.peer_id.bytes, 0x42, sizeof m.peer_id.bytes);
    } else {
        m.tag = TP_MSG_ADVERTISE;
        m.points_count = 10;
        for (uint32_t k = 0; k < 10; k++) m.points[k] = tp_point_v4(0x0a090000u + k + 1, 9732);
    }
    e = tp_p2p_msg_encode(&m, x->frame, sizeof x->frame, &x->frame_len);
    TP_ASSERT(e == TP_OK);

    tl_app *a = tl_new_app(run, L, hi, what);
    a->kind = TL_APP_HOSTILE;
    a->hostile = x;
    x->app = a;
    sim_host *h = sim_world_host(w, hi);
    sim_host_set_app(h, &hostile_ops, a);
    if (run->res) {
        char pt[TP_POINT_TEXT_MAX], json[256];
        snprintf(json, sizeof json, "{\"behaviour\":\"%s\",\"target\":\"%s\",\"connections\":%d}",
                 mode_names[mode], tp_point_format(&target, pt), (int)slots);
        char kind[64];
        snprintf(kind, sizeof kind, "hostile:%s", mode_names[mode]);
        tl_results_node(run->res, hi, kind, NULL, NULL, json, sim_world_now_ns(w));
    }
    sim_host_start(h);
    tl_push_node(L, hi);
    return 1;
}

/* node:hostile_stats() */
static int m_hostile_stats(lua_State *L) {
    tl_app *a = tl_check_node(L, 1);
    if (a->kind != TL_APP_HOSTILE) return luaL_error(L, "node:hostile_stats() is for sim.hostile peers");
    tl_hostile *x = a->hostile;
    lua_newtable(L);
#define SET(name)                                 \
    lua_pushinteger(L, (lua_Integer)x->name);     \
    lua_setfield(L, -2, #name);
    SET(attempts) SET(connected) SET(handshakes) SET(bytes_out) SET(bytes_in) SET(frames_sent)
    SET(closes)
#undef SET
    return 1;
}

void tl_open_hostile(lua_State *L) {
    luaL_getmetatable(L, TL_MT_NODE);
    lua_getfield(L, -1, "__index");
    lua_pushcfunction(L, m_hostile_stats);
    lua_setfield(L, -2, "hostile_stats");
    lua_pop(L, 2);
    lua_getglobal(L, "sim");
    lua_pushcfunction(L, l_hostile);
    lua_setfield(L, -2, "hostile");
    lua_pop(L, 1);
}
