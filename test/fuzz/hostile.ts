/**
 * Generators of malformed and hostile requests for the fuzz suite. Bodies are built as raw JSON TEXT so that they
 * can carry what JSON.stringify never writes: `NaN`, `Infinity`, `1e999` (parses to Infinity), `-0`, duplicate keys,
 * `__proto__`, deep nesting. Each case says whether it MUST be refused (`mustFail`): a mutation can happen to produce
 * a valid spec, and then a 201 is the right answer.
 */
import fc from 'fast-check';

export interface FuzzRequest {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH' | 'OPTIONS' | 'HEAD';
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** True when any correct server must answer 4xx. */
  mustFail: boolean;
  /** For failure messages. */
  label: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
/** A JSON value where some leaves are raw text spliced into the output verbatim. */
export class Raw {
  constructor(readonly text: string) {}
}
type RJson = Json | Raw | RJson[] | { [k: string]: RJson };

export function toText(value: RJson): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(toText).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${toText(v)}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** Tokens that are not JSON at all (the parser must refuse them with a 400). */
export const INVALID_JSON_TOKENS = ['NaN', 'Infinity', '-Infinity', 'undefined', '0x10', '01', '.5', '+1', "'a'", '1.', '-', '1e', 'nul', 'tru'];
/** Valid JSON that is wrong for any numeric field of a spec. */
export const HOSTILE_NUMBERS = ['1e999', '-1e999', '-0', '0', '-1', '0.5', '1.5', '-0.0', '1e308', '9007199254740993', '1e-999', '4294967296', '2147483648', '1e21', '-9e15'];
export const WRONG_TYPES = ['"1"', '"abc"', 'null', 'true', 'false', '[]', '{}', '[1]', '[[1]]', '{"a":1}', '""', `"${'x'.repeat(300)}"`, '"\\u0000"', '"\\ud800"'];

export const hostileToken = fc.oneof(
  fc.constantFrom(...INVALID_JSON_TOKENS).map((t) => ({ text: t, json: false })),
  fc.constantFrom(...HOSTILE_NUMBERS, ...WRONG_TYPES).map((t) => ({ text: t, json: true })),
  fc.double({ noNaN: true }).map((d) => ({ text: JSON.stringify(d), json: true })),
  fc.integer().map((d) => ({ text: String(d), json: true })),
  fc.string({ maxLength: 20 }).map((s) => ({ text: JSON.stringify(s), json: true })),
);

const row = (w: number) => fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: w, maxLength: w });

/** Small, valid specs: the starting point of every mutation. */
export const validSpec: fc.Arbitrary<Record<string, Json>> = fc
  .record({
    inputDim: fc.integer({ min: 1, max: 4 }),
    outputDim: fc.integer({ min: 1, max: 3 }),
    hiddenDim: fc.integer({ min: 1, max: 8 }),
    n: fc.integer({ min: 1, max: 6 }),
    kind: fc.constantFrom('two_layer_net', 'linear_regression'),
    data: fc.constantFrom('inline', 'random'),
    opt: fc.constantFrom('sgd', 'adam'),
    epochs: fc.integer({ min: 1, max: 3 }),
    loss: fc.constantFrom('mse', 'sse'),
    seed: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
  })
  .chain((p) =>
    fc.tuple(fc.array(row(p.inputDim), { minLength: p.n, maxLength: p.n }), fc.array(row(p.outputDim), { minLength: p.n, maxLength: p.n })).map(
      ([x, y]) => {
        const spec: Record<string, Json> = {
          model:
            p.kind === 'two_layer_net'
              ? { kind: 'two_layer_net', inputDim: p.inputDim, hiddenDim: p.hiddenDim, outputDim: p.outputDim }
              : { kind: 'linear_regression', inputDim: p.inputDim, outputDim: p.outputDim },
          data: p.data === 'inline' ? { kind: 'inline', x, y } : { kind: 'random', n: p.n },
          training: {
            epochs: p.epochs,
            loss: p.loss,
            optimizer: p.opt === 'sgd' ? { kind: 'sgd', lr: 0.01 } : { kind: 'adam', lr: 0.01 },
          },
        };
        if (p.seed !== undefined) spec.seed = p.seed;
        return spec;
      },
    ),
  );

/** Every path (array of keys) in a JSON value, including the root's children and inner nodes. */
export function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(value)) value.forEach((v, i) => out.push([...prefix, i], ...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) out.push([...prefix, k], ...paths(v, [...prefix, k]));
  return out;
}

