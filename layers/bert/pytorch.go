package bert

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path"
	"slices"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// PyTorchWeightsFile is the weights file of checkpoints saved without safetensors.
const PyTorchWeightsFile = "pytorch_model.bin"

// ptFile is a PyTorch checkpoint: torch.save's zip archive of a pickled state dict (data.pkl)
// and one raw little-endian record per storage (data/<key>). The pickle is read with
// github.com/nlpodyssey/gopickle, a maintained reader of the pickle opcodes and of torch's
// tensor and storage classes; the storages are not: each tensor is read from its record when it
// is asked for, in chunks, so a 6.8 GB block_emb costs its float32 slice and no more. (Files in
// torch's legacy, pre-1.6 format are read whole by gopickle's pytorch.Load.)
type ptFile struct {
	path    string
	zr      *zip.ReadCloser // nil for a legacy file.
	records map[string]*zip.File
	tensors map[string]*pytorch.Tensor
	keys    map[pytorch.StorageInterface]ptStorage // storage → its record.
}

// ptStorage is a storage of a zip checkpoint: its record, dtype and element count.
type ptStorage struct {
	key, dtype string // dtype in safetensors' names (F32, F16, BF16, F64, or the storage class).
	size       int
}

// ptStorageClasses are the torch storages a state dict may hold, by class name: gopickle's
// class and the dtype decodeFloats reads (the class name itself for the integer and boolean
// ones, which it refuses).
var ptStorageClasses = map[string]ptStorageClass{
	"FloatStorage": {"F32", &pytorch.FloatStorageClass{}}, "HalfStorage": {"F16", &pytorch.HalfStorageClass{}},
	"BFloat16Storage": {"BF16", &pytorch.BFloat16StorageClass{}}, "DoubleStorage": {"F64", &pytorch.DoubleStorageClass{}},
	"LongStorage": {"LongStorage", &pytorch.LongStorageClass{}}, "IntStorage": {"IntStorage", &pytorch.IntStorageClass{}},
	"BoolStorage": {"BoolStorage", &pytorch.BoolStorageClass{}}, "ByteStorage": {"ByteStorage", &pytorch.ByteStorageClass{}},
}

// ptStorageClass is a torch storage class of a zip checkpoint, with its dtype: New makes the
// gopickle storage object that _rebuild_tensor_v2 expects, without data.
type ptStorageClass struct {
	dtype string
	pytorch.StorageClassInterface
}

// openPyTorch reads the state dict of a pytorch_model.bin (not its storages).
func openPyTorch(filePath string) (*ptFile, error) {
	zr, err := zip.OpenReader(filePath)
	if err != nil {
		if isZip(filePath) {
			return nil, fmt.Errorf("pytorch checkpoint %s: truncated or corrupt zip archive: %w", filePath, err)
		}
		return openLegacyPyTorch(filePath)
	}
	f := &ptFile{path: filePath, zr: zr, records: map[string]*zip.File{}, keys: map[pytorch.StorageInterface]ptStorage{}}
	if err := f.readIndex(); err != nil {
		_ = zr.Close()
		return nil, fmt.Errorf("pytorch checkpoint %s: %w", filePath, err)
	}
	return f, nil
}

