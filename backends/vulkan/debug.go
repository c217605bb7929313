//go:build cgo

// Validation messages: with the Khronos validation layer on
// (ValidationEnv=1, or sync to add its synchronization validation; or
// EnableValidation), a VK_EXT_debug_utils messenger hands every warning and
// error the layer reports to mohawkValidationMessage, which keeps it for
// ValidationMessages and logs it on stderr (a plugin's stderr lines reach
// the host's log at the level their [WARN] or [ERROR] prefix names).
//
// The binding predates the extension's callback type, so the structs are
// declared here (their layout is fixed by the Vulkan ABI) and the calls go
// through the loader's vkGetInstanceProcAddr. The layer may call back on
// any thread, during any Vulkan call: the Go side copies the strings and
// takes only its own mutex.

package vulkan

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*mohawkVkVoidFn)(void);
typedef mohawkVkVoidFn (*mohawkVkGetInstanceProcAddr)(void* instance, const char* name);

// VkDebugUtilsMessengerCallbackDataEXT.
typedef struct {
	int32_t sType;
	const void* pNext;
	uint32_t flags;
	const char* pMessageIdName;
	int32_t messageIdNumber;
	const char* pMessage;
	uint32_t queueLabelCount;
	const void* pQueueLabels;
	uint32_t cmdBufLabelCount;
	const void* pCmdBufLabels;
	uint32_t objectCount;
	const void* pObjects;
} mohawkMessengerData;

typedef uint32_t (*mohawkMessengerFn)(uint32_t severity, uint32_t types, const mohawkMessengerData* data, void* user);

// VkDebugUtilsMessengerCreateInfoEXT.
typedef struct {
	int32_t sType;
	const void* pNext;
	uint32_t flags;
	uint32_t messageSeverity;
	uint32_t messageType;
	mohawkMessengerFn pfnUserCallback;
	void* pUserData;
} mohawkMessengerInfo;

// VkExtensionProperties.
typedef struct {
	char extensionName[256];
	uint32_t specVersion;
} mohawkExtensionProperties;

typedef int32_t (*mohawkEnumerateExtensions)(const char* layer, uint32_t* n, mohawkExtensionProperties* props);
typedef int32_t (*mohawkCreateMessenger)(void* instance, const mohawkMessengerInfo* info, const void* allocator, uint64_t* messenger);

// Defined in Go (validationMessage).
extern void mohawkValidationMessage(uint32_t severity, uint32_t types, char* id, int32_t number, char* text);

static uint32_t mohawkMessengerCallback(uint32_t severity, uint32_t types, const mohawkMessengerData* data, void* user) {
	mohawkValidationMessage(severity, types, (char*)data->pMessageIdName, data->messageIdNumber, (char*)data->pMessage);
	return 0; // VK_FALSE: the call that triggered the message goes on
}

// mohawkHasExtension reports whether layer (NULL: the loader and drivers)
// offers the instance extension name.
static int mohawkHasExtension(mohawkVkGetInstanceProcAddr gipa, const char* layer, const char* name) {
	mohawkEnumerateExtensions f = (mohawkEnumerateExtensions)gipa(NULL, "vkEnumerateInstanceExtensionProperties");
	if (f == NULL) return 0;
	uint32_t n = 0;
	if (f(layer, &n, NULL) != 0 || n == 0) return 0;
	mohawkExtensionProperties* props = calloc(n, sizeof *props);
	if (props == NULL) return 0;
	int found = 0;
	if (f(layer, &n, props) >= 0) {
		for (uint32_t i = 0; i < n; i++) {
			if (strcmp(props[i].extensionName, name) == 0) found = 1;
		}
	}
	free(props);
	return found;
}

// mohawkMessengerCreateInfo returns the messenger's create info (warnings
// and errors of every type), in C memory that is never freed: it also
// chains into the instance's create info, so vkCreateInstance and
// vkDestroyInstance report too.
static mohawkMessengerInfo* mohawkMessengerCreateInfo(void) {
	mohawkMessengerInfo* info = calloc(1, sizeof *info);
	if (info == NULL) return NULL;
	info->sType = 1000128004; // VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT
	info->messageSeverity = 0x100 | 0x1000; // WARNING, ERROR
	info->messageType = 0x1 | 0x2 | 0x4; // GENERAL, VALIDATION, PERFORMANCE
	info->pfnUserCallback = mohawkMessengerCallback;
	return info;
}

