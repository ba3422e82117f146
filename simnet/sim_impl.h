/* simnet/sim_impl.h — simnet's private structures, shared by its .c files only.
 *
 * sim_queue.c   the event queue (4-ary implicit heap of tp_timer pointers)
 * sim_world.c   world, hosts, clock, randomness, run loop, trace hash, memory, events,
 *               faults, application lifecycle
 * sim_stream.c  TCP streams and listeners (README "Streams")
 * sim_tcp_cc.c  congestion control: CUBIC and Reno as tcp_congestion_ops-like tables
 * sim_dgram.c   datagram sockets and packets
 * sim_disk.c    the per-host in-memory disk
 * sim_env.c     the tp_env ops table
 */
#ifndef TP_SIM_IMPL_H
#define TP_SIM_IMPL_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "simnet/sim.h"

/* ------------------------------------------------------------------------------------ */
/* Event queue                                                                          */

/* Every queued event is a tp_timer: core timers (caller-owned) and simnet's internal
 * events (embedded in streams, packets, scheduled faults). backend_flags says whose. */
#define SIM_TF_INTERNAL 0x80000000u /* simnet's own event; not counted as a timer */
#define SIM_TF_HOST_MASK 0x7fffffffu /* host index + 1 for host timers, 0 = world */

/* 16 bytes: the four children of a node fill one 64-byte cache line (the array is
 * aligned so that they do). Equal times are ordered by timer->backend_seq. */
typedef struct sim_qent {
    int64_t time_ns;
    tp_timer *timer;
} sim_qent;

typedef struct sim_queue {
    sim_qent *ent;   /* raw + 3: ent[1..4], ent[5..8], ... start on cache lines */
    sim_qent *raw;
    uint32_t len, cap;
    /* While an event runs, its entry stays at the root as a "zombie" (its timer is
     * already unarmed): if the callback re-arms that same timer — the common case —
     * one sift-down replaces a pop and a push. Any other operation drops it first. */
    bool zombie;
} sim_queue;

void sim_queue_deinit(sim_queue *q);
/* Inserts or re-keys t (t->backend_index tells whether it is queued); the tie-breaker
 * is t->backend_seq, which the caller sets first. */
void sim_queue_put(sim_queue *q, tp_timer *t, int64_t time_ns);
void sim_queue_remove(sim_queue *q, tp_timer *t);
/* Removes and returns the first entry (len > 0). */
sim_qent sim_queue_pop(sim_queue *q);
/* Returns the first entry and unarms its timer, leaving it as the zombie until
 * sim_queue_end_pop (see sim_queue.zombie). */
sim_qent sim_queue_begin_pop(sim_queue *q);
void sim_queue_end_pop(sim_queue *q);
static inline uint32_t sim_queue_len(const sim_queue *q) { return q->len - q->zombie; }
/* Drops every entry for which drop(timer, arg) is true (their timers become unarmed),
 * then restores the heap. O(n). */
void sim_queue_filter(sim_queue *q, bool (*drop)(const tp_timer *t, void *arg), void *arg);

/* ------------------------------------------------------------------------------------ */
/* Streams                                                                              */

typedef struct sim_ring {
    uint8_t *buf; /* NULL while empty: allocated on demand, freed when drained */
    uint32_t cap, head, len;
} sim_ring;

enum {
    SIM_SEG_FIN = 1u << 0,
    SIM_SEG_SYNACK = 1u << 1,
    SIM_SEG_ACK = 1u << 2,
    SIM_SEG_RST = 1u << 3,
    SIM_SEG_NOACK = 1u << 4,  /* sent over a cut path: its ACK is made at delivery */
};

/* A message between hosts about a connection (sim_stream.c): an event of the receiving
 * host, created by an event of the sender at least one path latency earlier
 * (PARALLEL.md). Endpoints are named by (host, id), never by pointer. Messages
 * come from the free list of the sender's partition and go back to the receiver's. */
