package engine

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestOpenStageChecks(t *testing.T) {
	t.Parallel()
	src := `
teacher "small" {
  config = { model_type = "gpt2", vocab_size = 200, n_embd = 32, n_layer = 2, n_head = 2, n_positions = 16 }
}
dataset "text" {
  files   = ["{{TEXT}}/*.txt"]
  seq_len = 32
}
dataset "nothing" {
  files   = ["{{TEXT}}/*.nosuch"]
  seq_len = 8
}
stage "pre" {
  kind         = "pretrain"
  model        = teacher.small
  dataset      = dataset.text
  tokens       = 1024
  batch_tokens = 1024
  micro_batch  = 32
}
`
	diags, text := openDiags(t, src)
	t.Log(text)
	want := map[string]hcl.DiagnosticSeverity{
		`seq_len 32 is longer than teacher "small"'s 16 learned positions`:   hcl.DiagError,
		`its tokenizer has 257 ids but teacher "small"'s vocabulary has 200`: hcl.DiagError,
		`dataset "nothing" matches no file yet`:                              hcl.DiagWarning,
	}
	for msg, sev := range want {
		found := false
		for _, d := range diags {
			if strings.Contains(d.Detail, msg) && d.Severity == sev && d.Subject != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("no diagnostic %q", msg)
		}
	}
}
