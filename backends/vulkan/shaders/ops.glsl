// Op codes of eltwise.comp (the same numbers as in ops.go) and their
// scalar definitions, written to agree with sdk/graph's reference
// interpreter, IEEE special values included.

const uint OP_FILL = 0u;
const uint OP_COPY = 1u;
const uint OP_COPY_GATED = 2u;
const uint OP_WHERE = 3u;
const uint OP_NEG = 4u;
const uint OP_ABS = 5u;
const uint OP_SIGN = 6u;
const uint OP_EXP = 7u;
const uint OP_LOG = 8u;
const uint OP_SQRT = 9u;
const uint OP_RSQRT = 10u;
const uint OP_RECIP = 11u;
const uint OP_TANH = 12u;
const uint OP_SIGMOID = 13u;
const uint OP_SOFTPLUS = 14u;
const uint OP_SIN = 15u;
const uint OP_COS = 16u;
const uint OP_CAST_F2I = 17u;
const uint OP_CAST_I2F = 18u;
const uint OP_ADD = 19u;
const uint OP_SUB = 20u;
const uint OP_MUL = 21u;
const uint OP_DIV = 22u;
const uint OP_MAX = 23u;
const uint OP_MIN = 24u;
const uint OP_POW = 25u;
const uint OP_LESS = 26u;
const uint OP_EQUAL = 27u;

const uint F32_NAN = 0x7fc00000u;
const uint F32_INF = 0x7f800000u;

bool infBits(uint u) { return (u & 0x7fffffffu) == 0x7f800000u; }

// isOddInteger reports whether y (finite) is an odd integer.
bool isOddInteger(float y) {
    if (abs(y) >= 16777216.0) return false; // every such float is even
    float t = trunc(y);
    return t == y && (int(t) & 1) != 0;
}

// powF32 follows Go's math.Pow on every special case.
uint powF32(uint xu, uint yu) {
    float x = uintBitsToFloat(xu), y = uintBitsToFloat(yu);
    if ((yu & 0x7fffffffu) == 0u || xu == 0x3f800000u) return 0x3f800000u; // y == ±0 or x == 1
    if (nanBits(xu) || nanBits(yu)) return F32_NAN;
    bool yInf = infBits(yu);
    bool yInt = !yInf && trunc(y) == y;
    bool odd = !yInf && isOddInteger(y);
    bool xNeg = (xu & 0x80000000u) != 0u;
    if ((xu & 0x7fffffffu) == 0u) { // x == ±0
        uint mag = y < 0.0 ? F32_INF : 0u;
        return (xNeg && odd) ? (mag | 0x80000000u) : mag;
    }
    if (yInf) {
        float ax = abs(x);
        if (ax == 1.0) return 0x3f800000u;
        bool big = (ax > 1.0) == (y > 0.0);
        return big ? F32_INF : 0u;
    }
    if (infBits(xu)) {
        if (xNeg) {
            uint mag = y < 0.0 ? 0u : F32_INF;
            return odd ? (mag | 0x80000000u) : mag;
        }
        return y < 0.0 ? 0u : F32_INF;
    }
    if (xNeg && !yInt) return F32_NAN;
    float ax = abs(x);
    float r;
    if (y == 2.0) r = ax * ax;
    else if (y == 1.0) r = ax;
    else if (y == -1.0) r = 1.0 / ax;
    else if (y == 0.5) r = sqrt(ax);
    else r = exp2(y * log2(ax));
    uint ru = floatBitsToUint(r);
    return (xNeg && odd) ? (ru ^ 0x80000000u) : ru;
}

// tanh through exp(-2|x|), which never overflows.
float tanhF32(float x) {
    float t = exp(-2.0 * abs(x));
    float r = (1.0 - t) / (1.0 + t);
    return x < 0.0 ? -r : r;
}

