/** A fraction in [0, 1] as a percentage with one decimal ("16.3%"); "—" when there is no figure. */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)}%`;
}
