//go:build amd64 && !purego

#include "textflag.h"

// The field multiplication and squaring mod p = 2^256 - 2^32 - 977 with BMI2 (MULX) and ADX
// (ADCX, ADOX: two independent carry chains), for CPUs that have them (field_amd64.go
// checks). The same steps as mulGeneric and reduce in field.go: a 512-bit product t0..t7,
// then t0..t3 + t4..t7 * c with c = 2^256 mod p, the top limb folded once more, and one
// conditional subtraction of p, done as "add c and keep the sum if it carried out of 2^256".

// REDUCE takes the product in R8..R15 and stores it, reduced, at z. DX must hold c; DI is
// used as a zero register.
#define REDUCE \
	XORQ  DI, DI         \
	MULXQ R12, AX, CX    \
	ADCXQ AX, R8         \
	ADOXQ CX, R9         \
	MULXQ R13, AX, CX    \
	ADCXQ AX, R9         \
	ADOXQ CX, R10        \
	MULXQ R14, AX, CX    \
	ADCXQ AX, R10        \
	ADOXQ CX, R11        \
	MULXQ R15, AX, R12   \
	ADCXQ AX, R11        \
	ADOXQ DI, R12        \
	ADCXQ DI, R12        \
	MULXQ R12, AX, CX    \
	ADDQ  AX, R8         \
	ADCQ  CX, R9         \
	ADCQ  $0, R10        \
	ADCQ  $0, R11        \
	SBBQ  AX, AX         \
	ANDQ  DX, AX         \
	ADDQ  AX, R8         \
	ADCQ  $0, R9         \
	ADCQ  $0, R10        \
	ADCQ  $0, R11        \
	MOVQ  R8, AX         \
	MOVQ  R9, CX         \
	MOVQ  R10, R13       \
	MOVQ  R11, R14       \
	ADDQ  DX, AX         \
	ADCQ  $0, CX         \
	ADCQ  $0, R13        \
	ADCQ  $0, R14        \
	CMOVQCS AX, R8       \
	CMOVQCS CX, R9       \
	CMOVQCS R13, R10     \
	CMOVQCS R14, R11     \
	MOVQ  z+0(FP), DI    \
	MOVQ  R8, 0(DI)      \
	MOVQ  R9, 8(DI)      \
	MOVQ  R10, 16(DI)    \
	MOVQ  R11, 24(DI)

// func mulADX(z, x, y *fe)
TEXT ·mulADX(SB), NOSPLIT, $0-24
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), BX

	// Row 0: x0 * y into R8..R12.
	MOVQ  0(SI), DX
	MULXQ 0(BX), R8, R9
	MULXQ 8(BX), AX, R10
	ADDQ  AX, R9
	MULXQ 16(BX), AX, R11
	ADCQ  AX, R10
	MULXQ 24(BX), AX, R12
	ADCQ  AX, R11
	ADCQ  $0, R12

	// Row 1: x1 * y added at R9, the new top limb in R13.
	MOVQ  8(SI), DX
	XORQ  DI, DI
	MULXQ 0(BX), AX, CX
	ADCXQ AX, R9
	ADOXQ CX, R10
	MULXQ 8(BX), AX, CX
	ADCXQ AX, R10
	ADOXQ CX, R11
	MULXQ 16(BX), AX, CX
	ADCXQ AX, R11
	ADOXQ CX, R12
	MULXQ 24(BX), AX, R13
	ADCXQ AX, R12
	ADOXQ DI, R13
	ADCXQ DI, R13

	// Row 2: at R10, top in R14.
	MOVQ  16(SI), DX
	XORQ  DI, DI
	MULXQ 0(BX), AX, CX
	ADCXQ AX, R10
	ADOXQ CX, R11
	MULXQ 8(BX), AX, CX
	ADCXQ AX, R11
	ADOXQ CX, R12
	MULXQ 16(BX), AX, CX
	ADCXQ AX, R12
	ADOXQ CX, R13
	MULXQ 24(BX), AX, R14
	ADCXQ AX, R13
	ADOXQ DI, R14
	ADCXQ DI, R14

	// Row 3: at R11, top in R15.
	MOVQ  24(SI), DX
	XORQ  DI, DI
	MULXQ 0(BX), AX, CX
	ADCXQ AX, R11
	ADOXQ CX, R12
	MULXQ 8(BX), AX, CX
	ADCXQ AX, R12
	ADOXQ CX, R13
	MULXQ 16(BX), AX, CX
	ADCXQ AX, R13
	ADOXQ CX, R14
	MULXQ 24(BX), AX, R15
	ADCXQ AX, R14
	ADOXQ DI, R15
	ADCXQ DI, R15

	MOVQ $0x1000003D1, DX
	REDUCE
	RET

// func sqrADX(z, x *fe)
TEXT ·sqrADX(SB), NOSPLIT, $0-16
	MOVQ x+8(FP), SI

	// Cross products x_i * x_j (i < j) into R9..R14:
	// x0 * (x1, x2, x3) at R9..R12.
	MOVQ  0(SI), DX
	MULXQ 8(SI), R9, R10
	MULXQ 16(SI), AX, R11
	ADDQ  AX, R10
	MULXQ 24(SI), AX, R12
	ADCQ  AX, R11
	ADCQ  $0, R12
	// x1 * (x2, x3) at R11..R13.
	MOVQ  8(SI), DX
	XORQ  DI, DI
	MULXQ 16(SI), AX, CX
	ADCXQ AX, R11
	ADOXQ CX, R12
	MULXQ 24(SI), AX, R13
	ADCXQ AX, R12
	ADOXQ DI, R13
	ADCXQ DI, R13
	// x2 * x3 at R13..R14.
	MOVQ  16(SI), DX
	MULXQ 24(SI), AX, R14
	ADDQ  AX, R13
	ADCQ  $0, R14

	// Double them (R15 takes the bit shifted out) and add the squares x_i^2 at 2i, 2i+1:
	// CF carries the doubling, OF the additions.
	XORQ  DI, DI
	MOVQ  0(SI), DX
	MULXQ DX, R8, CX
	ADCXQ R9, R9
	ADOXQ CX, R9
	MOVQ  8(SI), DX
	MULXQ DX, AX, CX
	ADCXQ R10, R10
	ADOXQ AX, R10
	ADCXQ R11, R11
	ADOXQ CX, R11
	MOVQ  16(SI), DX
	MULXQ DX, AX, CX
	ADCXQ R12, R12
	ADOXQ AX, R12
	ADCXQ R13, R13
	ADOXQ CX, R13
	MOVQ  24(SI), DX
	MULXQ DX, AX, R15
	ADCXQ R14, R14
	ADOXQ AX, R14
	ADCXQ DI, R15
	ADOXQ DI, R15

	MOVQ $0x1000003D1, DX
	REDUCE
	RET
