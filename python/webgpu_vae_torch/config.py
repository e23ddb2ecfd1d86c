"""The model description (version 1 and 2), validated and resolved as src/vae/config.ts does.

The contract is /model-description-v2 (docs in the repository): a plain JSON object. Version 1 (no
``version`` field) has ``beta``, ``capacity`` and ``reduction`` at the top level and is read as
version 2 with ``objective = {kind: 'elbo', beta, capacity, reduction}``. Every error is a
``ConfigError`` whose message names the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional

ACTIVATIONS = ('identity', 'relu', 'leaky_relu', 'elu', 'tanh', 'sigmoid', 'softplus', 'gelu')
MAX_LATENT_SIZE = 256
# The latentSize bound of a vq grid (its latent values are the whole grid, dim·h·w).
MAX_GRID_LATENT_SIZE = 65536
MAX_IWAE_SAMPLES = 64

V1_FIELDS = ('inputSize', 'inputShape', 'latentSize', 'encoder', 'decoder', 'likelihood', 'beta',
             'capacity', 'reduction')
V2_FIELDS = ('version', 'inputSize', 'inputShape', 'latentSize', 'encoder', 'posterior', 'prior',
             'decoder', 'likelihood', 'objective', 'condition', 'masking')
# Fields of version 2 that sit in a section there; in a version-2 description they are misplaced.
V2_MOVED = {'beta': 'objective.beta', 'capacity': 'objective.capacity',
            'reduction': 'objective.reduction'}


class ConfigError(ValueError):
    """A model description that cannot be used; the message names the field."""

    def __init__(self, message: str):
        super().__init__(f'vae config: {message}')


def _fail(message: str):
    raise ConfigError(message)


def _dump(value: Any) -> str:
    return json.dumps(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _size(name: str, value: Any, maximum: int = 1 << 20) -> int:
    if not _is_int(value) or value < 1 or value > maximum:
        _fail(f'{name} must be an integer in [1, {maximum}], got {_dump(value)}')
    return value


def _known(name: str, obj: dict, known: tuple) -> None:
    for key in obj:
        if key not in known:
            where = f'{name}.{key}' if name else key
            _fail(f'{where} is unknown (known: {", ".join(known)})')


@dataclass(frozen=True)
class ConvLayer:
    channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    output_padding: int = 0

    def to_json(self) -> dict:
        return {'channels': self.channels, 'kernel': self.kernel, 'stride': self.stride,
                'padding': self.padding, 'outputPadding': self.output_padding}


@dataclass
class VaeConfig:
    """A description with every default filled in (see the module docstring)."""
    input_size: int
    latent_size: int
    encoder_hidden: list
    encoder_activation: str
    decoder_hidden: list
    decoder_activation: str
    likelihood: dict
    objective: dict
    condition: dict
    posterior: dict = field(default_factory=lambda: {'kind': 'diagonal'})
    masking: dict = field(default_factory=lambda: {'kind': 'none'})
    prior: dict = field(default_factory=lambda: {'kind': 'standard-normal'})
    input_shape: Optional[tuple] = None
    encoder_conv: list = field(default_factory=list)
    decoder_deconv: list = field(default_factory=list)
    decoder_reshape: Optional[tuple] = None
    # The description as given (what checkpoints store, so both readers resolve the same thing).
    source: dict = field(default_factory=dict)

    @property
    def classes(self) -> int:
        """C for condition 'label', 0 otherwise."""
        return self.condition['classes'] if self.condition['kind'] == 'label' else 0

    @property
    def completion(self) -> bool:
        """Condition 'quadrants': the decoder reads [z, x_obs], the NLL scores missing pixels."""
        return self.condition['kind'] == 'quadrants'

    @property
    def decoder_features(self) -> int:
        """Columns the condition adds to the decoder's input after z: C, or D for x_obs."""
        return self.input_size if self.completion else self.classes

    @property
    def context_size(self) -> int:
        """What a conditional prior reads per example: x_obs (D), the one-hot label (C), or 0."""
        return self.decoder_features

    @property
    def lower_size(self) -> int:
        """The width of z the decoder reads: posterior.lower for a hierarchy, else latentSize."""
        return self.posterior.get('lower', self.latent_size)

    @property
    def noise_size(self) -> int:
        """Columns of the posterior's noise: z1's then z2's for a hierarchy, else latentSize."""
        return self.latent_size + (self.lower_size if 'lower' in self.posterior else 0)

    @property
    def mask_channels(self) -> bool:
        """Whether the encoder reads the mask too (masking.channels)."""
        return self.masking['kind'] != 'none' and self.masking['channels']

    @property
    def inject(self) -> str:
        return self.condition.get('inject', 'dense')

    def capacity_at(self, step: int) -> Optional[float]:
        """C_t at a 0-based step, or None without a capacity objective."""
        cap = self.objective.get('capacity')
        if cap is None:
            return None
        if cap['steps'] == 0:
            return float(cap['max'])
        return cap['max'] * min(1.0, step / cap['steps'])


