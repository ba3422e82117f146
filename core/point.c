/* core/point.c — point text parsing, wire-strict and configuration grammar (spec §4.3). */
#include "point.h"

#include <string.h>

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Canonical dotted quad: 1..3 digits per part, 0..255, no leading zeros. */
static bool parse_v4(const char *s, size_t len, uint8_t out[4]) {
    size_t k = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (k >= len || s[k] != '.') return false;
            k++;
        }
        size_t start = k;
        unsigned v = 0;
        while (k < len && is_digit(s[k]) && k - start < 3) v = v * 10 + (unsigned)(s[k++] - '0');
        size_t nd = k - start;
        if (nd == 0 || v > 255) return false;
        if (k < len && is_digit(s[k])) return false; /* more than 3 digits */
        if (nd > 1 && s[start] == '0') return false;
        out[part] = (uint8_t)v;
    }
    return k == len;
}

static bool parse_v6(const char *s, size_t len, uint8_t out[16]) {
    uint16_t groups[8];
    int n = 0, gap = -1;
    size_t k = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        k = 2;
        if (k == len) goto done;
    } else if (len >= 1 && s[0] == ':') {
        return false;
    }
    for (;;) {
        /* a group, or a trailing dotted quad */
        size_t start = k;
        unsigned v = 0;
        while (k < len && hex_digit(s[k]) >= 0 && k - start < 4) v = v << 4 | (unsigned)hex_digit(s[k++]);
        if (k < len && s[k] == '.') {
            uint8_t v4[4];
            if (n > 6 || !parse_v4(s + start, len - start, v4)) return false;
            groups[n++] = (uint16_t)(v4[0] << 8 | v4[1]);
            groups[n++] = (uint16_t)(v4[2] << 8 | v4[3]);
            k = len;
            break;
        }
        if (k == start || n >= 8) return false;
        if (k < len && hex_digit(s[k]) >= 0) return false; /* more than 4 hex digits */
        groups[n++] = (uint16_t)v;
        if (k == len) break;
        if (s[k] != ':') return false;
        k++;
        if (k < len && s[k] == ':') {
            if (gap >= 0) return false; /* a second "::" */
            gap = n;
            k++;
            if (k == len) break;
        } else if (k == len) {
            return false; /* a trailing single ':' */
        }
    }
done:
    if (gap < 0 && n != 8) return false;
    if (gap >= 0 && n > 7) return false;
    memset(out, 0, 16);
    int tail = gap >= 0 ? n - gap : 0;
    int head = gap >= 0 ? gap : n;
    for (int i = 0; i < head; i++) {
        out[2 * i] = (uint8_t)(groups[i] >> 8);
        out[2 * i + 1] = (uint8_t)groups[i];
    }
    for (int i = 0; i < tail; i++) {
        int dst = 8 - tail + i;
        out[2 * dst] = (uint8_t)(groups[head + i] >> 8);
        out[2 * dst + 1] = (uint8_t)groups[head + i];
    }
    return true;
}

tp_err tp_ip_parse(const char *text, size_t len, tp_ip *out) {
    uint8_t v4[4];
    tp_ip ip;
    if (parse_v4(text, len, v4)) {
        ip = tp_ip_from_v4((uint32_t)v4[0] << 24 | (uint32_t)v4[1] << 16 |
                           (uint32_t)v4[2] << 8 | v4[3]);
    } else if (!parse_v6(text, len, ip.bytes)) {
        return TP_ERR_DECODE_BAD_POINT;
    }
    *out = ip;
    return TP_OK;
}

/* Decimal port. strict: no leading zeros. */
static bool parse_port(const char *s, size_t len, bool strict, uint16_t *out) {
    if (len == 0 || (strict && len > 5)) return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i])) return false;
        v = v * 10 + (unsigned)(s[i] - '0');
        if (v > 65535) return false; /* also bounds v while reading */
    }
    if (strict && len > 1 && s[0] == '0') return false;
    *out = (uint16_t)v;
    return true;
}

