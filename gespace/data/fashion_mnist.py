"""Fashion-MNIST from a local copy, in any of the layouts it is shipped in.

Roots are tried in order: ``root`` (``--data-root``) when given, else
``$GESPACE_DATA``, else Debian's ``/usr/share/datasets/fashion-mnist``, else
torchvision's download into the cache (only where a network exists). A root
may hold the files in torchvision's layout (``FashionMNIST/raw/*-ubyte``),
flat and uncompressed, or flat and gzipped (Debian's ``dataset-fashion-mnist``
package). Gzipped files are decompressed once into a cache directory in
torchvision's layout and read by ``torchvision.datasets.FashionMNIST``.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from torchvision.datasets import FashionMNIST

from gespace.data.base import DataError, ImageData

DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CLASSES = FashionMNIST.classes
HOW_TO_GET = ("install it (apt-get install dataset-fashion-mnist) or pass --data-root DIR "
              "(a directory holding train-images-idx3-ubyte[.gz] etc.)")


def cache_dir() -> Path:
    """Where decompressed and downloaded datasets go: $GESPACE_CACHE or ~/.cache/gespace."""
    base = os.environ.get("GESPACE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gespace")
    return Path(base)


def _find(root: Path, name: str) -> Path | None:
    """The file ``name`` (plain or .gz) in torchvision's layout or flat under ``root``."""
    for folder in (root / "FashionMNIST" / "raw", root):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _torchvision_root(root: Path) -> Path | None:
    """A root whose ``FashionMNIST/raw`` holds the four uncompressed files, or None."""
    found = [_find(root, name) for name in FILES]
    if any(path is None for path in found):
        return None
    if all(path.parent == root / "FashionMNIST" / "raw" and path.suffix != ".gz" for path in found):
        return root
    # Flat or gzipped: build torchvision's layout in the cache, keyed by the sources.
    key = hashlib.sha256("|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                                  for p in found).encode()).hexdigest()[:16]
    target = cache_dir() / "fashion-mnist" / key
    raw = target / "FashionMNIST" / "raw"
    if all((raw / name).is_file() for name in FILES):
        return target
    raw.mkdir(parents=True, exist_ok=True)
    for name, source in zip(FILES, found):
        if (raw / name).is_file():
            continue
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=f".{name}.")
        try:
            opener = gzip.open if source.suffix == ".gz" else open
            with opener(source, "rb") as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp, raw / name)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return target


def _read(root: Path) -> ImageData:
    tv_root = _torchvision_root(root)
    if tv_root is None:
        raise DataError(f"Fashion-MNIST not found in {root}: {HOW_TO_GET}")
    try:
        train = FashionMNIST(str(tv_root), train=True, download=False)
        test = FashionMNIST(str(tv_root), train=False, download=False)
    except (RuntimeError, OSError, AssertionError, ValueError, TypeError) as err:
        raise DataError(f"Fashion-MNIST in {root} cannot be read ({err}): {HOW_TO_GET}") from err
    return ImageData("fashion-mnist", train.data.unsqueeze(1).contiguous(),
                     train.targets.long(), test.data.unsqueeze(1).contiguous(),
                     test.targets.long(), num_classes=len(CLASSES),
                     spec={"name": "fashion-mnist", "root": str(root)})


def default_roots() -> list[Path]:
    roots = []
    if os.environ.get("GESPACE_DATA"):
        roots.append(Path(os.environ["GESPACE_DATA"]))
    roots.append(Path(DEBIAN_ROOT))
    return roots


def load_fashion_mnist(root: str | os.PathLike | None = None, *,
                       allow_download: bool = True) -> ImageData:
    """Fashion-MNIST train (60000) and test (10000) images as uint8 N x 1 x 28 x 28."""
    if root is not None:
        return _read(Path(root))
    for candidate in default_roots():
        if candidate.is_dir() and _torchvision_root(candidate) is not None:
            return _read(candidate)
    if allow_download:
        target = cache_dir() / "fashion-mnist" / "download"
        try:
            FashionMNIST(str(target), train=True, download=True)
            FashionMNIST(str(target), train=False, download=True)
        except Exception as err:  # no network, a proxy, a checksum: all mean "not here"
            raise DataError(f"Fashion-MNIST not found locally and the download failed "
                            f"({type(err).__name__}): {HOW_TO_GET}") from None
        data = _read(target)
        data.spec["root"] = str(target)
        return data
    raise DataError(f"Fashion-MNIST not found: {HOW_TO_GET}")

