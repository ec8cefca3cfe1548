package bert

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"

	"github.com/realm-go/realm/internal/atomicfile"
)

// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON mapping tensor names to {dtype, shape, data_offsets}
// (offsets relative to the end of the header), then the raw little-endian tensor data.
// go-huggingface's models/safetensors only opens files through a hub.Repo, which needs the
// network, hence this small local reader/writer.

// maxHeaderSize bounds the JSON header we accept (the reference implementation uses 100 MB).
const maxHeaderSize = 100 << 20

// stEntry is one tensor of a safetensors header.
type stEntry struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// stFile is an open safetensors file whose header has been parsed and checked.
type stFile struct {
	path    string
	f       *os.File
	dataOff int64 // offset of the data section in the file.
	tensors map[string]stEntry
}

// dtypeSize returns the element size of a safetensors dtype, or 0 if unknown.
func dtypeSize(dt string) int {
	switch dt {
	case "F64", "I64", "U64":
		return 8
	case "F32", "I32", "U32":
		return 4
	case "F16", "BF16", "I16", "U16":
		return 2
	case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2":
		return 1
	}
	return 0
}

// openSafetensors opens path and validates its header: the header must fit in the file,
// every dtype must be known, and every tensor's byte range must match its shape and lie
// inside the data section. Errors name the file and, where it applies, the tensor.
func openSafetensors(path string) (*stFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := parseSafetensors(path, f)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return st, nil
}

func parseSafetensors(path string, f *os.File) (*stFile, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	size := info.Size()
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("safetensors %s: truncated file (%d bytes): cannot read the 8-byte header length", path, size)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeaderSize || int64(n) > size-8 {
		return nil, fmt.Errorf("safetensors %s: corrupt or truncated file: header length %d exceeds the file size %d",
			path, n, size)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, fmt.Errorf("safetensors %s: reading header: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("safetensors %s: corrupt header JSON: %w", path, err)
	}
	st := &stFile{path: path, f: f, dataOff: 8 + int64(n), tensors: make(map[string]stEntry, len(raw))}
	dataSize := size - st.dataOff
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors %s: tensor %q: corrupt header entry: %w", path, name, err)
		}
		es := dtypeSize(e.DType)
		if es == 0 {
			return nil, fmt.Errorf("safetensors %s: tensor %q: unknown dtype %q", path, name, e.DType)
		}
		numel := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors %s: tensor %q: negative dimension in shape %v", path, name, e.Shape)
			}
			numel *= int64(d)
		}
		start, end := int64(e.Offsets[0]), int64(e.Offsets[1])
		if start < 0 || end < start || end-start != numel*int64(es) {
			return nil, fmt.Errorf("safetensors %s: tensor %q: data_offsets %v do not match dtype %s shape %v (%d bytes)",
				path, name, e.Offsets, e.DType, e.Shape, numel*int64(es))
		}
		if end > dataSize {
			return nil, fmt.Errorf("safetensors %s: corrupt or truncated file: tensor %q data_offsets %v go beyond the %d-byte data section",
				path, name, e.Offsets, dataSize)
		}
		st.tensors[name] = e
	}
	return st, nil
}

// Close closes the underlying file.
func (s *stFile) Close() error { return s.f.Close() }

func (s *stFile) filePath() string { return s.path }

func (s *stFile) shape(name string) []int { return slices.Clone(s.tensors[name].Shape) }

func (s *stFile) has(name string) bool {
	_, ok := s.tensors[name]
	return ok
}

func (s *stFile) tensorNames() []string {
	names := make([]string, 0, len(s.tensors))
	for n := range s.tensors {
		names = append(names, n)
	}
	return names
}

// readInto reads tensor name into dst in chunks as float32, converting F16 and BF16; any other
// dtype is an error naming the tensor and the file.
func (s *stFile) readInto(name string, dst []float32) error {
	e, ok := s.tensors[name]
	if !ok {
		return fmt.Errorf("safetensors %s: no tensor %q", s.path, name)
	}
	if e.DType != "F32" && e.DType != "F16" && e.DType != "BF16" {
		return fmt.Errorf("safetensors %s: tensor %q: dtype mismatch: %s cannot be loaded into a float32 variable (want F32, F16 or BF16)",
			s.path, name, e.DType)
	}
	n := e.Offsets[1] - e.Offsets[0]
	if err := decodeFloats(dst, io.NewSectionReader(s.f, s.dataOff+int64(e.Offsets[0]), int64(n)), e.DType); err != nil {
		return fmt.Errorf("safetensors %s: tensor %q: %w", s.path, name, err)
	}
	return nil
}

// Float32Tensor is a row-major float32 tensor for WriteSafetensors.
type Float32Tensor struct {
	Shape []int
	Data  []float32
}

// WriteSafetensors writes float32 tensors to path in the safetensors format, atomically.
// Tensors are stored in name order so the same content always gives the same bytes.
func WriteSafetensors(path string, ts map[string]Float32Tensor) error {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	header := make(map[string]any, len(ts)+1)
	header["__metadata__"] = map[string]string{"format": "pt"}
	off := 0
	for _, n := range names {
		t := ts[n]
		if numel(t.Shape) != len(t.Data) {
			return fmt.Errorf("safetensors %s: tensor %q: shape %v needs %d values, got %d", path, n, t.Shape, numel(t.Shape), len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[n] = stEntry{DType: "F32", Shape: shape, Offsets: [2]int{off, off + 4*len(t.Data)}}
		off += 4 * len(t.Data)
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	for len(hb)%8 != 0 { // data section aligned to 8 bytes, as the reference writer does.
		hb = append(hb, ' ')
	}
	buf := make([]byte, 8+len(hb)+off)
	binary.LittleEndian.PutUint64(buf, uint64(len(hb)))
	copy(buf[8:], hb)
	p := 8 + len(hb)
	for _, n := range names {
		for _, v := range ts[n].Data {
			binary.LittleEndian.PutUint32(buf[p:], math.Float32bits(v))
			p += 4
		}
	}
	return atomicfile.WriteFile(path, buf)
}
