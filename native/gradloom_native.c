/*
 * gradloom's optional native accelerator (N-API 8, plain C): sgemm and elementwise kernels that work in place on the
 * caller's Float32Arrays and give the engine's plain-SIMD WebAssembly kernels' results bit for bit (see
 * src/gemm.h and src/elementwise.h). Everything a call touches is checked here first: a bad argument throws a JS
 * error, it never reads or writes outside the arrays.
 *
 * Thread safety: worker threads each load the module into their own env. The only per-env state is the chosen
 * kernel (napi instance data); scratch memory is per call (stack or malloc/free).
 */
#define NAPI_VERSION 8
#include <math.h>
#include <node_api.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/elementwise.h"
#include "src/gemm.h"
#include "src/random.h"

typedef struct {
  sgemm_fn gemm;
  const char *isa;
} Kernels;

/*
 * Whether this CPU (and OS: libgcc checks XGETBV for the register state) runs a kernel. libgcc's constructor fills
 * the feature bits when the addon is loaded; this only reads them.
 */
static int isa_supported(const char *isa) {
  if (strcmp(isa, "scalar") == 0) return 1;
#if defined(GRADLOOM_X86) && defined(__GNUC__)
  if (strcmp(isa, "avx2") == 0) return __builtin_cpu_supports("avx2");
  /* The AVX-512 kernel's narrow edge tiles use 256-bit EVEX forms (AVX512VL). */
  if (strcmp(isa, "avx512") == 0) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#endif
  return 0;
}

static int select_isa(Kernels *k, const char *isa) {
  if (!isa_supported(isa)) return 0;
#if defined(GRADLOOM_X86) && defined(__GNUC__)
  if (strcmp(isa, "avx512") == 0) {
    k->gemm = sgemm_avx512;
    k->isa = "avx512";
    return 1;
  }
  if (strcmp(isa, "avx2") == 0) {
    k->gemm = sgemm_avx2;
    k->isa = "avx2";
    return 1;
  }
#endif
  k->gemm = sgemm_scalar;
  k->isa = "scalar";
  return 1;
}

#define ISA_PREFERENCE {"avx512", "avx2", "scalar"}

static void free_kernels(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* ---- argument checking ------------------------------------------------------------------------------------------ */

/* A pending exception is already set when these return 0. */
#define CHECK_NAPI(call)                                                                                             \
  do {                                                                                                               \
    if ((call) != napi_ok) {                                                                                         \
      throw_last(env);                                                                                               \
      return NULL;                                                                                                   \
    }                                                                                                                \
  } while (0)

static void throw_last(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "N-API call failed");
}

#if defined(__GNUC__)
static void throw_fmt(napi_env env, int range, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
static void throw_fmt(napi_env env, int range, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (range) napi_throw_range_error(env, NULL, msg);
  else napi_throw_type_error(env, NULL, msg);
}

typedef struct {
  float *data;
  size_t length;
} F32;

static int get_f32(napi_env env, napi_value v, const char *fn, const char *name, F32 *out) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) {
    throw_fmt(env, 0, "%s: %s must be a Float32Array", fn, name);
    return 0;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok) {
    throw_last(env);
    return 0;
  }
  if (type != napi_float32_array) {
    throw_fmt(env, 0, "%s: %s must be a Float32Array", fn, name);
    return 0;
  }
  out->data = (float *)data;
  out->length = data == NULL ? 0 : length; /* a detached buffer has no data */
  return 1;
}

/* A non-negative integer no larger than 2^53. */
static int get_count(napi_env env, napi_value v, const char *fn, const char *name, int64_t *out) {
  double d = 0;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    throw_fmt(env, 0, "%s: %s must be a number", fn, name);
    return 0;
  }
  napi_get_value_double(env, v, &d);
  if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) {
    throw_fmt(env, 1, "%s: %s must be a non-negative integer, got %g", fn, name, d);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

static int get_bool(napi_env env, napi_value v, const char *fn, const char *name, int *out) {
  bool b = false;
  if (napi_get_value_bool(env, v, &b) != napi_ok) {
    throw_fmt(env, 0, "%s: %s must be a boolean", fn, name);
    return 0;
  }
  *out = b ? 1 : 0;
  return 1;
}

static int get_float(napi_env env, napi_value v, const char *fn, const char *name, double *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    throw_fmt(env, 0, "%s: %s must be a number", fn, name);
    return 0;
  }
  napi_get_value_double(env, v, out);
  return 1;
}

