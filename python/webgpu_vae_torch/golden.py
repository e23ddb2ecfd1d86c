"""The golden fixtures of the TypeScript tests, computed by the twin in float64.

    PYTHONPATH=python /usr/bin/python3 -m webgpu_vae_torch.golden          # every fixture
    PYTHONPATH=python /usr/bin/python3 -m webgpu_vae_torch.golden --only vae-golden-full.json
    npx prettier --write test/fixtures/vae-golden*.json

writes test/fixtures/vae-golden.json (version-1 ELBO cases, read by test/model-golden.test.ts and
test/graph.test.ts), vae-golden-iwae.json (version-2 iwae objective), vae-golden-cvae.json
(version-2 condition 'label', MLP and conv encoders with inject 'channels' and 'dense') and
vae-golden-full.json (version-2 posterior 'full', ELBO and IWAE k > 1), vae-golden-planar.json
(version-2 posterior 'planar', global and amortized: ELBO with its Monte Carlo KL, IWAE k = 3),
vae-golden-iaf.json (version-2 posterior 'iaf': ELBO with its Monte Carlo KL, IWAE k = 3),
vae-golden-hierarchical.json (version-2 posterior 'hierarchical': ELBO, IWAE k = 3) and
vae-golden-masking.json (version-2 masking: pixels, block and quadrant masks given as input,
with the mask as channels or not, loss over all or only the missing pixels; MLP and conv),
vae-golden-completion.json (version-2 condition 'quadrants' with prior 'conditional', 1, 2 and 3
quadrants observed: ELBO with the closed-form KL between the posterior and the prior network's
Gaussian, IWAE k = 3, a conv encoder on two channels; and condition 'label' with a conditional
prior on the one-hot label),
vae-golden-vq.json (version-2 posterior 'vq', update 'loss' and 'ema', and a conv grid; its
format is at run_vq_case) and
vae-golden-m2.json (version-2 objective 'm2': a labeled and an unlabeled batch, their own format:
labeledBatch L, batch U, alpha, xl, yl, xu, eps ((L + U·C)·Z), params, objective, labeledSum,
ceSum, unlabeledSum, correct, nelbo (L + U·C), grads, adam; see run_m2_case).

Each case: a model from its description with PyTorch's default init after
torch.manual_seed(seed), in float64, every weight rounded to 10 significant digits (so the JSON
values are exactly the ones used); x and eps likewise; then the objective (objectives.py) with its
gradients, and three torch.optim.Adam steps on the same batch and noise. The first seed from
`seed0` on is taken whose relu / leaky_relu / elu pre-activations all stay at least 1e-3 from 0 (at
the initial weights and after every Adam step) and, with a capacity, |mean_b KL_b − C| >= 0.05 at
every step, so finite differences and the sign of the capacity term are well defined. Clamps of
logvar and log σ never bind (asserted).

Fixture format (arrays flat, row-major; outputs rounded to 12 significant digits):
  { generator, torch, adam: {lr, beta1, beta2, eps, steps},
    cases: [ { name, seed, config (the model description), batch, capacity (C or null),
               x (B·D), eps (B·Z; B·K·Z for iwae, row b·K + k; a hierarchy's rows are z1's
               noise then z2's), labels (B, conditioned only), mask (B·D, masking only),
               params {name: list}, reconSum, klSum, objective, nll (B; B·K for iwae), kl (B),
               mu, logvar (a hierarchy: mu1, logvar1 of z1), lower (B·Z(Z−1)/2, 'full' only),
               z (B·Z; B·K·Z for iwae), output (B·D; B·K·D for iwae),
               logSigma (gaussian-learned only), logWeights (B·K) and perExample (B) (iwae only),
               grads {name: list},
               adam: { objectives [3] (before each step), params {name: list} after 3 steps,
                       finalObjective (at those params) } } ] }
For iwae, reconSum is Σ nll / K and kl, klSum are the analytic KL (metrics, not in the objective).
"""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import Callable, Optional

import torch

from .config import resolve_config
from .model import KINKED, LOGSIGMA_MAX, LOGSIGMA_MIN, LOGVAR_MAX, LOGVAR_MIN, VaeNet, random_masks
from .objectives import m2, m2_alpha, noise_rows, objective

ADAM = {'lr': 0.01, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-8, 'steps': 3}
KINK_MARGIN = 1e-3
CAPACITY_MARGIN = 0.05
GENERATOR = 'python -m webgpu_vae_torch.golden (python/webgpu_vae_torch/golden.py)'
FIXTURES = pathlib.Path(__file__).resolve().parents[2] / 'test' / 'fixtures'


def round_sig(v: float, digits: int) -> float:
    return float(f'{v:.{digits}g}')


def rounded(t: torch.Tensor, digits: int = 10) -> torch.Tensor:
    return torch.tensor([round_sig(v, digits) for v in t.reshape(-1).tolist()],
                        dtype=t.dtype).reshape(t.shape)


def out_list(t: torch.Tensor) -> list:
    return [round_sig(v, 12) for v in t.detach().reshape(-1).tolist()]


