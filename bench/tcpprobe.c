/* bench/tcpprobe.c — the kernel side of the TCP validation benchmark (issue 16): times
 * connects and transfers over the kernel's own TCP between two network namespaces
 * (linked by bench/tcpfwd.c; driven by bench/tcp_validate.sh).
 *
 * One process, two threads: the listening socket is made inside the server namespace
 * and the client sockets inside the client namespace (a socket stays in the namespace
 * it was created in, so the process enters one, then the other, with setns). Both
 * threads read the same CLOCK_MONOTONIC, so server and client times compare directly.
 * Default socket options only (no buffer sizes, no TCP_NODELAY), so the kernel's
 * defaults (cubic, IW10, autotuning, slow start after idle) decide.
 *
 * Definitions (bench/README.md; bench/bench_tcp_sim.c measures the same in simnet):
 *   connect: from the connect() call to its completion at the client.
 *   fresh N: a new connection; from the client's connect completing to the server
 *            application having read the N-th byte (N = 1 is "first byte after
 *            connect").
 *   bursts N: one connection; the client writes N bytes, the server reads them, the
 *            client stays idle --idle-ms, again, --bursts times. Each burst is timed
 *            from the client's write to the server's read of its last byte; a trial's
 *            figure is the median of bursts 2..k.
 *
 * Usage:
 *   tcpprobe --client-ns NAME --server-ns NAME --server-ip A.B.C.D [--port 5201]
 *            --case connect|fresh|bursts [--bytes N] [--trials 5] [--bursts 4]
 *            [--idle-ms 2000] [--pause-ms 300] [--label TEXT]
 * Prints one JSON line per trial: {"side":"kernel","label":...,"trial":i,"ms":x,
 * "cc_client":..,"cc_server":..} (the congestion control each end's socket used).
 * Exit 1 on a failure (a timed-out or refused connection), with a message.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 60
#define BURSTS_MAX 64

typedef enum { CASE_CONNECT, CASE_FRESH, CASE_BURSTS } probe_case;

typedef struct probe {
    probe_case kind;
    uint64_t bytes;
    int bursts;
    int listen_fd;
    int done_pipe[2]; /* server -> client: one int64 timestamp per completed burst/transfer */
    pthread_mutex_t lock;
    char server_cc[32]; /* the congestion control of the last accepted socket */
} probe;

/* The socket's congestion control algorithm (TCP_CONGESTION), printed with every trial
 * so that a reader sees what the kernel actually used. */
static void cc_of(int fd, char out[32]) {
    socklen_t len = 31;
    memset(out, 0, 32);
    if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, out, &len) != 0) snprintf(out, 32, "?");
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "tcpprobe: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void enter_ns(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/var/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "tcpprobe: cannot open namespace %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (setns(fd, CLONE_NEWNET) != 0) die("setns (needs root)");
    close(fd);
}

static void set_timeouts(int fd) {
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        die("setsockopt timeouts");
}

static void put_ts(probe *p, int64_t t) {
    if (write(p->done_pipe[1], &t, sizeof t) != (ssize_t)sizeof t) die("pipe write");
}

/* The server: accepts each connection and reads it to EOF, reporting the time at which
 * every `bytes`-th byte was read (connect case: nothing to report). */
static void *server_main(void *arg) {
    probe *p = arg;
    static uint8_t buf[1 << 16];
    for (;;) {
        int c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR) continue;
            if (errno == EINVAL || errno == EBADF) return NULL; /* shut down */
            die("accept");
        }
        set_timeouts(c);
        char cc[32];
        cc_of(c, cc);
        pthread_mutex_lock(&p->lock);
        memcpy(p->server_cc, cc, sizeof cc);
        pthread_mutex_unlock(&p->lock);
        uint64_t got = 0, next = p->bytes;
        for (;;) {
            ssize_t n = read(c, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            int64_t t = now_ns();
            got += (uint64_t)n;
            while (p->kind != CASE_CONNECT && p->bytes > 0 && got >= next) {
                put_ts(p, t);
                next += p->bytes;
            }
        }
        close(c);
    }
}

static int64_t wait_ts(probe *p) {
    struct pollfd pfd = {.fd = p->done_pipe[0], .events = POLLIN};
    int r = poll(&pfd, 1, IO_TIMEOUT_S * 1000);
    if (r <= 0) {
        fprintf(stderr, "tcpprobe: the server did not receive the data within %d s\n", IO_TIMEOUT_S);
        exit(1);
    }
    int64_t t;
    if (read(p->done_pipe[0], &t, sizeof t) != (ssize_t)sizeof t) die("pipe read");
    return t;
}

static void write_all(int fd, const uint8_t *data, uint64_t len) {
    uint64_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, (size_t)(len - off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("client write");
        off += (uint64_t)n;
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static int64_t num_arg(const char *opt, const char *v, int64_t lo, int64_t hi) {
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "tcpprobe: %s must be an integer in %" PRId64 "..%" PRId64 " (got \"%s\")\n",
                opt, lo, hi, v);
        exit(2);
    }
    return (int64_t)x;
}

