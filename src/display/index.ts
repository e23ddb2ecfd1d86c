// GPU-direct display: tiling, colour maps, canvas targets and latent views at frame rate.
export * from './layout.js';
export * from './grid-display.js';
export * from './latent-view.js';
