"""The VQ-VAE's learned prior (prior.kind 'made'), as src/vae/prior/made.ts: a MADE (Germain et
al. 2015) over the flattened code sequence of an example, P = latentSize/dim positions of
K = codes each.

Input: the one-hot codes (P·K, position p's K entries at columns p·K … p·K + K − 1); masked
linear hidden layers prior.hidden.{l} (weight (width, in), then prior.activation), then
prior.out (P·K logits, position p's at columns p·K …). Degrees (made_masks, madeMasks in ours):
input (p, k) has p + 1, hidden unit u has 1 + u mod max(1, P − 1); a hidden unit reads units of
degree <= its own, output (p, k) reads hidden units of degree <= p. So position p's logits depend
on the codes at positions < p only (position 0's are the bias path alone: its marginal), and
log p(c) = Σ_p log softmax(logits_p)[c_p] is one forward pass.

Weights are stored whole (the mask multiplies them in the forward, so a masked-out entry's
gradient is zero); initialization is nn.Linear's, U(±1/√fan_in) for weights and biases, the
library's init. In VaeNet the prior's tensors are buffers (the library's non-parameter tensors:
the VAE's Adam never touches them); the prior stage (train_prior.py) trains a MadePrior with
parameters and copies its state back.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import ACTIVATIONS, MaskedLinear

MAX_MADE_LAYERS = 4
DEFAULT_MADE_HIDDEN = [128]
MAX_MADE_INPUTS = 1 << 16
LN2 = math.log(2)


def code_shape(cfg) -> tuple:
    """(P, K) of a vq model: latentSize/dim positions of `codes` codes."""
    post = cfg.posterior
    if post['kind'] != 'vq':
        raise ValueError(f"prior.kind 'made' is a prior over the code indices of posterior.kind "
                         f"'vq', not '{post['kind']}'")
    return cfg.latent_size // post['dim'], post['codes']


def made_masks(P: int, K: int, hidden: list) -> list:
    """The 0/1 masks (out, in), float64, of the MADE's layers (see the module docstring)."""
    prev = torch.arange(P * K) // K + 1
    masks = []
    for width in hidden:
        deg = 1 + torch.arange(width) % max(1, P - 1)
        masks.append((deg[:, None] >= prev[None, :]).double())
        prev = deg
    out = torch.arange(P * K) // K + 1
    masks.append((out[:, None] > prev[None, :]).double())
    return masks


class MadePrior(nn.Module):
    """hidden.{l} and out, masked linear layers (state_dict names without the 'prior.' prefix)."""

    def __init__(self, P: int, K: int, hidden: list, activation: str = 'relu'):
        super().__init__()
        self.P, self.K, self.activation = P, K, activation
        masks = made_masks(P, K, hidden)
        self.hidden = nn.ModuleList()
        prev = P * K
        for l, width in enumerate(hidden):
            self.hidden.append(MaskedLinear(prev, width, masks[l]))
            prev = width
        self.out = MaskedLinear(prev, P * K, masks[-1])

    @classmethod
    def of(cls, cfg) -> 'MadePrior':
        """The prior a resolved config's section `prior` (kind 'made') describes."""
        P, K = code_shape(cfg)
        return cls(P, K, cfg.prior['hidden'], cfg.prior['activation'])

    def onehot(self, codes: torch.Tensor) -> torch.Tensor:
        codes = torch.as_tensor(codes)
        if codes.dim() != 2 or codes.shape[1] != self.P:
            raise ValueError(f'codes must be (rows, {self.P}), got {tuple(codes.shape)}')
        if codes.is_floating_point():
            if not torch.equal(codes, codes.round()):
                raise ValueError('codes must be whole numbers')
        codes = codes.long()
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.K):
            raise ValueError(f'codes must lie in [0, {self.K - 1}], got [{int(codes.min())}, '
                             f'{int(codes.max())}]')
        dtype = self.out.weight.dtype
        return F.one_hot(codes, self.K).reshape(codes.shape[0], self.P * self.K).to(dtype)

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (R, P) -> logits (R, P·K): position p's K logits at columns p·K …."""
        a = self.onehot(codes).to(self.out.weight.device)
        act = ACTIVATIONS[self.activation]
        for layer in self.hidden:
            a = act(layer.masked(a))
        return self.out.masked(a)

    def nll(self, codes: torch.Tensor) -> torch.Tensor:
        """−log p(codes) per position (R, P), in nats: the softmax cross-entropy per position."""
        codes = torch.as_tensor(codes)
        R = codes.shape[0]
        logits = self.logits(codes).reshape(R * self.P, self.K)
        target = codes.reshape(-1).long().to(logits.device)
        return F.cross_entropy(logits, target, reduction='none').reshape(R, self.P)

    @torch.no_grad()
    def sample(self, rows: int, temperature: float = 1.0,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Ancestral sampling: P forward passes, pass p drawing position p from
        softmax(logits_p / temperature) (temperature 0: the most likely code). Codes (rows, P),
        int64. (torch's generator, not the library's Philox numbers.)"""
        if not (temperature >= 0 and math.isfinite(temperature)):
            raise ValueError(f'temperature must be a finite number >= 0, got {temperature}')
        codes = torch.zeros(rows, self.P, dtype=torch.long)
        for p in range(self.P):
            logits = self.logits(codes)[:, p * self.K:(p + 1) * self.K].double().cpu()
            if temperature == 0:
                codes[:, p] = logits.argmax(1)
            else:
                probs = torch.softmax(logits / temperature, 1)
                codes[:, p] = torch.multinomial(probs, 1, generator=generator)[:, 0]
        return codes


def as_buffers(module: nn.Module) -> nn.Module:
    """Turns every parameter of module into a buffer of the same name (in place)."""
    for sub in module.modules():
        for name, p in list(sub.named_parameters(recurse=False)):
            delattr(sub, name)
            sub.register_buffer(name, p.detach().clone())
    return module
