// Layers a student keeps as attention: a layer whose mixer is the attention
// mixer, or the hybrid mixer in a mode that makes that layer attention,
// starts as a copy of the teacher's layer (InitFromTeacher) and, as MOHAWK
// prescribes, skips the layer-wise stages (matrix orientation and
// hidden-state alignment): fitting attention to itself teaches it nothing,
// and the stage's weight decay would only move it away from the teacher.
// Stage 3 and later train it with the rest of the student.

package engine

import (
	"fmt"

	"github.com/mohawk-distill/mohawk/mixers/hybrid"
)

// keptAttention returns the replaced layers of student sm that are kept as
// the teacher's attention. A student that starts from scratch copies
// nothing from its teacher, so all its layers go through every stage.
func keptAttention(sm *studentModel) (map[int]bool, error) {
	if sm.s.InitFrom == "scratch" {
		return nil, nil
	}
	kept := map[int]bool{}
	for l, lm := range sm.mixers {
		switch sm.infos[l].Name {
		case "attention":
			kept[l] = true
		case "hybrid":
			yes, err := hybrid.IsAttentionLayer(lm.Layer.Config, l)
			if err != nil {
				return nil, fmt.Errorf("student %q, layer %d: %w", sm.s.Name, l, err)
			}
			kept[l] = yes
		}
		if !kept[l] {
			delete(kept, l)
		}
	}
	return kept, nil
}
