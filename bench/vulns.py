"""Records per second of ``lab vulns import``: N generated OSV records, as a .zip, into SQLite.

    .venv/bin/python bench/vulns.py [--records 5000] [--repeat 3]

The records look like OSV's Debian export (one package, one range, a severity) over a few hundred
package names. Reading and checking (pydantic) and storing (bulk inserts, one transaction) are
timed apart, and the whole command as an engineer runs it; the median of the repeats is shown.
A second import of the same records (each replaces its earlier self) is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def generate(path: Path, n: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            z.writestr(f"DEBIAN-CVE-2026-{i:05d}.json", json.dumps({
                "id": f"DEBIAN-CVE-2026-{i:05d}", "modified": "2026-11-01T00:00:00Z",
                "summary": f"generated record {i}", "aliases": [f"CVE-2026-{i:05d}"],
                "affected": [{"package": {"ecosystem": "Debian:12", "name": f"pkg{i % 400}"},
                              "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                                         {"fixed": f"1.{i % 50}-1+deb12u1"}]}],
                              "ecosystem_specific": {"urgency": ["low", "medium", "high"][i % 3]}}]}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from lab.catalogue.db import open_catalogue
    from lab.supply.osv import import_records, read_paths

    read_s, store_s, again_s, cli_s = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "Debian-12.zip"
        generate(feed, args.records)
        for i in range(args.repeat):
            engine = open_catalogue(f"sqlite:///{tmp}/c{i}.db")
            t0 = time.perf_counter()
            records = read_paths([feed])
            t1 = time.perf_counter()
            import_records(engine, records)
            t2 = time.perf_counter()
            import_records(engine, records)
            t3 = time.perf_counter()
            read_s.append(t1 - t0)
            store_s.append(t2 - t1)
            again_s.append(t3 - t2)
            env = dict(os.environ, LAB_CATALOGUE=f"sqlite:///{tmp}/cli{i}.db")
            subprocess.run([sys.executable, "-m", "lab", "vulns", "import", str(feed)], cwd=ROOT, env=env,
                           check=True, capture_output=True)  # migrates the new database first
            t4 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "lab", "vulns", "import", str(feed)], cwd=ROOT, env=env,
                           check=True, capture_output=True)
            cli_s.append(time.perf_counter() - t4)
    n = args.records
    med = statistics.median
    print(f"{n} records, median of {args.repeat}:")
    print(f"  read and check:   {med(read_s):.2f} s  ({n / med(read_s):,.0f} records/s)")
    print(f"  store (new):      {med(store_s):.2f} s  ({n / med(store_s):,.0f} records/s)")
    print(f"  store (replace):  {med(again_s):.2f} s  ({n / med(again_s):,.0f} records/s)")
    print(f"  lab vulns import: {med(cli_s):.2f} s  ({n / med(cli_s):,.0f} records/s, the whole command)")


if __name__ == "__main__":
    main()
