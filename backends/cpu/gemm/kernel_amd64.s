// AVX2+FMA register-blocked micro-kernels for the packed GEMM driver.
//
// Each kernel multiplies one packed A micro-panel (k steps of 6 values) by one
// packed B micro-panel (k steps of NR values) and writes the 6×NR tile of C:
//
//	C = alpha*(A·B) + beta*C   (C is not read when beta == ±0)
//
// The 6×NR accumulator tile lives in Y0..Y11; Y12/Y13 hold the current B row
// and Y14/Y15 the broadcast A values. The k loop is unrolled by 4.

#include "textflag.h"

// One k step of the float32 6×16 kernel. ao/bo are byte offsets into A/B.
#define S_STEP(ao, bo) \
	VMOVUPS      bo(DI), Y12;       \
	VMOVUPS      bo+32(DI), Y13;    \
	VBROADCASTSS ao(SI), Y14;       \
	VBROADCASTSS ao+4(SI), Y15;     \
	VFMADD231PS  Y12, Y14, Y0;      \
	VFMADD231PS  Y13, Y14, Y1;      \
	VFMADD231PS  Y12, Y15, Y2;      \
	VFMADD231PS  Y13, Y15, Y3;      \
	VBROADCASTSS ao+8(SI), Y14;     \
	VBROADCASTSS ao+12(SI), Y15;    \
	VFMADD231PS  Y12, Y14, Y4;      \
	VFMADD231PS  Y13, Y14, Y5;      \
	VFMADD231PS  Y12, Y15, Y6;      \
	VFMADD231PS  Y13, Y15, Y7;      \
	VBROADCASTSS ao+16(SI), Y14;    \
	VBROADCASTSS ao+20(SI), Y15;    \
	VFMADD231PS  Y12, Y14, Y8;      \
	VFMADD231PS  Y13, Y14, Y9;      \
	VFMADD231PS  Y12, Y15, Y10;     \
	VFMADD231PS  Y13, Y15, Y11

// Store one row (two ymm) with beta: row = acc + beta*row.
#define S_ROWB(r0, r1) \
	VFMADD231PS (DX), Y13, r0;   \
	VFMADD231PS 32(DX), Y13, r1; \
	VMOVUPS     r0, (DX);        \
	VMOVUPS     r1, 32(DX);      \
	ADDQ        R8, DX

#define S_ROW(r0, r1) \
	VMOVUPS r0, (DX);   \
	VMOVUPS r1, 32(DX); \
	ADDQ    R8, DX

// func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel6x16(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	// Touch the C tile early so it is in cache for the write-back.
	MOVQ       DX, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	MOVQ CX, R10
	SHRQ $2, R10
	JZ   s_tail

