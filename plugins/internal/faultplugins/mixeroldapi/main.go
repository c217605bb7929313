// Command mixeroldapi is a mixer plugin for the tests of the plugin host: a
// small mixer whose Info reports mixer API version 99. The host must refuse
// it with an error naming the plugin, its version and the host's.
package main

import (
	"github.com/mohawk-distill/mohawk/plugins/internal/faultplugins/faultmixer"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

func main() {
	mixer.Serve(faultmixer.Mixer{Name: "oldapi", APIVersion: 99})
}
