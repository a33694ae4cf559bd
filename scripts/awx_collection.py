"""Install the awx.awx collection into this Python's site-packages from PyPI, without Galaxy.

The `ansible` wheel pinned (with its hash) in requirements-awx.txt ships awx.awx among 92
collections; this extracts that one collection (about 1 MB) where `pip install ansible` would
have put it (site-packages/ansible_collections), so ansible-playbook, ansible-doc, ansible-lint
and ansible-runner find it with no configuration. Safe to run again: does nothing when the
pinned version is already there.

    .venv/bin/python scripts/awx_collection.py [--check]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements-awx.txt"
PREFIX = "ansible_collections/awx/awx/"
VERSION = "24.6.1"  # awx.awx inside ansible 12.3.0


def installed_version(site):
    """Version of the awx.awx found in `site`, or None."""
    manifest = Path(site) / PREFIX / "MANIFEST.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text())["collection_info"]["version"]


def download(dest):
    """The pinned wheel, fetched by pip (hash checked); returns its path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "-r",
            str(REQUIREMENTS),
            "-d",
            str(dest),
        ],
        check=True,
    )
    wheels = sorted(Path(dest).glob("ansible-*.whl"))
    if len(wheels) != 1:
        raise SystemExit("expected one ansible wheel in %s, found %s" % (dest, [w.name for w in wheels]))
    return wheels[0]


def extract(wheel, site):
    """Copy ansible_collections/awx/awx out of the wheel into `site` (replacing an older copy)."""
    target = Path(site) / PREFIX
    staging = Path(site) / "ansible_collections" / "awx" / ".awx.partial"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            if not member.filename.startswith(PREFIX) or member.is_dir():
                continue
            relative = Path(member.filename[len(PREFIX) :])
            if ".." in relative.parts:
                raise SystemExit("refusing a path outside the collection: %s" % member.filename)
            out = staging / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
    # Swap in one rename, so an interrupted run never leaves half a collection behind.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when awx.awx %s is not installed" % VERSION)
    args = parser.parse_args(argv)
    site = sysconfig.get_paths()["purelib"]
    found = installed_version(site)
    if found == VERSION:
        print("awx.awx %s is installed in %s" % (found, site))
        return 0
    if args.check:
        print("awx.awx %s is not installed in %s (found %s): run %s" % (VERSION, site, found, Path(__file__).name))
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        extract(download(tmp), site)
    print("awx.awx %s installed in %s" % (installed_version(site), site))
    return 0


if __name__ == "__main__":
    sys.exit(main())
