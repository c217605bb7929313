#version 450
// Gather(table[V,R], ids[I]) -> [I,R]: rows of the table. An id outside
// 0..V-1 is reported (the run fails) and its row reads as zero.
//
// Parameters at p[B..]: 0 ids I, 1 rows V, 2 row size R, 3 node index.
// Bindings: a = table, b = ids.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;
#include "common.glsl"

void main() {
    uint B = pc.base;
    uint nIDs = p[B + 0u], rows = p[B + 1u], row = p[B + 2u];
    uint n = nIDs * row;
    for (uint t = gl_GlobalInvocationID.x; t < n; t += gridStride()) {
        uint i = t / row, col = t % row;
        int id = int(b[i]);
        if (id < 0 || uint(id) >= rows) {
            if (col == 0u) report(p[B + 3u], uint(id), i);
            o[t] = 0u;
            continue;
        }
        o[t] = a[uint(id) * row + col];
    }
}
