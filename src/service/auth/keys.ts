/**
 * API keys: parsed from `API_KEYS` ("tenant:key,tenant2:key2") or an `API_KEYS_FILE` (one "tenant:key" per line,
 * '#' comments). Only SHA-256 digests are kept once loaded, so a heap dump or a log of this object shows no key.
 * Verification hashes the presented key and compares it with every stored digest using timingSafeEqual, without an
 * early exit, so the time taken says nothing about which key (or how much of one) matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface KeyEntry {
  tenant: string;
  digest: Buffer;
  /** Set when the key is shorter than RECOMMENDED_KEY_LENGTH, so start-up can warn (never the key itself). */
  weak?: boolean;
}

/** Tenants name rows in the store and appear in logs: keep them to a boring alphabet. */
const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Shorter keys are guessable: they load (tests and demos use them) but produce a start-up warning. */
export const RECOMMENDED_KEY_LENGTH = 16;

export class ApiKeyConfigError extends Error {
  override name = 'ApiKeyConfigError';
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Parses "tenant:key" entries. `source` names where they came from, for error messages (never the key itself). */
export function parseKeyEntries(entries: Iterable<{ text: string; where: string }>): KeyEntry[] {
  const out: KeyEntry[] = [];
  const seen = new Set<string>();
  for (const { text, where } of entries) {
    const colon = text.indexOf(':');
    if (colon <= 0) throw new ApiKeyConfigError(`${where}: expected "tenant:key", got an entry without a tenant`);
    const tenant = text.slice(0, colon).trim();
    const key = text.slice(colon + 1).trim();
    if (!TENANT_RE.test(tenant)) {
      throw new ApiKeyConfigError(
        `${where}: tenant ${JSON.stringify(tenant)} must match ${TENANT_RE} (letters, digits, '_', '.', '-')`,
      );
    }
    if (key.length === 0) throw new ApiKeyConfigError(`${where}: the key for tenant "${tenant}" is empty`);
    const digest = sha256(key);
    const hex = digest.toString('hex');
    if (seen.has(hex)) throw new ApiKeyConfigError(`${where}: the key for tenant "${tenant}" is listed twice`);
    seen.add(hex);
    out.push({ tenant, digest, weak: key.length < RECOMMENDED_KEY_LENGTH });
  }
  return out;
}

/** `API_KEYS`: comma-separated "tenant:key" pairs. */
export function parseApiKeysEnv(value: string): KeyEntry[] {
  const parts = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  return parseKeyEntries(parts.map((text, i) => ({ text, where: `API_KEYS entry ${i + 1}` })));
}

/** `API_KEYS_FILE`: one "tenant:key" per line; blank lines and lines starting with '#' are ignored. */
export function parseApiKeysFile(contents: string, path: string): KeyEntry[] {
  const lines: { text: string; where: string }[] = [];
  contents.split(/\r?\n/).forEach((line, i) => {
    const text = line.trim();
    if (text.length === 0 || text.startsWith('#')) return;
    lines.push({ text, where: `${path} line ${i + 1}` });
  });
  return parseKeyEntries(lines);
}

export class KeyRing {
  private readonly entries: readonly KeyEntry[];

  constructor(entries: KeyEntry[]) {
    const seen = new Set<string>();
    for (const e of entries) {
      const hex = e.digest.toString('hex');
      if (seen.has(hex)) throw new ApiKeyConfigError(`the key for tenant "${e.tenant}" is configured twice`);
      seen.add(hex);
    }
    this.entries = Object.freeze(
      entries.map((e) => ({ tenant: e.tenant, digest: Buffer.from(e.digest), weak: e.weak === true })),
    );
  }

  /** Tenants whose key is shorter than RECOMMENDED_KEY_LENGTH characters (for a start-up warning). */
  weakKeyTenants(): string[] {
    return [...new Set(this.entries.filter((e) => e.weak).map((e) => e.tenant))];
  }

  get size(): number {
    return this.entries.length;
  }

  tenants(): string[] {
    return [...new Set(this.entries.map((e) => e.tenant))];
  }

  /** The tenant owning `key`, or null. Constant time in the key's content: every digest is compared. */
  verify(key: string): string | null {
    const presented = sha256(key);
    let match: string | null = null;
    for (const entry of this.entries) {
      // timingSafeEqual over fixed-length digests: no length leak, no early exit on the first differing byte.
      if (timingSafeEqual(presented, entry.digest) && match === null) match = entry.tenant;
    }
    return match;
  }

  /** Never print digests: they are not keys, but they are not for logs either. */
  toJSON(): unknown {
    return { tenants: this.tenants(), keys: this.entries.length };
  }
}

export interface KeySources {
  API_KEYS?: string | undefined;
  API_KEYS_FILE?: string | undefined;
}

/** Loads keys from both sources (either, both, or neither: an empty ring means "no auth configured"). */
export function loadKeyRing(sources: KeySources, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): KeyRing {
  const entries: KeyEntry[] = [];
  if (sources.API_KEYS && sources.API_KEYS.trim().length > 0) entries.push(...parseApiKeysEnv(sources.API_KEYS));
  if (sources.API_KEYS_FILE && sources.API_KEYS_FILE.trim().length > 0) {
    const path = sources.API_KEYS_FILE.trim();
    let contents: string;
    try {
      contents = readFile(path);
    } catch (err) {
      throw new ApiKeyConfigError(`API_KEYS_FILE ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    entries.push(...parseApiKeysFile(contents, `API_KEYS_FILE ${path}`));
  }
  return new KeyRing(entries);
}
