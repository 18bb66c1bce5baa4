import { copyFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeWhole } from '../files';
import { checkedKey, type ObjectStore } from './object-store';

/**
 * The object store as a local folder: `<root>/<key>`. With the state folder as its root (the default) an
 * upload or download between a key's local file and the store is the same file and costs a stat; with another
 * root (a shared mount) it is a copy.
 */
export class FolderObjectStore implements ObjectStore {
  readonly description: string;
  constructor(readonly folder: string) {
    this.description = `the folder ${folder}`;
  }

  pathOf(key: string): string {
    return path.join(this.folder, ...checkedKey(key).split('/'));
  }

  async upload(key: string, file: string): Promise<void> {
    const target = this.pathOf(key);
    if (path.resolve(file) === target) return;
    await writeWhole(target, (tmp) => copyFile(file, tmp));
  }

  async download(key: string, file: string): Promise<boolean> {
    const source = this.pathOf(key);
    if (path.resolve(file) === source) return this.exists(key);
    try {
      await writeWhole(file, (tmp) => copyFile(source, tmp));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch {
      return false;
    }
  }

  async list(prefix: string): Promise<string[]> {
    // The folder holding the prefix, walked; keys compared as strings so a partial name works like S3's.
    const cut = prefix.lastIndexOf('/');
    const dir = cut < 0 ? '' : prefix.slice(0, cut);
    const base = dir ? this.pathOf(dir) : this.folder;
    let entries;
    try {
      entries = await readdir(base, { recursive: true, withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return entries
      .filter((e) => e.isFile() && !e.name.endsWith('.tmp'))
      .map((e) => path.relative(this.folder, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
      .filter((key) => key.startsWith(prefix))
      .sort();
  }

  async remove(keys: string[]): Promise<void> {
    for (const key of keys) await rm(this.pathOf(key), { force: true });
  }

  close(): void {}
}
