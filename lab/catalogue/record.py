"""Recording a finished run in the catalogue (again, if it was recorded before: idempotent)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lab.catalogue.models import Artifact, Certificate, CheckRow, Product, ProductVersion, Result, Run
from lab.errors import InputError
from lab.results.model import Verdicts


def record_run(engine: Engine, run_dir: Path) -> str:
    path = Path(run_dir) / "verdicts.json"
    if not path.exists():
        raise InputError(str(run_dir), ["not a run folder: no verdicts.json"])
    v = Verdicts.model_validate_json(path.read_text())
    with Session(engine) as s, s.begin():
        product = s.scalar(select(Product).where(Product.name == v.submission.name))
        if product is None:
            product = Product(name=v.submission.name, vendor=v.submission.vendor)
            s.add(product)
        product.vendor = v.submission.vendor
        version = s.scalar(select(ProductVersion).where(ProductVersion.product == product,
                                                        ProductVersion.version == v.submission.version))
        if version is None:
            version = ProductVersion(product=product, version=v.submission.version)
            s.add(version)
        old = s.get(Run, v.run)
        if old is not None:
            s.delete(old)
            s.flush()
        run = Run(id=v.run, version=version, started=v.started, finished=v.finished, harness=v.harness,
                  interrupted=v.interrupted, folder=str(Path(run_dir).resolve()),
                  artifacts=[Artifact(path=a.path, sha256=a.sha256) for a in v.submission.artifacts])
        s.add(run)
        for name, r in v.targets.items():
            result = Result(run=run, target=name, verdict=r.verdict, reason=r.reason, facts=r.facts,
                            metrics=r.metrics,
                            checks=[CheckRow(check_id=c.id, outcome=c.outcome, required=c.required,
                                             message=c.message, duration_s=c.duration_s) for c in r.checks])
            cert_path = Path(run_dir) / "certificates" / f"{name}.json"
            if cert_path.exists():
                doc = json.loads(cert_path.read_text())
                c = doc["certificate"]
                result.certificate = Certificate(id=c["id"], key_id=doc["signature"]["key_id"], issued=c["issued"],
                                                 expires=c["expires"], document=doc)
            s.add(result)
    return v.run
