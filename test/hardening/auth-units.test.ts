import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiKeyConfigError, KeyRing, loadKeyRing, parseApiKeysEnv, parseApiKeysFile, sha256 } from '../../src/service/auth/keys.js';
import { checkAuthExposure, InsecureConfigError, isLoopbackHost } from '../../src/service/auth/loopback.js';
import { StreamTokenIssuer } from '../../src/service/auth/stream-tokens.js';
import { loadSecurityConfig, parseCorsOrigins } from '../../src/service/auth/security-config.js';
import { leaksInternals } from '../../src/service/plugins/security.js';

describe('API keys', () => {
  it('parses API_KEYS and verifies each key to its tenant', () => {
    const ring = new KeyRing(parseApiKeysEnv('alice:alice-key-0123456789, bob:bob-key-0123456789abc'));
    expect(ring.verify('alice-key-0123456789')).toBe('alice');
    expect(ring.verify('bob-key-0123456789abc')).toBe('bob');
    expect(ring.verify('alice-key-012345678')).toBeNull();
    expect(ring.verify('')).toBeNull();
    expect(ring.tenants().sort()).toEqual(['alice', 'bob']);
  });

  it('keeps only digests: no key text survives in the ring', () => {
    const ring = new KeyRing(parseApiKeysEnv('alice:super-secret-key-value'));
    const dump = JSON.stringify(ring) + JSON.stringify(Object.entries(ring)) + String(ring);
    expect(dump).not.toContain('super-secret-key-value');
    // The digest is what is stored (and it is SHA-256 of the key).
    const entries = (ring as unknown as { entries: { digest: Buffer }[] }).entries;
    expect(entries[0]!.digest.equals(sha256('super-secret-key-value'))).toBe(true);
  });

  it('reads API_KEYS_FILE with comments and blank lines, and merges with API_KEYS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gl-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, '# team keys\n\ncarol:carol-key-0123456789\n  # indented comment\ndave:dave-key-0123456789\n');
    const ring = loadKeyRing({ API_KEYS: 'alice:alice-key-0123456789', API_KEYS_FILE: file });
    expect(ring.size).toBe(3);
    expect(ring.verify('dave-key-0123456789')).toBe('dave');
    expect(ring.verify('# team keys')).toBeNull();
  });

  it('refuses malformed entries with the line, never the key', () => {
    expect(() => parseApiKeysFile('alice:ok-key-0123456789\nnocolonhere\n', 'keys.txt')).toThrow(/keys.txt line 2/);
    expect(() => parseApiKeysEnv('al ice:key-0123456789abcdef')).toThrow(ApiKeyConfigError);
    expect(() => parseApiKeysEnv('alice:')).toThrow(/empty/);
    expect(() => parseApiKeysEnv('a:same-key-0123456789,b:same-key-0123456789')).toThrow(/listed twice/);
    try {
      parseApiKeysEnv('bad tenant:my-very-secret-key');
    } catch (err) {
      expect(String(err)).not.toContain('my-very-secret-key');
    }
    expect(() => loadKeyRing({ API_KEYS_FILE: '/nonexistent/keys' })).toThrow(/cannot be read: ENOENT/);
  });

  it('flags short keys for a warning', () => {
    const ring = new KeyRing(parseApiKeysEnv('alice:short,bob:long-enough-key-01234'));
    expect(ring.weakKeyTenants()).toEqual(['alice']);
    expect(ring.verify('short')).toBe('alice');
  });
});

describe('stream tokens', () => {
  it('round-trips tenant and job, and expires', () => {
    let now = 1_000_000;
    const issuer = new StreamTokenIssuer(60_000, Buffer.alloc(32, 7), () => now);
    const { token, expiresInMs } = issuer.issue('alice', 'job-1');
    expect(expiresInMs).toBe(60_000);
    expect(issuer.verify(token)).toEqual({ t: 'alice', j: 'job-1', exp: 1_060_000 });
    now += 59_999;
    expect(issuer.verify(token)).not.toBeNull();
    now += 1;
    expect(issuer.verify(token)).toBeNull();
  });

  it('rejects tampered payloads, foreign secrets and junk', () => {
    const issuer = new StreamTokenIssuer(60_000, Buffer.alloc(32, 1));
    const other = new StreamTokenIssuer(60_000, Buffer.alloc(32, 2));
    const { token } = issuer.issue('alice');
    expect(other.verify(token)).toBeNull();
    const [p, payload, sig] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ t: 'bob', exp: Date.now() + 60_000 })).toString('base64url');
    expect(issuer.verify(`${p}.${forged}.${sig}`)).toBeNull();
    expect(issuer.verify(`${p}.${payload}.`)).toBeNull();
    expect(issuer.verify(`${p}.${payload}`)).toBeNull();
    expect(issuer.verify('gst.' + 'A'.repeat(5000))).toBeNull();
    expect(issuer.verify('not-a-token')).toBeNull();
  });
});

describe('loopback rule', () => {
  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '::ffff:10.0.0.1', '128.0.0.1'])
      expect(isLoopbackHost(h), h).toBe(false);
  });

  it('refuses to expose a keyless server, warns on loopback, is silent with keys', () => {
    expect(() => checkAuthExposure('0.0.0.0', 0)).toThrow(InsecureConfigError);
    expect(() => checkAuthExposure('0.0.0.0', 0)).toThrow(/API_KEYS/);
    expect(checkAuthExposure('127.0.0.1', 0)).toMatch(/AUTHENTICATION IS DISABLED/);
    expect(checkAuthExposure('0.0.0.0', 2)).toBeNull();
  });
});

describe('security configuration', () => {
  it('has defaults and validates values', () => {
    const c = loadSecurityConfig({});
    expect(c.corsOrigins).toEqual([]);
    expect(c.rateLimitPerMinute).toBeGreaterThan(0);
    expect(() => loadSecurityConfig({ RATE_LIMIT_PER_MINUTE: 'lots' })).toThrow(/RATE_LIMIT_PER_MINUTE="lots"/);
    expect(() => loadSecurityConfig({ API_KEYS: 'x', WS_PING_INTERVAL_MS: '1' })).toThrow(/WS_PING_INTERVAL_MS/);
  });

  it('parses CORS origins', () => {
    expect(parseCorsOrigins('')).toEqual([]);
    expect(parseCorsOrigins('*')).toBe('*');
    expect(parseCorsOrigins('https://a.example, http://localhost:5173/')).toEqual(['https://a.example', 'http://localhost:5173']);
    expect(() => parseCorsOrigins('https://a.example/path')).toThrow(/did you mean https:\/\/a.example/);
    expect(() => parseCorsOrigins('not an origin')).toThrow(/CORS_ORIGINS/);
  });

  it('recognises stack traces and paths in bodies', () => {
    expect(leaksInternals(JSON.stringify({ message: 'x', stack: 'Error: x\n    at foo (/work/main/src/a.ts:1:2)' }))).toBe(true);
    expect(leaksInternals('{"message":"ENOENT: no such file, open \'/var/lib/gradloom/x.db\'"}')).toBe(true);
    expect(leaksInternals('{"error":"not_found","message":"job abc not found"}')).toBe(false);
    expect(leaksInternals('{"message":"model.inputDim is 5000, above the limit of 1000 (MAX_INPUT_DIM)"}')).toBe(false);
  });
});
