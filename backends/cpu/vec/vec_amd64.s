// AVX2 + FMA kernels for the vec package (amd64). Every routine works on
// 8 float32 lanes per YMM register. The Go wrappers in vec.go check lengths
// and only call these when useAVX2 is set (CPU has AVX2 and FMA).
//
// Go assembler operand order is reversed from Intel's: "VSUBPS B, A, D"
// computes D = A - B, "VFMADD213PS M, B, A" computes A = B*A + M,
// "VFMADD231PS M, B, A" computes A = B*M + A, "VBLENDVPS K, B, A, D"
// computes D = K ? B : A (per lane, on the sign bit of K) and
// "VCMPPS $p, B, A, D" computes D = A <p> B.

//go:build amd64 && !purego

#include "textflag.h"

// SPLAT8 defines a 32-byte read-only constant holding 8 copies of the
// 32-bit pattern v.
#define SPLAT8(name, v) \
	DATA name+0(SB)/4, v; \
	DATA name+4(SB)/4, v; \
	DATA name+8(SB)/4, v; \
	DATA name+12(SB)/4, v; \
	DATA name+16(SB)/4, v; \
	DATA name+20(SB)/4, v; \
	DATA name+24(SB)/4, v; \
	DATA name+28(SB)/4, v; \
	GLOBL name(SB), RODATA|NOPTR, $32

// General constants.
SPLAT8(vOne<>, $0x3f800000)     // 1.0
SPLAT8(vHalf<>, $0x3f000000)    // 0.5
SPLAT8(vMHalf<>, $0xbf000000)   // -0.5
SPLAT8(vMTwo<>, $0xc0000000)    // -2.0
SPLAT8(vSign<>, $0x80000000)    // sign bit
SPLAT8(vAbs<>, $0x7fffffff)     // everything but the sign bit
SPLAT8(vPInf<>, $0x7f800000)    // +Inf
SPLAT8(vNInf<>, $0xff800000)    // -Inf
SPLAT8(vNaN<>, $0x7fc00000)     // quiet NaN
SPLAT8(vBias<>, $0x0000007f)    // int32 127

// exp: clamp bounds, log2(e), Cody-Waite split of ln2 (C1 has 9 significant
// bits so n*C1 is exact for |n| < 2^15), and the Cephes expf minimax
// polynomial: e^r = 1 + r + r^2*(P0*r^5 + P1*r^4 + ... + P5), |r| <= ln2/2.
SPLAT8(expLo<>, $0xc2d00000)    // -104.0: e^x rounds to 0 below ~-103.97
SPLAT8(expHi<>, $0x42b1999a)    // 88.8: e^x overflows to +Inf above ~88.72
SPLAT8(expLog2e<>, $0x3fb8aa3b) // 1.44269504
SPLAT8(expC1<>, $0x3f318000)    // 0.693359375
SPLAT8(expC2<>, $0xb95e8083)    // -2.12194440e-4
SPLAT8(expP0<>, $0x39506967)    // 1.9875691500e-4
SPLAT8(expP1<>, $0x3ab743ce)    // 1.3981999507e-3
SPLAT8(expP2<>, $0x3c088908)    // 8.3334519073e-3
SPLAT8(expP3<>, $0x3d2aa9c1)    // 4.1665795894e-2
SPLAT8(expP4<>, $0x3e2aaaaa)    // 1.6666665459e-1
SPLAT8(expP5<>, $0x3f000000)    // 5.0000001201e-1

// log / log1p: Cephes logf, log(1+f) = f - f^2/2 + f^3*Q(f) for
// f in [sqrt(1/2)-1, sqrt(2)-1].
SPLAT8(logSqrtH<>, $0x3f3504f3)   // sqrt(1/2)
SPLAT8(logSqrt2m1<>, $0x3ed413cd) // sqrt(2)-1
SPLAT8(logMinNorm<>, $0x00800000) // smallest normal float32
SPLAT8(logTwo23<>, $0x4b000000)   // 2^23
SPLAT8(log23<>, $0x41b80000)      // 23.0
SPLAT8(logMant<>, $0x007fffff)    // mantissa mask
SPLAT8(log126<>, $0x0000007e)     // int32 126
SPLAT8(logQ0<>, $0x3d9021bb)      // 7.0376836292e-2
SPLAT8(logQ1<>, $0xbdebd1b8)      // -1.1514610310e-1
SPLAT8(logQ2<>, $0x3def251a)      // 1.1676998740e-1
SPLAT8(logQ3<>, $0xbdfe5d4f)      // -1.2420140846e-1
SPLAT8(logQ4<>, $0x3e11e9bf)      // 1.4249322787e-1
SPLAT8(logQ5<>, $0xbe2aae50)      // -1.6668057665e-1
SPLAT8(logQ6<>, $0x3e4cceac)      // 2.0000714765e-1
SPLAT8(logQ7<>, $0xbe7ffffc)      // -2.4999993993e-1
SPLAT8(logQ8<>, $0x3eaaaaaa)      // 3.3333331174e-1

