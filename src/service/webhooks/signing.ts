/**
 * Webhook signatures, as Stripe signs its events: `Gradloom-Signature: t=<unix seconds>,v1=<hex>` where
 * hex = HMAC-SHA256(key = the tenant's signing secret as UTF-8 bytes, message = `${t}.${body}`).
 *
 * Each tenant has its own signing secret, derived from the server's: `whsec_` + base64url(HMAC-SHA256(server key,
 * "gradloom-webhook-tenant:" + tenant)). The server key is WEBHOOK_SECRET when set, else a random key kept in the
 * store (`sharedSecret('webhook_signing')`), so every node signs alike and a restart changes nothing. Tenants read
 * theirs from GET /v1/webhooks/secret.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Gradloom-Signature' as const;
export const DELIVERY_HEADER = 'Gradloom-Delivery';
export const EVENT_HEADER = 'Gradloom-Event';
/** Name of the store's shared secret used when WEBHOOK_SECRET is unset. */
export const SERVER_KEY_NAME = 'webhook_signing';

/** The tenant's signing secret (what GET /v1/webhooks/secret returns). */
export function tenantSigningSecret(serverKey: Uint8Array, tenant: string): string {
  const mac = createHmac('sha256', serverKey).update(`gradloom-webhook-tenant:${tenant}`).digest('base64url');
  return `whsec_${mac}`;
}

/** The hex HMAC of one delivery attempt. */
export function computeSignature(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The Gradloom-Signature header value for a body sent at `timestamp` (unix seconds). */
export function signatureHeader(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${computeSignature(secret, timestamp, body)}`;
}

/**
 * What a receiver does (and what the docs show in Python and Node): parse t and every v1, recompute, compare in
 * constant time, and refuse timestamps older than `toleranceSeconds` (replays).
 */
export function verifySignature(
  secret: string,
  header: string,
  body: string,
  options: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  let timestamp: number | null = null;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (timestamp === null || candidates.length === 0) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(computeSignature(secret, timestamp, body), 'hex');
  return candidates.some((c) => timingSafeEqual(Buffer.from(c, 'hex'), expected));
}
