/* simnet/sim_tcp_cc.c — congestion control for simnet's TCP model: Reno and CUBIC as
 * small ops tables shaped like Linux's struct tcp_congestion_ops (include/net/tcp.h).
 *
 * Both follow the kernel's integer arithmetic (net/ipv4/tcp_cong.c: tcp_slow_start,
 * tcp_cong_avoid_ai, tcp_reno_*; net/ipv4/tcp_cubic.c: bictcp_update, cubic_root,
 * cubictcp_recalc_ssthresh, cubictcp_cwnd_event), written here from RFC 5681 and
 * RFC 9438 and the kernel's documented constants: beta 717/1024 (0.7), C = 0.4
 * (bic_scale 41), fast convergence and the Reno-friendly region on, time in ms
 * (HZ = 1000). CUBIC's HyStart (the delay increase and ACK-train exits from slow
 * start, tcp_cubic.c: hystart_update) is included: it is on by default in Linux.
 */
#include "simnet/sim_impl.h"

/* ------------------------------------------------------------------------------------ */
/* Shared (tcp_cong.c)                                                                  */

#define SIM_CWND_CLAMP 100000u

/* Slow start: cwnd grows by the acknowledged packets up to ssthresh; returns what is
 * left for congestion avoidance. */
static uint32_t slow_start(sim_tcb *t, uint32_t acked) {
    uint32_t cwnd = t->cwnd + acked;
    if (cwnd > t->ssthresh) cwnd = t->ssthresh;
    acked -= cwnd - t->cwnd;
    t->cwnd = cwnd < SIM_CWND_CLAMP ? cwnd : SIM_CWND_CLAMP;
    return acked;
}

/* Additive increase: one packet per w acknowledged packets. */
static void cong_avoid_ai(sim_tcb *t, uint32_t w, uint32_t acked) {
    if (t->cwnd_cnt >= w) {
        t->cwnd_cnt = 0;
        t->cwnd++;
    }
    t->cwnd_cnt += acked;
    if (t->cwnd_cnt >= w) {
        uint32_t delta = t->cwnd_cnt / w;
        t->cwnd_cnt -= delta * w;
        t->cwnd += delta;
    }
    if (t->cwnd > SIM_CWND_CLAMP) t->cwnd = SIM_CWND_CLAMP;
}

static bool in_slow_start(const sim_tcb *t) { return t->cwnd < t->ssthresh; }

/* tcp_is_cwnd_limited: in slow start, grow while cwnd < 2 * the packets really out. */
static bool cwnd_limited(const sim_tcb *t) {
    if (in_slow_start(t)) return t->cwnd < 2 * t->max_inflight;
    return t->cwnd_limited;
}

/* ------------------------------------------------------------------------------------ */
/* Reno                                                                                 */

static void reno_init(sim_tcb *t) { (void)t; }

static uint32_t reno_ssthresh(sim_tcb *t) { return t->cwnd / 2 > 2 ? t->cwnd / 2 : 2; }

static void reno_cong_avoid(sim_tcb *t, uint32_t acked, uint32_t now_ms) {
    (void)now_ms;
    if (!cwnd_limited(t)) return;
    if (in_slow_start(t)) {
        acked = slow_start(t, acked);
        if (acked == 0) return;
    }
    cong_avoid_ai(t, t->cwnd, acked);
}

static void reno_pkts_acked(sim_tcb *t, uint32_t acked, uint32_t rtt_us, uint64_t now_us) {
    (void)t, (void)acked, (void)rtt_us, (void)now_us;
}

static void reno_tx_start(sim_tcb *t, uint32_t now_ms, uint32_t idle_ms) {
    (void)t, (void)now_ms, (void)idle_ms;
}

static void reno_on_rto(sim_tcb *t) { (void)t; }

static const sim_tcp_cc_ops reno_ops = {
    "reno", reno_init, reno_ssthresh, reno_cong_avoid, reno_pkts_acked, reno_tx_start, reno_on_rto,
};

/* ------------------------------------------------------------------------------------ */
/* CUBIC                                                                                */

#define BETA_SCALE 1024u
#define BETA 717u                 /* 0.7 * 1024 */
#define BIC_HZ 10u                /* time in 2^-10 s */
#define CUBE_RTT_SCALE (41u * 10u) /* bic_scale * 10: C = 0.4 */
/* 8 * (1024 + 717) / 3 / (1024 - 717): the Reno-friendly slope */
#define BETA_FRIENDLY (8u * (BETA_SCALE + BETA) / 3u / (BETA_SCALE - BETA))
/* 2^(10 + 3 * BIC_HZ) / CUBE_RTT_SCALE */
#define CUBE_FACTOR ((1ull << (10u + 3u * BIC_HZ)) / CUBE_RTT_SCALE)