typedef struct sim_smsg {
    tp_timer t;
    struct sim_smsg *next_free;
    sim_host *to;
    uint64_t from_id, to_id;  /* endpoint ids (0: none, e.g. a SYN's destination) */
    uint32_t from_host;
    uint8_t kind;             /* SIM_M_* (sim_stream.c) */
    uint8_t flags;            /* segments: SIM_SEG_* */
    uint16_t tag;             /* data trains: sim_seg.tag */
    uint16_t port, from_port; /* SYN: the destination port, the client's port */
    uint32_t seq;             /* segments: sequence number of the first byte */
    uint32_t len, cap;        /* payload bytes in data, its capacity */
    int64_t v1;               /* kind-specific */
    uint8_t *data;
} sim_smsg;

/* A host's endpoints by id (sim_stream.c): open addressing with linear probing, at
 * most 3/4 full, a power-of-two capacity. */
typedef struct sim_stab {
    uint32_t cap, count;
    tp_stream *e[];
} sim_stab;

/* A return of acknowledgements to the sending endpoint (its t_ctl runs them in time
 * order): `packets` more packets are acknowledged (cumulatively or selectively), and/or
 * a loss is signalled (the third duplicate ACK / SACK, a tail loss probe's answer, or a
 * retransmission timeout). */
enum {
    SIM_ACK_LOSS = 1u << 0,   /* enter recovery: the algorithm's multiplicative decrease */
    SIM_ACK_RTO = 1u << 1,    /* ... by a retransmission timeout: cwnd 1, back-off */
    SIM_ACK_SAMPLE = 1u << 2, /* sent_ns gives an RTT sample (never for retransmissions) */
};

typedef struct sim_ack {
    int64_t time_ns;          /* arrival at the sender */
    int64_t sent_ns;          /* when the acknowledged packets were sent */
    uint32_t packets;
    uint16_t flags;           /* SIM_ACK_* */
    uint16_t tag;             /* the train's (sim_seg.tag) for its natural ACK, else 0 */
} sim_ack;

struct sim_tcb;
/* The congestion-control algorithm: shaped like Linux's struct tcp_congestion_ops
 * (include/net/tcp.h), sim_tcp_cc.c. */
typedef struct sim_tcp_cc_ops {
    const char *name;
    void (*init)(struct sim_tcb *t);
    /* The slow-start threshold after a loss (and the algorithm's own bookkeeping). */
    uint32_t (*ssthresh)(struct sim_tcb *t);
    /* `acked` packets were acknowledged at now_ms (cwnd_limited: the window was used). */
    void (*cong_avoid)(struct sim_tcb *t, uint32_t acked, uint32_t now_ms);
    /* `acked` packets acknowledged at now_us, with an RTT sample rtt_us (0: none). */
    void (*pkts_acked)(struct sim_tcb *t, uint32_t acked, uint32_t rtt_us, uint64_t now_us);
    /* CA_EVENT_TX_START: sending again with nothing in flight, idle since idle_ms. */
    void (*tx_start)(struct sim_tcb *t, uint32_t now_ms, uint32_t idle_ms);
    /* A retransmission timeout (TCP_CA_Loss). */
    void (*on_rto)(struct sim_tcb *t);
} sim_tcp_cc_ops;

const sim_tcp_cc_ops *sim_tcp_cc_find(sim_tcp_cc cc);

/* The TCP model's state of one endpoint, allocated when the connection is established
 * (README "Streams"). The sender part is about what this endpoint sends; the receiver
 * part about what it receives. */
