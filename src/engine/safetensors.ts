/**
 * Checkpoints as safetensors files (https://github.com/huggingface/safetensors), readable by
 * `safetensors.torch.load_file` and by our reader. Writing: F32 only (the engine's dtype), keys and data in the
 * state dict's order (PyTorch's order; the official writer would sort keys, but readers must not rely on header
 * order, and keeping ours makes our files byte-identical to the fixtures'). Reading: any numeric dtype is
 * converted to float32 (F64/I64 lose precision beyond float32's), float8 is rejected; malformed or hostile
 * files raise SafetensorsError (see safetensorsFormat.ts for every check).
 */
import { SafetensorsError } from './errors.js';
import { parseSafetensors, serializeSafetensors } from './safetensorsFormat.js';
import { Tensor } from './tensor.js';

export { MAX_HEADER_BYTES } from './safetensorsFormat.js';

export function saveSafetensors(stateDict: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  if (stateDict === null || typeof stateDict !== 'object') throw new SafetensorsError('saveSafetensors expects an object of tensors');
  for (const [name, t] of Object.entries(stateDict)) {
    if (!(t instanceof Tensor)) throw new SafetensorsError(`saveSafetensors: "${name}" is not a Tensor`);
  }
  return serializeSafetensors(stateDict, metadata);
}

export function loadSafetensors(bytes: Uint8Array): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const raw = parseSafetensors(bytes);
  const tensors: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(raw.tensors)) {
    Object.defineProperty(tensors, name, { value: new Tensor(t.data, t.shape), enumerable: true, writable: true, configurable: true });
  }
  return { tensors, metadata: raw.metadata };
}
