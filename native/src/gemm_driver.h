/*
 * The blocking shared by the SIMD sgemm kernels, included by each kernel file after it has defined:
 *   MR, NV, LANES, NR (= NV*LANES), KC   tile rows, vectors per tile row, lanes per vector, tile columns, K block
 *   TGT                                  the target attribute of the file
 *   mask_t, make_mask(rem)               the lane mask of a partial last vector (rem = columns in it, 0 = full)
 *   TABLE[ta][mr-1][nv-1]                tile kernels (cin/+0, k in order, store or add into cout)
 *   optionally NARROW_LANES and NARROW_TABLE[ta][mr-1]: tiles for a right-edge panel at most that wide
 *
 * Order: K blocks outermost, so a tile's partial sums are stored after a block and reloaded by the next one (that
 * keeps every element's k order); within a block, one NR-column panel of B at a time (packed when needed, then
 * reused by every row block while it sits in L1), row blocks innermost.
 */

/* B's columns [j0, j0+nr) of rows [k0, k0+kc) into dst[kc][NR], zero-padded: from B [KxN] or, transposed, [NxK]. */
static TGT void pack_b(const float *B, int transB, ptrdiff_t N, ptrdiff_t K, ptrdiff_t k0, ptrdiff_t kc,
                       ptrdiff_t j0, ptrdiff_t nr, float *dst) {
  if (!transB) {
    /* A full panel row is NR/8 vector copies (memcpy per row cost 256^3 about 10%). */
    if (nr == NR) {
      for (ptrdiff_t k = 0; k < kc; k++) {
        const float *src = B + (k0 + k) * N + j0;
        for (int v = 0; v < NR; v += 8) _mm256_store_ps(dst + k * NR + v, _mm256_loadu_ps(src + v));
      }
      return;
    }
    for (ptrdiff_t k = 0; k < kc; k++) {
      memcpy(dst + k * NR, B + (k0 + k) * N + j0, (size_t)nr * sizeof(float));
      memset(dst + k * NR + nr, 0, (size_t)(NR - nr) * sizeof(float));
    }
    return;
  }
  for (ptrdiff_t k = 0; k < kc; k++) memset(dst + k * NR + nr, 0, (size_t)(NR - nr) * sizeof(float));
  for (ptrdiff_t j = 0; j < nr; j++) {
    const float *src = B + (j0 + j) * K + k0;
    for (ptrdiff_t k = 0; k < kc; k++) dst[k * NR + j] = src[k];
  }
}

/*
 * A transposed B must be packed to be read by rows. A wide one is packed too: rows 1 KiB or more apart (a multiple
 * of 4 KiB at N = 1024) put a panel's rows into few L1 sets; N = 100 reads fastest in place (AVX-512). A kernel file
 * may define PACK_MIN_M to pack tall products too (a packed panel then serves many row blocks).
 */
#ifndef PACK_MIN_N
#define PACK_MIN_N 256
#endif
#ifndef PACK_MIN_M
#define PACK_MIN_M ((ptrdiff_t)1 << 62)
#endif
/* A kernel file may define PACK_UNALIGNED to pack B whenever its rows are not whole cache lines apart. */
#ifndef PACK_UNALIGNED
#define PACK_UNALIGNED 0
#endif
static int should_pack(int transB, ptrdiff_t M, ptrdiff_t N) {
  return transB || N >= PACK_MIN_N || M >= PACK_MIN_M || (PACK_UNALIGNED && N % 16 != 0);
}

static TGT int drive(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, const float *B,
                     float *C, int mode) {
  if (M == 0 || N == 0) return 0;
  if (K == 0) {
    if (mode == GEMM_OVERWRITE) memset(C, 0, (size_t)(M * N) * sizeof(float));
    return 0;
  }
  /* Mode 2 over several K blocks keeps its partial sums apart from C until the last block adds them in. */
  float *T = NULL;
  if (mode == GEMM_ACCUMULATE_ROUNDED && K > KC) {
    T = (float *)malloc((size_t)(M * N) * sizeof(float));
    if (T == NULL) return -1;
  }
  const ptrdiff_t rs = transA ? 1 : K;
  const ptrdiff_t ks = transA ? M : 1;
  const int pack = should_pack(transB, M, N);
  /* On the stack (KC*NR floats, 48 KiB at most): per call, so threads never share it. */
  float panel[KC * NR] __attribute__((aligned(64)));
  for (ptrdiff_t k0 = 0; k0 < K; k0 += KC) {
    const ptrdiff_t kc = K - k0 < KC ? K - k0 : KC;
    const int first = k0 == 0;
    const int last = k0 + kc == K;
    const float *cin;
    float *cout;
    int addout = 0;
    if (mode == GEMM_ACCUMULATE_ROUNDED) {
      cin = first ? NULL : T;
      cout = last ? C : T;
      addout = last;
    } else {
      cin = first && mode == GEMM_OVERWRITE ? NULL : C;
      cout = C;
    }
    for (ptrdiff_t j0 = 0; j0 < N; j0 += NR) {
      const ptrdiff_t nr = N - j0 < NR ? N - j0 : NR;
      const int nv = (int)((nr + LANES - 1) / LANES);
      const mask_t mlast = make_mask((int)(nr % LANES));
      const float *bp;
      ptrdiff_t ldb;
      if (pack) {
        pack_b(B, transB, N, K, k0, kc, j0, nr, panel);
        bp = panel;
        ldb = NR;
      } else {
        bp = B + k0 * N + j0;
        ldb = N;
      }
      for (ptrdiff_t i0 = 0; i0 < M; i0 += MR) {
        const int mr = (int)(M - i0 < MR ? M - i0 : MR);
        const float *ap = transA ? A + k0 * M + i0 : A + i0 * K + k0;
        const ptrdiff_t co = i0 * N + j0;
        ukr_fn f = TABLE[transA ? 1 : 0][mr - 1][nv - 1];
#ifdef NARROW_LANES
        if (nr <= NARROW_LANES) f = NARROW_TABLE[transA ? 1 : 0][mr - 1];
#endif
        f(kc, ap, rs, ks, bp, ldb, cin ? cin + co : NULL, cout + co, N, addout, mlast);
      }
    }
  }
  free(T);
  return 0;
}
