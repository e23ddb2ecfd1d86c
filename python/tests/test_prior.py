"""Unit tests of the twin's VQ-VAE second stage (made.py, train_prior.py) and its vq metrics
(vq_metrics.py):

    PYTHONPATH=python /usr/bin/python3 -m unittest discover -s python/tests
"""

import json
import math
import os
import re
import tempfile
import unittest

import torch

from idx_files import read_jsonl, write_idx
from webgpu_vae_torch.checkpoint import load_checkpoint, net_from_checkpoint, save_checkpoint
from webgpu_vae_torch.config import ConfigError, resolve_config
from webgpu_vae_torch.data import Split
from webgpu_vae_torch.made import MadePrior, made_masks
from webgpu_vae_torch.model import VaeNet
from webgpu_vae_torch.train import evaluate, make_optimizer
from webgpu_vae_torch.train_prior import bits_per_code, fit_prior, sample_codes
from webgpu_vae_torch.vq_metrics import code_usage


def vq_config(P, K, prior=None, **more):
    """A vq model on 4-value inputs whose codes are P positions of K codes (as
    test/made-prior.test.ts's vqConfig)."""
    c = {'version': 2, 'inputSize': 4, 'latentSize': 2 * P,
         'encoder': {'hidden': [5], 'activation': 'tanh'},
         'decoder': {'hidden': [5], 'activation': 'tanh'},
         'posterior': {'kind': 'vq', 'codes': K, 'dim': 2},
         'likelihood': {'kind': 'gaussian', 'sigma': 1}, **more}
    if prior is not None:
        c['prior'] = prior
    return c


def known_distribution():
    """The joint of three positions of three codes of test/made-prior.test.ts (27 sequences,
    index a·9 + b·3 + c)."""
    p0 = [0.5, 0.3, 0.2]
    p1 = [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]]
    joint = torch.zeros(27, dtype=torch.float64)
    for a in range(3):
        for b in range(3):
            for c in range(3):
                joint[a * 9 + b * 3 + c] = p0[a] * p1[a][b] * (0.8 if c == (a + b) % 3 else 0.1)
    return joint


