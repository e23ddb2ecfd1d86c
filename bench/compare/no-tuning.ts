// Stands in for src/kernels/matmul-select.ts when bench/compare/page.ts is built over a parent
// commit that has no background measuring (it measured every variant when a matmul was prepared):
// there is nothing to wait for.
export async function matmulTuningIdle(): Promise<void> {}
