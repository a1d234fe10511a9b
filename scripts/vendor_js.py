"""Vendor the dashboard's JavaScript from npm: pinned versions, licences and checksums.

``python scripts/vendor_js.py`` downloads each package in ``PACKAGES`` with ``npm pack``,
checks the tarball against the registry's integrity hash, copies the files the project
serves (and the licence) into the package's destination, and writes ``vendor.json`` there
with each file's sha256. ``--check`` verifies the files on disk against the manifests
without touching the network (the test suite runs it). ``--upgrade`` takes the registry's
newest version instead of the pinned one.

Nothing is fetched at run time and nothing is built: the monitor serves these files as they
are, so the dashboard works offline.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PACKAGES", "Package", "check", "refresh"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Package:
    """One npm package and the files taken from it (tarball path -> local name)."""

    name: str
    version: str
    dest: Path
    files: tuple[tuple[str, str], ...]


PACKAGES = (
    Package(
        "uplot",
        "1.6.32",
        ROOT / "src/rebellion/monitor/static/vendor",
        (
            ("package/dist/uPlot.iife.min.js", "uPlot.iife.min.js"),
            ("package/dist/uPlot.min.css", "uPlot.min.css"),
            ("package/LICENSE", "uPlot.LICENSE"),
        ),
    ),
    # Used only by the browser tests (axe-core is ~500 KB): kept out of the package.
    Package(
        "axe-core",
        "4.11.4",
        ROOT / "tests/monitor/vendor",
        (
            ("package/axe.min.js", "axe.min.js"),
            ("package/LICENSE", "axe-core.LICENSE"),
        ),
    ),
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npm(*args: str, cwd: Path) -> str:
    done = subprocess.run(["npm", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout


def refresh(package: Package, *, upgrade: bool = False) -> dict[str, object]:
    """Download ``package`` with npm, verify it and write its files and manifest.

    Returns:
        The manifest written (name, version, integrity, file checksums).

    Raises:
        RuntimeError: the tarball does not match the registry's integrity hash.
    """
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec = package.name if upgrade else f"{package.name}@{package.version}"
        packed = json.loads(_npm("pack", spec, "--json", "--silent", cwd=work))[0]
        tarball = (work / packed["filename"]).read_bytes()
        algorithm, _, expected = packed["integrity"].partition("-")
        actual = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
        if actual != expected:
            raise RuntimeError(f"{spec}: tarball does not match the registry integrity")
        package.dest.mkdir(parents=True, exist_ok=True)
        checksums: dict[str, str] = {}
        with tarfile.open(work / packed["filename"]) as archive:
            for member, local in package.files:
                extracted = archive.extractfile(member)
                if extracted is None:
                    raise RuntimeError(f"{spec}: {member} is not a file")
                data = extracted.read()
                (package.dest / local).write_bytes(data)
                checksums[local] = _sha256(data)
    manifest: dict[str, object] = {
        "package": package.name,
        "version": packed["version"],
        "integrity": packed["integrity"],
        "files": checksums,
    }
    path = package.dest / f"{package.name}.vendor.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def check(package: Package) -> list[str]:
    """Return the problems found comparing ``package``'s files with its manifest."""
    path = package.dest / f"{package.name}.vendor.json"
    if not path.is_file():
        return [f"{path.name}: missing (run scripts/vendor_js.py)"]
    manifest = json.loads(path.read_text())
    problems = []
    if manifest["version"] != package.version:
        problems.append(f"{package.name}: manifest {manifest['version']} != pinned")
    for local, digest in manifest["files"].items():
        file = package.dest / local
        if not file.is_file():
            problems.append(f"{local}: missing")
        elif _sha256(file.read_bytes()) != digest:
            problems.append(f"{local}: sha256 differs from {path.name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Refresh (default) or check the vendored files; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only, no network")
    parser.add_argument("--upgrade", action="store_true", help="take the newest versions")
    args = parser.parse_args(argv)
    if args.check:
        problems = [p for package in PACKAGES for p in check(package)]
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for package in PACKAGES:
        manifest = refresh(package, upgrade=args.upgrade)
        print(f"{package.name} {manifest['version']} -> {package.dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