// VkValidationFeaturesEXT.
typedef struct {
	int32_t sType;
	const void* pNext;
	uint32_t enabledValidationFeatureCount;
	const int32_t* pEnabledValidationFeatures;
	uint32_t disabledValidationFeatureCount;
	const int32_t* pDisabledValidationFeatures;
} mohawkValidationFeatures;

// mohawkSyncValidation returns, in C memory that is never freed, the
// instance create info's link that turns synchronization validation on,
// chained to next.
static mohawkValidationFeatures* mohawkSyncValidation(const void* next) {
	mohawkValidationFeatures* f = calloc(1, sizeof *f);
	int32_t* enable = calloc(1, sizeof *enable);
	if (f == NULL || enable == NULL) {
		free(f);
		free(enable);
		return NULL;
	}
	*enable = 4; // VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT
	f->sType = 1000247000; // VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT
	f->pNext = next;
	f->enabledValidationFeatureCount = 1;
	f->pEnabledValidationFeatures = enable;
	return f;
}

static int32_t mohawkCreateMessengerOn(mohawkVkGetInstanceProcAddr gipa, void* instance, const mohawkMessengerInfo* info, uint64_t* messenger) {
	mohawkCreateMessenger f = (mohawkCreateMessenger)gipa(instance, "vkCreateDebugUtilsMessengerEXT");
	if (f == NULL) return -7; // VK_ERROR_EXTENSION_NOT_PRESENT
	return f(instance, info, NULL, messenger);
}
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

const (
	validationLayer = "VK_LAYER_KHRONOS_validation"
	debugUtilsExt   = "VK_EXT_debug_utils"
	// validationFeaturesExt lets the instance's create info turn on
	// synchronization validation.
	validationFeaturesExt = "VK_EXT_validation_features"
	maxValidationLog      = 1000 // messages kept for ValidationMessages
)

// ValidationMessage is one warning or error of the validation layer.
type ValidationMessage struct {
	Severity string // "error" or "warning"
	Types    string // "validation", "performance" or "general", joined by "|"
	ID       string // the message id name, such as "VUID-vkCmdDispatch-None-02697"
	Text     string
}

func (m ValidationMessage) String() string {
	return fmt.Sprintf("%s (%s) %s: %s", m.Severity, m.Types, m.ID, m.Text)
}

var validation struct {
	mu        sync.Mutex
	requested bool // EnableValidation was called
	sync      bool // with synchronization validation
	active    bool // the layer and the messenger are on
	syncOn    bool // and synchronization validation
	messages  []ValidationMessage
	dropped   int
}

// EnableValidation turns the Khronos validation layer and its messenger on
// for this process, as ValidationEnv=1 does; with sync, also the layer's
// synchronization validation (hazards between commands that lack a
// barrier), as ValidationEnv=sync does. The instance is created once, on
// the first New or Devices, so it must come before those; ValidationOn
// tells whether it took effect.
func EnableValidation(sync bool) {
	validation.mu.Lock()
	defer validation.mu.Unlock()
	validation.requested = true
	validation.sync = validation.sync || sync
}

// ValidationOn reports whether the instance was created with the
// validation layer and a messenger that records its messages, and whether
// synchronization validation is on too.
func ValidationOn() (on, sync bool) {
	validation.mu.Lock()
	defer validation.mu.Unlock()
	return validation.active, validation.syncOn
}

// ValidationMessages returns the warnings and errors the validation layer
// reported since the last call (the first maxValidationLog of them, then
// one message counting the rest) and forgets them.
func ValidationMessages() []ValidationMessage {
	validation.mu.Lock()
	defer validation.mu.Unlock()
	out := validation.messages
	if validation.dropped > 0 {
		out = append(out, ValidationMessage{Severity: "error", Types: "general", ID: "mohawk-validation-dropped",
			Text: fmt.Sprintf("%d more messages were logged but not kept", validation.dropped)})
	}
	validation.messages, validation.dropped = nil, 0
	return out
}

// validationRequested reads EnableValidation's choice and ValidationEnv:
// 1 for the layer's default checks, sync for synchronization validation
// as well.
func validationRequested() (on, sync bool) {
	validation.mu.Lock()
	defer validation.mu.Unlock()
	env := os.Getenv(ValidationEnv)
	return validation.requested || env == "1" || env == "sync", validation.sync || env == "sync"
}

