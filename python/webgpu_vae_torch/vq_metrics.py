"""What the twin's evaluation reports for a vq model (train.py evaluate), matched to ours:

- as our Trainer.evaluate's metrics (src/vae/posterior/vq.ts, objective/elbo.ts), per example:
  recon (the likelihood's NLL of x given the decode of its codes), codebook ‖sg[z_e] − z_q‖² and
  commitment ‖z_e − sg[z_q]‖² (both unweighted, summed over the example's vectors), and loss
  (recon + codebook when update is 'loss' + β·commitment); kl is the weighted codebook and
  commitment terms (what the objective adds to recon; the twin's log line reads it);
- as our `eval` command's evaluateVq (src/cli/vq.ts), over the whole split: mse Σ_pixels
  (x̂ − x)² per image and bce −Σ [x log x̂ + (1 − x) log(1 − x̂)] per image (x̂ clamped to
  [1e-6, 1 − 1e-6]), x̂ the reconstruction's mean image (sigmoid of the logits for Bernoulli, the
  means otherwise), whatever the likelihood; perplexity exp(entropy of the code frequencies over
  every vector of every image), codesInUse (codes assigned at least once) and codesUsed
  (codesInUse / K), all from the split's code counts.

Ours' Trainer also reports perplexity and codes_used during training as per-batch values
averaged over the batches (weighted by their examples), so they depend on the batch size; the
split-wide values here do not (they are evaluateVq's).
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .data import Split


def code_usage(counts: torch.Tensor) -> dict:
    """perplexity, codesInUse, codesUsed from code counts (K), as ours' codeUsage."""
    counts = counts.double()
    total = counts.sum()
    p = counts[counts > 0] / total if total > 0 else counts[:0]
    entropy = float(-(p * torch.log(p)).sum())
    in_use = int((counts > 0).sum())
    return {'perplexity': math.exp(entropy), 'codesInUse': in_use,
            'codesUsed': in_use / counts.numel()}


@torch.no_grad()
def evaluate_vq(net, split: Split, rank: int = 0, world: int = 1, device=None,
                batch: int = 500) -> dict:
    """The vq metrics over a split (see the module docstring); each process on every W-th
    example, sums and code counts reduced over the processes."""
    from .objectives import vq_elbo
    post = net.config.posterior
    K = post['codes']
    was_training = net.training
    net.eval()
    index = torch.arange(rank, len(split), world)
    # recon, own (weighted), codebook, commitment, se, bce, examples
    sums = torch.zeros(7, dtype=torch.float64)
    counts = torch.zeros(K, dtype=torch.float64)
    for start in range(0, len(index), batch):
        rows = index[start:start + batch]
        x = split.rows(rows).to(device)
        y = split.labels[rows].to(device) if net.config.classes else None
        out = vq_elbo(net, x, y)
        mean = net.images(out['output']).reshape(x.shape[0], -1)
        p = mean.clamp(1e-6, 1 - 1e-6)
        bce = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum()
        sums += torch.stack([
            out['reconSum'], out['ownLoss'], out['codebookSum'], out['commitmentSum'],
            ((mean - x) ** 2).sum(), bce, torch.tensor(float(len(rows)), device=x.device),
        ]).double().cpu()
        counts += F.one_hot(out['codes'].reshape(-1), K).sum(0).double().cpu()
    if world > 1:
        both = torch.cat([sums, counts]).to(device)
        dist.all_reduce(both)
        both = both.cpu()
        sums, counts = both[:7], both[7:]
    if was_training:
        net.train()
    n = max(1.0, sums[6].item())
    recon, own = sums[0].item() / n, sums[1].item() / n
    return {'recon': recon, 'kl': own, 'loss': recon + own, 'codebook': sums[2].item() / n,
            'commitment': sums[3].item() / n, 'mse': sums[4].item() / n,
            'bce': sums[5].item() / n, **code_usage(counts), 'examples': int(sums[6].item())}
