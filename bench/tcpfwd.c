/* bench/tcpfwd.c — a user-space link between two network namespaces: delay, jitter and
 * random loss for the TCP validation benchmark (bench/tcp_validate.sh, issue 16).
 *
 * Why: this kernel has no netem (CONFIG_NET_SCH_NETEM unset, modules cannot load), so
 * the benchmark cannot ask the kernel for a delayed or lossy link. Instead each of two
 * namespaces gets a TUN device (made by the caller, e.g. `ip -n tpb-a tuntap add dev
 * tpb0 mode tun`, addressed and brought up there), and this one process attaches to
 * both (it enters each namespace with setns before opening /dev/net/tun, so each fd
 * belongs to the device of that namespace) and copies every IP packet read from one
 * device to the other, after a configurable one-way delay per direction, an optional
 * uniform jitter, and a random loss drawn from a seeded PRNG. Rate limits are not done
 * here: `tc qdisc ... tbf` on each TUN device (its egress is that host's uplink).
 *
 * Timing: packets wait in one queue ordered by (due time, arrival sequence); a timerfd
 * armed --spin-us before the earliest due time (absolute CLOCK_MONOTONIC, timer slack
 * 1 ns, SCHED_FIFO when permitted) wakes the loop, which then spins (reading both
 * devices) to the due time: a timer alone is 50-300 us late on the loaded machine. Order within a direction is kept even with
 * jitter (a packet is never due before the one read before it), as simnet keeps a
 * stream in order. The lateness of every send against its due time is recorded and
 * printed at exit (p50/p99/max), so a run says which precision it actually got.
 *
 * Usage:
 *   tcpfwd --ns-a NAME --ns-b NAME [--dev tpb0] [--delay-ab-us N] [--delay-ba-us N]
 *          [--jitter-us N] [--loss-ppm N] [--seed N] [--max-seconds N] [--ready-file P]
 *          [--spin-us 150] [--no-rt]
 * ab = packets leaving namespace A (read from A's device, written to B's).
 * Stops on SIGTERM/SIGINT or after --max-seconds (default 3600); prints one JSON line
 * of statistics on stdout at exit. Needs root (setns, /dev/net/tun).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PACKET_BYTES_MAX 65536u
#define QUEUE_PACKETS_MAX 65536u  /* 96 MB of 1500-byte packets: far above any BDP here */
#define LATE_BUCKETS_US 100000u   /* lateness histogram, 1 us buckets up to 100 ms */

typedef struct packet {
    int64_t due_ns;
    uint64_t seq;
    int dir;          /* 0: A->B, 1: B->A */
    uint32_t len_bytes;
    uint8_t data[];
} packet;

typedef struct fwd {
    int fd[2];        /* the TUN devices in A and B */
    int64_t delay_ns[2];
    int64_t jitter_ns;
    int64_t spin_ns;  /* wake this early and spin to the due time */
    uint32_t loss_ppm;
    uint64_t rng;
    packet *heap[QUEUE_PACKETS_MAX];
    size_t heap_len;
    uint64_t seq;
    int64_t last_due_ns[2];
    uint64_t forwarded[2], lost[2], overflow[2], write_errors[2];
    uint64_t *late_hist; /* LATE_BUCKETS_US + 1 */
    uint64_t late_count;
    int64_t late_max_ns;
} fwd;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool before(const packet *a, const packet *b) {
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_push(fwd *f, packet *p) {
    size_t i = f->heap_len++;
    f->heap[i] = p;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(f->heap[i], f->heap[parent])) break;
        packet *t = f->heap[i];
        f->heap[i] = f->heap[parent];
        f->heap[parent] = t;
        i = parent;
    }
}

static packet *heap_pop(fwd *f) {
    packet *top = f->heap[0];
    f->heap[0] = f->heap[--f->heap_len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < f->heap_len && before(f->heap[l], f->heap[m])) m = l;
        if (r < f->heap_len && before(f->heap[r], f->heap[m])) m = r;
        if (m == i) break;
        packet *t = f->heap[i];
        f->heap[i] = f->heap[m];
        f->heap[m] = t;
        i = m;
    }
    return top;
}

static int open_ns(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/var/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fprintf(stderr, "tcpfwd: cannot open namespace %s: %s (made with `ip netns add %s`?)\n",
                        path, strerror(errno), name);
    return fd;
}

/* Enters namespace `ns` and attaches to its TUN device `dev`. */
static int open_tun_in(const char *ns, const char *dev) {
    int nsfd = open_ns(ns);
    if (nsfd < 0) return -1;
    if (setns(nsfd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "tcpfwd: setns into %s: %s (needs root)\n", ns, strerror(errno));
        close(nsfd);
        return -1;
    }
    close(nsfd);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        fprintf(stderr, "tcpfwd: open /dev/net/tun in %s: %s\n", ns, strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        fprintf(stderr, "tcpfwd: attach to TUN device %s in namespace %s: %s (create it with "
                "`ip -n %s tuntap add dev %s mode tun`)\n", dev, ns, strerror(errno), ns, dev);
        close(fd);
        return -1;
    }
    return fd;
}

