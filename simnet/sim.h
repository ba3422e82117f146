/* simnet/sim.h — the deterministic discrete-event network simulator.
 *
 * What it is for: running thousands (up to ~100,000) of virtual hosts in one process,
 * each with its own tp_env (core/env.h), on one virtual clock, so that the very same
 * core/ code that runs on real sockets can be run, faulted and replayed bit for bit
 * from a 64-bit seed. Octez has no equivalent (it is tested on real sockets); the shape
 * follows TigerBeetle's packet_simulator/VOPR and SQLite's test_vfs (DESIGN.md,
 * "simnet/").
 *
 * Ownership:
 * - The world owns every host, stream, listener, datagram socket, packet and file.
 *   Hosts never move once created (sim_host pointers and sim_host_env() stay valid
 *   until sim_world_destroy).
 * - Timers are caller-allocated (env.h) and must not move while armed.
 * - Config structs and host-index arrays passed in are copied; nothing is borrowed
 *   beyond the call.
 *
 * Threading: one world is used from one thread. sim_world_set_threads makes a run use
 * worker threads of its own (README "Parallel runs"); the API is still called from
 * one thread, and every callback of world-level code (world timers, event_cb,
 * barrier_cb, app hooks of starts and crashes) runs on that thread. Host callbacks may
 * run on a worker. Different worlds are independent.
 *
 * Determinism: events are ordered by (time, creator host, creator's sequence); every
 * random choice comes from a host's model stream (splitmix64 of the seed and the host
 * index) or its tp_env_random stream (ChaCha20 keyed by BLAKE2b(seed, host index)); no
 * decision depends on pointer values, hash-table order, the host's real clock or the
 * thread count. Same seed and same calls => same run, same trace hash
 * (sim_world_trace_hash), at any thread count.
 *
 * Time: virtual nanoseconds since the start of the run. tp_env_now_ns is the exact
 * world time for every host; only tp_env_wall_ns carries a host's clock offset/drift.
 *
 * The model (latency, bandwidth, TCP, faults) is described in simnet/README.md.
 */
#ifndef TP_SIM_H
#define TP_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"

typedef struct sim_world sim_world;
typedef struct sim_host sim_host;

/* ------------------------------------------------------------------------------------ */
/* World                                                                                */

/* One-way latency between two regions: base + a uniform jitter in [0, jitter_ns]
 * drawn from the sender's model stream for every segment/datagram (in-order delivery on a
 * stream is preserved regardless of jitter). */
typedef struct sim_latency {
    int64_t base_ns;
    int64_t jitter_ns;
} sim_latency;

/* The event sink: every tp_env_event of every host, with the host index and the
 * virtual time. The event and its pointers are borrowed for the call. */
typedef void (*sim_event_cb)(void *arg, uint32_t host_index, int64_t time_ns,
                             const tp_event *ev);

/* The TCP model of streams (simnet/README.md "Streams"): Linux's defaults. */
typedef enum sim_tcp_cc {
    SIM_TCP_CUBIC, /* RFC 9438, Linux's default (net/ipv4/tcp_cubic.c), without HyStart */
    SIM_TCP_RENO,  /* RFC 5681 (net/ipv4/tcp_cong.c: tcp_reno_*) */
} sim_tcp_cc;

typedef struct sim_tcp_config {
    sim_tcp_cc cc;                    /* congestion control: SIM_TCP_CUBIC */
    uint32_t mss_bytes;               /* payload per packet: 1448 (1500 MTU with timestamps) */
    uint32_t header_bytes;            /* TCP/IP headers per packet on the wire: 52 */
    uint32_t initial_window_packets;  /* IW: 10 (RFC 6928) */
    bool slow_start_after_idle;       /* net.ipv4.tcp_slow_start_after_idle: true */
    uint32_t rmem_max_bytes;          /* tcp_rmem[2], the autotuned receive buffer's
                                       * ceiling (the window is half of it): 6 MiB */
    uint32_t wmem_max_bytes;          /* tcp_wmem[2], the autotuned send buffer's: 4 MiB */
    uint64_t queue_bytes;             /* drop-tail queue of each host's uplink and
                                       * downlink: 4 MiB (one flow never fills it) */
    int64_t rto_min_ns;               /* TCP_RTO_MIN: 200 ms (also the RTO variance floor) */
    int64_t delayed_ack_ns;           /* delayed ACK of a lone packet (TCP_ATO_MIN): 40 ms */
    uint32_t quickack_packets;        /* packets ACKed at once at the start and after an
                                       * idle period (TCP_MAX_QUICKACKS): 16 */
} sim_tcp_config;

