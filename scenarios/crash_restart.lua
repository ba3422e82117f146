-- scenarios/crash_restart.lua — crash a fraction of the nodes at once, restart them a
-- little later: do they find their way back into the overlay?
--
-- Nodes: demo nodes (they rejoin through their seeds).
-- TODO(issue 5): with sim.node, restarts reload peers.json from the host's disk (the
-- simulated disk survives a crash; sim.world{disk_sync_delay = ...} models lost
-- writes) — then check that restarted nodes reconnect to known peers, not only seeds.
--
-- Parameters (--set key=value):
--   nodes       number of nodes (default 100; CI uses 40)
--   fraction    fraction crashed (default 0.2)
--   crash_at    when (default "30s")
--   down_for    how long they stay down (default "20s")
--   settle      time after the restart before the checks (default "30s")

local n        = param("nodes", 100)
local fraction = param("fraction", 0.2)
local crash_at = duration(param("crash_at", "30s"))
local down_for = duration(param("down_for", "20s"))
local settle   = duration(param("settle", "30s"))

sim.world{regions = 1, disk_sync_delay = "1s"}
local hosts = sim.hosts{count = n}
local seeds = {hosts[1], hosts[2], hosts[3]}
local nodes = sim.demo_nodes(hosts, {seeds = seeds, peers_k = 4, connections_max = 4 * n})
sim.sample_overlay{every = "1s"}

run_until(crash_at)
local victims = {}
for i = 4, n do victims[#victims + 1] = nodes[i] end
victims = pick(victims, math.floor(fraction * n))
for _, v in ipairs(victims) do v:crash() end
print(#victims .. " nodes crashed")
check(#sim.degrees() == n - #victims, "crashed nodes are down")

run_for(down_for)
for _, v in ipairs(victims) do v:start() end
run_for(settle)
local back = 0
for _, v in ipairs(victims) do
  if v:running() and v:degree() >= 4 then back = back + 1 end
end
print(("%d of %d restarted nodes have >= 4 connections"):format(back, #victims))
check(back == #victims, "every restarted node reconnects")
check(sim.components() == 1, "one component after the restarts")
