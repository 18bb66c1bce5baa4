// Scoring throughput at the gpu-r50 shape (ResNet-50, 224 px, 2048-d): onnxruntime-node on CPU, as the
// score stage embeds an iteration's new images, against the trainer embedding the same images with the
// loaded model (python -m ietrainer.embed, on the GPU where there is one), and what either costs for a
// paper-scale iteration's ~25,000 new images.
//
//   node --import tsx bench/score-gpu-shape.ts [--images 256] [--batch 64] [--synthetic] [--no-trainer]
//
// The encoder has random weights (speed does not depend on them); the images are the ImageNet sample
// photos stored as the download stage stores web images (longer side 256 px), or synthetic JPEGs.
// Both sides decode and preprocess the files themselves, as they would in the score stage.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { OnnxImageEmbedder } from '../activities/score/embedder';
import { PROJECT_ROOT, pythonExecutable } from '../lib/paths';
import { benchOptions, numberOption } from './options';

const ITERATION_IMAGES = 25_000;

const options = benchOptions(
  'node --import tsx bench/score-gpu-shape.ts [--images 256] [--batch 64] [--synthetic] [--no-trainer]',
  {
    images: { type: 'string', default: '256' },
    batch: { type: 'string', default: '64' },
    synthetic: { type: 'boolean', default: false },
    'no-trainer': { type: 'boolean', default: false },
  },
);

interface Fixture {
  checkpoint: string;
  onnx: string;
  images: string[];
  exporter: string;
  dim: number;
  imageSize: number;
}

function python(args: string[]): string {
  const trainer = path.join(PROJECT_ROOT, 'trainer');
  const run = spawnSync(pythonExecutable(), args, {
    cwd: trainer,
    env: { ...process.env, PYTHONPATH: trainer },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`${args.join(' ')} failed:\n${run.stderr.slice(-3000)}`);
  return run.stdout;
}

function forIteration(rate: number): string {
  const minutes = ITERATION_IMAGES / rate / 60;
  return minutes < 1 ? `${(minutes * 60).toFixed(0)} s` : `${minutes.toFixed(1)} min`;
}

async function main(): Promise<void> {
  const count = numberOption(options.images, 'images');
  const batchSize = numberOption(options.batch, 'batch');
  const dir = await mkdtemp(path.join(tmpdir(), 'ie-score-bench-'));
  try {
    const fixtureArgs = ['-m', 'ietrainer.score_fixture', '--out', dir, '--images', String(count)];
    if (options.synthetic) fixtureArgs.push('--synthetic');
    const fixture = JSON.parse(python(fixtureArgs).trim().split('\n').pop()!) as Fixture;
    console.log(
      `encoder: gpu-r50 shape, ${fixture.imageSize} px → ${fixture.dim}-d (ONNX via ${fixture.exporter}); ` +
        `${fixture.images.length} images; ${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)}`,
    );

    const embedder = await OnnxImageEmbedder.load(fixture.onnx);
    try {
      await embedder.embedFiles(fixture.images.slice(0, batchSize), { batchSize }); // warm-up
      const started = performance.now();
      const cpu0 = process.cpuUsage();
      await embedder.embedFiles(fixture.images, { batchSize });
      const seconds = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const rate = fixture.images.length / seconds;
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      console.log(
        `onnxruntime-node (CPU, batch ${batchSize}): ${rate.toFixed(1)} images/s, ` +
          `${(fixture.images.length / cpuSeconds).toFixed(1)} images per CPU-second; ` +
          `${ITERATION_IMAGES.toLocaleString('en')} images: ${forIteration(rate)}`,
      );
    } finally {
      await embedder.close();
    }

    if (!options['no-trainer']) {
      const list = path.join(dir, 'images.json');
      writeFileSync(list, JSON.stringify(fixture.images));
      const out = python([
        '-m', 'ietrainer.embed', '--checkpoint', fixture.checkpoint, '--images', list,
        '--out', path.join(dir, 'embeddings.f32'), '--batch-size', String(batchSize),
      ]); // prettier-ignore
      const done = JSON.parse(out.trim().split('\n').pop()!) as { imagesPerSec: number; device: string };
      console.log(
        `ietrainer.embed (${done.device}, batch ${batchSize}, model load excluded): ` +
          `${done.imagesPerSec.toFixed(1)} images/s; ` +
          `${ITERATION_IMAGES.toLocaleString('en')} images: ${forIteration(done.imagesPerSec)}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
