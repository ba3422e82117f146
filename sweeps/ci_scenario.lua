-- sweeps/ci_scenario.lua — a small, fast scenario for the sweep tests (and a template
-- for sweep-friendly scenarios): N demo nodes join from 2 seed nodes over a 2-region
-- latency model; records when every node has `min_conn` connections.
--
-- Kept here rather than in scenarios/ so the sweep tests do not move when the
-- user-facing scenarios grow. Parameters (--set key=value):
--   nodes     number of nodes (default 30)
--   peers_k   demo: outgoing connections each node keeps (default 3)
--   min_conn  connections that count as bootstrapped (default 2)
--   duration  virtual run time (default "20s")
-- Samples: 'bootstrap_time_s' (global), 'components' every second.

local nodes    = param("nodes", 30)
local peers_k  = param("peers_k", 3)
local min_conn = param("min_conn", 2)
local total    = duration(param("duration", "20s"))

sim.world{
  regions = {"west", "east"},
  jitter = "2ms",
  latency = { {"5ms", "40ms"}, {"40ms", "5ms"} },
}
local hosts = {}
for r = 1, 2 do
  local count = (r == 1) and (nodes // 2) or (nodes - nodes // 2)
  for _, h in ipairs(sim.hosts{count = count, region = r}) do hosts[#hosts + 1] = h end
end
local seeds = {hosts[1], hosts[#hosts]}
for _, h in ipairs(seeds) do
  sim.demo_node(h, {seeds = seeds, peers_k = peers_k, connections_max = 2 * nodes + 16})
end
for i = 2, #hosts - 1 do
  local h = hosts[i]
  at(5 * math.random(), function()
    sim.demo_node(h, {seeds = seeds, peers_k = peers_k, connections_max = 2 * nodes + 16})
  end)
end
sim.sample_overlay{every = "1s"}

local function all_bootstrapped()
  if #sim.all_nodes() < nodes then return false end
  for _, d in ipairs(sim.degrees()) do
    if d < min_conn then return false end
  end
  return true
end
local ok = run_until(all_bootstrapped, total, "250ms")
check(ok, ("every node reaches %d connections within %.0f s"):format(min_conn, total))
sample("bootstrap_time_s", now())
run_until(math.max(total, now()))
