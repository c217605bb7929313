#version 450
// Elementwise ops over up to three strided inputs: unary, binary with
// broadcasting (a broadcast dimension has stride 0), where, cast, strided
// copies (transpose, slice, broadcast, concat parts, pad interiors, update
// copies) and fills. One pipeline per (OP, DT): the switch folds away.
//
// Parameters at p[B..]: 0 count, 1 rank, 2..5 base offsets of out, a, b, c,
// 6 a scalar (fill bits; where: 1 if the condition is f32), 7 gated (1:
// write nothing once a check of the run has failed), 8..15 dims,
// 16..23 out strides, 24..31 a strides, 32..39 b strides, 40..47 c strides.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"
#include "ops.glsl"

layout(constant_id = 0) const uint OP = 0u;
layout(constant_id = 1) const uint DT = 0u; // dtype of the computation

void main() {
    uint B = pc.base;
    uint n = p[B + 0u];
    uint rank = p[B + 1u];
    if (p[B + 7u] != 0u && status[0] != 0u) return;
    for (uint i = gl_GlobalInvocationID.x; i < n; i += gridStride()) {
        uint rem = i;
        uint oo = p[B + 2u], ao = p[B + 3u], bo = p[B + 4u], co = p[B + 5u];
        for (int d = int(rank) - 1; d >= 0; d--) {
            uint dim = p[B + 8u + uint(d)];
            uint x = rem % dim;
            rem /= dim;
            oo += x * p[B + 16u + uint(d)];
            ao += x * p[B + 24u + uint(d)];
            bo += x * p[B + 32u + uint(d)];
            co += x * p[B + 40u + uint(d)];
        }
        if (OP == OP_FILL) {
            o[oo] = p[B + 6u];
        } else if (OP == OP_COPY) {
            o[oo] = a[ao];
        } else if (OP == OP_COPY_GATED) {
            if (status[0] != 0u) return;
            o[oo] = a[ao];
        } else if (OP == OP_WHERE) {
            uint cond = a[ao];
            if (p[B + 6u] != 0u) cond &= 0x7fffffffu; // f32: -0 is false
            o[oo] = cond != 0u ? b[bo] : c[co];
        } else if (DT == DT_F32) {
            o[oo] = evalF32(OP, a[ao], b[bo]);
        } else {
            o[oo] = evalI32(OP, a[ao], b[bo]);
        }
    }
}