typedef struct sim_world_config {
    uint64_t seed;                    /* the run seed: same seed => same run */
    uint32_t region_count;            /* >= 1, <= SIM_REGIONS_MAX */
    /* region_count * region_count entries, row = sender's region. NULL: every pair
     * gets default_latency. Copied. */
    const sim_latency *latency;
    sim_latency default_latency;      /* 10 ms, 1 ms jitter */
    int64_t wall_start_ns;            /* Unix-epoch wall time at virtual time 0 */
    int64_t loopback_latency_ns;      /* a host talking to itself: 20 us */

    /* TCP model (README "Streams") */
    sim_tcp_config tcp;               /* packets, windows, congestion control, queues */
    uint32_t segment_bytes;           /* unused since the packet model (issue 16): kept so
                                       * that old configurations load; 512..1 MiB */
    uint32_t send_buffer_bytes;       /* per stream, the floor of the autotuned send
                                       * buffer (tcp.wmem_max_bytes): 128 KiB */
    uint32_t receive_buffer_bytes;    /* per stream, tcp_rmem[1]: 128 KiB; the first
                                       * advertised window is half of it */
    int64_t syn_timeout_ns;           /* unanswered connect gives up: 20 s */
    int64_t user_timeout_ns;          /* TCP_USER_TIMEOUT, Octez sets 45 s; 0 disables */
    int64_t keepalive_idle_ns;        /* Octez: 10 s; 0 disables keepalive */
    int64_t keepalive_interval_ns;    /* Octez: 5 s */
    uint32_t keepalive_count;         /* probes before giving up when user timeout is 0: 9 */
    int64_t rto_max_ns;               /* RTO backoff ceiling: 60 s (the minimum is tcp.rto_min_ns) */

    /* storage: a file_write becomes durable disk_sync_delay_ns after it was made; a
     * crash before that reverts the file to its previous durable content. 0: every
     * write is durable at once. */
    int64_t disk_sync_delay_ns;
    /* Keep files zstd-compressed in memory (level 1; decompressed on read). Only memory
     * and CPU change, never a run: for very large simulations whose peers files would
     * otherwise take ~20 KB per node (bench/RESULTS.md). Default false. */
    bool disk_compress;
    /* Per-host memory budget for the application (tp_env_realloc returns NULL beyond
     * it). 0: unlimited. */
    uint64_t host_memory_limit_bytes;

    /* Simulation-only fast channel crypto (`tidepool sim --crypto fast`): every host's
     * env answers tp_env_sim_crypto_fast() with this, and core/socket.c then uses
     * core/crypto.h's stand-in for X25519 and XSalsa20-Poly1305 (same framing, sizes,
     * nonces and decisions; no secrecy). Default false: real crypto. */
    bool crypto_fast;

    /* Every tp_env_event, handed over on the calling thread at a barrier (never inside a
     * host's event), in (time, host index, the host's order) order. May be NULL: events
     * then only feed the trace hash. */
    sim_event_cb event_cb;
    void *event_arg;
    /* Called at every barrier between windows and when a sim_run_* call returns, on the
     * calling thread with every worker parked (README "Parallel runs"). May be NULL. */
    void (*barrier_cb)(void *arg, sim_world *w);
    void *barrier_arg;
} sim_world_config;

#define SIM_REGIONS_MAX 64u

/* Fills *cfg with the defaults documented above (seed 0, one region). */
void sim_world_config_default(sim_world_config *cfg);

