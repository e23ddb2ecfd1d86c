"""What a checkpoint computes, in float64, for comparisons with the TypeScript library:

    python -m webgpu_vae_torch.probe --checkpoint CKPT (--data DIR --rows N --seed S |
                                     --input fixed.json) --out probe.json

The batch: the first N test examples of DIR (train when it has no test split) with eps = N(0, I)
drawn after torch.manual_seed(S) and the data's labels when conditioned, or x, eps (and labels)
from fixed.json. At the checkpoint's weights and step t (its C_t) it writes x, eps, labels,
objective, reconSum, klSum, nll, kl, mu, logvar, z, output and every gradient; then it resumes
training as `train --resume` does (weights, Adam moments and step, the saved hyperparameters) and
takes one step on that batch: objectiveAfter (at step t + 1), params, moments and stepAfter.
"""

from __future__ import annotations

import argparse
import json
from typing import Optional

import torch

from .checkpoint import adam_state, load_adam_state, load_checkpoint, net_from_checkpoint
from .data import load_data
from .golden import case_fields, out_list
from .objectives import noise_rows, objective
from .train import Stepper, make_optimizer, saved_hyper


def fixed_batch(net, data: str, rows: int, seed: int) -> dict:
    ds = load_data(data, channels=(net.config.input_shape or (1,))[0])
    split = ds.test if ds.test is not None else ds.train
    index = torch.arange(rows)
    torch.manual_seed(seed)
    eps = torch.randn(noise_rows(net, rows), net.config.noise_size, dtype=torch.float64)
    batch = {'batch': rows, 'x': split.rows(index).double().reshape(-1).tolist(),
             'eps': eps.reshape(-1).tolist()}
    if net.config.classes:
        batch['labels'] = split.labels[index].tolist()
    return batch


def probe(path: str, batch: Optional[dict] = None, data: Optional[str] = None, rows: int = 8,
          seed: int = 0) -> dict:
    ckpt = load_checkpoint(path)
    net = net_from_checkpoint(ckpt, path).double()
    step = ckpt.optimizer['step'] if ckpt.optimizer else 0
    if batch is None:
        batch = fixed_batch(net, data, rows, seed)
    B = batch['batch']
    x = torch.tensor(batch['x'], dtype=torch.float64).reshape(B, -1)
    eps = torch.tensor(batch['eps'], dtype=torch.float64).reshape(-1, net.config.noise_size)
    y = torch.tensor(batch['labels']) if 'labels' in batch else None

    out = objective(net, x, eps=eps, y=y, step=step)
    out['objective'].backward()
    result = {'checkpoint': path, 'step': step, 'capacity': net.config.capacity_at(step),
              'batch': B, 'x': out_list(x), 'eps': out_list(eps)}
    if y is not None:
        result['labels'] = y.tolist()
    result.update(case_fields(net, out))
    result['grads'] = {n: out_list(p.grad) for n, p in net.named_parameters()}

    hyper = saved_hyper(ckpt.optimizer)
    optimizer = make_optimizer(net, hyper)
    if ckpt.optimizer is not None:
        load_adam_state(net, optimizer, ckpt.optimizer)
    stepper = Stepper(net, net, optimizer, hyper, world=1, seed=0, binarize='none',
                      max_norm=None)
    stepper.step(x, y, step, B, 0, hyper['lr'], eps=eps)
    with torch.no_grad():
        after = objective(net, x, eps=eps, y=y, step=step + 1)
    state = adam_state(net, optimizer, hyper)
    result.update({
        'hyper': hyper,
        'objectiveAfter': after['objective'].item(),
        'params': {n: out_list(p) for n, p in net.state_dict().items()},
        'moments': {m: {n: out_list(t) for n, t in ts.items()}
                    for m, ts in state['moments'].items()},
        'stepAfter': state['step'],
    })
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog='python -m webgpu_vae_torch.probe',
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--data', help='take the batch from this dataset (see train --data)')
    parser.add_argument('--rows', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--input', help='take the batch from this JSON {batch, x, eps, labels}')
    parser.add_argument('--out', required=True)
    args = parser.parse_args(argv)
    if (args.data is None) == (args.input is None):
        parser.error('give --data or --input')
    batch = None
    if args.input:
        with open(args.input) as f:
            batch = json.load(f)
    result = probe(args.checkpoint, batch, args.data, args.rows, args.seed)
    with open(args.out, 'w') as f:
        json.dump(result, f)


if __name__ == '__main__':
    main()
