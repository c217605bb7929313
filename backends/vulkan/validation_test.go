//go:build cgo

package vulkan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/backendtest"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// validationChildEnv marks the process TestValidation starts: there the
// instance is created with the layer, and TestValidationChild runs.
const validationChildEnv = "MOHAWK_VULKAN_VALIDATION_CHILD"

// TestValidation runs TestValidationChild in a process of its own with the
// Khronos validation layer and its synchronization validation on (the
// instance, and so the layer, is chosen once per process). It skips where
// the layer is not installed, or fails with MOHAWK_VULKAN_REQUIRE=1.
func TestValidation(t *testing.T) {
	if os.Getenv(validationChildEnv) == "1" {
		t.Skip("this is the child")
	}
	if err := loadLoader(); err != nil {
		validationSkip(t, "no Vulkan here: %v", err)
	}
	pauseGC()
	installed := hasLayer(validationLayer)
	resumeGC()
	if !installed {
		validationSkip(t, "%s is not installed (Debian: vulkan-validationlayers)", validationLayer)
	}
	args := []string{"-test.run=^TestValidationChild$", "-test.v", "-test.count=1"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), validationChildEnv+"=1", ValidationEnv+"=sync")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("with %s: %v\n%s", validationLayer, err, out)
	}
	if strings.Contains(string(out), "--- SKIP: TestValidationChild") {
		validationSkip(t, "the child process skipped:\n%s", out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if _, msg, ok := strings.Cut(line, ".go:"); ok && strings.Contains(line, "validation:") {
			// Without the child's file:line prefix.
			if _, msg, ok = strings.Cut(msg, ": "); ok {
				t.Log(msg)
			}
		}
	}
}

func validationSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("MOHAWK_VULKAN_REQUIRE") == "1" {
		t.Fatalf(format+" (MOHAWK_VULKAN_REQUIRE=1)", args...)
	}
	t.Skipf(format, args...)
}

// allowed says which messages do not fail the run: the hazards that
// synchronization validation finds on binding 1, the run's status. The
// layer judges a dispatch by every access its shader could make: every
// kernel binds the status there, eltwise and fused read it only when a
// run-time flag marks the dispatch as gated, and rows, gather, scatter and
// scatter_rows write it only where a check fails (cross_entropy's, in rows,
// chosen by a specialization constant). The layer evaluates neither, so it
// sees a read or a write in every such dispatch; the backend orders the
// accesses that happen (a barrier before a gated step that follows a
// check). Every other message fails the test, warnings (none seen so far)
// included; a hazard on a tensor's binding is a missing barrier.
func allowed(m ValidationMessage) bool {
	return strings.HasPrefix(m.ID, "SYNC-HAZARD-") && strings.Contains(m.Text, "binding #1 index 0")
}