/* rows*cols elements from `off` fit in the array (checked without overflow). */
static int check_extent(napi_env env, const char *fn, const char *name, const F32 *a, int64_t off, int64_t rows,
                        int64_t cols) {
  const uint64_t len = a->length;
  const int ok = (uint64_t)off <= len &&
                 (rows == 0 || cols == 0 || ((uint64_t)cols <= (len - (uint64_t)off) / (uint64_t)rows &&
                                             (uint64_t)rows * (uint64_t)cols <= len - (uint64_t)off));
  if (!ok) {
    throw_fmt(env, 1, "%s: %s needs %lld x %lld elements from offset %lld, but its length is %llu", fn, name,
              (long long)rows, (long long)cols, (long long)off, (unsigned long long)len);
  }
  return ok;
}

/* Compared as addresses: the arrays may be views of one ArrayBuffer or of different ones. */
static int overlaps(const float *p, size_t n, const float *q, size_t m) {
  const uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
  return n > 0 && m > 0 && a < b + m * sizeof(float) && b < a + n * sizeof(float);
}

/* ---- sgemm ------------------------------------------------------------------------------------------------------ */

/* sgemm(A, aOff, B, bOff, C, cOff, M, N, K, transA, transB, mode): C (+)= op(A) . op(B), in place. */
static napi_value js_sgemm(napi_env env, napi_callback_info info) {
  static const char *fn = "sgemm";
  size_t argc = 12;
  napi_value argv[12];
  Kernels *k = NULL;
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK_NAPI(napi_get_instance_data(env, (void **)&k));
  if (argc != 12) {
    throw_fmt(env, 0, "%s: expected 12 arguments, got %zu", fn, argc);
    return NULL;
  }
  F32 A, B, C;
  int64_t aOff, bOff, cOff, M, N, K, mode;
  int ta, tb;
  if (!get_f32(env, argv[0], fn, "A", &A) || !get_count(env, argv[1], fn, "aOffset", &aOff) ||
      !get_f32(env, argv[2], fn, "B", &B) || !get_count(env, argv[3], fn, "bOffset", &bOff) ||
      !get_f32(env, argv[4], fn, "C", &C) || !get_count(env, argv[5], fn, "cOffset", &cOff) ||
      !get_count(env, argv[6], fn, "M", &M) || !get_count(env, argv[7], fn, "N", &N) ||
      !get_count(env, argv[8], fn, "K", &K) || !get_bool(env, argv[9], fn, "transA", &ta) ||
      !get_bool(env, argv[10], fn, "transB", &tb) || !get_count(env, argv[11], fn, "mode", &mode))
    return NULL;
  if (mode > 2) {
    throw_fmt(env, 1, "%s: mode must be 0 (overwrite), 1 (accumulate) or 2 (accumulateRounded), got %lld", fn,
              (long long)mode);
    return NULL;
  }
  /* Kernels index with ptrdiff_t arithmetic on products of two dimensions: keep each below 2^31. */
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) {
    throw_fmt(env, 1, "%s: dimensions must be below 2^31, got M=%lld N=%lld K=%lld", fn, (long long)M, (long long)N,
              (long long)K);
    return NULL;
  }
  if (!check_extent(env, fn, "A", &A, aOff, M, K) || !check_extent(env, fn, "B", &B, bOff, K, N) ||
      !check_extent(env, fn, "C", &C, cOff, M, N))
    return NULL;
  if (M == 0 || N == 0) return NULL;
  float *c = C.data + cOff;
  const float *a = A.data + aOff;
  const float *b = B.data + bOff;
  /* An operand overlapping C is read from a copy, as if all reads came before the first write. */
  float *copyA = NULL, *copyB = NULL;
  const size_t na = (size_t)(M * K), nb = (size_t)(K * N), nc = (size_t)(M * N);
  if (overlaps(a, na, c, nc)) {
    copyA = (float *)malloc(na * sizeof(float));
    if (copyA == NULL) goto oom;
    a = (const float *)memcpy(copyA, a, na * sizeof(float));
  }
  if (overlaps(b, nb, c, nc)) {
    copyB = (float *)malloc(nb * sizeof(float));
    if (copyB == NULL) goto oom;
    b = (const float *)memcpy(copyB, b, nb * sizeof(float));
  }
  if (k->gemm(ta, tb, M, N, K, a, b, c, (int)mode) != 0) goto oom;
  free(copyA);
  free(copyB);
  return NULL;
oom:
  free(copyA);
  free(copyB);
  throw_fmt(env, 1, "%s: out of memory for a %lld x %lld product", fn, (long long)M, (long long)N);
  return NULL;
}

/* ---- elementwise ------------------------------------------------------------------------------------------------ */

