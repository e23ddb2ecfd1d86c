"""The pytorch/examples VAE saved the way its users save it, for test/state-dict.test.ts.

    PYTHONPATH=python python3 test/helpers/pytorch_examples_vae.py OUT_DIR

The module below is pytorch/examples' vae/main.py model (github.com/pytorch/examples, commit
77f55b9, BSD-3-Clause): the same layers under the same names and the same encode/decode. It is
retyped here because main.py cannot be imported (it parses arguments, downloads MNIST through
torchvision and trains at import time). After torch.manual_seed(1) and three Adam steps of its
own loss_function on random images (so the weights are not an initialization), its state_dict is
torch.save()d, converted by `python -m webgpu_vae_torch.convert` to F32, F16 and BF16 safetensors,
and OUT_DIR/expected.json gets z, x, its decode(z) and encode(x) in float32, decode(z) with the
half-precision weights widened back, and every F16 and BF16 bit pattern's float32 value (NaN and
infinities as strings) with the safetensors files holding them.
"""

import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

from webgpu_vae_torch.convert import main as convert
from webgpu_vae_torch.safetensors_io import save_file


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def values(t):
    """JSON numbers; NaN and the infinities as the strings JavaScript's Number() reads."""
    return [v if math.isfinite(v) else str(v).replace('nan', 'NaN').replace('inf', 'Infinity')
            for v in t.reshape(-1).tolist()]


def main(out):
    torch.manual_seed(1)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        data = torch.rand(16, 1, 28, 28)
        optimizer.zero_grad()
        recon, mu, logvar = model(data)
        loss_function(recon, data, mu, logvar).backward()
        optimizer.step()
    pt = os.path.join(out, 'vae.pt')
    torch.save(model.state_dict(), pt)
    for dtype in ('f32', 'f16', 'bf16'):
        convert([pt, os.path.join(out, f'vae-{dtype}.safetensors'), '--dtype', dtype])

    z = torch.randn(7, 20)
    x = torch.rand(5, 784)
    expected = {'z': values(z), 'x': values(x)}
    with torch.no_grad():
        expected['decode'] = values(model.decode(z))
        mu, logvar = model.encode(x)
        expected['mu'], expected['logvar'] = values(mu), values(logvar)
        for name, dtype in (('f16', torch.float16), ('bf16', torch.bfloat16)):
            half = VAE()
            half.load_state_dict({k: v.to(dtype).float() for k, v in model.state_dict().items()})
            expected[f'decode_{name}'] = values(half.decode(z))

    bits = torch.arange(1 << 16, dtype=torch.int32).to(torch.int16)
    patterns = {'f16': bits.view(torch.float16), 'bf16': bits.view(torch.bfloat16)}
    for name, t in patterns.items():
        save_file({'all': t}, os.path.join(out, f'patterns-{name}.safetensors'))
        expected[f'patterns_{name}'] = values(t.float())
    with open(os.path.join(out, 'expected.json'), 'w') as f:
        json.dump(expected, f)


if __name__ == '__main__':
    main(sys.argv[1])
