import { defineKernel, dispatch1d } from '../gpu/kernel.js';

const WG = 256;

/** out[i] = value for i < n.  out: (n) */
export const fillForward = defineKernel<'n'>({
  name: 'fill_forward',
  file: 'fill.wgsl',
  entryPoint: 'fill_forward',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(Math.ceil(n / WG)),
  elements: ({ n }) => ({ out: n }),
});
