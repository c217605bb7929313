#version 450
// reduce_sum and reduce_max: one workgroup per output element (looping over
// outputs when there are more than the dispatch's groups). Each of the 64
// invocations folds a fixed, strided share of the reduced elements and a
// shared-memory tree combines them, so results are the same on every run.
//
// Short reductions (a few elements per output) run one invocation per
// output instead (bit 1 of OP). A long reduction into few outputs is split in chunks: a first dispatch
// writes one partial per (output, chunk) and a second reduces those, so the
// work spreads over the whole device in a fixed order.
//
// Parameters at p[B..]: 0 outputs, 1 reduced count, 2 kept rank, 3 reduced
// rank, 4 chunks per output (0 means 1), 5 chunk length, 8..15 kept dims,
// 16..23 their strides in the input, 24..31 reduced dims, 32..39 their
// strides. The output (one element per output and chunk) is contiguous.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"

layout(constant_id = 0) const uint OP = 0u; // bit 0: max (else sum); bit 1: one invocation per output
const bool IS_MAX = (OP & 1u) != 0u;
const bool PER_THREAD = (OP & 2u) != 0u;
layout(constant_id = 1) const uint DT = 0u;

shared uint part[64];

uint combine(uint x, uint y) {
    if (DT == DT_F32) {
        if (!IS_MAX) return floatBitsToUint(uintBitsToFloat(x) + uintBitsToFloat(y));
        if (nanBits(x)) return x;
        if (nanBits(y)) return y;
        return uintBitsToFloat(y) > uintBitsToFloat(x) ? y : x;
    }
    if (!IS_MAX) return uint(int(x) + int(y));
    return uint(max(int(x), int(y)));
}

void main() {
    uint B = pc.base;
    uint outs = p[B + 0u], count = p[B + 1u], keptRank = p[B + 2u], redRank = p[B + 3u];
    uint lid = gl_LocalInvocationID.x;
    uint identity = !IS_MAX ? 0u : (DT == DT_F32 ? 0xff800000u : 0x80000000u);
    if (PER_THREAD) { // short reductions: each invocation folds one output in order
        for (uint dst = gl_GlobalInvocationID.x; dst < outs; dst += gridStride()) {
            uint rem = dst, base = 0u;
            for (int d = int(keptRank) - 1; d >= 0; d--) {
                uint dim = p[B + 8u + uint(d)];
                base += (rem % dim) * p[B + 16u + uint(d)];
                rem /= dim;
            }
            uint acc = identity;
            for (uint r = 0u; r < count; r++) {
                uint rr = r, off = base;
                for (int d = int(redRank) - 1; d >= 0; d--) {
                    uint dim = p[B + 24u + uint(d)];
                    off += (rr % dim) * p[B + 32u + uint(d)];
                    rr /= dim;
                }
                acc = combine(acc, a[off]);
            }
            o[dst] = acc;
        }
        return;
    }
    uint chunks = max(p[B + 4u], 1u);
    uint chunkLen = p[B + 4u] == 0u ? count : p[B + 5u];
    for (uint dst = gl_WorkGroupID.x; dst < outs * chunks; dst += gl_NumWorkGroups.x) {
        uint chunk = dst % chunks;
        uint rem = dst / chunks, base = 0u;
        for (int d = int(keptRank) - 1; d >= 0; d--) {
            uint dim = p[B + 8u + uint(d)];
            base += (rem % dim) * p[B + 16u + uint(d)];
            rem /= dim;
        }
        uint acc = identity;
        uint end = min(count, (chunk + 1u) * chunkLen);
        for (uint r = chunk * chunkLen + lid; r < end; r += 64u) {
            uint rr = r, off = base;
            for (int d = int(redRank) - 1; d >= 0; d--) {
                uint dim = p[B + 24u + uint(d)];
                off += (rr % dim) * p[B + 32u + uint(d)];
                rr /= dim;
            }
            acc = combine(acc, a[off]);
        }
        part[lid] = acc;
        barrier();
        for (uint s = 32u; s > 0u; s >>= 1u) {
            if (lid < s) part[lid] = combine(part[lid], part[lid + s]);
            barrier();
        }
        if (lid == 0u) o[dst] = part[0];
        barrier();
    }
}
