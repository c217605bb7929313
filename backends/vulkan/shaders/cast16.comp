#version 450
// Casts between f32 and f16 (f16 values live only on the device: buffers
// of 16-bit elements). OP 0: f32 → f16, 1: f16 → f32. Parameters at
// p[B..]: 0 element count. Dispatch: enough groups of 256 (grid-stride).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
layout(local_size_x = 256) in;
#include "common.glsl"

layout(std430, set = 0, binding = 2) buffer OutH { float16_t oh[]; };
layout(std430, set = 0, binding = 3) readonly buffer InH { float16_t ah[]; };

layout(constant_id = 0) const uint OP = 0u;

void main() {
    uint n = p[pc.base];
    for (uint i = gl_GlobalInvocationID.x; i < n; i += gridStride()) {
        if (OP == 0u) {
            oh[i] = float16_t(uintBitsToFloat(a[i]));
        } else {
            o[i] = floatBitsToUint(float(ah[i]));
        }
    }
}
