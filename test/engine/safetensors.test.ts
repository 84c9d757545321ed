/**
 * safetensors: reading every PyTorch fixture file, writing files byte-identical to the fixtures' writer, round
 * trips, and a table of hostile files plus a fuzz proving that malformed input only ever raises SafetensorsError.
 */
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SafetensorsError } from '../../src/engine/errors.js';
import { loadSafetensors, manualSeed, nn, saveSafetensors, tensor, type Tensor } from '../../src/engine/index.js';
import { MAX_HEADER_BYTES, parseSafetensors, serializeSafetensors } from '../../src/engine/safetensorsFormat.js';

const FIX = 'test/fixtures/pytorch';

/** Builds a file from a header object (or raw header text) and a data buffer, bypassing our writer's checks. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), opts: { rawHeader?: string; headerLen?: bigint } = {}): Uint8Array {
  const text = opts.rawHeader ?? JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, opts.headerLen ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
const f32 = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);

function shapesFromJson(file: string): Record<string, number[]> {
  const j = JSON.parse(readFileSync(`${FIX}/${file}`, 'utf8'));
  const shapes: Record<string, number[]> = {};
  if (j.tensors) {
    for (const [k, v] of Object.entries<{ shape: number[] }>(j.tensors)) shapes[k] = v.shape;
  } else {
    // op_grads lists shapes per case and role; gradients have their input's shape.
    for (const c of j.cases) {
      for (const [role, name] of Object.entries<string>(c.inputs)) shapes[name] = c.shapes[role];
      shapes[c.output] = c.shapes.out;
      if (c.grad_output) shapes[c.grad_output] = c.shapes.out;
      for (const [role, name] of Object.entries<string>(c.grads ?? {})) shapes[name] = c.shapes[role];
      for (const name of Object.values<string>(c.extra_outputs ?? {})) shapes[name] = c.shapes.out; // max indices
    }
  }
  return shapes;
}

describe('reading the PyTorch fixture files', () => {
  // The fixtures of ../shared (tutorials, ops, rng, optimizers); the experiments and lr-schedule fixtures made for
  // issue 12 index their tensors by case and are read by their own tests (lr-scheduler, experiments).
  const files = readdirSync(FIX).filter((f) => f.endsWith('.safetensors') && !/^(experiments|lr_schedulers)\./.test(f));
  it('finds all 9 fixture files', () => expect(files.length).toBe(9));
  for (const file of files) {
    it(file, () => {
      const bytes = readFileSync(`${FIX}/${file}`);
      const { tensors, metadata } = parseSafetensors(bytes);
      expect(Object.keys(tensors).length).toBeGreaterThan(0);
      expect(typeof metadata).toBe('object');
      for (const t of Object.values(tensors)) {
        expect(t.dtype).toBe('F32');
        expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
      }
      const jsonFile = file.replace('.state_dict', '').replace('.safetensors', '.json');
      const shapes = shapesFromJson(jsonFile);
      if (file.includes('.state_dict')) {
        const keys = JSON.parse(readFileSync(`${FIX}/${jsonFile}`, 'utf8')).state_dict_keys as string[];
        expect(Object.keys(tensors)).toEqual(keys);
        for (const k of keys) expect(tensors[k]!.shape).toEqual(shapes[`final.${k}`]);
      } else {
        expect(new Set(Object.keys(tensors))).toEqual(new Set(Object.keys(shapes)));
        for (const [k, shape] of Object.entries(shapes)) expect(tensors[k]!.shape, k).toEqual(shape);
      }
    });
  }

  it('values equal an independent decode (Float32Array over a copied, aligned buffer)', () => {
    const bytes = readFileSync(`${FIX}/linear_regression.safetensors`);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    const { tensors } = parseSafetensors(bytes);
    for (const [k, v] of Object.entries<any>(header)) {
      if (k === '__metadata__') continue;
      const copy = new Uint8Array(bytes.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]));
      expect(Array.from(tensors[k]!.data)).toEqual(Array.from(new Float32Array(copy.buffer)));
    }
  });

  it('reads input that starts at an odd byteOffset', () => {
    const file = readFileSync(`${FIX}/seq_adam.state_dict.safetensors`);
    const backing = new Uint8Array(file.length + 3);
    backing.set(file, 3);
    const shifted = backing.subarray(3);
    expect(shifted.byteOffset % 4).toBe(3);
    expect(parseSafetensors(shifted)).toEqual(parseSafetensors(new Uint8Array(file)));
  });
});

describe('writing', () => {
  for (const name of ['linear_regression.state_dict', 'seq_adam.state_dict']) {
    it(`reproduces ${name}.safetensors byte for byte (same keys, order and metadata)`, () => {
      const file = new Uint8Array(readFileSync(`${FIX}/${name}.safetensors`));
      const { tensors, metadata } = parseSafetensors(file);
      expect(Object.keys(metadata)).toEqual(['format', 'fixture']);
      const ours = serializeSafetensors(tensors, metadata);
      expect(Buffer.from(ours).equals(Buffer.from(file))).toBe(true);
    });
  }

  it('round-trips values bit for bit, NaN, ±Infinity and -0 included, and keeps key order', () => {
    const weird = new Float32Array([NaN, Infinity, -Infinity, -0, 1e-45, 3.4028234663852886e38, 0.1]);
    const tensors = { z: { shape: [7], data: weird }, a: { shape: [2, 0, 3], data: new Float32Array(0) }, s: { shape: [], data: new Float32Array([5]) } };
    const bytes = serializeSafetensors(tensors, { epoch: '3' });
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const back = parseSafetensors(bytes);
    expect(Object.keys(back.tensors)).toEqual(['z', 'a', 's']);
    expect(back.metadata).toEqual({ epoch: '3' });
    expect(new Uint32Array(back.tensors.z!.data.buffer)).toEqual(new Uint32Array(weird.buffer));
    expect(back.tensors.a!.shape).toEqual([2, 0, 3]);
    expect(back.tensors.s).toEqual({ dtype: 'F32', shape: [], data: new Float32Array([5]) });
  });

  it('refuses to write inconsistent tensors or non-string metadata', () => {
    expect(() => serializeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } })).toThrow(SafetensorsError);
    expect(() => serializeSafetensors({}, { n: 3 as unknown as string })).toThrow(/must be a string/);
    expect(() => serializeSafetensors({ __metadata__: { shape: [], data: new Float32Array(1) } })).toThrow(/reserved/);
  });
});

describe('other dtypes are converted to float32', () => {
  it('F64, F16, BF16, I64, I32, I16, I8, U8, BOOL', () => {
    const parts: [string, Uint8Array, number[]][] = [
      ['F64', new Uint8Array(new Float64Array([1.5, -2.25]).buffer), [1.5, -2.25]],
      ['F16', new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00]).buffer), [1, -2, 2 ** -24, Infinity]],
      ['BF16', new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer), [1, -3]],
      ['I64', new Uint8Array(new BigInt64Array([-5n, 1n << 40n]).buffer), [-5, 2 ** 40]],
      ['I32', new Uint8Array(new Int32Array([-7, 9]).buffer), [-7, 9]],
      ['I16', new Uint8Array(new Int16Array([-3]).buffer), [-3]],
      ['I8', new Uint8Array(new Int8Array([-128, 127]).buffer), [-128, 127]],
      ['U8', new Uint8Array([255, 0]), [255, 0]],
      ['BOOL', new Uint8Array([1, 0, 1]), [1, 0, 1]],
    ];
    const header: Record<string, unknown> = {};
    let off = 0;
    for (const [dtype, bytes, values] of parts) {
      header[dtype] = { dtype, shape: [values.length], data_offsets: [off, off + bytes.length] };
      off += bytes.length;
    }
    const data = new Uint8Array(off);
    off = 0;
    for (const [, bytes] of parts) {
      data.set(bytes, off);
      off += bytes.length;
    }
    const { tensors } = parseSafetensors(build(header, data));
    for (const [dtype, , values] of parts) {
      expect(tensors[dtype]!.dtype).toBe(dtype);
      expect(Array.from(tensors[dtype]!.data), dtype).toEqual(values);
    }
  });
});

describe('hostile files are rejected with SafetensorsError', () => {
  const t = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
  const eight = f32(1, 2);
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than the length prefix', new Uint8Array(5), /too short/],
    ['absurd header length', build({}, new Uint8Array(0), { headerLen: 1n << 62n }), /exceeds the 100000000-byte limit/],
    ['header just over the limit', build({}, new Uint8Array(0), { headerLen: BigInt(MAX_HEADER_BYTES + 1) }), /limit/],
    ['header longer than the file', build({}, new Uint8Array(0), { headerLen: 1000n }), /past the end of the file/],
    ['header not UTF-8', build(null, new Uint8Array(0), { rawHeader: '{"a\udc00":1}' }).map((b, i) => (i === 11 ? 0xff : b)), /UTF-8|JSON/],
    ['header not JSON', build(null, new Uint8Array(0), { rawHeader: '{"a": [1, 2' }), /not JSON/],
    ['header is an array', build([1, 2]), /must be a JSON object, got an array/],
    ['header is a number', build(7), /must be a JSON object/],
    ['header is null', build(null), /must be a JSON object/],
    ['entry not an object', build({ w: 3 }, new Uint8Array(0)), /entry "w" must be an object/],
    ['unknown dtype', build({ w: t('F33', [2], [0, 8]) }, eight), /unknown dtype "F33"/],
    ['float8 dtype', build({ w: t('F8_E4M3', [8], [0, 8]) }, eight), /does not read/],
    ['unknown field', build({ w: { ...t('F32', [2], [0, 8]), extra: 1 } }, eight), /unknown field "extra"/],
    ['offsets past the buffer', build({ w: t('F32', [4], [0, 16]) }, eight), /beyond the data buffer/],
    ['offsets reversed', build({ w: t('F32', [0], [8, 0]) }, eight), /0 <= begin <= end/],
    ['offsets not integers', build({ w: t('F32', [2], [0, 8.5]) }, eight), /data_offsets/],
    ['offsets negative', build({ w: t('F32', [2], [-8, 0]) }, eight), /data_offsets/],
    ['offsets of wrong arity', build({ w: t('F32', [2], [0, 4, 8]) }, eight), /data_offsets/],
    ['overlapping tensors', build({ a: t('F32', [2], [0, 8]), b: t('F32', [1], [4, 8]) }, eight), /overlaps/],
    ['gap between tensors', build({ a: t('F32', [1], [0, 4]) , b: t('F32', [1], [8, 12]) }, f32(1, 2, 3)), /gap in the data buffer/],
    ['trailing bytes', build({ a: t('F32', [1], [0, 4]) }, eight), /cover 4 bytes but the data buffer holds 8/],
    ['shape/bytes mismatch', build({ a: t('F32', [3], [0, 8]), b: t('F32', [2], [8, 16]) }, f32(1, 2, 3, 4)), /i\.e\. 12 bytes, but data_offsets \[0, 8\] span 8 bytes/],
    ['negative dim', build({ a: t('F32', [-2], [0, 8]) }, eight), /non-negative integers/],
    ['fractional dim', build({ a: t('F32', [1.5], [0, 8]) }, eight), /non-negative integers/],
    ['string dim', build({ a: t('F32', ['2'], [0, 8]) }, eight), /non-negative integers/],
    ['shape not an array', build({ a: t('F32', 2, [0, 8]) }, eight), /non-negative integers/],
    ['shape whose product overflows', build({ a: t('F32', [2 ** 40, 2 ** 40, 2 ** 40], [0, 8]) }, eight), /more bytes than the whole data buffer/],
    ['duplicate names', build(null, eight, { rawHeader: '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' }), /lists "a" twice/],
    ['metadata not an object', build({ __metadata__: 'x' }), /__metadata__ must be an object/],
    ['metadata value not a string', build({ __metadata__: { epoch: 3 } }), /__metadata__\["epoch"\] must be a string/],
  ];
  for (const [what, bytes, message] of cases) {
    it(what, () => {
      let error: unknown;
      try {
        parseSafetensors(bytes);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SafetensorsError);
      expect((error as Error).message).toMatch(message);
    });
  }

  it('a tensor named __proto__ stays data, never a prototype', () => {
    const { tensors } = parseSafetensors(build(null, f32(1), { rawHeader: '{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' }));
    expect(Object.keys(tensors)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
  });

  const onlySafetensorsErrors = (bytes: Uint8Array) => {
    try {
      parseSafetensors(bytes);
    } catch (e) {
      if (!(e instanceof SafetensorsError)) throw e;
    }
  };

  it('fuzz: random bytes never raise anything but SafetensorsError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => onlySafetensorsErrors(b)), { numRuns: 3000 });
  });

  it('fuzz: mutated valid files (bytes flipped, truncated, extended) never raise anything but SafetensorsError', () => {
    const valid = serializeSafetensors({ w: { shape: [2, 3], data: new Float32Array(6).fill(1) }, b: { shape: [3], data: new Float32Array(3) } }, { k: 'v' });
    const mutation = fc.record({
      flips: fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      cut: fc.nat(valid.length),
      extra: fc.uint8Array({ maxLength: 16 }),
    });
    fc.assert(
      fc.property(mutation, ({ flips, cut, extra }) => {
        const b = new Uint8Array([...valid.subarray(0, cut), ...extra]);
        for (const [i, v] of flips) if (i < b.length) b[i] = v;
        onlySafetensorsErrors(b);
      }),
      { numRuns: 5000 },
    );
  });

  it('fuzz: arbitrary JSON headers never raise anything but SafetensorsError', () => {
    const header = fc.dictionary(
      fc.string({ maxLength: 6 }),
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.record({
          dtype: fc.constantFrom('F32', 'F64', 'F16', 'BF16', 'I64', 'BOOL', 'F8_E5M2', 'X'),
          shape: fc.array(fc.oneof(fc.integer({ min: -2, max: 6 }), fc.double()), { maxLength: 3 }),
          data_offsets: fc.array(fc.integer({ min: -4, max: 40 }), { maxLength: 3 }),
        }),
      ),
    );
    fc.assert(fc.property(header, fc.uint8Array({ maxLength: 40 }), (h, data) => onlySafetensorsErrors(build(h, data))), { numRuns: 3000 });
  });
});

/**
 * Written by the official `safetensors` 0.8.0 (Python, `safetensors.numpy.save_file`, which orders data by dtype
 * alignment and sorts keys): b F64 [1.5, -2], a F16 arange(6) [2,3], c I64 [-5, 2^40], d BOOL [True, False],
 * e I32 [[1, 2]], f F32 RandomState(0).randn(3, 4); metadata {format: np}.
 */
