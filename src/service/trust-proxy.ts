/**
 * TRUST_PROXY: which peers may tell the service the client's address (X-Forwarded-For) and scheme. Everything keyed by
 * client address (the per-address rate limit of public routes, the failed-authentication limiter, request logs) uses
 * `request.ip`, which is the TCP peer unless the peer is trusted. Behind a reverse proxy without this setting every
 * client shares the proxy's address: one client's failed logins would lock out everyone.
 *
 *   ''                 trust nobody (the default: a directly exposed server must not believe a forged header)
 *   'true'             trust every hop (only when the service cannot be reached except through the proxy)
 *   '2'                trust that many hops from the server
 *   '10.0.0.0/8,::1'   trust these addresses or subnets ('loopback', 'linklocal', 'uniquelocal' name the usual ranges)
 */
import { isIP } from 'node:net';

export type TrustProxy = boolean | number | string[];

const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** Returns the Fastify `trustProxy` value, or an error message naming the entry that is not an address or subnet. */
export function parseTrustProxy(raw: string): TrustProxy | { error: string } {
  const value = raw.trim();
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const entry of entries) {
    if (NAMED_RANGES.has(entry)) continue;
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const maxPrefix = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || extra !== undefined) {
      return {
        error: `entry ${JSON.stringify(entry)} is not an IP address, a subnet like 10.0.0.0/8, or one of loopback, linklocal, uniquelocal (or use true, false or a hop count)`,
      };
    }
  }
  return entries;
}
