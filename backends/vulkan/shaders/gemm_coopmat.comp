#version 450
// Batched f16 matmul C[b] = op(A[b]) op(B[b]) on cooperative matrices
// (VK_NV_cooperative_matrix): 16x16x16 f16 products accumulated in f32,
// the result rounded to f16 once.
//
// A workgroup of WARPS_M x WARPS_N subgroups (of 32) computes a BMxBN tile
// of C; each subgroup a (16·TM)x(16·TN) block of it, held as TMxTN f32
// accumulator matrices. K advances by BK: each step's tiles of A and B are
// read from global memory into registers (uvec4s of 8 halves along the
// operand's contiguous dimension) while the previous step's are multiplied
// out of shared memory, then stored; with one shared stage (STAGES 1) that
// takes a barrier before and after the store, with two stages one. The
// shared tiles keep each operand's layout as stored (the transpose flags
// choose row- or column-major fragment loads, so no transposing store is
// needed), rows padded by 8 halves against bank conflicts. Workgroups run
// down GROUP_M tile rows before moving right, so those resident together
// share rows of A and columns of B in the cache. The result goes out
// through shared memory as f16, a 16x16 tile at a time per subgroup, in
// uvec4s (or halves, at ragged edges). Rows whose length is not a multiple
// of 8 are read one half at a time.
//
// The defaults (8 subgroups of 64x64, 128x256 tiles, BK 32, one stage)
// were the fastest on an H200 (see README.md); compile.sh also builds
// other shapes for comparison. The specialization constant FLAGS holds
// bit 0 transA, bit 1 transB. The shape is specialized too (ids 2-8), so
// addresses fold into constants and the bounds checks of dimensions that
// are multiples of the tile compile away; rows that are multiples of 8
// take uvec4 loads.
//
// The SPIR-V uses the Vulkan memory model (glslang emits it for
// cooperative-matrix loads), so the device enables vulkanMemoryModel.
//
// Dispatch: (ceil(N/BN), ceil(M/BM), batch).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_memory_scope_semantics : require

#ifndef WARPS_M
#define WARPS_M 2
#endif
#ifndef WARPS_N
#define WARPS_N 4
#endif
#ifndef TM
#define TM 4
#endif
#ifndef TN
#define TN 4
#endif
#ifndef BK
#define BK 32
#endif
#ifndef STAGES
#define STAGES 1
#endif
#ifndef GROUP_M
#define GROUP_M 8
#endif
#define THREADS (WARPS_M * WARPS_N * 32)

layout(local_size_x = THREADS) in;
#include "common.glsl"

layout(std430, set = 0, binding = 2) buffer OutH { float16_t oh[]; };
layout(std430, set = 0, binding = 2) buffer Out4 { uvec4 o4[]; };
layout(std430, set = 0, binding = 3) readonly buffer InH0 { float16_t ah[]; };
layout(std430, set = 0, binding = 3) readonly buffer In04 { uvec4 a4[]; };
layout(std430, set = 0, binding = 4) readonly buffer InH1 { float16_t bh[]; };
layout(std430, set = 0, binding = 4) readonly buffer In14 { uvec4 b4[]; };

layout(constant_id = 0) const uint FLAGS = 0u;
const bool TA = (FLAGS & 1u) != 0u;
const bool TB = (FLAGS & 2u) != 0u;
// The product: M, N, K, the batch strides of A and B, and their row
// lengths as stored.
layout(constant_id = 2) const uint M = 1u;
layout(constant_id = 3) const uint N = 1u;
layout(constant_id = 4) const uint K = 1u;
layout(constant_id = 5) const uint A_BATCH = 0u;
layout(constant_id = 6) const uint B_BATCH = 0u;
layout(constant_id = 7) const uint LDA = 1u;
layout(constant_id = 8) const uint LDB = 1u;
const bool ALIGNED = (LDA % 8u | LDB % 8u) == 0u;

const uint BM = WARPS_M * TM * 16u;
const uint BN = WARPS_N * TN * 16u;
const bool FULL_M = M % BM == 0u;
const bool FULL_N = N % BN == 0u;
const bool FULL_K = K % BK == 0u;

// Row strides of the shared tiles in uvec4s (8 halves), one of padding.
const uint SA_MK = BK / 8u + 1u; // A as [m][k]
const uint SA_KM = BM / 8u + 1u; // A as [k][m] (transA)
const uint SB_KN = BN / 8u + 1u; // B as [k][n]
const uint SB_NK = BK / 8u + 1u; // B as [n][k] (transB)
const uint SC = 16u / 8u + 1u;   // a 16x16 tile of C