const OFFICIAL_WRITER_FILE = 'eAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJucCJ9LCJjIjp7ImR0eXBlIjoiSTY0Iiwic2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpbMCwxNl19LCJiIjp7ImR0eXBlIjoiRjY0Iiwic2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpbMTYsMzJdfSwiZiI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbMyw0XSwiZGF0YV9vZmZzZXRzIjpbMzIsODBdfSwiZSI6eyJkdHlwZSI6IkkzMiIsInNoYXBlIjpbMSwyXSwiZGF0YV9vZmZzZXRzIjpbODAsODhdfSwiYSI6eyJkdHlwZSI6IkYxNiIsInNoYXBlIjpbMiwzXSwiZGF0YV9vZmZzZXRzIjpbODgsMTAwXX0sImQiOnsiZHR5cGUiOiJCT09MIiwic2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpbMTAwLDEwMl19fSAgICAg+/////////8AAAAAAAEAAAAAAAAAAPg/AAAAAAAAAMB4zOE/aOHMPpOOej/Lag9AJAzvP+Iuer//OHM/Yv0avmhk0734OdI+KIATPqIluj8BAAAAAgAAAAAAADwAQABCAEQARQEA';

describe('the Tensor API (saveSafetensors / loadSafetensors)', () => {
  it('reads a file written by the official safetensors writer, converting every dtype to float32', () => {
    const { tensors, metadata } = loadSafetensors(new Uint8Array(Buffer.from(OFFICIAL_WRITER_FILE, 'base64')));
    expect(metadata).toEqual({ format: 'np' });
    const got = Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, [v.shape, Array.from(v.data)]]));
    expect(got).toEqual({
      b: [[2], [1.5, -2]],
      a: [[2, 3], [0, 1, 2, 3, 4, 5]],
      c: [[2], [-5, 2 ** 40]],
      d: [[2], [1, 0]],
      e: [[1, 2], [1, 2]],
      f: [[3, 4], Array.from(new Float32Array([1.764052345967664, 0.4001572083672233, 0.9787379841057392, 2.240893199201458, 1.8675579901499675, -0.977277879876411, 0.9500884175255894, -0.1513572082976979, -0.10321885179355784, 0.41059850193837233, 0.144043571160878, 1.454273506962975]))],
    });
  });

  it('a model checkpoint round-trips into a fresh model, and torch-style names survive', () => {
    manualSeed(1);
    const model = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU(), new nn.Linear(3, 2));
    const bytes = saveSafetensors(model.stateDict(), { step: '10' });
    manualSeed(2);
    const fresh = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU(), new nn.Linear(3, 2));
    const { tensors, metadata } = loadSafetensors(bytes);
    expect(Object.keys(tensors)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(metadata).toEqual({ step: '10' });
    fresh.loadStateDict(tensors);
    for (const [k, v] of Object.entries(fresh.stateDict())) expect(Array.from(v.data), k).toEqual(Array.from(model.stateDict()[k]!.data));
    const t: Tensor = tensors['0.weight']!;
    expect(t.requiresGrad).toBe(false);
    expect(t.shape).toEqual([3, 4]);
  });

  it('refuses to save what is not a tensor', () => {
    expect(() => saveSafetensors({ w: [1, 2] as unknown as Tensor })).toThrow('saveSafetensors: "w" is not a Tensor');
    expect(() => saveSafetensors({ w: tensor([1]) }, { n: 1 as unknown as string })).toThrow(SafetensorsError);
  });
});
