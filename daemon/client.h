/* daemon/client.h — a small blocking HTTP client for the admin RPC (libcurl).
 *
 * Used by `tidepool admin` and by the tests. `rpc` is "host:port" or "[v6]:port"
 * (default DM_RPC_DEFAULT, Octez's localhost:8732). Replies are read whole, up to
 * DM_HTTP_REPLY_MAX bytes; dm_http_stream reads a streamed reply line by line.
 */
#ifndef DM_CLIENT_H
#define DM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define DM_RPC_DEFAULT "localhost:8732"
#define DM_HTTP_REPLY_MAX (16 * 1024 * 1024)

typedef struct dm_http_reply {
    long status;
    char *body; /* NUL-terminated, malloc'd; dm_http_reply_free */
    size_t len;
} dm_http_reply;

/* One request. body may be NULL. Errors: TP_ERR_CONN_REFUSED (no node there: `error`
 * says so and suggests --rpc), TP_ERR_TIMEOUT, TP_ERR_TOO_BIG, TP_ERR_IO. An HTTP
 * error status is not an error here: check out->status. */
TP_MUST_USE tp_err dm_http_request(const char *rpc, const char *method, const char *path,
                                   const char *body, long timeout_ms, dm_http_reply *out,
                                   char *error, size_t cap);
void dm_http_reply_free(dm_http_reply *r);

/* GETs a streamed path and calls line_cb for every complete line (without its
 * newline) until it returns false, the server ends the stream, or timeout_ms passes
 * (0: none). Returns TP_OK when line_cb stopped it or the stream ended. */
TP_MUST_USE tp_err dm_http_stream(const char *rpc, const char *path,
                                  bool (*line_cb)(void *arg, const char *line, size_t len),
                                  void *arg, long timeout_ms, char *error, size_t cap);

#endif
