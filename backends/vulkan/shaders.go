// The SPIR-V of shaders/*.comp, compiled by glslc and committed beside its
// sources; go generate rebuilds it and TestSPIRVMatchesSources checks it.

package vulkan

import (
	"embed"
	"encoding/binary"
	"fmt"
)

//go:generate sh shaders/compile.sh

//go:embed shaders/*.spv
var spirv embed.FS

// shaderCode returns the SPIR-V words of shaders/name.spv.
func shaderCode(name string) ([]uint32, error) {
	raw, err := spirv.ReadFile("shaders/" + name + ".spv")
	if err != nil {
		return nil, fmt.Errorf("vulkan: no shader %q: %v", name, err)
	}
	if len(raw)%4 != 0 || len(raw) < 20 || binary.LittleEndian.Uint32(raw) != 0x07230203 {
		return nil, fmt.Errorf("vulkan: shaders/%s.spv is not SPIR-V", name)
	}
	words := make([]uint32, len(raw)/4)
	for i := range words {
		words[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return words, nil
}
