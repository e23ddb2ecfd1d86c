"""The VQ-VAE's second stage in the twin, as the library's `train-prior` (src/cli/train-prior.ts,
src/vae/prior-stage.ts): trains the learned prior over a vq model's codes (prior.kind 'made',
made.py) and writes the checkpoint again with its tensors.

    python -m webgpu_vae_torch.train_prior --checkpoint VQ.safetensors --data DIR --out DIR \\
        [--epochs 10] [--batch-size 128] [--lr 1e-3] [--hidden 128] [--activation relu] [--seed 0]

The training set (and the test set) is encoded to code indices (n, P) by the frozen vq model
(nearest codebook vectors of z_e, as its encode()); the MADE is trained on them with Adam (torch's
defaults, as ours: β 0.9, 0.999, ε 1e-8, no weight decay) on the mean softmax cross-entropy per
position over each batch's codes, batches of a shuffled order (--seed; torch's generator, not
the library's), the partial last batch included. After every epoch OUT/metrics.jsonl gets
{epoch, step, trainBits, testBits, seconds}: the mean −log₂ p(code | earlier codes) per code over
the epoch's training codes (at the weights of each step, as ours) and over the test codes after
the epoch. OUT/model.safetensors is the checkpoint in the library's format: the VAE's weights as
they were, the prior's prior.* and its config section, the VAE's Adam state carried over with
zero moments for the prior's tensors (non-parameter tensors to it, as the library writes them),
and metadata prior_stage as ours.

A checkpoint that already has a 'made' prior continues training it unless --hidden or
--activation asks for another one (then, and without one, the prior starts from nn.Linear's
init under --seed). `sample_codes` draws codes ancestrally with a temperature.

Differences from ours: --out is a folder (as the twin's train), not the file; --batch is
accepted as --batch-size; the shuffle and the samples use torch's generator.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Optional

import torch

from .checkpoint import Checkpoint, encode_checkpoint, load_checkpoint
from .config import ACTIVATIONS, resolve_config
from .data import Split, load_data
from .made import DEFAULT_MADE_HIDDEN, LN2, MadePrior
from .model import VaeNet
from .safetensors_io import atomic_write

PRIOR_PREFIX = 'prior.'


def prior_config(source: dict, hidden: Optional[list] = None,
                 activation: Optional[str] = None) -> tuple:
    """(the model description with the prior asked for, fresh): as ours' priorConfig, the
    checkpoint's prior's hidden and activation unless given; fresh when they differ from it."""
    cfg = resolve_config(source)
    if cfg.posterior['kind'] != 'vq':
        raise ValueError("train_prior trains a prior over the codes of a vq model "
                         f"(posterior.kind 'vq'); this model's posterior is "
                         f"'{cfg.posterior['kind']}'")
    old = cfg.prior if cfg.prior['kind'] == 'made' else None
    prior = {'kind': 'made',
             'hidden': list(hidden or (old['hidden'] if old else DEFAULT_MADE_HIDDEN)),
             'activation': activation or (old['activation'] if old else 'relu')}
    described = {**source, 'prior': prior}
    resolve_config(described)
    return described, prior != old


def net_with_prior(ckpt: Checkpoint, described: dict, fresh: bool, seed: int,
                   source: str = 'checkpoint') -> VaeNet:
    """The checkpoint's model with the prior `described` asks for: the checkpoint's weights, and
    for a fresh prior nn.Linear's init under `seed`."""
    torch.manual_seed(seed)
    net = VaeNet(resolve_config(described))
    state = net.state_dict()
    wanted = [n for n in state if not (fresh and n.startswith(PRIOR_PREFIX))]
    given = [n for n in ckpt.params if not (fresh and n.startswith(PRIOR_PREFIX))]
    missing = [n for n in wanted if n not in ckpt.params]
    extra = [n for n in given if n not in state]
    if missing or extra:
        raise ValueError(f'{source}: tensors do not match the model: missing {missing}, '
                         f'unexpected {extra}')
    for n in wanted:
        if tuple(ckpt.params[n].shape) != tuple(state[n].shape):
            raise ValueError(f'{source}: {n} has shape {list(ckpt.params[n].shape)}, the model '
                             f'expects {list(state[n].shape)}')
        state[n].copy_(ckpt.params[n])
    return net


