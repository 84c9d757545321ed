/**
 * The safetensors file format on raw buffers (no Tensor here; safetensors.ts wraps it).
 *
 *   [u64 little-endian N][N bytes of UTF-8 JSON header][data buffer]
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
 * buffer) and may hold "__metadata__" (string -> string). The reader trusts nothing: every way a file can lie
 * about its layout is a SafetensorsError, and nothing is allocated beyond the size of the input itself.
 */
import { SafetensorsError } from './errors.js';

/** The official implementation refuses headers above 100 MB; so do we (a hostile N must not drive allocation). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of every dtype the format defines. */
const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** dtypes we convert to float32 on load (precision is lost for F64, and for integers beyond 2^24). */
const CONVERTIBLE = new Set(['F32', 'F64', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL']);

export interface RawTensor {
  /** dtype as stored in the file; `data` is always float32. */
  dtype: string;
  shape: number[];
  data: Float32Array;
}

export interface RawSafetensors {
  /** In the file's data order (which, for files we and the fixtures write, is the state-dict order). */
  tensors: Record<string, RawTensor>;
  metadata: Record<string, string>;
}

/** The file format is little-endian; on little-endian hosts (all common ones) F32 data is copied as bytes. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fail(message: string): never {
  throw new SafetensorsError(`invalid safetensors file: ${message}`);
}

/**
 * Top-level keys of a JSON object text, in order, including duplicates (JSON.parse silently keeps the last one,
 * which would let a file carry two different tensors under one name). Only called on text JSON.parse accepted.
 */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let i = 0;
  while (i < json.length) {
    const ch = json[i]!;
    if (ch === '"') {
      const start = i;
      i++;
      while (json[i] !== '"') i += json[i] === '\\' ? 2 : 1;
      i++;
      if (depth === 1) {
        let k = i;
        while (k < json.length && /\s/.test(json[k]!)) k++;
        if (json[k] === ':') keys.push(JSON.parse(json.slice(start, i)) as string);
      }
      continue;
    }
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    i++;
  }
  return keys;
}

/** Plain assignment would treat a key named "__proto__" as the prototype; a file must not be able to do that. */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, info: unknown, bufferLength: number): Entry {
  if (!isPlainObject(info)) fail(`entry "${name}" must be an object {dtype, shape, data_offsets}, got ${JSON.stringify(info)}`);
  for (const key of Object.keys(info)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') fail(`entry "${name}" has an unknown field "${key}"`);
  }
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_SIZES)) {
    fail(`tensor "${name}" has unknown dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(DTYPE_SIZES).join(', ')})`);
  }
  if (!CONVERTIBLE.has(dtype)) {
    fail(`tensor "${name}" has dtype ${dtype}, which gradloom does not read (float8 formats are not supported)`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor "${name}" has shape ${JSON.stringify(shape)}: dims must be non-negative integers`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    fail(`tensor "${name}" has data_offsets ${JSON.stringify(offsets)}: expected [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > bufferLength) {
    fail(`tensor "${name}" has data_offsets [${begin}, ${end}] beyond the data buffer (${bufferLength} bytes)`);
  }
  // Multiply dims with an early exit: a shape like [1e9, 1e9] must not overflow into a "matching" size.
  let numel = (shape as number[]).includes(0) ? 0 : 1;
  for (const d of numel === 0 ? [] : (shape as number[])) {
    numel *= d;
    if (numel * DTYPE_SIZES[dtype]! > bufferLength) {
      fail(`tensor "${name}" has shape [${shape}] (${dtype}), more bytes than the whole data buffer (${bufferLength})`);
    }
  }
  const expected = numel * DTYPE_SIZES[dtype]!;
  if (expected !== end - begin) {
    fail(
      `tensor "${name}" has shape [${shape}] and dtype ${dtype}, i.e. ${expected} bytes, ` +
        `but data_offsets [${begin}, ${end}] span ${end - begin} bytes`,
    );
  }
  return { name, dtype, shape: (shape as number[]).slice(), begin, end };
}

function decode(entry: Entry, data: Uint8Array): Float32Array {
  const bytes = data.subarray(entry.begin, entry.end);
  const size = DTYPE_SIZES[entry.dtype]!;
  const n = bytes.length / size;
  const out = new Float32Array(n);
  // DataView reads little-endian at any byte offset: input buffers need not be aligned (Node Buffers often aren't).
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (entry.dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes); // one copy, any alignment
      else for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bf16ToFloat(view.getUint16(i * 2, true));
      break;
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(i * 8, true));
      break;
    case 'U64':
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigUint64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
      break;
    case 'U32':
      for (let i = 0; i < n; i++) out[i] = view.getUint32(i * 4, true);
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
      break;
    case 'U16':
      for (let i = 0; i < n; i++) out[i] = view.getUint16(i * 2, true);
      break;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i);
      break;
    case 'U8':
      for (let i = 0; i < n; i++) out[i] = view.getUint8(i);
      break;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = view.getUint8(i) !== 0 ? 1 : 0;
      break;
    default:
      fail(`dtype ${entry.dtype} cannot be converted`);
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const bf16Buf = new Uint32Array(1);
const bf16Float = new Float32Array(bf16Buf.buffer);
function bf16ToFloat(h: number): number {
  bf16Buf[0] = h << 16;
  return bf16Float[0]!;
}

