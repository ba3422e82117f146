/* cmd/cmd_node.c — `tidepool node run`: the real P2P daemon.
 *
 * Octez: `octez-node run` (its P2P part) and `octez-node config` keys. The pieces are
 * daemon/config (config.json), daemon/p2p (node + maintenance + discovery over the
 * realnet env), daemon/rpc + daemon/node_rpc (the admin RPC). This file does the
 * process side: options, the data directory and its identity (made on first start),
 * name resolution, logging on stderr, signals and the clean shutdown.
 *
 * Logs: one structured line per event on stderr (realnet's format,
 * `ts=... kind=... peer=... point=... code=... detail="..."`), plus the daemon's own
 * lines in the same shape with kind=daemon.
 *
 * Exit codes (cmd/cmd.h): 0 stopped by SIGINT/SIGTERM after a clean shutdown; 2 usage;
 * 3 bad config, identity, data directory, or a port in use; 1 a runtime failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sodium.h>

#include "buildinfo/buildinfo.h"
#include "cmd/cmd.h"
#include "core/identity.h"
#include "core/maintenance.h"
#include "core/point.h"
#include "daemon/config.h"
#include "daemon/node_rpc.h"
#include "daemon/p2p.h"
#include "daemon/rpc.h"
#include "realnet/rn.h"

static const char *const cmd_name = "node";

#define IDENTITY_FILE "identity.json"
#define SHUTDOWN_GRACE_NS INT64_C(10000000000)
#define STATUS_PERIOD_NS INT64_C(10000000000)
#define STATUS_FIRST_NS INT64_C(3000000000) /* the first report comes early */

static void usage(FILE *out) {
    fprintf(out,
            "usage: tidepool node run --data-dir DIR [options]\n"
            "\n"
            "Runs a P2P node on real sockets until SIGINT or SIGTERM. On first start it\n"
            "makes DIR/identity.json (proof of work at expected-proof-of-work).\n"
            "\n"
            "options:\n"
            "  --data-dir DIR          data directory (identity.json); or \"data-dir\" in the config\n"
            "  --config FILE           JSON config with Octez's keys (\"p2p\", \"rpc\", \"network\")\n"
            "  --net-addr ADDR:PORT    listen for peers here (default [::]:9732)\n"
            "  --peer POINT            a bootstrap peer (trusted); repeatable\n"
            "  --no-bootstrap-peers    ignore the config's bootstrap peers\n"
            "  --private-mode          only trusted points and peers; not advertised\n"
            "  --discovery-addr ADDR[:PORT]  LAN discovery (UDP broadcast, port 10732)\n"
            "  --rpc-addr ADDR:PORT    serve the admin RPC here (localhost:8732 when given\n"
            "                          without a port); off unless given or configured\n"
            "  --connections N         min/expected/max connections N/2, N, 3N/2\n"
            "  --expected-pow F        proof-of-work difficulty (default 26)\n"
            "  --chain-name NAME       the chain name announced (default %s)\n"
            "  --debug                 log every event (messages, points learned)\n"
            "  --no-greeting           do not send the \"tidepool.text\" greeting to new peers\n"
            "  --test-message-nonce HEX  testing only: the 24-byte nonce of our connection\n"
            "                          message (replaying recorded handshakes); never in\n"
            "                          production: it makes every session key predictable\n"
            "\n"
            "environment: OCTEZ_P2P_TCP_USER_TIMEOUT (ms, 0 off), OCTEZ_P2P_TCP_KEEPALIVE\n"
            "(idle_ms[,interval_ms], 0 off) as Octez.\n"
            "\n"
            "exit codes: 0 stopped cleanly on a signal; 1 stopped, but peers.json could not\n"
            "be saved (the previous file is kept; the log says why) or the connections did\n"
            "not close in time; 2 usage error (an unknown or bad option); 3 cannot start: a\n"
            "bad config, identity or --peer, a data directory or port that cannot be used\n"
            "(the message names it).\n",
            DM_CHAIN_NAME_DEFAULT);
}

