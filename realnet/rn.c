/* realnet/rn.c — the epoll event loop behind core/env.h (see rn.h).
 *
 * How the env contract is kept:
 * - No callback inside an env call. Every completion that an env call causes
 *   (on_close after close/reset or after a failed write, a connect that failed at once)
 *   is queued on loop->pending and delivered by the loop; on_connect, on_data, on_eof,
 *   on_writable and accepts come only from epoll dispatch; a timer started with a past
 *   deadline waits for the next timer phase.
 * - on_close exactly once and last: a stream that dies enters state ST_DEAD (fd closed,
 *   out of epoll) and goes on the pending FIFO; every dispatch path checks the state
 *   first, so nothing else is delivered after that. The pending phase calls on_close
 *   and then frees the stream. It runs only when no epoll batch is in flight, so stale
 *   batch entries never point at freed memory.
 * - Listeners and datagram sockets are "freed at once" for the caller, but the memory
 *   is kept on a garbage list until the end of the turn, for the same reason.
 * - Equal deadlines in start order: the heap orders by (deadline_ns, backend_seq).
 *   A timer (re)started during the timer phase never runs in that same phase.
 * - The clock is read once per turn (after epoll_wait returns) and frozen for all the
 *   callbacks of that turn.
 *
 * One loop turn: timers due -> pending closes -> epoll_wait -> dispatch -> pending
 * closes -> free garbage. Epoll is level-triggered; a stream's interest set is
 * recomputed from its state after every change (rn_stream_update).
 */
#define _GNU_SOURCE /* accept4, signalfd */
#include "realnet/rn.h"
#include "core/identity.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { RN_KIND_STREAM = 1, RN_KIND_LISTENER, RN_KIND_DGRAM, RN_KIND_SIGNAL, RN_KIND_WATCH };
enum { ST_CONNECTING = 1, ST_OPEN, ST_CLOSING, ST_DEAD };

#define RN_SEND_BUFFER_DEFAULT (256u * 1024u)
#define RN_READ_CHUNK (64u * 1024u)
#define RN_DGRAM_MAX 65507u
#define RN_BATCH 64
#define RN_ACCEPTS_PER_TURN 32
#define RN_READS_PER_TURN 4
#define RN_NAME_MAX 200

/* Common head of every epoll-registered object; epoll_event.data.ptr points here. */
typedef struct rn_io {
    int fd;
    uint8_t kind;
    bool registered;
    uint32_t events;
    struct rn_io *prev, *next;  /* the loop's list of live handles of this kind */
    struct rn_io *garbage_next; /* listeners/dgrams awaiting free at end of turn */
} rn_io;

struct tp_stream {
    rn_io io; /* first */
    rn_loop *loop;
    const tp_stream_cbs *cbs; /* NULL until adopted (accepted streams) */
    void *arg;
    uint8_t state;
    bool close_called;  /* tp_env_stream_close or _reset was called */
    bool reset_called;
    bool read_paused;
    bool eof_seen;
    bool shut_requested;
    bool shut_done;
    bool want_writable;
    tp_err reason;                    /* for on_close, once ST_DEAD */
    uint8_t *sbuf;                    /* user-space send buffer */
    size_t sbuf_cap, sbuf_start, sbuf_len;
    tp_point local, remote;
    tp_stream *pending_next;
};

struct tp_listener {
    rn_io io; /* first */
    rn_loop *loop;
    tp_accept_cb cb;
    void *arg;
    tp_point local;
    tp_timer retry; /* re-enables accepting after EMFILE/ENFILE/ENOMEM */
};

struct tp_dgram {
    rn_io io; /* first */
    rn_loop *loop;
    tp_dgram_cb cb;
    void *arg;
    tp_point local;
};

struct rn_watch {
    rn_io io; /* first; io.fd is the caller's, never closed by the loop */
    rn_loop *loop;
    rn_watch_cb cb;
    void *arg;
};

struct rn_loop {
    tp_env env;
    int epfd;
    rn_io sigio; /* the signalfd, when handle_signals */
    sigset_t sigmask_old;
    bool stop;
    int signal;
    bool in_run;
    int64_t now_ns, wall_ns;
    /* timers: binary min-heap on (deadline_ns, backend_seq) */
    tp_timer **heap;
    size_t heap_len, heap_cap;
    uint64_t timer_seq;
    /* handles */
    rn_io streams, listeners, dgrams, watches; /* list heads (sentinels) */
    size_t n_streams, n_listeners, n_dgrams;
    tp_stream *pending_head, *pending_tail;
    rn_io *garbage;
    /* config */
    char *data_dir;
    size_t send_buffer_max;
    int socket_buffer_bytes;
    int tcp_user_timeout_ms, tcp_keepalive_idle_ms, tcp_keepalive_interval_ms;
    rn_event_sink_cb sink;
    void *sink_arg;
    tp_event_level level_max;
    uint8_t rbuf[RN_READ_CHUNK];
};

/* ------------------------------------------------------------------------------------ */
/* small helpers                                                                        */

static int64_t clock_ns(clockid_t id) {
    struct timespec ts;
    int r = clock_gettime(id, &ts);
    TP_ASSERT(r == 0);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void list_init(rn_io *head) {
    head->prev = head->next = head;
}

static void list_push(rn_io *head, rn_io *io) {
    io->next = head;
    io->prev = head->prev;
    head->prev->next = io;
    head->prev = io;
}

static void list_remove(rn_io *io) {
    io->prev->next = io->next;
    io->next->prev = io->prev;
    io->prev = io->next = io;
}

static tp_err map_errno(int e) {
    switch (e) {
    case ECONNREFUSED:
        return TP_ERR_CONN_REFUSED;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
        return TP_ERR_CONN_RESET;
    case ETIMEDOUT:
        return TP_ERR_TIMEOUT;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:
        return TP_ERR_UNREACHABLE;
    case EADDRINUSE:
        return TP_ERR_ADDR_IN_USE;
    case EADDRNOTAVAIL:
        return TP_ERR_ADDR_NOT_AVAILABLE;
    case ENOMEM:
    case ENOBUFS:
        return TP_ERR_NOMEM;
    case EMFILE:
    case ENFILE:
        return TP_ERR_LIMIT;
    case EINVAL:
    case EAFNOSUPPORT:
        return TP_ERR_INVAL;
    default:
        return TP_ERR_IO;
    }
}

static void point_to_sa(const tp_point *p, struct sockaddr_in6 *sa) {
    memset(sa, 0, sizeof *sa);
    sa->sin6_family = AF_INET6;
    memcpy(&sa->sin6_addr, p->ip.bytes, 16);
    sa->sin6_port = htons(p->port);
}

static void sa_to_point(const struct sockaddr_storage *ss, tp_point *p) {
    memset(p, 0, sizeof *p);
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        memcpy(p->ip.bytes, &s6->sin6_addr, 16);
        p->port = ntohs(s6->sin6_port);
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        p->ip = tp_ip_from_v4(ntohl(s4->sin_addr.s_addr));
        p->port = ntohs(s4->sin_port);
    }
}