/* NULL when cfg is usable; otherwise a sentence naming the field, the problem and the
 * fix ("sim_world_config.segment_bytes must be in 512..1048576 (got 0)"). The text is
 * written into buf (cap bytes) and buf is returned. */
const char *sim_world_config_check(const sim_world_config *cfg, char *buf, size_t cap);

/* Creates a world at virtual time 0 with no hosts.
 * Errors: TP_ERR_INVAL (cfg fails sim_world_config_check), TP_ERR_NOMEM. */
TP_MUST_USE tp_err sim_world_create(const sim_world_config *cfg, sim_world **out);

/* Frees everything: hosts (without calling any app hook), streams, files, packets.
 * Armed caller-owned timers are simply forgotten. */
void sim_world_destroy(sim_world *w);

int64_t sim_world_now_ns(const sim_world *w);
uint64_t sim_world_seed(const sim_world *w);

/* ------------------------------------------------------------------------------------ */
/* Running the clock                                                                    */

/* Executes the next event (advancing the clock to its time). false: the queue is empty
 * or sim_world_stop was called. */
bool sim_step(sim_world *w);

/* Executes every event with time <= t_ns, then sets the clock to t_ns (if it is later
 * than now). Returns early (clock at the last event) when sim_world_stop is called. */
void sim_run_until(sim_world *w, int64_t t_ns);
void sim_run_for(sim_world *w, int64_t duration_ns);

/* Runs until pred(arg) is true (checked before each event), the queue is empty, or the
 * clock would pass deadline_ns (then the clock is set to deadline_ns). Returns pred's
 * last value. */
bool sim_run_until_pred(sim_world *w, bool (*pred)(void *arg), void *arg, int64_t deadline_ns);

/* Makes the running sim_run_* / sim_step return after the current event; the flag is
 * cleared when the next sim_run_* or sim_step starts. Callable from any callback. */
void sim_world_stop(sim_world *w);

/* Events still queued (timers, segments, datagrams, scheduled faults). */
size_t sim_world_pending_events(const sim_world *w);

/* World-level timers (not owned by any host; a crash does not cancel them): the way a
 * scenario runs code at a virtual time. Same rules as tp_env_timer_start. */
void sim_world_timer_start(sim_world *w, tp_timer *t, int64_t deadline_ns);
void sim_world_timer_stop(sim_world *w, tp_timer *t);

/* ------------------------------------------------------------------------------------ */
/* Observation                                                                          */

/* A running 64-bit hash over every executed event (time, kind, host, stream id, byte
 * counts, and the bytes of delivered data) and every reported tp_event. */
uint64_t sim_world_trace_hash(const sim_world *w);

typedef struct sim_stats {
    uint64_t events_executed;         /* heap events run (timers, segments, ...) */
    uint64_t timers_fired;            /* host and world timers */
    uint64_t streams_connected_out;   /* tp_env_stream_connect calls that returned OK */
    uint64_t streams_established;     /* connects that reached on_connect */
    uint64_t streams_accepted;        /* connections handed to an accept callback */
    uint64_t connects_refused;
    uint64_t connects_timed_out;
    uint64_t streams_reset;           /* RSTs that reached an endpoint */
    uint64_t streams_timed_out;       /* user timeout / keepalive deaths */
    uint64_t segments_delivered;
    uint64_t segments_retransmitted;  /* retransmissions: lost packets, stalls (RTO) */
    uint64_t packets_sent;            /* data packets (MSS-sized or less) sent, retransmissions
                                       * and those a full queue dropped included */
    uint64_t packets_lost;            /* ... lost to random loss (each try) */
    uint64_t packets_dropped;         /* ... dropped by a full drop-tail queue */
    uint64_t acks_sent;               /* ACKs (each costs header_bytes on the reverse path) */
    uint64_t bytes_delivered;         /* stream payload bytes handed to on_data */
    uint64_t data_callbacks;          /* on_data calls */
    uint64_t datagrams_sent;          /* per destination */
    uint64_t datagrams_delivered;
    uint64_t datagrams_lost;          /* loss, partition, down host or no socket */
    uint64_t messages_corrupted;      /* segments and datagrams with a flipped byte */
    uint64_t events_reported;         /* tp_env_event calls */
    uint64_t host_crashes;            /* sim_host_crash on a host that was up */
    uint64_t host_starts;             /* boots and app starts (sim_host_start that did something) */
    uint64_t key_agreements_computed; /* handshake X25519s computed (sim_crypto.c) */
    uint64_t key_agreements_reused;   /* ... and taken from the memo of recent pairs */
    uint64_t disk_bytes_written;      /* file_write bytes */
    uint64_t disk_bytes_stored;       /* ... and what storing them took (disk_compress) */
} sim_stats;

