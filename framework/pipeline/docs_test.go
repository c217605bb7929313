package pipeline

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestDocsHCLParses parses every ```hcl block of the docs and READMEs, so
// no example a user copies is invalid HCL (the pipeline's own checks are
// the other tests'; these are often fragments).
func TestDocsHCLParses(t *testing.T) {
	var files []string
	for _, pat := range []string{"../../docs/*.md", "../../README.md", "../../examples/*/README.md", "../../*/*/README.md"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	block := regexp.MustCompile("(?s)```hcl\n(.*?)```")
	blocks := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatchIndex(src, -1) {
			blocks++
			line := 1 + strings.Count(string(src[:m[2]]), "\n")
			_, diags := hclsyntax.ParseConfig(src[m[2]:m[3]], f, hcl.Pos{Line: line, Column: 1, Byte: m[2]})
			for _, d := range diags {
				t.Errorf("%s: %s: %s", d.Subject, d.Summary, d.Detail)
			}
		}
	}
	if blocks < 10 {
		t.Fatalf("found only %d hcl blocks in %d files", blocks, len(files))
	}
	t.Logf("%d hcl blocks in %d files parse", blocks, len(files))
}