static void fd_local_point(int fd, tp_point *p) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        sa_to_point(&ss, p);
    else
        memset(p, 0, sizeof *p);
}

static int so_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

static void set_int_opt(int fd, int level, int name, int value) {
    (void)setsockopt(fd, level, name, &value, sizeof value);
}

static void io_register(rn_loop *loop, rn_io *io, uint32_t events) {
    if (events == 0) {
        if (io->registered) {
            (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
            io->registered = false;
        }
        io->events = 0;
        return;
    }
    if (io->registered && io->events == events) return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.ptr = io;
    int r = epoll_ctl(loop->epfd, io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, io->fd, &ev);
    TP_ASSERT(r == 0); /* only EBADF/ENOMEM/EINVAL: all bugs or a dying machine */
    io->registered = true;
    io->events = events;
}

static void io_close_fd(rn_loop *loop, rn_io *io) {
    if (io->fd < 0) return;
    io_register(loop, io, 0);
    (void)close(io->fd);
    io->fd = -1;
}

/* ------------------------------------------------------------------------------------ */
/* clock                                                                                */

static void refresh_clock(rn_loop *loop) {
    int64_t now = clock_ns(CLOCK_MONOTONIC);
    if (now > loop->now_ns) loop->now_ns = now;
    loop->wall_ns = clock_ns(CLOCK_REALTIME);
}

static int64_t rn_now_ns(void *ctx) {
    rn_loop *loop = ctx;
    if (!loop->in_run) refresh_clock(loop); /* outside the loop nothing is frozen */
    return loop->now_ns;
}

static int64_t rn_wall_ns(void *ctx) {
    rn_loop *loop = ctx;
    if (!loop->in_run) refresh_clock(loop);
    return loop->wall_ns;
}

/* ------------------------------------------------------------------------------------ */
/* timers                                                                               */

static bool timer_less(const tp_timer *a, const tp_timer *b) {
    if (a->deadline_ns != b->deadline_ns) return a->deadline_ns < b->deadline_ns;
    return a->backend_seq < b->backend_seq;
}

static void heap_set(rn_loop *loop, size_t i, tp_timer *t) {
    loop->heap[i] = t;
    t->backend_index = (uint32_t)i;
}

static void heap_up(rn_loop *loop, size_t i) {
    tp_timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_less(t, loop->heap[parent])) break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, t);
}

static void heap_down(rn_loop *loop, size_t i) {
    tp_timer *t = loop->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const tp_timer *best = t;
        if (l < loop->heap_len && timer_less(loop->heap[l], best)) m = l, best = loop->heap[l];
        if (r < loop->heap_len && timer_less(loop->heap[r], best)) m = r;
        if (m == i) break;
        heap_set(loop, i, loop->heap[m]);
        i = m;
    }
    heap_set(loop, i, t);
}

static void heap_remove(rn_loop *loop, tp_timer *t) {
    size_t i = t->backend_index;
    TP_ASSERT(i < loop->heap_len && loop->heap[i] == t);
    t->backend_index = TP_TIMER_NOT_ARMED;
    loop->heap_len--;
    if (i == loop->heap_len) return;
    tp_timer *moved = loop->heap[loop->heap_len];
    heap_set(loop, i, moved);
    heap_up(loop, i);
    heap_down(loop, moved->backend_index);
}

static void rn_timer_stop(void *ctx, tp_timer *t) {
    rn_loop *loop = ctx;
    if (t->backend_index == TP_TIMER_NOT_ARMED) return;
    heap_remove(loop, t);
}

static void rn_timer_start(void *ctx, tp_timer *t, int64_t deadline_ns) {
    rn_loop *loop = ctx;
    if (t->backend_index != TP_TIMER_NOT_ARMED) heap_remove(loop, t);
    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        tp_timer **h = realloc(loop->heap, cap * sizeof *h);
        TP_ASSERT(h != NULL); /* void API: out of memory for a timer is fatal */
        loop->heap = h;
        loop->heap_cap = cap;
    }
    t->deadline_ns = deadline_ns;
    t->backend_seq = ++loop->timer_seq;
    loop->heap_len++;
    heap_set(loop, loop->heap_len - 1, t);
    heap_up(loop, loop->heap_len - 1);
}

static void run_timers(rn_loop *loop) {
    uint64_t seq_limit = loop->timer_seq; /* timers started from here on wait a turn */
    while (loop->heap_len > 0) {
        tp_timer *t = loop->heap[0];
        if (t->deadline_ns > loop->now_ns || t->backend_seq > seq_limit) break;
        heap_remove(loop, t);
        t->cb(t->arg);
    }
}

/* ------------------------------------------------------------------------------------ */
/* streams                                                                              */

static void stream_update(tp_stream *s) {
    uint32_t ev = 0;
    if (s->state == ST_CONNECTING) {
        ev = EPOLLOUT;
    } else if (s->state == ST_OPEN || s->state == ST_CLOSING) {
        if (s->sbuf_len > 0) ev |= EPOLLOUT;
        if (s->state == ST_OPEN && !s->read_paused && !s->eof_seen) ev |= EPOLLIN;
    }
    if (s->io.fd >= 0) io_register(s->loop, &s->io, ev);
}

/* The stream is gone: out of epoll, fd closed, on_close queued (if it has callbacks). */
static void stream_finish(tp_stream *s, tp_err reason) {
    if (s->state == ST_DEAD) return;
    rn_loop *loop = s->loop;
    s->state = ST_DEAD;
    s->reason = reason;
    s->want_writable = false;
    io_close_fd(loop, &s->io);
    s->pending_next = NULL;
    if (loop->pending_tail)
        loop->pending_tail->pending_next = s;
    else
        loop->pending_head = s;
    loop->pending_tail = s;
}

static void stream_free(tp_stream *s) {
    rn_loop *loop = s->loop;
    io_close_fd(loop, &s->io);
    list_remove(&s->io);
    loop->n_streams--;
    free(s->sbuf);
    free(s);
}

static void process_pending(rn_loop *loop) {
    while (loop->pending_head) {
        tp_stream *s = loop->pending_head;
        loop->pending_head = s->pending_next;
        if (!loop->pending_head) loop->pending_tail = NULL;
        if (s->cbs) s->cbs->on_close(s->arg, s, s->reason);
        stream_free(s);
    }
}

/* Graceful end after the send buffer drained: FIN, discard unread input (closing a
 * socket with unread bytes would make the kernel send a reset), close. */
