/* lua/chain.c — the block workload of simulated tidepool nodes: Octez's head-and-fetch
 * flow (src/lib_shell/) as application messages over the p2p layer.
 *
 * A run has one chain of blocks (run->blocks, indexed by block id; the genesis block
 * TL_GENESIS is known and valid everywhere). Each node keeps, per block, what it has
 * (nothing, the header, the header and the operations, or the block validated) and a
 * head, the valid block of highest level (the fitness of this model). The messages
 * follow src/lib_shell/distributed_db_message.ml:
 *
 *   Get_current_head            sent on every new connection, by both sides
 *                               (p2p_reader.ml: answered with Current_head)
 *   Current_head(header)        the answer, and what a node whose head changed sends to
 *                               every peer (chain_validator.ml, Advertise.current_head)
 *   Get_block_headers(ids)      up to 10 ids (the encoding's max_length)
 *   Block_header(header)
 *   Get_operations_for_blocks(ids)   up to 10 ids
 *   Operations_for_blocks(id, operations)   one message for all validation passes
 *
 * On a Current_head (peer_validator.ml, may_validate_new_head): a block already valid,
 * or whose level is not above the head's (only_if_fitness_increases), is ignored;
 * otherwise the node fetches what it lacks along the branch: the operations of every
 * block whose header it has, and, where the branch reaches an unknown block, that
 * block's header (Octez asks Get_current_branch and runs its bootstrap pipeline over
 * Get_block_headers; here the headers are fetched one predecessor at a time — a
 * simplification, stated). Blocks are validated in chain order, one at a time, each
 * taking the node's validation delay (block_validator.ml); a block whose level exceeds
 * the head's becomes the head and is advertised.
 *
 * Requests follow src/lib_requester/requester.ml (worker_loop, process_event): per
 * wanted key, a set of peers not yet asked and a set already asked. Every peer that
 * announces the block (or a descendant) is added to the first set (and removed from
 * the second). When a request is due, peers no longer connected are dropped from both
 * sets; if both became empty the request is removed (a later announcement or a new
 * connection's Current_head registers it again); otherwise a random peer of the first
 * set is asked and moved to the second, or, if the first is empty, a random peer of the
 * second is asked again; the next attempt is due after the delay, which then grows by
 * 1.5 (initial delays of distributed_db_requester.ml: 0.5 s for headers, 1 s for
 * operations). So a request whose connection closes is asked again of another
 * announcer at its next due time, and a request nobody answers is asked again. Requests
 * due together go to a peer as one message (Request.send batches keys per peer); the
 * worker wakes 1 ms after a new request (worker_loop's sleep 0.001). With no connection
 * at all and requests pending, the worker waits 5 s (no_active_peers).
 *
 * Answers (p2p_reader.ml): Get_block_headers and Get_operations_for_blocks are served
 * from validated blocks only (read_block_header / read_block read the store); unknown
 * ids are counted (Unadvertised) and skipped. A Block_header or Operations_for_blocks
 * nobody is waiting for is counted as unsolicited and dropped (Unexpected_response);
 * a message that does not decode exactly (length, unknown block, fields that do not
 * match the block, non-zero padding) is counted as malformed and dropped. Octez
 * greylists only for known-invalid heads and branches, which this model has none of.
 *
 * State across a crash: validated blocks and the head survive (Octez's store is on
 * disk); headers and operations not yet validated, pending requests and the
 * validation queue are lost. A restarted node catches up from its peers' Current_head
 * answers on its new connections. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lua/tl_impl.h"

/* distributed_db_requester.ml: Raw_block_header / Raw_operations initial_delay */
#define TL_HEADER_DELAY_NS_INITIAL 500000000LL
#define TL_OPS_DELAY_NS_INITIAL 1000000000LL
#define TL_REQ_BATCH_NS 1000000LL            /* worker_loop: Lwt_unix.sleep 0.001 */
#define TL_NO_PEER_WAIT_NS 5000000000LL      /* worker_loop: no_active_peers, sleep 5. */
#define TL_REQ_PEERS_MAX 32u                 /* per set: a bound Octez does not have */
#define TL_PENDING_MAX 4096u                 /* pending requests per node */
#define TL_IDS_MAX TL_CHAIN_IDS_MAX
#define TL_HEADER_FIXED TL_CHAIN_HEADER_FIXED
#define TL_REQUEST_LOG_MAX 256u

enum { TL_ST_UNKNOWN = 0, TL_ST_HEADER = 1, TL_ST_OPS = 2, TL_ST_VALID = 3 };
enum { TL_REQ_HEADER = 0, TL_REQ_OPS = 1 };

static const char *const state_names[] = {"unknown", "header", "operations", "valid"};
static const char *const req_kind_names[] = {"headers", "operations"};

typedef struct tl_req {
    uint32_t block;
    uint8_t kind;
    uint8_t n_unreq, n_req;
    uint16_t attempts;
    int64_t next_ns, delay_ns;
    tp_peer_id unreq[TL_REQ_PEERS_MAX];
    tp_peer_id req[TL_REQ_PEERS_MAX];
} tl_req;

