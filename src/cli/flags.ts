// Commands and flags declared as data, parsed with node:util parseArgs. A command is a table of
// flags (kind, range, default, help line) plus a `build` step for checks that span several flags;
// the parser, the typed values, the errors ("unknown flag --epoch; did you mean --epochs?") and the
// help text all come from that table, so a new flag is one entry.
import { parseArgs } from 'node:util';

interface FlagBase {
  /** One line for --help. */
  help: string;
  /** The value's placeholder in --help, e.g. N, X, FILE (default from the kind). */
  meta?: string;
  /** Shown as "(default ...)" in --help when the default is not a plain value. */
  defaultText?: string;
}

export interface IntFlag extends FlagBase {
  kind: 'int';
  min: number;
  max?: number;
  default?: number;
}

export interface NumberFlag extends FlagBase {
  kind: 'number';
  min?: number;
  max?: number;
  /** `min` itself is out of range. */
  minExclusive?: boolean;
  default?: number;
}

export interface ChoiceFlag<T extends string = string> extends FlagBase {
  kind: 'choice';
  values: readonly T[];
  default?: T;
}

export interface StringFlag extends FlagBase {
  kind: 'string';
  default?: string;
  /** The flag must be given ("--checkpoint FILE is required"). */
  required?: boolean;
  /** '' is a value (e.g. --hidden '' for no hidden layer); otherwise it is an error. */
  allowEmpty?: boolean;
}

export interface SwitchFlag extends FlagBase {
  kind: 'switch';
}

export type FlagSpec = IntFlag | NumberFlag | ChoiceFlag | StringFlag | SwitchFlag;
export type FlagTable = Readonly<Record<string, FlagSpec>>;

/** The parsed value of one flag: defaulted flags are never undefined. */
export type FlagValue<F> = F extends SwitchFlag
  ? boolean
  : F extends IntFlag | NumberFlag
    ? F extends { default: number }
      ? number
      : number | undefined
    : F extends ChoiceFlag<infer T>
      ? F extends { default: string }
        ? T
        : T | undefined
      : F extends StringFlag
        ? F extends { default: string } | { required: true }
          ? string
          : string | undefined
        : never;

export type FlagValues<T extends FlagTable> = { -readonly [K in keyof T]: FlagValue<T[K]> };

/** What a command's build step gets besides the values. */
export interface BuildContext {
  /** Flags given on the command line (not defaulted). */
  given: ReadonlySet<string>;
  /** An Error whose message starts with the command's name (to throw). */
  error(message: string): Error;
}

export interface CommandSpec<T extends FlagTable = FlagTable, O = unknown> {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Extra paragraphs for `<command> --help` (how data is found, etc.). */
  notes?: readonly string[];
  /** Example command lines for `<command> --help`. */
  examples: readonly string[];
  flags: T;
  /**
   * A flag that may also be given as the one positional argument (`experiment figure-eight` for
   * `experiment --set figure-eight`); absent: positional arguments are errors.
   */
  positional?: string;
  build(values: FlagValues<T>, context: BuildContext): O;
}

/** Declares a command (keeps the flag table's literal types for `build`). */
export function defineCommand<const T extends FlagTable, O>(
  spec: CommandSpec<T, O>,
): CommandSpec<T, O> {
  if (spec.positional !== undefined && !(spec.positional in spec.flags)) {
    throw new Error(`${spec.name}: positional names no flag ('${spec.positional}')`);
  }
  return spec;
}

// ---- suggestions ----

