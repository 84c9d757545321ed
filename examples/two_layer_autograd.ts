/*
 * The PyTorch tutorial's second program (the same two-layer network, gradients by autograd), written with
 * gradloom's engine, line for line:
 *
 *   import torch
 *
 *   dtype = torch.float
 *   device = torch.device("cpu")
 *
 *   # N is batch size; D_in is input dimension;
 *   # H is hidden dimension; D_out is output dimension.
 *   N, D_in, H, D_out = 64, 1000, 100, 10
 *
 *   torch.manual_seed(0)
 *   # Create random Tensors to hold input and outputs.
 *   x = torch.randn(N, D_in, device=device, dtype=dtype)
 *   y = torch.randn(N, D_out, device=device, dtype=dtype)
 *
 *   # Create random Tensors for weights.
 *   w1 = torch.randn(D_in, H, device=device, dtype=dtype, requires_grad=True)
 *   w2 = torch.randn(H, D_out, device=device, dtype=dtype, requires_grad=True)
 *
 *   learning_rate = 1e-6
 *   for t in range(500):
 *       # Forward pass: compute predicted y using operations on Tensors
 *       y_pred = x.mm(w1).clamp(min=0).mm(w2)
 *
 *       # Compute and print loss using operations on Tensors.
 *       loss = (y_pred - y).pow(2).sum()
 *       if t % 100 == 99:
 *           print(t, loss.item())
 *
 *       # Use autograd to compute the backward pass.
 *       loss.backward()
 *
 *       # Manually update weights using gradient descent. Wrap in torch.no_grad()
 *       # because weights have requires_grad=True, but we don't need to track this
 *       # in autograd.
 *       with torch.no_grad():
 *           w1 -= learning_rate * w1.grad
 *           w2 -= learning_rate * w2.grad
 *
 *           # Manually zero the gradients after updating weights
 *           w1.grad.zero_()
 *           w2.grad.zero_()
 *
 * Run: npm run example:autograd   (prints the same losses as the program above, to float32 rounding)
 */
import { manualSeed, noGrad, randn } from '../src/runtime/engine.js'; // the engine for Node: native kernels where they load
import { pyRepr } from './pyFormat.js';

// N is batch size; D_in is input dimension;
// H is hidden dimension; D_out is output dimension.
const [N, D_in, H, D_out] = [64, 1000, 100, 10];

manualSeed(0);
// Create random Tensors to hold input and outputs.
const x = randn([N, D_in]);
const y = randn([N, D_out]);

// Create random Tensors for weights.
const w1 = randn([D_in, H], { requiresGrad: true });
const w2 = randn([H, D_out], { requiresGrad: true });

const learning_rate = 1e-6;
for (let t = 0; t < 500; t++) {
  // Forward pass: compute predicted y using operations on Tensors
  const y_pred = x.mm(w1).clamp({ min: 0 }).mm(w2);

  // Compute and print loss using operations on Tensors.
  const loss = y_pred.sub(y).pow(2).sum();
  if (t % 100 === 99) console.log(t, pyRepr(loss.item()));

  // Use autograd to compute the backward pass.
  loss.backward();

  // Manually update weights using gradient descent. Wrap in noGrad
  // because weights have requiresGrad=true, but we don't need to track this
  // in autograd.
  noGrad(() => {
    w1.sub_(w1.grad!.mul(learning_rate));
    w2.sub_(w2.grad!.mul(learning_rate));

    // Manually zero the gradients after updating weights
    w1.grad!.zero_();
    w2.grad!.zero_();
  });
}
