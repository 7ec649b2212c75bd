"""The certificates' tests share one passed run of one artifact, its lab key, and its certificate."""

from __future__ import annotations

import pytest

from lab.certs.certificate import issue
from lab.certs.keys import load_or_create
from lab.results.model import ArtifactRef, Check, SubmissionRef, TargetResult, Verdicts


@pytest.fixture
def artifact(tmp_path):
    p = tmp_path / "acme_1.0_amd64.deb"
    p.write_bytes(b"the certified bytes")
    return p


@pytest.fixture
def verdicts(artifact):
    from lab.submission.load import sha256_file

    result = TargetResult(verdict="passed", facts={"arch": "x86_64", "glibc": "2.36"},
                          checks=[Check(id="install.package", outcome="passed"),
                                  Check(id="service.ready", outcome="skipped")])
    return Verdicts(run="20261129-120301-acme", submission=SubmissionRef(
        name="acme", version="1.0", vendor="ACME <script>", artifacts=[
            ArtifactRef(path=artifact.name, sha256=sha256_file(artifact))]), targets={"debian12-x86_64": result})


@pytest.fixture
def key(tmp_path):
    return load_or_create(tmp_path / "keys" / "lab.pem")


@pytest.fixture
def cert(verdicts, key):
    return issue(verdicts, "debian12-x86_64", verdicts.targets["debian12-x86_64"], key, "Test Lab")
