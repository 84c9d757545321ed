/**
 * The HTTP side of the CLI: Node's fetch with `Authorization: Bearer`, and errors that carry the server's own message
 * (and its per-field issues) so that the CLI can print them and exit non-zero.
 */

export interface ClientOptions {
  url: string;
  apiKey?: string;
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

interface ErrorBody {
  error?: string;
  message?: string;
  issues?: Array<{ path: string; message: string }>;
}

export function formatApiError(status: number, body: ErrorBody | null, fallback: string): string {
  if (!body || typeof body.message !== 'string') return `HTTP ${status}: ${fallback}`;
  const lines = [`${body.message} (HTTP ${status}${body.error ? ` ${body.error}` : ''})`];
  for (const issue of body.issues ?? []) lines.push(`  ${issue.path || '(body)'}: ${issue.message}`);
  return lines.join('\n');
}

export class Client {
  readonly base: string;
  constructor(private readonly options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}), ...extra };
  }

  /** The stream URL; the key goes in the Authorization header (ws can set headers), never in the URL. */
  wsUrl(path: string): string {
    const url = new URL(this.base + path);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.toString();
  }

  async raw(method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: this.headers({ ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers }),
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach gradloom at ${this.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}` +
          ' (is `gradloom serve` running? set --url or GRADLOOM_URL)',
      );
    }
    if (!response.ok) {
      const text = await response.text();
      let body: ErrorBody | null = null;
      try {
        body = JSON.parse(text) as ErrorBody;
      } catch {
        body = null;
      }
      throw new CliError(formatApiError(response.status, body, text.slice(0, 200) || response.statusText), 1, body);
    }
    return response;
  }

  async json<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const response = await this.raw(method, path, { body, headers });
    return (response.status === 204 ? null : await response.json()) as T;
  }
}
