/** A fraction in [0, 1] as a percentage with one decimal ("16.3%"); "—" when there is no figure. */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)}%`;
}

/** The current UTC time as YYYYMMDD-HHMMSS, for ids that sort by when they were made. */
export function timestampId(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\..+/, '').replace('T', '-');
}

/** An iteration as every view names it: its 0-based index (as ids, retries and the database use it) and its place. */
export function iterationLabel(index: number, iterations: number): string {
  return iterations > 0 ? `iteration ${index} (${index + 1} of ${iterations})` : `iteration ${index}`;
}