typedef struct tl_req_log {
    int64_t time_ns;
    int64_t peer_host;
    uint32_t block;
    uint8_t kind;
    uint16_t attempt;
} tl_req_log;

struct tl_chain {
    tl_app *app;
    uint8_t *state;      /* per block id: TL_ST_* */
    int64_t *header_ns;  /* first time the header was had, -1: never */
    int64_t *valid_ns;   /* validation (adoption) time, -1: not valid */
    uint32_t cap;
    uint32_t head, head_level;
    tl_req *reqs;
    uint32_t nreqs, reqs_cap;
    tp_timer req_timer;
    uint32_t *queue;     /* blocks with header and operations whose predecessor is valid */
    uint32_t queue_len, queue_cap;
    uint32_t validating; /* TL_GENESIS: none */
    tp_timer val_timer;
    uint32_t *waiting;   /* blocks with header and operations, predecessor not yet valid */
    uint32_t waiting_len, waiting_cap;
    tl_req_log *log;     /* ring, only with request_log */
    uint32_t log_len, log_next;
    tl_chain_stats st;
};

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return p;
    uint32_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(p, (size_t)c * elem);
    TP_ASSERT(q != NULL);
    *cap = c;
    return q;
}

/* Per-block arrays cover every block of the run. */
static void reserve(tl_chain *ch, uint32_t count) {
    if (count <= ch->cap) return;
    uint32_t old = ch->cap, cap = old ? old : 64;
    while (cap < count) cap *= 2;
    uint8_t *s = realloc(ch->state, cap);
    int64_t *h = realloc(ch->header_ns, (size_t)cap * sizeof *h);
    TP_ASSERT(s && h);
    ch->state = s;
    ch->header_ns = h;
    int64_t *v = realloc(ch->valid_ns, (size_t)cap * sizeof *v);
    TP_ASSERT(v != NULL);
    ch->valid_ns = v;
    memset(s + old, TL_ST_UNKNOWN, cap - old);
    memset(h + old, 0xff, (size_t)(cap - old) * sizeof *h);
    memset(v + old, 0xff, (size_t)(cap - old) * sizeof *v);
    ch->cap = cap;
}

static void requester_tick(void *arg);
static void validated(void *arg);

/* The scratch every message is encoded in: the partition's (tl_part.body, at least as
 * large as the largest block made so far), never one shared by all hosts — hosts of
 * different partitions encode at the same time. */
static uint8_t *scratch(tl_app *a) { return tl_part_of(a)->body; }

static tl_chain *chain_of(tl_app *a) {
    if (a->chain == NULL) {
        tl_chain *ch = calloc(1, sizeof *ch);
        TP_ASSERT(ch != NULL);
        ch->app = a;
        ch->head = TL_GENESIS;
        ch->validating = TL_GENESIS;
        tp_timer_init(&ch->req_timer, requester_tick, a);
        tp_timer_init(&ch->val_timer, validated, a);
        a->chain = ch;
    }
    reserve(a->chain, a->run->block_count);
    return a->chain;
}

static bool is_valid(const tl_chain *ch, uint32_t id) {
    return id == TL_GENESIS || ch->state[id] == TL_ST_VALID;
}

/* ------------------------------------------------------------------------------------ */
/* Encoding                                                                             */

/* The wire format is lua/chain_msg.c's (tl_chain_decode / tl_chain_encode). A header:
 * id, predecessor, level, operation bytes (u32 each), zero padding up to the block's
 * header size. The genesis header is the 16 fixed bytes. */
static size_t encode_header(const tl_state *run, uint32_t id, uint8_t *buf) {
    if (id == TL_GENESIS) {
        tl_chain_header g = {TL_GENESIS, TL_GENESIS, 0, 0, TL_HEADER_FIXED};
        return tl_chain_encode_header(&g, buf);
    }
    const tl_block *b = &run->blocks[id];
    tl_chain_header h = {id, b->pred, b->level, b->ops_bytes, b->header_bytes};
    return tl_chain_encode_header(&h, buf);
}

/* A well-formed message (tl_chain_decode) is still malformed here unless every block it
 * names is a block of the run and its fields are the block's: a header's predecessor,
 * level, operation bytes and size; the operations' size. */
static bool of_the_run(const tl_state *run, const tl_chain_msg *m) {
    switch (m->tag) {
    case TL_TAG_CURRENT_HEAD:
    case TL_TAG_BLOCK_HEADER: {
        const tl_chain_header *h = &m->header;
        if (h->block == TL_GENESIS) return true; /* the decoder checked its fields */
        if (h->block >= run->block_count) return false;
        const tl_block *b = &run->blocks[h->block];
        return h->header_bytes == b->header_bytes && h->pred == b->pred &&
               h->level == b->level && h->ops_bytes == b->ops_bytes;
    }
    case TL_TAG_GET_BLOCK_HEADERS:
    case TL_TAG_GET_OPERATIONS_FOR_BLOCKS:
        for (uint32_t k = 0; k < m->ids_count; k++)
            if (m->ids[k] >= run->block_count) return false;
        return true;
    case TL_TAG_OPERATIONS_FOR_BLOCKS:
        return m->block < run->block_count && m->ops_bytes == run->blocks[m->block].ops_bytes;
    default: return true; /* Get_current_head: nothing to check */
    }
}

