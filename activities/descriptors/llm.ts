import axios, { type AxiosResponse } from 'axios';
import { parseRetryAfter } from '../search/http';
import { dedupe } from './wordnet';
import { setTimeout as sleep } from 'node:timers/promises';

/** The worker's environment variable holding the API key (never the run config, histories or logs). */
export const LLM_API_KEY_ENV = 'IE_LLM_API_KEY';

export interface LlmEndpoint {
  /** API root; requests go to `{baseUrl}/chat/completions`. */
  baseUrl: string;
  model: string;
  /** Sent as `Authorization: Bearer …` when set (Ollama and most vLLM servers need none). */
  apiKey?: string;
  temperature: number;
  timeoutMs: number;
  /** Retries of a 429, 5xx, timeout or network error. */
  maxRetries: number;
  /** First backoff when the server gives no Retry-After; doubled per retry. */
  retryBaseMs?: number;
  /** A Retry-After longer than this is not waited for: the request fails (the concept falls back). */
  maxRetryWaitMs?: number;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A chat-completions request that failed for good. */
export class LlmError extends Error {
  override readonly name = 'LlmError';
  constructor(
    message: string,
    /** The HTTP status, when the server answered. */
    readonly status?: number,
    /** The key was refused (401/403): every later request would fail the same way. */
    readonly authFailed = false,
  ) {
    super(message);
  }
}

/** The OpenAI error body: {"error": {"message", "type", "code"}} (vLLM and Ollama answer the same shape). */
function errorDetail(data: unknown): string {
  if (typeof data === 'string') return data.slice(0, 300);
  const error = (data as { error?: unknown } | null)?.error;
  if (typeof error === 'string') return error;
  if (error && typeof error === 'object') {
    const { message, type, code } = error as { message?: unknown; type?: unknown; code?: unknown };
    const tags = [type, code].filter((t) => typeof t === 'string' || typeof t === 'number').join(', ');
    return `${typeof message === 'string' ? message : 'error'}${tags ? ` (${tags})` : ''}`;
  }
  return '';
}

/**
 * One chat completion: POST {baseUrl}/chat/completions with the OpenAI request shape, returning
 * `choices[0].message.content`. 429 (honouring Retry-After), 5xx, timeouts and network errors are retried;
 * 401/403 and other 4xx fail at once with the server's own error message. The key never appears in errors.
 */
export async function chatCompletion(
  endpoint: LlmEndpoint,
  messages: ChatMessage[],
  signal?: AbortSignal,
): Promise<string> {
  const url = `${endpoint.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const what = `chat completion at ${url} (model ${endpoint.model})`;
  const redact = (text: string): string =>
    endpoint.apiKey && endpoint.apiKey.length >= 4 ? text.split(endpoint.apiKey).join('***') : text;
  const retryBase = endpoint.retryBaseMs ?? 500;
  const maxWait = endpoint.maxRetryWaitMs ?? 60_000;
  for (let attempt = 0; ; attempt++) {
    let res: AxiosResponse;
    try {
      res = await axios.post(
        url,
        { model: endpoint.model, messages, temperature: endpoint.temperature, n: 1, stream: false },
        {
          timeout: endpoint.timeoutMs,
          validateStatus: () => true,
          signal,
          headers: {
            'Content-Type': 'application/json',
            ...(endpoint.apiKey ? { Authorization: `Bearer ${endpoint.apiKey}` } : {}),
          },
        },
      );
    } catch (error) {
      if (signal?.aborted) throw new LlmError(`${what} aborted`);
      const reason = redact((error as Error).message);
      if (attempt < endpoint.maxRetries) {
        await sleep(retryBase * 2 ** attempt, undefined, { signal });
        continue;
      }
      throw new LlmError(`${what} failed: ${reason} (after ${attempt + 1} attempts)`);
    }
    if (res.status >= 200 && res.status < 300) {
      const content = (res.data as { choices?: { message?: { content?: unknown } }[] } | null)?.choices?.[0]?.message
        ?.content;
      if (typeof content !== 'string') {
        throw new LlmError(`${what}: the response has no choices[0].message.content`, res.status);
      }
      return content;
    }
    const detail = redact(errorDetail(res.data)) || 'no error message';
    if (res.status === 401 || res.status === 403) {
      throw new LlmError(
        `${what} refused the API key: HTTP ${res.status}: ${detail}; set ${LLM_API_KEY_ENV} in the worker's environment`,
        res.status,
        true,
      );
    }
    const retryable = res.status === 429 || res.status === 408 || res.status >= 500;
    if (!retryable) throw new LlmError(`${what} failed: HTTP ${res.status}: ${detail}`, res.status);
    const header = res.headers['retry-after'];
    const retryAfter = parseRetryAfter(typeof header === 'string' ? header : undefined);
    if (retryAfter !== undefined && retryAfter > maxWait) {
      throw new LlmError(
        `${what} failed: HTTP ${res.status}: ${detail}; the server asks to wait ${Math.round(retryAfter / 1000)} s`,
        res.status,
      );
    }
    if (attempt >= endpoint.maxRetries) {
      throw new LlmError(`${what} failed: HTTP ${res.status}: ${detail} (after ${attempt + 1} attempts)`, res.status);
    }
    await sleep(retryAfter ?? retryBase * 2 ** attempt, undefined, { signal });
  }
}

