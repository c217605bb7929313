#version 450
// A fused chain of elementwise ops: up to 6 strided (broadcast) inputs are
// loaded once per element, up to 16 ops run on them in registers, and one
// result is stored, so intermediate values never travel through memory.
// The ops are the scalar definitions of ops.glsl, chosen per instruction.
//
// Parameters at p[B..]: 0 count, 1 rank, 2 inputs, 3 instructions, 4 out
// base, 5 gated (1: write nothing once a check of the run has failed),
// 8..15 dims, 16..23 out strides, 24+9k: input k's base then its 8
// strides, 80+4j: instruction j (op | dt<<8 | condition-is-f32<<9, then its
// operand slots: inputs are slots 0.., instruction j's result is slot
// inputs+j).
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
#include "ops.glsl"

layout(std430, set = 0, binding = 6) readonly buffer In3 { uint d[]; };
layout(std430, set = 0, binding = 7) readonly buffer In4 { uint e[]; };
layout(std430, set = 0, binding = 8) readonly buffer In5 { uint f[]; };

uint load(uint k, uint off) {
    switch (k) {
    case 0u: return a[off];
    case 1u: return b[off];
    case 2u: return c[off];
    case 3u: return d[off];
    case 4u: return e[off];
    }
    return f[off];
}

void main() {
    uint B = pc.base;
    uint n = p[B + 0u], rank = p[B + 1u], nIn = p[B + 2u], nOps = p[B + 3u];
    if (p[B + 5u] != 0u && status[0] != 0u) return;
    for (uint i = gl_GlobalInvocationID.x; i < n; i += gridStride()) {
        uint off[6];
        for (uint k = 0u; k < nIn; k++) off[k] = p[B + 24u + 9u * k];
        uint oo = p[B + 4u];
        uint rem = i;
        for (int dd = int(rank) - 1; dd >= 0; dd--) {
            uint dim = p[B + 8u + uint(dd)];
            uint x = rem % dim;
            rem /= dim;
            oo += x * p[B + 16u + uint(dd)];
            for (uint k = 0u; k < nIn; k++) off[k] += x * p[B + 25u + 9u * k + uint(dd)];
        }
        uint v[22];
        for (uint k = 0u; k < nIn; k++) v[k] = load(k, off[k]);
        for (uint j = 0u; j < nOps; j++) {
            uint at = B + 80u + 4u * j;
            uint word = p[at];
            uint op = word & 0xffu;
            uint x = v[p[at + 1u]], y = v[p[at + 2u]];
            uint r;
            if (op == OP_WHERE) {
                uint cond = (word & 0x200u) != 0u ? (x & 0x7fffffffu) : x;
                r = cond != 0u ? y : v[p[at + 3u]];
            } else if ((word & 0x100u) == 0u) {
                r = evalF32(op, x, y);
            } else {
                r = evalI32(op, x, y);
            }
            v[nIn + j] = r;
        }
        o[oo] = v[nIn + nOps - 1u];
    }
}