s_loop4:
	PREFETCHT0 384(SI)
	S_STEP(0, 0)
	S_STEP(24, 64)
	PREFETCHT0 448(SI)
	S_STEP(48, 128)
	S_STEP(72, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ R10
	JNZ  s_loop4

s_tail:
	ANDQ $3, CX
	JZ   s_done

s_loop1:
	S_STEP(0, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  s_loop1

s_done:
	VBROADCASTSS alpha+40(FP), Y12
	VMULPS       Y12, Y0, Y0
	VMULPS       Y12, Y1, Y1
	VMULPS       Y12, Y2, Y2
	VMULPS       Y12, Y3, Y3
	VMULPS       Y12, Y4, Y4
	VMULPS       Y12, Y5, Y5
	VMULPS       Y12, Y6, Y6
	VMULPS       Y12, Y7, Y7
	VMULPS       Y12, Y8, Y8
	VMULPS       Y12, Y9, Y9
	VMULPS       Y12, Y10, Y10
	VMULPS       Y12, Y11, Y11

	MOVL beta+44(FP), AX
	SHLL $1, AX
	JZ   s_store0

	VBROADCASTSS beta+44(FP), Y13
	S_ROWB(Y0, Y1)
	S_ROWB(Y2, Y3)
	S_ROWB(Y4, Y5)
	S_ROWB(Y6, Y7)
	S_ROWB(Y8, Y9)
	S_ROWB(Y10, Y11)
	VZEROUPPER
	RET

s_store0:
	S_ROW(Y0, Y1)
	S_ROW(Y2, Y3)
	S_ROW(Y4, Y5)
	S_ROW(Y6, Y7)
	S_ROW(Y8, Y9)
	S_ROW(Y10, Y11)
	VZEROUPPER
	RET

// One k step of the float64 6×8 kernel.
#define D_STEP(ao, bo) \
	VMOVUPD      bo(DI), Y12;       \
	VMOVUPD      bo+32(DI), Y13;    \
	VBROADCASTSD ao(SI), Y14;       \
	VBROADCASTSD ao+8(SI), Y15;     \
	VFMADD231PD  Y12, Y14, Y0;      \
	VFMADD231PD  Y13, Y14, Y1;      \
	VFMADD231PD  Y12, Y15, Y2;      \
	VFMADD231PD  Y13, Y15, Y3;      \
	VBROADCASTSD ao+16(SI), Y14;    \
	VBROADCASTSD ao+24(SI), Y15;    \
	VFMADD231PD  Y12, Y14, Y4;      \
	VFMADD231PD  Y13, Y14, Y5;      \
	VFMADD231PD  Y12, Y15, Y6;      \
	VFMADD231PD  Y13, Y15, Y7;      \
	VBROADCASTSD ao+32(SI), Y14;    \
	VBROADCASTSD ao+40(SI), Y15;    \
	VFMADD231PD  Y12, Y14, Y8;      \
	VFMADD231PD  Y13, Y14, Y9;      \
	VFMADD231PD  Y12, Y15, Y10;     \
	VFMADD231PD  Y13, Y15, Y11

#define D_ROWB(r0, r1) \
	VFMADD231PD (DX), Y13, r0;   \
	VFMADD231PD 32(DX), Y13, r1; \
	VMOVUPD     r0, (DX);        \
	VMOVUPD     r1, 32(DX);      \
	ADDQ        R8, DX

#define D_ROW(r0, r1) \
	VMOVUPD r0, (DX);   \
	VMOVUPD r1, 32(DX); \
	ADDQ    R8, DX

// func dgemmKernel6x8(k int, a, b, c *float64, ldc int, alpha, beta float64)
TEXT ·dgemmKernel6x8(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $3, R8

	MOVQ       DX, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 63(R9)

	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11

	MOVQ CX, R10
	SHRQ $2, R10
	JZ   d_tail

d_loop4:
	PREFETCHT0 384(SI)
	D_STEP(0, 0)
	D_STEP(48, 64)
	PREFETCHT0 448(SI)
	D_STEP(96, 128)
	D_STEP(144, 192)
	ADDQ $192, SI
	ADDQ $256, DI
	DECQ R10
	JNZ  d_loop4

d_tail:
	ANDQ $3, CX
	JZ   d_done

d_loop1:
	D_STEP(0, 0)
	ADDQ $48, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  d_loop1

d_done:
	VBROADCASTSD alpha+40(FP), Y12
	VMULPD       Y12, Y0, Y0
	VMULPD       Y12, Y1, Y1
	VMULPD       Y12, Y2, Y2
	VMULPD       Y12, Y3, Y3
	VMULPD       Y12, Y4, Y4
	VMULPD       Y12, Y5, Y5
	VMULPD       Y12, Y6, Y6
	VMULPD       Y12, Y7, Y7
	VMULPD       Y12, Y8, Y8
	VMULPD       Y12, Y9, Y9
	VMULPD       Y12, Y10, Y10
	VMULPD       Y12, Y11, Y11

	MOVQ beta+48(FP), AX
	SHLQ $1, AX
	JZ   d_store0

	VBROADCASTSD beta+48(FP), Y13
	D_ROWB(Y0, Y1)
	D_ROWB(Y2, Y3)
	D_ROWB(Y4, Y5)
	D_ROWB(Y6, Y7)
	D_ROWB(Y8, Y9)
	D_ROWB(Y10, Y11)
	VZEROUPPER
	RET

d_store0:
	D_ROW(Y0, Y1)
	D_ROW(Y2, Y3)
	D_ROW(Y4, Y5)
	D_ROW(Y6, Y7)
	D_ROW(Y8, Y9)
	D_ROW(Y10, Y11)
	VZEROUPPER
	RET
