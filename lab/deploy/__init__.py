"""Putting a vendor's artifacts on a target: one installer per package format, chosen from facts."""
