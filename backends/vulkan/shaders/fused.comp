#version 450
// A fused chain of elementwise ops: up to 6 strided (broadcast) inputs are
// loaded once per element, up to 16 ops run on them in registers, and one
// result is stored, so intermediate values never travel through memory.
// The chain itself is specialization constants, so each chain gets its own
// pipeline in which the driver's compiler unrolls it, folds every op's
// switch and keeps the values in registers. The ops are the scalar
// definitions of ops.glsl.
//
// Constants: 2 inputs, 3 instructions, 4 rank; instruction j at 5+4j: its
// word (op | dt<<8 | condition-is-f32<<9), then its three operand slots
// (inputs are slots 0.., instruction j's result is slot inputs+j).
// Parameters at p[B..]: 0 count, 4 out base, 5 gated (1: write nothing
// once a check of the run has failed), 8..15 dims, 16..23 out strides,
// 24+9k: input k's base then its 8 strides.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 256) in;
#include "common.glsl"
#include "ops.glsl"

layout(std430, set = 0, binding = 6) readonly buffer In3 { uint d[]; };
layout(std430, set = 0, binding = 7) readonly buffer In4 { uint e[]; };
layout(std430, set = 0, binding = 8) readonly buffer In5 { uint f[]; };

layout(constant_id = 2) const uint NIN = 1u;
layout(constant_id = 3) const uint NOPS = 1u;
layout(constant_id = 4) const uint RANK = 1u;
layout(constant_id = 5) const uint W0 = 0u;  layout(constant_id = 6) const uint A0 = 0u;
layout(constant_id = 7) const uint B0 = 0u;  layout(constant_id = 8) const uint C0 = 0u;
layout(constant_id = 9) const uint W1 = 0u;  layout(constant_id = 10) const uint A1 = 0u;
layout(constant_id = 11) const uint B1 = 0u;  layout(constant_id = 12) const uint C1 = 0u;
layout(constant_id = 13) const uint W2 = 0u;  layout(constant_id = 14) const uint A2 = 0u;
layout(constant_id = 15) const uint B2 = 0u;  layout(constant_id = 16) const uint C2 = 0u;
layout(constant_id = 17) const uint W3 = 0u;  layout(constant_id = 18) const uint A3 = 0u;
layout(constant_id = 19) const uint B3 = 0u;  layout(constant_id = 20) const uint C3 = 0u;
layout(constant_id = 21) const uint W4 = 0u;  layout(constant_id = 22) const uint A4 = 0u;
layout(constant_id = 23) const uint B4 = 0u;  layout(constant_id = 24) const uint C4 = 0u;
layout(constant_id = 25) const uint W5 = 0u;  layout(constant_id = 26) const uint A5 = 0u;
layout(constant_id = 27) const uint B5 = 0u;  layout(constant_id = 28) const uint C5 = 0u;
layout(constant_id = 29) const uint W6 = 0u;  layout(constant_id = 30) const uint A6 = 0u;
layout(constant_id = 31) const uint B6 = 0u;  layout(constant_id = 32) const uint C6 = 0u;
layout(constant_id = 33) const uint W7 = 0u;  layout(constant_id = 34) const uint A7 = 0u;
layout(constant_id = 35) const uint B7 = 0u;  layout(constant_id = 36) const uint C7 = 0u;
layout(constant_id = 37) const uint W8 = 0u;  layout(constant_id = 38) const uint A8 = 0u;
layout(constant_id = 39) const uint B8 = 0u;  layout(constant_id = 40) const uint C8 = 0u;
layout(constant_id = 41) const uint W9 = 0u;  layout(constant_id = 42) const uint A9 = 0u;
layout(constant_id = 43) const uint B9 = 0u;  layout(constant_id = 44) const uint C9 = 0u;
layout(constant_id = 45) const uint W10 = 0u;  layout(constant_id = 46) const uint A10 = 0u;
layout(constant_id = 47) const uint B10 = 0u;  layout(constant_id = 48) const uint C10 = 0u;
layout(constant_id = 49) const uint W11 = 0u;  layout(constant_id = 50) const uint A11 = 0u;
layout(constant_id = 51) const uint B11 = 0u;  layout(constant_id = 52) const uint C11 = 0u;
layout(constant_id = 53) const uint W12 = 0u;  layout(constant_id = 54) const uint A12 = 0u;
layout(constant_id = 55) const uint B12 = 0u;  layout(constant_id = 56) const uint C12 = 0u;
layout(constant_id = 57) const uint W13 = 0u;  layout(constant_id = 58) const uint A13 = 0u;
layout(constant_id = 59) const uint B13 = 0u;  layout(constant_id = 60) const uint C13 = 0u;
layout(constant_id = 61) const uint W14 = 0u;  layout(constant_id = 62) const uint A14 = 0u;
layout(constant_id = 63) const uint B14 = 0u;  layout(constant_id = 64) const uint C14 = 0u;
layout(constant_id = 65) const uint W15 = 0u;  layout(constant_id = 66) const uint A15 = 0u;
layout(constant_id = 67) const uint B15 = 0u;  layout(constant_id = 68) const uint C15 = 0u;