def well_conditioned(net: VaeNet, out: dict, capacity: Optional[float]) -> bool:
    """True when no kink is near and the capacity sign is clear; asserts the clamps are idle."""
    lv = out['logvar' if 'logvar' in out else 'logvar1'].detach()
    assert lv.min() > LOGVAR_MIN + 1 and lv.max() < LOGVAR_MAX - 1, 'logvar clamp would bind'
    if out['logSigma'] is not None:
        ls = out['logSigma'].detach()
        assert ls.min() > LOGSIGMA_MIN + 0.5 and ls.max() < LOGSIGMA_MAX - 0.5, 'log σ clamp'
    if any(pre.abs().min().item() < KINK_MARGIN for pre in net.kinks):
        return False
    if capacity is not None and abs(out['kl'].mean().item() - capacity) < CAPACITY_MARGIN:
        return False
    return True


def forward(net: VaeNet, x, eps, y, capacity, mask=None):
    net.kinks = []
    return objective(net, x, eps=eps, y=y, capacity=capacity, mask=mask)


def case_fields(net: VaeNet, out: dict) -> dict:
    """The forward outputs of a case (at the weights `out` was computed with)."""
    fields = {
        'reconSum': round_sig(out['reconSum'].item(), 12),
        'klSum': round_sig(out['klSum'].item(), 12),
        'objective': round_sig(out['objective'].item(), 12),
        'nll': out_list(out['nll']),
        'kl': out_list(out['kl']),
    }
    # The posterior's parameters (B rows): mu, logvar, or a hierarchy's mu1, logvar1 (z1's).
    for key in ('mu', 'logvar', 'mu1', 'logvar1'):
        if key in out:
            fields[key] = out_list(out[key])
    fields['z'] = out_list(out['z'])
    fields['output'] = out_list(out['output'])
    if 'lower' in out:
        fields['lower'] = out_list(out['lower'])
    if out['logSigma'] is not None:
        fields['logSigma'] = out_list(out['logSigma'])
    if 'logWeights' in out:
        fields['logWeights'] = out_list(out['logWeights'])
        fields['perExample'] = out_list(out['perExample'])
    return fields


def run_case(name: str, cfg: dict, batch: int, seed0: int,
             make_x: Callable[[int, int], torch.Tensor], capacity: Optional[float] = None) -> dict:
    resolved = resolve_config(cfg)
    D, Z, C = resolved.input_size, resolved.latent_size, resolved.classes
    for seed in range(seed0, seed0 + 1000):
        torch.manual_seed(seed)
        net = VaeNet(resolved).double()
        net.record_kinks = True
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(rounded(p))
        x = rounded(make_x(batch, D))
        eps = rounded(torch.randn(noise_rows(net, batch), resolved.noise_size))
        # Every class at least once when B >= C, so every one-hot column gets a gradient.
        y = torch.randperm(batch) % C if C else None
        # Drawn after everything else, so the cases without masking keep their numbers.
        masked = resolved.masking['kind'] != 'none'
        mask = random_masks(resolved, batch, dtype=torch.float64) if masked else None
        names = list(net.state_dict().keys())
        params0 = {n: out_list(p) for n, p in net.state_dict().items()}
        opt = torch.optim.Adam(net.parameters(), lr=ADAM['lr'],
                               betas=(ADAM['beta1'], ADAM['beta2']), eps=ADAM['eps'])
        ok = True
        first = grads = None
        objectives = []
        for _ in range(ADAM['steps']):
            opt.zero_grad()
            out = forward(net, x, eps, y, capacity, mask)
            ok = ok and well_conditioned(net, out, capacity)
            out['objective'].backward()
            if first is None:
                first = out
                grads = {n: out_list(p.grad) for n, p in net.named_parameters()}
            objectives.append(round_sig(out['objective'].item(), 12))
            opt.step()
        with torch.no_grad():
            final = forward(net, x, eps, y, capacity, mask)
        ok = ok and well_conditioned(net, final, capacity)
        if not ok:
            continue
        case = {'name': name, 'seed': seed, 'config': cfg, 'batch': batch, 'capacity': capacity,
                'x': out_list(x), 'eps': out_list(eps)}
        if y is not None:
            case['labels'] = y.tolist()
        if mask is not None:
            case['mask'] = out_list(mask)
        case['params'] = params0
        case.update(case_fields(net, first))
        case['grads'] = {n: grads[n] for n in names}
        case['adam'] = {
            'objectives': objectives,
            'params': {n: out_list(p) for n, p in net.state_dict().items()},
            'finalObjective': round_sig(final['objective'].item(), 12),
        }
        return case
    raise RuntimeError(f'{name}: no seed with the required margins')


def uniform(b, d):
    return torch.rand(b, d)


def normal(b, d):
    return torch.randn(b, d)


