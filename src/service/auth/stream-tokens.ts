/**
 * Short-lived stream tokens for browsers, which cannot set an Authorization header on a WebSocket. A token is
 * `base64url(payload).base64url(hmac)`, HMAC-SHA256 with a secret drawn per process: tokens die with the process,
 * which is fine for something that lives a minute. The payload binds the tenant (and optionally one job).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface StreamTokenClaims {
  /** Tenant the token acts for. */
  t: string;
  /** Job the token is limited to, when issued for one. */
  j?: string;
  /** Expiry, ms since the epoch. */
  exp: number;
}

export const DEFAULT_STREAM_TOKEN_TTL_MS = 60_000;
/** Longer than any sensible token, short enough that parsing junk costs nothing. */
const MAX_TOKEN_LENGTH = 1024;

export class StreamTokenIssuer {
  private readonly secret: Buffer;

  constructor(
    private readonly ttlMs: number = DEFAULT_STREAM_TOKEN_TTL_MS,
    secret: Buffer = randomBytes(32),
    private readonly now: () => number = Date.now,
  ) {
    this.secret = Buffer.from(secret);
  }

  issue(tenant: string, jobId?: string): { token: string; expiresAt: string; expiresInMs: number } {
    const exp = this.now() + this.ttlMs;
    const claims: StreamTokenClaims = jobId === undefined ? { t: tenant, exp } : { t: tenant, j: jobId, exp };
    const payload = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
    const token = `gst.${payload}.${this.sign(payload)}`;
    return { token, expiresAt: new Date(exp).toISOString(), expiresInMs: this.ttlMs };
  }

  /** Looks like one of ours (as opposed to an API key sent in the same query parameter). */
  static looksLikeToken(value: string): boolean {
    return value.startsWith('gst.');
  }

  /** The claims when the token is authentic and unexpired; otherwise null (the caller answers 401). */
  verify(token: string): StreamTokenClaims | null {
    if (token.length > MAX_TOKEN_LENGTH || !StreamTokenIssuer.looksLikeToken(token)) return null;
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    const [, payload, signature] = parts as [string, string, string];
    const expected = Buffer.from(this.sign(payload), 'base64url');
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    if (!isClaims(claims) || claims.exp <= this.now()) return null;
    return claims;
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest('base64url');
  }
}

function isClaims(value: unknown): value is StreamTokenClaims {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.t === 'string' &&
    typeof v.exp === 'number' &&
    Number.isFinite(v.exp) &&
    (v.j === undefined || typeof v.j === 'string')
  );
}
