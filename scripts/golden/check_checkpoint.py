"""Loads a webgpu-vae checkpoint into the PyTorch twin, the way another ecosystem would.

    /usr/bin/python3 scripts/golden/check_checkpoint.py out/model.safetensors

Reads the safetensors file with a plain reader written from the format's spec (8-byte little-endian
header length, JSON header, raw little-endian tensors; Debian has no python3-safetensors), builds
VaeTwin from the config in the metadata, loads the weights with load_state_dict(strict=True) (so
every name and shape must match PyTorch's nn.Linear conventions), and prints the objective of a
fixed input (x = 0.25 + 0.5 * (i % 2) for every pixel, eps = 0) for comparison with
`npx tsx scripts/golden/checkpoint_objective.ts <file>`.
"""
import json
import struct
import sys

import numpy as np
import torch

from vae_twin import VaeTwin


def read_safetensors(path):
    data = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop('__metadata__', {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        assert info['dtype'] == 'F32', (name, info['dtype'])
        begin, end = info['data_offsets']
        array = np.frombuffer(data[base + begin:base + end], dtype='<f4').reshape(info['shape'])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, metadata


def main(path):
    tensors, metadata = read_safetensors(path)
    config = json.loads(metadata['config'])
    params = {k: v for k, v in tensors.items() if not k.startswith('optimizer.')}
    twin = VaeTwin(config)
    twin.load_state_dict(params, strict=True)
    twin = twin.double()
    D, Z = config['inputSize'], config['latentSize']
    x = torch.tensor([[0.25 + 0.5 * (i % 2) for i in range(D)]], dtype=torch.float64)
    eps = torch.zeros(1, Z, dtype=torch.float64)
    capacity = config['capacity']['max'] if config.get('capacity') else None
    out = twin(x, eps, capacity)
    optimizer = json.loads(metadata['optimizer']) if 'optimizer' in metadata else None
    print(json.dumps({
        'parameters': len(params),
        'optimizer_tensors': len(tensors) - len(params),
        'optimizer_step': optimizer and optimizer['step'],
        'objective': out['objective'].item(),
        'reconSum': out['reconSum'].item(),
        'klSum': out['klSum'].item(),
    }))


if __name__ == '__main__':
    main(sys.argv[1])
