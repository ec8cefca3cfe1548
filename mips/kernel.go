package mips

// panelWidth is the number of documents stored interleaved in one panel of the exact index:
// panel p holds documents 16p…16p+15 laid out [d][16], so that one query scalar times one
// panel row yields 16 partial scores in two SIMD registers.
const panelWidth = 16

func kernelBatchGeneric(a, p []float32, d int, c *[kernelRows * panelWidth]float32) {
	*c = [kernelRows * panelWidth]float32{}
	for k := 0; k < d; k++ {
		pk := p[k*panelWidth : k*panelWidth+panelWidth]
		for i := 0; i < kernelRows; i++ {
			x := a[k*kernelRows+i]
			ci := c[i*panelWidth : i*panelWidth+panelWidth]
			for j, v := range pk {
				ci[j] += x * v
			}
		}
	}
}

func kernel1x4Generic(q, p []float32, d int, c *[4 * panelWidth]float32) {
	*c = [4 * panelWidth]float32{}
	stride := d * panelWidth
	for t := 0; t < 4; t++ {
		pt := p[t*stride : (t+1)*stride]
		ct := c[t*panelWidth : (t+1)*panelWidth]
		for k := 0; k < d; k++ {
			x := q[k]
			pk := pt[k*panelWidth : k*panelWidth+panelWidth]
			for j, v := range pk {
				ct[j] += x * v
			}
		}
	}
}

func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
