"""The deterministic baseline of the quadrant completion task (Sohn et al. 2015; Pyro's
BaselineNet): an MLP from x_obs to the logits of every pixel, trained with the Bernoulli NLL (BCE
on logits) summed over the missing pixels only. Its test "conditional NLL" is that sum, the
number the CVAE's −log p(x_miss|x_obs) is compared with.

The task comes from a completion model's description (condition 'quadrants': observed, fill, the
image geometry) and the network from its decoder (hidden widths and activation; Pyro uses
500-500 ReLU for both), so the baseline and the CVAE it is compared with share one description:

    python -m webgpu_vae_torch.train --baseline --config cvae.json --data DIR --out DIR

Parameters baseline.{i} (hidden Linear) and baseline.out (D logits); checkpoints are our
safetensors format with the completion model's description under the metadata key 'baseline'
(not 'config': the TypeScript library has no such model and must not read it as a VAE).
"""

from __future__ import annotations

import json
from typing import Any, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import safetensors_io
from .checkpoint import decode_checkpoint, encode_checkpoint
from .config import VaeConfig, resolve_config
from .model import ACTIVATIONS, quadrant_mask

KIND = 'baseline'


class BaselineNet(nn.Module):
    """x_obs (B, D) -> logits (B, D) of the completion task `config` describes."""

    def __init__(self, config: Any):
        super().__init__()
        cfg = config if isinstance(config, VaeConfig) else resolve_config(config)
        if not cfg.completion:
            raise ValueError("the baseline completes quadrants: the description needs condition "
                             f"'quadrants', it has '{cfg.condition['kind']}'")
        self.config = cfg
        D = cfg.input_size
        self.baseline = nn.ModuleDict()
        prev = D
        for i, width in enumerate(cfg.decoder_hidden):
            self.baseline[str(i)] = nn.Linear(prev, width)
            prev = width
        self.baseline['out'] = nn.Linear(prev, D)
        self.register_buffer('missing', quadrant_mask(cfg), persistent=False)

    def observed(self, x: torch.Tensor) -> torch.Tensor:
        """x with the missing quadrants set to condition.fill (as VaeNet.observed)."""
        m = self.missing.to(x.device) != 0
        return torch.where(m, torch.full_like(x, self.config.condition['fill']), x)

    def forward(self, x_obs: torch.Tensor) -> torch.Tensor:
        act = ACTIVATIONS[self.config.decoder_activation]
        h = x_obs
        for i in range(len(self.config.decoder_hidden)):
            h = act(self.baseline[str(i)](h))
        return self.baseline['out'](h)

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Per example (B): the BCE of the prediction from x_obs, summed over missing pixels."""
        logits = self(self.observed(x))
        terms = F.binary_cross_entropy_with_logits(logits, x, reduction='none')
        return (terms * self.missing.to(terms)).sum(1)

    def complete(self, x: torch.Tensor) -> torch.Tensor:
        """x with its missing pixels replaced by the prediction's means (sigmoid)."""
        p = torch.sigmoid(self(self.observed(x)))
        return torch.where(self.missing.to(x.device) != 0, p, x)


def save_baseline(path: str, net: BaselineNet, metadata: Optional[dict] = None) -> None:
    """Atomically writes the baseline's weights with its task's description (metadata key
    'baseline')."""
    meta = {**(metadata or {}), KIND: json.dumps(net.config.source)}
    params = {k: v for k, v in net.state_dict().items()}
    safetensors_io.atomic_write(path, encode_checkpoint(params, None, None, meta))


def is_baseline(metadata: dict) -> bool:
    return KIND in metadata


def load_baseline(path: str) -> BaselineNet:
    """A baseline written by save_baseline (strict: names and shapes must match)."""
    with open(path, 'rb') as f:
        ckpt = decode_checkpoint(f.read(), path)
    if not is_baseline(ckpt.metadata):
        raise ValueError(f"{path}: not a baseline checkpoint (no '{KIND}' metadata)")
    net = BaselineNet(json.loads(ckpt.metadata[KIND]))
    expected = net.state_dict()
    if set(expected) != set(ckpt.params) or any(
            tuple(ckpt.params[n].shape) != tuple(t.shape) for n, t in expected.items()):
        raise ValueError(f'{path}: tensors do not match the baseline of its description')
    net.load_state_dict(ckpt.params, strict=True)
    return net