/** The request for a concept's descriptors: short, visual, as a JSON list. */
export function descriptorMessages(concept: string, max: number, gloss?: string): ChatMessage[] {
  const meaning = gloss ? ` (meaning: ${gloss})` : '';
  return [
    {
      role: 'system',
      content: 'You help build image search queries. Answer with a JSON array of strings and nothing else.',
    },
    {
      role: 'user',
      content:
        `List up to ${max} short visual descriptors of "${concept}"${meaning}: how one looks in a photo ` +
        '(appearance, colour, typical setting or pose), 1 to 5 words each, without the name itself. ' +
        'Example for "golden retriever": ["fluffy golden coat", "puppy", "swimming in a lake"].',
    },
  ];
}

/** Longest descriptor kept: queries stay short and visual. */
const MAX_DESCRIPTOR_WORDS = 8;
const MAX_DESCRIPTOR_CHARS = 80;

/**
 * Descriptors from a model's answer: a JSON array (possibly in a ```json fence, or an object holding one),
 * or failing that one per line (bullets, numbers and quotes stripped). Each is trimmed of trailing
 * punctuation; too long, empty, repeated or concept-equal ones are dropped; at most `max` are kept.
 */
export function parseDescriptors(content: string, concept: string, max: number): string[] {
  const text = content
    .trim()
    .replace(/^```[a-z]*\s*/i, '')
    .replace(/```$/, '')
    .trim();
  let items: unknown[] | undefined;
  const json = text.match(/\[[\s\S]*\]|\{[\s\S]*\}/)?.[0];
  if (json) {
    try {
      const parsed: unknown = JSON.parse(json);
      if (Array.isArray(parsed)) items = parsed;
      else if (parsed && typeof parsed === 'object') items = Object.values(parsed).find((v) => Array.isArray(v));
    } catch {
      items = undefined; // not JSON after all: read it as lines
    }
  }
  const raw = items ?? text.split(/\r?\n/);
  const cleaned = raw
    .filter((item): item is string => typeof item === 'string')
    .map((item) =>
      item
        .replace(/^\s*(?:[-*•]|\d+[.)])\s*/, '')
        .replace(/^["'“”]+|["'“”,.;:!]+$/g, '')
        .replace(/\s+/g, ' ')
        .trim(),
    )
    .filter((d) => d.length > 0 && d.length <= MAX_DESCRIPTOR_CHARS && d.split(' ').length <= MAX_DESCRIPTOR_WORDS);
  return dedupe(cleaned, concept).slice(0, max);
}
