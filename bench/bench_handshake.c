/* bench/bench_handshake.c — the real node on loopback: authenticated handshakes accepted
 * per second by one node, and encrypted application throughput on one connection, each
 * next to the raw libsodium cost of the same work.
 *
 *   beforenm:   crypto_box_beforenm per second (the X25519 + HSalsa20 every handshake
 *               pays once per side) — the ceiling of handshakes per core.
 *   handshakes: a server tp_node on realnet (this process, one core) accepts
 *               connections from C client nodes in a forked process (the other core);
 *               each client, once Running, kicks the connection and dials again. We
 *               count connection_established on the server over the window, per wall
 *               second and per second of the server's CPU time (getrusage), i.e. what
 *               one core sustains.
 *   throughput: one connection; the forked client sends 64000-byte application
 *               messages as fast as back-pressure allows; the server (this process)
 *               counts payload bytes. Compared with raw crypto_box_open_easy_afternm
 *               (the server's side of the work) and seal (the client's) on 65517-byte
 *               chunks.
 *
 * Prints figures only; never fails on a slow machine (exit 1 only if nothing works).
 * Usage: bench_handshake [seconds per measurement, default 3] [clients, default 32]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/crypto.h"
#include "core/node.h"
#include "realnet/rn.h"

#define APP_TAG 0x10
#define APP_PAYLOAD 64000
#define CLIENTS_MAX 256

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint16_t free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(0x7f000001);
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        perror("bench_handshake: free port");
        exit(1);
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static const tp_app_msg_def app_def = {APP_TAG, APP_PAYLOAD, "bench.bytes"};

static void node_config(tp_node_config *cfg, uint32_t seed, uint16_t port) {
    tp_node_config_default(cfg);
    uint8_t s[TP_SEED_SIZE] = {0};
    memcpy(s, &seed, sizeof seed);
    s[31] = 0x5a;
    tp_identity_init_from_seed(&cfg->identity, s); /* PoW difficulty 0 below: any stamp */
    if (tp_pow_target_of_difficulty(0.0, &cfg->pow_target) != TP_OK) exit(1);
    cfg->listen = tp_point_v4(0x7f000001, port);
    cfg->chain_name = "TIDEPOOL_BENCH";
    cfg->min_connections = 0;
    cfg->expected_connections = 0;
    cfg->max_connections = 4000;
    cfg->max_incoming_connections = 255;
    cfg->maintenance_idle_time_ns = 0; /* the bench drives every connection */
    cfg->swap_linger_ns = 0;
    cfg->peers_file = NULL;            /* no data directory */
    cfg->pool.backoff_initial_ns = 1;
    cfg->pool.backoff_disconnection_ns = 1;
    cfg->pool.max_known_points = cfg->pool.max_known_peer_ids = 4000;
    cfg->pool.target_known_points = cfg->pool.target_known_peer_ids = 3000;
    cfg->app_msgs[0] = app_def;
    cfg->app_msgs_count = 1;
    cfg->incoming_message_queue_size = (size_t)8 << 20;
    cfg->outgoing_message_queue_size = (size_t)8 << 20;
}

static void quiet_sink(void *arg, int64_t wall_ns, const tp_event *ev) {
    (void)arg;
    (void)wall_ns;
    (void)ev;
}

static rn_loop *new_loop(void) {
    rn_config rc;
    rn_config_default(&rc);
    rc.event_sink = quiet_sink;
    rn_loop *loop = NULL;
    if (rn_loop_create(&rc, &loop) != TP_OK) exit(1);
    return loop;
}

static void run_until(rn_loop *loop, int64_t deadline_ns) {
    tp_err e = rn_loop_run(loop, deadline_ns);
    if (e != TP_OK && e != TP_ERR_TIMEOUT) {
        fprintf(stderr, "bench_handshake: event loop failed: %s\n", tp_strerror(e));
        exit(1);
    }
}

/* ---- server ------------------------------------------------------------------------- */