def _mlp(name: str, mlp: Any, extra: tuple) -> tuple:
    if not isinstance(mlp, dict):
        _fail(f'{name} must be an object {{ hidden, activation }}')
    _known(name, mlp, ('hidden', 'activation') + extra)
    hidden = mlp.get('hidden')
    if not isinstance(hidden, list):
        _fail(f'{name}.hidden must be an array of layer widths')
    hidden = [_size(f'{name}.hidden[{i}]', h) for i, h in enumerate(hidden)]
    activation = mlp.get('activation', 'relu')
    if activation not in ACTIVATIONS:
        _fail(f"{name}.activation '{activation}' is unknown (known: {', '.join(ACTIVATIONS)})")
    return hidden, activation


def _likelihood(lk: Any) -> dict:
    if lk is None:
        return {'kind': 'bernoulli'}
    if not isinstance(lk, dict):
        _fail(f'likelihood must be an object {{ kind }}, got {_dump(lk)}')
    kind = lk.get('kind')
    if kind == 'bernoulli':
        _known('likelihood', lk, ('kind',))
        return {'kind': 'bernoulli'}
    if kind == 'gaussian':
        _known('likelihood', lk, ('kind', 'sigma'))
        sigma = lk.get('sigma')
        if not _is_number(sigma) or not sigma > 0:
            _fail(f'likelihood.sigma must be a finite number > 0, got {_dump(sigma)}')
        return {'kind': 'gaussian', 'sigma': float(sigma)}
    if kind == 'gaussian-learned':
        _known('likelihood', lk, ('kind',))
        return {'kind': 'gaussian-learned'}
    _fail("likelihood.kind must be 'bernoulli', 'gaussian' or 'gaussian-learned', "
          f'got {_dump(kind)}')


def _reduction(name: str, value: Any) -> str:
    value = 'sum' if value is None else value
    if value not in ('sum', 'mean'):
        _fail(f"{name} must be 'sum' or 'mean', got {_dump(value)}")
    return value


def _elbo(prefix: str, beta: Any, capacity: Any, reduction: Any) -> dict:
    beta = 1 if beta is None else beta
    if not _is_number(beta) or beta < 0:
        _fail(f'{prefix}beta must be a finite number >= 0, got {_dump(beta)}')
    cap = None
    if capacity is not None:
        if not isinstance(capacity, dict):
            _fail(f'{prefix}capacity must be an object {{ max, steps }}, got {_dump(capacity)}')
        _known(f'{prefix}capacity', capacity, ('max', 'steps'))
        cmax, steps = capacity.get('max'), capacity.get('steps')
        if not _is_number(cmax) or cmax < 0:
            _fail(f'{prefix}capacity.max must be a finite number >= 0, got {_dump(cmax)}')
        if not _is_int(steps) or steps < 0:
            _fail(f'{prefix}capacity.steps must be an integer >= 0, got {_dump(steps)}')
        cap = {'max': float(cmax), 'steps': steps}
    return {'kind': 'elbo', 'beta': float(beta), 'capacity': cap,
            'reduction': _reduction(f'{prefix}reduction', reduction)}


def _objective(obj: Any) -> dict:
    if obj is None:
        return _elbo('objective.', None, None, None)
    if not isinstance(obj, dict):
        _fail(f'objective must be an object {{ kind, ... }}, got {_dump(obj)}')
    kind = obj.get('kind')
    if kind == 'elbo':
        _known('objective', obj, ('kind', 'beta', 'capacity', 'reduction'))
        return _elbo('objective.', obj.get('beta'), obj.get('capacity'), obj.get('reduction'))
    if kind == 'iwae':
        _known('objective', obj, ('kind', 'samples', 'reduction'))
        samples = _size('objective.samples', obj.get('samples'), MAX_IWAE_SAMPLES)
        return {'kind': 'iwae', 'samples': samples,
                'reduction': _reduction('objective.reduction', obj.get('reduction'))}
    if kind == 'm2':
        # Semi-supervised M2: a classifier q(y|x) beside the label condition's CVAE.
        _known('objective', obj, ('kind', 'alpha', 'classifier', 'reduction'))
        out = {'kind': 'm2', 'alpha': None,
               'classifier': {'hidden': [500], 'activation': 'softplus'},
               'reduction': _reduction('objective.reduction', obj.get('reduction'))}
        alpha = obj.get('alpha')
        if alpha is not None:
            if not _is_number(alpha) or alpha < 0:
                _fail(f'objective.alpha must be a finite number >= 0, got {_dump(alpha)}')
            out['alpha'] = float(alpha)
        cl = obj.get('classifier')
        if cl is not None:
            if not isinstance(cl, dict):
                _fail(f'objective.classifier must be an object {{ hidden, activation }}, '
                      f'got {_dump(cl)}')
            _known('objective.classifier', cl, ('hidden', 'activation', 'conv'))
            hidden = cl.get('hidden', out['classifier']['hidden'])
            if not isinstance(hidden, list):
                _fail('objective.classifier.hidden must be an array of layer widths')
            activation = cl.get('activation', out['classifier']['activation'])
            if activation not in ACTIVATIONS:
                _fail(f"objective.classifier.activation '{activation}' is unknown (known: "
                      f"{', '.join(ACTIVATIONS)})")
            out['classifier'] = {
                'hidden': [_size(f'objective.classifier.hidden[{i}]', h)
                           for i, h in enumerate(hidden)],
                'activation': activation,
                'conv': _conv_layers('objective.classifier.conv', cl.get('conv'), False)}
        return out
    _fail(f"objective.kind must be 'elbo', 'iwae' or 'm2', got {_dump(kind)}")


