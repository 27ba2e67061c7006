"""Generation: the sampler and its rules, sessions, the modes, loops, tracks, picking."""
