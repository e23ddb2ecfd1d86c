"""The VAE as a torch.nn.Module built from a model description (see config.py).

state_dict() names and order are exactly src/vae/config.ts parameterSpecs(): encoder.conv.{i}
(Conv2d), encoder.{i} (hidden Linear), encoder.mu, encoder.logvar (and encoder.lower for the
'full' posterior), decoder.{i} (hidden Linear),
then decoder.deconv.{i} (ConvTranspose2d) or decoder.out and, for gaussian-learned only,
decoder.logsigma, then a conditional prior's prior.{i} (hidden Linear), prior.mu, prior.logvar;
weight then bias per layer. Linear weights are (out, in), Conv2d (Cout, Cin, k,
k), ConvTranspose2d (Cin, Cout, k, k). The layers are plain nn.Linear / nn.Conv2d /
nn.ConvTranspose2d, so initialization is PyTorch's default, as ours: U(±1/√fan_in) for weights and
biases with fan_in = weight.size(1)·k² for conv layers.

Conditioning (condition 'label', C classes, one-hot y): the MLP encoder reads cat([x, onehot]);
a conv encoder gets C constant planes after the image's channels (inject 'channels') or the
one-hot after its flattened output (inject 'dense'); the decoder reads cat([z, onehot]).

Conditional completion (condition 'quadrants', Sohn et al. 2015's MNIST task): x_obs is x with the
missing quadrants (QUADRANTS_MISSING[observed]; top half rows h < H // 2, left half columns
w < W // 2, the same in every channel) set to condition.fill. The encoder reads the whole image x;
the decoder reads cat([z, x_obs]); the Bernoulli NLL sums over the missing pixels only.

Prior (section `prior`): 'standard-normal' N(0, I), or 'conditional' p(z|c) = N(mu_p(c),
diag exp(logvar_p(c))) from the prior network prior.{i} (prior.activation after each), prior.mu,
prior.logvar on the condition's context c: x_obs ('quadrants') or the one-hot label ('label').
With the diagonal posterior the KL is the closed form between the two Gaussians, both logvars
clamped straight-through as the kernels (kl_gaussians); other posteriors use log q − log p, a
hierarchy's p(z2) being the conditional prior.

Masking (section `masking`, mask (B, D) with 1 where a pixel is missing, the same in every
channel): the encoder reads x with the missing pixels set to masking.fill; with masking.channels
the MLP encoder reads cat([x_filled, mask]) and a conv encoder gets the mask's first plane as one
channel after the image's (before any label planes). With masking.loss 'missing' the Bernoulli
NLL sums only over the missing pixels. Training draws masks with random_masks(); the golden
fixtures pass them in.

Posteriors (section `posterior`), K samples per example at rows b·K + k, c = logvar clamped to
[−30, 20] straight-through:
  diagonal  N(mu, diag exp(c)):  z = mu + exp(½ c) eps
  full      N(mu, L Lᵀ), L = mask ⊙ L′ + diag(exp(½ c)), L′ = encoder.lower's Z(Z−1)/2 outputs,
            the strictly lower entries row-major (torch.tril_indices(Z, Z, −1) order):
            z = mu + L eps; log q and the KL are torch.distributions.MultivariateNormal's.
  planar    the diagonal sample z0 through `steps` planar steps z' = z + û tanh(wᵀz + b),
            û = u + (m(wᵀu) − wᵀu) w/‖w‖², m(a) = −1 + softplus(a); log q(z_K|x) = log N(z0; mu,
            exp(logvar)) − Σ_k log|1 + (1 − tanh²(wᵀz + b)) wᵀû|; no closed-form KL (the ELBO
            takes log q(z_K|x) − log p(z_K)). u, w (1, Z) and b (1) per step are parameters
            posterior.flow.{k}.u/w/b (global, after the encoder's heads in module order) or
            encoder.flow's steps·(2Z + 1) outputs, step k's u, w, b at columns k·(2Z + 1) …
            (amortized).
  iaf       the diagonal sample z0 through `steps` inverse autoregressive steps (Kingma et al.
            2016): [m, s] = MADE_k([z, h]) with h = encoder.context's outputs, σ = sigmoid(s + 2),
            z' = σ z + (1 − σ) m; log q(z_K|x) = log N(z0; mu, exp(logvar)) − Σ_k Σ_i log σ; no
            closed-form KL. MADE_k is posterior.flow.{k}.hidden.{l} (activation after each) and
            posterior.flow.{k}.out (m at rows 0…Z−1, s at Z…2Z−1), weights multiplied by the
            masks of iaf_masks (the same as src/vae/posterior/iaf.ts iafMasks): the order of z
            reverses every step.
  hierarchical  two stochastic layers: z1 (`lower`, the decoder's input) ~ q(z1|x) from the heads
            above, then z2 (latentSize, the code) ~ q(z2|z1) from GaussianNet encoder.up (hidden
            layers with the encoder's activation, heads mu, logvar); p(z1|z2) is decoder.down (the
            decoder's activation), p(z2) = N(0, I). eps holds z1's noise, then z2's. log q and
            log p sum both layers; no closed-form KL.
  vq        vector quantization (van den Oord et al. 2017): the head encoder.ze (latentSize
            outputs, instead of mu and logvar) read as latentSize/dim vectors z_e of dim values,
            each replaced by its nearest row of the codebook posterior.codebook (codes, dim)
            (squared distance, the lowest index among equal ones); z = z_e + sg[z_q − z_e]
            (straight-through). Per example, summed over its vectors: codebook ‖sg[z_e] − z_q‖²
            and commitment ‖z_e − sg[z_q]‖² (weight beta), no KL. With update 'ema' the codebook
            is a buffer, as is the state posterior.ema.count (codes) and posterior.ema.sum (codes,
            dim), starting at 1 and at the codebook; each training forward (training mode,
            gradients on) moves them after computing everything from the old codebook:
            N ← γN + (1 − γ)n, m ← γm + (1 − γ)s (n, s: this batch's counts and sums of assigned
            vectors, summed over the processes), e_k = m_k / ((N_k + ε) / (ΣN + Kε) · ΣN); with
            restart {threshold}, codes with N_k < threshold then take a random row z of the batch:
            e_k = m_k = z, N_k = 1.
            With grid, encoder.ze is a 1×1 Conv2d (no activation) on the last encoder conv output
            (C, h, w) -> z_e (dim, h, w), NCHW; the vector at each position p (row-major) is one
            vector (codes (B, h·w): row b·h·w + p of `flat`), z goes back to NCHW and the decoder's
            deconv layers read it as (dim, h, w).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import QUADRANTS_MISSING, VaeConfig, conv_length, image_shape, resolve_config

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0
LOGSIGMA_MIN, LOGSIGMA_MAX = -6.0, 6.0

ACTIVATIONS = {
    'identity': lambda t: t,
    'relu': F.relu,
    'leaky_relu': lambda t: F.leaky_relu(t, 0.01),
    'elu': lambda t: F.elu(t, 1.0),
    'tanh': torch.tanh,
    'sigmoid': torch.sigmoid,
    'softplus': F.softplus,
    'gelu': F.gelu,  # erf form (approximate='none')
}
# Activations with a kink at 0 (finite differences and fixtures keep pre-activations away from it).
KINKED = frozenset({'relu', 'leaky_relu', 'elu'})


def log_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) per row."""
    return -0.5 * (z * z).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


