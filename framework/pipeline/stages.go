// Decoding of stage and evaluate blocks, with the checks that tie a stage to
// its model, dataset and token budget.

package pipeline

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

func (l *loader) decodeStages(blocks hcl.Blocks, teachers map[string]*Teacher, students map[string]*Student, datasets map[string]*Dataset) {
	for _, b := range l.named("stage", blocks) {
		c := l.content(b.Body, stageSchema)
		a := c.Attributes
		st := &Stage{
			Name:      b.Labels[0],
			Kind:      l.enum(a, "kind", "", stageKinds),
			Optimizer: defaultOptimizer,
			Schedule:  defaultSchedule,
			Loss:      defaultLoss,
			Range:     b.DefRange,
			Ranges:    map[string]hcl.Range{},
		}
		for _, attr := range stageSchema.Attributes {
			st.Ranges[attr.Name] = rangeOr(a[attr.Name], b.DefRange)
		}
		// Nested attributes point at the stage until their block says otherwise.
		for block, schema := range map[string]*hcl.BodySchema{"optimizer": optimizerSchema, "schedule": scheduleSchema, "loss": lossSchema} {
			l.nestedRanges(st, block, schema, nil, b.DefRange)
		}
		l.p.Stages = append(l.p.Stages, st)

		l.stageModel(st, a, teachers, students)
		l.stageDataset(st, a, datasets)

		st.Tokens = l.integer(a, "tokens", 0, 1, maxInt64)
		before := len(l.diags)
		st.MicroBatch = int(l.integer(a, "micro_batch", 0, 1, maxInt))
		st.BatchTokens = l.integer(a, "batch_tokens", 0, 1, maxInt64)
		sizesOK := !l.diags[before:].HasErrors()
		st.EvalEvery = l.integer(a, "eval_every", 0, 0, maxInt64)
		st.CheckpointEvery = l.integer(a, "checkpoint_every", 0, 0, maxInt64)
		st.Train, _ = l.strList(a, "train")
		st.Freeze, _ = l.strList(a, "freeze")

		blocks := c.Blocks.ByType()
		if ob := l.single("optimizer", blocks["optimizer"]); ob != nil {
			l.decodeOptimizer(st, ob)
		}
		if sb := l.single("schedule", blocks["schedule"]); sb != nil {
			l.decodeSchedule(st, sb)
		}
		if lb := l.single("loss", blocks["loss"]); lb != nil {
			l.decodeLoss(st, lb)
		}
		if sizesOK {
			l.checkBatch(st)
		}
	}
}

// rangeOr is an attribute's whole range, or def when it is absent.
func rangeOr(attr *hcl.Attribute, def hcl.Range) hcl.Range {
	if attr == nil {
		return def
	}
	return attr.Range
}

// stageModel resolves model (default: the only student, else the only
// teacher) and checks the kind can train it.
func (l *loader) stageModel(st *Stage, a hcl.Attributes, teachers map[string]*Teacher, students map[string]*Student) {
	if a["model"] != nil {
		h, _, ok := l.ref(a, "model", nsStudent, nsTeacher)
		if !ok {
			return
		}
		st.ModelRef = h
	} else {
		switch {
		case len(l.handles[nsStudent]) == 1:
			for n := range l.handles[nsStudent] {
				st.ModelRef = nsStudent + "." + n
			}
		case len(l.handles[nsStudent]) == 0 && len(l.handles[nsTeacher]) == 1:
			for n := range l.handles[nsTeacher] {
				st.ModelRef = nsTeacher + "." + n
			}
		case len(l.handles[nsStudent]) == 0 && len(l.handles[nsTeacher]) == 0:
			l.errorf(st.Range.Ptr(), "Missing model", "Stage %q has no model to train: the pipeline declares no teacher or student block.", st.Name)
			return
		default:
			l.errorf(st.Range.Ptr(), "Ambiguous model", "Stage %q must say which model it trains (model = student.<name> or teacher.<name>); the pipeline declares several.", st.Name)
			return
		}
	}
	ns, name, _ := strings.Cut(st.ModelRef, ".")
	if ns == nsStudent {
		st.Student = students[name]
		if st.Student != nil {
			st.Teacher = st.Student.Teacher
		}
		return
	}
	st.Teacher = teachers[name]
	if studentKinds[st.Kind] {
		l.errorf(st.Ranges["model"].Ptr(), "Wrong model for stage kind",
			"A %s stage trains a student against its teacher; model is %s. Set model = student.<name> (pretrain and finetune may train a teacher).", st.Kind, st.ModelRef)
	}
}

