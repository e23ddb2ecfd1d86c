"""Unit tests of webgpu_vae_torch (run by test/torch-package.test.ts, or directly):

    PYTHONPATH=python /usr/bin/python3 -m unittest discover -s python/tests
"""

import gzip
import json
import math
import os
import pathlib
import re
import struct
import tempfile
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F

from idx_files import read_jsonl, write_idx, write_idx_files
from webgpu_vae_torch import golden
from webgpu_vae_torch.checkpoint import (adam_state, decode_checkpoint, encode_checkpoint,
                                         load_adam_state, load_checkpoint, save_checkpoint)
from webgpu_vae_torch.config import ConfigError, resolve_config
from webgpu_vae_torch.data import load_data
from webgpu_vae_torch.model import VaeNet, random_masks
from webgpu_vae_torch.objectives import LOG_2PI, elbo, iwae, m2, objective
from webgpu_vae_torch.safetensors_io import SafetensorsError, decode, encode
from webgpu_vae_torch.train import Stepper, learning_rate_at, local_rows, make_optimizer

MLP = {'inputSize': 6, 'latentSize': 2, 'encoder': {'hidden': [5], 'activation': 'tanh'},
       'decoder': {'hidden': [4], 'activation': 'softplus'}}


def v2(**sections):
    return {'version': 2, **MLP, **sections}


class ConfigTest(unittest.TestCase):
    def assert_error(self, config, *fragments):
        with self.assertRaises(ConfigError) as ctx:
            resolve_config(config)
        for fragment in fragments:
            self.assertIn(fragment, str(ctx.exception))

    def test_errors_name_the_field(self):
        self.assert_error({**MLP, 'betta': 1}, 'betta is unknown')
        self.assert_error(v2(beta=2), 'beta is not a top-level field in version 2',
                          'objective.beta')
        self.assert_error(v2(objective={'kind': 'iwae', 'samples': 65}),
                          'objective.samples must be an integer in [1, 64]')
        self.assert_error(v2(objective={'kind': 'elbo', 'samples': 2}), 'objective.samples is '
                          'unknown')
        self.assert_error(v2(condition={'kind': 'label', 'classes': 3, 'inject': 'side'}),
                          "condition.inject must be 'dense' or 'channels'")
        self.assert_error(v2(posterior={'kind': 'sylvester'}),
                          'posterior.kind "sylvester" is not supported')
        self.assert_error(v2(posterior={'kind': 'iaf'}),
                          "posterior.steps is required for kind 'iaf'")
        self.assert_error(v2(posterior={'kind': 'iaf', 'steps': 65}),
                          'posterior.steps must be an integer in [1, 64]')
        self.assert_error(v2(posterior={'kind': 'iaf', 'steps': 2, 'hidden': []}),
                          'posterior.hidden must be an array of 1 to 8 MADE layer widths')
        self.assert_error(v2(posterior={'kind': 'iaf', 'steps': 2, 'hidden': [4, 0]}),
                          'posterior.hidden[1] must be an integer')
        self.assert_error(v2(posterior={'kind': 'iaf', 'steps': 2, 'context': 1.5}),
                          'posterior.context must be an integer')
        self.assert_error(v2(posterior={'kind': 'iaf', 'steps': 2, 'activation': 'swish'}),
                          'posterior.activation "swish" is unknown')
        self.assert_error(v2(posterior={'kind': 'iaf', 'steps': 2, 'amortized': True}),
                          'posterior.amortized is unknown')
        self.assert_error(v2(posterior={'kind': 'full', 'rank': 2}), 'posterior.rank is unknown')
        self.assert_error(v2(latentSize=1, posterior={'kind': 'full'}),
                          "posterior.kind 'full' needs latentSize >= 2, got 1")
        self.assert_error(v2(posterior={'kind': 'planar'}), 'posterior.steps is required')
        self.assert_error(v2(posterior={'kind': 'planar', 'steps': 0}),
                          'posterior.steps must be an integer in [1, 256]')
        self.assert_error(v2(posterior={'kind': 'planar', 'steps': 2, 'amortized': 1}),
                          'posterior.amortized must be true or false')
        self.assert_error(v2(posterior={'kind': 'planar', 'steps': 2, 'rank': 1}),
                          'posterior.rank is unknown')
        self.assert_error(v2(posterior={'kind': 'hierarchical'}), 'posterior.lower is required')
        self.assert_error(v2(posterior={'kind': 'hierarchical', 'lower': 257}),
                          'posterior.lower must be an integer in [1, 256], got 257')
        self.assert_error(v2(posterior={'kind': 'hierarchical', 'lower': 3, 'hidden': 4}),
                          'posterior.hidden must be an array of layer widths, got 4')
        self.assert_error(v2(posterior={'kind': 'hierarchical', 'lower': 3, 'hidden': [4, 0]}),
                          'posterior.hidden[1] must be an integer in [1, 1048576], got 0')
        self.assert_error(v2(posterior={'kind': 'hierarchical', 'lower': 3, 'steps': 2}),
                          'posterior.steps is unknown')
        self.assert_error({**MLP, 'version': 3}, 'version must be 2')
        self.assert_error({**MLP, 'encoder': {'hidden': [5], 'deconv': []}},
                          'encoder.deconv is not a field')
        self.assert_error({**MLP, 'likelihood': {'kind': 'gaussian', 'sigma': 0}},
                          'likelihood.sigma must be a finite number > 0')
        self.assert_error(v2(inputSize=16, decoder={'hidden': [], 'deconv': [
            {'channels': 1, 'kernel': 3, 'padding': 1}]},
            condition={'kind': 'label', 'classes': 2}),
            'a decoder with deconv layers needs at least one decoder.hidden layer')

    def test_version1_reads_as_version2(self):
        a = resolve_config({**MLP, 'beta': 2, 'capacity': {'max': 3, 'steps': 10},
                            'reduction': 'mean'})
        b = resolve_config(v2(objective={'kind': 'elbo', 'beta': 2, 'reduction': 'mean',
                                         'capacity': {'max': 3, 'steps': 10}}))
        self.assertEqual(a.objective, b.objective)
        self.assertEqual(a.condition, {'kind': 'none'})
        self.assertEqual(a.capacity_at(5), 1.5)
        self.assertEqual(a.capacity_at(50), 3.0)

    def test_resolved_typescript_config_reads(self):
        # What our Trainer writes: a resolved config (conv layers with outputPadding 0).
        cfg = {'inputSize': 16, 'inputShape': [1, 4, 4], 'latentSize': 2,
               'encoder': {'hidden': [3], 'activation': 'relu',
                           'conv': [{'channels': 2, 'kernel': 3, 'stride': 1, 'padding': 1,
                                     'outputPadding': 0}]},
               'decoder': {'hidden': [8], 'activation': 'relu', 'reshape': [2, 2, 2],
                           'deconv': [{'channels': 1, 'kernel': 2, 'stride': 2, 'padding': 0,
                                       'outputPadding': 0}]},
               'likelihood': {'kind': 'bernoulli'}, 'beta': 1, 'reduction': 'sum'}
        self.assertEqual(resolve_config(cfg).decoder_reshape, (2, 2, 2))


