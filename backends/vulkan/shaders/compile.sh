#!/bin/sh
# Compiles every compute shader here to SPIR-V beside it (go generate runs
# this); OUT=dir writes them there instead, for checking the committed ones.
set -eu
cd "$(dirname "$0")"
out=${OUT:-.}
for f in *.comp; do
	glslc --target-env=vulkan1.1 -O -o "$out/${f%.comp}.spv" "$f"
done
