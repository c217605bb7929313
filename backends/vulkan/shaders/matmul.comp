#version 450
// Batched matmul C[b] = op(A[b]) op(B[b]) in f32, tiled through shared
// memory: a workgroup of 16x16 invocations computes a (16·T)x(16·T) tile of
// C, each invocation a TxT block (rows ty+16i, columns tx+16j), stepping K
// by 16. T is a specialization constant: 4 (64x64 tiles, for small
// products) or 8 (128x128, twice the arithmetic per shared-memory read).
// Tiles are loaded along the operand's contiguous dimension, so global
// reads coalesce whatever the transpose flags. Each C element sums its K
// products in order, so runs agree bit for bit.
//
// Parameters at p[B..]: 0 M, 1 N, 2 K, 3 batch stride of A (0: a plain
// matrix shared by every batch), 4 batch stride of B, 5 row length of A as
// stored, 6 row length of B as stored, 7 transA, 8 transB.
// Dispatch: (ceil(N/(16T)), ceil(M/(16T)), batch).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"

layout(constant_id = 0) const uint T = 4u;
const uint BM = 16u * T; // tile rows and columns
const uint BK = 16u;

shared float tileA[BK][BM + 1u]; // [k][m]
shared float tileB[BK][BM + 1u]; // [k][n]

void main() {
    uint B = pc.base;
    uint M = p[B + 0u], N = p[B + 1u], K = p[B + 2u];
    uint aOff = gl_WorkGroupID.z * p[B + 3u], bOff = gl_WorkGroupID.z * p[B + 4u];
    uint lda = p[B + 5u], ldb = p[B + 6u];
    bool ta = p[B + 7u] != 0u, tb = p[B + 8u] != 0u;
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * 16u + tx;
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BM;
    float acc[T][T];
    // Unrolled, so the accumulators stay in registers.
    [[unroll]] for (uint i = 0u; i < T; i++) [[unroll]] for (uint j = 0u; j < T; j++) acc[i][j] = 0.0;
    for (uint k0 = 0u; k0 < K; k0 += BK) {
        for (uint e = tid; e < BK * BM; e += 256u) {
            // A is stored [M][K] (contiguous k) or, transposed, [K][M].
            uint kk = ta ? e / BM : e % BK, mm = ta ? e % BM : e / BK;
            uint m = m0 + mm, k = k0 + kk;
            float v = 0.0;
            if (m < M && k < K) v = uintBitsToFloat(a[aOff + (ta ? k * lda + m : m * lda + k)]);
            tileA[kk][mm] = v;
            // B is stored [K][N] (contiguous n) or, transposed, [N][K].
            uint kb = tb ? e % BK : e / BM, nn = tb ? e / BK : e % BM;
            uint n = n0 + nn;
            k = k0 + kb;
            float w = 0.0;
            if (n < N && k < K) w = uintBitsToFloat(b[bOff + (tb ? n * ldb + k : k * ldb + n)]);
            tileB[kb][nn] = w;
        }
        barrier();
        [[unroll]] for (uint kk = 0u; kk < BK; kk++) {
            float av[T], bv[T];
            [[unroll]] for (uint i = 0u; i < T; i++) av[i] = tileA[kk][ty + 16u * i];
            [[unroll]] for (uint j = 0u; j < T; j++) bv[j] = tileB[kk][tx + 16u * j];
            [[unroll]] for (uint i = 0u; i < T; i++) [[unroll]] for (uint j = 0u; j < T; j++) acc[i][j] += av[i] * bv[j];
        }
        barrier();
    }
    uint cOff = gl_WorkGroupID.z * M * N;
    [[unroll]] for (uint i = 0u; i < T; i++) {
        uint m = m0 + ty + 16u * i;
        if (m >= M) continue;
        [[unroll]] for (uint j = 0u; j < T; j++) {
            uint n = n0 + tx + 16u * j;
            if (n < N) o[cOff + m * N + n] = floatBitsToUint(acc[i][j]);
        }
    }
}
