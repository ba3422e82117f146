-- scenarios/bandwidth.lua — bandwidth-limited nodes: a fraction of the hosts have a
-- slow uplink/downlink; blocks are gossiped (announce, fetch from the first announcer,
-- re-announce). How much later do slow nodes get blocks?
--
-- Nodes: tidepool nodes (sim.node) on a random overlay (each node dials `degree`
-- random earlier nodes: no maintenance yet).
--
-- Parameters (--set key=value):
--   nodes       number of nodes (default 60; CI uses 30)
--   slow        fraction of slow hosts (default 0.3)
--   slow_rate   their link rate (default "2Mbit")
--   fast_rate   everyone else (default "100Mbit")
--   block_size  bytes per block (default 100000)
--   blocks      blocks produced (default 5)
--   degree      connections each node dials (default 3)
--
-- Results: deliveries (per block and node); samples 'block_delay_s_slow' / '_fast'.

local n          = param("nodes", 60)
local slow_frac  = param("slow", 0.3)
local slow_rate  = param("slow_rate", "2Mbit")
local fast_rate  = param("fast_rate", "100Mbit")
local block_size = param("block_size", 100000)
local blocks     = param("blocks", 5)
local degree     = param("degree", 3)

sim.world{regions = 1, default_latency = {"20ms", "5ms"}}
local hosts = sim.hosts{count = n, up = fast_rate, down = fast_rate}
local is_slow = {}
for _, h in ipairs(pick(hosts, math.floor(slow_frac * n))) do
  h:set_bandwidth(slow_rate, slow_rate)
  is_slow[h:id()] = true
end
local nodes = {}
for i, h in ipairs(hosts) do
  local dial = {}
  if i > 1 then
    for _, p in ipairs(pick({table.unpack(hosts, 1, i - 1)}, math.min(degree, i - 1))) do
      dial[#dial + 1] = p
    end
  end
  nodes[i] = sim.node(h, {connect = dial, max_connections = 100, expected_connections = 20,
                          min_connections = 1})
end
run_for("5s")
check(sim.components() == 1, "the overlay is connected")

-- Blocks from fast nodes, 10 s apart; record each node's delay per class.
local produced = {}
for b = 1, blocks do
  local origin
  repeat origin = nodes[math.random(n)] until not is_slow[origin:host():id()]
  produced[b] = {id = origin:produce_block{size = block_size}, t = now()}
  run_for("10s")
end
for b, p in ipairs(produced) do
  check(sim.block_holders(p.id) == n, ("block %d reaches every node"):format(b))
end
print("see: SELECT ... FROM deliveries JOIN hosts (reports/README.md) for delays by class")
