#!/usr/bin/env bash
# Refresh requirements.lock: the newest releases within pyproject.toml's ranges
# (runtime, the test extra, and setuptools to build gespace), resolved by uv for
# CPython 3.11 on Linux x86_64 (manylinux_2_28) with every file's sha256. torch is
# PyPI's Linux x86_64 wheel: the CUDA build (it also runs on the CPU), with the
# nvidia-* packages it needs. Then run `bash scripts/test.sh`: commit the lock
# only with the suite green on it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
build="$(mktemp)"
trap 'rm -f "$build"' EXIT
echo "setuptools>=64" > "$build"
.venv/bin/uv pip compile pyproject.toml "$build" --extra test --upgrade --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header \
  -o requirements.lock.new
{ echo "# requirements.lock: made by 'bash scripts/lock.sh' (uv pip compile, CPython 3.11,"
  echo "# Linux x86_64 manylinux_2_28, sha256 hashes; torch is PyPI's CUDA wheel)."
  sed "s|$build|setuptools (building gespace)|" requirements.lock.new; } > requirements.lock
rm requirements.lock.new
git --no-pager diff --stat -- requirements.lock || true
