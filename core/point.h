/* core/point.h — text forms of points: the strict wire form and the configuration /
 * command-line grammar (spec §4.3).
 *
 * Octez: P2p_point.Id.of_string_exn (wire, via Ipaddr.of_string) and point_parser.mll
 * (configuration, `--peer`, `--bootstrap-peers`). The formatting side is
 * tp_point_format() in addr.h (what Octez prints: "a.b.c.d:port" or "[v6]:port").
 *
 * Wire (hostile input, spec §4.3): a literal IPv4 dotted quad `a.b.c.d:port` (decimal,
 * 0..255, no leading zeros) or a bracketed IPv6 literal `[v6]:port` (IPv4-mapped and
 * embedded dotted forms allowed, no zone), the port mandatory (decimal 0..65535, no
 * sign, no leading zeros), at most 47 characters, optionally followed by `#peer_id` (a
 * valid Base58Check peer id), which is ignored as Octez's of_string_exn ignores it
 * (point_parser.mll parse_full_addr). Nothing else: no host names. tidepool is
 * stricter than Ipaddr about leading zeros; Octez never produces them. Port 0 parses
 * (Octez's parser allows 0..65535).
 *
 * Configuration (point_parser.mll): `addr[:port][#peer_id]` where addr is a
 * bracketed IPv6 address, a name ([A-Za-z0-9.-]+; a canonical dotted quad among them is
 * taken as an IPv4 literal, anything else is kept unresolved for the resolver), `_` or
 * nothing; port is decimal 0..65535 (leading zeros allowed, as int_of_string does);
 * peer_id is a valid Base58Check peer id.
 */
#ifndef TP_POINT_H
#define TP_POINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"
#include "identity.h"

/* Longest point text on the wire: the string encoding is at most 51 bytes (spec §4.3). */
#define TP_POINT_WIRE_TEXT_MAX 47
/* Longest domain name kept by the configuration parser (DNS: 253 characters). */
#define TP_DOMAIN_MAX 253

/* Parses wire point text (exactly len bytes, no NUL needed).
 * Errors: TP_ERR_DECODE_BAD_POINT (any deviation), TP_ERR_DECODE_TOO_LONG (> 47). */
TP_MUST_USE tp_err tp_point_parse_wire(const char *text, size_t len, tp_point *out);
/* Parses an IP literal without brackets or port: a dotted quad or any RFC 4291 IPv6
 * text (with "::" and a trailing dotted quad). Errors: TP_ERR_DECODE_BAD_POINT. */
TP_MUST_USE tp_err tp_ip_parse(const char *text, size_t len, tp_ip *out);

typedef enum tp_host_kind {
    TP_HOST_ANY,    /* "" or "_": no address given (Octez keeps the empty string) */
    TP_HOST_IP,     /* a literal address (IPv4 mapped into IPv6) */
    TP_HOST_DOMAIN, /* a name to resolve later */
} tp_host_kind;

typedef struct tp_config_point {
    tp_host_kind kind;
    tp_ip ip;                         /* TP_HOST_IP */
    char domain[TP_DOMAIN_MAX + 1];   /* TP_HOST_DOMAIN, NUL-terminated */
    bool has_port;
    uint16_t port;
    bool has_peer_id;
    tp_peer_id peer_id; /* the expected peer id of `#id…` */
} tp_config_point;

/* Parses the configuration grammar. Errors: TP_ERR_DECODE_BAD_POINT (bad format or a
 * port outside 0..65535), TP_ERR_BAD_BASE58 / TP_ERR_BAD_CHECKSUM / TP_ERR_BAD_PREFIX
 * (the `#peer_id` part), TP_ERR_DECODE_TOO_LONG (a domain above 253 characters). */
TP_MUST_USE tp_err tp_point_parse_config(const char *text, size_t len, tp_config_point *out);

/* The point of a configuration point that names a literal address: its port, or
 * default_port when none was given (Octez uses 9732 for bootstrap peers). Domain names
 * must be resolved by the caller's environment first. Errors: TP_ERR_INVAL (kind is
 * not TP_HOST_IP). */
TP_MUST_USE tp_err tp_config_point_to_point(const tp_config_point *cp, uint16_t default_port,
                                            tp_point *out);

#endif
