// The functions a pipeline's expressions may call: the cty standard library
// plus file, abspath, env and goroot.

package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// maxFileFunctionBytes bounds what file() reads, so a pipeline cannot pull a
// whole corpus into an attribute by mistake.
const maxFileFunctionBytes = 16 << 20

// functions is the function table for a pipeline in dir, whose env() reads
// environ.
func functions(dir string, environ []string) map[string]function.Function {
	fns := map[string]function.Function{
		// numbers
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
		"log": stdlib.LogFunc, "max": stdlib.MaxFunc, "min": stdlib.MinFunc,
		"parseint": stdlib.ParseIntFunc, "pow": stdlib.PowFunc, "signum": stdlib.SignumFunc,
		"int": stdlib.IntFunc,
		// strings
		"chomp": stdlib.ChompFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "join": stdlib.JoinFunc, "lower": stdlib.LowerFunc,
		"regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc, "regex_replace": stdlib.RegexReplaceFunc,
		"replace": stdlib.ReplaceFunc, "split": stdlib.SplitFunc, "strlen": stdlib.StrlenFunc,
		"strrev": stdlib.ReverseFunc, "substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc,
		"trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"trimsuffix": stdlib.TrimSuffixFunc, "upper": stdlib.UpperFunc,
		// collections
		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
		"compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
		"distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc,
		"index": stdlib.IndexFunc, "keys": stdlib.KeysFunc, "length": stdlib.LengthFunc,
		"lookup": stdlib.LookupFunc, "merge": stdlib.MergeFunc, "range": stdlib.RangeFunc,
		"reverse": stdlib.ReverseListFunc, "slice": stdlib.SliceFunc, "sort": stdlib.SortFunc,
		"values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		// encodings and conversions
		"csvdecode": stdlib.CSVDecodeFunc, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"tobool": stdlib.MakeToFunc(cty.Bool), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tostring": stdlib.MakeToFunc(cty.String), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
	}
	fns["file"] = fileFunc(dir)
	fns["abspath"] = abspathFunc(dir)
	fns["env"] = envFunc(environ)
	fns["goroot"] = gorootFunc
	return fns
}

// resolve makes path absolute against dir, leaving absolute paths alone.
func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// fileFunc reads a file, relative to the pipeline's folder, as a string.
func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "The contents of a file (relative to the pipeline's folder) as a string.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder {
			return b.NotNull()
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := resolve(dir, args[0].AsString())
			info, err := os.Stat(path)
			if err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			if info.Size() > maxFileFunctionBytes {
				return cty.NilVal, function.NewArgErrorf(0, "%s is %d bytes; file() reads at most %d", path, info.Size(), maxFileFunctionBytes)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

// abspathFunc makes a path absolute against the pipeline's folder (not the
// working directory, so a pipeline means the same wherever it is run from).
func abspathFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "The path made absolute against the pipeline's folder.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal(filepath.Clean(resolve(dir, args[0].AsString()))), nil
		},
	})
}

// envFunc looks a variable up in environ; an unset variable is "".
func envFunc(environ []string) function.Function {
	return function.New(&function.Spec{
		Description: "The value of an environment variable, or \"\" when it is unset.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, _ := lookupEnv(environ, args[0].AsString())
			return cty.StringVal(v), nil
		},
	})
}

// lookupEnv finds name in a "k=v" list; the last occurrence wins, as in
// os/exec.
func lookupEnv(environ []string, name string) (string, bool) {
	val, found := "", false
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			val, found = v, true
		}
	}
	return val, found
}

var gorootFunc = function.New(&function.Spec{
	Description: "The Go installation's root (go env GOROOT).",
	Type:        function.StaticReturnType(cty.String),
	Impl: func(_ []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(goroot()), nil
	},
})

var (
	gorootOnce  sync.Once
	gorootValue string
)

// goroot asks the go command once, since a pipeline may call goroot() in
// several places; without a go command it falls back to the root this binary
// was built with.
func goroot() string {
	gorootOnce.Do(func() {
		if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
			gorootValue = strings.TrimSpace(string(out))
		}
		if gorootValue == "" {
			gorootValue = runtime.GOROOT()
		}
	})
	return gorootValue
}
