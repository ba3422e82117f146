-- scenarios/bootstrap.lua — N nodes bootstrap from 3 bootstrap points over a 4-region
-- latency model; how long until every node has >= min connections, what does the
-- degree distribution look like, how many overlay components over time?
--
-- Today the nodes are demo nodes (sim.demo_node, demo/README.md): K outgoing
-- connections, point gossip, ping flooding; a "connection" is an established stream.
-- TODO(issue 4/5): switch `kind = "tidepool"` to sim.node{...} with Octez's
-- min/expected/max (10/50/100) once core/node.h and maintenance land.
--
-- Parameters (--set key=value):
--   nodes        number of nodes (default 100; CI uses 40)
--   duration     virtual run time (default "60s")
--   min_conn     connections a node must reach to count as bootstrapped (default 4)
--   peers_k      demo: outgoing connections each node keeps (default 4)
--   pings        demo: pings flooded from the last node (propagation; default 5)
--   connections_max  demo: connections a node accepts (default 2 * nodes + 16)
--
-- Results (reports/README.md): connections (time to min connections CDF, final degree
-- distribution), samples 'components' / 'degree_mean' every second, deliveries
-- (ping propagation percentiles).

local nodes    = param("nodes", 100)
local duration = param("duration", "60s")
local min_conn = param("min_conn", 4)
local peers_k  = param("peers_k", 4)
local pings    = param("pings", 5)
-- demo: connections a node accepts in total; the demo never drops a connection to make
-- room, so the bootstrap nodes must accept everyone (0 = 2 * nodes + 16)
local conn_max = param("connections_max", 0)
if conn_max == 0 then conn_max = 2 * nodes + 16 end

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

-- Bootstrap nodes first, the rest join over the first 10 s (staggered, random order).
for _, h in ipairs(bootstrap) do
  sim.demo_node(h, {seeds = bootstrap, peers_k = peers_k, connections_max = conn_max})
end
local is_bootstrap = {}
for _, h in ipairs(bootstrap) do is_bootstrap[h:id()] = true end
local joiners = {}
for _, h in ipairs(hosts) do
  if not is_bootstrap[h:id()] then joiners[#joiners + 1] = h end
end
joiners = pick(joiners, #joiners) -- shuffled with the run's seeded math.random
for i, h in ipairs(joiners) do
  local last = (i == #joiners)
  at(10 * i / #joiners, function()
    sim.demo_node(h, {seeds = bootstrap, peers_k = peers_k, connections_max = conn_max,
                      originate = last, pings = pings, ping_interval = "1s",
                      ping_start_delay = "5s"})
  end)
end

sim.sample_overlay{every = "1s"}

-- Run until every node has min_conn connections (checked each virtual second) ...
local all_bootstrapped = function()
  if #sim.all_nodes() < nodes then return false end
  for _, d in ipairs(sim.degrees()) do
    if d < min_conn then return false end
  end
  return true
end
local ok = run_until(all_bootstrapped, duration, "1s")
check(ok, ("every node reaches %d connections within %s"):format(min_conn, duration))
print(("bootstrapped at %.1f s"):format(now()))
sample("bootstrap_time_s", now())

-- ... then let the pings flood and the overlay settle.
run_until(duration)
local count, sizes = sim.components()
check(count == 1, ("the overlay is one component (got %d: largest %d)"):format(count, sizes[1] or 0))
local origin_stats = sim.all_nodes()[1]:stats()
local complete = 0
for _, n in ipairs(sim.all_nodes()) do
  if n:stats().pings_unique == pings then complete = complete + 1 end
end
print(("%d of %d nodes got all %d pings; components %d"):format(complete, nodes, pings, count))
check(complete >= nodes - 1, "every node but the origin receives every ping")