static bool send_now(tl_app *a, tp_conn *c, uint16_t tag, const uint8_t *p, size_t n) {
    /* P2p.try_send: dropped when the connection's queue is full */
    if (tp_node_send(a->node, c, tag, p, n, true) == TP_OK) return true;
    a->sends_dropped++;
    return false;
}

static void advertise_head(tl_app *a) {
    tl_chain *ch = a->chain;
    uint8_t *buf = scratch(a);
    size_t n = encode_header(a->run, ch->head, buf);
    ch->st.heads_sent += tp_node_broadcast(a->node, TL_TAG_CURRENT_HEAD, buf, n);
}

/* ------------------------------------------------------------------------------------ */
/* Requester (src/lib_requester/requester.ml)                                          */

static tl_req *find_req(tl_chain *ch, uint8_t kind, uint32_t block) {
    for (uint32_t i = 0; i < ch->nreqs; i++)
        if (ch->reqs[i].block == block && ch->reqs[i].kind == kind) return &ch->reqs[i];
    return NULL;
}

static void remove_req(tl_chain *ch, tl_req *r) {
    uint32_t i = (uint32_t)(r - ch->reqs);
    /* keep the insertion order: the order requests are sent in steers the run */
    memmove(&ch->reqs[i], &ch->reqs[i + 1], (size_t)(ch->nreqs - i - 1) * sizeof *r);
    ch->nreqs--;
}

static int set_find(const tp_peer_id *set, uint8_t n, const tp_peer_id *p) {
    for (uint8_t i = 0; i < n; i++)
        if (memcmp(set[i].bytes, p->bytes, TP_PEER_ID_SIZE) == 0) return i;
    return -1;
}

static void set_remove_at(tp_peer_id *set, uint8_t *n, int i) {
    memmove(&set[i], &set[i + 1], (size_t)(*n - i - 1) * sizeof *set);
    (*n)--;
}

static void arm_requester(tl_app *a, int64_t at_ns) {
    tl_chain *ch = a->chain;
    if (tp_timer_is_armed(&ch->req_timer) && ch->req_timer.deadline_ns <= at_ns) return;
    tp_env_timer_start(a->env, &ch->req_timer, at_ns);
}

/* process_event (Request (Some peer, key)): a peer that has the key. */
static void request(tl_app *a, uint8_t kind, uint32_t block, const tp_peer_id *peer) {
    tl_chain *ch = a->chain;
    tl_req *r = find_req(ch, kind, block);
    if (r != NULL) {
        int i = set_find(r->req, r->n_req, peer);
        if (i >= 0) set_remove_at(r->req, &r->n_req, i);
        if (set_find(r->unreq, r->n_unreq, peer) < 0 && r->n_unreq < TL_REQ_PEERS_MAX)
            r->unreq[r->n_unreq++] = *peer;
        return;
    }
    if (ch->nreqs == TL_PENDING_MAX) {
        ch->st.requests_refused++;
        return;
    }
    ch->reqs = grow(ch->reqs, &ch->reqs_cap, ch->nreqs + 1, sizeof *ch->reqs);
    r = &ch->reqs[ch->nreqs++];
    memset(r, 0, offsetof(tl_req, unreq));
    r->block = block;
    r->kind = kind;
    r->unreq[0] = *peer;
    r->n_unreq = 1;
    int64_t now = tp_env_now_ns(a->env);
    r->next_ns = now;
    r->delay_ns = kind == TL_REQ_HEADER ? TL_HEADER_DELAY_NS_INITIAL : TL_OPS_DELAY_NS_INITIAL;
    arm_requester(a, now + TL_REQ_BATCH_NS);
}

static bool peer_active(tl_app *a, const tp_peer_id *p) {
    tp_conn *c = tp_node_conn_of_peer(a->node, p);
    return c != NULL && tp_conn_is_running(c);
}

typedef struct tl_send_item {
    tp_peer_id peer;
    uint32_t block;
    uint8_t kind;
    uint16_t attempt;
    bool sent;
} tl_send_item;

static void log_request(tl_app *a, const tl_send_item *it, tp_conn *c) {
    tl_chain *ch = a->chain;
    if (!a->chainp.request_log) return;
    if (ch->log == NULL) {
        ch->log = calloc(TL_REQUEST_LOG_MAX, sizeof *ch->log);
        TP_ASSERT(ch->log != NULL);
    }
    ch->log[ch->log_next] = (tl_req_log){tp_env_now_ns(a->env),
                                         tl_host_of_point(a->run, &c->remote_addr), it->block,
                                         it->kind, it->attempt};
    ch->log_next = (ch->log_next + 1) % TL_REQUEST_LOG_MAX;
    if (ch->log_len < TL_REQUEST_LOG_MAX) ch->log_len++;
}

