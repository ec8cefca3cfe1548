package mips

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func buildAll(t *testing.T, docs []float32, ids []int64, d int) []Index {
	t.Helper()
	ex, err := NewExact(docs, ids, d)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHNSW(context.Background(), docs, ids, d, HNSWConfig{M: 8, EfConstruction: 64, EfSearch: 32, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCoderHNSW(context.Background(), docs, ids, d, CoderConfig{M: 8, EfConstruction: 32, EfSearch: 32, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return []Index{ex, h, c}
}

func TestPersistenceRoundTrip(t *testing.T) {
	const n, d = 1500, 24
	docs, qs := Clustered(11, n, 20, d, 8)
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(1000 + 7*i)
	}
	dir := t.TempDir()
	for _, idx := range buildAll(t, docs, ids, d) {
		t.Run(idx.Kind().String(), func(t *testing.T) {
			path := filepath.Join(dir, idx.Kind().String()+".mips")
			if err := idx.Save(path); err != nil {
				t.Fatal(err)
			}
			back, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if back.Kind() != idx.Kind() || back.Len() != n || back.Dim() != d {
				t.Fatalf("loaded %v n=%d d=%d", back.Kind(), back.Len(), back.Dim())
			}
			want, _ := idx.Search(qs, 10)
			got, err := back.Search(qs, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("loaded index answers differently:\n got %v\nwant %v", got[0], want[0])
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

func TestPersistenceDamagedFiles(t *testing.T) {
	const n, d = 300, 16
	docs, _ := Clustered(12, n, 1, d, 4)
	dir := t.TempDir()
	for _, idx := range buildAll(t, docs, nil, d) {
		path := filepath.Join(dir, "good-"+idx.Kind().String())
		if err := idx.Save(path); err != nil {
			t.Fatal(err)
		}
		good, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		damage := map[string]func([]byte) []byte{
			"truncated-payload": func(b []byte) []byte { return b[:len(b)-len(b)/3] },
			"truncated-header":  func(b []byte) []byte { return b[:20] },
			"truncated-crc":     func(b []byte) []byte { return b[:len(b)-1] },
			"empty":             func(b []byte) []byte { return nil },
			"flipped-payload":   func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b },
			"flipped-header":    func(b []byte) []byte { b[17] ^= 1; return b },
			"wrong-magic":       func(b []byte) []byte { copy(b, "NOTMIPS!"); return b },
			"wrong-version":     func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 99); return b },
			"trailing-bytes":    func(b []byte) []byte { return append(b, 0, 0) },
		}
		for name, f := range damage {
			t.Run(idx.Kind().String()+"/"+name, func(t *testing.T) {
				p := filepath.Join(dir, name+"-"+idx.Kind().String())
				if err := os.WriteFile(p, f(append([]byte(nil), good...)), 0o644); err != nil {
					t.Fatal(err)
				}
				got, err := Load(p)
				if err == nil {
					t.Fatalf("Load accepted a damaged file (%v)", got.Kind())
				}
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
					t.Fatalf("error should wrap ErrCorrupt and name the file: %v", err)
				}
				switch name {
				case "wrong-version":
					if !strings.Contains(err.Error(), "version 99") {
						t.Errorf("error does not name the version: %v", err)
					}
				case "wrong-magic":
					if !strings.Contains(err.Error(), "magic") {
						t.Errorf("error does not mention the magic: %v", err)
					}
				}
			})
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || errors.Is(err, ErrCorrupt) {
		t.Errorf("missing file: got %v, want a file-system error", err)
	}
}

// resign recomputes both checksums of an index file image, so tests can check the
// semantic validation behind them.
func resign(b []byte) []byte {
	le := binary.LittleEndian
	headerEnd := fixedHeader + int(le.Uint32(b[40:]))
	le.PutUint32(b[headerEnd:], crc32.Checksum(b[:headerEnd], castagnoli))
	start := headerEnd + 4
	le.PutUint32(b[len(b)-4:], crc32.Checksum(b[start:len(b)-4], castagnoli))
	return b
}

func TestPersistenceValidatesBehindChecksums(t *testing.T) {
	const n, d = 200, 8
	docs, _ := Clustered(13, n, 1, d, 4)
	dir := t.TempDir()
	h, err := NewHNSW(context.Background(), docs, nil, d, HNSWConfig{M: 4, EfConstruction: 20})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "h")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	le := binary.LittleEndian
	headerEnd := fixedHeader + int(le.Uint32(good[40:]))
	payload := headerEnd + 4
	// Layer-0 links start after ids (8n), vectors (4nd), augmentation (4n), levels (4n).
	links0 := payload + 8*n + 4*n*d + 4*n + 4*n
	cases := map[string]func([]byte) []byte{
		"huge-count": func(b []byte) []byte { le.PutUint64(b[24:], 1<<31-1); return resign(b) },
		"bad-link": func(b []byte) []byte {
			le.PutUint32(b[links0:], 1)        // node 0 has one link…
			le.PutUint32(b[links0+4:], n+1000) // …to a node that does not exist.
			return resign(b)
		},
		"too-many-links": func(b []byte) []byte { le.PutUint32(b[links0:], 1000); return resign(b) },
		"unknown-kind":   func(b []byte) []byte { le.PutUint32(b[12:], 77); return resign(b) },
	}
	for name, f := range cases {
		p := filepath.Join(dir, name)
		os.WriteFile(p, f(append([]byte(nil), good...)), 0o644)
		if _, err := Load(p); err == nil || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want an ErrCorrupt error", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