def _condition(cond: Any) -> dict:
    if cond is None:
        return {'kind': 'none'}
    if not isinstance(cond, dict):
        _fail(f'condition must be an object {{ kind, ... }}, got {_dump(cond)}')
    kind = cond.get('kind')
    if kind == 'none':
        _known('condition', cond, ('kind',))
        return {'kind': 'none'}
    if kind == 'label':
        _known('condition', cond, ('kind', 'classes', 'inject'))
        classes = _size('condition.classes', cond.get('classes'), 1 << 16)
        inject = cond.get('inject', 'dense')
        if inject not in ('dense', 'channels'):
            _fail(f"condition.inject must be 'dense' or 'channels', got {_dump(inject)}")
        return {'kind': 'label', 'classes': classes, 'inject': inject}
    if kind == 'quadrants':
        _known('condition', cond, ('kind', 'observed', 'fill'))
        observed = cond.get('observed')
        if not _is_int(observed) or observed not in (1, 2, 3):
            _fail(f'condition.observed must be 1, 2 or 3 (quadrants observed), got '
                  f'{_dump(observed)}')
        fill = cond.get('fill', -1)
        fill = -1 if fill is None else fill
        if not _is_number(fill):
            _fail(f'condition.fill must be a finite number, got {_dump(fill)}')
        return {'kind': 'quadrants', 'observed': observed, 'fill': fill}
    _fail(f"condition.kind must be 'none', 'label' or 'quadrants', got {_dump(kind)}")


# The missing quadrants of each completion task as a bit set (bit q: 0 top-left, 1 top-right,
# 2 bottom-left, 3 bottom-right), as src/vae/condition/quadrants.ts: 1 observes the bottom-left,
# 2 the left half, 3 all but the bottom-right (the Pyro reproduction's layout).
QUADRANTS_MISSING = {1: 0b1011, 2: 0b1010, 3: 0b1000}


def _prior(prior: Any) -> dict:
    """'standard-normal' (the default), 'conditional' (hidden: widths, default [500, 500];
    activation, default 'relu') or 'made' (see _made), as src/vae/prior/*.ts."""
    if prior is None:
        return {'kind': 'standard-normal'}
    if not isinstance(prior, dict):
        _fail(f"prior must be an object {{ kind: 'standard-normal' | 'conditional', ... }}, "
              f'got {_dump(prior)}')
    kind = prior.get('kind')
    if kind == 'standard-normal':
        _known('prior', prior, ('kind',))
        return {'kind': 'standard-normal'}
    if kind == 'conditional':
        return {'kind': 'conditional', **_prior_network(prior, [500, 500], None)}
    if kind == 'made':
        return _made(prior)
    _fail("prior.kind must be one of 'standard-normal', 'conditional', 'made', got "
          f'{_dump(kind)}')


def _made(prior: dict) -> dict:
    """'made' (src/vae/prior/made.ts): the learned prior over a vq posterior's codes, hidden 1 to
    4 widths (default [128]), activation (default 'relu'); checked against the posterior by
    _check_made."""
    return {'kind': 'made', **_prior_network(prior, [128], 4)}


def _prior_network(prior: dict, default_hidden: list, max_layers: Optional[int]) -> dict:
    """The hidden widths and activation of a prior network ('conditional' or 'made'), checked
    as ours: hidden an array of widths (1 to max_layers of them when bounded), activation known."""
    _known('prior', prior, ('kind', 'hidden', 'activation'))
    hidden = prior.get('hidden')
    if hidden is None:
        hidden = default_hidden
    elif max_layers is None and not isinstance(hidden, list):
        _fail(f'prior.hidden must be an array of layer widths, got {_dump(hidden)}')
    elif max_layers is not None and (not isinstance(hidden, list)
                                     or not 1 <= len(hidden) <= max_layers):
        _fail(f'prior.hidden must be an array of 1 to {max_layers} layer widths, '
              f'got {_dump(hidden)}')
    hidden = [_size(f'prior.hidden[{i}]', h, 1 << 14) for i, h in enumerate(hidden)]
    activation = prior.get('activation')
    activation = 'relu' if activation is None else activation
    if activation not in ACTIVATIONS:
        _fail(f'prior.activation {_dump(activation)} is unknown (known: '
              f"{', '.join(ACTIVATIONS)})")
    return {'hidden': hidden, 'activation': activation}


