import { Context } from '@temporalio/activity';
import type { RunConfig } from '../../lib/config';
import { GloveTextEncoder, type TextEncoder } from './encoder';
import { ensureExtendedEmbeddings, type ConceptEmbeddingsInfo } from './embeddings-cache';
import { OnnxTextEncoder } from './onnx-encoder';
import { loadRunVocabulary } from './run-concepts';
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
 * Embeddings of every concept (row = concept id) with the run's text encoder: the cached WordNet matrix
 * plus the concepts runs added, appended. Beats the activity's heartbeat while a slow encoder works.
 */
export async function ensureRunConceptEmbeddings(
  runId: string,
  config: RunConfig,
  options: { dir?: string } = {},
): Promise<ConceptEmbeddingsInfo> {
  const vocabulary = await loadRunVocabulary(runId);
  const encoder = await textEncoderFor(config.textEncoder);
  return ensureExtendedEmbeddings({
    dir: options.dir,
    encoder,
    vocabulary: vocabulary.names,
    baseCount: vocabulary.wordnetCount,
    chunkSize: config.textEncoder.kind === 'onnx' ? 1024 : 8192,
    onProgress: (done, total) => heartbeat({ embedded: done, of: total }),
  });
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // outside an activity
  }
}
