/** WebSocket test helpers: listen on an ephemeral port, collect a stream's messages until the server closes it. */
import { WebSocket } from 'ws';
import type { App } from '../../src/service/app.js';

export async function listen(app: App): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  return `127.0.0.1:${address.port}`;
}

export interface StreamResult {
  messages: Array<Record<string, unknown>>;
  code: number;
  reason: string;
}

export function openStream(host: string, jobId: string, query = ''): { ws: WebSocket; done: Promise<StreamResult> } {
  const ws = new WebSocket(`ws://${host}/v1/jobs/${jobId}/stream${query}`);
  const messages: Array<Record<string, unknown>> = [];
  const done = new Promise<StreamResult>((resolve, reject) => {
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
    ws.on('close', (code, reason) => resolve({ messages, code, reason: String(reason) }));
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode, body })));
    });
  });
  return { ws, done };
}

export function streamOf(host: string, jobId: string, query = ''): Promise<StreamResult> {
  return openStream(host, jobId, query).done;
}

/** Epoch numbers and losses of a stream, and its final status message. */
export function summarize(result: StreamResult) {
  const epochs = result.messages.filter((m) => m.type === 'epoch') as Array<{ epoch: number; loss: number }>;
  const statuses = result.messages.filter((m) => m.type === 'status');
  return { epochs, final: statuses[statuses.length - 1], last: result.messages[result.messages.length - 1] };
}
