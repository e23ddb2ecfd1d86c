// Which data the CLI trains and evaluates on: the embedded digits, or MNIST-format IDX files found
// by --data DIR and/or --dataset NAME (see DATA_NOTE in args.ts for the rule, stated for users).
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadEmbeddedDigits } from '../data/embedded.js';
import { loadIdxDataset } from '../data/idx-node.js';
import type { Dataset } from '../vae/trainer.js';
import type { DatasetName } from './args.js';

export interface Splits {
  train: Dataset;
  test: Dataset;
  /** Image height (= width). */
  side: number;
  /** For messages: the dataset and where it came from. */
  source: string;
}

export type DataSource =
  { kind: 'embedded' } | { kind: 'idx'; dir: string; name: DatasetName | undefined };

/** Where --dataset NAME alone looks, in order: $WEBGPU_VAE_DATA, ./data, ../shared/data. */
export function datasetRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const roots = env.WEBGPU_VAE_DATA ? [env.WEBGPU_VAE_DATA] : [];
  return [...roots, 'data', join('..', 'shared', 'data')];
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

/**
 * Resolves --dataset and --data to a source; throws naming every folder tried. Relative roots are
 * taken from `cwd`.
 */
export function resolveDataSource(
  name: DatasetName | undefined,
  dir: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): DataSource {
  if (dir !== undefined) {
    // DIR holds the files, or a folder per dataset (like ../shared/data).
    if (name !== undefined && name !== 'digits' && isDir(join(dir, name))) {
      return { kind: 'idx', dir: join(dir, name), name };
    }
    return { kind: 'idx', dir, name };
  }
  if (name === undefined || name === 'digits') return { kind: 'embedded' };
  const tried = datasetRoots(env).map((root) => resolve(cwd, root, name));
  const found = tried.find(isDir);
  if (found === undefined) {
    throw new Error(
      `--dataset ${name}: no folder with its IDX files; tried ${tried.join(', ')}. ` +
        `Put the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, ` +
        `t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in data/${name}, ` +
        'set WEBGPU_VAE_DATA to the folder that holds a folder per dataset, or give --data DIR',
    );
  }
  return { kind: 'idx', dir: found, name };
}

/** Loads the train and test splits of a source. */
export async function loadSplits(source: DataSource): Promise<Splits> {
  if (source.kind === 'embedded') {
    const digits = await loadEmbeddedDigits();
    return {
      // Labels too: conditional and semi-supervised models read them.
      train: {
        images: digits.train.images,
        count: digits.train.count,
        labels: digits.train.labels,
      },
      test: { images: digits.test.images, count: digits.test.count, labels: digits.test.labels },
      side: 28,
      source: `the embedded digits (${digits.train.count} train / ${digits.test.count} test)`,
    };
  }
  const splits = loadIdxDataset(source.dir);
  const label = source.name ? `${source.name} from ${source.dir}` : source.dir;
  return {
    train: { images: splits.train.images, count: splits.train.count, labels: splits.train.labels },
    test: { images: splits.test.images, count: splits.test.count, labels: splits.test.labels },
    side: splits.train.rows,
    source: `${label} (${splits.train.count} train / ${splits.test.count} test)`,
  };
}
