/* simnet/sim_dgram.c — datagram sockets (UDP semantics, for LAN discovery, spec §9).
 *
 * A datagram occupies the sender's uplink once (a broadcast is one frame), flies for
 * the one-way latency to each recipient, and is delivered whole or not at all: it is
 * lost with the path's loss probability (decided at send time), or when at arrival the
 * path is cut (partition), the recipient is down, or no socket is bound to the port.
 * Packets come from free lists owned by the partitions (taken by the sender's, returned
 * to the receiver's); each embeds its queue entry and is a message of the receiver. */
#include <string.h>

#include "simnet/sim_impl.h"


#define DGRAM_MAX 65507u

static void packet_fire(void *arg);

static sim_packet *packet_get(sim_part *w, uint32_t len) {
    sim_packet *p = w->packet_free;
    if (p) {
        w->packet_free = p->next_free;
    } else {
        p = sim_backend_alloc(w, sizeof *p);
        p->world = w->world;
        tp_timer_init(&p->t, packet_fire, p);
    }
    if (p->cap < len) {
        uint32_t cap = len < 256 ? 256 : len;
        p->data = sim_backend_realloc(w, p->data, p->cap, cap);
        p->cap = cap;
    }
    p->len = len;
    return p;
}

static void packet_put(sim_part *w, sim_packet *p) {
    p->next_free = w->packet_free;
    w->packet_free = p;
}

static bool packet_queued(const tp_timer *t, void *arg) {
    (void)arg;
    return t->cb == packet_fire;
}

void sim_packets_free(sim_part *w) {
    /* Packets in flight are referenced by the queue only: bring them back first. */
    for (uint32_t i = 0; i < sim_queue_len(&w->q); i++) {
        tp_timer *t = w->q.ent[i].timer;
        if (t->cb == packet_fire) packet_put(w, t->arg);
    }
    sim_queue_filter(&w->q, packet_queued, NULL);
    while (w->packet_free) {
        sim_packet *p = w->packet_free;
        w->packet_free = p->next_free;
        sim_backend_free(w, p->data, p->cap);
        sim_backend_free(w, p, sizeof *p);
    }
}

static void packet_fire(void *arg) {
    sim_packet *p = arg;
    sim_world *w = p->world;
    sim_host *to = sim_host_at(w, p->to_host);
    tp_dgram *d = NULL;
    if (sim_path_open(w, p->from_host, p->to_host)) {
        for (tp_dgram *x = to->dgrams; x; x = x->next)
            if (x->local.port == p->to_port) d = x;
    }
    sim_part *part = to->part;
    sim_trace(to, SIM_TRACE_DGRAM, p->to_host, p->to_port, d ? p->len : UINT64_MAX);
    if (d == NULL) {
        part->stats.datagrams_lost++;
        packet_put(part, p);
        return;
    }
    part->stats.datagrams_delivered++;
    uint32_t off;
    uint8_t mask;
    if (sim_corrupt_pick(to, to, p->len, &off, &mask)) p->data[off] ^= mask;
    sim_trace_bytes(to, p->data, p->len);
    tp_point from = p->from;
    /* The packet goes back to the free list only after the callback, so the bytes
     * stay valid during it even if the callback sends datagrams itself. */
    part->cb_host = to;
    d->cb(d->arg, d, &from, p->data, p->len);
    packet_put(part, p);
}

tp_err sim_dgram_open(sim_host *h, const tp_point *local, tp_dgram_cb cb, void *arg,
                      tp_dgram **out) {
    TP_ASSERT(h->state == SIM_HOST_UP);
    if (local->port == 0) return TP_ERR_INVAL;
    if (!sim_host_ip_matches(h, &local->ip)) return TP_ERR_ADDR_NOT_AVAILABLE;
    for (tp_dgram *x = h->dgrams; x; x = x->next)
        if (x->local.port == local->port) return TP_ERR_ADDR_IN_USE;
    tp_dgram *d = sim_backend_alloc(h->part, sizeof *d);
    d->host = h;
    d->local.ip = h->ip;
    d->local.port = local->port;
    d->cb = cb;
    d->arg = arg;
    d->next = h->dgrams;
    h->dgrams = d;
    *out = d;
    return TP_OK;
}

static void send_one(sim_host *h, sim_host *to, const tp_point *from, uint16_t port,
                     const uint8_t *data, size_t len, int64_t depart_ns) {
    sim_world *w = h->world;
    h->part->stats.datagrams_sent++;
    uint32_t loss = sim_loss_ppm(w, h, to);
    if (loss > 0 && sim_host_rng_below(h, 1000000) < loss) {
        h->part->stats.datagrams_lost++;
        sim_trace(h, SIM_TRACE_DGRAM, to->index, port, UINT64_MAX - 1);
        return;
    }
    sim_packet *p = packet_get(h->part, (uint32_t)len);
    p->from_host = h->index;
    p->to_host = to->index;
    p->from = *from;
    p->to_port = port;
    if (len) memcpy(p->data, data, len);
    sim_post(h, to, &p->t, depart_ns + sim_latency_ns(h, h, to));
}

tp_err sim_dgram_send(sim_host *h, tp_dgram *d, const tp_point *to, const uint8_t *data,
                      size_t len) {
    TP_ASSERT(d->host == h && h->state == SIM_HOST_UP);
    sim_world *w = h->world;
    if (len > DGRAM_MAX) return TP_ERR_TOO_BIG;
    tp_ip limited = tp_ip_from_v4(0xffffffffu);
    bool broadcast = tp_ip_eq(&to->ip, &limited) || sim_is_subnet_broadcast(h, &to->ip);
    if (broadcast && !tp_ip_is_v4mapped(&h->ip)) return TP_ERR_UNREACHABLE;
    int64_t depart = sim_now(h);
    if (h->up_bps > 0) {
        if (h->up_free_ns > depart) depart = h->up_free_ns;
        depart += sim_ser_ns(len + 28, h->up_bps); /* + IP and UDP headers */
        h->up_free_ns = depart;
    }
    tp_point from = d->local;
    if (!broadcast) {
        sim_host *dst = sim_world_host_by_ip(w, &to->ip);
        if (dst == NULL) { /* nobody there: silently gone, as UDP does */
            h->part->stats.datagrams_sent++;
            h->part->stats.datagrams_lost++;
            return TP_OK;
        }
        send_one(h, dst, &from, to->port, data, len, depart);
        return TP_OK;
    }
    for (uint32_t i = sim_subnet_first(w, h); i != UINT32_MAX; i = sim_host_at(w, i)->subnet_next) {
        if (i == h->index) continue; /* README: the sender does not hear itself */
        send_one(h, sim_host_at(w, i), &from, to->port, data, len, depart);
    }
    return TP_OK;
}

void sim_dgram_close(sim_host *h, tp_dgram *d) {
    TP_ASSERT(d->host == h);
    tp_dgram **pp = &h->dgrams;
    while (*pp != d) {
        TP_ASSERT(*pp != NULL);
        pp = &(*pp)->next;
    }
    *pp = d->next;
    sim_backend_free(h->part, d, sizeof *d);
}

void sim_dgrams_host_drop(sim_host *h) {
    while (h->dgrams) sim_dgram_close(h, h->dgrams);
}
