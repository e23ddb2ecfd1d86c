"""M2 checkpoints both ways (test/m2.test.ts): loads a checkpoint our library wrote (strict names and
shapes), evaluates m2() in float64 on the batch of a JSON file (xl, yl, xu, eps), writes the
objective as JSON to stdout, and saves the model with its weights shifted by +0.01 as a new
checkpoint for our library to load.

    python test/helpers/m2_round_trip.py IN.safetensors BATCH.json OUT.safetensors
"""

import json
import sys

import torch

from webgpu_vae_torch.checkpoint import load_checkpoint, net_from_checkpoint, save_checkpoint
from webgpu_vae_torch.objectives import m2

torch.set_default_dtype(torch.float64)
src, batch_file, out = sys.argv[1:4]
net = net_from_checkpoint(load_checkpoint(src), src).double()
b = json.load(open(batch_file))
D, Z = net.config.input_size, net.config.noise_size
t = lambda v, w: torch.tensor(v, dtype=torch.float64).reshape(-1, w)
value = m2(net, t(b['xl'], D), torch.tensor(b['yl']), t(b['xu'], D), t(b['eps'], Z), b['alpha'])
with torch.no_grad():
    for p in net.parameters():
        p.add_(0.01)
save_checkpoint(out, net)
print(json.dumps({'objective': value['objective'].item(),
                  'names': list(net.state_dict().keys())}))