// tanh for |x| < 0.625: x + x^3*T(x^2) (Cephes tanhf).
SPLAT8(tanhSmall<>, $0x3f200000) // 0.625
SPLAT8(tanhT0<>, $0xbbbaf0ea)    // -5.70498872745e-3
SPLAT8(tanhT1<>, $0x3ca9134e)    // 2.06390887954e-2
SPLAT8(tanhT2<>, $0xbd5c1e2d)    // -5.37397155531e-2
SPLAT8(tanhT3<>, $0x3e088393)    // 1.33314422036e-1
SPLAT8(tanhT4<>, $0xbeaaaa99)    // -3.33332819422e-1

// tailMask: loading 8 dwords at tailMask+4*(8-k) gives k all-ones lanes
// followed by 8-k zero lanes, the mask for VMASKMOVPS on a k-element tail.
DATA tailMask<>+0(SB)/8, $0xffffffffffffffff
DATA tailMask<>+8(SB)/8, $0xffffffffffffffff
DATA tailMask<>+16(SB)/8, $0xffffffffffffffff
DATA tailMask<>+24(SB)/8, $0xffffffffffffffff
DATA tailMask<>+32(SB)/8, $0
DATA tailMask<>+40(SB)/8, $0
DATA tailMask<>+48(SB)/8, $0
DATA tailMask<>+56(SB)/8, $0
GLOBL tailMask<>(SB), RODATA|NOPTR, $64

// EXPV replaces the 8 lanes of x by e^x. t0..t2 are clobbered. Y14 and Y15
// must hold expLo and expHi. NaN propagates: the clamps keep the NaN operand
// (VMAXPS/VMINPS return their second Intel source, here x, on NaN).
//
// x = n*ln2 + r with n = round(x*log2e); 2^n is applied as 2^(n>>1) *
// 2^(n-(n>>1)) so that n in [-150, 128] needs no special case: results
// overflow to +Inf or round into the subnormal range / to 0 correctly.
#define EXPV(x, t0, t1, t2) \
	VMAXPS       x, Y14, x; \
	VMINPS       x, Y15, x; \
	VMULPS       expLog2e<>(SB), x, t0; \
	VROUNDPS     $0, t0, t0; \
	VFNMADD231PS expC1<>(SB), t0, x; \
	VFNMADD231PS expC2<>(SB), t0, x; \
	VMOVUPS      expP0<>(SB), t1; \
	VFMADD213PS  expP1<>(SB), x, t1; \
	VFMADD213PS  expP2<>(SB), x, t1; \
	VFMADD213PS  expP3<>(SB), x, t1; \
	VFMADD213PS  expP4<>(SB), x, t1; \
	VFMADD213PS  expP5<>(SB), x, t1; \
	VMULPS       x, x, t2; \
	VFMADD213PS  x, t2, t1; \
	VADDPS       vOne<>(SB), t1, t1; \
	VCVTPS2DQ    t0, t0; \
	VPSRAD       $1, t0, t2; \
	VPSUBD       t2, t0, t0; \
	VPADDD       vBias<>(SB), t2, t2; \
	VPADDD       vBias<>(SB), t0, t0; \
	VPSLLD       $23, t2, t2; \
	VPSLLD       $23, t0, t0; \
	VMULPS       t2, t1, t1; \
	VMULPS       t0, t1, x