def elbo_cases() -> list:
    """The version-1 cases of vae-golden.json."""
    return [
        run_case('bernoulli-relu-tanh-sum', {
            'inputSize': 7, 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'relu'},
            'decoder': {'hidden': [5], 'activation': 'tanh'},
            'likelihood': {'kind': 'bernoulli'}, 'beta': 1, 'reduction': 'sum',
        }, batch=4, seed0=1, make_x=uniform),
        run_case('gaussian-elu-gelu-mean', {
            'inputSize': 7, 'latentSize': 2,
            'encoder': {'hidden': [5, 4], 'activation': 'elu'},
            'decoder': {'hidden': [6], 'activation': 'gelu'},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.5}, 'beta': 2.5, 'reduction': 'mean',
        }, batch=3, seed0=100, make_x=uniform),
        run_case('learned-leaky-linear-capacity-sum', {
            'inputSize': 7, 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'leaky_relu'},
            'decoder': {'hidden': []},
            'likelihood': {'kind': 'gaussian-learned'}, 'beta': 4,
            'capacity': {'max': 0.7, 'steps': 0}, 'reduction': 'sum',
        }, batch=5, seed0=200, make_x=normal, capacity=0.7),
    ]


def iwae_cases() -> list:
    """Version-2 iwae cases: K = 3 and 4 with awkward sizes, and K = 1 (a Monte-Carlo KL)."""
    return [
        run_case('iwae-bernoulli-relu-tanh-k3-sum', {
            'version': 2, 'inputSize': 7, 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'relu'},
            'decoder': {'hidden': [5], 'activation': 'tanh'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'iwae', 'samples': 3, 'reduction': 'sum'},
        }, batch=4, seed0=300, make_x=uniform),
        run_case('iwae-learned-elu-gelu-k4-mean', {
            'version': 2, 'inputSize': 6, 'latentSize': 2,
            'encoder': {'hidden': [5], 'activation': 'elu'},
            'decoder': {'hidden': [4], 'activation': 'gelu'},
            'likelihood': {'kind': 'gaussian-learned'},
            'objective': {'kind': 'iwae', 'samples': 4, 'reduction': 'mean'},
        }, batch=3, seed0=400, make_x=normal),
        run_case('iwae-gaussian-linear-softplus-k1-sum', {
            'version': 2, 'inputSize': 5, 'latentSize': 2,
            'encoder': {'hidden': []},
            'decoder': {'hidden': [4], 'activation': 'softplus'},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.5},
            'objective': {'kind': 'iwae', 'samples': 1, 'reduction': 'sum'},
        }, batch=2, seed0=500, make_x=uniform),
    ]


def cvae_cases() -> list:
    """Version-2 condition 'label' cases: MLP, conv with inject 'channels', conv with 'dense'."""
    return [
        run_case('cvae-mlp-bernoulli-relu-tanh-sum', {
            'version': 2, 'inputSize': 7, 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'relu'},
            'decoder': {'hidden': [5], 'activation': 'tanh'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'sum'},
            'condition': {'kind': 'label', 'classes': 4, 'inject': 'dense'},
        }, batch=5, seed0=600, make_x=uniform),
        # Conv encoder on 2×5×5 images with 3 label planes (5 input channels), a deconv decoder
        # whose dense layer reads cat([z, onehot]).
        run_case('cvae-conv-channels-deconv-mean', {
            'version': 2, 'inputSize': 50, 'inputShape': [2, 5, 5], 'latentSize': 2,
            'encoder': {'conv': [{'channels': 3, 'kernel': 3, 'stride': 2, 'padding': 1}],
                        'hidden': [6], 'activation': 'elu'},
            'decoder': {'hidden': [12], 'deconv': [{'channels': 2, 'kernel': 3, 'stride': 2}],
                        'activation': 'tanh'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1.5, 'reduction': 'mean'},
            'condition': {'kind': 'label', 'classes': 3, 'inject': 'channels'},
        }, batch=3, seed0=700, make_x=uniform),
        # Conv encoder whose flattened output gets the one-hot before the heads (no hidden
        # layer); Gaussian decoder with decoder.out; capacity objective.
        run_case('cvae-conv-dense-heads-capacity-sum', {
            'version': 2, 'inputSize': 36, 'inputShape': [1, 6, 6], 'latentSize': 3,
            'encoder': {'conv': [{'channels': 2, 'kernel': 3}], 'hidden': [],
                        'activation': 'leaky_relu'},
            'decoder': {'hidden': [7], 'activation': 'sigmoid'},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.8},
            'objective': {'kind': 'elbo', 'beta': 2, 'capacity': {'max': 0.6, 'steps': 0},
                          'reduction': 'sum'},
            'condition': {'kind': 'label', 'classes': 5, 'inject': 'dense'},
        }, batch=4, seed0=800, make_x=uniform, capacity=0.6),
    ]


def full_cases() -> list:
    """Version-2 posterior 'full' cases: the ELBO (closed-form KL) and IWAE k = 3 (log q)."""
    return [
        run_case('full-elbo-bernoulli-relu-tanh-sum', {
            'version': 2, 'inputSize': 7, 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'relu'},
            'decoder': {'hidden': [5], 'activation': 'tanh'},
            'posterior': {'kind': 'full'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'sum'},
        }, batch=4, seed0=900, make_x=uniform),
        run_case('full-iwae-learned-elu-gelu-k3-mean', {
            'version': 2, 'inputSize': 6, 'latentSize': 4,
            'encoder': {'hidden': [5], 'activation': 'elu'},
            'decoder': {'hidden': [4], 'activation': 'gelu'},
            'posterior': {'kind': 'full'},
            'likelihood': {'kind': 'gaussian-learned'},
            'objective': {'kind': 'iwae', 'samples': 3, 'reduction': 'mean'},
        }, batch=3, seed0=1000, make_x=normal),
    ]


