// @ts-check
/**
 * The API client: the key from localStorage as `Authorization: Bearer`, JSON in and out, errors as ApiError with
 * the server's `{error, message, issues}`. WebSockets cannot carry headers in a browser, so the stream URL carries
 * the key as `?access_token=` (the server accepts it on stream routes only).
 */

const KEY_STORAGE = 'gradloom.apiKey';

export function getApiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function setApiKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Private mode without storage: the key lasts for this page only.
  }
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? 'http_error';
    /** @type {{path: string, message: string}[]} */
    this.issues = Array.isArray(body?.issues) ? body.issues : [];
  }
}

function headers(extra = {}) {
  const key = getApiKey();
  return { ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra };
}

async function fail(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { error: 'http_error', message: `${response.status} ${response.statusText}` };
  }
  if (response.status === 401) body.message = `${body.message ?? 'unauthorized'} (enter an API key at the top of the page)`;
  throw new ApiError(response.status, body);
}

/**
 * JSON request; resolves to the parsed body (or null for 204).
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {Record<string, string>} [extraHeaders]
 */
export async function api(method, path, body, extraHeaders = {}) {
  const response = await fetch(path, {
    method,
    headers: headers({ ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extraHeaders }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) await fail(response);
  return response.status === 204 ? null : response.json();
}

/** A download (checkpoint, SVG), as a Blob plus the server's file name when it gives one. */
export async function download(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) await fail(response);
  const disposition = response.headers.get('content-disposition') ?? '';
  const match = /filename="([^"]+)"/.exec(disposition);
  return { blob: await response.blob(), filename: match ? match[1] : null };
}

/**
 * The stream's URL. With a key, the WebSocket authenticates with `?access_token=`: preferably a short-lived stream
 * token for this job (POST /v1/stream-tokens), so that the key itself stays out of URLs and logs; when the server
 * does not issue tokens, the key itself (the server accepts either on stream routes).
 */
export async function streamUrl(jobId) {
  const url = new URL(`/v1/jobs/${encodeURIComponent(jobId)}/stream`, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const key = getApiKey();
  if (key) {
    let token = key;
    try {
      token = (await api('POST', '/v1/stream-tokens', { jobId })).token ?? key;
    } catch {
      // No token endpoint (or it refused): fall back to the key; the stream answers 401 if that is wrong too.
    }
    url.searchParams.set('access_token', token);
  }
  return url.toString();
}