// TestValidationChild, in TestValidation's process: a deliberate error
// shows that messages are recorded, then the conformance suite and a few
// training steps of a small transformer (fusion, in-place optimizer
// updates, profiling, both matmul kernels and both scatter_add forms) run
// with the layer on; every error or warning it reports fails the test,
// except the status hazards that allowed explains.
func TestValidationChild(t *testing.T) {
	if os.Getenv(validationChildEnv) != "1" {
		t.Skip("runs as TestValidation's subprocess, with the validation layer on")
	}
	open := func(t *testing.T, opts Options) *Backend {
		t.Helper()
		b, err := New(opts)
		if errors.Is(err, ErrNoLoader) || errors.Is(err, ErrNoDevice) {
			validationSkip(t, "no Vulkan here: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		return b
	}
	b := open(t, Options{})
	if on, sync := ValidationOn(); !on || !sync {
		t.Fatalf("%s=sync, yet the instance has validation %v, synchronization validation %v", ValidationEnv, on, sync)
	}
	t.Logf("validation: on with synchronization validation, device %s", b.DeviceName())
	var bad []string
	total, statusHazards := 0, 0
	collect := func(stage string) {
		ms := ValidationMessages()
		total += len(ms)
		for _, m := range ms {
			if allowed(m) {
				statusHazards++
			} else {
				bad = append(bad, stage+": "+m.String())
			}
		}
	}
	collect("start-up")

	t.Run("Recorded", func(t *testing.T) {
		// A buffer with no usage flags is invalid; the layer reports it
		// (and refuses the call, or the driver creates a buffer that is
		// destroyed at once).
		c := b.c
		c.lock()
		var buf vk.Buffer
		res := vk.CreateBuffer(c.dev, &vk.BufferCreateInfo{
			SType: vk.StructureTypeBufferCreateInfo, Size: 64, SharingMode: vk.SharingModeExclusive,
		}, nil, &buf)
		if res == vk.Success {
			vk.DestroyBuffer(c.dev, buf, nil)
		}
		c.unlock()
		found := false
		for _, m := range ValidationMessages() {
			t.Logf("validation: the deliberate error: %v", m)
			if m.Severity == "error" && strings.Contains(m.ID+m.Text, "VkBufferCreateInfo") {
				found = true
			}
		}
		if !found {
			t.Error("a buffer created with no usage flags left no error among the recorded messages")
		}
	})

	t.Run("Conformance", func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) backend.Backend { return open(t, Options{}) },
			backendtest.Options{Large: !testing.Short(), Skip: func(op graph.Op, dt graph.DType) bool { return dt == graph.F64 }})
	})
	collect("conformance")

	t.Run("Training", func(t *testing.T) {
		trainSteps(t, open(t, Options{Profile: true}), "default kernels")
	})
	collect("training")

	t.Run("TrainingOtherKernels", func(t *testing.T) {
		// Every aligned product through gemm.comp with 128×128 tiles, the
		// others through matmul.comp's 128×128 tiles, scatter_add listing
		// rows first, and no fusion.
		oldGemm, oldGemmBig := gemmFrom, gemmBigTiles
		oldBig, oldScatter := bigTiles, scatterRowsFrom
		gemmFrom, gemmBigTiles, bigTiles, scatterRowsFrom = 1, 1, 1, 1
		defer func() {
			gemmFrom, gemmBigTiles, bigTiles, scatterRowsFrom = oldGemm, oldGemmBig, oldBig, oldScatter
		}()
		trainSteps(t, open(t, Options{Profile: true, NoFusion: true}), "other kernels")
	})
	collect("training, other kernels")

	for _, s := range bad {
		t.Error(namePipelines(b.c, s))
	}
	t.Logf("validation: %d messages besides the deliberate one: %d hazards on the status binding (allowed), %d failing the test", total, statusHazards, len(bad))
}

