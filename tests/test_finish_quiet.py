"""The report's warm-up waits until every worker running at once is past its install (a matrix's
first worker past it had the controller load WeasyPrint and Allure beside the two installs still
under way, on two cores)."""

from __future__ import annotations

import threading
import time

from lab.run.finish import _wait_for_quiet


def test_the_warm_up_waits_for_every_running_worker_past_its_install(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "events.jsonl").write_text('{"event": "check", "id": "install.idempotent"}\n')
    (tmp_path / "b" / "events.jsonl").write_text('{"event": "check", "id": "install.package"}\n')

    def later():
        time.sleep(0.3)
        with (tmp_path / "b" / "events.jsonl").open("a") as fh:
            fh.write('{"event": "watch-started"}\n')

    writer = threading.Thread(target=later)
    writer.start()
    _wait_for_quiet(tmp_path, workers=2)
    assert "watch-started" in (tmp_path / "b" / "events.jsonl").read_text()
    writer.join()


def test_one_worker_past_its_install_is_enough_for_a_single_target(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "events.jsonl").write_text('{"event": "finished"}\n')
    _wait_for_quiet(tmp_path, workers=1)  # returns at once (it would wait 300 s otherwise)