void sim_world_stats(const sim_world *w, sim_stats *out);

/* ------------------------------------------------------------------------------------ */
/* Parallel runs (README "Parallel runs")                                                */

/* Runs the world's hosts on `threads` worker threads (1..SIM_THREADS_MAX; default 1).
 * Only before the first sim_run_* call. The run is the same at any thread count: same
 * trace hash, same events, same reports. A world whose lookahead is 0 (two hosts with
 * a zero-latency path) runs on one thread, and sim_world_threads_note says so. */
#define SIM_THREADS_MAX 256u
tp_err sim_world_set_threads(sim_world *w, uint32_t threads);
/* Splits the hosts into `parts` partitions (1..SIM_THREADS_MAX; 0, the default: 8 per
 * thread, at most SIM_THREADS_MAX, one with one thread). The threads take partitions
 * window by window from a shared counter, their own first (README "Parallel runs"), so
 * more partitions than threads even out the load of each window. Only before the first
 * run; the run is the same for any count. */
#define SIM_PARTS_PER_THREAD 8u
tp_err sim_world_set_partitions(sim_world *w, uint32_t parts);
uint32_t sim_world_thread_count(const sim_world *w); /* threads in use (after the first run) */
uint32_t sim_world_part_count(const sim_world *w);   /* partitions */
uint32_t sim_host_part_index(const sim_host *h);     /* 0 .. part_count - 1 */
/* The window length: the smallest one-way base latency between two distinct hosts. */
int64_t sim_world_lookahead_ns(const sim_world *w);
/* Why the run uses fewer threads than asked ("" when it does not). */
const char *sim_world_threads_note(const sim_world *w);

/* Wall-clock figures of a run (for --stats; never part of a result). */
typedef struct sim_part_stats {
    uint64_t busy_ns;   /* running this partition's events (on whichever thread) */
    uint64_t events;    /* events run */
    uint32_t hosts;
} sim_part_stats;
typedef struct sim_thread_stats {
    uint64_t busy_ns;   /* running partitions (taking in their messages, then their events) */
    uint64_t wait_ns;   /* waiting at barriers: for the slowest thread, then the serial part */
    uint64_t parts_run; /* partition-windows run */
    uint64_t parts_taken; /* ... of them another thread's own (taken when it was behind) */
} sim_thread_stats;
typedef struct sim_run_stats {
    uint64_t windows;   /* windows run */
    uint64_t barriers;  /* barriers (windows, world events, returns) */
    uint64_t serial_ns; /* wall time on the calling thread between windows: barriers
                           (reports handed over, barrier_cb) and world events; no worker
                           runs meanwhile (Amdahl's serial part) */
    uint64_t messages;  /* events posted to another partition's host within a window */
    uint32_t threads;
    uint32_t parts;
    sim_thread_stats thread[SIM_THREADS_MAX];
    sim_part_stats part[SIM_THREADS_MAX];
} sim_run_stats;
void sim_world_run_stats(const sim_world *w, sim_run_stats *out);

/* Bytes simnet itself holds for hosts, streams, buffers, files and packets (excluding
 * the applications' tp_env_realloc memory), for memory budgets in benchmarks. */
uint64_t sim_world_backend_bytes(const sim_world *w);

/* ------------------------------------------------------------------------------------ */
/* Hosts                                                                                */

