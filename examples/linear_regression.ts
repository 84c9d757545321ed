/*
 * The linear-regression tutorial program (nn.Linear + MSELoss + SGD on 15 toy points), written with gradloom's
 * engine, line for line:
 *
 *   import torch
 *   import torch.nn as nn
 *   import numpy as np
 *
 *   # Hyper-parameters
 *   input_size = 1
 *   output_size = 1
 *   num_epochs = 60
 *   learning_rate = 0.001
 *
 *   # Toy dataset
 *   x_train = np.array([[3.3], [4.4], [5.5], [6.71], [6.93], [4.168],
 *                       [9.779], [6.182], [7.59], [2.167], [7.042],
 *                       [10.791], [5.313], [7.997], [3.1]], dtype=np.float32)
 *
 *   y_train = np.array([[1.7], [2.76], [2.09], [3.19], [1.694], [1.573],
 *                       [3.366], [2.596], [2.53], [1.221], [2.827],
 *                       [3.465], [1.65], [2.904], [1.3]], dtype=np.float32)
 *
 *   torch.manual_seed(0)
 *   # Linear regression model
 *   model = nn.Linear(input_size, output_size)
 *
 *   # Loss and optimizer
 *   criterion = nn.MSELoss()
 *   optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
 *
 *   # Train the model
 *   for epoch in range(num_epochs):
 *       # Convert numpy arrays to torch tensors
 *       inputs = torch.from_numpy(x_train)
 *       targets = torch.from_numpy(y_train)
 *
 *       # Forward pass
 *       outputs = model(inputs)
 *       loss = criterion(outputs, targets)
 *
 *       # Backward and optimize
 *       optimizer.zero_grad()
 *       loss.backward()
 *       optimizer.step()
 *
 *       if (epoch+1) % 5 == 0:
 *           print ('Epoch [{}/{}], Loss: {:.4f}'.format(epoch+1, num_epochs, loss.item()))
 *
 *   # Save the model checkpoint
 *   torch.save(model.state_dict(), 'model.ckpt')
 *
 * Run: npm run example:regression   (prints the same lines as the program above; the checkpoint is written as
 * safetensors, the format `safetensors.torch.load_file` reads, to the path in $CKPT, or not at all without it)
 */
import { writeFileSync } from 'node:fs';
import { manualSeed, nn, optim, saveSafetensors, tensor } from '../src/runtime/engine.js'; // the engine for Node: native kernels where they load

// Hyper-parameters
const input_size = 1;
const output_size = 1;
const num_epochs = 60;
const learning_rate = 0.001;

// Toy dataset
const x_train = [[3.3], [4.4], [5.5], [6.71], [6.93], [4.168],
                 [9.779], [6.182], [7.59], [2.167], [7.042],
                 [10.791], [5.313], [7.997], [3.1]];

const y_train = [[1.7], [2.76], [2.09], [3.19], [1.694], [1.573],
                 [3.366], [2.596], [2.53], [1.221], [2.827],
                 [3.465], [1.65], [2.904], [1.3]];

manualSeed(0);
// Linear regression model
const model = new nn.Linear(input_size, output_size);

// Loss and optimizer
const criterion = new nn.MSELoss();
const optimizer = new optim.SGD(model.parameters(), { lr: learning_rate });

// Train the model
for (let epoch = 0; epoch < num_epochs; epoch++) {
  // Convert arrays to tensors
  const inputs = tensor(x_train);
  const targets = tensor(y_train);

  // Forward pass
  const outputs = model.forward(inputs);
  const loss = criterion.forward(outputs, targets);

  // Backward and optimize
  optimizer.zeroGrad();
  loss.backward();
  optimizer.step();

  if ((epoch + 1) % 5 === 0) {
    console.log(`Epoch [${epoch + 1}/${num_epochs}], Loss: ${loss.item().toFixed(4)}`);
  }
}

// Save the model checkpoint
if (process.env.CKPT) writeFileSync(process.env.CKPT, saveSafetensors(model.stateDict()));
