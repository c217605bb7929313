#!/bin/sh
# Compiles every compute shader here to SPIR-V beside it (go generate runs
# this); OUT=dir writes them there instead, for checking the committed ones.
# gemm_coopmat.comp is also built with other tile shapes (f16.go lists
# them) for comparison.
set -eu
cd "$(dirname "$0")"
out=${OUT:-.}
for f in *.comp; do
	glslc --target-env=vulkan1.1 -O -o "$out/${f%.comp}.spv" "$f"
done
# Variants: name WARPS_M WARPS_N TM TN BK STAGES (f16.go lists the same).
while read -r name wm wn tm tn bk st; do
	glslc --target-env=vulkan1.1 -O -DWARPS_M=$wm -DWARPS_N=$wn -DTM=$tm -DTN=$tn -DBK=$bk -DSTAGES=$st \
		-o "$out/gemm_coopmat_$name.spv" gemm_coopmat.comp
done <<VARIANTS
k64 2 4 4 2 64 1
k48 2 4 4 4 48 1
k16 2 4 4 2 16 2
w8 2 4 4 2 32 2
m256 4 2 4 4 32 1
w4 2 2 4 4 32 1
VARIANTS