typedef struct sim_tcb {
    const sim_tcp_cc_ops *ops;
    /* sender */
    uint32_t cwnd, ssthresh;      /* packets */
    uint32_t cwnd_cnt;            /* tcp_cong_avoid_ai's counter (snd_cwnd_cnt) */
    uint32_t inflight;            /* packets out and not acknowledged */
    uint32_t max_inflight;        /* this burst's peak (tcp_is_cwnd_limited) */
    uint8_t cwnd_limited;         /* the last send stopped on cwnd with data waiting */
    uint8_t backoff;              /* RTO back-off exponent */
    uint8_t quick;                /* sender's model of the peer: packets it still ACKs at once */
    uint8_t resumed;              /* receiver: the next read is a resumed reader's burst */
    uint16_t train_tag;           /* the last data train's tag (sim_seg.tag) */
    int64_t srtt_ns, rttvar_ns;   /* 0: no sample yet */
    int64_t last_send_ns;         /* lsndtime */
    int64_t recovery_end_ns;      /* losses detected before this are the same episode */
    int64_t last_rcv_ns;          /* sender's model: our last packet's arrival (quickack) */
    uint32_t rcv_wnd;             /* sender's model: the peer's advertised window (rcv_ssthresh) */
    uint32_t peer_clamp;          /* sender: the peer's window clamp as last reported */
    uint32_t peer_arrived;        /* sender: bytes of ours the peer received (wrapping) */
    uint32_t peer_read;           /* sender: ... it reported consumed (window updates) */
    uint32_t snd_seq;             /* sender: sequence number of the first byte of snd */
    uint32_t rcv_nxt;             /* receiver: bytes received in order (next expected seq) */
    uint32_t rd_total;            /* receiver: bytes consumed (read, or discarded) */
    uint32_t rd_reported;         /* receiver: rd_total as last reported to the sender */
    uint32_t clamp_reported;      /* receiver: window_clamp as last reported */
    uint32_t rcv_hold;            /* receiver: bytes at rcv's tail still in the downlink */
    struct sim_rxq *rxq;          /* receiver: trains held in the downlink (on demand) */
    uint32_t window_clamp;        /* receiver: its ceiling, autotuned by what is read */
    uint32_t rcv_space;           /* receiver: bytes read in the last measured RTT */
    uint32_t copied;              /* receiver: bytes read since rcv_space_ns */
    int64_t rcv_space_ns;         /* receiver: start of the current measurement */
    uint32_t ack_head, ack_count, ack_cap;
    sim_ack *acks;                /* pending ACK arrivals, sorted by time */
    uint64_t packets_sent, retransmits, loss_events, rto_events, restarts;
    uint64_t delivered;           /* packets acknowledged, cumulative (snd_una) */
    /* the algorithm's private state (tcp_congestion_ops' icsk_ca_priv) */
    uint32_t ca[16];
} sim_tcb;

typedef struct sim_seg {
    int64_t time_ns;  /* next event for this segment (arrival, downlink done, retry) */
    uint32_t len;
    uint8_t flags;    /* SIM_SEG_* */
    uint8_t stage;    /* 0: in the air, 1: through the receiver's downlink */
    uint16_t tag;     /* data trains: matches the sim_ack of its natural ACK (0: none) */
} sim_seg;

typedef enum sim_tcp_state {
    SIM_TCP_SYN_SENT,
    SIM_TCP_SYN_RCVD,   /* accepted side before the final ACK (pending in a listener) */
    SIM_TCP_ESTABLISHED,
    SIM_TCP_DEAD,       /* reset, refused, timed out, or cancelled */
} sim_tcp_state;

typedef enum sim_user_state {
    SIM_USER_UNADOPTED, /* accepted, callbacks not given yet */
    SIM_USER_ACTIVE,
    SIM_USER_CLOSING,   /* close called: only on_close remains */
    SIM_USER_DETACHED,  /* no more callbacks (on_close delivered, or never had any) */
} sim_user_state;

enum { /* pending notifications (tp_stream.notify) */
    SIM_N_CONNECT = 1u << 0,
    SIM_N_DATA = 1u << 1,
    SIM_N_EOF = 1u << 2,
    SIM_N_WRITABLE = 1u << 3,
    SIM_N_CLOSE = 1u << 4,
};

enum { /* tp_stream.ctl: what t_ctl is armed for */
    SIM_CTL_NONE,
    SIM_CTL_SYN,          /* our SYN arrives at the remote host */
    SIM_CTL_REFUSED,      /* the remote's RST answering our SYN */
    SIM_CTL_RST,          /* a RST answering data sent to a connection that is gone */
    SIM_CTL_ACK,          /* established: the first pending ACK (tcb->acks) arrives */
};

