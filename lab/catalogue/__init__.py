"""The catalogue: every finished run in a real database, and the buyers' site rendered from it."""
