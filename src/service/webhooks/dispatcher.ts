/**
 * Sends webhook deliveries (rows the stores insert with a job's terminal status) in the background of api nodes.
 *
 * - Woken by 'status' bus events (a job ended) and by a poll every `pollMs` (retries that came due, events lost).
 * - Claims due deliveries with a lease (`claimWebhookDeliveries`, SKIP LOCKED on PostgreSQL), at most `maxInFlight`
 *   at once on this node; each attempt is bounded by `timeoutMs` (DNS, connect, send and the response's headers).
 *   Nothing here runs on a request's path or a training thread, and no error escapes into the event loop.
 * - Outcome: a 2xx answer is delivered; anything else (another status, a timeout, a connection error) is retried
 *   after `backoffMs[attempts - 1]`, until `backoffMs.length + 1` attempts have been made, then failed for good. A
 *   refused URL (not http(s), or a non-public address without WEBHOOK_ALLOW_PRIVATE) fails at once: retrying would
 *   give the same answer. Redirects are not followed (a 3xx is a failed attempt).
 * - At least once: a node that dies mid-attempt leaves its lease to run out, and another node tries again; the
 *   delivery id (body `id`, header Gradloom-Delivery) lets receivers drop duplicates.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { EventBus } from '../jobs/bus.js';
import type { RuntimeLogger } from '../jobs/supervisor.js';
import type { WebhookAttemptOutcome, WebhookDelivery, WebhookStore } from '../jobs/types.js';
import { checkedLookup, checkLiteralHost, WebhookRefusedError } from './address-policy.js';
import { DELIVERY_HEADER, EVENT_HEADER, SERVER_KEY_NAME, signatureHeader, SIGNATURE_HEADER, tenantSigningSecret } from './signing.js';

/** 10 s, 30 s, 2 min, 10 min, 1 h, 3 h, 6 h: eight attempts over about ten hours. */
export const DEFAULT_BACKOFF_MS = [10_000, 30_000, 120_000, 600_000, 3_600_000, 10_800_000, 21_600_000];

/** What an operator (or a test) may set; see Config.webhooks. */
export interface WebhookSettings {
  /** WEBHOOK_SECRET: the server key tenants' signing secrets derive from. Absent: a random key kept in the store. */
  secret?: string;
  /** WEBHOOK_ALLOW_PRIVATE=1: deliver to loopback, private and link-local addresses too. */
  allowPrivate?: boolean;
  /** Delay after failed attempt k before attempt k+1 (default DEFAULT_BACKOFF_MS); attempts = length + 1. */
  backoffMs?: number[];
  /** One attempt's limit (default 10 s). */
  timeoutMs?: number;
  /** Attempts in flight on this node at most (default 8). */
  maxInFlight?: number;
  /** Look for due deliveries this often (default 1000 ms). */
  pollMs?: number;
}

export interface WebhookDispatcherOptions extends WebhookSettings {
  store: WebhookStore;
  bus: EventBus;
  logger: RuntimeLogger;
}

/** The server key: WEBHOOK_SECRET's bytes, else the store's shared key (the same on every node). */
export async function webhookServerKey(secret: string | undefined, store: Pick<WebhookStore, 'sharedSecret'>): Promise<Buffer> {
  return secret !== undefined ? Buffer.from(secret, 'utf8') : store.sharedSecret(SERVER_KEY_NAME);
}

const USER_AGENT = 'gradloom-webhooks/1';