const uint A_SIZE = max(BK * SA_KM, BM * SA_MK);
const uint B_SIZE = max(BN * SB_NK, BK * SB_KN);
const uint SMEM = max(STAGES * (A_SIZE + B_SIZE), WARPS_M * WARPS_N * 16u * SC);

shared uvec4 smem[SMEM];

// uvec4s per thread and operand per step (the tiles are BM·BK and BK·BN
// halves).
const uint A_VECS = BM * BK / 8u / THREADS;
const uint B_VECS = BK * BN / 8u / THREADS;

// fetch reads the uvec4 at (row, col) of a [rows][ld] matrix at off, zero
// outside rowBound x colBound (unchecked where the bound is full: a
// multiple of the tile); col is a multiple of 8.
uvec4 fetchA(uint off, uint ld, uint row, uint col, uint rowBound, uint colBound, bool rowFull, bool colFull) {
    if (!rowFull && row >= rowBound) return uvec4(0u);
    uint at = off + row * ld + col;
    if (ALIGNED) return colFull || col < colBound ? a4[at / 8u] : uvec4(0u);
    uint w[4];
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        float16_t x = col + 2u * i < colBound ? ah[at + 2u * i] : float16_t(0.0);
        float16_t y = col + 2u * i + 1u < colBound ? ah[at + 2u * i + 1u] : float16_t(0.0);
        w[i] = packFloat2x16(f16vec2(x, y));
    }
    return uvec4(w[0], w[1], w[2], w[3]);
}

uvec4 fetchB(uint off, uint ld, uint row, uint col, uint rowBound, uint colBound, bool rowFull, bool colFull) {
    if (!rowFull && row >= rowBound) return uvec4(0u);
    uint at = off + row * ld + col;
    if (ALIGNED) return colFull || col < colBound ? b4[at / 8u] : uvec4(0u);
    uint w[4];
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        float16_t x = col + 2u * i < colBound ? bh[at + 2u * i] : float16_t(0.0);
        float16_t y = col + 2u * i + 1u < colBound ? bh[at + 2u * i + 1u] : float16_t(0.0);
        w[i] = packFloat2x16(f16vec2(x, y));
    }
    return uvec4(w[0], w[1], w[2], w[3]);
}

