-- scenarios/slot_exhaustion.lua — one host holds a node's pending-handshake slots.
-- An attacker opens `silent` TCP connections to the victim and says nothing (hostile
-- behaviour "stall"), reopening each one 1 ms after the victim closes it (its 5 s
-- authentication timeout). Octez bounds pending incoming handshakes only in total
-- (max_incoming_connections = 20, spec §7.1), so with 20 silent sockets from ONE IP an
-- honest newcomer's handshake finds every slot taken almost all the time. Honest nodes
-- join one by one over `join` seconds, each dialing the victim once; the figure is how
-- many of them the victim admits.
--
-- Parameters (--set key=value):
--   per_ip    the victim's max_pending_incoming_per_ip: 0 = Octez's behaviour (the
--             default), N = a tidepool option capping one IP's pending handshakes at N
--   greylist  the victim's greylist_ip_after_timeouts: 0 = Octez's behaviour (the
--             default), N = a tidepool option greylisting an IP after N timed-out
--             incoming handshakes
--   silent    the attacker's silent connections (default 20)
--   honest    honest newcomers (default 30)
--   join      the window over which they arrive, in seconds (default 30)
--
-- Results: samples 'honest_admitted' every second; printed: admitted of honest, and the
-- attacker's attempts. Checks: the attacker never authenticates; with per_ip > 0 every
-- honest newcomer is admitted; with greylist > 0 the attacker's IP is greylisted.

local per_ip   = param("per_ip", 0)
local greylist = param("greylist", 0)
local silent   = param("silent", 20)
local honest_n = param("honest", 30)
local window   = param("join", 30)

sim.world{regions = 1}
local victim_host = sim.host{ip = "192.0.2.1"}
local victim = sim.node(victim_host, {pow_difficulty = 8, identity_difficulty = 8,
                                      max_connections = 100, expected_connections = 50,
                                      min_connections = 1,
                                      max_pending_incoming_per_ip = per_ip,
                                      greylist_ip_after_timeouts = greylist})
local attacker_host = sim.host{ip = "203.0.113.66"}
local attacker
at("1s", function()
  attacker = sim.hostile(attacker_host, {behaviour = "stall", target = victim_host,
                                         connections = silent, retry = "1ms"})
end)

local hosts = sim.hosts{count = honest_n}
local honest = {}
for i, h in ipairs(hosts) do
  -- evenly spread over the window, starting at 2 s (after the attack began)
  local t = 2 + (i - 1) * window / honest_n
  at(t, function()
    honest[i] = sim.node(h, {pow_difficulty = 8, identity_difficulty = 8,
                             connect = {victim_host}, maintenance_idle_time = 0})
  end)
end

local function admitted()
  local set = {}
  for _, c in ipairs(victim:connections()) do
    if c.peer_host then set[c.peer_host:id()] = true end
  end
  local k = 0
  for _, h in ipairs(hosts) do if set[h:id()] then k = k + 1 end end
  return k
end
every("1s", function() sample("honest_admitted", admitted()) end)

run_until(2 + window + 10)
local a = admitted()
local st = attacker:hostile_stats()
print(("per_ip %d, greylist %d: %d of %d honest newcomers admitted (%.0f %%); attacker: %d connection "
       .. "attempts, %d closed by the victim"):format(per_ip, greylist, a, honest_n, 100 * a / honest_n,
       st.attempts or -1, st.closes or -1))
check(st.handshakes == 0, "the silent attacker never authenticates")
if greylist > 0 then
  check((sim.events().greylist_ip or 0) > 0, ("with greylist_ip_after_timeouts = %d the "
                                            .. "attacker's IP is greylisted"):format(greylist))
end
if per_ip > 0 then
  check(a == honest_n, ("with max_pending_incoming_per_ip = %d every honest newcomer is "
                        .. "admitted (%d of %d)"):format(per_ip, a, honest_n))
end
