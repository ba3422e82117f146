-- scenarios/bandwidth.lua — bandwidth-limited nodes: a fraction of the hosts have a
-- slow uplink/downlink; blocks propagate by Octez's flow (Current_head, then the
-- operations fetched from announcers with retries, validation, Current_head again;
-- lua/README.md "Blocks"). How much later do slow nodes get blocks?
--
-- Nodes: tidepool nodes (sim.node) on a random overlay (each node dials `degree`
-- random earlier nodes: no maintenance yet).
--
-- Parameters (--set key=value):
--   nodes       number of nodes (default 60; CI uses 30)
--   slow        fraction of slow hosts (default 0.3)
--   slow_rate   their link rate (default "2Mbit")
--   fast_rate   everyone else (default "100Mbit")
--   ops_bytes   operation bytes per block (default 100000; headers 300 bytes)
--   blocks      blocks produced (default 5)
--   degree      connections each node dials (default 3)
--
-- Results: deliveries (per block and node); samples 'block_delay_s_slow' / '_fast'.
-- Checks: every block reaches every node; slow nodes get blocks later on average.

local n          = param("nodes", 60)
local slow_frac  = param("slow", 0.3)
local slow_rate  = param("slow_rate", "2Mbit")
local fast_rate  = param("fast_rate", "100Mbit")
local ops_bytes  = param("ops_bytes", 100000)
local blocks     = param("blocks", 5)
local degree     = param("degree", 3)

sim.world{regions = 1, default_latency = {"20ms", "5ms"}}
-- Slow and fast hosts are created with their rates (so the hosts table records the
-- class), then mixed in a random order for the overlay.
local n_slow = math.floor(slow_frac * n)
local hosts, is_slow = {}, {}
for _, h in ipairs(sim.hosts{count = n_slow, up = slow_rate, down = slow_rate}) do
  hosts[#hosts + 1] = h
  is_slow[h:id()] = true
end
for _, h in ipairs(sim.hosts{count = n - n_slow, up = fast_rate, down = fast_rate}) do
  hosts[#hosts + 1] = h
end
hosts = pick(hosts, #hosts)
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
  produced[b] = {id = origin:produce_block{ops_bytes = ops_bytes}, t = now()}
  run_for("10s")
end
for b, p in ipairs(produced) do
  check(sim.block_holders(p.id) == n, ("block %d reaches every node"):format(b))
end
-- Mean delay per class (the database has the same: reports/README.md, "Delay by link
-- class").
local sum, cnt = {[true] = 0, [false] = 0}, {[true] = 0, [false] = 0}
for _, p in ipairs(produced) do
  for _, node in ipairs(nodes) do
    local d = node:block_delay(p.id)
    if d and d > 0 then
      local slow = is_slow[node:host():id()] == true
      sum[slow] = sum[slow] + d
      cnt[slow] = cnt[slow] + 1
    end
  end
end
local slow_mean = sum[true] / math.max(1, cnt[true])
local fast_mean = sum[false] / math.max(1, cnt[false])
print(("mean block delay: slow nodes %.0f ms, fast nodes %.0f ms"):format(slow_mean * 1000,
                                                                          fast_mean * 1000))
sample("block_delay_s_slow", slow_mean)
sample("block_delay_s_fast", fast_mean)
if n_slow > 0 then check(slow_mean > fast_mean, "slow links receive blocks later") end