void main() {
    uint aOff = gl_WorkGroupID.z * A_BATCH, bOff = gl_WorkGroupID.z * B_BATCH;
    uint tid = gl_LocalInvocationID.x;
    uint warp = gl_SubgroupID;
    uint wm = warp / WARPS_N, wn = warp % WARPS_N;
    uint gx = gl_NumWorkGroups.x, gy = gl_NumWorkGroups.y;
    uint id = gl_WorkGroupID.y * gx + gl_WorkGroupID.x;
    const uint G = GROUP_M;
    uint first = id / (G * gx) * G, rows = min(gy - first, G);
    uint m0 = (first + id % (G * gx) % rows) * BM, n0 = id % (G * gx) / rows * BN;

    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[TM][TN];
    [[unroll]] for (uint i = 0u; i < TM; i++) {
        [[unroll]] for (uint j = 0u; j < TN; j++) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    }

    // The v-th uvec4 of a step: A as [m][k] has BK/8 per row, as [k][m]
    // BM/8; B as [k][n] BN/8, as [n][k] BK/8.
    uvec4 ra[A_VECS], rb[B_VECS];
    uint k0 = 0u;
    [[unroll]] for (uint i = 0u; i < A_VECS; i++) {
        uint v = tid + i * THREADS;
        if (TA) ra[i] = fetchA(aOff, LDA, k0 + v / (BM / 8u), m0 + 8u * (v % (BM / 8u)), K, M, FULL_K, FULL_M);
        else ra[i] = fetchA(aOff, LDA, m0 + v / (BK / 8u), k0 + 8u * (v % (BK / 8u)), M, K, FULL_M, FULL_K);
    }
    [[unroll]] for (uint i = 0u; i < B_VECS; i++) {
        uint v = tid + i * THREADS;
        if (TB) rb[i] = fetchB(bOff, LDB, n0 + v / (BK / 8u), k0 + 8u * (v % (BK / 8u)), N, K, FULL_N, FULL_K);
        else rb[i] = fetchB(bOff, LDB, k0 + v / (BN / 8u), n0 + 8u * (v % (BN / 8u)), K, N, FULL_K, FULL_N);
    }
    uint s = 0u;
    for (;;) {
        // Store the fetched step into stage s.
        uint aBase = s * (A_SIZE + B_SIZE), bBase = aBase + A_SIZE;
        if (STAGES == 1 && k0 > 0u) barrier(); // the last step is read
        [[unroll]] for (uint i = 0u; i < A_VECS; i++) {
            uint v = tid + i * THREADS;
            if (TA) smem[aBase + (v / (BM / 8u)) * SA_KM + v % (BM / 8u)] = ra[i];
            else smem[aBase + (v / (BK / 8u)) * SA_MK + v % (BK / 8u)] = ra[i];
        }
        [[unroll]] for (uint i = 0u; i < B_VECS; i++) {
            uint v = tid + i * THREADS;
            if (TB) smem[bBase + (v / (BK / 8u)) * SB_NK + v % (BK / 8u)] = rb[i];
            else smem[bBase + (v / (BN / 8u)) * SB_KN + v % (BN / 8u)] = rb[i];
        }
        barrier();
        k0 += BK;
        bool more = k0 < K;
        if (more) { // the next step, while this one multiplies
            [[unroll]] for (uint i = 0u; i < A_VECS; i++) {
                uint v = tid + i * THREADS;
                if (TA) ra[i] = fetchA(aOff, LDA, k0 + v / (BM / 8u), m0 + 8u * (v % (BM / 8u)), K, M, FULL_K, FULL_M);
                else ra[i] = fetchA(aOff, LDA, m0 + v / (BK / 8u), k0 + 8u * (v % (BK / 8u)), M, K, FULL_M, FULL_K);
            }
            [[unroll]] for (uint i = 0u; i < B_VECS; i++) {
                uint v = tid + i * THREADS;
                if (TB) rb[i] = fetchB(bOff, LDB, n0 + v / (BK / 8u), k0 + 8u * (v % (BK / 8u)), N, K, FULL_N, FULL_K);
                else rb[i] = fetchB(bOff, LDB, k0 + v / (BN / 8u), n0 + 8u * (v % (BN / 8u)), K, N, FULL_K, FULL_N);
            }
        }
        [[unroll]] for (uint kk = 0u; kk < BK; kk += 16u) {
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> fa[TM], fb[TN];
            [[unroll]] for (uint i = 0u; i < TM; i++) {
                uint m = wm * TM * 16u + 16u * i;
                if (TA) coopMatLoadNV(fa[i], smem, aBase + kk * SA_KM + m / 8u, SA_KM, true);
                else coopMatLoadNV(fa[i], smem, aBase + m * SA_MK + kk / 8u, SA_MK, false);
            }
            [[unroll]] for (uint j = 0u; j < TN; j++) {
                uint n = wn * TN * 16u + 16u * j;
                if (TB) coopMatLoadNV(fb[j], smem, bBase + n * SB_NK + kk / 8u, SB_NK, true);
                else coopMatLoadNV(fb[j], smem, bBase + kk * SB_KN + n / 8u, SB_KN, false);
            }
            [[unroll]] for (uint i = 0u; i < TM; i++) {
                [[unroll]] for (uint j = 0u; j < TN; j++) acc[i][j] = coopMatMulAddNV(fa[i], fb[j], acc[i][j]);
            }
        }
        if (!more) break;
        if (STAGES == 2) s ^= 1u;
    }

    // Out through shared memory as f16, a 16x16 tile at a time per
    // subgroup (each lane one row half of 8).
    barrier();
    uint scratch = warp * 16u * SC;
    uint lane = gl_SubgroupInvocationID;
    uint cOff = gl_WorkGroupID.z * M * N;
    [[unroll]] for (uint i = 0u; i < TM; i++) {
        [[unroll]] for (uint j = 0u; j < TN; j++) {
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> h = fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(acc[i][j]);
            coopMatStoreNV(h, smem, scratch, SC, false);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            uint r = lane / 2u, c = 8u * (lane % 2u);
            uint m = m0 + wm * TM * 16u + 16u * i + r, n = n0 + wn * TN * 16u + 16u * j + c;
            uvec4 x = smem[scratch + r * SC + c / 8u];
            subgroupBarrier();
            if ((!FULL_M && m >= M) || (!FULL_N && n >= N)) continue;
            uint at = cOff + m * N + n;
            if (N % 8u == 0u) {
                o4[at / 8u] = x;
            } else {
                [[unroll]] for (uint e = 0u; e < 4u; e++) {
                    f16vec2 v = unpackFloat2x16(x[e]);
                    if (n + 2u * e < N) oh[at + 2u * e] = v.x;
                    if (n + 2u * e + 1u < N) oh[at + 2u * e + 1u] = v.y;
                }
            }
        }
    }
}
