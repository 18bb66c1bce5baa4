import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { TargetError } from '../lib/errors';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.bmp', '.tif', '.tiff', '.avif', '.heic']);

export interface TargetFile {
  path: string;
  /** Index into `labels` when the target has one subfolder per class (evaluation only). */
  label: number | null;
}

export interface TargetListing {
  dir: string;
  files: TargetFile[];
  labels: string[];
}

/**
 * Lists a target folder. With one subfolder per class (and no loose images), the subfolder names are the
 * labels — used to evaluate, never to explore or train. Otherwise every image under it is unlabelled.
 */
export async function listTarget(dir: string): Promise<TargetListing> {
  const root = path.resolve(dir);
  const stat = await fs.stat(root).catch(() => undefined);
  if (!stat?.isDirectory()) throw new TargetError(`target ${root} is not a folder: give a folder of images`);
  const entries = await fs.readdir(root, { withFileTypes: true });
  const looseImages = entries.filter((e) => e.isFile() && isImageName(e.name));
  const classDirs = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const labelled = looseImages.length === 0 && classDirs.length >= 2;
  const files: TargetFile[] = [];
  if (labelled) {
    for (const [label, name] of classDirs.entries()) {
      for (const file of await walkImages(path.join(root, name))) files.push({ path: file, label });
    }
  } else {
    for (const file of await walkImages(root)) files.push({ path: file, label: null });
  }
  if (files.length === 0) {
    throw new TargetError(
      `no images found in target folder ${root} (looked for ${[...IMAGE_EXTENSIONS].join(', ')}): ` +
        'put the target images there, optionally in one subfolder per class',
    );
  }
  const labels = labelled ? classDirs.filter((_, i) => files.some((f) => f.label === i)) : [];
  if (labelled && labels.length !== classDirs.length) {
    const empty = classDirs.filter((d) => !labels.includes(d));
    throw new TargetError(`class folders without images in ${root}: ${empty.join(', ')}: remove them or add images`);
  }
  return { dir: root, files, labels };
}

/** Decodes every target image; throws one error naming every unreadable file, before any work starts. */
export async function checkTargetReadable(listing: TargetListing, maxPixels: number): Promise<void> {
  const bad: string[] = [];
  for (const file of listing.files) {
    try {
      await sharp(file.path, { limitInputPixels: maxPixels, failOn: 'error' }).stats();
    } catch (error) {
      bad.push(`${file.path}: ${(error as Error).message}`);
    }
  }
  if (bad.length > 0) {
    const shown = bad.slice(0, 10).join('\n  ');
    const more = bad.length > 10 ? `\n  … and ${bad.length - 10} more` : '';
    throw new TargetError(
      `${bad.length} of ${listing.files.length} target images cannot be read:\n  ${shown}${more}\nfix or remove them, then start the run again`,
    );
  }
}

function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
}

async function walkImages(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walkImages(full)));
    else if (entry.isFile() && isImageName(entry.name)) out.push(full);
  }
  return out.sort();
}
