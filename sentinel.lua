local x = param("x", 1)
local s = sim.seed()
sample("t_event_s", (s % 3 == 0) and -1 or s * x)
