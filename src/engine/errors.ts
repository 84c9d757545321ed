/**
 * Typed errors of the engine. Messages follow PyTorch's wording where PyTorch has one, so a user can search for
 * them, and always name the shapes or values that were wrong.
 */
export class GradloomError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Incompatible or invalid shapes (broadcasting, matmul, reshape) and out-of-range dimensions. */
export class ShapeError extends GradloomError {}

/** Misuse of autograd: backward of a non-scalar, a released graph, forbidden in-place changes. */
export class AutogradError extends GradloomError {}

/** A value that cannot be turned into a tensor (ragged nested arrays, non-numbers, bad options). */
export class ValueError extends GradloomError {}

/** A malformed or hostile safetensors file. */
export class SafetensorsError extends GradloomError {}
