/* cmd/cmd_admin.c — `tidepool admin`: query and steer a running node over its admin RPC.
 *
 * Octez: `octez-admin-client` (p2p stat, connect address, kick peer,
 * ban/unban/trust/untrust address|peer, is address|peer banned, clear acls) on the
 * /network/... RPCs (spec §11). Output: readable tables, or the RPC's JSON with --json.
 *
 * Exit codes (cmd/cmd.h): 0 ok; 1 the node answered with an error (its message is
 * printed); 2 usage; 3 no node reachable at --rpc.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/identity.h"
#include "core/point.h"
#include "daemon/client.h"

static const char *const cmd_name = "admin";

static void usage(FILE *out) {
    fprintf(out,
            "usage: tidepool admin [--rpc ADDR:PORT] [--json] COMMAND\n"
            "\n"
            "commands (as octez-admin-client):\n"
            "  p2p stat                      identity, traffic, connections, points, peers\n"
            "  connections                   the running connections\n"
            "  points [FILTER...]            known points (requested accepted running disconnected)\n"
            "  peers [FILTER...]             known peers (accepted running disconnected)\n"
            "  connect address POINT         dial a point and wait (10 s); also: connect POINT\n"
            "  kick peer PEER                close the connection with a peer; also: kick PEER\n"
            "  ban|unban|trust|untrust address POINT\n"
            "  ban|unban|trust|untrust peer PEER\n"
            "  is address POINT banned | is peer PEER banned\n"
            "                                exit code 0: banned, 1: not banned\n"
            "  greylist                      greylisted IPs and peers\n"
            "  clear acls                    empty every ban and greylist table\n"
            "  log                           follow the node's events, one readable line each\n"
            "                                (every kind; with --json, Octez's /network/log\n"
            "                                objects only)\n"
            "  rpc get|patch|delete PATH [JSON]  any /network path, the raw JSON answer\n"
            "                                (e.g. rpc get /network/stat)\n"
            "\n"
            "options:\n"
            "  --rpc ADDR:PORT   the node's RPC address (default %s)\n"
            "  --json            print the RPC's JSON instead of tables\n"
            "\n"
            "exit codes: 0 done (for 'is ... banned': banned); 1 the node answered with an\n"
            "error, or 'is ... banned' answered no; 2 usage error (an unknown command or\n"
            "option, a malformed POINT or PEER); 3 no node reachable at --rpc.\n",
            DM_RPC_DEFAULT);
}

struct ctx {
    const char *rpc;
    bool json;
};
typedef struct ctx ctx;

/* Performs a request; prints the node's error message on an HTTP error. On success,
 * *out (if not NULL) is the parsed body. Returns an exit code. */
static int call(const ctx *c, const char *method, const char *path, const char *body,
                json_t **out) {
    dm_http_reply rep;
    char err[512];
    tp_err e = dm_http_request(c->rpc, method, path, body, 30000, &rep, err, sizeof err);
    if (e != TP_OK) {
        cmd_error(cmd_name, "%s", err);
        return TP_EXIT_INPUT;
    }
    json_error_t jerr;
    json_t *j = rep.len ? json_loadb(rep.body, rep.len, JSON_DECODE_ANY, &jerr) : NULL;
    if (rep.status != 200) {
        const char *msg = NULL;
        if (json_is_array(j) && json_array_size(j) > 0)
            msg = json_string_value(json_object_get(json_array_get(j, 0), "msg"));
        cmd_error(cmd_name, "%s %s: %s (HTTP %ld)", method, path, msg ? msg : rep.body,
                  rep.status);
        json_decref(j);
        dm_http_reply_free(&rep);
        return TP_EXIT_FAIL;
    }
    if (!j && rep.len) {
        cmd_error(cmd_name, "%s %s: the node's answer is not JSON (%s)", method, path, jerr.text);
        dm_http_reply_free(&rep);
        return TP_EXIT_FAIL;
    }
    dm_http_reply_free(&rep);
    if (out)
        *out = j;
    else
        json_decref(j);
    return TP_EXIT_OK;
}

static void print_json(json_t *j) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s) printf("%s\n", s);
    free(s);
}

