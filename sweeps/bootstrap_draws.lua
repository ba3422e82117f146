-- sweeps/bootstrap_draws.lua — random draws instead of a grid: 20 points drawn from the
-- (peers_k, nodes) space, deterministically from draws.seed, crossed with a grid
-- axis (pings), 3 seeds each: 2 x 20 x 3 = 120 tasks.
return {
  scenario = "scenarios/bootstrap.lua",
  params = {
    pings = {1, 5},                       -- grid axis, crossed with every draw
    duration = "60s",
  },
  draws = {
    count = 20,
    seed = 7,                             -- same seed, same points on every machine
    params = {
      peers_k = integer(2, 8),            -- uniform integer, both ends included
      nodes = choice{50, 100, 200},
    },
  },
  seeds = {11, 12, 13},                   -- an explicit list of seeds
  out = "out/sweep-bootstrap-draws",
}
