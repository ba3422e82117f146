/* swarm/gen.c — a seed's world and realized fault schedule, and the Lua scenario that
 * runs them (see swarm.h). Everything here is a pure function of the seed: a
 * splitmix64 stream, integers for every decision. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm/swarm.h"

static const char *const op_names[SW_OP_COUNT] = {
    "partition", "crash", "stop", "loss", "clock_step", "clock_drift",
    "bandwidth", "ban_peer", "ban_ip", "hostile",
};

const char *sw_op_name(sw_op op) { return (unsigned)op < SW_OP_COUNT ? op_names[op] : "?"; }

/* Hostile peers of every kind: lua/hostile.c's behaviours, plus tidepool nodes with too
 * little proof of work and with the wrong chain. */
static const char *const hostile_kinds[] = {"stall",           "slowloris", "garbage",
                                            "big_prefix",      "advertise_flood",
                                            "swap_spam",       "weak_pow",  "wrong_chain"};
#define HOSTILE_KINDS (sizeof hostile_kinds / sizeof hostile_kinds[0])

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (inclusive). */
static uint64_t between(rng *r, uint64_t lo, uint64_t hi) {
    return lo + next(r) % (hi - lo + 1);
}

/* True with probability pm per mille. */
static bool chance(rng *r, uint32_t pm) { return next(r) % 1000 < pm; }

/* A time in tenths of a second, as seconds. */
static double tenths(rng *r, uint32_t lo_s, uint32_t hi_s) {
    return (double)between(r, (uint64_t)lo_s * 10, (uint64_t)hi_s * 10) / 10.0;
}

static uint32_t public_node(rng *r, const sw_world *w) {
    for (;;) {
        uint32_t n = (uint32_t)between(r, 1, w->nodes);
        if (!w->private_node[n - 1]) return n;
    }
}

