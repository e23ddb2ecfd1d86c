"""The objectives the model description names, exactly as the contract defines them. These
functions produce the golden fixtures, so they are the ground truth for the TypeScript graphs.

r = 1 for reduction 'sum', 1/B for 'mean'.

The posterior's sample z, log q(z|x) and closed-form KL are the model's (model.py): for the
diagonal posterior, with c = logvar clamped to [−30, 20] straight-through (as the kernels: the
value is clamped inside exp, the gradient is not zeroed),
    z_b = mu_b + exp(½ c_b) eps_b,  KL_b = ½ Σ_j (mu² + expm1(c) − logvar),
    log q(z|x) = log N(z; mu, exp(logvar));
for the full one, N(mu, L Lᵀ) with z = mu + L eps and MultivariateNormal's log_prob and KL;
for a flow (planar) there is no closed form: KL_b is the one-sample estimate
log q(z_b|x_b) − log N(z_b; 0, I); for a hierarchy (z1 below the code z2, eps (·, Z1 + Z) with
z1's noise first) log q = log q(z1|x) + log q(z2|z1) and log p = log N(z2; 0, I) + log p(z1|z2)
replace them (the decoder reads z1).

elbo (single sample, analytic KL):
    plain:    L = r Σ_b nll_b + r β Σ_b KL_b
    capacity: L = r Σ_b nll_b + r B β |mean_b KL_b − C_t|,  C_t = max·min(1, t/steps)

vq (posterior 'vq', no noise, no KL; own terms summed over each example's vectors and values):
    L = r Σ_b nll_b + r Σ_b codebook_b [update 'loss' only] + r β Σ_b commitment_b
    codebook_b = ‖sg[z_e] − z_q‖², commitment_b = ‖z_e − sg[z_q]‖²; with update 'ema' the
    codebook loss is reported, and a training forward then moves the codebook (model.py).

iwae (K samples, eps (B·K, Z), row b·K + k):
    log w_{b,k} = −nll(x_b | z_{b,k}) + log N(z_{b,k}; 0, I) − log q(z_{b,k} | x_b)
    (both densities with their −½ log 2π per dimension)
    L = r Σ_b −(logsumexp_k log w_{b,k} − log K); the gradient is plain autograd through z.

A conditional prior (prior 'conditional') replaces N(0, I) by p(z|c) = N(mu_p(c), exp(logvar_p(c)))
everywhere above (the diagonal posterior's KL is then the closed form between the two Gaussians);
a completion model (condition 'quadrants') decodes from [z, x_obs] and its nll scores only the
missing pixels, so its −ELBO bounds −log p(x_miss|x_obs) and its log w estimate that.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from .model import VaeNet, log_normal

LOG_2PI = math.log(2 * math.pi)
__all__ = ['log_normal', 'elbo', 'vq_elbo', 'iwae', 'm2', 'm2_alpha', 'noise_rows', 'objective',
           'sample_terms']


def _scale(net: VaeNet, batch: int) -> float:
    return 1.0 if net.config.objective['reduction'] == 'sum' else 1.0 / batch


def sample_terms(net: VaeNet, x: torch.Tensor, eps: torch.Tensor,
                 y: Optional[torch.Tensor] = None, mask: Optional[torch.Tensor] = None,
                 K: int = 1) -> dict:
    """The per-sample pieces every objective and estimate is made of, K samples per example
    (rows b·K + k): the posterior's params, the prior's (a conditional prior's mu, logvar, or
    None), z, log q(z|x), log p(z) (B·K), the decoder's output and log σ, nll (B·K) and the
    closed-form KL (B) where there is one (else None)."""
    params = net.posterior_params(x, y, mask)
    context = net.context(x, y)
    prior = net.prior_params(context)
    z, log_qz, log_pz = net.draw(params, eps, K, prior)
    rep = (lambda t: t) if K == 1 else (lambda t: t.repeat_interleave(K, 0))
    y_r = None if y is None else rep(torch.as_tensor(y).reshape(-1))
    x_obs = rep(context) if net.config.completion else None
    output, log_sigma = net.decode(z, y_r, x_obs)
    nll = net.nll(output, log_sigma, rep(x), None if mask is None else rep(mask))
    return {'params': params, 'prior': prior, 'z': z, 'logQ': log_qz, 'logP': log_pz,
            'output': output, 'logSigma': log_sigma, 'nll': nll, 'kl': net.kl(params, prior)}


def elbo(net: VaeNet, x: torch.Tensor, eps: torch.Tensor, y: Optional[torch.Tensor] = None,
         capacity: Optional[float] = None, mask: Optional[torch.Tensor] = None) -> dict:
    """The single-sample ELBO objective; capacity = C_t, or None for the plain β objective."""
    B = x.shape[0]
    t = sample_terms(net, x, eps, y, mask)
    params, z, output, log_sigma, nll = t['params'], t['z'], t['output'], t['logSigma'], t['nll']
    kl = t['kl']
    if kl is None:
        kl = t['logQ'] - t['logP']
    r = _scale(net, B)
    beta = net.config.objective.get('beta', 1.0)  # M2's per-label bounds: β = 1
    recon_sum, kl_sum = nll.sum(), kl.sum()
    if capacity is None:
        value = r * recon_sum + r * beta * kl_sum
    else:
        value = r * recon_sum + r * B * beta * torch.abs(kl.mean() - capacity)
    return {'objective': value, 'reconSum': recon_sum, 'klSum': kl_sum, 'nll': nll, 'kl': kl,
            **params, 'z': z, 'output': output, 'logSigma': log_sigma}


def vq_elbo(net: VaeNet, x: torch.Tensor, y: Optional[torch.Tensor] = None,
            mask: Optional[torch.Tensor] = None) -> dict:
    """The objective of a vq posterior (see the module docstring); klSum and kl are zero."""
    B = x.shape[0]
    post = net.config.posterior
    ze = net.posterior_params(x, y, mask)['ze']
    q = net.quantize(ze)
    flat, zq = q['flat'], q['zq']
    codebook = ((flat.detach() - zq) ** 2).reshape(B, -1).sum(1)
    commitment = ((flat - zq.detach()) ** 2).reshape(B, -1).sum(1)
    output, log_sigma = net.decode(q['z'], y)
    nll = net.nll(output, log_sigma, x, mask)
    r = _scale(net, B)
    own = post['beta'] * commitment.sum()
    if post['update'] == 'loss':
        own = own + codebook.sum()
    counts = F.one_hot(q['codes'].reshape(-1), post['codes']).sum(0).to(x.dtype)
    p = counts / counts.sum()
    entropy = -(p[p > 0] * torch.log(p[p > 0])).sum()
    if post['update'] == 'ema' and net.training and torch.is_grad_enabled():
        net.ema_update(flat, q['codes'])
    zero = nll.new_zeros(B)
    return {'objective': r * (nll.sum() + own), 'ownLoss': own, 'reconSum': nll.sum(),
            'klSum': zero.sum(), 'nll': nll, 'kl': zero, 'ze': ze, 'codes': q['codes'],
            'distances': q['distances'], 'z': q['z'], 'codebook': codebook,
            'commitment': commitment, 'codebookSum': codebook.sum(),
            'commitmentSum': commitment.sum(), 'perplexity': torch.exp(entropy),
            'codesUsed': (counts > 0).sum() / post['codes'], 'output': output,
            'logSigma': log_sigma}


def iwae(net: VaeNet, x: torch.Tensor, eps: torch.Tensor,
         y: Optional[torch.Tensor] = None, mask: Optional[torch.Tensor] = None) -> dict:
    """The K-sample importance-weighted bound (K = objective.samples); eps is (B·K, Z)."""
    B = x.shape[0]
    K = net.config.objective['samples']
    Z = net.config.noise_size
    if eps.shape != (B * K, Z):
        raise ValueError(f'iwae: eps must be (B·K, Z) = ({B * K}, {Z}), got {tuple(eps.shape)}')
    t = sample_terms(net, x, eps, y, mask, K)
    params, z, output, log_sigma, nll = t['params'], t['z'], t['output'], t['logSigma'], t['nll']
    log_qz, log_pz = t['logQ'], t['logP']
    log_w = (-nll + log_pz - log_qz).reshape(B, K)
    per_example = -(torch.logsumexp(log_w, 1) - math.log(K))
    kl = t['kl']
    if kl is None:
        kl = (log_qz - log_pz).reshape(B, K).mean(1)
    r = _scale(net, B)
    return {'objective': r * per_example.sum(), 'perExample': per_example,
            'logWeights': log_w.reshape(-1), 'reconSum': nll.sum() / K, 'klSum': kl.sum(),
            'nll': nll, 'kl': kl, **params, 'z': z, 'output': output, 'logSigma': log_sigma}


def m2_alpha(net: VaeNet, examples: Optional[int] = None, labeled: Optional[int] = None) -> float:
    """M2's α per labeled example: objective.alpha, else the paper's α = 0.1·N as 0.1·N / N_l
    with N every training example and N_l the labeled ones; 0.2 when the sizes are unknown."""
    alpha = net.config.objective.get('alpha')
    if alpha is not None:
        return alpha
    return 0.1 * examples / labeled if examples and labeled else 0.2


def m2(net: VaeNet, xl: torch.Tensor, yl: torch.Tensor, xu: torch.Tensor, eps: torch.Tensor,
       alpha: Optional[float] = None) -> dict:
    """Semi-supervised M2 (Kingma et al. 2014) on a labeled batch (xl (L, D), yl (L)) and an
    unlabeled one (xu (U, D)). The model runs on the rows [xl ; xu repeated C times], labels
    [yl ; 0 … C−1 per unlabeled row], eps ((L + U·C), Z) in that order; n = nll + KL per row:
        L = r (Σ_l n(xl, yl) + α Σ_l CE(q(y|xl), yl) + Σ_u Σ_y q(y|xu) n(xu, y) − Σ_u H(q(y|xu)))
    with r = 1 ('sum') or 1/U ('mean'), α = m2_alpha(net) unless given."""
    C = net.config.classes
    L, U = xl.shape[0], xu.shape[0]
    Z = net.config.noise_size
    if eps.shape != (L + U * C, Z):
        raise ValueError(f'm2: eps must be (L + U·C, Z) = ({L + U * C}, {Z}), '
                         f'got {tuple(eps.shape)}')
    yl = torch.as_tensor(yl).reshape(-1).long()
    x = torch.cat([xl, xu.repeat_interleave(C, 0)])
    y = torch.cat([yl, torch.arange(C, device=yl.device).repeat(U)])
    params = net.posterior_params(x, y)
    z, log_qz, log_pz = net.draw(params, eps)
    kl = net.kl(params)
    if kl is None:
        kl = log_qz - log_pz
    output, log_sigma = net.decode(z, y)
    nll = net.nll(output, log_sigma, x)
    nelbo = nll + kl
    logits_l, logits_u = net.classify(xl), net.classify(xu)
    ce = torch.nn.functional.cross_entropy(logits_l, yl.to(logits_l.device), reduction='none')
    log_q = torch.log_softmax(logits_u, 1)
    q = log_q.exp()
    expected = (q * nelbo[L:].reshape(U, C)).sum(1)
    entropy = -(q * log_q).sum(1)
    a = m2_alpha(net) if alpha is None else alpha
    r = _scale(net, U)
    labeled_sum, ce_sum = nelbo[:L].sum(), ce.sum()
    unlabeled_sum = expected.sum() - entropy.sum()
    value = r * (labeled_sum + a * ce_sum + unlabeled_sum)
    correct = (logits_l.argmax(1) == yl.to(logits_l.device)).sum()
    return {'objective': value, 'labeledSum': labeled_sum, 'ceSum': ce_sum,
            'unlabeledSum': unlabeled_sum, 'correct': correct, 'nelbo': nelbo, 'nll': nll,
            'kl': kl, 'logitsLabeled': logits_l, 'logitsUnlabeled': logits_u, **params, 'z': z,
            'output': output, 'logSigma': log_sigma}


def noise_rows(net: VaeNet, batch: int) -> int:
    """Rows of eps one step needs: B, or B·K for iwae."""
    obj = net.config.objective
    return batch * obj['samples'] if obj['kind'] == 'iwae' else batch


def objective(net: VaeNet, x: torch.Tensor, eps: Optional[torch.Tensor] = None,
              y: Optional[torch.Tensor] = None, step: int = 0,
              capacity: Optional[float] = None, mask: Optional[torch.Tensor] = None) -> dict:
    """The configured objective at a 0-based step (C_t from it unless capacity is given); with
    masking, mask (B, D) is drawn when None."""
    if mask is None and net.config.masking['kind'] != 'none':
        from .model import random_masks
        mask = random_masks(net.config, x.shape[0], dtype=x.dtype).to(x.device)
    if eps is None:
        eps = torch.randn(noise_rows(net, x.shape[0]), net.config.noise_size, dtype=x.dtype,
                          device=x.device)
    if net.config.objective['kind'] == 'm2':
        raise ValueError("objective 'm2' takes a labeled and an unlabeled batch: call m2()")
    if net.config.objective['kind'] == 'iwae':
        return iwae(net, x, eps, y, mask)
    if net.config.posterior['kind'] == 'vq':
        return vq_elbo(net, x, y, mask)
    return elbo(net, x, eps, y, net.config.capacity_at(step) if capacity is None else capacity,
                mask)
