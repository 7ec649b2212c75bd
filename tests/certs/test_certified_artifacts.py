"""A certificate vouches only for the artifacts installed on its target: an artifact the target
refused (an .rpm on an apt target) is not listed, and a file with its bytes is not verified by it;
results written before the worker recorded them certify every artifact, as before."""

from __future__ import annotations

import pytest

from lab.certs.certificate import issue, verify
from lab.errors import InputError
from lab.results.model import ArtifactRef, TargetResult


@pytest.fixture
def with_rpm(verdicts, tmp_path):
    """The submission also holds an .rpm, which a Debian target refuses: installed there is the .deb alone."""
    from lab.submission.load import sha256_file

    rpm = tmp_path / "x.rpm"
    rpm.write_bytes(b"never read by an apt target")
    deb = verdicts.submission.artifacts[0]
    sub = verdicts.submission.model_copy(update={"artifacts": [
        deb, ArtifactRef(path=rpm.name, sha256=sha256_file(rpm))]})
    result = verdicts.targets["debian12-x86_64"].model_copy(update={"installed_artifacts": [deb.path]})
    return verdicts.model_copy(update={"submission": sub, "targets": {"debian12-x86_64": result}}), rpm


def test_a_certificate_lists_only_the_artifacts_installed_on_its_target(with_rpm, key, artifact):
    verdicts, rpm = with_rpm
    cert = issue(verdicts, "debian12-x86_64", verdicts.targets["debian12-x86_64"], key, "Test Lab")
    assert [a["path"] for a in cert["certificate"]["artifacts"]] == [artifact.name]
    assert verify(cert, key.public_key(), artifact).valid
    refused = verify(cert, key.public_key(), rpm)
    assert not refused.valid and refused.artifact_checked
    assert "x.rpm" in refused.problems[0] and "is not a certified artifact" in refused.problems[0]
    assert "debian12-x86_64" in refused.problems[0]


def test_results_without_installed_artifacts_certify_every_artifact_as_before(with_rpm, key, tmp_path):
    verdicts, rpm = with_rpm
    old = verdicts.targets["debian12-x86_64"].model_copy(update={"installed_artifacts": None})
    assert TargetResult.model_validate_json(old.model_dump_json(exclude={"installed_artifacts"})) == old
    cert = issue(verdicts, "debian12-x86_64", old, key, "Test Lab")
    assert len(cert["certificate"]["artifacts"]) == 2 and verify(cert, key.public_key(), rpm).valid


def test_a_target_that_installed_nothing_gets_no_certificate(with_rpm, key, tmp_path):
    from lab.certs.issue import issue_certificates
    from lab.inventory.model import LabSettings

    verdicts, _ = with_rpm
    nothing = verdicts.targets["debian12-x86_64"].model_copy(update={"installed_artifacts": []})
    with pytest.raises(InputError, match=r"targets\.debian12-x86_64\.installed_artifacts: no artifact"):
        issue(verdicts, "debian12-x86_64", nothing, key, "Test Lab")
    lab = LabSettings(name="Test Lab", signing_key=str(tmp_path / "keys" / "lab.pem"))
    unknown = verdicts.targets["debian12-x86_64"].model_copy(update={"installed_artifacts": ["other.deb"]})
    for result in (nothing, unknown):  # a path not in the submission vouches for nothing either
        v = verdicts.model_copy(update={"targets": {"debian12-x86_64": result}})
        assert issue_certificates(v, tmp_path / "run", lab) == {}
        assert not (tmp_path / "run" / "certificates").exists()
    written = issue_certificates(verdicts, tmp_path / "run", lab)
    assert [a["path"] for a in written["debian12-x86_64"]["certificate"]["artifacts"]] == ["acme_1.0_amd64.deb"]


def test_a_deployment_records_the_artifacts_it_installed(monkeypatch):
    """Batch by batch: an install that fails half-way records what went in before; a refused artifact
    (never planned into a step) is never recorded."""
    from types import SimpleNamespace

    import lab.observe.packages
    from lab.deploy.deployment import Deployment
    from lab.errors import ProductFailure

    monkeypatch.setattr(lab.observe.packages, "snapshot", lambda *a: {})

    class Fake:
        dependency_archive = dependency_memo = None

        def __init__(self, fails=False):
            self.fails = fails

        def stage(self, target, staged):
            pass

        def fetch_dependencies(self, target, batch, timeout):
            pass

        def install_dependencies(self, target, batch, timeout):
            return None

        def install(self, target, batch, timeout):
            if self.fails:
                raise ProductFailure("installing failed")

        def uninstall(self, target, batch, timeout):
            pass

    def staged(path):
        return SimpleNamespace(artifact=SimpleNamespace(path=path))

    target = SimpleNamespace(transport=None, facts=SimpleNamespace(package_manager="apt"), layer_pending=False)
    d = Deployment(target, None, 60.0, not_applicable=["x.rpm: no installer accepts it here"])
    a, b, c = staged("a.deb"), staged("b.deb"), staged("c.tar.gz")
    good, bad = Fake(), Fake(fails=True)
    d.steps = [(good, a), (good, b), (bad, c)]
    d.batches = [(good, [a, b]), (bad, [c])]
    with pytest.raises(ProductFailure):
        d.install()
    assert d.deployed == ["a.deb", "b.deb"] and not d.installed
    d.batches[1] = (good, [c])
    d.steps[2] = (good, c)
    d.install()
    assert d.deployed == ["a.deb", "b.deb", "c.tar.gz"] and d.installed
    d.uninstall()  # what was installed stays recorded for the result, also after the purge
    assert not d.installed and d.deployed == ["a.deb", "b.deb", "c.tar.gz"]


def test_the_report_shows_what_each_certificate_certifies(with_rpm, tmp_path):
    """The PDF report's certificate section lists the certificate's own artifacts and verifies with one."""
    from lab.certs.issue import issue_certificates
    from lab.inventory.model import LabSettings
    from lab.report.pdf import report_html

    verdicts, _ = with_rpm
    lab = LabSettings(name="Test Lab", signing_key=str(tmp_path / "keys" / "lab.pem"), languages=["en"])
    issue_certificates(verdicts, tmp_path / "run", lab)
    html = report_html(tmp_path / "run", verdicts, lab)
    section = html[html.index("certificates/debian12-x86_64.json"):]
    assert "acme_1.0_amd64.deb" in section and "x.rpm" not in section
    assert verdicts.submission.artifacts[0].sha256 in section  # the certified artifact, with its sha256
    assert "--artifact acme_1.0_amd64.deb" in section
