/** A fraction in [0, 1] as a percentage with one decimal ("16.3%"); "—" when there is no figure. */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)}%`;
}

/** The current UTC time as YYYYMMDD-HHMMSS, for ids that sort by when they were made. */
export function timestampId(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\..+/, '').replace('T', '-');
}
