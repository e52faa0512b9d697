"""Datasets, splits, augmentation and loaders, on files the tests write."""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gespace.data import (BatchAugment, DataError, FolderData, ImageData, Normalize,
                          TensorLoader, channel_stats, load_dataset, make_loaders,
                          make_synthetic, pad_images, split_indices, subset_indices)

torch.set_num_threads(1)  # tiny tensors: a second thread only adds contention


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GESPACE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GESPACE_DATA", raising=False)


# --- writers for torchvision's on-disk formats ---------------------------------------------
def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", d)
                                                                for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def write_fashion(root: Path, n_train=60, n_test=20, compress=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test)}
    root.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(root / name, array, compress)
    return arrays


def write_cifar(root: Path, classes: int, n_per_batch=8, seed=0):
    rng = np.random.default_rng(seed)
    if classes == 10:
        folder, files, key = root / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "labels"
        test_name, meta_name, meta_key = "test_batch", "batches.meta", "label_names"
    else:
        folder, files, key = root / "cifar-100-python", ["train"], "fine_labels"
        test_name, meta_name, meta_key = "test", "meta", "fine_label_names"
    folder.mkdir(parents=True)
    written = {}
    for name in files + [test_name]:
        data = rng.integers(0, 256, (n_per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = rng.integers(0, classes, n_per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, key: labels}, f)
        written[name] = (data, labels)
    with open(folder / meta_name, "wb") as f:
        pickle.dump({meta_key: [f"c{i}" for i in range(classes)]}, f)
    return written


# --- Fashion-MNIST -------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_flat_layout(tmp_path, compress):
    arrays = write_fashion(tmp_path / "fm", compress=compress)
    data = load_dataset("fashion-mnist", tmp_path / "fm")
    assert isinstance(data, ImageData)
    assert data.train_images.shape == (60, 1, 28, 28) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (20, 1, 28, 28)
    assert np.array_equal(data.train_images[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(data.test_labels.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert data.num_classes == 10 and data.spec["root"] == str(tmp_path / "fm")
    # Read through torchvision's layout in the cache, written once.
    if compress:
        cached = list((tmp_path / "cache").rglob("FashionMNIST/raw/train-images-idx3-ubyte"))
        assert len(cached) == 1


def test_fashion_mnist_torchvision_layout(tmp_path):
    arrays = write_fashion(tmp_path / "tv" / "FashionMNIST" / "raw", compress=False)
    data = load_dataset("fashion-mnist", tmp_path / "tv")
    assert np.array_equal(data.train_labels.numpy(), arrays["train-labels-idx1-ubyte"])
    assert not (tmp_path / "cache").exists()  # used in place


def test_fashion_mnist_from_env(tmp_path, monkeypatch):
    write_fashion(tmp_path / "env")
    monkeypatch.setenv("GESPACE_DATA", str(tmp_path / "env"))
    assert len(load_dataset("fashion-mnist", allow_download=False).train_images) == 60


def test_fashion_mnist_missing_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", tmp_path / "empty")
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message and "--data-root" in message
    assert "\n" not in message


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
                    .exists(), reason="system Fashion-MNIST not installed")
def test_fashion_mnist_system_copy():
    data = load_dataset("fashion-mnist", "/usr/share/datasets/fashion-mnist")
    assert data.train_images.shape == (60000, 1, 28, 28)
    assert data.test_images.shape == (10000, 1, 28, 28)
    assert sorted(data.train_labels.unique().tolist()) == list(range(10))
    assert torch.bincount(data.test_labels).tolist() == [1000] * 10


# --- CIFAR ---------------------------------------------------------------------------------
@pytest.mark.parametrize("classes", [10, 100])
def test_cifar_torchvision_layout(tmp_path, classes):
    written = write_cifar(tmp_path, classes)
    data = load_dataset(f"cifar{classes}", tmp_path)
    n_train = 40 if classes == 10 else 8
    assert data.train_images.shape == (n_train, 3, 32, 32) and data.num_classes == classes
    test_data, test_labels = written["test_batch" if classes == 10 else "test"]
    assert torch.equal(data.test_images, torch.from_numpy(test_data).view(-1, 3, 32, 32))
    assert data.test_labels.tolist() == test_labels


def test_cifar_missing(tmp_path):
    with pytest.raises(DataError, match="--data-root"):
        load_dataset("cifar10", tmp_path)


# --- ImageFolder ---------------------------------------------------------------------------
def write_folder(root: Path, classes=("ant", "bee", "cat"), per_class=6, size=20):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("val", 2)):
        for label in classes:
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def test_imagefolder_loaders(tmp_path):
    write_folder(tmp_path)
    data = load_dataset("imagefolder", tmp_path, image_size=16)
    assert isinstance(data, FolderData) and data.classes == ["ant", "bee", "cat"]
    loaders = make_loaders(data, batch_size=4, val_fraction=0.25, num_workers=0, flip=True)
    assert loaders.train.num_images == 14 and loaders.val.num_images == 4
    assert loaders.test.num_images == 6
    loaders.train.set_epoch(0)
    batches = list(loaders.train)
    assert len(batches) == 3  # 14 images, full batches only
    x, y = batches[0]
    assert x.shape == (4, 3, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.long
    x, y = next(iter(loaders.test))
    assert x.shape == (6, 3, 16, 16) and sorted(y.tolist()) == [0, 0, 1, 1, 2, 2]
    # Seeded per epoch: the same epoch gives the same batches.
    loaders.train.set_epoch(0)
    again = list(loaders.train)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))


def test_imagefolder_with_workers(tmp_path):
    write_folder(tmp_path, per_class=4)
    data = load_dataset("imagefolder", tmp_path, image_size=8, channels=1)
    loaders = make_loaders(data, batch_size=4, val_fraction=0.0, num_workers=1, flip=True)
    assert loaders.val is None
    loaders.train.set_epoch(1)
    x, _ = next(iter(loaders.train))
    assert x.shape == (4, 1, 8, 8)
    # Random crops and flips are seeded per item: the same in the main process.
    inline = make_loaders(data, batch_size=4, val_fraction=0.0, num_workers=0, flip=True)
    inline.train.set_epoch(1)
    assert torch.equal(next(iter(inline.train))[0], x)


def test_imagefolder_missing(tmp_path):
    with pytest.raises(DataError, match="train/"):
        load_dataset("imagefolder", tmp_path)


# --- synthetic, adaptation -----------------------------------------------------------------
def test_synthetic_is_seeded_and_shaped():
    a = make_synthetic(64, 32, num_classes=4, channels=3, image_size=12, seed=1)
    b = make_synthetic(64, 32, num_classes=4, channels=3, image_size=12, seed=1)
    c = make_synthetic(64, 32, num_classes=4, channels=3, image_size=12, seed=2)
    assert torch.equal(a.train_images, b.train_images) and not torch.equal(a.train_images,
                                                                          c.train_images)
    assert a.train_images.shape == (64, 3, 12, 12) and torch.bincount(a.train_labels).tolist() == [16] * 4
    again = load_dataset(**{k: v for k, v in a.spec.items() if k != "root"})
    assert torch.equal(again.test_images, a.test_images)


def test_adapt_channels_and_size(tmp_path):
    write_fashion(tmp_path / "fm", n_train=10, n_test=4)
    data = load_dataset("fashion-mnist", tmp_path / "fm", channels=3, image_size=32)
    assert data.train_images.shape == (10, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert torch.equal(data.train_images[:, 0], data.train_images[:, 2])


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("mnist-but-wrong")


# --- split ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n,fraction", [(1000, 0.1), (101, 0.25), (10, 0.0), (7, 0.5)])
def test_split_disjoint_and_sized(n, fraction):
    train, val = split_indices(n, fraction, seed=3)
    assert len(val) == round(n * fraction) or (fraction > 0 and len(val) == 1)
    assert len(train) + len(val) == n
    assert not set(train.tolist()) & set(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(n))
    again = split_indices(n, fraction, seed=3)
    assert torch.equal(again[1], val)
    if fraction:
        assert not torch.equal(split_indices(n, fraction, seed=4)[1], val) or n < 10


def test_train_subset_is_a_seeded_part_of_the_train_split():
    data = make_synthetic(n_train=1000, n_test=10)
    full = make_loaders(data, batch_size=50, val_fraction=0.2, split_seed=1)
    part = make_loaders(data, batch_size=50, val_fraction=0.2, split_seed=1, train_subset=0.25)
    assert (full.train.num_images, part.train.num_images) == (800, 200)
    assert torch.equal(full.val.store, part.val.store)  # validation stays whole
    train, _ = split_indices(1000, 0.2, seed=1)
    chosen = subset_indices(train, 0.25, seed=1)
    assert set(chosen.tolist()) < set(train.tolist()) and len(chosen) == 200
    assert torch.equal(chosen, subset_indices(train, 0.25, seed=1))
    assert chosen.tolist() != train[:200].tolist()  # random, not the first ones
    with pytest.raises(ValueError, match="subset must be in"):
        subset_indices(train, 0.0)


def test_loaders_split_test_apart():
    data = make_synthetic(200, 50, seed=0)
    loaders = make_loaders(data, batch_size=32, val_fraction=0.2, split_seed=5)
    assert loaders.train.num_images == 160 and loaders.val.num_images == 40
    assert loaders.test.num_images == 50
    train_idx, val_idx = split_indices(200, 0.2, 5)
    assert torch.equal(loaders.val.store, data.train_images[val_idx])
    assert torch.equal(loaders.test.store, data.test_images)


# --- augmentation --------------------------------------------------------------------------
def test_normalisation_zero_mean_unit_std():
    data = make_synthetic(512, 16, channels=3, image_size=16, seed=0)
    mean, std = channel_stats(data.train_images)
    loader = TensorLoader(data.train_images, data.train_labels, batch_size=100,
                          normalize=Normalize(mean, std))
    x = torch.cat([batch for batch, _ in loader])
    assert x.shape == (512, 3, 16, 16)
    assert torch.allclose(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std((0, 2, 3)), torch.ones(3), atol=1e-3)


def test_crops_are_shifts_of_the_padded_image():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 2, 10, 12), dtype=torch.uint8, generator=gen)
    pad = 3
    padded = pad_images(images, pad)
    assert padded.shape == (64, 2, 16, 18) and padded[:, :, :pad].sum() == 0
    augment = BatchAugment(padded, pad, flip=True)
    index = torch.randperm(64, generator=gen)[:40]
    out = augment(index, torch.Generator().manual_seed(7))
    assert out.shape == (40, 2, 10, 12) and out.dtype == torch.uint8
    # The draws it used, replayed: every output is that crop (flipped where drawn).
    dy, dx, flipped = augment.offsets(40, torch.Generator().manual_seed(7))
    shifts = set()
    for j in range(40):
        crop = padded[index[j], :, dy[j]:dy[j] + 10, dx[j]:dx[j] + 12]
        if flipped[j]:
            crop = crop.flip(-1)
        assert torch.equal(out[j], crop)
        shifts.add((int(dy[j]), int(dx[j])))
    assert len(shifts) > 10 and all(0 <= a <= 2 * pad and 0 <= b <= 2 * pad for a, b in shifts)


