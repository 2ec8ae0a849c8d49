"""The SimPy runtime: builds a world from a scenario, runs it to quiescence, judges it by invariants.

Everything random comes from named streams derived from one seed; nothing reads the wall clock except
the runner's own ``wall_time_s`` measurement, which never feeds back into the simulation.
"""
