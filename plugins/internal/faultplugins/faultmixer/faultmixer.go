// Package faultmixer is the small mixer the mixer fault plugins of the
// plugin host's tests are made of: y = u·scale over the channels, with one
// parameter, scale [C], that starts at 1. Each fault plugin changes one
// thing about it.
package faultmixer

import (
	"context"
	"errors"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// Mixer is the fault plugins' mixer.
type Mixer struct {
	// Name is the name Info reports.
	Name string
	// APIVersion is the mixer API version Info reports; 0 means
	// mixer.APIVersion.
	APIVersion int
	// BeforeForward, if set, runs at the start of Forward.
	BeforeForward func()
}

var _ mixer.Mixer = Mixer{}

func (m Mixer) Info(context.Context) (*mixer.Info, error) {
	v := m.APIVersion
	if v == 0 {
		v = mixer.APIVersion
	}
	return &mixer.Info{Name: m.Name, Version: "0.0.1", APIVersion: v}, nil
}

func (m Mixer) Params(_ context.Context, l mixer.Layer) ([]mixer.ParamSpec, error) {
	return []mixer.ParamSpec{{
		Name: "scale", Shape: []int{l.Dims.DModel},
		Init: mixer.Init{Kind: mixer.InitConstant, Value: 1}, NoDecay: true,
	}}, nil
}

func (m Mixer) Forward(_ context.Context, l mixer.Layer) (*graph.Graph, error) {
	if m.BeforeForward != nil {
		m.BeforeForward()
	}
	d := l.Dims
	b := graph.NewBuilder()
	u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
	scale := b.Param("scale", d.DType, d.DModel)
	b.Output(mixer.OutputY, b.Mul(u, scale))
	return b.Build()
}

// The optional fragments are not declared (Capabilities is zero), so the
// host never asks for them.

func (Mixer) MixingMatrix(context.Context, mixer.Layer) (*graph.Graph, error) {
	return nil, errNotDeclared
}

func (Mixer) Step(context.Context, mixer.Layer) (*graph.Graph, error) { return nil, errNotDeclared }

func (Mixer) InitFromTeacher(context.Context, mixer.Layer) (*graph.Graph, error) {
	return nil, errNotDeclared
}

var errNotDeclared = errors.New("not a capability of this mixer")
