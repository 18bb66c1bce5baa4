/**
 * JSON text as Python's `json.dumps` writes it (the published indexes were written that way): non-ASCII
 * characters escaped as `\uXXXX` (`ensure_ascii`). Everything else JSON.stringify already writes alike for
 * the strings, integers, nulls, arrays and objects these files hold.
 */

function asciiOnly(text: string): string {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `json.dumps(value, separators=(',', ':'))`: one compact line, no newline. */
export function pyJsonCompact(value: unknown): string {
  return asciiOnly(JSON.stringify(value));
}

/** `json.dumps(value, indent=1)`. */
export function pyJsonIndent1(value: unknown): string {
  return asciiOnly(JSON.stringify(value, null, 1));
}

/** JSON Lines: one compact object per line, each line ending in a newline. */
export function pyJsonLines(rows: readonly unknown[]): Buffer {
  return Buffer.from(rows.map((r) => `${pyJsonCompact(r)}\n`).join(''), 'utf8');
}
