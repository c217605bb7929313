package mixer

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Check reports a spec that cannot be realised.
func (s ParamSpec) Check() error {
	if s.Name == "" {
		return fmt.Errorf("a parameter has no name")
	}
	if len(s.Shape) == 0 {
		return fmt.Errorf("parameter %q has no shape", s.Name)
	}
	for _, d := range s.Shape {
		if d <= 0 {
			return fmt.Errorf("parameter %q has shape %v, expected positive dimensions", s.Name, s.Shape)
		}
	}
	switch s.Init.Kind {
	case InitNormal:
		if !(s.Init.Std >= 0) {
			return fmt.Errorf("parameter %q: normal init needs std ≥ 0, found %v", s.Name, s.Init.Std)
		}
	case InitUniform:
		if !(s.Init.Low <= s.Init.High) {
			return fmt.Errorf("parameter %q: uniform init needs low ≤ high, found %v, %v", s.Name, s.Init.Low, s.Init.High)
		}
	case InitConstant:
	case InitConvIdentity:
		if len(s.Shape) != 2 {
			return fmt.Errorf("parameter %q: conv identity init needs taps [C,K], found shape %v", s.Name, s.Shape)
		}
	default:
		return fmt.Errorf("parameter %q: unknown init kind %d", s.Name, s.Init.Kind)
	}
	return nil
}

// Realize draws the parameter's initial value. The stream is derived from
// seed and the parameter's full name, so a value does not depend on which
// other parameters exist or in which order they are drawn.
func (s ParamSpec) Realize(fullName string, dt graph.DType, seed uint64) (*graph.Tensor, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte(fullName))
	r := rand.New(rand.NewPCG(seed, h.Sum64()))
	t := graph.NewTensor(dt, s.Shape...)
	for i := 0; i < t.Len(); i++ {
		var v float64
		switch s.Init.Kind {
		case InitNormal:
			v = s.Init.Std * r.NormFloat64()
		case InitUniform:
			v = s.Init.Low + (s.Init.High-s.Init.Low)*r.Float64()
		case InitConstant:
			v = s.Init.Value
		case InitConvIdentity:
			if i%s.Shape[1] == s.Shape[1]-1 {
				v = 1
			}
		}
		t.Set(i, v)
	}
	return t, nil
}