static void stream_complete_close(tp_stream *s) {
    if (s->io.fd >= 0) {
        (void)shutdown(s->io.fd, SHUT_WR);
        /* Not loop->rbuf: this may run inside on_data, whose bytes live there. */
        uint8_t sink[4096];
        for (int i = 0; i < 16; i++) {
            ssize_t n = recv(s->io.fd, sink, sizeof sink, MSG_DONTWAIT);
            if (n <= 0) break;
        }
    }
    stream_finish(s, TP_OK);
}

static tp_stream *stream_new(rn_loop *loop, int fd, uint8_t state) {
    tp_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->io.fd = fd;
    s->io.kind = RN_KIND_STREAM;
    s->loop = loop;
    s->state = state;
    s->reason = TP_OK;
    list_push(&loop->streams, &s->io);
    loop->n_streams++;
    return s;
}

static int ms_to_whole_s(int ms) {
    int s = ms / 1000 + (ms % 1000 != 0);
    return s < 1 ? 1 : s;
}

/* spec §2.1: TCP_USER_TIMEOUT and keepalive; failures are not fatal (as Octez, which
 * only logs them), so the results are ignored. */
static void tcp_liveness_opts(rn_loop *loop, int fd) {
    if (loop->tcp_user_timeout_ms > 0)
        set_int_opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, loop->tcp_user_timeout_ms);
    if (loop->tcp_keepalive_idle_ms > 0) {
        set_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        set_int_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, ms_to_whole_s(loop->tcp_keepalive_idle_ms));
        set_int_opt(fd, IPPROTO_TCP, TCP_KEEPINTVL,
                    ms_to_whole_s(loop->tcp_keepalive_interval_ms > 0
                                      ? loop->tcp_keepalive_interval_ms
                                      : RN_TCP_KEEPALIVE_INTERVAL_MS_DEFAULT));
    }
}

static void stream_socket_opts(rn_loop *loop, int fd) {
    set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    tcp_liveness_opts(loop, fd);
    if (loop->socket_buffer_bytes > 0) {
        set_int_opt(fd, SOL_SOCKET, SO_SNDBUF, loop->socket_buffer_bytes);
        set_int_opt(fd, SOL_SOCKET, SO_RCVBUF, loop->socket_buffer_bytes);
    }
}

/* Sends from the user-space buffer; on drain, finishes a pending close or
 * shutdown and fires on_writable once per short write. */