static const char *str_or(json_t *j, const char *dflt) {
    const char *s = json_string_value(j);
    return s ? s : dflt;
}

/* The time of Octez's [who, time] pairs (last_seen, last_established_connection...). */
static const char *pair_time(json_t *pair) {
    return str_or(json_array_get(pair, 1), "-");
}

static void print_connections(json_t *list) {
    printf("%-30s  %-4s  %-40s  %-24s  %s\n", "PEER", "DIR", "POINT", "CHAIN", "VERSIONS");
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        json_t *idp = json_object_get(c, "id_point");
        char point[80];
        json_t *port = json_object_get(idp, "port");
        if (port)
            snprintf(point, sizeof point, "%s:%lld", str_or(json_object_get(idp, "addr"), "?"),
                     (long long)json_integer_value(port));
        else
            snprintf(point, sizeof point, "%s", str_or(json_object_get(idp, "addr"), "?"));
        json_t *v = json_object_get(c, "announced_version");
        printf("%-30s  %-4s  %-40s  %-24s  ddb %lld, p2p %lld\n",
               str_or(json_object_get(c, "peer_id"), "?"),
               json_is_true(json_object_get(c, "incoming")) ? "in" : "out", point,
               str_or(json_object_get(v, "chain_name"), "?"),
               (long long)json_integer_value(json_object_get(v, "distributed_db_version")),
               (long long)json_integer_value(json_object_get(v, "p2p_version")));
    }
    printf("%zu connection%s\n", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
}

static void print_points(json_t *list) {
    printf("%-40s  %-12s  %-7s  %-30s  %-24s  %s\n", "POINT", "STATE", "TRUSTED", "PEER",
           "GREYLISTED UNTIL", "LAST SEEN");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        json_t *info = json_array_get(e, 1);
        json_t *st = json_object_get(info, "state");
        printf("%-40s  %-12s  %-7s  %-30s  %-24s  %s\n", str_or(json_array_get(e, 0), "?"),
               str_or(json_object_get(st, "event_kind"), "?"),
               json_is_true(json_object_get(info, "trusted")) ? "yes" : "no",
               str_or(json_object_get(info, "p2p_peer_id"), "-"),
               str_or(json_object_get(info, "greylisted_until"), "-"),
               pair_time(json_object_get(info, "last_seen")));
    }
    printf("%zu point%s\n", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
}

/* banned / greylisted of one peer: its /banned answer (Octez: banned or greylisted)
 * and the greylist (/network/greylist/peers); banned = in the ACL's blacklist proper. */
typedef struct ctx ctx;
static int call(const ctx *c, const char *method, const char *path, const char *body,
                json_t **out);

static void print_peers(const ctx *c, json_t *list) {
    json_t *grey = NULL;
    if (call(c, "GET", "/network/greylist/peers", NULL, &grey) != TP_EXIT_OK) grey = NULL;
    printf("%-30s  %-12s  %-7s  %-6s  %-10s  %-12s  %-12s  %s\n", "PEER", "STATE", "TRUSTED",
           "BANNED", "GREYLISTED", "SENT", "RECEIVED", "LAST SEEN");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        json_t *info = json_array_get(e, 1);
        json_t *stat = json_object_get(info, "stat");
        const char *pid = str_or(json_array_get(e, 0), "?");
        bool greylisted = false;
        size_t k;
        json_t *g;
        json_array_foreach(grey, k, g) greylisted = greylisted || strcmp(str_or(g, ""), pid) == 0;
        char path[128];
        snprintf(path, sizeof path, "/network/peers/%s/banned", pid);
        json_t *b = NULL;
        bool banned = call(c, "GET", path, NULL, &b) == TP_EXIT_OK && json_is_true(b) && !greylisted;
        json_decref(b);
        printf("%-30s  %-12s  %-7s  %-6s  %-10s  %-12s  %-12s  %s\n", pid,
               str_or(json_object_get(info, "state"), "?"),
               json_is_true(json_object_get(info, "trusted")) ? "yes" : "no",
               banned ? "yes" : "no", greylisted ? "yes" : "no",
               str_or(json_object_get(stat, "total_sent"), "0"),
               str_or(json_object_get(stat, "total_recv"), "0"),
               pair_time(json_object_get(info, "last_seen")));
    }
    json_decref(grey);
    printf("%zu peer%s\n", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
}

