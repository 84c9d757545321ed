/**
 * One error shape everywhere: `{error: <code>, message, ...details}`, no stack traces, no internal paths. Maps zod
 * validation failures to 400 `validation_error` with `issues: [{path, message}]`, the runtime's typed errors
 * (src/service/jobs/errors.ts) to their statuses, and anything unexpected to a logged 500 that
 * carries only the request id.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { ConflictError, InvalidInputError, JobRuntimeError, NotFoundError, QueueFullError, ShuttingDownError, StorageQuotaError } from '../jobs/errors.js';
import { storeFailureCause } from '../store/failures.js';
import { globalPlugin } from './global.js';
import { heldBodyIssues } from '../body/json-body.js';
import { MAX_ISSUES } from '../body/scan.js';

export interface Issue {
  path: string;
  message: string;
}

/** An error a route means to send: its status, a stable code and a message for people. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (kind: 'job' | 'dataset' | 'checkpoint', id: string, more = '') =>
  new ApiError(404, 'not_found', `${kind} ${id} not found${more}`);

/** Issues a 400 lists; the others are counted (`issuesTotal`). */
export const MAX_LISTED_ISSUES = MAX_ISSUES;
/** A path or message longer than this is cut: an answer never echoes a large value back. */
const MAX_ISSUE_TEXT = 300;

const clip = (text: string, max = MAX_ISSUE_TEXT) => (text.length > max ? `${text.slice(0, max)}... (${text.length - max} more characters)` : text);

/**
 * 400 validation_error listing at most MAX_LISTED_ISSUES issues; `total` counts all the problems found (the
 * checks stop building messages after the first few, but count on). When some are not listed, the body says how
 * many there were: `issuesTotal`.
 */
export function validationError(issues: Issue[], message?: string, total = issues.length): ApiError {
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map((i) => ({ path: clip(i.path), message: clip(i.message) }));
  const all = Math.max(total, issues.length);
  const details: Record<string, unknown> = { issues: listed };
  if (all > listed.length) details.issuesTotal = all;
  return new ApiError(400, 'validation_error', clip(message ?? summarize(listed, all), 1000), details);
}

function summarize(issues: Issue[], total: number): string {
  const first = issues
    .slice(0, 3)
    .map((i) => (i.path ? `${i.path}: ${i.message}` : i.message))
    .join('; ');
  if (total <= 3) return first;
  return issues.length < total
    ? `${first}; and ${total - 3} more (${issues.length} listed in issues, ${total} in all)`
    : `${first}; and ${total - 3} more`;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  // JSON numbers beyond ±1.8e308 parse to infinity, which JSON.stringify would show as `null`.
  if (typeof value === 'number' && !Number.isFinite(value)) return 'a number out of range (beyond ±1.8e308 it reads as infinity)';
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 40)}...` : text}`;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

const LOCATION_PREFIX: Record<string, string> = { body: '', querystring: 'query', params: 'params', headers: 'headers' };

