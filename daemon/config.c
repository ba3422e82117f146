/* daemon/config.c — config.json with Octez's p2p keys (see config.h). */
#include "daemon/config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

#define NS_PER_S INT64_C(1000000000)

const char *const dm_config_ignored_sections[] = {
    "log", "shell", "internal-events", "metrics_addr", "disable_config_validation",
    "blockchain_network", "dal", "chain_validator", NULL,
};

/* ------------------------------------------------------------------------------------ */
/* defaults                                                                             */

static void point_default(dm_point *p, const char *text) {
    tp_err e = tp_point_parse_config(text, strlen(text), &p->cp);
    TP_ASSERT(e == TP_OK);
    snprintf(p->text, sizeof p->text, "%s", text);
}

void dm_config_default(dm_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    point_default(&cfg->listen_addr, "[::]:9732");
    cfg->expected_pow = 26.0;
    dm_limits *l = &cfg->limits;
    l->connection_timeout_ns = 10 * NS_PER_S;
    l->authentication_timeout_ns = 5 * NS_PER_S;
    l->greylist_timeout_ns = 86400 * NS_PER_S;
    l->maintenance_enabled = true;
    l->maintenance_idle_time_ns = 120 * NS_PER_S;
    l->min_connections = 10;
    l->expected_connections = 50;
    l->max_connections = 100;
    l->backlog = 20;
    l->max_incoming_connections = 20;
    l->max_download_speed_bps = -1;
    l->max_upload_speed_bps = -1;
    l->read_buffer_size = 16384;
    l->read_queue_size = -1;
    l->write_queue_size = -1;
    l->incoming_app_message_queue_size = -1;
    l->incoming_message_queue_size = -1;
    l->outgoing_message_queue_size = -1;
    l->max_known_points = 400;
    l->max_known_points_target = 300;
    l->max_known_peer_ids = 400;
    l->max_known_peer_ids_target = 300;
    l->peer_greylist_size = 1023;
    l->ip_greylist_size_in_kilobytes = 2048;
    l->ip_greylist_cleanup_delay_ns = 86400 * NS_PER_S;
    l->swap_enabled = true;
    l->swap_linger_ns = 30 * NS_PER_S;
    l->binary_chunks_size = 0;
    cfg->reconnection.factor_permille = 1200;
    cfg->reconnection.initial_delay_ns = 1 * NS_PER_S;
    cfg->reconnection.disconnection_delay_ns = 60 * NS_PER_S;
    cfg->reconnection.increase_cap_ns = 172800 * NS_PER_S;
    point_default(&cfg->rpc_listen_addr, "localhost:8732");
    snprintf(cfg->chain_name, sizeof cfg->chain_name, "%s", DM_CHAIN_NAME_DEFAULT);
    cfg->ddb_versions[0] = 0;
    cfg->ddb_versions[1] = 1;
    cfg->ddb_versions[2] = 2;
    cfg->ddb_versions_count = 3;
    cfg->p2p_versions[0] = 0;
    cfg->p2p_versions[1] = 1;
    cfg->p2p_versions_count = 2;
}

/* ------------------------------------------------------------------------------------ */
/* parsing context and messages                                                         */

typedef struct pctx {
    const tp_json_doc *doc;
    const char *name;
    char *err;
    size_t cap;
    dm_config *cfg;
} pctx;

/* Offset of a token for messages: strings point at their opening quote. */
static size_t tok_offset(const pctx *c, size_t tok) {
    const tp_json_token *t = tp_json_tok(c->doc, tok);
    return t->type == TP_JSON_STRING && t->start > 0 ? t->start - 1 : t->start;
}