/* ------------------------------------------------------------------------------------ */
/* logging                                                                              */

typedef struct daemon_state {
    rn_loop *loop;
    dm_rpc *rpc;
    dm_p2p *p2p;
    dm_config cfg;
    dm_p2p_options opt;
    tp_timer status_timer;
    bool shutdown_done;
    uint8_t message_nonce[24];
} daemon_state;

static void log_line(rn_loop *loop, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_line(rn_loop *loop, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int64_t wall = loop ? tp_env_wall_ns(rn_loop_env(loop)) : 0;
    if (!loop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        wall = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    time_t t = (time_t)(wall / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    /* escape quotes, backslashes and control characters as rn_event_format does */
    char esc[1600];
    size_t k = 0;
    for (const char *c = msg; *c && k + 5 < sizeof esc; c++) {
        unsigned char u = (unsigned char)*c;
        if (u == '"' || u == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)u;
        } else if (u < 0x20 || u == 0x7f) {
            k += (size_t)snprintf(esc + k, sizeof esc - k, "\\x%02x", u);
        } else {
            esc[k++] = (char)u;
        }
    }
    esc[k] = '\0';
    fprintf(stderr, "ts=%s.%06dZ kind=daemon detail=\"%s\"\n", ts,
            (int)((wall % 1000000000) / 1000), esc);
}

static void event_sink(void *arg, int64_t wall_ns, const tp_event *ev) {
    daemon_state *d = arg;
    rn_event_sink_stderr(NULL, wall_ns, ev);
    if (d->rpc) dm_rpc_log_event(d->rpc, wall_ns, ev);
}

/* ------------------------------------------------------------------------------------ */
/* resolution                                                                           */

/* A config point to a socket point: literal addresses as they are, "" / "_" as the
 * wildcard [::], names through getaddrinfo (first answer). */
static bool resolve(const dm_point *p, uint16_t default_port, bool wildcard_ok, tp_point *out,
                    char *error, size_t cap) {
    uint16_t port = p->cp.has_port ? p->cp.port : default_port;
    if (p->cp.kind == TP_HOST_IP) {
        out->ip = p->cp.ip;
        out->port = port;
        return true;
    }
    if (p->cp.kind == TP_HOST_ANY) {
        if (!wildcard_ok) {
            snprintf(error, cap, "'%s' has no address", p->text);
            return false;
        }
        memset(out, 0, sizeof *out);
        out->port = port;
        return true;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(p->cp.domain, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(error, cap, "cannot resolve '%s': %s", p->cp.domain, gai_strerror(rc));
        return false;
    }
    memset(out, 0, sizeof *out);
    /* prefer IPv4 for "localhost"-style names: the v4 loopback is always there */
    const struct addrinfo *pick = res;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    if (pick->ai_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)pick->ai_addr;
        out->ip = tp_ip_from_v4(ntohl(s4->sin_addr.s_addr));
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)pick->ai_addr;
        memcpy(out->ip.bytes, &s6->sin6_addr, 16);
    }
    out->port = port;
    freeaddrinfo(res);
    return true;
}

/* ------------------------------------------------------------------------------------ */
/* identity                                                                             */

static int load_or_make_identity(daemon_state *d, const char *data_dir, tp_identity *id) {
    const tp_env *env = rn_loop_env(d->loop);
    char text[TP_IDENTITY_JSON_MAX];
    size_t len = 0;
    tp_err e = tp_env_file_read(env, IDENTITY_FILE, (uint8_t *)text, sizeof text, &len);
    tp_pow_target target;
    if (tp_pow_target_of_difficulty(d->cfg.expected_pow, &target) != TP_OK) return TP_EXIT_INPUT;
    if (e == TP_OK) {
        char why[TP_IDENTITY_ERROR_SIZE];
        e = tp_identity_from_json(text, len, id, why, sizeof why);
        if (e != TP_OK) {
            cmd_error(cmd_name,
                      "%s/%s is not a valid identity: %s. The node does not start with it: "
                      "restore the file from a backup, or move it away to make a new "
                      "identity (a new peer id)",
                      data_dir, IDENTITY_FILE, why);
            return TP_EXIT_INPUT;
        }
        if (!tp_pow_check(id->public_key, id->pow_stamp, &target)) {
            cmd_error(cmd_name,
                      "%s/%s: its proof of work (level %u) is below expected-proof-of-work "
                      "%g: lower p2p.expected-proof-of-work, or generate a new identity "
                      "with `tidepool identity generate --difficulty %g`",
                      data_dir, IDENTITY_FILE, tp_pow_level(id->public_key, id->pow_stamp),
                      d->cfg.expected_pow, d->cfg.expected_pow);
            tp_identity_wipe(id);
            return TP_EXIT_INPUT;
        }
        return TP_EXIT_OK;
    }
    if (e == TP_ERR_TOO_BIG) {
        cmd_error(cmd_name, "%s/%s is %zu bytes, far too big for an identity: the file is "
                  "not an identity; move it away", data_dir, IDENTITY_FILE, len);
        return TP_EXIT_INPUT;
    }
    if (e != TP_ERR_NOT_FOUND) {
        cmd_error(cmd_name, "cannot read %s/%s: %s", data_dir, IDENTITY_FILE, tp_strerror(e));
        return TP_EXIT_INPUT;
    }
    log_line(d->loop,
             "no identity in %s: generating a new one (proof of work %g, about %.3g "
             "attempts; this can take a while)",
             data_dir, d->cfg.expected_pow, tp_pow_expected_attempts(&target));
    tp_identity_init_from_env(id, env);
    bool found = false;
    uint64_t attempts = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double last = 0;
    while (!found) {
        attempts += tp_pow_search(id->public_key, id->pow_stamp, &target, 1 << 16, &found);
        /* SIGINT/SIGTERM are blocked for the loop's signalfd: look for them here, so
         * that a long search can be interrupted */
        sigset_t pending;
        if (!found && sigpending(&pending) == 0 &&
            (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1)) {
            log_line(d->loop, "interrupted during the proof-of-work search: no identity "
                     "written (run again to restart the search)");
            tp_identity_wipe(id);
            return TP_EXIT_FAIL;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        double el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
        if (!found && el - last >= 10.0) {
            last = el;
            log_line(d->loop, "proof-of-work search: %llu attempts in %.0f s (%.0f%% of the "
                     "expected)", (unsigned long long)attempts, el,
                     100.0 * (double)attempts / tp_pow_expected_attempts(&target));
        }
    }
    char json[1024];
    e = tp_identity_to_json(id, json, sizeof json, &len);
    if (e == TP_OK) e = tp_env_file_write(env, IDENTITY_FILE, (const uint8_t *)json, len);
    sodium_memzero(json, sizeof json);
    if (e != TP_OK) {
        cmd_error(cmd_name, "cannot write %s/%s: %s", data_dir, IDENTITY_FILE, tp_strerror(e));
        tp_identity_wipe(id);
        return TP_EXIT_INPUT;
    }
    char b58[TP_PEER_ID_TEXT_SIZE];
    log_line(d->loop, "stored the new identity %s in %s/%s", tp_peer_id_to_b58(&id->peer_id, b58),
             data_dir, IDENTITY_FILE);
    return TP_EXIT_OK;
}

/* ------------------------------------------------------------------------------------ */
/* status: says when nothing connects (bootstrap peers unreachable, retried by the
 * maintenance with the pool's backoff) */

static void status_fire(void *arg) {
    daemon_state *d = arg;
    const tp_env *env = rn_loop_env(d->loop);
    tp_node *n = dm_p2p_node(d->p2p);
    uint32_t active = tp_node_active_connections(n);
    if (active == 0 && d->opt.bootstrap_count > 0) {
        char list[512] = "";
        size_t k = 0;
        int64_t now = tp_env_now_ns(env);
        for (size_t i = 0; i < d->opt.bootstrap_count && k < sizeof list - 100; i++) {
            char txt[TP_POINT_TEXT_MAX];
            tp_point_info *pi = tp_pool_point(tp_node_pool(n), &d->opt.bootstrap[i]);
            int64_t retry_ns = pi && tp_point_cannot_reconnect_yet(pi, now)
                                   ? pi->reconnection_end_ns - now
                                   : 0;
            k += (size_t)snprintf(list + k, sizeof list - k, "%s%s (next try in %.1f s)",
                                  i ? ", " : "", tp_point_format(&d->opt.bootstrap[i], txt),
                                  (double)retry_ns / 1e9);
        }
        log_line(d->loop,
                 "no connection yet: bootstrap peers unreachable so far: %s; retrying with "
                 "backoff (check the addresses and that those nodes run)",
                 list);
    } else {
        log_line(d->loop, "%u connection%s", active, active == 1 ? "" : "s");
    }
    tp_env_timer_start_in(env, &d->status_timer, STATUS_PERIOD_NS);
}

static void on_text(void *arg, const tp_peer_id *from, const char *text) {
    daemon_state *d = arg;
    char b58[TP_PEER_ID_TEXT_SIZE];
    log_line(d->loop, "message from %s: %s", tp_peer_id_to_b58(from, b58), text);
}

static void shutdown_done(void *arg) {
    daemon_state *d = arg;
    d->shutdown_done = true;
    rn_loop_stop(d->loop);
}

/* ------------------------------------------------------------------------------------ */

typedef struct options {
    const char *data_dir, *config, *net_addr, *rpc_addr, *discovery_addr, *chain_name;
    const char *test_message_nonce;
    bool no_greeting;
    const char *peers[DM_BOOTSTRAP_PEERS_MAX];
    size_t peers_count;
    bool no_bootstrap, private_mode, debug;
    bool has_connections, has_pow;
    uint64_t connections;
    double pow;
} options;

static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE(name, field)                                                                \
    if (strcmp(a, name) == 0) {                                                          \
        if (!v) {                                                                        \
            cmd_error(cmd_name, "%s expects a value (try --help)", name);               \
            return TP_EXIT_USAGE;                                                        \
        }                                                                                \
        field = v;                                                                       \
        i++;                                                                             \
        continue;                                                                        \
    }
        TAKE("--data-dir", o->data_dir)
        TAKE("--config", o->config)
        TAKE("--net-addr", o->net_addr)
        TAKE("--rpc-addr", o->rpc_addr)
        TAKE("--discovery-addr", o->discovery_addr)
        TAKE("--chain-name", o->chain_name)
        TAKE("--test-message-nonce", o->test_message_nonce)
#undef TAKE
        if (strcmp(a, "--peer") == 0) {
            if (!v) {
                cmd_error(cmd_name, "--peer expects a point (try --help)");
                return TP_EXIT_USAGE;
            }
            if (o->peers_count == DM_BOOTSTRAP_PEERS_MAX) {
                cmd_error(cmd_name, "at most %d --peer options", DM_BOOTSTRAP_PEERS_MAX);
                return TP_EXIT_USAGE;
            }
            o->peers[o->peers_count++] = v;
            i++;
        } else if (strcmp(a, "--connections") == 0) {
            if (!cmd_parse_u64(cmd_name, a, v, &o->connections)) return TP_EXIT_USAGE;
            if (o->connections == 0 || o->connections > 10000) {
                cmd_error(cmd_name, "--connections must be in [1, 10000] (got %s)", v);
                return TP_EXIT_USAGE;
            }
            o->has_connections = true;
            i++;
        } else if (strcmp(a, "--expected-pow") == 0) {
            char *end = NULL;
            o->pow = v ? strtod(v, &end) : -1;
            if (!v || *end != '\0' || !(o->pow >= 0 && o->pow <= 256)) {
                cmd_error(cmd_name, "--expected-pow expects a number in [0, 256] (got '%s')",
                          v ? v : "nothing");
                return TP_EXIT_USAGE;
            }
            o->has_pow = true;
            i++;
        } else if (strcmp(a, "--private-mode") == 0) {
            o->private_mode = true;
        } else if (strcmp(a, "--no-bootstrap-peers") == 0) {
            o->no_bootstrap = true;
        } else if (strcmp(a, "--no-greeting") == 0) {
            o->no_greeting = true;
        } else if (strcmp(a, "--debug") == 0) {
            o->debug = true;
        } else {
            cmd_error(cmd_name, "unknown option '%s' (try --help)", a);
            return TP_EXIT_USAGE;
        }
    }
    return TP_EXIT_OK;
}

