import { existsSync } from 'node:fs';
import { db } from '../../lib/db';
import { storePath } from './content-store';

/**
 * Points Image rows at this worker's content store where the file is here but the row names another
 * place (a database shared with another store, or a store moved). Training, scoring and evaluation read
 * `Image.path`, so a stale path would reach them as a file that does not exist. Returns how many moved.
 */
export async function repointImages(shas: string[]): Promise<number> {
  const rows = await db().image.findMany({
    where: { sha256: { in: [...new Set(shas)] } },
    select: { sha256: true, path: true },
  });
  return repointRows(rows);
}

/** `repointImages` over rows already read; each moved row's `path` is updated in place too. */
export async function repointRows(rows: { sha256: string; path: string }[]): Promise<number> {
  const moved = rows.filter((r) => r.path !== storePath(r.sha256) && existsSync(storePath(r.sha256)));
  for (const r of moved) {
    r.path = storePath(r.sha256);
    await db().image.update({ where: { sha256: r.sha256 }, data: { path: r.path } });
  }
  return moved.length;
}
