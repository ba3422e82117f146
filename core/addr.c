/* core/addr.c — text forms of addresses for logs (the strict wire parser is in
 * point.c). IPv6 text follows RFC 5952 as Ipaddr.V6.to_string does: lowercase, the
 * longest run of two or more zero groups compressed to "::" (the first one on ties). */
#include "addr.h"

#include <stdio.h>

char *tp_ip_format(const tp_ip *ip, char buf[TP_IP_TEXT_MAX]) {
    if (tp_ip_is_v4mapped(ip)) {
        snprintf(buf, TP_IP_TEXT_MAX, "%u.%u.%u.%u", ip->bytes[12], ip->bytes[13],
                 ip->bytes[14], ip->bytes[15]);
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
    char ipbuf[TP_IP_TEXT_MAX];
    tp_ip_format(&p->ip, ipbuf);
    if (tp_ip_is_v4mapped(&p->ip))
        snprintf(buf, TP_POINT_TEXT_MAX, "%s:%u", ipbuf, p->port);
    else
        snprintf(buf, TP_POINT_TEXT_MAX, "[%s]:%u", ipbuf, p->port);
    return buf;
}
