"""A vq checkpoint with a learned prior (prior.kind 'made') through the twin, for
test/made-twin.test.ts:

    PYTHONPATH=python python3 test/helpers/made_roundtrip.py IN.safetensors OUT.safetensors CODES

loads IN strictly (net_from_checkpoint), scores the code sequences CODES (JSON (R, P) integers)
with the twin's MADE in float64 at the loaded weights, trains the prior for 2 epochs on them
(train_prior.fit_prior) and writes OUT as train_prior does (the VAE's tensors as loaded, prior.*
trained); prints JSON {loaded: {name: list} of the prior's tensors as read, logits and nll
(R, P) at the loaded weights, logitsAfter and nllAfter at the trained ones}.
"""

import json
import sys

import torch

from webgpu_vae_torch.checkpoint import encode_checkpoint, load_checkpoint, net_from_checkpoint
from webgpu_vae_torch.made import MadePrior
from webgpu_vae_torch.safetensors_io import atomic_write
from webgpu_vae_torch.train_prior import fit_prior

src, dst, codes_path = sys.argv[1], sys.argv[2], sys.argv[3]
ckpt = load_checkpoint(src)
net = net_from_checkpoint(ckpt, src)
with open(codes_path) as f:
    codes = torch.tensor(json.load(f))
loaded = {n: t.reshape(-1).tolist() for n, t in net.state_dict().items() if n.startswith('prior.')}
made = MadePrior.of(net.config)
made.load_state_dict(net.prior.state_dict())


def scores():
    m = MadePrior.of(net.config).double()
    m.load_state_dict(made.state_dict())
    with torch.no_grad():
        return m.logits(codes).tolist(), m.nll(codes).tolist()


logits, nll = scores()
torch.manual_seed(0)
fit_prior(made, codes, epochs=2, batch_size=8, lr=1e-2, seed=1)
net.prior.load_state_dict(made.state_dict())
logits_after, nll_after = scores()
params = {k: v.detach() for k, v in net.state_dict().items()}
atomic_write(dst, encode_checkpoint(params, ckpt.config, None, {'trainer': 'webgpu_vae_torch'}))
print(json.dumps({'loaded': loaded, 'logits': logits, 'nll': nll, 'logitsAfter': logits_after,
                  'nllAfter': nll_after}))
