// mohawk inspect: what stage 1 of MOHAWK fits, drawn. For a prompt, the
// teacher's post-softmax attention matrix of each chosen layer and head is
// drawn beside the student mixer's materialised mixing matrix computed on
// the same input (the teacher's normed residual stream u_l entering that
// layer, as matrix orientation trains it), one PNG per layer and head;
// with -metrics, a run's loss curves too.

package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/plot"
	"github.com/mohawk-distill/mohawk/framework/report"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

const inspectUsage = `usage: mohawk inspect -checkpoint STUDENT_DIR -teacher TEACHER_DIR (-prompt TEXT | -data FILE) -out DIR [-layers 0,1] [-heads 0,1] [-seq-len N] [-metrics FILE]

For the prompt (or the start of FILE), draws the teacher's attention
probabilities of each chosen layer and head beside the student mixer's
mixing matrix on the same input (the teacher's normed hidden state entering
the layer, as matrix orientation compares them), one PNG per layer and head
in DIR: DIR/layer<L>-head<H>.png, rows are query positions (top to bottom),
columns key positions. The Frobenius distance of each pair is printed.
With -metrics (a run's metrics.jsonl), its loss curves are drawn into DIR too.

flags:
`

func runInspect(args []string) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	studentDir := fs.String("checkpoint", "", "saved student folder (required)")
	teacherDir := fs.String("teacher", "", "the student's teacher folder (required)")
	prompt := fs.String("prompt", "", "text whose matrices are drawn")
	dataFile := fs.String("data", "", "a text file whose start is used instead of -prompt")
	layersFlag := fs.String("layers", "", "comma-separated layers; default: every layer the student replaces")
	headsFlag := fs.String("heads", "0", "comma-separated heads")
	seqLen := fs.Int("seq-len", 128, "tokens of the prompt used at most")
	tok := fs.String("tokenizer", "", `"bytes" or a tokenizer.json; default: the teacher folder's tokenizer.json, else bytes`)
	out := fs.String("out", "", "folder for the PNGs (required)")
	metrics := fs.String("metrics", "", "a run's metrics.jsonl whose loss curves to draw as well")
	logLevel := fs.String("log-level", defaultLogLevel, "level of the log on stderr: trace, debug, info, warn, error")
	fs.Usage = func() { fmt.Fprint(fs.Output(), inspectUsage); fs.PrintDefaults() }
	if pos, err := parseInterleaved(fs, args); err != nil {
		return flagExit(err)
	} else if len(pos) > 0 {
		fmt.Fprintf(os.Stderr, "mohawk inspect: unexpected arguments %q\n", pos)
		return 2
	}
	if *studentDir == "" || *teacherDir == "" || *out == "" || (*prompt == "") == (*dataFile == "") {
		fmt.Fprintln(os.Stderr, "mohawk inspect: -checkpoint, -teacher, -out and one of -prompt and -data are required")
		fs.Usage()
		return 2
	}
	layers, err := intList(*layersFlag)
	if err == nil && len(layers) == 0 && *layersFlag != "" {
		err = fmt.Errorf("no layers in %q", *layersFlag)
	}
	heads, herr := intList(*headsFlag)
	if err != nil || herr != nil || len(heads) == 0 {
		fmt.Fprintf(os.Stderr, "mohawk inspect: -layers %q, -heads %q: want comma-separated non-negative integers such as 0,1\n", *layersFlag, *headsFlag)
		return 2
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk inspect:", err)
		return 2
	}
	text := *prompt
	if *dataFile != "" {
		raw, err := os.ReadFile(*dataFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mohawk inspect:", err)
			return 1
		}
		text = string(raw)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "mohawk inspect:", err)
		return 1
	}
	ins := inspection{studentDir: *studentDir, teacherDir: *teacherDir, layers: layers, heads: heads, seqLen: *seqLen, tokenizer: *tok, out: *out}
	ctx := context.Background()
	ins.resolve = mixerResolver(logger)
	files, err := ins.draw(ctx, text)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk inspect:", err)
		return 1
	}
	if *metrics != "" {
		plots, err := report.Plots(*out, *metrics)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mohawk inspect:", err)
			return 1
		}
		files = append(files, plots...)
	}
	for _, f := range files {
		fmt.Println("wrote", f)
	}
	return 0
}