struct tp_stream {
    sim_host *host;
    uint64_t peer_id;           /* the peer endpoint's id (0: not known yet) */
    tp_stream *host_prev, *host_next;
    tp_listener *listener;      /* SYN_RCVD: the listener it is pending in */
    const tp_stream_cbs *cbs;
    void *arg;
    uint64_t id;                /* world-unique, in creation order (trace hash) */
    tp_point local, remote;
    uint32_t peer_host;         /* index of the remote host; UINT32_MAX: no such host */
    uint8_t tcp;                /* sim_tcp_state */
    uint8_t user;               /* sim_user_state */
    uint8_t notify;             /* SIM_N_* */
    uint8_t ctl;                /* SIM_CTL_* */
    uint8_t paused, want_writable, fin_queued, fin_sent;
    uint8_t fin_acked, eof_received, eof_delivered, dead;
    uint8_t retries;            /* consecutive stalls of the head segment */
    uint8_t syn_tries;
    uint8_t in_data_cb;         /* on_data is running: rcv must not be freed */
    uint8_t tx_exact;           /* t_tx watches each segment's arrival (else: lazily) */
    uint16_t seg_cap, seg_head, seg_count;
    uint16_t ka_unanswered;     /* saturates (fits a hole: idle streams stay 392 bytes) */
    tp_err close_reason;
    uint32_t snd_sent;          /* bytes of snd in flight (from its head) */
    sim_tcb *tcb;               /* TCP model state, from the first data on (NULL before) */
    sim_ring snd, rcv;
    sim_seg *segs;
    int64_t last_arrival_ns;    /* in-order: no segment arrives before this */
    int64_t progress_ns;        /* last ack, or when data became pending */
    int64_t last_heard_ns;      /* last time anything came from the peer */
    tp_timer t_tx, t_notify, t_watch, t_ctl;
    tp_stream *grave_next;
};

struct tp_listener {
    sim_host *host;
    tp_listener *next;
    tp_point local;
    int backlog;
    int pending;
    tp_accept_cb cb;
    void *arg;
};

/* ------------------------------------------------------------------------------------ */
/* Datagrams                                                                            */

struct tp_dgram {
    sim_host *host;
    tp_dgram *next;
    tp_point local;
    tp_dgram_cb cb;
    void *arg;
};

typedef struct sim_packet {
    tp_timer t;
    struct sim_packet *next_free;
    sim_world *world;
    uint32_t from_host, to_host;
    tp_point from;
    uint16_t to_port;
    uint32_t len, cap;
    uint8_t *data;
} sim_packet;

/* ------------------------------------------------------------------------------------ */
/* Disk                                                                                 */

/* A file's content as stored: `len` bytes as written, held in `stored_len` bytes at
 * `bytes`, compressed (zstd) when the world has disk_compress and that was smaller. */
typedef struct sim_content {
    uint8_t *bytes;
    size_t len;
    size_t stored_len;
    bool compressed;
} sim_content;

typedef struct sim_file {
    struct sim_file *next;
    char *name;
    sim_content data;
    sim_content old;       /* last durable content while data is not durable yet */
    bool old_exists;
    int64_t written_ns;
} sim_file;

#define SIM_FILES_MAX 256u
#define SIM_FILE_BYTES_MAX (64u << 20)
#define SIM_FILE_NAME_MAX 255u

/* ------------------------------------------------------------------------------------ */
/* Hosts and the world                                                                  */

typedef struct sim_host_rng {
    uint8_t key[32];
    uint64_t block;
    uint8_t buf[64];
    uint8_t pos;           /* next unused byte of buf; 64 = empty */
} sim_host_rng;