typedef struct server {
    uint64_t established, bytes;
} server;

static void s_new_connection(void *arg, tp_node *n, tp_conn *c) {
    (void)n;
    (void)c;
    ((server *)arg)->established++;
}

static void s_app(void *arg, tp_node *n, tp_conn *c, uint16_t tag, const uint8_t *p, size_t len) {
    (void)n;
    (void)c;
    (void)tag;
    (void)p;
    ((server *)arg)->bytes += len;
}

/* ---- clients (forked process) -------------------------------------------------------- */

typedef struct client {
    tp_node *node;
    tp_point server;
    tp_timer retry;
    bool stream; /* throughput mode: send forever on the one connection */
    tp_conn *conn;
    uint8_t *payload;
} client;

static void c_dial(void *arg);

static void c_connected(void *arg, tp_node *n, tp_err err, tp_conn *c) {
    client *cl = arg;
    if (err != TP_OK) {
        tp_env_timer_start_in(n->env, &cl->retry, 1000000);
        return;
    }
    if (cl->stream) {
        cl->conn = c;
        while (tp_node_send(n, c, APP_TAG, cl->payload, APP_PAYLOAD, false) == TP_OK) {
        }
        return;
    }
    (void)tp_node_kick(n, tp_node_conn_peer_id(c));
}

static void c_disconnection(void *arg, tp_node *n, tp_conn *c) {
    client *cl = arg;
    (void)c;
    if (!cl->stream) tp_env_timer_start_in(n->env, &cl->retry, 0);
}

static void c_writable(void *arg, tp_node *n, tp_conn *c) {
    client *cl = arg;
    while (tp_node_send(n, c, APP_TAG, cl->payload, APP_PAYLOAD, false) == TP_OK) {
    }
}

static void c_dial(void *arg) {
    client *cl = arg;
    if (tp_node_connect(cl->node, &cl->server, 0, c_connected, cl) != TP_OK)
        tp_env_timer_start_in(cl->node->env, &cl->retry, 1000000);
}

static void run_clients(uint16_t port, int count, bool stream) {
    rn_loop *loop = new_loop();
    const tp_env *env = rn_loop_env(loop);
    static client cls[CLIENTS_MAX];
    uint8_t *payload = calloc(1, APP_PAYLOAD);
    for (int i = 0; i < count; i++) {
        tp_node_config cfg;
        node_config(&cfg, 1000 + (uint32_t)i, 0);
        cfg.listen.port = 0; /* clients do not listen */
        cfg.hooks.on_disconnection = c_disconnection;
        cfg.hooks.on_writable = c_writable;
        cfg.hooks.arg = &cls[i];
        cls[i].stream = stream;
        cls[i].payload = payload;
        cls[i].server = tp_point_v4(0x7f000001, port);
        if (tp_node_create(env, &cfg, &cls[i].node) != TP_OK ||
            tp_node_activate(cls[i].node) != TP_OK)
            _exit(1);
        tp_timer_init(&cls[i].retry, c_dial, &cls[i]);
        tp_env_timer_start_in(env, &cls[i].retry, 0);
    }
    run_until(loop, -1); /* until killed */
    _exit(0);
}

/* ---- measurements --------------------------------------------------------------------- */

static double beforenm_rate(double seconds) {
    uint8_t pk[32], sk[32], k[32];
    crypto_box_keypair(pk, sk);
    uint64_t n = 0;
    double start = now_s();
    while (now_s() - start < seconds) {
        for (int i = 0; i < 64; i++) {
            if (crypto_box_beforenm(k, pk, sk) != 0) k[0] = 1; /* weak keys: not here */
            pk[0] ^= k[0]; /* keep the compiler honest */
        }
        n += 64;
    }
    return (double)n / (now_s() - start);
}

