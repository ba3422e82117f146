/* core/addr.h — IP addresses and points (address + port), as Octez sees them.
 *
 * Internally every address is IPv6; IPv4 addresses are IPv4-mapped (::ffff:a.b.c.d),
 * like Octez's P2p_addr (spec §2.1). A point is (address, port), the key of the point
 * table (spec §5.1). Plain values: copy them freely. Octez: P2p_addr, P2p_point.Id.
 * Text forms (wire-strict and config grammar) live in core/point.h.
 */
#ifndef TP_ADDR_H
#define TP_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct tp_ip {
    uint8_t bytes[16]; /* network order */
} tp_ip;

typedef struct tp_point {
    tp_ip ip;
    uint16_t port; /* 0 = no port (an incoming peer that announced none) */
} tp_point;

static inline tp_ip tp_ip_from_v4(uint32_t v4_host_order) {
    tp_ip ip = {{0}};
    ip.bytes[10] = 0xff;
    ip.bytes[11] = 0xff;
    ip.bytes[12] = (uint8_t)(v4_host_order >> 24);
    ip.bytes[13] = (uint8_t)(v4_host_order >> 16);
    ip.bytes[14] = (uint8_t)(v4_host_order >> 8);
    ip.bytes[15] = (uint8_t)v4_host_order;
    return ip;
}

static inline bool tp_ip_is_v4mapped(const tp_ip *ip) {
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(ip->bytes, prefix, 12) == 0;
}

/* The IPv4 address in host order; only meaningful when tp_ip_is_v4mapped(). */
static inline uint32_t tp_ip_v4(const tp_ip *ip) {
    return (uint32_t)ip->bytes[12] << 24 | (uint32_t)ip->bytes[13] << 16 |
           (uint32_t)ip->bytes[14] << 8 | ip->bytes[15];
}

static inline bool tp_ip_eq(const tp_ip *a, const tp_ip *b) {
    return memcmp(a->bytes, b->bytes, 16) == 0;
}

static inline int tp_ip_cmp(const tp_ip *a, const tp_ip *b) {
    return memcmp(a->bytes, b->bytes, 16);
}

static inline bool tp_point_eq(const tp_point *a, const tp_point *b) {
    return tp_ip_eq(&a->ip, &b->ip) && a->port == b->port;
}

static inline int tp_point_cmp(const tp_point *a, const tp_point *b) {
    int c = tp_ip_cmp(&a->ip, &b->ip);
    if (c != 0) return c;
    return (a->port > b->port) - (a->port < b->port);
}

static inline tp_point tp_point_v4(uint32_t v4_host_order, uint16_t port) {
    tp_point p;
    p.ip = tp_ip_from_v4(v4_host_order);
    p.port = port;
    return p;
}

/* Text form of an address: "a.b.c.d" for IPv4-mapped, else RFC 5952 IPv6 text
 * (lowercase, longest zero run as "::"), as Ipaddr prints it. Returns buf. */
#define TP_IP_TEXT_MAX 40
char *tp_ip_format(const tp_ip *ip, char buf[TP_IP_TEXT_MAX]);
/* "a.b.c.d:port" or "[v6]:port", the form Octez puts on the wire (spec §4.3).
 * Returns buf. */
#define TP_POINT_TEXT_MAX 48
char *tp_point_format(const tp_point *p, char buf[TP_POINT_TEXT_MAX]);

#endif
