-- tests/data/parallel_mix.lua — the workload of tests/parallel_runs.test.sh: everything
-- a parallel run must keep identical at any thread count (issue 21). Tidepool nodes in
-- three regions with blocks, hostile peers against one victim, a partition and its
-- heal, crashes and restarts (one with its disk wiped), Lua callbacks (at, every,
-- run_until with a condition), overlay samples and checks.
--
-- Parameters: nodes (default 30), duration (default "60s").

local n     = param("nodes", 30)
local total = duration(param("duration", "60s"))

sim.world{regions = {"eu", "us", "asia"}, jitter = "4ms",
          latency = {{"8ms", "40ms", "90ms"}, {"40ms", "9ms", "70ms"}, {"90ms", "70ms", "12ms"}},
          disk_sync_delay = "500ms"}
local hosts = {}
for r = 1, 3 do
  for _, h in ipairs(sim.hosts{count = n // 3, region = r}) do hosts[#hosts + 1] = h end
end
local seeds = {hosts[1], hosts[n // 3 + 1], hosts[#hosts]}
local nodes = sim.nodes(hosts, {trusted_points = seeds, min_connections = 3,
                                expected_connections = 6, max_connections = 9,
                                pow_difficulty = 4, identity_difficulty = 4,
                                peers_save_interval = "5s"})
sim.sample_overlay{every = "1s"}

local behaviours = {"stall", "garbage", "big_prefix", "advertise_flood"}
local hostile = {}
at("3s", function()
  for i, b in ipairs(behaviours) do
    hostile[b] = sim.hostile(sim.host{ip = "203.0.113." .. (10 + i), region = 1 + i % 3},
                             {behaviour = b, target = hosts[2],
                                                            connections = 2,
                                                            identity_difficulty = 4})
  end
end)

local produced = 0
every("4s", function()
  local up = {}
  for _, x in ipairs(nodes) do if x:running() then up[#up + 1] = x end end
  up[math.random(#up)]:produce_block{ops_bytes = 5000 + math.random(20000)}
  produced = produced + 1
end, {start = "2s"})

every("2s", function()
  local deg = 0
  for _, x in ipairs(nodes) do if x:running() then deg = deg + x:degree() end end
  sample("total_degree", deg)
end)

local connected = run_until(function() return sim.components() == 1 end, "20s", "250ms")
check(connected, "one component before the faults")

local side_a, side_b = {}, {}
for i, h in ipairs(hosts) do
  if i <= n // 2 then side_a[#side_a + 1] = h else side_b[#side_b + 1] = h end
end
local cut
after("2s", function() cut = sim.partition(side_a, side_b) end)
after("12s", function() cut:heal() end)
local victims = {nodes[5], nodes[n // 2 + 3], nodes[n - 2]}
after("5s", function()
  for i, v in ipairs(victims) do
    v:crash()
    if i == 1 then v:wipe_disk() end
  end
end)
after("15s", function() for _, v in ipairs(victims) do v:start() end end)

run_until(total)
check(produced >= 3, ("blocks were produced (%d)"):format(produced))
local back = 0
for _, v in ipairs(victims) do if v:running() and v:degree() >= 1 then back = back + 1 end end
check(back == #victims, ("the crashed nodes came back (%d of %d)"):format(back, #victims))
print(("components %d, blocks %d"):format(sim.components(), produced))