void sw_generate(uint64_t seed, sw_world *w) {
    memset(w, 0, sizeof *w);
    rng r = {seed ^ 0x5357524D54494445ULL};
    w->seed = seed;
    w->nodes = (uint32_t)between(&r, 4, 12);
    w->regions = (uint32_t)between(&r, 1, 3);
    for (uint32_t a = 0; a < w->regions; a++)
        for (uint32_t b = a; b < w->regions; b++) {
            uint32_t ms = a == b ? (uint32_t)between(&r, 1, 30) : (uint32_t)between(&r, 20, 150);
            w->latency_ms[a][b] = w->latency_ms[b][a] = ms;
        }
    w->jitter_ms = (uint32_t)between(&r, 0, 10);
    for (uint32_t i = 0; i < w->nodes; i++)
        w->rate_bps[i] = chance(&r, 300) ? between(&r, 16, 1250) * 1000 : 0; /* 128kbit..10Mbit */
    /* private nodes: never nodes 1 and 2 (everyone's trusted points) */
    uint32_t privates = 0;
    for (uint32_t i = 2; i < w->nodes; i++)
        if (chance(&r, 120) && privates < 2) {
            w->private_node[i] = true;
            privates++;
        }
    w->min_connections = (uint32_t)between(&r, 1, 3);
    w->max_extra = (uint32_t)between(&r, 2, 8);
    w->max_incoming = (uint32_t)between(&r, 4, 20);
    w->maintenance_idle_s = (uint32_t)between(&r, 5, 30);
    w->backoff_cap_s = (uint32_t)between(&r, 5, 30);
    w->backoff_disconnection_s = (uint32_t)between(&r, 1, 10);
    w->queue_bytes = (uint32_t)between(&r, 16, 1024) * 1024;
    w->max_known_points = (uint32_t)between(&r, 20, 400);
    w->swap = chance(&r, 500);

    uint32_t publics = w->nodes - privates;
    uint32_t count = (uint32_t)between(&r, 0, 8);
    uint32_t bans = 0, hostiles = 0;
    uint64_t banned = 0; /* targets already banned by someone */
    for (uint32_t k = 0; k < count && w->event_count < SW_EVENTS_MAX; k++) {
        sw_event *e = &w->events[w->event_count];
        memset(e, 0, sizeof *e);
        e->t = tenths(&r, 5, 90);
        double dur = tenths(&r, 5, 60);
        /* bans and hostile peers come often: they are what the ACL invariants need */
        uint64_t pick = between(&r, 0, 99);
        sw_op op = pick < 12   ? SW_PARTITION
                   : pick < 22 ? SW_CRASH
                   : pick < 28 ? SW_STOP
                   : pick < 36 ? SW_LOSS
                   : pick < 42 ? SW_CLOCK_STEP
                   : pick < 47 ? SW_CLOCK_DRIFT
                   : pick < 54 ? SW_BANDWIDTH
                   : pick < 70 ? SW_BAN_PEER
                   : pick < 78 ? SW_BAN_IP
                               : SW_HOSTILE;
        e->op = op;
        switch (op) {
        case SW_PARTITION: {
            uint32_t size = (uint32_t)between(&r, 1, w->nodes / 2);
            while ((uint32_t)__builtin_popcountll(e->set) < size)
                e->set |= 1ULL << (between(&r, 1, w->nodes) - 1);
            e->until = e->t + dur;
            break;
        }
        case SW_CRASH:
        case SW_STOP:
            e->node = (uint32_t)between(&r, 1, w->nodes);
            e->until = e->t + dur;
            break;
        case SW_LOSS:
            e->node = (uint32_t)between(&r, 1, w->nodes);
            e->value = (int64_t)between(&r, 1, 30) * 10000; /* 1..30 % */
            e->until = e->t + dur;
            break;
        case SW_CLOCK_STEP:
            e->node = (uint32_t)between(&r, 1, w->nodes);
            e->value = (int64_t)between(&r, 1, 7200) * (chance(&r, 500) ? 1 : -1);
            break;
        case SW_CLOCK_DRIFT:
            e->node = (uint32_t)between(&r, 1, w->nodes);
            e->value = (int64_t)between(&r, 1, 500) * (chance(&r, 500) ? 1 : -1);
            e->until = e->t + dur;
            break;
        case SW_BANDWIDTH:
            e->node = (uint32_t)between(&r, 1, w->nodes);
            e->value = (int64_t)between(&r, 4, 500) * 1000;
            e->until = e->t + dur;
            break;
        case SW_BAN_PEER:
        case SW_BAN_IP: {
            /* at most 2 bans, distinct targets, between public nodes, and only when 4
             * or more nodes are public: the honest overlay stays connectable */
            if (bans >= 2 || publics < 4) continue; /* this slot draws nothing */
            e->node = public_node(&r, w);
            do e->target = public_node(&r, w);
            while (e->target == e->node || (banned >> (e->target - 1) & 1));
            banned |= 1ULL << (e->target - 1);
            bans++;
            e->until = chance(&r, 500) ? e->t + tenths(&r, 30, 200) : 0;
            break;
        }
        case SW_HOSTILE:
            if (hostiles >= 3) continue;
            hostiles++;
            e->node = (uint32_t)between(&r, 1, w->nodes);
            snprintf(e->kind, sizeof e->kind, "%s",
                     hostile_kinds[between(&r, 0, HOSTILE_KINDS - 1)]);
            e->connections = (uint32_t)between(&r, 1, 3);
            e->until = e->t + tenths(&r, 10, 90);
            break;
        default:
            break;
        }
        w->event_count++;
    }
}