function setAt(root: RJson, path: (string | number)[], fn: (v: RJson) => RJson | undefined): RJson {
  if (path.length === 0) return fn(root) as RJson;
  const [head, ...rest] = path;
  if (Array.isArray(root)) {
    const copy = root.slice();
    const next = setAt(copy[head as number] as RJson, rest, fn);
    copy[head as number] = next;
    return copy;
  }
  const obj = { ...(root as Record<string, RJson>) };
  if (rest.length === 0) {
    const v = fn(obj[head as string] as RJson);
    if (v === undefined) delete obj[head as string];
    else obj[head as string] = v;
    return obj;
  }
  obj[head as string] = setAt(obj[head as string] as RJson, rest, fn);
  return obj;
}

/** Fields that only take a positive integer (and, in the fuzz app, a small one). */
const POSITIVE_INTS = new Set(['inputDim', 'hiddenDim', 'outputDim', 'epochs', 'n']);

export type Mutation =
  | { kind: 'replace'; path: (string | number)[]; token: { text: string; json: boolean } }
  | { kind: 'delete'; path: (string | number)[] }
  | { kind: 'unknown'; path: (string | number)[]; name: string }
  | { kind: 'wrap'; path: (string | number)[] };

export const mutatedSpec: fc.Arbitrary<FuzzRequest> = validSpec.chain((spec) => {
  const all = paths(spec);
  return fc
    .oneof(
      { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...all), hostileToken).map(([path, token]) => ({ kind: 'replace', path, token }) as Mutation) },
      { weight: 2, arbitrary: fc.constantFrom(...all).map((path) => ({ kind: 'delete', path }) as Mutation) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom<(string | number)[]>([], ['model'], ['data'], ['training'], ['training', 'optimizer']), fc.constantFrom('extra', '__proto__', 'constructor', 'prototype', 'inputdim', 'Epochs', ''))
          .map(([path, name]) => ({ kind: 'unknown', path, name }) as Mutation),
      },
      { weight: 1, arbitrary: fc.constantFrom(...all).map((path) => ({ kind: 'wrap', path }) as Mutation) },
    )
    .map((m): FuzzRequest => {
      // mustFail here follows from rules that do not depend on the server's schema; the suite also asks an oracle
      // (JSON.parse + the spec schema + the limits) and requires a 4xx when either says so.
      let body: RJson = spec;
      let mustFail = false;
      const last = m.path[m.path.length - 1];
      if (m.kind === 'replace') {
        body = setAt(spec, m.path, () => new Raw(m.token.text));
        const t = m.token.text;
        if (!m.token.json) mustFail = true; // not JSON
        else if (t === '1e999' || t === '-1e999') mustFail = true; // Infinity: no field of a spec accepts it
        else if (typeof last === 'string' && POSITIVE_INTS.has(last)) mustFail = !/^[1-9]\d{0,5}$/.test(t);
        else if (typeof last === 'string' && ['kind', 'loss', 'model', 'data', 'training', 'optimizer'].includes(last)) mustFail = true;
      } else if (m.kind === 'delete') {
        body = setAt(spec, m.path, () => undefined);
        mustFail = last !== 'seed'; // everything else is required, or leaves x and y ragged
      } else if (m.kind === 'unknown') {
        const target = m.path.reduce<RJson>((v, k) => (v as Record<string, RJson>)[k as string] as RJson, spec) as Record<string, RJson>;
        const withExtra = new Raw(toText(target).replace(/^\{/, `{${JSON.stringify(m.name)}:1,`));
        body = m.path.length === 0 ? withExtra : setAt(spec, m.path, () => withExtra);
        mustFail = true; // every object in the spec is strict
      } else {
        body = setAt(spec, m.path, (v) => [v as RJson]);
        mustFail = true; // no field of a spec takes a one-element array of what it normally takes
      }
      return {
        method: 'POST',
        url: '/v1/jobs',
        headers: { 'content-type': 'application/json' },
        body: toText(body),
        mustFail,
        label: `mutated spec ${JSON.stringify(m)}`,
      };
    });
});

const base = { model: { kind: 'two_layer_net', inputDim: 2, hiddenDim: 3, outputDim: 1 }, data: { kind: 'random', n: 4 }, training: { epochs: 1, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } } };

