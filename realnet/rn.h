/* realnet/rn.h — the real-world env backend: one epoll event loop on POSIX sockets.
 *
 * An rn_loop implements core/env.h for one real process: a CLOCK_MONOTONIC /
 * CLOCK_REALTIME clock cached once per loop turn (frozen during callbacks), a binary
 * timer heap over the caller's tp_timer structs (ordered by deadline, then start
 * sequence), non-blocking TCP streams on AF_INET6 dual-stack sockets (IPv4 peers appear
 * as ::ffff:a.b.c.d, like Octez's P2p_addr, spec §2.1), UDP datagrams, OS entropy
 * (getrandom), files in one data directory with atomic replacement, malloc, and an
 * event sink (default: one structured line per event on stderr).
 *
 * Ownership: the loop owns every stream, listener and datagram handle it hands out
 * and frees each at the end of the loop turn in which it died (after its on_close,
 * for streams), so pointers stay valid for the rest of the epoll batch. The caller owns
 * its tp_timer structs and the rn_loop itself (rn_loop_create / rn_loop_destroy).
 *
 * The env contract (no callback inside an env call, on_close exactly once and last,
 * failed calls fire no callbacks, equal deadlines in start order, frozen clock) is
 * honoured by deferring every completion to the loop: see rn.c's header comment.
 *
 * Octez counterpart: Lwt_unix + P2p_io_scheduler's socket layer (lib_p2p uses Unix
 * directly); tidepool puts it behind env.h instead. Single-threaded.
 */
#ifndef RN_H
#define RN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"

typedef struct rn_loop rn_loop;

/* An event sink: receives every event the node emits (at or below the configured
 * level). wall_ns is the loop's cached wall clock. `ev` is borrowed for the call. */
typedef void (*rn_event_sink_cb)(void *arg, int64_t wall_ns, const tp_event *ev);

typedef struct rn_config {
    /* Directory for tp_env_file_*; created (one level) if missing. NULL: file calls
     * fail with TP_ERR_NOT_SUPPORTED. The string is copied. */
    const char *data_dir;
    /* Bytes a stream may hold in user space beyond what the kernel took
     * (stream_write's back-pressure point). 0: 256 KiB. */
    size_t send_buffer_max;
    /* SO_SNDBUF / SO_RCVBUF for every stream socket (and listeners, so accepted
     * sockets inherit it). 0: the OS default. Tests set it small to force short
     * writes. */
    int socket_buffer_bytes;
    /* Event sink; NULL: rn_event_sink_stderr. */
    rn_event_sink_cb event_sink;
    void *event_sink_arg;
    /* Highest event level passed to the sink (TP_EVENT_LEVEL_INFO by default). */
    tp_event_level event_level_max;
    /* If true, SIGINT and SIGTERM are blocked and read through a signalfd: either one
     * stops rn_loop_run (rn_loop_signal() tells which). Use it in the main program,
     * not in libraries or tests. */
    bool handle_signals;
    /* TCP options of every stream socket (spec §2.1; Octez since early 2025):
     * TCP_USER_TIMEOUT in ms (45000 by default, 0: not set) and keepalive idle /
     * interval in ms (10000 / 5000 by default, idle 0: keepalive off; the kernel takes
     * whole seconds, so values are rounded up to at least 1 s). Failing to set them is
     * not fatal (a warning event is logged once per loop). rn_tcp_options_from_environ
     * applies Octez's environment overrides. */
    int tcp_user_timeout_ms;
    int tcp_keepalive_idle_ms;
    int tcp_keepalive_interval_ms;
} rn_config;

#define RN_TCP_USER_TIMEOUT_MS_DEFAULT 45000
#define RN_TCP_KEEPALIVE_IDLE_MS_DEFAULT 10000
#define RN_TCP_KEEPALIVE_INTERVAL_MS_DEFAULT 5000

/* Defaults: everything zero except the event level and the TCP options above. */
void rn_config_default(rn_config *cfg);

/* Parses Octez's overrides (spec §2.1) into cfg: user_timeout is
 * OCTEZ_P2P_TCP_USER_TIMEOUT's text ("ms", "0" disables), keepalive is
 * OCTEZ_P2P_TCP_KEEPALIVE's ("idle_ms[,interval_ms]", "0" disables); NULL leaves the
 * field as it is. On error, cfg is untouched and `error` (cap bytes) names the variable
 * and the expected form. Errors: TP_ERR_INVAL. */
TP_MUST_USE tp_err rn_tcp_options_parse(const char *user_timeout, const char *keepalive,
                                        rn_config *cfg, char *error, size_t cap);
/* The same with the values of the two environment variables (getenv). */
TP_MUST_USE tp_err rn_tcp_options_from_environ(rn_config *cfg, char *error, size_t cap);

