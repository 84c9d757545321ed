/**
 * TRUST_PROXY decides whose X-Forwarded-For becomes request.ip, which keys the failed-authentication limiter. Behind
 * a proxy without it, one client's bad keys lock out every client; with it, a forged header from an untrusted peer
 * must still be ignored.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/service/config.js';
import { parseTrustProxy } from '../../src/service/trust-proxy.js';
import { ALICE_KEY, makeHardenedApp, TWO_TENANTS, type HardenedApp } from './service.js';

let open: HardenedApp[] = [];
afterEach(async () => {
  await Promise.all(open.map((h) => h.close()));
  open = [];
});

async function appWith(trustProxy: string) {
  const h = await makeHardenedApp({ env: { API_KEYS: TWO_TENANTS, AUTH_FAILURES_PER_MINUTE: '2', TRUST_PROXY: trustProxy } });
  open.push(h);
  return (key: string, forwardedFor: string, remoteAddress = '127.0.0.1') =>
    h.app.inject({
      method: 'GET',
      url: '/v1/jobs',
      headers: { authorization: `Bearer ${key}`, 'x-forwarded-for': forwardedFor },
      remoteAddress,
    });
}

describe('TRUST_PROXY', () => {
  it('parses off, all, hop counts and address lists, and names a bad entry', () => {
    expect(parseTrustProxy('')).toBe(false);
    expect(parseTrustProxy('false')).toBe(false);
    expect(parseTrustProxy('true')).toBe(true);
    expect(parseTrustProxy('2')).toBe(2);
    expect(parseTrustProxy('10.0.0.0/8, ::1 ,loopback')).toEqual(['10.0.0.0/8', '::1', 'loopback']);
    for (const bad of ['10.0.0.0/33', 'proxy.local', '::1/129', '1.2.3.4/8/1']) {
      expect(parseTrustProxy(bad)).toEqual({ error: expect.stringContaining(JSON.stringify(bad)) });
    }
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.1,nonsense' })).toThrow(ConfigError);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.1,nonsense' })).toThrow(/TRUST_PROXY="10.0.0.1,nonsense": entry "nonsense"/);
    expect(loadConfig({}).trustProxy).toBe(false);
  });

  it('without it, X-Forwarded-For is ignored: clients behind one proxy share its address', async () => {
    const get = await appWith('');
    expect((await get('wrong-key-000000000000', '203.0.113.1')).statusCode).toBe(401);
    expect((await get('wrong-key-000000000000', '203.0.113.1')).statusCode).toBe(401);
    // Another client, same proxy: its failures are blocked too, because the forged or real header is not believed
    // (its valid key still works).
    const other = await get('wrong-key-111111111111', '203.0.113.2');
    expect(other.statusCode).toBe(429);
    expect(other.json()).toMatchObject({ error: 'too_many_auth_failures' });
    expect((await get(ALICE_KEY, '203.0.113.2')).statusCode).toBe(200);
  });

  it('with the proxy trusted, each forwarded client is limited on its own', async () => {
    const get = await appWith('127.0.0.1');
    expect((await get('wrong-key-000000000000', '203.0.113.1')).statusCode).toBe(401);
    expect((await get('wrong-key-000000000000', '203.0.113.1')).statusCode).toBe(401);
    expect((await get('wrong-key-111111111111', '203.0.113.1')).statusCode).toBe(429);
    expect((await get('wrong-key-111111111111', '203.0.113.2')).statusCode).toBe(401);
    // A peer that is not the trusted proxy cannot pick its address by sending the header.
    expect((await get('wrong-key-000000000000', '203.0.113.9', '198.51.100.7')).statusCode).toBe(401);
    expect((await get('wrong-key-000000000000', '203.0.113.8', '198.51.100.7')).statusCode).toBe(401);
    expect((await get('wrong-key-111111111111', '203.0.113.7', '198.51.100.7')).statusCode).toBe(429);
  });

  it('a hop count trusts that many proxies', async () => {
    const get = await appWith('1');
    expect((await get('wrong-key-000000000000', '203.0.113.1')).statusCode).toBe(401);
    expect((await get('wrong-key-000000000000', '203.0.113.1')).statusCode).toBe(401);
    expect((await get('wrong-key-111111111111', '203.0.113.2')).statusCode).toBe(401);
  });
});
