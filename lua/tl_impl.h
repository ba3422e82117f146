/* lua/tl_impl.h — internals shared by the files of lua/ (runtime.c: the Lua state,
 * sandbox, time and assertions; world.c: world, hosts and faults; nodes.c: nodes, the
 * connection tap and overlay queries). Not a public header. */
#ifndef TP_LUA_TL_IMPL_H
#define TP_LUA_TL_IMPL_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "core/maintenance.h"
#include "core/node.h"
#include "core/peers_json.h"
#include "core/swap.h"
#include "demo/demo.h"
#include "lua/chain_msg.h"
#include "lua/results.h"
#include "lua/rows.h"
#include "lua/scenario.h"
#include "simnet/sim.h"

/* The parallel simulator's partitions (issue 21, simnet/sim.h "Parallel runs"). */
#define TL_PARTS_MAX SIM_THREADS_MAX

typedef struct tl_app tl_app;
typedef struct tl_state tl_state;

/* A block of the run's chain (lua/chain.c). Byte counts are application payload bytes
 * as received, summed over every node: `useful` gave a node a header or operations it
 * lacked; `duplicate` did not (a head it knew, an answer that came late); `requests`
 * are the Get_* messages' bytes naming this block.
 *
 * Threads: every field but the counters is written once, by produce_block (world
 * context), and only read afterwards, also from host context. The counters (holders,
 * bytes_*) are counted from host context in the partitions' tallies (tl_part) and
 * folded in here by tl_parts_sync: read them after a tl_parts_sync. */
typedef struct tl_block {
    uint32_t origin;     /* host index */
    int64_t created_ns;
    uint32_t pred;       /* TL_GENESIS for the first block */
    uint32_t level;      /* 1 + the predecessor's (genesis: 0) */
    uint32_t header_bytes, ops_bytes;
    uint32_t holders;    /* nodes that validated it (a crash does not undo that) */
    uint32_t nodes_running; /* when it was produced */
    uint64_t bytes_useful, bytes_duplicate, bytes_requests;
} tl_block;

/* A tidepool node's block-workload settings (node config keys of the same names). */
typedef struct tl_chain_params {
    int64_t validation_delay_ns; /* time to validate a block once it has everything */
    uint32_t header_bytes;       /* of the blocks it produces */
    uint32_t ops_bytes;          /* default of produce_block */
    bool request_log;            /* keep the last requests for node:block_requests() */
} tl_chain_params;

/* Counters of a node's block workload (node:stat()). */
typedef struct tl_chain_stats {
    uint64_t heads_sent, heads_received, head_changes;
    uint64_t header_requests, ops_requests, retries;
    uint64_t requests_abandoned, requests_refused;
    uint64_t unsolicited, malformed, unadvertised;
} tl_chain_stats;

typedef struct tl_chain tl_chain;

/* A tidepool node's configuration as parsed from its Lua table, without what differs
 * per node (the identity, the listening address and the hooks' argument, which are
 * zero here; lua/tidepool.c fills them in at each start). Consecutive nodes made from
 * the same table share one: it is 4 KB, which 100,000 nodes would otherwise repeat. */
typedef struct tl_ncfg {
    uint32_t refs;
    tp_node_config cfg;
    char chain_name[TP_SOCKET_CHAIN_NAME_MAX + 1]; /* cfg.chain_name points here */
} tl_ncfg;

/* What a host's counts about a block add up to, per partition (tl_block's counters). */
typedef struct tl_block_tally {
    uint64_t holders, bytes_useful, bytes_duplicate, bytes_requests;
} tl_block_tally;

/* A partition of the parallel simulator as the runtime sees it: what code in host
 * context may write that is not one host's own (lua/README.md "Threads"). Written only
 * by the thread running the partition's hosts during a window (which also grows its
 * arrays, tl_part_of); read, folded and emptied by tl_parts_sync in world context. One
 * cache line at least, so that two partitions never write the same line. */
typedef struct tl_part {
    _Alignas(64) tl_rowbuf rows; /* result rows, merged in (time, host, seq) order */
    tl_block_tally *tally; /* per block id: counts since the last fold */
    uint8_t *body;         /* scratch the block messages are encoded in */
    uint32_t tally_len;    /* entries of tally (grown to tl_state.block_cap) */
    uint32_t body_len;     /* bytes of body (grown to tl_state.block_body_cap) */
    bool tally_dirty;
} tl_part;

