/**
 * Errors the job runtime throws for the HTTP layer to map. They carry a stable machine-readable `code` and no HTTP
 * status: the runtime does not know it is behind HTTP (a CLI or a queue consumer could call it too).
 */
export class JobRuntimeError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Too many jobs waiting; retry later. HTTP: 429 (or 503) with `Retry-After: retryAfterSeconds`. */
export class QueueFullError extends JobRuntimeError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, code = 'queue_full') {
    super(code, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The runtime is draining (stop() was called): no new work. A QueueFullError so HTTP answers 503 + Retry-After. */
export class ShuttingDownError extends QueueFullError {
  constructor(retryAfterSeconds = 5) {
    super('the service is shutting down and accepts no new jobs; retry against another instance', retryAfterSeconds, 'shutting_down');
  }
}

/** The job (or dataset, or checkpoint) does not exist for this tenant. HTTP: 404. */
export class NotFoundError extends JobRuntimeError {
  constructor(message: string, code = 'not_found') {
    super(code, message);
  }
}

/**
 * The request is valid but the resource is in the wrong state: predicting with a job that has no checkpoint yet,
 * cancelling a finished job, reusing an idempotency key with a different spec. HTTP: 409.
 */
export class ConflictError extends JobRuntimeError {
  /** Fields the answer carries beside code and message (e.g. the jobId an Idempotency-Key already names). */
  constructor(message: string, code = 'conflict', readonly details: Record<string, unknown> = {}) {
    super(code, message);
  }
}

/** The caller's input does not fit the model or data (e.g. wrong prediction width). HTTP: 400 (or 422). */
export class InvalidInputError extends JobRuntimeError {
  constructor(message: string, code = 'invalid_input') {
    super(code, message);
  }
}

/**
 * A fenced write found that its claim no longer holds: the job was claimed again after this worker's lease ran out,
 * or it was deleted or finished meanwhile. The run must stop and write nothing more. Never reaches HTTP.
 */
export class LeaseLostError extends JobRuntimeError {
  constructor(readonly jobId: string, readonly attempt: number) {
    super('lease_lost', `the claim of job ${jobId} (attempt ${attempt}) no longer holds: it was claimed again, finished or deleted`);
  }
}

/**
 * The store cannot take writes (disk full, read-only, database unreachable). HTTP: 503 with the cause, so a client
 * retries later or elsewhere instead of seeing a generic 500.
 */
export class StoreUnavailableError extends JobRuntimeError {
  constructor(message: string) {
    super('store_unavailable', message);
  }
}

/**
 * Storing this would take the tenant past its storage quota (TENANT_MAX_STORED_BYTES): a job refused at submission
 * when its checkpoints alone would not fit, or stopped while running before the checkpoint that would cross it.
 * HTTP: 429, as the other per-tenant quotas.
 */
export class StorageQuotaError extends JobRuntimeError {
  constructor(message: string) {
    super('storage_quota_exceeded', message);
  }
}