// trainSteps runs three AdamW steps of a one-block transformer language
// model (token embeddings, RMSNorm, 4-head causal attention with RoPE,
// LayerNorm, a GELU MLP, cross-entropy over 256 tokens) and checks the
// first loss against the reference interpreter and that the loss falls.
func trainSteps(t *testing.T, b *Backend, what string) {
	const (
		batch, seq, vocab, d, heads = 4, 64, 256, 64, 4
		hd                          = d / heads
		beta1, beta2, eps           = 0.9, 0.99, 1e-8
	)
	gb := graph.NewBuilder()
	f32 := graph.F32
	ids := gb.Input("ids", graph.I32, batch*seq)
	labels := gb.Input("labels", graph.I32, batch*seq)
	lr := gb.Input("lr", f32) // with Adam's bias corrections folded in
	shapes := []struct {
		name  string
		shape []int
	}{
		{"emb", []int{vocab, d}}, {"norm1", []int{d}}, {"qkv", []int{3 * d, d}}, {"out", []int{d, d}},
		{"norm2", []int{d}}, {"norm2b", []int{d}}, {"up", []int{4 * d, d}}, {"upb", []int{4 * d}},
		{"down", []int{d, 4 * d}}, {"head", []int{vocab, d}},
	}
	params := map[string]graph.Value{}
	var wrt []graph.Value
	for _, p := range shapes {
		v := gb.Param(p.name, f32, p.shape...)
		params[p.name] = v
		wrt = append(wrt, v)
	}
	x := gb.Reshape(gb.Gather(params["emb"], ids), batch, seq, d)
	h := nn.Linear(gb, gb.RMSNorm(x, params["norm1"], 1e-5), params["qkv"], graph.NoValue)
	split := func(i int) graph.Value {
		part := gb.Reshape(gb.SliceAxis(h, 2, i*d, (i+1)*d), batch, seq, heads, hd)
		return gb.Transpose(part, 0, 2, 1, 3)
	}
	q, k, v := nn.RoPE(gb, split(0), hd, 10000, 0), nn.RoPE(gb, split(1), hd, 10000, 0), split(2)
	att := nn.CausalAttention(gb, q, k, v, 1/math.Sqrt(hd), 0, 0)
	att = gb.Reshape(gb.Transpose(att, 0, 2, 1, 3), batch, seq, d)
	x = gb.Add(x, nn.Linear(gb, att, params["out"], graph.NoValue))
	h = gb.LayerNorm(x, params["norm2"], params["norm2b"], 1e-5)
	h = nn.GeluTanh(gb, nn.Linear(gb, h, params["up"], params["upb"]))
	x = gb.Add(x, nn.Linear(gb, h, params["down"], graph.NoValue))
	logits := gb.Reshape(nn.Linear(gb, x, params["head"], graph.NoValue), batch*seq, vocab)
	loss := gb.Reshape(gb.Mean(gb.CrossEntropy(logits, labels)))
	grads, err := graph.Grad(gb, loss, wrt)
	if err != nil {
		t.Fatal(err)
	}
	gb.Output("loss", loss)
	for i, p := range shapes {
		w, g := wrt[i], grads[i]
		m := gb.State(p.name+".m", f32, p.shape...)
		s := gb.State(p.name+".v", f32, p.shape...)
		m1 := gb.Add(gb.MulScalar(m, beta1), gb.MulScalar(g, 1-beta1))
		s1 := gb.Add(gb.MulScalar(s, beta2), gb.MulScalar(gb.Square(g), 1-beta2))
		step := gb.Div(m1, gb.AddScalar(gb.Sqrt(s1), eps))
		gb.Update(m, m1)
		gb.Update(s, s1)
		gb.Update(w, gb.Sub(gb.MulScalar(w, 1-1e-4), gb.Mul(lr, step)))
	}
	g, err := gb.Build()
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	residents := map[string]*graph.Tensor{}
	for _, p := range shapes {
		w := graph.NewTensor(f32, p.shape...)
		for i := range w.F32 {
			w.F32[i] = float32(r.NormFloat64() * 0.1)
		}
		if strings.HasPrefix(p.name, "norm") && !strings.HasSuffix(p.name, "b") {
			for i := range w.F32 {
				w.F32[i] = 1
			}
		}
		residents[p.name] = w
		residents[p.name+".m"] = graph.NewTensor(f32, p.shape...)
		residents[p.name+".v"] = graph.NewTensor(f32, p.shape...)
	}
	for name, w := range residents {
		if err := b.SetTensor(ctx, name, w); err != nil {
			t.Fatal(err)
		}
	}
	id, err := b.Compile(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*graph.Tensor{"ids": graph.NewTensor(graph.I32, batch*seq), "labels": graph.NewTensor(graph.I32, batch*seq)}
	for i := range in["ids"].I32 {
		tok := int32((i*7 + i/seq) % vocab)
		in["ids"].I32[i] = tok
		in["labels"].I32[i] = (tok*3 + 1) % vocab
	}
	lrAt := func(step int) *graph.Tensor {
		const base = 1e-2
		return graph.FromF32([]float32{float32(base * math.Sqrt(1-math.Pow(beta2, float64(step))) / (1 - math.Pow(beta1, float64(step))))})
	}
	ref := map[string]*graph.Tensor{"lr": lrAt(1)}
	for k, v := range residents {
		ref[k] = v
	}
	for k, v := range in {
		ref[k] = v
	}
	want, _, err := graph.Evaluate(g, ref)
	if err != nil {
		t.Fatal(err)
	}
	var losses []float32
	for step := 1; step <= 3; step++ {
		in["lr"] = lrAt(step)
		out, err := b.Run(ctx, id, in)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, out["loss"].F32[0])
	}
	if w := want["loss"].F32[0]; math.Abs(float64(losses[0]-w)) > 1e-4*math.Abs(float64(w)) {
		t.Errorf("first loss %v, the reference interpreter's %v", losses[0], w)
	}
	if steps, err := b.Profile(id); err != nil || len(steps) == 0 {
		t.Errorf("profile of the training step: %d dispatches, %v", len(steps), err)
	}
	if l := losses; !(l[2] < l[0]) || math.IsNaN(float64(l[2])) {
		t.Errorf("losses %v do not fall", l)
	}
	t.Logf("validation: training losses %v (%s)", losses, what)
}

// namePipelines appends to each pipeline handle of a message its shader,
// op and dtype codes, so that a report says which kernel it is about.
func namePipelines(c *deviceContext, msg string) string {
	c.lock()
	defer c.unlock()
	for k, p := range c.pipes {
		h := fmt.Sprintf("VkPipeline %#x[]", uintptr(unsafe.Pointer(p)))
		msg = strings.ReplaceAll(msg, h, fmt.Sprintf("%s (%s op %d dt %d)", strings.TrimSuffix(h, "[]"), k.shader, k.op, k.dt))
	}
	return msg
}