struct tl_state {
    const tl_run_config *cfg;
    lua_State *L;
    sim_world *w;
    tl_results *res;
    /* Lua allocator accounting */
    size_t mem_used, mem_limit;
    bool mem_limit_hit;
    /* --max-wall / --max-events (tl_run_config): wall_deadline_s is a CLOCK_MONOTONIC
     * time, 0 without a limit; limit_hit once either was passed (the run is an error). */
    double wall_deadline_s;
    bool limit_hit;
    bool param_error; /* a --set value the script rejected or never read (usage error) */
    /* Teardown (tl_run after the outcome is known): the world and nodes are gone; a
     * simulation call (from a __gc finalizer run by lua_close) is a Lua error, which
     * Lua turns into a warning, collected here (warn_buf) and made the run's error. */
    bool ended;
    char warn_buf[512];
    size_t warn_len;
    bool warn_error;
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
    uint32_t demo_originators; /* demo nodes created with originate = true */
    uint32_t demo_origin;      /* the host of the last of them */
    bool finishing;            /* the script ended: halts do not log */
    /* running the clock (both written in world context only; tl_world_context) */
    bool in_callback;            /* inside a world timer's callback (at/every, the
                                    invariant checker) or a run_until condition */
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
    tl_ncfg *last_ncfg;    /* the last node config made (one reference of its own) */
    /* the block workload (lua/chain.c); written in world context only */
    tl_block *blocks;
    uint32_t block_count, block_cap;
    uint32_t block_body_cap; /* the least size of a partition's scratch (tl_part.body):
                                the largest block message made so far */
    /* The partitions: TL_PARTS_MAX of them (or test_partitions), made at the first use,
     * in world context — simnet fixes its partitions at the first sim_run_* call, from
     * inside it, so this never depends on when that happens. */
    tl_part *parts;
    uint32_t part_count;
    tl_rowbuf *merge;        /* part_count entries: tl_rows_flush's scratch */
    /* Base58 peer ids are costly (a double SHA-256 checksum each): the event sink keeps
     * the last text of each of TL_B58_CACHE slots, indexed by the id's first bytes.
     * World context only (the event sink, rows written at barriers). */
    struct tl_b58_slot *b58_cache;
    /* scratch */
    char err[256];
};

#define TL_B58_CACHE 4096u
typedef struct tl_b58_slot {
    uint8_t id[TP_PEER_ID_SIZE];
    bool used;
    char text[TP_PEER_ID_TEXT_SIZE];
} tl_b58_slot;

/* The Base58 text of a peer id, from the run's cache; valid until the next call.
 * World context only. */
const char *tl_peer_b58(tl_state *run, const uint8_t id[TP_PEER_ID_SIZE]);

/* ---- Threads (lua/README.md "Threads") -------------------------------------------
 * World context: the script's body, at/every callbacks, run_until conditions and the
 * end of the run — on the main thread, no host event running (at a barrier of the
 * parallel simulator). Host context: code in a host's event (its app's hooks, timers,
 * stream and datagram callbacks), on the worker thread of the host's partition; it
 * writes only its host's state and its partition's tl_part. A host hook called from
 * world context (h:crash() in a callback) is in world context. */
static inline bool tl_world_context(const tl_state *run) {
    return !run->running || run->in_callback;
}
/* lua/parts.c. World context: makes the partitions (the first time), writes the rows
 * buffered so far and folds the block tallies into run->blocks. Also the barrier hook
 * (tl_on_barrier). */
void tl_parts_sync(tl_state *run);
void tl_on_barrier(void *arg, sim_world *w);
/* World context: writes the buffered rows (merged in (time, host, seq) order). */
void tl_rows_flush(tl_state *run);
void tl_parts_free(tl_state *run);
/* The partition of a's host, its tally covering every block made and its scratch
 * block_body_cap bytes (grown here, by the partition's own thread, if need be). */
tl_part *tl_part_of(tl_app *a);
/* A row of a's host, at virtual time now_ns: buffered in its partition in host context,
 * written at once (after the buffered rows) in world context. Fills in the key. No-op
 * without a results database. */
void tl_row_put(tl_app *a, int64_t now_ns, tl_row *r);
/* a's partition's tally of block id. */
tl_block_tally *tl_tally_of(tl_app *a, uint32_t id);

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
/* sim.X(host, {config}) / sim.Xs(hosts, {config}) for every node kind (lua/nodes.c). */
typedef void (*tl_make_node_fn)(lua_State *L, uint32_t host, int config_index, const char *what);
int tl_node_constructor(lua_State *L, const char *what, bool many, tl_make_node_fn make);

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

typedef struct tl_tap_stream tl_tap_stream;
struct tl_tap_stream {
    tl_app *app;
    tp_stream *s;
    const tp_stream_cbs *cbs; /* the app's callbacks (NULL until adopted) */
    void *arg;
    tp_point remote;
    int64_t peer_node;        /* host index of the remote, or -1 */
    int64_t opened_ns;
    bool incoming;
    bool established;
    tl_tap_stream *prev, *next;
};