static int list_cmd(const ctx *c, const char *base, char **filters, int nf, bool points) {
    char path[512];
    size_t k = (size_t)snprintf(path, sizeof path, "%s", base);
    for (int i = 0; i < nf && k < sizeof path - 64; i++)
        k += (size_t)snprintf(path + k, sizeof path - k, "%sfilter=%.30s", i ? "&" : "?",
                              filters[i]);
    json_t *j = NULL;
    int rc = call(c, "GET", path, NULL, &j);
    if (rc != TP_EXIT_OK) return rc;
    if (c->json)
        print_json(j);
    else if (points)
        print_points(j);
    else
        print_peers(c, j);
    json_decref(j);
    return TP_EXIT_OK;
}

static int stat_cmd(const ctx *c) {
    json_t *self = NULL, *stat = NULL, *conns = NULL, *points = NULL, *peers = NULL;
    int rc = call(c, "GET", "/network/self", NULL, &self);
    if (rc == TP_EXIT_OK) rc = call(c, "GET", "/network/stat", NULL, &stat);
    if (rc == TP_EXIT_OK) rc = call(c, "GET", "/network/connections", NULL, &conns);
    if (rc == TP_EXIT_OK) rc = call(c, "GET", "/network/points", NULL, &points);
    if (rc == TP_EXIT_OK) rc = call(c, "GET", "/network/peers", NULL, &peers);
    if (rc == TP_EXIT_OK) {
        if (c->json) {
            json_t *all = json_pack("{s:O,s:O,s:O,s:O,s:O}", "self", self, "stat", stat,
                                    "connections", conns, "points", points, "peers", peers);
            print_json(all);
            json_decref(all);
        } else {
            printf("GLOBAL STATS\n");
            printf("  identity: %s\n", str_or(self, "?"));
            printf("  sent %s B, received %s B, inflow %lld B/s, outflow %lld B/s\n",
                   str_or(json_object_get(stat, "total_sent"), "0"),
                   str_or(json_object_get(stat, "total_recv"), "0"),
                   (long long)json_integer_value(json_object_get(stat, "current_inflow")),
                   (long long)json_integer_value(json_object_get(stat, "current_outflow")));
            printf("CONNECTIONS\n");
            print_connections(conns);
            printf("KNOWN PEERS\n");
            print_peers(c, peers);
            printf("KNOWN POINTS\n");
            print_points(points);
        }
    }
    json_decref(self);
    json_decref(stat);
    json_decref(conns);
    json_decref(points);
    json_decref(peers);
    return rc;
}

/* Checks a peer id locally first, so a typo gets a precise message without a round
 * trip (the node checks it again). */
static bool check_peer(const char *text) {
    tp_peer_id id;
    tp_err e = tp_peer_id_of_b58(text, strlen(text), &id);
    if (e != TP_OK) {
        cmd_error(cmd_name, "'%s' is not a peer id: %s (a peer id is 30 characters starting "
                  "with 'id')", text, tp_strerror(e));
        return false;
    }
    return true;
}

/* Whether POINT is a well-formed point (a.b.c.d:port, [v6]:port), checked here so that
 * 'ban address foo' is a usage error (exit 2) like 'ban peer foo'. */
static bool check_point(const char *text) {
    tp_point p;
    if (tp_point_parse_wire(text, strlen(text), &p) != TP_OK) {
        cmd_error(cmd_name, "'%s' is not a point: expected a.b.c.d:port or [ipv6]:port", text);
        return false;
    }
    return true;
}

/* The IP of a point's text ("1.2.3.4" of "1.2.3.4:9732", "::1" of "[::1]:9732"). */
static void point_ip(const char *point, char *out, size_t cap) {
    const char *p = point;
    size_t n;
    if (*p == '[') {
        p++;
        n = strcspn(p, "]");
    } else {
        const char *colon = strrchr(p, ':');
        n = colon ? (size_t)(colon - p) : strlen(p);
    }
    snprintf(out, cap, "%.*s", (int)n, p);
}