static int get_op(napi_env env, napi_value v, const char *fn, int *op) {
  int64_t x;
  if (!get_count(env, v, fn, "op", &x)) return 0;
  if (x > 3) {
    throw_fmt(env, 1, "%s: op must be 0 (add), 1 (sub), 2 (mul) or 3 (div), got %lld", fn, (long long)x);
    return 0;
  }
  *op = (int)x;
  return 1;
}

static int same_length(napi_env env, const char *fn, const char *name, const F32 *x, size_t n) {
  if (x->length == n) return 1;
  throw_fmt(env, 1, "%s: %s has length %zu, expected %zu", fn, name, x->length, n);
  return 0;
}

#define GET_ARGS(n)                                                                                                  \
  size_t argc = n;                                                                                                   \
  napi_value argv[n];                                                                                                \
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                                                  \
  if (argc != n) {                                                                                                   \
    throw_fmt(env, 0, "%s: expected %d arguments, got %zu", fn, n, argc);                                            \
    return NULL;                                                                                                     \
  }

/* binary(op, a, b, out): out = a (op) b; out may alias a or b exactly. */
static napi_value js_binary(napi_env env, napi_callback_info info) {
  static const char *fn = "binary";
  GET_ARGS(4)
  int op;
  F32 a, b, out;
  if (!get_op(env, argv[0], fn, &op) || !get_f32(env, argv[1], fn, "a", &a) || !get_f32(env, argv[2], fn, "b", &b) ||
      !get_f32(env, argv[3], fn, "out", &out) || !same_length(env, fn, "a", &a, out.length) ||
      !same_length(env, fn, "b", &b, out.length))
    return NULL;
  ew_binary(op, a.data, b.data, out.data, out.length);
  return NULL;
}

/* scalar(op, a, s, out, left): out = a (op) s, or s (op) a when left; s is rounded to float32 first. */
static napi_value js_scalar(napi_env env, napi_callback_info info) {
  static const char *fn = "scalar";
  GET_ARGS(5)
  int op, left;
  F32 a, out;
  double s;
  if (!get_op(env, argv[0], fn, &op) || !get_f32(env, argv[1], fn, "a", &a) || !get_float(env, argv[2], fn, "s", &s) ||
      !get_f32(env, argv[3], fn, "out", &out) || !get_bool(env, argv[4], fn, "left", &left) ||
      !same_length(env, fn, "a", &a, out.length))
    return NULL;
  ew_scalar(op, a.data, (float)s, out.data, out.length, left);
  return NULL;
}

/* axpy(x, y, alpha): x = round32(x + alpha*y) computed in double, as JavaScript's `x[i] += alpha * y[i]`. */
static napi_value js_axpy(napi_env env, napi_callback_info info) {
  static const char *fn = "axpy";
  GET_ARGS(3)
  F32 x, y;
  double alpha;
  if (!get_f32(env, argv[0], fn, "x", &x) || !get_f32(env, argv[1], fn, "y", &y) ||
      !get_float(env, argv[2], fn, "alpha", &alpha) || !same_length(env, fn, "y", &y, x.length))
    return NULL;
  ew_axpy(x.data, y.data, alpha, x.length);
  return NULL;
}

/* clamp(a, out, lo, hi): out = min(max(a, lo), hi), as the engine's JavaScript loop computes it. */
static napi_value js_clamp(napi_env env, napi_callback_info info) {
  static const char *fn = "clamp";
  GET_ARGS(4)
  F32 a, out;
  double lo, hi;
  if (!get_f32(env, argv[0], fn, "a", &a) || !get_f32(env, argv[1], fn, "out", &out) ||
      !get_float(env, argv[2], fn, "lo", &lo) || !get_float(env, argv[3], fn, "hi", &hi) ||
      !same_length(env, fn, "a", &a, out.length))
    return NULL;
  ew_clamp(a.data, out.data, out.length, lo, hi);
  return NULL;
}

/* clampBackward(x, g, out, lo, hi): out = lo <= x <= hi ? g : 0. */
static napi_value js_clamp_backward(napi_env env, napi_callback_info info) {
  static const char *fn = "clampBackward";
  GET_ARGS(5)
  F32 x, g, out;
  double lo, hi;
  if (!get_f32(env, argv[0], fn, "x", &x) || !get_f32(env, argv[1], fn, "g", &g) ||
      !get_f32(env, argv[2], fn, "out", &out) || !get_float(env, argv[3], fn, "lo", &lo) ||
      !get_float(env, argv[4], fn, "hi", &hi) || !same_length(env, fn, "x", &x, out.length) ||
      !same_length(env, fn, "g", &g, out.length))
    return NULL;
  ew_clamp_backward(x.data, g.data, out.data, out.length, lo, hi);
  return NULL;
}