static void stream_flush(tp_stream *s) {
    while (s->sbuf_len > 0) {
        ssize_t n = send(s->io.fd, s->sbuf + s->sbuf_start, s->sbuf_len,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            s->sbuf_start += (size_t)n;
            s->sbuf_len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        stream_finish(s, map_errno(n < 0 ? errno : EPIPE));
        return;
    }
    if (s->sbuf_len == 0) {
        s->sbuf_start = 0;
        if (s->state == ST_CLOSING) {
            stream_complete_close(s);
            return;
        }
        if (s->shut_requested && !s->shut_done) {
            (void)shutdown(s->io.fd, SHUT_WR);
            s->shut_done = true;
        }
    }
    bool room = s->sbuf_len <= s->loop->send_buffer_max / 2;
    if (s->want_writable && s->state == ST_OPEN && room) {
        s->want_writable = false;
        stream_update(s);
        s->cbs->on_writable(s->arg, s);
        return;
    }
    stream_update(s);
}

static void stream_read(tp_stream *s) {
    rn_loop *loop = s->loop;
    for (int i = 0; i < RN_READS_PER_TURN; i++) {
        if (s->state != ST_OPEN || s->read_paused || s->eof_seen) return;
        ssize_t n = recv(s->io.fd, loop->rbuf, sizeof loop->rbuf, MSG_DONTWAIT);
        if (n > 0) {
            s->cbs->on_data(s->arg, s, loop->rbuf, (size_t)n);
            if ((size_t)n < sizeof loop->rbuf) return;
            continue;
        }
        if (n == 0) {
            s->eof_seen = true;
            stream_update(s);
            if (s->cbs->on_eof) {
                s->cbs->on_eof(s->arg, s);
            } else {
                /* NULL on_eof: EOF is a close request (env.h). Core may still call
                 * close or reset later: both are accepted in ST_CLOSING. */
                s->state = ST_CLOSING;
                s->want_writable = false;
                stream_flush(s);
            }
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        stream_finish(s, map_errno(errno));
        return;
    }
}

static void stream_dispatch(tp_stream *s, uint32_t ev) {
    if (s->state == ST_DEAD) return;
    if (s->state == ST_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = so_error(s->io.fd);
        if (err == 0 && (ev & (EPOLLERR | EPOLLHUP))) err = ECONNREFUSED;
        if (err != 0) {
            stream_finish(s, map_errno(err));
            return;
        }
        s->state = ST_OPEN;
        fd_local_point(s->io.fd, &s->local);
        if (s->shut_requested) { /* shutdown_write while connecting; nothing buffered */
            (void)shutdown(s->io.fd, SHUT_WR);
            s->shut_done = true;
        }
        stream_update(s);
        s->cbs->on_connect(s->arg, s);
        return;
    }
    if (ev & EPOLLOUT) {
        stream_flush(s);
        if (s->state == ST_DEAD) return;
    }
    if (s->state == ST_OPEN && !s->read_paused && !s->eof_seen &&
        (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        stream_read(s);
        return;
    }
    if (ev & (EPOLLERR | EPOLLHUP)) {
        int err = so_error(s->io.fd);
        if (err != 0)
            stream_finish(s, map_errno(err));
        else if (s->state == ST_CLOSING && (ev & EPOLLHUP))
            stream_finish(s, TP_ERR_CONN_RESET);
        else if (ev & EPOLLHUP)
            io_register(s->loop, &s->io, 0); /* nothing more to learn until resumed */
    }
}

static tp_err rn_stream_connect(void *ctx, const tp_point *remote, const tp_stream_cbs *cbs,
                                void *arg, tp_stream **out) {
    rn_loop *loop = ctx;
    if (remote->port == 0) return TP_ERR_INVAL;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return map_errno(errno);
    set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
    stream_socket_opts(loop, fd);
    tp_stream *s = stream_new(loop, fd, ST_CONNECTING);
    if (!s) {
        close(fd);
        return TP_ERR_NOMEM;
    }
    s->cbs = cbs;
    s->arg = arg;
    s->remote = *remote;
    struct sockaddr_in6 sa;
    point_to_sa(remote, &sa);
    int r;
    do {
        r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    } while (r < 0 && errno == EINTR);
    if (r == 0 || errno == EINPROGRESS) {
        /* Even an immediate success is reported from the loop (EPOLLOUT). */
        stream_update(s);
    } else {
        /* A synchronous failure of the transport is an outcome, not a failed call:
         * report it through on_close, later. */
        stream_finish(s, map_errno(errno));
    }
    *out = s;
    return TP_OK;
}

static void rn_stream_adopt(void *ctx, tp_stream *s, const tp_stream_cbs *cbs, void *arg) {
    (void)ctx;
    TP_ASSERT(s->cbs == NULL && !s->close_called);
    s->cbs = cbs;
    s->arg = arg;
    stream_update(s);
}

static bool sbuf_reserve(tp_stream *s, size_t extra) {
    if (s->sbuf_start > 0 && s->sbuf_start + s->sbuf_len + extra > s->sbuf_cap) {
        memmove(s->sbuf, s->sbuf + s->sbuf_start, s->sbuf_len);
        s->sbuf_start = 0;
    }
    size_t need = s->sbuf_len + extra;
    if (need <= s->sbuf_cap) return true;
    size_t cap = s->sbuf_cap ? s->sbuf_cap : 4096;
    while (cap < need) cap *= 2;
    if (cap > s->loop->send_buffer_max) cap = s->loop->send_buffer_max;
    uint8_t *b = realloc(s->sbuf, cap);
    if (!b) return false;
    s->sbuf = b;
    s->sbuf_cap = cap;
    return true;
}

static tp_err rn_stream_write(void *ctx, tp_stream *s, const uint8_t *data, size_t len,
                              size_t *taken) {
    (void)ctx;
    if (s->state == ST_DEAD || s->state == ST_CLOSING || s->close_called) return TP_ERR_CLOSED;
    if (s->state == ST_CONNECTING || s->shut_requested) return TP_ERR_STATE;
    size_t done = 0;
    if (s->sbuf_len == 0) {
        while (done < len) {
            ssize_t n = send(s->io.fd, data + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                done += (size_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            stream_finish(s, map_errno(n < 0 ? errno : EPIPE));
            return TP_ERR_CLOSED;
        }
    }
    size_t room = s->loop->send_buffer_max - s->sbuf_len;
    size_t copy = len - done < room ? len - done : room;
    if (copy > 0 && sbuf_reserve(s, copy)) {
        memcpy(s->sbuf + s->sbuf_start + s->sbuf_len, data + done, copy);
        s->sbuf_len += copy;
        done += copy;
    }
    if (done < len) s->want_writable = true;
    stream_update(s);
    *taken = done;
    return TP_OK;
}

static void rn_stream_read_pause(void *ctx, tp_stream *s) {
    (void)ctx;
    s->read_paused = true;
    if (s->state != ST_DEAD) stream_update(s);
}

static void rn_stream_read_resume(void *ctx, tp_stream *s) {
    (void)ctx;
    s->read_paused = false;
    if (s->state != ST_DEAD) stream_update(s);
}

static void rn_stream_shutdown_write(void *ctx, tp_stream *s) {
    (void)ctx;
    if (s->state == ST_DEAD || s->shut_requested) return;
    s->shut_requested = true;
    if (s->state == ST_OPEN && s->sbuf_len == 0) {
        (void)shutdown(s->io.fd, SHUT_WR);
        s->shut_done = true;
    }
    /* CONNECTING: done by stream_flush once connected (the buffer is empty then). */
}

static void rn_stream_close(void *ctx, tp_stream *s) {
    (void)ctx;
    TP_ASSERT(!s->close_called); /* env.h: closing twice, or after reset, is a bug */
    s->close_called = true;
    s->want_writable = false;
    switch (s->state) {
    case ST_DEAD:
        return; /* on_close already queued with the reason the stream died of */
    case ST_CONNECTING:
        stream_finish(s, TP_ERR_CANCELLED);
        return;
    case ST_CLOSING:
        return; /* already flushing (an EOF with no on_eof started it) */
    case ST_OPEN:
        s->state = ST_CLOSING;
        if (s->sbuf_len == 0)
            stream_complete_close(s);
        else
            stream_update(s);
        return;
    default:
        TP_UNREACHABLE();
    }
}

/* Allowed after a graceful close that is still flushing (core gives up waiting): the
 * close becomes an abort. */
static void rn_stream_reset(void *ctx, tp_stream *s) {
    (void)ctx;
    TP_ASSERT(!s->reset_called);
    s->reset_called = true;
    bool was_closed = s->close_called;
    s->close_called = true;
    if (s->state == ST_DEAD) {
        if (!was_closed) s->reason = TP_ERR_CANCELLED; /* on_close not delivered yet */
        return;
    }
    if (s->io.fd >= 0) {
        struct linger lg = {1, 0}; /* close() now sends RST */
        (void)setsockopt(s->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    stream_finish(s, TP_ERR_CANCELLED);
}

static void rn_stream_addresses(void *ctx, tp_stream *s, tp_point *local, tp_point *remote) {
    (void)ctx;
    if (local) *local = s->local;
    if (remote) *remote = s->remote;
}

/* ------------------------------------------------------------------------------------ */
/* listeners                                                                            */

static void garbage_add(rn_loop *loop, rn_io *io) {
    io->garbage_next = loop->garbage;
    loop->garbage = io;
}

static void free_garbage(rn_loop *loop) {
    while (loop->garbage) {
        rn_io *io = loop->garbage;
        loop->garbage = io->garbage_next;
        free(io);
    }
}

static int bound_socket(rn_loop *loop, int type, const tp_point *local, tp_err *err) {
    int fd = socket(AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = map_errno(errno);
        return -1;
    }
    set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0); /* dual stack: IPv4 as ::ffff:a.b.c.d */
    set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (type == SOCK_STREAM) {
        stream_socket_opts(loop, fd);
    } else {
        set_int_opt(fd, SOL_SOCKET, SO_BROADCAST, 1);
    }
    struct sockaddr_in6 sa;
    point_to_sa(local, &sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        *err = map_errno(errno);
        if (*err == TP_ERR_INVAL) *err = TP_ERR_ADDR_NOT_AVAILABLE;
        close(fd);
        return -1;
    }
    return fd;
}

static void listener_retry(void *arg) {
    tp_listener *l = arg;
    if (l->io.fd >= 0) io_register(l->loop, &l->io, EPOLLIN);
}

static tp_err rn_listen(void *ctx, const tp_point *local, int backlog, tp_accept_cb cb, void *arg,
                        tp_listener **out) {
    rn_loop *loop = ctx;
    tp_err err = TP_OK;
    int fd = bound_socket(loop, SOCK_STREAM, local, &err);
    if (fd < 0) return err;
    if (listen(fd, backlog) != 0) {
        err = map_errno(errno);
        close(fd);
        return err;
    }
    tp_listener *l = calloc(1, sizeof *l);
    if (!l) {
        close(fd);
        return TP_ERR_NOMEM;
    }
    l->io.fd = fd;
    l->io.kind = RN_KIND_LISTENER;
    l->loop = loop;
    l->cb = cb;
    l->arg = arg;
    tp_timer_init(&l->retry, listener_retry, l);
    fd_local_point(fd, &l->local);
    list_push(&loop->listeners, &l->io);
    loop->n_listeners++;
    io_register(loop, &l->io, EPOLLIN);
    *out = l;
    return TP_OK;
}

static void rn_listener_close(void *ctx, tp_listener *l) {
    rn_loop *loop = ctx;
    TP_ASSERT(l->io.fd >= 0);
    rn_timer_stop(loop, &l->retry);
    io_close_fd(loop, &l->io);
    list_remove(&l->io);
    loop->n_listeners--;
    garbage_add(loop, &l->io);
}

static void listener_dispatch(tp_listener *l) {
    rn_loop *loop = l->loop;
    for (int i = 0; i < RN_ACCEPTS_PER_TURN && l->io.fd >= 0; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(l->io.fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: level-triggered epoll would spin. Stop
                 * listening for 100 ms; pending connections wait in the backlog. */
                io_register(loop, &l->io, 0);
                rn_timer_start(loop, &l->retry, loop->now_ns + 100000000);
            }
            return;
        }
        set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
        tcp_liveness_opts(loop, fd); /* not every option is inherited from the listener */
        tp_stream *s = stream_new(loop, fd, ST_OPEN);
        if (!s) {
            close(fd);
            return;
        }
        sa_to_point(&ss, &s->remote);
        fd_local_point(fd, &s->local);
        l->cb(l->arg, l, s, &s->remote);
        /* env.h: the accept callback must adopt the stream or close/reset it. */
        TP_ASSERT(s->cbs != NULL || s->close_called);
    }
}

void rn_listener_point(const tp_listener *l, tp_point *out) {
    *out = l->local;
}

/* ------------------------------------------------------------------------------------ */
/* datagrams                                                                            */

static tp_err rn_dgram_open(void *ctx, const tp_point *local, tp_dgram_cb cb, void *arg,
                            tp_dgram **out) {
    rn_loop *loop = ctx;
    tp_err err = TP_OK;
    int fd = bound_socket(loop, SOCK_DGRAM, local, &err);
    if (fd < 0) return err;
    tp_dgram *d = calloc(1, sizeof *d);
    if (!d) {
        close(fd);
        return TP_ERR_NOMEM;
    }
    d->io.fd = fd;
    d->io.kind = RN_KIND_DGRAM;
    d->loop = loop;
    d->cb = cb;
    d->arg = arg;
    fd_local_point(fd, &d->local);
    list_push(&loop->dgrams, &d->io);
    loop->n_dgrams++;
    io_register(loop, &d->io, EPOLLIN);
    *out = d;
    return TP_OK;
}

static tp_err rn_dgram_send(void *ctx, tp_dgram *d, const tp_point *to, const uint8_t *data,
                            size_t len) {
    (void)ctx;
    if (len > RN_DGRAM_MAX) return TP_ERR_TOO_BIG;
    struct sockaddr_in6 sa;
    point_to_sa(to, &sa);
    for (;;) {
        ssize_t n = sendto(d->io.fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT,
                           (struct sockaddr *)&sa, sizeof sa);
        if (n >= 0) return TP_OK;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return TP_OK; /* lost */
        if (errno == EMSGSIZE) return TP_ERR_TOO_BIG;
        return TP_ERR_UNREACHABLE;
    }
}

static void rn_dgram_close(void *ctx, tp_dgram *d) {
    rn_loop *loop = ctx;
    TP_ASSERT(d->io.fd >= 0);
    io_close_fd(loop, &d->io);
    list_remove(&d->io);
    loop->n_dgrams--;
    garbage_add(loop, &d->io);
}

static void dgram_dispatch(tp_dgram *d) {
    rn_loop *loop = d->loop;
    for (int i = 0; i < 16 && d->io.fd >= 0; i++) {
        struct sockaddr_storage ss;
        socklen_t slen = sizeof ss;
        ssize_t n = recvfrom(d->io.fd, loop->rbuf, sizeof loop->rbuf, MSG_DONTWAIT,
                             (struct sockaddr *)&ss, &slen);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        tp_point from;
        sa_to_point(&ss, &from);
        d->cb(d->arg, d, &from, loop->rbuf, (size_t)n);
    }
}

void rn_dgram_point(const tp_dgram *d, tp_point *out) {
    *out = d->local;
}

/* ------------------------------------------------------------------------------------ */
/* randomness, memory, events                                                           */

static void rn_random(void *ctx, void *buf, size_t len) {
    (void)ctx;
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            TP_ASSERT(errno == EINTR); /* anything else: no entropy source at all */
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
}

static void *rn_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size) {
    (void)ctx;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_size);
}

static void rn_event(void *ctx, const tp_event *ev) {
    rn_loop *loop = ctx;
    if (tp_event_kind_level(ev->kind) > loop->level_max) return;
    loop->sink(loop->sink_arg, rn_wall_ns(loop), ev);
}

typedef struct rn_text {
    char *buf;
    size_t cap, len; /* len < cap always; buf[len] == 0 */
} rn_text;

static void text_put(rn_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_put(rn_text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    t->len += (size_t)n;
    if (t->len >= t->cap) t->len = t->cap - 1; /* truncated */
}

size_t rn_event_format(char *buf, size_t cap, int64_t wall_ns, const tp_event *ev) {
    TP_ASSERT(cap > 0);
    rn_text t = {buf, cap, 0};
    buf[0] = '\0';
    if (wall_ns < 0) wall_ns = 0;
    time_t secs = (time_t)(wall_ns / 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    text_put(&t, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ kind=%s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(wall_ns % 1000000000 / 1000), tp_event_kind_name(ev->kind));
    if (ev->flags & TP_EVENT_HAS_PEER) {
        /* Base58 ("id..."), as the RPC, the CLI and Octez's own logs write peer ids */
        tp_peer_id id;
        memcpy(id.bytes, ev->peer_id, sizeof id.bytes);
        char b58[TP_PEER_ID_TEXT_SIZE];
        text_put(&t, " peer=%s", tp_peer_id_to_b58(&id, b58));
    }
    if (ev->flags & TP_EVENT_HAS_POINT) {
        char pt[TP_POINT_TEXT_MAX];
        text_put(&t, " point=%s", tp_point_format(&ev->point, pt));
    }
    text_put(&t, " code=%d", (int)ev->code);
    if (ev->detail) {
        text_put(&t, " detail=\"");
        for (const unsigned char *c = (const unsigned char *)ev->detail; *c; c++) {
            if (*c == '"' || *c == '\\')
                text_put(&t, "\\%c", *c);
            else if (*c < 0x20 || *c == 0x7f)
                text_put(&t, "\\x%02x", *c);
            else
                text_put(&t, "%c", *c);
        }
        text_put(&t, "\"");
    }
    return t.len;
}

void rn_event_sink_stderr(void *arg, int64_t wall_ns, const tp_event *ev) {
    (void)arg;
    char line[1024];
    size_t n = rn_event_format(line, sizeof line - 1, wall_ns, ev);
    line[n++] = '\n';
    (void)fwrite(line, 1, n, stderr);
}

/* ------------------------------------------------------------------------------------ */
/* files                                                                                */

static bool name_ok(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > RN_NAME_MAX) return false;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return false;
    return strchr(name, '/') == NULL;
}

static tp_err file_path(rn_loop *loop, const char *name, const char *prefix, char *buf,
                        size_t cap) {
    if (!loop->data_dir) return TP_ERR_NOT_SUPPORTED;
    if (!name_ok(name)) return TP_ERR_INVAL;
    int n = snprintf(buf, cap, "%s/%s%s", loop->data_dir, prefix, name);
    if (n < 0 || (size_t)n >= cap) return TP_ERR_INVAL;
    return TP_OK;
}

/* The tp_err of a failed file operation: what happened, named (a full disk, a read-only
 * file system), not "input/output error". */
static tp_err rn_errno_file(int e) {
    switch (e) {
    case ENOSPC:
    case EDQUOT: return TP_ERR_NO_SPACE;
    case EROFS: return TP_ERR_READ_ONLY;
    case EACCES:
    case EPERM: return TP_ERR_PERMISSION;
    case ENOENT: return TP_ERR_NOT_FOUND;
    case EISDIR:
    case ENXIO: return TP_ERR_NOT_FILE;
    default: return TP_ERR_IO;
    }
}

static tp_err rn_file_read(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len) {
    rn_loop *loop = ctx;
    char path[4096];
    TP_TRY(file_path(loop, name, "", path, sizeof path));
    /* O_NONBLOCK: a FIFO in place of the file must not block the node in open() (it
     * did, deaf to SIGTERM); only regular files are read. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        struct stat lst;
        if (e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
            return TP_ERR_DANGLING_LINK; /* never "not found": a new file would replace it */
        return e == ENOENT ? TP_ERR_NOT_FOUND : rn_errno_file(e);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rn_errno_file(e);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return TP_ERR_NOT_FILE;
    }
    size_t size = (size_t)st.st_size;
    if (size > cap) {
        close(fd);
        *len = size;
        return TP_ERR_TOO_BIG;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size) return TP_ERR_IO; /* the file changed under us */
    *len = size;
    return TP_OK;
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static tp_err rn_file_write(void *ctx, const char *name, const uint8_t *data, size_t len) {
    rn_loop *loop = ctx;
    char path[4096], tmp[4096];
    TP_TRY(file_path(loop, name, "", path, sizeof path));
    TP_TRY(file_path(loop, name, ".tmp.", tmp, sizeof tmp));
    /* The destination must be a regular file or absent: never replace a FIFO, a device,
     * a directory or a dangling symbolic link (identity.json: a link to a missing
     * identity is an error, not a place for a new one). */
    struct stat lst;
    if (lstat(path, &lst) == 0) {
        struct stat st;
        if (S_ISLNK(lst.st_mode) && stat(path, &st) != 0) return TP_ERR_DANGLING_LINK;
        if (!S_ISLNK(lst.st_mode) && !S_ISREG(lst.st_mode)) return TP_ERR_NOT_FILE;
        if (S_ISLNK(lst.st_mode) && !S_ISREG(st.st_mode)) return TP_ERR_NOT_FILE;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return rn_errno_file(errno);
    size_t put = 0;
    int err = 0;
    while (put < len) {
        ssize_t n = write(fd, data + put, len - put);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            err = n < 0 ? errno : ENOSPC;
            break;
        }
        put += (size_t)n;
    }
    if (!err && fsync(fd) != 0) err = errno;
    if (close(fd) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        (void)unlink(tmp);
        return rn_errno_file(err);
    }
    if (fsync_dir(loop->data_dir) != 0) return rn_errno_file(errno);
    return TP_OK;
}

static tp_err rn_file_rename(void *ctx, const char *from, const char *to) {
    rn_loop *loop = ctx;
    char a[4096], b[4096];
    TP_TRY(file_path(loop, from, "", a, sizeof a));
    TP_TRY(file_path(loop, to, "", b, sizeof b));
    if (rename(a, b) != 0) return errno == ENOENT ? TP_ERR_NOT_FOUND : TP_ERR_IO;
    if (fsync_dir(loop->data_dir) != 0) return TP_ERR_IO;
    return TP_OK;
}

/* ------------------------------------------------------------------------------------ */
/* the loop                                                                             */

static const tp_env_ops rn_ops = {
    .now_ns = rn_now_ns,
    .wall_ns = rn_wall_ns,
    .timer_start = rn_timer_start,
    .timer_stop = rn_timer_stop,
    .listen = rn_listen,
    .listener_close = rn_listener_close,
    .stream_connect = rn_stream_connect,
    .stream_adopt = rn_stream_adopt,
    .stream_write = rn_stream_write,
    .stream_read_pause = rn_stream_read_pause,
    .stream_read_resume = rn_stream_read_resume,
    .stream_shutdown_write = rn_stream_shutdown_write,
    .stream_close = rn_stream_close,
    .stream_reset = rn_stream_reset,
    .stream_addresses = rn_stream_addresses,
    .dgram_open = rn_dgram_open,
    .dgram_send = rn_dgram_send,
    .dgram_close = rn_dgram_close,
    .random_bytes = rn_random,
    .file_read = rn_file_read,
    .file_write = rn_file_write,
    .file_rename = rn_file_rename,
    .realloc = rn_realloc,
    .event = rn_event,
};

void rn_config_default(rn_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->event_level_max = TP_EVENT_LEVEL_INFO;
    cfg->tcp_user_timeout_ms = RN_TCP_USER_TIMEOUT_MS_DEFAULT;
    cfg->tcp_keepalive_idle_ms = RN_TCP_KEEPALIVE_IDLE_MS_DEFAULT;
    cfg->tcp_keepalive_interval_ms = RN_TCP_KEEPALIVE_INTERVAL_MS_DEFAULT;
}

/* A decimal number of milliseconds, 0..INT_MAX, the whole of [text, end). */
static bool parse_ms(const char *text, const char *end, int *out) {
    if (text == end || end - text > 10) return false;
    long long v = 0;
    for (const char *c = text; c < end; c++) {
        if (*c < '0' || *c > '9') return false;
        v = v * 10 + (*c - '0');
    }
    if (v > INT_MAX) return false;
    *out = (int)v;
    return true;
}

tp_err rn_tcp_options_parse(const char *user_timeout, const char *keepalive, rn_config *cfg,
                            char *error, size_t cap) {
    int ut = cfg->tcp_user_timeout_ms;
    int idle = cfg->tcp_keepalive_idle_ms, intv = cfg->tcp_keepalive_interval_ms;
    if (user_timeout) {
        if (!parse_ms(user_timeout, user_timeout + strlen(user_timeout), &ut)) {
            if (error && cap)
                snprintf(error, cap,
                         "OCTEZ_P2P_TCP_USER_TIMEOUT='%.40s': expected a number of "
                         "milliseconds (0 disables the option), e.g. 45000",
                         user_timeout);
            return TP_ERR_INVAL;
        }
    }
    if (keepalive) {
        const char *comma = strchr(keepalive, ',');
        const char *end = keepalive + strlen(keepalive);
        bool ok;
        if (comma) {
            ok = parse_ms(keepalive, comma, &idle) && parse_ms(comma + 1, end, &intv);
        } else {
            ok = parse_ms(keepalive, end, &idle);
            intv = RN_TCP_KEEPALIVE_INTERVAL_MS_DEFAULT; /* Octez: (ms, 5000) */
        }
        if (!ok) {
            if (error && cap)
                snprintf(error, cap,
                         "OCTEZ_P2P_TCP_KEEPALIVE='%.40s': expected 'idle_ms' or "
                         "'idle_ms,interval_ms' (0 disables keepalive), e.g. 10000,5000",
                         keepalive);
            return TP_ERR_INVAL;
        }
    }
    cfg->tcp_user_timeout_ms = ut;
    cfg->tcp_keepalive_idle_ms = idle;
    cfg->tcp_keepalive_interval_ms = intv;
    return TP_OK;
}

tp_err rn_tcp_options_from_environ(rn_config *cfg, char *error, size_t cap) {
    return rn_tcp_options_parse(getenv("OCTEZ_P2P_TCP_USER_TIMEOUT"),
                                getenv("OCTEZ_P2P_TCP_KEEPALIVE"), cfg, error, cap);
}

tp_err rn_stream_tcp_info(const tp_stream *s, rn_tcp_info *out) {
    if (s->io.fd < 0) return TP_ERR_CLOSED;
    rn_tcp_info info;
    memset(&info, 0, sizeof info);
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(s->io.fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, &len) != 0) return TP_ERR_IO;
    info.user_timeout_ms = v;
    len = sizeof v;
    if (getsockopt(s->io.fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len) != 0) return TP_ERR_IO;
    info.keepalive = v != 0;
    len = sizeof v;
    if (getsockopt(s->io.fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len) != 0) return TP_ERR_IO;
    info.keepalive_idle_s = v;
    len = sizeof v;
    if (getsockopt(s->io.fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, &len) != 0) return TP_ERR_IO;
    info.keepalive_interval_s = v;
    *out = info;
    return TP_OK;
}

/* ------------------------------------------------------------------------------------ */
/* foreign descriptors                                                                  */

static uint32_t watch_epoll_events(unsigned events) {
    return ((events & RN_WATCH_READ) ? EPOLLIN : 0u) | ((events & RN_WATCH_WRITE) ? EPOLLOUT : 0u);
}

tp_err rn_watch_open(rn_loop *loop, int fd, unsigned events, rn_watch_cb cb, void *arg,
                     rn_watch **out) {
    TP_ASSERT(loop != NULL && fd >= 0 && cb != NULL && out != NULL);
    rn_watch *w = calloc(1, sizeof *w);
    if (!w) return TP_ERR_NOMEM;
    w->io.fd = fd;
    w->io.kind = RN_KIND_WATCH;
    w->loop = loop;
    w->cb = cb;
    w->arg = arg;
    uint32_t ev = watch_epoll_events(events);
    if (ev != 0) {
        struct epoll_event e;
        memset(&e, 0, sizeof e);
        e.events = ev;
        e.data.ptr = &w->io;
        if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
            tp_err err = map_errno(errno);
            free(w);
            return err == TP_ERR_NOMEM ? err : TP_ERR_INVAL;
        }
        w->io.registered = true;
        w->io.events = ev;
    }
    list_push(&loop->watches, &w->io);
    *out = w;
    return TP_OK;
}

void rn_watch_set_events(rn_watch *w, unsigned events) {
    if (w->io.fd >= 0) io_register(w->loop, &w->io, watch_epoll_events(events));
}

void rn_watch_close(rn_watch *w) {
    rn_loop *loop = w->loop;
    io_register(loop, &w->io, 0);
    w->io.fd = -1; /* the caller's descriptor: not closed here */
    list_remove(&w->io);
    garbage_add(loop, &w->io);
}

tp_err rn_loop_create(const rn_config *cfg, rn_loop **out) {
    rn_config def;
    if (!cfg) {
        rn_config_default(&def);
        cfg = &def;
    }
    rn_loop *loop = calloc(1, sizeof *loop);
    if (!loop) return TP_ERR_NOMEM;
    loop->env.ctx = loop;
    loop->env.ops = &rn_ops;
    loop->sigio.fd = -1;
    list_init(&loop->streams);
    list_init(&loop->listeners);
    list_init(&loop->dgrams);
    list_init(&loop->watches);
    loop->tcp_user_timeout_ms = cfg->tcp_user_timeout_ms;
    loop->tcp_keepalive_idle_ms = cfg->tcp_keepalive_idle_ms;
    loop->tcp_keepalive_interval_ms = cfg->tcp_keepalive_interval_ms;
    loop->send_buffer_max = cfg->send_buffer_max ? cfg->send_buffer_max : RN_SEND_BUFFER_DEFAULT;
    loop->socket_buffer_bytes = cfg->socket_buffer_bytes;
    loop->sink = cfg->event_sink ? cfg->event_sink : rn_event_sink_stderr;
    loop->sink_arg = cfg->event_sink_arg;
    loop->level_max = cfg->event_level_max;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return TP_ERR_IO;
    }
    if (cfg->data_dir) {
        loop->data_dir = strdup(cfg->data_dir);
        if (!loop->data_dir) {
            rn_loop_destroy(loop);
            return TP_ERR_NOMEM;
        }
        if (mkdir(loop->data_dir, 0700) != 0 && errno != EEXIST) {
            rn_loop_destroy(loop);
            return TP_ERR_IO;
        }
    }
    (void)signal(SIGPIPE, SIG_IGN);
    if (cfg->handle_signals) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &set, &loop->sigmask_old) != 0) {
            rn_loop_destroy(loop);
            return TP_ERR_IO;
        }
        loop->sigio.kind = RN_KIND_SIGNAL;
        loop->sigio.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (loop->sigio.fd < 0) {
            (void)sigprocmask(SIG_SETMASK, &loop->sigmask_old, NULL);
            rn_loop_destroy(loop);
            return TP_ERR_IO;
        }
        io_register(loop, &loop->sigio, EPOLLIN);
    }
    refresh_clock(loop);
    *out = loop;
    return TP_OK;
}

