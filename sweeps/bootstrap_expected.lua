-- sweeps/bootstrap_expected.lua — how does time-to-bootstrap change with the number of
-- expected connections (Octez's expected_connections) from 8 to 64, over 50 seeds each?
-- 4 x 50 = 200 tidepool-node runs of scenarios/bootstrap.lua on 200 nodes.
--
--   tidepool sweep sweeps/bootstrap_expected.lua --jobs 8
--   tidepool sweep sweeps/bootstrap_expected.lua --slurm --max-parallel 50
--   tidepool report out/sweep-bootstrap-expected/campaign.db --out report/
return {
  scenario = "scenarios/bootstrap.lua",   -- run from the repository root
  params = {
    expected = {8, 16, 32, 64},           -- the grid axis
    min = 4,                              -- min <= expected at every point
    nodes = 200,
  },
  seeds = 50,
  out = "out/sweep-bootstrap-expected",
}
