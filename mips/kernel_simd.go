//go:build amd64 && goexperiment.simd

package mips

import "simd/archsimd"

// useSIMD reports whether the AVX2+FMA kernels below can run on this CPU.
var useSIMD = archsimd.X86.AVX2() && archsimd.X86.FMA()

// kernelRows is the number of queries the batched micro-kernel handles at once.
const kernelRows = 6

// kernel6x16AVX2 is the batched micro-kernel in assembly (kernel_amd64.s): twelve YMM
// accumulators for 6 queries × 16 documents, panel rows loaded once and query scalars
// broadcast, VFMADD231PS accumulating in place. Written in assembly because the same loop
// in simd/archsimd made the Go register allocator spill and shuffle accumulators (1.5k vs
// 3k+ queries/s in batches of 256 at N=100k).
//
//go:noescape
func kernel6x16AVX2(a, p *float32, d int, c *float32)

// kernelBatch computes the kernelRows×panelWidth block
// c[i*panelWidth+j] = Σ_k a[k*kernelRows+i]·p[k*panelWidth+j]: packed queries (a, laid out
// [d][kernelRows]) against one panel of 16 documents (p, laid out [d][16]).
func kernelBatch(a, p []float32, d int, c *[kernelRows * panelWidth]float32) {
	if !useSIMD || d == 0 {
		kernelBatchGeneric(a, p, d, c)
		return
	}
	_ = a[d*kernelRows-1]
	_ = p[d*panelWidth-1]
	kernel6x16AVX2(&a[0], &p[0], d, &c[0])
}

// kernel1x4 computes the scores of one query q (length d) against four consecutive panels
// (p, laid out [4][d][16]), writing 64 scores to c. Eight independent accumulators hide
// the FMA latency; used for single queries, where the work is memory bound.
func kernel1x4(q, p []float32, d int, c *[4 * panelWidth]float32) {
	if !useSIMD {
		kernel1x4Generic(q, p, d, c)
		return
	}
	var c0, c1, c2, c3, c4, c5, c6, c7 archsimd.Float32x8
	q = q[:d]
	stride := d * panelWidth
	p0 := p[0*stride : 1*stride]
	p1 := p[1*stride : 2*stride]
	p2 := p[2*stride : 3*stride]
	p3 := p[3*stride : 4*stride]
	for k := 0; k < d; k++ {
		x := archsimd.BroadcastFloat32x8(q[k])
		o := k * panelWidth
		c0 = x.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(p0[o:o+8])), c0)
		c1 = x.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(p0[o+8:o+16])), c1)
		c2 = x.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(p1[o:o+8])), c2)
		c3 = x.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(p1[o+8:o+16])), c3)
		c4 = x.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(p2[o:o+8])), c4)
		c5 = x.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(p2[o+8:o+16])), c5)
		c6 = x.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(p3[o:o+8])), c6)
		c7 = x.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(p3[o+8:o+16])), c7)
	}
	c0.Store((*[8]float32)(c[0:8]))
	c1.Store((*[8]float32)(c[8:16]))
	c2.Store((*[8]float32)(c[16:24]))
	c3.Store((*[8]float32)(c[24:32]))
	c4.Store((*[8]float32)(c[32:40]))
	c5.Store((*[8]float32)(c[40:48]))
	c6.Store((*[8]float32)(c[48:56]))
	c7.Store((*[8]float32)(c[56:64]))
	archsimd.ClearAVXUpperBits()
}

// dot returns Σ a[i]·b[i] over len(a) elements (len(b) ≥ len(a)); the HNSW distance kernel.
func dot(a, b []float32) float32 {
	n := len(a)
	if !useSIMD || n < 32 {
		return dotGeneric(a, b)
	}
	b = b[:n]
	var s0, s1, s2, s3 archsimd.Float32x8
	i := 0
	for ; i+32 <= n; i += 32 {
		s0 = archsimd.LoadFloat32x8((*[8]float32)(a[i:i+8])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(b[i:i+8])), s0)
		s1 = archsimd.LoadFloat32x8((*[8]float32)(a[i+8:i+16])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(b[i+8:i+16])), s1)
		s2 = archsimd.LoadFloat32x8((*[8]float32)(a[i+16:i+24])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(b[i+16:i+24])), s2)
		s3 = archsimd.LoadFloat32x8((*[8]float32)(a[i+24:i+32])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(b[i+24:i+32])), s3)
	}
	for ; i+8 <= n; i += 8 {
		s0 = archsimd.LoadFloat32x8((*[8]float32)(a[i:i+8])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(b[i:i+8])), s0)
	}
	s := s0.Add(s1).Add(s2.Add(s3))
	v := s.GetLo().Add(s.GetHi())
	var t [4]float32
	v.Store(&t)
	archsimd.ClearAVXUpperBits()
	r := (t[0] + t[2]) + (t[1] + t[3])
	for ; i < n; i++ {
		r += a[i] * b[i]
	}
	return r
}
