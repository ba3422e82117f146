-- tests/data/bandwidth_hint.lua — the report's bandwidth hint, as written in its "no
-- data" note and reports/README.md, run on tidepool nodes (tests/examples.test.sh): it
-- must work as printed, so the hint cannot drift from the API again.
sim.world{regions = 1}
local hosts = sim.hosts{count = 4}
local nodes = {}
for i, h in ipairs(hosts) do nodes[i] = sim.node(h, {trusted_points = {hosts[1]}}) end
for t = 1, 5 do
  run_until(t)
  for _, n in ipairs(nodes) do
    sample("bytes_in", n:stat().bytes_in, n)
    sample("bytes_out", n:stat().bytes_out, n)
  end
end