/* What the kernel reports for a stream's socket (getsockopt), for tests and
 * diagnostics: user timeout in ms, keepalive on/off, idle and interval in seconds.
 * Errors: TP_ERR_CLOSED (the stream has no socket any more), TP_ERR_IO. */
typedef struct rn_tcp_info {
    int user_timeout_ms;
    bool keepalive;
    int keepalive_idle_s;
    int keepalive_interval_s;
} rn_tcp_info;
TP_MUST_USE tp_err rn_stream_tcp_info(const tp_stream *s, rn_tcp_info *out);

/* ---- foreign file descriptors -------------------------------------------------------
 * A library with its own sockets (the RPC server: libmicrohttpd in external-epoll mode)
 * joins the loop through a watch: cb(arg, events) runs from dispatch when fd is ready
 * for `events` (RN_WATCH_READ / RN_WATCH_WRITE, level-triggered). The loop does not own
 * fd. rn_watch_close stops watching at once (no callback after it) and frees the
 * handle at the end of the turn. */
enum { RN_WATCH_READ = 1u << 0, RN_WATCH_WRITE = 1u << 1 };
typedef struct rn_watch rn_watch;
typedef void (*rn_watch_cb)(void *arg, unsigned events);
TP_MUST_USE tp_err rn_watch_open(rn_loop *loop, int fd, unsigned events, rn_watch_cb cb,
                                 void *arg, rn_watch **out);
void rn_watch_set_events(rn_watch *w, unsigned events);
void rn_watch_close(rn_watch *w);

/* Creates a loop. SIGPIPE is set to ignored for the process (writes also use
 * MSG_NOSIGNAL). Errors: TP_ERR_NOMEM, TP_ERR_IO (epoll/signalfd/data dir failed). */
TP_MUST_USE tp_err rn_loop_create(const rn_config *cfg, rn_loop **out);

/* Frees the loop. Handles still open are closed without callbacks (their owners must
 * not use them again); armed timers are forgotten (their structs are not touched, so
 * they may already have been freed; they still read as armed). */
void rn_loop_destroy(rn_loop *loop);

/* The env of this loop; valid until rn_loop_destroy. */
const tp_env *rn_loop_env(rn_loop *loop);

/* Runs the loop until rn_loop_stop() is called (from a callback), a handled signal
 * arrives, or the monotonic clock reaches deadline_ns (<0: no deadline).
 * Returns TP_OK when stopped, TP_ERR_TIMEOUT when the deadline was reached,
 * TP_ERR_IO if epoll failed. The stop flag is cleared on return, so the loop can be
 * run again (e.g. to let streams close after a stop). */
TP_MUST_USE tp_err rn_loop_run(rn_loop *loop, int64_t deadline_ns);

/* Asks rn_loop_run to return at the end of the current turn. Safe anywhere. */
void rn_loop_stop(rn_loop *loop);

/* The last signal (SIGINT/SIGTERM) received through handle_signals, or 0. */
int rn_loop_signal(const rn_loop *loop);

/* Live handle counts (streams not yet closed-and-delivered, listeners, datagram
 * sockets, armed timers): for tests and shutdown checks. */
typedef struct rn_loop_counts {
    size_t streams;
    size_t listeners;
    size_t dgrams;
    size_t timers;
} rn_loop_counts;
void rn_loop_get_counts(const rn_loop *loop, rn_loop_counts *out);

/* The bound address of a listener or datagram socket (useful after binding port 0,
 * which realnet allows, to learn the port the OS chose). */
void rn_listener_point(const tp_listener *l, tp_point *out);
void rn_dgram_point(const tp_dgram *d, tp_point *out);

/* The default sink: one line on stderr,
 *   ts=2026-11-21T08:49:24.123456Z kind=new_point peer=<hex> point=1.2.3.4:9732 code=0
 *   detail="..."
 * (peer/point only when present). arg is unused. */
void rn_event_sink_stderr(void *arg, int64_t wall_ns, const tp_event *ev);

/* Formats that line (without the newline) into buf: always NUL-terminated, truncated
 * to cap - 1 characters if needed; returns its length. Quotes, backslashes and control
 * characters in detail are escaped, so a hostile detail cannot forge a log line. */
size_t rn_event_format(char *buf, size_t cap, int64_t wall_ns, const tp_event *ev);

/* Parses "a.b.c.d:port", "[v6]:port" or "localhost:port" (port 1..65535) into a point
 * (IPv4 as ::ffff:a.b.c.d). Strict: the whole text must match. Errors:
 * TP_ERR_DECODE_BAD_POINT. */
TP_MUST_USE tp_err rn_point_parse(const char *text, tp_point *out);

#endif