/** Levenshtein distance (small strings only). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The candidate closest to `word`, if it is close enough to be a plausible typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) || word.startsWith(c) ? 1 : editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

// ---- values ----

const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function numberValue(
  command: string,
  name: string,
  spec: IntFlag | NumberFlag,
  raw: string,
): number {
  const int = spec.kind === 'int';
  const kind = int ? 'an integer' : 'a number';
  if (!FLOAT_RE.test(raw)) throw new Error(`${command}: --${name} must be ${kind}, got '${raw}'`);
  const v = Number(raw);
  if (!Number.isFinite(v)) {
    throw new Error(`${command}: --${name} must be a finite number, got '${raw}'`);
  }
  if (int && !Number.isSafeInteger(v)) {
    throw new Error(`${command}: --${name} must be an integer, got '${raw}'`);
  }
  const { min, max } = spec;
  const minExclusive = spec.kind === 'number' && spec.minExclusive === true;
  const tooLow = min !== undefined && (minExclusive ? v <= min : v < min);
  const tooHigh = max !== undefined && v > max;
  if (tooLow || tooHigh)
    throw new Error(`${command}: --${name} must be ${rangeText(spec)}, got ${raw}`);
  return v;
}

function rangeText(spec: IntFlag | NumberFlag): string {
  const minExclusive = spec.kind === 'number' && spec.minExclusive === true;
  const lo = spec.min === undefined ? '' : minExclusive ? `> ${spec.min}` : `>= ${spec.min}`;
  const hi = spec.max === undefined ? '' : `<= ${spec.max}`;
  return lo && hi ? `${lo} and ${hi}` : lo || hi;
}

function flagValue(command: string, name: string, spec: FlagSpec, raw: string | true): unknown {
  if (spec.kind === 'switch' || raw === true) return true;
  if (raw === '' && !(spec.kind === 'string' && spec.allowEmpty)) {
    throw new Error(`${command}: --${name} needs a non-empty value`);
  }
  switch (spec.kind) {
    case 'int':
    case 'number':
      return numberValue(command, name, spec, raw);
    case 'choice': {
      if (spec.values.includes(raw)) return raw;
      const hint = closest(raw, spec.values);
      throw new Error(
        `${command}: --${name} must be one of ${spec.values.join(', ')}; got '${raw}'` +
          (hint ? ` (did you mean '${hint}'?)` : ''),
      );
    }
    case 'string':
      return raw;
  }
}

// ---- parsing ----

/** parseArgs' tokens of a command's arguments, read with its flag table. */
function tokensOf(spec: CommandSpec, args: readonly string[]) {
  const options = Object.fromEntries(
    Object.entries(spec.flags).map(([n, f]) => [
      n,
      {
        type: f.kind === 'switch' ? ('boolean' as const) : ('string' as const),
        ...(n === 'help' ? { short: 'h' } : {}),
      },
    ]),
  );
  // strict: false so that unknown flags and missing values reach parseCommand's checks, which word
  // them as before (parseArgs' own errors do not suggest the flag that was meant).
  return parseArgs({
    args: [...args],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  }).tokens;
}

export type ParseResult<O> = { help: true } | { help: false; options: O };

/**
 * Parses one command's arguments (after the command name). `--help` / `-h` anywhere asks for help;
 * every other mistake throws an Error naming the command, the flag and the problem.
 * `others` lists the other commands, to say which one owns a flag given to the wrong one.
 */
export function parseCommand<T extends FlagTable, O>(
  spec: CommandSpec<T, O>,
  args: readonly string[],
  others: readonly CommandSpec[] = [],
): ParseResult<O> {
  const command = spec.name;
  const names = Object.keys(spec.flags);
  const tokens = tokensOf(spec, args);
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help' && t.name in spec.flags)) {
    return { help: true };
  }
  const raw = new Map<string, string | true>();
  let positionalTaken = false;
  for (const token of tokens) {
    if (token.kind === 'positional' && spec.positional !== undefined && !positionalTaken) {
      positionalTaken = true;
      if (tokens.some((t) => t.kind === 'option' && t.name === spec.positional)) {
        throw new Error(
          `${command}: '${token.value}' and --${spec.positional} both give the ${spec.positional}; give one`,
        );
      }
      raw.set(spec.positional, token.value);
      continue;
    }
    if (token.kind === 'positional' || token.kind === 'option-terminator') {
      const arg = token.kind === 'positional' ? token.value : '--';
      throw new Error(
        `${command}: unexpected argument '${arg}' (options are --name value; see --help)`,
      );
    }
    const name = token.name;
    const flag = spec.flags[name];
    if (flag === undefined) {
      const hint = closest(name, names);
      const owners = others.filter((c) => name in c.flags).map((c) => c.name);
      let message = `${command}: unknown flag ${token.rawName.startsWith('--') ? '--' : '-'}${name}`;
      if (owners.length > 0) message += ` (it is an option of ${owners.join(', ')})`;
      if (hint) message += `; did you mean --${hint}?`;
      else message += `; known flags: ${names.map((n) => `--${n}`).join(', ')}`;
      throw new Error(message);
    }
    if (raw.has(name)) throw new Error(`${command}: --${name} is given more than once`);
    if (flag.kind === 'switch') {
      if (token.inlineValue)
        throw new Error(`${command}: --${name} is a switch and takes no value`);
      raw.set(name, true);
      continue;
    }
    // parseArgs takes the next argument as the value even when it is the next flag.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) {
      throw new Error(`${command}: --${name} is missing its value`);
    }
    raw.set(name, token.value);
  }
  const values: Record<string, unknown> = {};
  for (const name of names) {
    const flag = spec.flags[name]!;
    const given = raw.get(name);
    if (given !== undefined) values[name] = flagValue(command, name, flag, given);
    else if (flag.kind === 'string' && flag.required) {
      throw new Error(`${command}: --${name} ${metaOf(flag)} is required`);
    } else values[name] = flag.kind === 'switch' ? false : flag.default;
  }
  const context: BuildContext = {
    given: new Set(raw.keys()),
    error: (message: string) => new Error(`${command}: ${message}`),
  };
  return { help: false, options: spec.build(values as FlagValues<T>, context) };
}