typedef struct sim_host_config {
    tp_ip ip;                   /* unique in the world; IPv4 as ::ffff:a.b.c.d */
    uint8_t subnet_prefix_bits; /* IPv4: 0..32 (default 24); IPv6: 0..128 (default 64) */
    uint32_t region;            /* < region_count */
    uint32_t as_number;
    uint64_t up_bytes_per_s;    /* uplink; 0 = unlimited */
    uint64_t down_bytes_per_s;  /* downlink; 0 = unlimited */
    uint32_t loss_ppm;          /* loss on everything this host sends or receives */
    int64_t clock_offset_ns;    /* wall clock = true wall time + offset (+ drift) */
    int32_t clock_drift_ppm;    /* wall clock runs (1e6 + drift)/1e6 as fast */
} sim_host_config;

/* Defaults: ip unset (all zero: must be set), /24, region 0, AS 0, unlimited
 * bandwidth, no loss, exact clock. */
void sim_host_config_default(sim_host_config *cfg);

/* Adds a host, running (machine up) with no application; its env is usable at once.
 * Errors: TP_ERR_EXISTS (ip taken), TP_ERR_INVAL (region out of range, prefix too
 * long, ip zero), TP_ERR_NOMEM. */
TP_MUST_USE tp_err sim_host_add(sim_world *w, const sim_host_config *cfg, sim_host **out);

/* Adds `count` hosts in `region`, copying *tmpl (NULL: defaults) except ip, region and
 * as_number: addresses are 10.<region>.<k/250>.<k%250+1> (/24), AS = 64512 + region,
 * k counting the hosts already added to that region by this function. *first_index
 * receives the index of the first new host. Errors as sim_host_add, plus TP_ERR_LIMIT
 * beyond 64,000 hosts per region. */
TP_MUST_USE tp_err sim_hosts_add_in_region(sim_world *w, uint32_t region, uint32_t count,
                                           const sim_host_config *tmpl,
                                           uint32_t *first_index);

uint32_t sim_world_host_count(const sim_world *w);
sim_host *sim_world_host(sim_world *w, uint32_t index); /* index < count */
sim_host *sim_world_host_by_ip(sim_world *w, const tp_ip *ip); /* NULL: none */
/* The index of the host with this address, without touching the host (cheaper when
 * only the index is wanted, e.g. for logging); false: none. */
bool sim_world_host_index_by_ip(const sim_world *w, const tp_ip *ip, uint32_t *index);

uint32_t sim_host_index(const sim_host *h);
tp_ip sim_host_ip(const sim_host *h);
uint32_t sim_host_region(const sim_host *h);
uint32_t sim_host_as_number(const sim_host *h);
sim_world *sim_host_world(const sim_host *h);

/* The host's env (ctx = the host). Valid for the world's lifetime. Using it while the
 * host is down (crashed) is a programmer error except for realloc. */
const tp_env *sim_host_env(sim_host *h);

/* Bytes currently allocated by the host's application through tp_env_realloc. */
uint64_t sim_host_memory_bytes(const sim_host *h);

/* ------------------------------------------------------------------------------------ */
/* Applications on hosts                                                                */

/* What runs on a host (a tidepool node, the demo, a test script). The simulator calls:
 * - start: the host boots (sim_host_start); the app creates its state with env.
 * - stop: a clean stop was requested (sim_host_stop); the app should close its streams
 *   and listeners and stop its timers with env. Callbacks keep coming until halt.
 * - halt: the app is gone (after a crash, or at the end of a clean stop's grace
 *   period). Every stream, listener, datagram socket and timer of the host has already
 *   vanished without callbacks; the app frees its memory (tp_env_free only; no other
 *   env call). The app may be started again later (restart), with its disk.
 * Hooks are never called from inside an env call. */
typedef struct sim_app_ops {
    void (*start)(void *app, sim_host *h, const tp_env *env);
    void (*stop)(void *app, sim_host *h, const tp_env *env);
    void (*halt)(void *app, sim_host *h, const tp_env *env);
} sim_app_ops;

/* Installs the app (ops must outlive the host; app is the hooks' first argument).
 * Only while the app is not running. */
void sim_host_set_app(sim_host *h, const sim_app_ops *ops, void *app);

