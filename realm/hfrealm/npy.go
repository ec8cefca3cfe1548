package hfrealm

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// BlockRecordsFile is the file of a RealmRetriever (next to its tokenizer) that holds the text
// of every block of the index.
const BlockRecordsFile = "block_records.npy"

// LoadBlockRecords reads a RealmRetriever's block_records.npy: a 1-D NumPy array of byte
// strings, one block text per row of block_emb. np.save writes arrays of Python objects as a
// pickle of the array after the .npy header; it is read with gopickle, which rebuilds only the
// NumPy classes such an array needs (ndarray, dtype). A file that is not such an array, or is
// cut short, is an error naming it and, where it applies, the record.
func LoadBlockRecords(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hfrealm: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	n, err := readNpyObjectHeader(r)
	if err != nil {
		return nil, fmt.Errorf("hfrealm: %s: %w", path, err)
	}
	u := pickle.NewUnpickler(r)
	u.FindClass = func(module, name string) (any, error) {
		switch module + "." + name {
		case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
			return npReconstruct{}, nil
		case "numpy.ndarray":
			return npClass{}, nil
		case "numpy.dtype":
			return npDTypeClass{}, nil
		}
		return nil, fmt.Errorf("unexpected class %s.%s in an array of byte strings", module, name)
	}
	obj, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("hfrealm: %s: reading the pickled array: %w", path, err)
	}
	arr, ok := obj.(*npArray)
	if !ok {
		return nil, fmt.Errorf("hfrealm: %s: the pickle holds a %T, not a NumPy array", path, obj)
	}
	if len(arr.items) != n {
		return nil, fmt.Errorf("hfrealm: %s: the header says %d records, the array holds %d", path, n, len(arr.items))
	}
	out := make([]string, n)
	for i, it := range arr.items {
		switch v := it.(type) {
		case []byte:
			out[i] = string(v)
		case string:
			out[i] = v
		default:
			return nil, fmt.Errorf("hfrealm: %s: record %d is a %T, not a byte string", path, i, it)
		}
	}
	return out, nil
}

var (
	npyDescrRE = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyShapeRE = regexp.MustCompile(`'shape':\s*\((\d+),\)`)
)

// readNpyObjectHeader reads the .npy header of a 1-D array of Python objects and returns its
// length.
func readNpyObjectHeader(r io.Reader) (int, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return 0, fmt.Errorf("no .npy header: %w", err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return 0, fmt.Errorf("not a .npy file (magic %q)", pre[:6])
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, fmt.Errorf("truncated .npy header: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, fmt.Errorf("truncated .npy header: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return 0, fmt.Errorf(".npy version %d.%d is not supported", pre[6], pre[7])
	}
	h := make([]byte, hlen)
	if _, err := io.ReadFull(r, h); err != nil {
		return 0, fmt.Errorf("truncated .npy header: %w", err)
	}
	d := npyDescrRE.FindSubmatch(h)
	if d == nil || string(d[1]) != "|O" {
		return 0, fmt.Errorf("the array's dtype is not object ('|O'), header %q", h)
	}
	s := npyShapeRE.FindSubmatch(h)
	if s == nil {
		return 0, fmt.Errorf("the array is not 1-D, header %q", h)
	}
	return strconv.Atoi(string(s[1]))
}

// npArray is a NumPy array of objects rebuilt from its pickle: _reconstruct makes an empty one,
// __setstate__((version, shape, dtype, fortran, items)) fills it.
type npArray struct{ items []any }

func (a *npArray) PySetState(state any) error {
	t, ok := state.(*types.Tuple)
	if !ok || t.Len() != 5 {
		return fmt.Errorf("ndarray state %T is not a 5-tuple", state)
	}
	switch items := t.Get(4).(type) {
	case *types.List:
		a.items = *items
	case []any:
		a.items = items
	default:
		return fmt.Errorf("ndarray items are a %T, not a list of objects", t.Get(4))
	}
	return nil
}

// npReconstruct is numpy.core.multiarray._reconstruct(ndarray, shape, dtype).
type npReconstruct struct{}

func (npReconstruct) Call(...any) (any, error) { return &npArray{}, nil }

// npClass stands for the class numpy.ndarray, an argument of _reconstruct.
type npClass struct{}

// npDTypeClass is numpy.dtype(...), whose instances take a __setstate__ that is not needed here.
type npDTypeClass struct{}

func (npDTypeClass) Call(...any) (any, error) { return &npDType{}, nil }

type npDType struct{}

func (*npDType) PySetState(any) error { return nil }
