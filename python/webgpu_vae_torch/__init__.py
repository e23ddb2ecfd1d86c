"""webgpu_vae_torch: the PyTorch twin of the webgpu-vae TypeScript library.

The same model description builds the same model here (state_dict names, shapes and
initialization as the TypeScript side), with the same objectives; checkpoints are interchangeable.

    from webgpu_vae_torch import from_config, load_checkpoint, net_from_checkpoint
    net = from_config({'inputSize': 784, 'latentSize': 20,
                       'encoder': {'hidden': [400]}, 'decoder': {'hidden': [400]}})
    out = net(x)                       # the configured objective on a batch, and its parts
    out['objective'].backward()

Commands: python -m webgpu_vae_torch.train (one process or torchrun), .golden (the TypeScript
tests' fixtures), .convert (a torch.save'd state_dict to safetensors), .probe (a checkpoint's
objective and gradients on a fixed batch, and a resumed Adam step).
"""

from .checkpoint import (Checkpoint, decode_checkpoint, encode_checkpoint, load_adam_state,
                         load_checkpoint, net_from_checkpoint, save_checkpoint)
from .config import ConfigError, VaeConfig, resolve_config
from .model import VaeNet, from_config
from .objectives import elbo, iwae, objective

__version__ = '0.1.0'
__all__ = ['Checkpoint', 'ConfigError', 'VaeConfig', 'VaeNet', 'decode_checkpoint', 'elbo',
           'encode_checkpoint', 'from_config', 'iwae', 'load_adam_state', 'load_checkpoint',
           'net_from_checkpoint', 'objective', 'resolve_config', 'save_checkpoint']
