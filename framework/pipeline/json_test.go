// Tests that HCL's JSON form of a pipeline (a .json file) loads like the
// native syntax.

package pipeline

import "testing"

func TestLoadJSONPipeline(t *testing.T) {
	p := mustLoad(t, "testdata/minimal.json", Vars{})
	st := p.Stages[0]
	if st.ModelRef != "student.mamba" || st.Student != p.Students[0] || st.Tokens != 1e6 || st.BatchTokens != 2048 {
		t.Errorf("stage %+v", st)
	}
	if m := p.Students[0].Mixers[0]; m.Layers != nil || m.Name != "mamba2" {
		t.Errorf("mixer %+v", m)
	}
	_, diags := Load("testdata/minimal.json", Vars{Flags: []string{"x=1"}})
	if !hasDiag(diags, `the pipeline declares no variable "x"`) {
		t.Errorf("diags %v", diags)
	}
}