def planar_cases() -> list:
    """Version-2 posterior 'planar' cases: global and amortized with the ELBO (its Monte Carlo
    KL), and amortized with IWAE k = 3."""
    return [
        run_case('planar-global-elbo-bernoulli-relu-tanh-sum', {
            'version': 2, 'inputSize': 7, 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'relu'},
            'decoder': {'hidden': [5], 'activation': 'tanh'},
            'posterior': {'kind': 'planar', 'steps': 3},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'sum'},
        }, batch=4, seed0=1100, make_x=uniform),
        run_case('planar-amortized-elbo-gaussian-tanh-softplus-mean', {
            'version': 2, 'inputSize': 6, 'latentSize': 2,
            'encoder': {'hidden': [5], 'activation': 'tanh'},
            'decoder': {'hidden': [4], 'activation': 'softplus'},
            'posterior': {'kind': 'planar', 'steps': 2, 'amortized': True},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.7},
            'objective': {'kind': 'elbo', 'beta': 1.5, 'reduction': 'mean'},
        }, batch=3, seed0=1200, make_x=normal),
        run_case('planar-amortized-iwae-learned-elu-gelu-k3-sum', {
            'version': 2, 'inputSize': 6, 'latentSize': 4,
            'encoder': {'hidden': [5], 'activation': 'elu'},
            'decoder': {'hidden': [4], 'activation': 'gelu'},
            'posterior': {'kind': 'planar', 'steps': 2, 'amortized': True},
            'likelihood': {'kind': 'gaussian-learned'},
            'objective': {'kind': 'iwae', 'samples': 3, 'reduction': 'sum'},
        }, batch=3, seed0=1300, make_x=normal),
    ]


def hierarchical_cases() -> list:
    """Version-2 posterior 'hierarchical' cases (z1 below the code z2): the ELBO (its Monte Carlo
    KL over both layers) with and without hidden layers between them, and IWAE k = 3."""
    return [
        run_case('hierarchical-elbo-bernoulli-tanh-sum', {
            'version': 2, 'inputSize': 7, 'latentSize': 2,
            'encoder': {'hidden': [6], 'activation': 'tanh'},
            'posterior': {'kind': 'hierarchical', 'lower': 3, 'hidden': [4]},
            'decoder': {'hidden': [5], 'activation': 'tanh'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'sum'},
        }, batch=4, seed0=1400, make_x=uniform),
        run_case('hierarchical-elbo-gaussian-linear-mean', {
            'version': 2, 'inputSize': 5, 'latentSize': 3,
            'encoder': {'hidden': [4], 'activation': 'softplus'},
            'posterior': {'kind': 'hierarchical', 'lower': 2},
            'decoder': {'hidden': [], 'activation': 'tanh'},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.6},
            'objective': {'kind': 'elbo', 'beta': 2, 'reduction': 'mean'},
        }, batch=3, seed0=1500, make_x=normal),
        run_case('hierarchical-iwae-learned-relu-gelu-k3-sum', {
            'version': 2, 'inputSize': 6, 'latentSize': 2,
            'encoder': {'hidden': [5], 'activation': 'relu'},
            'posterior': {'kind': 'hierarchical', 'lower': 4, 'hidden': [3, 5]},
            'decoder': {'hidden': [4], 'activation': 'gelu'},
            'likelihood': {'kind': 'gaussian-learned'},
            'objective': {'kind': 'iwae', 'samples': 3, 'reduction': 'sum'},
        }, batch=3, seed0=1600, make_x=normal),
    ]


def iaf_cases() -> list:
    """Version-2 posterior 'iaf' cases: the ELBO (its Monte Carlo KL) with one and two MADE
    hidden layers, and IWAE k = 3; MADE activations elu (kinks kept away), tanh, softplus."""
    return [
        run_case('iaf-elbo-bernoulli-relu-tanh-made-elu-sum', {
            'version': 2, 'inputSize': 7, 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'relu'},
            'decoder': {'hidden': [5], 'activation': 'tanh'},
            'posterior': {'kind': 'iaf', 'steps': 2, 'hidden': [6], 'context': 2},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'sum'},
        }, batch=4, seed0=1400, make_x=uniform),
        run_case('iaf-elbo-gaussian-tanh-softplus-made-tanh-2-layers-mean', {
            'version': 2, 'inputSize': 6, 'latentSize': 2,
            'encoder': {'hidden': [5], 'activation': 'tanh'},
            'decoder': {'hidden': [4], 'activation': 'softplus'},
            'posterior': {'kind': 'iaf', 'steps': 3, 'hidden': [5, 4], 'activation': 'tanh'},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.7},
            'objective': {'kind': 'elbo', 'beta': 1.5, 'reduction': 'mean'},
        }, batch=3, seed0=1500, make_x=normal),
        run_case('iaf-iwae-learned-elu-gelu-made-softplus-k3-sum', {
            'version': 2, 'inputSize': 6, 'latentSize': 4,
            'encoder': {'hidden': [5], 'activation': 'elu'},
            'decoder': {'hidden': [4], 'activation': 'gelu'},
            'posterior': {'kind': 'iaf', 'steps': 2, 'hidden': [9], 'context': 3,
                          'activation': 'softplus'},
            'likelihood': {'kind': 'gaussian-learned'},
            'objective': {'kind': 'iwae', 'samples': 3, 'reduction': 'sum'},
        }, batch=3, seed0=1600, make_x=normal),
    ]