enum { /* t->ca[] slots */
    CU_CNT,            /* increase cwnd by 1 after this many ACKed packets */
    CU_LAST_MAX_CWND,  /* cwnd before the last reduction (W_max) */
    CU_LAST_CWND,
    CU_LAST_TIME,      /* ms */
    CU_ORIGIN,         /* the cubic's plateau */
    CU_K,              /* time to reach the plateau, 2^-10 s */
    CU_DELAY_MIN,      /* min RTT, us (0: none) */
    CU_EPOCH_START,    /* ms + 1 (0: no epoch) */
    CU_ACK_CNT,
    CU_TCP_CWND,       /* the Reno-friendly estimate */
    HY_FOUND,          /* HyStart: slow start was left */
    HY_ROUND_START,    /* us (low 32 bits) */
    HY_END_SEQ,        /* the round ends when this many packets are acknowledged */
    HY_LAST_ACK,       /* us (low 32 bits) */
    HY_CURR_RTT,       /* min RTT of this round's first samples, us */
    HY_SAMPLES,
};

#define HY_LOW_WINDOW 16u
#define HY_MIN_SAMPLES 8u
#define HY_ACK_DELTA_US 2000u

/* floor(cbrt(a)) for a < 2^64 (bit by bit: exact, deterministic). */
static uint32_t cube_root(uint64_t a) {
    uint64_t r = 0;
    for (int s = 63; s >= 0; s -= 3) {
        r <<= 1;
        uint64_t b = 3 * r * (r + 1) + 1;
        if ((a >> s) >= b) {
            a -= b << s;
            r++;
        }
    }
    return (uint32_t)r;
}

static void hystart_reset(sim_tcb *t, uint32_t now_us);

static void cubic_reset(sim_tcb *t) {
    for (unsigned i = 0; i < sizeof t->ca / sizeof t->ca[0]; i++)
        if (i != CU_DELAY_MIN) t->ca[i] = 0;
}

static void cubic_init(sim_tcb *t) {
    cubic_reset(t);
    t->ca[CU_DELAY_MIN] = 0;
    hystart_reset(t, 0);
}

static uint32_t cubic_ssthresh(sim_tcb *t) {
    t->ca[CU_EPOCH_START] = 0;
    if (t->cwnd < t->ca[CU_LAST_MAX_CWND]) /* fast convergence */
        t->ca[CU_LAST_MAX_CWND] = (t->cwnd * (BETA_SCALE + BETA)) / (2 * BETA_SCALE);
    else
        t->ca[CU_LAST_MAX_CWND] = t->cwnd;
    uint32_t s = (t->cwnd * BETA) / BETA_SCALE;
    return s > 2 ? s : 2;
}

static void cubic_update(sim_tcb *t, uint32_t acked, uint32_t now_ms) {
    uint32_t *ca = t->ca, cwnd = t->cwnd;
    ca[CU_ACK_CNT] += acked;
    if (ca[CU_LAST_CWND] == cwnd && now_ms - ca[CU_LAST_TIME] <= 1000 / 32) return;
    if (!(ca[CU_EPOCH_START] != 0 && now_ms == ca[CU_LAST_TIME])) {
        ca[CU_LAST_CWND] = cwnd;
        ca[CU_LAST_TIME] = now_ms;
        if (ca[CU_EPOCH_START] == 0) {
            ca[CU_EPOCH_START] = now_ms + 1;
            ca[CU_ACK_CNT] = acked;
            ca[CU_TCP_CWND] = cwnd;
            if (ca[CU_LAST_MAX_CWND] <= cwnd) {
                ca[CU_K] = 0;
                ca[CU_ORIGIN] = cwnd;
            } else {
                ca[CU_K] = cube_root(CUBE_FACTOR * (uint64_t)(ca[CU_LAST_MAX_CWND] - cwnd));
                ca[CU_ORIGIN] = ca[CU_LAST_MAX_CWND];
            }
        }
        /* time since the epoch plus the min RTT, in 2^-10 s */
        uint64_t tt = (uint64_t)(now_ms - (ca[CU_EPOCH_START] - 1)) + ca[CU_DELAY_MIN] / 1000;
        tt = (tt << BIC_HZ) / 1000;
        uint64_t offs = tt < ca[CU_K] ? ca[CU_K] - tt : tt - ca[CU_K];
        if (offs > (1u << 18)) offs = 1u << 18; /* keeps 410 * offs^3 in 64 bits */
        uint64_t delta = (CUBE_RTT_SCALE * offs * offs * offs) >> (10u + 3u * BIC_HZ);
        uint64_t target = tt < ca[CU_K] ? (ca[CU_ORIGIN] > delta ? ca[CU_ORIGIN] - delta : 0)
                                        : ca[CU_ORIGIN] + delta;
        if (target > cwnd) {
            uint64_t c = cwnd / (target - cwnd);
            ca[CU_CNT] = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
        } else {
            ca[CU_CNT] = 100 * cwnd;
        }
        /* the first growth is not too conservative while the bandwidth is unknown */
        if (ca[CU_LAST_MAX_CWND] == 0 && ca[CU_CNT] > 20) ca[CU_CNT] = 20;
    }
    /* Reno-friendly region */
    uint32_t d = (cwnd * BETA_FRIENDLY) >> 3;
    if (d == 0) d = 1;
    while (ca[CU_ACK_CNT] > d) {
        ca[CU_ACK_CNT] -= d;
        ca[CU_TCP_CWND]++;
    }
    if (ca[CU_TCP_CWND] > cwnd) {
        uint32_t max_cnt = cwnd / (ca[CU_TCP_CWND] - cwnd);
        if (ca[CU_CNT] > max_cnt) ca[CU_CNT] = max_cnt;
    }
    if (ca[CU_CNT] < 2) ca[CU_CNT] = 2;
}

