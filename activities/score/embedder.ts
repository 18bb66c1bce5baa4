import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import pLimit from 'p-limit';
import { z } from 'zod';
import { fileChecksum, HandoverFileError } from '../../lib/files';
import { preprocessImage, type ImageTransform } from './preprocess';

/** `<model>.json` written next to the trainer's ONNX export. */
const EncoderSidecar = z.object({
  imageSize: z.number().int().positive(),
  /** Optional shorter-side resize before the centre crop (e.g. 256 for a 224 crop). */
  resize: z.number().int().positive().optional(),
  mean: z.array(z.number()).length(3),
  std: z.array(z.number().positive()).length(3),
  dim: z.number().int().positive(),
  /** Graph input/output names; default to `input` / `embedding`. */
  input: z.string().optional(),
  output: z.string().optional(),
  /** The model file the sidecar describes (the trainer's exports record it; older ones do not). */
  onnx: z.object({ bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
});
export type EncoderSidecar = z.infer<typeof EncoderSidecar>;

export interface OnnxImageEmbedderOptions {
  /** ORT intra-op threads; defaults to the number of cores. */
  intraOpNumThreads?: number;
  /** Images decoded at once; defaults to the number of cores. */
  decodeConcurrency?: number;
}

export interface EmbedFilesOptions {
  /** Images per ORT run (default 64). */
  batchSize?: number;
  /** Called after each batch with the number of images embedded so far. */
  onBatch?(done: number): void;
}

/**
 * Image encoder exported by the trainer (`input` [batch, 3, H, W] → `embedding` [batch, D]),
 * run with onnxruntime on CPU. One session serves every call; the next batch is decoded while
 * the current one runs.
 */
export class OnnxImageEmbedder {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly transform: ImageTransform,
    readonly dim: number,
    private readonly inputName: string,
    private readonly outputName: string,
    private readonly decodeConcurrency: number,
  ) {}

  /** Loads `modelPath` and its `modelPath.json` sidecar. */
  static async load(modelPath: string, options: OnnxImageEmbedderOptions = {}): Promise<OnnxImageEmbedder> {
    const sidecarPath = `${modelPath}.json`;
    let sidecar: EncoderSidecar;
    try {
      sidecar = EncoderSidecar.parse(JSON.parse(await readFile(sidecarPath, 'utf8')));
    } catch (error) {
      throw new Error(`invalid encoder sidecar ${sidecarPath}: ${(error as Error).message}`, { cause: error });
    }
    if (sidecar.onnx) {
      const found = await fileChecksum(modelPath);
      if (found.bytes !== sidecar.onnx.bytes || found.sha256 !== sidecar.onnx.sha256)
        throw new HandoverFileError(
          modelPath,
          `${modelPath} is not the model its sidecar ${sidecarPath} describes (${found.bytes} bytes, sha256 ` +
            `${found.sha256.slice(0, 12)}…; the sidecar says ${sidecar.onnx.bytes} bytes, ${sidecar.onnx.sha256.slice(0, 12)}…): ` +
            'torn, or the model and the sidecar of two different exports; the training that writes them must run again',
        );
    }
    const cores = availableParallelism();
    const session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: options.intraOpNumThreads ?? cores,
      graphOptimizationLevel: 'all',
    });
    const inputName = sidecar.input ?? 'input';
    const outputName = sidecar.output ?? 'embedding';
    if (!session.inputNames.includes(inputName) || !session.outputNames.includes(outputName)) {
      await session.release();
      throw new Error(
        `${modelPath}: expected input '${inputName}' and output '${outputName}', ` +
          `model has [${session.inputNames.join(', ')}] → [${session.outputNames.join(', ')}]`,
      );
    }
    return new OnnxImageEmbedder(
      session,
      sidecar,
      sidecar.dim,
      inputName,
      outputName,
      options.decodeConcurrency ?? cores,
    );
  }

  /** Embeds image files; returns row-major [paths.length, dim] with L2-normalised rows. */
  async embedFiles(paths: string[], options: EmbedFilesOptions = {}): Promise<Float32Array> {
    const batchSize = options.batchSize ?? 64;
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`batchSize must be ≥ 1, got ${batchSize}`);
    const out = new Float32Array(paths.length * this.dim);
    const limit = pLimit(this.decodeConcurrency);
    const decode = (start: number): Promise<Float32Array> => {
      const files = paths.slice(start, start + batchSize);
      const perImage = 3 * this.transform.imageSize * this.transform.imageSize;
      const batch = new Float32Array(files.length * perImage);
      return Promise.all(
        files.map((f, i) => limit(() => preprocessImage(f, this.transform, batch, i * perImage))),
      ).then(() => batch);
    };

    let next = paths.length > 0 ? decode(0) : undefined;
    for (let start = 0; start < paths.length; start += batchSize) {
      const batch = await next!;
      next = start + batchSize < paths.length ? decode(start + batchSize) : undefined;
      // Rejections of the prefetch surface at its own await; this only stops Node flagging it meanwhile.
      next?.catch(() => undefined);
      const count = batch.length / (3 * this.transform.imageSize * this.transform.imageSize);
      const embeddings = await this.run(batch, count);
      out.set(embeddings, start * this.dim);
      options.onBatch?.(start + count);
    }
    normaliseRows(out, this.dim);
    return out;
  }

  /** Releases the ORT session; the embedder is unusable afterwards. */
  async close(): Promise<void> {
    await this.session.release();
  }

  private async run(batch: Float32Array, count: number): Promise<Float32Array> {
    const size = this.transform.imageSize;
    const input = new ort.Tensor('float32', batch, [count, 3, size, size]);
    const result = await this.session.run({ [this.inputName]: input });
    const output = result[this.outputName];
    if (
      output.type !== 'float32' ||
      output.dims.length !== 2 ||
      output.dims[0] !== count ||
      output.dims[1] !== this.dim
    ) {
      throw new Error(
        `encoder output ${output.type} [${output.dims.join(', ')}], expected float32 [${count}, ${this.dim}]`,
      );
    }
    return output.data as Float32Array;
  }
}

function normaliseRows(rows: Float32Array, dim: number): void {
  for (let base = 0; base < rows.length; base += dim) {
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += rows[base + d] * rows[base + d];
    if (!(norm > 0)) continue; // leave an all-zero embedding as is rather than produce NaNs
    const inv = 1 / Math.sqrt(norm);
    for (let d = 0; d < dim; d++) rows[base + d] *= inv;
  }
}
