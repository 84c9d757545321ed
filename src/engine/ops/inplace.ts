/**
 * In-place ops (PyTorch's trailing underscore). Rules, as in PyTorch:
 * - outside noGrad, a leaf that requires grad (or a view of one) may not be modified in place;
 * - every in-place change bumps the storage's version counter, so a backward that needs the old values fails
 *   loudly instead of computing a wrong gradient;
 * - on a non-leaf (or when the other operand requires grad) the op is recorded: the tensor's history is
 *   replaced by a node whose edge leads to its previous history.
 */
import { isGradEnabled, record } from '../autograd.js';
import { AutogradError, ShapeError } from '../errors.js';
import { axpyInto, binaryScalar, binarySame, broadcastOffsets, sumToShape } from '../kernels/elementwise.js';
import { broadcastableTo, sameShape, shapeStr } from '../shape.js';
import { Tensor, type Operand } from '../tensor.js';
import { fillValue, maskOffsets } from './compare.js';

const LEAF_MESSAGE = 'a leaf Variable that requires grad is being used in an in-place operation.';
const VIEW_OF_LEAF_MESSAGE = 'a view of a leaf Variable that requires grad is being used in an in-place operation.';

/** Throws when the in-place change is forbidden; returns whether it must be recorded in the graph. */
function checkInplace(self: Tensor, other?: Tensor): boolean {
  if (!isGradEnabled()) return false;
  if (self.requiresGrad && self.isLeaf) throw new AutogradError(LEAF_MESSAGE);
  const base = self._base;
  if (base !== null && base.requiresGrad && base.isLeaf) throw new AutogradError(VIEW_OF_LEAF_MESSAGE);
  return self.requiresGrad || (other?.requiresGrad ?? false);
}

/**
 * The tensor whose history an in-place op replaces: the base for a view (PyTorch's CopySlices). Our views keep
 * the base's exact element order, so the op's backward on flat buffers serves the base as is; the view, and any
 * other view of that base, then picks up the new history when next read (refreshView).
 */
function hist(self: Tensor): Tensor {
  return self._base ?? self;
}

function bump(self: Tensor): void {
  self._version.value++;
}

/** Offsets of `other` broadcast to self's shape (in-place results keep self's shape). */
function offsetsInto(other: Tensor, self: Tensor, op: string): Int32Array | null {
  if (sameShape(other.shape, self.shape)) return null;
  if (!broadcastableTo(other.shape, self.shape)) {
    throw new ShapeError(
      `${op}: output with shape ${shapeStr(self.shape)} doesn't match the broadcast shape of ${shapeStr(self.shape)} and ${shapeStr(other.shape)}`,
    );
  }
  return broadcastOffsets(other.shape, self.shape);
}

/** self += alpha * other (sub_ passes -alpha). */
export function addInplace(self: Tensor, other: Operand, alpha: number): void {
  const x = self.data;
  const al = Math.fround(alpha);
  if (typeof other === 'number') {
    const s = Math.fround(Math.fround(other) * al);
    const rec = checkInplace(self);
    binaryScalar('add', x, s, x, false);
    bump(self);
    // The gradient passes unchanged; the node still marks the new history (error messages name it).
    if (rec) record(hist(self), alpha < 0 ? 'SubBackward0' : 'AddBackward0', [hist(self)], (g) => [g]);
    return;
  }
  const io = offsetsInto(other, self, alpha < 0 ? 'sub_' : 'add_');
  const rec = checkInplace(self, other);
  const y = other.data;
  if (al === 1) {
    if (io) for (let i = 0; i < x.length; i++) x[i] += y[io[i]];
    else binarySame('add', x, y, x);
  } else if (al === -1) {
    if (io) for (let i = 0; i < x.length; i++) x[i] -= y[io[i]];
    else binarySame('sub', x, y, x);
  } else {
    if (io) for (let i = 0; i < x.length; i++) x[i] += al * y[io[i]];
    else axpyInto(x, y, al);
  }
  bump(self);
  if (!rec) return;
  const outShape = self.shape.slice();
  const oShape = other.shape.slice();
  record(hist(self), alpha < 0 ? 'SubBackward0' : 'AddBackward0', [hist(self), other], (g, needs) => {
    let go: Float32Array | null = null;
    if (needs[1]) {
      const scaled = new Float32Array(g.length);
      for (let i = 0; i < g.length; i++) scaled[i] = g[i] * al;
      go = sumToShape(scaled, outShape, oShape);
    }
    return [needs[0] ? g : null, go];
  });
}