/** A zod issue (as fastify-type-provider-zod hands it over) rewritten to say what was sent and what to send. */
function toIssue(
  v: { keyword: string; instancePath: string; message?: string; params: Record<string, unknown> },
  input: unknown,
  location: string,
): Issue {
  const keys: PropertyKey[] = v.instancePath.split('/').slice(1).filter((k) => k !== '');
  const prefix = LOCATION_PREFIX[location] ?? location;
  const join = (parts: PropertyKey[]) => [prefix, ...parts.map(String)].filter((p) => p !== '').join('.');
  const value = valueAt(input, keys);
  const p = v.params;
  let path = join(keys);
  let message = v.message ?? 'is invalid';
  switch (v.keyword) {
    case 'invalid_type':
      if (value === undefined) message = `is required (expected ${String(p.expected)})`;
      else if (location === 'querystring' && typeof value === 'string' && (p.expected === 'number' || p.expected === 'int'))
        message = `must be a decimal integer (digits only), got ${describeValue(value)}`;
      else if (p.expected === 'int') message = `must be an integer, got ${describeValue(value)}`;
      else message = `must be ${p.expected === 'array' || p.expected === 'object' ? 'an' : 'a'} ${String(p.expected)}, got ${describeValue(value)}`;
      break;
    case 'too_small':
    case 'too_big': {
      const bound = v.keyword === 'too_small' ? p.minimum : p.maximum;
      const inclusive = p.inclusive !== false;
      const op = v.keyword === 'too_small' ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
      if (p.origin === 'number' || p.origin === 'int' || p.origin === 'bigint')
        message = `must be ${op} ${String(bound)}, got ${describeValue(value)}`;
      else if (p.origin === 'array')
        message = `must have ${v.keyword === 'too_small' ? 'at least' : 'at most'} ${String(bound)} items, got ${Array.isArray(value) ? value.length : '?'}`;
      else if (p.origin === 'string')
        message = `must be ${v.keyword === 'too_small' ? 'at least' : 'at most'} ${String(bound)} characters long`;
      break;
    }
    case 'unrecognized_keys': {
      const names = (p.keys as string[]) ?? [];
      if (names.length === 1) path = join([...keys, names[0]]);
      message = `unknown field${names.length > 1 ? 's' : ''} ${names.map((n) => JSON.stringify(n)).join(', ')}`;
      break;
    }
    case 'invalid_union':
      if (p.note === 'No matching discriminator') {
        const options = ((p.options as unknown[]) ?? []).map((o) => JSON.stringify(o)).join(', ');
        message = value === undefined ? `is required (one of ${options})` : `must be one of ${options}, got ${describeValue(value)}`;
      }
      break;
    case 'invalid_value': {
      const values = (p.values as unknown[]) ?? [];
      const options = `${values.length === 1 ? '' : 'one of '}${values.map((o) => JSON.stringify(o)).join(', ')}`;
      message = value === undefined ? `is required (${options})` : `must be ${options}, got ${describeValue(value)}`;
      break;
    }
  }
  if (path === '' && location === 'body') message = `the body ${message.replace(/^is required \(expected (\w+)\)$/, 'must be a JSON $1, got nothing')}`;
  return { path, message };
}

function sendError(reply: FastifyReply, error: ApiError) {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply
    .code(error.statusCode)
    .type('application/json; charset=utf-8')
    .send({ error: error.code, message: error.message, ...error.details });
}

function retryAfter(seconds: unknown): string {
  const n = Number(seconds);
  return String(Math.max(1, Math.ceil(Number.isFinite(n) ? n : 5)));
}

/** The runtime's typed errors (src/service/jobs/errors.ts): a stable code, no HTTP status; the status is chosen here. */
function fromRuntimeError(err: unknown): ApiError | null {
  if (!(err instanceof JobRuntimeError)) return null;
  if (err instanceof QueueFullError) {
    const seconds = retryAfter(err.retryAfterSeconds);
    // Draining is the server's state, not the caller's excess: 503. A full queue is 429.
    const status = err instanceof ShuttingDownError || err.code === 'shutting_down' ? 503 : 429;
    const message = status === 429 && !err.message.includes('MAX_QUEUED_JOBS') ? `${err.message} (MAX_QUEUED_JOBS)` : err.message;
    return new ApiError(status, err.code, message, { retryAfterSeconds: Number(seconds) }, { 'retry-after': seconds });
  }
  if (err instanceof NotFoundError) return new ApiError(404, err.code, err.message);
  // Same Idempotency-Key, different body: 422 (as the IETF Idempotency-Key draft says); other conflicts are 409.
  if (err instanceof ConflictError) return new ApiError(err.code === 'idempotency_key_reused' ? 422 : 409, err.code, err.message, err.details);
  if (err instanceof InvalidInputError) return new ApiError(400, err.code, err.message);
  if (err instanceof StorageQuotaError) return new ApiError(429, err.code, err.message, { retryAfterSeconds: 60 }, { 'retry-after': '60' });
  return null;
}

