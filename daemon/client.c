/* daemon/client.c — the admin RPC's HTTP client on libcurl (see client.h). */
#include "daemon/client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
    char *buf;
    size_t len, cap;
    bool too_big;
    /* streaming */
    bool (*line_cb)(void *arg, const char *line, size_t len);
    void *arg;
    bool stopped;
} sink;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    sink *s = userp;
    size_t n = size * nmemb;
    if (s->len + n + 1 > DM_HTTP_REPLY_MAX) {
        s->too_big = true;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1) cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    if (s->line_cb) {
        size_t start = 0;
        for (size_t i = 0; i < s->len; i++) {
            if (s->buf[i] != '\n') continue;
            s->buf[i] = '\0';
            if (!s->line_cb(s->arg, s->buf + start, i - start)) {
                s->stopped = true;
                return 0; /* aborts the transfer */
            }
            start = i + 1;
        }
        memmove(s->buf, s->buf + start, s->len - start);
        s->len -= start;
        s->buf[s->len] = '\0';
    }
    return n;
}

static tp_err perform(const char *rpc, const char *method, const char *path, const char *body,
                      long timeout_ms, sink *s, long *status, char *error, size_t cap) {
    CURL *c = curl_easy_init();
    if (!c) return TP_ERR_NOMEM;
    char url[1024];
    snprintf(url, sizeof url, "http://%s%s", rpc, path);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    if (timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    struct curl_slist *headers = NULL;
    if (body) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    tp_err e = TP_OK;
    if (rc != CURLE_OK && !(s->stopped && rc == CURLE_WRITE_ERROR)) {
        if (s->too_big) {
            e = TP_ERR_TOO_BIG;
            if (error && cap)
                snprintf(error, cap, "%s: the reply is larger than %d bytes", url,
                         DM_HTTP_REPLY_MAX);
        } else if (rc == CURLE_COULDNT_CONNECT) {
            e = TP_ERR_CONN_REFUSED;
            if (error && cap)
                snprintf(error, cap,
                         "cannot reach the node's RPC at %s: %s (is `tidepool node run` "
                         "running with --rpc-addr %s? otherwise pass --rpc ADDR:PORT)",
                         rpc, errbuf[0] ? errbuf : curl_easy_strerror(rc), rpc);
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            e = TP_ERR_TIMEOUT;
            if (error && cap) snprintf(error, cap, "%s: no answer in time", url);
        } else {
            e = TP_ERR_IO;
            if (error && cap)
                snprintf(error, cap, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        }
    }
    *status = code;
    return e;
}

tp_err dm_http_request(const char *rpc, const char *method, const char *path, const char *body,
                       long timeout_ms, dm_http_reply *out, char *error, size_t cap) {
    sink s;
    memset(&s, 0, sizeof s);
    long status = 0;
    tp_err e = perform(rpc, method, path, body, timeout_ms, &s, &status, error, cap);
    if (e != TP_OK) {
        free(s.buf);
        return e;
    }
    if (!s.buf) {
        s.buf = calloc(1, 1);
        if (!s.buf) return TP_ERR_NOMEM;
    }
    out->status = status;
    out->body = s.buf;
    out->len = s.len;
    return TP_OK;
}

void dm_http_reply_free(dm_http_reply *r) {
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

tp_err dm_http_stream(const char *rpc, const char *path,
                      bool (*line_cb)(void *arg, const char *line, size_t len), void *arg,
                      long timeout_ms, char *error, size_t cap) {
    sink s;
    memset(&s, 0, sizeof s);
    s.line_cb = line_cb;
    s.arg = arg;
    long status = 0;
    tp_err e = perform(rpc, "GET", path, NULL, timeout_ms, &s, &status, error, cap);
    free(s.buf);
    if (e == TP_OK && status != 200) {
        if (error && cap) snprintf(error, cap, "%s: HTTP status %ld", path, status);
        return TP_ERR_IO;
    }
    return e;
}
