/**
 * The server's log: one line per request when it completes, at a level that says whether anyone needs to read it,
 * and a compact human-readable format when stdout is a terminal (JSON, one object a line, otherwise).
 *
 * Routine requests are at debug: reads (GET/HEAD/OPTIONS) that succeeded, which is what dashboards poll, static files,
 * /healthz and /readyz. Changes (POST, DELETE, ...) and client errors are at info, server errors at error, so at the
 * default LOG_LEVEL=info a dashboard left open logs nothing while job lifecycle lines (queued, started, finished)
 * still show. LOG_LEVEL=debug brings every request back.
 */
import { Writable } from 'node:stream';
import { LogController, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import { logSerializers, redactUrl } from './plugins/hardening.js';

export type RequestLogLevel = 'debug' | 'info' | 'error';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The level of a finished request's line: routine reads at debug, changes and 4xx at info, 5xx at error. */
export function requestLogLevel(method: string, statusCode: number): RequestLogLevel {
  if (statusCode >= 500) return 'error';
  if (statusCode >= 400) return 'info';
  return READS.has(method.toUpperCase()) ? 'debug' : 'info';
}

/**
 * Fastify's per-request log lines, replaced: no "incoming request" line (the completed line has it all), and the
 * completed line's level from requestLogLevel with a message a person can scan ("GET /v1/jobs 200 1.2 ms").
 */
export class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const statusCode = error && reply.statusCode < 400 ? 500 : reply.statusCode;
    const level = requestLogLevel(request.method, statusCode);
    const ms = reply.elapsedTime;
    reply.log[level](
      { req: request, res: reply, responseTime: ms, ...(error ? { err: error } : {}) },
      `${request.method} ${redactUrl(request.url)} ${statusCode} ${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`,
    );
  }
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields the line already shows, or that only a log processor wants (the request line's message has method, URL, status, time). */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v', 'req', 'res', 'responseTime', 'reqId', 'err']);

function fieldValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value;
  return JSON.stringify(value) ?? String(value);
}

/**
 * One pino JSON line as a person reads it: `14:03:07.412 INFO  job finished jobId=… status=succeeded epoch=60`,
 * an error's type and message after it and its stack indented below. Lines that are not pino JSON pass unchanged.
 */
export function formatLogLine(line: string, options: { color?: boolean } = {}): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (!entry || typeof entry !== 'object' || typeof entry.level !== 'number') return line;
  const time = new Date(typeof entry.time === 'number' ? entry.time : Date.now());
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const clock = `${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}.${pad(time.getMilliseconds(), 3)}`;
  const name = (LEVELS[entry.level] ?? String(entry.level)).padEnd(5);
  const level = options.color ? `\x1b[${COLORS[entry.level] ?? '0'}m${name}\x1b[0m` : name;
  const parts = [clock, level, String(entry.msg ?? '')];
  for (const [key, value] of Object.entries(entry)) if (!HIDDEN.has(key) && value !== undefined && value !== null) parts.push(`${key}=${fieldValue(value)}`);
  let out = parts.filter((p) => p !== '').join(' ');
  const err = entry.err as { type?: string; message?: string; stack?: string } | undefined;
  if (err && typeof err === 'object') {
    out += ` err=${fieldValue(`${err.type ?? 'Error'}: ${err.message ?? ''}`)}`;
    const stack = typeof err.stack === 'string' ? err.stack.split('\n').slice(1) : [];
    if (stack.length > 0) out += '\n' + stack.map((s) => `    ${s.trim()}`).join('\n');
  }
  return out;
}

/** A stream for pino that writes each JSON line to `out` in formatLogLine's format. */
export function humanLogStream(out: NodeJS.WritableStream, options: { color?: boolean } = {}): Writable {
  let pending = '';
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      const text = lines.filter((l) => l !== '').map((l) => formatLogLine(l, options) + '\n').join('');
      if (text) out.write(text);
      callback();
    },
    final(callback) {
      if (pending) out.write(formatLogLine(pending, options) + '\n');
      callback();
    },
  });
}

/**
 * pino options for the server (`buildApp({logger: true})`): LOG_LEVEL, the Authorization header redacted, request
 * URLs without their access tokens, and on a terminal (`stdout.isTTY`) the human format in colour.
 */
export function serverLoggerOptions(
  config: Pick<Config, 'logLevel'>,
  stdout: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
): NonNullable<Exclude<FastifyServerOptions['logger'], boolean>> {
  return {
    level: config.logLevel,
    redact: ['req.headers.authorization'],
    serializers: logSerializers,
    ...(stdout.isTTY ? { stream: humanLogStream(stdout, { color: true }) } : {}),
  };
}
