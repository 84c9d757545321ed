/**
 * Where webhooks may go. By default a delivery is refused when its host is, or resolves to, an address that is not
 * publicly routable: loopback, private (RFC 1918), carrier-grade NAT, link-local (cloud metadata at 169.254.169.254),
 * unique-local, multicast, reserved. The check runs inside the connection's own DNS lookup, on EVERY address the name
 * resolves to, and the connection then uses those checked addresses: a name that resolves to a public address when
 * checked and a private one when connecting (DNS rebinding) cannot slip through. WEBHOOK_ALLOW_PRIVATE=1 turns this
 * off (tests, or a deployment whose receivers are internal by design). See docs/security.md.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24], // documentation ranges
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64: may map to any IPv4 address, private ones included
  ['2002::', 16], // 6to4: embeds an IPv4 address
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
  ['2001:db8::', 32], // documentation
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) need no rule of their own: BlockList checks them against the IPv4 rules.

/** Whether an IP address (v4 or v6) is outside the public internet. Anything unparseable counts as private. */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) return blocked.check(address, 'ipv6');
  return true;
}

/** A delivery the policy refuses: recorded on the delivery as its error, and not retried. */
export class WebhookRefusedError extends Error {
  readonly code = 'WEBHOOK_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'WebhookRefusedError';
  }
}

export const ALLOW_PRIVATE_HINT = 'set WEBHOOK_ALLOW_PRIVATE=1 on the server to allow internal receivers';

/** The host of a URL without IPv6 brackets. */
export function urlHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** Throws WebhookRefusedError for a literal non-public IP host; names are checked when they resolve (checkedLookup). */
export function checkLiteralHost(url: URL): void {
  const host = urlHost(url);
  if (isIP(host) && isNonPublicAddress(host)) {
    throw new WebhookRefusedError(`refused: ${host} is not a public address (${ALLOW_PRIVATE_HINT})`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A drop-in `lookup` for http.request: resolves every address of the name and refuses the connection when any of
 * them is not public (one private answer is enough for an attacker who controls the name's DNS).
 */
export function checkedLookup(
  hostname: string,
  options: LookupOneOptions | LookupAllOptions | number | undefined,
  callback: LookupCallback,
): void {
  const wantAll = typeof options === 'object' && options !== null && options.all === true;
  const family = typeof options === 'number' ? options : (options?.family ?? 0);
  dnsLookup(hostname, { all: true, family: family as 0 | 4 | 6 }, (err, addresses) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => isNonPublicAddress(a.address));
    if (bad) {
      return callback(
        new WebhookRefusedError(`refused: ${hostname} resolves to ${bad.address}, which is not a public address (${ALLOW_PRIVATE_HINT})`),
        [],
      );
    }
    if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
    if (wantAll) return callback(null, addresses);
    return callback(null, addresses[0]!.address, addresses[0]!.family);
  });
}
