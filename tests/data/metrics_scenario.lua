-- tests/data/metrics_scenario.lua — custom metrics for tests/report_metrics.test.sh: 8
-- demo nodes in two regions; a global metric 'share' declared as summarised by its max
-- (unit "fraction"), a per-node metric 'degree_at_2' declared as the time until it
-- reaches 2, and an undeclared global metric 'last_t' (summarised by its last value).
sim.world{ regions = {"west", "east"}, latency = { {"5ms", "40ms"}, {"40ms", "5ms"} } }
local hosts = {}
for r = 1, 2 do
  for _, h in ipairs(sim.hosts{count = 4, region = r}) do hosts[#hosts + 1] = h end
end
local seeds = {hosts[1], hosts[#hosts]}
for _, h in ipairs(hosts) do sim.demo_node(h, {seeds = seeds, peers_k = 2}) end
metric("share", {summary = "max", unit = "fraction"})
metric("degree_at_2", {summary = "time_to", threshold = 2})
for t = 1, 5 do
  run_until(t)
  sample("share", (t % 3) / 10)         -- 0.1 0.2 0 0.1 0.2: max 0.2, last 0.2
  sample("last_t", t)
  local d = sim.degrees()
  for i, h in ipairs(hosts) do sample("degree_at_2", d[i] or 0, h) end
end