// LOGPOLY computes, for f in [sqrt(1/2)-1, sqrt(2)-1] and k (float) in e,
// r = k*ln2 + log(1+f) into r. z, y are clobbered; f and e are kept.
#define LOGPOLY(f, e, r, z, y) \
	VMULPS       f, f, z; \
	VMOVUPS      logQ0<>(SB), y; \
	VFMADD213PS  logQ1<>(SB), f, y; \
	VFMADD213PS  logQ2<>(SB), f, y; \
	VFMADD213PS  logQ3<>(SB), f, y; \
	VFMADD213PS  logQ4<>(SB), f, y; \
	VFMADD213PS  logQ5<>(SB), f, y; \
	VFMADD213PS  logQ6<>(SB), f, y; \
	VFMADD213PS  logQ7<>(SB), f, y; \
	VFMADD213PS  logQ8<>(SB), f, y; \
	VMULPS       f, y, y; \
	VMULPS       z, y, y; \
	VFMADD231PS  expC2<>(SB), e, y; \
	VFMADD231PS  vMHalf<>(SB), z, y; \
	VADDPS       y, f, r; \
	VFMADD231PS  expC1<>(SB), e, r

// LOG1PV replaces t (each lane in [0, 1], or NaN) by log(1+t). Exact f is
// kept for t < sqrt(2)-1 (k = 0), otherwise f = (t-1)/2 (k = 1), so tiny t
// keeps full relative accuracy. a, b, c, d are clobbered.
#define LOG1PV(t, a, b, c, d) \
	VCMPPS  $0x0d, logSqrt2m1<>(SB), t, a; \
	VSUBPS  vOne<>(SB), t, b; \
	VMULPS  vHalf<>(SB), b, b; \
	VBLENDVPS a, b, t, t; \
	VANDPS  vOne<>(SB), a, a; \
	LOGPOLY(t, a, t, c, d)

// SIGMOIDV replaces x by 1/(1+e^-x), computed from e = e^-|x| (never
// overflows) as 1/(1+e) for x >= 0 and e/(1+e) for x < 0.
#define SIGMOIDV(x, t0, t1, t2, t3) \
	VMOVAPS   x, t3; \
	VORPS     vSign<>(SB), x, x; \
	EXPV(x, t0, t1, t2); \
	VADDPS    vOne<>(SB), x, t0; \
	VMOVUPS   vOne<>(SB), t1; \
	VBLENDVPS t3, x, t1, t1; \
	VDIVPS    t0, t1, x

// TANHV replaces x by tanh(x): for |x| >= 0.625 sign(x)*(1-e)/(1+e) with
// e = e^(-2|x|), else the odd polynomial x + x^3*T(x^2).
#define TANHV(x, u, t0, t1, t2) \
	VANDPS      vAbs<>(SB), x, u; \
	VMULPS      vMTwo<>(SB), u, u; \
	EXPV(u, t0, t1, t2); \
	VMOVUPS     vOne<>(SB), t1; \
	VSUBPS      u, t1, t0; \
	VADDPS      t1, u, u; \
	VDIVPS      u, t0, t0; \
	VANDPS      vSign<>(SB), x, t1; \
	VORPS       t1, t0, t0; \
	VMULPS      x, x, t1; \
	VMOVUPS     tanhT0<>(SB), t2; \
	VFMADD213PS tanhT1<>(SB), t1, t2; \
	VFMADD213PS tanhT2<>(SB), t1, t2; \
	VFMADD213PS tanhT3<>(SB), t1, t2; \
	VFMADD213PS tanhT4<>(SB), t1, t2; \
	VMULPS      t1, t2, t2; \
	VFMADD213PS x, x, t2; \
	VANDPS      vAbs<>(SB), x, u; \
	VCMPPS      $0x01, tanhSmall<>(SB), u, u; \
	VBLENDVPS   u, t2, t0, x

// SOFTPLUSV replaces x by max(x,0) + log1p(e^-|x|).
#define SOFTPLUSV(x, u, t0, t1, t2, t3) \
	VORPS  vSign<>(SB), x, u; \
	EXPV(u, t0, t1, t2); \
	LOG1PV(u, t0, t1, t2, t3); \
	VXORPS t0, t0, t0; \
	VMAXPS t0, x, x; \
	VADDPS u, x, x