// readIndex unpickles data.pkl: tensors with storages that hold no data.
func (f *ptFile) readIndex() error {
	var pkl *zip.File
	for _, z := range f.zr.File {
		dir, base := path.Split(z.Name)
		switch {
		case base == "data.pkl":
			pkl = z
		case base == "constants.pkl":
			return fmt.Errorf("a TorchScript archive, not a state dict")
		case path.Base(path.Clean(dir)) == "data":
			f.records[base] = z
		}
	}
	if pkl == nil {
		return fmt.Errorf("no data.pkl in the archive")
	}
	r, err := pkl.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	u := pickle.NewUnpickler(r)
	u.FindClass = func(module, name string) (any, error) {
		if module == "torch._utils" && name == "_rebuild_tensor_v2" {
			return &pytorch.RebuildTensorV2{}, nil
		}
		if c, ok := ptStorageClasses[name]; ok && module == "torch" {
			return c, nil
		}
		return nil, fmt.Errorf("unexpected class %s.%s in a state dict", module, name)
	}
	byKey := map[string]pytorch.StorageInterface{}
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 || t.Get(0) != "storage" {
			return nil, fmt.Errorf("unexpected persistent id %v", id)
		}
		cls, ok1 := t.Get(1).(ptStorageClass)
		key, ok2 := t.Get(2).(string)
		loc, ok3 := t.Get(3).(string)
		size, ok4 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("unexpected storage id %v", id)
		}
		if s, ok := byKey[key]; ok {
			return s, nil
		}
		if f.records[key] == nil {
			return nil, fmt.Errorf("storage %q has no record data/%s", key, key)
		}
		s := cls.New(size, loc)
		byKey[key], f.keys[s] = s, ptStorage{key: key, dtype: cls.dtype, size: size}
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return fmt.Errorf("reading data.pkl: %w", err)
	}
	return f.setTensors(obj)
}

