/* core/discovery.c — LAN discovery (spec §9). See discovery.h. */
#include "discovery.h"

#include <string.h>

#define MS_NS ((int64_t)1000000)

void tp_discovery_config_default(tp_discovery_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->discovery_point = tp_point_v4(0xffffffffu, TP_DISCOVERY_PORT_DEFAULT);
    cfg->listening_port = 9732;
    cfg->trust_discovered_peers = false;
    cfg->delay_initial_ns = 100 * MS_NS;
    cfg->loop_max = 10;
}

static void on_send(void *arg);

tp_err tp_discovery_init(tp_discovery *d, const tp_env *env, tp_pool *pool,
                         const tp_discovery_config *cfg) {
    TP_ASSERT(cfg->delay_initial_ns > 0 && cfg->loop_max >= 1 && cfg->loop_max <= 40);
    TP_ASSERT(cfg->discovery_point.port != 0);
    if (cfg->listening_port == 0) return TP_ERR_INVAL;
    uint8_t msg[TP_DISCOVERY_MSG_SIZE];
    TP_TRY(tp_discovery_msg_encode(&cfg->peer_id, cfg->listening_port, msg));
    memset(d, 0, sizeof *d);
    d->env = env;
    d->pool = pool;
    d->cfg = *cfg;
    memcpy(d->msg, msg, sizeof msg);
    d->delay_ns = cfg->delay_initial_ns;
    tp_timer_init(&d->send_timer, on_send, d);
    return TP_OK;
}

static void emit(tp_discovery *d, tp_event_kind kind, const tp_peer_id *peer,
                 const tp_point *point, int32_t code) {
    tp_env_emit(d->env, kind, peer ? peer->bytes : NULL, point, code, NULL);
}

/* The answer worker. */
static void on_datagram(void *arg, tp_dgram *sock, const tp_point *from, const uint8_t *data,
                        size_t len) {
    tp_discovery *d = arg;
    tp_peer_id peer;
    uint16_t port;
    d->received++;
    if (tp_discovery_msg_decode(data, len, &peer, &port) != TP_OK || port == 0 ||
        tp_peer_id_eq(&peer, &d->cfg.peer_id)) {
        d->ignored++; /* anything else is ignored (spec §9) */
        return;
    }
    tp_point point = {from->ip, port};
    emit(d, TP_EVENT_DISCOVERY_RECEIVED, &peer, &point, 0);
    tp_point_info *pi;
    /* register_point refuses our own points (my_id_points); that is fine. */
    /* ~trusted:trust_discovered_peers, so false untrusts a known point (Octez's
     * Answer.loop -> P2p_pool.register_new_point -> register_point: Some false) */
    if (tp_pool_register_point(d->pool, &point, d->cfg.trust_discovered_peers ? 1 : 0, NULL,
                               &pi) == TP_OK)
        d->registered++;
}

tp_err tp_discovery_start(tp_discovery *d) {
    if (d->sock != NULL) return TP_OK;
    tp_point local;
    memset(&local, 0, sizeof local); /* [::] */
    local.port = d->cfg.discovery_point.port;
    tp_dgram *sock;
    TP_TRY(tp_env_dgram_open(d->env, &local, on_datagram, d, &sock));
    d->sock = sock;
    d->delay_ns = d->cfg.delay_initial_ns; /* Config.initial */
    d->loop = 0;
    d->sleeping = false;
    tp_env_timer_start(d->env, &d->send_timer, tp_env_now_ns(d->env));
    return TP_OK;
}

/* Octez's Sender.loop_completion on the config a loop returned. */
static void loop_completion(tp_discovery *d) {
    if (d->loop == d->cfg.loop_max) {
        d->loop--;
    } else {
        d->delay_ns *= 2;
    }
}

/* The sender worker: (a sleep ran out: loop + 1, loop_completion), send, sleep. */
static void on_send(void *arg) {
    tp_discovery *d = arg;
    if (d->sock == NULL) return;
    if (d->sleeping) {
        d->loop++;
        loop_completion(d);
    }
    tp_err err = tp_env_dgram_send(d->env, d->sock, &d->cfg.discovery_point, d->msg,
                                   sizeof d->msg);
    if (err == TP_OK) {
        d->sent++;
        emit(d, TP_EVENT_DISCOVERY_SENT, NULL, &d->cfg.discovery_point, 0);
    } else {
        d->send_errors++; /* Octez logs and carries on */
        emit(d, TP_EVENT_DISCOVERY_SENT, NULL, &d->cfg.discovery_point, (int32_t)err);
    }
    tp_env_timer_start_in(d->env, &d->send_timer, d->delay_ns);
    d->sleeping = true;
}

void tp_discovery_wakeup(tp_discovery *d) {
    if (d->sock == NULL) return;
    /* the sleep is cut short and returns Config.initial, then loop_completion */
    d->delay_ns = d->cfg.delay_initial_ns;
    d->loop = 0;
    loop_completion(d);
    d->sleeping = false;
    tp_env_timer_start(d->env, &d->send_timer, tp_env_now_ns(d->env));
}

void tp_discovery_crash_drop(tp_discovery *d) {
    d->sock = NULL;
}

void tp_discovery_stop(tp_discovery *d) {
    tp_env_timer_stop(d->env, &d->send_timer);
    if (d->sock != NULL) {
        tp_env_dgram_close(d->env, d->sock);
        d->sock = NULL;
    }
}