// LOGV replaces x by log(x): subnormals are scaled by 2^23 first; x = m*2^k
// with m in [sqrt(1/2), sqrt(2)); special cases (0, <0, +Inf, NaN) are
// patched at the end.
#define LOGV(x, s, d, e, z, y, r) \
	VCMPPS      $0x01, logMinNorm<>(SB), x, d; \
	VMULPS      logTwo23<>(SB), x, e; \
	VBLENDVPS   d, e, x, s; \
	VANDPS      log23<>(SB), d, d; \
	VPSRLD      $23, s, e; \
	VPSUBD      log126<>(SB), e, e; \
	VCVTDQ2PS   e, e; \
	VSUBPS      d, e, e; \
	VANDPS      logMant<>(SB), s, s; \
	VORPS       vHalf<>(SB), s, s; \
	VCMPPS      $0x01, logSqrtH<>(SB), s, d; \
	VANDPS      vOne<>(SB), d, z; \
	VSUBPS      z, e, e; \
	VANDPS      s, d, z; \
	VADDPS      z, s, s; \
	VSUBPS      vOne<>(SB), s, s; \
	LOGPOLY(s, e, r, z, y); \
	VXORPS      z, z, z; \
	VCMPPS      $0x00, z, x, d; \
	VBLENDVPS   d, vNInf<>(SB), r, r; \
	VCMPPS      $0x00, vPInf<>(SB), x, d; \
	VBLENDVPS   d, vPInf<>(SB), r, r; \
	VCMPPS      $0x09, z, x, d; \
	VBLENDVPS   d, vNaN<>(SB), r, r; \
	VMOVAPS     r, x

// UNARY is the loop shared by the unary transcendental kernels
// func(dst, x *float32, n int). OP transforms Y0 in place (clobbering
// Y1..Y7); OP2 transforms both Y0 and Y8 (clobbering Y1..Y13), two
// independent dependency chains per iteration. Y14/Y15 hold the exp clamp
// bounds throughout. 16 elements per iteration, then one vector of 8, then
// the last n%8 elements through a masked load/store (VMASKMOVPS), so tail
// elements get bit-identical results and nothing past n is read or written.
#define UNARY(OP, OP2) \
	MOVQ    dst+0(FP), DI; \
	MOVQ    x+8(FP), SI; \
	MOVQ    n+16(FP), CX; \
	VMOVUPS expLo<>(SB), Y14; \
	VMOVUPS expHi<>(SB), Y15; \
	XORQ    AX, AX; \
	MOVQ    CX, BX; \
	ANDQ    $-16, BX; \
loop16: \
	CMPQ    AX, BX; \
	JAE     tail8; \
	VMOVUPS (SI)(AX*4), Y0; \
	VMOVUPS 32(SI)(AX*4), Y8; \
	OP2; \
	VMOVUPS Y0, (DI)(AX*4); \
	VMOVUPS Y8, 32(DI)(AX*4); \
	ADDQ    $16, AX; \
	JMP     loop16; \
tail8: \
	MOVQ    CX, BX; \
	ANDQ    $-8, BX; \
	CMPQ    AX, BX; \
	JAE     tail; \
	VMOVUPS (SI)(AX*4), Y0; \
	OP; \
	VMOVUPS Y0, (DI)(AX*4); \
	ADDQ    $8, AX; \
tail: \
	MOVQ    CX, DX; \
	SUBQ    AX, DX; \
	JZ      done; \
	MOVQ    $8, R8; \
	SUBQ    DX, R8; \
	LEAQ    tailMask<>(SB), R9; \
	VMOVDQU (R9)(R8*4), Y13; \
	VMASKMOVPS (SI)(AX*4), Y13, Y0; \
	OP; \
	VMASKMOVPS Y0, Y13, (DI)(AX*4); \
done: \
	VZEROUPPER; \
	RET

#define OP_EXP EXPV(Y0, Y1, Y2, Y3)
#define OP_EXP2 EXPV(Y0, Y1, Y2, Y3); EXPV(Y8, Y9, Y10, Y11)
#define OP_SIGMOID SIGMOIDV(Y0, Y1, Y2, Y3, Y4)
#define OP_SIGMOID2 SIGMOIDV(Y0, Y1, Y2, Y3, Y4); SIGMOIDV(Y8, Y9, Y10, Y11, Y12)
#define OP_TANH TANHV(Y0, Y1, Y2, Y3, Y4)
#define OP_TANH2 TANHV(Y0, Y1, Y2, Y3, Y4); TANHV(Y8, Y9, Y10, Y11, Y12)
#define OP_SOFTPLUS SOFTPLUSV(Y0, Y1, Y2, Y3, Y4, Y5)
#define OP_SOFTPLUS2 SOFTPLUSV(Y0, Y1, Y2, Y3, Y4, Y5); SOFTPLUSV(Y8, Y9, Y10, Y11, Y12, Y6)
#define OP_LOG LOGV(Y0, Y1, Y2, Y3, Y4, Y5, Y6)
#define OP_LOG2 LOGV(Y0, Y1, Y2, Y3, Y4, Y5, Y6); LOGV(Y8, Y9, Y10, Y11, Y12, Y7, Y13)