struct sim_host {
    sim_world *world;
    struct sim_part *part;    /* the partition whose thread runs this host's events */
    tp_env env;
    uint64_t seq;             /* this host's own sequence: event keys, stream ids */
    uint64_t trace;           /* this host's trace accumulator (0: nothing yet) */
    uint64_t mrng;            /* this host's model stream (splitmix64: jitter, loss, splits) */
    uint32_t index;
    uint32_t region;
    uint32_t as_number;
    uint32_t loss_ppm;
    uint32_t corrupt_ppm;     /* on what this host receives */
    tp_ip ip;
    uint8_t state;            /* sim_host_state */
    uint8_t app_running;
    uint8_t app_stopping;
    uint8_t prefix_bits;
    uint16_t next_port;
    /* ACK bytes sent since this host last sent data, charged to its uplink with the
     * next data (saturates at 65535: it fills a hole, idle hosts stay 200 bytes) */
    uint16_t ack_debt_bytes;
    uint32_t timers_armed;    /* host timers in the queue (crash skips the scan if 0) */
    uint32_t subnet_next;     /* next host index in the same subnet, UINT32_MAX: end */
    int32_t drift_ppm;
    uint64_t up_bps, down_bps; /* bytes per second */
    int64_t up_free_ns, down_free_ns;
    int64_t wall_anchor_now_ns, wall_anchor_wall_ns;
    uint64_t memory_bytes;
    const sim_app_ops *app_ops;
    void *app;
    tp_stream *streams;
    sim_stab *stab;           /* endpoints by id (messages name them so), on demand */
    tp_listener *listeners;
    tp_dgram *dgrams;
    sim_file *files;
    sim_host_rng *rng;
    struct sim_halt *halt;    /* a pending end of a clean stop */
};

typedef struct sim_partition {
    uint32_t id;
    bool active;
    uint32_t bits_len;        /* hosts covered by the bitsets */
    uint8_t *a_bits;
    uint8_t *b_bits;          /* NULL: everyone not in A */
} sim_cut;

#define SIM_HOST_CHUNK_SHIFT 10u
#define SIM_HOST_CHUNK (1u << SIM_HOST_CHUNK_SHIFT)

/* A partition: a share of the hosts whose events one thread runs within a window, with
 * everything those events write that is not a host's own (README "Parallel runs"). The
 * world-level code at a barrier runs with every worker parked and uses parts[0]. */
typedef struct sim_part {
    sim_world *world;
    uint32_t index;
    int64_t now_ns;           /* this partition's clock (every clock equal at a barrier) */
    sim_queue q;              /* events of this partition's hosts */
    sim_stats stats;          /* summed over partitions by sim_world_stats */
    int64_t backend_bytes;    /* simnet memory allocated here minus freed here (may be < 0) */
    sim_host *cb_host;        /* whose callbacks the running event delivers (asserts) */
    tp_stream *graveyard;
    sim_packet *packet_free;
    sim_smsg *smsg_free;      /* stream messages for reuse (sim_stream.c) */
    uint32_t smsg_free_count;
    uint64_t ctx_checks;      /* host-context checks made (sim_stream.c, a debug count) */
    uint8_t *ring_cache;      /* drained stream buffers for reuse (sim_stream.c) */
    uint32_t ring_cache_count;
    void *zstd_cctx, *zstd_dctx; /* disk_compress: created on first use */
    uint8_t *zbuf;            /* compression scratch */
    size_t zbuf_cap;
    /* events for hosts of other partitions, by destination partition, in two sets: a
     * window writes one while the partitions take in the other, the last window's, as
     * they start (README "Parallel runs") */
    struct sim_outbox *out[2];
    int64_t out_min[2];       /* the earliest time in each set (INT64_MAX: none) */
    uint64_t out_posted;      /* messages posted to other partitions (run statistics) */
    struct sim_report *rep;   /* tp_env_event reports, handed to event_cb at the barrier */
    uint32_t rep_len, rep_cap;
    char *rep_text;           /* their detail strings */
    size_t rep_text_len, rep_text_cap;
    int64_t last_event_ns;    /* time of the last event this partition ran */
    /* run statistics (sim_world_run_stats; wall clock, never part of the simulation) */
    uint64_t busy_ns, events_run;
    uint64_t last_ns;         /* wall time of its last window: the next one's estimate */
} sim_part;

typedef struct sim_outbox {
    tp_timer **ev;
    uint32_t len, cap;
} sim_outbox;

/* What belongs to a thread rather than to a partition (a thread runs several): the
 * key-agreement memo, a cache whose answers are the same from any thread, and the run
 * statistics. Slot 0 is the calling thread's; sim_tidx says which slot is this thread's. */
typedef struct sim_tslot {
    struct sim_kx *kx;        /* key-agreement memo (sim_crypto.c), on first use */
    sim_thread_stats st;
} __attribute__((aligned(64))) sim_tslot;
extern _Thread_local uint32_t sim_tidx;