// WS(j) and the others: instruction j's constants, by a switch that folds
// once the loops below are unrolled.
uint WS(uint j) {
    switch (j) {
    case 0u: return W0; case 1u: return W1; case 2u: return W2; case 3u: return W3;
    case 4u: return W4; case 5u: return W5; case 6u: return W6; case 7u: return W7;
    case 8u: return W8; case 9u: return W9; case 10u: return W10; case 11u: return W11;
    case 12u: return W12; case 13u: return W13; case 14u: return W14;
    }
    return W15;
}

uint AS(uint j) {
    switch (j) {
    case 0u: return A0; case 1u: return A1; case 2u: return A2; case 3u: return A3;
    case 4u: return A4; case 5u: return A5; case 6u: return A6; case 7u: return A7;
    case 8u: return A8; case 9u: return A9; case 10u: return A10; case 11u: return A11;
    case 12u: return A12; case 13u: return A13; case 14u: return A14;
    }
    return A15;
}

uint BS(uint j) {
    switch (j) {
    case 0u: return B0; case 1u: return B1; case 2u: return B2; case 3u: return B3;
    case 4u: return B4; case 5u: return B5; case 6u: return B6; case 7u: return B7;
    case 8u: return B8; case 9u: return B9; case 10u: return B10; case 11u: return B11;
    case 12u: return B12; case 13u: return B13; case 14u: return B14;
    }
    return B15;
}

uint CS(uint j) {
    switch (j) {
    case 0u: return C0; case 1u: return C1; case 2u: return C2; case 3u: return C3;
    case 4u: return C4; case 5u: return C5; case 6u: return C6; case 7u: return C7;
    case 8u: return C8; case 9u: return C9; case 10u: return C10; case 11u: return C11;
    case 12u: return C12; case 13u: return C13; case 14u: return C14;
    }
    return C15;
}

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
    uint n = p[B + 0u];
    if (p[B + 5u] != 0u && status[0] != 0u) return;
    uint dims[8], ostr[8], istr[6][8], base[6];
    [[unroll]] for (uint dd = 0u; dd < RANK; dd++) {
        dims[dd] = p[B + 8u + dd];
        ostr[dd] = p[B + 16u + dd];
    }
    [[unroll]] for (uint k = 0u; k < NIN; k++) {
        base[k] = p[B + 24u + 9u * k];
        [[unroll]] for (uint dd = 0u; dd < RANK; dd++) istr[k][dd] = p[B + 25u + 9u * k + dd];
    }
    for (uint i = gl_GlobalInvocationID.x; i < n; i += gridStride()) {
        uint off[6];
        [[unroll]] for (uint k = 0u; k < NIN; k++) off[k] = base[k];
        uint oo = p[B + 4u];
        uint rem = i;
        [[unroll]] for (int dd = int(RANK) - 1; dd >= 0; dd--) {
            uint x = rem;
            if (dd > 0) {
                x = rem % dims[dd];
                rem /= dims[dd];
            }
            oo += x * ostr[dd];
            [[unroll]] for (uint k = 0u; k < NIN; k++) off[k] += x * istr[k][dd];
        }
        uint v[22];
        [[unroll]] for (uint k = 0u; k < NIN; k++) v[k] = load(k, off[k]);
        [[unroll]] for (uint j = 0u; j < NOPS; j++) {
            uint word = WS(j), op = word & 0xffu;
            uint x = v[AS(j)], y = v[BS(j)];
            uint r;
            if (op == OP_WHERE) {
                uint cond = (word & 0x200u) != 0u ? (x & 0x7fffffffu) : x;
                r = cond != 0u ? y : v[CS(j)];
            } else if ((word & 0x100u) == 0u) {
                r = evalF32(op, x, y);
            } else {
                r = evalI32(op, x, y);
            }
            v[NIN + j] = r;
        }
        o[oo] = v[NIN + NOPS - 1u];
    }
}
