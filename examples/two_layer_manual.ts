/*
 * The PyTorch tutorial's first program ("Learning PyTorch with Examples": a two-layer network trained with
 * hand-written backpropagation), written with gradloom's engine, line for line:
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
 *   # Create random input and output data
 *   x = torch.randn(N, D_in, device=device, dtype=dtype)
 *   y = torch.randn(N, D_out, device=device, dtype=dtype)
 *
 *   # Randomly initialize weights
 *   w1 = torch.randn(D_in, H, device=device, dtype=dtype)
 *   w2 = torch.randn(H, D_out, device=device, dtype=dtype)
 *
 *   learning_rate = 1e-6
 *   for t in range(500):
 *       # Forward pass: compute predicted y
 *       h = x.mm(w1)
 *       h_relu = h.clamp(min=0)
 *       y_pred = h_relu.mm(w2)
 *
 *       # Compute and print loss
 *       loss = (y_pred - y).pow(2).sum().item()
 *       if t % 100 == 99:
 *           print(t, loss)
 *
 *       # Backprop to compute gradients of w1 and w2 with respect to loss
 *       grad_y_pred = 2.0 * (y_pred - y)
 *       grad_w2 = h_relu.t().mm(grad_y_pred)
 *       grad_h_relu = grad_y_pred.mm(w2.t())
 *       grad_h = grad_h_relu.clone()
 *       grad_h[h < 0] = 0
 *       grad_w1 = x.t().mm(grad_h)
 *
 *       # Update weights using gradient descent
 *       w1 -= learning_rate * grad_w1
 *       w2 -= learning_rate * grad_w2
 *
 * Run: npm run example:manual   (prints the same losses as the program above, to float32 rounding)
 */
import { manualSeed, randn } from '../src/runtime/engine.js'; // the engine for Node: native kernels where they load
import { pyRepr } from './pyFormat.js';

// N is batch size; D_in is input dimension;
// H is hidden dimension; D_out is output dimension.
const [N, D_in, H, D_out] = [64, 1000, 100, 10];

manualSeed(0);
// Create random input and output data
const x = randn([N, D_in]);
const y = randn([N, D_out]);

// Randomly initialize weights
const w1 = randn([D_in, H]);
const w2 = randn([H, D_out]);

const learning_rate = 1e-6;
for (let t = 0; t < 500; t++) {
  // Forward pass: compute predicted y
  const h = x.mm(w1);
  const h_relu = h.clamp({ min: 0 });
  const y_pred = h_relu.mm(w2);

  // Compute and print loss
  const loss = y_pred.sub(y).pow(2).sum().item();
  if (t % 100 === 99) console.log(t, pyRepr(loss));

  // Backprop to compute gradients of w1 and w2 with respect to loss
  const grad_y_pred = y_pred.sub(y).mul(2.0);
  const grad_w2 = h_relu.t().mm(grad_y_pred);
  const grad_h_relu = grad_y_pred.mm(w2.t());
  const grad_h = grad_h_relu.clone();
  grad_h.maskedFill_(h.lt(0), 0);
  const grad_w1 = x.t().mm(grad_h);

  // Update weights using gradient descent
  w1.sub_(grad_w1.mul(learning_rate));
  w2.sub_(grad_w2.mul(learning_rate));
}