/**
 * `args` (a command's arguments, as parseCommand takes them) without the flags `names`, each with
 * its value, keeping every other argument as it was written (e.g. to print a command line to run
 * again with a flag replaced).
 */
export function withoutFlags(
  spec: CommandSpec,
  args: readonly string[],
  names: readonly string[],
): string[] {
  const tokens = tokensOf(spec, args);
  const drop = new Set<number>();
  for (const t of tokens) {
    if (t.kind !== 'option' || !names.includes(t.name)) continue;
    drop.add(t.index);
    // A value given as the next argument (not --flag=value) goes with it.
    if (t.value !== undefined && !t.inlineValue) drop.add(t.index + 1);
  }
  return args.filter((_, i) => !drop.has(i));
}

// ---- help ----

function metaOf(spec: FlagSpec): string {
  if (spec.meta) return spec.meta;
  switch (spec.kind) {
    case 'int':
      return 'N';
    case 'number':
      return 'X';
    case 'choice':
      return 'NAME';
    case 'string':
      return 'VALUE';
    case 'switch':
      return '';
  }
}

function defaultOf(spec: FlagSpec): string | undefined {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.kind === 'switch' || spec.default === undefined) return undefined;
  return String(spec.default);
}

const HELP_WIDTH = 100;

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line];
}

/** The range of a number flag for help, e.g. 1..256, >= 0, > 0. */
function rangeHelp(spec: IntFlag | NumberFlag): string {
  if (spec.kind === 'int' && spec.min !== undefined && spec.max !== undefined) {
    return `${spec.min}..${spec.max}`;
  }
  return rangeText(spec).replace(' and ', ', ');
}

/** Lines of `--flag META   help: choices (range, default x)`, aligned and wrapped. */
export function flagHelp(flags: FlagTable): string[] {
  const rows = Object.entries(flags).map(([name, spec]) => {
    const left = `--${name}${spec.kind === 'switch' ? '' : ` ${metaOf(spec)}`}`;
    let text = spec.help;
    if (spec.kind === 'choice') text += `: ${spec.values.join(' | ')}`;
    const extra: string[] = [];
    if (spec.kind === 'int' || spec.kind === 'number') {
      const range = rangeHelp(spec);
      if (range && !spec.help.includes(range)) extra.push(range);
    }
    const d = defaultOf(spec);
    if (d !== undefined) extra.push(`default ${d === '' ? "''" : d}`);
    if (extra.length > 0) text += ` (${extra.join(', ')})`;
    return [left, text] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.flatMap(([l, r]) =>
    wrap(r, HELP_WIDTH - 2 - width).map(
      (line, i) => `  ${(i === 0 ? l : '').padEnd(width)}${line}`,
    ),
  );
}

/** `<program> <command> --help`: summary, options, notes and examples. */
export function commandHelp(program: string, spec: CommandSpec): string {
  const operandFlag = spec.positional !== undefined ? spec.flags[spec.positional] : undefined;
  const operand = operandFlag ? ` [${metaOf(operandFlag)}]` : '';
  const lines = [
    `Usage: ${program} ${spec.name}${operand} [options]`,
    '',
    `${spec.summary}.`,
    '',
    'Options:',
    ...flagHelp(spec.flags),
  ];
  for (const note of spec.notes ?? []) lines.push('', note);
  if (spec.examples.length > 0) {
    lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  }
  return `${lines.join('\n')}\n`;
}
