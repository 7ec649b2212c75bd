"""Where a run's Allure history goes: the lab's reports/history for the lab's own runs, the run's
own folder for a run written elsewhere (new user: ``lab run --output /tmp/x`` still appended to the
lab's reports/history, outside the folder it was given)."""

from __future__ import annotations

from lab.report.render import history_of


def test_a_run_in_the_labs_reports_shares_the_labs_history(tmp_path):
    reports = tmp_path / "lab" / "reports"
    assert history_of(reports / "20261201-acme", reports) == reports / "history"


def test_a_run_written_elsewhere_keeps_its_history_inside_itself(tmp_path):
    reports = tmp_path / "lab" / "reports"
    elsewhere = tmp_path / "trial" / "run1"
    assert history_of(elsewhere, reports) == elsewhere / "history"
    assert history_of(tmp_path / "lab" / "reports-old" / "r", reports) == tmp_path / "lab/reports-old/r/history"
