import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';
import { ConfigError } from '../../lib/config';
import type { TextEncoder } from './encoder';

/** Where to get a model folder this encoder can load, for error messages. */
const DOWNLOAD_HINT =
  'download a sentence-transformers model with its ONNX export, e.g. sentence-transformers/all-MiniLM-L6-v2 or ' +
  'all-mpnet-base-v2 from huggingface.co (tokenizer.json, tokenizer_config.json, config.json and onnx/model.onnx)';

/** Model files looked for, in order: the Hugging Face layout (onnx/) first, then a flat folder. */
const MODEL_FILES = ['onnx/model.onnx', 'model.onnx'];

export interface OnnxTextEncoderOptions {
  /** Texts per inference call. */
  batchSize?: number;
  /** Longest token sequence; default: sentence_bert_config.json's max_seq_length, else the tokenizer's limit (≤ 512). */
  maxLength?: number;
  intraOpNumThreads?: number;
}

/**
 * The files of a model folder, or an error naming each missing one and where to get them (a ConfigError:
 * retrying cannot help until `textEncoder.path` is fixed).
 */
export function locateModelFolder(folder: string): { tokenizer: string; tokenizerConfig: string; model: string } {
  const dir = path.resolve(folder);
  if (!existsSync(dir)) throw new ConfigError(`text encoder folder ${dir} does not exist: ${DOWNLOAD_HINT}`);
  const missing: string[] = [];
  const file = (name: string): string => {
    const p = path.join(dir, name);
    if (!existsSync(p)) missing.push(name);
    return p;
  };
  const tokenizer = file('tokenizer.json');
  const tokenizerConfig = file('tokenizer_config.json');
  const model = MODEL_FILES.map((m) => path.join(dir, m)).find((p) => existsSync(p));
  if (!model) missing.push(MODEL_FILES.join(' or '));
  if (missing.length > 0 || !model) {
    throw new ConfigError(`text encoder folder ${dir} is incomplete: missing ${missing.join(', ')}; ${DOWNLOAD_HINT}`);
  }
  return { tokenizer, tokenizerConfig, model };
}

/**
 * Sentence embeddings from a transformer exported to ONNX, computed the way sentence-transformers does:
 * the model's tokenizer (tokenizer.json, via @huggingface/tokenizers), the token embeddings of the last
 * layer mean-pooled over the attention mask, then L2-normalised. Only local files are read.
 */
export class OnnxTextEncoder implements TextEncoder {
  private constructor(
    readonly name: string,
    readonly dim: number,
    private readonly session: ort.InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly padId: number,
    private readonly maxLength: number,
    private readonly batchSize: number,
  ) {}

