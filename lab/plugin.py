"""The pytest plugin (``pytest11`` entry point ``lab``): binds the compatibility suites to a target.

Inert unless ``--lab-target`` is given, so it costs nothing in other pytest sessions.
"""

from __future__ import annotations


def pytest_addoption(parser):
    group = parser.getgroup("lab", "Adaptation Lab")
    group.addoption("--lab-target", help="name of the inventory target to run the suites on")
    group.addoption("--lab-inventory", default="targets.toml", help="the lab's inventory file")
