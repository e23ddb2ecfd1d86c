"""Checkpoints in the TypeScript library's format (src/checkpoint/checkpoint.ts, format
"webgpu-vae.checkpoint" version 1): a safetensors file whose F32 tensors are the parameters under
their state_dict names, plus Adam's moments as 'optimizer.m.<name>' and 'optimizer.v.<name>'; the
metadata holds 'format', 'format_version', 'config' (the model description, JSON) and 'optimizer'
(JSON {"type": "adam", "step": t, "moments": ["m", "v"], "hyper": {...}}).

Our Adam is torch.optim.Adam (decoupled = false, L2 weight decay: the TypeScript Trainer's default)
or torch.optim.AdamW (decoupled = true), so m, v and the step count carry over both ways.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from . import safetensors_io
from .config import resolve_config
from .model import VaeNet

FORMAT = 'webgpu-vae.checkpoint'
FORMAT_VERSION = '1'
RESERVED = ('format', 'format_version', 'config', 'optimizer')
PREFIX = 'optimizer.'
MOMENTS = {'m': 'exp_avg', 'v': 'exp_avg_sq'}


@dataclass
class Checkpoint:
    config: Any
    params: dict
    optimizer: Optional[dict] = None
    metadata: dict = field(default_factory=dict)


def encode_checkpoint(params: dict, config: Any = None, optimizer: Optional[dict] = None,
                      metadata: Optional[dict] = None) -> bytes:
    """params: name -> tensor (module order); optimizer: {type, step, moments: {m: {name: t}},
    hyper}. Every tensor is written as F32."""
    meta = {'format': FORMAT, 'format_version': FORMAT_VERSION}
    for k, v in (metadata or {}).items():
        if k in RESERVED:
            raise ValueError(f'metadata key {k!r} is reserved')
        meta[k] = v
    if config is not None:
        meta['config'] = json.dumps(config)
    entries = []
    for name, t in params.items():
        if name.startswith(PREFIX):
            raise ValueError(f"parameter name {name!r} uses the reserved prefix 'optimizer.'")
        entries.append((name, t.detach().to(torch.float32)))
    if optimizer is not None:
        for moment, tensors in optimizer['moments'].items():
            for name, t in params.items():
                if name not in tensors:
                    raise ValueError(f"optimizer moment '{moment}' has no tensor for {name}")
                m = tensors[name]
                if tuple(m.shape) != tuple(t.shape):
                    raise ValueError(f"optimizer moment '{moment}' for {name} has shape "
                                     f'{list(m.shape)}, the parameter has {list(t.shape)}')
                entries.append((f'{PREFIX}{moment}.{name}', m.detach().to(torch.float32)))
        meta['optimizer'] = json.dumps({
            'type': optimizer['type'], 'step': int(optimizer['step']),
            'moments': list(optimizer['moments']), 'hyper': optimizer.get('hyper')})
    return safetensors_io.encode(entries, meta)


def decode_checkpoint(data: bytes, source: str = 'checkpoint') -> Checkpoint:
    """Reads our checkpoints and plain safetensors files (any float dtype, returned as float32)."""
    tensors, raw = safetensors_io.decode(data, source)

    def fail(problem):
        raise safetensors_io.SafetensorsError(source, problem)

    if raw.get('format', FORMAT) != FORMAT:
        fail(f"metadata format is {raw['format']!r}, expected {FORMAT!r}")
    if raw.get('format_version', FORMAT_VERSION) != FORMAT_VERSION:
        fail(f"unsupported checkpoint format_version {raw['format_version']!r}")
    params, opt_tensors = {}, {}
    for name, t in tensors.items():
        if not t.is_floating_point():
            fail(f'tensor {name!r} has dtype {t.dtype}; parameters must be floating point')
        (opt_tensors if name.startswith(PREFIX) else params)[name] = t.to(torch.float32)
    config = json.loads(raw['config']) if 'config' in raw else None
    optimizer = None
    if 'optimizer' in raw:
        o = json.loads(raw['optimizer'])
        moments = {}
        for m in o['moments']:
            moments[m] = {}
            for name, p in params.items():
                key = f'{PREFIX}{m}.{name}'
                if key not in opt_tensors:
                    fail(f'optimizer tensor {key} is missing')
                if opt_tensors[key].shape != p.shape:
                    fail(f'optimizer tensor {key} has shape {list(opt_tensors[key].shape)}, the '
                         f'parameter has {list(p.shape)}')
                moments[m][name] = opt_tensors.pop(key)
        optimizer = {'type': o['type'], 'step': o['step'], 'moments': moments,
                     'hyper': o.get('hyper')}
    if opt_tensors:
        fail(f'optimizer tensors that match no parameter or moment: {", ".join(opt_tensors)}')
    metadata = {k: v for k, v in raw.items() if k not in RESERVED}
    return Checkpoint(config, params, optimizer, metadata)


def load_checkpoint(path: str) -> Checkpoint:
    with open(path, 'rb') as f:
        return decode_checkpoint(f.read(), path)


def save_checkpoint(path: str, net: VaeNet, optimizer: Optional[torch.optim.Optimizer] = None,
                    hyper: Optional[dict] = None, metadata: Optional[dict] = None) -> None:
    """Atomically writes the model (its description as given) and, when given, Adam's state."""
    params = {k: v for k, v in net.state_dict().items()}
    opt = adam_state(net, optimizer, hyper) if optimizer is not None else None
    safetensors_io.atomic_write(path, encode_checkpoint(params, net.config.source, opt, metadata))


