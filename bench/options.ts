/**
 * Command-line options of the benchmark scripts, read by Node's `util.parseArgs` in strict mode: an unknown or
 * misspelt option, one missing its value or a number option given something else stops the script (exit 2)
 * with the script's usage line, instead of being ignored while the benchmark runs for minutes on its defaults.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The values of `options` given on the command line (`args`, default the process's), defaults filled in. */
export function benchOptions<const O extends Options>(usage: string, options: O, args = process.argv.slice(2)) {
  return benchArgs(usage, options, { min: 0, max: 0 }, args).values;
}

/**
 * The options and the `min`–`max` positional arguments given on the command line; too few or too many stop
 * the script like a bad option.
 */
export function benchArgs<const O extends Options>(
  usage: string,
  options: O,
  positionals: { min: number; max: number },
  args = process.argv.slice(2),
) {
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: positionals.max > 0 });
    const n = parsed.positionals.length;
    const { min, max } = positionals;
    if (n < min || n > max) {
      const wanted = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
      const last = max === Infinity ? min : max;
      throw new Error(`expected ${wanted} argument${last === 1 ? '' : 's'}, got ${n}`);
    }
    return parsed;
  } catch (error) {
    return usageExit(`${(error as Error).message}\nusage: ${usage}`);
  }
}

/** A number option's value; anything else stops the script with a message naming the option (or `label`). */
export function numberOption(value: string | undefined, name: string, label = `--${name}`): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(n))
    return usageExit(`${label} takes a number, got ${JSON.stringify(value ?? null)}`);
  return n;
}

/** A comma-separated list option's numbers. */
export function numberListOption(value: string, name: string): number[] {
  return value.split(',').map((item) => numberOption(item, name));
}

function usageExit(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}
