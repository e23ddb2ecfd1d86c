"""A vq checkpoint of our library through the twin, for test/vq-twin.test.ts:

    PYTHONPATH=python python3 test/helpers/vq_roundtrip.py IN.safetensors OUT.safetensors

loads IN as `train --resume` does (weights, EMA buffers, Adam moments and step), takes one step on
a fixed random batch and writes OUT; prints JSON {loaded: {name: list} of the EMA tensors as
read, step: the step loaded}.
"""

import json
import sys

import torch

from webgpu_vae_torch.checkpoint import (load_adam_state, load_checkpoint, net_from_checkpoint,
                                         save_checkpoint)
from webgpu_vae_torch.train import Stepper, make_optimizer, saved_hyper

src, dst = sys.argv[1], sys.argv[2]
ckpt = load_checkpoint(src)
net = net_from_checkpoint(ckpt, src)
hyper = saved_hyper(ckpt.optimizer)
opt = make_optimizer(net, hyper)
load_adam_state(net, opt, ckpt.optimizer)
loaded = {n: t.reshape(-1).tolist() for n, t in net.state_dict().items()
          if n.startswith('posterior.')}
g = torch.Generator()
g.manual_seed(0)
x = torch.rand(8, net.config.input_size, generator=g)
step = ckpt.optimizer['step']
Stepper(net, net, opt, hyper, world=1, seed=1, binarize='none', max_norm=None).step(
    x, None, step, 8, 0, hyper['lr'])
save_checkpoint(dst, net, opt, hyper)
print(json.dumps({'loaded': loaded, 'step': step}))
