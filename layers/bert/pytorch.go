package bert

import (
	"fmt"
	"slices"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// PyTorchWeightsFile is the weights file of checkpoints saved without safetensors.
const PyTorchWeightsFile = "pytorch_model.bin"

// ptFile is a PyTorch checkpoint (torch.save's zip of a pickled state dict and its storages),
// read with github.com/nlpodyssey/gopickle, a maintained reader of that format (the pickle
// opcodes and torch's storage classes). torch.save keeps all storages in one archive, so the
// file is read whole when it is opened.
type ptFile struct {
	path    string
	tensors map[string]*pytorch.Tensor
}

// openPyTorch reads the state dict of a pytorch_model.bin.
func openPyTorch(path string) (*ptFile, error) {
	obj, err := pytorch.Load(path)
	if err != nil {
		return nil, fmt.Errorf("pytorch checkpoint %s: %w", path, err)
	}
	f := &ptFile{path: path, tensors: map[string]*pytorch.Tensor{}}
	add := func(k, v any) error {
		name, ok := k.(string)
		if !ok {
			return fmt.Errorf("pytorch checkpoint %s: state dict key %v is not a string", path, k)
		}
		t, ok := v.(*pytorch.Tensor)
		if !ok {
			return fmt.Errorf("pytorch checkpoint %s: entry %q is a %T, not a tensor", path, name, v)
		}
		f.tensors[name] = t
		return nil
	}
	switch d := obj.(type) { // torch.save writes an OrderedDict; newer pickles may hold a plain dict.
	case *types.OrderedDict:
		for k, e := range d.Map {
			if err := add(k, e.Value); err != nil {
				return nil, err
			}
		}
	case *types.Dict:
		for _, e := range *d {
			if err := add(e.Key, e.Value); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("pytorch checkpoint %s: holds a %T, not a state dict", path, obj)
	}
	return f, nil
}

func (f *ptFile) filePath() string { return f.path }
func (f *ptFile) Close() error     { return nil }

func (f *ptFile) tensorNames() []string {
	names := make([]string, 0, len(f.tensors))
	for n := range f.tensors {
		names = append(names, n)
	}
	return names
}

func (f *ptFile) has(name string) bool { _, ok := f.tensors[name]; return ok }

// readFloat32 returns tensor name in row-major order as float32 (half, bfloat16 and double
// storages are converted; integer and boolean ones are an error), following its strides and
// storage offset.
func (f *ptFile) readFloat32(name string) ([]float32, []int, error) {
	t := f.tensors[name]
	if t == nil {
		return nil, nil, fmt.Errorf("no tensor %q in %s", name, f.path)
	}
	var at func(i int) float32
	var n int
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		at, n = func(i int) float32 { return s.Data[i] }, len(s.Data)
	case *pytorch.HalfStorage:
		at, n = func(i int) float32 { return s.Data[i] }, len(s.Data)
	case *pytorch.BFloat16Storage:
		at, n = func(i int) float32 { return s.Data[i] }, len(s.Data)
	case *pytorch.DoubleStorage:
		at, n = func(i int) float32 { return float32(s.Data[i]) }, len(s.Data)
	default:
		return nil, nil, fmt.Errorf("tensor %q in %s: storage %T is not floating point", name, f.path, t.Source)
	}
	shape := slices.Clone(t.Size)
	if len(t.Stride) != len(shape) {
		return nil, nil, fmt.Errorf("tensor %q in %s: %d strides for shape %v", name, f.path, len(t.Stride), shape)
	}
	size := 1
	for _, d := range shape {
		size *= d
	}
	out := make([]float32, size)
	idx := make([]int, len(shape))
	for i := range out {
		off := t.StorageOffset
		for a, x := range idx {
			off += x * t.Stride[a]
		}
		if off < 0 || off >= n {
			return nil, nil, fmt.Errorf("tensor %q in %s: element %d lies outside its storage of %d (truncated or corrupt file)", name, f.path, i, n)
		}
		out[i] = at(off)
		for a := len(idx) - 1; a >= 0; a-- { // next row-major index.
			if idx[a]++; idx[a] < shape[a] {
				break
			}
			idx[a] = 0
		}
	}
	return out, shape, nil
}