const tp_env *rn_loop_env(rn_loop *loop) {
    return &loop->env;
}

void rn_loop_destroy(rn_loop *loop) {
    if (!loop) return;
    /* Streams whose on_close is queued are in the streams list too. */
    while (loop->streams.next != &loop->streams) stream_free((tp_stream *)loop->streams.next);
    loop->pending_head = loop->pending_tail = NULL;
    while (loop->listeners.next != &loop->listeners)
        rn_listener_close(loop, (tp_listener *)loop->listeners.next);
    while (loop->dgrams.next != &loop->dgrams)
        rn_dgram_close(loop, (tp_dgram *)loop->dgrams.next);
    while (loop->watches.next != &loop->watches) rn_watch_close((rn_watch *)loop->watches.next);
    free_garbage(loop);
    /* Armed timers are forgotten without touching them: their owners may already be
     * gone (a crash-dropped host). */
    free(loop->heap);
    if (loop->sigio.fd >= 0) {
        io_close_fd(loop, &loop->sigio);
        (void)sigprocmask(SIG_SETMASK, &loop->sigmask_old, NULL);
    }
    if (loop->epfd >= 0) close(loop->epfd);
    free(loop->data_dir);
    free(loop);
}

void rn_loop_stop(rn_loop *loop) {
    loop->stop = true;
}