tp_err tp_point_parse_wire(const char *text, size_t len, tp_point *out) {
    if (len > TP_POINT_WIRE_TEXT_MAX) return TP_ERR_DECODE_TOO_LONG;
    /* Octez decodes with of_string_exn, i.e. point_parser.mll's parse_full_addr: a
     * `#peer_id` suffix (a valid Base58Check peer id) is accepted and dropped. */
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '#') continue;
        tp_peer_id ignored;
        if (i + 1 == len || tp_peer_id_of_b58(text + i + 1, len - i - 1, &ignored) != TP_OK)
            return TP_ERR_DECODE_BAD_POINT;
        len = i;
        break;
    }
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--)
        if (text[i - 1] == ':') {
            colon = text + i - 1;
            break;
        }
    if (colon == NULL) return TP_ERR_DECODE_BAD_POINT;
    size_t addr_len = (size_t)(colon - text);
    tp_point p;
    if (!parse_port(colon + 1, len - addr_len - 1, true, &p.port)) return TP_ERR_DECODE_BAD_POINT;
    if (addr_len >= 2 && text[0] == '[' && text[addr_len - 1] == ']') {
        if (!parse_v6(text + 1, addr_len - 2, p.ip.bytes)) return TP_ERR_DECODE_BAD_POINT;
    } else {
        uint8_t v4[4];
        if (!parse_v4(text, addr_len, v4)) return TP_ERR_DECODE_BAD_POINT;
        p.ip = tp_ip_from_v4((uint32_t)v4[0] << 24 | (uint32_t)v4[1] << 16 |
                             (uint32_t)v4[2] << 8 | v4[3]);
    }
    *out = p;
    return TP_OK;
}

static bool is_domain_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
           c == '-';
}

static bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c);
}

tp_err tp_point_parse_config(const char *text, size_t len, tp_config_point *out) {
    /* Split off "#peer_id" (the first '#'; the peer id is alphanumeric). */
    size_t hash = len;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '#') {
            hash = i;
            break;
        }
    tp_config_point p;
    memset(&p, 0, sizeof p);
    if (hash < len) {
        const char *id = text + hash + 1;
        size_t id_len = len - hash - 1;
        if (id_len == 0) return TP_ERR_DECODE_BAD_POINT;
        for (size_t i = 0; i < id_len; i++)
            if (!is_alnum(id[i])) return TP_ERR_DECODE_BAD_POINT;
        TP_TRY(tp_peer_id_of_b58(id, id_len, &p.peer_id));
        p.has_peer_id = true;
    }
    size_t n = hash; /* addr[:port] */
    size_t addr_len = n;
    if (n > 0 && text[0] == '[') {
        /* bracketed IPv6, then optionally ":port" */
        size_t close = 0;
        for (size_t i = 1; i < n; i++)
            if (text[i] == ']') {
                close = i;
                break;
            }
        if (close == 0) return TP_ERR_DECODE_BAD_POINT;
        for (size_t i = 1; i < close; i++)
            if (!(hex_digit(text[i]) >= 0 || text[i] == ':' || text[i] == '.'))
                return TP_ERR_DECODE_BAD_POINT;
        if (close == 1 || !parse_v6(text + 1, close - 1, p.ip.bytes))
            return TP_ERR_DECODE_BAD_POINT;
        p.kind = TP_HOST_IP;
        addr_len = close + 1;
    } else {
        /* domain / IPv4 / "_" / empty: runs to the first ':' */
        for (size_t i = 0; i < n; i++)
            if (text[i] == ':') {
                addr_len = i;
                break;
            }
        if (addr_len == 0 || (addr_len == 1 && text[0] == '_')) {
            p.kind = TP_HOST_ANY;
        } else {
            for (size_t i = 0; i < addr_len; i++)
                if (!is_domain_char(text[i])) return TP_ERR_DECODE_BAD_POINT;
            uint8_t v4[4];
            /* Only canonical dotted quads are taken as literals here; anything else
             * ("01.2.3.4", "1.2.3.999") stays a name for the resolver, as in Octez,
             * which hands the string to getaddrinfo. */
            if (parse_v4(text, addr_len, v4)) {
                p.kind = TP_HOST_IP;
                p.ip = tp_ip_from_v4((uint32_t)v4[0] << 24 | (uint32_t)v4[1] << 16 |
                                     (uint32_t)v4[2] << 8 | v4[3]);
            } else {
                if (addr_len > TP_DOMAIN_MAX) return TP_ERR_DECODE_TOO_LONG;
                p.kind = TP_HOST_DOMAIN;
                memcpy(p.domain, text, addr_len);
                p.domain[addr_len] = '\0';
            }
        }
    }
    if (addr_len < n) {
        if (text[addr_len] != ':') return TP_ERR_DECODE_BAD_POINT;
        if (!parse_port(text + addr_len + 1, n - addr_len - 1, false, &p.port))
            return TP_ERR_DECODE_BAD_POINT;
        p.has_port = true;
    }
    *out = p;
    return TP_OK;
}

tp_err tp_config_point_to_point(const tp_config_point *cp, uint16_t default_port, tp_point *out) {
    if (cp->kind != TP_HOST_IP) return TP_ERR_INVAL;
    out->ip = cp->ip;
    out->port = cp->has_port ? cp->port : default_port;
    return TP_OK;
}