__attribute__((format(printf, 4, 5))) static tp_err failf(pctx *c, size_t tok, tp_err code,
                                                          const char *fmt, ...) {
    if (!c->err || c->cap == 0) return code;
    size_t line = 0, col = 0;
    tp_json_position(c->doc, tok_offset(c, tok), &line, &col);
    int n = snprintf(c->err, c->cap, "%s:%zu:%zu: ", c->name, line, col);
    if (n > 0 && (size_t)n < c->cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = (a[i - 1] == b[j - 1] || (a[i - 1] == '_' && b[j - 1] == '-') ||
                           (a[i - 1] == '-' && b[j - 1] == '_'))
                              ? 0
                              : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static tp_err unknown_key(pctx *c, size_t key_tok, const char *path, const char *const *known) {
    char key[96];
    size_t len;
    if (tp_json_get_string(c->doc, key_tok, key, sizeof key, &len) != TP_OK)
        snprintf(key, sizeof key, "(long key)");
    const char *best = NULL;
    size_t best_d = 4;
    for (size_t i = 0; known[i]; i++) {
        size_t d = edit_distance(key, known[i]);
        if (d < best_d) best_d = d, best = known[i];
    }
    if (best)
        return failf(c, key_tok, TP_ERR_INVAL, "unknown key \"%s\" in %s (did you mean \"%s\"?)",
                     key, path, best);
    return failf(c, key_tok, TP_ERR_INVAL,
                 "unknown key \"%s\" in %s (known keys are listed in daemon/README.md)", key,
                 path);
}

static tp_err want_type(pctx *c, size_t tok, const char *path, tp_json_type want) {
    tp_json_type t = tp_json_type_of(c->doc, tok);
    if (t == want) return TP_OK;
    return failf(c, tok, TP_ERR_INVAL, "\"%s\" must be %s %s (got %s)", path,
                 want == TP_JSON_OBJECT || want == TP_JSON_ARRAY ? "an" : "a",
                 tp_json_type_name(want), tp_json_type_name(t));
}

static tp_err get_uint(pctx *c, size_t tok, const char *path, int64_t min, int64_t max,
                       int64_t *out) {
    int64_t v;
    if (tp_json_type_of(c->doc, tok) != TP_JSON_NUMBER || tp_json_get_int64(c->doc, tok, &v) != TP_OK)
        return failf(c, tok, TP_ERR_INVAL, "\"%s\" must be an integer in [%lld, %lld]", path,
                     (long long)min, (long long)max);
    if (v < min || v > max)
        return failf(c, tok, TP_ERR_INVAL, "\"%s\" must be in [%lld, %lld] (got %lld)", path,
                     (long long)min, (long long)max, (long long)v);
    *out = v;
    return TP_OK;
}

static tp_err get_u32(pctx *c, size_t tok, const char *path, int64_t min, int64_t max,
                      uint32_t *out) {
    int64_t v;
    TP_TRY(get_uint(c, tok, path, min, max, &v));
    *out = (uint32_t)v;
    return TP_OK;
}

/* A time span in seconds (Octez's Time.System.Span: a float), 0..10^9 s. When nullable,
 * null gives *enabled = false. */
static tp_err get_span(pctx *c, size_t tok, const char *path, bool nullable, bool *enabled,
                       int64_t *out_ns) {
    tp_json_type t = tp_json_type_of(c->doc, tok);
    if (nullable && t == TP_JSON_NULL) {
        *enabled = false;
        return TP_OK;
    }
    double s;
    if (t != TP_JSON_NUMBER || tp_json_get_double(c->doc, tok, &s) != TP_OK)
        return failf(c, tok, TP_ERR_INVAL, "\"%s\" must be a number of seconds%s (got %s)", path,
                     nullable ? " or null" : "", tp_json_type_name(t));
    if (!(s >= 0.0 && s <= 1e9))
        return failf(c, tok, TP_ERR_INVAL, "\"%s\" must be between 0 and 1e9 seconds (got %g)",
                     path, s);
    *out_ns = (int64_t)llround(s * 1e9);
    if (enabled) *enabled = true;
    return TP_OK;
}

static tp_err get_bool(pctx *c, size_t tok, const char *path, bool *out) {
    TP_TRY(want_type(c, tok, path, tp_json_type_of(c->doc, tok) == TP_JSON_FALSE ? TP_JSON_FALSE
                                                                                   : TP_JSON_TRUE));
    return tp_json_get_bool(c->doc, tok, out) == TP_OK ? TP_OK
                                                         : failf(c, tok, TP_ERR_INVAL,
                                                                 "\"%s\" must be true or false",
                                                                 path);
}

static tp_err get_string(pctx *c, size_t tok, const char *path, char *out, size_t cap) {
    TP_TRY(want_type(c, tok, path, TP_JSON_STRING));
    size_t len;
    if (tp_json_get_string(c->doc, tok, out, cap, &len) != TP_OK)
        return failf(c, tok, TP_ERR_INVAL, "\"%s\" is too long (at most %zu bytes)", path,
                     cap - 1);
    if (strlen(out) != len)
        return failf(c, tok, TP_ERR_INVAL, "\"%s\" must not contain a NUL character", path);
    return TP_OK;
}

static tp_err point_from_text(dm_point *p, const char *text, char *why, size_t why_cap) {
    tp_config_point cp;
    tp_err e = tp_point_parse_config(text, strlen(text), &cp);
    if (e != TP_OK) {
        snprintf(why, why_cap, "%s", tp_strerror(e));
        return TP_ERR_INVAL;
    }
    p->cp = cp;
    snprintf(p->text, sizeof p->text, "%s", text);
    return TP_OK;
}

static tp_err get_point(pctx *c, size_t tok, const char *path, dm_point *out) {
    char text[TP_DOMAIN_MAX + 80];
    TP_TRY(get_string(c, tok, path, text, sizeof text));
    char why[160];
    if (point_from_text(out, text, why, sizeof why) != TP_OK)
        return failf(c, tok, TP_ERR_INVAL,
                     "\"%s\": \"%s\" is not a point (%s); write addr:port, [ipv6]:port or "
                     "name:port",
                     path, text, why);
    return TP_OK;
}

tp_err dm_point_set(dm_point *p, const char *option, const char *text, char *error,
                    size_t cap) {
    char why[160];
    if (point_from_text(p, text, why, sizeof why) != TP_OK) {
        if (error && cap)
            snprintf(error, cap,
                     "%s '%s': not a point (%s); write addr:port, [ipv6]:port or name:port",
                     option, text, why);
        return TP_ERR_INVAL;
    }
    return TP_OK;
}

/* [max, target] tuples (Octez: tup2 uint16 uint16). */
static tp_err get_pair(pctx *c, size_t tok, const char *path, uint32_t *max, uint32_t *target) {
    TP_TRY(want_type(c, tok, path, TP_JSON_ARRAY));
    if (tp_json_tok(c->doc, tok)->children != 2)
        return failf(c, tok, TP_ERR_INVAL, "\"%s\" must be [max, target] (two integers)", path);
    int64_t a, b;
    TP_TRY(get_uint(c, tok + 1, path, 1, 65535, &a));
    TP_TRY(get_uint(c, tp_json_next(c->doc, tok + 1), path, 1, 65535, &b));
    if (b > a)
        return failf(c, tok, TP_ERR_INVAL,
                     "\"%s\": the target must be <= the max (got [%lld, %lld])", path,
                     (long long)a, (long long)b);
    *max = (uint32_t)a;
    *target = (uint32_t)b;
    return TP_OK;
}

/* Iterates the members of object `obj`: for each, *key_tok and *val_tok. */
#define FOR_MEMBERS(c, obj, key_tok, val_tok)                                            \
    for (size_t key_tok = (obj) + 1, n_ = 0, val_tok = key_tok + 1;                      \
         n_ < tp_json_tok((c)->doc, obj)->children;                                      \
         n_++, key_tok = tp_json_next((c)->doc, key_tok + 1), val_tok = key_tok + 1)

static bool key_is(const pctx *c, size_t key_tok, const char *name) {
    return tp_json_string_eq(c->doc, key_tok, name);
}

/* ------------------------------------------------------------------------------------ */
/* sections                                                                             */

static const char *const limits_keys[] = {
    "connection-timeout", "authentication-timeout", "min-connections", "expected-connections",
    "max-connections", "backlog", "max-incoming-connections", "max-download-speed",
    "max-upload-speed", "swap-linger", "binary-chunks-size", "read-buffer-size",
    "read-queue-size", "write-queue-size", "incoming-app-message-queue-size",
    "incoming-message-queue-size", "outgoing-message-queue-size", "max_known_points",
    "max_known_peer_ids", "peer_greylist_size", "ip_greylist_size_in_kilobytes",
    "ip_greylist_cleanup_delay", "greylist-timeout", "maintenance-idle-time", NULL,
};

static tp_err parse_limits(pctx *c, size_t obj) {
    TP_TRY(want_type(c, obj, "p2p.limits", TP_JSON_OBJECT));
    dm_limits *l = &c->cfg->limits;
    FOR_MEMBERS(c, obj, k, v) {
        char path[96];
        char key[64];
        size_t kl;
        if (tp_json_get_string(c->doc, k, key, sizeof key, &kl) != TP_OK) key[0] = '\0';
        snprintf(path, sizeof path, "p2p.limits.%s", key);
        int64_t x;
        if (key_is(c, k, "connection-timeout")) {
            TP_TRY(get_span(c, v, path, false, NULL, &l->connection_timeout_ns));
        } else if (key_is(c, k, "authentication-timeout")) {
            TP_TRY(get_span(c, v, path, false, NULL, &l->authentication_timeout_ns));
        } else if (key_is(c, k, "greylist-timeout")) {
            TP_TRY(get_span(c, v, path, false, NULL, &l->greylist_timeout_ns));
        } else if (key_is(c, k, "ip_greylist_cleanup_delay")) {
            TP_TRY(get_span(c, v, path, false, NULL, &l->ip_greylist_cleanup_delay_ns));
        } else if (key_is(c, k, "maintenance-idle-time")) {
            TP_TRY(get_span(c, v, path, true, &l->maintenance_enabled,
                            &l->maintenance_idle_time_ns));
        } else if (key_is(c, k, "swap-linger")) {
            TP_TRY(get_span(c, v, path, true, &l->swap_enabled, &l->swap_linger_ns));
        } else if (key_is(c, k, "min-connections")) {
            TP_TRY(get_u32(c, v, path, 0, 65535, &l->min_connections));
        } else if (key_is(c, k, "expected-connections")) {
            TP_TRY(get_u32(c, v, path, 0, 65535, &l->expected_connections));
        } else if (key_is(c, k, "max-connections")) {
            TP_TRY(get_u32(c, v, path, 0, 65535, &l->max_connections));
        } else if (key_is(c, k, "backlog")) {
            TP_TRY(get_u32(c, v, path, 1, 255, &l->backlog));
        } else if (key_is(c, k, "max-incoming-connections")) {
            TP_TRY(get_u32(c, v, path, 0, 255, &l->max_incoming_connections));
        } else if (key_is(c, k, "max-download-speed")) {
            TP_TRY(get_uint(c, v, path, 1, INT32_MAX, &x)); /* KiB/s */
            l->max_download_speed_bps = x * 1024;
        } else if (key_is(c, k, "max-upload-speed")) {
            TP_TRY(get_uint(c, v, path, 1, INT32_MAX, &x));
            l->max_upload_speed_bps = x * 1024;
        } else if (key_is(c, k, "binary-chunks-size")) {
            /* KiB; a chunk is at most 65535 bytes on the wire (spec §3.2), so 1..63 */
            TP_TRY(get_uint(c, v, path, 1, 63, &x));
            l->binary_chunks_size = (uint32_t)x * 1024;
        } else if (key_is(c, k, "read-buffer-size")) {
            TP_TRY(get_u32(c, v, path, 1, INT32_MAX, &l->read_buffer_size));
        } else if (key_is(c, k, "read-queue-size")) {
            TP_TRY(get_uint(c, v, path, 1, INT32_MAX, &l->read_queue_size));
        } else if (key_is(c, k, "write-queue-size")) {
            TP_TRY(get_uint(c, v, path, 1, INT32_MAX, &l->write_queue_size));
        } else if (key_is(c, k, "incoming-app-message-queue-size")) {
            TP_TRY(get_uint(c, v, path, 1, INT32_MAX, &l->incoming_app_message_queue_size));
        } else if (key_is(c, k, "incoming-message-queue-size")) {
            TP_TRY(get_uint(c, v, path, 1, INT32_MAX, &l->incoming_message_queue_size));
        } else if (key_is(c, k, "outgoing-message-queue-size")) {
            TP_TRY(get_uint(c, v, path, 1, INT32_MAX, &l->outgoing_message_queue_size));
        } else if (key_is(c, k, "max_known_points")) {
            TP_TRY(get_pair(c, v, path, &l->max_known_points, &l->max_known_points_target));
        } else if (key_is(c, k, "max_known_peer_ids")) {
            TP_TRY(get_pair(c, v, path, &l->max_known_peer_ids, &l->max_known_peer_ids_target));
        } else if (key_is(c, k, "peer_greylist_size")) {
            TP_TRY(get_u32(c, v, path, 1, 65535, &l->peer_greylist_size));
        } else if (key_is(c, k, "ip_greylist_size_in_kilobytes")) {
            TP_TRY(get_u32(c, v, path, 1, 65535, &l->ip_greylist_size_in_kilobytes));
        } else {
            return unknown_key(c, k, "\"p2p.limits\"", limits_keys);
        }
    }
    /* Cross-field: name the later key (the one the reader is likely to fix). */
    if (l->min_connections > l->expected_connections) {
        size_t at = tp_json_object_get(c->doc, obj, "expected-connections");
        if (at == TP_JSON_NONE) at = tp_json_object_get(c->doc, obj, "min-connections");
        return failf(c, at, TP_ERR_INVAL,
                     "\"p2p.limits.expected-connections\" must be >= \"min-connections\" "
                     "(got %u < %u)",
                     l->expected_connections, l->min_connections);
    }
    if (l->expected_connections > l->max_connections) {
        size_t at = tp_json_object_get(c->doc, obj, "max-connections");
        if (at == TP_JSON_NONE) at = tp_json_object_get(c->doc, obj, "expected-connections");
        return failf(c, at, TP_ERR_INVAL,
                     "\"p2p.limits.max-connections\" must be >= \"expected-connections\" "
                     "(got %u < %u)",
                     l->max_connections, l->expected_connections);
    }
    return TP_OK;
}

static const char *const reconnection_keys[] = {
    "factor", "initial-delay", "disconnection-delay", "increase-cap", NULL,
};

static tp_err parse_reconnection(pctx *c, size_t obj) {
    TP_TRY(want_type(c, obj, "p2p.greylisting_config", TP_JSON_OBJECT));
    dm_reconnection *r = &c->cfg->reconnection;
    FOR_MEMBERS(c, obj, k, v) {
        if (key_is(c, k, "factor")) {
            double f;
            if (tp_json_type_of(c->doc, v) != TP_JSON_NUMBER ||
                tp_json_get_double(c->doc, v, &f) != TP_OK || !(f >= 1.0 && f <= 100.0))
                return failf(c, v, TP_ERR_INVAL,
                             "\"p2p.greylisting_config.factor\" must be a number in [1, 100]");
            r->factor_permille = (uint32_t)lround(f * 1000.0);
        } else if (key_is(c, k, "initial-delay")) {
            TP_TRY(get_span(c, v, "p2p.greylisting_config.initial-delay", false, NULL,
                            &r->initial_delay_ns));
        } else if (key_is(c, k, "disconnection-delay")) {
            TP_TRY(get_span(c, v, "p2p.greylisting_config.disconnection-delay", false, NULL,
                            &r->disconnection_delay_ns));
        } else if (key_is(c, k, "increase-cap")) {
            TP_TRY(get_span(c, v, "p2p.greylisting_config.increase-cap", false, NULL,
                            &r->increase_cap_ns));
        } else {
            return unknown_key(c, k, "\"p2p.greylisting_config\"", reconnection_keys);
        }
    }
    return TP_OK;
}

static const char *const p2p_keys[] = {
    "expected-proof-of-work", "bootstrap-peers", "listen-addr", "advertised-net-port",
    "discovery-addr", "private-mode", "limits", "disable_mempool", "enable_testchain",
    "greylisting_config", NULL,
};

static tp_err parse_p2p(pctx *c, size_t obj) {
    TP_TRY(want_type(c, obj, "p2p", TP_JSON_OBJECT));
    dm_config *cfg = c->cfg;
    FOR_MEMBERS(c, obj, k, v) {
        if (key_is(c, k, "expected-proof-of-work")) {
            double f;
            if (tp_json_type_of(c->doc, v) != TP_JSON_NUMBER ||
                tp_json_get_double(c->doc, v, &f) != TP_OK || !(f >= 0.0 && f <= 256.0))
                return failf(c, v, TP_ERR_INVAL,
                             "\"p2p.expected-proof-of-work\" must be a number in [0, 256]");
            cfg->expected_pow = f;
        } else if (key_is(c, k, "bootstrap-peers")) {
            TP_TRY(want_type(c, v, "p2p.bootstrap-peers", TP_JSON_ARRAY));
            size_t n = tp_json_tok(c->doc, v)->children;
            if (n > DM_BOOTSTRAP_PEERS_MAX)
                return failf(c, v, TP_ERR_TOO_BIG,
                             "\"p2p.bootstrap-peers\" has %zu entries; at most %d are allowed",
                             n, DM_BOOTSTRAP_PEERS_MAX);
            size_t e = v + 1;
            for (size_t i = 0; i < n; i++, e = tp_json_next(c->doc, e))
                TP_TRY(get_point(c, e, "p2p.bootstrap-peers", &cfg->bootstrap_peers[i]));
            cfg->bootstrap_peers_count = n;
        } else if (key_is(c, k, "listen-addr")) {
            TP_TRY(get_point(c, v, "p2p.listen-addr", &cfg->listen_addr));
        } else if (key_is(c, k, "advertised-net-port")) {
            int64_t x;
            TP_TRY(get_uint(c, v, "p2p.advertised-net-port", 1, 65535, &x));
            cfg->has_advertised_net_port = true;
            cfg->advertised_net_port = (uint16_t)x;
        } else if (key_is(c, k, "discovery-addr")) {
            if (tp_json_type_of(c->doc, v) == TP_JSON_NULL) {
                cfg->has_discovery_addr = false;
            } else {
                TP_TRY(get_point(c, v, "p2p.discovery-addr", &cfg->discovery_addr));
                cfg->has_discovery_addr = true;
            }
        } else if (key_is(c, k, "private-mode")) {
            TP_TRY(get_bool(c, v, "p2p.private-mode", &cfg->private_mode));
        } else if (key_is(c, k, "disable_mempool")) {
            TP_TRY(get_bool(c, v, "p2p.disable_mempool", &cfg->disable_mempool));
        } else if (key_is(c, k, "enable_testchain")) {
            bool ignored;
            TP_TRY(get_bool(c, v, "p2p.enable_testchain", &ignored));
        } else if (key_is(c, k, "limits")) {
            TP_TRY(parse_limits(c, v));
        } else if (key_is(c, k, "greylisting_config")) {
            TP_TRY(parse_reconnection(c, v));
        } else {
            return unknown_key(c, k, "\"p2p\"", p2p_keys);
        }
    }
    return TP_OK;
}

static const char *const rpc_keys[] = {"listen-addrs", "listen-addr", "cors-origin",
                                       "cors-headers", "crt", "key", NULL};

static tp_err parse_rpc(pctx *c, size_t obj) {
    TP_TRY(want_type(c, obj, "rpc", TP_JSON_OBJECT));
    dm_config *cfg = c->cfg;
    FOR_MEMBERS(c, obj, k, v) {
        if (key_is(c, k, "listen-addrs")) {
            TP_TRY(want_type(c, v, "rpc.listen-addrs", TP_JSON_ARRAY));
            size_t n = tp_json_tok(c->doc, v)->children;
            if (n > 1)
                return failf(c, v, TP_ERR_INVAL,
                             "\"rpc.listen-addrs\": tidepool serves the RPC on one address; "
                             "give at most one (got %zu)",
                             n);
            if (n == 1) {
                TP_TRY(get_point(c, v + 1, "rpc.listen-addrs", &cfg->rpc_listen_addr));
                cfg->rpc_enabled = true;
            }
        } else if (key_is(c, k, "listen-addr")) {
            TP_TRY(get_point(c, v, "rpc.listen-addr", &cfg->rpc_listen_addr));
            cfg->rpc_enabled = true;
        } else if (key_is(c, k, "cors-origin") || key_is(c, k, "cors-headers") ||
                   key_is(c, k, "crt") || key_is(c, k, "key")) {
            return failf(c, k, TP_ERR_INVAL,
                         "\"rpc\": CORS and TLS are not supported by tidepool's admin RPC "
                         "(it listens on localhost only); remove this key");
        } else {
            return unknown_key(c, k, "\"rpc\"", rpc_keys);
        }
    }
    return TP_OK;
}

static tp_err get_versions(pctx *c, size_t tok, const char *path, uint16_t *out, size_t *count) {
    TP_TRY(want_type(c, tok, path, TP_JSON_ARRAY));
    size_t n = tp_json_tok(c->doc, tok)->children;
    if (n == 0 || n > DM_VERSIONS_MAX)
        return failf(c, tok, TP_ERR_INVAL, "\"%s\" must list 1 to %d versions (got %zu)", path,
                     DM_VERSIONS_MAX, n);
    size_t e = tok + 1;
    for (size_t i = 0; i < n; i++, e = tp_json_next(c->doc, e)) {
        int64_t x = 0; /* written by get_uint on success; -O3 cannot tell */
        TP_TRY(get_uint(c, e, path, 0, 65535, &x));
        out[i] = (uint16_t)x;
    }
    *count = n;
    return TP_OK;
}

static const char *const network_keys[] = {"chain_name", "distributed_db_versions",
                                           "p2p_versions", NULL};

static tp_err parse_network(pctx *c, size_t obj) {
    TP_TRY(want_type(c, obj, "network", TP_JSON_OBJECT));
    dm_config *cfg = c->cfg;
    FOR_MEMBERS(c, obj, k, v) {
        if (key_is(c, k, "chain_name")) {
            TP_TRY(get_string(c, v, "network.chain_name", cfg->chain_name,
                              sizeof cfg->chain_name));
            if (cfg->chain_name[0] == '\0')
                return failf(c, v, TP_ERR_INVAL, "\"network.chain_name\" must not be empty");
        } else if (key_is(c, k, "distributed_db_versions")) {
            TP_TRY(get_versions(c, v, "network.distributed_db_versions", cfg->ddb_versions,
                                &cfg->ddb_versions_count));
        } else if (key_is(c, k, "p2p_versions")) {
            TP_TRY(get_versions(c, v, "network.p2p_versions", cfg->p2p_versions,
                                &cfg->p2p_versions_count));
        } else {
            return unknown_key(c, k, "\"network\"", network_keys);
        }
    }
    return TP_OK;
}

static const char *const top_keys[] = {"data-dir", "p2p", "rpc", "network", "log", "shell",
                                       "internal-events", "metrics_addr", NULL};

tp_err dm_config_parse(dm_config *cfg, const char *name, const char *text, size_t len,
                       char *error, size_t cap) {
    if (len > DM_CONFIG_FILE_MAX) {
        if (error && cap)
            snprintf(error, cap, "%s: the file is %zu bytes; a config is at most %d bytes", name,
                     len, DM_CONFIG_FILE_MAX);
        return TP_ERR_TOO_BIG;
    }
    size_t ntok = len / 2 + 8;
    tp_json_token *toks = malloc(ntok * sizeof *toks);
    if (!toks) return TP_ERR_NOMEM;
    tp_json_doc doc;
    tp_err e = tp_json_parse(&doc, text, len, toks, ntok);
    pctx c = {.doc = &doc, .name = name, .err = error, .cap = cap, .cfg = cfg};
    if (e != TP_OK) {
        if (error && cap) {
            size_t line = 0, col = 0;
            tp_json_position(&doc, doc.error_offset, &line, &col);
            snprintf(error, cap, "%s:%zu:%zu: malformed JSON: %s", name, line, col,
                     doc.error ? doc.error : tp_strerror(e));
        }
        free(toks);
        return e == TP_ERR_TOO_BIG ? e : TP_ERR_DECODE_BAD_JSON;
    }
    if (tp_json_type_of(&doc, 0) != TP_JSON_OBJECT) {
        e = failf(&c, 0, TP_ERR_INVAL, "the configuration must be a JSON object (got %s)",
                  tp_json_type_name(tp_json_type_of(&doc, 0)));
        free(toks);
        return e;
    }
    e = TP_OK;
    FOR_MEMBERS(&c, 0, k, v) {
        if (key_is(&c, k, "data-dir")) {
            e = get_string(&c, v, "data-dir", cfg->data_dir, sizeof cfg->data_dir);
        } else if (key_is(&c, k, "p2p")) {
            e = parse_p2p(&c, v);
        } else if (key_is(&c, k, "rpc")) {
            e = parse_rpc(&c, v);
        } else if (key_is(&c, k, "network")) {
            e = parse_network(&c, v);
        } else {
            bool ignored = false;
            for (size_t i = 0; dm_config_ignored_sections[i]; i++)
                if (key_is(&c, k, dm_config_ignored_sections[i])) ignored = true;
            if (!ignored) e = unknown_key(&c, k, "the top level", top_keys);
        }
        if (e != TP_OK) break;
    }
    free(toks);
    if (e != TP_OK) return e;
    char why[DM_ERROR_SIZE];
    if (dm_config_check(cfg, why, sizeof why) != TP_OK) {
        if (error && cap) snprintf(error, cap, "%s: %s", name, why);
        return TP_ERR_INVAL;
    }
    return TP_OK;
}

tp_err dm_config_check(const dm_config *cfg, char *error, size_t cap) {
    const dm_limits *l = &cfg->limits;
    if (l->min_connections > l->expected_connections ||
        l->expected_connections > l->max_connections) {
        if (error && cap)
            snprintf(error, cap,
                     "connection limits must satisfy min-connections <= expected-connections "
                     "<= max-connections (got %u, %u, %u); with --connections N the limits "
                     "become N/2, N, 3N/2",
                     l->min_connections, l->expected_connections, l->max_connections);
        return TP_ERR_INVAL;
    }
    if (cfg->listen_addr.cp.kind == TP_HOST_ANY && !cfg->listen_addr.cp.has_port) {
        if (error && cap)
            snprintf(error, cap, "p2p.listen-addr '%s' needs an address or a port",
                     cfg->listen_addr.text);
        return TP_ERR_INVAL;
    }
    return TP_OK;
}

tp_err dm_config_load(dm_config *cfg, const char *path, char *error, size_t cap) {
    /* O_NONBLOCK: a FIFO given as the config must not block the node in open(); only a
     * regular file is read, and its real size is checked before reading. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        struct stat lst;
        bool dangling = e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
        if (error && cap)
            snprintf(error, cap, "%s: cannot open the config file: %s%s", path,
                     dangling ? "a symbolic link to a file that does not exist" : strerror(e),
                     e == ENOENT ? " (check the path given to --config)" : "");
        return e == ENOENT && !dangling ? TP_ERR_NOT_FOUND : TP_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (error && cap)
            snprintf(error, cap, "%s: not a regular file (%s); give the path of a JSON config "
                     "file", path, S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode)
                     ? "a FIFO" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                     : "a socket");
        return TP_ERR_INVAL;
    }
    if (st.st_size > DM_CONFIG_FILE_MAX) {
        close(fd);
        if (error && cap)
            snprintf(error, cap, "%s: the file is %lld bytes; a config is at most %d bytes",
                     path, (long long)st.st_size, DM_CONFIG_FILE_MAX);
        return TP_ERR_TOO_BIG;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return TP_ERR_NOMEM;
    }
    size_t cap_buf = 64 * 1024, len = 0;
    char *buf = malloc(cap_buf);
    tp_err result = TP_OK;
    while (buf) {
        size_t n = fread(buf + len, 1, cap_buf - len, f);
        len += n;
        if (len < cap_buf) break;
        if (cap_buf > DM_CONFIG_FILE_MAX) break;
        char *nb = realloc(buf, cap_buf * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap_buf *= 2;
    }
    if (!buf) {
        fclose(f);
        return TP_ERR_NOMEM;
    }
    if (ferror(f)) {
        if (error && cap) snprintf(error, cap, "%s: read error: %s", path, strerror(errno));
        result = TP_ERR_IO;
    }
    fclose(f);
    if (result == TP_OK) {
        result = dm_config_parse(cfg, path, buf, len, error, cap);
    }
    free(buf);
    return result;
}
