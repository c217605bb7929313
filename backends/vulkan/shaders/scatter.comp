#version 450
// ScatterAdd(ids[I], updates[I,R]) -> [V,R]: out[v] = sum of the updates
// whose id is v. Each output element sums its matches in id order: no
// atomics, so the result is the same on every run. Ids outside 0..V-1 are
// reported (the run fails).
//
// Parameters at p[B..]: 0 ids I, 1 rows V, 2 row size R, 3 node index.
// Bindings: a = ids, b = updates.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"

layout(constant_id = 1) const uint DT = 0u;

void main() {
    uint B = pc.base;
    uint nIDs = p[B + 0u], rows = p[B + 1u], row = p[B + 2u];
    uint n = rows * row;
    for (uint t = gl_GlobalInvocationID.x; t < max(n, nIDs); t += gridStride()) {
        if (t < nIDs) {
            int id = int(a[t]);
            if (id < 0 || uint(id) >= rows) report(p[B + 3u], uint(id), t);
        }
        if (t >= n) continue;
        uint v = t / row, col = t % row;
        float accF = 0.0;
        int accI = 0;
        for (uint i = 0u; i < nIDs; i++) {
            if (a[i] != v) continue;
            uint x = b[i * row + col];
            if (DT == DT_F32) accF += uintBitsToFloat(x); else accI += int(x);
        }
        o[t] = DT == DT_F32 ? floatBitsToUint(accF) : uint(accI);
    }
}