/** Specs that are well-typed but would need gigabytes, or break a limit. */
export const hugeSpec: fc.Arbitrary<FuzzRequest> = fc
  .record({
    inputDim: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 100_000, max: 2 ** 31 })),
    hiddenDim: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 100_000, max: 2 ** 31 })),
    outputDim: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 100_000, max: 2 ** 31 })),
    n: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 10_000_000, max: Number.MAX_SAFE_INTEGER })),
    epochs: fc.oneof(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 10_000_000, max: Number.MAX_SAFE_INTEGER })),
    batchSize: fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
  })
  .filter((p) => p.inputDim > 4 || p.hiddenDim > 4 || p.outputDim > 4 || p.n > 4 || p.epochs > 2)
  .map((p) => ({
    method: 'POST',
    url: '/v1/jobs',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      ...base,
      model: { kind: 'two_layer_net', inputDim: p.inputDim, hiddenDim: p.hiddenDim, outputDim: p.outputDim },
      data: { kind: 'random', n: p.n },
      training: { ...base.training, epochs: p.epochs, ...(p.batchSize ? { batchSize: p.batchSize } : {}) },
    }),
    mustFail: true,
    label: `huge spec ${JSON.stringify(p)}`,
  }));

/** Deep nesting, ragged and enormous arrays, duplicate keys, prototype pollution attempts. */
export const structuralBody: fc.Arbitrary<FuzzRequest> = fc.oneof(
  fc.integer({ min: 10, max: 100_000 }).map((d) => ({
    method: 'POST' as const,
    url: '/v1/jobs',
    headers: { 'content-type': 'application/json' },
    body: `{"model":${'['.repeat(d)}${']'.repeat(d)}}`,
    mustFail: true,
    label: `nested ${d}`,
  })),
  fc.integer({ min: 10, max: 50_000 }).map((d) => ({
    method: 'POST' as const,
    url: '/v1/datasets',
    headers: { 'content-type': 'application/json' },
    body: `{"x":[${'['.repeat(d)}1${']'.repeat(d)}],"y":[[1]]}`,
    mustFail: true,
    label: `nested dataset ${d}`,
  })),
  fc.tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 50 })).map(([a, b]) => ({
    method: 'POST' as const,
    url: '/v1/jobs',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      ...base,
      model: { kind: 'linear_regression', inputDim: 2, outputDim: 1 },
      data: { kind: 'inline', x: [Array(a).fill(1), Array(b + (a === b ? 1 : 0)).fill(2)], y: [[1], [2]] },
    }),
    mustFail: true,
    label: `ragged ${a}/${b}`,
  })),
  fc.integer({ min: 50_000, max: 120_000 }).map((n) => ({
    method: 'POST' as const,
    url: '/v1/predictions-target', // replaced by the suite with a real job's predictions URL
    headers: { 'content-type': 'application/json' },
    body: `{"x":[${Array(n).fill('[1,2,3]').join(',')}]}`,
    mustFail: true,
    label: `enormous prediction ${n} rows of the wrong width`,
  })),
  fc.constantFrom(
    '{"__proto__":{"polluted":true},"model":{}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '{"model":{"kind":"linear_regression","inputDim":1,"inputDim":2,"outputDim":1}}',
    '{"training":{"epochs":1},"training":"x"}',
    '\uFEFF{"model":{}}',
    '{"model":{}}garbage',
    '{"model":',
    '',
    ' ',
    'null',
    '[]',
    '"just a string"',
    '123',
    '{"a":"\\x41"}',
    '{"a":"\udc00"}',
  ).map((body) => ({ method: 'POST' as const, url: '/v1/jobs', headers: { 'content-type': 'application/json' }, body, mustFail: true, label: `odd body ${JSON.stringify(body).slice(0, 60)}` })),
);

