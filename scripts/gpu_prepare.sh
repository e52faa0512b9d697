#!/usr/bin/env bash
# Prepare what the GPU check carries to the device machine: Fashion-MNIST, copied from
# Debian's dataset-fashion-mnist (or the folder given as $1) into .gpu-carry/, which git
# ignores and the device call names in `carry`. No wheels: the check imports nothing the
# device image lacks (no Ray, Optuna or fvcore; bench/gpu_check.py records this).
set -euo pipefail
cd "$(dirname "$0")/.."

src="${1:-/usr/share/datasets/fashion-mnist}"
dest=.gpu-carry/fashion-mnist
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
mkdir -p "$dest"
for name in "${files[@]}"; do
  if [ ! -f "$src/$name.gz" ]; then
    echo "gpu_prepare: $src/$name.gz is missing (apt-get install dataset-fashion-mnist, or pass a folder)" >&2
    exit 2
  fi
  cp -p "$src/$name.gz" "$dest/"
done

# What travels: tracked and untracked-not-ignored files plus the carried folder; the limit is 64 MiB.
tree_kib=$(git ls-files -z --cached --others --exclude-standard | du -ck --files0-from=- 2>/dev/null | tail -1 | cut -f1)
carry_kib=$(du -sk .gpu-carry | cut -f1)
echo "gpu_prepare: .gpu-carry ${carry_kib} KiB + working tree ${tree_kib} KiB (limit 65536 KiB)"
if [ $((tree_kib + carry_kib)) -ge 65536 ]; then
  echo "gpu_prepare: too large to travel" >&2
  exit 1
fi
