// Packing routines for the float32 driver (full micro-panels only; edge
// panels are packed by the Go code with zero padding). See pack.go for the
// layouts.

#include "textflag.h"

// func packA6N(kc int, a *float32, lda int, dst *float32)
// dst[p*6+r] = a[r*lda+p] for r < 6, p < kc: interleaves six rows, four
// columns at a time through 4×4 (rows 0-3) and 2×4 (rows 4-5) transposes.
TEXT ·packA6N(SB), NOSPLIT, $0-32
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), R8
	MOVQ lda+16(FP), DX
	MOVQ dst+24(FP), DI
	SHLQ $2, DX
	LEAQ (R8)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	LEAQ (R10)(DX*1), R11
	LEAQ (R11)(DX*1), R12
	LEAQ (R12)(DX*1), R13
	XORQ BX, BX
	MOVQ CX, AX
	SHRQ $2, AX
	JZ   a6n_tail

a6n_loop4:
	VMOVUPS   (R8)(BX*1), X0
	VMOVUPS   (R9)(BX*1), X1
	VMOVUPS   (R10)(BX*1), X2
	VMOVUPS   (R11)(BX*1), X3
	VMOVUPS   (R12)(BX*1), X4
	VMOVUPS   (R13)(BX*1), X5
	VUNPCKLPS X1, X0, X6        // a00 a10 a01 a11
	VUNPCKHPS X1, X0, X7        // a02 a12 a03 a13
	VUNPCKLPS X3, X2, X8        // a20 a30 a21 a31
	VUNPCKHPS X3, X2, X9        // a22 a32 a23 a33
	VUNPCKLPS X5, X4, X12       // a40 a50 a41 a51
	VUNPCKHPS X5, X4, X13       // a42 a52 a43 a53
	VMOVLHPS  X8, X6, X10       // a00 a10 a20 a30
	VMOVHLPS  X6, X8, X11       // a01 a11 a21 a31
	VMOVLHPS  X9, X7, X14       // a02 a12 a22 a32
	VMOVHLPS  X7, X9, X15       // a03 a13 a23 a33
	VMOVUPS   X10, (DI)
	VMOVLPS   X12, 16(DI)
	VMOVUPS   X11, 24(DI)
	VMOVHPS   X12, 40(DI)
	VMOVUPS   X14, 48(DI)
	VMOVLPS   X13, 64(DI)
	VMOVUPS   X15, 72(DI)
	VMOVHPS   X13, 88(DI)
	ADDQ      $16, BX
	ADDQ      $96, DI
	DECQ      AX
	JNZ       a6n_loop4

a6n_tail:
	ANDQ $3, CX
	JZ   a6n_done

a6n_loop1:
	MOVL (R8)(BX*1), AX
	MOVL AX, (DI)
	MOVL (R9)(BX*1), AX
	MOVL AX, 4(DI)
	MOVL (R10)(BX*1), AX
	MOVL AX, 8(DI)
	MOVL (R11)(BX*1), AX
	MOVL AX, 12(DI)
	MOVL (R12)(BX*1), AX
	MOVL AX, 16(DI)
	MOVL (R13)(BX*1), AX
	MOVL AX, 20(DI)
	ADDQ $4, BX
	ADDQ $24, DI
	DECQ CX
	JNZ  a6n_loop1

a6n_done:
	RET

// func packA6T(kc int, a *float32, lda int, dst *float32)
// dst[p*6+r] = a[p*lda+r] for r < 6, p < kc: six contiguous values per row.
TEXT ·packA6T(SB), NOSPLIT, $0-32
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), DX
	MOVQ dst+24(FP), DI
	SHLQ $2, DX
	MOVQ CX, AX
	SHRQ $1, AX
	JZ   a6t_tail

a6t_loop2:
	VMOVUPS (SI), X0
	MOVQ    16(SI), R8
	VMOVUPS (SI)(DX*1), X1
	MOVQ    16(SI)(DX*1), R9
	VMOVUPS X0, (DI)
	MOVQ    R8, 16(DI)
	VMOVUPS X1, 24(DI)
	MOVQ    R9, 40(DI)
	LEAQ    (SI)(DX*2), SI
	ADDQ    $48, DI
	DECQ    AX
	JNZ     a6t_loop2

a6t_tail:
	ANDQ $1, CX
	JZ   a6t_done
	VMOVUPS (SI), X0
	MOVQ    16(SI), R8
	VMOVUPS X0, (DI)
	MOVQ    R8, 16(DI)

a6t_done:
	RET

// func packB16N(kc int, b *float32, ldb int, dst *float32)
// dst[p*16+c] = b[p*ldb+c] for c < 16, p < kc.
TEXT ·packB16N(SB), NOSPLIT, $0-32
	MOVQ kc+0(FP), CX
	MOVQ b+8(FP), SI
	MOVQ ldb+16(FP), DX
	MOVQ dst+24(FP), DI
	SHLQ $2, DX
	MOVQ CX, AX
	SHRQ $1, AX
	JZ   b16_tail

b16_loop2:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (SI)(DX*1), Y2
	VMOVUPS 32(SI)(DX*1), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	LEAQ    (SI)(DX*2), SI
	ADDQ    $128, DI
	DECQ    AX
	JNZ     b16_loop2

b16_tail:
	ANDQ $1, CX
	JZ   b16_done
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)

b16_done:
	VZEROUPPER
	RET
