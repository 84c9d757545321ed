/**
 * The hardening part of the configuration (keys, per-tenant quotas, CORS, timeouts, heartbeats), validated by zod
 * like the rest of config.ts, kept apart so that file stays about the service's own limits.
 */
import { z } from 'zod';
import { ConfigError, parseEnv } from '../config.js';

const MiB = 1024 * 1024;

function intVar(min: number, defaultValue: number) {
  return z.preprocess(
    (raw) => (raw === undefined || raw === '' ? undefined : typeof raw === 'string' ? Number(raw.replaceAll('_', '')) : raw),
    z
      .number({ error: 'must be an integer' })
      .int({ error: 'must be an integer' })
      .min(min, { error: `must be >= ${min}` })
      .max(Number.MAX_SAFE_INTEGER, { error: 'is too large' })
      .default(defaultValue),
  );
}

export const securityEnvSchema = z.object({
  API_KEYS: z.string().optional(),
  API_KEYS_FILE: z.string().optional(),
  /** Requests per minute per tenant (0 disables the limit). /healthz and /readyz are never limited. */
  RATE_LIMIT_PER_MINUTE: intVar(0, 1200),
  /** Queued + running jobs one tenant may have at once (0 disables). */
  TENANT_MAX_ACTIVE_JOBS: intVar(0, 20),
  /** Bytes one tenant may store (jobs, metrics, checkpoints, datasets; 0 disables). */
  TENANT_MAX_STORED_BYTES: intVar(0, 1024 * MiB),
  /** Open WebSocket streams per tenant (0 disables). */
  TENANT_MAX_STREAMS: intVar(0, 32),
  /** Comma-separated origins allowed by CORS, '*' for any; empty: no cross-origin access. */
  CORS_ORIGINS: z.string().default(''),
  /** Time allowed to receive a whole request (slowloris); 0 disables. */
  REQUEST_TIMEOUT_MS: intVar(0, 30_000),
  /** Idle socket timeout; 0 disables. */
  CONNECTION_TIMEOUT_MS: intVar(0, 120_000),
  /** WebSocket ping interval; a peer that has not answered the previous ping by the next one is dropped. */
  WS_PING_INTERVAL_MS: intVar(100, 30_000),
  STREAM_TOKEN_TTL_MS: intVar(1_000, 60_000),
  /** Failed authentications per minute from one address before it is refused (429) for the rest of the minute. */
  AUTH_FAILURES_PER_MINUTE: intVar(0, 60),
});

export interface SecurityConfig {
  apiKeys: string | undefined;
  apiKeysFile: string | undefined;
  rateLimitPerMinute: number;
  tenantMaxActiveJobs: number;
  tenantMaxStoredBytes: number;
  tenantMaxStreams: number;
  /** '*' or a list of exact origins; empty list: CORS off. */
  corsOrigins: '*' | string[];
  requestTimeoutMs: number;
  connectionTimeoutMs: number;
  wsPingIntervalMs: number;
  streamTokenTtlMs: number;
  authFailuresPerMinute: number;
}

export function parseCorsOrigins(value: string): '*' | string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.includes('*')) return '*';
  for (const item of items) {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw new ConfigError(`invalid configuration: CORS_ORIGINS entry ${JSON.stringify(item)} is not an origin like https://example.com`, ['CORS_ORIGINS']);
    }
    if (url.origin !== item.replace(/\/$/, '')) {
      throw new ConfigError(
        `invalid configuration: CORS_ORIGINS entry ${JSON.stringify(item)} must be an origin (scheme://host[:port]) without a path; did you mean ${url.origin}?`,
        ['CORS_ORIGINS'],
      );
    }
  }
  return items.map((i) => i.replace(/\/$/, ''));
}

export function loadSecurityConfig(env: Record<string, string | undefined> = process.env): SecurityConfig {
  // Never echo API_KEYS: the value is a secret.
  const e = parseEnv(securityEnvSchema, env, ['API_KEYS']);
  return {
    apiKeys: e.API_KEYS,
    apiKeysFile: e.API_KEYS_FILE,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    tenantMaxActiveJobs: e.TENANT_MAX_ACTIVE_JOBS,
    tenantMaxStoredBytes: e.TENANT_MAX_STORED_BYTES,
    tenantMaxStreams: e.TENANT_MAX_STREAMS,
    corsOrigins: parseCorsOrigins(e.CORS_ORIGINS),
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    connectionTimeoutMs: e.CONNECTION_TIMEOUT_MS,
    wsPingIntervalMs: e.WS_PING_INTERVAL_MS,
    streamTokenTtlMs: e.STREAM_TOKEN_TTL_MS,
    authFailuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
  };
}
