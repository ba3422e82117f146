return { scenario = "/sweeps/ci_scenario.lua", out = "many",
         params = { nodes = 8, duration = "4s", peers_k = {2, 3} }, seeds = 13 }