def test_flip_rate_is_one_half():
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (4000, 1, 6, 6), dtype=torch.uint8, generator=gen)
    out = BatchAugment(images, 0, flip=True)(torch.arange(4000), gen)
    flipped = (out == images.flip(-1)).flatten(1).all(1)
    same = (out == images).flatten(1).all(1)
    assert bool((flipped ^ same).all())
    assert 0.46 < flipped.float().mean().item() < 0.54
    assert torch.equal(BatchAugment(images, 0, flip=False)(torch.arange(10), gen), images[:10])


def test_train_loader_shuffles_per_epoch_and_augments():
    data = make_synthetic(100, 10, seed=0)
    loaders = make_loaders(data, batch_size=32, val_fraction=0.0, pad=2, flip=True, seed=9)
    train = loaders.train
    assert len(train) == 3 and train.images_per_epoch == 96

    def labels(epoch):
        train.set_epoch(epoch)
        return torch.cat([y for _, y in train])

    first, again, other = labels(0), labels(0), labels(1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    train.set_epoch(0)
    x, _ = next(iter(train))
    assert x.shape == (32, 1, 16, 16) and x.dtype == torch.float32
    # An unshuffled, unaugmented pass covers every image once, in order.
    plain = TensorLoader(data.train_images, data.train_labels, batch_size=32,
                         normalize=Normalize([0.5], [0.25]))
    assert torch.equal(torch.cat([y for _, y in plain]), data.train_labels)


def test_augmentation_keeps_label_statistics():
    data = make_synthetic(400, 10, seed=0)
    loaders = make_loaders(data, batch_size=50, val_fraction=0.0, pad=4, flip=True, seed=0)
    loaders.train.set_epoch(0)
    ys = torch.cat([y for _, y in loaders.train])
    assert sorted(ys.tolist()) == sorted(data.train_labels.tolist())
