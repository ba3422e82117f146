/* core/addr.c — text forms of addresses for logs (the strict wire parser is in
 * point.c). IPv6 text follows RFC 5952 as Ipaddr.V6.to_string does: lowercase, the
 * longest run of two or more zero groups compressed to "::" (the first one on ties). */
#include "addr.h"

#include <stdio.h>

/* Decimal digits of v (no leading zeros) at buf; returns the count. */
static size_t put_decimal(char *buf, unsigned v) {
    char t[10];
    size_t k = 0;
    do {
        t[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < k; i++) buf[i] = t[k - 1 - i];
    return k;
}

/* "a.b.c.d" of a v4-mapped address, by hand (every logged event formats one); returns
 * the length, the text NUL-terminated. */
static size_t format_v4(const tp_ip *ip, char *buf) {
    size_t n = 0;
    for (int i = 12; i < 16; i++) {
        n += put_decimal(buf + n, ip->bytes[i]);
        if (i < 15) buf[n++] = '.';
    }
    buf[n] = '\0';
    return n;
}

char *tp_ip_format(const tp_ip *ip, char buf[TP_IP_TEXT_MAX]) {
    if (tp_ip_is_v4mapped(ip)) {
        format_v4(ip, buf);
        return buf;
    }
    uint16_t g[8];
    for (int i = 0; i < 8; i++) g[i] = (uint16_t)(ip->bytes[2 * i] << 8 | ip->bytes[2 * i + 1]);
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (g[i] != 0) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && g[j] == 0) j++;
        if (j - i > best_len && j - i >= 2) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    size_t n = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            n += (size_t)snprintf(buf + n, TP_IP_TEXT_MAX - n, "::");
            i += best_len - 1;
            continue;
        }
        bool after_gap = best >= 0 && i == best + best_len;
        if (i > 0 && !after_gap) n += (size_t)snprintf(buf + n, TP_IP_TEXT_MAX - n, ":");
        n += (size_t)snprintf(buf + n, TP_IP_TEXT_MAX - n, "%x", g[i]);
    }
    return buf;
}

char *tp_point_format(const tp_point *p, char buf[TP_POINT_TEXT_MAX]) {
    if (tp_ip_is_v4mapped(&p->ip)) { /* "a.b.c.d:port" (15 + 1 + 5 < TP_POINT_TEXT_MAX) */
        size_t n = format_v4(&p->ip, buf);
        buf[n++] = ':';
        n += put_decimal(buf + n, p->port);
        buf[n] = '\0';
        return buf;
    }
    char ipbuf[TP_IP_TEXT_MAX];
    tp_ip_format(&p->ip, ipbuf);
    snprintf(buf, TP_POINT_TEXT_MAX, "[%s]:%u", ipbuf, p->port);
    return buf;
}
