//go:build cgo

// The Vulkan loader: opened by hand (libvulkan.so.1, the name every Linux
// distribution installs at run time) because the binding's default looks
// for the development symlink libvulkan.so only.

package vulkan

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

static void* openLoader(const char* name, const char** err) {
	void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) *err = dlerror();
	return h;
}

static void* findSymbol(void* h, const char* name) { return dlsym(h, name); }
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

var (
	loaderOnce sync.Once
	loaderErr  error
	// loaderProcAddr is the loader's vkGetInstanceProcAddr, for the entry
	// points the binding lacks (debug.go, features.go).
	loaderProcAddr unsafe.Pointer
)

// loadLoader opens the loader once per process and hands its
// vkGetInstanceProcAddr to the binding.
func loadLoader() error {
	loaderOnce.Do(func() {
		name := os.Getenv(LoaderEnv)
		if name == "" {
			name = "libvulkan.so.1"
		}
		cname := C.CString(name)
		defer C.free(unsafe.Pointer(cname))
		var cerr *C.char
		h := C.openLoader(cname, &cerr)
		if h == nil {
			loaderErr = fmt.Errorf("%w: cannot open %s (%s); install the Vulkan loader (Debian: libvulkan1) and a driver (mesa-vulkan-drivers, or the GPU vendor's), or use the cpu backend", ErrNoLoader, name, C.GoString(cerr))
			return
		}
		sym := C.CString("vkGetInstanceProcAddr")
		defer C.free(unsafe.Pointer(sym))
		gipa := C.findSymbol(h, sym)
		if gipa == nil {
			loaderErr = fmt.Errorf("%w: %s has no vkGetInstanceProcAddr", ErrNoLoader, name)
			return
		}
		vk.SetGetInstanceProcAddr(gipa)
		if err := vk.Init(); err != nil {
			loaderErr = fmt.Errorf("%w: %s: %v", ErrNoLoader, name, err)
			return
		}
		loaderProcAddr = gipa
	})
	return loaderErr
}