struct sim_world {
    sim_world_config cfg;
    int64_t now_ns;           /* the world's clock: at a barrier, or of the last event */
    uint64_t seq;             /* world events' sequence */
    uint64_t trace;           /* the world's own trace accumulator (faults, world timers) */
    _Atomic bool stop;        /* sim_world_stop: the run returns at the next barrier */
    sim_queue wq;             /* world events: world timers, scheduled faults */
    sim_part **parts;         /* part_count partitions (at least one), SIM_THREADS_MAX slots */
    uint32_t part_count;
    uint32_t part_block;      /* hosts per block dealt to partitions (sim_part_of_index) */
    uint32_t threads_wanted;  /* sim_world_set_threads */
    uint32_t parts_wanted;    /* sim_world_set_partitions (0: SIM_PARTS_PER_THREAD each) */
    uint32_t thread_count;    /* threads in use (fixed by the first run) */
    sim_tslot *tslot;         /* SIM_THREADS_MAX slots */
    uint32_t out_set;         /* the outbox set the running (or next) window writes */
    bool started;             /* the first run fixed the partitions */
    bool in_window;           /* workers are running a window: cross-partition posts queue */
    bool in_events;           /* hosts' events are running (any thread count): reports wait */
    int64_t window_end_ns;    /* the running window's end (exclusive) */
    bool net_dirty;           /* cuts or host states changed since host events last ran */
    int64_t host_ran_ns;      /* the time of the last host event run (-1: none yet) */
    int64_t net_change_ns;    /* host_ran_ns at the first such change: host events up to
                               * it saw the old state (sim_streams_net_changed) */
    int64_t lookahead_ns;     /* smallest one-way base latency between two distinct hosts */
    char threads_note[160];   /* why a run uses fewer threads than asked, or "" */
    uint64_t windows, barriers;
    uint64_t serial_ns;       /* run statistics: time in barriers and world events */
    struct sim_pool *pool;    /* worker threads (sim_thread.c), NULL with one partition */

    sim_latency *latency;     /* region_count^2 */
    uint32_t *region_loss;    /* region_count^2, symmetric */
    uint32_t region_auto_count[SIM_REGIONS_MAX];
    uint32_t *region_hosts;   /* hosts per region (for the lookahead) */

    sim_host **chunks;        /* chunks of SIM_HOST_CHUNK hosts: hosts never move */
    uint32_t chunk_count;
    uint32_t host_count;

    /* open addressing by address; each slot keeps the address, so a lookup never
     * touches a host (at 10,000 hosts the host was a cache miss per lookup) */
    struct sim_ip_slot *ip_map;
    uint32_t ip_map_cap;
    struct sim_subnet *subnets; /* open addressing by (network, prefix) */
    uint32_t subnet_cap, subnet_count;

    sim_cut *partitions;         /* partitions, by id - 1 */
    uint32_t partition_count, partition_cap;

    struct sim_sched *scheds; /* scheduled faults not yet run */
};

typedef struct sim_ip_slot {
    tp_ip ip;
    uint32_t index1;          /* host index + 1, 0 = empty */
} sim_ip_slot;

typedef struct sim_subnet {
    tp_ip network;
    uint8_t prefix_bits;
    bool used;
    uint32_t first_host;      /* head of the host chain (sim_host.subnet_next) */
    uint32_t last_host;
} sim_subnet;

/* ---- world helpers (sim_world.c) ---- */
static inline sim_host *sim_host_at(const sim_world *w, uint32_t index) {
    return &w->chunks[index >> SIM_HOST_CHUNK_SHIFT][index & (SIM_HOST_CHUNK - 1)];
}