static void cubic_cong_avoid(sim_tcb *t, uint32_t acked, uint32_t now_ms) {
    if (!cwnd_limited(t)) return;
    if (in_slow_start(t)) {
        acked = slow_start(t, acked);
        if (acked == 0) return;
    }
    cubic_update(t, acked, now_ms);
    cong_avoid_ai(t, t->ca[CU_CNT], acked);
}

static void hystart_reset(sim_tcb *t, uint32_t now_us) {
    t->ca[HY_ROUND_START] = t->ca[HY_LAST_ACK] = now_us;
    t->ca[HY_END_SEQ] = (uint32_t)t->packets_sent;
    t->ca[HY_CURR_RTT] = UINT32_MAX;
    t->ca[HY_SAMPLES] = 0;
}

/* hystart_update: leave slow start (ssthresh = cwnd) when this round's ACK train has
 * lasted half the min RTT (the pipe is full), or its RTT rose by min RTT / 8 (clamped
 * to 4..16 ms: a queue builds). */
static void hystart_update(sim_tcb *t, uint32_t delay_us, uint32_t now_us) {
    uint32_t *ca = t->ca;
    if ((int32_t)((uint32_t)t->delivered - ca[HY_END_SEQ]) > 0) hystart_reset(t, now_us);
    if (now_us - ca[HY_LAST_ACK] <= HY_ACK_DELTA_US) {
        ca[HY_LAST_ACK] = now_us;
        if (now_us - ca[HY_ROUND_START] > ca[CU_DELAY_MIN] / 2) {
            ca[HY_FOUND] = 1;
            t->ssthresh = t->cwnd;
            return;
        }
    }
    if (delay_us == 0) return;
    if (ca[HY_CURR_RTT] > delay_us) ca[HY_CURR_RTT] = delay_us;
    if (ca[HY_SAMPLES] < HY_MIN_SAMPLES) {
        ca[HY_SAMPLES]++;
    } else {
        uint32_t th = ca[CU_DELAY_MIN] / 8;
        if (th < 4000) th = 4000;
        if (th > 16000) th = 16000;
        if (ca[HY_CURR_RTT] > ca[CU_DELAY_MIN] + th) {
            ca[HY_FOUND] = 1;
            t->ssthresh = t->cwnd;
        }
    }
}

static void cubic_pkts_acked(sim_tcb *t, uint32_t acked, uint32_t rtt_us, uint64_t now_us) {
    (void)acked;
    if (rtt_us != 0 && (t->ca[CU_DELAY_MIN] == 0 || t->ca[CU_DELAY_MIN] > rtt_us)) t->ca[CU_DELAY_MIN] = rtt_us;
    if (t->ca[CU_DELAY_MIN] != 0 && !t->ca[HY_FOUND] && in_slow_start(t) && t->cwnd >= HY_LOW_WINDOW)
        hystart_update(t, rtt_us, (uint32_t)now_us);
}

/* The epoch moves forward by the idle time: the cubic does not grow while idle. */
static void cubic_tx_start(sim_tcb *t, uint32_t now_ms, uint32_t idle_ms) {
    if (t->ca[CU_EPOCH_START] != 0 && idle_ms > 0) {
        uint32_t e = t->ca[CU_EPOCH_START] - 1 + idle_ms;
        if ((int32_t)(e - now_ms) > 0) e = now_ms;
        t->ca[CU_EPOCH_START] = e + 1;
    }
}

static void cubic_on_rto(sim_tcb *t) {
    uint32_t delay_min = t->ca[CU_DELAY_MIN];
    cubic_reset(t);
    t->ca[CU_DELAY_MIN] = delay_min;
}

static const sim_tcp_cc_ops cubic_ops = {
    "cubic", cubic_init, cubic_ssthresh, cubic_cong_avoid, cubic_pkts_acked, cubic_tx_start, cubic_on_rto,
};

const sim_tcp_cc_ops *sim_tcp_cc_find(sim_tcp_cc cc) {
    return cc == SIM_TCP_RENO ? &reno_ops : &cubic_ops;
}