/* Request.send: the keys due for one peer, TL_IDS_MAX per message. */
static void send_requests(tl_app *a, tl_send_item *items, uint32_t n) {
    tl_chain *ch = a->chain;
    uint8_t msg[4 * TL_IDS_MAX];
    for (uint32_t i = 0; i < n; i++) {
        if (items[i].sent) continue;
        tp_conn *c = tp_node_conn_of_peer(a->node, &items[i].peer);
        uint32_t k = 0;
        for (uint32_t j = i; j < n && k < TL_IDS_MAX; j++) {
            if (items[j].sent || items[j].kind != items[i].kind ||
                memcmp(items[j].peer.bytes, items[i].peer.bytes, TP_PEER_ID_SIZE) != 0)
                continue;
            items[j].sent = true;
            put_u32(msg + 4 * k++, items[j].block);
            if (items[j].kind == TL_REQ_HEADER) ch->st.header_requests++;
            else ch->st.ops_requests++;
            if (items[j].attempt > 1) ch->st.retries++;
            if (c != NULL) log_request(a, &items[j], c);
        }
        if (c == NULL) continue;
        uint16_t tag = items[i].kind == TL_REQ_HEADER ? TL_TAG_GET_BLOCK_HEADERS
                                                      : TL_TAG_GET_OPERATIONS_FOR_BLOCKS;
        (void)send_now(a, c, tag, msg, 4 * (size_t)k);
        /* keys beyond TL_IDS_MAX for this peer go in a later message of this loop */
    }
}

/* requester.ml worker_loop, on timeout. */
static void requester_tick(void *arg) {
    tl_app *a = arg;
    if (a->node == NULL) return;
    tl_chain *ch = a->chain;
    int64_t now = tp_env_now_ns(a->env);
    if (ch->nreqs == 0) return;
    if (tp_node_active_connections(a->node) == 0) {
        tp_env_timer_start(a->env, &ch->req_timer, now + TL_NO_PEER_WAIT_NS);
        return;
    }
    tl_send_item *items = malloc((size_t)ch->nreqs * sizeof *items);
    TP_ASSERT(items != NULL);
    uint32_t n_items = 0;
    int64_t next = INT64_MAX;
    for (uint32_t i = 0; i < ch->nreqs;) {
        tl_req *r = &ch->reqs[i];
        if (r->next_ns > now) {
            if (r->next_ns < next) next = r->next_ns;
            i++;
            continue;
        }
        bool had = r->n_unreq + r->n_req > 0;
        for (int k = r->n_unreq - 1; k >= 0; k--)
            if (!peer_active(a, &r->unreq[k])) set_remove_at(r->unreq, &r->n_unreq, k);
        for (int k = r->n_req - 1; k >= 0; k--)
            if (!peer_active(a, &r->req[k])) set_remove_at(r->req, &r->n_req, k);
        if (had && r->n_unreq + r->n_req == 0) {
            ch->st.requests_abandoned++;
            remove_req(ch, r);
            continue;
        }
        tp_peer_id peer;
        if (r->n_unreq > 0) {
            int k = (int)tp_env_random_below(a->env, r->n_unreq);
            peer = r->unreq[k];
            set_remove_at(r->unreq, &r->n_unreq, k);
            if (r->n_req == TL_REQ_PEERS_MAX) set_remove_at(r->req, &r->n_req, 0); /* oldest */
            r->req[r->n_req++] = peer;
        } else {
            peer = r->req[tp_env_random_below(a->env, r->n_req)];
        }
        r->next_ns = now + r->delay_ns;
        r->delay_ns += r->delay_ns / 2;
        r->attempts++;
        if (r->next_ns < next) next = r->next_ns;
        items[n_items++] = (tl_send_item){peer, r->block, r->kind, r->attempts, false};
        i++;
    }
    if (next != INT64_MAX) tp_env_timer_start(a->env, &ch->req_timer, next);
    send_requests(a, items, n_items);
    free(items);
}

/* ------------------------------------------------------------------------------------ */
/* Validation (block_validator.ml: one block at a time)                                 */

static void validate_next(tl_app *a);

static void enqueue(tl_app *a, uint32_t id) {
    tl_chain *ch = a->chain;
    ch->queue = grow(ch->queue, &ch->queue_cap, ch->queue_len + 1, sizeof *ch->queue);
    ch->queue[ch->queue_len++] = id;
    if (ch->validating == TL_GENESIS) validate_next(a);
}

/* Header and operations are here: validate once the predecessor is valid. */
static void try_validate(tl_app *a, uint32_t id) {
    tl_chain *ch = a->chain;
    if (is_valid(ch, a->run->blocks[id].pred)) {
        enqueue(a, id);
        return;
    }
    ch->waiting = grow(ch->waiting, &ch->waiting_cap, ch->waiting_len + 1, sizeof *ch->waiting);
    ch->waiting[ch->waiting_len++] = id;
}