static void arm(int tfd, const fwd *f) {
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (f->heap_len > 0) {
        int64_t due = f->heap[0]->due_ns - f->spin_ns;
        if (due <= 0) due = 1;
        its.it_value.tv_sec = due / 1000000000;
        its.it_value.tv_nsec = due % 1000000000;
    }
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
        perror("tcpfwd: timerfd_settime");
        exit(2);
    }
}

/* Reads every packet waiting on side `dir`'s device and queues (or drops) it. */
static void read_side(fwd *f, int dir) {
    for (;;) {
        uint8_t buf[PACKET_BYTES_MAX];
        ssize_t n = read(f->fd[dir], buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            fprintf(stderr, "tcpfwd: read side %d: %s\n", dir, strerror(errno));
            exit(2);
        }
        if (n == 0) return;
        int64_t t = now_ns();
        if (f->loss_ppm > 0 && rng_next(&f->rng) % 1000000u < f->loss_ppm) {
            f->lost[dir]++;
            continue;
        }
        if (f->heap_len >= QUEUE_PACKETS_MAX) {
            f->overflow[dir]++;
            continue;
        }
        int64_t due = t + f->delay_ns[dir];
        if (f->jitter_ns > 0) due += (int64_t)(rng_next(&f->rng) % (uint64_t)(f->jitter_ns + 1));
        if (due < f->last_due_ns[dir]) due = f->last_due_ns[dir]; /* keep the order */
        f->last_due_ns[dir] = due;
        packet *p = malloc(sizeof *p + (size_t)n);
        if (p == NULL) {
            f->overflow[dir]++;
            continue;
        }
        p->due_ns = due;
        p->seq = f->seq++;
        p->dir = dir;
        p->len_bytes = (uint32_t)n;
        memcpy(p->data, buf, (size_t)n);
        heap_push(f, p);
    }
}


/* Sends every packet that is due; a packet due within spin_ns is waited for by spinning
 * (reading both devices meanwhile), since a timer wake-up alone is tens to hundreds of
 * microseconds late on a loaded machine. */
static void send_due(fwd *f) {
    int64_t t = now_ns();
    while (f->heap_len > 0 && f->heap[0]->due_ns > t && f->heap[0]->due_ns - t <= f->spin_ns) {
        read_side(f, 0);
        read_side(f, 1);
        t = now_ns();
    }
    while (f->heap_len > 0 && f->heap[0]->due_ns <= t) {
        packet *p = heap_pop(f);
        int to = 1 - p->dir;
        int64_t late = now_ns() - p->due_ns; /* before the write: it runs the receiver's stack */
        ssize_t w = write(f->fd[to], p->data, p->len_bytes);
        if (w != (ssize_t)p->len_bytes) f->write_errors[p->dir]++;
        else f->forwarded[p->dir]++;
        if (late > f->late_max_ns) f->late_max_ns = late;
        uint64_t b = (uint64_t)(late / 1000);
        if (b > LATE_BUCKETS_US) b = LATE_BUCKETS_US;
        f->late_hist[b]++;
        f->late_count++;
        free(p);
        t = now_ns();
    }
}

static double late_quantile_us(const fwd *f, double q) {
    if (f->late_count == 0) return 0;
    uint64_t want = (uint64_t)(q * (double)(f->late_count - 1)) + 1, seen = 0;
    for (uint32_t b = 0; b <= LATE_BUCKETS_US; b++) {
        seen += f->late_hist[b];
        if (seen >= want) return (double)b + 0.5;
    }
    return (double)LATE_BUCKETS_US;
}

static void usage(void) {
    fprintf(stderr, "usage: tcpfwd --ns-a NAME --ns-b NAME [--dev tpb0] [--delay-ab-us N] "
                    "[--delay-ba-us N] [--jitter-us N] [--loss-ppm N] [--seed N] "
                    "[--max-seconds N] [--ready-file PATH] [--spin-us 150] [--no-rt]\n");
    exit(2);
}

static int64_t num_arg(const char *opt, const char *v, int64_t lo, int64_t hi) {
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "tcpfwd: %s must be an integer in %" PRId64 "..%" PRId64 " (got \"%s\")\n",
                opt, lo, hi, v);
        exit(2);
    }
    return (int64_t)x;
}

