-- tests/data/roles_scenario.lua — roles for tests/report_metrics.test.sh: 4 tidepool nodes
-- without a role (role "node"), 2 with role = "attacker", 2 demo nodes with role =
-- "observer" (which never connect to the tidepool nodes: different protocols).
sim.world{regions = 1}
local hosts = sim.hosts{count = 6}
for i, h in ipairs(hosts) do
  sim.node(h, {trusted_points = {hosts[1]}, role = (i > 4) and "attacker" or nil})
end
sim.demo_nodes(sim.hosts{count = 2}, {role = "observer", peers_k = 1})
run_until(5)
