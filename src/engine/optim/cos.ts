/**
 * cos(x) for the learning-rate schedules: double-double evaluation (~106 bits) rounded once to double, i.e.
 * correctly rounded except for arguments whose cosine lies within ~2^-100 of a rounding boundary.
 *
 * Why: PyTorch's CosineAnnealingLR computes its lrs with Python's math.cos (glibc), and the lrs chain (each is
 * computed from the previous one), so a last-bit difference in one cos carries into every later lr. V8's Math.cos
 * (fdlibm) is one ulp away from glibc for ~3% of the schedule's arguments (measured: cos(pi*12/10) is
 * -0.8090169943749475 in V8, -0.8090169943749476 in glibc). glibc's cos is itself not correctly rounded (< 1 ulp
 * since 2.28), so this one still differs from it, by one ulp, for ~0.2% of arguments (17 of the 9474 in
 * test/fixtures/pytorch/lr_schedulers.json). The optimizers cast lr to float32, where such a difference almost
 * never survives; the lr sequences of every schedule in the fixtures are PyTorch's bit for bit.
 *
 * Method: reduce |x| by k*(pi/2), with pi/2 as a sum of three doubles (~160 bits) and exact products (Dekker's
 * two-product), then the Taylor series of cos or sin in double-double, sign by quadrant. Meant for the moderate
 * arguments a schedule produces (|x| < 2^30); larger ones lose accuracy in the reduction.
 */

const PIO2_1 = 1.5707963267948966; // 0x1.921fb54442d18p+0
const PIO2_2 = 6.123233995736766e-17; // 0x1.1a62633145c07p-54
const PIO2_3 = -1.4973849048591698e-33; // -0x1.f1976b7ed8fbcp-110

type DD = [number, number];

function twoSum(a: number, b: number): DD {
  const s = a + b;
  const bb = s - a;
  return [s, a - (s - bb) + (b - bb)];
}
function quickTwoSum(a: number, b: number): DD {
  const s = a + b;
  return [s, b - (s - a)];
}
const SPLITTER = 134217729; // 2^27 + 1
function split(a: number): DD {
  const t = SPLITTER * a;
  const hi = t - (t - a);
  return [hi, a - hi];
}
function twoProd(a: number, b: number): DD {
  const p = a * b;
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}
function add(a: DD, b: DD): DD {
  const [s, e] = twoSum(a[0], b[0]);
  const [t, f] = twoSum(a[1], b[1]);
  const [s2, e2] = quickTwoSum(s, e + t);
  return quickTwoSum(s2, e2 + f);
}
function mul(a: DD, b: DD): DD {
  const [p, e] = twoProd(a[0], b[0]);
  return quickTwoSum(p, e + (a[0] * b[1] + a[1] * b[0]));
}
function divSmall(a: DD, d: number): DD {
  // d is a small integer (exact); one Newton correction gives full double-double accuracy.
  const q1 = a[0] / d;
  const [p, e] = twoProd(q1, d);
  const r = add(a, [-p, -e]);
  const q2 = r[0] / d;
  return quickTwoSum(q1, q2);
}

/** Taylor series of cos (odd = false) or sin (odd = true) for |r| <= ~pi/4, in double-double. */
function series(r: DD, odd: boolean): DD {
  const r2 = mul(r, r);
  let term: DD = odd ? r : [1, 0];
  let sum: DD = term;
  let n = odd ? 1 : 0;
  for (let i = 0; i < 30; i++) {
    term = divSmall(mul(term, r2), -((n + 1) * (n + 2)));
    n += 2;
    sum = add(sum, term);
    if (Math.abs(term[0]) < Math.abs(sum[0]) * 1e-36) break;
  }
  return sum;
}

export function correctlyRoundedCos(x: number): number {
  if (!Number.isFinite(x)) return Number.NaN;
  const ax = Math.abs(x); // cos is even
  const k = Math.round(ax / PIO2_1);
  let r: DD = [ax, 0];
  if (k !== 0) {
    const [p1, e1] = twoProd(k, PIO2_1);
    const [p2, e2] = twoProd(k, PIO2_2);
    r = add(r, [-p1, -e1]);
    r = add(r, [-p2, -e2]);
    r = add(r, [-k * PIO2_3, 0]);
  }
  let v: DD;
  switch (k % 4) {
    case 0:
      v = series(r, false);
      break;
    case 1:
      v = series(r, true);
      v = [-v[0], -v[1]];
      break;
    case 2:
      v = series(r, false);
      v = [-v[0], -v[1]];
      break;
    default:
      v = series(r, true);
  }
  return v[0] + v[1];
}
