// Whether node_modules matches package-lock.json, without any package installed (npm's pretest and
// pretrain run this before `npm ci` may be needed). npm writes node_modules/.package-lock.json on
// every install; each package the lockfile wants must be there at the locked version (optional
// ones, e.g. other platforms' binaries, may be absent), and nothing else may be.
//
//   node scripts/deps-status.mjs [DIR]   exit 0: up to date; 1: prints why `npm ci` is needed
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Why `npm ci` is needed in `root`, or undefined when node_modules is up to date. */
export function staleReason(root) {
  const lockPath = join(root, 'package-lock.json');
  if (!existsSync(lockPath)) return 'package-lock.json is missing';
  if (!existsSync(join(root, 'node_modules'))) return 'node_modules is missing';
  const installedPath = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installedPath))
    return 'node_modules has no .package-lock.json (not installed by npm 7+)';
  const wanted = JSON.parse(readFileSync(lockPath, 'utf8')).packages ?? {};
  const installed = JSON.parse(readFileSync(installedPath, 'utf8')).packages ?? {};
  for (const [path, entry] of Object.entries(wanted)) {
    if (!path.startsWith('node_modules/')) continue; // the root package itself
    const got = installed[path];
    if (got === undefined) {
      if (entry.optional) continue;
      return `${path.slice('node_modules/'.length)} ${entry.version} is not installed`;
    }
    if (got.version !== entry.version) {
      return `${path.slice('node_modules/'.length)} is ${got.version}, package-lock.json wants ${entry.version}`;
    }
  }
  for (const path of Object.keys(installed)) {
    if (!(path in wanted))
      return `${path.slice('node_modules/'.length)} is installed but not in package-lock.json`;
  }
  return undefined;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const reason = staleReason(process.argv[2] ?? process.cwd());
  if (reason !== undefined) {
    console.log(reason);
    process.exit(1);
  }
}