static int acl_cmd(const ctx *c, const char *verb, const char *kind, const char *target) {
    char path[256], body[64];
    const char *acl = strcmp(verb, "ban") == 0 ? "ban" : strcmp(verb, "trust") == 0 ? "trust"
                                                                                     : "open";
    bool peer = strcmp(kind, "peer") == 0;
    if (!peer && strcmp(kind, "address") != 0) {
        cmd_error(cmd_name, "'%s %s': expected 'address POINT' or 'peer PEER'", verb, kind);
        return TP_EXIT_USAGE;
    }
    if (peer && !check_peer(target)) return TP_EXIT_USAGE;
    if (!peer && !check_point(target)) return TP_EXIT_USAGE;
    /* ban address: Octez bans the point's IP, closes every connection from it and bans
     * those connections' peers; look at them first so the output can say what happened */
    json_t *before = NULL;
    bool ban_addr = !peer && strcmp(acl, "ban") == 0;
    if (ban_addr && call(c, "GET", "/network/connections", NULL, &before) != TP_EXIT_OK)
        before = NULL;
    /* unban and untrust both mean "open", as in Octez's admin client */
    snprintf(path, sizeof path, "/network/%s/%s", peer ? "peers" : "points", target);
    snprintf(body, sizeof body, "{\"acl\": \"%s\"}", acl);
    json_t *j = NULL;
    int rc = call(c, "PATCH", path, body, &j);
    if (rc == TP_EXIT_OK) {
        if (c->json) {
            print_json(j);
        } else if (ban_addr) {
            char ip[64];
            point_ip(target, ip, sizeof ip);
            size_t closed = 0, i;
            json_t *conn;
            printf("banned address %s: the IP %s (every port)", target, ip);
            json_array_foreach(before, i, conn) {
                char cip[64];
                json_t *idp = json_object_get(conn, "id_point");
                point_ip(str_or(json_object_get(idp, "addr"), ""), cip, sizeof cip);
                if (strcmp(cip, ip) != 0 && !(strncmp(cip, "::ffff:", 7) == 0 && strcmp(cip + 7, ip) == 0))
                    continue;
                const char *pid = str_or(json_object_get(conn, "peer_id"), "?");
                if (closed++ == 0) printf("; closed its connections and banned their peers:");
                char bpath[128];
                snprintf(bpath, sizeof bpath, "/network/peers/%s/banned", pid);
                json_t *b = NULL;
                bool banned = call(c, "GET", bpath, NULL, &b) == TP_EXIT_OK && json_is_true(b);
                json_decref(b);
                printf(" %s%s", pid, banned ? "" : " (not banned)");
            }
            printf("%s\n", closed ? "" : "; no connection from it was open");
            if (closed) printf("%zu connection%s closed\n", closed, closed == 1 ? "" : "s");
        } else {
            const char *did = strcmp(verb, "ban") == 0 ? "banned" : strcmp(verb, "trust") == 0
                ? "trusted" : strcmp(verb, "unban") == 0 ? "unbanned" : "untrusted";
            printf("%s %s %s\n", did, peer ? "peer" : "address", target);
        }
    }
    json_decref(before);
    json_decref(j);
    return rc;
}

/* One /network/log?all object as a line a person reads:
 * "2026-12-05T02:00:00Z connection_established peer=id... point=1.2.3.4:9732 code=.. detail" */
static bool print_line(void *arg, const char *line, size_t len) {
    bool json = *(bool *)arg;
    json_t *o = json ? NULL : json_loadb(line, len, 0, NULL);
    if (!json_is_object(o)) {
        printf("%.*s\n", (int)len, line);
    } else {
        printf("%s %s", str_or(json_object_get(o, "time"), "-"),
               str_or(json_object_get(o, "event"), "?"));
        const char *peer = json_string_value(json_object_get(o, "peer_id"));
        const char *point = json_string_value(json_object_get(o, "point"));
        json_t *code = json_object_get(o, "code");
        const char *detail = json_string_value(json_object_get(o, "detail"));
        if (peer) printf(" peer=%s", peer);
        if (point) printf(" point=%s", point);
        if (json_is_integer(code)) printf(" code=%lld", (long long)json_integer_value(code));
        if (detail) printf(" %s", detail);
        printf("\n");
    }
    json_decref(o);
    fflush(stdout);
    return true;
}