def _check_made(r: 'VaeConfig') -> None:
    """A 'made' prior models the codes of a vq posterior: P·K <= 65536 one-hot inputs."""
    if r.prior['kind'] != 'made':
        return
    post = r.posterior
    if post['kind'] != 'vq':
        _fail(f"prior.kind 'made' is a prior over the code indices of posterior.kind 'vq', not "
              f"'{post['kind']}'")
    P, K = r.latent_size // post['dim'], post['codes']
    if P * K > 1 << 16:
        _fail(f"prior.kind 'made' takes at most 65536 one-hot inputs (positions × codes), got "
              f'{P} × {K} = {P * K}')


POSTERIORS = ('diagonal', 'full', 'planar', 'iaf', 'hierarchical', 'vq')
MAX_VQ_CODES = 65536
MAX_PLANAR_STEPS = 256
MAX_IAF_STEPS = 64
MAX_IAF_LAYERS = 8
POSTERIOR_FIELDS = {'planar': ('kind', 'steps', 'amortized'),
                    'iaf': ('kind', 'steps', 'hidden', 'context', 'activation'),
                    'hierarchical': ('kind', 'lower', 'hidden'),
                    'vq': ('kind', 'codes', 'dim', 'beta', 'update', 'decay', 'epsilon',
                           'restart', 'grid')}


def _iaf(post: dict, latent_size: Any) -> dict:
    """'iaf': steps (required, [1, 64]), hidden (1 to 8 MADE widths, default [max(16, 2Z)]),
    context (the encoder's context head, default Z), activation (default 'elu')."""
    if post.get('steps') is None:
        _fail("posterior.steps is required for kind 'iaf' (an integer >= 1)")
    steps = _size('posterior.steps', post['steps'], MAX_IAF_STEPS)
    Z = latent_size if _is_int(latent_size) else 1
    hidden = post.get('hidden')
    if hidden is None:
        hidden = [max(16, 2 * Z)]
    elif not isinstance(hidden, list) or not 1 <= len(hidden) <= MAX_IAF_LAYERS:
        _fail(f'posterior.hidden must be an array of 1 to {MAX_IAF_LAYERS} MADE layer widths, '
              f'got {_dump(hidden)}')
    hidden = [_size(f'posterior.hidden[{i}]', h, 1 << 14) for i, h in enumerate(hidden)]
    context = post.get('context')
    context = Z if context is None else _size('posterior.context', context, 1 << 14)
    activation = post.get('activation')
    activation = 'elu' if activation is None else activation
    if activation not in ACTIVATIONS:
        _fail(f'posterior.activation {_dump(activation)} is unknown (known: '
              f"{', '.join(ACTIVATIONS)})")
    return {'kind': 'iaf', 'steps': steps, 'hidden': hidden, 'context': context,
            'activation': activation}


def _number(name: str, value: Any, minimum: float) -> float:
    if not _is_number(value) or value < minimum:
        _fail(f'{name} must be a finite number >= {minimum:g}, got {_dump(value)}')
    return float(value)


def _vq(post: dict, latent_size: Any) -> dict:
    """'vq' (src/vae/posterior/vq.ts): codes K (required, [1, 65536]), dim D (required, dividing
    latentSize), beta (default 0.25), update 'loss' (default) or 'ema', decay in [0, 1) (default
    0.99), epsilon > 0 (default 1e-5), restart {threshold in (0, 1)} (optional, 'ema' only),
    grid (default false; true: a conv grid, checked against the layers in _check_grid)."""
    codes = _size('posterior.codes', post.get('codes'), MAX_VQ_CODES)
    Z = latent_size if _is_int(latent_size) else 1
    dim = _size('posterior.dim', post.get('dim'), max(1, Z))
    if Z % dim != 0:
        _fail(f'posterior.dim {dim} must divide latentSize {Z} (each example\'s latentSize '
              'values are read as latentSize/dim vectors)')
    update = post.get('update')
    update = 'loss' if update is None else update
    if update not in ('loss', 'ema'):
        _fail(f"posterior.update must be 'loss' or 'ema', got {_dump(update)}")
    decay = _number('posterior.decay', 0.99 if post.get('decay') is None else post['decay'], 0)
    if decay >= 1:
        _fail(f'posterior.decay must be in [0, 1), got {decay:g}')
    epsilon = _number('posterior.epsilon',
                      1e-5 if post.get('epsilon') is None else post['epsilon'], 0)
    if epsilon == 0:
        _fail('posterior.epsilon must be > 0, got 0')
    beta = _number('posterior.beta', 0.25 if post.get('beta') is None else post['beta'], 0)
    r = {'kind': 'vq', 'codes': codes, 'dim': dim, 'beta': beta, 'update': update,
         'decay': decay, 'epsilon': epsilon}
    restart = post.get('restart')
    if restart is not None:
        if not isinstance(restart, dict):
            _fail(f'posterior.restart must be an object {{ threshold }}, got {_dump(restart)}')
        _known('posterior.restart', restart, ('threshold',))
        if update != 'ema':
            _fail("posterior.restart needs update 'ema' (it reads the codes' EMA counts), got "
                  f"update '{update}'")
        threshold = _number('posterior.restart.threshold', restart.get('threshold'), 0)
        if not 0 < threshold < 1:
            _fail('posterior.restart.threshold must be in (0, 1) (a restarted code starts at '
                  f'count 1), got {threshold:g}')
        r['restart'] = {'threshold': threshold}
    grid = post.get('grid')
    if grid is not None and not isinstance(grid, bool):
        _fail(f'posterior.grid must be true or false, got {_dump(grid)}')
    if grid:
        r['grid'] = True
    return r