/* The clock of the partition running h's events. */
static inline int64_t sim_now(const sim_host *h) { return h->part->now_ns; }
/* h's model stream (jitter, loss, corruption, read splits): drawn only by h's events. */
uint64_t sim_host_rng_next(sim_host *h);
uint64_t sim_host_rng_below(sim_host *h, uint64_t bound);
/* Trace: an event of host h (mixed into h->trace with h's clock), or of the world. */
void sim_trace(sim_host *h, uint64_t kind, uint64_t a, uint64_t b, uint64_t c);
void sim_trace_bytes(sim_host *h, const uint8_t *data, size_t len);
void sim_wtrace(sim_world *w, uint64_t kind, uint64_t a, uint64_t b, uint64_t c);
/* A simnet-internal event of host h (its queue, its key). */
void sim_arm(sim_host *h, tp_timer *t, int64_t time_ns);
void sim_disarm(sim_host *h, tp_timer *t);
/* A message: an event of host `to` created by an event of host `from`, at a time at
 * least the lookahead after from's clock (to == from: any time). Keyed by from's
 * sequence; crosses partitions at the next barrier. Never cancelled. */
void sim_post(sim_host *from, sim_host *to, tp_timer *t, int64_t time_ns);
/* A simnet-internal world event (scheduled faults): runs at a barrier. */
void sim_warm(sim_world *w, tp_timer *t, int64_t time_ns);
void sim_wdisarm(sim_world *w, tp_timer *t);
/* sim_crypto.c: the env's key agreement (tp_env_ops.sim_key_agreement) and its memo. */
tp_err sim_key_agreement(sim_part *p, uint8_t out[32], const uint8_t remote_pk[32],
                         const uint8_t local_sk[32]);
void sim_kx_free(sim_tslot *t);
void sim_ring_cache_free(sim_part *p); /* sim_stream.c */

/* simnet's own memory, accounted to the partition that allocates or frees it. */
void *sim_backend_alloc(sim_part *p, size_t size);   /* zeroed; aborts on OOM */
void *sim_backend_realloc(sim_part *p, void *ptr, size_t old_size, size_t new_size);
void sim_backend_free(sim_part *p, void *ptr, size_t size);
bool sim_path_open(const sim_world *w, uint32_t from, uint32_t to);
/* One-way latency from -> to, jitter drawn from the acting host's stream. */
int64_t sim_latency_ns(sim_host *actor, const sim_host *from, const sim_host *to);
uint32_t sim_loss_ppm(const sim_world *w, const sim_host *from, const sim_host *to);
int64_t sim_rto_ns(const sim_world *w, unsigned attempt);
int64_t sim_ser_ns(uint64_t bytes, uint64_t bytes_per_s);
/* The offset and xor mask of a corruption for a len-byte message received by `to`, or
 * false (most of the time). */
bool sim_corrupt_pick(sim_host *actor, const sim_host *to, uint32_t len, uint32_t *offset,
                      uint8_t *mask);
uint16_t sim_host_ephemeral_port(sim_host *h);
bool sim_host_ip_matches(const sim_host *h, const tp_ip *ip); /* :: or the host's ip */
uint32_t sim_subnet_first(sim_world *w, const sim_host *h);   /* chain via subnet_next */
bool sim_is_subnet_broadcast(const sim_host *h, const tp_ip *to);
int64_t sim_host_wall_ns(const sim_host *h);
void sim_host_random(sim_host *h, void *buf, size_t len);
/* Host (flags = index + 1) and world (flags = 0) timers. */
void sim_timer_start_flags(sim_world *w, tp_timer *t, int64_t deadline_ns, uint32_t flags);
void sim_timer_stop_flags(sim_world *w, tp_timer *t);

/* ---- run loop (sim_world.c) and worker threads (sim_thread.c) ---- */
/* Hosts go to partitions in blocks of consecutive indices dealt round-robin: regions are
 * mixed (scenarios number hosts region by region, or interleave them) and two threads
 * rarely write neighbouring hosts, which share cache lines (a host is ~290 bytes; host
 * index % P put every neighbour on another thread). Blocks of up to 64 hosts, smaller in
 * small worlds so that every partition gets about 8 blocks (sim_world.part_block). */
#define SIM_PART_BLOCK_MAX 64u
static inline uint32_t sim_part_of_index(uint32_t index, uint32_t block, uint32_t parts) {
    return (index / block) % parts;
}
void sim_part_run_window(sim_part *p, int64_t end);
void sim_part_take_in(sim_part *p, uint32_t set); /* the messages of outbox set `set` */
void sim_report_add(sim_host *h, const tp_event *ev); /* a tp_env_event, for the barrier */
void sim_pool_start(sim_world *w);          /* thread_count - 1 workers */
/* Every partition takes in outbox set `in_set`, then runs its events before `end`. */
void sim_pool_run(sim_world *w, int64_t end, uint32_t in_set);
void sim_pool_stop(sim_world *w);
uint64_t sim_mono_ns(void); /* wall clock for run statistics only */

