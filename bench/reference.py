"""Reference timings for `npm run bench`: PyTorch (autograd, as the tutorial) and NumPy (hand-written backprop),
one thread, the same shapes. Prints one JSON line per case; a case whose library is missing says so."""
import json, os, sys, time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

SERVE = len(sys.argv) > 1 and sys.argv[1] == "serve"
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 and not SERVE else 500
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 5


def best_of(fn, steps, runs):
    """(best wall ms, best CPU ms) per step: CPU time is what the Node side compares (the machine is shared)."""
    fn(20)
    best = cpu = float("inf")
    for _ in range(runs):
        t = time.perf_counter(); c = time.process_time()
        fn(steps)
        best = min(best, (time.perf_counter() - t) / steps)
        cpu = min(cpu, (time.process_time() - c) / steps)
    return best * 1000, cpu * 1000


try:
    import torch
except Exception:
    torch = None


def loaded_blas():
    """The BLAS library this process actually mapped (Debian's torch links the generic libblas.so.3, which the
    alternatives system, or LD_LIBRARY_PATH, points at Netlib's reference BLAS or OpenBLAS)."""
    if torch is not None:
        torch.mm(torch.ones(2, 2), torch.ones(2, 2))
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and line.split()[-1].startswith("/")}
        return ", ".join(sorted(libs))
    except Exception:
        return ""

if SERVE:
    pass
elif torch is None:
    print(json.dumps({"case": "pytorch", "skipped": "python3-torch not installed"}))
else:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(64, 1000); y = torch.randn(64, 10)
    w = {"w1": torch.randn(1000, 100, requires_grad=True), "w2": torch.randn(100, 10, requires_grad=True)}
    lr = 1e-6

    def tutorial(steps):
        w1, w2 = w["w1"], w["w2"]
        for _ in range(steps):
            y_pred = x.mm(w1).clamp(min=0).mm(w2)
            loss = (y_pred - y).pow(2).sum()
            loss.backward()
            with torch.no_grad():
                w1 -= lr * w1.grad; w2 -= lr * w2.grad
                w1.grad.zero_(); w2.grad.zero_()
            loss.item()

    xt = torch.tensor([[3.3], [4.4], [5.5], [6.71], [6.93], [4.168], [9.779], [6.182], [7.59], [2.167], [7.042],
                       [10.791], [5.313], [7.997], [3.1]])
    yt = torch.tensor([[1.7], [2.76], [2.09], [3.19], [1.694], [1.573], [3.366], [2.596], [2.53], [1.221], [2.827],
                       [3.465], [1.65], [2.904], [1.3]])
    model = torch.nn.Linear(1, 1); crit = torch.nn.MSELoss(); opt = torch.optim.SGD(model.parameters(), lr=0.001)

    def linreg(epochs):
        for _ in range(epochs):
            opt.zero_grad(); loss = crit(model(xt), yt); loss.backward(); opt.step(); loss.item()

    def gflops(m, n, k):
        a = torch.randn(m, k); b = torch.randn(k, n)
        reps = max(1, int(2e8 / (2 * m * n * k)))
        def f(r):
            for _ in range(r * reps):
                torch.mm(a, b)
        ms = best_of(f, 1, 5)[1] / reps
        return round(2 * m * n * k / (ms / 1000) / 1e9, 1)

    blas = loaded_blas()
    torch.manual_seed(1)
    sa = torch.randn(16, requires_grad=True); sb = torch.randn(16, requires_grad=True)

    def small_ops(iters):
        for _ in range(iters):
            loss = (sa * sb + 1).tanh().sub(sb).pow(2).sum()
            loss.backward()
            sa.grad.zero_(); sb.grad.zero_()
            loss.item()

    sw, sc = best_of(small_ops, 5000 if STEPS >= 500 else 100, RUNS)
    tw, tc = best_of(tutorial, STEPS, RUNS)
    lw, lc = best_of(linreg, 60, RUNS)
    print(json.dumps({"case": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(), "blas": blas,
                      "tutorialMsPerStep": round(tw, 4), "tutorialCpuMsPerStep": round(tc, 4),
                      "linearRegression60EpochsMs": round(lw * 60, 4), "linearRegression60EpochsCpuMs": round(lc * 60, 4),
                      "smallOpsUs": round(sw * 1000, 2), "smallOpsCpuUs": round(sc * 1000, 2),
                      "sgemmGflops": {"64x1000x100": gflops(64, 100, 1000), "256^3": gflops(256, 256, 256),
                                      "1024^3": gflops(1024, 1024, 1024)}}))

try:
    import numpy as np
except Exception:
    np = None

if SERVE:
    pass
elif np is None:
    print(json.dumps({"case": "numpy", "skipped": "numpy not installed"}))
else:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1000), dtype=np.float32); y = rng.standard_normal((64, 10), dtype=np.float32)
    nw = {"w1": rng.standard_normal((1000, 100), dtype=np.float32), "w2": rng.standard_normal((100, 10), dtype=np.float32)}
    lr = np.float32(1e-6)

    def manual(steps):
        w1, w2 = nw["w1"], nw["w2"]
        for _ in range(steps):
            h = x.dot(w1); h_relu = np.maximum(h, 0); y_pred = h_relu.dot(w2)
            loss = np.square(y_pred - y).sum()
            grad_y_pred = 2.0 * (y_pred - y); grad_w2 = h_relu.T.dot(grad_y_pred)
            grad_h = grad_y_pred.dot(w2.T); grad_h[h < 0] = 0; grad_w1 = x.T.dot(grad_h)
            w1 -= lr * grad_w1; w2 -= lr * grad_w2
            float(loss)

    mw, mc = best_of(manual, STEPS, RUNS)
    print(json.dumps({"case": "numpy", "version": np.__version__,
                      "tutorialManualMsPerStep": round(mw, 4), "tutorialManualCpuMsPerStep": round(mc, 4)}))


def serve():
    """`reference.py serve`: the tutorial step on request, so the Node side can alternate runs with its own (on a
    shared machine, interleaving makes both sides see the same load). Reads `tutorial N`, prints one JSON line."""
    if torch is None:
        print(json.dumps({"error": "python3-torch not installed"}), flush=True)
        return
    torch.set_num_threads(1)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] != "tutorial":
            break
        steps = int(parts[1])
        torch.manual_seed(0)
        x = torch.randn(64, 1000); y = torch.randn(64, 10)
        w1 = torch.randn(1000, 100, requires_grad=True); w2 = torch.randn(100, 10, requires_grad=True)
        t = time.perf_counter(); c = time.process_time()
        for _ in range(steps):
            y_pred = x.mm(w1).clamp(min=0).mm(w2)
            loss = (y_pred - y).pow(2).sum()
            loss.backward()
            with torch.no_grad():
                w1 -= 1e-6 * w1.grad; w2 -= 1e-6 * w2.grad
                w1.grad.zero_(); w2.grad.zero_()
            loss.item()
        print(json.dumps({"wallMsPerStep": (time.perf_counter() - t) / steps * 1000,
                          "cpuMsPerStep": (time.process_time() - c) / steps * 1000, "blas": loaded_blas()}), flush=True)


if SERVE:
    serve()
