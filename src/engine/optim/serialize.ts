/**
 * An optimizer state dict as one safetensors file: state tensors are stored as `state.<param index>.<key>`,
 * everything else (hyperparameters of each group, step counters) as JSON in the metadata entry "optimizer".
 * `deserializeOptimizerState(serializeOptimizerState(sd))` gives back an equal state dict. A caller may store
 * tensors of its own in the same file (`extra`, names not starting with "state."); deserializing ignores them.
 */
import { SafetensorsError } from '../errors.js';
import { loadSafetensors, saveSafetensors } from '../safetensors.js';
import { Tensor } from '../tensor.js';
import type { OptimizerStateDict, ParamState } from './optimizer.js';

const FORMAT = 'gradloom-optimizer-v1';

export function serializeOptimizerState(
  sd: OptimizerStateDict,
  metadata: Record<string, string> = {},
  extra: Record<string, Tensor> = {},
): Uint8Array {
  const tensors: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(extra)) {
    if (name.startsWith('state.')) throw new SafetensorsError(`optimizer checkpoint: extra tensor "${name}" must not start with "state."`);
    tensors[name] = t;
  }
  const scalars: Record<string, Record<string, number>> = {};
  for (const [idx, state] of Object.entries(sd.state)) {
    for (const [key, v] of Object.entries(state)) {
      if (v instanceof Tensor) tensors[`state.${idx}.${key}`] = v;
      else (scalars[idx] ??= {})[key] = v;
    }
  }
  const json = JSON.stringify({ format: FORMAT, paramGroups: sd.paramGroups, scalars });
  return saveSafetensors(tensors, { ...metadata, optimizer: json });
}

export function deserializeOptimizerState(bytes: Uint8Array): OptimizerStateDict {
  const { tensors, metadata } = loadSafetensors(bytes);
  let parsed: { format?: string; paramGroups?: OptimizerStateDict['paramGroups']; scalars?: Record<string, Record<string, number>> };
  try {
    parsed = JSON.parse(metadata.optimizer ?? 'null');
  } catch {
    throw new SafetensorsError('optimizer checkpoint: metadata "optimizer" is not JSON');
  }
  if (!parsed || parsed.format !== FORMAT || !Array.isArray(parsed.paramGroups)) {
    throw new SafetensorsError(`not an optimizer checkpoint (metadata "optimizer" with format ${FORMAT} expected)`);
  }
  const state: Record<string, ParamState> = {};
  for (const [idx, s] of Object.entries(parsed.scalars ?? {})) state[idx] = { ...s };
  for (const [name, t] of Object.entries(tensors)) {
    if (!name.startsWith('state.')) continue; // a caller's own tensors (see serializeOptimizerState's `extra`)
    const m = /^state\.(\d+)\.(.+)$/.exec(name);
    if (!m) throw new SafetensorsError(`optimizer checkpoint: unexpected tensor "${name}"`);
    (state[m[1]!] ??= {})[m[2]!] = t;
  }
  return { state, paramGroups: parsed.paramGroups };
}
