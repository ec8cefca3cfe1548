//go:build xla

package backend

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/pjrt"
	"github.com/gomlx/gomlx/core/graph"
)

// TestXLACPUMatchesGo runs a small graph (matmul, tanh, softmax, reduction) on xla:cpu and on
// the go backend and compares the results. It is skipped when no CPU plugin is found, unless
// $REALM_REQUIRE_XLA_CPU is set (as scripts/test.sh does).
func TestXLACPUMatchesGo(t *testing.T) {
	if _, ok := pjrt.AvailablePlugins()["cpu"]; !ok {
		skip := t.Skipf
		if os.Getenv("REALM_REQUIRE_XLA_CPU") != "" { // scripts/test.sh: a skip would hide a broken set-up.
			skip = t.Fatalf
		}
		skip("no XLA CPU PJRT plugin found (searched $%s=%q and go-xla's default paths): "+
			"run `export %s=\"$(scripts/fetch-xla-cpu.sh)\"` first",
			pjrt.PJRTPluginPathsEnv, os.Getenv(pjrt.PJRTPluginPathsEnv), pjrt.PJRTPluginPathsEnv)
	}
	t.Setenv(compute.ConfigEnvVar, "xla:cpu")
	xb, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if xb.Name() != "xla" {
		t.Fatalf("backend %q opened for xla:cpu", xb.Name())
	}
	t.Logf("%s", xb.Description())
	t.Setenv(compute.ConfigEnvVar, "")
	gb := MustNew()

	const n, k, m = 7, 33, 5
	x, y := make([][]float32, n), make([][]float32, k)
	for i := range x {
		x[i] = make([]float32, k)
		for j := range x[i] {
			x[i][j] = float32(math.Sin(float64(i*k+j))) / 4
		}
	}
	for i := range y {
		y[i] = make([]float32, m)
		for j := range y[i] {
			y[i][j] = float32(math.Cos(float64(i*m+j))) / 2
		}
	}
	fn := func(a, b *graph.Node) []*graph.Node {
		h := graph.Tanh(graph.MatMul(a, b))
		return []*graph.Node{graph.Softmax(h, -1), graph.ReduceAllSum(graph.Square(h))}
	}
	want := graph.MustExecOnceN(gb, fn, x, y)
	got := graph.MustExecOnceN(xb, fn, x, y)
	wp, gp := want[0].Value().([][]float32), got[0].Value().([][]float32)
	for i := range wp {
		for j := range wp[i] {
			if d := math.Abs(float64(wp[i][j] - gp[i][j])); d > 1e-5 {
				t.Errorf("softmax[%d][%d]: xla %v, go %v", i, j, gp[i][j], wp[i][j])
			}
		}
	}
	ws, gs := want[1].Value().(float32), got[1].Value().(float32)
	if d := math.Abs(float64(ws - gs)); d > 1e-4*math.Abs(float64(ws)) {
		t.Errorf("sum of squares: xla %v, go %v", gs, ws)
	}
}

// TestXLACUDAMissingSaysWhere: where no CUDA PJRT plugin is found (this machine), xla:cuda is an
// error that names the paths searched and the script that finds jax's plugin.
func TestXLACUDAMissingSaysWhere(t *testing.T) {
	if _, ok := pjrt.AvailablePlugins()["cuda"]; ok {
		t.Skip("a CUDA plugin is installed here")
	}
	t.Setenv(compute.ConfigEnvVar, "xla:cuda")
	_, err := New()
	if err == nil || !strings.Contains(err.Error(), "scripts/find-xla-cuda.sh") || !strings.Contains(err.Error(), "PJRT_PLUGIN_LIBRARY_PATH=\""+os.Getenv(pjrt.PJRTPluginPathsEnv)) {
		t.Errorf("xla:cuda without a plugin: %v", err)
	}
}