/* normal16(data, offset, blocks, mean, std): Box-Muller in place on data[offset, offset + 16 * blocks) (random.h). */
static napi_value js_normal16(napi_env env, napi_callback_info info) {
  static const char *fn = "normal16";
  GET_ARGS(5)
  F32 data;
  int64_t offset, blocks;
  double mean, std;
  if (!get_f32(env, argv[0], fn, "data", &data) || !get_count(env, argv[1], fn, "offset", &offset) ||
      !get_count(env, argv[2], fn, "blocks", &blocks) || !get_float(env, argv[3], fn, "mean", &mean) ||
      !get_float(env, argv[4], fn, "std", &std))
    return NULL;
  if (blocks > (int64_t)(data.length / 16) || offset > (int64_t)data.length - 16 * blocks) {
    throw_fmt(env, 1, "%s: %lld blocks of 16 from offset %lld do not fit in %zu elements", fn, (long long)blocks,
              (long long)offset, data.length);
    return NULL;
  }
  normal_fill16_blocks(data.data + offset, (size_t)blocks, (float)mean, (float)std);
  return NULL;
}

/* ---- kernel choice ---------------------------------------------------------------------------------------------- */

/* isa(): the sgemm kernel this thread uses ('avx512' | 'avx2' | 'scalar'). */
static napi_value js_isa(napi_env env, napi_callback_info info) {
  (void)info;
  Kernels *k = NULL;
  napi_value out;
  CHECK_NAPI(napi_get_instance_data(env, (void **)&k));
  CHECK_NAPI(napi_create_string_utf8(env, k->isa, NAPI_AUTO_LENGTH, &out));
  return out;
}

/* isas(): the kernels this CPU supports, fastest first. */
static napi_value js_isas(napi_env env, napi_callback_info info) {
  (void)info;
  static const char *names[] = ISA_PREFERENCE;
  napi_value arr, s;
  uint32_t n = 0;
  CHECK_NAPI(napi_create_array(env, &arr));
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!isa_supported(names[i])) continue;
    CHECK_NAPI(napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &s));
    CHECK_NAPI(napi_set_element(env, arr, n++, s));
  }
  return arr;
}

/* zeroSkips(): how many products in this process took the zero-skipping path (gemm_zero_skip.c); for tests. */
static napi_value js_zero_skips(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK_NAPI(napi_create_double(env, (double)sgemm_zero_skip_count(), &out));
  return out;
}

/* useIsa(name): pins this thread's sgemm kernel (tests prove each one); throws if the CPU lacks it. */
static napi_value js_use_isa(napi_env env, napi_callback_info info) {
  static const char *fn = "useIsa";
  GET_ARGS(1)
  Kernels *k = NULL;
  char name[16] = {0};
  size_t len = 0;
  CHECK_NAPI(napi_get_instance_data(env, (void **)&k));
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    throw_fmt(env, 0, "%s: name must be a string", fn);
    return NULL;
  }
  if (!select_isa(k, name)) {
    throw_fmt(env, 1, "%s: '%s' is not supported on this CPU (or not built)", fn, name);
    return NULL;
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  Kernels *k = (Kernels *)malloc(sizeof(Kernels));
  if (k == NULL) {
    napi_throw_error(env, NULL, "gradloom_native: out of memory");
    return NULL;
  }
  static const char *names[] = ISA_PREFERENCE;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (select_isa(k, names[i])) break;
  if (napi_set_instance_data(env, k, free_kernels, NULL) != napi_ok) {
    free(k);
    throw_last(env);
    return NULL;
  }
  napi_property_descriptor props[] = {
      {"sgemm", NULL, js_sgemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"binary", NULL, js_binary, NULL, NULL, NULL, napi_enumerable, NULL},
      {"scalar", NULL, js_scalar, NULL, NULL, NULL, napi_enumerable, NULL},
      {"axpy", NULL, js_axpy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"clamp", NULL, js_clamp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"clampBackward", NULL, js_clamp_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"normal16", NULL, js_normal16, NULL, NULL, NULL, napi_enumerable, NULL},
      {"isa", NULL, js_isa, NULL, NULL, NULL, napi_enumerable, NULL},
      {"isas", NULL, js_isas, NULL, NULL, NULL, napi_enumerable, NULL},
      {"useIsa", NULL, js_use_isa, NULL, NULL, NULL, napi_enumerable, NULL},
      {"zeroSkips", NULL, js_zero_skips, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) {
    throw_last(env);
    return NULL;
  }
  return exports;
}