// stageDataset resolves dataset (default: the only dataset).
func (l *loader) stageDataset(st *Stage, a hcl.Attributes, datasets map[string]*Dataset) {
	if a["dataset"] != nil {
		if h, _, ok := l.ref(a, "dataset", nsDataset); ok {
			st.Dataset = datasets[strings.TrimPrefix(h, nsDataset+".")]
		}
	} else {
		switch len(l.handles[nsDataset]) {
		case 0:
			l.errorf(st.Range.Ptr(), "Missing dataset", "Stage %q needs a dataset, and the pipeline has no dataset block.", st.Name)
		case 1:
			for n := range l.handles[nsDataset] {
				st.Dataset = datasets[n]
			}
		default:
			l.errorf(st.Range.Ptr(), "Ambiguous dataset", "Stage %q must say which dataset it reads (dataset = dataset.<name>); the pipeline declares several.", st.Name)
		}
	}
	if st.Dataset != nil && st.Dataset.Tokenizer == "teacher" && st.Teacher != nil && st.Teacher.Checkpoint == "" {
		l.errorf(st.Ranges["dataset"].Ptr(), "No teacher tokenizer",
			"Dataset %q uses the teacher's tokenizer, but teacher %q of stage %q is built from config and has no folder with a tokenizer.json.",
			st.Dataset.Name, st.Teacher.Name, st.Name)
	}
}

// checkBatch fills micro_batch and batch_tokens defaults (0 when unset) and
// checks the budget holds whole batches of whole micro-batches.
func (l *loader) checkBatch(st *Stage) {
	if st.Dataset == nil || st.Dataset.SeqLen <= 0 {
		return // reported elsewhere
	}
	seq := int64(st.Dataset.SeqLen)
	switch {
	case st.MicroBatch == 0 && st.BatchTokens == 0:
		st.MicroBatch = defaultMicroBatch
		st.BatchTokens = int64(st.MicroBatch) * seq
	case st.MicroBatch == 0:
		// The most sequences per micro-batch, up to the default, that divides the batch.
		st.MicroBatch = 1
		if st.BatchTokens%seq == 0 {
			n := st.BatchTokens / seq
			for m := int64(defaultMicroBatch); m >= 1; m-- {
				if n%m == 0 {
					st.MicroBatch = int(m)
					break
				}
			}
		}
	case st.BatchTokens == 0:
		st.BatchTokens = int64(st.MicroBatch) * seq
	}
	micro := int64(st.MicroBatch) * seq
	if micro <= 0 || micro/seq != int64(st.MicroBatch) {
		l.errorf(st.Ranges["micro_batch"].Ptr(), "Value out of range", "micro_batch %d times seq_len %d overflows.", st.MicroBatch, seq)
		return
	}
	if st.BatchTokens%micro != 0 {
		l.errorf(st.Ranges["batch_tokens"].Ptr(), "Batch not a whole number of micro-batches",
			"stage %q: batch_tokens %d must be a multiple of micro_batch*seq_len (%d*%d = %d): gradient accumulation runs whole micro-batches.",
			st.Name, st.BatchTokens, st.MicroBatch, seq, micro)
	}
	if st.Tokens > 0 && st.Tokens < st.BatchTokens {
		l.errorf(st.Ranges["tokens"].Ptr(), "Token budget smaller than one batch",
			"stage %q: tokens %d is smaller than one batch (batch_tokens %d)", st.Name, st.Tokens, st.BatchTokens)
	}
}

func (l *loader) decodeOptimizer(st *Stage, b *hcl.Block) {
	c := l.content(b.Body, optimizerSchema)
	a := c.Attributes
	l.nestedRanges(st, "optimizer", optimizerSchema, a, b.DefRange)
	o := &st.Optimizer
	o.LR = l.number(a, "lr", o.LR, 0, noLimit)
	o.Eps = l.number(a, "eps", o.Eps, 0, noLimit)
	o.WeightDecay = l.number(a, "weight_decay", o.WeightDecay, 0, noLimit)
	o.Clip = l.number(a, "clip", o.Clip, 0, noLimit)
	if v, attr, ok := l.typed(a, "betas", cty.List(cty.Number)); ok {
		rng := attr.Expr.Range()
		if v.LengthInt() != 2 {
			l.errorf(rng.Ptr(), "Invalid betas", "betas must be a list of two numbers [beta1, beta2]; found %d numbers.", v.LengthInt())
			return
		}
		b1, _ := v.Index(cty.NumberIntVal(0)).AsBigFloat().Float64()
		b2, _ := v.Index(cty.NumberIntVal(1)).AsBigFloat().Float64()
		if b1 < 0 || b1 >= 1 || b2 < 0 || b2 >= 1 {
			l.errorf(rng.Ptr(), "Invalid betas", "Each beta must be at least 0 and below 1; found [%g, %g].", b1, b2)
			return
		}
		o.Beta1, o.Beta2 = b1, b2
	}
}

