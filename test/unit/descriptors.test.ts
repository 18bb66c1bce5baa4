import {
  chatCompletion,
  descriptorMessages,
  parseDescriptors,
  type LlmEndpoint,
} from '../../activities/descriptors/llm';
import { pickDescriptor, queryText } from '../../activities/descriptors/descriptors';
import { wordnetDescriptors } from '../../activities/descriptors/wordnet';
import { askedConcept, startFakeChatCompletions, type FakeChatCompletions } from '../support/fake-chat-completions';

const KEY = 'sk-test-0123456789secret';

function endpoint(fake: FakeChatCompletions, overrides: Partial<LlmEndpoint> = {}): LlmEndpoint {
  return {
    baseUrl: fake.baseUrl,
    model: 'gpt-test-mini',
    apiKey: KEY,
    temperature: 0.2,
    timeoutMs: 5_000,
    maxRetries: 2,
    retryBaseMs: 10,
    ...overrides,
  };
}

describe('chatCompletion against a local server speaking the chat-completions API', () => {
  let fake: FakeChatCompletions | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  test('sends the OpenAI request shape and reads choices[0].message.content', async () => {
    fake = await startFakeChatCompletions(() => ({ content: '["fluffy golden coat", "puppy"]' }), { apiKey: KEY });
    const messages = descriptorMessages('golden retriever', 3, 'an English breed having a long silky golden coat');
    const content = await chatCompletion(endpoint(fake), messages);
    expect(content).toBe('["fluffy golden coat", "puppy"]');
    expect(fake.requests).toHaveLength(1);
    const [request] = fake.requests;
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.authorization).toBe(`Bearer ${KEY}`);
    expect(request.body).toMatchObject({ model: 'gpt-test-mini', temperature: 0.2, messages });
    expect(askedConcept(request)).toBe('golden retriever');
    expect(messages[1].content).toContain('long silky golden coat');
  });

  test('a trailing slash on the base URL and no key (Ollama, vLLM) are fine', async () => {
    fake = await startFakeChatCompletions(() => ({ content: 'ok' }));
    await expect(
      chatCompletion(endpoint(fake, { baseUrl: `${fake.baseUrl}/`, apiKey: undefined }), []),
    ).rejects.toThrow(/HTTP 400: 'model' and 'messages' are required properties \(invalid_request_error\)/);
    expect(await chatCompletion(endpoint(fake, { apiKey: undefined }), [{ role: 'user', content: 'hi' }])).toBe('ok');
    expect(fake.requests[1].authorization).toBeUndefined();
  });

  test('an error body is reported with its message, type and code, and not retried', async () => {
    fake = await startFakeChatCompletions(() => ({
      status: 404,
      error: {
        message: 'The model `gpt-test-mini` does not exist',
        type: 'invalid_request_error',
        code: 'model_not_found',
      },
    }));
    await expect(chatCompletion(endpoint(fake), [{ role: 'user', content: 'hi' }])).rejects.toThrow(
      /HTTP 404: The model `gpt-test-mini` does not exist \(invalid_request_error, model_not_found\)/,
    );
    expect(fake.requests).toHaveLength(1);
  });

  test('429 waits for Retry-After, then succeeds', async () => {
    fake = await startFakeChatCompletions((_req, i) =>
      i === 0
        ? {
            status: 429,
            error: { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' },
            headers: { 'Retry-After': '1' },
          }
        : { content: '["tiny"]' },
    );
    const started = Date.now();
    expect(await chatCompletion(endpoint(fake), [{ role: 'user', content: 'hi' }])).toBe('["tiny"]');
    expect(fake.requests).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  test('a Retry-After longer than allowed fails at once, saying how long the server asked', async () => {
    fake = await startFakeChatCompletions(() => ({
      status: 429,
      error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' },
      headers: { 'Retry-After': '3600' },
    }));
    await expect(
      chatCompletion(endpoint(fake, { maxRetryWaitMs: 5_000 }), [{ role: 'user', content: 'hi' }]),
    ).rejects.toThrow(/HTTP 429: You exceeded your current quota .*asks to wait 3600 s/);
    expect(fake.requests).toHaveLength(1);
  });

  test('5xx is retried maxRetries times, then fails naming the attempts', async () => {
    fake = await startFakeChatCompletions(() => ({
      status: 503,
      error: { message: 'The server is overloaded', type: 'server_error', code: null },
    }));
    await expect(chatCompletion(endpoint(fake), [{ role: 'user', content: 'hi' }])).rejects.toThrow(
      /HTTP 503: The server is overloaded \(server_error\) \(after 3 attempts\)/,
    );
    expect(fake.requests).toHaveLength(3);
  });

  test('401 names the environment variable and never shows the key', async () => {
    fake = await startFakeChatCompletions(() => ({ content: 'unused' }), { apiKey: 'sk-the-right-one' });
    const error = await chatCompletion(endpoint(fake), [{ role: 'user', content: 'hi' }]).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'LlmError', status: 401, authFailed: true });
    expect((error as Error).message).toMatch(/refused the API key: HTTP 401: Incorrect API key provided: \*\*\*/);
    expect((error as Error).message).toMatch(/set IE_LLM_API_KEY/);
    expect((error as Error).message).not.toContain(KEY);
    expect(fake.requests).toHaveLength(1);
  });

  test('a 200 without choices is an error, not an empty answer', async () => {
    fake = await startFakeChatCompletions(() => ({ status: 200, raw: { object: 'chat.completion', choices: [] } }));
    await expect(chatCompletion(endpoint(fake), [{ role: 'user', content: 'hi' }])).rejects.toThrow(
      /no choices\[0\]\.message\.content/,
    );
  });
});