// intList parses "0,1, 3" (empty: none).
func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a non-negative integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// inspection is one mohawk inspect.
type inspection struct {
	studentDir, teacherDir string
	layers, heads          []int
	seqLen                 int
	tokenizer, out         string
	resolve                func(context.Context, string) (mixer.Mixer, error)
}

// studentPrefix keeps the student's mixer params apart from the teacher's
// in the one graph that computes both.
const studentPrefix = "student/"

// draw computes the matrices for text and writes the PNGs.
func (ins *inspection) draw(ctx context.Context, text string) ([]string, error) {
	scfg, infos, sfolder, err := models.LoadStudent(ins.studentDir)
	if err != nil {
		return nil, err
	}
	defer sfolder.Close()
	tfolder, err := checkpoint.LoadFolder(ins.teacherDir)
	if err != nil {
		return nil, err
	}
	defer tfolder.Close()
	tcfg, err := models.ConfigFromHF(tfolder)
	if err != nil {
		return nil, err
	}
	if a, b := tcfg.FamilyConfig(), scfg.FamilyConfig(); !reflect.DeepEqual(a, b) {
		return nil, fmt.Errorf("the student in %s was built from another config than the teacher in %s:\n  student %+v\n  teacher %+v", ins.studentDir, ins.teacherDir, b, a)
	}
	layers := ins.layers
	if len(layers) == 0 {
		for l := range infos {
			layers = append(layers, l)
		}
		sort.Ints(layers)
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("the student in %s replaces no layer: there is no mixing matrix to draw", ins.studentDir)
	}
	for _, l := range layers {
		if _, ok := infos[l]; !ok {
			replaced := make([]int, 0, len(infos))
			for r := range infos {
				replaced = append(replaced, r)
			}
			sort.Ints(replaced)
			return nil, fmt.Errorf("layer %d: the student keeps the teacher's attention there; it replaces layers %v", l, replaced)
		}
	}

	tk, err := modelTokenizer(ins.teacherDir, ins.tokenizer)
	if err != nil {
		return nil, err
	}
	if tk.VocabSize() > tcfg.Vocab() {
		return nil, fmt.Errorf("the tokenizer has %d ids, the teacher in %s only %d: give the teacher's tokenizer with -tokenizer", tk.VocabSize(), ins.teacherDir, tcfg.Vocab())
	}
	ids := tk.Encode(text)
	if limit := min(ins.seqLen, maxPositions(ins.teacherDir)); limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	if len(ids) < 2 {
		return nil, fmt.Errorf("the prompt has %d tokens; want at least 2 to draw a matrix", len(ids))
	}
	t := len(ids)

	// The teacher's first blocks up to the last chosen layer, its taps, and
	// each chosen layer's student mixing matrix on the teacher's u_l.
	b := graph.NewBuilder()
	last := layers[len(layers)-1]
	lm, err := models.BuildModel(ctx, b, tcfg, graph.F32, 1, models.BuildOptions{SeqLen: t, Layers: last + 1})
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	for _, l := range layers {
		taps := lm.Layers[l]
		if taps.Probs == graph.NoValue {
			return nil, fmt.Errorf("teacher layer %d exposes no attention probabilities", l)
		}
		b.Output(fmt.Sprintf("probs/%d", l), taps.Probs)
		m, err := ins.resolve(ctx, infos[l].Name)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		mi, err := m.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("layer %d: mixer %s: %w", l, infos[l].Name, err)
		}
		if !mi.Capabilities.MixingMatrix {
			return nil, fmt.Errorf("layer %d: mixer %s has no mixing matrix to draw", l, infos[l].Name)
		}
		conf, err := models.UnmarshalMixerConfig(infos[l].Config, mi.Schema)
		if err != nil {
			return nil, fmt.Errorf("layer %d: mixer %s configuration: %w", l, infos[l].Name, err)
		}
		layer := mixer.Layer{Config: conf, Dims: tcfg.LayerDims(1, t, l, graph.F32)}
		if _, err := m.Params(ctx, layer); err != nil {
			return nil, fmt.Errorf("layer %d: mixer %s: %w", l, infos[l].Name, err)
		}
		frag, err := m.MixingMatrix(ctx, layer)
		if err != nil {
			return nil, fmt.Errorf("layer %d: mixer %s: %w", l, infos[l].Name, err)
		}
		outs, err := b.Inline(frag, studentPrefix+scfg.MixerPrefix(l), map[string]graph.Value{mixer.InputU: taps.Input})
		if err != nil {
			return nil, fmt.Errorf("layer %d: mixing matrix: %w", l, err)
		}
		b.Output(fmt.Sprintf("matrix/%d", l), outs[mixer.OutputMatrix])
	}
	g, err := b.Build()
	if err != nil {
		return nil, err
	}

	be := cpu.New(cpu.Options{Threads: runtime.GOMAXPROCS(0)})
	defer be.Close()
	teacherParams, err := models.LoadWeights(lm, tfolder)
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	for _, v := range g.Leaves(graph.OpParam) {
		n := g.Nodes[v]
		w, ok := teacherParams[n.Name]
		if name, student := strings.CutPrefix(n.Name, studentPrefix); student {
			if w, err = sfolder.Tensor(name); err != nil {
				return nil, fmt.Errorf("student %s: %w", ins.studentDir, err)
			}
			if !w.Shape.Equal(n.Type.Shape) {
				return nil, fmt.Errorf("student %s: %s: expected shape %v, found %v", ins.studentDir, name, n.Type.Shape, w.Shape)
			}
		} else if !ok {
			return nil, fmt.Errorf("teacher %s: no tensor %s", ins.teacherDir, n.Name)
		}
		if err := be.SetTensor(n.Name, w); err != nil {
			return nil, err
		}
	}
	prog, err := be.Compile(g)
	if err != nil {
		return nil, err
	}
	tokens := graph.NewTensor(graph.I32, 1, t)
	for i, id := range ids {
		tokens.I32[i] = id
	}
	res, err := prog.Run(map[string]*graph.Tensor{"tokens": tokens})
	if err != nil {
		return nil, err
	}

	var files []string
	for _, l := range layers {
		probs, matrix := res[fmt.Sprintf("probs/%d", l)], res[fmt.Sprintf("matrix/%d", l)]
		th, sh := probs.Shape[1], matrix.Shape[1]
		for _, h := range ins.heads {
			if h >= th || h >= sh {
				return files, fmt.Errorf("head %d: the teacher has %d heads and the student's layer %d %d", h, th, l, sh)
			}
			a, m := headMatrix(probs, h, t), headMatrix(matrix, h, t)
			dist := 0.0
			for i := range a {
				dist += (a[i] - m[i]) * (a[i] - m[i])
			}
			path := filepath.Join(ins.out, fmt.Sprintf("layer%d-head%d.png", l, h))
			title := fmt.Sprintf("layer %d, head %d, %d tokens: ‖M − A‖_F = %.3g", l, h, t, math.Sqrt(dist))
			err := plot.Heatmaps(path, []plot.Matrix{
				{Title: "teacher attention A", Rows: t, Cols: t, Data: a},
				{Title: "student mixing matrix M", Rows: t, Cols: t, Data: m},
			}, title)
			if err != nil {
				return files, err
			}
			fmt.Printf("layer %d head %d: ‖M − A‖_F = %.4g\n", l, h, math.Sqrt(dist))
			files = append(files, path)
		}
	}
	return files, nil
}

// headMatrix is head h's [T,T] matrix of x [1,H,T,T] as float64s.
func headMatrix(x *graph.Tensor, h, t int) []float64 {
	out := make([]float64, t*t)
	for i := range out {
		out[i] = x.At(h*t*t + i)
	}
	return out
}