class ModelTest(unittest.TestCase):
    def shapes(self, config):
        return [(n, tuple(t.shape)) for n, t in VaeNet(config).state_dict().items()]

    def test_conditioned_shapes(self):
        C = 3
        channels = v2(inputSize=50, inputShape=[2, 5, 5],
                      encoder={'conv': [{'channels': 4, 'kernel': 3, 'stride': 2}],
                               'hidden': [6]},
                      decoder={'hidden': [7]},
                      condition={'kind': 'label', 'classes': C, 'inject': 'channels'})
        s = dict(self.shapes(channels))
        self.assertEqual(s['encoder.conv.0.weight'], (4, 2 + C, 3, 3))
        self.assertEqual(s['encoder.0.weight'], (6, 4 * 2 * 2))
        self.assertEqual(s['decoder.0.weight'], (7, 2 + C))
        dense = {**channels, 'encoder': {**channels['encoder'], 'hidden': []},
                 'condition': {'kind': 'label', 'classes': C}}
        s = dict(self.shapes(dense))
        self.assertEqual(s['encoder.conv.0.weight'], (4, 2, 3, 3))
        self.assertEqual(s['encoder.mu.weight'], (2, 16 + C))
        mlp = dict(self.shapes(v2(condition={'kind': 'label', 'classes': C})))
        self.assertEqual(mlp['encoder.0.weight'], (5, 6 + C))

    def test_full_posterior_heads(self):
        names = self.shapes(v2(latentSize=4, posterior={'kind': 'full'}))
        heads = [(n, shape) for n, shape in names if n.startswith(('encoder.mu', 'encoder.logvar',
                                                                   'encoder.lower'))]
        self.assertEqual(heads, [('encoder.mu.weight', (4, 5)), ('encoder.mu.bias', (4,)),
                                 ('encoder.logvar.weight', (4, 5)), ('encoder.logvar.bias', (4,)),
                                 ('encoder.lower.weight', (6, 5)), ('encoder.lower.bias', (6,))])

    def test_planar_parameters(self):
        names = self.shapes(v2(latentSize=3, posterior={'kind': 'planar', 'steps': 2}))
        flow = [(n, shape) for n, shape in names if n.startswith('posterior.')]
        self.assertEqual(flow, [(f'posterior.flow.{k}.{p}', (1, 3) if p != 'b' else (1,))
                                for k in range(2) for p in 'uwb'])
        # After the heads, before the decoder (the library's module order).
        order = [n for n, _ in names]
        self.assertLess(order.index('encoder.logvar.bias'), order.index('posterior.flow.0.u'))
        self.assertLess(order.index('posterior.flow.1.b'), order.index('decoder.0.weight'))
        amortized = dict(self.shapes(v2(latentSize=3,
                                        posterior={'kind': 'planar', 'steps': 2,
                                                   'amortized': True})))
        self.assertEqual(amortized['encoder.flow.weight'], (14, 5))

    def test_hierarchical_parameters(self):
        names = self.shapes(v2(latentSize=2, posterior={'kind': 'hierarchical', 'lower': 3,
                                                        'hidden': [7]}))
        self.assertEqual(names, [
            ('encoder.0.weight', (5, 6)), ('encoder.0.bias', (5,)),
            ('encoder.mu.weight', (3, 5)), ('encoder.mu.bias', (3,)),
            ('encoder.logvar.weight', (3, 5)), ('encoder.logvar.bias', (3,)),
            ('encoder.up.0.weight', (7, 3)), ('encoder.up.0.bias', (7,)),
            ('encoder.up.mu.weight', (2, 7)), ('encoder.up.mu.bias', (2,)),
            ('encoder.up.logvar.weight', (2, 7)), ('encoder.up.logvar.bias', (2,)),
            ('decoder.down.0.weight', (7, 2)), ('decoder.down.0.bias', (7,)),
            ('decoder.down.mu.weight', (3, 7)), ('decoder.down.mu.bias', (3,)),
            ('decoder.down.logvar.weight', (3, 7)), ('decoder.down.logvar.bias', (3,)),
            ('decoder.0.weight', (4, 3)), ('decoder.0.bias', (4,)),
            ('decoder.out.weight', (6, 4)), ('decoder.out.bias', (6,))])
    def test_iaf_parameters(self):
        names = self.shapes(v2(latentSize=3, posterior={'kind': 'iaf', 'steps': 2,
                                                        'hidden': [7, 4], 'context': 2}))
        flow = [(n, shape) for n, shape in names if n.startswith('posterior.')]
        self.assertEqual(flow, [(f'posterior.flow.{k}.{layer}.{p}', shape)
                                for k in range(2)
                                for layer, w in (('hidden.0', (7, 5)), ('hidden.1', (4, 7)),
                                                 ('out', (6, 4)))
                                for p, shape in (('weight', w), ('bias', (w[0],)))])
        order = [n for n, _ in names]
        self.assertLess(order.index('encoder.logvar.bias'), order.index('encoder.context.weight'))
        self.assertLess(order.index('encoder.context.bias'),
                        order.index('posterior.flow.0.hidden.0.weight'))
        self.assertLess(order.index('posterior.flow.1.out.bias'), order.index('decoder.0.weight'))
        # Defaults: one MADE layer of max(16, 2Z), a context of Z; masks stay out of the state_dict.
        defaults = dict(self.shapes(v2(latentSize=3, posterior={'kind': 'iaf', 'steps': 1})))
        self.assertEqual(defaults['encoder.context.weight'], (3, 5))
        self.assertEqual(defaults['posterior.flow.0.hidden.0.weight'], (16, 6))
        self.assertFalse(any('mask' in n for n in defaults))

    def test_labels_are_checked(self):
        net = VaeNet(v2(condition={'kind': 'label', 'classes': 3}))
        x = torch.rand(2, 6)
        with self.assertRaisesRegex(ValueError, 'pass y'):
            net.encode(x)
        with self.assertRaisesRegex(ValueError, r'labels must lie in \[0, 2\], got \[0, 3\]'):
            net.encode(x, torch.tensor([0, 3]))
        mu_a, _ = net.encode(x, torch.tensor([0.0, 1.0]))  # f32 labels, as datasets store them
        mu_b, _ = net.encode(x, torch.tensor([0, 2]))
        self.assertTrue(torch.equal(mu_a[0], mu_b[0]) and not torch.equal(mu_a[1], mu_b[1]))

    def test_default_init_bounds_and_spread(self):
        torch.manual_seed(0)
        net = VaeNet({'inputSize': 64, 'inputShape': [1, 8, 8], 'latentSize': 3,
                      'encoder': {'hidden': [300]},
                      'decoder': {'hidden': [32], 'deconv': [
                          {'channels': 1, 'kernel': 2, 'stride': 2}]}})
        fan_in = {'encoder.0': 64, 'encoder.mu': 300, 'decoder.0': 3,
                  'decoder.deconv.0': 1 * 2 * 2}  # ConvTranspose2d: weight.size(1)·k²
        for layer, fan in fan_in.items():
            bound = 1 / math.sqrt(fan)
            for part in ('weight', 'bias'):
                t = net.state_dict()[f'{layer}.{part}']
                self.assertLessEqual(t.abs().max().item(), bound, f'{layer}.{part}')
        w = net.state_dict()['encoder.0.weight']  # 19200 draws of U(±1/8): var = 1/192
        self.assertAlmostEqual(w.var().item() * 192, 1.0, delta=0.05)
        self.assertAlmostEqual(w.mean().item(), 0.0, delta=3 * math.sqrt(1 / 192 / w.numel()))


class ObjectiveTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(1)
        self.x = torch.rand(3, 6, dtype=torch.float64)

    def iwae_net(self, K, **extra):
        return VaeNet(v2(objective={'kind': 'iwae', 'samples': K, **extra})).double()

    def test_iwae_k1_is_the_monte_carlo_elbo(self):
        net = self.iwae_net(1)
        eps = torch.randn(3, 2, dtype=torch.float64)
        out = iwae(net, self.x, eps)
        mu, logvar = net.encode(self.x)
        z = mu + torch.exp(0.5 * logvar) * eps
        output, _ = net.decode(z)
        nll = net.nll(output, None, self.x)
        log_q = (-0.5 * (eps ** 2 + logvar + LOG_2PI)).sum(1)
        log_p = (-0.5 * (z ** 2 + LOG_2PI)).sum(1)
        torch.testing.assert_close(out['perExample'], nll + log_q - log_p)

    def test_iwae_of_repeated_samples_is_one_sample(self):
        net4 = self.iwae_net(4)
        net1 = self.iwae_net(1)
        net1.load_state_dict(net4.state_dict())
        eps = torch.randn(3, 2, dtype=torch.float64)
        four = iwae(net4, self.x, eps.repeat_interleave(4, 0))['perExample']
        one = iwae(net1, self.x, eps)['perExample']
        self.assertEqual(one.shape, (3,))
        torch.testing.assert_close(four, one)

    def test_iwae_is_tighter_than_the_mean_single_sample_bound(self):
        net = self.iwae_net(8, reduction='mean')
        out = iwae(net, self.x, torch.randn(24, 2, dtype=torch.float64))
        log_w = out['logWeights'].reshape(3, 8)
        self.assertTrue(torch.all(out['perExample'] <= -log_w.mean(1) + 1e-12))
        torch.testing.assert_close(out['objective'], out['perExample'].mean())

    def full_net(self, objective):
        return VaeNet(v2(latentSize=3, posterior={'kind': 'full'}, objective=objective)).double()

    def test_full_log_q_is_the_noise_density_minus_the_log_determinant(self):
        net = self.full_net({'kind': 'iwae', 'samples': 2})
        params = net.posterior_params(self.x)
        eps = torch.randn(6, 3, dtype=torch.float64)
        z = net.sample(params, eps, 2)
        log_q = net.log_q(params, z, 2)
        want = ((-0.5 * (eps ** 2 + LOG_2PI)).sum(1)
                - 0.5 * params['logvar'].repeat_interleave(2, 0).sum(1))
        torch.testing.assert_close(log_q, want)
        # z − mu = L eps with L lower triangular: the first coordinate moves with eps_0 only.
        mu_r = params['mu'].repeat_interleave(2, 0)
        torch.testing.assert_close(z[:, 0] - mu_r[:, 0],
                                   torch.exp(0.5 * params['logvar']).repeat_interleave(2, 0)[:, 0]
                                   * eps[:, 0])

    def test_full_with_zero_lower_is_the_diagonal_posterior(self):
        for objective in ({'kind': 'elbo'}, {'kind': 'iwae', 'samples': 3}):
            full = self.full_net(objective)
            diagonal = VaeNet(v2(latentSize=3, objective=objective)).double()
            with torch.no_grad():
                full.encoder['lower'].weight.zero_()
                full.encoder['lower'].bias.zero_()
            state = {k: v for k, v in full.state_dict().items() if 'lower' not in k}
            diagonal.load_state_dict(state)
            eps = torch.randn(3 * objective.get('samples', 1), 3, dtype=torch.float64)
            a, b = full(self.x, eps=eps), diagonal(self.x, eps=eps)
            for key in ('objective', 'kl', 'z', 'nll'):
                torch.testing.assert_close(a[key], b[key], msg=f'{objective} {key}')

    def test_planar_log_q_is_the_base_density_minus_the_jacobian_log_determinant(self):
        for amortized in (False, True):
            net = VaeNet(v2(latentSize=3, posterior={'kind': 'planar', 'steps': 3,
                                                     'amortized': amortized},
                            objective={'kind': 'iwae', 'samples': 2})).double()
            with torch.no_grad():  # u, w far from 0: wᵀu < −1 on some step, the fix binds
                for name, p in net.named_parameters():
                    if 'flow' in name:
                        p.normal_(0, 1.3)
            params = net.posterior_params(self.x)
            eps = torch.randn(6, 3, dtype=torch.float64)
            z, log_q, _ = net.draw(params, eps, 2)
            z0 = net.sample(params, eps, 2)
            for row in range(6):
                one = {k: v[row // 2:row // 2 + 1] for k, v in params.items()}
                J = torch.autograd.functional.jacobian(
                    lambda v: net.planar(one, v.unsqueeze(0), 1)[0].squeeze(0), z0[row])
                want = net.log_q(params, z0, 2)[row] - torch.linalg.slogdet(J)[1]
                torch.testing.assert_close(log_q[row], want, msg=f'amortized {amortized}')
            out = net(self.x[:, :], eps=eps)
            self.assertTrue(torch.isfinite(out['objective']))
            torch.testing.assert_close(out['z'], z)

    def test_hierarchical_log_weight_sums_both_layers(self):
        # log q and log p against torch.distributions.Normal, layer by layer, and log w of IWAE.
        Normal = torch.distributions.Normal
        net = VaeNet(v2(latentSize=2, posterior={'kind': 'hierarchical', 'lower': 3,
                                                 'hidden': [4, 5]},
                        objective={'kind': 'iwae', 'samples': 2})).double()
        params = net.posterior_params(self.x)
        eps = torch.randn(6, 5, dtype=torch.float64)
        z1, log_q, log_p = net.draw(params, eps, 2)
        mu1 = params['mu1'].repeat_interleave(2, 0)
        s1 = torch.exp(0.5 * params['logvar1']).repeat_interleave(2, 0)
        torch.testing.assert_close(z1, mu1 + s1 * eps[:, :3])
        mu2, lv2 = net.gaussian_net('encoder', net.encoder['up'], z1)
        z2 = mu2 + torch.exp(0.5 * lv2) * eps[:, 3:]
        mu_p, lv_p = net.gaussian_net('decoder', net.decoder['down'], z2)
        want_q = (Normal(mu1, s1).log_prob(z1).sum(1)
                  + Normal(mu2, torch.exp(0.5 * lv2)).log_prob(z2).sum(1))
        want_p = (Normal(0.0, 1.0).log_prob(z2).sum(1)
                  + Normal(mu_p, torch.exp(0.5 * lv_p)).log_prob(z1).sum(1))
        torch.testing.assert_close(log_q, want_q)
        torch.testing.assert_close(log_p, want_p)
        out = iwae(net, self.x, eps)
        output, _ = net.decode(z1)
        nll = net.nll(output, None, self.x.repeat_interleave(2, 0))
        torch.testing.assert_close(out['logWeights'], -nll + want_p - want_q)
        # encode(): the code's posterior at z1 = mu1.
        mu, logvar = net.encode(self.x)
        torch.testing.assert_close((mu, logvar),
                                   net.gaussian_net('encoder', net.encoder['up'], params['mu1']))
        self.assertEqual(net.code_to_lower(mu).shape, (3, 3))
    def test_iaf_is_autoregressive_and_log_q_subtracts_the_jacobian_log_determinant(self):
        for Z in (2, 3, 5):
            net = VaeNet(v2(latentSize=Z, posterior={'kind': 'iaf', 'steps': 3, 'hidden': [7, 6],
                                                     'context': 2, 'activation': 'tanh'},
                            objective={'kind': 'iwae', 'samples': 2})).double()
            with torch.no_grad():  # larger weights than the init: the gates move away from σ(2)
                for name, p in net.named_parameters():
                    if 'flow' in name:
                        p.normal_(0, 0.8)
            params = net.posterior_params(self.x)
            eps = torch.randn(6, Z, dtype=torch.float64)
            z, log_q, _ = net.draw(params, eps, 2)
            z0 = net.sample(params, eps, 2)
            for row in range(6):
                one = {k: v[row // 2:row // 2 + 1] for k, v in params.items()}

                def step(k):
                    # Step k alone on z0: lower triangular in its order (odd steps: reversed).
                    saved = net.posterior.flow
                    net.posterior.flow = nn.ModuleList([saved[k]])
                    try:
                        return torch.autograd.functional.jacobian(
                            lambda v: net.iaf(one, v.unsqueeze(0), 1)[0].squeeze(0), z0[row])
                    finally:
                        net.posterior.flow = saved

                for k in range(3):
                    J = step(k)
                    upper = torch.triu(J if k % 2 == 0 else J.flip(0, 1), 1)
                    self.assertEqual(upper.abs().max().item(), 0.0, f'Z={Z} step {k}')
                J = torch.autograd.functional.jacobian(
                    lambda v: net.iaf(one, v.unsqueeze(0), 1)[0].squeeze(0), z0[row])
                want = net.log_q(params, z0, 2)[row] - torch.linalg.slogdet(J)[1]
                torch.testing.assert_close(log_q[row], want, msg=f'Z={Z}')
            out = net(self.x, eps=eps)
            self.assertTrue(torch.isfinite(out['objective']))
            torch.testing.assert_close(out['z'], z)

    def test_stepper_gradient_is_the_objective_gradient(self):
        # The trainer's loss (per-example terms, capacity by its sign) has the objective's gradient.
        configs = [
            {**MLP, 'beta': 3, 'capacity': {'max': 50, 'steps': 4}, 'reduction': 'mean'},
            {**MLP, 'beta': 3, 'capacity': {'max': 0.01, 'steps': 0}},
            v2(objective={'kind': 'iwae', 'samples': 3, 'reduction': 'mean'}),
            {**MLP, 'likelihood': {'kind': 'gaussian-learned'}, 'beta': 0.5},
            v2(posterior={'kind': 'hierarchical', 'lower': 3}),
        ]
        for cfg in configs:
            torch.manual_seed(4)
            net = VaeNet(cfg).double()
            rows = 3 * (3 if 'iwae' in json.dumps(cfg) else 1)
            eps = torch.randn(rows, net.config.noise_size, dtype=torch.float64)
            out = objective(net, self.x, eps=eps, step=2)
            out['objective'].backward()
            want = {n: p.grad.clone() for n, p in net.named_parameters()}
            opt = make_optimizer(net, {'lr': 0.0, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-8,
                                       'weightDecay': 0.0})
            r = Stepper(net, net, opt, {}, world=1, seed=0, binarize='none', max_norm=None)
            got = r.step(self.x, None, 2, 3, 0, 0.0, eps=eps)
            torch.testing.assert_close(got['objective'], out['objective'].detach())
            for n, p in net.named_parameters():
                torch.testing.assert_close(p.grad, want[n], msg=f'{cfg}: {n}')

    def test_non_finite_step_is_skipped_but_counted(self):
        torch.manual_seed(6)
        net = VaeNet(MLP)
        hyper = {'lr': 0.1, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-8, 'weightDecay': 0.0}
        opt = make_optimizer(net, hyper)
        r = Stepper(net, net, opt, hyper, world=1, seed=0, binarize='none', max_norm=None)
        x = torch.rand(3, 6)
        r.step(x, None, 0, 3, 0, 0.1)
        before = {n: t.clone() for n, t in net.state_dict().items()}
        moments = adam_state(net, opt, None)
        x[1, 2] = float('nan')
        self.assertTrue(r.step(x, None, 1, 3, 0, 0.1)['skipped'])
        after = adam_state(net, opt, None)
        self.assertEqual((moments['step'], after['step']), (1, 2))
        for n, t in net.state_dict().items():
            self.assertTrue(torch.equal(t, before[n]), n)
            for m in ('m', 'v'):
                self.assertTrue(torch.equal(after['moments'][m][n], moments['moments'][m][n]))

    def test_global_noise_splits_by_rank(self):
        net = VaeNet(v2(objective={'kind': 'iwae', 'samples': 2}))
        steppers = [Stepper(net, net, None, {}, world=w, seed=9, binarize='none', max_norm=None)
                    for w in (1, 2)]
        full = steppers[0].noise(5, 6, 0, 'cpu', torch.float32).reshape(6, 2, 2)
        for rank in (0, 1):
            part = steppers[1].noise(5, 6, rank, 'cpu', torch.float32).reshape(3, 2, 2)
            self.assertTrue(torch.equal(part, full[local_rows(6, rank, 2)]))

    def test_schedules(self):
        self.assertEqual(learning_rate_at({'kind': 'step', 'stepSize': 2, 'gamma': 0.5}, 1.0,
                                          25, 5, 100), 0.25)
        self.assertAlmostEqual(learning_rate_at({'kind': 'cosine'}, 1.0, 50, 10, 100), 0.5)


class M2Test(unittest.TestCase):
    CFG = v2(objective={'kind': 'm2', 'alpha': 0.7,
                        'classifier': {'hidden': [3], 'activation': 'tanh'}},
             condition={'kind': 'label', 'classes': 3})

    def setUp(self):
        torch.manual_seed(0)
        torch.set_default_dtype(torch.float64)

    def tearDown(self):
        torch.set_default_dtype(torch.float32)

    def test_errors_name_the_field(self):
        for config, fragment in [
            (v2(objective={'kind': 'm2', 'alpha': -1}, condition={'kind': 'label', 'classes': 2}),
             'objective.alpha must be a finite number >= 0'),
            (v2(objective={'kind': 'm2', 'classifier': {'hiden': [3]}},
                condition={'kind': 'label', 'classes': 2}), 'objective.classifier.hiden'),
            (v2(objective={'kind': 'm2'}), "objective.kind 'm2' needs condition.kind 'label'"),
        ]:
            with self.assertRaisesRegex(ConfigError, re.escape(fragment)):
                resolve_config(config)

    def test_classifier_after_the_decoder(self):
        net = VaeNet(self.CFG)
        self.assertEqual(list(net.state_dict())[-4:], [
            'classifier.0.weight', 'classifier.0.bias', 'classifier.out.weight',
            'classifier.out.bias'])
        self.assertEqual(net.classify(torch.rand(4, 6)).shape, (4, 3))

    def test_unlabeled_loss_is_the_expected_bound_minus_the_entropy(self):
        net = VaeNet(self.CFG)
        xl, xu = torch.rand(2, 6), torch.rand(1, 6)
        yl = torch.tensor([2, 0])
        eps = torch.randn(2 + 3, 2)
        out = m2(net, xl, yl, xu, eps)
        # Each labeled row, and the unlabeled row under each label, as a plain ELBO row.
        rows = [elbo(net, xl[i:i + 1], eps[i:i + 1], yl[i:i + 1]) for i in range(2)]
        per_label = [elbo(net, xu, eps[2 + c:3 + c], torch.tensor([c])) for c in range(3)]
        nelbo = lambda o: o['nll'][0] + o['kl'][0]
        logq = torch.log_softmax(net.classify(xu)[0], 0)
        ce = -sum(torch.log_softmax(net.classify(xl)[i], 0)[yl[i]] for i in range(2))
        want = (sum(nelbo(o) for o in rows) + 0.7 * ce
                + sum(logq[c].exp() * (nelbo(per_label[c]) + logq[c]) for c in range(3)))
        self.assertAlmostEqual(out['objective'].item(), want.item(), places=10)
        with self.assertRaisesRegex(ValueError, 'call m2'):
            objective(net, xu)


class MaskingTest(unittest.TestCase):
    IMG = {'version': 2, 'inputSize': 36, 'inputShape': [1, 6, 6], 'latentSize': 2,
           'encoder': {'hidden': [5], 'activation': 'tanh'},
           'decoder': {'hidden': [4], 'activation': 'tanh'}}

    def test_errors_name_the_field(self):
        for masking, message in [
            ({'kind': 'pixel'}, 'masking.kind'),
            ({'kind': 'pixels', 'p': 1.5}, 'masking.p'),
            ({'kind': 'pixels', 'channels': 1}, 'masking.channels'),
            ({'kind': 'pixels', 'loss': 'observed'}, 'masking.loss'),
            ({'kind': 'quadrant', 'p': 0.5}, 'p'),
            ({'kind': 'block', 'minSize': 4, 'maxSize': 2}, 'masking.maxSize'),
            ({'kind': 'block', 'minSize': 2, 'maxSize': 7}, 'maxSize <= min(H, W) = 6'),
        ]:
            with self.assertRaisesRegex(ConfigError, re.escape(message)):
                resolve_config({**self.IMG, 'masking': masking})
        with self.assertRaisesRegex(ConfigError, "masking.loss 'missing' needs likelihood"):
            resolve_config({**self.IMG, 'likelihood': {'kind': 'gaussian', 'sigma': 1},
                            'masking': {'kind': 'pixels', 'loss': 'missing'}})

    def test_random_masks_have_the_library_patterns(self):
        g = torch.Generator().manual_seed(3)
        pixels = random_masks(resolve_config({**self.IMG, 'masking': {'kind': 'pixels', 'p': 0.3}}),
                              2000, g)
        # 72000 pixels: 5 standard deviations of the fraction are 0.0086.
        self.assertLess(abs(pixels.mean().item() - 0.3), 0.0086)
        quads = random_masks(resolve_config({**self.IMG, 'masking': {'kind': 'quadrant'}}), 400, g)
        self.assertTrue(torch.all(quads.sum(1) == 9))
        blocks = random_masks(resolve_config(
            {**self.IMG, 'masking': {'kind': 'block', 'minSize': 2, 'maxSize': 3}}), 400, g)
        self.assertTrue(torch.all((blocks.sum(1) >= 4) & (blocks.sum(1) <= 9)))

    def test_mask_enters_the_encoder_and_the_missing_loss(self):
        cfg = {**self.IMG, 'masking': {'kind': 'pixels', 'channels': True, 'loss': 'missing',
                                       'fill': 0.5}}
        torch.manual_seed(5)
        net = VaeNet(cfg).double()
        self.assertEqual(tuple(net.encoder['0'].weight.shape), (5, 72))
        x = torch.rand(3, 36, dtype=torch.float64)
        mask = (torch.rand(3, 36) < 0.5).double()
        eps = torch.randn(3, 2, dtype=torch.float64)
        out = objective(net, x, eps=eps, mask=mask)
        # loss 'missing': the Bernoulli NLL sums over the missing pixels only.
        bce = F.binary_cross_entropy_with_logits(out['output'], x, reduction='none')
        torch.testing.assert_close(out['nll'], (bce * mask).sum(1))
        with self.assertRaisesRegex(ValueError, 'pass the mask'):
            net.posterior_params(x)

    def test_stepper_draws_masks_from_their_own_stream(self):
        cfg = {**self.IMG, 'masking': {'kind': 'block', 'minSize': 2, 'maxSize': 4}}
        torch.manual_seed(6)
        net = VaeNet(cfg)
        hyper = {'lr': 0.01, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-8, 'weightDecay': 0.0}
        r = Stepper(net, net, make_optimizer(net, hyper), hyper, world=1, seed=2,
                    binarize='none', max_norm=None)
        a, b = r.masks(0, 8, 0, 'cpu', torch.float32), r.masks(1, 8, 0, 'cpu', torch.float32)
        self.assertFalse(torch.equal(a, b))
        torch.testing.assert_close(a, r.masks(0, 8, 0, 'cpu', torch.float32))
        r.step(torch.rand(8, 36), None, 0, 8, 0, 0.01)


class VqTest(unittest.TestCase):
    BASE = {'version': 2, 'inputSize': 5, 'latentSize': 6,
            'encoder': {'hidden': [4], 'activation': 'tanh'}, 'decoder': {'hidden': [3]}}

    def vq(self, **post):
        return {**self.BASE, 'posterior': {'kind': 'vq', 'codes': 5, 'dim': 3, **post}}

    def test_errors_name_the_field(self):
        for post, message in [
            ({'dim': 4}, 'posterior.dim 4 must divide latentSize 6'),
            ({'codes': None}, 'posterior.codes must be an integer'),
            ({'update': 'sgd'}, "posterior.update must be 'loss' or 'ema'"),
            ({'decay': 1}, 'posterior.decay must be in [0, 1)'),
            ({'epsilon': 0}, 'posterior.epsilon must be > 0'),
            ({'beta': -1}, 'posterior.beta must be a finite number >= 0'),
            ({'temperature': 1}, 'posterior.temperature is unknown'),
            ({'restart': {'threshold': 0.1}}, "posterior.restart needs update 'ema'"),
            ({'update': 'ema', 'restart': {'threshold': 1}},
             'posterior.restart.threshold must be in (0, 1)'),
            ({'update': 'ema', 'restart': {'treshold': 0.1}},
             'posterior.restart.treshold is unknown'),
        ]:
            with self.assertRaises(ConfigError) as ctx:
                resolve_config(self.vq(**post))
            self.assertIn(message, str(ctx.exception))
        with self.assertRaisesRegex(ConfigError, "objective.kind 'iwae' needs the posterior's"):
            resolve_config({**self.vq(), 'objective': {'kind': 'iwae', 'samples': 2}})
        self.assertEqual(resolve_config(self.vq()).posterior,
                         {'kind': 'vq', 'codes': 5, 'dim': 3, 'beta': 0.25, 'update': 'loss',
                          'decay': 0.99, 'epsilon': 1e-5})

    def test_parameters_and_ema_state(self):
        torch.manual_seed(1)
        loss = VaeNet(self.vq())
        self.assertEqual([n for n, _ in loss.named_parameters()][2:5],
                         ['encoder.ze.weight', 'encoder.ze.bias', 'posterior.codebook'])
        self.assertLessEqual(loss.posterior.codebook.abs().max().item(), 1 / 5)
        ema = VaeNet(self.vq(update='ema'))
        names = list(ema.state_dict())
        self.assertEqual(names[4:7],
                         ['posterior.codebook', 'posterior.ema.count', 'posterior.ema.sum'])
        self.assertNotIn('posterior.codebook', dict(ema.named_parameters()))
        self.assertTrue(torch.equal(ema.posterior.ema.count, torch.ones(5)))
        self.assertTrue(torch.equal(ema.posterior.ema.sum, ema.posterior.codebook))

    def test_ema_moves_only_assigned_codes_and_only_in_training(self):
        torch.manual_seed(2)
        net = VaeNet(self.vq(update='ema', decay=0.5, epsilon=1e-3)).double()
        x = torch.rand(4, 5, dtype=torch.float64)
        before = net.posterior.codebook.clone()
        with torch.no_grad():
            objective(net, x)  # an evaluation: no update
        self.assertTrue(torch.equal(net.posterior.codebook, before))
        out = objective(net, x)
        used = torch.zeros(5, dtype=torch.bool)
        used[out['codes'].reshape(-1)] = True
        count = net.posterior.ema.count
        torch.testing.assert_close(count[~used], torch.full_like(count[~used], 0.5))
        self.assertTrue((count[used] > 0.5).all())
        # e_k = m_k / N̂_k: an unused code keeps its vector up to the smoothing's rescaling.
        total = count.sum()
        smoothed = (count + 1e-3) / (total + 5e-3) * total
        torch.testing.assert_close(net.posterior.codebook,
                                   net.posterior.ema.sum / smoothed[:, None])

    def test_restart_moves_dead_codes_onto_batch_vectors(self):
        torch.manual_seed(5)
        net = VaeNet(self.vq(update='ema', decay=0.95, restart={'threshold': 0.5})).double()
        with torch.no_grad():
            net.posterior.ema.count.copy_(torch.tensor([0.01, 3, 0.01, 3, 3]))
        before = net.posterior.codebook.clone()
        out = objective(net, torch.rand(4, 5, dtype=torch.float64))
        flat = out['ze'].detach().reshape(-1, 3)
        count = net.posterior.ema.count
        for k in (0, 2):  # 0.95·0.01 + 0.05·n < 0.5 for the batch's 8 vectors
            self.assertEqual(count[k].item(), 1)
            self.assertTrue(any(torch.equal(net.posterior.codebook[k], z) for z in flat))
            self.assertTrue(torch.equal(net.posterior.ema.sum[k], net.posterior.codebook[k]))
        self.assertTrue((count[[1, 3, 4]] > 2).all())
        self.assertFalse(torch.equal(net.posterior.codebook[1], before[1]))

    def test_straight_through_and_loss_gradients(self):
        torch.manual_seed(3)
        net = VaeNet(self.vq(beta=0.4)).double()
        out = objective(net, torch.rand(3, 5, dtype=torch.float64))
        out['z'].retain_grad()
        out['ze'].retain_grad()
        out['objective'].backward()
        zq = net.posterior.codebook[out['codes'].reshape(-1)].reshape(3, 6)
        torch.testing.assert_close(out['z'], zq)
        torch.testing.assert_close(out['ze'].grad,
                                   out['z'].grad + 2 * 0.4 * (out['ze'] - zq).detach())
        want = torch.zeros_like(net.posterior.codebook)
        want.index_add_(0, out['codes'].reshape(-1),
                        (2 * (zq - out['ze'])).detach().reshape(-1, 3))
        torch.testing.assert_close(net.posterior.codebook.grad, want)

    def test_checkpoint_keeps_ema_state_and_gives_it_zero_moments(self):
        torch.manual_seed(4)
        net = VaeNet(self.vq(update='ema'))
        hyper = {'lr': 0.01, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-8, 'weightDecay': 0.0}
        opt = make_optimizer(net, hyper)
        r = Stepper(net, net, opt, hyper, world=1, seed=1, binarize='none', max_norm=None)
        r.step(torch.rand(8, 5), None, 0, 8, 0, 0.01)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'model.safetensors')
            save_checkpoint(path, net, opt, hyper)
            ckpt = load_checkpoint(path)
        self.assertEqual(ckpt.optimizer['moments']['m']['posterior.ema.sum'].abs().sum(), 0)
        other = VaeNet(ckpt.config)
        other.load_state_dict(ckpt.params)
        for n in ('posterior.codebook', 'posterior.ema.count', 'posterior.ema.sum'):
            self.assertTrue(torch.equal(other.state_dict()[n], net.state_dict()[n]), n)
        self.assertFalse(torch.equal(net.posterior.ema.count, torch.ones(5)))


class VqGridTest(unittest.TestCase):
    """posterior 'vq' with grid (src/vae/posterior/vq.ts): the config checks, the module names
    and order of the library's convVqPreset(32, 8), codes per position of the NCHW z_e."""
    DOWN = {'kernel': 4, 'stride': 2, 'padding': 1}
    PRESET = {'version': 2, 'inputSize': 784, 'inputShape': [1, 28, 28], 'latentSize': 8 * 49,
              'encoder': {'conv': [{'channels': 32, **DOWN}, {'channels': 64, **DOWN}],
                          'hidden': [], 'activation': 'relu'},
              'posterior': {'kind': 'vq', 'codes': 32, 'dim': 8, 'grid': True},
              'decoder': {'hidden': [], 'deconv': [{'channels': 32, **DOWN},
                                                   {'channels': 1, **DOWN}]}}

    def test_errors_name_the_field(self):
        p = self.PRESET
        for change, message in [
            ({'posterior': {**p['posterior'], 'grid': 1}}, 'posterior.grid must be true or false'),
            ({'encoder': {'hidden': []}},
             "posterior.grid quantizes the last encoder conv layer's output"),
            ({'encoder': {**p['encoder'], 'hidden': [64]}},
             'so encoder.hidden must be [], got [64]'),
            ({'latentSize': 8 * 48}, 'latentSize must be dim·h·w = 8·7·7 = 392'),
            ({'decoder': {'hidden': [392]}}, 'it needs decoder.deconv layers'),
            ({'decoder': {**p['decoder'], 'hidden': [392]}}, 'so decoder.hidden must be []'),
            ({'decoder': {**p['decoder'], 'reshape': [2, 14, 14]}},
             'decoder.reshape [2, 14, 14] must be the quantized grid [8, 7, 7]'),
            ({'decoder': {'hidden': [], 'deconv': [{'channels': 1, **self.DOWN}]}},
             'decoder.deconv: the last layer gives 1×14×14 per example, inputShape is 1×28×28'),
            ({'condition': {'kind': 'label', 'classes': 10}},
             "adds 10 features at the encoder's first dense layer"),
            ({'condition': {'kind': 'label', 'classes': 10, 'inject': 'channels'}},
             "adds 10 features at the decoder's first dense layer"),
            ({'posterior': {'kind': 'vq', 'codes': 32, 'dim': 8}},
             'latentSize must be an integer in [1, 256]'),
        ]:
            with self.assertRaises(ConfigError) as ctx:
                resolve_config({**p, **change})
            self.assertIn(message, str(ctx.exception))
        r = resolve_config(p)
        self.assertEqual(r.decoder_reshape, (8, 7, 7))
        self.assertTrue(r.posterior['grid'])

    def test_module_names_and_shapes_are_the_librarys(self):
        net = VaeNet(self.PRESET)
        self.assertEqual([(n, list(t.shape)) for n, t in net.state_dict().items()], [
            ('encoder.conv.0.weight', [32, 1, 4, 4]), ('encoder.conv.0.bias', [32]),
            ('encoder.conv.1.weight', [64, 32, 4, 4]), ('encoder.conv.1.bias', [64]),
            ('encoder.ze.weight', [8, 64, 1, 1]), ('encoder.ze.bias', [8]),
            ('posterior.codebook', [32, 8]),
            ('decoder.deconv.0.weight', [8, 32, 4, 4]), ('decoder.deconv.0.bias', [32]),
            ('decoder.deconv.1.weight', [32, 1, 4, 4]), ('decoder.deconv.1.bias', [1])])

    def test_codes_per_position_and_decode_codes(self):
        torch.manual_seed(6)
        net = VaeNet(self.PRESET).double()
        with torch.no_grad():
            net.posterior.codebook.normal_()
        x = torch.rand(2, 784, dtype=torch.float64)
        out = objective(net, x)
        ze = out['ze'].detach().reshape(2, 8, 49)
        for b in range(2):
            for p in (0, 6, 48):
                d = ((ze[b, :, p][None] - net.posterior.codebook) ** 2).sum(1)
                self.assertEqual(out['codes'][b, p].item(), d.argmin().item())
        zq = net.posterior.codebook[out['codes']].transpose(1, 2).reshape(2, -1)
        torch.testing.assert_close(out['z'], zq)
        torch.testing.assert_close(net.decode_codes(out['codes'])[0], out['output'])


class CheckpointTest(unittest.TestCase):
    def test_round_trip_with_adam_state(self):
        torch.manual_seed(5)
        net = VaeNet(MLP)
        opt = make_optimizer(net, {'lr': 0.01, 'beta1': 0.9, 'beta2': 0.99, 'eps': 1e-8,
                                   'weightDecay': 0.0})
        for _ in range(2):
            opt.zero_grad()
            net(torch.rand(4, 6))['objective'].backward()
            opt.step()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'model.safetensors')
            save_checkpoint(path, net, opt, {'lr': 0.01}, {'note': 'x'})
            self.assertEqual(os.listdir(d), ['model.safetensors'])  # no temporary file left
            ckpt = load_checkpoint(path)
        self.assertEqual(ckpt.config, MLP)
        self.assertEqual(ckpt.metadata, {'note': 'x'})
        self.assertEqual(ckpt.optimizer['step'], 2)
        other = VaeNet(MLP)
        other.load_state_dict(ckpt.params)
        opt2 = make_optimizer(other, {'lr': 0.01, 'beta1': 0.9, 'beta2': 0.99, 'eps': 1e-8,
                                      'weightDecay': 0.0})
        load_adam_state(other, opt2, ckpt.optimizer)
        state = adam_state(other, opt2, None)
        for m in ('m', 'v'):
            for n, t in adam_state(net, opt, None)['moments'][m].items():
                self.assertTrue(torch.equal(state['moments'][m][n], t))

    def test_errors(self):
        params = {'a': torch.zeros(2, 3)}
        with self.assertRaisesRegex(ValueError, 'has shape \\[3\\], the parameter has \\[2, 3\\]'):
            encode_checkpoint(params, optimizer={'type': 'adam', 'step': 1,
                                                 'moments': {'m': {'a': torch.zeros(3)}}})
        data = bytearray(encode_checkpoint(params))
        with self.assertRaisesRegex(SafetensorsError, 'belong to no tensor'):
            decode_checkpoint(bytes(data) + b'\0\0\0\0', 'x.safetensors')
        with self.assertRaisesRegex(SafetensorsError, 'x.safetensors: .*do not hold F32'):
            decode_checkpoint(bytes(data[:-4]), 'x.safetensors')

    def test_safetensors_dtypes(self):
        t = {'h': torch.randn(5).half(), 'b': torch.randn(2, 2).bfloat16(), 'f': torch.randn(3),
             'e': torch.zeros(0, 4)}
        back, meta = decode(encode(t, {'k': 'v'}))
        self.assertEqual(meta, {'k': 'v'})
        for k in t:
            self.assertTrue(torch.equal(back[k], t[k]) and back[k].dtype == t[k].dtype, k)
        n = struct.unpack('<Q', encode(t)[:8])[0]
        self.assertEqual(n % 8, 0)


class DataTest(unittest.TestCase):
    def test_idx_gzipped_and_plain(self):
        with tempfile.TemporaryDirectory() as d:
            pixels = bytes(range(2 * 3 * 4))
            images = struct.pack('>IIII', 2051, 2, 3, 4) + pixels
            with gzip.open(os.path.join(d, 'train-images-idx3-ubyte.gz'), 'wb') as f:
                f.write(images)
            with open(os.path.join(d, 'train-labels-idx1-ubyte'), 'wb') as f:
                f.write(struct.pack('>II', 2049, 2) + bytes([7, 1]))
            ds = load_data(d)
            self.assertEqual(ds.train.shape, (1, 3, 4))
            self.assertEqual(ds.train.labels.tolist(), [7, 1])
            x = ds.train.rows(torch.tensor([1]))
            self.assertAlmostEqual(x[0, 0].item(), 12 / 255, places=7)
            self.assertIsNone(ds.test)
            with open(os.path.join(d, 'train-labels-idx1-ubyte'), 'wb') as f:
                f.write(struct.pack('>II', 2051, 2) + bytes([7, 1]))
            with self.assertRaisesRegex(ValueError, 'train-labels-idx1-ubyte: magic 2051'):
                load_data(d)

    def test_image_folder_with_classes(self):
        from PIL import Image
        with tempfile.TemporaryDirectory() as d:
            for label, name in enumerate(('cat', 'dog')):
                os.makedirs(os.path.join(d, name))
                for i in range(2):
                    Image.new('RGB', (5, 4), (10 * i, 100 + label, 3)).save(
                        os.path.join(d, name, f'{i}.png'))
            ds = load_data(d, channels=3)
            self.assertEqual(ds.train.shape, (3, 4, 5))
            self.assertEqual(ds.train.labels.tolist(), [0, 0, 1, 1])
            x = ds.train.rows(torch.tensor([3]))[0].reshape(3, 4, 5)
            self.assertEqual([round(v * 255) for v in x[:, 0, 0].tolist()], [10, 101, 3])


class TrainTest(unittest.TestCase):
    def test_conditioned_iwae_conv_model_trains_checkpoints_and_resumes(self):
        from webgpu_vae_torch.train import main
        config = {'version': 2, 'inputSize': 784, 'latentSize': 3,
                  'encoder': {'conv': [{'channels': 2, 'kernel': 4, 'stride': 4}], 'hidden': [8]},
                  'decoder': {'hidden': [8]},
                  'objective': {'kind': 'iwae', 'samples': 3},
                  'condition': {'kind': 'label', 'classes': 10, 'inject': 'channels'}}
        with tempfile.TemporaryDirectory() as d:
            write_idx(d, 24, 0)
            run1, run2 = os.path.join(d, 'run1'), os.path.join(d, 'run2')
            common = ['--data', d, '--batch-size', '8', '--test-limit', '16', '--quiet']
            main(['--config', json.dumps(config), '--out', run1, '--epochs', '2', '--lr', '0.002',
                  '--binarize', 'dynamic', *common])
            ckpt = load_checkpoint(os.path.join(run1, 'model.safetensors'))
            lines = [json.loads(line) for line in open(os.path.join(run1, 'metrics.jsonl'))]
            # --resume continues the model, Adam state, step, epoch count and hyperparameters.
            main(['--resume', os.path.join(run1, 'model.safetensors'), '--out', run2,
                  '--epochs', '1', *common])
            resumed = load_checkpoint(os.path.join(run2, 'model.safetensors'))
            with self.assertRaisesRegex(ValueError, 'describes another model'):
                main(['--resume', os.path.join(run1, 'model.safetensors'), '--out', run2,
                      '--config', json.dumps({**config, 'latentSize': 4}), *common])
        self.assertEqual(ckpt.config, config)
        self.assertEqual(ckpt.optimizer['step'], 6)
        self.assertEqual(ckpt.params['encoder.conv.0.weight'].shape, (2, 11, 4, 4))
        self.assertEqual([r['epoch'] for r in lines], [1, 2])
        self.assertTrue(all(math.isfinite(r['test']['loss']) for r in lines))
        self.assertEqual((resumed.optimizer['step'], resumed.metadata['epoch']), (9, '3'))
        self.assertEqual(resumed.optimizer['hyper']['lr'], 0.002)
        self.assertEqual(resumed.config, config)

    def test_resumed_schedule_follows_the_uninterrupted_run(self):
        # A 3-epoch cosine run, and the same run resumed from its epoch-1 checkpoint for the 2
        # epochs left (--epochs counts the epochs to train now) without naming the schedule again:
        # the cosine's period is the whole run's and the schedule comes from the checkpoint, so
        # both end at the same weights (a period of the 2 epochs alone, or a constant lr, do not).
        from webgpu_vae_torch.train import main
        config = {'version': 2, 'inputSize': 784, 'latentSize': 2,
                  'encoder': {'hidden': [5]}, 'decoder': {'hidden': [4]}}
        with tempfile.TemporaryDirectory() as d:
            write_idx(d, 20, 3)
            whole, resumed = os.path.join(d, 'whole'), os.path.join(d, 'resumed')
            common = ['--data', d, '--batch-size', '8', '--no-test', '--quiet', '--lr', '0.01']
            main(['--config', json.dumps(config), '--out', whole, '--epochs', '3',
                  '--schedule', 'cosine', '--keep-epochs', *common])
            main(['--resume', os.path.join(whole, 'epoch-1.safetensors'), '--out', resumed,
                  '--epochs', '2', *common])
            a = load_checkpoint(os.path.join(whole, 'model.safetensors'))
            b = load_checkpoint(os.path.join(resumed, 'model.safetensors'))
            first = load_checkpoint(os.path.join(whole, 'epoch-1.safetensors'))
        self.assertEqual(b.optimizer['hyper']['schedule'], {'kind': 'cosine'})
        self.assertEqual(b.optimizer['step'], 9)
        for name, value in a.params.items():
            self.assertFalse(torch.equal(value, first.params[name]), name)
            torch.testing.assert_close(b.params[name], value, rtol=0, atol=1e-6, msg=name)


class CompletionTest(unittest.TestCase):
    """Condition 'quadrants' and prior 'conditional' (src/vae/condition/quadrants.ts,
    src/vae/prior/conditional.ts), and the task's NN baseline."""
    H, W = 5, 4

    def config(self, observed, **more):
        return {'version': 2, 'inputSize': 20, 'inputShape': [1, self.H, self.W],
                'latentSize': 3, 'encoder': {'hidden': [6], 'activation': 'tanh'},
                'decoder': {'hidden': [5], 'activation': 'softplus'},
                'condition': {'kind': 'quadrants', 'observed': observed, 'fill': -0.5},
                'prior': {'kind': 'conditional', 'hidden': [4], 'activation': 'elu'}, **more}

    def test_defaults_and_errors_name_the_field(self):
        r = resolve_config({**self.config(2), 'condition': {'kind': 'quadrants', 'observed': 2},
                            'prior': {'kind': 'conditional'}})
        self.assertEqual(r.condition, {'kind': 'quadrants', 'observed': 2, 'fill': -1})
        self.assertEqual(r.prior, {'kind': 'conditional', 'hidden': [500, 500],
                                   'activation': 'relu'})
        for more, message in [
            ({'condition': {'kind': 'quadrants', 'observed': 4}},
             'condition.observed must be 1, 2 or 3 (quadrants observed), got 4'),
            ({'condition': {'kind': 'quadrants'}}, 'condition.observed must be 1, 2 or 3'),
            ({'condition': {'kind': 'quadrants', 'observed': 1, 'fill': 'x'}},
             'condition.fill must be a finite number'),
            ({'condition': {'kind': 'quadrants', 'observed': 1, 'bogus': 1}},
             'condition.bogus is unknown'),
            ({'inputShape': None}, "condition.kind 'quadrants' needs an image of at least 2×2: "
                                   'give inputShape'),
            ({'likelihood': {'kind': 'gaussian', 'sigma': 1}},
             "condition.kind 'quadrants' scores the missing pixels with a Bernoulli likelihood"),
            ({'condition': {'kind': 'none'}},
             "prior.kind 'conditional' reads the condition; condition.kind 'none' gives it "
             'nothing'),
            ({'prior': {'kind': 'conditional', 'hidden': [0]}},
             'prior.hidden[0] must be an integer in [1, 16384]'),
            ({'prior': {'kind': 'conditional', 'activation': 'swish'}},
             'prior.activation "swish" is unknown'),
            ({'prior': {'kind': 'vamp'}}, "prior.kind must be one of 'standard-normal', "
                                          "'conditional'"),
            ({'prior': {'kind': 'standard-normal', 'hidden': [2]}}, 'prior.hidden is unknown'),
        ]:
            with self.assertRaisesRegex(ConfigError, re.escape(message)):
                resolve_config({**self.config(1), **more})

    def test_parameters_in_the_library_order(self):
        # As test/conditional-completion.test.ts: the prior network after the decoder, the
        # decoder reading z and x_obs, the encoder the whole image.
        shapes = [(n, tuple(t.shape)) for n, t in VaeNet(self.config(1)).state_dict().items()]
        self.assertEqual(shapes, [
            ('encoder.0.weight', (6, 20)), ('encoder.0.bias', (6,)),
            ('encoder.mu.weight', (3, 6)), ('encoder.mu.bias', (3,)),
            ('encoder.logvar.weight', (3, 6)), ('encoder.logvar.bias', (3,)),
            ('decoder.0.weight', (5, 23)), ('decoder.0.bias', (5,)),
            ('decoder.out.weight', (20, 5)), ('decoder.out.bias', (20,)),
            ('prior.0.weight', (4, 20)), ('prior.0.bias', (4,)),
            ('prior.mu.weight', (3, 4)), ('prior.mu.bias', (3,)),
            ('prior.logvar.weight', (3, 4)), ('prior.logvar.bias', (3,))])
        label = VaeNet(v2(condition={'kind': 'label', 'classes': 7},
                          prior={'kind': 'conditional', 'hidden': []}))
        self.assertEqual(tuple(label.state_dict()['prior.mu.weight'].shape), (2, 7))

    def test_quadrant_layout(self):
        # 1 observes the bottom-left, 2 the left half, 3 all but the bottom-right; the top half
        # is rows h < H // 2 (an odd height gives the bottom its extra row).
        x = torch.rand(2, 20, dtype=torch.float64)
        for observed in (1, 2, 3):
            net = VaeNet(self.config(observed)).double()
            x_obs = net.observed(x).reshape(2, self.H, self.W)
            for h in range(self.H):
                for w in range(self.W):
                    bottom, left = h >= self.H // 2, w < self.W // 2
                    seen = {1: bottom and left, 2: left, 3: not (bottom and not left)}[observed]
                    want = x.reshape(2, self.H, self.W)[:, h, w] if seen else torch.full(
                        (2,), -0.5, dtype=torch.float64)
                    torch.testing.assert_close(x_obs[:, h, w], want)

    def test_elbo_terms(self):
        torch.manual_seed(3)
        net = VaeNet(self.config(2)).double()
        x = torch.rand(4, 20, dtype=torch.float64)
        eps = torch.randn(4, 3, dtype=torch.float64)
        out = objective(net, x, eps=eps)
        # The NLL scores the missing pixels (the right half) from logits on [z, x_obs].
        missing = (torch.arange(20) % 4 >= 2).double()
        bce = F.binary_cross_entropy_with_logits(out['output'], x, reduction='none')
        torch.testing.assert_close(out['nll'], (bce * missing).sum(1))
        # The KL is the closed form to the prior network's Gaussian on x_obs.
        prior = net.prior_params(net.observed(x))
        q = torch.distributions.Normal(out['mu'], torch.exp(0.5 * out['logvar']))
        p = torch.distributions.Normal(prior['mu'], torch.exp(0.5 * prior['logvar']))
        torch.testing.assert_close(out['kl'], torch.distributions.kl_divergence(q, p).sum(1))
        # The prior and the decoder read x_obs only: changing missing pixels changes neither.
        x2 = torch.where(missing != 0, torch.rand_like(x), x)
        torch.testing.assert_close(net.prior_params(net.observed(x2))['mu'], prior['mu'])
        with self.assertRaisesRegex(ValueError, 'pass x_obs'):
            net.decode(out['z'])

    def test_iwae_log_weights_use_the_conditional_prior(self):
        torch.manual_seed(4)
        net = VaeNet(self.config(3, objective={'kind': 'iwae', 'samples': 4})).double()
        x = torch.rand(3, 20, dtype=torch.float64)
        out = iwae(net, x, torch.randn(12, 3, dtype=torch.float64))
        prior = net.prior_params(net.observed(x))
        z = out['z']
        log_p = torch.distributions.Normal(
            prior['mu'].repeat_interleave(4, 0),
            torch.exp(0.5 * prior['logvar']).repeat_interleave(4, 0)).log_prob(z).sum(1)
        log_q = torch.distributions.Normal(
            out['mu'].repeat_interleave(4, 0),
            torch.exp(0.5 * out['logvar']).repeat_interleave(4, 0)).log_prob(z).sum(1)
        torch.testing.assert_close(out['logWeights'], -out['nll'] + log_p - log_q)

    def test_completion_model_and_baseline_train(self):
        from webgpu_vae_torch.baseline import BaselineNet, load_baseline
        from webgpu_vae_torch.train import main
        config = {'version': 2, 'inputSize': 784, 'latentSize': 3,
                  'encoder': {'hidden': [8]}, 'decoder': {'hidden': [8]},
                  'condition': {'kind': 'quadrants', 'observed': 1},
                  'prior': {'kind': 'conditional', 'hidden': [6]}}
        with tempfile.TemporaryDirectory() as d:
            write_idx(d, 24, 1)
            common = ['--config', json.dumps(config), '--data', d, '--batch-size', '8',
                      '--epochs', '2', '--quiet']
            main([*common, '--out', os.path.join(d, 'cvae')])
            ckpt = load_checkpoint(os.path.join(d, 'cvae', 'model.safetensors'))
            cvae = read_jsonl(os.path.join(d, 'cvae', 'metrics.jsonl'))
            main([*common, '--out', os.path.join(d, 'nn'), '--baseline'])
            net = load_baseline(os.path.join(d, 'nn', 'baseline.safetensors'))
            nn_lines = read_jsonl(os.path.join(d, 'nn', 'metrics.jsonl'))
        self.assertEqual(list(ckpt.params)[-1], 'prior.logvar.bias')
        self.assertTrue(all(math.isfinite(r['test']['loss']) for r in cvae))
        self.assertEqual([n for n, _ in net.named_parameters()],
                         ['baseline.0.weight', 'baseline.0.bias', 'baseline.out.weight',
                          'baseline.out.bias'])
        # The baseline's NLL: BCE from x_obs, over the 3 missing quadrants (588 of 784 pixels).
        x = torch.rand(2, 784)
        logits = net(net.observed(x))
        missing = net.missing.reshape(28, 28)
        self.assertEqual(int(missing.sum()), 588)
        self.assertEqual(int(missing[14:, :14].sum()), 0)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction='none')
        torch.testing.assert_close(net.nll(x), (bce * net.missing).sum(1))
        self.assertTrue(all(math.isfinite(r['test']['nll']) for r in nn_lines))
        self.assertLess(nn_lines[1]['train']['nll'], nn_lines[0]['train']['nll'])
        with self.assertRaisesRegex(ValueError, "the description needs condition 'quadrants'"):
            BaselineNet(MLP)


def write_class_idx(folder, count, seed):
    """A tiny IDX folder whose digits can be told apart: class c (example i has class i % 10)
    lights rows 2c … 2c + 3 of a noisy 28×28 image."""
    g = torch.Generator()
    g.manual_seed(seed)
    pixels = torch.randint(0, 64, (count, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.arange(count, dtype=torch.uint8) % 10
    for i, c in enumerate(labels.tolist()):
        pixels[i, 2 * c:2 * c + 4] = 255
    write_idx_files(folder, pixels, labels)


class M2TrainTest(unittest.TestCase):
    CONFIG = {'version': 2, 'inputSize': 784, 'latentSize': 2,
              'encoder': {'hidden': [16]}, 'decoder': {'hidden': [16]},
              'condition': {'kind': 'label', 'classes': 10},
              'objective': {'kind': 'm2', 'classifier': {'hidden': [16]}}}

    def test_labeled_subset_is_the_library_choice(self):
        from webgpu_vae_torch.data import labeled_subset
        labels = torch.tensor([(i * 7 + (i >> 2)) % 5 for i in range(97)])
        labeled, unlabeled = labeled_subset(labels, 10, 5, 12345)
        # labeledSubset(labels, 10, 5, 12345) of src/data/labeled-subset.ts gives these.
        self.assertEqual(labeled.tolist(), [5, 11, 17, 26, 27, 30, 52, 76, 84, 89])
        self.assertEqual(sorted(labeled.tolist() + unlabeled.tolist()), list(range(97)))
        self.assertEqual(torch.bincount(labels[labeled]).tolist(), [2] * 5)
        with self.assertRaisesRegex(ValueError, 'positive multiple of the 5 classes'):
            labeled_subset(labels, 12, 5)

    def test_m2_trains_with_few_labels_and_checkpoints_in_our_format(self):
        from webgpu_vae_torch.train import main
        with tempfile.TemporaryDirectory() as d:
            write_class_idx(d, 200, 2)
            out = os.path.join(d, 'm2')
            common = ['--data', d, '--batch-size', '20', '--lr', '0.01', '--quiet']
            main(['--config', json.dumps(self.CONFIG), '--out', out, '--epochs', '3',
                  '--labels', '20', '--binarize', 'dynamic', *common])
            ckpt = load_checkpoint(os.path.join(out, 'model.safetensors'))
            lines = read_jsonl(os.path.join(out, 'metrics.jsonl'))
            with self.assertRaisesRegex(ValueError, 'a positive multiple of the 10 classes'):
                main(['--config', json.dumps(self.CONFIG), '--out', out, '--labels', '15',
                      *common])
            with self.assertRaisesRegex(ValueError, re.escape("(objective m2); this model's")):
                main(['--config', json.dumps({**self.CONFIG, 'objective': {'kind': 'elbo'}}),
                      '--out', out, '--labels', '20', *common])
        # 180 unlabeled examples (9 steps an epoch), each step beside 20 labeled ones.
        self.assertEqual(ckpt.config, self.CONFIG)
        self.assertEqual((ckpt.optimizer['step'], ckpt.metadata['labeled']), (27, '20'))
        net = VaeNet(self.CONFIG)
        self.assertEqual(list(ckpt.params), list(net.state_dict()))
        self.assertEqual(list(ckpt.params)[-1], 'classifier.out.bias')
        self.assertEqual(list(ckpt.optimizer['moments']['m']), list(net.state_dict()))
        train = [r['train'] for r in lines]
        self.assertEqual([(t['examples'], t['labeledExamples']) for t in train], [(180, 180)] * 3)
        self.assertLess(train[-1]['loss'], train[0]['loss'])
        self.assertLess(train[-1]['ce'], train[0]['ce'])
        # The classes are easy to tell apart: q(y|x) beats chance (90 % error) on the test set.
        errors = [r['test']['classificationError'] for r in lines]
        self.assertLess(errors[-1], 0.5, errors)
        net.load_state_dict({k: torch.as_tensor(v) for k, v in ckpt.params.items()})
        self.assertEqual(net.classify(torch.rand(3, 784)).shape, (3, 10))


class FixtureTest(unittest.TestCase):
    def test_committed_fixtures_are_what_the_twin_computes(self):
        root = pathlib.Path(golden.FIXTURES)
        torch.set_default_dtype(torch.float64)
        try:
            for name, make in golden.FIXTURE_SETS.items():
                committed = json.loads((root / name).read_text())
                self.assertEqual(committed['cases'], json.loads(json.dumps(make())), name)
        finally:
            torch.set_default_dtype(torch.float32)


if __name__ == '__main__':
    unittest.main()