/* ---- text ----------------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (q == NULL) abort();
        b->p = q;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void put_event(sbuf *b, const sw_event *e) {
    put(b, "  {t = %.1f, op = \"%s\"", e->t, sw_op_name(e->op));
    if (e->op == SW_PARTITION) {
        put(b, ", set = {");
        bool first = true;
        for (uint32_t i = 0; i < 64; i++)
            if (e->set >> i & 1) {
                put(b, "%s%u", first ? "" : ", ", i + 1);
                first = false;
            }
        put(b, "}");
    } else {
        put(b, ", node = %u", e->node);
    }
    if (e->op == SW_BAN_PEER || e->op == SW_BAN_IP) put(b, ", target = %u", e->target);
    if (e->op == SW_HOSTILE) put(b, ", kind = \"%s\", connections = %u", e->kind, e->connections);
    if (e->op == SW_LOSS || e->op == SW_CLOCK_STEP || e->op == SW_CLOCK_DRIFT ||
        e->op == SW_BANDWIDTH)
        put(b, ", value = %" PRId64, e->value);
    if (e->until > 0) put(b, ", t_end = %.1f", e->until);
    put(b, "},\n");
}

/* The fixed part of every swarm scenario: builds the world from W and NODES, applies
 * the schedule (events naming nodes beyond NODES are skipped, so the shrinker can cut
 * the world), arms the invariants and runs past the settle point. */