export class WebhookDispatcher {
  private readonly backoffMs: number[];
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly pollMs: number;
  private readonly inFlight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private serverKey: Promise<Buffer> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: Array<() => void> = [];
  /** The claim in progress, if any (stop waits for it). */
  private claiming: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: WebhookDispatcherOptions) {
    this.backoffMs = opts.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxInFlight = Math.max(1, Math.floor(opts.maxInFlight ?? 8));
    this.pollMs = opts.pollMs ?? 1000;
  }

  /** Attempts a delivery gets before it fails for good. */
  get maxAttempts(): number {
    return this.backoffMs.length + 1;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.unsubscribe.push(
      this.opts.bus.subscribe((event) => {
        if (event.kind === 'status') this.wake();
      }),
      this.opts.bus.onReconnect(() => this.wake()),
    );
    this.timer = setInterval(() => this.wake(), this.pollMs);
    this.timer.unref();
    this.wake();
  }

  /** Stops claiming, aborts attempts in flight (recorded as interrupted, due again at once) and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const off of this.unsubscribe.splice(0)) off();
    await this.claiming;
    for (const attempt of this.inFlight.values()) attempt.abort.abort();
    await Promise.all([...this.inFlight.values()].map((a) => a.done));
  }

  /** Look for due deliveries now (coalesced: one claim at a time, repeated once if woken meanwhile). */
  wake(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.claiming = this.claimAndSend()
      .catch((err: unknown) => this.opts.logger.warn({ err }, 'webhook deliveries could not be claimed; retrying on the next poll'))
      .finally(() => {
        this.claiming = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async claimAndSend(): Promise<void> {
    const free = this.maxInFlight - this.inFlight.size;
    if (free <= 0 || this.stopped) return;
    // The lease outlives an attempt (bounded by timeoutMs) with room for recording it; a node that dies mid-attempt
    // hands the delivery to another node when it runs out.
    const claimed = await this.opts.store.claimWebhookDeliveries(free, this.timeoutMs * 2 + 5000);
    if (this.stopped) {
      // Stopped while claiming: hand them back, due at once for another node (not sent, so nobody waits a lease out).
      const interrupted = { delivered: false as const, statusCode: null, error: 'interrupted: this node shut down before the attempt', retryInMs: 0 };
      await Promise.all(claimed.map((d) => this.opts.store.recordWebhookAttempt(d.id, d.attempts, interrupted)));
      return;
    }
    for (const delivery of claimed) {
      const abort = new AbortController();
      const done = this.attempt(delivery, abort.signal)
        .catch((err: unknown) => this.opts.logger.error({ err, deliveryId: delivery.id }, 'webhook attempt failed unexpectedly'))
        .finally(() => {
          this.inFlight.delete(delivery.id);
          this.wake(); // a slot is free: more may be due
        });
      this.inFlight.set(delivery.id, { abort, done });
    }
    if (claimed.length === free) this.again = true;
  }

  private key(): Promise<Buffer> {
    this.serverKey ??= webhookServerKey(this.opts.secret, this.opts.store).catch((err: unknown) => {
      this.serverKey = null;
      throw err;
    });
    return this.serverKey;
  }

  private async attempt(delivery: WebhookDelivery, shutdown: AbortSignal): Promise<void> {
    const log = this.opts.logger;
    const outcome = await this.send(delivery, shutdown);
    const recorded = await this.opts.store.recordWebhookAttempt(delivery.id, delivery.attempts, outcome);
    const fields = { deliveryId: delivery.id, jobId: delivery.jobId, attempt: delivery.attempts, statusCode: outcome.statusCode };
    if (!recorded) log.warn(fields, 'webhook attempt outcome not recorded: another node took the delivery over');
    else if (outcome.delivered) log.debug(fields, 'webhook delivered');
    else if (outcome.retryInMs === undefined) log.warn({ ...fields, error: outcome.error }, 'webhook delivery failed for good');
    else log.info({ ...fields, error: outcome.error, retryInMs: outcome.retryInMs }, 'webhook attempt failed; will retry');
  }

  /** One attempt; never throws (every failure is an outcome). */
  private async send(delivery: WebhookDelivery, shutdown: AbortSignal): Promise<WebhookAttemptOutcome> {
    const fail = (error: string, statusCode: number | null = null): WebhookAttemptOutcome =>
      shutdown.aborted
        ? { delivered: false, statusCode, error: 'interrupted: this node shut down during the attempt', retryInMs: 0 }
        : delivery.attempts >= this.maxAttempts
          ? { delivered: false, statusCode, error: `${error} (attempt ${delivery.attempts} of ${this.maxAttempts}: giving up)` }
          : { delivered: false, statusCode, error, retryInMs: this.backoffMs[delivery.attempts - 1] ?? this.backoffMs.at(-1) ?? 0 };
    let url: URL;
    try {
      url = new URL(delivery.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new WebhookRefusedError(`refused: only http:// and https:// URLs are delivered to, not ${url.protocol}`);
      }
      if (!this.opts.allowPrivate) checkLiteralHost(url);
    } catch (err) {
      return { delivered: false, statusCode: null, error: err instanceof WebhookRefusedError ? err.message : `invalid URL: ${(err as Error).message}` };
    }
    try {
      const timestamp = Math.floor(Date.now() / 1000);
      const secret = tenantSigningSecret(await this.key(), delivery.tenant);
      const statusCode = await this.post(url, delivery, signatureHeader(secret, timestamp, delivery.payload), shutdown);
      if (statusCode >= 200 && statusCode < 300) return { delivered: true, statusCode };
      return fail(`the receiver answered HTTP ${statusCode}`, statusCode);
    } catch (err) {
      if (err instanceof WebhookRefusedError || (err as { code?: string }).code === 'WEBHOOK_REFUSED') {
        return { delivered: false, statusCode: null, error: (err as Error).message };
      }
      if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') {
        return fail(shutdown.aborted ? 'interrupted' : `timed out after ${this.timeoutMs} ms without an answer`);
      }
      const code = (err as { code?: string }).code;
      return fail(`${code ? `${code}: ` : ''}${(err as Error).message}`);
    }
  }

  /** POSTs the body; resolves with the status code once the answer's headers arrive (its body is discarded). */
  private post(url: URL, delivery: WebhookDelivery, signature: string, shutdown: AbortSignal): Promise<number> {
    // One controller, aborted by our own timer or by shutdown. Not AbortSignal.any([AbortSignal.timeout(ms), …]):
    // Node may collect that timeout signal before it fires (nodejs/node#57736), and the attempt then hangs for as
    // long as the receiver does. The timer and the listener live exactly as long as the attempt.
    const abort = new AbortController();
    const onShutdown = () => abort.abort(shutdown.reason);
    const timer = setTimeout(() => abort.abort(new DOMException(`timed out after ${this.timeoutMs} ms`, 'TimeoutError')), this.timeoutMs);
    if (shutdown.aborted) onShutdown();
    else shutdown.addEventListener('abort', onShutdown, { once: true });
    const signal = abort.signal;
    const body = Buffer.from(delivery.payload, 'utf8');
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<number>((resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        signal,
        // A fresh connection per attempt: no pooled socket skips the address check, and nothing lingers.
        agent: false,
        ...(this.opts.allowPrivate ? {} : { lookup: checkedLookup as never }),
        headers: {
          'content-type': 'application/json',
          'content-length': String(body.byteLength),
          'user-agent': USER_AGENT,
          [SIGNATURE_HEADER]: signature,
          [DELIVERY_HEADER]: delivery.id,
          [EVENT_HEADER]: delivery.event,
        },
      });
      req.once('response', (res: IncomingMessage) => {
        resolve(res.statusCode ?? 0);
        res.on('error', () => {}); // whatever happens to the answer now changes nothing (and must not crash)
        res.destroy(); // the answer's body means nothing to us; do not wait for (or buffer) it
      });
      // `on`, not `once`: a second 'error' (an abort after a reset) without a listener would crash the process.
      req.on('error', reject);
      req.end(body);
    }).finally(() => {
      clearTimeout(timer);
      shutdown.removeEventListener('abort', onShutdown);
    });
  }
}
