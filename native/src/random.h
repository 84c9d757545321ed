/* Random-number kernels, bit-identical to the engine's JavaScript (src/engine/random.ts, randomMath.ts). */
#ifndef GRADLOOM_RANDOM_H
#define GRADLOOM_RANDOM_H

#include <stddef.h>

/* Box-Muller in place on `blocks` consecutive blocks of 16 uniforms (u1 = 1 - d[j], u2 = d[j + 8]), as normalFill16. */
void normal_fill16_blocks(float *data, size_t blocks, float mean, float std);

#endif
