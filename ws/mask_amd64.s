//go:build amd64 && !purego

#include "textflag.h"

// func maskCopyBlocks(k uint64, dst, src []byte)
TEXT ·maskCopyBlocks(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), X0
	PUNPCKLQDQ X0, X0
	MOVQ dst_base+8(FP), DI
	MOVQ dst_len+16(FP), CX
	MOVQ src_base+32(FP), SI
	TESTQ CX, CX
	JZ done

loop:
	MOVOU 0(SI), X1
	MOVOU 16(SI), X2
	MOVOU 32(SI), X3
	MOVOU 48(SI), X4
	PXOR X0, X1
	PXOR X0, X2
	PXOR X0, X3
	PXOR X0, X4
	MOVOU X1, 0(DI)
	MOVOU X2, 16(DI)
	MOVOU X3, 32(DI)
	MOVOU X4, 48(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $64, CX
	JNZ loop

done:
	RET
