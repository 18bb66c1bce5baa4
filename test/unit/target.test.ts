import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { checkTargetReadable, listTarget } from '../../activities/target';
import { TargetError } from '../../lib/errors';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ie-target-'));
const png = (colour: string) =>
  sharp({ create: { width: 8, height: 8, channels: 3, background: colour } })
    .png()
    .toBuffer();

describe('target folders', () => {
  test('one subfolder per class gives labels (for evaluation only)', async () => {
    const dir = tmp();
    for (const cls of ['cats', 'dogs']) {
      fs.mkdirSync(path.join(dir, cls));
      fs.writeFileSync(path.join(dir, cls, 'a.png'), await png('#808080'));
      fs.writeFileSync(path.join(dir, cls, 'b.png'), await png('#404040'));
    }
    const listing = await listTarget(dir);
    expect(listing.labels).toEqual(['cats', 'dogs']);
    expect(listing.files.map((f) => f.label)).toEqual([0, 0, 1, 1]);
    await expect(checkTargetReadable(listing, 1e6)).resolves.toBeUndefined();
  });

  test('a flat folder is unlabelled', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'x.png'), await png('#ff0000'));
    const listing = await listTarget(dir);
    expect(listing.labels).toEqual([]);
    expect(listing.files).toHaveLength(1);
    expect(listing.files[0].label).toBeNull();
  });

  test('a folder with no images is a clear error', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    await expect(listTarget(dir)).rejects.toThrow(TargetError);
    await expect(listTarget(dir)).rejects.toThrow(/no images found in target folder .*looked for \.jpg/);
  });

  test('a missing folder is a clear error', async () => {
    await expect(listTarget('/nonexistent/target')).rejects.toThrow(/is not a folder/);
  });

  test('an unreadable image is named in the error', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'good.png'), await png('#00ff00'));
    fs.writeFileSync(path.join(dir, 'broken.jpg'), Buffer.from('this is not a jpeg'));
    const listing = await listTarget(dir);
    await expect(checkTargetReadable(listing, 1e6)).rejects.toThrow(
      /1 of 2 target images cannot be read:\n {2}.*broken\.jpg/,
    );
  });
});