// BINARY is the loop of func(dst, a, b *float32, n int): dst[i] = a[i] OP b[i]
// with VOP/SOP the packed/scalar instructions. 4x8 lanes per iteration, then
// single vectors, then scalar elements.
#define BINARY(VOP, SOP) \
	MOVQ    dst+0(FP), DI; \
	MOVQ    a+8(FP), SI; \
	MOVQ    b+16(FP), DX; \
	MOVQ    n+24(FP), CX; \
	XORQ    AX, AX; \
	MOVQ    CX, BX; \
	ANDQ    $-32, BX; \
loop32: \
	CMPQ    AX, BX; \
	JAE     tail8; \
	VMOVUPS (SI)(AX*4), Y0; \
	VMOVUPS 32(SI)(AX*4), Y1; \
	VMOVUPS 64(SI)(AX*4), Y2; \
	VMOVUPS 96(SI)(AX*4), Y3; \
	VOP     (DX)(AX*4), Y0, Y0; \
	VOP     32(DX)(AX*4), Y1, Y1; \
	VOP     64(DX)(AX*4), Y2, Y2; \
	VOP     96(DX)(AX*4), Y3, Y3; \
	VMOVUPS Y0, (DI)(AX*4); \
	VMOVUPS Y1, 32(DI)(AX*4); \
	VMOVUPS Y2, 64(DI)(AX*4); \
	VMOVUPS Y3, 96(DI)(AX*4); \
	ADDQ    $32, AX; \
	JMP     loop32; \
tail8: \
	MOVQ    CX, BX; \
	ANDQ    $-8, BX; \
loop8: \
	CMPQ    AX, BX; \
	JAE     tail1; \
	VMOVUPS (SI)(AX*4), Y0; \
	VOP     (DX)(AX*4), Y0, Y0; \
	VMOVUPS Y0, (DI)(AX*4); \
	ADDQ    $8, AX; \
	JMP     loop8; \
tail1: \
	CMPQ    AX, CX; \
	JAE     done; \
	VMOVSS  (SI)(AX*4), X0; \
	SOP     (DX)(AX*4), X0, X0; \
	VMOVSS  X0, (DI)(AX*4); \
	INCQ    AX; \
	JMP     tail1; \
done: \
	VZEROUPPER; \
	RET

// SCALAR is the loop of func(dst, a *float32, s float32, n int):
// dst[i] = a[i] OP s.
#define SCALAR(VOP, SOP) \
	MOVQ         dst+0(FP), DI; \
	MOVQ         a+8(FP), SI; \
	VBROADCASTSS s+16(FP), Y8; \
	MOVQ         n+24(FP), CX; \
	XORQ         AX, AX; \
	MOVQ         CX, BX; \
	ANDQ         $-32, BX; \
loop32: \
	CMPQ    AX, BX; \
	JAE     tail8; \
	VOP     (SI)(AX*4), Y8, Y0; \
	VOP     32(SI)(AX*4), Y8, Y1; \
	VOP     64(SI)(AX*4), Y8, Y2; \
	VOP     96(SI)(AX*4), Y8, Y3; \
	VMOVUPS Y0, (DI)(AX*4); \
	VMOVUPS Y1, 32(DI)(AX*4); \
	VMOVUPS Y2, 64(DI)(AX*4); \
	VMOVUPS Y3, 96(DI)(AX*4); \
	ADDQ    $32, AX; \
	JMP     loop32; \
tail8: \
	MOVQ    CX, BX; \
	ANDQ    $-8, BX; \
loop8: \
	CMPQ    AX, BX; \
	JAE     tail1; \
	VOP     (SI)(AX*4), Y8, Y0; \
	VMOVUPS Y0, (DI)(AX*4); \
	ADDQ    $8, AX; \
	JMP     loop8; \
tail1: \
	CMPQ    AX, CX; \
	JAE     done; \
	SOP     (SI)(AX*4), X8, X0; \
	VMOVSS  X0, (DI)(AX*4); \
	INCQ    AX; \
	JMP     tail1; \
done: \
	VZEROUPPER; \
	RET

