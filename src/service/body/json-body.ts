/**
 * JSON request bodies, parsed and checked in time proportional to their size without holding the event loop.
 *
 * - Bodies up to INLINE_PARSE_BYTES are parsed here (well under a millisecond).
 * - Larger ones go to one worker thread, which parses them, runs the linear matrix pre-check (scan.ts) and sends
 *   back either the issues or the body with its matrices packed into transferable Float64Arrays; the rows are then
 *   rebuilt here in slices, yielding between them. A 16 MB body costs the event loop a few short slices instead
 *   of seconds of JSON.parse and zod.
 * - A route names the matrices its body holds with `config: { bodyMatrices: 'job' | 'dataset' | 'prediction' }`.
 *   They are taken out of the body before zod validates it (zod sees [] in their place, so the schema still
 *   describes the whole body for types and OpenAPI) and put back before the handler runs.
 * - Problems in the matrices and zod's problems with the rest come back together in one 400 (errors.ts merges
 *   them), at most MAX_ISSUES listed, with the total.
 */
import { Worker } from 'node:worker_threads';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { globalPlugin } from '../plugins/global.js';
import { ApiError, validationError, type Issue } from '../plugins/errors.js';
import { findForbiddenKey, findLargeValue, MAX_ISSUES, scanBody, type BodyKind, type ScanIssue } from './scan.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which number matrices this route's JSON body holds (see src/service/body/json-body.ts). */
    bodyMatrices?: BodyKind;
  }
}

/** Bodies larger than this are parsed on the worker thread. */
export const INLINE_PARSE_BYTES = 256 * 1024;
/** Values a body may hold outside its matrices (a valid spec has a few dozen). */
export const MAX_OTHER_VALUES = 20_000;
/** Rows rebuilt per slice of the event loop (~10 ms for narrow rows on a slow core). */
const CELLS_PER_SLICE = 100_000;

const MATRIX_NAMES: Record<BodyKind | 'none', string> = {
  job: 'data.x and data.y (with data.kind "inline")',
  dataset: 'x and y',
  prediction: 'x',
  none: 'nothing (this route takes no large body)',
};

interface Held {
  matrices: { path: string[]; rows: unknown[] }[];
  issues: ScanIssue[];
  total: number;
}

/** What the parser took out of a request's body, until the preHandler puts it back (or an error answers). */
const held = new WeakMap<FastifyRequest, Held>();

/** The pre-check's issues of this request's body (for the errors plugin to merge with zod's), if any. */
export function heldBodyIssues(request: FastifyRequest): { issues: Issue[]; total: number } | null {
  const h = held.get(request);
  return h && h.total > 0 ? { issues: h.issues, total: h.total } : null;
}

function invalidJson(message: string): ApiError {
  return new ApiError(400, 'invalid_json', `the body is not valid JSON: ${message.length > 200 ? `${message.slice(0, 200)}...` : message}`);
}

function forbiddenKey(path: string): ApiError {
  const key = path.endsWith('prototype') ? 'constructor.prototype' : '__proto__';
  return validationError([{ path, message: `is not allowed: ${JSON.stringify(key)} keys are refused, they could change an object's prototype; remove it` }]);
}

function largeValue(path: string, kind: BodyKind | 'none'): ApiError {
  return validationError([
    {
      path,
      message: `holds more than ${MAX_OTHER_VALUES} values; in this body only ${MATRIX_NAMES[kind]} may be large`,
    },
  ]);
}

const stripBom = (text: string) => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);

// ---------------------------------------------------------------------------------------------------------------
// The worker thread

interface Packed {
  path: string[];
  lengths: Uint32Array;
  values: Float64Array;
}

type WorkerAnswer =
  | { id: number; kind: 'json_error'; message: string }
  | { id: number; kind: 'forbidden_key'; path: string }
  | { id: number; kind: 'large_value'; path: string }
  | { id: number; kind: 'parsed'; body: unknown; issues: ScanIssue[]; total: number; packed: Packed[] };

/** The worker's source: scan.ts's functions from their own text, and a loop that parses, checks and packs. */
function workerSource(): string {
  return `
'use strict';
const { parentPort } = require('node:worker_threads');
// esbuild (tsx, vitest) may wrap functions in __name(fn, "name") when it keeps names: a no-op here.
const __name = (fn) => fn;
const scanBody = ${scanBody.toString()};
const findLargeValue = ${findLargeValue.toString()};
const findForbiddenKey = ${findForbiddenKey.toString()};
const decoder = new TextDecoder();
parentPort.on('message', ({ id, buffer, kind, maxIssues, maxOtherValues, maxRows }) => {
  let body;
  try {
    let text = decoder.decode(buffer);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    body = JSON.parse(text);
  } catch (err) {
    parentPort.postMessage({ id, kind: 'json_error', message: String(err && err.message) });
    return;
  }
  const scan = kind === 'none' ? { issues: [], total: 0, matrices: [] } : scanBody(body, kind, maxIssues, maxRows);
  const large = findLargeValue(body, maxOtherValues);
  if (large !== null) {
    parentPort.postMessage({ id, kind: 'large_value', path: large });
    return;
  }
  const forbidden = findForbiddenKey(body);
  if (forbidden !== null) {
    parentPort.postMessage({ id, kind: 'forbidden_key', path: forbidden });
    return;
  }
  const packed = [];
  const transfer = [];
  if (scan.total === 0) {
    for (const { path, rows } of scan.matrices) {
      let cells = 0;
      for (const row of rows) cells += row.length;
      const lengths = new Uint32Array(rows.length);
      const values = new Float64Array(cells);
      let k = 0;
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        lengths[i] = row.length;
        for (let j = 0; j < row.length; j++) values[k++] = row[j];
      }
      packed.push({ path, lengths, values });
      transfer.push(lengths.buffer, values.buffer);
    }
  }
  parentPort.postMessage({ id, kind: 'parsed', body, issues: scan.issues, total: scan.total, packed }, transfer);
});
`;
}

