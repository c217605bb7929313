//go:build cgo

// Optional device features beyond Vulkan 1.1's core: f16 arithmetic
// (shaderFloat16, VK_KHR_shader_float16_int8), 16-bit storage buffers
// (storageBuffer16BitAccess) and NVIDIA's cooperative matrices
// (VK_NV_cooperative_matrix, whose shaders use the Vulkan memory model:
// vulkanMemoryModel with its device scope, VK_KHR_vulkan_memory_model).
// The binding knows only the 1.1 headers, so the feature structs, their
// sType values and the pNext chain that enables them at device creation
// are defined here in C, and the entry points are looked up through
// vkGetInstanceProcAddr.

package vulkan

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*mhVoidFn)(void);
typedef mhVoidFn (*mhGetInstanceProcAddr)(void* instance, const char* name);

enum {
	mhPhysicalDeviceFeatures2       = 1000059000,
	mhPhysicalDeviceProperties2     = 1000059001,
	mhPhysicalDeviceFloat16Int8     = 1000082000,
	mhPhysicalDevice16BitStorage    = 1000083000,
	mhPhysicalDeviceSubgroupProps   = 1000094000,
	mhPhysicalDeviceCoopMatFeatures = 1000249000,
	mhCoopMatPropertiesNV           = 1000249001,
	mhPhysicalDeviceMemoryModel     = 1000211000,
};

typedef struct { int32_t sType; void* pNext; } mhHeader;

typedef struct {
	int32_t sType; void* pNext;
	uint32_t storageBuffer16BitAccess, uniformAndStorageBuffer16BitAccess, storagePushConstant16, storageInputOutput16;
} mh16BitStorage;

typedef struct { int32_t sType; void* pNext; uint32_t shaderFloat16, shaderInt8; } mhFloat16Int8;

typedef struct { int32_t sType; void* pNext; uint32_t cooperativeMatrix, cooperativeMatrixRobustBufferAccess; } mhCoopMatFeatures;

typedef struct {
	int32_t sType; void* pNext;
	uint32_t vulkanMemoryModel, vulkanMemoryModelDeviceScope, vulkanMemoryModelAvailabilityVisibilityChains;
} mhMemoryModel;

// VkPhysicalDeviceFeatures2: the 55 VkBool32 of VkPhysicalDeviceFeatures.
typedef struct { int32_t sType; void* pNext; uint32_t features[55]; } mhFeatures2;

typedef struct {
	int32_t sType; void* pNext;
	uint32_t subgroupSize, supportedStages, supportedOperations, quadOperationsInAllStages;
} mhSubgroupProps;

// VkPhysicalDeviceProperties2 with room for VkPhysicalDeviceProperties.
typedef struct { int32_t sType; void* pNext; uint64_t properties[256]; } mhProperties2;

typedef struct {
	int32_t sType; void* pNext;
	uint32_t MSize, NSize, KSize;
	int32_t AType, BType, CType, DType, scope;
} mhCoopMatProps;

typedef struct { char extensionName[256]; uint32_t specVersion; } mhExtension;


typedef struct {
	uint32_t float16, storage16, coopMat, memoryModel, subgroupSize;
	uint32_t extFloat16, ext16BitStorage, extCoopMat, extMemoryModel;
	uint32_t nShapes;
	mhCoopMatProps shapes[64];
} mhQuery;

static int mhHasExt(mhExtension* exts, uint32_t n, const char* name) {
	for (uint32_t i = 0; i < n; i++) if (strcmp(exts[i].extensionName, name) == 0) return 1;
	return 0;
}