export function mulInplace(self: Tensor, other: Operand): void {
  const x = self.data;
  if (typeof other === 'number') {
    const s = Math.fround(other);
    const rec = checkInplace(self);
    binaryScalar('mul', x, s, x, false);
    bump(self);
    if (rec) {
      record(hist(self), 'MulBackward0', [hist(self)], (g) => {
        const r = new Float32Array(g.length);
        for (let i = 0; i < g.length; i++) r[i] = g[i] * s;
        return [r];
      });
    }
    return;
  }
  const io = offsetsInto(other, self, 'mul_');
  const rec = checkInplace(self, other);
  // other's gradient needs self's old values.
  const old = rec && other.requiresGrad ? new Tensor(x.slice(), self.shape.slice()) : null;
  const y = other.data;
  if (io) for (let i = 0; i < x.length; i++) x[i] *= y[io[i]];
  else binarySame('mul', x, y, x);
  bump(self);
  if (!rec) return;
  const outShape = self.shape.slice();
  const oShape = other.shape.slice();
  record(
    hist(self),
    'MulBackward0',
    [hist(self), other],
    (g, needs) => {
      let gs: Float32Array | null = null;
      let go: Float32Array | null = null;
      if (needs[0]) {
        gs = new Float32Array(g.length);
        for (let i = 0; i < g.length; i++) gs[i] = g[i] * y[io ? io[i] : i];
      }
      if (needs[1]) {
        const full = new Float32Array(g.length);
        const o = old!.data;
        for (let i = 0; i < g.length; i++) full[i] = g[i] * o[i];
        go = sumToShape(full, outShape, oShape);
      }
      return [gs, go];
    },
    [other],
  );
}

/** fill_/zero_: afterwards the tensor no longer depends on its history (its gradient there is zero). */
export function fillInplace(self: Tensor, value: number): void {
  const rec = checkInplace(self);
  self.data.fill(value);
  bump(self);
  if (rec) record(hist(self), 'FillBackward0', [hist(self)], () => [null]);
}

export function copyInplace(self: Tensor, src: Tensor | number): void {
  if (typeof src === 'number') {
    fillInplace(self, src);
    return;
  }
  const io = offsetsInto(src, self, 'copy_');
  const rec = checkInplace(self, src);
  const x = self.data;
  const y = src.data;
  if (io) for (let i = 0; i < x.length; i++) x[i] = y[io[i]];
  else if (y !== x) x.set(y);
  bump(self);
  if (!rec) return;
  const outShape = self.shape.slice();
  const sShape = src.shape.slice();
  record(hist(self), 'CopyBackwards', [hist(self), src], (g, needs) => [null, needs[1] ? sumToShape(g, outShape, sShape) : null]);
}

export function maskedFillInplace(self: Tensor, mask: Tensor, value: number | Tensor): void {
  const v = fillValue(value);
  const im = maskOffsets(mask, self.shape, 'masked_fill_');
  const rec = checkInplace(self);
  const m = mask.data;
  const x = self.data;
  for (let i = 0; i < x.length; i++) if (m[im ? im[i] : i] !== 0) x[i] = v;
  bump(self);
  if (!rec) return;
  const mcopy = m.slice();
  record(hist(self), 'MaskedFillBackward0', [hist(self)], (g) => {
    const r = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) r[i] = mcopy[im ? im[i] : i] !== 0 ? 0 : g[i];
    return [r];
  });
}
