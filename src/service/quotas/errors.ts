/** A per-tenant limit was hit. HTTP 429 with Retry-After; the message names the limit and its variable. */
export class QuotaExceededError extends Error {
  readonly statusCode = 429;
  constructor(
    readonly code: 'rate_limited' | 'too_many_jobs' | 'storage_quota_exceeded' | 'too_many_streams',
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'QuotaExceededError';
  }
}