static const char runner[] =
    "-- ---- the runner (fixed) --------------------------------------------------------\n"
    "local SETTLE, GRACE, TAIL = %d, %d, %d\n"
    "local function valid(i) return type(i) == \"number\" and i >= 1 and i <= NODES end\n"
    "local function try(what, f)\n"
    "  local ok, err = pcall(f)\n"
    "  if not ok then print(\"fault not applied (\" .. what .. \"): \" .. tostring(err)) end\n"
    "end\n"
    "sim.world{regions = W.regions, latency = W.latency, jitter = W.jitter}\n"
    "local hosts, nodes, honest = {}, {}, {}\n"
    "for i = 1, NODES do\n"
    "  local rate = W.rates[i] or 0\n"
    "  hosts[i] = sim.hosts{count = 1, region = (i - 1) %% W.regions + 1, up = rate, down = rate}[1]\n"
    "end\n"
    "local trusted = {}\n"
    "for i = 1, math.min(2, NODES) do trusted[#trusted + 1] = hosts[i] end\n"
    "local expected = math.max(1, NODES - 1)\n"
    "local function config(i)\n"
    "  -- min >= NODES // 2: a component whose nodes all reach min has more than NODES / 2\n"
    "  -- nodes, so two cannot coexist and the overlay must merge (Octez's maintenance\n"
    "  -- dials only below min: with a lower min, two halves can each be content)\n"
    "  local min = math.min(expected, math.max(W.min_connections, NODES // 2))\n"
    "  return {min_connections = min, expected_connections = expected,\n"
    "          max_connections = expected + W.max_extra, max_incoming_connections = W.max_incoming,\n"
    "          maintenance_idle_time = W.maintenance_idle_time, backoff_cap = W.backoff_cap,\n"
    "          backoff_disconnection = W.backoff_disconnection,\n"
    "          incoming_message_queue_size = W.queue_bytes, outgoing_message_queue_size = W.queue_bytes,\n"
    "          max_known_points = W.max_known_points, target_known_points = W.max_known_points * 3 // 4,\n"
    "          pow_difficulty = 4, identity_difficulty = 4, trusted_points = trusted,\n"
    "          private_mode = W.private[i] == true, swap_linger = W.swap and \"30s\" or 0}\n"
    "end\n"
    "for i = 1, NODES do\n"
    "  nodes[i] = sim.node(hosts[i], config(i))\n"
    "  honest[#honest + 1] = nodes[i]\n"
    "end\n"
    "local last, applied = 0, 0\n"
    "local function later(t, f) if t and t > 0 then at(t, f) end end\n"
    "for _, e in ipairs(SCHEDULE) do\n"
    "  local members = {}\n"
    "  for _, i in ipairs(e.set or {}) do if valid(i) then members[#members + 1] = hosts[i] end end\n"
    "  local ok = (e.op == \"partition\" and #members > 0 and #members < NODES) or\n"
    "             (e.op ~= \"partition\" and valid(e.node) and (e.target == nil or valid(e.target)))\n"
    "  if ok then\n"
    "    applied = applied + 1\n"
    "    last = math.max(last, e.t, e.t_end or 0)\n"
    "    local h, n = hosts[e.node], nodes[e.node]\n"
    "    if e.op == \"partition\" then\n"
    "      local p\n"
    "      at(e.t, function() try(\"partition\", function() p = sim.partition(members) end) end)\n"
    "      later(e.t_end, function() if p then p:heal() end end)\n"
    "    elseif e.op == \"crash\" or e.op == \"stop\" then\n"
    "      at(e.t, function() try(e.op, function()\n"
    "        if e.op == \"crash\" then h:crash() elseif h:app_running() then h:stop(\"2s\") end end) end)\n"
    "      later(e.t_end, function() try(\"restart\", function()\n"
    "        if not h:is_up() or not h:app_running() then h:start() end end) end)\n"
    "    elseif e.op == \"loss\" then\n"
    "      at(e.t, function() h:set_loss(e.value / 1e6) end)\n"
    "      later(e.t_end, function() h:set_loss(0) end)\n"
    "    elseif e.op == \"clock_step\" then\n"
    "      at(e.t, function() h:clock_step(e.value) end)\n"
    "    elseif e.op == \"clock_drift\" then\n"
    "      at(e.t, function() h:clock_drift(e.value) end)\n"
    "      later(e.t_end, function() h:clock_drift(0) end)\n"
    "    elseif e.op == \"bandwidth\" then\n"
    "      at(e.t, function() h:set_bandwidth(e.value, e.value) end)\n"
    "      later(e.t_end, function() local r = W.rates[e.node] or 0; h:set_bandwidth(r, r) end)\n"
    "    elseif e.op == \"ban_peer\" then\n"
    "      at(e.t, function() try(\"ban_peer\", function() n:ban_peer(nodes[e.target]) end) end)\n"
    "      later(e.t_end, function() try(\"unban_peer\", function() n:unban_peer(nodes[e.target]) end) end)\n"
    "    elseif e.op == \"ban_ip\" then\n"
    "      at(e.t, function() try(\"ban_ip\", function() n:ban_ip(hosts[e.target]) end) end)\n"
    "      later(e.t_end, function() try(\"unban_ip\", function() n:unban_ip(hosts[e.target]) end) end)\n"
    "    elseif e.op == \"hostile\" then\n"
    "      local hh = sim.hosts{count = 1, region = 1}[1]\n"
    "      at(e.t, function() try(\"hostile\", function()\n"
    "        if e.kind == \"weak_pow\" then\n"
    "          sim.node(hh, {identity_fails_difficulty = 4, pow_difficulty = 4, trusted_points = {h}})\n"
    "        elseif e.kind == \"wrong_chain\" then\n"
    "          sim.node(hh, {chain_name = \"TEZOS_SWARM_OTHER\", pow_difficulty = 4,\n"
    "                        identity_difficulty = 4, trusted_points = {h}})\n"
    "        else\n"
    "          sim.hostile(hh, {behaviour = e.kind, target = h, connections = e.connections,\n"
    "                           identity_difficulty = 4})\n"
    "        end end) end)\n"
    "      later(e.t_end, function() if hh:is_up() then hh:crash() end end)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "sim.invariants{every = \"1s\", settle_after = last, settle = SETTLE, below_min_grace = GRACE,\n"
    "               honest = honest}\n"
    "run_until(last + SETTLE + TAIL)\n"
    "sim.check_invariants()\n"
    "local _, checks = sim.invariant_violations()\n"
    "print((\"swarm: %%d nodes, %%d faults applied (last at %%.1f s), %%d invariant checks\"):format(\n"
    "  NODES, applied, last, checks))\n";

char *sw_emit_lua(const sw_world *w) {
    sbuf b = {0};
    put(&b,
        "-- A tidepool swarm scenario (generated by `tidepool swarm`; do not edit the markers).\n"
        "-- @swarm:seed %" PRIu64 "\n"
        "-- Replay: tidepool sim THIS_FILE --seed %" PRIu64 "\n"
        "-- The world and the realized fault schedule of seed %" PRIu64
        ", with the invariant checker armed\n"
        "-- (lua/invariants.h): the overlay must be one component %d s after the last fault;\n"
        "-- no node may stay below min_connections with a dialable candidate for %d s.\n",
        w->seed, w->seed, w->seed, SW_SETTLE_S, SW_BELOW_MIN_GRACE_S);
    put(&b, "local NODES = %u " SW_MARK_NODES "\n", w->nodes);
    put(&b, "local W = {\n  regions = %u,\n  latency = {", w->regions);
    for (uint32_t a = 0; a < w->regions; a++) {
        put(&b, "%s{", a ? ", " : "");
        for (uint32_t c = 0; c < w->regions; c++)
            put(&b, "%s\"%ums\"", c ? ", " : "", w->latency_ms[a][c]);
        put(&b, "}");
    }
    put(&b, "},\n  jitter = \"%ums\",\n  rates = {", w->jitter_ms);
    for (uint32_t i = 0; i < w->nodes; i++) put(&b, "%s%" PRIu64, i ? ", " : "", w->rate_bps[i]);
    put(&b, "}, -- bytes/s per node (0: unlimited)\n  private = {");
    bool first = true;
    for (uint32_t i = 0; i < w->nodes; i++)
        if (w->private_node[i]) {
            put(&b, "%s[%u] = true", first ? "" : ", ", i + 1);
            first = false;
        }
    put(&b, "},\n");
    put(&b,
        "  min_connections = %u, max_extra = %u, max_incoming = %u,\n"
        "  maintenance_idle_time = \"%us\", backoff_cap = \"%us\", backoff_disconnection = \"%us\",\n"
        "  queue_bytes = %u, max_known_points = %u, swap = %s,\n}\n",
        w->min_connections, w->max_extra, w->max_incoming, w->maintenance_idle_s,
        w->backoff_cap_s, w->backoff_disconnection_s, w->queue_bytes, w->max_known_points,
        w->swap ? "true" : "false");
    put(&b, "-- The realized fault schedule: one fault per line (t, t_end in virtual seconds).\n");
    put(&b, "local SCHEDULE = {\n" SW_MARK_BEGIN "\n");
    for (uint32_t i = 0; i < w->event_count; i++) put_event(&b, &w->events[i]);
    put(&b, SW_MARK_END "\n}\n");
    put(&b, runner, SW_SETTLE_S, SW_BELOW_MIN_GRACE_S, SW_TAIL_S);
    return b.p;
}

char *sw_schedule_json(const sw_world *w) {
    sbuf b = {0};
    put(&b, "{\"seed\": %" PRIu64 ", \"nodes\": %u, \"settle_s\": %d, \"events\": [", w->seed,
        w->nodes, SW_SETTLE_S);
    for (uint32_t i = 0; i < w->event_count; i++) {
        const sw_event *e = &w->events[i];
        put(&b, "%s\n  {\"t\": %.1f, \"op\": \"%s\"", i ? "," : "", e->t, sw_op_name(e->op));
        if (e->op == SW_PARTITION) {
            put(&b, ", \"set\": [");
            bool first = true;
            for (uint32_t k = 0; k < 64; k++)
                if (e->set >> k & 1) {
                    put(&b, "%s%u", first ? "" : ", ", k + 1);
                    first = false;
                }
            put(&b, "]");
        } else {
            put(&b, ", \"node\": %u", e->node);
        }
        if (e->op == SW_BAN_PEER || e->op == SW_BAN_IP) put(&b, ", \"target\": %u", e->target);
        if (e->op == SW_HOSTILE)
            put(&b, ", \"kind\": \"%s\", \"connections\": %u", e->kind, e->connections);
        if (e->op == SW_LOSS || e->op == SW_CLOCK_STEP || e->op == SW_CLOCK_DRIFT ||
            e->op == SW_BANDWIDTH)
            put(&b, ", \"value\": %" PRId64, e->value);
        if (e->until > 0) put(&b, ", \"t_end\": %.1f", e->until);
        put(&b, "}");
    }
    put(&b, "\n]}\n");
    return b.p;
}
