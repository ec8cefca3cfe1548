package backend

import (
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
)

func TestNewRunsAGraph(t *testing.T) {
	t.Setenv(compute.ConfigEnvVar, "")
	if got := Config(); got != DefaultConfig {
		t.Fatalf("Config() = %q with $%s empty, want %q", got, compute.ConfigEnvVar, DefaultConfig)
	}
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	got := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node { return graph.ReduceAllSum(x) }, []float32{1, 2, 3})
	if v := got.Value().(float32); v != 6 {
		t.Fatalf("sum = %v, want 6", v)
	}
}

func TestNewBadConfig(t *testing.T) {
	t.Setenv(compute.ConfigEnvVar, "no-such-backend")
	if _, err := New(); err == nil {
		t.Fatal("New() with an unknown backend succeeded, want an error")
	}
}