ALL27 = torch.tensor([[s // 9, s // 3 % 3, s % 3] for s in range(27)])


class MadeConfigTest(unittest.TestCase):
    def test_defaults_and_errors_as_ours(self):
        c = resolve_config(vq_config(3, 4, {'kind': 'made'}))
        self.assertEqual(c.prior, {'kind': 'made', 'hidden': [128], 'activation': 'relu'})
        for prior, message in [
            ({'kind': 'made', 'hiden': [8]}, 'prior.hiden is unknown'),
            ({'kind': 'made', 'hidden': []}, 'prior.hidden must be an array of 1 to 4 layer '
                                             'widths'),
            ({'kind': 'made', 'hidden': [0]}, 'prior.hidden[0] must be an integer'),
            ({'kind': 'made', 'activation': 'nope'}, 'prior.activation "nope" is unknown'),
        ]:
            with self.assertRaisesRegex(ConfigError, re.escape(message)):
                resolve_config(vq_config(3, 4, prior))
        with self.assertRaisesRegex(ConfigError, "prior.kind 'made' is a prior over the code "
                                                 "indices of posterior.kind 'vq'"):
            resolve_config(vq_config(3, 4, {'kind': 'made'}, posterior={'kind': 'diagonal'}))
        with self.assertRaisesRegex(ConfigError, 'at most 65536 one-hot inputs'):
            resolve_config(vq_config(2, 40000, {'kind': 'made', 'hidden': [1]}))

    def test_tensors_last_as_buffers_with_the_library_init(self):
        torch.manual_seed(0)
        net = VaeNet(vq_config(3, 4, {'kind': 'made', 'hidden': [256]}))
        names = list(net.state_dict())
        self.assertEqual(names[-4:], ['prior.hidden.0.weight', 'prior.hidden.0.bias',
                                      'prior.out.weight', 'prior.out.bias'])
        self.assertEqual([tuple(net.state_dict()[n].shape) for n in names[-4:]],
                         [(256, 12), (256,), (12, 256), (12,)])
        params = dict(net.named_parameters())
        self.assertFalse(any(n.startswith('prior.') for n in params))
        # U(±1/√fan_in), as the library's init of non-parameter tensors without an init rule.
        for name, fan_in in [('prior.hidden.0.weight', 12), ('prior.out.weight', 256)]:
            w = net.state_dict()[name]
            bound = 1 / math.sqrt(fan_in)
            self.assertLessEqual(float(w.abs().max()), bound)
            self.assertGreater(float(w.abs().max()), 0.9 * bound)
        # The VAE's Adam leaves the prior alone: it is not among its parameters.
        opt = make_optimizer(net, {'lr': 1e-3, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-8,
                                   'weightDecay': 0.1, 'decoupled': False})
        self.assertEqual(sum(len(g['params']) for g in opt.param_groups), len(params))


class MadeTest(unittest.TestCase):
    def test_masks_are_ours(self):
        # madeMasks (src/vae/prior/made.ts) spelled out for P = 3, K = 2, hidden [4]: input
        # degrees 1 1 2 2 3 3, hidden 1 + u mod 2 = 1 2 1 2, outputs read degree < p + 1.
        m = made_masks(3, 2, [4])
        self.assertEqual(m[0].tolist(), [[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0],
                                         [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]])
        self.assertEqual(m[1].tolist(), [[0, 0, 0, 0]] * 2 + [[1, 0, 1, 0]] * 2
                         + [[1, 1, 1, 1]] * 2)

    def test_position_p_reads_only_earlier_positions(self):
        P, K = 4, 3
        masks = made_masks(P, K, [7, 5])
        reach = torch.eye(P * K, dtype=torch.float64)
        for m in masks:
            reach = ((reach @ m.t()) > 0).double()
        for i in range(P * K):
            for o in range(P * K):
                if i // K >= o // K:
                    self.assertEqual(reach[i, o], 0, f'input {i} -> output {o}')
        self.assertEqual(reach[0, P * K - 1], 1)
        torch.manual_seed(1)
        made = MadePrior(P, K, [9, 6], 'tanh').double()
        codes = torch.randint(0, K, (20, P))
        base = made.logits(codes)
        for p in range(P):
            changed = codes.clone()
            changed[:, p] = (changed[:, p] + 1) % K
            other = made.logits(changed)
            torch.testing.assert_close(other[:, :(p + 1) * K], base[:, :(p + 1) * K], rtol=0,
                                       atol=0)
            if p < P - 1:
                self.assertFalse(torch.equal(other[:, (p + 1) * K:], base[:, (p + 1) * K:]))

    def test_nll_is_the_cross_entropy_per_position(self):
        torch.manual_seed(2)
        made = MadePrior(3, 4, [6], 'relu').double()
        codes = torch.randint(0, 4, (5, 3))
        logits = made.logits(codes).reshape(5, 3, 4)
        want = -torch.log_softmax(logits, 2).gather(2, codes[:, :, None])[:, :, 0]
        torch.testing.assert_close(made.nll(codes), want)
        # The probabilities of every sequence sum to 1.
        all_codes = torch.cartesian_prod(*[torch.arange(4)] * 3)
        self.assertAlmostEqual(float(torch.exp(-made.nll(all_codes).sum(1)).sum()), 1, places=10)
        with self.assertRaisesRegex(ValueError, r'codes must lie in \[0, 3\]'):
            made.nll(torch.tensor([[0, 1, 4]]))

    def test_trained_prior_reproduces_a_known_distribution(self):
        # As test/made-prior.test.ts: each sequence as often as its probability says (the MLE is
        # the truth); the trained MADE's joint and its samples approach it.
        joint = known_distribution()
        N = 4000
        rows = torch.cat([ALL27[s].repeat(int(round(float(p) * N)), 1) for s, p in
                          enumerate(joint)])
        torch.manual_seed(3)
        made = MadePrior(3, 3, [48], 'relu')
        reports = fit_prior(made, rows, epochs=30, batch_size=256, lr=3e-3, seed=1, test=rows)
        entropy = float(-(joint * torch.log2(joint)).sum()) / 3
        self.assertGreater(reports[0]['trainBits'], reports[-1]['testBits'])
        self.assertLess(reports[-1]['testBits'], entropy + 0.01)
        self.assertAlmostEqual(bits_per_code(made, rows), reports[-1]['testBits'], places=5)
        with torch.no_grad():
            learned = torch.exp(-made.nll(ALL27).double().sum(1))
        self.assertLess(float((learned - joint).abs().max()), 0.02)
        # Ancestral samples: a chi-square test against the truth (df 26, p = 1e-3: 54.05).
        g = torch.Generator().manual_seed(5)
        drawn = made.sample(3000, 1.0, g)
        counts = torch.bincount(drawn[:, 0] * 9 + drawn[:, 1] * 3 + drawn[:, 2], minlength=27)
        expected = joint * 3000
        chi2 = float(((counts.double() - expected) ** 2 / expected).sum())
        self.assertLess(chi2, 54.05, f'counts {counts.tolist()}')
        # T = 0: the most likely code at every position, so one sequence.
        self.assertEqual(made.sample(10, 0.0).tolist(), [[0, 0, 0]] * 10)


class TrainPriorTest(unittest.TestCase):
    CONFIG = {'version': 2, 'inputSize': 16, 'latentSize': 6,
              'encoder': {'hidden': [8], 'activation': 'tanh'},
              'decoder': {'hidden': [8], 'activation': 'tanh'},
              'posterior': {'kind': 'vq', 'codes': 5, 'dim': 2, 'update': 'ema'}}

    def test_cli_trains_the_prior_and_keeps_the_vae(self):
        from webgpu_vae_torch.train import main as train
        from webgpu_vae_torch.train_prior import main
        with tempfile.TemporaryDirectory() as d:
            write_idx(d, 40, 0, shape=(4, 4), labels=False)
            vq, run1, run2 = (os.path.join(d, n) for n in ('vq', 'prior1', 'prior2'))
            train(['--config', json.dumps(self.CONFIG), '--data', d, '--out', vq, '--epochs',
                   '1', '--batch-size', '8', '--quiet'])
            base = load_checkpoint(os.path.join(vq, 'model.safetensors'))
            test = read_jsonl(os.path.join(vq, 'metrics.jsonl'))[0]
            main(['--checkpoint', os.path.join(vq, 'model.safetensors'), '--data', d, '--out',
                  run1, '--epochs', '3', '--batch-size', '16', '--hidden', '12,10',
                  '--activation', 'tanh', '--seed', '2', '--quiet'])
            first = load_checkpoint(os.path.join(run1, 'model.safetensors'))
            lines = read_jsonl(os.path.join(run1, 'metrics.jsonl'))
            # Again from its output: the prior continues.
            main(['--checkpoint', os.path.join(run1, 'model.safetensors'), '--data', d, '--out',
                  run2, '--epochs', '1', '--batch', '16', '--quiet'])
            second = load_checkpoint(os.path.join(run2, 'model.safetensors'))
            with self.assertRaisesRegex(ValueError, "posterior is 'diagonal'"):
                diag = VaeNet({**self.CONFIG, 'posterior': {'kind': 'diagonal'}})
                save_checkpoint(os.path.join(d, 'diag.safetensors'), diag)
                main(['--checkpoint', os.path.join(d, 'diag.safetensors'), '--data', d, '--out',
                      run2, '--quiet'])
        # The vq metrics of the twin's evaluation, as ours reports them.
        for key in ('recon', 'loss', 'codebook', 'commitment', 'mse', 'bce', 'perplexity',
                    'codesInUse', 'codesUsed'):
            self.assertIn(key, test['test'])
        self.assertEqual(first.config['prior'],
                         {'kind': 'made', 'hidden': [12, 10], 'activation': 'tanh'})
        self.assertEqual([r['epoch'] for r in lines], [1, 2, 3])
        self.assertEqual(lines[-1]['step'], 9)
        self.assertTrue(all(math.isfinite(r['trainBits']) and math.isfinite(r['testBits'])
                            for r in lines))
        # At most log2 K bits per code once trained a little; the VAE's tensors unchanged.
        self.assertLess(lines[-1]['testBits'], math.log2(5) + 0.5)
        for name, t in base.params.items():
            torch.testing.assert_close(first.params[name], t, rtol=0, atol=0)
        # The VAE's Adam state carries over, zero moments for the prior's tensors.
        self.assertEqual(first.optimizer['step'], base.optimizer['step'])
        for m in ('m', 'v'):
            for name, t in first.optimizer['moments'][m].items():
                if name.startswith('prior.'):
                    self.assertEqual(float(t.abs().sum()), 0)
                else:
                    torch.testing.assert_close(t, base.optimizer['moments'][m][name])
        stage = json.loads(first.metadata['prior_stage'])
        self.assertEqual((stage['epochs'], stage['steps'], stage['examples']), (3, 9, 40))
        self.assertFalse(torch.equal(second.params['prior.out.weight'],
                                     first.params['prior.out.weight']))
        self.assertEqual(second.config['prior'], first.config['prior'])
        # The written checkpoint loads strictly and samples.
        net = net_from_checkpoint(second)
        codes, images = sample_codes(net, 7, 0.5, seed=1, decode=True)
        self.assertEqual(tuple(codes.shape), (7, 3))
        self.assertEqual(tuple(images.shape), (7, 16))
        self.assertTrue(bool(((codes >= 0) & (codes < 5)).all()))

    def test_vq_metrics_over_the_split(self):
        torch.manual_seed(4)
        net = VaeNet(self.CONFIG)
        g = torch.Generator().manual_seed(1)
        split = Split(torch.rand(30, 16, generator=g), None, (1, 4, 4))
        m = evaluate(net, split, 0, 1, None, 0, batch=7)
        codes, ze = net.encode(split.images)
        want = code_usage(torch.bincount(codes.reshape(-1), minlength=5))
        self.assertAlmostEqual(m['perplexity'], want['perplexity'], places=9)
        self.assertEqual(m['codesInUse'], want['codesInUse'])
        self.assertEqual(m['codesUsed'], want['codesInUse'] / 5)
        with torch.no_grad():
            mean = net.images(net.decode_codes(codes)[0])
            zq = net.posterior.codebook[codes.reshape(-1)].reshape(30, -1)
        self.assertAlmostEqual(m['mse'], float(((mean - split.images) ** 2).sum()) / 30, places=5)
        self.assertAlmostEqual(m['codebook'], float(((ze - zq) ** 2).sum()) / 30, places=5)
        self.assertAlmostEqual(m['commitment'], m['codebook'], places=6)
        # EMA updates: the loss is recon + β·commitment (the codebook loss only reported).
        self.assertAlmostEqual(m['loss'], m['recon'] + 0.25 * m['commitment'], places=5)
        self.assertEqual(m['examples'], 30)
        # The usage of known counts, as ours' codeUsage.
        u = code_usage(torch.tensor([2., 2., 0., 0.]))
        self.assertAlmostEqual(u['perplexity'], 2)
        self.assertEqual((u['codesInUse'], u['codesUsed']), (2, 0.5))


if __name__ == '__main__':
    unittest.main()
