"""The kernel tier: fast implementations of what the reference tier computes, each tested equal."""