// HREDUCE reduces the 8 lanes of Y0 into the low lane of X0 with OP (packed)
// and SOP (scalar); X1 is clobbered.
#define HREDUCE(OP, SOP) \
	VEXTRACTF128 $1, Y0, X1; \
	OP           X1, X0, X0; \
	VPERMILPS    $0x4e, X0, X1; \
	OP           X1, X0, X0; \
	VPERMILPS    $0xb1, X0, X1; \
	SOP          X1, X0, X0

// EXPSUB is the loop of the softmax/logsumexp helpers: for each element
// Y0 (and Y8) = e^(x - m) (m broadcast in Y13) is accumulated into Y12
// (and Y4) and stored by STORE16 / STORE8 / STORETAIL (defined empty when
// nothing is stored). Two vectors per iteration, then one, then a masked
// tail whose masked-off lanes are zeroed before the sum.
#define EXPSUB \
	VMOVUPS expLo<>(SB), Y14; \
	VMOVUPS expHi<>(SB), Y15; \
	VXORPS  Y12, Y12, Y12; \
	VXORPS  Y4, Y4, Y4; \
	XORQ    AX, AX; \
	MOVQ    CX, BX; \
	ANDQ    $-16, BX; \
loop16: \
	CMPQ    AX, BX; \
	JAE     tail8; \
	VMOVUPS (SI)(AX*4), Y0; \
	VMOVUPS 32(SI)(AX*4), Y8; \
	VSUBPS  Y13, Y0, Y0; \
	VSUBPS  Y13, Y8, Y8; \
	EXPV(Y0, Y1, Y2, Y3); \
	EXPV(Y8, Y9, Y10, Y11); \
	VADDPS  Y0, Y12, Y12; \
	VADDPS  Y8, Y4, Y4; \
	STORE16; \
	ADDQ    $16, AX; \
	JMP     loop16; \
tail8: \
	VADDPS  Y4, Y12, Y12; \
	MOVQ    CX, BX; \
	ANDQ    $-8, BX; \
	CMPQ    AX, BX; \
	JAE     tail; \
	VMOVUPS (SI)(AX*4), Y0; \
	VSUBPS  Y13, Y0, Y0; \
	EXPV(Y0, Y1, Y2, Y3); \
	VADDPS  Y0, Y12, Y12; \
	STORE8; \
	ADDQ    $8, AX; \
tail: \
	MOVQ    CX, DX; \
	SUBQ    AX, DX; \
	JZ      reduce; \
	MOVQ    $8, R8; \
	SUBQ    DX, R8; \
	LEAQ    tailMask<>(SB), R9; \
	VMOVDQU (R9)(R8*4), Y11; \
	VMASKMOVPS (SI)(AX*4), Y11, Y0; \
	VSUBPS  Y13, Y0, Y0; \
	EXPV(Y0, Y1, Y2, Y3); \
	VANDPS  Y11, Y0, Y0; \
	VADDPS  Y0, Y12, Y12; \
	STORETAIL; \
reduce: \
	VMOVAPS Y12, Y0; \
	HREDUCE(VADDPS, VADDSS)

// func expAVX2(dst, x *float32, n int)
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	UNARY(OP_EXP, OP_EXP2)

// func sigmoidAVX2(dst, x *float32, n int)
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-24
	UNARY(OP_SIGMOID, OP_SIGMOID2)

// func tanhAVX2(dst, x *float32, n int)
TEXT ·tanhAVX2(SB), NOSPLIT, $0-24
	UNARY(OP_TANH, OP_TANH2)

// func softplusAVX2(dst, x *float32, n int)
TEXT ·softplusAVX2(SB), NOSPLIT, $0-24
	UNARY(OP_SOFTPLUS, OP_SOFTPLUS2)

// func logAVX2(dst, x *float32, n int)
TEXT ·logAVX2(SB), NOSPLIT, $0-24
	UNARY(OP_LOG, OP_LOG2)

// func addAVX2(dst, a, b *float32, n int)
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	BINARY(VADDPS, VADDSS)

// func subAVX2(dst, a, b *float32, n int)
TEXT ·subAVX2(SB), NOSPLIT, $0-32
	BINARY(VSUBPS, VSUBSS)

// func mulAVX2(dst, a, b *float32, n int)
TEXT ·mulAVX2(SB), NOSPLIT, $0-32
	BINARY(VMULPS, VMULSS)

