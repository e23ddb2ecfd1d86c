// Ctrl-C and friends during training. The first SIGINT, SIGTERM or SIGHUP asks training to stop
// after the running step (so a checkpoint can be written); a second one exits at once (the last
// checkpoint on disk stays intact: writes are atomic). The CLI then exits with 128 + the signal's
// number, as a shell reports a process killed by it.
import { constants } from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof SIGNALS)[number];

/** An error that ends the CLI with a given exit status (its message is printed as any other). */
export class CliExit extends Error {
  override name = 'CliExit';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The exit status of a process ended by `signal` (128 + its number). */
export function signalStatus(signal: StopSignal): number {
  return 128 + constants.signals[signal];
}

export interface InterruptWatch {
  /** The first signal received, if any. */
  readonly received: StopSignal | undefined;
  /** Removes the handlers (the signals' default actions apply again). */
  dispose(): void;
}

/**
 * Handles the stop signals until dispose(): the first calls `onStop`, a second calls `onForce`
 * (which should exit).
 */
export function watchInterrupts(
  onStop: (signal: StopSignal) => void,
  onForce: (signal: StopSignal) => void,
): InterruptWatch {
  let received: StopSignal | undefined;
  const handler = (signal: StopSignal) => {
    if (received === undefined) {
      received = signal;
      onStop(signal);
    } else {
      onForce(signal);
    }
  };
  for (const s of SIGNALS) process.on(s, handler);
  return {
    get received() {
      return received;
    },
    dispose() {
      for (const s of SIGNALS) process.off(s, handler);
    },
  };
}
