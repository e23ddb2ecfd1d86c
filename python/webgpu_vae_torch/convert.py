"""Converts a torch.save()d state_dict to safetensors, names unchanged:

    python -m webgpu_vae_torch.convert model.pt model.safetensors [--dtype f32|f16|bf16]
                                       [--config model.json]

The TypeScript library loads the result with VaeModel.fromStateDict(rt, config, tensors,
{rename}) (its PYTORCH_EXAMPLES_VAE map renames pytorch/examples' fc1 … fc4 to ours); with --config
the model description goes into the metadata too. The file is read with torch.load(weights_only=
True): tensors only, no pickled code runs. A checkpoint dict holding the state_dict under
'state_dict' or 'model' works too.
"""

from __future__ import annotations

import argparse
import json

import torch

from .safetensors_io import save_file

DTYPES = {'f32': torch.float32, 'f16': torch.float16, 'bf16': torch.bfloat16}


def state_dict_tensors(obj, source: str) -> dict:
    if isinstance(obj, dict):
        for key in ('state_dict', 'model'):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise ValueError(f'{source}: holds a {type(obj).__name__}, not a state_dict')
    for name, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'{source}: {name!r} is a {type(value).__name__}, not a tensor')
        if not value.is_floating_point():
            raise ValueError(f'{source}: {name!r} has dtype {value.dtype}; only floating-point '
                             'tensors are weights')
    return obj


def convert(src: str, dst: str, dtype: str = 'f32', config=None) -> None:
    state = state_dict_tensors(torch.load(src, map_location='cpu', weights_only=True), src)
    tensors = [(name, t.detach().to(DTYPES[dtype]).contiguous()) for name, t in state.items()]
    metadata = {'config': json.dumps(config)} if config is not None else None
    save_file(tensors, dst, metadata)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog='python -m webgpu_vae_torch.convert', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('src', help='a file written by torch.save(model.state_dict(), path)')
    p.add_argument('dst', help='the safetensors file to write')
    p.add_argument('--dtype', choices=sorted(DTYPES), default='f32')
    p.add_argument('--config', help='a model description (JSON file) to store in the metadata')
    args = p.parse_args(argv)
    config = None
    if args.config:
        with open(args.config) as f:
            config = json.load(f)
    convert(args.src, args.dst, args.dtype, config)


if __name__ == '__main__':
    main()