@torch.no_grad()
def encode_codes(net: VaeNet, split: Split, device=None, batch: int = 500) -> torch.Tensor:
    """The code indices (n, P), int64, of a split's images under the frozen vq model."""
    net.eval()
    out = []
    for start in range(0, len(split), batch):
        rows = torch.arange(start, min(len(split), start + batch))
        x = split.rows(rows).to(device)
        y = split.labels[rows].to(device) if net.config.classes else None
        codes, _ = net.encode(x, y)
        out.append(codes.cpu())
    net.train()
    P = net.config.latent_size // net.config.posterior['dim']
    return torch.cat(out) if out else torch.zeros(0, P, dtype=torch.long)


@torch.no_grad()
def bits_per_code(made: MadePrior, codes: torch.Tensor, batch: int = 1000) -> float:
    """Mean −log₂ p(code | earlier codes) per code over code sequences (n, P)."""
    total = 0.0
    for start in range(0, codes.shape[0], batch):
        total += float(made.nll(codes[start:start + batch]).double().sum())
    return total / (codes.numel() * LN2)


def fit_prior(made: MadePrior, codes: torch.Tensor, epochs: int, batch_size: int = 128,
              lr: float = 1e-3, seed: int = 0, test: Optional[torch.Tensor] = None,
              on_epoch=None) -> list:
    """Trains `made` on code sequences (n, P) with Adam (see the module docstring); returns the
    epoch reports {epoch, step, trainBits, testBits, seconds}."""
    if batch_size < 1 or epochs < 0:
        raise ValueError('batch_size must be >= 1 and epochs >= 0')
    optimizer = torch.optim.Adam(made.parameters(), lr=lr)
    order_gen = torch.Generator().manual_seed(seed)
    n, P = codes.shape
    step, reports = 0, []
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(n, generator=order_gen)
        total = 0.0
        for k in range(0, n, batch_size):
            batch = codes[order[k:k + batch_size]]
            nll = made.nll(batch)
            optimizer.zero_grad(set_to_none=True)
            nll.mean().backward()
            optimizer.step()
            total += float(nll.detach().double().sum())
            step += 1
        report = {'epoch': epoch, 'step': step, 'trainBits': total / (n * P * LN2),
                  'testBits': bits_per_code(made, test) if test is not None else None,
                  'seconds': time.perf_counter() - started}
        reports.append(report)
        if on_epoch:
            on_epoch(report)
    return reports


@torch.no_grad()
def sample_codes(net: VaeNet, rows: int, temperature: float = 1.0, seed: int = 0,
                 decode: bool = False):
    """Codes (rows, P) drawn ancestrally from net's 'made' prior at `temperature` (0: the most
    likely code at every position); with decode, (codes, images (rows, D)) of their decodes."""
    if net.config.prior['kind'] != 'made':
        raise ValueError(f"the model has no learned prior over its codes (prior "
                         f"'{net.config.prior['kind']}'); train one (train_prior)")
    g = torch.Generator().manual_seed(seed)
    codes = net.prior.sample(rows, temperature, g)
    if not decode:
        return codes
    output, _ = net.decode_codes(codes.to(net.prior.out.weight.device))
    return codes, net.images(output)


