"""PyTorch twin of the webgpu-vae MLP VAE: writes test/fixtures/vae-golden.json.

Regenerate with Debian's PyTorch (not the pyenv python3):

    /usr/bin/python3 scripts/golden/vae_twin.py
    npx prettier --write test/fixtures/vae-golden.json

(the second line so that `prettier --check .` passes on the fixture). CI does not need PyTorch:
the fixture is committed and test/vae-reference.test.ts compares src/vae/reference.ts with it.

The model is the one src/vae/config.ts describes: a torch.nn.Module whose state_dict() keys are
exactly our parameter names, in parameterSpecs() order ('encoder.0.weight', 'encoder.0.bias', ...,
'encoder.mu.*', 'encoder.logvar.*', 'decoder.0.*', ..., 'decoder.out.*', 'decoder.logsigma.*'),
weights (out, in), y = x W^T + b. Weights are PyTorch's default nn.Linear init after
torch.manual_seed(seed), cast to float64 and rounded to 10 significant digits (so the JSON values
are exactly the ones used); x and eps likewise. eps is given explicitly, never sampled in a step.
Everything is computed in float64.

Objective (r = 1 for reduction 'sum', 1/B for 'mean'):
    plain:    L = r * sum_b nll_b + r * beta * sum_b kl_b
    capacity: L = r * sum_b nll_b + r * B * beta * |mean_b kl_b - C|

Clamps, as the WGSL kernels apply them (none of them binds for these cases; the script asserts it):
  * logvar: reparam.wgsl and kl.wgsl evaluate exp at c = clamp(logvar, -30, 20), straight-through
    (the gradient is not zeroed outside the range). Here c = logvar + (clamp(logvar) - logvar)
    .detach(), so z = mu + exp(0.5 c) eps, KL_b = 0.5 sum_j (mu^2 + expm1(c) - logvar), with
    d/dlogvar = 0.5 (exp(c) - 1) and 0.5 eps exp(0.5 c) dz like the kernels.
  * log sigma (gaussian-learned): likelihood.wgsl uses c = clamp(log_sigma, -6, 6) with the exact
    gradient of the clamped loss (zero strictly outside the range), which is what torch.clamp
    gives; var = exp(2c) goes into F.gaussian_nll_loss(full=True), whose own var >= 1e-6 floor
    cannot bind since exp(-12) > 1e-6.
  * fixed-sigma gaussian: F.gaussian_nll_loss(full=True) with var = sigma^2 (per element
    0.5 (x - mu)^2 / sigma^2 + log sigma + 0.5 log 2 pi, as the kernel's log_norm constant).
  * bernoulli: F.binary_cross_entropy_with_logits(reduction='none'), x in [0, 1] (not binary).

Seeds: for each case the first seed from `seed0` on is taken whose relu / leaky_relu / elu
pre-activations all stay at least 1e-3 from 0 (at the initial weights and after every Adam step),
and, for the capacity case, |mean_b kl_b - C| >= 0.05 at every step, so finite differences and the
sign of the capacity term are well defined.

Fixture format (all arrays flat, row-major; floats rounded to 12 significant digits for outputs):
  { generator, torch, adam: {lr, beta1, beta2, eps, steps},
    cases: [ { name, seed, config (VaeConfig JSON), batch, capacity (C or null),
               x (B*D), eps (B*Z), params {name: list}, reconSum, klSum, objective,
               nll (B), kl (B), mu, logvar, z (B*Z), output (B*D), logSigma (B*D, learned only),
               grads {name: list},
               adam: { objectives [3] (objective before each step), params {name: list} after 3
                       steps, finalObjective (at those params) } } ] }
"""

import json
import math
import pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0
LOGSIGMA_MIN, LOGSIGMA_MAX = -6.0, 6.0
ADAM = {'lr': 0.01, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-8, 'steps': 3}
KINKED = {'relu', 'leaky_relu', 'elu'}
KINK_MARGIN = 1e-3
CAPACITY_MARGIN = 0.05

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


def round_sig(v, digits):
    return float(f'{v:.{digits}g}')


def rounded(t, digits=10):
    return torch.tensor([round_sig(v, digits) for v in t.reshape(-1).tolist()]).reshape(t.shape)


def out_list(t):
    return [round_sig(v, 12) for v in t.detach().reshape(-1).tolist()]


def likelihood_kind(cfg):
    return cfg.get('likelihood', {'kind': 'bernoulli'})['kind']


