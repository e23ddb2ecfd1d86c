"""Files the twin's tests write: MNIST-style IDX folders and JSON-lines logs."""
import json
import os
import struct

import torch


def write_idx_files(folder, pixels, labels=None, shape=(28, 28)):
    """pixels (count, H·W) or (count, H, W) uint8, and optional labels (count) uint8, as the IDX
    files of both splits (the same examples in train and t10k)."""
    count = pixels.shape[0]
    for split in ('train', 't10k'):
        with open(os.path.join(folder, f'{split}-images-idx3-ubyte'), 'wb') as f:
            f.write(struct.pack('>IIII', 2051, count, *shape) + pixels.numpy().tobytes())
        if labels is not None:
            with open(os.path.join(folder, f'{split}-labels-idx1-ubyte'), 'wb') as f:
                f.write(struct.pack('>II', 2049, count) + labels.numpy().tobytes())


def write_idx(folder, count, seed, shape=(28, 28), labels=True):
    """A tiny MNIST-style IDX folder of random pixels (labels 0..9 in turn, unless labels=False)."""
    g = torch.Generator()
    g.manual_seed(seed)
    pixels = torch.randint(0, 256, (count, shape[0] * shape[1]), generator=g, dtype=torch.uint8)
    classes = torch.arange(count, dtype=torch.uint8) % 10 if labels else None
    write_idx_files(folder, pixels, classes, shape)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]
