/**
 * A safetensors file as JSON for people: `{tensors: {name: {dtype, shape, data}}, metadata}` with `data` nested like
 * `tensor.tolist()`, in the file's order (the state dict's, for files gradloom writes).
 */
import { parseSafetensors } from '../../engine/safetensorsFormat.js';

type Nested = number | Nested[];

export interface TensorJson {
  dtype: string;
  shape: number[];
  data: Nested;
}

function nest(data: Float32Array, shape: number[]): Nested {
  let index = 0;
  const build = (dim: number): Nested => {
    if (dim === shape.length) return data[index++];
    const out: Nested[] = [];
    for (let i = 0; i < shape[dim]; i++) out.push(build(dim + 1));
    return out;
  };
  return build(0);
}

export function safetensorsToJson(bytes: Uint8Array): { tensors: Record<string, TensorJson>; metadata: Record<string, string> } {
  const parsed = parseSafetensors(bytes);
  const tensors: Record<string, TensorJson> = {};
  for (const [name, t] of Object.entries(parsed.tensors)) tensors[name] = { dtype: t.dtype, shape: t.shape, data: nest(t.data, t.shape) };
  return { tensors, metadata: parsed.metadata };
}
