"""How the lab reaches a target: one transport per file, all behind ``Transport``."""
