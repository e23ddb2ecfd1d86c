"""What a checkpoint computes, for comparisons with the TypeScript library (in float64):

    python -m webgpu_vae_torch.probe objective --checkpoint CKPT --data DIR --rows N --seed S \\
        --out probe.json
        x = the first N test examples (train when there is no test split), eps = N(0, I) drawn
        after torch.manual_seed(S), labels from the data when conditioned; writes x, eps, labels,
        objective, reconSum, klSum, nll, kl, mu, logvar, z, output and every gradient, at the
        checkpoint's weights and its next step (its capacity C_t).

    python -m webgpu_vae_torch.probe resume --checkpoint CKPT --input fixed.json --out step.json
        Resumes training as `train --resume` does (weights, Adam moments and step, the saved
        hyperparameters) and takes one step on the given x, eps (and labels) of fixed.json; writes
        the objective before the step, the weights and moments after it and the objective after.
"""

from __future__ import annotations

import argparse
import json

import torch

from .checkpoint import adam_state, load_adam_state, load_checkpoint, net_from_checkpoint
from .data import load_data
from .golden import case_fields, out_list
from .objectives import noise_rows, objective
from .train import Stepper, make_optimizer, saved_hyper


def _checkpoint_net(path: str):
    ckpt = load_checkpoint(path)
    net = net_from_checkpoint(ckpt, path).double()
    step = ckpt.optimizer['step'] if ckpt.optimizer else 0
    return ckpt, net, step


def probe_objective(path: str, data: str, rows: int, seed: int) -> dict:
    ckpt, net, step = _checkpoint_net(path)
    ds = load_data(data, channels=(net.config.input_shape or (1,))[0])
    split = ds.test if ds.test is not None else ds.train
    index = torch.arange(rows)
    x = split.rows(index).double()
    y = split.labels[index] if net.config.classes else None
    torch.manual_seed(seed)
    eps = torch.randn(noise_rows(net, rows), net.config.latent_size, dtype=torch.float64)
    out = objective(net, x, eps=eps, y=y, step=step)
    out['objective'].backward()
    result = {'checkpoint': path, 'step': step, 'capacity': net.config.capacity_at(step),
              'batch': rows, 'x': out_list(x), 'eps': out_list(eps)}
    if y is not None:
        result['labels'] = y.tolist()
    result.update(case_fields(net, out))
    result['grads'] = {n: out_list(p.grad) for n, p in net.named_parameters()}
    return result


def probe_resume(path: str, fixed: dict) -> dict:
    ckpt, net, step = _checkpoint_net(path)
    hyper = saved_hyper(ckpt.optimizer)
    optimizer = make_optimizer(net, hyper)
    if ckpt.optimizer is not None:
        load_adam_state(net, optimizer, ckpt.optimizer)
    B = fixed['batch']
    x = torch.tensor(fixed['x'], dtype=torch.float64).reshape(B, -1)
    eps = torch.tensor(fixed['eps'], dtype=torch.float64).reshape(-1, net.config.latent_size)
    y = torch.tensor(fixed['labels']) if 'labels' in fixed else None
    stepper = Stepper(net, net, optimizer, hyper, world=1, seed=0, binarize='none',
                      max_norm=None)
    before = stepper.step(x, y, step, B, 0, hyper['lr'], eps=eps)
    with torch.no_grad():
        after = objective(net, x, eps=eps, y=y, step=step + 1)
    state = adam_state(net, optimizer, hyper)
    return {'checkpoint': path, 'step': step, 'hyper': hyper,
            'objectiveBefore': before['objective'].item(),
            'objectiveAfter': after['objective'].item(),
            'params': {n: out_list(p) for n, p in net.state_dict().items()},
            'moments': {m: {n: out_list(t) for n, t in ts.items()}
                        for m, ts in state['moments'].items()},
            'stepAfter': state['step']}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog='python -m webgpu_vae_torch.probe',
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    o = sub.add_parser('objective')
    o.add_argument('--checkpoint', required=True)
    o.add_argument('--data', required=True)
    o.add_argument('--rows', type=int, default=8)
    o.add_argument('--seed', type=int, default=0)
    o.add_argument('--out', required=True)
    r = sub.add_parser('resume')
    r.add_argument('--checkpoint', required=True)
    r.add_argument('--input', required=True)
    r.add_argument('--out', required=True)
    args = parser.parse_args(argv)
    if args.command == 'objective':
        result = probe_objective(args.checkpoint, args.data, args.rows, args.seed)
    else:
        with open(args.input) as f:
            result = probe_resume(args.checkpoint, json.load(f))
    with open(args.out, 'w') as f:
        json.dump(result, f)


if __name__ == '__main__':
    main()
