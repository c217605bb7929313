#version 450
// Batched f16 matmul C[b] = op(A[b]) op(B[b]) with f32 accumulation, for
// devices without cooperative matrices (and the shapes gemm_coopmat.comp
// does not take): one invocation per element of C, reading its operands
// straight from global memory. Correct, not fast.
//
// Parameters at p[B..]: as matmul.comp (0 M, 1 N, 2 K, 3 batch stride of
// A, 4 batch stride of B, 5 row length of A as stored, 6 row length of B as
// stored, 7 transA, 8 transB). Dispatch: (ceil(N/16), ceil(M/16), batch).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"

layout(std430, set = 0, binding = 2) buffer OutH { float16_t oh[]; };
layout(std430, set = 0, binding = 3) readonly buffer InH0 { float16_t ah[]; };
layout(std430, set = 0, binding = 4) readonly buffer InH1 { float16_t bh[]; };

void main() {
    uint B = pc.base;
    uint M = p[B + 0u], N = p[B + 1u], K = p[B + 2u];
    uint aOff = gl_WorkGroupID.z * p[B + 3u], bOff = gl_WorkGroupID.z * p[B + 4u];
    uint lda = p[B + 5u], ldb = p[B + 6u];
    bool ta = p[B + 7u] != 0u, tb = p[B + 8u] != 0u;
    uint m = gl_GlobalInvocationID.y, n = gl_GlobalInvocationID.x;
    if (m >= M || n >= N) return;
    // Element (m, k) of op(A) and (k, n) of op(B), as stored.
    uint aStep = ta ? lda : 1u, aAt = aOff + (ta ? m : m * lda);
    uint bStep = tb ? 1u : ldb, bAt = bOff + (tb ? n * ldb : n);
    float acc = 0.0;
    for (uint k = 0u; k < K; k++) {
        acc += float(ah[aAt + k * aStep]) * float(bh[bAt + k * bStep]);
    }
    oh[gl_WorkGroupID.z * M * N + m * N + n] = float16_t(acc);
}
