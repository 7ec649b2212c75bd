"""Making real packages from source or Debian's archive: for the examples and the lab's tests.

Nothing here is committed as a binary; everything is built on the machine that needs it.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

HARDENED = ["-O2", "-fstack-protector-all", "-D_FORTIFY_SOURCE=2", "-fPIE", "-pie",
            "-Wl,-z,relro,-z,now"]


def compile_c(source: Path, output: Path, flags: list[str] | None = None) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", *(HARDENED if flags is None else flags), "-o", str(output), str(source)],
                   check=True)
    return output


def build_deb(files: dict[str, Path | bytes], control: dict[str, str], out_dir: Path,
              modes: dict[str, int] | None = None, scripts: dict[str, str] | None = None) -> Path:
    """files: target path -> local file or bytes. Returns the .deb, named the Debian way."""
    modes = modes or {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for dest, src in files.items():
            path = root / dest.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, bytes):
                path.write_bytes(src)
            else:
                shutil.copy(src, path)
            path.chmod(modes.get(dest, 0o755 if "/bin/" in dest else 0o644))
        (root / "DEBIAN").mkdir()
        fields = {"Section": "misc", "Priority": "optional", "Maintainer": "ACME <pkg@acme.example>",
                  "Description": "example package built by the lab", **control}
        (root / "DEBIAN/control").write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))
        for name, body in (scripts or {}).items():
            (root / "DEBIAN" / name).write_text(body)
            (root / "DEBIAN" / name).chmod(0o755)
        out_dir.mkdir(parents=True, exist_ok=True)
        deb = out_dir / f"{control['Package']}_{control['Version']}_{control['Architecture']}.deb"
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)],
                       check=True, capture_output=True)
    return deb


def build_tarball(files: dict[str, Path | bytes], output: Path, modes: dict[str, int] | None = None) -> Path:
    """files: path inside the tarball -> local file or bytes."""
    modes = modes or {}
    output.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(output, "w:gz") as tar:
        for name, src in files.items():
            data = src if isinstance(src, bytes) else Path(src).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = modes.get(name, 0o755 if name.startswith("bin/") or name.endswith(".sh") else 0o644)
            tar.addfile(info, io.BytesIO(data))
    return output


def download_deb(image: str, package: str, out_dir: Path) -> Path:
    """A real package of the image's release and architecture, fetched with the image's own apt."""
    import docker

    from lab.provision.container import fetch_network

    out_dir.mkdir(parents=True, exist_ok=True)
    client = docker.from_env()
    client.containers.run(image, ["sh", "-c", f"cd /out && apt-get download {package} >/dev/null"],
                          remove=True, network=fetch_network().name,
                          volumes={str(out_dir.resolve()): {"bind": "/out", "mode": "rw"}})
    found = sorted(out_dir.glob(f"{package}_*.deb"))
    if not found:
        raise RuntimeError(f"apt-get download {package} in {image} produced nothing")
    return found[-1]
