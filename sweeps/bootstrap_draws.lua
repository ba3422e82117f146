-- sweeps/bootstrap_draws.lua — random draws instead of a grid: 20 points drawn from the
-- (min, nodes) space of scenarios/bootstrap.lua, deterministically from draws.seed,
-- crossed with a grid axis (expected), 3 seeds each. 7 of the 20 draws repeat an
-- earlier one (min and nodes are discrete) and are dropped: 2 x 13 x 3 = 78 tasks.
--
--   tidepool sweep sweeps/bootstrap_draws.lua --jobs 8
--   tidepool sweep sweeps/bootstrap_draws.lua --seeds 1 --set duration=30s   # a quick look
return {
  scenario = "scenarios/bootstrap.lua",
  params = {
    expected = {20, 50},                  -- grid axis, crossed with every draw
    duration = "60s",
  },
  draws = {
    count = 20,
    seed = 7,                             -- same seed, same points on every machine
    params = {
      min = integer(2, 8),                -- uniform integer, both ends included (<= expected)
      nodes = choice{50, 100, 200},
    },
  },
  seeds = {11, 12, 13},                   -- an explicit list of seeds
  out = "out/sweep-bootstrap-draws",
}