// func divAVX2(dst, a, b *float32, n int)
TEXT ·divAVX2(SB), NOSPLIT, $0-32
	BINARY(VDIVPS, VDIVSS)

// func addScalarAVX2(dst, a *float32, s float32, n int)
TEXT ·addScalarAVX2(SB), NOSPLIT, $0-32
	SCALAR(VADDPS, VADDSS)

// func mulScalarAVX2(dst, a *float32, s float32, n int)
TEXT ·mulScalarAVX2(SB), NOSPLIT, $0-32
	SCALAR(VMULPS, VMULSS)

// func axpyAVX2(dst *float32, alpha float32, x *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	VBROADCASTSS alpha+8(FP), Y8
	MOVQ         x+16(FP), SI
	MOVQ         n+24(FP), CX
	XORQ         AX, AX
	MOVQ         CX, BX
	ANDQ         $-32, BX

axpy_loop32:
	CMPQ        AX, BX
	JAE         axpy_tail8
	VMOVUPS     (DI)(AX*4), Y0
	VMOVUPS     32(DI)(AX*4), Y1
	VMOVUPS     64(DI)(AX*4), Y2
	VMOVUPS     96(DI)(AX*4), Y3
	VFMADD231PS (SI)(AX*4), Y8, Y0
	VFMADD231PS 32(SI)(AX*4), Y8, Y1
	VFMADD231PS 64(SI)(AX*4), Y8, Y2
	VFMADD231PS 96(SI)(AX*4), Y8, Y3
	VMOVUPS     Y0, (DI)(AX*4)
	VMOVUPS     Y1, 32(DI)(AX*4)
	VMOVUPS     Y2, 64(DI)(AX*4)
	VMOVUPS     Y3, 96(DI)(AX*4)
	ADDQ        $32, AX
	JMP         axpy_loop32

axpy_tail8:
	MOVQ CX, BX
	ANDQ $-8, BX

axpy_loop8:
	CMPQ        AX, BX
	JAE         axpy_tail1
	VMOVUPS     (DI)(AX*4), Y0
	VFMADD231PS (SI)(AX*4), Y8, Y0
	VMOVUPS     Y0, (DI)(AX*4)
	ADDQ        $8, AX
	JMP         axpy_loop8

axpy_tail1:
	CMPQ        AX, CX
	JAE         axpy_done
	VMOVSS      (DI)(AX*4), X0
	VFMADD231SS (SI)(AX*4), X8, X0
	VMOVSS      X0, (DI)(AX*4)
	INCQ        AX
	JMP         axpy_tail1

axpy_done:
	VZEROUPPER
	RET

// func sumAVX2(x *float32, n int) float32
// Four independent 8-lane accumulators (32 partial sums).
TEXT ·sumAVX2(SB), NOSPLIT, $0-20
	MOVQ   x+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   AX, AX
	MOVQ   CX, BX
	ANDQ   $-32, BX

sum_loop32:
	CMPQ   AX, BX
	JAE    sum_tail8
	VADDPS (SI)(AX*4), Y0, Y0
	VADDPS 32(SI)(AX*4), Y1, Y1
	VADDPS 64(SI)(AX*4), Y2, Y2
	VADDPS 96(SI)(AX*4), Y3, Y3
	ADDQ   $32, AX
	JMP    sum_loop32

sum_tail8:
	MOVQ CX, BX
	ANDQ $-8, BX

sum_loop8:
	CMPQ   AX, BX
	JAE    sum_reduce
	VADDPS (SI)(AX*4), Y0, Y0
	ADDQ   $8, AX
	JMP    sum_loop8

sum_reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HREDUCE(VADDPS, VADDSS)

sum_tail1:
	CMPQ   AX, CX
	JAE    sum_done
	VADDSS (SI)(AX*4), X0, X0
	INCQ   AX
	JMP    sum_tail1