def _is_grid(posterior: Any) -> bool:
    """Whether a raw posterior section asks for a vq grid (any grid value but false or absent:
    a wrong one is then named by _vq, not by the latentSize bound)."""
    return (isinstance(posterior, dict) and posterior.get('kind') == 'vq'
            and posterior.get('grid') not in (None, False))


def _check_grid(r: 'VaeConfig', grid: Optional[tuple], dec: dict) -> None:
    """A vq grid against the layers (src/vae/posterior/vq.ts checkLayers), once the encoder's
    last conv output `grid` (C, h, w) is known; decoder.reshape must be (dim, h, w) if given."""
    at = 'posterior.grid'
    if grid is None:
        _fail(f"{at} quantizes the last encoder conv layer's output: it needs encoder.conv "
              'layers')
    if r.encoder_hidden:
        _fail(f'{at}: the encoder.ze head reads the conv grid, so encoder.hidden must be [], got '
              f'[{", ".join(map(str, r.encoder_hidden))}]')
    features = r.classes if r.classes and r.inject == 'dense' else 0
    if features:
        _fail(f'{at}: the condition or masking section adds {features} features at the '
              "encoder's first dense layer, and a grid encoder has none (give them as channels)")
    dim = r.posterior['dim']
    _, h, w = grid
    if r.latent_size != dim * h * w:
        _fail(f'{at}: latentSize must be dim·h·w = {dim}·{h}·{w} = {dim * h * w} (the last '
              f"encoder conv layer's {h}×{w} grid of {dim}-vectors), got {r.latent_size}")
    if not dec.get('deconv'):
        _fail(f'{at}: the decoder starts from the quantized grid: it needs decoder.deconv layers')
    if r.decoder_hidden:
        _fail(f'{at}: decoder.deconv reads the quantized grid, so decoder.hidden must be [], got '
              f'[{", ".join(map(str, r.decoder_hidden))}]')
    if r.decoder_features:
        _fail(f"{at}: the condition adds {r.decoder_features} features at the decoder's first "
              'dense layer, and a grid decoder has none')
    want = (dim, h, w)
    if dec.get('reshape') is not None:
        reshape = _shape3('decoder.reshape', dec['reshape'])
        if reshape != want:
            _fail(f'decoder.reshape [{", ".join(map(str, reshape))}] must be the quantized grid '
                  f'[{", ".join(map(str, want))}] ({at}: dim, h, w)')


MASK_COMMON = ('fill', 'channels', 'loss')
MASK_FIELDS = {'none': (), 'pixels': ('p',) + MASK_COMMON,
               'block': ('minSize', 'maxSize') + MASK_COMMON, 'quadrant': MASK_COMMON}


def _masking(m: Any) -> dict:
    """The masking section (random missing pixels while training), as src/vae/masking/kinds.ts."""
    if m is None:
        return {'kind': 'none'}
    if not isinstance(m, dict):
        _fail(f'masking must be an object {{ kind, ... }}, got {_dump(m)}')
    kind = m.get('kind')
    if kind not in MASK_FIELDS:
        _fail(f"masking.kind must be one of 'none', 'pixels', 'block', 'quadrant', got {_dump(kind)}")
    _known('masking', m, ('kind',) + MASK_FIELDS[kind])
    if kind == 'none':
        return {'kind': 'none'}
    fill = m.get('fill', 0)
    if not _is_number(fill):
        _fail(f'masking.fill must be a finite number, got {_dump(fill)}')
    channels = m.get('channels', False)
    if not isinstance(channels, bool):
        _fail(f'masking.channels must be true or false, got {_dump(channels)}')
    loss = m.get('loss', 'all')
    if loss not in ('all', 'missing'):
        _fail(f"masking.loss must be 'all' or 'missing', got {_dump(loss)}")
    r = {'kind': kind, 'fill': float(fill), 'channels': channels, 'loss': loss}
    if kind == 'pixels':
        p = m.get('p', 0.5)
        if not _is_number(p) or not 0 <= p <= 1:
            _fail(f'masking.p must be a probability in [0, 1], got {_dump(p)}')
        r['p'] = float(p)
    if kind == 'block':
        r['minSize'] = _size('masking.minSize', m.get('minSize'), 1 << 16)
        r['maxSize'] = _size('masking.maxSize', m.get('maxSize'), 1 << 16)
        if r['maxSize'] < r['minSize']:
            _fail(f"masking.maxSize must be >= masking.minSize ({r['minSize']}), got {r['maxSize']}")
    return r


