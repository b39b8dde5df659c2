// The argument layer: node:util parseArgs in strict mode, so an unknown flag, a flag without its value, a missing
// required flag or argument, or one argument too many is a usage error (exit 2) before anything is read or written.
import { parseArgs } from 'node:util';

/** Wrong use of the command line: one line on stderr, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type OptionSpecs = Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>;
export type OptionValues<O extends OptionSpecs> = {
  readonly [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string;
};

export interface ArgShape<O extends OptionSpecs> {
  /** Flags that must be given. */
  readonly required?: ReadonlyArray<keyof O & string>;
  /** Names of the positional arguments that must be given, in order (e.g. KEY_ID). */
  readonly positionals?: readonly string[];
  /** Names of positional arguments that may follow them. */
  readonly optional?: readonly string[];
}

export interface ParsedArgs<O extends OptionSpecs> {
  readonly values: OptionValues<O>;
  readonly positionals: readonly string[];
}

/** parseArgs' messages, made short: they name the flag and stay on one line. */
function problem(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const flag = /'(-{1,2}[^' ]+)/.exec(e.message ?? '')?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${flag ?? ''}`.trim();
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return flag !== undefined && /does not take/.test(e.message ?? '')
        ? `${flag} takes no value`
        : `${flag ?? 'an option'} needs a value`;
    default:
      return (e.message ?? String(err)).split('\n')[0]!;
  }
}

export function parseCommand<const O extends OptionSpecs>(
  command: string,
  argv: readonly string[],
  options: O,
  shape: ArgShape<O> = {},
): ParsedArgs<O> {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`${command}: ${problem(err)}`);
  }
  for (const name of shape.required ?? [])
    if (parsed.values[name] === undefined) throw new UsageError(`${command}: --${name} is required`);
  const needed = shape.positionals ?? [];
  const most = needed.length + (shape.optional?.length ?? 0);
  const missing = needed[parsed.positionals.length];
  if (missing !== undefined) throw new UsageError(`${command}: ${missing} is required`);
  const extra = parsed.positionals[most];
  if (extra !== undefined) throw new UsageError(`${command}: unexpected argument "${extra}"`);
  return { values: parsed.values as OptionValues<O>, positionals: parsed.positionals };
}
