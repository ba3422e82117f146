-- sweeps/bootstrap_peers.lua — how does time-to-bootstrap change with the number of
-- outgoing connections each node keeps? peers_k from 2 to 8 on 200-node networks, 50
-- seeds per point: 4 x 50 = 200 tasks (a few seconds each on one core).
--
--   tidepool sweep sweeps/bootstrap_peers.lua --jobs 8
--   tidepool sweep sweeps/bootstrap_peers.lua --slurm --max-parallel 50
--   tidepool report out/sweep-bootstrap-peers/campaign.db --out report/
return {
  scenario = "scenarios/bootstrap.lua",
  params = {
    peers_k = {2, 4, 6, 8},
    min_conn = 2,
    nodes = 200,
    duration = "60s",
  },
  seeds = 50,
  out = "out/sweep-bootstrap-peers",
}