def mask_image_shape(r: 'VaeConfig') -> Optional[tuple]:
    """(C, H, W) masks are drawn on: inputShape, else (1, s, s), else (1, 1, D) for pixels."""
    if r.input_shape:
        return tuple(r.input_shape)
    side = round(math.sqrt(r.input_size))
    if side * side == r.input_size:
        return (1, side, side)
    return (1, 1, r.input_size) if r.masking['kind'] == 'pixels' else None


def _check_masking(r: 'VaeConfig') -> None:
    m = r.masking
    if m['kind'] == 'none':
        return
    shape = mask_image_shape(r)
    if shape is None:
        _fail(f"masking.kind '{m['kind']}' needs the image's geometry: give inputShape [C, H, W]")
    if m['kind'] == 'block' and m['maxSize'] > min(shape[1], shape[2]):
        _fail(f"masking: block sides must satisfy maxSize <= min(H, W) = {min(shape[1], shape[2])}")
    if m['kind'] == 'quadrant' and min(shape[1], shape[2]) < 2:
        _fail('masking: quadrants need an image of at least 2×2')
    if m['loss'] == 'missing' and r.likelihood['kind'] != 'bernoulli':
        _fail("masking.loss 'missing' needs likelihood 'bernoulli'")


def _posterior(post: Any, latent_size: Any) -> dict:
    """'diagonal' (the default), 'full' (a full-covariance Gaussian, latentSize >= 2), 'planar'
    (steps: an integer >= 1, required; amortized: a boolean, default false), 'iaf' (see
    _iaf), 'hierarchical' (lower: the size of z1, required; hidden: widths, default []) or
    'vq' (see _vq)."""
    if post is None:
        return {'kind': 'diagonal'}
    if not isinstance(post, dict):
        _fail(f'posterior must be an object {{ kind }}, got {_dump(post)}')
    kind = post.get('kind')
    _known('posterior', post, POSTERIOR_FIELDS.get(kind, ('kind',)))
    if kind not in POSTERIORS:
        _fail(f'posterior.kind {_dump(kind)} is not supported (this version knows '
              f"{', '.join(repr(k) for k in POSTERIORS)})")
    if kind == 'full' and _is_int(latent_size) and latent_size < 2:
        _fail(f"posterior.kind 'full' needs latentSize >= 2, got {latent_size} (with one latent "
              "dimension the covariance is diagonal: use kind 'diagonal')")
    if kind == 'planar':
        if post.get('steps') is None:
            _fail("posterior.steps is required for kind 'planar' (an integer >= 1)")
        steps = _size('posterior.steps', post['steps'], MAX_PLANAR_STEPS)
        amortized = post.get('amortized', False)
        if amortized is None:
            amortized = False
        if not isinstance(amortized, bool):
            _fail(f'posterior.amortized must be true or false, got {_dump(amortized)}')
        return {'kind': 'planar', 'steps': steps, 'amortized': amortized}
    if kind == 'hierarchical':
        if post.get('lower') is None:
            _fail("posterior.lower is required for kind 'hierarchical' (the size of z1, 1..256)")
        lower = _size('posterior.lower', post['lower'], MAX_LATENT_SIZE)
        hidden = post.get('hidden')
        hidden = [] if hidden is None else hidden
        if not isinstance(hidden, list):
            _fail(f'posterior.hidden must be an array of layer widths, got {_dump(hidden)}')
        hidden = [_size(f'posterior.hidden[{i}]', h) for i, h in enumerate(hidden)]
        return {'kind': 'hierarchical', 'lower': lower, 'hidden': hidden}
    if kind == 'iaf':
        return _iaf(post, latent_size)
    if kind == 'vq':
        return _vq(post, latent_size)
    return {'kind': kind}


def _conv_layers(name: str, layers: Any, transposed: bool) -> list:
    if layers is None:
        return []
    if not isinstance(layers, list):
        _fail(f'{name} must be an array of {{ channels, kernel, stride, padding }} layers')
    out = []
    for i, raw in enumerate(layers):
        at = f'{name}[{i}]'
        if not isinstance(raw, dict):
            _fail(f'{at} must be an object {{ channels, kernel, stride, padding }}')
        _known(at, raw, ('channels', 'kernel', 'stride', 'padding', 'outputPadding'))
        channels = _size(f'{at}.channels', raw.get('channels'), 1 << 16)
        kernel = _size(f'{at}.kernel', raw.get('kernel'), 64)
        stride = _size(f'{at}.stride', raw.get('stride', 1), 64)
        padding = raw.get('padding', 0)
        if not _is_int(padding) or padding < 0 or padding >= kernel:
            _fail(f'{at}.padding must be an integer in [0, kernel - 1 = {kernel - 1}], '
                  f'got {_dump(padding)}')
        op = raw.get('outputPadding', 0)
        if not transposed and op != 0:
            _fail(f'{at}.outputPadding applies to decoder.deconv layers only')
        if not _is_int(op) or op < 0 or op >= stride:
            _fail(f'{at}.outputPadding must be an integer in [0, stride - 1 = {stride - 1}], '
                  f'got {_dump(op)}')
        out.append(ConvLayer(channels, kernel, stride, padding, op))
    return out


