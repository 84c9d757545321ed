/**
 * The tutorial's programs, written with gradloom's public API exactly as a user would (no fused special cases),
 * so the benchmark measures what a job pays.
 */
import { manualSeed, noGrad, randn, tensor, type Tensor } from '../src/engine/index.js';

export interface TwoLayer {
  x: Tensor;
  y: Tensor;
  w1: Tensor;
  w2: Tensor;
  lr: number;
}

/** Tutorial program 2: `torch.manual_seed(0)`, x[64,1000], y[64,10], w1[1000,100], w2[100,10]. */
export function twoLayerSetup(seed = 0): TwoLayer {
  manualSeed(seed);
  const x = randn([64, 1000]);
  const y = randn([64, 10]);
  const w1 = randn([1000, 100], { requiresGrad: true });
  const w2 = randn([100, 10], { requiresGrad: true });
  return { x, y, w1, w2, lr: 1e-6 };
}

/** One training step, line for line the PyTorch loop; returns loss.item(). */
export function twoLayerStep(s: TwoLayer): number {
  const yPred = s.x.mm(s.w1).clamp({ min: 0 }).mm(s.w2);
  const loss = yPred.sub(s.y).pow(2).sum();
  loss.backward();
  noGrad(() => {
    s.w1.sub_(s.w1.grad!.mul(s.lr));
    s.w2.sub_(s.w2.grad!.mul(s.lr));
    s.w1.grad!.zero_();
    s.w2.grad!.zero_();
  });
  return loss.item();
}

/** Tutorial program 3's data: 15 toy points. */
export const X_TRAIN = [3.3, 4.4, 5.5, 6.71, 6.93, 4.168, 9.779, 6.182, 7.59, 2.167, 7.042, 10.791, 5.313, 7.997, 3.1];
export const Y_TRAIN = [1.7, 2.76, 2.09, 3.19, 1.694, 1.573, 3.366, 2.596, 2.53, 1.221, 2.827, 3.465, 1.65, 2.904, 1.3];

/** Tutorial program 3 with the raw API (a Linear(1,1) written out: w, b, MSE mean, SGD lr 1e-3), 60 epochs. */
export function linearRegression(epochs = 60): number {
  manualSeed(0);
  const x = tensor(X_TRAIN.map((v) => [v]));
  const y = tensor(Y_TRAIN.map((v) => [v]));
  // nn.Linear(1,1)'s init draws uniform(-1, 1) for both (fan_in = 1); the values do not matter for speed.
  const w = tensor([[0.5]], { requiresGrad: true });
  const b = tensor([-0.2], { requiresGrad: true });
  let last = 0;
  for (let e = 0; e < epochs; e++) {
    const out = x.mm(w.t()).add(b);
    const loss = out.sub(y).pow(2).mean();
    loss.backward();
    noGrad(() => {
      w.sub_(w.grad!.mul(1e-3));
      b.sub_(b.grad!.mul(1e-3));
      w.grad!.zero_();
      b.grad!.zero_();
    });
    last = loss.item();
  }
  return last;
}

/**
 * Per-op overhead: a small graph on 16-element tensors (5 ops forward, backward through all of them). Returns the
 * loss so the work cannot be optimised away. PyTorch's version is in bench/reference.py.
 */
export function smallOpsSetup(): { a: Tensor; b: Tensor } {
  manualSeed(1);
  return { a: randn([16], { requiresGrad: true }), b: randn([16], { requiresGrad: true }) };
}

export function smallOpsStep(s: { a: Tensor; b: Tensor }): number {
  const loss = s.a.mul(s.b).add(1).tanh().sub(s.b).pow(2).sum();
  loss.backward();
  s.a.grad!.zero_();
  s.b.grad!.zero_();
  return loss.item();
}