def masking_cases() -> list:
    """Version-2 masking cases, the mask given: pixel dropout on an MLP (mask as features, loss
    over the missing pixels), a block on a conv encoder (mask as a channel), quadrants with IWAE
    k = 3 and the label condition (no mask input, loss over all pixels, fill 0.5)."""
    return [
        run_case('masking-pixels-mlp-channels-missing-sum', {
            'version': 2, 'inputSize': 12, 'inputShape': [1, 3, 4], 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'tanh'},
            'decoder': {'hidden': [5], 'activation': 'relu'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'sum'},
            'masking': {'kind': 'pixels', 'p': 0.4, 'fill': -0.25, 'channels': True,
                        'loss': 'missing'},
        }, batch=4, seed0=1700, make_x=uniform),
        run_case('masking-block-conv-channels-missing-mean', {
            'version': 2, 'inputSize': 50, 'inputShape': [2, 5, 5], 'latentSize': 2,
            'encoder': {'conv': [{'channels': 3, 'kernel': 3, 'stride': 2, 'padding': 1}],
                        'hidden': [6], 'activation': 'elu'},
            'decoder': {'hidden': [12], 'deconv': [{'channels': 2, 'kernel': 3, 'stride': 2}],
                        'activation': 'tanh'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1.5, 'reduction': 'mean'},
            'masking': {'kind': 'block', 'minSize': 2, 'maxSize': 3, 'channels': True,
                        'loss': 'missing'},
        }, batch=3, seed0=1800, make_x=uniform),
        run_case('masking-quadrant-label-iwae-k3-sum', {
            'version': 2, 'inputSize': 25, 'latentSize': 2,
            'encoder': {'hidden': [5], 'activation': 'softplus'},
            'decoder': {'hidden': [4], 'activation': 'tanh'},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.6},
            'objective': {'kind': 'iwae', 'samples': 3, 'reduction': 'sum'},
            'condition': {'kind': 'label', 'classes': 3},
            'masking': {'kind': 'quadrant', 'fill': 0.5},
        }, batch=4, seed0=1900, make_x=uniform),
    ]


def completion_cases() -> list:
    """Version-2 conditional completion (condition 'quadrants', prior 'conditional'; x_obs is
    computed from x, nothing else is given) and the label condition with a conditional prior."""
    return [
        # 5×4 images: an odd height gives the bottom half its extra row.
        run_case('completion-1-elbo-tanh-prior-relu-sum', {
            'version': 2, 'inputSize': 20, 'inputShape': [1, 5, 4], 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'tanh'},
            'decoder': {'hidden': [5], 'activation': 'softplus'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'sum'},
            'condition': {'kind': 'quadrants', 'observed': 1, 'fill': -0.5},
            'prior': {'kind': 'conditional', 'hidden': [4], 'activation': 'relu'},
        }, batch=4, seed0=2000, make_x=uniform),
        # A square inputSize without inputShape, fill's default −1, two prior layers.
        run_case('completion-3-iwae-k3-elu-prior-tanh-mean', {
            'version': 2, 'inputSize': 36, 'latentSize': 2,
            'encoder': {'hidden': [7], 'activation': 'elu'},
            'decoder': {'hidden': [6], 'activation': 'tanh'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'iwae', 'samples': 3, 'reduction': 'mean'},
            'condition': {'kind': 'quadrants', 'observed': 3},
            'prior': {'kind': 'conditional', 'hidden': [5, 4], 'activation': 'tanh'},
        }, batch=3, seed0=2100, make_x=uniform),
        # Two channels (the quadrants repeat in each), a conv encoder, a deconv decoder whose
        # dense layer reads cat([z, x_obs]); the prior has heads only.
        run_case('completion-2-conv-deconv-elbo-beta-sum', {
            'version': 2, 'inputSize': 50, 'inputShape': [2, 5, 5], 'latentSize': 2,
            'encoder': {'conv': [{'channels': 3, 'kernel': 3, 'stride': 2, 'padding': 1}],
                        'hidden': [6], 'activation': 'elu'},
            'decoder': {'hidden': [12], 'deconv': [{'channels': 2, 'kernel': 3, 'stride': 2}],
                        'activation': 'tanh'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1.5, 'reduction': 'sum'},
            'condition': {'kind': 'quadrants', 'observed': 2, 'fill': 0.25},
            'prior': {'kind': 'conditional', 'hidden': []},
        }, batch=3, seed0=2200, make_x=uniform),
        run_case('label-conditional-prior-elbo-gaussian-mean', {
            'version': 2, 'inputSize': 7, 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'tanh'},
            'decoder': {'hidden': [5], 'activation': 'softplus'},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.6},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'mean'},
            'condition': {'kind': 'label', 'classes': 4},
            'prior': {'kind': 'conditional', 'hidden': [5], 'activation': 'softplus'},
        }, batch=5, seed0=2300, make_x=normal),
        # Monte Carlo KL (log q − log p) against the conditional prior: the full posterior.
        run_case('label-conditional-prior-full-iwae-k3-sum', {
            'version': 2, 'inputSize': 6, 'latentSize': 3,
            'encoder': {'hidden': [5], 'activation': 'tanh'},
            'decoder': {'hidden': [4], 'activation': 'gelu'},
            'posterior': {'kind': 'full'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'iwae', 'samples': 3, 'reduction': 'sum'},
            'condition': {'kind': 'label', 'classes': 3},
            'prior': {'kind': 'conditional', 'hidden': [4], 'activation': 'tanh'},
        }, batch=4, seed0=2400, make_x=uniform),
    ]