/** CSV uploads: ragged rows, non-numbers, quotes, empty files, missing targets, enormous widths. */
const csvCell = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }).map(String) },
  { weight: 2, arbitrary: fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e999', '', 'abc', '"1,2"', '"unterminated', '0x10', ' 3 ', '1e', '--1', '\t', '=cmd|x', '"', '""') },
);
export const csvUpload: fc.Arbitrary<FuzzRequest> = fc
  .record({
    header: fc.array(fc.oneof(fc.constantFrom('x', 'y', 'a', 'b', '', '"q"', 'x'), fc.string({ maxLength: 5 })), { minLength: 0, maxLength: 6 }),
    rows: fc.array(fc.array(csvCell, { minLength: 0, maxLength: 7 }), { minLength: 0, maxLength: 20 }),
    eol: fc.constantFrom('\n', '\r\n', '\r'),
    target: fc.option(fc.constantFrom('y', 'nope', 'x,y', ',', 'a,a', ''), { nil: undefined }),
    contentType: fc.constantFrom('text/csv', 'application/csv', 'text/csv; charset=utf-8'),
  })
  .map((c) => {
    const text = [c.header.join(','), ...c.rows.map((r) => r.join(','))].join(c.eol);
    const widths = new Set([c.header.length, ...c.rows.map((r) => r.length)]);
    const numeric = c.rows.every((r) => r.every((cell) => cell.trim() !== '' && Number.isFinite(Number(cell))));
    const plausible = widths.size === 1 && c.header.length >= 2 && c.rows.length > 0 && numeric;
    return {
      method: 'POST' as const,
      url: `/v1/datasets${c.target === undefined ? '' : `?target=${encodeURIComponent(c.target)}`}`,
      headers: { 'content-type': c.contentType },
      body: text,
      mustFail: !plausible,
      label: `csv ${JSON.stringify(text).slice(0, 100)} target=${c.target}`,
    };
  });

/** Bytes that look like safetensors but lie about their layout. */
export const safetensorsBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc
    .record({
      headerLen: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.integer({ min: 0, max: 200 }).map(BigInt)),
      header: fc.oneof(
        fc.constantFrom(
          '{}',
          '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
          '{"w":{"dtype":"F32","shape":[1e9,1e9],"data_offsets":[0,8]}}',
          '{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}',
          '{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}',
          '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,99999999999]}}',
          '{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}',
          '{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}',
          '{"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}',
          '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
          '{"__metadata__":{"a":1}}',
          '{"__proto__":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
          '[]',
          'not json',
        ),
        fc.string({ maxLength: 80 }),
      ),
      data: fc.uint8Array({ maxLength: 64 }),
      honestLength: fc.boolean(),
    })
    .map(({ headerLen, header, data, honestLength }) => {
      const h = new TextEncoder().encode(header);
      const out = new Uint8Array(8 + h.length + data.length);
      new DataView(out.buffer).setBigUint64(0, honestLength ? BigInt(h.length) : headerLen, true);
      out.set(h, 8);
      out.set(data, 8 + h.length);
      return out;
    }),
);

/** Ids a path parameter should survive: traversal, injection, control characters, enormous, unicode. */
export const hostileId = fc.oneof(
  fc.constantFrom(
    '../../etc/passwd',
    '..%2F..%2Fetc%2Fpasswd',
    "1' OR '1'='1",
    '1; DROP TABLE jobs; --',
    '%00',
    '\u0000',
    'null',
    'undefined',
    '__proto__',
    'constructor',
    ' ',
    '%',
    '%zz',
    'a'.repeat(129),
    'a'.repeat(5000),
    '😀',
    '\u202e',
    'job_' + '0'.repeat(30),
    '-1',
    '1e999',
  ),
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
);

export function encodeId(id: string): string {
  // Keep some raw (the router must cope with '%zz' and '..'), percent-encode the rest.
  return /^[%.\w-]*$/.test(id) ? id : encodeURIComponent(id);
}

/** Query strings with known keys given hostile values and unknown keys. */
export const hostileQuery = fc
  .array(
    fc.tuple(
      fc.constantFrom('limit', 'cursor', 'status', 'epoch', 'format', 'target', 'name', 'access_token', 'x', '__proto__', 'limit[]', 'constructor[prototype]'),
      fc.oneof(fc.constantFrom('-1', '0', '1e999', 'NaN', '1.5', '101', '', 'zzz', 'json', 'xml', 'queued', '%00', 'a'.repeat(600)), fc.string({ maxLength: 10 })),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}` : ''));

export const hostileHeaders = fc.record(
  {
    'content-type': fc.constantFrom(
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=xyz',
      'application/json; charset=utf-16',
      'application/octet-stream',
      'application/xml',
      'application/json;;;',
      '*/*',
      'text/csv',
    ),
    'idempotency-key': fc.oneof(fc.string({ maxLength: 10 }), fc.constant('k'.repeat(300)), fc.constant('')),
    'x-request-id': fc.oneof(fc.string({ maxLength: 10 }), fc.constant('r'.repeat(300)), fc.constant('../../x')),
    accept: fc.constantFrom('application/json', 'text/html', '*/*', 'application/xml', ''),
    'content-encoding': fc.constantFrom('gzip', 'br', 'identity', 'x-nope'),
  },
  { requiredKeys: [] },
);