def conv_length(size: int, layer: ConvLayer, transposed: bool) -> int:
    """Output length along one axis (floor for Conv2d, as PyTorch)."""
    if transposed:
        return ((size - 1) * layer.stride - 2 * layer.padding + layer.kernel
                + layer.output_padding)
    return (size + 2 * layer.padding - layer.kernel) // layer.stride + 1


def _shape3(name: str, value: Any) -> tuple:
    if not isinstance(value, list) or len(value) != 3:
        _fail(f'{name} must be [channels, height, width], got {_dump(value)}')
    return tuple(_size(f'{name}[{i}]', v) for i, v in enumerate(value))


def _resolve_conv(cfg: dict, r: VaeConfig) -> None:
    enc, dec = cfg['encoder'], cfg['decoder']
    for name, value, instead in (('encoder.deconv', enc.get('deconv'), 'encoder.conv'),
                                 ('encoder.reshape', enc.get('reshape'), 'decoder.reshape'),
                                 ('decoder.conv', dec.get('conv'), 'decoder.deconv')):
        if value is not None:
            _fail(f'{name} is not a field (did you mean {instead}?)')
    conv = _conv_layers('encoder.conv', enc.get('conv'), False)
    deconv = _conv_layers('decoder.deconv', dec.get('deconv'), True)
    D = r.input_size
    if cfg.get('inputShape') is not None:
        shape = _shape3('inputShape', cfg['inputShape'])
        if shape[0] * shape[1] * shape[2] != D:
            _fail(f'inputShape [{", ".join(map(str, shape))}] holds '
                  f'{shape[0] * shape[1] * shape[2]} values, inputSize is {D}')
        r.input_shape = shape
    elif conv or deconv:
        side = round(math.sqrt(D))
        if side * side != D:
            _fail(f'inputShape [C, H, W] is needed with conv layers (inputSize {D} is not a '
                  'square)')
        r.input_shape = (1, side, side)
    if dec.get('reshape') is not None and not deconv:
        _fail('decoder.reshape applies only with decoder.deconv layers')
    if conv:
        c, h, w = r.input_shape
        for i, layer in enumerate(conv):
            oh, ow = conv_length(h, layer, False), conv_length(w, layer, False)
            if oh < 1 or ow < 1:
                _fail(f'encoder.conv[{i}]: a {c}×{h}×{w} input gives an empty output '
                      f'({oh}×{ow}) with kernel {layer.kernel}, stride {layer.stride}, '
                      f'padding {layer.padding}')
            c, h, w = layer.channels, oh, ow
        r.encoder_conv = conv
    grid = None
    if r.posterior.get('grid'):
        _check_grid(r, (c, h, w) if conv else None, dec)
        grid = (r.posterior['dim'], h, w)
    if deconv:
        if r.likelihood['kind'] == 'gaussian-learned':
            _fail("likelihood 'gaussian-learned' needs decoder.out: it cannot be used with "
                  'decoder.deconv')
        if r.decoder_features and not r.decoder_hidden:
            _fail('decoder: a condition enters the decoder at its first dense layer, so a '
                  'decoder with deconv layers needs at least one decoder.hidden layer')
        C, H, W = r.input_shape
        top = r.decoder_hidden[-1] if r.decoder_hidden else r.lower_size
        top_name = (f'decoder.hidden[{len(r.decoder_hidden) - 1}]' if r.decoder_hidden
                    else 'latentSize')
        if grid is not None:
            reshape = grid  # the quantized grid (_check_grid)
        elif dec.get('reshape') is not None:
            reshape = _shape3('decoder.reshape', dec['reshape'])
            n = reshape[0] * reshape[1] * reshape[2]
            if n != top:
                _fail(f'decoder.reshape [{", ".join(map(str, reshape))}] holds {n} values, the '
                      f'last dense layer ({top_name}) gives {top}')
        else:
            h, w = H, W
            for i in range(len(deconv) - 1, -1, -1):
                layer = deconv[i]

                def invert(size, axis):
                    n = size - layer.kernel + 2 * layer.padding - layer.output_padding
                    if n < 0 or n % layer.stride != 0:
                        _fail(f'decoder.deconv[{i}]: no input {axis} gives an output {axis} of '
                              f'{size} with kernel {layer.kernel}, stride {layer.stride}, '
                              f'padding {layer.padding}, outputPadding {layer.output_padding} '
                              '(set decoder.reshape, or change the layer)')
                    return n // layer.stride + 1

                h, w = invert(h, 'height'), invert(w, 'width')
            if top % (h * w) != 0:
                _fail(f'decoder: the last dense layer ({top_name}) gives {top} values, not a '
                      f'whole number of {h}×{w} channels for decoder.deconv[0]; make it '
                      f'C·{h * w} or set decoder.reshape')
            reshape = (top // (h * w), h, w)
        c, h, w = reshape
        for i, layer in enumerate(deconv):
            oh, ow = conv_length(h, layer, True), conv_length(w, layer, True)
            if oh < 1 or ow < 1:
                _fail(f'decoder.deconv[{i}]: a {c}×{h}×{w} input gives an empty output '
                      f'({oh}×{ow})')
            c, h, w = layer.channels, oh, ow
        if (c, h, w) != (C, H, W):
            _fail(f'decoder.deconv: the last layer gives {c}×{h}×{w} per example, inputShape is '
                  f'{C}×{H}×{W} (inputSize {D})')
        r.decoder_deconv = deconv
        r.decoder_reshape = reshape


def resolve_config(config: Any) -> VaeConfig:
    """Validates a model description (a dict, or its JSON text) and fills in the defaults."""
    if isinstance(config, (str, bytes)):
        config = json.loads(config)
    if not isinstance(config, dict):
        _fail('expected an object')
    version = config.get('version')
    if version is None:
        _known('', config, V1_FIELDS)
        objective = _elbo('', config.get('beta'), config.get('capacity'),
                          config.get('reduction'))
        condition = {'kind': 'none'}
        posterior = {'kind': 'diagonal'}
        masking = {'kind': 'none'}
        prior = {'kind': 'standard-normal'}
    elif version == 2:
        for key in config:
            if key in V2_MOVED:
                _fail(f'{key} is not a top-level field in version 2 (it is {V2_MOVED[key]})')
        _known('', config, V2_FIELDS)
        posterior = _posterior(config.get('posterior'), config.get('latentSize'))
        prior = _prior(config.get('prior'))
        objective = _objective(config.get('objective'))
        condition = _condition(config.get('condition'))
        masking = _masking(config.get('masking'))
        if posterior['kind'] == 'vq' and objective['kind'] == 'iwae':
            _fail("objective.kind 'iwae' needs the posterior's density log q(z|x); "
                  "posterior.kind 'vq' has none (use objective.kind 'elbo')")
    else:
        _fail(f'version must be 2 (or absent for version 1), got {_dump(version)}')
    enc_hidden, enc_act = _mlp('encoder', config.get('encoder'), ('conv', 'deconv', 'reshape'))
    dec_hidden, dec_act = _mlp('decoder', config.get('decoder'), ('deconv', 'reshape', 'conv'))
    r = VaeConfig(
        input_size=_size('inputSize', config.get('inputSize')),
        latent_size=_size('latentSize', config.get('latentSize'),
                          MAX_GRID_LATENT_SIZE if _is_grid(config.get('posterior'))
                          else MAX_LATENT_SIZE),
        encoder_hidden=enc_hidden, encoder_activation=enc_act,
        decoder_hidden=dec_hidden, decoder_activation=dec_act,
        likelihood=_likelihood(config.get('likelihood')),
        objective=objective, condition=condition, posterior=posterior, masking=masking,
        prior=prior, source=config)
    _resolve_conv(config, r)
    _check_condition(r)
    _check_masking(r)
    _check_made(r)
    if objective['kind'] == 'm2':
        if condition['kind'] != 'label':
            _fail(f"objective.kind 'm2' needs condition.kind 'label', got '{condition['kind']}'")
        if masking['kind'] != 'none':
            _fail("objective.kind 'm2' does not take a masking section")
        conv = objective['classifier'].get('conv') or []
        if conv and r.input_shape is None:
            _fail('objective.classifier.conv needs inputShape [C, H, W] (given, or implied by '
                  'conv layers in the encoder or decoder)')
        if conv:
            c, h, w = r.input_shape
            for i, layer in enumerate(conv):
                oh, ow = conv_length(h, layer, False), conv_length(w, layer, False)
                if oh < 1 or ow < 1:
                    _fail(f'objective.classifier.conv[{i}]: a {c}×{h}×{w} input gives an empty '
                          f'output ({oh}×{ow}) with kernel {layer.kernel}, stride '
                          f'{layer.stride}, padding {layer.padding}')
                c, h, w = layer.channels, oh, ow
    return r


def _check_condition(r: VaeConfig) -> None:
    """The checks that need the whole description: the quadrant task's geometry and likelihood,
    and a conditional prior's context."""
    if r.condition['kind'] == 'quadrants':
        shape = image_shape(r)
        if shape is None or shape[1] < 2 or shape[2] < 2:
            _fail("condition.kind 'quadrants' needs an image of at least 2×2: give inputShape "
                  f'[C, H, W] (inputSize {r.input_size} is not a square)')
        if r.likelihood['kind'] != 'bernoulli':
            _fail("condition.kind 'quadrants' scores the missing pixels with a Bernoulli "
                  f"likelihood; likelihood is '{r.likelihood['kind']}'")
    if r.prior['kind'] == 'conditional' and r.context_size == 0:
        _fail("prior.kind 'conditional' reads the condition; condition.kind "
              f"'{r.condition['kind']}' gives it nothing "
              "(use condition 'quadrants' or 'label')")


def image_shape(r: VaeConfig) -> Optional[tuple]:
    """(C, H, W): inputShape, else a square single-channel image; None if neither."""
    if r.input_shape:
        return tuple(r.input_shape)
    side = round(math.sqrt(r.input_size))
    return (1, side, side) if side * side == r.input_size else None
