"""A certificate vouches only for what its target installed: a file the target refused (here an
.rpm on a Debian target, whose contents no one read there) is never certified by that target."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from examples.make import build_deb
from tests.conftest import ROOT
from tests.integration.packages import MANIFEST

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"


def test_a_refused_artifact_is_not_in_the_certificate_and_does_not_verify(tmp_path, lab_run):
    folder = tmp_path / "sub"
    folder.mkdir()
    deb = build_deb({"/usr/bin/acme-hello": b"#!/bin/sh\necho hello\n"},
                    {"Package": "acme-hello", "Version": "1.0-lab1", "Architecture": "all"}, folder)
    (folder / "x.rpm").write_bytes(b"not an rpm at all: a Debian target never reads it\n")
    (folder / "submission.toml").write_text(MANIFEST.format(name="acme-hello")
                                            + f'[[artifacts]]\npath = "{deb.name}"\n'
                                            + '[[artifacts]]\npath = "x.rpm"\n')
    run = lab_run(folder, "--targets", T, "--suites", "install")
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    assert run.target(T)["verdict"] == "passed"
    assert run.target(T)["installed_artifacts"] == [deb.name]
    assert "x.rpm" in run.check(T, "install.package")["message"]  # named as not applicable here

    cert = run.out / "certificates" / f"{T}.json"
    assert [a["path"] for a in json.loads(cert.read_text())["certificate"]["artifacts"]] == [deb.name]
    assert "x.rpm" not in (run.out / "certificates" / f"{T}.html").read_text()

    def verify(artifact):
        return subprocess.run([sys.executable, "-m", "lab", "certificate", "verify", str(cert),
                               "--artifact", str(artifact)], capture_output=True, text=True, cwd=ROOT)
    good = verify(deb)
    assert good.returncode == 0 and "is byte for byte a certified artifact" in good.stdout, good.stdout + good.stderr
    refused = verify(folder / "x.rpm")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "x.rpm" in refused.stdout and "is not a certified artifact" in refused.stdout
    assert "byte for byte a certified artifact" not in refused.stdout
