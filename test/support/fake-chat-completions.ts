import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake endpoint received. */
export interface ReceivedRequest {
  method: string;
  path: string;
  authorization?: string;
  body: {
    model?: string;
    messages?: { role: string; content: string }[];
    temperature?: number;
    [key: string]: unknown;
  };
}

/** What to answer a request with: content for a normal completion, or a status with an error body. */
export type Reply =
  | { content: string }
  | { status: number; error: { message: string; type: string; code: string | null }; headers?: Record<string, string> }
  | { status: number; raw: unknown };

export interface FakeChatCompletions {
  /** Base URL to configure, e.g. http://127.0.0.1:PORT/v1 */
  baseUrl: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * A local HTTP server answering POST /v1/chat/completions exactly as the OpenAI API does: a
 * `chat.completion` object with `choices[0].message.content`, or an error status with
 * `{"error": {"message", "type", "param", "code"}}`. `reply` decides each answer from the request.
 */
export async function startFakeChatCompletions(
  reply: (request: ReceivedRequest, index: number) => Reply,
  options: { apiKey?: string; /** Each answer waits this long, as a busy endpoint does. */ delayMs?: number } = {},
): Promise<FakeChatCompletions> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
        setTimeout(() => {
          res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
          res.end(JSON.stringify(body));
        }, options.delayMs ?? 0);
      };
      const error = (status: number, message: string, type: string, code: string | null): void =>
        send(status, { error: { message, type, param: null, code } });
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        return error(404, `Unknown request URL: ${req.method} ${req.url}`, 'invalid_request_error', 'unknown_url');
      }
      let body: ReceivedRequest['body'];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedRequest['body'];
      } catch {
        return error(400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
      }
      const received: ReceivedRequest = {
        method: req.method,
        path: req.url,
        authorization: req.headers.authorization,
        body,
      };
      const index = requests.push(received) - 1;
      if (options.apiKey !== undefined && received.authorization !== `Bearer ${options.apiKey}`) {
        return error(
          401,
          `Incorrect API key provided: ${(received.authorization ?? '').replace(/^Bearer /, '')}.`,
          'invalid_request_error',
          'invalid_api_key',
        );
      }
      if (typeof body.model !== 'string' || !Array.isArray(body.messages) || body.messages.length === 0) {
        return error(400, "'model' and 'messages' are required properties", 'invalid_request_error', null);
      }
      const answer = reply(received, index);
      if ('content' in answer) {
        return send(200, {
          id: `chatcmpl-${index}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: body.model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: answer.content, refusal: null },
              logprobs: null,
              finish_reason: 'stop',
            },
          ],
          usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 },
        });
      }
      if ('raw' in answer) return send(answer.status, answer.raw);
      return send(answer.status, { error: { ...answer.error, param: null } }, answer.headers);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The concept a descriptor request asks about (the quoted name in the user message). */
export function askedConcept(request: ReceivedRequest): string {
  const user = request.body.messages?.find((m) => m.role === 'user')?.content ?? '';
  return /descriptors of "([^"]+)"/.exec(user)?.[1] ?? '';
}