/**
 * Parses a safetensors file. Every tensor comes back as float32 (F64/F16/BF16 and integer/bool dtypes are
 * converted, float8 is rejected); `dtype` records what the file stored.
 */
export function parseSafetensors(bytes: Uint8Array): RawSafetensors {
  if (!(bytes instanceof Uint8Array)) throw new SafetensorsError('loadSafetensors expects a Uint8Array');
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short: a file starts with an 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLen64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLen = Number(headerLen64);
  if (8 + headerLen > bytes.length) {
    fail(`header length ${headerLen} runs past the end of the file (${bytes.length} bytes)`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    fail('the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`the header is not JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) fail(`the header must be a JSON object, got ${Array.isArray(header) ? 'an array' : typeof header}`);
  const names = topLevelKeys(text);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) fail(`the header lists "${name}" twice`);
    seen.add(name);
  }

  const dataStart = 8 + headerLen;
  const data = bytes.subarray(dataStart);
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const name of Object.keys(header)) {
    const value = header[name];
    if (name === '__metadata__') {
      if (!isPlainObject(value)) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') fail(`__metadata__["${k}"] must be a string, got ${JSON.stringify(v)}`);
        setOwn(metadata, k, v);
      }
      continue;
    }
    entries.push(parseEntry(name, value, data.length));
  }

  // The tensors must tile the data buffer exactly: no overlap (two names aliasing bytes), no gaps, nothing after.
  const byOffset = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of byOffset) {
    if (e.begin < cursor) fail(`tensor "${e.name}" [${e.begin}, ${e.end}] overlaps the previous tensor (which ends at ${cursor})`);
    if (e.begin > cursor) fail(`gap in the data buffer: bytes [${cursor}, ${e.begin}) belong to no tensor (before "${e.name}")`);
    cursor = e.end;
  }
  if (cursor !== data.length) {
    fail(`the tensors cover ${cursor} bytes but the data buffer holds ${data.length} bytes`);
  }

  const tensors: Record<string, RawTensor> = {};
  for (const e of byOffset) setOwn(tensors, e.name, { dtype: e.dtype, shape: e.shape, data: decode(e, data) });
  return { tensors, metadata };
}

export interface TensorBytes {
  shape: readonly number[];
  data: Float32Array;
}

/**
 * Writes F32 tensors in the given key order (our state-dict order, as PyTorch's state_dict lists them), data in
 * the same order, compact JSON with "__metadata__" first, the header padded with spaces to a multiple of 8. For
 * the same keys, order and metadata this is byte-identical to the fixture files.
 */
export function serializeSafetensors(tensors: Record<string, TensorBytes>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw new SafetensorsError('metadata must be an object of strings');
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata["${k}"] must be a string, got ${JSON.stringify(v)}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  const order: TensorBytes[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" is reserved and cannot name a tensor');
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) {
      throw new SafetensorsError(`tensor "${name}" has shape [${t.shape}] (${numel} elements) but ${t.data.length} values`);
    }
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + 4 * numel] };
    offset += 4 * numel;
    order.push(t);
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let pos = 8 + padded;
  for (const t of order) {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
      pos += t.data.byteLength;
    } else {
      for (let i = 0; i < t.data.length; i++, pos += 4) view.setFloat32(pos, t.data[i]!, true);
    }
  }
  return out;
}