static void adopt(tl_app *a, uint32_t id, int64_t now) {
    tl_state *run = a->run;
    tl_chain *ch = a->chain;
    tl_block *b = &run->blocks[id];
    ch->state[id] = TL_ST_VALID;
    ch->valid_ns[id] = now;
    if (ch->header_ns[id] < 0) ch->header_ns[id] = now;
    tl_tally_of(a, id)->holders++;
    if (run->res && b->origin != a->host) {
        tl_row r = {.kind = TL_ROW_BLOCK_DELIVERY,
                    .u.block = {id, b->origin, b->created_ns, ch->header_ns[id], now}};
        tl_row_put(a, now, &r);
    }
    if (b->level > ch->head_level) {
        ch->head = id;
        ch->head_level = b->level;
        ch->st.head_changes++;
        advertise_head(a);
    }
}

static void validated(void *arg) {
    tl_app *a = arg;
    if (a->node == NULL) return;
    tl_chain *ch = a->chain;
    uint32_t id = ch->validating;
    ch->validating = TL_GENESIS;
    adopt(a, id, tp_env_now_ns(a->env));
    /* children waiting for this block, in arrival order */
    for (uint32_t i = 0; i < ch->waiting_len;) {
        uint32_t w = ch->waiting[i];
        if (a->run->blocks[w].pred == id) {
            memmove(&ch->waiting[i], &ch->waiting[i + 1],
                    (size_t)(ch->waiting_len - i - 1) * sizeof *ch->waiting);
            ch->waiting_len--;
            enqueue(a, w);
        } else {
            i++;
        }
    }
    validate_next(a);
}

static void validate_next(tl_app *a) {
    tl_chain *ch = a->chain;
    if (ch->validating != TL_GENESIS || ch->queue_len == 0) return;
    ch->validating = ch->queue[0];
    memmove(ch->queue, ch->queue + 1, (size_t)(ch->queue_len - 1) * sizeof *ch->queue);
    ch->queue_len--;
    tp_env_timer_start(a->env, &ch->val_timer, tp_env_now_ns(a->env) + a->chainp.validation_delay_ns);
}

/* ------------------------------------------------------------------------------------ */
/* Messages                                                                             */

static void had_header(tl_chain *ch, uint32_t id, int64_t now) {
    if (ch->state[id] == TL_ST_UNKNOWN) ch->state[id] = TL_ST_HEADER;
    if (ch->header_ns[id] < 0) ch->header_ns[id] = now;
}

/* `peer` has block id (it announced it or a descendant): along the branch down to a
 * valid block, ask for the operations of blocks whose header is here and for the
 * header of the first unknown block. */
static void want(tl_app *a, uint32_t id, const tp_peer_id *peer) {
    tl_chain *ch = a->chain;
    for (uint32_t b = id; b != TL_GENESIS; b = a->run->blocks[b].pred) {
        uint8_t s = ch->state[b];
        if (s == TL_ST_VALID) return;
        if (s == TL_ST_UNKNOWN) {
            request(a, TL_REQ_HEADER, b, peer);
            return;
        }
        if (s == TL_ST_HEADER) request(a, TL_REQ_OPS, b, peer);
    }
}

/* A header arrived: the request for it (if any) is served. */
static void header_arrived(tl_app *a, uint32_t id, const tp_peer_id *from) {
    tl_chain *ch = a->chain;
    had_header(ch, id, tp_env_now_ns(a->env));
    tl_req *r = find_req(ch, TL_REQ_HEADER, id);
    tp_peer_id peers[2 * TL_REQ_PEERS_MAX + 1];
    uint32_t n = 0;
    peers[n++] = *from;
    if (r != NULL) {
        for (uint8_t k = 0; k < r->n_unreq; k++) peers[n++] = r->unreq[k];
        for (uint8_t k = 0; k < r->n_req; k++) peers[n++] = r->req[k];
        remove_req(ch, r);
    }
    /* the peers that announced a descendant have this block's operations too */
    for (uint32_t k = 0; k < n; k++) want(a, id, &peers[k]);
}

static void on_current_head(tl_app *a, tp_conn *c, const tl_chain_msg *m, size_t len) {
    tl_state *run = a->run;
    tl_chain *ch = a->chain;
    uint32_t id = m->header.block;
    ch->st.heads_received++;
    if (id == TL_GENESIS) return;
    const tl_block *b = &run->blocks[id];
    tl_block_tally *t = tl_tally_of(a, id);
    /* may_validate_new_head: known valid, or only_if_fitness_increases */
    if (ch->state[id] == TL_ST_VALID || b->level <= ch->head_level) {
        t->bytes_duplicate += len;
        return;
    }
    if (ch->state[id] == TL_ST_UNKNOWN) t->bytes_useful += len;
    else t->bytes_duplicate += len;
    if (ch->state[id] == TL_ST_UNKNOWN) header_arrived(a, id, tp_node_conn_peer_id(c));
    else want(a, id, tp_node_conn_peer_id(c));
}

static void on_block_header(tl_app *a, tp_conn *c, const tl_chain_msg *m, size_t len) {
    tl_chain *ch = a->chain;
    uint32_t id = m->header.block;
    if (id == TL_GENESIS) { /* never asked for: the genesis is known everywhere */
        ch->st.malformed++;
        return;
    }
    tl_block_tally *t = tl_tally_of(a, id);
    if (find_req(ch, TL_REQ_HEADER, id) == NULL) {
        /* p2p_reader.ml: Unexpected_response */
        ch->st.unsolicited++;
        t->bytes_duplicate += len;
        return;
    }
    t->bytes_useful += len;
    header_arrived(a, id, tp_node_conn_peer_id(c));
}