sum_done:
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func dotAVX2(a, b *float32, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DX
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   AX, AX
	MOVQ   CX, BX
	ANDQ   $-32, BX

dot_loop32:
	CMPQ        AX, BX
	JAE         dot_tail8
	VMOVUPS     (SI)(AX*4), Y4
	VMOVUPS     32(SI)(AX*4), Y5
	VMOVUPS     64(SI)(AX*4), Y6
	VMOVUPS     96(SI)(AX*4), Y7
	VFMADD231PS (DX)(AX*4), Y4, Y0
	VFMADD231PS 32(DX)(AX*4), Y5, Y1
	VFMADD231PS 64(DX)(AX*4), Y6, Y2
	VFMADD231PS 96(DX)(AX*4), Y7, Y3
	ADDQ        $32, AX
	JMP         dot_loop32

dot_tail8:
	MOVQ CX, BX
	ANDQ $-8, BX

dot_loop8:
	CMPQ        AX, BX
	JAE         dot_reduce
	VMOVUPS     (SI)(AX*4), Y4
	VFMADD231PS (DX)(AX*4), Y4, Y0
	ADDQ        $8, AX
	JMP         dot_loop8

dot_reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HREDUCE(VADDPS, VADDSS)

dot_tail1:
	CMPQ        AX, CX
	JAE         dot_done
	VMOVSS      (SI)(AX*4), X4
	VFMADD231SS (DX)(AX*4), X4, X0
	INCQ        AX
	JMP         dot_tail1

dot_done:
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
// n >= 1. Returns NaN if any element is NaN: VCMPPS UNORD of pairs of loaded
// vectors is OR-ed into Y8 (VMAXPS alone does not propagate NaN reliably).
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ    x+0(FP), SI
	MOVQ    n+8(FP), CX
	VMOVUPS vNInf<>(SB), Y0
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y2
	VMOVAPS Y0, Y3
	VXORPS  Y8, Y8, Y8
	XORQ    AX, AX
	MOVQ    CX, BX
	ANDQ    $-32, BX

max_loop32:
	CMPQ    AX, BX
	JAE     max_tail8
	VMOVUPS (SI)(AX*4), Y4
	VMOVUPS 32(SI)(AX*4), Y5
	VMOVUPS 64(SI)(AX*4), Y6
	VMOVUPS 96(SI)(AX*4), Y7
	VMAXPS  Y4, Y0, Y0
	VMAXPS  Y5, Y1, Y1
	VMAXPS  Y6, Y2, Y2
	VMAXPS  Y7, Y3, Y3
	VCMPPS  $0x03, Y5, Y4, Y9
	VCMPPS  $0x03, Y7, Y6, Y10
	VORPS   Y9, Y8, Y8
	VORPS   Y10, Y8, Y8
	ADDQ    $32, AX
	JMP     max_loop32

max_tail8:
	MOVQ CX, BX
	ANDQ $-8, BX

max_loop8:
	CMPQ    AX, BX
	JAE     max_reduce
	VMOVUPS (SI)(AX*4), Y4
	VMAXPS  Y4, Y0, Y0
	VCMPPS  $0x03, Y4, Y4, Y9
	VORPS   Y9, Y8, Y8
	ADDQ    $8, AX
	JMP     max_loop8

max_reduce:
	VMAXPS Y1, Y0, Y0
	VMAXPS Y3, Y2, Y2
	VMAXPS Y2, Y0, Y0
	HREDUCE(VMAXPS, VMAXSS)

max_tail1:
	CMPQ     AX, CX
	JAE      max_check
	VMOVSS   (SI)(AX*4), X4
	VUCOMISS X4, X4
	JPS      max_nan
	VMAXSS   X4, X0, X0
	INCQ     AX
	JMP      max_tail1

max_check:
	VPTEST Y8, Y8
	JNZ    max_nan
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

max_nan:
	MOVL $0x7fc00000, ret+16(FP)
	VZEROUPPER
	RET

#define STORE8 VMOVUPS Y0, (DI)(AX*4)
#define STORE16 VMOVUPS Y0, (DI)(AX*4); VMOVUPS Y8, 32(DI)(AX*4)
#define STORETAIL VMASKMOVPS Y0, Y11, (DI)(AX*4)

// func expSubSumAVX2(dst, x *float32, n int, m float32) float32
// dst[i] = e^(x[i]-m); returns the sum of dst.
TEXT ·expSubSumAVX2(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Y13
	EXPSUB
	VMOVSS       X0, ret+32(FP)
	VZEROUPPER
	RET

#undef STORE8
#undef STORE16
#undef STORETAIL
#define STORE8
#define STORE16
#define STORETAIL

// func sumExpSubAVX2(x *float32, n int, m float32) float32
// Returns the sum of e^(x[i]-m).
TEXT ·sumExpSubAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y13
	EXPSUB
	VMOVSS       X0, ret+24(FP)
	VZEROUPPER
	RET
