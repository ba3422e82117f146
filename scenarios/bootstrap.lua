-- scenarios/bootstrap.lua — N nodes bootstrap from 3 trusted bootstrap points over a
-- 4-region latency model (the default scenario). How long until every node has
-- >= min connections, what does the degree distribution look like, how many overlay
-- components over time, and how fast does a block then reach 99 % of the nodes?
-- Blocks follow Octez's flow (lua/README.md, "Blocks"): the producer advertises its new
-- head (Current_head), peers fetch the operations (and missing headers) with retries,
-- validate, and advertise in turn.
--
-- Nodes: tidepool nodes (sim.node: core/node.h with the maintenance and swap workers)
-- with Octez's min/expected/max = 10/50/100 by default; the 3 bootstrap nodes start
-- first, the others join over the first 10 s in a random order, each knowing only the
-- 3 bootstrap points (as trusted points, like Octez's --peer). With kind=demo the demo
-- flooding protocol runs instead (K outgoing connections, pings instead of blocks).
--
-- Parameters (--set key=value):
--   nodes        number of nodes (default 100; CI uses 40)
--   kind         "tidepool" (default) or "demo"
--   min, expected, max   connection thresholds (default 10 / 50 / 100; demo: K = min)
--   duration     virtual run time (default "60s")
--   blocks       blocks produced after the bootstrap, 2 s apart (default 5)
--   ops_bytes    operation bytes per block (default 20000; headers are 300 bytes)
--
-- Checks: every node reaches `min` connections before `duration`; the overlay is one
-- component at the end; every block (ping) reaches every node, and every node's head is
-- the last block.
--
-- Results (reports/README.md): connections (time-to-min CDF, final degree
-- distribution), samples 'components' etc. every second, deliveries (propagation
-- percentiles), sample 'bootstrap_time_s'.

local nodes      = param("nodes", 100)
local kind       = param("kind", "tidepool")
local min_conn   = param("min", 10)
local expected   = param("expected", 50)
local max_conn   = param("max", 100)
local total      = duration(param("duration", "60s"))
local blocks     = param("blocks", 5)
local ops_bytes  = param("ops_bytes", 20000)
if kind ~= "tidepool" and kind ~= "demo" then
  fail("--set kind=" .. kind .. ": expected tidepool or demo")
end

-- Four regions, one-way latency base + jitter (a rough EU / US-East / US-West / Asia).
sim.world{
  regions = {"eu", "us_east", "us_west", "asia"},
  jitter = "5ms",
  latency = {
    --  eu       us_east  us_west  asia
    {  "10ms",  "45ms",  "75ms", "110ms" },  -- from eu
    {  "45ms",  "10ms",  "35ms", "90ms"  },  -- from us_east
    {  "75ms",  "35ms",  "10ms", "60ms"  },  -- from us_west
    { "110ms",  "90ms",  "60ms", "15ms"  },  -- from asia
  },
}

-- Hosts spread evenly over the regions; the first host of each of three regions is a
-- bootstrap point.
local hosts = {}
local per_region = nodes // 4
for r = 1, 4 do
  local count = (r == 4) and (nodes - 3 * per_region) or per_region
  for _, h in ipairs(sim.hosts{count = count, region = r, up = "100Mbit", down = "100Mbit"}) do
    hosts[#hosts + 1] = h
  end
end
local bootstrap = {hosts[1], hosts[per_region + 1], hosts[2 * per_region + 1]}

local function start_node(h, last)
  if kind == "tidepool" then
    return sim.node(h, {trusted_points = bootstrap, min_connections = min_conn,
                        expected_connections = expected, max_connections = max_conn})
  end
  return sim.demo_node(h, {seeds = bootstrap, peers_k = min_conn,
                           connections_max = 2 * nodes + 16, originate = last,
                           pings = blocks, ping_interval = "2s", ping_start_delay = "2s"})
end

-- Bootstrap nodes first, the rest join over the first 10 s (staggered, random order).
local is_bootstrap = {}
for _, h in ipairs(bootstrap) do
  start_node(h, false)
  is_bootstrap[h:id()] = true
end
local joiners = {}
for _, h in ipairs(hosts) do
  if not is_bootstrap[h:id()] then joiners[#joiners + 1] = h end
end
joiners = pick(joiners, #joiners) -- shuffled with the run's seeded math.random
for i, h in ipairs(joiners) do
  at(10 * i / #joiners, function() start_node(h, i == #joiners) end)
end

sim.sample_overlay{every = "1s"}

-- Run until every node has min connections (checked each virtual second).
local function all_bootstrapped()
  if #sim.all_nodes() < nodes then return false end
  for _, d in ipairs(sim.degrees()) do
    if d < min_conn then return false end
  end
  return true
end
local ok = run_until(all_bootstrapped, total, "1s")
check(ok, ("every node reaches %d connections within %.0f s"):format(min_conn, total))
sample("bootstrap_time_s", now())
print(("bootstrapped at %.1f s"):format(now()))

-- Propagation: blocks from random nodes, 2 s apart (demo: the last joiner's pings).
local produced = {}
if kind == "tidepool" and ok then
  local all = sim.all_nodes()
  for b = 1, blocks do
    produced[b] = all[math.random(#all)]:produce_block{ops_bytes = ops_bytes}
    run_for("2s")
  end
end

run_until(math.max(total, now()))
local count, sizes = sim.components()
check(count == 1, ("the overlay is one component (got %d: largest %d)"):format(count, sizes[1] or 0))
local degrees = sim.degrees()
table.sort(degrees)
print(("degree min %d, median %d, max %d; components %d"):format(
  degrees[1] or 0, degrees[(#degrees + 1) // 2] or 0, degrees[#degrees] or 0, count))
if kind == "tidepool" then
  for b, id in ipairs(produced) do
    check(sim.block_holders(id) == nodes, ("block %d reaches every node (%d of %d)"):format(
      b, sim.block_holders(id), nodes))
  end
  if #produced > 0 then
    local last, behind = produced[#produced], 0
    for _, n in ipairs(sim.all_nodes()) do
      if n:head() ~= last then behind = behind + 1 end
    end
    check(behind == 0, ("every node's head is the last block (%d behind)"):format(behind))
    -- per block: time to 50 / 90 / 99 / 100 % of the nodes, bytes received about it
    for b, id in ipairs(produced) do
      local d = {}
      for _, n in ipairs(sim.all_nodes()) do d[#d + 1] = n:block_delay(id) end
      table.sort(d)
      local function t(p) return (d[math.max(1, math.ceil(p * #d))] or 0) * 1000 end
      local info = sim.block(id)
      print(("block %d: 50%% %.0f ms, 90%% %.0f ms, 99%% %.0f ms, 100%% %.0f ms; "
             .. "kB useful %.0f, duplicate %.0f, requests %.1f"):format(b, t(0.5), t(0.9),
             t(0.99), t(1), info.bytes_useful / 1e3, info.bytes_duplicate / 1e3,
             info.bytes_requests / 1e3))
    end
  end
else
  local complete = 0
  for _, n in ipairs(sim.all_nodes()) do
    if n:stats().pings_unique == blocks then complete = complete + 1 end
  end
  check(complete >= nodes - 1, "every node but the origin receives every ping")
end