static void on_operations(tl_app *a, tp_conn *c, const tl_chain_msg *m, size_t len) {
    tl_chain *ch = a->chain;
    uint32_t id = m->block;
    tl_block_tally *t = tl_tally_of(a, id);
    tl_req *r = find_req(ch, TL_REQ_OPS, id);
    if (r == NULL) {
        ch->st.unsolicited++;
        t->bytes_duplicate += len;
        return;
    }
    (void)c;
    t->bytes_useful += len;
    remove_req(ch, r);
    TP_ASSERT(ch->state[id] == TL_ST_HEADER);
    ch->state[id] = TL_ST_OPS;
    try_validate(a, id);
}

static void on_get_headers(tl_app *a, tp_conn *c, const tl_chain_msg *m) {
    tl_state *run = a->run;
    tl_chain *ch = a->chain;
    const uint32_t *ids = m->ids;
    uint32_t n = m->ids_count;
    for (uint32_t k = 0; k < n; k++) {
        tl_tally_of(a, ids[k])->bytes_requests += 4;
        if (ch->state[ids[k]] != TL_ST_VALID) {
            ch->st.unadvertised++;
            continue;
        }
        uint8_t *buf = scratch(a);
        size_t bytes = encode_header(run, ids[k], buf);
        (void)send_now(a, c, TL_TAG_BLOCK_HEADER, buf, bytes);
    }
}

static void on_get_operations(tl_app *a, tp_conn *c, const tl_chain_msg *m) {
    tl_state *run = a->run;
    tl_chain *ch = a->chain;
    const uint32_t *ids = m->ids;
    uint32_t n = m->ids_count;
    for (uint32_t k = 0; k < n; k++) {
        tl_tally_of(a, ids[k])->bytes_requests += 4;
        if (ch->state[ids[k]] != TL_ST_VALID) {
            ch->st.unadvertised++;
            continue;
        }
        tl_part *part = tl_part_of(a);
        tl_chain_msg ops = {.tag = TL_TAG_OPERATIONS_FOR_BLOCKS, .block = ids[k],
                            .ops_bytes = run->blocks[ids[k]].ops_bytes};
        uint8_t *buf = part->body;
        size_t bytes = tl_chain_encode(&ops, buf, part->body_len);
        TP_ASSERT(bytes == 4 + (size_t)ops.ops_bytes);
        (void)send_now(a, c, TL_TAG_OPERATIONS_FOR_BLOCKS, buf, bytes);
    }
}

bool tl_chain_on_message(tl_app *a, tp_conn *c, uint16_t tag, const uint8_t *p, size_t len) {
    tl_chain *ch = chain_of(a);
    if (tl_chain_tag_name(tag) == NULL) return false;
    tl_chain_msg m;
    if (tl_chain_decode(tag, p, len, &m, NULL, 0) != TP_OK || !of_the_run(a->run, &m)) {
        ch->st.malformed++;
        return true;
    }
    switch (tag) {
    case TL_TAG_GET_CURRENT_HEAD: {
        uint8_t *buf = scratch(a);
        size_t n = encode_header(a->run, ch->head, buf);
        (void)send_now(a, c, TL_TAG_CURRENT_HEAD, buf, n);
        return true;
    }
    case TL_TAG_CURRENT_HEAD: on_current_head(a, c, &m, len); return true;
    case TL_TAG_GET_BLOCK_HEADERS: on_get_headers(a, c, &m); return true;
    case TL_TAG_BLOCK_HEADER: on_block_header(a, c, &m, len); return true;
    case TL_TAG_GET_OPERATIONS_FOR_BLOCKS: on_get_operations(a, c, &m); return true;
    case TL_TAG_OPERATIONS_FOR_BLOCKS: on_operations(a, c, &m, len); return true;
    default: TP_UNREACHABLE();
    }
}

/* Both ends ask: the node that reconnects after a partition or a restart hears the
 * current head of each new peer (p2p_reader.ml Get_current_head; chain_validator.ml
 * asks every newly connected peer). */
void tl_chain_on_connection(tl_app *a, tp_conn *c) {
    chain_of(a);
    (void)send_now(a, c, TL_TAG_GET_CURRENT_HEAD, NULL, 0);
}

void tl_chain_on_start(tl_app *a) {
    tl_chain *ch = chain_of(a);
    tp_timer_init(&ch->req_timer, requester_tick, a);
    tp_timer_init(&ch->val_timer, validated, a);
}

/* The host halted: its timers are forgotten, memory that was not on disk is lost. */
void tl_chain_on_halt(tl_app *a) {
    tl_chain *ch = a->chain;
    if (ch == NULL) return;
    tp_timer_init(&ch->req_timer, requester_tick, a);
    tp_timer_init(&ch->val_timer, validated, a);
    ch->nreqs = 0;
    ch->queue_len = 0;
    ch->waiting_len = 0;
    ch->validating = TL_GENESIS;
    for (uint32_t i = 0; i < ch->cap; i++)
        if (ch->state[i] != TL_ST_VALID) ch->state[i] = TL_ST_UNKNOWN;
}

