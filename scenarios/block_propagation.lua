-- scenarios/block_propagation.lua — how fast does a block reach 99 % of the nodes?
-- Tidepool nodes on a random overlay over 4 regions propagate blocks by Octez's flow
-- (Current_head, operations fetched from announcers, validation, Current_head again;
-- lua/README.md "Blocks"); p50 / p99 of the time for a
-- block to reach 99 % of nodes are computed here and from the database
-- (reports/README.md, "Propagation percentiles").
--
-- Nodes: tidepool nodes (sim.node): each dials `degree` random earlier nodes (no
-- maintenance yet; TODO(issue 5): let maintenance build the overlay instead).
--
-- Parameters (--set key=value):
--   nodes       number of nodes (default 200; CI uses 40)
--   degree      connections each node dials (default 4)
--   blocks      blocks produced (default 20; CI uses 5)
--   ops_bytes   operation bytes per block (default 50000; headers 300 bytes)
--   interval    between blocks (default "5s")

local n          = param("nodes", 200)
local degree     = param("degree", 4)
local blocks     = param("blocks", 20)
local ops_bytes  = param("ops_bytes", 50000)
local interval   = param("interval", "5s")

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
local hosts = {}
for i = 1, n do
  hosts[i] = sim.hosts{count = 1, region = (i - 1) % 4 + 1, up = "50Mbit", down = "100Mbit"}[1]
end
local nodes = {}
for i, h in ipairs(hosts) do
  local dial = {}
  if i > 1 then dial = pick({table.unpack(hosts, 1, i - 1)}, math.min(degree, i - 1)) end
  nodes[i] = sim.node(h, {connect = dial, max_connections = 200, expected_connections = 50,
                          min_connections = 1})
end
run_for("5s")
check(sim.components() == 1, "the overlay is connected")

-- Produce blocks and measure, for each, the time until 99 % of nodes have it.
local target = math.ceil(0.99 * n)
local times = {}
for b = 1, blocks do
  local origin = nodes[math.random(n)]
  local id = origin:produce_block{ops_bytes = ops_bytes}
  local t0 = now()
  local reached = run_until(function() return sim.block_holders(id) >= target end,
                            t0 + duration(interval), "10ms")
  check(reached, ("block %d reaches 99%% of nodes within %s"):format(b, interval))
  times[#times + 1] = now() - t0
  sample("block_t99_s", now() - t0)
  run_until(t0 + duration(interval))
end
table.sort(times)
local function pct(p) return times[math.max(1, math.ceil(p * #times))] end
print(("time to 99%% of nodes: p50 %.0f ms, p99 %.0f ms (%d blocks, 10 ms resolution)"):format(
  pct(0.5) * 1000, pct(0.99) * 1000, #times))
sample("block_t99_p50_s", pct(0.5))
sample("block_t99_p99_s", pct(0.99))
