#version 450
// ScatterAdd(ids[I], updates[I,R]) -> [V,R] for large V·I, in phases (OP):
//   0: count the ids of each row (integer atomics: the same counts on every
//      run) and report ids outside 0..V-1;
//   1: place each position i at offsets[id] + (number of earlier positions
//      with the same id), so every row lists its positions in order;
//   2: sum, per output element, the updates at its row's positions, in
//      that order: the same sums as scatter.comp, with I·R work, not V·I·R.
// Phase 1 between counts and placing is an exclusive cumsum (cumsum.comp).
//
// Parameters at p[B..]: 0 ids I, 1 rows V, 2 row size R, 3 node index.
// Bindings: phase 0: out = counts, a = ids; phase 1: out = positions,
// a = ids, b = offsets; phase 2: out = result, a = positions, b = updates,
// c = offsets, d = counts.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"

layout(std430, set = 0, binding = 6) readonly buffer In3 { uint d[]; };

layout(constant_id = 0) const uint OP = 0u;
layout(constant_id = 1) const uint DT = 0u;

void main() {
    uint B = pc.base;
    uint nIDs = p[B + 0u], rows = p[B + 1u], row = p[B + 2u];
    if (OP == 0u) {
        for (uint i = gl_GlobalInvocationID.x; i < nIDs; i += gridStride()) {
            int id = int(a[i]);
            if (id < 0 || uint(id) >= rows) report(p[B + 3u], uint(id), i);
            else atomicAdd(o[uint(id)], 1u);
        }
    } else if (OP == 1u) {
        for (uint i = gl_GlobalInvocationID.x; i < nIDs; i += gridStride()) {
            uint id = a[i];
            if (id >= rows) continue;
            uint rank = 0u;
            for (uint j = 0u; j < i; j++) rank += a[j] == id ? 1u : 0u;
            o[b[id] + rank] = i;
        }
    } else {
        uint n = rows * row;
        for (uint t = gl_GlobalInvocationID.x; t < n; t += gridStride()) {
            uint v = t / row, col = t % row;
            uint start = c[v], end = start + d[v];
            float accF = 0.0;
            int accI = 0;
            for (uint q = start; q < end; q++) {
                uint x = b[a[q] * row + col];
                if (DT == DT_F32) accF += uintBitsToFloat(x); else accI += int(x);
            }
            o[t] = DT == DT_F32 ? floatBitsToUint(accF) : uint(accI);
        }
    }
}
