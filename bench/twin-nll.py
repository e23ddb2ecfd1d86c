"""−log p(x) of a checkpoint under the PyTorch twin, importance-sampled like our Evaluator: for each
example, logsumexp over k samples of log p(x|z) + log p(z) − log q(z|x), minus log k, in chunks
(any posterior kind the twin has).
The data is a raw little-endian float32 file of whole rows of the model's inputSize values
(bench/mnist-nll.ts writes it), of which the first `count` are scored; a file of another size
is refused by name.
For a completion model (condition 'quadrants') this is −log p(x_miss|x_obs); for the quadrant
task's NN baseline (a checkpoint of train.py --baseline) the deterministic BCE over the missing
pixels, negated (k is moot).

    PYTHONPATH=python python3 bench/twin-nll.py --checkpoint F --data F --count N --k 5000
Prints one JSON line: {"logPx": mean over the examples}.
"""

import argparse
import json
import math
import os

import torch

from webgpu_vae_torch.baseline import is_baseline, load_baseline
from webgpu_vae_torch.checkpoint import load_checkpoint, net_from_checkpoint
from webgpu_vae_torch.objectives import sample_terms


def log_px(net, x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Per example: logsumexp over k draws of log p(x|z) + log p(z) − log q(z|x), minus log k.
    net.draw gives z, log q and log p for every posterior kind (flows: the flow's log-det;
    two stochastic layers: both layers), as the training objectives use it."""
    with torch.no_grad():
        parts = []
        for done in range(0, k, chunk):
            K = min(chunk, k - done)
            eps = torch.randn(x.shape[0] * K, net.config.noise_size, dtype=x.dtype)
            t = sample_terms(net, x, eps, K=K)
            parts.append((-t['nll'] + t['logP'] - t['logQ']).reshape(x.shape[0], K))
        return torch.logsumexp(torch.cat(parts, 1), 1) - math.log(k)


def read_rows(path: str, count: int, width: int) -> torch.Tensor:
    """The first `count` rows of a raw file of whole rows of `width` float32 values, in float64."""
    size = os.path.getsize(path)
    if size % (width * 4) != 0 or size < count * width * 4:
        raise SystemExit(f'{path}: {size} bytes, expected at least {count} whole rows of {width} '
                         f'float32 values ({width * 4} bytes a row: the model takes {width} values '
                         'per example)')
    raw = torch.from_file(path, size=count * width, dtype=torch.float32)
    return raw.reshape(count, width).double()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--checkpoint', required=True)
    p.add_argument('--data', required=True)
    p.add_argument('--count', type=int, required=True)
    p.add_argument('--k', type=int, default=5000)
    p.add_argument('--chunk', type=int, default=500)
    p.add_argument('--batch', type=int, default=20)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    ckpt = load_checkpoint(a.checkpoint)
    baseline = is_baseline(ckpt.metadata)
    net = (load_baseline(a.checkpoint) if baseline
           else net_from_checkpoint(ckpt, a.checkpoint)).double()
    x = read_rows(a.data, a.count, net.config.input_size)
    total = 0.0
    if baseline:
        with torch.no_grad():
            print(json.dumps({'logPx': -float(net.nll(x).sum()) / a.count}))
        return
    for start in range(0, a.count, a.batch):
        total += float(log_px(net, x[start:start + a.batch], a.k, a.chunk).sum())
    print(json.dumps({'logPx': total / a.count}))


if __name__ == '__main__':
    main()
