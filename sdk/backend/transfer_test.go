// A 2 GiB tensor through the plugin boundary: it must stream in chunks, with
// no message near the limit and no memory beyond its destination.

package backend_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// procStatus reads a size field (VmRSS, VmHWM) of /proc/<pid>/status in
// bytes, or -1 where there is none.
func procStatus(pid, field string) int64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// resetPeakRSS makes VmHWM of this process restart from its current RSS
// (Linux: clear_refs 5); it reports whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

const mib = 1 << 20

func mibs(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/mib) }

// pattern is the value of element i of the test tensor: every bit pattern
// (NaNs included) occurs, and a misplaced chunk cannot go unnoticed.
func pattern(i int) uint32 { return uint32(i)*2654435761 + uint32(i>>20) }

// TestPluginTransfer2GiB uploads and downloads an f32 tensor of 2^29
// elements (2 GiB). It measures, on the host: the bytes allocated during each
// transfer (runtime.MemStats.TotalAlloc, garbage included) beyond the
// destination tensor, and the growth of the peak RSS (VmHWM, reset before
// each transfer); in the plugin: its peak RSS (VmHWM of the plugin process,
// whose pid comes from the client's ReattachConfig), which must hold the
// received tensor and the CPU backend's own copy of it (SetTensor copies;
// Tensor returns a copy), but not much more.
func TestPluginTransfer2GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 4 GiB through the plugin boundary and needs about 10 GiB of memory")
	}
	const n = 1 << 29
	const size = int64(n) * 4
	ctx := context.Background()
	c, pc := startPlugin(t)
	pid := strconv.Itoa(pc.ReattachConfig().Pid)

	x := graph.NewTensor(graph.F32, n)
	for i := range x.F32 {
		x.F32[i] = math.Float32frombits(pattern(i))
	}

	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	peakReset := resetPeakRSS()
	rss0 := procStatus("self", "VmRSS")
	start := time.Now()
	if err := c.SetTensor(ctx, "big", x); err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	runtime.ReadMemStats(&ms1)
	upAlloc := int64(ms1.TotalAlloc - ms0.TotalAlloc)
	upPeak := procStatus("self", "VmHWM") - rss0
	pluginAfterUp := procStatus(pid, "VmHWM")

	runtime.GC()
	runtime.ReadMemStats(&ms0)
	resetPeakRSS()
	rss0 = procStatus("self", "VmRSS")
	start = time.Now()
	y, err := c.Tensor(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	down := time.Since(start)
	runtime.ReadMemStats(&ms1)
	downAlloc := int64(ms1.TotalAlloc-ms0.TotalAlloc) - size
	downPeak := procStatus("self", "VmHWM") - rss0 - size
	pluginPeak := procStatus(pid, "VmHWM")

	runtime.KeepAlive(x) // live through the download, as a host's own copy would be

	if y.DType != graph.F32 || !y.Shape.Equal(graph.Shape{n}) || len(y.F32) != n {
		t.Fatalf("downloaded %v holding %d elements", y.Type, len(y.F32))
	}
	for i, v := range y.F32 {
		if math.Float32bits(v) != pattern(i) {
			t.Fatalf("element %d (chunk %d): bits %#x, expected %#x", i, i*4/mib, math.Float32bits(v), pattern(i))
		}
	}

	t.Logf("upload of %s: %v (%.0f MiB/s); host allocated %s; host peak RSS grew by %s",
		mibs(size), up.Round(time.Millisecond), float64(size)/mib/up.Seconds(), mibs(upAlloc), mibs(upPeak))
	t.Logf("download of %s: %v (%.0f MiB/s); host allocated %s beyond the destination; host peak RSS grew by %s beyond it",
		mibs(size), down.Round(time.Millisecond), float64(size)/mib/down.Seconds(), mibs(downAlloc), mibs(downPeak))
	t.Logf("plugin peak RSS: %s after the upload, %s after the download (%.2f× the tensor)",
		mibs(pluginAfterUp), mibs(pluginPeak), float64(pluginPeak)/float64(size))

	const slack = 64 * mib
	if upAlloc > slack {
		t.Errorf("the upload allocated %s on the host, expected under %s", mibs(upAlloc), mibs(slack))
	}
	if downAlloc > slack {
		t.Errorf("the download allocated %s on the host beyond the destination, expected under %s", mibs(downAlloc), mibs(slack))
	}
	if peakReset && rss0 > 0 {
		if upPeak > 4*slack || downPeak > 4*slack {
			t.Errorf("the host's peak RSS grew by %s (upload) and %s beyond the destination (download), expected under %s",
				mibs(upPeak), mibs(downPeak), mibs(4*slack))
		}
	}
	// The received tensor, the backend's resident copy and the copy Tensor
	// returns may all be live at once; chunk garbage must not add a fourth.
	if pluginPeak > 3*size+512*mib {
		t.Errorf("the plugin's peak RSS is %s, expected under 3× the tensor + 512 MiB", mibs(pluginPeak))
	}
}