def param_names(cfg):
    """parameterSpecs() order of src/vae/config.ts."""
    layers = [f'encoder.{i}' for i in range(len(cfg['encoder']['hidden']))]
    layers += ['encoder.mu', 'encoder.logvar']
    layers += [f'decoder.{i}' for i in range(len(cfg['decoder']['hidden']))]
    layers += ['decoder.out']
    if likelihood_kind(cfg) == 'gaussian-learned':
        layers += ['decoder.logsigma']
    return [f'{layer}.{p}' for layer in layers for p in ('weight', 'bias')]


class VaeTwin(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, Z = cfg['inputSize'], cfg['latentSize']
        self.cfg = cfg
        self.encoder = nn.ModuleDict()
        prev = D
        for i, w in enumerate(cfg['encoder']['hidden']):
            self.encoder[str(i)] = nn.Linear(prev, w)
            prev = w
        self.encoder['mu'] = nn.Linear(prev, Z)
        self.encoder['logvar'] = nn.Linear(prev, Z)
        self.decoder = nn.ModuleDict()
        prev = Z
        for i, w in enumerate(cfg['decoder']['hidden']):
            self.decoder[str(i)] = nn.Linear(prev, w)
            prev = w
        self.decoder['out'] = nn.Linear(prev, D)
        if likelihood_kind(cfg) == 'gaussian-learned':
            self.decoder['logsigma'] = nn.Linear(prev, D)

    def forward(self, x, eps, capacity=None):
        cfg = self.cfg
        B, D = x.shape
        kinks = []  # pre-activations of kinked activations (relu, leaky_relu, elu)

        def mlp(h, part, n):
            act_name = cfg[part].get('activation', 'relu')
            for i in range(n):
                pre = getattr(self, part)[str(i)](h)
                if act_name in KINKED:
                    kinks.append(pre.detach())
                h = ACTIVATIONS[act_name](pre)
            return h

        h = mlp(x, 'encoder', len(cfg['encoder']['hidden']))
        mu = self.encoder['mu'](h)  # (B, Z)
        logvar = self.encoder['logvar'](h)  # (B, Z)
        # Straight-through clamp of logvar inside exp (reparam.wgsl / kl.wgsl).
        c = logvar + (logvar.clamp(LOGVAR_MIN, LOGVAR_MAX) - logvar).detach()
        z = mu + torch.exp(0.5 * c) * eps  # (B, Z)
        kl = 0.5 * (mu * mu + torch.expm1(c) - logvar).sum(1)  # (B)

        h = mlp(z, 'decoder', len(cfg['decoder']['hidden']))
        output = self.decoder['out'](h)  # (B, D)
        lk = cfg.get('likelihood', {'kind': 'bernoulli'})
        log_sigma = None
        if lk['kind'] == 'bernoulli':
            nll = F.binary_cross_entropy_with_logits(output, x, reduction='none').sum(1)
        elif lk['kind'] == 'gaussian':
            var = torch.full_like(output, lk['sigma'] ** 2)
            nll = F.gaussian_nll_loss(output, x, var, full=True, reduction='none').sum(1)
        else:
            log_sigma = self.decoder['logsigma'](h)  # (B, D)
            var = torch.exp(2 * log_sigma.clamp(LOGSIGMA_MIN, LOGSIGMA_MAX))
            nll = F.gaussian_nll_loss(output, x, var, full=True, reduction='none').sum(1)

        r = 1.0 if cfg.get('reduction', 'sum') == 'sum' else 1.0 / B
        beta = cfg.get('beta', 1.0)
        recon_sum = nll.sum()
        kl_sum = kl.sum()
        if capacity is None:
            objective = r * recon_sum + r * beta * kl_sum
        else:
            objective = r * recon_sum + r * B * beta * torch.abs(kl.mean() - capacity)
        return {
            'objective': objective,
            'reconSum': recon_sum,
            'klSum': kl_sum,
            'nll': nll,
            'kl': kl,
            'mu': mu,
            'logvar': logvar,
            'z': z,
            'output': output,
            'logSigma': log_sigma,
            'kinks': kinks,
        }


def check_margins(out, capacity):
    """True when the case is well conditioned (see the module docstring); asserts clamps idle."""
    lv = out['logvar'].detach()
    assert lv.min() > LOGVAR_MIN + 1 and lv.max() < LOGVAR_MAX - 1, 'logvar clamp would bind'
    if out['logSigma'] is not None:
        ls = out['logSigma'].detach()
        assert ls.min() > LOGSIGMA_MIN + 0.5 and ls.max() < LOGSIGMA_MAX - 0.5, 'log sigma clamp'
    for pre in out['kinks']:
        if pre.abs().min().item() < KINK_MARGIN:
            return False
    if capacity is not None and abs(out['kl'].mean().item() - capacity) < CAPACITY_MARGIN:
        return False
    return True


def run_case(name, cfg, batch, seed0, make_x, capacity=None):
    D, Z = cfg['inputSize'], cfg['latentSize']
    for seed in range(seed0, seed0 + 1000):
        torch.manual_seed(seed)
        model = VaeTwin(cfg).double()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(rounded(p))
        x = rounded(make_x(batch, D))
        eps = rounded(torch.randn(batch, Z))
        names = list(model.state_dict().keys())
        assert names == param_names(cfg), names
        params0 = {n: out_list(p) for n, p in model.state_dict().items()}

        opt = torch.optim.Adam(
            model.parameters(),
            lr=ADAM['lr'],
            betas=(ADAM['beta1'], ADAM['beta2']),
            eps=ADAM['eps'],
        )
        ok = True
        first = None
        grads = None
        objectives = []
        for _ in range(ADAM['steps']):
            opt.zero_grad()
            out = model(x, eps, capacity)
            ok = ok and check_margins(out, capacity)
            out['objective'].backward()
            if first is None:
                first = out
                grads = {n: out_list(p.grad) for n, p in model.named_parameters()}
            objectives.append(round_sig(out['objective'].item(), 12))
            opt.step()
        with torch.no_grad():
            final = model(x, eps, capacity)
        ok = ok and check_margins(final, capacity)
        if not ok:
            continue
        case = {
            'name': name,
            'seed': seed,
            'config': cfg,
            'batch': batch,
            'capacity': capacity,
            'x': out_list(x),
            'eps': out_list(eps),
            'params': params0,
            'reconSum': round_sig(first['reconSum'].item(), 12),
            'klSum': round_sig(first['klSum'].item(), 12),
            'objective': round_sig(first['objective'].item(), 12),
            'nll': out_list(first['nll']),
            'kl': out_list(first['kl']),
            'mu': out_list(first['mu']),
            'logvar': out_list(first['logvar']),
            'z': out_list(first['z']),
            'output': out_list(first['output']),
        }
        if first['logSigma'] is not None:
            case['logSigma'] = out_list(first['logSigma'])
        case['grads'] = {n: grads[n] for n in names}
        case['adam'] = {
            'objectives': objectives,
            'params': {n: out_list(p) for n, p in model.state_dict().items()},
            'finalObjective': round_sig(final['objective'].item(), 12),
        }
        return case
    raise RuntimeError(f'{name}: no seed with the required margins')


def main():
    cases = [
        run_case(
            'bernoulli-relu-tanh-sum',
            {
                'inputSize': 7,
                'latentSize': 3,
                'encoder': {'hidden': [6], 'activation': 'relu'},
                'decoder': {'hidden': [5], 'activation': 'tanh'},
                'likelihood': {'kind': 'bernoulli'},
                'beta': 1,
                'reduction': 'sum',
            },
            batch=4,
            seed0=1,
            make_x=lambda b, d: torch.rand(b, d),
        ),
        run_case(
            'gaussian-elu-gelu-mean',
            {
                'inputSize': 7,
                'latentSize': 2,
                'encoder': {'hidden': [5, 4], 'activation': 'elu'},
                'decoder': {'hidden': [6], 'activation': 'gelu'},
                'likelihood': {'kind': 'gaussian', 'sigma': 0.5},
                'beta': 2.5,
                'reduction': 'mean',
            },
            batch=3,
            seed0=100,
            make_x=lambda b, d: torch.rand(b, d),
        ),
        run_case(
            'learned-leaky-linear-capacity-sum',
            {
                'inputSize': 7,
                'latentSize': 3,
                'encoder': {'hidden': [6], 'activation': 'leaky_relu'},
                'decoder': {'hidden': []},
                'likelihood': {'kind': 'gaussian-learned'},
                'beta': 4,
                'capacity': {'max': 0.7, 'steps': 0},
                'reduction': 'sum',
            },
            batch=5,
            seed0=200,
            make_x=lambda b, d: torch.randn(b, d),
            capacity=0.7,
        ),
    ]
    fixture = {
        'generator': 'scripts/golden/vae_twin.py',
        'torch': torch.__version__,
        'adam': ADAM,
        'cases': cases,
    }
    path = pathlib.Path(__file__).resolve().parents[2] / 'test' / 'fixtures' / 'vae-golden.json'
    path.write_text(json.dumps(fixture, indent=2) + '\n')
    for c in cases:
        print(f"{c['name']}: seed {c['seed']}, objective {c['objective']}, "
              f"mean KL {c['klSum'] / c['batch']:.4f}")
    print(f'wrote {path} ({path.stat().st_size} bytes); now run npx prettier --write on it')


if __name__ == '__main__':
    main()
