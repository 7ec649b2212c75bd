"""The worker side of a run: one pytest session binds the suites to one target."""
