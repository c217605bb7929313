#version 450
// Batched matmul C[b] = op(A[b]) op(B[b]) in f32, tiled through shared
// memory: a workgroup of 16x16 invocations computes a 64x64 tile of C, each
// invocation a 4x4 block (rows ty+16i, columns tx+16j), stepping K by 16.
// Each C element sums its K products in order, so runs agree bit for bit.
//
// Parameters at p[B..]: 0 M, 1 N, 2 K, 3 batch stride of A (0: a plain
// matrix shared by every batch), 4 batch stride of B, 5 row length of A as
// stored, 6 row length of B as stored, 7 transA, 8 transB.
// Dispatch: (ceil(N/64), ceil(M/64), batch).
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"

shared float tileA[16][64 + 1]; // [k][m]
shared float tileB[16][64 + 1]; // [k][n]

void main() {
    uint B = pc.base;
    uint M = p[B + 0u], N = p[B + 1u], K = p[B + 2u];
    uint aOff = gl_WorkGroupID.z * p[B + 3u], bOff = gl_WorkGroupID.z * p[B + 4u];
    uint lda = p[B + 5u], ldb = p[B + 6u];
    bool ta = p[B + 7u] != 0u, tb = p[B + 8u] != 0u;
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * 16u + tx;
    uint m0 = gl_WorkGroupID.y * 64u, n0 = gl_WorkGroupID.x * 64u;
    float acc[4][4];
    for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) acc[i][j] = 0.0;
    for (uint k0 = 0u; k0 < K; k0 += 16u) {
        // Each invocation loads 4 elements of each 64x16 tile.
        for (uint e = tid; e < 1024u; e += 256u) {
            uint kk = e % 16u, mm = e / 16u;
            uint m = m0 + mm, k = k0 + kk;
            float v = 0.0;
            if (m < M && k < K) v = uintBitsToFloat(a[aOff + (ta ? k * lda + m : m * lda + k)]);
            tileA[kk][mm] = v;
            uint n = n0 + mm;
            float w = 0.0;
            if (n < N && k < K) w = uintBitsToFloat(b[bOff + (tb ? n * ldb + k : k * ldb + n)]);
            tileB[kk][mm] = w;
        }
        barrier();
        for (uint kk = 0u; kk < 16u; kk++) {
            float av[4], bv[4];
            for (uint i = 0u; i < 4u; i++) av[i] = tileA[kk][ty + 16u * i];
            for (uint j = 0u; j < 4u; j++) bv[j] = tileB[kk][tx + 16u * j];
            for (uint i = 0u; i < 4u; i++) for (uint j = 0u; j < 4u; j++) acc[i][j] += av[i] * bv[j];
        }
        barrier();
    }
    uint cOff = gl_WorkGroupID.z * M * N;
    for (uint i = 0u; i < 4u; i++) {
        uint m = m0 + ty + 16u * i;
        if (m >= M) continue;
        for (uint j = 0u; j < 4u; j++) {
            uint n = n0 + tx + 16u * j;
            if (n < N) o[cOff + m * N + n] = floatBitsToUint(acc[i][j]);
        }
    }
}
