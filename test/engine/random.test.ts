/**
 * "Same seed, same numbers": our generator against real PyTorch draws (test/fixtures/pytorch/rng.*,
 * two_layer_autograd.*). Everything here is compared bit for bit: the normal fill reproduces PyTorch's AVX2
 * kernel (avx_mathfun log/sincos with its fused multiply-adds), so no ulp tolerance is needed — measured max
 * difference 0 ulp over all fixture values, including the 165,640 values of randn x, y, w1, w2.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generator, defaultGenerator, manualSeed, normalFill, uniformFill } from '../../src/engine/random.js';
import { fmaf } from '../../src/engine/fmaf.js';
import { parseSafetensors } from '../../src/engine/safetensorsFormat.js';

const FIX = 'test/fixtures/pytorch';
const rng = parseSafetensors(readFileSync(`${FIX}/rng.safetensors`)).tensors;
const rngJson = JSON.parse(readFileSync(`${FIX}/rng.json`, 'utf8')) as {
  cases: { name: string; program: string; tensors: Record<string, string>; shapes: Record<string, number[]> }[];
};

function bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}
function expectBitEqual(got: Float32Array, name: string): void {
  const want = rng[name]!.data;
  expect(got.length).toBe(want.length);
  expect(bits(got)).toEqual(bits(want));
}
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

describe('mt19937', () => {
  it('matches the reference mt19937 stream (10000th output for seed 5489 is 4123659995, C++11 [rand.predef])', () => {
    const g = new Generator(5489);
    let v = 0;
    for (let i = 0; i < 10000; i++) v = g.random();
    expect(v).toBe(4123659995);
  });

  it('truncates seeds to 32 bits for the state, as at::mt19937 does, but remembers the full seed', () => {
    const a = new Generator(2n ** 40n + 12345n);
    const b = new Generator(12345);
    expect([a.random(), a.random(), a.random()]).toEqual([b.random(), b.random(), b.random()]);
    expect(a.initialSeed()).toBe(2n ** 40n + 12345n);
    // torch.manual_seed(-1) wraps to 2^64 - 1
    expect(new Generator(-1).initialSeed()).toBe(2n ** 64n - 1n);
    expect(new Generator(-1).random()).toBe(new Generator(0xffffffff).random());
  });

  it('rejects seeds PyTorch rejects', () => {
    expect(() => new Generator(1.5)).toThrow(/integer seed/);
    expect(() => new Generator(2n ** 64n)).toThrow(/Overflow/);
  });

  it('random64 joins two draws, first draw in the high word', () => {
    const a = new Generator(3);
    const b = new Generator(3);
    const hi = BigInt(b.random());
    const lo = BigInt(b.random());
    expect(a.random64()).toBe((hi << 32n) | lo);
  });
});

describe('rng fixtures (torch.manual_seed + randn/rand/uniform_), bit for bit', () => {
  const simple = rngJson.cases.filter((c) => /^torch\.manual_seed\(\d+\); torch\.(randn|rand)\(/.test(c.program));
  it('covers every randn/rand case in rng.json', () => {
    expect(simple.map((c) => c.name)).toEqual(expect.arrayContaining(['randn_15_seed0', 'randn_17_seed0', 'rand_17_seed0']));
    expect(simple.length).toBe(17);
  });
  for (const c of simple) {
    it(c.program, () => {
      const [, seed, fn] = /manual_seed\((\d+)\); torch\.(randn|rand)\(/.exec(c.program)!;
      manualSeed(Number(seed));
      const out = new Float32Array(numel(c.shapes.out!));
      if (fn === 'randn') normalFill(out, 0, 1);
      else uniformFill(out, 0, 1);
      expectBitEqual(out, c.tensors.out!);
    });
  }

  it('sequence: draws continue the stream, and the scalar normal path caches its second value across calls', () => {
    const g = new Generator(0);
    expectBitEqual(normalFill(new Float32Array(3), 0, 1, g), 'sequence_seed0.a');
    expectBitEqual(normalFill(new Float32Array(20), 0, 1, g), 'sequence_seed0.b');
    expectBitEqual(uniformFill(new Float32Array(4), 0, 1, g), 'sequence_seed0.c');
    expectBitEqual(normalFill(new Float32Array(5), 0, 1, g), 'sequence_seed0.d');
  });

  it('uniform_(-0.5, 0.5)', () => {
    expectBitEqual(uniformFill(new Float32Array(12), -0.5, 0.5, new Generator(0)), 'uniform_4x3_seed0.out');
  });

  it('randn(15) is not a prefix of randn(16); randn(17) recomputes its tail', () => {
    expect(rng['randn_15_seed0.out']!.data[0]).not.toBe(rng['randn_16_seed0.out']!.data[0]);
    expect(rng['randn_17_seed0.out']!.data[1]).not.toBe(rng['randn_16_seed0.out']!.data[1]);
  });
});

describe('randn after manualSeed(0) as in the two-layer tutorial', () => {
  it('x[64,1000], y[64,10], w1[1000,100], w2[100,10] equal torch.randn bit for bit (0 ulp)', () => {
    const t = parseSafetensors(readFileSync(`${FIX}/two_layer_autograd.safetensors`)).tensors;
    manualSeed(0);
    for (const [name, n] of [['x', 64000], ['y', 640], ['w1', 100000], ['w2', 1000]] as const) {
      const got = normalFill(new Float32Array(n));
      const want = t[name]!.data;
      let maxUlp = 0;
      const gi = new Int32Array(got.buffer);
      const wi = new Int32Array(want.buffer, want.byteOffset, want.length);
      for (let i = 0; i < n; i++) maxUlp = Math.max(maxUlp, Math.abs(gi[i]! - wi[i]!));
      expect(maxUlp, name).toBe(0);
    }
  });
});

describe('generator state', () => {
  it('getState/setState survive JSON and resume the exact stream, including the cached normal', () => {
    const g = new Generator(99);
    normalFill(new Float32Array(40), 0, 1, g);
    normalFill(new Float32Array(3), 0, 1, g); // leaves a cached Box–Muller sample
    const saved = JSON.parse(JSON.stringify(g.getState()));
    const expected = [normalFill(new Float32Array(5), 0, 1, g), uniformFill(new Float32Array(7), 0, 1, g)];
    const h = new Generator(1).setState(saved);
    const got = [normalFill(new Float32Array(5), 0, 1, h), uniformFill(new Float32Array(7), 0, 1, h)];
    expect(got).toEqual(expected);
    expect(h.initialSeed()).toBe(99n);
  });

  it('manualSeed clears the cached normal (torch.manual_seed resets next_double_normal_sample)', () => {
    const g = new Generator(0);
    normalFill(new Float32Array(1), 0, 1, g); // caches the sine half
    g.manualSeed(0);
    expectBitEqual(normalFill(new Float32Array(1), 0, 1, g), 'randn_1_seed0.out');
  });

  it('setState rejects values that are not generator states', () => {
    expect(() => new Generator().setState({ seed: '1', mt: [1, 2], next: 0, left: 1, nextDoubleNormal: null })).toThrow(
      /not a valid generator state/,
    );
  });

  it('the default generator is what manualSeed seeds', () => {
    manualSeed(7);
    expect(defaultGenerator.initialSeed()).toBe(7n);
  });
});

describe('parameter checks', () => {
  it('uniform_ and normal_ reject PyTorch-invalid arguments', () => {
    expect(() => uniformFill(new Float32Array(2), 1, 0)).toThrow('uniform_ expects to return a [from, to) range, but found from=1 > to=0');
    expect(() => normalFill(new Float32Array(2), 0, -1)).toThrow('normal expects std >= 0.0, but found std -1');
  });

  it('normal_(mean, std) scales both paths', () => {
    const a = normalFill(new Float32Array(40), 0, 1, new Generator(5));
    const b = normalFill(new Float32Array(40), 3, 2, new Generator(5));
    for (let i = 0; i < 40; i++) expect(b[i]).toBe(fmaf(a[i]!, 2, 3));
  });
});

/** Exact a*b+c rounded once to float32, with BigInt arithmetic: the oracle for fmaf. */
function exactFmaf(a: number, b: number, c: number): number {
  const dec = (x: number): [bigint, number] => {
    if (x === 0) return [0n, 0];
    const e = Math.floor(Math.log2(Math.abs(x))) - 60;
    return [BigInt(Math.round(x / 2 ** e)), e]; // exact: |x / 2^e| < 2^61 and x has 24 bits
  };
  const [ma, ea] = dec(a);
  const [mb, eb] = dec(b);
  const [mc, ec] = dec(c);
  const ep = ea + eb;
  const e = Math.min(ep, ec);
  const m = ((ma * mb) << BigInt(ep - e)) + (mc << BigInt(ec - e));
  if (m === 0n) return 0;
  const neg = m < 0n;
  const abs = neg ? -m : m;
  const shift = abs.toString(2).length - 24;
  let q = abs >> BigInt(shift);
  const rem = abs - (q << BigInt(shift));
  const half = 1n << BigInt(shift - 1);
  if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
  const r = Number(q) * 2 ** (e + shift);
  return neg ? -r : r;
}

