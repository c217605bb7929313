#!/bin/sh
# Compiles every compute shader here to SPIR-V beside it (go generate runs
# this); OUT=dir writes them there instead, for checking the committed ones.
# gemm_coopmat.comp is also built with other tile shapes (the variants'
# names say which; program.go picks among them).
set -eu
cd "$(dirname "$0")"
out=${OUT:-.}
for f in *.comp; do
	glslc --target-env=vulkan1.1 -O -o "$out/${f%.comp}.spv" "$f"
done
# 8 subgroups of 64x32 (128x128 tiles).
glslc --target-env=vulkan1.1 -O -DWARPS_M=2 -DWARPS_N=4 -DTM=4 -DTN=2 -o "$out/gemm_coopmat_w8.spv" gemm_coopmat.comp
# 8 subgroups of 64x64 (128x256 tiles), K steps of 16.
glslc --target-env=vulkan1.1 -O -DWARPS_M=2 -DWARPS_N=4 -DTM=4 -DTN=4 -DBK=16 -o "$out/gemm_coopmat_256.spv" gemm_coopmat.comp
