"""The catalogue: every finished run in a real database, and the buyers' site rendered from it."""

ENV = "LAB_CATALOGUE"  # the catalogue a run records into, when set (also what the workers' feed reads)
