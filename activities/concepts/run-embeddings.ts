import { Context } from '@temporalio/activity';
import type { RunConfig } from '../../lib/config';
import { GloveTextEncoder, type TextEncoder } from './encoder';
import { ensureCombinedEmbeddings, ensureExtendedEmbeddings, type ConceptEmbeddingsInfo } from './embeddings-cache';
import { OnnxTextEncoder } from './onnx-encoder';
import { TaxonomyEncoder } from './taxonomy';
import { wordnetGloss } from './vocabulary';

const onnxEncoders = new Map<string, Promise<OnnxTextEncoder>>();

/** The run's text encoder; an ONNX model is loaded once per process and folder. */
export async function textEncoderFor(config: RunConfig['textEncoder']): Promise<TextEncoder> {
  if (config.kind === 'glove') return new GloveTextEncoder({ fallbackText: (lemma) => wordnetGloss(lemma) });
  if (!config.path) throw new Error("textEncoder.kind 'onnx' needs textEncoder.path");
  let pending = onnxEncoders.get(config.path);
  if (!pending) {
    pending = OnnxTextEncoder.load(config.path);
    // A folder fixed after a failed load must be tried again.
    pending.catch(() => onnxEncoders.delete(config.path as string));
    onnxEncoders.set(config.path, pending);
  }
  return pending;
}

/**
 * Features of every concept of a vocabulary (row = concept id: the WordNet nouns first, `wordnetCount` of
 * them, then the concepts runs added, appended) the GP regresses on: the run config's text encoder's
 * embeddings combined with the WordNet taxonomy features by `concepts.taxonomyWeight`
 * (activities/concepts/taxonomy.ts). Each part and the combination are cached under `.state/concepts`.
 * Beats the activity's heartbeat while a slow encoder works. The update stage passes the run's vocabulary
 * (run-concepts.ts `loadRunVocabulary`), tools without a run the WordNet one (bench/learning/proxy.ts).
 */
export async function ensureConceptFeatures(
  vocabulary: { names: string[]; wordnetCount: number },
  config: Pick<RunConfig, 'textEncoder' | 'concepts'>,
  options: { dir?: string } = {},
): Promise<ConceptEmbeddingsInfo> {
  const encoder = await textEncoderFor(config.textEncoder);
  const common = {
    dir: options.dir,
    vocabulary: vocabulary.names,
    baseCount: vocabulary.wordnetCount,
    onProgress: (done: number, total: number) => heartbeat({ embedded: done, of: total }),
  };
  const text = await ensureExtendedEmbeddings({
    ...common,
    encoder,
    chunkSize: config.textEncoder.kind === 'onnx' ? 1024 : 8192,
  });
  const setting = config.concepts.taxonomyWeight;
  if (setting === 0) return text;
  // 'fit': the parts side by side at equal weight, each weighed by the GP's marginal likelihood.
  const weight = setting === 'fit' ? 0.5 : setting;
  const taxonomy = await ensureExtendedEmbeddings({ ...common, encoder: new TaxonomyEncoder(), chunkSize: 8192 });
  const combined = await ensureCombinedEmbeddings({
    parts: [
      { info: text, weight: 1 - weight },
      { info: taxonomy, weight },
    ],
    vocabulary: vocabulary.names,
    baseCount: vocabulary.wordnetCount,
    dir: options.dir,
  });
  return setting === 'fit' ? { ...combined, blocks: [text.dim, taxonomy.dim] } : combined;
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // outside an activity
  }
}
