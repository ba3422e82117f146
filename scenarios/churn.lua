-- scenarios/churn.lua — nodes join and leave all the time: every `interval` one running
-- node leaves (a crash or a clean stop, half and half) and one node that is down comes
-- back. Does the overlay stay in one piece?
--
-- Nodes: demo nodes by default, tidepool nodes with kind=tidepool (maintenance, swap,
-- peers.json reloaded at every restart). The two bootstrap nodes never leave.
--
-- Parameters (--set key=value):
--   nodes      number of nodes (default 100; CI uses 40)
--   interval   time between two leave/join steps (default "2s")
--   duration   total virtual time (default "180s")
--   down_max   fraction of nodes that may be down at once (default 0.2)
--   kind       "demo" (default) or "tidepool" (maintenance 4/8/12, peers.json)
--
-- Results: samples 'nodes_running', 'components', 'largest_component', 'degree_mean'
-- every second; connections closed with 'crash' / 'stopped'.

local n        = param("nodes", 100)
local interval = param("interval", "2s")
local total    = duration(param("duration", "180s"))
local down_max = param("down_max", 0.2)
local kind     = param("kind", "demo")

sim.world{regions = {"eu", "us"}, latency = {{"10ms", "60ms"}, {"60ms", "10ms"}}, jitter = "5ms"}
local hosts = sim.hosts{count = n // 2, region = "eu"}
for _, h in ipairs(sim.hosts{count = n - n // 2, region = "us"}) do hosts[#hosts + 1] = h end
local seeds = {hosts[1], hosts[#hosts]}
local nodes
if kind == "tidepool" then
  nodes = sim.nodes(hosts, {trusted_points = seeds, min_connections = 4,
                            expected_connections = 8, max_connections = 12})
else
  nodes = sim.demo_nodes(hosts, {seeds = seeds, peers_k = 4, connections_max = 4 * n})
end
sim.sample_overlay{every = "1s"}

local down = {}  -- list of nodes that are down
local leaves, joins = 0, 0
every(interval, function()
  -- one node comes back ...
  if #down > 0 and (math.random() < 0.5 or #down >= down_max * n) then
    local k = math.random(#down)
    local node = table.remove(down, k)
    node:start()
    joins = joins + 1
  end
  -- ... and one leaves (never a seed)
  if #down < down_max * n then
    local k = math.random(2, n - 1)
    local node = nodes[k]
    if node:running() then
      if math.random() < 0.5 then node:crash() else node:stop("2s") end
      down[#down + 1] = node
      leaves = leaves + 1
    end
  end
end, {stop = total - 20e9 / 1e9})

run_until(total)
local count, sizes = sim.components()
local running = #sim.degrees()
print(("%d leaves, %d joins; %d running, %d components, largest %d"):format(
  leaves, joins, running, count, sizes[1] or 0))
check(leaves > 0 and joins > 0, "churn happened")
check((sizes[1] or 0) >= 0.9 * running,
      ("the largest component holds >= 90%% of running nodes (%d of %d)"):format(sizes[1] or 0, running))
