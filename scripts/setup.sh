#!/usr/bin/env bash
# Idempotent set-up: .venv with gespace (editable) and its pinned dependencies,
# plus Debian's Fashion-MNIST where apt is available. A second run is a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null \
    && [ "$(id -u)" = 0 ]; then
  echo "setup: installing Debian's dataset-fashion-mnist" >&2
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
    || echo "setup: warning: could not install dataset-fashion-mnist; use --data-root" >&2
fi

want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
stamp=.venv/.gespace-setup
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing gespace and its dependencies into .venv (a few minutes the first time)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi
