"""What the controller writes once into a run's ``allure-results``: the environment, the executor
and the categories that separate the product's failures from the lab's."""

from __future__ import annotations

import json
from pathlib import Path

from lab import __version__
from lab.suite.registry import suite_names


def categories() -> list[dict]:
    """categories.json for Allure 2 readers: failed = the product's fault, broken = the lab's; a
    sub-category per suite, by test file."""
    cats = [{"name": "Advisory findings (not held against the product)", "matchedStatuses": ["failed"],
             "messageRegex": "(?s)advisory:.*"}]
    for status, name in (("failed", "Product incompatibility"), ("broken", "Lab infrastructure")):
        cats += [{"name": f"{name}: {suite}", "matchedStatuses": [status],
                  "traceRegex": f"(?s).*suites/test_{suite}\\.py.*"} for suite in suite_names()]
        cats.append({"name": name, "matchedStatuses": [status]})
    return cats


def report_config() -> dict:
    """Allure 3 reads categories from its config, not from the results: the same split, grouped by
    suite (and target), with advisory findings (severity minor) apart."""
    return {"categories": [
        {"name": "Advisory findings (not held against the product)",
         "matchers": {"statuses": ["failed"], "labels": {"severity": "^minor$"}}, "groupBy": [{"label": "suite"}]},
        {"name": "Product incompatibility", "matchers": {"statuses": ["failed"]},
         "groupBy": [{"label": "suite"}, {"label": "parentSuite"}]},
        {"name": "Lab infrastructure", "matchers": {"statuses": ["broken"]},
         "groupBy": [{"label": "parentSuite"}, {"label": "suite"}]},
    ]}


def write_meta(results: Path, *, lab_name: str, inventory_sha256: str, run_id: str, product: str,
               version: str) -> None:
    results.mkdir(parents=True, exist_ok=True)
    env = {"lab": lab_name, "harness": f"adaptation-lab {__version__}", "inventory.sha256": inventory_sha256,
           "run": run_id, "product": f"{product} {version}"}
    (results / "environment.properties").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    (results / "executor.json").write_text(json.dumps(
        {"name": lab_name, "type": "adaptation-lab", "buildName": run_id,
         "reportName": f"{product} {version}: {run_id}"}, indent=2))
    (results / "categories.json").write_text(json.dumps(categories(), indent=2))
