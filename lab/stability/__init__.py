"""Watching a running service over time: sampling it through ``/proc`` on the target (``sampler``),
judging the samples (``judge``, pure) and drawing them (``chart``)."""
