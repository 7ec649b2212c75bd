"""The JSON Schema of ``verdicts.json``, generated from the model and shipped in the package,
so vendors' pipelines can validate results without this harness."""

from __future__ import annotations

import json
from pathlib import Path

from lab.results.model import Verdicts

SHIPPED = Path(__file__).resolve().parent.parent / "schemas" / "verdicts.schema.json"


def generate() -> str:
    schema = Verdicts.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://adaptation-lab.example/schemas/verdicts-1.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def shipped() -> dict:
    return json.loads(SHIPPED.read_text())