static int node_run(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != TP_EXIT_OK) return rc;
    daemon_state *d = calloc(1, sizeof *d);
    if (!d) return TP_EXIT_FAIL;
    tp_timer_init(&d->status_timer, status_fire, d); /* stopped on every exit path */
    char err[DM_ERROR_SIZE];
    dm_config_default(&d->cfg);
    if (o.config && dm_config_load(&d->cfg, o.config, err, sizeof err) != TP_OK) {
        cmd_error(cmd_name, "%s", err);
        free(d);
        return TP_EXIT_INPUT;
    }
    /* Octez keys with no counterpart here: accepted so that an Octez config loads, and
     * said out loud rather than silently ignored. */
    if (d->cfg.limits.read_queue_size >= 0 || d->cfg.limits.write_queue_size >= 0)
        log_line(NULL, "%s: p2p.limits.read-queue-size / write-queue-size have no effect in "
                 "tidepool: its I/O scheduler hands out grants and holds no byte queues of "
                 "its own; bound the message queues with incoming-message-queue-size and "
                 "outgoing-message-queue-size", o.config);
    /* command-line overrides */
    if (o.data_dir) snprintf(d->cfg.data_dir, sizeof d->cfg.data_dir, "%s", o.data_dir);
    if (d->cfg.data_dir[0] == '\0') {
        cmd_error(cmd_name, "no data directory: give --data-dir DIR (or \"data-dir\" in the "
                  "config)");
        free(d);
        return TP_EXIT_USAGE;
    }
    if (o.net_addr && dm_point_set(&d->cfg.listen_addr, "--net-addr", o.net_addr, err,
                                   sizeof err) != TP_OK) {
        cmd_error(cmd_name, "%s", err);
        free(d);
        return TP_EXIT_USAGE;
    }
    if (o.rpc_addr) {
        if (dm_point_set(&d->cfg.rpc_listen_addr, "--rpc-addr", o.rpc_addr, err, sizeof err) !=
            TP_OK) {
            cmd_error(cmd_name, "%s", err);
            free(d);
            return TP_EXIT_USAGE;
        }
        d->cfg.rpc_enabled = true;
    }
    if (o.discovery_addr) {
        if (dm_point_set(&d->cfg.discovery_addr, "--discovery-addr", o.discovery_addr, err,
                         sizeof err) != TP_OK) {
            cmd_error(cmd_name, "%s", err);
            free(d);
            return TP_EXIT_USAGE;
        }
        d->cfg.has_discovery_addr = true;
    }
    if (o.chain_name) snprintf(d->cfg.chain_name, sizeof d->cfg.chain_name, "%s", o.chain_name);
    if (o.no_bootstrap) d->cfg.bootstrap_peers_count = 0;
    for (size_t i = 0; i < o.peers_count; i++) {
        if (d->cfg.bootstrap_peers_count == DM_BOOTSTRAP_PEERS_MAX) {
            cmd_error(cmd_name, "too many bootstrap peers (at most %d)", DM_BOOTSTRAP_PEERS_MAX);
            free(d);
            return TP_EXIT_USAGE;
        }
        if (dm_point_set(&d->cfg.bootstrap_peers[d->cfg.bootstrap_peers_count], "--peer",
                         o.peers[i], err, sizeof err) != TP_OK) {
            cmd_error(cmd_name, "%s", err);
            free(d);
            return TP_EXIT_USAGE;
        }
        d->cfg.bootstrap_peers_count++;
    }
    size_t cli_peers_from = d->cfg.bootstrap_peers_count - o.peers_count; /* --peer ones */
    if (o.private_mode) d->cfg.private_mode = true;
    if (o.has_pow) d->cfg.expected_pow = o.pow;
    if (o.has_connections) {
        uint32_t mn, ex, mx, km, kt;
        tp_connections_option((uint32_t)o.connections, &mn, &ex, &mx, &km, &kt);
        d->cfg.limits.min_connections = mn;
        d->cfg.limits.expected_connections = ex;
        d->cfg.limits.max_connections = mx;
        d->cfg.limits.max_known_points = d->cfg.limits.max_known_peer_ids = km;
        d->cfg.limits.max_known_points_target = d->cfg.limits.max_known_peer_ids_target = kt;
    }
    if (dm_config_check(&d->cfg, err, sizeof err) != TP_OK) {
        cmd_error(cmd_name, "%s", err);
        free(d);
        return TP_EXIT_USAGE;
    }
    /* resolve the points */
    dm_p2p_options *opt = &d->opt;
    if (!resolve(&d->cfg.listen_addr, DM_P2P_PORT_DEFAULT, true, &opt->listen, err, sizeof err)) {
        cmd_error(cmd_name, "p2p.listen-addr / --net-addr: %s", err);
        free(d);
        return TP_EXIT_INPUT;
    }
    for (size_t i = 0; i < d->cfg.bootstrap_peers_count; i++) {
        const dm_point *bp = &d->cfg.bootstrap_peers[i];
        tp_point pt;
        if (!resolve(bp, DM_P2P_PORT_DEFAULT, false, &pt, err, sizeof err)) {
            if (i >= cli_peers_from) {
                /* asked for on the command line: running isolated instead would hide it */
                cmd_error(cmd_name, "--peer %s: %s (give a reachable ADDR:PORT or a name that "
                          "resolves)", bp->text, err);
                free(d);
                return TP_EXIT_INPUT;
            }
            /* a config's bootstrap peer: Octez too gives up on a name it cannot resolve */
            log_line(NULL, "bootstrap peer '%s' skipped: %s", bp->text, err);
            continue;
        }
        opt->bootstrap[opt->bootstrap_count] = pt;
        opt->bootstrap_has_expected[opt->bootstrap_count] = bp->cp.has_peer_id;
        opt->bootstrap_expected[opt->bootstrap_count] = bp->cp.peer_id;
        opt->bootstrap_count++;
    }
    if (d->cfg.has_discovery_addr) {
        dm_point dp = d->cfg.discovery_addr;
        if (dp.cp.kind == TP_HOST_ANY) { /* Octez: 255.255.255.255 when no address */
            dp.cp.kind = TP_HOST_IP;
            dp.cp.ip = tp_ip_from_v4(0xffffffffu);
        }
        if (!resolve(&dp, DM_DISCOVERY_PORT_DEFAULT, false, &opt->discovery_point, err,
                     sizeof err)) {
            cmd_error(cmd_name, "p2p.discovery-addr: %s", err);
            free(d);
            return TP_EXIT_INPUT;
        }
        opt->discovery = true;
        /* spec §9: Octez trusts discovered points only with --sandbox; tidepool has no
         * such mode, so they are plain points (which an IP ban can then cover: a trusted
         * point is never reported banned, spec §11) */
        opt->trust_discovered_peers = false;
    }

    opt->on_text = on_text;
    opt->on_text_arg = d;
    opt->no_greeting = o.no_greeting;
    if (o.test_message_nonce) {
        size_t got = 0;
        if (strlen(o.test_message_nonce) != 48 ||
            sodium_hex2bin(d->message_nonce, sizeof d->message_nonce, o.test_message_nonce, 48,
                           NULL, &got, NULL) != 0 ||
            got != 24) {
            cmd_error(cmd_name, "--test-message-nonce expects 48 hex characters (24 bytes)");
            free(d);
            return TP_EXIT_USAGE;
        }
        opt->message_nonce = d->message_nonce;
        log_line(NULL, "TESTING: fixed connection-message nonce (--test-message-nonce); "
                 "never use this on a real network");
    }
    /* the loop */
    rn_config rc_cfg;
    rn_config_default(&rc_cfg);
    rc_cfg.data_dir = d->cfg.data_dir;
    rc_cfg.handle_signals = true;
    rc_cfg.event_sink = event_sink;
    rc_cfg.event_sink_arg = d;
    rc_cfg.event_level_max = o.debug ? TP_EVENT_LEVEL_DEBUG : TP_EVENT_LEVEL_INFO;
    if (rn_tcp_options_from_environ(&rc_cfg, err, sizeof err) != TP_OK) {
        cmd_error(cmd_name, "%s", err);
        free(d);
        return TP_EXIT_INPUT;
    }
    tp_err e = rn_loop_create(&rc_cfg, &d->loop);
    if (e != TP_OK) {
        cmd_error(cmd_name, "cannot start the event loop with data directory %s: %s (check "
                  "that its parent exists and is writable)", d->cfg.data_dir, tp_strerror(e));
        free(d);
        return TP_EXIT_INPUT;
    }
    tp_identity id;
    rc = load_or_make_identity(d, d->cfg.data_dir, &id);
    if (rc != TP_EXIT_OK) {
        rn_loop_destroy(d->loop);
        free(d);
        return rc;
    }
    e = dm_p2p_create(rn_loop_env(d->loop), &d->cfg, &id, opt, &d->p2p, err, sizeof err);
    char b58[TP_PEER_ID_TEXT_SIZE];
    tp_peer_id_to_b58(&id.peer_id, b58);
    tp_identity_wipe(&id);
    if (e != TP_OK) {
        cmd_error(cmd_name, "%s", err);
        rn_loop_destroy(d->loop);
        free(d);
        return TP_EXIT_INPUT;
    }
    e = dm_p2p_start(d->p2p, err, sizeof err);
    int exit_code = TP_EXIT_OK;
    if (e != TP_OK) {
        cmd_error(cmd_name, "%s", err);
        exit_code = TP_EXIT_INPUT;
        goto shutdown;
    }
    dm_node_rpc nr = {dm_p2p_node(d->p2p), TP_VERSION, tp_build_info_get()->describe};
    if (d->cfg.rpc_enabled) {
        tp_point rpc_at;
        if (!resolve(&d->cfg.rpc_listen_addr, DM_RPC_PORT_DEFAULT, false, &rpc_at, err,
                     sizeof err)) {
            cmd_error(cmd_name, "rpc listen address: %s", err);
            exit_code = TP_EXIT_INPUT;
            goto shutdown;
        }
        dm_rpc_backend be;
        dm_node_rpc_backend(&nr, &be);
        if (dm_rpc_start(d->loop, &rpc_at, &be, &d->rpc, err, sizeof err) != TP_OK) {
            cmd_error(cmd_name, "%s", err);
            exit_code = TP_EXIT_INPUT;
            goto shutdown;
        }
        char txt[TP_POINT_TEXT_MAX];
        rpc_at.port = dm_rpc_port(d->rpc);
        log_line(d->loop, "admin RPC on http://%s", tp_point_format(&rpc_at, txt));
        static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        bool loopback = (tp_ip_is_v4mapped(&rpc_at.ip) && rpc_at.ip.bytes[12] == 127) ||
                        memcmp(rpc_at.ip.bytes, v6_loopback, 16) == 0;
        if (!loopback)
            log_line(d->loop,
                     "WARNING: the admin RPC has no authentication and can ban, kick and "
                     "connect: %s is not a loopback address; anyone who reaches it controls "
                     "this node (use 127.0.0.1 or firewall it)",
                     txt);
    }
    {
        char txt[TP_POINT_TEXT_MAX];
        log_line(d->loop, "node %s listening on %s, chain %s, %zu bootstrap peer%s%s", b58,
                 tp_point_format(&opt->listen, txt), d->cfg.chain_name, opt->bootstrap_count,
                 opt->bootstrap_count == 1 ? "" : "s",
                 d->cfg.private_mode ? ", private mode" : "");
    }
    {
        size_t loaded = 0;
        tp_err le = dm_p2p_peers_loaded(d->p2p, &loaded);
        if (le == TP_OK)
            log_line(d->loop, "peers.json: %zu peer%s loaded", loaded, loaded == 1 ? "" : "s");
        else if (le == TP_ERR_NOT_FILE || le == TP_ERR_DANGLING_LINK) {
            /* not a file we may read or replace (a FIFO, a directory, a link to nothing):
             * refused, as identity.json and config.json are */
            cmd_error(cmd_name, "%s/peers.json: %s", d->cfg.data_dir, tp_strerror(le));
            exit_code = TP_EXIT_INPUT;
            goto shutdown;
        } else
            log_line(d->loop, "peers.json could not be used (%s): %s; starting with no known "
                     "peers", tp_strerror(le), dm_p2p_peers_error(d->p2p));
    }
    tp_env_timer_start_in(rn_loop_env(d->loop), &d->status_timer, STATUS_FIRST_NS);
    e = rn_loop_run(d->loop, -1);
    if (e != TP_OK) {
        log_line(d->loop, "event loop failed: %s", tp_strerror(e));
        exit_code = TP_EXIT_FAIL;
    } else {
        int sig = rn_loop_signal(d->loop);
        log_line(d->loop, "%s received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
shutdown:
    tp_env_timer_stop(rn_loop_env(d->loop), &d->status_timer);
    dm_p2p_shutdown(d->p2p, shutdown_done, d);
    {
        const tp_env *env = rn_loop_env(d->loop);
        int64_t give_up = tp_env_now_ns(env) + SHUTDOWN_GRACE_NS;
        while (!d->shutdown_done && tp_env_now_ns(env) < give_up) {
            tp_err r = rn_loop_run(d->loop, give_up);
            if (r != TP_OK) break;
        }
    }
    if (d->rpc) dm_rpc_stop(d->rpc);
    if (d->shutdown_done) {
        tp_err se = dm_p2p_peers_saved(d->p2p);
        if (se == TP_OK)
            log_line(d->loop, "peers.json saved");
        else if (se == TP_ERR_STATE)
            log_line(d->loop, "peers.json left as it was (the node did not start)");
        else {
            log_line(d->loop, "peers.json NOT saved: %s (%s)", tp_strerror(se),
                     dm_p2p_peers_error(d->p2p));
            /* the node ran, but what it learnt is lost: not a clean stop */
            if (exit_code == TP_EXIT_OK) exit_code = TP_EXIT_FAIL;
        }
        dm_p2p_destroy(d->p2p);
        if (exit_code == TP_EXIT_OK)
            log_line(d->loop, "stopped cleanly");
        else if (exit_code == TP_EXIT_FAIL && se != TP_OK && se != TP_ERR_STATE)
            log_line(d->loop, "stopped, but peers.json was not saved (exit %d): the previous "
                              "file is kept as it was", exit_code);
        else
            log_line(d->loop, "stopped: the node could not run (exit %d)", exit_code);
    } else {
        log_line(d->loop, "connections did not close within %d s; exiting anyway",
                 (int)(SHUTDOWN_GRACE_NS / 1000000000));
        if (exit_code == TP_EXIT_OK) exit_code = TP_EXIT_FAIL;
    }
    rn_loop_destroy(d->loop);
    free(d);
    return exit_code;
}

int cmd_node(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TP_EXIT_USAGE : TP_EXIT_OK;
    }
    if (strcmp(argv[1], "run") != 0) {
        cmd_error(cmd_name, "unknown subcommand '%s': the only one is 'run' (try --help)",
                  argv[1]);
        return TP_EXIT_USAGE;
    }
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return TP_EXIT_OK;
    }
    return node_run(argc, argv);
}