def adam_state(net: VaeNet, optimizer: torch.optim.Optimizer, hyper: Optional[dict]) -> dict:
    """torch.optim.Adam/AdamW state as our {type, step, moments, hyper} (zeros before step 1)."""
    moments = {m: {} for m in MOMENTS}
    step = 0
    for name, p in net.named_parameters():
        state = optimizer.state.get(p, {})
        for m, key in MOMENTS.items():
            moments[m][name] = state[key] if key in state else torch.zeros_like(p)
        if 'step' in state:
            step = max(step, int(state['step']))
    # Non-parameter tensors (vq's EMA codebook and state) get zero moments, as the library
    # writes them: it keeps moments for every tensor of its flat buffer.
    params = dict(net.named_parameters())
    for name, t in net.state_dict().items():
        if name not in params:
            for m in MOMENTS:
                moments[m][name] = torch.zeros_like(t)
    return {'type': 'adam', 'step': step, 'moments': moments, 'hyper': hyper}


def load_adam_state(net: VaeNet, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Puts our optimizer state (m, v, step) into a torch.optim.Adam/AdamW over net's params."""
    if state['type'] != 'adam':
        raise ValueError(f"optimizer state is {state['type']!r}, expected 'adam'")
    step = state['step']
    if not isinstance(step, int) or step < 0:
        raise ValueError(f'optimizer step must be an integer >= 0, got {step!r}')
    for m in MOMENTS:
        if m not in state['moments']:
            raise ValueError(f"optimizer state has no '{m}' moment")
    for name, p in net.named_parameters():
        optimizer.state[p] = {
            'step': torch.tensor(float(step)),
            **{key: state['moments'][m][name].to(p.dtype).to(p.device).clone()
               for m, key in MOMENTS.items()},
        }


def net_from_checkpoint(ckpt: Checkpoint, source: str = 'checkpoint') -> VaeNet:
    """The model a checkpoint describes, with its weights (strict: names and shapes must match)."""
    if ckpt.config is None:
        raise ValueError(f'{source}: the checkpoint has no model config in its metadata')
    net = VaeNet(resolve_config(ckpt.config))
    expected = net.state_dict()
    missing = [n for n in expected if n not in ckpt.params]
    extra = [n for n in ckpt.params if n not in expected]
    if missing or extra:
        raise ValueError(f'{source}: tensors do not match the model: missing {missing}, '
                         f'unexpected {extra}')
    for n, t in expected.items():
        if tuple(ckpt.params[n].shape) != tuple(t.shape):
            raise ValueError(f'{source}: {n} has shape {list(ckpt.params[n].shape)}, the model '
                             f'expects {list(t.shape)}')
    net.load_state_dict(ckpt.params, strict=True)
    return net
