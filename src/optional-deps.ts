// The optional peer dependencies: Dawn for Node (`webgpu`) and the embedded digits (`mnist`). A
// browser app never downloads them; Node users add the ones they need. When one is missing, the
// error says who needs it and the command that adds it.

export interface OptionalPackage {
  name: 'webgpu' | 'mnist';
  /** What it is, for the message. */
  what: string;
  /** Who needs it, for the message. */
  neededBy: string;
  /** Another way to do without it, if any. */
  alternative?: string;
}

export const DAWN_PACKAGE: OptionalPackage = {
  name: 'webgpu',
  what: 'Dawn for Node, about 130 MB installed',
  neededBy: 'WebGPU in Node (createRuntime, requestGpu, the CLI)',
};

export const DIGITS_PACKAGE: OptionalPackage = {
  name: 'mnist',
  what: 'the 10,000 embedded MNIST digits, about 41 MB installed',
  neededBy: 'loadEmbeddedDigits (the default data of the CLI)',
  alternative: 'or train on MNIST-format IDX files instead (webgpu-vae train --data DIR)',
};

/** True when `error` says that `name` itself (not something it imports) could not be found. */
export function isMissingPackage(error: unknown, name: string): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : '';
  const code = typeof e?.code === 'string' ? e.code : '';
  const quoted = new RegExp(`(package|module) ['"]${name}['"]`);
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && quoted.test(message);
}

/** The message for a missing optional package. */
export function missingPackageMessage(pkg: OptionalPackage): string {
  return (
    `The '${pkg.name}' package (${pkg.what}) is not installed; ${pkg.neededBy} needs it. ` +
    `Add it with \`npm install ${pkg.name}\`${pkg.alternative ? `, ${pkg.alternative}` : ''}. ` +
    'It is an optional peer dependency of webgpu-vae, so that browser apps do not download it.'
  );
}

/** Runs `load` (the package's import()); a missing package becomes missingPackageMessage. */
export async function importOptional<T>(pkg: OptionalPackage, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissingPackage(error, pkg.name)) {
      throw new Error(missingPackageMessage(pkg), { cause: error });
    }
    throw new Error(`Cannot load the '${pkg.name}' package (${pkg.what}): ${String(error)}`, {
      cause: error,
    });
  }
}
