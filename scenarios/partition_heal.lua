-- scenarios/partition_heal.lua — partition the network in two (regions eu+us_east vs
-- us_west+asia) for a while, then heal it: does the overlay split, and does it merge
-- again after the heal?
--
-- Nodes: demo nodes by default (sim.demo_node; they keep redialing random known
-- points). Streams across the cut stall and die by keepalive / the TCP user timeout,
-- so a partition shorter than about a minute may not split the overlay at all.
-- With kind=tidepool (maintenance 4/8/12) the checks fail in the runs we made (seed 1,
-- 80 nodes): the two seeds fill up at once (max 12) and the overlay forms as two
-- components before any cut; after a cut and heal, nodes back between min and max do
-- not dial across. Findings about Octez-like maintenance with tiny thresholds, kept
-- visible here rather than tuned away. (Before issue 17, seeds 1 and 2 of 1-5 failed
-- with kind=tidepool; with its block workload — blocks during the cut, Get_current_head
-- on every connection — seeds 1-5 pass; not studied further.)
--
-- Parameters (--set key=value):
--   nodes          number of nodes (default 80; CI uses 40)
--   partition_at   when the cut starts (default "20s")
--   partition_for  how long it lasts (default "90s"; idle streams across the cut die
--                  by keepalive after about 55 s, so keep it above a minute)
--   settle         time after the heal before the final check (default "60s")
--   peers_k        outgoing connections per node (default 4; tidepool: min, 2x
--                  expected, 3x max)
--   kind           "demo" (default) or "tidepool"
--
-- Blocks (kind=tidepool): one block before the cut, then one every 10 s on side A during
-- it; once the overlay has merged, every node of side B must reach side A's head
-- (Get_current_head on the new connections, then the missing headers and operations;
-- lua/README.md "Blocks"): checked within 10 s of the merge.
--
-- Results: samples 'components', 'largest_component' every second (the split and the
-- merge over time); connections closed with reason 'timeout' during the cut; sample
-- 'head_catch_up_s' (tidepool).

local nodes         = param("nodes", 80)
local partition_at  = duration(param("partition_at", "20s"))
local partition_for = duration(param("partition_for", "90s"))
local settle        = duration(param("settle", "60s"))
local peers_k       = param("peers_k", 4)
local kind          = param("kind", "demo")

sim.world{
  regions = {"eu", "us_east", "us_west", "asia"},
  jitter = "5ms",
  latency = {
    {  "10ms",  "45ms",  "75ms", "110ms" },
    {  "45ms",  "10ms",  "35ms", "90ms"  },
    {  "75ms",  "35ms",  "10ms", "60ms"  },
    { "110ms",  "90ms",  "60ms", "15ms"  },
  },
}

local side_a, side_b, all = {}, {}, {}
for r = 1, 4 do
  for _, h in ipairs(sim.hosts{count = nodes // 4, region = r}) do
    all[#all + 1] = h
    if r <= 2 then side_a[#side_a + 1] = h else side_b[#side_b + 1] = h end
  end
end
-- One seed on each side, so both sides can re-form on their own.
local seeds = {side_a[1], side_b[1]}
if kind == "tidepool" then
  sim.nodes(all, {trusted_points = seeds, min_connections = peers_k,
                  expected_connections = 2 * peers_k, max_connections = 3 * peers_k})
else
  sim.demo_nodes(all, {seeds = seeds, peers_k = peers_k, connections_max = 4 * nodes})
end
sim.sample_overlay{every = "1s"}

run_until(partition_at)
check(sim.components() == 1, "one component before the partition")
local by_host = {}
for _, x in ipairs(sim.all_nodes()) do by_host[x:id()] = x end
local last_block
if kind == "tidepool" then last_block = by_host[side_a[1]:id()]:produce_block{} end
local cut = sim.partition(side_a, side_b)
print("partition", #side_a, "vs", #side_b)
if kind == "tidepool" then
  for k = 1, math.floor((partition_for - 1) / 10) do
    at(partition_at + 10 * k, function()
      last_block = by_host[side_a[1 + k % #side_a]:id()]:produce_block{}
    end)
  end
end
run_for(partition_for)
local during = sim.components()
print("components during the partition:", during)
check(during >= 2, ("the cut splits the overlay (components %d)"):format(during))
check(not sim.reachable(side_a[1], side_b[1]), "sides unreachable during the cut")

cut:heal()
print("healed")
local merged = run_until(function() return sim.components() == 1 end,
                         partition_at + partition_for + settle, "1s")
check(merged, "the overlay is one component again after the heal")
sample("merge_time_s", now() - (partition_at + partition_for))
print(("merged %.1f s after the heal"):format(now() - (partition_at + partition_for)))
if kind == "tidepool" and merged then
  local t0 = now()
  local caught = run_until(function()
    for _, h in ipairs(side_b) do if by_host[h:id()]:head() ~= last_block then return false end end
    return true
  end, t0 + 10, "100ms")
  check(caught, "every node of side B reaches side A's head within 10 s of the merge")
  sample("head_catch_up_s", now() - t0)
  print(("side B at side A's head %.1f s after the merge"):format(now() - t0))
end
