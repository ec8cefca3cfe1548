package bert

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
)

// floatSize is the size in bytes of an element of the floating-point dtypes a checkpoint
// tensor can be read from as float32 (safetensors' names), 0 for any other.
func floatSize(dtype string) int {
	switch dtype {
	case "F16", "BF16":
		return 2
	case "F32":
		return 4
	case "F64":
		return 8
	}
	return 0
}

// decodeFloats fills dst with len(dst) little-endian elements of dtype (F16, BF16, F32 or F64)
// read from r, converted to float32. It reads through a small buffer, so the only large
// allocation of a tensor read is dst itself (the 6.8 GB index of a released REALM model is read
// straight into its final slice).
func decodeFloats(dst []float32, r io.Reader, dtype string) error {
	size := floatSize(dtype)
	if size == 0 {
		return fmt.Errorf("dtype %s is not floating point", dtype)
	}
	buf := make([]byte, 1<<20)
	for done := 0; done < len(dst); {
		n := min(len(dst)-done, len(buf)/size)
		b := buf[:n*size]
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("reading element %d of %d: %w", done, len(dst), err)
		}
		out := dst[done : done+n]
		switch dtype {
		case "F32":
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case "F16":
			for i := range out {
				out[i] = float16.Float16(binary.LittleEndian.Uint16(b[2*i:])).Float32()
			}
		case "BF16":
			for i := range out {
				out[i] = bfloat16.FromBits(binary.LittleEndian.Uint16(b[2*i:])).Float32()
			}
		case "F64":
			for i := range out {
				out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
			}
		}
		done += n
	}
	return nil
}