static void raw_seal_open(double seconds, double *seal_mbs, double *open_mbs) {
    size_t len = TP_CHUNK_PLAINTEXT_MAX;
    uint8_t *plain = calloc(1, len), *wire = calloc(1, len + 16), *back = calloc(1, len);
    uint8_t key[32], nonce[24] = {0};
    randombytes_buf(key, sizeof key);
    uint64_t n = 0;
    double start = now_s();
    while (now_s() - start < seconds) {
        crypto_box_easy_afternm(wire, plain, len, nonce, key);
        n++;
    }
    *seal_mbs = (double)n * (double)len / 1e6 / (now_s() - start);
    n = 0;
    start = now_s();
    while (now_s() - start < seconds) {
        if (crypto_box_open_easy_afternm(back, wire, len + 16, nonce, key) != 0) exit(1);
        n++;
    }
    *open_mbs = (double)n * (double)len / 1e6 / (now_s() - start);
    free(plain);
    free(wire);
    free(back);
}

/* Runs the server for warmup + seconds against a forked client process. */
static void measure(bool stream, int clients, double seconds, double *per_wall, double *per_cpu,
                    uint64_t *count) {
    uint16_t port = free_port();
    rn_loop *loop = new_loop();
    const tp_env *env = rn_loop_env(loop);
    server srv = {0, 0};
    tp_node_config cfg;
    node_config(&cfg, 1, port);
    cfg.hooks.on_new_connection = s_new_connection;
    cfg.hooks.on_app_message = s_app;
    cfg.hooks.arg = &srv;
    tp_node *node = NULL;
    if (tp_node_create(env, &cfg, &node) != TP_OK || tp_node_activate(node) != TP_OK) {
        fprintf(stderr, "bench_handshake: cannot start the server node\n");
        exit(1);
    }
    pid_t child = fork();
    if (child == 0) run_clients(port, clients, stream);
    run_until(loop, tp_env_now_ns(env) + 500000000); /* warm-up 0.5 s */
    uint64_t c0 = stream ? srv.bytes : srv.established;
    double w0 = now_s(), u0 = cpu_s();
    run_until(loop, tp_env_now_ns(env) + (int64_t)(seconds * 1e9));
    uint64_t c1 = stream ? srv.bytes : srv.established;
    double w1 = now_s(), u1 = cpu_s();
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    *count = c1 - c0;
    *per_wall = (double)*count / (w1 - w0);
    *per_cpu = u1 > u0 ? (double)*count / (u1 - u0) : 0;
    tp_node_crash_drop(node);
    rn_loop_destroy(loop);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    int clients = argc > 2 ? atoi(argv[2]) : 32;
    if (seconds <= 0) seconds = 3.0;
    if (clients < 1 || clients > CLIENTS_MAX) clients = 32;
    if (sodium_init() < 0) return 1;
    (void)signal(SIGPIPE, SIG_IGN);

    double bnm = beforenm_rate(1.0);
    printf("crypto_box_beforenm:           %10.0f /s (one core)\n", bnm);

    double wall, cpu;
    uint64_t n;
    measure(false, clients, seconds, &wall, &cpu, &n);
    printf("handshakes accepted (server):  %10.0f /s wall, %10.0f /s per server CPU second "
           "(%llu in %.1f s, %d clients in another process)\n",
           wall, cpu, (unsigned long long)n, seconds, clients);
    printf("  = %.2f beforenm-equivalents of server CPU per handshake\n",
           cpu > 0 ? bnm / cpu : 0.0);

    double seal, open;
    raw_seal_open(1.0, &seal, &open);
    measure(true, 1, seconds, &wall, &cpu, &n);
    printf("raw crypto_box seal (afternm): %10.1f MB/s, open: %.1f MB/s (65517-byte chunks)\n",
           seal, open);
    printf("app throughput, 1 connection:  %10.1f MB/s of payload wall, %.1f MB/s per server "
           "CPU second (64000-byte messages)\n",
           wall / 1e6, cpu / 1e6);
    return n > 0 ? 0 : 1;
}
