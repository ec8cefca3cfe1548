//go:build !(amd64 && goexperiment.simd)

package mips

// useSIMD is false in builds without GOEXPERIMENT=simd on amd64: the portable kernels run.
const useSIMD = false

// kernelRows is the number of queries the batched micro-kernel handles at once.
const kernelRows = 6

// kernelBatch is the portable version of the kernelRows-query × 16-document micro-kernel.
func kernelBatch(a, p []float32, d int, c *[kernelRows * panelWidth]float32) {
	kernelBatchGeneric(a, p, d, c)
}

// kernel1x4 is the portable version of the single-query × 64-document kernel.
func kernel1x4(q, p []float32, d int, c *[4 * panelWidth]float32) {
	kernel1x4Generic(q, p, d, c)
}

// dot returns Σ a[i]·b[i] over len(a) elements.
func dot(a, b []float32) float32 { return dotGeneric(a, b) }