VQ_MARGIN = 0.02


def vq_gaps(out: dict) -> torch.Tensor:
    """Per latent vector: the squared distance to its second-nearest code minus its nearest."""
    d = out['distances'].detach().sort(1).values
    return d[:, 1] - d[:, 0]


def run_vq_case(name: str, cfg: dict, batch: int, seed0: int,
                make_x: Callable[[int, int], torch.Tensor], min_codes: int = 1) -> dict:
    """A posterior 'vq' case (vae-golden-vq.json): as run_case, the codebook drawn N(0, 0.5²)
    (spread like the encoder's outputs; with update 'ema' posterior.ema.sum starts equal to it),
    no noise. Accepted only when every latent vector's nearest code is nearer than its second by
    more than VQ_MARGIN (squared distance) at every step and at the final weights, so the
    assignments are the same in float32, and no kink is near, and the first step's vectors use
    at least `min_codes` codes. Three Adam steps on the parameters; with update 'ema' each step's
    forward also moves the codebook and its state."""
    resolved = resolve_config(cfg)
    post = resolved.posterior
    D = resolved.input_size
    for seed in range(seed0, seed0 + 1000):
        torch.manual_seed(seed)
        net = VaeNet(resolved).double()
        net.record_kinks = True
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(rounded(p))
            net.posterior.codebook.copy_(rounded(0.5 * torch.randn(post['codes'], post['dim'])))
            if post['update'] == 'ema':
                net.posterior.ema.sum.copy_(net.posterior.codebook)
        x = rounded(make_x(batch, D))
        names = list(net.state_dict().keys())
        params0 = {n: out_list(p) for n, p in net.state_dict().items()}
        opt = torch.optim.Adam(net.parameters(), lr=ADAM['lr'],
                               betas=(ADAM['beta1'], ADAM['beta2']), eps=ADAM['eps'])
        gaps, objectives = [], []
        ok = True
        first = None
        for _ in range(ADAM['steps']):
            opt.zero_grad()
            net.kinks = []
            out = objective(net, x)
            out['z'].retain_grad()
            out['ze'].retain_grad()
            gaps.append(vq_gaps(out).min().item())
            ok = ok and not any(pre.abs().min().item() < KINK_MARGIN for pre in net.kinks)
            if first is None:
                first = out
                r = 1.0 if resolved.objective['reduction'] == 'sum' else 1.0 / batch
                # The two quantizer terms' own gradients (the scaled objective's parts).
                if post['update'] == 'loss':
                    cb_grad = torch.autograd.grad(r * out['codebookSum'],
                                                  net.posterior.codebook, retain_graph=True)[0]
                else:  # ema: the codebook is a buffer; the codebook loss is only reported
                    cb_grad = torch.zeros_like(net.posterior.codebook)
                commit_grad = torch.autograd.grad(r * post['beta'] * out['commitmentSum'],
                                                  out['ze'], retain_graph=True)[0]
            out['objective'].backward()
            if first is out:
                grads = {n: out_list(p.grad) for n, p in net.named_parameters()}
                z_grad, ze_grad = out['z'].grad.clone(), out['ze'].grad.clone()
            objectives.append(round_sig(out['objective'].item(), 12))
            opt.step()
        with torch.no_grad():
            net.kinks = []
            final = objective(net, x)
        gaps.append(vq_gaps(final).min().item())
        ok = ok and not any(pre.abs().min().item() < KINK_MARGIN for pre in net.kinks)
        if not ok or min(gaps) <= VQ_MARGIN or first['codes'].unique().numel() < min_codes:
            continue
        B = batch
        case = {'name': name, 'seed': seed, 'config': cfg, 'batch': batch, 'margin': VQ_MARGIN,
                'minGap': round_sig(min(gaps), 12), 'x': out_list(x), 'params': params0,
                'ze': out_list(first['ze']), 'codes': first['codes'].reshape(-1).tolist(),
                'z': out_list(first['z']), 'output': out_list(first['output']),
                'nll': out_list(first['nll']),
                'reconSum': round_sig(first['reconSum'].item(), 12),
                'codebookSum': round_sig(first['codebookSum'].item(), 12),
                'commitmentSum': round_sig(first['commitmentSum'].item(), 12),
                'perplexity': round_sig(first['perplexity'].item(), 12),
                'codesUsed': round_sig(first['codesUsed'].item(), 12),
                'objective': round_sig(first['objective'].item(), 12),
                'zGrad': out_list(z_grad), 'zeGrad': out_list(ze_grad),
                'codebookLossGrad': out_list(cb_grad), 'commitmentGrad': out_list(commit_grad),
                'grads': grads,
                'adam': {'objectives': objectives,
                         'params': {n: out_list(p) for n, p in net.state_dict().items()},
                         'finalObjective': round_sig(final['objective'].item(), 12)}}
        assert list(case['params']) == names and B == len(case['nll'])
        return case
    raise RuntimeError(f'{name}: no seed with the required margins')


