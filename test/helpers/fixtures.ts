/**
 * Loads the PyTorch fixtures in test/fixtures/pytorch: the JSON facts and the tensors of the paired
 * .safetensors file, read with the engine's own reader (loadSafetensors).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadSafetensors, Tensor } from '../../src/engine/index.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/pytorch/', import.meta.url));

export interface Fixture<J = any> {
  json: J;
  /** A fresh tensor (its own copy of the data) for the named fixture tensor; throws on unknown names. */
  get(name: string): Tensor;
  has(name: string): boolean;
  names(): string[];
}

export function readFixtureBytes(file: string): Uint8Array {
  const buf = readFileSync(FIXTURE_DIR + file);
  // A Buffer may start at an unaligned byteOffset: copy into a fresh, aligned Uint8Array.
  return new Uint8Array(buf);
}

export function loadFixture<J = any>(name: string): Fixture<J> {
  const json = JSON.parse(readFileSync(`${FIXTURE_DIR}${name}.json`, 'utf8')) as J;
  const parsed = loadSafetensors(readFixtureBytes(`${name}.safetensors`));
  return {
    json,
    get(t: string): Tensor {
      const raw = parsed.tensors[t];
      if (!raw) throw new Error(`fixture ${name} has no tensor ${JSON.stringify(t)}`);
      return new Tensor(raw.data.slice(), raw.shape.slice());
    },
    has: (t) => t in parsed.tensors,
    names: () => Object.keys(parsed.tensors),
  };
}

export interface CloseResult {
  ok: boolean;
  worst: number;
  at: number;
  message: string;
}

/**
 * numpy.allclose semantics (|a - e| <= atol + rtol * |e| elementwise), NaN equal to NaN, plus shape equality.
 * Returns a message naming the worst element when it fails.
 */
export function allClose(actual: Tensor, expected: Tensor, rtol: number, atol: number): CloseResult {
  const sa = JSON.stringify(actual.shape);
  const se = JSON.stringify(expected.shape);
  if (sa !== se) return { ok: false, worst: Infinity, at: -1, message: `shape ${sa} != expected ${se}` };
  let worst = 0;
  let at = -1;
  let ok = true;
  const a = actual.data;
  const e = expected.data;
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(e[i])) continue;
    const err = Math.abs(a[i] - e[i]);
    const allowed = atol + rtol * Math.abs(e[i]);
    const ratio = err / allowed;
    if (!(err <= allowed)) ok = false;
    if (!(ratio <= worst)) {
      worst = ratio;
      at = i;
    }
  }
  return {
    ok,
    worst,
    at,
    message: ok ? 'ok' : `element ${at}: got ${a[at]}, expected ${e[at]} (error ${(worst).toFixed(2)}x the tolerance)`,
  };
}

/** Max-norm relative difference: max|a - e| / max|e|. */
export function maxNormRel(actual: Float32Array, expected: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < expected.length; i++) {
    d = Math.max(d, Math.abs(actual[i] - expected[i]));
    m = Math.max(m, Math.abs(expected[i]));
  }
  return d / m;
}
