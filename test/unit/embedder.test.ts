import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { seededRandom } from '../../activities/concepts/prng';
import { OnnxImageEmbedder } from '../../activities/score/embedder';
import { pythonExecutable } from '../../lib/paths';

const SIZE = 32;

/**
 * Exports a tiny conv net to ONNX (+ sidecar) and writes torch's embeddings of the given images
 * after torchvision's Resize(SIZE) → CenterCrop(SIZE) → ToTensor → Normalize.
 */
const PYTHON = `
import json, sys
import torch
from PIL import Image
from torch import nn
from torchvision import transforms

out_dir, images = sys.argv[1], sys.argv[2:]
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
    nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 12),
).eval()
mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
onnx_path = f"{out_dir}/encoder.onnx"
torch.onnx.export(model, (torch.zeros(2, 3, ${SIZE}, ${SIZE}),), onnx_path, input_names=["input"],
                  output_names=["embedding"], dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}},
                  opset_version=13)
with open(onnx_path + ".json", "w") as fh:
    json.dump({"imageSize": ${SIZE}, "mean": mean, "std": std, "dim": 12, "input": "input", "output": "embedding"}, fh)
tf = transforms.Compose([transforms.Resize(${SIZE}), transforms.CenterCrop(${SIZE}), transforms.ToTensor(),
                         transforms.Normalize(mean, std)])
batch = torch.stack([tf(Image.open(p).convert("RGB")) for p in images])
with torch.no_grad():
    emb = model(batch)
with open(f"{out_dir}/expected.json", "w") as fh:
    json.dump(emb.tolist(), fh)
`;

/** A smooth colour pattern with noise, so every pixel (and the crop offset) matters. */
async function writeJpeg(file: string, width: number, height: number, seed: string): Promise<void> {
  const random = seededRandom(seed);
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      raw[o] = (x * 255) / width;
      raw[o + 1] = (y * 255) / height;
      raw[o + 2] = random() * 255;
    }
  }
  await sharp(raw, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toFile(file);
}

function l2normalise(v: number[]): number[] {
  const n = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
  return v.map((x) => x / n);
}

describe('OnnxImageEmbedder', () => {
  let dir: string;
  let images: string[];
  let expected: number[][];
  let embedder: OnnxImageEmbedder;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'embedder-'));
    images = [path.join(dir, 'square.jpg'), path.join(dir, 'wide.jpg'), path.join(dir, 'square2.jpg')];
    await writeJpeg(images[0], SIZE, SIZE, 'a');
    await writeJpeg(images[1], SIZE + 16, SIZE, 'b'); // centre crop only, no resampling
    await writeJpeg(images[2], SIZE, SIZE, 'c');
    writeFileSync(path.join(dir, 'make_model.py'), PYTHON);
    execFileSync(pythonExecutable(), [path.join(dir, 'make_model.py'), dir, ...images], { stdio: 'pipe' });
    expected = (JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as number[][]).map(l2normalise);
    embedder = await OnnxImageEmbedder.load(path.join(dir, 'encoder.onnx'));
  }, 120_000);

  afterAll(async () => {
    await embedder?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('matches torch on the same image files after identical preprocessing', async () => {
    expect(embedder.dim).toBe(12);
    const done: number[] = [];
    const got = await embedder.embedFiles(images, { batchSize: 2, onBatch: (n) => done.push(n) });
    expect(done).toEqual([2, 3]);
    expect(got).toHaveLength(3 * 12);
    expected.forEach((row, i) => row.forEach((v, d) => expect(Math.abs(got[i * 12 + d] - v)).toBeLessThan(1e-4)));
  });

  it('gives the same rows whatever the batch size, with unit norm', async () => {
    const one = await embedder.embedFiles(images, { batchSize: 1 });
    const all = await embedder.embedFiles(images, { batchSize: 64 });
    for (let i = 0; i < one.length; i++) expect(Math.abs(one[i] - all[i])).toBeLessThan(1e-6);
    for (let r = 0; r < 3; r++) {
      const norm = Math.hypot(...Array.from(all.subarray(r * 12, r * 12 + 12)));
      expect(norm).toBeCloseTo(1, 5);
    }
    expect(await embedder.embedFiles([])).toHaveLength(0);
  });

  it('throws an error naming a missing or corrupt file', async () => {
    const missing = path.join(dir, 'missing.jpg');
    await expect(embedder.embedFiles([images[0], missing])).rejects.toThrow(missing);
    const corrupt = path.join(dir, 'corrupt.jpg');
    writeFileSync(corrupt, 'not a jpeg');
    await expect(embedder.embedFiles([corrupt, images[0], images[1]], { batchSize: 1 })).rejects.toThrow(corrupt);
  });

  it('rejects a model without its sidecar', async () => {
    const bare = path.join(dir, 'bare.onnx');
    writeFileSync(bare, readFileSync(path.join(dir, 'encoder.onnx')));
    await expect(OnnxImageEmbedder.load(bare)).rejects.toThrow(/sidecar/);
  });

  it('checks the model against the size and sha256 its sidecar records', async () => {
    const model = readFileSync(path.join(dir, 'encoder.onnx'));
    const sidecar = JSON.parse(readFileSync(path.join(dir, 'encoder.onnx.json'), 'utf8')) as Record<string, unknown>;
    const checked = path.join(dir, 'checked.onnx');
    writeFileSync(checked, model);
    const onnx = { bytes: model.length, sha256: createHash('sha256').update(model).digest('hex') };
    writeFileSync(`${checked}.json`, JSON.stringify({ ...sidecar, onnx }));
    await (await OnnxImageEmbedder.load(checked)).close();
    // Torn (cut short), or the model of another export than the sidecar's: refused, naming both.
    for (const bytes of [model.subarray(0, model.length - 100), Buffer.concat([model, Buffer.from('x')])]) {
      writeFileSync(checked, bytes);
      await expect(OnnxImageEmbedder.load(checked)).rejects.toThrow(
        `${checked} is not the model its sidecar ${checked}.json describes`,
      );
    }
  });
});
