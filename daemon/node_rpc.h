/* daemon/node_rpc.h — the admin RPC backend over a tp_node (core/node.h): the JSON
 * bodies of /network/... in Octez's shapes (spec §11; Octez: P2p_directory with
 * P2p_connection.Info, P2p_point.Info, P2p_peer.Info, P2p_stat encodings) and the ACL
 * operations (ban / trust / open, connect, kick, greylist clear).
 *
 * Ownership: the caller owns the node and the dm_node_rpc (plain struct, caller
 * allocated); both must outlive the RPC server. Pending connects are completed from
 * the node's connect callback, which tp_node guarantees to fire exactly once (also on
 * shutdown), so shut the node down before stopping the RPC server.
 */
#ifndef DM_NODE_RPC_H
#define DM_NODE_RPC_H

#include "core/node.h"
#include "daemon/rpc.h"

typedef struct dm_node_rpc {
    tp_node *node;
    const char *version;     /* tidepool version text */
    const char *commit_hash; /* git describe */
} dm_node_rpc;

/* Fills `be` with the operations over nr->node (be->arg = nr). */
void dm_node_rpc_backend(dm_node_rpc *nr, dm_rpc_backend *be);

#endif
