-- scenarios/crash_restart.lua — crash a fraction of the nodes at once and restart them
-- a little later with their disk: they reload peers.json and find their way back into
-- the overlay. A part of the crashed nodes also lose their disk (no peers.json: they
-- start again from the trusted bootstrap points only).
--
-- Nodes: tidepool nodes (sim.node) with maintenance, swap and the peers file (saved
-- every `save_interval`; the simulated disk survives a crash, and writes younger than
-- the world's disk_sync_delay are lost with it). kind=demo runs demo nodes instead (no
-- peers file: they rejoin through their seeds).
--
-- Parameters (--set key=value):
--   nodes          number of nodes (default 100; CI uses 40)
--   kind           "tidepool" (default) or "demo"
--   fraction       fraction crashed (default 0.2)
--   wiped          fraction of the crashed nodes whose disk is wiped (default 0.25)
--   crash_at       when (default "60s")
--   down_for       how long they stay down (default "20s")
--   settle         time after the restart before the checks (default "40s")
--   save_interval  peers.json save period (default "10s")
--
-- Blocks (tidepool nodes): one every 5 s from a random running node, also while the
-- victims are down; a restarted node keeps the blocks it had validated (Octez's store)
-- and catches up through the Current_head answers of its new connections (lua/README.md
-- "Blocks").
--
-- Checks: every restarted node reaches min connections again; the overlay is one
-- component; restarted nodes that kept their disk loaded peers from peers.json, wiped
-- ones loaded none; (tidepool) every node's head is the last block, including every
-- restarted node.

local n          = param("nodes", 100)
local kind       = param("kind", "tidepool")
local fraction   = param("fraction", 0.2)
local wiped_frac = param("wiped", 0.25)
local crash_at   = duration(param("crash_at", "60s"))
local down_for   = duration(param("down_for", "20s"))
local settle     = duration(param("settle", "40s"))
local save_every = param("save_interval", "10s")
local min_conn   = 4

sim.world{regions = {"eu", "us"}, latency = {{"10ms", "60ms"}, {"60ms", "10ms"}},
          jitter = "5ms", disk_sync_delay = "1s"}
local hosts = sim.hosts{count = n // 2, region = "eu"}
for _, h in ipairs(sim.hosts{count = n - n // 2, region = "us"}) do hosts[#hosts + 1] = h end
local seeds = {hosts[1], hosts[2], hosts[#hosts]}
local nodes
if kind == "tidepool" then
  nodes = sim.nodes(hosts, {trusted_points = seeds, min_connections = min_conn,
                            expected_connections = 8, max_connections = 12,
                            peers_save_interval = save_every})
else
  nodes = sim.demo_nodes(hosts, {seeds = seeds, peers_k = min_conn, connections_max = 4 * n})
end
sim.sample_overlay{every = "1s"}

local last_block
if kind == "tidepool" then
  every("5s", function()
    local up = {}
    for _, x in ipairs(nodes) do if x:running() then up[#up + 1] = x end end
    last_block = up[math.random(#up)]:produce_block{ops_bytes = 20000}
  end, {start = "5s"})
end

run_until(crash_at)
check(sim.components() == 1, "one component before the crash")
local candidates = {}
for i = 4, n - 1 do candidates[#candidates + 1] = nodes[i] end
local victims = pick(candidates, math.floor(fraction * n))
local wiped = {}
for i, v in ipairs(victims) do
  v:crash()
  if i <= math.floor(wiped_frac * #victims) then
    v:wipe_disk()
    wiped[v:id()] = true
  end
end
local n_wiped = 0
for _ in pairs(wiped) do n_wiped = n_wiped + 1 end
print(("%d nodes crashed, %d of them lost their disk"):format(#victims, n_wiped))
check(#sim.degrees() == n - #victims, "crashed nodes are down")

run_for(down_for)
for _, v in ipairs(victims) do v:start() end
run_for(settle)
local back, from_file, wiped_loaded = 0, 0, 0
for _, v in ipairs(victims) do
  if v:running() and v:degree() >= min_conn then back = back + 1 end
  if kind == "tidepool" then
    local loaded = v:stat().peers_loaded
    if wiped[v:id()] then
      wiped_loaded = wiped_loaded + loaded
    elseif loaded > 0 then
      from_file = from_file + 1
    end
  end
end
print(("%d of %d restarted nodes have >= %d connections; %d reloaded peers.json"):format(
  back, #victims, min_conn, from_file))
check(back == #victims, "every restarted node reconnects")
check(sim.components() == 1, "one component after the restarts")
if kind == "tidepool" then
  local kept = 0
  for _, v in ipairs(victims) do if not wiped[v:id()] then kept = kept + 1 end end
  check(from_file == kept, ("every restarted node with its disk reloaded peers.json (%d of %d)"):format(
    from_file, kept))
  check(wiped_loaded == 0, "nodes with a wiped disk load no peers")
  -- the last block is at most 5 s old: give it 3 s more to settle before counting
  run_for("3s")
  local behind, victims_behind = 0, 0
  for _, x in ipairs(nodes) do if x:head() ~= last_block then behind = behind + 1 end end
  for _, v in ipairs(victims) do if v:head() ~= last_block then victims_behind = victims_behind + 1 end end
  print(("head: %d nodes behind the last block (%d of them restarted)"):format(behind, victims_behind))
  check(behind == 0, ("every node's head is the last block (%d behind, %d of them restarted)"):format(
    behind, victims_behind))
end