describe('fmaf (single-rounding fused multiply-add in float32)', () => {
  it('equals the exact rounded value, including double-rounding midpoints', () => {
    const float = fc.float({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }).filter((x) => x === 0 || Math.abs(x) > 1e-6);
    fc.assert(fc.property(float, float, float, (a, b, c) => Object.is(fmaf(a, b, c) + 0, exactFmaf(a, b, c) + 0)), { numRuns: 20000 });
    // a*b + c = 1 + 2^-23 + 2^-24 - 2^-60 exactly; the double sum drops 2^-60 and lands on the float midpoint
    // 1 + 2^-23 + 2^-24, where a second rounding would pick the even neighbour 1 + 2^-22 (wrong).
    const a = 1 + 2 ** -18;
    const b = 2 ** -24 - 2 ** -42;
    const c = 1 + 2 ** -23;
    expect(Math.fround(a * b + c)).toBe(1 + 2 ** -22);
    expect(fmaf(a, b, c)).toBe(1 + 2 ** -23);
    expect(exactFmaf(a, b, c)).toBe(1 + 2 ** -23);
  });
});

describe('fmaf edge cases', () => {
  it('overflow, infinities and NaN behave as a hardware fused multiply-add', () => {
    const max = 3.4028234663852886e38;
    expect(fmaf(max, 2, -max)).toBe(max); // exact: no intermediate overflow
    expect(fmaf(max, 1.5, 0)).toBe(Infinity);
    expect(fmaf(-max, 1.5, 0)).toBe(-Infinity);
    expect(fmaf(Infinity, 0, 1)).toBeNaN();
    expect(fmaf(NaN, 1, 1)).toBeNaN();
    expect(fmaf(1, Infinity, -Infinity)).toBeNaN();
    expect(Object.is(fmaf(-0, 1, -0), -0)).toBe(true);
  });
});