typedef enum sim_host_state {
    SIM_HOST_UP = 0,   /* machine on (the app may or may not be running) */
    SIM_HOST_DOWN = 1, /* crashed: unreachable, silent */
} sim_host_state;

sim_host_state sim_host_get_state(const sim_host *h);
bool sim_host_app_running(const sim_host *h);

/* Boots the host (if down) and starts its app (if any and not running): app->start is
 * called now. Must not be called from inside that host's own callbacks. */
void sim_host_start(sim_host *h);

/* Crash: the machine loses power now. No FIN, no callbacks on this host: its streams,
 * listeners, timers and datagram sockets vanish; unsynced disk writes are lost (see
 * disk_sync_delay_ns); app->halt runs. Peers notice by their own timeouts, or by a
 * reset when they send to the host after it restarted. Must not be called from inside
 * that host's own callbacks (schedule it with sim_fault_at). */
void sim_host_crash(sim_host *h);
/* sim_host_crash on every host whose application runs, in host order: the end of a
 * run. Same effect as the loop, but one pass over the event queue drops all their
 * timers (a crash alone scans the whole queue: a loop over 100,000 hosts was
 * quadratic). Not from inside a host callback. */
void sim_world_crash_running_apps(sim_world *w);

/* Clean stop: app->stop runs now; after grace_ns the app is halted: streams still open
 * are closed gracefully without further callbacks (the peers see data then EOF),
 * listeners/sockets/timers vanish, app->halt runs. The machine stays up (connects to
 * it are refused). */
void sim_host_stop(sim_host *h, int64_t grace_ns);

/* ------------------------------------------------------------------------------------ */
/* Faults and link changes (immediate)                                                  */

/* Partitions host set A from host set B (b == NULL: from every host not in A, including
 * hosts added later). In-flight stream data stalls and is retransmitted after the heal;
 * datagrams across the cut are lost. *id names the partition for sim_heal.
 * Errors: TP_ERR_INVAL (an index out of range, empty A), TP_ERR_NOMEM. */
TP_MUST_USE tp_err sim_partition(sim_world *w, const uint32_t *a, size_t a_count,
                                 const uint32_t *b, size_t b_count, uint32_t *id);
void sim_heal(sim_world *w, uint32_t id); /* unknown or healed id: no-op */
void sim_heal_all(sim_world *w);
/* Can `from` reach `to` right now (both up, no partition between them)? */
bool sim_reachable(const sim_world *w, uint32_t from, uint32_t to);

void sim_host_set_bandwidth(sim_host *h, uint64_t up_bytes_per_s, uint64_t down_bytes_per_s);
void sim_host_set_loss(sim_host *h, uint32_t loss_ppm);
/* Message corruption: each stream segment and datagram this host receives has, with
 * probability corrupt_ppm / 10^6, one byte (at a random offset) flipped to another
 * value — bytes that pass the transport but not a strict decoder. 0 (default): none. */
void sim_host_set_corruption(sim_host *h, uint32_t corrupt_ppm);
/* Latency from region `from` to region `to` (one direction; call twice for both). */
void sim_set_latency(sim_world *w, uint32_t from, uint32_t to, sim_latency lat);
/* Loss between two regions (both directions), added to the hosts' own loss. */
void sim_set_region_loss(sim_world *w, uint32_t ra, uint32_t rb, uint32_t loss_ppm);
/* Steps the host's wall clock by delta_ns (monotonic time is never affected). */
void sim_host_clock_step(sim_host *h, int64_t delta_ns);
/* Sets the drift of the host's wall clock from now on (continuous: no jump). */
void sim_host_clock_drift(sim_host *h, int32_t drift_ppm);
/* Disk loss: every file of the host disappears (use on a crashed or stopped host). */
void sim_host_disk_wipe(sim_host *h);

/* ------------------------------------------------------------------------------------ */
/* TCP model introspection (tests, benchmarks)                                          */

/* What one endpoint's TCP model holds now (the sending side's congestion state and the
 * receiving side's window), like Linux's struct tcp_info. An endpoint that never sent
 * nor received data reports the initial values. */
