-- tests/data/report_fixture.sql — a tiny, fixed results database for the report tests
-- (tests/report_golden.test.sh, tests/test_report.c). Apply reports/schema.sql first:
--   sqlite3 fixture.db < reports/schema.sql && sqlite3 fixture.db < tests/data/report_fixture.sql
--
-- Run 1 (seed 1, pass): 5 nodes created at 0/0/1/2/3 s, 10 connections (two rows each,
-- four closed); node 3 crashes at 6 s and restarts at 6.5 s ('node_started' events at 2
-- and 6.5 s: it re-bootstraps at 7.4 s, 0.9 s after the restart), node 4 starts at
-- 3.2 s, 0.2 s after its creation (its bootstrap time counts from 3.2 s) and has the
-- role "attacker" (the others: "node"; the page splits the figures by role), 'components' every second, a fault window 5.5 s .. 7.5 s ('fault_active'),
-- cumulative 'bytes_in'/'bytes_out' of two nodes, two broadcast messages, greylists and
-- a ban, two checks; custom metrics 'attacker_share' (global, declared max) and
-- 'queue_len' (per node in two regions' nodes, declared time_to >= 3).
-- Run 2 (seed 2, unfinished: verdict 'running', no virtual_time_ns): 3 nodes, 2
-- connections, 'components' only; no deliveries, no bandwidth, no bans (the report must
-- say "no data" for it without failing); one failed check (the page lists it).
-- Times are virtual nanoseconds. Change this file only together with
-- tests/data/report_expected/ (regenerate: see tests/report_golden.test.sh).

INSERT INTO runs(id, scenario, seed, parameters, code_version, log_level, started_at, command,
                 trace_hash, wall_time_s, virtual_time_ns, events_executed, verdict, message)
VALUES (1, 'scenarios/fixture.lua', 1, '{"min_conn":2,"nodes":5}', 'v0-fixture', 'info',
        '2026-01-01T00:00:00Z', 'tidepool sim scenarios/fixture.lua --seed 1',
        '0123456789abcdef', 0.25, 10000000000, 1234, 'pass', NULL),
       (2, 'scenarios/fixture.lua', 2, '{"min_conn":1,"nodes":3}', 'v0-fixture', 'info',
        '2026-01-01T00:01:00Z', 'tidepool sim scenarios/fixture.lua --seed 2',
        NULL, NULL, NULL, NULL, 'running', NULL);

INSERT INTO regions(run_id, region, name) VALUES (1, 0, 'eu'), (2, 0, 'eu');

INSERT INTO hosts(run_id, host, ip, region, as_number, up_bytes_per_s, down_bytes_per_s, loss_ppm)
VALUES (1, 0, '10.0.0.1', 0, 64512, 0, 0, 0), (1, 1, '10.0.0.2', 0, 64512, 0, 0, 0),
       (1, 2, '10.0.0.3', 0, 64512, 0, 0, 0), (1, 3, '10.0.0.4', 0, 64512, 0, 0, 0),
       (1, 4, '10.0.0.5', 0, 64512, 0, 0, 0),
       (2, 0, '10.0.0.1', 0, 64512, 0, 0, 0), (2, 1, '10.0.0.2', 0, 64512, 0, 0, 0),
       (2, 2, '10.0.0.3', 0, 64512, 0, 0, 0);

INSERT INTO nodes(run_id, node, kind, peer_id, point, config, created_ns)
VALUES (1, 0, 'demo', NULL, '10.0.0.1:9732', '{}', 0),
       (1, 1, 'demo', NULL, '10.0.0.2:9732', '{}', 0),
       (1, 2, 'demo', NULL, '10.0.0.3:9732', '{}', 1000000000),
       (1, 3, 'demo', NULL, '10.0.0.4:9732', '{}', 2000000000),
       (1, 4, 'demo', NULL, '10.0.0.5:9732', '{"role":"attacker"}', 3000000000),
       (2, 0, 'demo', NULL, '10.0.0.1:9732', '{}', 0),
       (2, 1, 'demo', NULL, '10.0.0.2:9732', '{}', 0),
       (2, 2, 'demo', NULL, '10.0.0.3:9732', '{}', 500000000);

-- One row per end: (node, peer_node, incoming, opened, closed, reason).
INSERT INTO connections(run_id, node, peer_node, peer_id, point, incoming, opened_ns, closed_ns,
                        close_reason)
VALUES (1, 0, 1, NULL, '10.0.0.2:9732', 0,  500000000, NULL, NULL),
       (1, 1, 0, NULL, '10.0.0.1:40001', 1, 500000000, NULL, NULL),
       (1, 2, 0, NULL, '10.0.0.1:9732', 0, 1200000000, NULL, NULL),
       (1, 0, 2, NULL, '10.0.0.3:40002', 1, 1200000000, NULL, NULL),
       (1, 2, 1, NULL, '10.0.0.2:9732', 0, 1500000000, NULL, NULL),
       (1, 1, 2, NULL, '10.0.0.3:40003', 1, 1500000000, NULL, NULL),
       (1, 3, 0, NULL, '10.0.0.1:9732', 0, 2500000000, 6000000000, 'crash'),
       (1, 0, 3, NULL, '10.0.0.4:40004', 1, 2500000000, 6000000000, 'reset_remote'),
       (1, 3, 1, NULL, '10.0.0.2:9732', 0, 3100000000, 6000000000, 'crash'),
       (1, 1, 3, NULL, '10.0.0.4:40005', 1, 3100000000, 6000000000, 'reset_remote'),
       (1, 4, 0, NULL, '10.0.0.1:9732', 0, 3500000000, NULL, NULL),
       (1, 0, 4, NULL, '10.0.0.5:40006', 1, 3500000000, NULL, NULL),
       (1, 4, 2, NULL, '10.0.0.3:9732', 0, 4200000000, NULL, NULL),
       (1, 2, 4, NULL, '10.0.0.5:40007', 1, 4200000000, NULL, NULL),
       (1, 2, 3, NULL, '10.0.0.4:9732', 0, 5000000000, 6000000000, 'reset_remote'),
       (1, 3, 2, NULL, '10.0.0.3:40008', 1, 5000000000, 6000000000, 'crash'),
       (1, 3, 1, NULL, '10.0.0.2:9732', 0, 7000000000, NULL, NULL),
       (1, 1, 3, NULL, '10.0.0.4:40009', 1, 7000000000, NULL, NULL),
       (1, 3, 4, NULL, '10.0.0.5:9732', 0, 7400000000, NULL, NULL),
       (1, 4, 3, NULL, '10.0.0.4:40010', 1, 7400000000, NULL, NULL),
       (2, 0, 1, NULL, '10.0.0.2:9732', 0, 1000000000, NULL, NULL),
       (2, 1, 0, NULL, '10.0.0.1:40001', 1, 1000000000, NULL, NULL),
       (2, 2, 0, NULL, '10.0.0.1:9732', 0, 2000000000, NULL, NULL),
       (2, 0, 2, NULL, '10.0.0.3:40002', 1, 2000000000, NULL, NULL);

INSERT INTO samples(run_id, time_ns, node, metric, value)
VALUES (1, 1000000000, NULL, 'components', 2), (1, 2000000000, NULL, 'components', 2),
       (1, 3000000000, NULL, 'components', 2), (1, 4000000000, NULL, 'components', 1),
       (1, 5000000000, NULL, 'components', 1), (1, 6000000000, NULL, 'components', 1),
       (1, 7000000000, NULL, 'components', 2), (1, 8000000000, NULL, 'components', 1),
       (1, 9000000000, NULL, 'components', 1), (1, 10000000000, NULL, 'components', 1),
       (1, 5500000000, NULL, 'fault_active', 1), (1, 7500000000, NULL, 'fault_active', 0),
       (1, 2000000000, 0, 'bytes_in', 1000), (1, 2000000000, 0, 'bytes_out', 2000),
       (1, 2000000000, 1, 'bytes_in', 500),  (1, 2000000000, 1, 'bytes_out', 100),
       (1, 6000000000, 0, 'bytes_in', 5000), (1, 6000000000, 0, 'bytes_out', 4000),
       (1, 6000000000, 1, 'bytes_in', 2500), (1, 6000000000, 1, 'bytes_out', 900),
       (1, 10000000000, 0, 'bytes_in', 6000), (1, 10000000000, 0, 'bytes_out', 9000),
       (1, 10000000000, 1, 'bytes_in', 2600), (1, 10000000000, 1, 'bytes_out', 1000),
       (1, 10000000000, NULL, 'bootstrap_time_s', 4.2),
       (1, 1000000000, NULL, 'attacker_share', 0.1), (1, 2000000000, NULL, 'attacker_share', 0.3),
       (1, 3000000000, NULL, 'attacker_share', 0.5), (1, 4000000000, NULL, 'attacker_share', 0.4),
       (1, 5000000000, NULL, 'attacker_share', 0.2),
       (1, 2000000000, 0, 'queue_len', 1), (1, 4000000000, 0, 'queue_len', 4),
       (1, 2000000000, 1, 'queue_len', 2), (1, 4000000000, 1, 'queue_len', 2),
       (1, 3000000000, 2, 'queue_len', 6),
       (2, 1000000000, NULL, 'attacker_share', 0.05),
       (2, 1000000000, NULL, 'components', 2), (2, 2000000000, NULL, 'components', 1),
       (2, 3000000000, NULL, 'components', 1);

-- Declared summaries (Lua metric()): attacker_share by its max, queue_len by the time it
-- first reaches 3 (node 0 at 4 s, node 2 at 3 s, node 1 never); bootstrap_time_s has no
-- declaration (its last value).
INSERT INTO metrics(run_id, metric, summary, threshold, unit)
VALUES (1, 'attacker_share', 'max', NULL, 'fraction'), (1, 'queue_len', 'time_to', 3, 'msgs'),
       (2, 'attacker_share', 'max', NULL, 'fraction');

INSERT INTO deliveries(run_id, message, node, origin_node, sent_ns, received_ns, delay_ns,
                       header_ns)
VALUES (1, 'block:0', 1, 0, 6000000000, 6050000000,  50000000, 6020000000),
       (1, 'block:0', 2, 0, 6000000000, 6080000000,  80000000, 6030000000),
       (1, 'block:0', 3, 0, 6000000000, 6120000000, 120000000, 6060000000),
       (1, 'block:0', 4, 0, 6000000000, 6200000000, 200000000, 6110000000),
       (1, 'block:1', 0, 1, 7000000000, 7040000000,  40000000, 7010000000),
       (1, 'block:1', 2, 1, 7000000000, 7090000000,  90000000, 7030000000),
       (1, 'block:1', 3, 1, 7000000000, 7150000000, 150000000, 7080000000);

-- Block 0 reached all 5 running nodes; block 1 reached 4 of 5 (node 4 never).
INSERT INTO blocks(run_id, block, origin_node, created_ns, predecessor, level, header_bytes,
                   ops_bytes, nodes_running, holders, bytes_useful, bytes_duplicate,
                   bytes_requests)
VALUES (1, 0, 0, 6000000000, NULL, 1, 300, 20000, 5, 5, 81200, 2400, 64),
       (1, 1, 1, 7000000000, 0, 2, 300, 20000, 5, 4, 60900, 3000, 48);

INSERT INTO events(run_id, seq, time_ns, node, kind, peer, peer_node, point, code, detail)
VALUES (1, 1,  500000000, 0, 'connection_established', NULL, 1, '10.0.0.2:9732', 0, NULL),
       (1, 2,  500000000, 1, 'connection_established', NULL, 0, '10.0.0.1:40001', 1, NULL),
       (1, 3, 1200000000, 2, 'connection_established', NULL, 0, '10.0.0.1:9732', 0, NULL),
       (1, 4, 1500000000, 2, 'connection_established', NULL, 1, '10.0.0.2:9732', 0, NULL),
       (1, 5, 2500000000, 3, 'connection_established', NULL, 0, '10.0.0.1:9732', 0, NULL),
       (1, 6, 3100000000, 3, 'connection_established', NULL, 1, '10.0.0.2:9732', 0, NULL),
       (1, 7, 6000000000, 0, 'disconnection', NULL, 3, '10.0.0.4:40004', 0, 'reset_remote'),
       (1, 8, 6200000000, 0, 'greylist_ip', NULL, 3, '10.0.0.4:40004', 0, NULL),
       (1, 9, 6300000000, 1, 'greylist_ip', NULL, 3, '10.0.0.4:40005', 0, NULL),
       (1, 10, 7000000000, 2, 'ban', NULL, 3, '10.0.0.4:9732', 0, NULL),
       (1, 11, 8000000000, 2, 'disconnection', NULL, 3, '10.0.0.4:9732', 0, 'closed'),
       (1, 12, 8100000000, 4, 'greylist_peer', 'idtKx', 2, '10.0.0.3:9732', 0, NULL),
       (1, 13, 2000000000, 3, 'node_started', NULL, NULL, '10.0.0.4:9732', 0, NULL),
       (1, 14, 6500000000, 3, 'node_started', NULL, NULL, '10.0.0.4:9732', 0, NULL),
       (1, 15, 3200000000, 4, 'node_started', NULL, NULL, '10.0.0.5:9732', 0, NULL),
       (2, 1, 1000000000, 0, 'connection_established', NULL, 1, '10.0.0.2:9732', 0, NULL),
       (2, 2, 2000000000, 2, 'connection_established', NULL, 0, '10.0.0.1:9732', 0, NULL),
       (2, 3, 2500000000, 2, 'new_point', NULL, 1, '10.0.0.2:9732', 0, NULL);

INSERT INTO assertions(run_id, time_ns, file, line, message, passed)
VALUES (1, 4000000000, 'scenarios/fixture.lua', 10, 'every node reaches 2 connections', 1),
       (1, 10000000000, 'scenarios/fixture.lua', 20, 'one component at the end', 1),
       (2, 2500000000, 'scenarios/fixture.lua', 10, 'every node reaches 1 connections', 0);
