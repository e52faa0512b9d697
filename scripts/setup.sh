#!/usr/bin/env bash
# Idempotent set-up: .venv with gespace (editable) and the exact dependency set of
# requirements.lock (hashes checked), plus Debian's Fashion-MNIST where apt is
# available. A second run is a no-op. The lock covers CPython 3.11 on Linux x86_64;
# elsewhere the compatible ranges of pyproject.toml are installed instead (said).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null \
    && [ "$(id -u)" = 0 ]; then
  echo "setup: installing Debian's dataset-fashion-mnist" >&2
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
    || echo "setup: warning: could not install dataset-fashion-mnist; use --data-root" >&2
fi

want="$(cat pyproject.toml requirements.lock scripts/setup.sh | sha256sum | cut -d' ' -f1)"
stamp=.venv/.gespace-setup
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
  if .venv/bin/python -c 'import platform, sys; sys.exit(not (sys.version_info[:2] == (3, 11)
      and sys.platform == "linux" and platform.machine() == "x86_64"))'; then
    echo "setup: installing requirements.lock and gespace into .venv (a few minutes the first time)" >&2
    "${pip[@]}" --require-hashes --no-deps -r requirements.lock
    "${pip[@]}" --no-deps --no-build-isolation -e .
  else
    echo "setup: requirements.lock covers CPython 3.11 on Linux x86_64, not this interpreter;" \
         "installing pyproject.toml's compatible ranges instead" >&2
    "${pip[@]}" -e '.[test]'
  fi
  echo "$want" > "$stamp"
fi
