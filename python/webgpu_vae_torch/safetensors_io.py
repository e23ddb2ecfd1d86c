"""A small safetensors reader and writer on torch tensors (Debian has no python3-safetensors; the
format is simple enough that 100 lines keep the package's only dependency torch). Files are
interchangeable with the `safetensors` package's.

Layout: an unsigned 64-bit little-endian header length N, N bytes of UTF-8 JSON
{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}, then the
data buffer, row-major little-endian tensors tiling it exactly. The writer puts __metadata__ first,
keeps the tensors in the order given and pads the header with spaces to a multiple of 8 bytes, as
src/checkpoint/safetensors.ts does.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import Iterable, Mapping, Optional, Tuple, Union

import torch

DTYPES = {
    'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
    'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8,
    'U8': torch.uint8, 'BOOL': torch.bool,
}
NAMES = {dtype: name for name, dtype in DTYPES.items()}
MAX_HEADER_BYTES = 100_000_000

if sys.byteorder != 'little':  # pragma: no cover - every platform torch ships on
    raise ImportError('webgpu_vae_torch.safetensors_io assumes a little-endian host')


class SafetensorsError(ValueError):
    def __init__(self, source: str, problem: str):
        super().__init__(f'{source}: {problem}')


Tensors = Union[Mapping[str, torch.Tensor], Iterable[Tuple[str, torch.Tensor]]]


def encode(tensors: Tensors, metadata: Optional[Mapping[str, str]] = None) -> bytes:
    """safetensors bytes of the tensors (any dtype of DTYPES) and string metadata."""
    items = list(tensors.items()) if isinstance(tensors, Mapping) else list(tensors)
    header: dict = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise TypeError(f'metadata value for {k!r} must be a string')
        header['__metadata__'] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in items:
        if name in header:
            raise ValueError(f'duplicate tensor name {name!r}')
        if t.dtype not in NAMES:
            raise TypeError(f'tensor {name!r}: dtype {t.dtype} has no safetensors name')
        t = t.detach().cpu().contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b''
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape),
                        'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    return struct.pack('<Q', len(text)) + text + b''.join(blobs)


def decode(data: bytes, source: str = 'safetensors') -> Tuple[dict, dict]:
    """(tensors by name in header order, metadata) from safetensors bytes; validates the layout."""
    def fail(problem):
        raise SafetensorsError(source, problem)

    if len(data) < 8:
        fail(f'file is {len(data)} bytes, too short for the 8-byte header length')
    (n,) = struct.unpack('<Q', data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        fail(f'header length {n} does not fit the file ({len(data)} bytes)')
    try:
        header = json.loads(data[8:8 + n].decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f'invalid header ({e})')
    if not isinstance(header, dict):
        fail('header is not a JSON object')
    metadata = header.pop('__metadata__', None) or {}
    base = 8 + n
    size = len(data) - base
    tensors = {}
    spans = []
    for name, info in header.items():
        dtype = DTYPES.get(info.get('dtype')) if isinstance(info, dict) else None
        if dtype is None:
            fail(f'tensor {name!r}: dtype {info.get("dtype") if isinstance(info, dict) else info!r}'
                 f' is not one of {", ".join(DTYPES)}')
        shape = info.get('shape')
        begin, end = info.get('data_offsets', [None, None])
        count = 1
        for d in shape:
            count *= d
        item = torch.empty((), dtype=dtype).element_size()
        if not (0 <= begin <= end <= size) or end - begin != count * item:
            fail(f'tensor {name!r}: data_offsets [{begin}, {end}] do not hold {info["dtype"]} '
                 f'{shape} in a {size}-byte data buffer')
        spans.append((begin, end, name))
        raw = bytearray(data[base + begin:base + end])
        flat = torch.frombuffer(raw, dtype=dtype) if count else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(shape)
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            fail(f'tensor {name!r}: data_offsets start at {begin}, expected {pos} (a hole or an '
                 'overlap)')
        pos = end
    if pos != size:
        fail(f'{size - pos} bytes after the last tensor belong to no tensor')
    return tensors, metadata


def atomic_write(path: str, data: bytes) -> None:
    """Writes a file through a temporary file in the same folder, fsync and rename: a crash leaves
    the old file or the new one, never a partial one."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f'.{os.path.basename(path)}.tmp-{os.getpid()}-{os.urandom(6).hex()}')
    try:
        with open(tmp, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_file(tensors: Tensors, path: str, metadata: Optional[Mapping[str, str]] = None) -> None:
    atomic_write(path, encode(tensors, metadata))


def load_file(path: str) -> Tuple[dict, dict]:
    with open(path, 'rb') as f:
        return decode(f.read(), path)