describe('parseDescriptors', () => {
  test('a JSON array, also inside a code fence or an object', () => {
    expect(parseDescriptors('["fluffy golden coat", "puppy", "swimming in a lake"]', 'golden retriever', 5)).toEqual([
      'fluffy golden coat',
      'puppy',
      'swimming in a lake',
    ]);
    expect(parseDescriptors('```json\n["tiny", "Tiny", "golden retriever"]\n```', 'golden retriever', 5)).toEqual([
      'tiny',
    ]);
    expect(parseDescriptors('Sure! {"descriptors": ["red coat", "in snow"]}', 'red fox', 5)).toEqual([
      'red coat',
      'in snow',
    ]);
  });

  test('lines with bullets, numbers and quotes; long or empty ones dropped; at most max', () => {
    const answer = [
      '1. "bushy tail".',
      '2) pointed ears',
      '- ',
      '* a very long sentence that goes on and on about foxes and their many habits in the wild',
      '• orange fur',
      '- sitting in tall grass',
    ].join('\n');
    expect(parseDescriptors(answer, 'red fox', 3)).toEqual(['bushy tail', 'pointed ears', 'orange fur']);
  });

  test('nothing usable gives an empty list', () => {
    expect(parseDescriptors('', 'dog', 5)).toEqual([]);
    expect(parseDescriptors('[1, 2, 3]', 'dog', 5)).toEqual([]);
  });
});

describe('WordNet descriptors and query text', () => {
  test('hypernym, gloss head and with-phrase', () => {
    expect(wordnetDescriptors('golden retriever')).toEqual(['retriever', 'English', 'with long silky golden coat']);
    expect(wordnetDescriptors('beagle')).toEqual(['hound', 'small short-legged smooth-coated']);
    expect(wordnetDescriptors('not a wordnet noun at all')).toEqual([]);
  });

  test('the query names the concept once; the descriptor choice is seeded', () => {
    expect(queryText('golden retriever', 'with long silky golden coat')).toBe(
      'golden retriever with long silky golden coat',
    );
    expect(queryText('golden retriever', 'Golden retriever puppy')).toBe('Golden retriever puppy');
    expect(queryText('dog', null)).toBe('dog');
    const options = ['a', 'b', 'c', 'd'];
    expect(pickDescriptor(options, 'seed-1')).toBe(pickDescriptor(options, 'seed-1'));
    const picks = new Set(Array.from({ length: 40 }, (_, i) => pickDescriptor(options, `seed-${i}`)));
    expect(picks.size).toBe(4);
    expect(pickDescriptor([], 'x')).toBeNull();
  });
});