int rn_loop_signal(const rn_loop *loop) {
    return loop->signal;
}

void rn_loop_get_counts(const rn_loop *loop, rn_loop_counts *out) {
    out->streams = loop->n_streams;
    out->listeners = loop->n_listeners;
    out->dgrams = loop->n_dgrams;
    out->timers = loop->heap_len;
}

static void signal_dispatch(rn_loop *loop) {
    struct signalfd_siginfo si;
    while (read(loop->sigio.fd, &si, sizeof si) == (ssize_t)sizeof si) {
        loop->signal = (int)si.ssi_signo;
        loop->stop = true;
    }
}

static void dispatch(rn_loop *loop, rn_io *io, uint32_t ev) {
    switch (io->kind) {
    case RN_KIND_STREAM:
        stream_dispatch((tp_stream *)io, ev);
        break;
    case RN_KIND_LISTENER:
        if (io->fd >= 0) listener_dispatch((tp_listener *)io);
        break;
    case RN_KIND_DGRAM:
        if (io->fd >= 0) dgram_dispatch((tp_dgram *)io);
        break;
    case RN_KIND_SIGNAL:
        signal_dispatch(loop);
        break;
    case RN_KIND_WATCH:
        if (io->fd >= 0) {
            rn_watch *w = (rn_watch *)io;
            unsigned e = ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? RN_WATCH_READ : 0u) |
                         ((ev & (EPOLLOUT | EPOLLERR)) ? RN_WATCH_WRITE : 0u);
            w->cb(w->arg, e);
        }
        break;
    default:
        TP_UNREACHABLE();
    }
}

