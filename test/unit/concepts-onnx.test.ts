import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureConceptEmbeddings, loadConceptEmbeddings } from '../../activities/concepts/embeddings-cache';
import { locateModelFolder, OnnxTextEncoder } from '../../activities/concepts/onnx-encoder';
import { ConfigError } from '../../lib/config';
import { PROJECT_ROOT, pythonExecutable } from '../../lib/paths';

/**
 * A real (tiny, random-weight) BERT-style model built with PyTorch and exported to ONNX, in the Hugging Face
 * folder layout; PyTorch's own sentence embeddings (mean pooling + L2 norm) are the reference.
 */
interface Reference {
  sentences: string[];
  ids: number[][];
  dim: number;
  embeddings: number[][];
}

const BUILD = path.join(PROJECT_ROOT, 'test/fixtures/text-encoder/build_tiny_bert.py');
let root: string;

function buildModel(dir: string, seed = 0): Reference {
  execFileSync(pythonExecutable(), [BUILD, dir, String(seed)], { stdio: ['ignore', 'ignore', 'pipe'] });
  return JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8')) as Reference;
}

let model: string;
let reference: Reference;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-onnx-text-'));
  model = path.join(root, 'tiny-bert');
  reference = buildModel(model);
}, 120_000);

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('OnnxTextEncoder', () => {
  test('tokenises with tokenizer.json exactly as the reference WordPiece does', async () => {
    const encoder = await OnnxTextEncoder.load(model);
    try {
      expect(reference.sentences.map((s) => encoder.tokenize(s))).toEqual(reference.ids);
      // Sub-words and unknown words are really exercised: ##-pieces and [UNK] (id 1) occur.
      expect(reference.ids.flat()).toContain(1);
      expect(reference.ids.some((ids) => ids.length > reference.sentences[0].split(' ').length + 4)).toBe(true);
    } finally {
      await encoder.release();
    }
  });

  test('reproduces PyTorch sentence embeddings (mean pooling over the mask, L2 norm)', async () => {
    // Batches of 4 pad differently from the reference's single batch: padding must not leak in.
    const encoder = await OnnxTextEncoder.load(model, { batchSize: 4 });
    try {
      expect(encoder.dim).toBe(reference.dim);
      const vectors = await encoder.embed(reference.sentences);
      expect(vectors.length).toBe(reference.sentences.length * reference.dim);
      reference.embeddings.forEach((row, i) => {
        row.forEach((value, d) => expect(vectors[i * reference.dim + d]).toBeCloseTo(value, 5));
      });
      const alone = await encoder.embed([reference.sentences[0]]);
      for (let d = 0; d < reference.dim; d++) expect(alone[d]).toBeCloseTo(reference.embeddings[0][d], 5);
      let norm = 0;
      for (let d = 0; d < reference.dim; d++) norm += vectors[d] * vectors[d];
      expect(Math.sqrt(norm)).toBeCloseTo(1, 5);
      // Different sentences get clearly different vectors.
      let dot = 0;
      for (let d = 0; d < reference.dim; d++) dot += vectors[d] * vectors[reference.dim + d];
      expect(dot).toBeLessThan(0.99);
    } finally {
      await encoder.release();
    }
  });

  test('its name, and so the embedding cache, follows the model folder and its weights', async () => {
    const other = path.join(root, 'other', 'tiny-bert');
    buildModel(other, 1);
    const a = await OnnxTextEncoder.load(model);
    const b = await OnnxTextEncoder.load(other);
    try {
      expect(a.name).toMatch(/^onnx-tiny-bert-[0-9a-f]{12}$/);
      expect(b.name).not.toBe(a.name);
      const dir = path.join(root, 'cache');
      const vocabulary = ['golden retriever', 'tabby cat', 'red fox'];
      const infoA = await ensureConceptEmbeddings({ encoder: a, dir, vocabulary });
      const infoB = await ensureConceptEmbeddings({ encoder: b, dir, vocabulary });
      expect(infoA.path).not.toBe(infoB.path);
      expect(path.basename(infoA.path)).toBe(`${a.name}-3x${reference.dim}.f32`);
      const rowsA = await loadConceptEmbeddings(infoA.path);
      expect(Array.from(rowsA.subarray(0, reference.dim))).toEqual(Array.from(await a.embed(['golden retriever'])));
      expect(await loadConceptEmbeddings(infoB.path)).not.toEqual(rowsA);
    } finally {
      await a.release();
      await b.release();
    }
  });

  test('names what is missing from an incomplete model folder and what to download', () => {
    // A ConfigError: the run's stages do not retry it.
    expect(() => locateModelFolder(path.join(root, 'nowhere'))).toThrow(ConfigError);
    expect(() => locateModelFolder(path.join(root, 'nowhere'))).toThrow(
      /does not exist: download a sentence-transformers/,
    );
    const partial = path.join(root, 'partial');
    fs.mkdirSync(partial);
    fs.copyFileSync(path.join(model, 'tokenizer.json'), path.join(partial, 'tokenizer.json'));
    expect(() => locateModelFolder(partial)).toThrow(
      /incomplete: missing tokenizer_config\.json, onnx\/model\.onnx or model\.onnx; download .*all-MiniLM-L6-v2/,
    );
    fs.copyFileSync(path.join(model, 'tokenizer_config.json'), path.join(partial, 'tokenizer_config.json'));
    fs.copyFileSync(path.join(model, 'onnx', 'model.onnx'), path.join(partial, 'model.onnx'));
    expect(locateModelFolder(partial).model).toBe(path.join(partial, 'model.onnx'));
  });

  test('refuses a tokenizer.json that is not JSON, naming the file', async () => {
    const broken = path.join(root, 'broken');
    fs.cpSync(model, broken, { recursive: true });
    fs.writeFileSync(path.join(broken, 'tokenizer.json'), '<html>not found</html>');
    await expect(OnnxTextEncoder.load(broken)).rejects.toThrow(/broken\/tokenizer\.json: not valid JSON/);
  });
});
