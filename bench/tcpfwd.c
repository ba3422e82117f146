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
 *
 * Several namespaces (the flood of bench/tcp_validate.sh): instead of --ns-a/--ns-b,
 *   --ns NAME:REGION (repeated, up to 64; device i's address must be 10.77.0.<i+1>)
 *   --region-delay-us FROM,TO,US (repeated: one-way delay from region FROM to region TO)
 * A packet read from device i goes to the device whose index its IPv4 destination
 * 10.77.0.<j+1> names, after the delay of (region i, region j); other destinations are
 * dropped and counted ("unroutable").
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
#define DEVICES_MAX 64u
#define REGIONS_MAX 16u

typedef struct packet {
    int64_t due_ns;
    uint64_t seq;
    int dir;          /* the device it was read from (0: A, 1: B) */
    int to;           /* the device it goes to */
    uint32_t len_bytes;
    uint8_t data[];
} packet;

typedef struct fwd {
    int fd[DEVICES_MAX]; /* the TUN devices (two: A and B) */
    uint32_t devices;
    int64_t delay_ns[DEVICES_MAX][DEVICES_MAX]; /* one-way, from device i to device j */
    int64_t jitter_ns;
    int64_t spin_ns;  /* wake this early and spin to the due time */
    uint32_t loss_ppm;
    uint64_t rng;
    packet *heap[QUEUE_PACKETS_MAX];
    size_t heap_len;
    uint64_t seq;
    int64_t last_due_ns[DEVICES_MAX][DEVICES_MAX];
    uint64_t forwarded[DEVICES_MAX], lost[DEVICES_MAX], overflow[DEVICES_MAX],
        write_errors[DEVICES_MAX], unroutable;
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
        int to = 1 - dir;
        if (f->devices > 2) { /* route by the IPv4 destination 10.77.0.<to+1> */
            if (n < 20 || (buf[0] >> 4) != 4 || buf[16] != 10 || buf[17] != 77 || buf[18] != 0 ||
                buf[19] == 0 || buf[19] > f->devices || buf[19] - 1 == dir) {
                f->unroutable++;
                continue;
            }
            to = buf[19] - 1;
        }
        if (f->loss_ppm > 0 && rng_next(&f->rng) % 1000000u < f->loss_ppm) {
            f->lost[dir]++;
            continue;
        }
        if (f->heap_len >= QUEUE_PACKETS_MAX) {
            f->overflow[dir]++;
            continue;
        }
        int64_t due = t + f->delay_ns[dir][to];
        if (f->jitter_ns > 0) due += (int64_t)(rng_next(&f->rng) % (uint64_t)(f->jitter_ns + 1));
        if (due < f->last_due_ns[dir][to]) due = f->last_due_ns[dir][to]; /* keep the order */
        f->last_due_ns[dir][to] = due;
        packet *p = malloc(sizeof *p + (size_t)n);
        if (p == NULL) {
            f->overflow[dir]++;
            continue;
        }
        p->due_ns = due;
        p->seq = f->seq++;
        p->dir = dir;
        p->to = to;
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
        for (uint32_t i = 0; i < f->devices; i++) read_side(f, (int)i);
        t = now_ns();
    }
    while (f->heap_len > 0 && f->heap[0]->due_ns <= t) {
        packet *p = heap_pop(f);
        int to = p->to;
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

_Noreturn static void usage(void) {
    fprintf(stderr, "usage: tcpfwd --ns-a NAME --ns-b NAME [--delay-ab-us N] [--delay-ba-us N]\n"
                    "       tcpfwd --ns NAME:REGION --ns ... (3 to 64) [--region-delay-us FROM,TO,US]...\n"
                    "       common: [--dev tpb0] [--jitter-us N] [--loss-ppm N] [--seed N]\n"
                    "       [--max-seconds N] [--ready-file PATH] [--spin-us 150] [--no-rt]\n");
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
    static char ns_names[DEVICES_MAX][128];
    uint32_t ns_region[DEVICES_MAX], ns_count = 0;
    static int64_t region_delay_us[REGIONS_MAX][REGIONS_MAX];
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
        else if (strcmp(o, "--ns") == 0) {
            const char *colon = strrchr(v, ':');
            if (colon == NULL || ns_count >= DEVICES_MAX || (size_t)(colon - v) >= sizeof ns_names[0]) {
                fprintf(stderr, "tcpfwd: --ns wants NAME:REGION, at most %u of them (got \"%s\")\n",
                        DEVICES_MAX, v);
                return 2;
            }
            memcpy(ns_names[ns_count], v, (size_t)(colon - v));
            ns_names[ns_count][colon - v] = '\0';
            ns_region[ns_count++] = (uint32_t)num_arg("--ns REGION", colon + 1, 0, REGIONS_MAX - 1);
        } else if (strcmp(o, "--region-delay-us") == 0) {
            unsigned a, b;
            long long us;
            if (sscanf(v, "%u,%u,%lld", &a, &b, &us) != 3 || a >= REGIONS_MAX || b >= REGIONS_MAX ||
                us < 0 || us > 10000000) {
                fprintf(stderr, "tcpfwd: --region-delay-us wants FROM,TO,US with regions < %u "
                                "and US in 0..10000000 (got \"%s\")\n", REGIONS_MAX, v);
                return 2;
            }
            region_delay_us[a][b] = us;
        }
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
    if (ns_count > 0 ? (ns_a != NULL || ns_b != NULL || ns_count < 3) : (ns_a == NULL || ns_b == NULL))
        usage(); /* either --ns-a and --ns-b, or three or more --ns */

    static fwd f; /* the heap is large: not on the stack */
    if (ns_count == 0) {
        snprintf(ns_names[0], sizeof ns_names[0], "%s", ns_a);
        snprintf(ns_names[1], sizeof ns_names[1], "%s", ns_b);
        ns_count = 2;
        f.delay_ns[0][1] = delay_us[0] * 1000;
        f.delay_ns[1][0] = delay_us[1] * 1000;
    } else {
        for (uint32_t i = 0; i < ns_count; i++)
            for (uint32_t j = 0; j < ns_count; j++)
                f.delay_ns[i][j] = region_delay_us[ns_region[i]][ns_region[j]] * 1000;
    }
    f.devices = ns_count;
    f.jitter_ns = jitter_us * 1000;
    f.spin_ns = spin_us * 1000;
    f.loss_ppm = (uint32_t)loss_ppm;
    f.rng = (uint64_t)seed;
    f.late_hist = calloc(LATE_BUCKETS_US + 1, sizeof *f.late_hist);
    if (f.late_hist == NULL) return 2;

    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    for (uint32_t i = 0; i < f.devices; i++) {
        f.fd[i] = open_tun_in(ns_names[i], dev);
        if (f.fd[i] < 0) return 1;
    }
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
    /* epoll keys: 0..devices-1 the devices, then the timer, then the signals */
    uint32_t timer_key = f.devices, signal_key = f.devices + 1;
    int fds[DEVICES_MAX + 2];
    for (uint32_t i = 0; i < f.devices; i++) fds[i] = f.fd[i];
    fds[timer_key] = tfd;
    fds[signal_key] = sfd;
    for (uint32_t i = 0; i <= signal_key; i++) {
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
            if (k < timer_key) read_side(&f, (int)k);
            else if (k == timer_key) {
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
    uint64_t forwarded = 0, lost = 0, overflow = 0, write_errors = 0;
    for (uint32_t i = 0; i < f.devices; i++) {
        forwarded += f.forwarded[i];
        lost += f.lost[i];
        overflow += f.overflow[i];
        write_errors += f.write_errors[i];
    }
    /* _ab/_ba: read from device 0 (A) / device 1 (B) */
    printf("{\"tcpfwd\":\"stats\",\"devices\":%u,\"delay_ab_us\":%" PRId64 ",\"delay_ba_us\":%" PRId64
           ",\"jitter_us\":%" PRId64 ",\"spin_us\":%" PRId64 ",\"loss_ppm\":%" PRId64 ",\"sched\":\"%s\""
           ",\"forwarded_ab\":%" PRIu64 ",\"forwarded_ba\":%" PRIu64 ",\"forwarded\":%" PRIu64
           ",\"lost_ab\":%" PRIu64 ",\"lost_ba\":%" PRIu64 ",\"lost\":%" PRIu64
           ",\"unroutable\":%" PRIu64 ",\"overflow\":%" PRIu64 ",\"write_errors\":%" PRIu64
           ",\"queued_at_exit\":%zu,\"late_p50_us\":%.1f,\"late_p99_us\":%.1f"
           ",\"late_max_us\":%.1f}\n",
           f.devices, f.delay_ns[0][1] / 1000, f.delay_ns[1][0] / 1000, jitter_us, spin_us, loss_ppm,
           sched, f.forwarded[0], f.forwarded[1], forwarded, f.lost[0], f.lost[1], lost,
           f.unroutable, overflow, write_errors, queued, late_quantile_us(&f, 0.5),
           late_quantile_us(&f, 0.99), (double)f.late_max_ns / 1000.0);
    fflush(stdout);
    free(f.late_hist);
    return 0;
}