/* trace kinds */
enum {
    SIM_TRACE_TIMER = 1,
    SIM_TRACE_WORLD_TIMER,
    SIM_TRACE_SEG,
    SIM_TRACE_RETX,
    SIM_TRACE_NOTIFY,
    SIM_TRACE_DATA,
    SIM_TRACE_CTL,
    SIM_TRACE_WATCH,
    SIM_TRACE_ACCEPT,
    SIM_TRACE_DGRAM,
    SIM_TRACE_EVENT,
    SIM_TRACE_FAULT,
    SIM_TRACE_APP,
    SIM_TRACE_MSG,
};

/* ---- streams (sim_stream.c) ---- */
tp_err sim_stream_listen(sim_host *h, const tp_point *local, int backlog, tp_accept_cb cb,
                         void *arg, tp_listener **out);
void sim_stream_listener_close(sim_host *h, tp_listener *l);
tp_err sim_stream_connect(sim_host *h, const tp_point *remote, const tp_stream_cbs *cbs,
                          void *arg, tp_stream **out);
void sim_stream_adopt(sim_host *h, tp_stream *s, const tp_stream_cbs *cbs, void *arg);
tp_err sim_stream_write(sim_host *h, tp_stream *s, const uint8_t *data, size_t len,
                        size_t *taken);
void sim_stream_read_pause(sim_host *h, tp_stream *s);
void sim_stream_read_resume(sim_host *h, tp_stream *s);
void sim_stream_shutdown_write(sim_host *h, tp_stream *s);
void sim_stream_close(sim_host *h, tp_stream *s);
void sim_stream_reset(sim_host *h, tp_stream *s);
void sim_stream_addresses(sim_host *h, tp_stream *s, tp_point *local, tp_point *remote);
/* Host lifecycle: every stream/listener vanishes without a callback (crash), or
 * streams are closed gracefully as orphans (end of a clean stop). */
void sim_streams_host_crash(sim_host *h);
void sim_streams_host_halt(sim_host *h);
void sim_streams_flush_graveyard(sim_part *p);
void sim_smsgs_free(sim_part *p); /* messages in flight and the free list (teardown) */
/* Cuts or host states changed (at a barrier, before host events run again): streams
 * with segments in flight confirm those that arrived before, and watch the others'
 * arrivals one by one (sim_stream.c, "lazy confirmation"). */
void sim_streams_net_changed(sim_world *w);
/* The host whose event this thread runs (NULL at a barrier): stream functions check
 * that they touch only its endpoints (sim_stream.c). */
extern _Thread_local sim_host *sim_ctx_host;

/* ---- datagrams (sim_dgram.c) ---- */
tp_err sim_dgram_open(sim_host *h, const tp_point *local, tp_dgram_cb cb, void *arg,
                      tp_dgram **out);
tp_err sim_dgram_send(sim_host *h, tp_dgram *d, const tp_point *to, const uint8_t *data,
                      size_t len);
void sim_dgram_close(sim_host *h, tp_dgram *d);
void sim_dgrams_host_drop(sim_host *h);
void sim_packets_free(sim_part *p);

/* ---- disk (sim_disk.c) ---- */
tp_err sim_disk_read(sim_host *h, const char *name, uint8_t *buf, size_t cap, size_t *len);
tp_err sim_disk_write(sim_host *h, const char *name, const uint8_t *data, size_t len);
tp_err sim_disk_rename(sim_host *h, const char *from, const char *to);
void sim_disk_crash(sim_host *h);  /* unsynced writes are lost */
void sim_disk_wipe(sim_host *h);
void sim_disk_free_codec(sim_part *p); /* the compression contexts (world teardown) */

/* ---- env (sim_env.c) ---- */
extern const tp_env_ops sim_env_ops;

#endif