tp_err rn_loop_run(rn_loop *loop, int64_t deadline_ns) {
    TP_ASSERT(!loop->in_run); /* not re-entrant */
    loop->in_run = true;
    tp_err result = TP_OK;
    struct epoll_event evs[RN_BATCH];
    refresh_clock(loop);
    for (;;) {
        run_timers(loop);
        process_pending(loop);
        free_garbage(loop);
        if (loop->stop) break;
        if (deadline_ns >= 0 && loop->now_ns >= deadline_ns) {
            result = TP_ERR_TIMEOUT;
            break;
        }
        int64_t wake_ns = -1;
        if (loop->heap_len > 0) wake_ns = loop->heap[0]->deadline_ns;
        if (deadline_ns >= 0 && (wake_ns < 0 || deadline_ns < wake_ns)) wake_ns = deadline_ns;
        int timeout_ms = -1;
        if (wake_ns >= 0) {
            int64_t wait_ns = wake_ns - loop->now_ns;
            if (wait_ns <= 0)
                timeout_ms = 0;
            else
                timeout_ms = wait_ns / 1000000 >= 60000 ? 60000 : (int)((wait_ns + 999999) / 1000000);
        }
        int n = epoll_wait(loop->epfd, evs, RN_BATCH, timeout_ms);
        refresh_clock(loop);
        if (n < 0) {
            if (errno == EINTR) continue;
            result = TP_ERR_IO;
            break;
        }
        for (int i = 0; i < n; i++) dispatch(loop, evs[i].data.ptr, evs[i].events);
        process_pending(loop);
        free_garbage(loop);
        if (loop->stop) break; /* at the end of this turn, before more timers run */
    }
    loop->stop = false;
    loop->in_run = false;
    return result;
}