  static async load(folder: string, options: OnnxTextEncoderOptions = {}): Promise<OnnxTextEncoder> {
    const files = locateModelFolder(folder);
    const tokenizerJson = readJson(files.tokenizer) as object;
    const tokenizerConfig = readJson(files.tokenizerConfig) as Record<string, unknown>;
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (error) {
      throw new Error(`${files.tokenizer}: not a tokenizer this encoder can use: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const session = await ort.InferenceSession.create(files.model, {
      graphOptimizationLevel: 'all',
      ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    });
    if (!session.inputNames.includes('input_ids') || !session.inputNames.includes('attention_mask')) {
      await session.release();
      throw new Error(
        `${files.model}: expected inputs input_ids and attention_mask, the model has [${session.inputNames.join(', ')}]`,
      );
    }
    // tokenizer_config.json spells special tokens as a string or as {"content": …}.
    const pad = tokenizerConfig.pad_token as string | { content?: unknown } | undefined;
    const padToken = typeof pad === 'string' ? pad : typeof pad?.content === 'string' ? pad.content : undefined;
    const padId = (padToken !== undefined ? tokenizer.token_to_id(padToken) : undefined) ?? 0;
    const maxLength = options.maxLength ?? modelMaxLength(path.dirname(files.tokenizer), tokenizerConfig);
    const fingerprint = await sha256Files([files.model, files.tokenizer]);
    const base = path.basename(path.resolve(folder)).replace(/[^A-Za-z0-9._-]+/g, '_');
    const probe = new OnnxTextEncoder('probe', 0, session, tokenizer, padId, maxLength, 1);
    const dim = (await probe.run(['a'])).dim;
    return new OnnxTextEncoder(
      `onnx-${base}-${fingerprint.slice(0, 12)}`,
      dim,
      session,
      tokenizer,
      padId,
      maxLength,
      options.batchSize ?? 128,
    );
  }

  /** Token ids of a text as the model sees them ([CLS] … [SEP] for BERT-style models), truncated. */
  tokenize(text: string): number[] {
    const ids = this.tokenizer.encode(text).ids;
    if (ids.length <= this.maxLength) return ids;
    // Keep the closing special token, as truncating before the template is applied would.
    return [...ids.slice(0, this.maxLength - 1), ids[ids.length - 1]];
  }

  async embed(texts: string[]): Promise<Float32Array> {
    const out = new Float32Array(texts.length * this.dim);
    for (let start = 0; start < texts.length; start += this.batchSize) {
      const batch = texts.slice(start, start + this.batchSize);
      const { vectors, dim } = await this.run(batch);
      if (dim !== this.dim) throw new Error(`${this.name}: model returned ${dim}-d vectors, expected ${this.dim}`);
      out.set(vectors, start * this.dim);
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  private async run(texts: string[]): Promise<{ vectors: Float32Array; dim: number }> {
    const encoded = texts.map((t) => this.tokenize(t));
    const seq = Math.max(1, ...encoded.map((ids) => ids.length));
    const n = texts.length;
    const ids = new BigInt64Array(n * seq).fill(BigInt(this.padId));
    const mask = new BigInt64Array(n * seq);
    encoded.forEach((row, i) => {
      row.forEach((id, j) => {
        ids[i * seq + j] = BigInt(id);
        mask[i * seq + j] = 1n;
      });
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [n, seq]),
      attention_mask: new ort.Tensor('int64', mask, [n, seq]),
    };
    if (this.session.inputNames.includes('token_type_ids')) {
      feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(n * seq), [n, seq]);
    }
    const outputs = await this.session.run(feeds);
    const name = ['last_hidden_state', 'token_embeddings'].find((o) => o in outputs) ?? this.session.outputNames[0];
    const hidden = outputs[name];
    const data = hidden.data as Float32Array;
    if (hidden.dims.length === 2)
      return { vectors: normaliseRows(Float32Array.from(data), hidden.dims[1]), dim: hidden.dims[1] };
    if (hidden.dims.length !== 3 || hidden.dims[0] !== n || hidden.dims[1] !== seq) {
      throw new Error(
        `${this.name}: output ${name} has shape [${hidden.dims.join(', ')}], expected [${n}, ${seq}, dim]`,
      );
    }
    const dim = hidden.dims[2];
    return { vectors: normaliseRows(meanPool(data, encoded, seq, dim), dim), dim };
  }
}

/** Mean of each text's token vectors over its real (unpadded) tokens. */
export function meanPool(hidden: Float32Array, encoded: number[][], seq: number, dim: number): Float32Array {
  const out = new Float32Array(encoded.length * dim);
  encoded.forEach((row, i) => {
    const sum = new Float64Array(dim);
    for (let j = 0; j < row.length; j++) {
      const base = (i * seq + j) * dim;
      for (let d = 0; d < dim; d++) sum[d] += hidden[base + d];
    }
    const count = Math.max(1, row.length);
    for (let d = 0; d < dim; d++) out[i * dim + d] = sum[d] / count;
  });
  return out;
}

/** L2-normalises each row in place (a zero row stays zero). */
export function normaliseRows(vectors: Float32Array, dim: number): Float32Array {
  for (let base = 0; base < vectors.length; base += dim) {
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += vectors[base + d] * vectors[base + d];
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let d = 0; d < dim; d++) vectors[base + d] *= inv;
  }
  return vectors;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${(error as Error).message}); ${DOWNLOAD_HINT}`, { cause: error });
  }
}

/** sentence-transformers' own limit when the folder has one, else the tokenizer's, capped at 512. */
function modelMaxLength(dir: string, tokenizerConfig: Record<string, unknown>): number {
  const sbert = path.join(dir, 'sentence_bert_config.json');
  if (existsSync(sbert)) {
    const value = (readJson(sbert) as { max_seq_length?: unknown }).max_seq_length;
    if (typeof value === 'number' && value > 0) return value;
  }
  const limit = tokenizerConfig.model_max_length;
  return typeof limit === 'number' && limit > 0 && limit <= 512 ? limit : 512;
}

/** Content hash of the files, so a changed model gets its own embedding cache. */
async function sha256Files(files: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    hash.update('\0');
  }
  return hash.digest('hex');
}
