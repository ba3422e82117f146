-- sweeps/ci_resume.lua — the sweep the tests run (tests/sweep_resume.test.sh,
-- tests/sweep_slurm.test.sh, tests/sweep_slurm_scripts.test.sh): 20 small runs of
-- ci_scenario.lua (2 values of peers_k x 10 seeds), a fraction of a second each.
return {
  -- relative paths are tried from the current directory first, then from this file's
  scenario = "ci_scenario.lua",
  params = {
    peers_k = {2, 4},                     -- a grid axis: one point per value
    nodes = 60,                           -- fixed values, the same for every task
    duration = "30s",
  },
  seeds = 10,                             -- seeds 1..10 for every point
  log = "debug",                          -- the demo's connection events are debug level:
                                          -- the merge checks compare them too
  out = "out/sweep-ci",
}
