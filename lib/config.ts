import { z } from 'zod';
import { BadInputError } from './errors';

export const SEARCH_PROVIDERS = ['local', 'openverse', 'wikimedia', 'flickr', 'brave'] as const;

/** Options of one search provider; every key optional, defaults per provider (activities/search/providers.ts). */
const searchProviderOptions = z
  .strictObject({
    /** The API's root URL (tests and proxies); default: the provider's public API. */
    baseUrl: z.url().optional(),
    /** Request rate of this worker to the provider (token bucket). */
    requestsPerSecond: z.number().positive().max(1000).optional(),
    /** Requests per UTC day this worker may make; the search fails with QuotaExhaustedError beyond. */
    dailyQuota: z.number().int().min(1).optional(),
    /** Retries of a 429, 5xx or network error. */
    maxRetries: z.number().int().min(0).max(10).optional(),
    /** Wikimedia only: contactable User-Agent; default: the worker's IE_WIKIMEDIA_USER_AGENT. */
    userAgent: z.string().min(1).optional(),
  })
  .optional();

/**
 * A run's configuration. Every key has a default except `target`; unknown keys are errors (a misspelt
 * key must not silently fall back to a default). The effective config is stored with the run.
 */
const runConfigObject = z.strictObject({
  target: z.string().min(1, 'target must be a folder of images'),
  mode: z.enum(['explore', 'random']).default('explore'),
  iterations: z.number().int().min(1).max(1000).default(5),
  /**
   * The paper's Q ≈ 256. Fewer starves the GP: on the local engine about two thirds of uniformly drawn
   * WordNet nouns find no image, so 64 queries leave ~20 informative concept rewards per iteration.
   */
  queriesPerIteration: z.number().int().min(1).max(2000).default(256),
  resultsPerQuery: z.number().int().min(1).max(1000).default(50),
  seed: z.number().int().default(0),
  /** Words added to each query for visual diversity (the reward still goes to the concept): none, WordNet, or an LLM. */
  descriptors: z.enum(['none', 'wordnet', 'llm']).default('none'),
  /**
   * The OpenAI-compatible chat-completions endpoint for `descriptors: 'llm'` (OpenAI, vLLM, Ollama). The API
   * key comes from the worker's IE_LLM_API_KEY, never from the config.
   */
  llm: z
    .strictObject({
      /** Root of the API, e.g. https://api.openai.com/v1 or http://localhost:11434/v1 ({baseUrl}/chat/completions). */
      baseUrl: z.url().optional(),
      model: z.string().min(1).optional(),
      temperature: z.number().min(0).max(2).default(0.7),
      /** Descriptors asked per concept; each query uses one of them. */
      maxDescriptors: z.number().int().min(1).max(20).default(5),
      /** Per request. */
      timeoutMs: z.number().int().min(100).default(30_000),
      /** Retries of a 429, 5xx or network error before the concept falls back to WordNet descriptors. */
      maxRetries: z.number().int().min(0).max(10).default(2),
      /** Requests in flight at once. */
      concurrency: z.number().int().min(1).max(64).default(4),
    })
    .prefault({}),
  /** Concepts of this run beyond the WordNet nouns: the target's class names (the label-set variant). */
  concepts: z
    .strictObject({
      classNames: z.array(z.string().trim().min(1, 'a class name must not be empty').max(200)).max(10_000).default([]),
      /** Query each of the run's own concepts once as soon as it is known, before drawing the rest from p(c). */
      queryFirst: z.boolean().default(true),
      /**
       * Share of the GP's squared distance between two concepts that comes from their place in WordNet's
       * taxonomy (activities/concepts/taxonomy.ts), the rest from the text embedding: the kernel becomes a
       * product of a taxonomy and a text kernel, so evidence for one coat raises other coats rather than
       * "coat of paint" or every name sharing a word. 0: the text embedding alone. It pays off together with
       * `gp.emptyConcepts` 'ignore' (docs/method.md, docs/benchmarks.md). 'fit': the GP gives each part its
       * own length scale and fits both by marginal likelihood every update, so the run's own rewards decide.
       */
      taxonomyWeight: z.union([z.number().min(0).lt(1), z.literal('fit')]).default(0.5),
      /**
       * How the distribution counts named individuals (WordNet instances: rivers, lakes, cities, people).
       * `each`: every name is a concept of its own. `byClass`: the names of one class (352 rivers) share one
       * point of the distribution, as names on one embedding do (activities/concepts/class-groups.ts). Under
       * the calibrated τ the best-predicted names of a class still lead, and in benchmarks it did not raise
       * explore's precision (docs/benchmarks.md), so it is not the default.
       */
      instances: z.enum(['each', 'byClass']).default('each'),
      /**
       * How the distribution counts taxonomic groups ("family Hirundinidae", "genus Canis"): `each` name on
       * its own, or `byClass`, the taxa of one class (747 bird genera) sharing one point
       * (activities/concepts/class-groups.ts).
       */
      taxa: z.enum(['each', 'byClass']).default('each'),
    })
    .prefault({}),
  /** The text encoder behind the concept embeddings the GP regresses on. */
  textEncoder: z
    .strictObject({
      /** glove: offline 100-d word vectors; onnx: a sentence-transformers model exported to ONNX (e.g. MiniLM). */
      kind: z.enum(['glove', 'onnx']).default('glove'),
      /** onnx: a local folder with tokenizer.json, tokenizer_config.json and model.onnx (or onnx/model.onnx). */
      path: z.string().min(1).optional(),
    })
    .refine((t) => t.kind !== 'onnx' || t.path !== undefined, {
      message: "textEncoder.kind 'onnx' needs textEncoder.path: a local folder holding the exported model",
      path: ['path'],
    })
    .prefault({}),
  /**
   * The GP over the concepts (trainer/ietrainer/gp.py): exact up to `exactLimit` distinct observed concepts,
   * above it a sparse GP with `inducingPoints` inducing points, whose cost is linear in the observed concepts
   * (at most the vocabulary) instead of cubic: 75,000 observed concepts take ~13 s and 0.4 GB on 2 cores.
   */
  gp: z
    .strictObject({
      exactLimit: z.number().int().min(2).max(20_000).default(4000),
      /**
       * What the GP learns from a concept whose queries found no image. `ignore` (the default): nothing; it
       * is not an observation, and without descriptors it is never drawn again anyway. `lowest` (the
       * paper's rule): it is fitted at the lowest reward observed. On a search engine where many queries
       * find nothing, `lowest` makes finding anything the largest contrast the GP sees, and exploration
       * drifts after names that match many pages ("family X", "genus X") rather than relevant ones
       * (docs/method.md, docs/benchmarks.md). `discount`: as `ignore` for the rewards, and a second GP
       * learns from every queried concept whether it found anything; each concept's probability is then
       * weighted by its predicted chance of finding images, so fewer queries go to names nothing answers.
       */
      emptyConcepts: z.enum(['ignore', 'lowest', 'discount']).default('ignore'),
      inducingPoints: z.number().int().min(2).max(20_000).default(2000),
    })
    .refine((gp) => gp.inducingPoints <= gp.exactLimit, {
      message: 'gp.inducingPoints must not exceed gp.exactLimit (the sparse GP takes over above it)',
      path: ['inducingPoints'],
    })
    .prefault({}),
  temperature: z
    .strictObject({
      /** τ is chosen so that the `topK` best-predicted concepts hold `topMass` of the probability. */
      topK: z.number().int().min(1).default(250),
      topMass: z.number().gt(0).lt(1).default(0.5),
      /** A fixed τ instead of the calibrated one. */
      fixed: z.number().positive().optional(),
    })
    .prefault({}),
  search: z
    .strictObject({
      provider: z.enum(SEARCH_PROVIDERS).default('local'),
      /** Base URL of the local engine (or of `provider`'s API); default: IE_ENGINE_URL / the API's own. */
      baseUrl: z.url().optional(),
      /** Several providers per run, combined as `combine` says; `provider` must then be one of them or unset. */
      providers: z
        .array(z.enum(SEARCH_PROVIDERS))
        .min(1)
        .refine((list) => new Set(list).size === list.length, 'each provider may be listed once')
        .optional(),
      /** round-robin: query i goes to provider i mod n; split: each query's results are divided across them. */
      combine: z.enum(['round-robin', 'split']).default('round-robin'),
      /** Per-provider options (API keys and tokens never go here: they come from the worker's environment). */
      local: searchProviderOptions,
      openverse: searchProviderOptions,
      wikimedia: searchProviderOptions,
      flickr: searchProviderOptions,
      brave: searchProviderOptions,
    })
    .refine((s) => !s.providers || s.provider === 'local' || s.providers.includes(s.provider), {
      message: 'search.provider must be one of search.providers when both are given',
      path: ['provider'],
    })
    .prefault({}),
  download: z
    .strictObject({
      /** Requests in flight at once, over all hosts, per download activity (one per io worker at a time). */
      concurrency: z.number().int().min(1).max(256).default(16),
      /**
       * Shard activities an iteration's downloads are split into (on queue ie-download), which any io worker
       * takes, one at a time each: adding io hosts adds fetch slots. A host's URLs stay in one shard, so its
       * per-host limits hold; the run's own engine (exempt from them) is spread over all. 1: one activity.
       */
      shards: z.number().int().min(1).max(256).default(1),
      /** Requests in flight at once to one host (host:port). */
      perHostConcurrency: z.number().int().min(1).max(256).default(4),
      /** Requests started per second to one host; 0 = unlimited. The run's own local engine is exempt. */
      perHostRps: z.number().min(0).default(10),
      /** Total time for one request, headers and body. */
      timeoutMs: z.number().int().min(100).default(10_000),
      /** Time to establish the TCP (and TLS) connection. */
      connectTimeoutMs: z.number().int().min(100).default(5_000),
      /** The body is aborted once it passes this many bytes. */
      maxBytes: z
        .number()
        .int()
        .min(1024)
        .default(20 * 1024 * 1024),
      maxRedirects: z.number().int().min(0).max(20).default(5),
      /** Extra attempts for retryable failures (timeouts, network errors, 408, 429, 5xx). */
      retries: z.number().int().min(0).max(10).default(2),
      /** First backoff; doubled on each retry (with jitter). */
      backoffMs: z.number().int().min(0).default(500),
      /** A Retry-After longer than this is not waited for: the URL is left as a retryable failure. */
      maxRetryAfterMs: z.number().int().min(0).default(30_000),
      /** Stage runs (iterations or retries) a URL with a retryable failure is attempted before it is given up. */
      maxAttempts: z.number().int().min(1).default(3),
      /** Stored images are bounded to this many pixels on their longer side. */
      maxSide: z.number().int().min(16).max(4096).default(256),
      /** Refused (too_many_pixels) from the header, before decoding: decompression bombs. */
      maxPixels: z.number().int().min(1).default(64_000_000),
      /** Refused (too_small) when the shorter side of the source is below this. */
      minSide: z.number().int().min(1).default(32),
      /** Refused (bad_aspect_ratio) when longer side / shorter side exceeds this. */
      maxAspectRatio: z.number().min(1).default(4),
      /** Skip (opted_out) responses whose X-Robots-Tag says noai, noimageai, noindex or noimageindex. */
      respectRobotsTag: z.boolean().default(true),
      /** Sent with every request; should name the crawler and a contact. Default: $IE_USER_AGENT or the project's. */
      userAgent: z.string().min(1).optional(),
      /**
       * host:port pairs (or bare hosts, any port) exempt from the private-address guard. The local
       * search engine's host is added automatically.
       */
      allowHosts: z.array(z.string().min(1)).default([]),
      /** Downloads whose perceptual hash is within this Hamming distance of a target image are excluded. */
      nearDuplicateDistance: z.number().int().min(0).max(64).default(5),
      /** Also write each iteration's kept images as webdataset tar shards (`<key>.jpg` + `<key>.json`). */
      writeShards: z.boolean().default(false),
      /** Samples per shard. */
      shardSize: z.number().int().min(1).default(1000),
      /** Where shards go, as `<shardsDir>/<runId>/iter-<nnn>/<nnnnn>.tar`; default: the state folder's shards/. */
      shardsDir: z.string().min(1).optional(),
    })
    .prefault({}),
  train: z
    .strictObject({
      preset: z.enum(['cpu-small', 'gpu-r50']).default('cpu-small'),
      /**
       * Training steps per iteration: about two passes over an iteration's new images at the cpu-small batch
       * (256 queries find ~2–3k images; 50 steps × the batch's ~85 non-target samples), continuing from the
       * previous iteration's weights rather than training to convergence each time. The reward is only as
       * good as this encoder: more steps per iteration sharpen it, at proportionally longer iterations.
       */
      steps: z.number().int().min(1).default(50),
      batchSize: z.number().int().min(4).optional(),
      /** Base learning rate of the cosine schedule; default: the preset's (cpu-small 1e-3, gpu-r50 3e-4). */
      lr: z.number().positive().optional(),
      checkpointEvery: z.number().int().min(1).default(20),
      /**
       * Disk retention (activities/train/retention.ts): the newest `keepIterations` iterations keep their
       * final checkpoint and encoder, older ones lose them (every `keepEvery`-th is kept as a milestone; 0:
       * none), so the disk a run uses for them stays flat (~0.5 GB a checkpoint for gpu-r50).
       */
      keepIterations: z.number().int().min(1).default(2),
      keepEvery: z.number().int().min(0).default(0),
      device: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
      /** Python interpreter with PyTorch; default: the worker's IE_PYTHON or /usr/bin/python3. */
      python: z.string().optional(),
      /**
       * Weights to start iteration 0 from: 'base' (the project's pretrained starting encoder for the preset,
       * `ie pretrain`), 'none' (random weights), or a file: an official MoCo v3 checkpoint, a torchvision
       * ResNet state dict, or one of ours. Its backbone must match the preset (gpu-r50: ResNet-50). The run
       * stores the file it resolved to.
       */
      initCheckpoint: z.string().min(1).default('base'),
    })
    .prefault({}),
  score: z
    .strictObject({
      k: z.number().int().min(1).default(15),
      /**
       * similarity: the paper's Eq. 1, mean cosine similarity to the k nearest target images.
       * web-relative: that minus the mean similarity to the k nearest images of the run's web sample
       * (iteration 0's uniformly drawn downloads), so images typical of everything (hubs of an encoder
       * early in training) stop scoring high; measured on pets with a 30-step encoder, it moved the 9 pet
       * classes' mean-reward ranks among 200 corpus classes from 3–147 to 9–77.
       */
      reward: z.enum(['similarity', 'web-relative']).default('web-relative'),
      replayQuantile: z.number().min(0).max(1).default(0.5),
      /**
       * The replay buffer's size: a uniform sample of every image admitted so far. Half of ~25k downloads is
       * admitted each iteration at the paper's shape, so 50,000 holds the last few iterations' worth, spread
       * over the whole run (a 40-hour run admits ~2 M).
       */
      replayCap: z.number().int().min(1).default(50_000),
      /**
       * Images of iteration 0 (uniformly drawn concepts) that stand for the web in the web-relative reward,
       * a deterministic sample re-embedded each iteration.
       */
      webSample: z.number().int().min(2).default(4096),
      /**
       * What each iteration rescores of the run's earlier evidence with its encoder (activities/score/evidence.ts):
       * at most `imagesPerConcept` sampled images of each concept, for the `bestConcepts` best concepts so far
       * and the `staleConcepts` longest unscored; at most (256 + 1024 + 1024) × 10 ≈ 23k images an iteration.
       */
      evidence: z
        .strictObject({
          imagesPerConcept: z.number().int().min(1).default(10),
          bestConcepts: z.number().int().min(0).default(1024),
          staleConcepts: z.number().int().min(0).default(1024),
        })
        .prefault({}),
      batchSize: z.number().int().min(1).default(256),
    })
    .prefault({}),
  evaluate: z
    .strictObject({
      /** Neighbours of the kNN classifier (cosine, similarity-weighted votes). */
      k: z.number().int().min(1).default(20),
      /** Share of each class held out as the fixed test split (chosen by image hash, not run order). */
      testFraction: z.number().gt(0).lt(1).default(0.3),
    })
    .prefault({}),
});

