/**
 * The training layer against real PyTorch runs (test/fixtures/pytorch, tolerances from its README): the two
 * tutorial jobs exactly as a user would submit them, and an Adam + nn.Sequential job (seq_adam).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { kernels, loadSafetensors, type Tensor } from '../../src/engine/index.js';
import { Trainer } from '../../src/training/trainer.js';
import { predictRows } from '../../src/training/predict.js';
import { jobSpecSchema, type JobSpec } from '../../src/spec/job-spec.js';

const FIX = 'test/fixtures/pytorch';
function fixture(name: string): { json: any; tensors: Record<string, Tensor> } {
  const json = JSON.parse(readFileSync(`${FIX}/${name}.json`, 'utf8'));
  const bytes = new Uint8Array(readFileSync(`${FIX}/${name}.safetensors`)); // copy: aligned
  return { json, tensors: loadSafetensors(bytes).tensors };
}
// The plain-SIMD path follows PyTorch's CPU order (see bench/RESULTS.md): there the tutorials match to the bit.
beforeAll(async () => {
  await kernels.ready;
  if (kernels.available().includes('simd')) kernels.useKernel('simd');
});
const bitExact = () => kernels.activeKernel() === 'simd';

function spec(input: unknown): JobSpec & { seed: number } {
  return jobSpecSchema.parse(input) as JobSpec & { seed: number };
}
function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
}
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}
function train(t: Trainer): number[] {
  const losses: number[] = [];
  while (!t.done) losses.push(t.runEpoch());
  return losses;
}

export const linearRegressionSpec = (lr: any) =>
  spec({
    model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
    data: { kind: 'inline', x: lr.x_train.map((v: number) => [v]), y: lr.y_train.map((v: number) => [v]) },
    training: { epochs: 60, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.001 } },
    seed: 0,
  });

describe('tutorial 3: linear regression (nn.Linear, MSELoss, SGD lr 0.001, 60 epochs)', () => {
  const { json, tensors } = fixture('linear_regression');
  it('the fixture program seeds, then builds the model, with nothing drawn before', () => {
    expect(json.program).toMatch(/torch\.manual_seed\(0\)\s*\nmodel = nn\.Linear\(1, 1\)/);
  });

  it('draws the same initial weights, reports every epoch loss within rtol 1e-5, ends at the same weights', () => {
    const t = Trainer.create(linearRegressionSpec(json));
    const init = t.model.stateDict();
    expect(Array.from(init.weight!.data)).toEqual(Array.from(tensors['init.weight']!.data));
    expect(Array.from(init.bias!.data)).toEqual(Array.from(tensors['init.bias']!.data));
    const losses = train(t);
    expect(losses).toHaveLength(60);
    losses.forEach((l, i) => expect(rel(l, json.losses[i]), `epoch ${i}`).toBeLessThan(1e-5));
    if (bitExact()) expect(losses).toEqual(json.losses);
    const sd = loadSafetensors(t.saveModel()).tensors;
    expect(Object.keys(sd)).toEqual(json.state_dict_keys);
    expect(maxRel(sd.weight!.data, tensors['final.weight']!.data)).toBeLessThan(1e-5);
    expect(maxRel(sd.bias!.data, tensors['final.bias']!.data)).toBeLessThan(1e-5);
    // The checkpoint has the layout PyTorch's own state dict file has.
    const torchSd = loadSafetensors(new Uint8Array(readFileSync(`${FIX}/linear_regression.state_dict.safetensors`))).tensors;
    expect(sd.weight!.shape).toEqual(torchSd.weight!.shape);
    expect(sd.bias!.shape).toEqual(torchSd.bias!.shape);
  });

  it('predicts from the saved state dict what PyTorch predicted', () => {
    const s = linearRegressionSpec(json);
    const t = Trainer.create(s);
    train(t);
    const x = Float32Array.from(json.x_train as number[]);
    const { y, outputDim } = predictRows({ spec: s, safetensors: t.saveModel(), x, rows: 15 });
    expect(outputDim).toBe(1);
    expect(maxRel(y, tensors.pred!.data)).toBeLessThan(1e-5);
  });
});

describe('tutorial 2: two-layer net (random 64x1000 -> 100 -> 10, sum of squares, SGD lr 1e-6, 500 epochs)', () => {
  const { json, tensors } = fixture('two_layer_autograd');
  const s = spec({
    model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
    data: { kind: 'random', n: 64 },
    training: { epochs: 500, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
    seed: 0,
  });

  it('draws x, y, w1, w2 in the tutorial order and names them as nn.Sequential', () => {
    const t = Trainer.create(s);
    const sd = t.model.stateDict();
    expect(Object.keys(sd)).toEqual(['0.weight', '2.weight']);
    expect(sd['0.weight']!.shape).toEqual([100, 1000]);
    expect(Array.from(sd['0.weight']!.t().data)).toEqual(Array.from(tensors.w1!.data));
    expect(Array.from(sd['2.weight']!.t().data)).toEqual(Array.from(tensors.w2!.data));
  });

  it('matches the fixture losses (rtol 1e-4 to step 150, then within 10% and decreasing) and final weights', () => {
    const t = Trainer.create(s);
    const losses = train(t);
    expect(losses).toHaveLength(500);
    for (let i = 0; i <= 150; i++) expect(rel(losses[i]!, json.losses[i]), `step ${i}`).toBeLessThan(1e-4);
    for (let i = 151; i < 500; i++) {
      expect(rel(losses[i]!, json.losses[i]), `step ${i}`).toBeLessThan(0.1);
      expect(losses[i]!).toBeLessThanOrEqual(losses[i - 1]!);
    }
    if (bitExact()) expect(losses).toEqual(json.losses);
    const sd = loadSafetensors(t.saveModel()).tensors;
    expect(maxRel(sd['0.weight']!.t().data, tensors['final.w1']!.data)).toBeLessThan(1e-4);
    expect(maxRel(sd['2.weight']!.t().data, tensors['final.w2']!.data)).toBeLessThan(1e-4);
  });
});

describe('Adam with nn.Sequential(Linear, ReLU, Linear) and biases (seq_adam)', () => {
  const { json, tensors } = fixture('seq_adam');
  it('two_layer_net {bias: true, init: "default"} is the PyTorch module, Adam included', () => {
    const s = spec({
      model: { kind: 'two_layer_net', inputDim: 40, hiddenDim: 12, outputDim: 3, bias: true, init: 'default' },
      data: { kind: 'random', n: 16 },
      training: { epochs: 60, loss: 'sse', optimizer: { kind: 'adam', lr: 0.01 } },
      seed: 3,
    });
    const t = Trainer.create(s);
    const init = t.model.stateDict();
    expect(Object.keys(init)).toEqual(json.state_dict_keys);
    for (const k of json.state_dict_keys) expect(Array.from(init[k]!.data)).toEqual(Array.from(tensors[`init.${k}`]!.data));
    const losses = train(t);
    // Sensitivity: a float64 run stays within 2.6e-6 relative over all 60 steps.
    losses.forEach((l, i) => expect(rel(l, json.losses[i]), `step ${i}`).toBeLessThan(1e-4));
    const sd = loadSafetensors(t.saveModel()).tensors;
    for (const k of json.state_dict_keys) expect(maxRel(sd[k]!.data, tensors[`final.${k}`]!.data), k).toBeLessThan(1e-4);
  });
});