def vq_cases() -> list:
    """Version-2 posterior 'vq' cases: codebook and commitment losses (update 'loss', sum) and
    EMA updates (update 'ema', mean, Gaussian likelihood), awkward sizes; and a conv grid (a 1×1
    conv head on a non-square 3×4 grid of 2-vectors, deconv layers from the quantized grid)."""
    return [
        run_vq_case('vq-loss-bernoulli-relu-tanh-sum', {
            'version': 2, 'inputSize': 7, 'latentSize': 6,
            'encoder': {'hidden': [5], 'activation': 'relu'},
            'decoder': {'hidden': [4], 'activation': 'tanh'},
            'posterior': {'kind': 'vq', 'codes': 5, 'dim': 2, 'beta': 0.3, 'update': 'loss'},
            'likelihood': {'kind': 'bernoulli'},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'sum'},
        }, batch=4, seed0=2000, make_x=uniform),
        run_vq_case('vq-ema-gaussian-tanh-softplus-mean', {
            'version': 2, 'inputSize': 6, 'latentSize': 6,
            'encoder': {'hidden': [5], 'activation': 'tanh'},
            'decoder': {'hidden': [4], 'activation': 'softplus'},
            'posterior': {'kind': 'vq', 'codes': 7, 'dim': 3, 'beta': 0.25, 'update': 'ema',
                          'decay': 0.8, 'epsilon': 1e-3},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.7},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'mean'},
        }, batch=3, seed0=2100, make_x=normal),
        # 1×5×7 -> 3×3×4 (conv) -> 2×3×4 (encoder.ze) -> deconv 3×4×5 -> 1×5×7.
        run_vq_case('vq-grid-conv-loss-elu-tanh-gaussian-sum', {
            'version': 2, 'inputSize': 35, 'inputShape': [1, 5, 7], 'latentSize': 24,
            'encoder': {'conv': [{'channels': 3, 'kernel': 3, 'stride': 2, 'padding': 1}],
                        'hidden': [], 'activation': 'elu'},
            'decoder': {'hidden': [], 'deconv': [
                {'channels': 3, 'kernel': 2},
                {'channels': 1, 'kernel': 3, 'stride': 2, 'padding': 2}],
                'activation': 'tanh'},
            'posterior': {'kind': 'vq', 'codes': 5, 'dim': 2, 'beta': 0.3, 'update': 'loss',
                          'grid': True},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.8},
            'objective': {'kind': 'elbo', 'beta': 1, 'reduction': 'sum'},
        }, batch=2, seed0=2200, make_x=normal, min_codes=3),
    ]


def run_m2_case(name: str, cfg: dict, labeled: int, unlabeled: int, seed0: int,
                make_x: Callable[[int, int], torch.Tensor]) -> dict:
    """An M2 case: a labeled batch (xl, yl) and an unlabeled one xu, eps for the L + U·C rows
    (labeled rows, then each unlabeled row under labels 0 … C−1), the objective (m2()) with its
    gradients and three Adam steps, as run_case."""
    resolved = resolve_config(cfg)
    D, C = resolved.input_size, resolved.classes
    for seed in range(seed0, seed0 + 1000):
        torch.manual_seed(seed)
        net = VaeNet(resolved).double()
        net.record_kinks = True
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(rounded(p))
        xl = rounded(make_x(labeled, D))
        xu = rounded(make_x(unlabeled, D))
        yl = torch.randperm(labeled) % C
        eps = rounded(torch.randn(labeled + unlabeled * C, resolved.noise_size))
        alpha = m2_alpha(net)
        names = list(net.state_dict().keys())
        params0 = {n: out_list(p) for n, p in net.state_dict().items()}
        opt = torch.optim.Adam(net.parameters(), lr=ADAM['lr'],
                               betas=(ADAM['beta1'], ADAM['beta2']), eps=ADAM['eps'])
        ok = True
        first = grads = None
        objectives = []
        for _ in range(ADAM['steps']):
            opt.zero_grad()
            net.kinks = []
            out = m2(net, xl, yl, xu, eps, alpha)
            ok = ok and well_conditioned(net, out, None)
            out['objective'].backward()
            if first is None:
                first = out
                grads = {n: out_list(p.grad) for n, p in net.named_parameters()}
            objectives.append(round_sig(out['objective'].item(), 12))
            opt.step()
        with torch.no_grad():
            net.kinks = []
            final = m2(net, xl, yl, xu, eps, alpha)
        ok = ok and well_conditioned(net, final, None)
        if not ok:
            continue
        return {
            'name': name, 'seed': seed, 'config': cfg, 'labeledBatch': labeled,
            'batch': unlabeled, 'alpha': alpha, 'xl': out_list(xl), 'yl': yl.tolist(),
            'xu': out_list(xu), 'eps': out_list(eps), 'params': params0,
            'objective': round_sig(first['objective'].item(), 12),
            'labeledSum': round_sig(first['labeledSum'].item(), 12),
            'ceSum': round_sig(first['ceSum'].item(), 12),
            'unlabeledSum': round_sig(first['unlabeledSum'].item(), 12),
            'correct': int(first['correct'].item()),
            'nelbo': out_list(first['nelbo']),
            'grads': {n: grads[n] for n in names},
            'adam': {
                'objectives': objectives,
                'params': {n: out_list(p) for n, p in net.state_dict().items()},
                'finalObjective': round_sig(final['objective'].item(), 12),
            },
        }
    raise RuntimeError(f'{name}: no seed with the required margins')


