/**
 * nn against PyTorch: Linear/Sequential initialisation from the seeded generator (bit for bit, rng fixture),
 * state-dict names and order, loadStateDict's strict checks with PyTorch's messages, and a Sequential + MSELoss
 * forward/backward against seq_adam's step-0 gradients.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Generator, loadSafetensors, manualSeed, nn, normalFill, randn, Tensor, tensor, zeros } from '../../src/engine/index.js';

const FIX = 'test/fixtures/pytorch';
const load = (name: string) => loadSafetensors(readFileSync(`${FIX}/${name}.safetensors`)).tensors;
const rng = load('rng');
const bits = (t: Tensor) => Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));

/** max |a-b| / max|b| (max-norm relative difference). */
function relDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.data.length; i++) {
    num = Math.max(num, Math.abs(a.data[i]! - b.data[i]!));
    den = Math.max(den, Math.abs(b.data[i]!));
  }
  return num / den;
}

describe('nn.Linear default initialisation equals PyTorch bit for bit', () => {
  for (const [inF, outF, seed, name] of [
    [1, 1, 0, 'linear_1x1_seed0'],
    [3, 2, 42, 'linear_3x2_seed42'],
    [4, 3, 7, 'linear_4x3_seed7'],
    [20, 3, 0, 'linear_20x3_seed0'],
  ] as const) {
    it(`torch.manual_seed(${seed}); nn.Linear(${inF}, ${outF})`, () => {
      manualSeed(seed);
      const m = new nn.Linear(inF, outF);
      expect(m.weight.shape).toEqual([outF, inF]);
      expect(bits(m.weight)).toEqual(bits(rng[`${name}.weight`]!));
      expect(bits(m.bias!)).toEqual(bits(rng[`${name}.bias`]!));
      // the same draws from an explicit generator
      const g = new Generator(seed);
      expect(bits(new nn.Linear(inF, outF, { generator: g }).weight)).toEqual(bits(rng[`${name}.weight`]!));
    });
  }

  it('nn.Sequential(Linear(6,4), ReLU(), Linear(4,2)) after manual_seed(42): keys and values', () => {
    manualSeed(42);
    const model = new nn.Sequential(new nn.Linear(6, 4), new nn.ReLU(), new nn.Linear(4, 2));
    const sd = model.stateDict();
    expect(Object.keys(sd)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    for (const k of Object.keys(sd)) expect(bits(sd[k]!), k).toEqual(bits(rng[`sequential_6_4_2_seed42.${k}`]!));
    expect(model.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(model.parameters().every((p) => p.requiresGrad && p.isLeaf)).toBe(true);
  });

  it('Linear without bias draws only the weight and has no bias entry', () => {
    const g = new Generator(0);
    const m = new nn.Linear(20, 3, { bias: false, generator: g });
    expect(m.bias).toBeNull();
    expect(Object.keys(m.stateDict())).toEqual(['weight']);
    expect(bits(m.weight)).toEqual(bits(rng['linear_20x3_seed0.weight']!));
    expect(String(m)).toBe('Linear(in_features=20, out_features=3, bias=False)');
  });

  it('the state-dict keys are the fixtures\' (linear_regression, seq_adam)', () => {
    for (const [file, model] of [
      ['linear_regression', new nn.Linear(1, 1)],
      ['seq_adam', new nn.Sequential(new nn.Linear(40, 12), new nn.ReLU(), new nn.Linear(12, 3))],
    ] as const) {
      const keys = JSON.parse(readFileSync(`${FIX}/${file}.json`, 'utf8')).state_dict_keys;
      expect(Object.keys(model.stateDict())).toEqual(keys);
      expect(Object.keys(load(`${file}.state_dict`))).toEqual(keys);
    }
  });
});

describe('forward and backward against PyTorch (seq_adam step 0)', () => {
  it('Sequential + MSELoss(sum): loss and every parameter gradient', () => {
    const t = load('seq_adam');
    const json = JSON.parse(readFileSync(`${FIX}/seq_adam.json`, 'utf8'));
    manualSeed(3);
    const x = randn([16, 40]);
    const y = randn([16, 3]);
    expect(bits(x)).toEqual(bits(t.x!));
    expect(bits(y)).toEqual(bits(t.y!));
    const model = new nn.Sequential(new nn.Linear(40, 12), new nn.ReLU(), new nn.Linear(12, 3));
    for (const [k, p] of Object.entries(model.stateDict())) expect(bits(p), k).toEqual(bits(t[`init.${k}`]!));
    const loss = new nn.MSELoss({ reduction: 'sum' }).forward(model.forward(x), y);
    expect(Math.abs(loss.item() - json.losses[0]) / json.losses[0]).toBeLessThan(1e-6);
    loss.backward();
    // float32 with a different summation order than PyTorch's kernels: ~1e-7; 1e-5 per the fixtures README.
    for (const [k, p] of model.namedParameters()) expect(relDiff(p.grad!, t[`grad0.${k}`]!), k).toBeLessThan(1e-5);
  });
});

describe('loadStateDict', () => {
  it('loads the fixture checkpoint in place (same tensors, so optimizers keep working)', () => {
    const m = new nn.Linear(1, 1);
    const w = m.weight;
    const result = m.loadStateDict(load('linear_regression.state_dict'));
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(m.weight).toBe(w);
    expect(m.weight.data[0]).toBe(Math.fround(0.28265702724456787));
    expect(m.bias!.data[0]).toBe(Math.fround(0.5807844400405884));
    expect(m.weight.requiresGrad).toBe(true);
  });

  it('strict: names missing and unexpected keys and size mismatches in PyTorch\'s words, and changes nothing', () => {
    const m = new nn.Sequential(new nn.Linear(3, 2), new nn.ReLU(), new nn.Linear(2, 1));
    const before = m.stateDict();
    const snapshot = Object.fromEntries(Object.entries(before).map(([k, v]) => [k, Array.from(v.data)]));
    const sd = { '0.weight': zeros([5, 3]), '0.bias': zeros([2]), '2.weight': zeros([1, 2]), extra: zeros([1]) };
    let message = '';
    try {
      m.loadStateDict(sd);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(
      'Error(s) in loading state_dict for Sequential:\n' +
        '\tMissing key(s) in state_dict: "2.bias". \n' +
        '\tUnexpected key(s) in state_dict: "extra". \n' +
        '\tsize mismatch for 0.weight: copying a param with shape [5, 3] from checkpoint, the shape in current model is [2, 3].',
    );
    for (const [k, v] of Object.entries(m.stateDict())) expect(Array.from(v.data), k).toEqual(snapshot[k]);
  });

  it('non-strict: reports missing/unexpected keys, loads the rest; size mismatches still fail', () => {
    const m = new nn.Linear(2, 1);
    const res = m.loadStateDict({ weight: tensor([[1, 2]]), other: zeros([3]) }, { strict: false });
    expect(res).toEqual({ missingKeys: ['bias'], unexpectedKeys: ['other'] });
    expect(Array.from(m.weight.data)).toEqual([1, 2]);
    expect(() => m.loadStateDict({ weight: zeros([2, 2]) }, { strict: false })).toThrow(
      'size mismatch for weight: copying a param with shape [2, 2] from checkpoint, the shape in current model is [1, 2].',
    );
  });

  it('stateDict values share storage with the parameters (as PyTorch\'s do)', () => {
    const m = new nn.Linear(2, 2);
    const sd = m.stateDict();
    expect(sd.weight!.data).toBe(m.weight.data);
    expect(sd.weight!.requiresGrad).toBe(false);
  });
});

describe('Module plumbing', () => {
  class TwoLayer extends nn.Module {
    fc1 = this.registerModule('fc1', new nn.Linear(4, 3));
    act = this.registerModule('act', new nn.ReLU());
    fc2 = this.registerModule('fc2', new nn.Linear(3, 2));
    scale = this.registerParameter('scale', tensor([1]))!;
    forward(x: Tensor): Tensor {
      return this.fc2.forward(this.act.forward(this.fc1.forward(x))).mul(this.scale);
    }
  }

  it('a user-defined module lists its own parameters first, then its children\'s in registration order', () => {
    // PyTorch: named_parameters walks named_modules() pre-order, so the module's own `scale` comes first.
    const m = new TwoLayer();
    expect(m.namedParameters().map(([n]) => n)).toEqual(['scale', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    expect(Object.keys(m.stateDict())).toEqual(['scale', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    expect(m.forward(zeros([5, 4])).shape).toEqual([5, 2]);
  });

  it('train()/eval() set the flag on every submodule', () => {
    const m = new TwoLayer();
    expect(m.modules().every((x) => x.training)).toBe(true);
    m.eval();
    expect(m.modules().every((x) => !x.training)).toBe(true);
    m.train();
    expect(m.fc1.training).toBe(true);
  });

  it('zeroGrad sets gradients to null by default, or zero-fills them', () => {
    const m = new nn.Linear(3, 1);
    m.forward(tensor([[1, 2, 3]])).sum().backward();
    expect(Array.from(m.weight.grad!.data)).toEqual([1, 2, 3]);
    const g = m.weight.grad!;
    m.zeroGrad({ setToNone: false });
    expect(m.weight.grad).toBe(g);
    expect(Array.from(g.data)).toEqual([0, 0, 0]);
    m.zeroGrad();
    expect(m.weight.grad).toBeNull();
  });

  it('a shared submodule is listed once', () => {
    const shared = new nn.Linear(2, 2);
    const seq = new nn.Sequential(shared, new nn.ReLU(), shared);
    expect(seq.parameters().length).toBe(2);
    expect(seq.at(-1)).toBe(shared);
    expect(seq.length).toBe(3);
  });

  it('refuses non-leaf parameters and bad names', () => {
    class Bad extends nn.Module {
      forward(x: Tensor) {
        return x;
      }
    }
    const w = tensor([1, 2], { requiresGrad: true });
    expect(() => new Bad().registerParameter('w', w.mul(2))).toThrow(/Cannot assign non-leaf Tensor to parameter 'w'/);
    expect(() => new Bad().registerModule('a.b', new nn.ReLU())).toThrow(/without "."/);
  });
});

describe('MSELoss and init', () => {
  it('MSELoss reductions', () => {
    const a = tensor([1, 2, 4]);
    const b = tensor([0, 0, 1]);
    expect(new nn.MSELoss().forward(a, b).item()).toBeCloseTo(14 / 3, 6);
    expect(new nn.MSELoss({ reduction: 'sum' }).forward(a, b).item()).toBe(14);
    expect(Array.from(new nn.MSELoss({ reduction: 'none' }).forward(a, b).data)).toEqual([1, 4, 9]);
    expect(() => new nn.MSELoss({ reduction: 'avg' as 'mean' })).toThrow(/not a valid value for reduction/);
  });

  it('normal_ and uniform_ draw the same stream as randn/rand; zeros_ zeroes; fan-in needs 2-D', () => {
    const t = zeros([4, 5]);
    nn.init.normal_(t, 0, 1, { generator: new Generator(11) });
    expect(Array.from(t.data)).toEqual(Array.from(normalFill(new Float32Array(20), 0, 1, new Generator(11))));
    nn.init.zeros_(t);
    expect(t.data.every((v) => v === 0)).toBe(true);
    expect(() => nn.init.kaimingUniform_(zeros([3]))).toThrow(/fewer than 2 dimensions/);
    expect(nn.init.calculateGain('leaky_relu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 15);
  });

  it('kaimingUniform_ with a = sqrt(5) bounds the weights by 1/sqrt(fan_in)', () => {
    const t = zeros([64, 25]);
    nn.init.kaimingUniform_(t, { a: Math.sqrt(5), generator: new Generator(1) });
    const max = Math.max(...Array.from(t.data).map(Math.abs));
    expect(max).toBeLessThanOrEqual(0.2);
    expect(max).toBeGreaterThan(0.19);
  });
});
