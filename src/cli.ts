#!/usr/bin/env node
// webgpu-vae train | eval | sample: the command line around the library (Node only). This entry
// parses the arguments, answers --help, and runs the command in a child process that keeps the
// native drivers' stderr out of sight (cli/native-stderr.ts); the commands themselves (and the GPU
// libraries) are loaded only where they run.
import { parseCliArgs, usage } from './cli/args.js';
import { CliExit } from './cli/interrupt.js';
import {
  followParent,
  isCliChild,
  ownStderr,
  runCapturingNativeStderr,
  settle,
  verboseFromEnv,
} from './cli/native-stderr.js';

/** Runs the command line; resolves with the exit status. */
async function main(argv: string[]): Promise<number> {
  const args = parseCliArgs(argv);
  if (args.command === 'help') {
    process.stdout.write(usage(args.options.topic));
    return 0;
  }
  const capture = process.platform !== 'win32'; // POSIX descriptors and process groups
  if (capture && !isCliChild() && !args.options.verbose && !verboseFromEnv()) {
    // The command runs in a child whose native stderr is dropped (see cli/native-stderr.ts).
    const outcome = await runCapturingNativeStderr(process.argv[1]!, argv, {
      execArgv: process.execArgv,
    });
    const { status, report } = settle(outcome);
    if (report) process.stderr.write(report);
    return status;
  }
  followParent();
  const { runCommand } = await import('./cli/commands.js');
  await runCommand(args, { argv });
  return 0;
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error: unknown) => {
    ownStderr().write(`webgpu-vae: ${(error as Error).message}\n`);
    // An interrupted run exits as the signal would have ended it (see cli/interrupt.ts).
    process.exit(error instanceof CliExit ? error.status : 1);
  },
);
