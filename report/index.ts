import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { logger } from '../lib/logger';
import { chartSpecs, renderCharts } from './charts';
import { loadReportData, type LoadOptions } from './data';
import { renderHtml, type RenderedGrid } from './html';
import { gridPng, thumbnails } from './thumbnails';

export { ReportError } from './data';

export interface ReportOptions extends LoadOptions {
  /** Thumbnail side in pixels. */
  thumbSide?: number;
}

export interface WrittenReport {
  html: string;
  pngs: string[];
  /** Grid images that could not be shown, with why. */
  missingImages: { sha256: string; problem: string }[];
}

const GRID_COLUMNS = 8;

/** Writes `index.html` (self-contained) and one PNG per chart and per image grid into `outDir`. */
export async function writeReport(runId: string, outDir: string, options: ReportOptions = {}): Promise<WrittenReport> {
  const log = logger.child({ runId, component: 'report' });
  const side = options.thumbSide ?? 72;
  const data = await loadReportData(runId, options);
  const charts = await renderCharts(chartSpecs(data));
  const grids: RenderedGrid[] = [];
  for (const grid of data.grids)
    grids.push({ iteration: grid.iteration, population: grid.population, thumbs: await thumbnails(grid.images, side) });

  await fs.mkdir(outDir, { recursive: true });
  const pngs: string[] = [];
  for (const chart of charts) {
    const file = path.join(outDir, `${chart.id}.png`);
    // Rasterised at twice the SVG's size so text stays sharp.
    await sharp(Buffer.from(chart.svg), { density: 144 }).png().toFile(file);
    pngs.push(file);
  }
  for (const grid of grids) {
    const file = path.join(outDir, `grid-${grid.iteration === null ? 'target' : `iteration-${grid.iteration}`}.png`);
    await fs.writeFile(file, await gridPng(grid.thumbs, side, GRID_COLUMNS));
    pngs.push(file);
  }
  const html = path.join(outDir, 'index.html');
  await fs.writeFile(html, renderHtml(data, charts, grids, new Date()));
  const missingImages = grids.flatMap((g) =>
    g.thumbs.filter((t) => t.problem).map((t) => ({ sha256: t.sha256, problem: t.problem as string })),
  );
  if (missingImages.length) log.warn({ missing: missingImages }, 'images left out of the report');
  log.info({ html, pngs: pngs.length, iterations: data.iterations.length }, 'report written');
  return { html, pngs, missingImages };
}