// setTensors keeps the tensors of the state dict obj.
func (f *ptFile) setTensors(obj any) error {
	f.tensors = map[string]*pytorch.Tensor{}
	add := func(k, v any) error {
		name, ok := k.(string)
		if !ok {
			return fmt.Errorf("state dict key %v is not a string", k)
		}
		t, ok := v.(*pytorch.Tensor)
		if !ok {
			return fmt.Errorf("entry %q is a %T, not a tensor", name, v)
		}
		f.tensors[name] = t
		return nil
	}
	switch d := obj.(type) { // torch.save writes an OrderedDict; newer pickles may hold a plain dict.
	case *types.OrderedDict:
		for k, e := range d.Map {
			if err := add(k, e.Value); err != nil {
				return err
			}
		}
	case *types.Dict:
		for _, e := range *d {
			if err := add(e.Key, e.Value); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("holds a %T, not a state dict", obj)
	}
	return nil
}

// isZip reports whether the file at filePath starts as a zip archive does.
func isZip(filePath string) bool {
	f, err := os.Open(filePath)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "PK\x03\x04"
}

// openLegacyPyTorch reads a checkpoint in torch's legacy format, storages included.
func openLegacyPyTorch(filePath string) (*ptFile, error) {
	obj, err := pytorch.Load(filePath)
	if err != nil {
		return nil, fmt.Errorf("pytorch checkpoint %s: %w", filePath, err)
	}
	f := &ptFile{path: filePath}
	if err := f.setTensors(obj); err != nil {
		return nil, fmt.Errorf("pytorch checkpoint %s: %w", filePath, err)
	}
	return f, nil
}

func (f *ptFile) filePath() string { return f.path }

func (f *ptFile) Close() error {
	if f.zr != nil {
		return f.zr.Close()
	}
	return nil
}

func (f *ptFile) tensorNames() []string {
	names := make([]string, 0, len(f.tensors))
	for n := range f.tensors {
		names = append(names, n)
	}
	return names
}

func (f *ptFile) has(name string) bool { _, ok := f.tensors[name]; return ok }

func (f *ptFile) shape(name string) []int { return slices.Clone(f.tensors[name].Size) }

// readInto reads tensor name into dst in row-major order as float32 (half, bfloat16 and double
// storages are converted; integer and boolean ones are an error). A contiguous tensor is read from its storage's record
// straight into dst; any other follows its strides and storage offset over the whole storage.
func (f *ptFile) readInto(name string, dst []float32) error {
	t := f.tensors[name]
	if t == nil {
		return fmt.Errorf("no tensor %q in %s", name, f.path)
	}
	shape := t.Size
	if len(t.Stride) != len(shape) {
		return fmt.Errorf("tensor %q in %s: %d strides for shape %v", name, f.path, len(t.Stride), shape)
	}
	if f.zr == nil {
		return f.readLegacy(name, t, dst)
	}
	st := f.keys[t.Source]
	if floatSize(st.dtype) == 0 {
		return fmt.Errorf("tensor %q in %s: storage %s is not floating point", name, f.path, st.dtype)
	}
	if t.StorageOffset < 0 || t.StorageOffset+span(shape, t.Stride) > st.size {
		return fmt.Errorf("tensor %q in %s: shape %v, strides %v and offset %d reach beyond its storage of %d", name, f.path, shape, t.Stride, t.StorageOffset, st.size)
	}
	rec := f.records[st.key]
	if want := uint64(st.size * floatSize(st.dtype)); rec.UncompressedSize64 != want {
		return fmt.Errorf("tensor %q in %s: record %s holds %d bytes, its storage of %d %s needs %d (truncated or corrupt file)", name, f.path, rec.Name, rec.UncompressedSize64, st.size, st.dtype, want)
	}
	r, err := rec.Open()
	if err != nil {
		return fmt.Errorf("tensor %q in %s: %w", name, f.path, err)
	}
	defer r.Close()
	if contiguous(shape, t.Stride) {
		if _, err := io.CopyN(io.Discard, r, int64(t.StorageOffset*floatSize(st.dtype))); err != nil {
			return fmt.Errorf("tensor %q in %s: record %s: %w", name, f.path, rec.Name, err)
		}
		if err := decodeFloats(dst, r, st.dtype); err != nil {
			return fmt.Errorf("tensor %q in %s: record %s: %w", name, f.path, rec.Name, err)
		}
		return nil
	}
	all := make([]float32, st.size)
	if err := decodeFloats(all, r, st.dtype); err != nil {
		return fmt.Errorf("tensor %q in %s: record %s: %w", name, f.path, rec.Name, err)
	}
	gather(dst, all, t.StorageOffset, shape, t.Stride)
	return nil
}

// readLegacy reads a tensor of a legacy checkpoint, whose storages gopickle has read, into dst.
func (f *ptFile) readLegacy(name string, t *pytorch.Tensor, dst []float32) error {
	shape := t.Size
	var data []float32
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		data = s.Data
	case *pytorch.HalfStorage:
		data = s.Data
	case *pytorch.BFloat16Storage:
		data = s.Data
	case *pytorch.DoubleStorage:
		data = make([]float32, len(s.Data))
		for i, v := range s.Data {
			data[i] = float32(v)
		}
	default:
		return fmt.Errorf("tensor %q in %s: storage %T is not floating point", name, f.path, t.Source)
	}
	if t.StorageOffset < 0 || t.StorageOffset+span(shape, t.Stride) > len(data) {
		return fmt.Errorf("tensor %q in %s: shape %v, strides %v and offset %d reach beyond its storage of %d (truncated or corrupt file)", name, f.path, shape, t.Stride, t.StorageOffset, len(data))
	}
	gather(dst, data, t.StorageOffset, shape, t.Stride)
	return nil
}

// span is the number of storage elements from a tensor's first element to one past its last:
// 1 + Σ (shape[a]−1)·stride[a] (0 for an empty tensor).
func span(shape, stride []int) int {
	s := 1
	for a, d := range shape {
		if d == 0 {
			return 0
		}
		s += (d - 1) * stride[a]
	}
	return s
}

// contiguous reports whether strides are those of a row-major tensor of shape.
func contiguous(shape, stride []int) bool {
	want := 1
	for a := len(shape) - 1; a >= 0; a-- {
		if shape[a] != 1 && stride[a] != want {
			return false
		}
		want *= shape[a]
	}
	return true
}

// gather reads a strided tensor of shape out of storage into out in row-major order.
func gather(out, storage []float32, offset int, shape, stride []int) {
	idx := make([]int, len(shape))
	for i := range out {
		off := offset
		for a, x := range idx {
			off += x * stride[a]
		}
		out[i] = storage[off]
		for a := len(idx) - 1; a >= 0; a-- { // next row-major index.
			if idx[a]++; idx[a] < shape[a] {
				break
			}
			idx[a] = 0
		}
	}
}
