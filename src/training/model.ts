/**
 * Models built from a spec, with PyTorch's state-dict names and layouts.
 *
 * two_layer_net, init 'randn' (the tutorial): parameters are the tutorial's raw tensors w1 [in, hidden] and
 * w2 [hidden, out], drawn from N(0,1) in that order, and the forward pass is the tutorial's own expression
 * `x.mm(w1).clamp({min: 0}).mm(w2)`, so the numbers follow the tutorial's program. The state dict names them as the
 * equivalent nn.Sequential(nn.Linear, nn.ReLU, nn.Linear): `0.weight` = w1ᵀ [hidden, in], `2.weight` = w2ᵀ
 * [out, hidden]. With `bias: true` the biases `0.bias` [hidden] and `2.bias` [out] start at ZERO and draw nothing,
 * so the weights are exactly the tutorial's for the same seed, and zero is the usual start for a bias next to
 * N(0,1) weights.
 * two_layer_net, init 'default': literally nn.Sequential(nn.Linear(in, hidden, bias), nn.ReLU(),
 * nn.Linear(hidden, out, bias)) with nn.Linear's initialisation drawing from the job's generator in PyTorch's order
 * (0.weight, 0.bias, 2.weight, 2.bias). Note nn.ReLU passes no gradient at exactly 0 where the tutorial's clamp does.
 * linear_regression: nn.Linear(in, out), state dict `weight` [out, in], `bias` [out].
 */
import { Generator, nn, noGrad, randn, Tensor, zeros } from '../engine/index.js';
import type { ModelSpec } from '../spec/job-spec.js';

export interface TrainableModel {
  /** What the optimizer updates, in a fixed order (the optimizer's state refers to these indices). */
  readonly parameters: Tensor[];
  forward(x: Tensor): Tensor;
  /** PyTorch-named copies of the weights (safe to serialise while training goes on). */
  stateDict(): Record<string, Tensor>;
  /** Loads a state dict in the PyTorch layout (strict: every key, exact shapes). */
  loadStateDict(sd: Record<string, Tensor>): void;
}

function cloneAll(sd: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(sd)) out[k] = v.detach().clone();
  return out;
}

class ModuleModel implements TrainableModel {
  readonly parameters: Tensor[];
  constructor(private readonly module: nn.Module) {
    this.parameters = module.parameters();
  }
  forward(x: Tensor): Tensor {
    return this.module.forward(x);
  }
  stateDict(): Record<string, Tensor> {
    return cloneAll(this.module.stateDict());
  }
  loadStateDict(sd: Record<string, Tensor>): void {
    this.module.loadStateDict(sd, { strict: true });
  }
}

/** The tutorial's raw-tensor net (see the file comment). */
class TutorialNet implements TrainableModel {
  readonly parameters: Tensor[];
  private readonly expectedShapes: Record<string, number[]>;

  constructor(
    private readonly w1: Tensor,
    private readonly w2: Tensor,
    private readonly b1: Tensor | null,
    private readonly b2: Tensor | null,
  ) {
    this.parameters = [w1, w2, ...(b1 && b2 ? [b1, b2] : [])];
    const [inDim, hidden] = w1.shape as [number, number];
    const out = w2.shape[1]!;
    this.expectedShapes = { '0.weight': [hidden, inDim], '2.weight': [out, hidden] };
    if (b1 && b2) Object.assign(this.expectedShapes, { '0.bias': [hidden], '2.bias': [out] });
  }

  forward(x: Tensor): Tensor {
    let h = x.mm(this.w1);
    if (this.b1) h = h.add(this.b1);
    let y = h.clamp({ min: 0 }).mm(this.w2);
    if (this.b2) y = y.add(this.b2);
    return y;
  }

  stateDict(): Record<string, Tensor> {
    return noGrad(() => {
      const sd: Record<string, Tensor> = { '0.weight': this.w1.detach().t().clone() };
      if (this.b1) sd['0.bias'] = this.b1.detach().clone();
      sd['2.weight'] = this.w2.detach().t().clone();
      if (this.b2) sd['2.bias'] = this.b2.detach().clone();
      return sd;
    });
  }

  loadStateDict(sd: Record<string, Tensor>): void {
    const keys = Object.keys(this.expectedShapes);
    const missing = keys.filter((k) => !(k in sd));
    const unexpected = Object.keys(sd).filter((k) => !keys.includes(k));
    const problems: string[] = [];
    if (missing.length) problems.push(`Missing key(s) in state_dict: ${missing.map((k) => `"${k}"`).join(', ')}.`);
    if (unexpected.length) problems.push(`Unexpected key(s) in state_dict: ${unexpected.map((k) => `"${k}"`).join(', ')}.`);
    for (const k of keys) {
      const t = sd[k];
      if (t && t.shape.join(',') !== this.expectedShapes[k]!.join(',')) {
        problems.push(`size mismatch for ${k}: copying a param with shape [${t.shape}] from checkpoint, the shape in current model is [${this.expectedShapes[k]}].`);
      }
    }
    if (problems.length) throw new Error(`Error(s) in loading state_dict for TwoLayerNet:\n\t${problems.join('\n\t')}`);
    noGrad(() => {
      // A transpose is a pure copy, so load(save(w)) is bitwise w: resuming continues the exact same numbers.
      this.w1.copy_(sd['0.weight']!.t());
      this.w2.copy_(sd['2.weight']!.t());
      if (this.b1) this.b1.copy_(sd['0.bias']!);
      if (this.b2) this.b2.copy_(sd['2.bias']!);
    });
  }
}

/** Builds the model, drawing its initial weights from `gen` (after the data, as in the tutorials). */
export function buildModel(spec: ModelSpec, gen: Generator): TrainableModel {
  if (spec.kind === 'linear_regression') {
    return new ModuleModel(new nn.Linear(spec.inputDim, spec.outputDim, { generator: gen }));
  }
  const bias = spec.bias ?? false;
  if ((spec.init ?? 'randn') === 'default') {
    return new ModuleModel(
      new nn.Sequential(
        new nn.Linear(spec.inputDim, spec.hiddenDim, { bias, generator: gen }),
        new nn.ReLU(),
        new nn.Linear(spec.hiddenDim, spec.outputDim, { bias, generator: gen }),
      ),
    );
  }
  const w1 = randn([spec.inputDim, spec.hiddenDim], { generator: gen, requiresGrad: true });
  const w2 = randn([spec.hiddenDim, spec.outputDim], { generator: gen, requiresGrad: true });
  const b1 = bias ? zeros([spec.hiddenDim], { requiresGrad: true }) : null;
  const b2 = bias ? zeros([spec.outputDim], { requiresGrad: true }) : null;
  return new TutorialNet(w1, w2, b1, b2);
}