_Noreturn static void usage(void) {
    fprintf(stderr, "usage: tcpprobe --client-ns NAME --server-ns NAME --server-ip A.B.C.D "
                    "[--port 5201] --case connect|fresh|bursts [--bytes N] [--trials 5] "
                    "[--bursts 4] [--idle-ms 2000] [--pause-ms 300] [--label TEXT]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *cns = NULL, *sns = NULL, *ip = NULL, *kind = NULL, *label = "";
    int64_t port = 5201, bytes = 0, trials = 5, bursts = 4, idle_ms = 2000, pause_ms = 300;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        const char *o = argv[i], *v = argv[++i];
        if (strcmp(o, "--client-ns") == 0) cns = v;
        else if (strcmp(o, "--server-ns") == 0) sns = v;
        else if (strcmp(o, "--server-ip") == 0) ip = v;
        else if (strcmp(o, "--case") == 0) kind = v;
        else if (strcmp(o, "--label") == 0) label = v;
        else if (strcmp(o, "--port") == 0) port = num_arg(o, v, 1, 65535);
        else if (strcmp(o, "--bytes") == 0) bytes = num_arg(o, v, 0, 1 << 30);
        else if (strcmp(o, "--trials") == 0) trials = num_arg(o, v, 1, 1000);
        else if (strcmp(o, "--bursts") == 0) bursts = num_arg(o, v, 2, BURSTS_MAX);
        else if (strcmp(o, "--idle-ms") == 0) idle_ms = num_arg(o, v, 0, 600000);
        else if (strcmp(o, "--pause-ms") == 0) pause_ms = num_arg(o, v, 0, 600000);
        else usage();
    }
    if (cns == NULL || sns == NULL || ip == NULL || kind == NULL) usage();
    probe p = {.bytes = (uint64_t)bytes, .bursts = (int)bursts, .lock = PTHREAD_MUTEX_INITIALIZER};
    if (strcmp(kind, "connect") == 0) p.kind = CASE_CONNECT;
    else if (strcmp(kind, "fresh") == 0) p.kind = CASE_FRESH;
    else if (strcmp(kind, "bursts") == 0) p.kind = CASE_BURSTS;
    else usage();
    if (p.kind != CASE_CONNECT && bytes < 1) {
        fprintf(stderr, "tcpprobe: --case %s needs --bytes >= 1\n", kind);
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        fprintf(stderr, "tcpprobe: --server-ip must be an IPv4 address (got \"%s\")\n", ip);
        return 2;
    }
    if (pipe2(p.done_pipe, O_CLOEXEC) != 0) die("pipe");

    enter_ns(sns);
    p.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p.listen_fd < 0) die("socket");
    int one = 1;
    if (setsockopt(p.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) die("SO_REUSEADDR");
    if (bind(p.listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("bind (server address)");
    if (listen(p.listen_fd, 16) != 0) die("listen");
    enter_ns(cns);

    pthread_t th;
    if (pthread_create(&th, NULL, server_main, &p) != 0) die("pthread_create");

    uint8_t *data = calloc(1, (size_t)(bytes > 0 ? bytes : 1));
    if (data == NULL) die("calloc");
    for (int64_t t = 0; t < trials; t++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        set_timeouts(fd);
        int64_t t0 = now_ns();
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("connect");
        int64_t t1 = now_ns();
        double ms;
        char extra[1024] = "";
        if (p.kind == CASE_CONNECT) {
            ms = (double)(t1 - t0) / 1e6;
        } else if (p.kind == CASE_FRESH) {
            write_all(fd, data, (uint64_t)bytes);
            ms = (double)(wait_ts(&p) - t1) / 1e6;
        } else {
            int64_t each[BURSTS_MAX];
            size_t len = 0;
            len += (size_t)snprintf(extra + len, sizeof extra - len, ",\"bursts_ms\":[");
            for (int b = 0; b < p.bursts; b++) {
                if (b > 0) sleep_ms(idle_ms);
                int64_t tw = now_ns();
                write_all(fd, data, (uint64_t)bytes);
                each[b] = wait_ts(&p) - tw;
                len += (size_t)snprintf(extra + len, sizeof extra - len, "%s%.3f", b ? "," : "",
                                        (double)each[b] / 1e6);
            }
            snprintf(extra + len, sizeof extra - len, "]");
            qsort(each + 1, (size_t)(p.bursts - 1), sizeof each[0], cmp_i64);
            int m = p.bursts - 1;
            ms = (m % 2) ? (double)each[1 + m / 2] / 1e6
                         : (double)(each[m / 2] + each[1 + m / 2]) / 2e6;
        }
        char client_cc[32], server_cc[32];
        cc_of(fd, client_cc);
        close(fd);
        pthread_mutex_lock(&p.lock);
        memcpy(server_cc, p.server_cc, sizeof server_cc);
        pthread_mutex_unlock(&p.lock);
        printf("{\"side\":\"kernel\",\"label\":\"%s\",\"trial\":%" PRId64 ",\"ms\":%.3f"
               ",\"cc_client\":\"%s\",\"cc_server\":\"%s\"%s}\n",
               label, t, ms, client_cc, server_cc, extra);
        fflush(stdout);
        sleep_ms(pause_ms);
    }
    shutdown(p.listen_fd, SHUT_RDWR);
    free(data);
    return 0; /* the server thread may still block in accept: exit ends it */
}
