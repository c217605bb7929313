// Shared by every compute shader: the descriptor layout all pipelines use,
// the parameter block and the run status. Tensors of f32 and i32 are both
// 32-bit words, so buffers are uint arrays and each shader reinterprets.
//
// binding 0: parameters of every dispatch of a program (uint words); the
//            push constant holds where this dispatch's block starts
// binding 1: run status: [0] set once by the first failing check, then
//            [1] node, [2] bad value, [3] position
// binding 2: output; bindings 3..5: inputs

layout(std430, set = 0, binding = 0) readonly buffer Params { uint p[]; };
layout(std430, set = 0, binding = 1) buffer Status { uint status[]; };
layout(std430, set = 0, binding = 2) buffer Out { uint o[]; };
layout(std430, set = 0, binding = 3) readonly buffer In0 { uint a[]; };
layout(std430, set = 0, binding = 4) readonly buffer In1 { uint b[]; };
layout(std430, set = 0, binding = 5) readonly buffer In2 { uint c[]; };

layout(push_constant) uniform Push { uint base; } pc;

const uint DT_F32 = 0u;
const uint DT_I32 = 1u;

// NaN tests on the bits, so no driver's fast-math can fold them away.
bool nanBits(uint u) { return (u & 0x7fffffffu) > 0x7f800000u; }

// report records the first failed check of a run; the host turns it into
// an error and the update copies, gated on status[0], write nothing.
void report(uint node, uint value, uint pos) {
    if (atomicCompSwap(status[0], 0u, 1u) == 0u) {
        status[1] = node;
        status[2] = value;
        status[3] = pos;
    }
}

// gridStride is the number of invocations of the whole dispatch: kernels
// loop over their elements in steps of it, so any size fits the x limit.
uint gridStride() { return gl_NumWorkGroups.x * gl_WorkGroupSize.x; }
