/* daemon/p2p.h — the real node's P2P stack built from a dm_config: a tp_node
 * (core/node.h, which assembles Octez's P2p: pool, ACL, connect handler, I/O scheduler,
 * maintenance, swap, LAN discovery and peers.json) on any env (realnet in
 * `tidepool node run`), plus tidepool's small application message.
 *
 * This module maps the config (daemon/config.h, Octez's keys) onto tp_node_config,
 * resolves nothing (the caller passes resolved points in dm_p2p_options), and registers
 * the application message tag 0x10 "tidepool.text" (at most 1024 bytes): every new
 * connection is greeted with one ("hello from id…"), and every message received is
 * reported as an APP_MESSAGE event (DEBUG level) with the text as detail, and to
 * opt->on_text.
 *
 * Ownership: dm_p2p_create allocates; dm_p2p_shutdown then dm_p2p_destroy (after the
 * shutdown callback) free it.
 */
#ifndef DM_P2P_H
#define DM_P2P_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"
#include "daemon/config.h"

#define DM_APP_TEXT_TAG 0x10
#define DM_APP_TEXT_MAX 1024

typedef struct dm_p2p dm_p2p;

typedef struct dm_p2p_options {
    tp_point listen;               /* resolved listen-addr (port 0: do not listen) */
    tp_point bootstrap[DM_BOOTSTRAP_PEERS_MAX]; /* resolved bootstrap peers (trusted) */
    bool bootstrap_has_expected[DM_BOOTSTRAP_PEERS_MAX];
    tp_peer_id bootstrap_expected[DM_BOOTSTRAP_PEERS_MAX];
    size_t bootstrap_count;
    bool discovery;                /* discovery-addr given */
    tp_point discovery_point;      /* resolved; port default 10732 */
    bool trust_discovered_peers;
    const uint8_t *message_nonce;  /* test-only (interop replay): fixed connection nonce */
    bool no_greeting;              /* do not greet new connections (interop replay) */
    /* Called for every "tidepool.text" message received (text NUL-terminated, at most
     * DM_APP_TEXT_MAX bytes; bytes from the network: print it escaped). May be NULL. */
    void (*on_text)(void *arg, const tp_peer_id *from, const char *text);
    void *on_text_arg;
} dm_p2p_options;

/* Builds the node configuration from the parsed config (limits, versions, chain name,
 * private mode, pool and ACL sizes, reconnection backoff). */
void dm_p2p_node_config(const dm_config *cfg, const tp_identity *id, const dm_p2p_options *opt,
                        tp_node_config *out);

/* Errors: tp_node_create's (TP_ERR_INVAL with `error` from tp_node_config_check),
 * TP_ERR_NOMEM. */
TP_MUST_USE tp_err dm_p2p_create(const tp_env *env, const dm_config *cfg, const tp_identity *id,
                                 const dm_p2p_options *opt, dm_p2p **out, char *error,
                                 size_t cap);
/* tp_node_activate: registers the trusted bootstrap points, loads peers.json,
 * listens, starts discovery and the maintenance. Errors: the env's listen errors
 * (TP_ERR_ADDR_IN_USE, ...), discovery's socket errors. */
TP_MUST_USE tp_err dm_p2p_start(dm_p2p *p, char *error, size_t cap);
tp_node *dm_p2p_node(dm_p2p *p);
/* Messages received / greeted, for tests and logs. */
uint64_t dm_p2p_app_received(const dm_p2p *p);
/* peers.json (core/peers_json.h): the result of the load at start (TP_OK, also when
 * the file was missing; TP_ERR_CORRUPT when it was kept aside) and the count loaded;
 * the result of the final save at shutdown (TP_ERR_STATE: not saved because the file
 * was never loaded, e.g. the node failed to start: an existing file is never
 * overwritten then); the last problem's text. */
TP_MUST_USE tp_err dm_p2p_peers_loaded(const dm_p2p *p, size_t *count);
TP_MUST_USE tp_err dm_p2p_peers_saved(const dm_p2p *p);
const char *dm_p2p_peers_error(const dm_p2p *p);
/* Stops the workers and closes every connection, then saves peers.json; cb fires once
 * all is done. */
void dm_p2p_shutdown(dm_p2p *p, void (*cb)(void *arg), void *arg);
void dm_p2p_destroy(dm_p2p *p);

#endif
