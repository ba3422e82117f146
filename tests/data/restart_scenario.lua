-- tests/data/restart_scenario.lua — the bootstrap CDF counts from each (re)start
-- (tests/report_metrics.test.sh): 6 tidepool nodes, node 6 created with start = false and
-- started at 10 s, host 5 crashed at 20 s and restarted at 25 s: 7 starts, each
-- bootstrapping within a second of its start.
sim.world{regions = 1}
local hosts = sim.hosts{count = 6}
local nodes = {}
for i, h in ipairs(hosts) do
  nodes[i] = sim.node(h, {trusted_points = {hosts[1], hosts[2]}, min_connections = 2,
                          expected_connections = 4, max_connections = 8, start = i ~= 6})
end
at(10, function() nodes[6]:start() end)
at(20, function() hosts[5]:crash() end)
at(25, function() hosts[5]:start() end)
run_until(40)
