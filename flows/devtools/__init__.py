"""Developer tools: the benchmark, the size-and-power simulation, the demo and their synthetic markets."""
