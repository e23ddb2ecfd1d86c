// GPU-direct display kernel (shaders/display.wgsl): images tiled into packed RGBA8 texels through
// a colour-map LUT, in a buffer laid out for copyBufferToTexture.
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';

/** disp_pixels (out_h, row_stride) u32 from disp_images (n, img_h, img_w) and disp_lut (256). */
export const displayTiles = defineKernel<
  'n' | 'img_h' | 'img_w' | 'cols' | 'padding' | 'out_w' | 'out_h' | 'row_stride'
>({
  name: 'display_tiles',
  file: 'display.wgsl',
  entryPoint: 'display_tiles',
  workgroupSize: [64],
  // One invocation per picture row and tile column (see display.wgsl).
  dispatch: ({ out_h, cols }) => dispatch1d(ceilDiv(out_h * cols, 64)),
  elements: ({ n, img_h, img_w, out_h, row_stride }) => ({
    disp_pixels: out_h * row_stride,
    disp_images: n * img_h * img_w,
    disp_lut: 256,
  }),
});
