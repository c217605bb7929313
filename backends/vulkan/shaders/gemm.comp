#version 450
// Batched f32 matmul C[b] = op(A[b]) op(B[b]) for large products whose
// contiguous dimensions are multiples of 4 (see matmul.comp for the rest).
// A workgroup of 16x16 invocations computes a BMx128 tile of C (BM = 16·TM,
// TM a specialization constant, 8 or 4); each invocation an TMx8 block:
// rows 4ty+i and, for TM 8, 64+4ty+i; columns 4tx+j and 64+4tx+j, so its
// operands come out of shared memory as vec4s. K advances by 8 through two
// shared-memory buffers: the next step's operands are read from global
// memory (one vec4 per invocation and operand, along the operand's
// contiguous dimension, whatever the transpose flags) while this step's
// are multiplied, then stored into the other buffer, so each step needs
// one barrier. Rows of the shared tiles are padded by one vec4, so the
// transposing stores of a [rows][K] operand hit distinct banks. Each C
// element sums its K products in order, so runs agree bit for bit.
//
// Parameters at p[B..]: as matmul.comp (0 M, 1 N, 2 K, 3 batch stride of
// A, 4 batch stride of B, 5 row length of A as stored, 6 row length of B as
// stored, 7 transA, 8 transB). The host checks that both row lengths, the
// batch strides and N are multiples of 4.
// Dispatch: (ceil(N/128), ceil(M/BM), batch).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"

// The same buffers as common.glsl's, read and written four words at a time.
layout(std430, set = 0, binding = 2) buffer Out4 { uvec4 o4[]; };
layout(std430, set = 0, binding = 3) readonly buffer In04 { uvec4 a4[]; };
layout(std430, set = 0, binding = 4) readonly buffer In14 { uvec4 b4[]; };

layout(constant_id = 0) const uint TM = 8u;
const uint BM = 16u * TM; // tile rows
const uint BN = 128u;     // tile columns
const uint BK = 8u;
const uint HALF_M = TM / 4u; // row groups of 4 per invocation: 2 or 1

shared vec4 sA[2][BK][BM / 4u + 1u]; // [buf][k][m/4]
shared vec4 sB[2][BK][BN / 4u + 1u]; // [buf][k][n/4]

// load reads the step at k0 of both operands into registers.
void load(uint k0, uint tid, uint M, uint N, uint K, uint aOff, uint bOff, uint lda, uint ldb, bool ta, bool tb,
          uint m0, uint n0, out vec4 ra, out vec4 rb) {
    ra = vec4(0.0);
    rb = vec4(0.0);
    if (tid < BM * BK / 4u) {
        if (ta) { // [K][M]: vec4 along m
            uint k = k0 + tid / (BM / 4u), m = m0 + 4u * (tid % (BM / 4u));
            if (k < K && m < M) ra = uintBitsToFloat(a4[(aOff + k * lda + m) / 4u]);
        } else { // [M][K]: vec4 along k
            uint m = m0 + tid / 2u, k = k0 + 4u * (tid % 2u);
            if (k < K && m < M) ra = uintBitsToFloat(a4[(aOff + m * lda + k) / 4u]);
        }
    }
    if (tb) { // [N][K]: vec4 along k
        uint n = n0 + tid / 2u, k = k0 + 4u * (tid % 2u);
        if (k < K && n < N) rb = uintBitsToFloat(b4[(bOff + n * ldb + k) / 4u]);
    } else { // [K][N]: vec4 along n
        uint k = k0 + tid / (BN / 4u), n = n0 + 4u * (tid % (BN / 4u));
        if (k < K && n < N) rb = uintBitsToFloat(b4[(bOff + k * ldb + n) / 4u]);
    }
}

// store writes a step read by load into shared buffer s.
void store(uint s, uint tid, bool ta, bool tb, vec4 ra, vec4 rb) {
    if (tid < BM * BK / 4u) {
        if (ta) {
            sA[s][tid / (BM / 4u)][tid % (BM / 4u)] = ra;
        } else {
            uint m = tid / 2u, k = 4u * (tid % 2u);
            [[unroll]] for (uint i = 0u; i < 4u; i++) sA[s][k + i][m / 4u][m % 4u] = ra[i];
        }
    }
    if (tb) {
        uint n = tid / 2u, k = 4u * (tid % 2u);
        [[unroll]] for (uint i = 0u; i < 4u; i++) sB[s][k + i][n / 4u][n % 4u] = rb[i];
    } else {
        sB[s][tid / (BN / 4u)][tid % (BN / 4u)] = rb;
    }
}

void main() {
    uint B = pc.base;
    uint M = p[B + 0u], N = p[B + 1u], K = p[B + 2u];
    uint aOff = gl_WorkGroupID.z * p[B + 3u], bOff = gl_WorkGroupID.z * p[B + 4u];
    uint lda = p[B + 5u], ldb = p[B + 6u];
    bool ta = p[B + 7u] != 0u, tb = p[B + 8u] != 0u;
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * 16u + tx;
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;

    vec4 acc[TM][2]; // [row][column half]
    [[unroll]] for (uint i = 0u; i < TM; i++) { acc[i][0] = vec4(0.0); acc[i][1] = vec4(0.0); }

    vec4 ra, rb;
    load(0u, tid, M, N, K, aOff, bOff, lda, ldb, ta, tb, m0, n0, ra, rb);
    store(0u, tid, ta, tb, ra, rb);
    barrier();
    uint s = 0u;
    for (uint k0 = 0u; k0 < K; k0 += BK) {
        bool more = k0 + BK < K;
        if (more) load(k0 + BK, tid, M, N, K, aOff, bOff, lda, ldb, ta, tb, m0, n0, ra, rb);
        [[unroll]] for (uint kk = 0u; kk < BK; kk++) {
            vec4 av[HALF_M];
            [[unroll]] for (uint h = 0u; h < HALF_M; h++) av[h] = sA[s][kk][ty + 16u * h];
            vec4 b0 = sB[s][kk][tx], b1 = sB[s][kk][tx + 16u];
            [[unroll]] for (uint h = 0u; h < HALF_M; h++) {
                [[unroll]] for (uint i = 0u; i < 4u; i++) {
                    acc[4u * h + i][0] += av[h][i] * b0;
                    acc[4u * h + i][1] += av[h][i] * b1;
                }
            }
        }
        if (more) store(s ^ 1u, tid, ta, tb, ra, rb);
        barrier();
        s ^= 1u;
    }

    uint cOff = gl_WorkGroupID.z * M * N;
    [[unroll]] for (uint h = 0u; h < HALF_M; h++) {
        [[unroll]] for (uint i = 0u; i < 4u; i++) {
            uint m = m0 + 64u * h + 4u * ty + i;
            if (m >= M) continue;
            [[unroll]] for (uint j = 0u; j < 2u; j++) {
                uint n = n0 + 64u * j + 4u * tx;
                if (n < N) o4[(cOff + m * N + n) / 4u] = floatBitsToUint(acc[4u * h + i][j]);
            }
        }
    }
}
