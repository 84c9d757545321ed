/**
 * Python's `repr(float)`, so the examples print losses exactly as the PyTorch originals do (`print(t, loss.item())`):
 * the shortest round-trip digits (as JavaScript), but scientific notation below 1e-4 or from 1e16, with a
 * two-digit exponent ("3.0474016966763884e-05").
 */
export function pyRepr(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return `${x}.0`;
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-4 || a >= 1e16)) {
    const [mant, exp] = x.toExponential().split('e') as [string, string];
    const sign = exp.startsWith('-') ? '-' : '+';
    const digits = exp.replace(/^[+-]/, '').padStart(2, '0');
    return `${mant}e${sign}${digits}`;
  }
  return String(x);
}