/** Checks across keys; refinements keep the object schema, so unknown-key messages still list its keys. */
export const runConfigSchema = runConfigObject.superRefine((config, ctx) => {
  if (config.descriptors !== 'llm') return;
  for (const key of ['baseUrl', 'model'] as const) {
    if (config.llm[key] === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['llm', key],
        message: `descriptors 'llm' needs llm.${key} (e.g. llm: { baseUrl: 'http://localhost:11434/v1', model: 'llama3.2' })`,
      });
    }
  }
});

export type RunConfigInput = z.input<typeof runConfigSchema>;
export type RunConfig = z.output<typeof runConfigSchema>;

export class ConfigError extends BadInputError {
  override readonly name = 'ConfigError';
}

/** Parses a run config, turning zod's issues into one message that names each bad key and what is allowed. */
export function parseRunConfig(input: unknown): RunConfig {
  const result = runConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const where = issue.path.length ? issue.path.join('.') : '(config)';
    if (issue.code === 'unrecognized_keys') {
      const prefix = issue.path.length ? `${issue.path.join('.')}.` : '';
      return `unknown key ${issue.keys.map((k) => `'${prefix}${k}'`).join(', ')}: allowed keys are ${allowedKeys(issue.path).join(', ')}`;
    }
    return `${where}: ${issue.message}`;
  });
  throw new ConfigError(`invalid run config:\n  - ${lines.join('\n  - ')}`);
}

function allowedKeys(path: PropertyKey[]): string[] {
  let schema: z.ZodType = runConfigSchema;
  for (const key of path) {
    const shape = objectShape(schema);
    if (!shape || typeof key !== 'string' || !(key in shape)) return [];
    schema = shape[key];
  }
  return Object.keys(objectShape(schema) ?? {});
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let s: z.ZodType = schema;
  // unwrap defaults/optionals/prefaults to reach the object
  for (let i = 0; i < 5; i++) {
    if (s instanceof z.ZodObject) return s.shape as Record<string, z.ZodType>;
    const inner = (s as unknown as { def?: { innerType?: z.ZodType } }).def?.innerType;
    if (!inner) return undefined;
    s = inner;
  }
  return undefined;
}