// mhQueryDevice fills q (zeroed) for the physical device pd; it returns 0,
// or -1 when the loader lacks vkGetPhysicalDeviceFeatures2.
static int mhQueryDevice(mhGetInstanceProcAddr gipa, void* instance, void* pd, mhQuery* q) {
	if (gipa == NULL) return -1;
	typedef int32_t (*enumExtsFn)(void*, const char*, uint32_t*, mhExtension*);
	typedef void (*features2Fn)(void*, void*);
	typedef void (*properties2Fn)(void*, void*);
	typedef int32_t (*coopPropsFn)(void*, uint32_t*, mhCoopMatProps*);
	enumExtsFn enumExts = (enumExtsFn)gipa(instance, "vkEnumerateDeviceExtensionProperties");
	features2Fn features2 = (features2Fn)gipa(instance, "vkGetPhysicalDeviceFeatures2");
	properties2Fn properties2 = (properties2Fn)gipa(instance, "vkGetPhysicalDeviceProperties2");
	if (enumExts == NULL || features2 == NULL || properties2 == NULL) return -1;

	uint32_t n = 0;
	if (enumExts(pd, NULL, &n, NULL) != 0) return 0;
	mhExtension* exts = calloc(n + 1, sizeof *exts);
	if (exts == NULL) return 0;
	enumExts(pd, NULL, &n, exts);
	q->extFloat16 = mhHasExt(exts, n, "VK_KHR_shader_float16_int8");
	q->ext16BitStorage = mhHasExt(exts, n, "VK_KHR_16bit_storage");
	q->extCoopMat = mhHasExt(exts, n, "VK_NV_cooperative_matrix");
	q->extMemoryModel = mhHasExt(exts, n, "VK_KHR_vulkan_memory_model");
	free(exts);

	// Only structs of listed extensions go into the chain.
	mh16BitStorage s16 = {mhPhysicalDevice16BitStorage, NULL};
	mhFloat16Int8 f16 = {mhPhysicalDeviceFloat16Int8, NULL};
	mhCoopMatFeatures cm = {mhPhysicalDeviceCoopMatFeatures, NULL};
	mhMemoryModel mm = {mhPhysicalDeviceMemoryModel, NULL};
	mhFeatures2 f2 = {mhPhysicalDeviceFeatures2, &s16};
	mhHeader* tail = (mhHeader*)&s16;
	if (q->extFloat16) { tail->pNext = &f16; tail = (mhHeader*)&f16; }
	if (q->extCoopMat) { tail->pNext = &cm; tail = (mhHeader*)&cm; }
	if (q->extMemoryModel) { tail->pNext = &mm; tail = (mhHeader*)&mm; }
	features2(pd, &f2);
	q->storage16 = s16.storageBuffer16BitAccess;
	q->float16 = q->extFloat16 && f16.shaderFloat16;
	q->coopMat = q->extCoopMat && cm.cooperativeMatrix;
	// Device scope too: with the memory model enabled, every shader's
	// device-scope atomics (the run status) need vulkanMemoryModelDeviceScope.
	q->memoryModel = q->extMemoryModel && mm.vulkanMemoryModel && mm.vulkanMemoryModelDeviceScope;

	mhSubgroupProps sg = {mhPhysicalDeviceSubgroupProps, NULL};
	mhProperties2 p2 = {mhPhysicalDeviceProperties2, &sg};
	properties2(pd, &p2);
	q->subgroupSize = sg.subgroupSize;

	if (q->coopMat) {
		coopPropsFn coopProps = (coopPropsFn)gipa(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
		uint32_t m = 0;
		if (coopProps != NULL && coopProps(pd, &m, NULL) == 0) {
			if (m > 64) m = 64;
			for (uint32_t i = 0; i < m; i++) {
				q->shapes[i].sType = mhCoopMatPropertiesNV;
				q->shapes[i].pNext = NULL;
			}
			int32_t r = coopProps(pd, &m, q->shapes);
			if (r == 0 || r == 5) q->nShapes = m; // VK_SUCCESS, VK_INCOMPLETE
		}
	}
	return 0;
}

static void mhFreeChain(void* chain);

// mhLink puts a zeroed feature struct of the given size and sType at the
// head of *head; NULL when out of memory.
static void* mhLink(mhHeader** head, size_t size, int32_t sType) {
	mhHeader* h = calloc(1, size);
	if (h == NULL) return NULL;
	h->sType = sType;
	h->pNext = *head;
	*head = h;
	return h;
}

// mhEnableChain builds the pNext chain of VkDeviceCreateInfo that enables
// f16 (arithmetic and 16-bit storage buffers) and, with coopMat,
// cooperative matrices and the memory model their shaders use;
// mhFreeChain frees it. NULL when out of memory.
static void* mhEnableChain(int coopMat) {
	mhHeader* head = NULL;
	mh16BitStorage* s = mhLink(&head, sizeof *s, mhPhysicalDevice16BitStorage);
	mhFloat16Int8* f = s ? mhLink(&head, sizeof *f, mhPhysicalDeviceFloat16Int8) : NULL;
	if (f == NULL) goto fail;
	s->storageBuffer16BitAccess = 1;
	f->shaderFloat16 = 1;
	if (coopMat) {
		mhCoopMatFeatures* cm = mhLink(&head, sizeof *cm, mhPhysicalDeviceCoopMatFeatures);
		mhMemoryModel* mm = cm ? mhLink(&head, sizeof *mm, mhPhysicalDeviceMemoryModel) : NULL;
		if (mm == NULL) goto fail;
		cm->cooperativeMatrix = 1;
		mm->vulkanMemoryModel = 1;
		mm->vulkanMemoryModelDeviceScope = 1;
	}
	return head;
fail:
	mhFreeChain(head);
	return NULL;
}

static void mhFreeChain(void* chain) {
	mhHeader* h = chain;
	while (h != NULL) {
		mhHeader* next = h->pNext;
		free(h);
		h = next;
	}
}
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// Component types and scope of VK_NV_cooperative_matrix.
const (
	componentFloat16 = 0
	componentFloat32 = 1
	scopeSubgroup    = 3
)

// coopShape is one cooperative-matrix configuration a device lists:
// A (M×K) times B (K×N) plus C into D, of the given component types.
type coopShape struct {
	M, N, K                    int
	AType, BType, CType, DType int
	Scope                      int
}

func (s coopShape) String() string {
	name := func(t int) string {
		switch t {
		case componentFloat16:
			return "f16"
		case componentFloat32:
			return "f32"
		}
		return fmt.Sprintf("type%d", t)
	}
	return fmt.Sprintf("%dx%dx%d %s·%s+%s→%s", s.M, s.N, s.K, name(s.AType), name(s.BType), name(s.CType), name(s.DType))
}

// deviceFeatures are the optional features a device has (and, once its
// context is open, that were enabled).
type deviceFeatures struct {
	float16      bool // shaderFloat16 (with VK_KHR_shader_float16_int8)
	storage16    bool // storageBuffer16BitAccess
	coopMat      bool // VK_NV_cooperative_matrix's cooperativeMatrix, with vulkanMemoryModel
	subgroupSize int
	shapes       []coopShape // cooperative-matrix configurations
	// extensions to enable at device creation
	extFloat16, ext16BitStorage, extCoopMat bool
}

// f16 reports whether f16 runs at all here: casts and matmul need 16-bit
// storage buffers and f16 arithmetic.
func (f *deviceFeatures) f16() bool { return f.float16 && f.storage16 }

// coopGemm reports whether gemm_coopmat.comp runs here: f16, subgroups of
// 32 and 16×16×16 f16 cooperative matrices accumulating in f32.
func (f *deviceFeatures) coopGemm() bool {
	if !f.f16() || !f.coopMat || f.subgroupSize != 32 {
		return false
	}
	for _, s := range f.shapes {
		if s.M == 16 && s.N == 16 && s.K == 16 && s.AType == componentFloat16 && s.BType == componentFloat16 &&
			s.CType == componentFloat32 && s.DType == componentFloat32 && s.Scope == scopeSubgroup {
			return true
		}
	}
	return false
}

// describe lists the features for logs and errors.
func (f *deviceFeatures) describe() string {
	var shapes []string
	for _, s := range f.shapes {
		shapes = append(shapes, s.String())
	}
	return fmt.Sprintf("shaderFloat16 %v, storageBuffer16BitAccess %v, cooperativeMatrixNV %v, subgroup size %d, cooperative matrix shapes [%s]",
		f.float16, f.storage16, f.coopMat, f.subgroupSize, strings.Join(shapes, ", "))
}

// queryFeatures asks the device for its optional features.
func queryFeatures(inst vk.Instance, h vk.PhysicalDevice) deviceFeatures {
	q := (*C.mhQuery)(C.calloc(1, C.size_t(unsafe.Sizeof(C.mhQuery{}))))
	if q == nil {
		return deviceFeatures{}
	}
	defer C.free(unsafe.Pointer(q))
	if C.mhQueryDevice(C.mhGetInstanceProcAddr(loaderProcAddr), unsafe.Pointer(inst), unsafe.Pointer(h), q) != 0 {
		return deviceFeatures{}
	}
	f := deviceFeatures{
		float16: q.float16 != 0, storage16: q.storage16 != 0, coopMat: q.coopMat != 0 && q.memoryModel != 0,
		subgroupSize: int(q.subgroupSize),
		extFloat16:   q.extFloat16 != 0, ext16BitStorage: q.ext16BitStorage != 0, extCoopMat: q.extCoopMat != 0,
	}
	for i := 0; i < int(q.nShapes); i++ {
		s := q.shapes[i]
		f.shapes = append(f.shapes, coopShape{M: int(s.MSize), N: int(s.NSize), K: int(s.KSize),
			AType: int(s.AType), BType: int(s.BType), CType: int(s.CType), DType: int(s.DType), Scope: int(s.scope)})
	}
	return f
}

// enableChain returns the pNext chain and the extensions that enable what
// f allows (f16 only with both of its features; cooperative matrices only
// with f16), and a function that frees the chain. f keeps only what is
// enabled.
func (f *deviceFeatures) enableChain() (unsafe.Pointer, []string, func()) {
	f16 := f.f16()
	coop := f16 && f.coopMat
	var chain unsafe.Pointer
	if f16 {
		if chain = C.mhEnableChain(C.int(b2u(coop))); chain == nil {
			f16, coop = false, false // out of host memory: run without them
		}
	}
	var exts []string
	if f16 {
		exts = append(exts, "VK_KHR_shader_float16_int8\x00")
		if f.ext16BitStorage {
			exts = append(exts, "VK_KHR_16bit_storage\x00")
		}
	}
	if coop {
		exts = append(exts, "VK_NV_cooperative_matrix\x00", "VK_KHR_vulkan_memory_model\x00")
	}
	if !f16 {
		f.float16, f.storage16 = false, false
	}
	if !coop {
		f.coopMat = false
	}
	return chain, exts, func() { C.mhFreeChain(chain) }
}
