// Kernels the graph needs around the layers (shaders/graph_util.wgsl): metric accumulation,
// row repetition for K-sample targets, and the IWAE log importance weights.
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';

const WG = 256;

/** acc[offset + i] += add_src[i], i < n.  acc: (offset + n); add_src: (n). */
export const addIntoKernel = defineKernel({
  name: 'add_into',
  file: 'graph_util.wgsl',
  entryPoint: 'add_into',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n!, WG)),
  elements: ({ n, offset }) => ({ acc: offset! + n!, add_src: n! }),
});

/** repeated (B, K, D) = rows_in (B, D) with each row repeated K times. */
export const repeatRowsKernel = defineKernel({
  name: 'repeat_rows',
  file: 'graph_util.wgsl',
  entryPoint: 'repeat_rows',
  workgroupSize: [WG],
  dispatch: ({ B, K, D }) => dispatch1d(ceilDiv(B! * K! * D!, WG)),
  elements: ({ B, K, D }) => ({ repeated: B! * K! * D!, rows_in: B! * D! }),
});

/** log_weight (B, K) = -nll - ½Σz² + ½Σ(clamp(lv) + eps²): log p(x,z) - log q(z|x). */
export const iwaeLogWeightKernel = defineKernel({
  name: 'iwae_log_weight',
  file: 'graph_util.wgsl',
  entryPoint: 'iwae_log_weight',
  workgroupSize: [WG],
  dispatch: ({ B, K }) => dispatch1d(ceilDiv(B! * K!, WG)),
  elements: ({ B, K, Z }) => ({
    log_weight: B! * K!,
    nll_in: B! * K!,
    z_in: B! * K! * Z!,
    eps_noise: B! * K! * Z!,
    lv_in: B! * Z!,
  }),
});
