/**
 * `--follow`: the job's WebSocket stream (replay, live epochs, final status) drawn as a progress line. On a terminal
 * the line is redrawn in place; otherwise one line per 10% so that logs stay short; with --json every stream message
 * is printed as one JSON line. A stream that closes before the final status is reopened (the replay fills the gap).
 */
import WebSocket from 'ws';
import { CliError, type Client } from './client.js';
import { EtaEstimator, formatDuration, formatLoss, renderProgress } from './progress.js';

export interface JobView {
  id: string;
  name: string | null;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  epoch: number;
  epochs: number;
  lastLoss: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  error: { code: string; message: string } | null;
}

type StreamMessage =
  | { type: 'epoch'; epoch: number; loss: number | null; valLoss?: number | null }
  | { type: 'status'; status: JobView['status']; epoch: number; epochs: number; lastLoss: number | null; error: JobView['error'] }
  | { type: 'dropped'; count: number; reason: string };

export const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/** Exit codes: 0 succeeded, 3 failed, 4 cancelled (1 is an error talking to the server, 2 a usage error). */
export function exitCodeFor(status: string): number {
  return status === 'succeeded' ? 0 : status === 'cancelled' ? 4 : status === 'failed' ? 3 : 1;
}

export interface FollowOptions {
  json: boolean;
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  err: NodeJS.WritableStream;
}

/** Opens the stream once; resolves with the final status message, or null if it closed before one. */
function streamOnce(client: Client, job: JobView, onMessage: (m: StreamMessage) => void): Promise<StreamMessage | null> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(client.wsUrl(`/v1/jobs/${encodeURIComponent(job.id)}/stream`), { headers: client.headers() });
    let final: StreamMessage | null = null;
    ws.on('unexpected-response', (req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        let message = text;
        try {
          message = (JSON.parse(text) as { message?: string }).message ?? text;
        } catch {
          // not JSON: keep the text
        }
        reject(new CliError(`cannot open the stream of job ${job.id}: ${message} (HTTP ${res.statusCode})`));
        // With this listener, ws leaves aborting the refused upgrade to us.
        req.destroy();
      });
    });
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as StreamMessage;
      if (message.type === 'status' && TERMINAL.includes(message.status)) final = message;
      onMessage(message);
    });
    ws.on('error', (err) => {
      if (ws.readyState === WebSocket.CONNECTING) reject(new CliError(`cannot open the stream of job ${job.id}: ${err.message}`));
    });
    ws.on('close', () => resolve(final));
  });
}

/** Follows a job to its end; returns the final job record (from GET /v1/jobs/:id, for the timings). */
export async function follow(client: Client, job: JobView, options: FollowOptions): Promise<JobView> {
  const eta = new EtaEstimator();
  const tty = Boolean(options.out.isTTY) && !options.json;
  let epoch = job.epoch;
  let epochs = job.epochs;
  let loss = job.lastLoss;
  let valLoss: number | null | undefined;
  let lastDecile = -1;
  let drawn = false;

  const draw = () => {
    if (options.json) return;
    const line = renderProgress({ epoch, epochs, loss, valLoss, etaMs: eta.etaMs(epochs) });
    if (tty) {
      options.out.write(`\r${line}\x1b[K`);
      drawn = true;
    } else {
      const decile = Math.floor((10 * epoch) / Math.max(1, epochs));
      if (decile !== lastDecile) {
        lastDecile = decile;
        options.out.write(`${line}\n`);
      }
    }
  };

  const onMessage = (m: StreamMessage) => {
    if (options.json) options.out.write(`${JSON.stringify(m)}\n`);
    if (m.type === 'epoch') {
      if (m.epoch < epoch) return; // epochs already counted (the replay of a job followed late, or after a reconnect)
      epoch = m.epoch;
      loss = m.loss;
      if (m.valLoss !== undefined) valLoss = m.valLoss;
      eta.add(m.epoch, performance.now());
      draw();
    } else if (m.type === 'status') {
      epoch = m.epoch;
      epochs = m.epochs;
      loss = m.lastLoss;
      draw();
    } else if (m.type === 'dropped' && !options.json) {
      options.err.write(`${tty ? '\n' : ''}gradloom: the stream skipped ${m.count} epochs (${m.reason}); GET /metrics has them all\n`);
    }
  };

  draw();
  let final: StreamMessage | null = null;
  for (let attempt = 0; attempt < 20 && final === null; attempt++) {
    final = await streamOnce(client, job, onMessage);
    if (final === null) {
      // Closed early (server restart, proxy timeout): check before reopening, the job may have ended meanwhile.
      const now = await client.json<JobView>('GET', `/v1/jobs/${encodeURIComponent(job.id)}`);
      if (TERMINAL.includes(now.status)) break;
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
    }
  }
  if (tty && drawn) options.out.write('\n');
  const done = await client.json<JobView>('GET', `/v1/jobs/${encodeURIComponent(job.id)}`);
  if (!TERMINAL.includes(done.status)) throw new CliError(`the stream of job ${job.id} kept closing before the job ended (status ${done.status})`);
  return done;
}

export function summary(job: JobView): string {
  const took =
    job.startedAt && job.finishedAt ? ` in ${formatDuration(Date.parse(job.finishedAt) - Date.parse(job.startedAt))}` : '';
  const error = job.error ? `: ${job.error.code}: ${job.error.message}` : '';
  return `job ${job.id} ${job.status} at epoch ${job.epoch}/${job.epochs}, loss ${formatLoss(job.lastLoss)}${took}${error}`;
}