void tl_chain_free(tl_app *a) {
    tl_chain *ch = a->chain;
    if (ch == NULL) return;
    free(ch->state);
    free(ch->header_ns);
    free(ch->valid_ns);
    free(ch->reqs);
    free(ch->queue);
    free(ch->waiting);
    free(ch->log);
    free(ch);
    a->chain = NULL;
}

const tl_chain_stats *tl_chain_stats_of(tl_app *a) { return &chain_of(a)->st; }

void tl_chain_finish(tl_state *run) {
    if (run->res == NULL) return;
    tl_parts_sync(run); /* the counters of every partition */
    for (uint32_t i = 0; i < run->block_count; i++) {
        const tl_block *b = &run->blocks[i];
        tl_results_block(run->res, i, b->origin, b->created_ns,
                         b->pred == TL_GENESIS ? -1 : (int64_t)b->pred, b->level,
                         b->header_bytes, b->ops_bytes, b->nodes_running, b->holders,
                         b->bytes_useful, b->bytes_duplicate, b->bytes_requests);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Lua                                                                                  */

static tl_app *check_running(lua_State *L, const char *method) {
    tl_app *a = tl_check_node(L, 1);
    if (a->kind != TL_APP_TIDEPOOL)
        luaL_error(L, "node:%s() is for tidepool nodes (sim.node); this is a demo or hostile "
                      "node", method);
    if (!a->node)
        luaL_error(L, "node:%s(): the node on host %d is not running (crashed or stopped)",
                   method, (int)a->host);
    return a;
}

static tl_app *check_tidepool(lua_State *L, const char *method) {
    tl_app *a = tl_check_node(L, 1);
    if (a->kind != TL_APP_TIDEPOOL)
        luaL_error(L, "node:%s() is for tidepool nodes (sim.node); this is a demo or hostile "
                      "node", method);
    return a;
}

static uint32_t check_block(lua_State *L, int idx, const char *what) {
    tl_state *run = tl_run_of(L);
    lua_Integer id = luaL_checkinteger(L, idx);
    if (id < 0 || id >= (lua_Integer)run->block_count)
        luaL_error(L, "%s: no block %d (blocks are 0 .. %d)", what, (int)id,
                   (int)run->block_count - 1);
    return (uint32_t)id;
}

/* node:produce_block{ops_bytes = n, header_bytes = n} -> id: a block on top of the
 * node's head, valid here at once; the node advertises its new head. `size` is the old
 * name of ops_bytes. */
static int m_produce_block(lua_State *L) {
    tl_app *a = check_running(L, "produce_block");
    tl_state *run = a->run;
    const char *what = "node:produce_block{ops_bytes, header_bytes}";
    lua_Integer ops = a->chainp.ops_bytes, header = a->chainp.header_bytes;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        static const char *const keys[] = {"ops_bytes", "size", "header_bytes", NULL};
        tl_check_keys(L, 2, keys, what);
        bool both = tl_field(L, 2, "ops_bytes") != LUA_TNIL;
        both = tl_field(L, 2, "size") != LUA_TNIL && both;
        lua_pop(L, 2);
        if (both) luaL_error(L, "%s: 'size' is another name of 'ops_bytes'; give one", what);
        ops = tl_opt_int_field(L, 2, "size", ops, 0, TL_OPS_BYTES_MAX, what);
        ops = tl_opt_int_field(L, 2, "ops_bytes", ops, 0, TL_OPS_BYTES_MAX, what);
        header = tl_opt_int_field(L, 2, "header_bytes", header, TL_HEADER_FIXED,
                                  TL_HEADER_BYTES_MAX, what);
    }
    if (run->block_count == TL_BLOCKS_MAX)
        return luaL_error(L, "%s: at most %d blocks per run", what, (int)TL_BLOCKS_MAX);
    tl_chain *ch = chain_of(a);
    /* World context: run->blocks grows and its read-only fields are set here only. */
    if (run->block_count == run->block_cap) {
        uint32_t cap = run->block_cap ? run->block_cap * 2 : 64;
        tl_block *b = realloc(run->blocks, cap * sizeof *b);
        TP_ASSERT(b != NULL);
        run->blocks = b;
        run->block_cap = cap;
    }
    uint32_t id = run->block_count++;
    run->blocks[id] = (tl_block){.origin = a->host,
                                 .created_ns = sim_world_now_ns(run->w),
                                 .pred = ch->head,
                                 .level = ch->head_level + 1,
                                 .header_bytes = (uint32_t)header,
                                 .ops_bytes = (uint32_t)ops,
                                 .nodes_running = tl_nodes_running(run)};
    reserve(ch, run->block_count);
    uint32_t body = (uint32_t)(4 + ops > header ? 4 + ops : header);
    if (body > run->block_body_cap) run->block_body_cap = body;
    adopt(a, id, sim_world_now_ns(run->w)); /* tl_part_of grows a's partition for it */
    lua_pushinteger(L, id);
    return 1;
}

/* node:block_delay(id) -> seconds from production to validation here, or nil */
static int m_block_delay(lua_State *L) {
    tl_app *a = check_tidepool(L, "block_delay");
    tl_state *run = a->run;
    uint32_t id = check_block(L, 2, "node:block_delay(id)");
    tl_chain *ch = chain_of(a);
    if (ch->state[id] != TL_ST_VALID) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushnumber(L, (lua_Number)(ch->valid_ns[id] - run->blocks[id].created_ns) / 1e9);
    return 1;
}

/* node:head() -> id (nil: genesis), level */
static int m_head(lua_State *L) {
    tl_app *a = check_tidepool(L, "head");
    tl_chain *ch = chain_of(a);
    if (ch->head == TL_GENESIS) lua_pushnil(L);
    else lua_pushinteger(L, ch->head);
    lua_pushinteger(L, ch->head_level);
    return 2;
}

/* node:block_state(id) -> 'unknown' | 'header' | 'operations' | 'valid' */
static int m_block_state(lua_State *L) {
    tl_app *a = check_tidepool(L, "block_state");
    uint32_t id = check_block(L, 2, "node:block_state(id)");
    lua_pushstring(L, state_names[chain_of(a)->state[id]]);
    return 1;
}

/* node:block_requests() -> the last requests sent (request_log = true), oldest first */
static int m_block_requests(lua_State *L) {
    tl_app *a = check_tidepool(L, "block_requests");
    if (!a->chainp.request_log)
        return luaL_error(L, "node:block_requests(): create the node with request_log = true");
    tl_chain *ch = chain_of(a);
    lua_createtable(L, (int)ch->log_len, 0);
    uint32_t first = (ch->log_next + TL_REQUEST_LOG_MAX - ch->log_len) % TL_REQUEST_LOG_MAX;
    for (uint32_t k = 0; k < ch->log_len; k++) {
        const tl_req_log *e = &ch->log[(first + k) % TL_REQUEST_LOG_MAX];
        lua_createtable(L, 0, 5);
        lua_pushnumber(L, (lua_Number)e->time_ns / 1e9);
        lua_setfield(L, -2, "time");
        lua_pushstring(L, req_kind_names[e->kind]);
        lua_setfield(L, -2, "kind");
        lua_pushinteger(L, e->block);
        lua_setfield(L, -2, "block");
        if (e->peer_host >= 0) {
            tl_push_host(L, (uint32_t)e->peer_host);
            lua_setfield(L, -2, "peer");
        }
        lua_pushinteger(L, e->attempt);
        lua_setfield(L, -2, "attempt");
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    return 1;
}

/* sim.block_holders(id) -> the number of nodes that have validated block id (its
 * producer included), whether they run now or not (a validated block survives a
 * crash). */
static int l_block_holders(lua_State *L) {
    tl_state *run = tl_run_of(L);
    uint32_t id = check_block(L, 1, "sim.block_holders(id)");
    tl_parts_sync(run); /* the partitions' counts so far */
    lua_pushinteger(L, run->blocks[id].holders);
    return 1;
}

/* sim.block(id) -> {origin, level, predecessor, created, header_bytes, ops_bytes,
 * holders, bytes_useful, bytes_duplicate, bytes_requests} */
static int l_block(lua_State *L) {
    tl_state *run = tl_run_of(L);
    uint32_t id = check_block(L, 1, "sim.block(id)");
    tl_parts_sync(run); /* the partitions' counts so far */
    const tl_block *b = &run->blocks[id];
    lua_createtable(L, 0, 10);
    tl_push_host(L, b->origin);
    lua_setfield(L, -2, "origin");
    lua_pushinteger(L, b->level);
    lua_setfield(L, -2, "level");
    if (b->pred != TL_GENESIS) {
        lua_pushinteger(L, b->pred);
        lua_setfield(L, -2, "predecessor");
    }
    lua_pushnumber(L, (lua_Number)b->created_ns / 1e9);
    lua_setfield(L, -2, "created");
#define SET(name, v)                      \
    lua_pushinteger(L, (lua_Integer)(v)); \
    lua_setfield(L, -2, name);
    SET("header_bytes", b->header_bytes);
    SET("ops_bytes", b->ops_bytes);
    SET("holders", b->holders);
    SET("bytes_useful", b->bytes_useful);
    SET("bytes_duplicate", b->bytes_duplicate);
    SET("bytes_requests", b->bytes_requests);
#undef SET
    return 1;
}

void tl_open_chain(lua_State *L) {
    static const luaL_Reg methods[] = {{"produce_block", m_produce_block},
                                       {"block_delay", m_block_delay},
                                       {"head", m_head},
                                       {"block_state", m_block_state},
                                       {"block_requests", m_block_requests},
                                       {NULL, NULL}};
    luaL_getmetatable(L, TL_MT_NODE);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
    static const luaL_Reg fns[] = {
        {"block_holders", l_block_holders}, {"block", l_block}, {NULL, NULL}};
    lua_getglobal(L, "sim");
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}
