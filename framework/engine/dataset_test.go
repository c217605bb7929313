package engine

import (
	"strings"
	"testing"
)

func TestMaxTokensCapsCorpus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := strings.Replace(tinyTeacher, "validation = 0.05", "validation = 0.05\n  max_tokens = 40000", 1)
	p := writePipeline(t, dir, "cap.hcl", src)
	e := open(t, p, testOptions(t))
	c, err := e.corpus(p.Datasets[0], e.teachers["tiny"])
	if err != nil {
		t.Fatal(err)
	}
	// The four files hold about 123k bytes of about 31k each: two are
	// taken, the second crossing the budget.
	if n := c.tokens.Len(); n < 40000 || n > 40000+32000 {
		t.Errorf("capped corpus has %d tokens, expected 40000 to one file more", n)
	}

	p2 := writePipeline(t, t.TempDir(), "nocap.hcl", tinyTeacher)
	e2 := open(t, p2, testOptions(t))
	c2, err := e2.corpus(p2.Datasets[0], e2.teachers["tiny"])
	if err != nil {
		t.Fatal(err)
	}
	if c2.tokens.Len() < 120000 {
		t.Errorf("uncapped corpus has %d tokens", c2.tokens.Len())
	}
}
