#version 450
// The fused row ops over the last axis (C elements per row): softmax,
// log_softmax, layer_norm, rms_norm and cross_entropy. One workgroup of 64
// per row; the row's max and sums are folded in a fixed order through
// shared memory, so results are the same on every run.
//
// Parameters at p[B..]: 0 rows, 1 C, 2 eps (f32 bits), 3 node index.
// Bindings: a = x; b = gamma (norms) or labels (cross_entropy); c = beta.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "common.glsl"

layout(constant_id = 0) const uint OP = 0u;
const uint SOFTMAX = 0u, LOG_SOFTMAX = 1u, LAYER_NORM = 2u, RMS_NORM = 3u, CROSS_ENTROPY = 4u;

shared float red[64];

float sumAll(float v) {
    uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    for (uint s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) red[lid] += red[lid + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

// maxAll propagates NaN, like the reference's math.Max.
float maxAll(float v) {
    uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    for (uint s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            float x = red[lid], y = red[lid + s];
            red[lid] = nanBits(floatBitsToUint(x)) ? x : (nanBits(floatBitsToUint(y)) ? y : max(x, y));
        }
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float x(uint i) { return uintBitsToFloat(a[i]); }

void main() {
    uint B = pc.base;
    uint rows = p[B + 0u], C = p[B + 1u];
    float eps = uintBitsToFloat(p[B + 2u]);
    uint lid = gl_LocalInvocationID.x;
    for (uint r = gl_WorkGroupID.x; r < rows; r += gl_NumWorkGroups.x) {
        uint base = r * C;
        if (OP == LAYER_NORM || OP == RMS_NORM) {
            float mean = 0.0;
            if (OP == LAYER_NORM) {
                float s = 0.0;
                for (uint j = lid; j < C; j += 64u) s += x(base + j);
                mean = sumAll(s) / float(C);
            }
            float q = 0.0;
            for (uint j = lid; j < C; j += 64u) { float d = x(base + j) - mean; q += d * d; }
            float inv = 1.0 / sqrt(sumAll(q) / float(C) + eps);
            for (uint j = lid; j < C; j += 64u) {
                float y = (x(base + j) - mean) * inv * uintBitsToFloat(b[j]);
                if (OP == LAYER_NORM) y += uintBitsToFloat(c[j]);
                o[base + j] = floatBitsToUint(y);
            }
            continue;
        }
        float m = uintBitsToFloat(0xff800000u);
        for (uint j = lid; j < C; j += 64u) {
            float v = x(base + j);
            m = nanBits(floatBitsToUint(m)) ? m : (nanBits(a[base + j]) ? v : max(m, v));
        }
        m = maxAll(m);
        float s = 0.0;
        for (uint j = lid; j < C; j += 64u) s += exp(x(base + j) - m);
        s = sumAll(s);
        if (OP == SOFTMAX) {
            for (uint j = lid; j < C; j += 64u) o[base + j] = floatBitsToUint(exp(x(base + j) - m) / s);
        } else if (OP == LOG_SOFTMAX) {
            float ls = log(s);
            for (uint j = lid; j < C; j += 64u) o[base + j] = floatBitsToUint((x(base + j) - m) - ls);
        } else if (lid == 0u) {
            int label = int(b[r]);
            if (label < 0 || uint(label) >= C) {
                report(p[B + 3u], uint(label), r);
                o[r] = 0u;
            } else {
                o[r] = floatBitsToUint(log(s) - (x(base + uint(label)) - m));
            }
        }
    }
}