def carried_optimizer(ckpt: Checkpoint, params: dict) -> Optional[dict]:
    """The VAE's Adam state for the layout of params (name -> tensor): its moments as they were,
    zeros for prior.*."""
    opt = ckpt.optimizer
    if opt is None:
        return None
    moments = {}
    for m, tensors in opt['moments'].items():
        moments[m] = {}
        for name, t in params.items():
            keep = not name.startswith(PRIOR_PREFIX) and name in tensors
            moments[m][name] = tensors[name] if keep else torch.zeros_like(t)
    return {'type': opt['type'], 'step': opt['step'], 'moments': moments, 'hyper': opt['hyper']}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='python -m webgpu_vae_torch.train_prior', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', required=True, help='a checkpoint of a vq model')
    p.add_argument('--data', required=True, help='IDX folder, image folder, or embedded')
    p.add_argument('--out', required=True, help='folder for model.safetensors and metrics.jsonl')
    p.add_argument('--epochs', type=int, default=10, help='epochs over the codes (default 10)')
    p.add_argument('--batch-size', '--batch', dest='batch_size', type=int, default=128,
                   help='code sequences per step (default 128)')
    p.add_argument('--lr', type=float, default=1e-3, help='Adam learning rate (default 1e-3)')
    p.add_argument('--hidden', help="the MADE's hidden widths, comma-separated, for a new prior")
    p.add_argument('--activation', choices=ACTIVATIONS, help='for a new prior (default relu)')
    p.add_argument('--limit', type=int, help='train on the codes of the first N examples only')
    p.add_argument('--test-limit', type=int, help='evaluate on the first N test examples only')
    p.add_argument('--seed', type=int, default=0, help='init and shuffle seed')
    p.add_argument('--device', default='auto', help='auto (cuda when available), cpu or cuda')
    p.add_argument('--quiet', action='store_true')
    args = p.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not (args.lr > 0 and math.isfinite(args.lr)):
        p.error('--epochs and --batch-size must be >= 1 and --lr a finite number > 0')
    if args.hidden is not None:
        try:
            args.hidden = [int(h) for h in args.hidden.split(',')]
        except ValueError:
            p.error(f'--hidden must be comma-separated widths, got {args.hidden!r}')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    use_cuda = args.device == 'cuda' or (args.device == 'auto' and torch.cuda.is_available())
    device = torch.device('cuda' if use_cuda else
                          ('cpu' if args.device == 'auto' else args.device))
    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.config is None:
        raise ValueError(f'{args.checkpoint}: the checkpoint has no model config in its metadata')
    described, fresh = prior_config(ckpt.config, args.hidden, args.activation)
    net = net_with_prior(ckpt, described, fresh, args.seed, args.checkpoint).to(device)
    cfg = net.config
    data = load_data(args.data, channels=(cfg.input_shape or (1,))[0])
    train = data.train.head(args.limit)
    test = None if data.test is None else data.test.head(args.test_limit)
    if train.images.shape[1] != cfg.input_size:
        raise ValueError(f'{args.checkpoint}: the model takes {cfg.input_size} values per '
                         f'example, {args.data} has {train.images.shape[1]}')
    log(f'data: {data.source}')
    started = time.perf_counter()
    train_codes = encode_codes(net, train, device)
    test_codes = encode_codes(net, test, device) if test is not None else None
    P, K = train_codes.shape[1], cfg.posterior['codes']
    log(f'codes: {len(train)} training and {0 if test is None else len(test)} test examples, '
        f'{P} positions of {K} codes each (encoded in {time.perf_counter() - started:.1f} s)')
    made = MadePrior(P, K, cfg.prior['hidden'], cfg.prior['activation']).to(device)
    made.load_state_dict(net.prior.state_dict())
    log(f"prior: {'new' if fresh else 'continued'} MADE, hidden "
        f"[{', '.join(map(str, cfg.prior['hidden']))}] {cfg.prior['activation']}; batch "
        f'{args.batch_size}, Adam lr {args.lr}, {args.epochs} epochs')
    os.makedirs(args.out, exist_ok=True)
    metrics = os.path.join(args.out, 'metrics.jsonl')

    def on_epoch(r):
        with open(metrics, 'a') as f:
            f.write(json.dumps(r) + '\n')
        test_text = f", test {r['testBits']:.4f}" if r['testBits'] is not None else ''
        log(f"epoch {r['epoch']}/{args.epochs}: prior NLL train {r['trainBits']:.4f}{test_text} "
            f"bits per code; {r['seconds']:.1f} s")

    reports = fit_prior(made, train_codes, args.epochs, args.batch_size, args.lr, args.seed,
                        test_codes, on_epoch)
    net.prior.load_state_dict(made.state_dict())
    last = reports[-1]
    meta = dict(ckpt.metadata)
    meta['prior_stage'] = json.dumps({
        'epochs': args.epochs, 'steps': last['step'], 'batch': args.batch_size, 'lr': args.lr,
        'seed': args.seed, 'examples': len(train), 'trainBits': last['trainBits'],
        'testBits': last['testBits'], 'trainer': 'webgpu_vae_torch'})
    params = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    path = os.path.join(args.out, 'model.safetensors')
    atomic_write(path, encode_checkpoint(params, described, carried_optimizer(ckpt, params), meta))
    log(f'checkpoint: {path}')


def cli() -> None:
    try:
        main()
    except (ValueError, OSError) as e:
        print(f'webgpu_vae_torch.train_prior: {e}', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    cli()
