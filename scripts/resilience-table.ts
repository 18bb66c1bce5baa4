// Prints the fault table of docs/reliability.md from what the fault tests last measured (<state>/resilience/,
// written by test/integration/resilience/recovery.ts). Refresh the figures with
// `npx jest test/integration/resilience` (or the whole suite), then run `npx tsx scripts/resilience-table.ts`.
import fs from 'node:fs';
import path from 'node:path';
import { recoveryDir, type Recovery } from '../test/integration/resilience/recovery';

const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;

function timeLost(r: Recovery): string {
  if (r.referenceMs === null) return `retry to completion ${seconds(r.faultedMs)}`;
  const lost = r.faultedMs - r.referenceMs;
  const outage = r.outageMs ? ` (fault lasted ${seconds(r.outageMs)})` : '';
  return `${seconds(lost)} of ${seconds(r.referenceMs)} (${(r.faultedMs / r.referenceMs).toFixed(2)}×)${outage}`;
}

const dir = recoveryDir();
const records = fs.existsSync(dir)
  ? fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Recovery & { measuredAt: string })
  : [];
if (records.length === 0) {
  console.error(`no figures in ${dir}: run \`npx jest test/integration/resilience\` first`);
  process.exit(2);
}
records.sort((a, b) => a.fault.localeCompare(b.fault));
console.log('| fault | survived | rows lost | time lost against the uninterrupted run | measured |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of records)
  console.log(
    `| ${r.fault} | ${r.survived ? 'yes' : 'no'} | ${r.rowsLost ?? '—'} | ${timeLost(r)} | ${r.measuredAt.slice(0, 10)} |`,
  );