typedef struct tl_listen_wrap tl_listen_wrap;
struct tl_listen_wrap {
    tl_app *app;
    tp_listener *l;
    tp_accept_cb cb;
    void *arg;
    tl_listen_wrap *next;
};

enum { TL_APP_DEMO = 1, TL_APP_TIDEPOOL = 2, TL_APP_HOSTILE = 3 };

/* A node of the run: everything here is its host's own state (host context may write
 * it) except run, host, kind and the configuration, set in world context at creation. */
struct tl_app {
    tl_state *run;
    uint32_t host;
    uint64_t row_seq;  /* rows this host wrote (tl_row.seq) */
    int kind;
    const tp_env *env; /* the host's env */
    tp_env tap;        /* what the app sees */
    tl_tap_stream *streams;
    uint32_t degree;
    tl_listen_wrap *listens;
    tl_tap_stream *adopting;
    bool stopping;
    char start_error[256];
    /* demo */
    tp_demo_config dcfg;
    tp_point *seeds;
    tp_demo *demo;
    tp_demo_stats last_stats; /* kept across a halt for queries */
    uint32_t incarnation;
    /* tidepool (lua/tidepool.c) */
    tl_ncfg *ncfg;            /* shared with the nodes made from the same config */
    tp_identity identity;     /* this node's (ncfg holds none) */
    uint16_t listen_port;
    tp_node *node;            /* NULL when not running */
    tp_point *dial;           /* points dialed at every start */
    size_t dial_count;
    tl_chain *chain;          /* block workload state (lua/chain.c), made at first use */
    tl_chain_params chainp;
    uint64_t text_in, app_bytes_in, app_bad, sends_dropped, dial_errors;
    /* hostile (lua/hostile.c) */
    struct tl_hostile *hostile;
};


/* Generic app queries (nodes.c dispatching on kind) */
bool tl_app_running(const tl_app *a);
uint32_t tl_app_degree(const tl_app *a);
/* Calls fn for the host index of every open connection's remote (-1: not a host). */
void tl_app_neighbors(tl_app *a, void (*fn)(void *arg, int64_t peer_host), void *arg);
void tl_app_push_connections(lua_State *L, tl_app *a);
void tl_push_node(lua_State *L, uint32_t host);
tl_app *tl_new_app(tl_state *run, lua_State *L, uint32_t host, const char *what);
tl_app *tl_check_node(lua_State *L, int idx);
int64_t tl_host_of_point(tl_state *run, const tp_point *p);

/* lua/tidepool.c */
void tl_open_tidepool(lua_State *L);
bool tl_tp_running(const tl_app *a);
uint32_t tl_tp_degree(const tl_app *a);
void tl_tp_neighbors(tl_app *a, void (*fn)(void *arg, int64_t peer_host), void *arg);
void tl_tp_push_connections(lua_State *L, tl_app *a);
void tl_tp_finish(tl_app *a);   /* end of run: open connections to the database */
void tl_tp_free(tl_app *a);
void tl_ncfg_release(tl_ncfg *c); /* drops a reference; frees at zero */
/* A deterministic identity for (run seed, host) whose stamp meets difficulty. */
void tl_make_identity(tl_state *run, uint32_t host, double difficulty, tp_identity *id);
/* A point from "ip:port" or a host/node (a tidepool node's listening port, else
 * default_port). false: not a point. */
bool tl_to_point(lua_State *L, int idx, uint16_t default_port, tp_point *out);

/* lua/chain.c: the block workload */
void tl_open_chain(lua_State *L);
/* An application message of the workload; false: not one of its tags. */
bool tl_chain_on_message(tl_app *a, tp_conn *c, uint16_t tag, const uint8_t *p, size_t len);
void tl_chain_on_connection(tl_app *a, tp_conn *c);
void tl_chain_on_start(tl_app *a);
void tl_chain_on_halt(tl_app *a);
void tl_chain_free(tl_app *a);
const tl_chain_stats *tl_chain_stats_of(tl_app *a);
/* End of run: the blocks table. */
void tl_chain_finish(tl_state *run);

/* lua/hostile.c */
void tl_open_hostile(lua_State *L);
void tl_hostile_free(tl_app *a);

/* A connection's close reason as stored in connections.close_reason. */
const char *tl_close_reason(tp_err reason);

/* Format helpers */
void tl_format_point(const tp_point *p, char *buf, size_t cap);

#define TL_MT_HOST "tidepool.host"
#define TL_MT_NODE "tidepool.node"
#define TL_MT_TIMER "tidepool.timer"
#define TL_MT_PARTITION "tidepool.partition"

#endif