int cmd_admin(int argc, char **argv) {
    ctx c = {DM_RPC_DEFAULT, false};
    /* options anywhere; the rest is the command */
    char *words[16];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rpc") == 0) {
            if (i + 1 >= argc) {
                cmd_error(cmd_name, "--rpc expects ADDR:PORT");
                return TP_EXIT_USAGE;
            }
            c.rpc = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            c.json = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return TP_EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            static const char *const known[] = {"--rpc", "--json", "--help", NULL};
            return cmd_unknown_option(cmd_name, argv[i], known);
        } else {
            if (n == 16) {
                cmd_error(cmd_name, "too many words (try --help)");
                return TP_EXIT_USAGE;
            }
            words[n++] = argv[i];
        }
    }
    char **a = words;
    if (n == 0) {
        usage(stderr);
        return TP_EXIT_USAGE;
    }
    if (n == 2 && strcmp(a[0], "p2p") == 0 && strcmp(a[1], "stat") == 0) return stat_cmd(&c);
    if (strcmp(a[0], "connections") == 0 && n == 1) {
        json_t *j = NULL;
        int rc = call(&c, "GET", "/network/connections", NULL, &j);
        if (rc == TP_EXIT_OK) {
            if (c.json)
                print_json(j);
            else
                print_connections(j);
        }
        json_decref(j);
        return rc;
    }
    if (strcmp(a[0], "points") == 0) return list_cmd(&c, "/network/points", a + 1, n - 1, true);
    if (strcmp(a[0], "peers") == 0) return list_cmd(&c, "/network/peers", a + 1, n - 1, false);
    /* octez-admin-client's forms: connect address P, kick peer ID */
    if (n == 3 && strcmp(a[0], "connect") == 0 && strcmp(a[1], "address") == 0) {
        a[1] = a[2];
        n = 2;
    }
    if (n == 3 && strcmp(a[0], "kick") == 0 && strcmp(a[1], "peer") == 0) {
        a[1] = a[2];
        n = 2;
    }
    if (strcmp(a[0], "connect") == 0 && n == 2) {
        if (!check_point(a[1])) return TP_EXIT_USAGE;
        char path[256];
        snprintf(path, sizeof path, "/network/points/%s", a[1]);
        int rc = call(&c, "PUT", path, NULL, NULL);
        if (rc == TP_EXIT_OK && !c.json) printf("connected to %s\n", a[1]);
        if (rc == TP_EXIT_OK && c.json) printf("{}\n");
        return rc;
    }
    if (strcmp(a[0], "kick") == 0 && n == 2) {
        if (!check_peer(a[1])) return TP_EXIT_USAGE;
        char path[256];
        snprintf(path, sizeof path, "/network/connections/%s", a[1]);
        int rc = call(&c, "DELETE", path, NULL, NULL);
        if (rc == TP_EXIT_OK) printf(c.json ? "{}\n" : "kicked %s\n", a[1]);
        return rc;
    }
    if (n == 3 && (strcmp(a[0], "ban") == 0 || strcmp(a[0], "unban") == 0 ||
                   strcmp(a[0], "trust") == 0 || strcmp(a[0], "untrust") == 0))
        return acl_cmd(&c, a[0], a[1], a[2]);
    if (n == 4 && strcmp(a[0], "is") == 0 && strcmp(a[3], "banned") == 0) {
        bool peer = strcmp(a[1], "peer") == 0;
        if (!peer && strcmp(a[1], "address") != 0) {
            cmd_error(cmd_name, "expected 'is address POINT banned' or 'is peer PEER banned'");
            return TP_EXIT_USAGE;
        }
        if (peer && !check_peer(a[2])) return TP_EXIT_USAGE;
        if (!peer && !check_point(a[2])) return TP_EXIT_USAGE;
        char path[256];
        snprintf(path, sizeof path, "/network/%s/%s/banned", peer ? "peers" : "points", a[2]);
        json_t *j = NULL;
        int rc = call(&c, "GET", path, NULL, &j);
        if (rc == TP_EXIT_OK) {
            if (c.json)
                print_json(j);
            else
                printf("%s %s %s banned\n", a[1], a[2], json_is_true(j) ? "is" : "is not");
            /* the exit code answers the question, for scripts: 0 banned, 1 not */
            if (!json_is_true(j)) rc = TP_EXIT_FAIL;
        }
        json_decref(j);
        return rc;
    }
    if (n == 1 && strcmp(a[0], "greylist") == 0) {
        json_t *ips = NULL, *peers = NULL;
        int rc = call(&c, "GET", "/network/greylist/ips", NULL, &ips);
        if (rc == TP_EXIT_OK) rc = call(&c, "GET", "/network/greylist/peers", NULL, &peers);
        if (rc == TP_EXIT_OK) {
            if (c.json) {
                json_t *all = json_pack("{s:O,s:O}", "ips", ips, "peers", peers);
                print_json(all);
                json_decref(all);
            } else {
                size_t k;
                json_t *v;
                printf("GREYLISTED IPS\n");
                json_array_foreach(json_object_get(ips, "ips"), k, v) printf("  %s\n", str_or(v, "?"));
                printf("GREYLISTED PEERS\n");
                json_array_foreach(peers, k, v) printf("  %s\n", str_or(v, "?"));
            }
        }
        json_decref(ips);
        json_decref(peers);
        return rc;
    }
    if (n == 2 && strcmp(a[0], "clear") == 0 && strcmp(a[1], "acls") == 0) {
        int rc = call(&c, "DELETE", "/network/greylist", NULL, NULL);
        if (rc == TP_EXIT_OK) printf(c.json ? "{}\n" : "cleared every ACL table\n");
        return rc;
    }
    if (n >= 3 && n <= 4 && strcmp(a[0], "rpc") == 0) {
        /* rpc get|patch|delete PATH [JSON]: any /network path, the raw answer */
        static const char *const methods[][2] = {{"get", "GET"}, {"patch", "PATCH"},
                                                 {"delete", "DELETE"}, {"put", "PUT"}};
        const char *method = NULL;
        for (size_t k = 0; k < 4; k++)
            if (strcmp(a[1], methods[k][0]) == 0) method = methods[k][1];
        if (!method || strncmp(a[2], "/network", 8) != 0 || (n == 4 && strcmp(method, "PATCH") != 0)) {
            cmd_error(cmd_name, "expected 'rpc get|patch|delete|put /network/... [JSON]' (a "
                                "body only with patch), e.g. rpc get /network/stat");
            return TP_EXIT_USAGE;
        }
        json_t *j = NULL;
        int rc = call(&c, method, a[2], n == 4 ? a[3] : NULL, &j);
        if (rc == TP_EXIT_OK) {
            if (j)
                print_json(j);
            else
                printf("{}\n");
        }
        json_decref(j);
        return rc;
    }
    if (n == 1 && strcmp(a[0], "log") == 0) {
        char err[512];
        tp_err e = dm_http_stream(c.rpc, c.json ? "/network/log" : "/network/log?all", print_line, &c.json, 0, err, sizeof err);
        if (e != TP_OK) {
            cmd_error(cmd_name, "%s", err);
            return e == TP_ERR_CONN_REFUSED ? TP_EXIT_INPUT : TP_EXIT_FAIL;
        }
        return TP_EXIT_OK;
    }
    static const char *const commands[] = {"p2p",   "connections", "points", "peers", "connect",
                                           "kick",  "ban",         "unban",  "trust", "untrust",
                                           "is",    "greylist",    "clear",  "log",   "rpc",
                                           NULL};
    const char *near = cmd_nearest(a[0], commands);
    bool known = false;
    for (size_t k = 0; commands[k]; k++) known = known || strcmp(a[0], commands[k]) == 0;
    if (known)
        cmd_error(cmd_name, "'%s': wrong arguments for this command (see tidepool admin --help)", a[0]);
    else if (near)
        cmd_error(cmd_name, "unknown command '%s' (did you mean '%s'? see tidepool admin --help)",
                  a[0], near);
    else
        cmd_error(cmd_name, "unknown command '%s' (see tidepool admin --help)", a[0]);
    return TP_EXIT_USAGE;
}
