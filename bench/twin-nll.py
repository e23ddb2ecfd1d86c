"""−log p(x) of a checkpoint under the PyTorch twin, importance-sampled like our Evaluator: for each
example, logsumexp over k samples of log p(x|z) + log N(z; 0, I) − log q(z|x), minus log k, in chunks.
The data is a raw little-endian float32 file of `count` rows of 784 values (bench/iwae.ts writes it).

    PYTHONPATH=python python3 bench/twin-nll.py --checkpoint F --data F --count N --k 5000
Prints one JSON line: {"logPx": mean over the examples}.
"""

import argparse
import json
import math

import torch

from webgpu_vae_torch.checkpoint import load_checkpoint, net_from_checkpoint
from webgpu_vae_torch.model import LOGVAR_MAX, LOGVAR_MIN

LOG_2PI = math.log(2 * math.pi)


def log_px(net, x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    Z = net.config.latent_size
    with torch.no_grad():
        mu, logvar = net.encode(x)
        c = logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)
        parts = []
        for done in range(0, k, chunk):
            K = min(chunk, k - done)
            mu_r = mu.repeat_interleave(K, 0)
            c_r = c.repeat_interleave(K, 0)
            eps = torch.randn_like(mu_r)
            z = mu_r + torch.exp(0.5 * c_r) * eps
            output, log_sigma = net.decode(z)
            nll = net.nll(output, log_sigma, x.repeat_interleave(K, 0))
            log_pz = -0.5 * (z * z).sum(1) - 0.5 * Z * LOG_2PI
            log_qz = -0.5 * (eps * eps + c_r).sum(1) - 0.5 * Z * LOG_2PI
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
