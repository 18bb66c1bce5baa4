/**
 * Command-line options of the benchmark scripts, read by Node's `util.parseArgs` in strict mode: an unknown or
 * misspelt option, one missing its value or a number option given something else stops the script (exit 2)
 * with the script's usage line, instead of being ignored while the benchmark runs for minutes on its defaults.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The values of `options` given on the command line (`args`, default the process's), defaults filled in. */
export function benchOptions<const O extends Options>(usage: string, options: O, args = process.argv.slice(2)) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    return usageExit(`${(error as Error).message}\nusage: ${usage}`);
  }
}

/** A number option's value; anything else stops the script with a message naming the option. */
export function numberOption(value: string | undefined, name: string): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(n))
    return usageExit(`--${name} takes a number, got ${JSON.stringify(value ?? null)}`);
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
