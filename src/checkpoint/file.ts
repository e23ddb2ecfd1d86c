// Node file I/O for safetensors checkpoints. Writes are atomic: the bytes go to a temporary file in
// the same directory, which is fsynced and then renamed over the target (rename is atomic on POSIX
// file systems and on NTFS), and the directory is fsynced so that the rename itself is durable. A
// crash or an exception at any point leaves either the previous file or the new one, never a
// partial file; on an exception the temporary file is removed.

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { CheckpointDecodeOptions, CheckpointInput, Checkpoint } from './checkpoint.js';
import { decodeCheckpoint, planCheckpoint } from './checkpoint.js';
import type {
  DecodeOptions,
  DecodedSafetensors,
  SafetensorsPlan,
  TensorInput,
  TensorsInput,
} from './safetensors.js';
import {
  checkTensorData,
  decodeSafetensors,
  float32Bytes,
  planSafetensors,
  tensorEntries,
} from './safetensors.js';

/** The temporary-file name used while writing `path` (exported for tests). */
export function tempPathFor(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
}

/** Whether process `pid` exists (it may belong to another user). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary files that writers of `path` killed mid-write (kill -9, a crash) left
 * behind: those whose writing process no longer exists. Returns the paths removed.
 */
export async function removeStaleTempFiles(path: string): Promise<string[]> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return []; // no folder, nothing left behind
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = /^(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length))?.[1];
    if (pid === undefined || processExists(Number(pid))) continue;
    const stale = join(dir, name);
    await fs.rm(stale, { force: true });
    removed.push(stale);
  }
  return removed;
}

async function writePlanned(
  path: string,
  plan: SafetensorsPlan,
  entries: readonly (readonly [string, TensorInput])[],
): Promise<void> {
  const tmp = tempPathFor(path);
  const handle = await fs.open(tmp, 'wx', 0o644);
  let closed = false;
  try {
    await handle.write(plan.header, 0, plan.header.length, 0);
    let pos = plan.header.length;
    for (let i = 0; i < plan.tensors.length; i++) {
      const layout = plan.tensors[i]!;
      const data = checkTensorData(layout, entries[i]![1].data);
      const bytes = float32Bytes(data);
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, pos);
        done += bytesWritten;
        pos += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    closed = true;
    await fs.rename(tmp, path);
  } catch (e) {
    if (!closed) await handle.close().catch(() => {});
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  await syncDir(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable. Directories cannot be opened for fsync on Windows; ignore that.
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(dir, 'r');
    await h.sync();
  } catch {
    // not supported on this platform / file system
  } finally {
    await h?.close().catch(() => {});
  }
}

/** Atomically writes float32 tensors and string metadata as a safetensors file. */
export async function writeSafetensorsFile(
  path: string,
  tensors: TensorsInput,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const entries = tensorEntries(tensors);
  await writePlanned(path, planSafetensors(entries, metadata), entries);
}

/** Reads and validates a safetensors file; errors name the path. */
export async function readSafetensorsFile(
  path: string,
  options: Omit<DecodeOptions, 'source'> = {},
): Promise<DecodedSafetensors> {
  const bytes = await fs.readFile(path);
  return decodeSafetensors(bytes, { ...options, source: path });
}

/** Atomically writes a checkpoint (see checkpoint.ts for the format). */
export async function writeCheckpointFile(path: string, ckpt: CheckpointInput): Promise<void> {
  const { plan, entries } = planCheckpoint(ckpt);
  await writePlanned(path, plan, entries);
}

/** Reads and validates a checkpoint file; errors name the path. */
export async function readCheckpointFile(
  path: string,
  options: Omit<CheckpointDecodeOptions, 'source'> = {},
): Promise<Checkpoint> {
  const bytes = await fs.readFile(path);
  return decodeCheckpoint(bytes, { ...options, source: path });
}