def clamp_straight_through(t: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """clamp(t) in value, identity in gradient: how the kernels clamp logvar inside exp."""
    return t + (t.clamp(lo, hi) - t).detach()


class VaeNet(nn.Module):
    """A VAE from a model description; forward pieces are encode, reparameterize, decode, nll."""

    def __init__(self, config: Any):
        super().__init__()
        cfg = config if isinstance(config, VaeConfig) else resolve_config(config)
        self.config = cfg
        C = cfg.classes
        D, Z = cfg.input_size, cfg.latent_size
        # Pre-activations of kinked activations from the last forward (golden fixtures only).
        self.record_kinks = False
        self.kinks: list = []

        self.encoder = nn.ModuleDict()
        if cfg.encoder_conv:
            convs = nn.ModuleList()
            c, h, w = cfg.input_shape
            if cfg.mask_channels:
                c += 1
            if C and cfg.inject == 'channels':
                c += C
            for layer in cfg.encoder_conv:
                convs.append(nn.Conv2d(c, layer.channels, layer.kernel, layer.stride,
                                       layer.padding))
                c = layer.channels
                h, w = conv_length(h, layer, False), conv_length(w, layer, False)
            self.encoder['conv'] = convs
            prev = c * h * w + (C if C and cfg.inject == 'dense' else 0)
        else:
            prev = D + C + (D if cfg.mask_channels else 0)
        for i, width in enumerate(cfg.encoder_hidden):
            self.encoder[str(i)] = nn.Linear(prev, width)
            prev = width
        Z1 = cfg.lower_size
        post = cfg.posterior
        if post['kind'] == 'vq' and post.get('grid'):
            # A 1×1 conv head on the last conv output (c channels): the library's grid head.
            self.encoder['ze'] = nn.Conv2d(c, post['dim'], 1)
            self.posterior = VqCodebook(post['codes'], post['dim'], post['update'] == 'ema')
        elif post['kind'] == 'vq':
            self.encoder['ze'] = nn.Linear(prev, Z)
            self.posterior = VqCodebook(post['codes'], post['dim'], post['update'] == 'ema')
        else:
            self.encoder['mu'] = nn.Linear(prev, Z1)
            self.encoder['logvar'] = nn.Linear(prev, Z1)
        if post['kind'] == 'full':
            self.encoder['lower'] = nn.Linear(prev, Z * (Z - 1) // 2)
        if post['kind'] == 'planar' and post['amortized']:
            self.encoder['flow'] = nn.Linear(prev, post['steps'] * (2 * Z + 1))
        if post['kind'] == 'planar' and not post['amortized']:
            self.posterior = nn.Module()
            self.posterior.flow = nn.ModuleList(PlanarStep(Z) for _ in range(post['steps']))
        if post['kind'] == 'iaf':
            self.encoder['context'] = nn.Linear(prev, post['context'])
            self.posterior = nn.Module()
            self.posterior.flow = nn.ModuleList(
                IafStep(Z, post['context'], post['hidden'], k) for k in range(post['steps']))

        self.decoder = nn.ModuleDict()
        if post['kind'] == 'hierarchical':
            # Declared after the heads, before the decoder's layers: the library's module order.
            self.encoder['up'] = GaussianNet(Z1, post['hidden'], Z)
            self.decoder['down'] = GaussianNet(Z, post['hidden'], Z1)
        prev = Z1 + cfg.decoder_features
        for i, width in enumerate(cfg.decoder_hidden):
            self.decoder[str(i)] = nn.Linear(prev, width)
            prev = width
        if cfg.decoder_deconv:
            deconvs = nn.ModuleList()
            c = cfg.decoder_reshape[0]
            for layer in cfg.decoder_deconv:
                deconvs.append(nn.ConvTranspose2d(c, layer.channels, layer.kernel, layer.stride,
                                                  layer.padding, layer.output_padding))
                c = layer.channels
            self.decoder['deconv'] = deconvs
        else:
            self.decoder['out'] = nn.Linear(prev, D)
            if cfg.likelihood['kind'] == 'gaussian-learned':
                self.decoder['logsigma'] = nn.Linear(prev, D)
        if cfg.prior['kind'] == 'conditional':
            # Declared after the decoder: the library's module order (prior.0 …, mu, logvar).
            self.prior = GaussianNet(cfg.context_size, cfg.prior['hidden'], Z)
        if cfg.completion:
            self.register_buffer('missing', quadrant_mask(cfg), persistent=False)
        if cfg.objective['kind'] == 'm2':
            # M2's classifier q(y|x), after the decoder: 'classifier.0' …, 'classifier.out'.
            self.classifier = nn.ModuleDict()
            prev = D
            conv = cfg.objective['classifier'].get('conv') or []
            if conv:
                convs = nn.ModuleList()
                c, h, w = cfg.input_shape
                for layer in conv:
                    convs.append(nn.Conv2d(c, layer.channels, layer.kernel, layer.stride,
                                           layer.padding))
                    c = layer.channels
                    h, w = conv_length(h, layer, False), conv_length(w, layer, False)
                self.classifier['conv'] = convs
                prev = c * h * w
            for i, width in enumerate(cfg.objective['classifier']['hidden']):
                self.classifier[str(i)] = nn.Linear(prev, width)
                prev = width
            self.classifier['out'] = nn.Linear(prev, C)
        if cfg.prior['kind'] == 'made':
            # The learned prior over the vq codes (made.py), last, as buffers: the library's
            # non-parameter tensors prior.hidden.{l}, prior.out; train_prior.py trains them.
            from .made import MadePrior, as_buffers
            self.prior = as_buffers(MadePrior.of(cfg))

    # ---- pieces ----

    def onehot(self, y: Optional[torch.Tensor], rows: int, like: torch.Tensor) -> torch.Tensor:
        """onehot(y) (rows, C) in like's dtype; checks that labels are given and in range."""
        C = self.config.classes
        if y is None:
            raise ValueError(f'the model is conditioned on labels (condition.classes = {C}): '
                             'pass y')
        y = torch.as_tensor(y).reshape(-1)
        if y.numel() != rows:
            raise ValueError(f'y holds {y.numel()} labels for {rows} rows')
        if y.is_floating_point():
            if not torch.equal(y, y.round()):
                raise ValueError('labels must be whole numbers')
            y = y.long()
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= C):
            raise ValueError(f'labels must lie in [0, {C - 1}], got [{int(y.min())}, '
                             f'{int(y.max())}]')
        return F.one_hot(y.to(like.device), C).to(like.dtype)

    def observed(self, x: torch.Tensor) -> torch.Tensor:
        """x_obs (B, D) of a completion model: x with the missing quadrants set to fill."""
        m = self.missing.to(x.device) != 0
        return torch.where(m, torch.full_like(x, self.config.condition['fill']), x)

    def context(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
        """What the decoder reads beside z and a conditional prior reads (B, ·): x_obs for
        'quadrants', the one-hot label for 'label'; None without a condition."""
        if self.config.completion:
            return self.observed(x)
        if self.config.classes:
            return self.onehot(y, x.shape[0], x)
        return None

    def prior_params(self, context: Optional[torch.Tensor]) -> Optional[dict]:
        """A conditional prior's mu, logvar (B, Z) on the context; None for N(0, I)."""
        if self.config.prior['kind'] != 'conditional':
            return None
        h = context
        for i in range(self.prior.depth):
            h = self._act('prior', self.prior[str(i)](h))
        return {'mu': self.prior['mu'](h), 'logvar': self.prior['logvar'](h)}

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """M2: the classifier's logits of q(y|x), (B, C)."""
        c = self.config.objective['classifier']
        h = x
        if 'conv' in self.classifier:
            h = h.reshape(x.shape[0], *self.config.input_shape)
            for layer in self.classifier['conv']:
                pre = layer(h)
                if self.record_kinks and c['activation'] in KINKED:
                    self.kinks.append(pre.detach())
                h = ACTIVATIONS[c['activation']](pre)
            h = h.reshape(x.shape[0], -1)
        for i in range(len(c['hidden'])):
            pre = self.classifier[str(i)](h)
            if self.record_kinks and c['activation'] in KINKED:
                self.kinks.append(pre.detach())
            h = ACTIVATIONS[c['activation']](pre)
        return self.classifier['out'](h)

    def _act(self, part: str, pre: torch.Tensor) -> torch.Tensor:
        name = {'encoder': self.config.encoder_activation,
                'decoder': self.config.decoder_activation}.get(part)
        if part == 'prior':
            name = self.config.prior['activation']
        if self.record_kinks and name in KINKED:
            self.kinks.append(pre.detach())
        return ACTIVATIONS[name](pre)

    def encode(self, x: torch.Tensor, y: Optional[torch.Tensor] = None,
               mask: Optional[torch.Tensor] = None):
        """x (B, D) [, y (B)] [, mask (B, D)] -> mu, logvar (B, Z) of the code (a hierarchy's are
        q(z2|z1) at z1 = mu1, as the library's encode()); vq: codes (B, n) and z_e (B, Z)."""
        params = self.posterior_params(x, y, mask)
        if 'ze' in params:  # vq: the code indices and z_e
            return self.quantize(params['ze'])['codes'], params['ze']
        if 'mu1' in params:
            return self.gaussian_net('encoder', self.encoder['up'], params['mu1'])
        return params['mu'], params['logvar']

    def quantize(self, ze: torch.Tensor) -> dict:
        """The vq posterior on z_e (B, latentSize): codes (B, n) (int64), the vectors flat
        (B·n, D), their distances (B·n, K) to the codebook, z_q (B·n, D) and z (B, latentSize),
        z_q's values with the straight-through gradient to z_e."""
        D = self.config.posterior['dim']
        B = ze.shape[0]
        grid = self.config.posterior.get('grid')
        P = ze.shape[1] // D
        # A grid's z_e is NCHW: position p's vector is channel d at (b, d, p).
        flat = ze.reshape(B, D, P).transpose(1, 2).reshape(-1, D) if grid else ze.reshape(-1, D)
        codebook = self.posterior.codebook
        distances = ((flat.detach()[:, None, :] - codebook.detach()[None, :, :]) ** 2).sum(-1)
        idx = distances.argmin(1)
        zq = codebook[idx]
        z = flat + (zq - flat).detach()
        z = z.reshape(B, P, D).transpose(1, 2).reshape(B, -1) if grid else z.reshape(B, -1)
        return {'codes': idx.reshape(B, -1), 'flat': flat, 'distances': distances, 'zq': zq,
                'z': z}

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, idx: torch.Tensor) -> None:
        """One EMA codebook update from this batch's vectors flat (·, D) and codes idx (see the
        module docstring); the batch statistics are summed over the processes."""
        post = self.config.posterior
        K, gamma, eps = post['codes'], post['decay'], post['epsilon']
        hot = F.one_hot(idx.reshape(-1), K).to(flat.dtype)
        n, s = hot.sum(0), hot.t() @ flat.detach()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(n)
            torch.distributed.all_reduce(s)
        ema = self.posterior.ema
        ema.count.mul_(gamma).add_((1 - gamma) * n)
        ema.sum.mul_(gamma).add_((1 - gamma) * s)
        total = ema.count.sum()
        smoothed = (ema.count + eps) / (total + K * eps) * total
        self.posterior.codebook.copy_(ema.sum / smoothed[:, None])
        restart = post.get('restart')
        if restart is not None:
            # Dead codes onto random rows of this batch (torch's generator, not the library's
            # Philox numbers), their state as at initialization.
            dead = ema.count < restart['threshold']
            rows = flat.detach()[torch.randint(flat.shape[0], (K,), device=flat.device)]
            self.posterior.codebook[dead] = rows[dead]
            ema.sum[dead] = rows[dead]
            ema.count[dead] = 1

    def decode_codes(self, codes: torch.Tensor, y: Optional[torch.Tensor] = None):
        """vq: code indices (R, n) -> decode() of their codebook vectors, as the library's
        decode(codes)."""
        R, P = codes.shape
        zq = self.posterior.codebook[codes.long().reshape(-1)]
        if self.config.posterior.get('grid'):  # back to NCHW
            return self.decode(zq.reshape(R, P, -1).transpose(1, 2).reshape(R, -1), y)
        return self.decode(zq.reshape(R, -1), y)

    def gaussian_net(self, part: str, net: 'GaussianNet', x: torch.Tensor):
        """A hierarchy's conditional: mu, logvar from its hidden layers (part's activation)."""
        for i in range(net.depth):
            x = self._act(part, net[str(i)](x))
        return net['mu'](x), net['logvar'](x)

    def code_to_lower(self, code: torch.Tensor) -> torch.Tensor:
        """What the library's decode() feeds the decoder for codes (R, Z): a hierarchy's mean of
        p(z1|z2), else the codes."""
        if 'down' not in self.decoder:
            return code
        return self.gaussian_net('decoder', self.decoder['down'], code)[0]

    def posterior_params(self, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                         mask: Optional[torch.Tensor] = None) -> dict:
        """The posterior's parameters by name, as the library's encode(): mu, logvar (B, Z); the
        full posterior adds lower (B, Z(Z−1)/2). With masking, `mask` (B, D) is required."""
        cfg = self.config
        B = x.shape[0]
        h = x
        if cfg.masking['kind'] != 'none':
            if mask is None:
                raise ValueError(f"the model is trained with masking '{cfg.masking['kind']}': "
                                 'pass the mask (B, D), 1 where missing')
            h = torch.where(mask != 0, torch.full_like(x, cfg.masking['fill']), x)
        oh = self.onehot(y, B, x) if cfg.classes else None
        if cfg.encoder_conv:
            h = h.reshape(B, *cfg.input_shape)
            if cfg.mask_channels:
                plane = mask.reshape(B, *cfg.input_shape)[:, :1]
                h = torch.cat([h, plane.to(h.dtype)], dim=1)
            if oh is not None and cfg.inject == 'channels':
                planes = oh[:, :, None, None].expand(B, cfg.classes, h.shape[2], h.shape[3])
                h = torch.cat([h, planes], dim=1)
            for conv in self.encoder['conv']:
                h = self._act('encoder', conv(h))
            if cfg.posterior.get('grid'):  # vq: z_e (B, dim·h·w), NCHW
                return {'ze': self.encoder['ze'](h).reshape(B, -1)}
            h = h.reshape(B, -1)
            if oh is not None and cfg.inject == 'dense':
                h = torch.cat([h, oh], dim=1)
        else:
            if cfg.mask_channels:
                h = torch.cat([h, mask.to(h.dtype)], dim=1)
            if oh is not None:
                h = torch.cat([h, oh], dim=1)
        for i in range(len(cfg.encoder_hidden)):
            h = self._act('encoder', self.encoder[str(i)](h))
        if 'up' in self.encoder:
            return {'mu1': self.encoder['mu'](h), 'logvar1': self.encoder['logvar'](h)}
        if 'ze' in self.encoder:
            return {'ze': self.encoder['ze'](h)}
        params = {'mu': self.encoder['mu'](h), 'logvar': self.encoder['logvar'](h)}
        if 'lower' in self.encoder:
            params['lower'] = self.encoder['lower'](h)
        if 'flow' in self.encoder:
            params['flow'] = self.encoder['flow'](h)
        if 'context' in self.encoder:
            params['context'] = self.encoder['context'](h)
        return params

    def _flow_step(self, params: dict, k: int):
        """Step k's u, w (P, Z) and b (P, 1): P = 1 (global) or B (amortized)."""
        if 'flow' not in params:
            step = self.posterior.flow[k]
            return step.u, step.w, step.b.reshape(1, 1)
        Z = self.config.latent_size
        o = k * (2 * Z + 1)
        f = params['flow']
        return f[:, o:o + Z], f[:, o + Z:o + 2 * Z], f[:, o + 2 * Z:o + 2 * Z + 1]

    def planar(self, params: dict, z: torch.Tensor, K: int = 1):
        """z0 (B·K, Z) through the planar steps: z_K and Σ_k log|det_k| per row (B·K)."""
        logdet = z.new_zeros(z.shape[0])
        for k in range(self.config.posterior['steps']):
            u, w, b = self._flow_step(params, k)
            a = (w * u).sum(1, keepdim=True)
            u_hat = u + (-1 + F.softplus(a) - a) * w / (w * w).sum(1, keepdim=True)
            wu = (w * u_hat).sum(1, keepdim=True)
            if u.shape[0] > 1:
                u_hat, w, b, wu = (t.repeat_interleave(K, 0) for t in (u_hat, w, b, wu))
            h = torch.tanh((z * w).sum(1, keepdim=True) + b)
            z = z + u_hat * h
            logdet = logdet + torch.log(torch.abs(1 + (1 - h * h) * wu)).squeeze(1)
        return z, logdet

    def iaf(self, params: dict, z: torch.Tensor, K: int = 1):
        """z0 (B·K, Z) through the IAF steps: z_K and Σ_k Σ_i log σ per row (B·K)."""
        post = self.config.posterior
        h = params['context'].repeat_interleave(K, 0)
        logdet = z.new_zeros(z.shape[0])
        for step in self.posterior.flow:
            a = torch.cat([z, h], 1)
            for layer in step.hidden:
                pre = layer.masked(a)
                if self.record_kinks and post['activation'] in KINKED:
                    self.kinks.append(pre.detach())
                a = ACTIVATIONS[post['activation']](pre)
            m, s = step.out.masked(a).chunk(2, 1)
            gate = s + IAF_GATE_BIAS
            sigma = torch.sigmoid(gate)
            z = sigma * z + (1 - sigma) * m
            logdet = logdet - F.softplus(-gate).sum(1)
        return z, logdet

    def flow(self, params: dict, z0: torch.Tensor, K: int = 1):
        """A flow posterior's z_K and Σ log|det| per row; None for the Gaussians."""
        kind = self.config.posterior['kind']
        if kind == 'planar':
            return self.planar(params, z0, K)
        if kind == 'iaf':
            return self.iaf(params, z0, K)
        return None

    def log_prior(self, z: torch.Tensor, prior: Optional[dict], K: int = 1) -> torch.Tensor:
        """log p(z) per row (B·K): N(0, I)'s, or the conditional prior's (B rows, K each)."""
        return log_normal(z) if prior is None else self.log_q(prior, z, K)

    def draw(self, params: dict, eps: torch.Tensor, K: int = 1, prior: Optional[dict] = None):
        """z (B·K, width the decoder reads) for noise eps, log q(z|x) and log p(z) per row (B·K):
        log p is the prior's (N(0, I), or the conditional prior's mu, logvar `prior`), or for a
        hierarchy log p(z2) + log p(z1|z2), and log q sums log q(z1|x) and log q(z2|z1); a flow's
        log q subtracts its log-determinant."""
        if self.config.posterior['kind'] == 'hierarchical':
            Z1 = self.config.lower_size
            q1 = {'mu': params['mu1'], 'logvar': params['logvar1']}
            z1 = self.sample(q1, eps[:, :Z1], K)
            mu2, lv2 = self.gaussian_net('encoder', self.encoder['up'], z1)
            q2 = {'mu': mu2, 'logvar': lv2}
            z2 = self.sample(q2, eps[:, Z1:])
            mu_p, lv_p = self.gaussian_net('decoder', self.decoder['down'], z2)
            log_p = self.log_prior(z2, prior, K) + self.log_q({'mu': mu_p, 'logvar': lv_p}, z1)
            return z1, self.log_q(q1, z1, K) + self.log_q(q2, z2), log_p
        z0 = self.sample(params, eps, K)
        flowed = self.flow(params, z0, K)
        if flowed is None:
            return z0, self.log_q(params, z0, K), self.log_prior(z0, prior, K)
        z, logdet = flowed
        return z, self.log_q(params, z0, K) - logdet, self.log_prior(z, prior, K)

    def scale_tril(self, logvar: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
        """L (B, Z, Z) of the full posterior: L′ below the diagonal, exp(½ c) on it."""
        B, Z = logvar.shape
        c = clamp_straight_through(logvar, LOGVAR_MIN, LOGVAR_MAX)
        rows, cols = torch.tril_indices(Z, Z, -1, device=logvar.device)
        L = logvar.new_zeros(B, Z, Z)
        L[:, rows, cols] = lower
        return L + torch.diag_embed(torch.exp(0.5 * c))

    def _full(self, params: dict, K: int) -> torch.distributions.MultivariateNormal:
        L = self.scale_tril(params['logvar'], params['lower']).repeat_interleave(K, 0)
        return torch.distributions.MultivariateNormal(params['mu'].repeat_interleave(K, 0),
                                                      scale_tril=L, validate_args=False)

    def sample(self, params: dict, eps: torch.Tensor, K: int = 1) -> torch.Tensor:
        """z (B·K, Z) for noise eps (B·K, Z), sample k of example b at row b·K + k."""
        mu_r = params['mu'].repeat_interleave(K, 0)
        if 'lower' in params:
            L = self.scale_tril(params['logvar'], params['lower']).repeat_interleave(K, 0)
            return mu_r + (L @ eps.unsqueeze(-1)).squeeze(-1)
        c = clamp_straight_through(params['logvar'].repeat_interleave(K, 0), LOGVAR_MIN,
                                   LOGVAR_MAX)
        return mu_r + torch.exp(0.5 * c) * eps

    def log_q(self, params: dict, z: torch.Tensor, K: int = 1) -> torch.Tensor:
        """log q(z|x) per row of z (B·K), with its −½ log 2π per dimension."""
        if 'lower' in params:
            return self._full(params, K).log_prob(z)
        mu_r = params['mu'].repeat_interleave(K, 0)
        lv_r = params['logvar'].repeat_interleave(K, 0)
        c = clamp_straight_through(lv_r, LOGVAR_MIN, LOGVAR_MAX)
        Z = z.shape[1]
        return -0.5 * ((z - mu_r) ** 2 * torch.exp(-c) + lv_r).sum(1) - 0.5 * Z * math.log(
            2 * math.pi)

    def kl(self, params: dict, prior: Optional[dict] = None) -> Optional[torch.Tensor]:
        """KL(q(z|x) ‖ p(z)) per example (B), in closed form: to N(0, I), or from the diagonal
        posterior to a conditional prior's Gaussian `prior`; None where there is none (flows,
        hierarchies, the full posterior to a conditional prior)."""
        if self.config.posterior['kind'] in ('planar', 'iaf', 'hierarchical'):
            return None
        mu, logvar = params['mu'], params['logvar']
        if prior is not None:
            if 'lower' in params:
                return None
            # kl_gaussians: 0.5 Σ (expm1(d) − d + ((c_q − lv_q) − (c_p − lv_p)) + Δμ² e^{−c_p}).
            cq = clamp_straight_through(logvar, LOGVAR_MIN, LOGVAR_MAX)
            cp = clamp_straight_through(prior['logvar'], LOGVAR_MIN, LOGVAR_MAX)
            d = cq - cp
            delta = mu - prior['mu']
            return 0.5 * (torch.expm1(d) - d + (cq - logvar) - (cp - prior['logvar'])
                          + delta * delta * torch.exp(-cp)).sum(1)
        if 'lower' in params:
            prior = torch.distributions.MultivariateNormal(
                torch.zeros_like(mu), scale_tril=torch.diag_embed(torch.ones_like(mu)),
                validate_args=False)
            return torch.distributions.kl_divergence(self._full(params, 1), prior)
        c = clamp_straight_through(logvar, LOGVAR_MIN, LOGVAR_MAX)
        return 0.5 * (mu * mu + torch.expm1(c) - logvar).sum(1)

    def decode(self, z: torch.Tensor, y: Optional[torch.Tensor] = None,
               x_obs: Optional[torch.Tensor] = None):
        """z (R, Z) [, y (R)] [, x_obs (R, D) for a completion model] -> output (R, D) (logits
        or means), log sigma (R, D) or None."""
        cfg = self.config
        R = z.shape[0]
        if cfg.completion:
            if x_obs is None:
                raise ValueError("the decoder reads the observed pixels (condition 'quadrants'): "
                                 'pass x_obs = net.observed(x)')
            h = torch.cat([z, x_obs.to(z.dtype)], dim=1)
        else:
            h = torch.cat([z, self.onehot(y, R, z)], dim=1) if cfg.classes else z
        for i in range(len(cfg.decoder_hidden)):
            h = self._act('decoder', self.decoder[str(i)](h))
        if cfg.decoder_deconv:
            h = h.reshape(R, *cfg.decoder_reshape)
            last = len(self.decoder['deconv']) - 1
            for i, deconv in enumerate(self.decoder['deconv']):
                h = deconv(h)
                if i < last:
                    h = self._act('decoder', h)
            return h.reshape(R, cfg.input_size), None
        log_sigma = self.decoder['logsigma'](h) if 'logsigma' in self.decoder else None
        return self.decoder['out'](h), log_sigma

    def nll(self, output: torch.Tensor, log_sigma: Optional[torch.Tensor],
            x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """−log p(x|z) per row (R), summed over D, as src/kernels/likelihood.ts; with masking.loss
        'missing' only over the pixels where mask (R, D) is 1, and for a completion model only
        over the missing quadrants."""
        lk = self.config.likelihood
        if lk['kind'] == 'bernoulli':
            terms = F.binary_cross_entropy_with_logits(output, x, reduction='none')
            if self.config.masking.get('loss') == 'missing':
                terms = terms * mask.to(terms.dtype)
            if self.config.completion:
                terms = terms * self.missing.to(terms)
            return terms.sum(1)
        if lk['kind'] == 'gaussian':
            var = torch.full_like(output, lk['sigma'] ** 2)
        else:
            var = torch.exp(2 * log_sigma.clamp(LOGSIGMA_MIN, LOGSIGMA_MAX))
        # full=True: 0.5 (x − m)² / σ² + log σ + 0.5 log 2π per value (its var >= 1e-6 floor
        # cannot bind: exp(−12) > 1e-6).
        return F.gaussian_nll_loss(output, x, var, full=True, reduction='none').sum(1)

    def images(self, output: torch.Tensor) -> torch.Tensor:
        """What VaeInference.decode returns: sigmoid(logits) for Bernoulli, else the means."""
        return torch.sigmoid(output) if self.config.likelihood['kind'] == 'bernoulli' else output

    def forward(self, x: torch.Tensor, eps: Optional[torch.Tensor] = None,
                y: Optional[torch.Tensor] = None, step: int = 0,
                capacity: Optional[float] = None, mask: Optional[torch.Tensor] = None) -> dict:
        """The configured objective on a batch (see objectives.py); eps (and with masking the
        mask) drawn when None."""
        from .objectives import objective
        return objective(self, x, eps=eps, y=y, step=step, capacity=capacity, mask=mask)


class VqCodebook(nn.Module):
    """posterior.codebook (K, D), U(±1/K) (the library's init: fan-in K²), a parameter or with
    EMA updates a buffer, then the EMA state posterior.ema.count (K) = 1 and posterior.ema.sum
    (K, D) = the codebook, as the library starts them."""

    def __init__(self, K: int, D: int, ema: bool):
        super().__init__()
        init = torch.empty(K, D).uniform_(-1 / K, 1 / K)
        if not ema:
            self.codebook = nn.Parameter(init)
            return
        self.register_buffer('codebook', init)
        self.ema = nn.Module()
        self.ema.register_buffer('count', torch.ones(K))
        self.ema.register_buffer('sum', init.clone())


class GaussianNet(nn.ModuleDict):
    """A diagonal Gaussian conditional (a hierarchy's, a conditional prior): Linear layers
    '0' … then heads 'mu', 'logvar' (the library's names, e.g. encoder.up.0.weight, prior.mu)."""

    def __init__(self, inputs: int, hidden: list, out: int):
        super().__init__()
        for i, width in enumerate(hidden):
            self[str(i)] = nn.Linear(inputs, width)
            inputs = width
        self.depth = len(hidden)
        self['mu'] = nn.Linear(inputs, out)
        self['logvar'] = nn.Linear(inputs, out)


class PlanarStep(nn.Module):
    """One global planar step's u, w (1, Z) and b (1), U(±1/√Z) as the library's init bound."""

    def __init__(self, Z: int):
        super().__init__()
        bound = 1 / math.sqrt(Z)
        self.u = nn.Parameter(torch.empty(1, Z).uniform_(-bound, bound))
        self.w = nn.Parameter(torch.empty(1, Z).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.empty(1).uniform_(-bound, bound))


IAF_GATE_BIAS = 2.0


def iaf_masks(Z: int, C: int, hidden: list, step: int) -> list:
    """The 0/1 masks (out, in) of step `step`'s MADE layers (Germain et al. 2015): input z_j has
    degree j + 1 (even steps) or Z − j (odd steps, the reversed order), the context inputs 0 and
    connect to every first-layer unit, hidden unit u has u mod Z; a unit reads units of degree <=
    its own, output i (m_i and s_i) hidden units of degree < deg(z_i)."""
    def in_degree(j):
        return j + 1 if step % 2 == 0 else Z - j

    prev = torch.tensor([in_degree(j) for j in range(Z)] + [0] * C)
    masks = []
    for l, width in enumerate(hidden):
        deg = torch.arange(width) % Z
        mask = (deg[:, None] >= prev[None, :]).double()
        if l == 0:
            mask[:, Z:] = 1
        masks.append(mask)
        prev = deg
    out = torch.tensor([in_degree(r % Z) for r in range(2 * Z)])
    masks.append((out[:, None] > prev[None, :]).double())
    return masks


class MaskedLinear(nn.Linear):
    """nn.Linear whose weight is multiplied by a constant 0/1 mask in the forward (so its
    gradient is dW ⊙ mask); the mask is a buffer kept out of the state_dict."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor):
        super().__init__(in_features, out_features)
        self.register_buffer('mask', mask, persistent=False)

    def masked(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask.to(self.weight.dtype), self.bias)


class IafStep(nn.Module):
    """Step k's MADE: hidden.{l} on [z, h] then out (2Z: m, s), masked linear layers."""

    def __init__(self, Z: int, C: int, hidden: list, k: int):
        super().__init__()
        masks = iaf_masks(Z, C, hidden, k)
        self.hidden = nn.ModuleList()
        prev = Z + C
        for l, width in enumerate(hidden):
            self.hidden.append(MaskedLinear(prev, width, masks[l]))
            prev = width
        self.out = MaskedLinear(prev, 2 * Z, masks[-1])


def random_masks(cfg: VaeConfig, rows: int, generator: Optional[torch.Generator] = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Masks (rows, D), 1 where missing, with the library's patterns and probabilities (not its
    Philox numbers): pixel dropout with p, a rectangle with sides uniform in [minSize, maxSize]
    placed uniformly, or one of the four quadrants (top half h < H // 2, left half w < W // 2)."""
    from .config import mask_image_shape
    m = cfg.masking
    C, H, W = mask_image_shape(cfg)
    if m['kind'] == 'pixels':
        plane = torch.rand(rows, H, W, generator=generator) < m['p']
    else:
        plane = torch.zeros(rows, H, W, dtype=torch.bool)
        hh = torch.arange(H)[:, None]
        ww = torch.arange(W)[None, :]
        for b in range(rows):
            if m['kind'] == 'block':
                lo, hi = m['minSize'], m['maxSize']
                bh, bw = torch.randint(lo, hi + 1, (2,), generator=generator).tolist()
                top = int(torch.randint(0, H - bh + 1, (1,), generator=generator))
                left = int(torch.randint(0, W - bw + 1, (1,), generator=generator))
                plane[b] = (hh >= top) & (hh < top + bh) & (ww >= left) & (ww < left + bw)
            else:
                q = int(torch.randint(0, 4, (1,), generator=generator))
                plane[b] = ((hh >= H // 2) == (q >= 2)) & ((ww >= W // 2) == (q % 2 == 1))
    return plane[:, None].expand(rows, C, H, W).reshape(rows, C * H * W).to(dtype)


def quadrant_mask(cfg: VaeConfig) -> torch.Tensor:
    """The missing pixels (D) of a completion task, 1 = missing: quadrant q (0 top-left,
    1 top-right, 2 bottom-left, 3 bottom-right; top rows h < H // 2, left columns w < W // 2) is
    missing when bit q of QUADRANTS_MISSING[observed] is set; the same in every channel."""
    C, H, W = image_shape(cfg)
    bits = QUADRANTS_MISSING[cfg.condition['observed']]
    hh = torch.arange(H)[:, None]
    ww = torch.arange(W)[None, :]
    q = (hh >= H // 2).long() * 2 + (ww >= W // 2).long()
    plane = ((bits >> q) & 1).to(torch.float32)
    return plane[None].expand(C, H, W).reshape(-1).clone()


def from_config(config: Any) -> VaeNet:
    """Builds the nn.Module for a model description (dict, JSON text or VaeConfig)."""
    return VaeNet(config)
