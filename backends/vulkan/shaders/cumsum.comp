#version 450
// Cumulative sum along one axis: one invocation per line, summing in order
// (deterministic, and in the reference's order).
//
// Parameters at p[B..]: 0 lines, 1 length n of the axis, 2 inner (the
// stride of the axis), 3 exclusive, 4 reverse.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"

layout(constant_id = 1) const uint DT = 0u;

void main() {
    uint B = pc.base;
    uint lines = p[B + 0u], n = p[B + 1u], inner = p[B + 2u];
    bool exclusive = p[B + 3u] != 0u, reverse = p[B + 4u] != 0u;
    for (uint line = gl_GlobalInvocationID.x; line < lines; line += gridStride()) {
        uint start = (line / inner) * n * inner + line % inner;
        float accF = 0.0;
        int accI = 0;
        for (uint s = 0u; s < n; s++) {
            uint j = reverse ? n - 1u - s : s;
            uint off = start + j * inner;
            uint x = a[off];
            if (DT == DT_F32) {
                if (exclusive) { o[off] = floatBitsToUint(accF); accF += uintBitsToFloat(x); }
                else { accF += uintBitsToFloat(x); o[off] = floatBitsToUint(accF); }
            } else {
                if (exclusive) { o[off] = uint(accI); accI += int(x); }
                else { accI += int(x); o[off] = uint(accI); }
            }
        }
    }
}
