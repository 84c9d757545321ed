/**
 * Running without API keys is a convenience for a developer's own machine. It is allowed only while the server
 * listens on loopback; anywhere else anyone who can reach the port could read and run everything.
 */
import { isIP } from 'node:net';

export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return isIP(h.slice(7)) === 4 && h.slice(7).startsWith('127.');
  return false;
}

export class InsecureConfigError extends Error {
  override name = 'InsecureConfigError';
}

/**
 * Throws (refusing to start) when there are no keys and HOST is not loopback. Returns a warning to log loudly when
 * auth is off on loopback, or null when keys are configured.
 */
export function checkAuthExposure(host: string, keyCount: number): string | null {
  if (keyCount > 0) return null;
  if (!isLoopbackHost(host)) {
    throw new InsecureConfigError(
      `refusing to start: HOST=${host} is not a loopback address and no API keys are configured. ` +
        'Set API_KEYS="tenant:key,..." or API_KEYS_FILE=/path/to/keys (one tenant:key per line), ' +
        'or bind to HOST=127.0.0.1 for local use without authentication.',
    );
  }
  return (
    `AUTHENTICATION IS DISABLED: no API keys are configured (API_KEYS / API_KEYS_FILE), so every request acts as ` +
    `tenant "default". This is allowed only because HOST=${host} is loopback; never expose this port.`
  );
}
