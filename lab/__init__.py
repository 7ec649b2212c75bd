"""Adaptation Lab: the harness of a software adaptation testing centre."""

__version__ = "0.1.0"
