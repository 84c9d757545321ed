/*
 * sgemm kernels on row-major float32 buffers, C[MxN] (+)= op(A)[MxK] . op(B)[KxN].
 *
 * Arithmetic contract (shared with the engine's plain-SIMD WebAssembly kernel, and so with PyTorch's tutorial
 * numbers): every C element starts from +0 (or from C when accumulating) and walks k = 0..K-1 in order doing
 * acc = round32(acc + round32(a*b)): a separate multiply and add, never a fused multiply-add. Mode 2
 * (accumulateRounded) finishes the product from +0 first, then C = round32(C + product).
 * A sum that starts from +0 is never -0, so a term that is ±0 leaves it unchanged: the x86 kernels skip terms whose
 * factor is an exact zero when the other factor is finite (gemm_zero_skip.c), with the same bits.
 * This file must be compiled with -ffp-contract=off: GCC would otherwise fuse a*b+c where the target has FMA.
 */
#ifndef GRADLOOM_GEMM_H
#define GRADLOOM_GEMM_H

#include <stddef.h>

enum { GEMM_OVERWRITE = 0, GEMM_ACCUMULATE = 1, GEMM_ACCUMULATE_ROUNDED = 2 };

/*
 * Arguments are already validated (sizes fit the buffers). Operands must not overlap C. Returns 0, or -1 when a
 * temporary could not be allocated (C is then untouched).
 */
typedef int (*sgemm_fn)(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A,
                        const float *B, float *C, int mode);

int sgemm_scalar(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, const float *B,
                 float *C, int mode);
/* Products done by sgemm_zero_skip in this process (all threads; always 0 where it is not built). */
long sgemm_zero_skip_count(void);
/* GRADLOOM_PORTABLE_ONLY builds the portable kernel alone, as on non-x86 CPUs (and proves that build compiles). */
#if (defined(__x86_64__) || defined(_M_X64) || defined(__i386__)) && !defined(GRADLOOM_PORTABLE_ONLY)
#define GRADLOOM_X86 1
int sgemm_avx2(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, const float *B,
               float *C, int mode);
/*
 * Aᵀ·B skipping the exact zeros of its smaller operand (see gemm_zero_skip.c): returns 1 when it did the product,
 * 0 when it declined (shape, mode, too few zeros, a non-finite element in the other operand) and C is untouched.
 */
int sgemm_zero_skip(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, const float *B,
                    float *C, int mode);
int sgemm_avx512(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, const float *B,
                 float *C, int mode);
#endif

#endif
