import fs from 'node:fs';

/** Live (not zombie) processes whose command line contains `text`, e.g. a run id or a checkpoint folder. */
export function liveProcessesMatching(text: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return (
          fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text) &&
          !fs.readFileSync(`/proc/${pid}/status`, 'utf8').includes('State:\tZ')
        );
      } catch {
        return false; // exited while we looked
      }
    })
    .map(Number);
}