def m2_cases() -> list:
    return [
        run_m2_case('m2-mlp-bernoulli-alpha-sum', {
            'version': 2, 'inputSize': 6, 'latentSize': 2,
            'encoder': {'hidden': [5], 'activation': 'tanh'},
            'decoder': {'hidden': [4], 'activation': 'elu'},
            'objective': {'kind': 'm2', 'alpha': 1.7,
                          'classifier': {'hidden': [4], 'activation': 'softplus'}},
            'condition': {'kind': 'label', 'classes': 3},
        }, labeled=5, unlabeled=7, seed0=2000, make_x=uniform),
        run_m2_case('m2-gaussian-relu-classifier-default-alpha-mean', {
            'version': 2, 'inputSize': 5, 'latentSize': 3,
            'encoder': {'hidden': [6], 'activation': 'gelu'},
            'decoder': {'hidden': [5], 'activation': 'tanh'},
            'likelihood': {'kind': 'gaussian', 'sigma': 0.8},
            'objective': {'kind': 'm2', 'reduction': 'mean',
                          'classifier': {'hidden': [6, 3], 'activation': 'relu'}},
            'condition': {'kind': 'label', 'classes': 4},
        }, labeled=3, unlabeled=2, seed0=2100, make_x=normal),
        run_m2_case('m2-conv-classifier-and-encoder-sum', {
            'version': 2, 'inputSize': 2 * 5 * 5, 'inputShape': [2, 5, 5], 'latentSize': 2,
            'encoder': {'conv': [{'channels': 3, 'kernel': 3, 'stride': 2, 'padding': 1}],
                        'hidden': [5], 'activation': 'tanh'},
            'decoder': {'hidden': [4], 'activation': 'tanh'},
            'objective': {'kind': 'm2', 'alpha': 0.4, 'classifier': {
                'conv': [{'channels': 2, 'kernel': 3, 'stride': 1},
                         {'channels': 3, 'kernel': 2, 'stride': 2, 'padding': 1}],
                'hidden': [4], 'activation': 'softplus'}},
            'condition': {'kind': 'label', 'classes': 3},
        }, labeled=4, unlabeled=3, seed0=2200, make_x=uniform),
    ]


def write_fixture(path: pathlib.Path, cases: list) -> None:
    fixture = {'generator': GENERATOR, 'torch': torch.__version__, 'adam': ADAM, 'cases': cases}
    path.write_text(json.dumps(fixture, indent=2) + '\n')
    for c in cases:
        print(f"  {c['name']}: seed {c['seed']}, objective {c['objective']}")
    print(f'wrote {path} ({path.stat().st_size} bytes)')


FIXTURE_SETS = {
    'vae-golden.json': elbo_cases,
    'vae-golden-iwae.json': iwae_cases,
    'vae-golden-cvae.json': cvae_cases,
    'vae-golden-full.json': full_cases,
    'vae-golden-planar.json': planar_cases,
    'vae-golden-iaf.json': iaf_cases,
    'vae-golden-hierarchical.json': hierarchical_cases,
    'vae-golden-masking.json': masking_cases,
    'vae-golden-completion.json': completion_cases,
    'vae-golden-vq.json': vq_cases,
    'vae-golden-m2.json': m2_cases,
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog='python -m webgpu_vae_torch.golden',
                                     description='Write the golden fixtures of the TS tests.')
    parser.add_argument('--out', default=str(FIXTURES), help='folder (default test/fixtures)')
    parser.add_argument('--only', choices=sorted(FIXTURE_SETS), action='append',
                        help='write only this fixture (repeatable)')
    args = parser.parse_args(argv)
    torch.set_default_dtype(torch.float64)
    for name in args.only or FIXTURE_SETS:
        write_fixture(pathlib.Path(args.out) / name, FIXTURE_SETS[name]())
    print('now run npx prettier --write on them')


if __name__ == '__main__':
    main()