/* ------------------------------------------------------------------------------------ */
/* points                                                                               */

static bool parse_port(const char *text, uint16_t *port) {
    if (*text == '\0' || strlen(text) > 5) return false;
    unsigned v = 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9') return false;
        v = v * 10 + (unsigned)(*c - '0');
    }
    if (v == 0 || v > 65535) return false;
    *port = (uint16_t)v;
    return true;
}

tp_err rn_point_parse(const char *text, tp_point *out) {
    char host[64];
    const char *port_text;
    tp_point p;
    memset(&p, 0, sizeof p);
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host)
            return TP_ERR_DECODE_BAD_POINT;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_text = close + 2;
        if (inet_pton(AF_INET6, host, p.ip.bytes) != 1) return TP_ERR_DECODE_BAD_POINT;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || colon == text || (size_t)(colon - text) >= sizeof host ||
            memchr(text, ':', (size_t)(colon - text)) != NULL)
            return TP_ERR_DECODE_BAD_POINT;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
        struct in_addr a4;
        if (strcmp(host, "localhost") == 0) {
            p.ip = tp_ip_from_v4(0x7f000001);
        } else if (inet_pton(AF_INET, host, &a4) == 1) {
            p.ip = tp_ip_from_v4(ntohl(a4.s_addr));
        } else {
            return TP_ERR_DECODE_BAD_POINT;
        }
    }
    if (!parse_port(port_text, &p.port)) return TP_ERR_DECODE_BAD_POINT;
    *out = p;
    return TP_OK;
}