func (l *loader) decodeSchedule(st *Stage, b *hcl.Block) {
	c := l.content(b.Body, scheduleSchema)
	a := c.Attributes
	l.nestedRanges(st, "schedule", scheduleSchema, a, b.DefRange)
	s := &st.Schedule
	s.Kind = l.enum(a, "kind", s.Kind, scheduleKinds)
	s.Warmup = l.number(a, "warmup", s.Warmup, 0, 1)
	s.Decay = l.number(a, "decay", s.Decay, 0, 1)
	s.MinLR = l.number(a, "min_lr", s.MinLR, 0, noLimit)
	if s.Warmup+s.Decay > 1 {
		l.errorf(st.Ranges["schedule.decay"].Ptr(), "Schedule too long",
			"warmup %g plus decay %g is more than the whole stage (1).", s.Warmup, s.Decay)
	}
	if s.MinLR > st.Optimizer.LR && a["min_lr"] != nil {
		l.errorf(st.Ranges["schedule.min_lr"].Ptr(), "Value out of range", "min_lr %g is above the learning rate %g.", s.MinLR, st.Optimizer.LR)
	}
}

func (l *loader) decodeLoss(st *Stage, b *hcl.Block) {
	c := l.content(b.Body, lossSchema)
	a := c.Attributes
	l.nestedRanges(st, "loss", lossSchema, a, b.DefRange)
	s := &st.Loss
	s.Target = l.enum(a, "target", s.Target, lossTargets)
	s.Temperature = l.number(a, "temperature", s.Temperature, 0, noLimit)
	if s.Temperature == 0 {
		l.errorf(st.Ranges["loss.temperature"].Ptr(), "Value out of range", "temperature must be above 0.")
		s.Temperature = defaultLoss.Temperature
	}
	s.HardLabelWeight = l.number(a, "hard_label_weight", s.HardLabelWeight, 0, noLimit)
	if v, attr, ok := l.value(a, "memory_budget"); ok {
		if n, ok := l.byteSize(v, attr.Expr.Range()); ok {
			s.MemoryBudget = n
		}
	}
}

// nestedRanges records a nested block's attribute ranges as "block.attr".
func (l *loader) nestedRanges(st *Stage, block string, schema *hcl.BodySchema, a hcl.Attributes, def hcl.Range) {
	st.Ranges[block] = def
	for _, attr := range schema.Attributes {
		st.Ranges[block+"."+attr.Name] = rangeOr(a[attr.Name], def)
	}
}

var byteSizePattern = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$`)

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// byteSize reads a size: a number of bytes or a string such as "512MiB".
func (l *loader) byteSize(v cty.Value, rng hcl.Range) (int64, bool) {
	var f float64
	switch v.Type() {
	case cty.Number:
		f, _ = v.AsBigFloat().Float64()
	case cty.String:
		m := byteSizePattern.FindStringSubmatch(v.AsString())
		unit, known := 0.0, false
		if m != nil {
			unit, known = byteUnits[strings.ToLower(m[2])]
		}
		if !known {
			l.errorf(rng.Ptr(), "Invalid size", "memory_budget must be a number of bytes or a size such as \"512MiB\" or \"2GB\"; found %q.", v.AsString())
			return 0, false
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		f = n * unit
	default:
		l.errorf(rng.Ptr(), "Incorrect attribute value type", "memory_budget must be a number of bytes or a size string; found %s.", valueWord(v))
		return 0, false
	}
	if f < 1 || f >= math.MaxInt64 || math.IsNaN(f) {
		l.errorf(rng.Ptr(), "Value out of range", "memory_budget must be at least 1 byte and fit in 64 bits; found %s.", fmt.Sprint(f))
		return 0, false
	}
	return int64(f), true
}

// decodeEvaluate reads the evaluate block, or fills its defaults: the first
// stage's dataset, 100_000 tokens.
func (l *loader) decodeEvaluate(blocks hcl.Blocks, datasets map[string]*Dataset) {
	ev := &Evaluate{Tokens: defaultEvalTokens}
	for _, st := range l.p.Stages {
		if st.Dataset != nil {
			ev.Dataset = st.Dataset
			break
		}
	}
	if ev.Dataset == nil && len(l.p.Datasets) == 1 {
		ev.Dataset = l.p.Datasets[0]
	}
	if b := l.single("evaluate", blocks); b != nil {
		c := l.content(b.Body, evaluateSchema)
		ev.Range = b.DefRange
		if c.Attributes["dataset"] != nil {
			if h, _, ok := l.ref(c.Attributes, "dataset", nsDataset); ok {
				ev.Dataset = datasets[strings.TrimPrefix(h, nsDataset+".")]
			}
		}
		ev.Tokens = l.integer(c.Attributes, "tokens", ev.Tokens, 1, maxInt64)
	}
	if ev.Dataset != nil {
		l.p.Evaluate = ev
	}
}
