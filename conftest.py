"""Root conftest: the suites under ``suites/`` get their fixtures from the ``lab`` pytest plugin
(``lab/plugin.py``, registered through the ``pytest11`` entry point); the harness's own tests
get theirs from ``tests/conftest.py``. Nothing is shared implicitly from here."""