int main(int argc, char **argv) {
    const char *ns_a = NULL, *ns_b = NULL, *dev = "tpb0", *ready_file = NULL;
    int64_t delay_us[2] = {0, 0}, jitter_us = 0, spin_us = 150, max_s = 3600, loss_ppm = 0, seed = 1;
    bool rt = true;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--no-rt") == 0) { rt = false; continue; }
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (strcmp(o, "--ns-a") == 0) ns_a = v;
        else if (strcmp(o, "--ns-b") == 0) ns_b = v;
        else if (strcmp(o, "--dev") == 0) dev = v;
        else if (strcmp(o, "--ready-file") == 0) ready_file = v;
        else if (strcmp(o, "--delay-ab-us") == 0) delay_us[0] = num_arg(o, v, 0, 10000000);
        else if (strcmp(o, "--delay-ba-us") == 0) delay_us[1] = num_arg(o, v, 0, 10000000);
        else if (strcmp(o, "--jitter-us") == 0) jitter_us = num_arg(o, v, 0, 10000000);
        else if (strcmp(o, "--spin-us") == 0) spin_us = num_arg(o, v, 0, 10000);
        else if (strcmp(o, "--loss-ppm") == 0) loss_ppm = num_arg(o, v, 0, 1000000);
        else if (strcmp(o, "--seed") == 0) seed = num_arg(o, v, 0, INT64_MAX);
        else if (strcmp(o, "--max-seconds") == 0) max_s = num_arg(o, v, 1, 86400);
        else usage();
    }
    if (ns_a == NULL || ns_b == NULL) usage();

    static fwd f; /* the heap is large: not on the stack */
    f.delay_ns[0] = delay_us[0] * 1000;
    f.delay_ns[1] = delay_us[1] * 1000;
    f.jitter_ns = jitter_us * 1000;
    f.spin_ns = spin_us * 1000;
    f.loss_ppm = (uint32_t)loss_ppm;
    f.rng = (uint64_t)seed;
    f.late_hist = calloc(LATE_BUCKETS_US + 1, sizeof *f.late_hist);
    if (f.late_hist == NULL) return 2;

    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    f.fd[0] = open_tun_in(ns_a, dev);
    if (f.fd[0] < 0) return 1;
    f.fd[1] = open_tun_in(ns_b, dev);
    if (f.fd[1] < 0) return 1;
    if (home >= 0) {
        if (setns(home, CLONE_NEWNET) != 0) perror("tcpfwd: back to the initial namespace");
        close(home);
    }

    /* Precision: no timer slack, and real-time priority if we may (it sleeps nearly
     * always, so it costs the shared machine nothing). */
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    const char *sched = "SCHED_OTHER";
    if (rt) {
        struct sched_param sp = {.sched_priority = 10};
        if (sched_setscheduler(0, SCHED_FIFO, &sp) == 0) sched = "SCHED_FIFO";
        else fprintf(stderr, "tcpfwd: SCHED_FIFO refused (%s); timing may be coarser\n", strerror(errno));
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || tfd < 0 || ep < 0) {
        perror("tcpfwd: signalfd/timerfd/epoll");
        return 2;
    }
    int fds[4] = {f.fd[0], f.fd[1], tfd, sfd};
    for (int i = 0; i < 4; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) {
            perror("tcpfwd: epoll_ctl");
            return 2;
        }
    }
    if (ready_file != NULL) {
        FILE *rf = fopen(ready_file, "w");
        if (rf == NULL) {
            fprintf(stderr, "tcpfwd: cannot write %s: %s\n", ready_file, strerror(errno));
            return 2;
        }
        fprintf(rf, "%d\n", (int)getpid());
        fclose(rf);
    }

    int64_t end_ns = now_ns() + max_s * 1000000000;
    bool running = true;
    while (running) {
        struct epoll_event evs[8];
        int n = epoll_wait(ep, evs, 8, 1000);
        if (n < 0 && errno != EINTR) {
            perror("tcpfwd: epoll_wait");
            return 2;
        }
        for (int i = 0; i < n; i++) {
            uint32_t k = evs[i].data.u32;
            if (k <= 1) read_side(&f, (int)k);
            else if (k == 2) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) {
                    perror("tcpfwd: timerfd read");
                    return 2;
                }
            } else running = false;
        }
        send_due(&f);
        arm(tfd, &f);
        if (now_ns() >= end_ns) running = false;
    }
    size_t queued = f.heap_len;
    while (f.heap_len > 0) free(heap_pop(&f));
    printf("{\"tcpfwd\":\"stats\",\"delay_ab_us\":%" PRId64 ",\"delay_ba_us\":%" PRId64
           ",\"jitter_us\":%" PRId64 ",\"spin_us\":%" PRId64 ",\"loss_ppm\":%" PRId64 ",\"sched\":\"%s\""
           ",\"forwarded_ab\":%" PRIu64 ",\"forwarded_ba\":%" PRIu64 ",\"lost_ab\":%" PRIu64
           ",\"lost_ba\":%" PRIu64 ",\"overflow\":%" PRIu64 ",\"write_errors\":%" PRIu64
           ",\"queued_at_exit\":%zu,\"late_p50_us\":%.1f,\"late_p99_us\":%.1f"
           ",\"late_max_us\":%.1f}\n",
           delay_us[0], delay_us[1], jitter_us, spin_us, loss_ppm, sched, f.forwarded[0], f.forwarded[1],
           f.lost[0], f.lost[1], f.overflow[0] + f.overflow[1],
           f.write_errors[0] + f.write_errors[1], queued, late_quantile_us(&f, 0.5),
           late_quantile_us(&f, 0.99), (double)f.late_max_ns / 1000.0);
    fflush(stdout);
    free(f.late_hist);
    return 0;
}
