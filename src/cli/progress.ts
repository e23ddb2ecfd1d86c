// A dependency-free progress line for the CLI. On a TTY it redraws one line in place with '\r';
// elsewhere (CI logs, pipes) it prints a plain line at most every `intervalMs` and at done().

/** The part of a Node writable stream the progress line uses (process.stderr fits). */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  /** Terminal width; a longer TTY line is cut to fit. */
  columns?: number;
}

export interface ProgressOptions {
  /** Steps in the bar (e.g. batches per epoch). */
  total: number;
  /** Text before everything else, e.g. 'train' (default none). */
  label?: string;
  /** Total epochs, for the 'epoch e/E' part (default: 'epoch e' without a total). */
  epochs?: number;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Overrides stream.isTTY. */
  tty?: boolean;
  /** Characters in the bar (default 24). */
  width?: number;
  /** Non-TTY: least time between two printed lines (default 5000 ms). */
  intervalMs?: number;
  /** TTY: least time between two redraws (default 100 ms; the last state is drawn by done()). */
  redrawMs?: number;
  /** Clock in milliseconds (default performance.now), for tests. */
  now?: () => number;
}

export interface ProgressState {
  /** Steps done in the bar, 0..total. */
  step: number;
  /** 1-based epoch. */
  epoch?: number;
  loss?: number;
  stepsPerSecond?: number;
}

export interface Progress {
  update(state: ProgressState): void;
  /** Prints a message on its own line without garbling the TTY progress line. */
  log(message: string): void;
  /** Draws the last state (or `state`) and ends the line; later calls do nothing. */
  done(state?: ProgressState): void;
}

const CLEAR_LINE = '\x1b[K';

/** Four significant digits, without exponent for ordinary magnitudes: 112.4, 0.01235, 12350. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e7) return String(Number(v.toPrecision(4)));
  return v.toExponential(3);
}

/** The progress text for one state, e.g. 'epoch 3/10 [######......] 212/469  41.3 steps/s  loss 112.4'. */
export function formatProgress(
  state: ProgressState,
  options: { total: number; label?: string; epochs?: number; width?: number },
): string {
  const { total } = options;
  const width = options.width ?? 24;
  const parts: string[] = [];
  if (options.label) parts.push(options.label);
  if (state.epoch !== undefined) {
    parts.push(
      options.epochs !== undefined
        ? `epoch ${state.epoch}/${options.epochs}`
        : `epoch ${state.epoch}`,
    );
  }
  const step = Math.max(0, Math.min(total, state.step));
  const filled = total > 0 ? Math.round((step / total) * width) : width;
  parts.push(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${state.step}/${total}`);
  let text = parts.join(' ');
  if (state.stepsPerSecond !== undefined) {
    text += `  ${state.stepsPerSecond.toFixed(1)} steps/s`;
  }
  if (state.loss !== undefined) text += `  loss ${formatNumber(state.loss)}`;
  return text;
}

export function createProgress(options: ProgressOptions): Progress {
  const { total } = options;
  if (!Number.isInteger(total) || total < 0) {
    throw new Error(`createProgress: total must be a non-negative integer, got ${total}`);
  }
  const stream: ProgressStream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const intervalMs = options.intervalMs ?? 5000;
  const redrawMs = options.redrawMs ?? 100;
  const now = options.now ?? (() => performance.now());
  const fmt = { total, label: options.label, epochs: options.epochs, width: options.width };

  let last: ProgressState | undefined;
  let lastDrawn: ProgressState | undefined;
  let lastTime = -Infinity;
  let lineOpen = false; // TTY: the progress line is on screen without a newline after it
  let finished = false;

  const fit = (text: string) =>
    stream.columns !== undefined && stream.columns > 1 && text.length >= stream.columns
      ? text.slice(0, stream.columns - 1)
      : text;

  const draw = (state: ProgressState) => {
    const text = formatProgress(state, fmt);
    if (tty) {
      stream.write(`\r${fit(text)}${CLEAR_LINE}`);
      lineOpen = true;
    } else {
      stream.write(`${text}\n`);
    }
    lastDrawn = state;
    lastTime = now();
  };

  return {
    update(state) {
      if (finished) return;
      last = { ...state };
      if (now() - lastTime >= (tty ? redrawMs : intervalMs)) draw(last);
    },
    log(message) {
      if (tty && lineOpen) {
        stream.write(`\r${CLEAR_LINE}${message}\n`);
        lineOpen = false;
        if (last && !finished) draw(last);
      } else {
        stream.write(`${message}\n`);
      }
    },
    done(state) {
      if (finished) return;
      finished = true;
      const final = state ? { ...state } : last;
      if (final && (tty || final !== lastDrawn)) draw(final);
      if (tty && lineOpen) {
        stream.write('\n');
        lineOpen = false;
      }
    },
  };
}