uint evalF32(uint op, uint au, uint bu) {
    float x = uintBitsToFloat(au), y = uintBitsToFloat(bu);
    switch (op) {
    case OP_NEG: return au ^ 0x80000000u;
    case OP_ABS: return au & 0x7fffffffu;
    case OP_SIGN:
        if (nanBits(au) || (au & 0x7fffffffu) == 0u) return au;
        return (au & 0x80000000u) != 0u ? 0xbf800000u : 0x3f800000u;
    case OP_EXP: return floatBitsToUint(exp(x));
    case OP_LOG:
        if ((au & 0x7fffffffu) == 0u) return 0xff800000u; // log(±0) = -Inf
        if (nanBits(au) || (au & 0x80000000u) != 0u) return F32_NAN;
        if (au == F32_INF) return F32_INF;
        return floatBitsToUint(log(x));
    case OP_SQRT:
        if (nanBits(au) || ((au & 0x80000000u) != 0u && (au & 0x7fffffffu) != 0u)) return F32_NAN;
        return floatBitsToUint(sqrt(x));
    case OP_RSQRT:
        if (nanBits(au) || ((au & 0x80000000u) != 0u && (au & 0x7fffffffu) != 0u)) return F32_NAN;
        if ((au & 0x7fffffffu) == 0u) return F32_INF | (au & 0x80000000u);
        return floatBitsToUint(1.0 / sqrt(x));
    case OP_RECIP: return floatBitsToUint(1.0 / x);
    case OP_TANH:
        if (nanBits(au)) return au;
        return floatBitsToUint(tanhF32(x));
    case OP_SIGMOID:
        if (nanBits(au)) return au;
        if (x >= 0.0) return floatBitsToUint(1.0 / (1.0 + exp(-x)));
        { float e = exp(x); return floatBitsToUint(e / (1.0 + e)); }
    case OP_SOFTPLUS: {
        if (nanBits(au)) return au;
        if (au == F32_INF) return au;
        float e = exp(-abs(x));
        // log(1+e) loses e when e is tiny; the series is exact enough there.
        float l = e < 1e-4 ? e * (1.0 - 0.5 * e) : log(1.0 + e);
        return floatBitsToUint(max(x, 0.0) + l);
    }
    case OP_SIN:
        if (nanBits(au) || infBits(au)) return F32_NAN;
        return floatBitsToUint(sin(x));
    case OP_COS:
        if (nanBits(au) || infBits(au)) return F32_NAN;
        return floatBitsToUint(cos(x));
    case OP_CAST_F2I: return uint(int(x));
    case OP_ADD: return floatBitsToUint(x + y);
    case OP_SUB: return floatBitsToUint(x - y);
    case OP_MUL: return floatBitsToUint(x * y);
    case OP_DIV: return floatBitsToUint(x / y);
    case OP_MAX:
        if (nanBits(au) || nanBits(bu)) return F32_NAN;
        return x >= y ? au : bu;
    case OP_MIN:
        if (nanBits(au) || nanBits(bu)) return F32_NAN;
        return x <= y ? au : bu;
    case OP_POW: return powF32(au, bu);
    case OP_LESS: return (!nanBits(au) && !nanBits(bu) && x < y) ? 0x3f800000u : 0u;
    case OP_EQUAL: return (!nanBits(au) && !nanBits(bu) && x == y) ? 0x3f800000u : 0u;
    }
    return au;
}

uint evalI32(uint op, uint au, uint bu) {
    int x = int(au), y = int(bu);
    switch (op) {
    case OP_NEG: return uint(-x);
    case OP_ABS: return uint(abs(x));
    case OP_SIGN: return uint(sign(x));
    case OP_CAST_I2F: return floatBitsToUint(float(x));
    case OP_ADD: return uint(x + y);
    case OP_SUB: return uint(x - y);
    case OP_MUL: return uint(x * y);
    case OP_MAX: return uint(max(x, y));
    case OP_MIN: return uint(min(x, y));
    case OP_LESS: return x < y ? 1u : 0u;
    case OP_EQUAL: return x == y ? 1u : 0u;
    }
    return au;
}