/** One worker, started on first use, serving bodies in order; restarted if it dies. */
class BodyParserThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (a: WorkerAnswer) => void; reject: (e: Error) => void }>();

  constructor(private readonly maxRows: number) {}

  parse(buffer: Buffer, kind: BodyKind | 'none'): Promise<WorkerAnswer> {
    const worker = this.start();
    const id = this.nextId++;
    // Transfer, not copy: a body Buffer of this size owns its ArrayBuffer unless it is a view into a larger one.
    const owned = buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength ? buffer.buffer : buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, buffer: owned, kind, maxIssues: MAX_ISSUES, maxOtherValues: MAX_OTHER_VALUES, maxRows: this.maxRows }, [owned as ArrayBuffer]);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(workerSource(), { eval: true, name: 'gradloom-json-body' });
    worker.unref();
    worker.on('message', (answer: WorkerAnswer) => {
      const p = this.pending.get(answer.id);
      this.pending.delete(answer.id);
      p?.resolve(answer);
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the JSON body parser thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Packed rows back into number[][], a slice at a time. */
async function unpack(packed: Packed): Promise<number[][]> {
  const { lengths, values } = packed;
  const rows: number[][] = new Array(lengths.length);
  let k = 0;
  let sinceYield = 0;
  for (let i = 0; i < lengths.length; i++) {
    const n = lengths[i]!;
    const row: number[] = new Array(n);
    for (let j = 0; j < n; j++) row[j] = values[k++]!;
    rows[i] = row;
    sinceYield += n + 1;
    if (sinceYield >= CELLS_PER_SLICE) {
      sinceYield = 0;
      await yieldToEventLoop();
    }
  }
  return rows;
}

function setAt(root: unknown, path: string[], value: unknown): void {
  let node = root as Record<string, unknown>;
  for (const key of path.slice(0, -1)) {
    const next = node?.[key];
    if (typeof next !== 'object' || next === null) return;
    node = next as Record<string, unknown>;
  }
  if (node && typeof node === 'object') node[path[path.length - 1]!] = value;
}

/** For parsers of other formats (CSV) whose rows are already checked: zod validates the body without them. */
export function holdCheckedMatrices(request: FastifyRequest, body: Record<string, unknown>, keys: string[]): void {
  const matrices = keys.map((key) => {
    const rows = body[key] as unknown[];
    body[key] = [];
    return { path: [key], rows };
  });
  held.set(request, { matrices, issues: [], total: 0 });
}

export const jsonBodyPlugin = globalPlugin<{ maxRows: number }>('gradloom-json-body', async (app: FastifyInstance, options) => {
  const thread = new BodyParserThread(options.maxRows);
  app.addHook('onClose', async () => thread.close());

  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, async (request: FastifyRequest, raw: Buffer) => {
    const kind: BodyKind | 'none' = request.routeOptions.config?.bodyMatrices ?? 'none';
    // Clients send `content-type: application/json` with no body on DELETE and POST .../cancel: that is no body.
    if (raw.length === 0) return undefined;

    if (raw.length <= INLINE_PARSE_BYTES) {
      let body: unknown;
      try {
        body = JSON.parse(stripBom(raw.toString('utf8')));
      } catch (err) {
        throw invalidJson((err as Error).message);
      }
      const forbidden = findForbiddenKey(body);
      if (forbidden !== null) throw forbiddenKey(forbidden);
      if (kind !== 'none') {
        const scan = scanBody(body, kind, MAX_ISSUES, options.maxRows);
        held.set(request, scan);
      }
      return body;
    }

    let answer: WorkerAnswer;
    try {
      answer = await thread.parse(raw, kind);
    } catch (err) {
      request.log.error({ err }, 'JSON body parser thread failed');
      throw new ApiError(503, 'body_parser_unavailable', 'the body could not be parsed right now (the parser thread stopped); retry', {}, { 'retry-after': '1' });
    }
    if (answer.kind === 'json_error') throw invalidJson(answer.message);
    if (answer.kind === 'forbidden_key') throw forbiddenKey(answer.path);
    if (answer.kind === 'large_value') throw largeValue(answer.path, kind);
    const matrices: Held['matrices'] = [];
    for (const p of answer.packed) matrices.push({ path: p.path, rows: await unpack(p) });
    held.set(request, { matrices, issues: answer.issues, total: answer.total });
    return answer.body;
  });

  // After zod validated the rest: refuse what the pre-check found, or put the matrices back.
  app.addHook('preHandler', async (request) => {
    const h = held.get(request);
    if (!h) return;
    held.delete(request);
    if (h.total > 0) throw validationError(h.issues, undefined, h.total);
    for (const m of h.matrices) setAt(request.body, m.path, m.rows);
  });
});