typedef struct sim_tcp_info {
    uint32_t cwnd_packets;        /* congestion window */
    uint32_t ssthresh_packets;    /* UINT32_MAX: infinite (still in the first slow start) */
    uint32_t inflight_packets;    /* sent and not yet acknowledged */
    uint32_t rcv_wnd_bytes;       /* the peer's advertised window as this sender models it */
    int64_t srtt_ns;              /* smoothed RTT; 0 before the first sample */
    int64_t rttvar_ns;
    int64_t rto_ns;               /* current RTO, back-off included */
    uint32_t backoff;             /* consecutive RTO back-offs */
    uint64_t packets_sent;        /* data packets, retransmissions included */
    uint64_t retransmits;         /* packets retransmitted (loss, drop, RTO) */
    uint64_t loss_events;         /* congestion responses (multiplicative decreases) */
    uint64_t rto_events;          /* ... of which by retransmission timeout */
    uint64_t restarts;            /* slow-start restarts after idle */
    uint32_t syn_retries;         /* connecting side: SYNs retransmitted */
} sim_tcp_info;

/* Fills *out for endpoint s of host h (either side of a connection). */
void sim_stream_tcp_info(const sim_host *h, const tp_stream *s, sim_tcp_info *out);

/* Host-context checks made so far: every function that changes a stream endpoint
 * asserts that the running event is an event of the endpoint's host (simnet/README.md
 * "Streams": causality; a failed check aborts). A count, so that a test can see that
 * the checks ran. */
uint64_t sim_world_context_checks(const sim_world *w);

/* ------------------------------------------------------------------------------------ */
/* Faults as timed operations (plain structs, easy to bind from Lua)                    */

typedef enum sim_fault_kind {
    SIM_FAULT_PARTITION,   /* hosts vs hosts_b (hosts_b NULL: the rest) */
    SIM_FAULT_HEAL,        /* partition_id */
    SIM_FAULT_HEAL_ALL,
    SIM_FAULT_CRASH,       /* every host in hosts */
    SIM_FAULT_STOP,        /* every host in hosts, grace = value_ns */
    SIM_FAULT_START,       /* every host in hosts (boot / restart) */
    SIM_FAULT_BANDWIDTH,   /* hosts: up_bytes_per_s, down_bytes_per_s */
    SIM_FAULT_HOST_LOSS,   /* hosts: loss_ppm */
    SIM_FAULT_LATENCY,     /* region_a -> region_b: value_ns base, jitter_ns */
    SIM_FAULT_REGION_LOSS, /* region_a <-> region_b: loss_ppm */
    SIM_FAULT_CLOCK_STEP,  /* hosts: value_ns */
    SIM_FAULT_CLOCK_DRIFT, /* hosts: drift_ppm */
    SIM_FAULT_DISK_WIPE,   /* hosts */
    SIM_FAULT_CORRUPTION,  /* hosts: loss_ppm is the corruption probability */
    SIM_FAULT_KIND_COUNT
} sim_fault_kind;

typedef struct sim_fault {
    sim_fault_kind kind;
    const uint32_t *hosts;
    size_t host_count;
    const uint32_t *hosts_b;
    size_t host_b_count;
    uint32_t partition_id;
    uint32_t region_a, region_b;
    int64_t value_ns;
    int64_t jitter_ns;
    uint64_t up_bytes_per_s, down_bytes_per_s;
    uint32_t loss_ppm;
    int32_t drift_ppm;
} sim_fault;

/* Schedules *f (copied, host arrays included) at virtual time at_ns (>= now). For
 * SIM_FAULT_PARTITION, *partition_id (may be NULL otherwise) receives the id a later
 * SIM_FAULT_HEAL may name. Errors: TP_ERR_INVAL (bad kind, index or region, at_ns in
 * the past), TP_ERR_NOMEM. */
TP_MUST_USE tp_err sim_fault_at(sim_world *w, int64_t at_ns, const sim_fault *f,
                                uint32_t *partition_id);

#endif
