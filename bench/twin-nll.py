"""−log p(x) of a checkpoint under the PyTorch twin, importance-sampled like our Evaluator: for each
example, logsumexp over k samples of log p(x|z) + log p(z) − log q(z|x), minus log k, in chunks
(any posterior kind the twin has).
The data is a raw little-endian float32 file of `count` rows of 784 values (bench/iwae.ts writes it).

    PYTHONPATH=python python3 bench/twin-nll.py --checkpoint F --data F --count N --k 5000
Prints one JSON line: {"logPx": mean over the examples}.
"""

import argparse
import json
import math

import torch

from webgpu_vae_torch.checkpoint import load_checkpoint, net_from_checkpoint


def log_px(net, x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Per example: logsumexp over k draws of log p(x|z) + log p(z) − log q(z|x), minus log k.
    net.draw gives z, log q and log p for every posterior kind (flows: the flow's log-det;
    two stochastic layers: both layers), as the training objectives use it."""
    with torch.no_grad():
        params = net.posterior_params(x)
        parts = []
        for done in range(0, k, chunk):
            K = min(chunk, k - done)
            eps = torch.randn(x.shape[0] * K, net.config.noise_size, dtype=x.dtype)
            z, log_qz, log_pz = net.draw(params, eps, K)
            output, log_sigma = net.decode(z)
            nll = net.nll(output, log_sigma, x.repeat_interleave(K, 0))
            parts.append((-nll + log_pz - log_qz).reshape(x.shape[0], K))
        return torch.logsumexp(torch.cat(parts, 1), 1) - math.log(k)


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
    net = net_from_checkpoint(load_checkpoint(a.checkpoint), a.checkpoint).double()
    raw = torch.from_file(a.data, size=a.count * 784, dtype=torch.float32)
    x = raw.reshape(a.count, 784).double()
    total = 0.0
    for start in range(0, a.count, a.batch):
        total += float(log_px(net, x[start:start + a.batch], a.k, a.chunk).sum())
    print(json.dumps({'logPx': total / a.count}))


if __name__ == '__main__':
    main()
