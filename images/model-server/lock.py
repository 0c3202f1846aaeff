"""Hash-pins the model server's requirement files: each `name==version` gets the sha256 of the wheel pip installs for
CPython 3.11 on linux x86_64 (manylinux), the image's platform. pip then runs in hash-checking mode (every
requirement must carry a hash, and a downloaded wheel must match it), in the Dockerfile and in ci.sh alike.

    python3.11 lock.py requirements.txt requirements-gpu.txt requirements-training.txt requirements-dev.txt

It changes no version: to upgrade, edit the pins (re-resolve in a fresh 3.11 venv, see requirements.txt's header),
then run this again. The hashes come from pip's own resolution report (`pip install --dry-run --report`, the index's
sha256 of the chosen file), so what is pinned is exactly what `pip install --no-deps --only-binary=:all:` fetches.
Run it with the image's Python minor on linux x86_64 (it refuses anything else).
"""
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(text: str) -> List[str]:
    """Lines with `\\` continuations joined (a hashed requirement spans several)."""
    out: List[str] = []
    buf = ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        out.append(buf + line)
        buf = ""
    if buf:
        out.append(buf)
    return out


def hashes_for(pins: List[str]) -> Dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--dry-run", "--ignore-installed", "--no-deps",
             "--only-binary=:all:", "--no-cache-dir", "--quiet", "--report", str(report), *pins],
            check=True,
        )
        data = json.loads(report.read_text())
    out: Dict[str, str] = {}
    for item in data["install"]:
        sha = item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")
        if not sha:
            raise SystemExit(f"lock.py: the index gave no sha256 for {item['download_info']['url']}")
        out[canonical(item["metadata"]["name"])] = sha
    return out


def lock(path: Path) -> None:
    lines = logical_lines(path.read_text())
    pins = [f"{m.group(1)}=={m.group(2)}" for m in (PIN.match(l.strip()) for l in lines) if m]
    sha = hashes_for(pins)
    out: List[str] = []
    for line in lines:
        m = PIN.match(line.strip())
        if not m:
            out.append(line)
            continue
        out.append(f"{m.group(1)}=={m.group(2)} \\\n    --hash=sha256:{sha[canonical(m.group(1))]}")
    path.write_text("\n".join(out) + "\n")
    print(f"{path.name}: {len(pins)} pins hashed")


def main() -> None:
    if sys.version_info[:2] != (3, 11) or platform.system() != "Linux" or platform.machine() != "x86_64":
        raise SystemExit("lock.py: run it with CPython 3.11 on linux x86_64 (the image's interpreter and platform)")
    files = [Path(a) for a in sys.argv[1:]]
    if not files:
        raise SystemExit(__doc__)
    for f in files:
        lock(f)


if __name__ == "__main__":
    main()