//export mohawkValidationMessage
func mohawkValidationMessage(severity, types C.uint32_t, id *C.char, number C.int32_t, text *C.char) {
	m := ValidationMessage{Severity: "warning", ID: C.GoString(id), Text: C.GoString(text)}
	if severity&0x1000 != 0 {
		m.Severity = "error"
	}
	var ts []string
	for _, t := range []struct {
		bit  C.uint32_t
		name string
	}{{0x2, "validation"}, {0x4, "performance"}, {0x1, "general"}} {
		if types&t.bit != 0 {
			ts = append(ts, t.name)
		}
	}
	m.Types = strings.Join(ts, "|")
	if m.ID == "" {
		m.ID = fmt.Sprintf("%#x", uint32(number))
	}
	recordValidation(m)
}

func recordValidation(m ValidationMessage) {
	validation.mu.Lock()
	defer validation.mu.Unlock()
	if len(validation.messages) < maxValidationLog {
		validation.messages = append(validation.messages, m)
	} else {
		validation.dropped++
	}
	level := "[WARN]"
	if m.Severity == "error" {
		level = "[ERROR]"
	}
	// One line per message, so a plugin host logs it as one record.
	text := strings.Join(strings.Fields(m.Text), " ")
	fmt.Fprintf(os.Stderr, "%s vulkan validation (%s) %s: %s\n", level, m.Types, m.ID, text)
}

// validationSetup decides, before vkCreateInstance, what validation adds
// to the instance: the layer, the debug utils extension and the
// messenger's create info to chain into the instance's (nil when the
// extension is missing). Without the layer it says so on stderr.
type validationSetup struct {
	layers, extensions []string
	next               unsafe.Pointer // the chain for the instance's create info
	messenger          *C.mohawkMessengerInfo
	sync               bool
	gipa               C.mohawkVkGetInstanceProcAddr
}

func newValidationSetup() validationSetup {
	var s validationSetup
	on, sync := validationRequested()
	if !on {
		return s
	}
	if !hasLayer(validationLayer) {
		fmt.Fprintf(os.Stderr, "[WARN] vulkan: validation was asked for (%s=1) but %s is not installed (Debian: vulkan-validationlayers)\n", ValidationEnv, validationLayer)
		return s
	}
	s.layers = []string{validationLayer + "\x00"}
	s.gipa = C.mohawkVkGetInstanceProcAddr(loaderProcAddr)
	cext := C.CString(debugUtilsExt)
	defer C.free(unsafe.Pointer(cext))
	clayer := C.CString(validationLayer)
	defer C.free(unsafe.Pointer(clayer))
	if s.gipa == nil || C.mohawkHasExtension(s.gipa, clayer, cext) == 0 && C.mohawkHasExtension(s.gipa, nil, cext) == 0 {
		fmt.Fprintf(os.Stderr, "[WARN] vulkan: %s without %s: its messages go to its default output and are not recorded\n", validationLayer, debugUtilsExt)
		return s
	}
	s.extensions = []string{debugUtilsExt + "\x00"}
	s.messenger = C.mohawkMessengerCreateInfo()
	s.next = unsafe.Pointer(s.messenger)
	if sync {
		cfeat := C.CString(validationFeaturesExt)
		defer C.free(unsafe.Pointer(cfeat))
		if C.mohawkHasExtension(s.gipa, clayer, cfeat) == 0 {
			fmt.Fprintf(os.Stderr, "[WARN] vulkan: %s offers no %s: synchronization validation is off\n", validationLayer, validationFeaturesExt)
		} else if f := C.mohawkSyncValidation(s.next); f != nil {
			s.extensions = append(s.extensions, validationFeaturesExt+"\x00")
			s.next, s.sync = unsafe.Pointer(f), true
		}
	}
	return s
}

// start registers the messenger on inst; where that fails the backend
// runs on, with the layer's default output only.
func (s validationSetup) start(inst vk.Instance) {
	if s.messenger == nil {
		return
	}
	var messenger C.uint64_t
	if res := C.mohawkCreateMessengerOn(s.gipa, unsafe.Pointer(inst), s.messenger, &messenger); res != 0 {
		fmt.Fprintf(os.Stderr, "[WARN] vulkan: vkCreateDebugUtilsMessengerEXT: %v; validation messages are not recorded\n", vk.Error(vk.Result(res)))
		return
	}
	validation.mu.Lock()
	validation.active, validation.syncOn = true, s.sync
	validation.mu.Unlock()
}
