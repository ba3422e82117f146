#!/usr/bin/env python3
# bench/overlay_metrics.py RUN.db — the overlay figures of a standard run (bench/RESULTS.md,
# "Octez fidelity"): time from node_started to >= 8 connections per node, the final degree
# histogram (open connections), and event counts (dials, Nacks, ...). Read-only.
import sqlite3, sys, statistics
db = sqlite3.connect(sys.argv[1])
start = {}; cnt = {}; boot = {}
for t, node, kind in db.execute("select time_ns,node,kind from events where kind in ('node_started','connection_established','disconnection','external_disconnection') order by seq"):
    if kind == 'node_started': start[node] = t; cnt[node] = 0; continue
    cnt[node] = cnt.get(node, 0) + (1 if kind == 'connection_established' else -1)
    if node not in boot and cnt[node] >= 8 and node in start: boot[node] = (t - start[node]) / 1e9
bt = sorted(boot.values())
q = lambda p: bt[min(len(bt) - 1, int(p * len(bt)))]
print("time to >=8 connections: n=%d median %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s" % (len(bt), q(.5), q(.9), q(.99), bt[-1]))
deg = {}
for node, c in db.execute("select node, count(*) from connections where closed_ns is null group by node"):
    deg[node] = c
hist = {}
for d in deg.values(): hist[d] = hist.get(d, 0) + 1
print("final degree histogram:", " ".join("%d:%d" % (k, hist[k]) for k in sorted(hist)))
for kind in ('outgoing_connection', 'request_rejected', 'rejecting_request', 'connection_established', 'bootstrap_sent', 'advertise_sent', 'swap_request_sent', 'swap_success', 'gc_points'):
    print(kind, db.execute("select count(*) from events where kind=?", (kind,)).fetchone()[0])
print("nack motives received:", db.execute("select code, count(*) from events where kind='request_rejected' group by code").fetchall())
