/* tests/fuzz/fuzz_point.c — point text: the wire-strict parser, the configuration
 * grammar, and bare IP literals. Properties: a wire point formats to text that parses
 * back to the same point; a wire-valid text is also config-valid with the same address
 * and port; lengths are bounded. */
#include "fuzz.h"

#include "core/point.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    tp_point p, q;
    if (tp_point_parse_wire(text, size, &p) == TP_OK) {
        FUZZ_CHECK(size <= TP_POINT_WIRE_TEXT_MAX);
        char buf[TP_POINT_TEXT_MAX];
        tp_point_format(&p, buf);
        FUZZ_CHECK(tp_point_parse_wire(buf, strlen(buf), &q) == TP_OK);
        FUZZ_CHECK(tp_point_eq(&p, &q));
        static tp_config_point c;
        FUZZ_CHECK(tp_point_parse_config(text, size, &c) == TP_OK);
        FUZZ_CHECK(c.kind == TP_HOST_IP && c.has_port && c.port == p.port && !c.has_peer_id);
        FUZZ_CHECK(tp_ip_eq(&c.ip, &p.ip));
    }
    static tp_config_point c;
    if (tp_point_parse_config(text, size, &c) == TP_OK) {
        if (c.kind == TP_HOST_DOMAIN) FUZZ_CHECK(strlen(c.domain) > 0 && strlen(c.domain) <= TP_DOMAIN_MAX);
    }
    tp_ip ip;
    (void)tp_ip_parse(text, size, &ip);
    return 0;
}
