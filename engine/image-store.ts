import { open, type FileHandle } from 'node:fs/promises';
import type { ManifestRecord } from './corpus';

/**
 * Reads image bytes with positioned reads from the corpus files; handles stay open (one per file) so a
 * request costs one pread, and nothing is loaded wholesale into memory.
 */
export class ImageStore {
  private readonly handles = new Map<string, Promise<FileHandle>>();

  async read(record: ManifestRecord): Promise<Buffer> {
    const handle = await this.handleFor(record.file);
    const buf = Buffer.allocUnsafe(record.size);
    let filled = 0;
    while (filled < record.size) {
      const { bytesRead } = await handle.read(buf, filled, record.size - filled, record.offset + filled);
      if (bytesRead === 0) throw new Error(`${record.file}: unexpected end of file reading ${record.key}`);
      filled += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    const pending = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(pending.map(async (h) => (await h.catch(() => undefined))?.close()));
  }

  private handleFor(file: string): Promise<FileHandle> {
    let handle = this.handles.get(file);
    if (!handle) {
      handle = open(file, 'r');
      // A failed open is not cached, so a file that appears later can still be served.
      void handle.catch(() => this.handles.delete(file));
      this.handles.set(file, handle);
    }
    return handle;
  }
}

/** Media type from the leading magic bytes; corpora are JPEG, other formats are recognised for user manifests. */
export function sniffContentType(bytes: Buffer): string {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47) return 'image/png';
  if (bytes.length >= 6 && bytes.toString('latin1', 0, 4) === 'GIF8') return 'image/gif';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') {
    return 'image/webp';
  }
  return 'image/jpeg';
}