/** The store cannot serve (full or read-only disk, database gone): 503 naming the cause, retry later. */
function fromStoreFailure(err: unknown): ApiError | null {
  const cause = storeFailureCause(err);
  if (!cause) return null;
  return new ApiError(503, 'store_unavailable', `the service cannot store or read data right now: ${cause}; retry later`, { retryAfterSeconds: 5 }, { 'retry-after': '5' });
}

function fromFastifyError(err: FastifyError, request: FastifyRequest, maxBodyBytes: number): ApiError | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'payload_too_large', `request body is larger than the limit of ${maxBodyBytes} bytes (MAX_BODY_BYTES)`, {
        limit: maxBodyBytes,
      });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'unsupported_media_type', `content type ${JSON.stringify(request.headers['content-type'] ?? '')} is not accepted here; send application/json${request.url.startsWith('/v1/datasets') ? ' or text/csv' : ''}`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError(400, 'invalid_json', 'the body is empty but content-type is application/json; send a JSON document');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError(400, 'invalid_json', `the body is not valid JSON: ${err.message}`);
  }
  if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON/.test(err.message)))
    return new ApiError(400, 'invalid_json', `the body is not valid JSON: ${err.message}`);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    // Other plugins' errors (rate limits, quotas): keep their snake_case code and any Retry-After they carry.
    const code = /^[a-z][a-z0-9_]*$/.test(err.code ?? '')
      ? err.code
      : (err.code ?? STATUS_CODES[err.statusCode] ?? 'bad_request').replace(/^FST_ERR_/, '').toLowerCase();
    const seconds = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    return seconds === undefined
      ? new ApiError(err.statusCode, code, err.message)
      : new ApiError(err.statusCode, code, err.message, { retryAfterSeconds: Number(retryAfter(seconds)) }, { 'retry-after': retryAfter(seconds) });
  }
  return null;
}

/** Error codes for 4xx errors that carry a status but no code of their own. */
const STATUS_CODES: Record<number, string> = { 400: 'bad_request', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed', 408: 'request_timeout', 409: 'conflict', 413: 'payload_too_large', 415: 'unsupported_media_type', 429: 'rate_limited' };

export const errorsPlugin = globalPlugin<{ maxBodyBytes: number }>('gradloom-errors', async (app, opts) => {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof ApiError) return sendError(reply, err);
    if (hasZodFastifySchemaValidationErrors(err)) {
      const location = (err as { validationContext?: string }).validationContext ?? 'body';
      const input =
        location === 'body' ? request.body : location === 'querystring' ? request.query : location === 'params' ? request.params : request.headers;
      // zod validated the body without its matrices: their problems, if any, come first.
      const held = location === 'body' ? heldBodyIssues(request) : null;
      const zodIssues = err.validation.slice(0, MAX_LISTED_ISSUES).map((v) => toIssue(v as never, input, location));
      const issues = held ? [...held.issues, ...zodIssues] : zodIssues;
      return sendError(reply, validationError(issues, undefined, (held?.total ?? 0) + err.validation.length));
    }
    if (!isResponseSerializationErrorSafe(err)) {
      const mapped = fromRuntimeError(err) ?? fromStoreFailure(err) ?? fromFastifyError(err, request, opts.maxBodyBytes);
      if (mapped) {
        if (mapped.statusCode >= 500) request.log.error({ err }, 'request failed');
        return sendError(reply, mapped);
      }
    }
    request.log.error({ err }, 'request failed');
    return sendError(reply, new ApiError(500, 'internal_error', `internal error; quote request id ${request.id} when reporting it`));
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ApiError(404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}; see /docs for the API`)),
  );
});

function isResponseSerializationErrorSafe(err: unknown): boolean {
  return typeof err === 'object' && err !== null && isResponseSerializationError(err);
}
