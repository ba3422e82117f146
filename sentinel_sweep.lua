return { scenario = "sentinel.lua", out = "sent", params = { x = {1, 10} }, seeds = 6 }
