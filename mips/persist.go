package mips

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
)

// File format (all integers little-endian), version 1:
//
//	header:  magic "REALMIPS" (8 B) | version u32 | kind u32 | dim u32 | reserved u32 (0)
//	         | count u64 | payload length u64 | params length u32 | params (kind specific)
//	         | header CRC32C u32 (over every header byte before it)
//	payload: kind-specific vectors, ids and graph | payload CRC32C u32
//
// A file is written to a temporary file in the destination directory, synced and renamed,
// so readers see either the old file or the complete new one. Load verifies magic, version,
// kind, both checksums and every length before it builds anything, so a truncated or
// corrupted file is an error that names the file and the problem, never a wrong index.
const (
	fileMagic   = "REALMIPS"
	fileVersion = 1
	fixedHeader = 8 + 4 + 4 + 4 + 4 + 8 + 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileHeader is the decoded header of an index file.
type fileHeader struct {
	kind   Kind
	dim    int
	count  int
	params []byte
}

// loaders is the registry of decoders by kind.
var loaders = map[Kind]func(path string, h fileHeader, d *decoder) (Index, error){}

// ErrCorrupt is wrapped by every Load error that comes from the file's content (as opposed
// to the file system), so callers can tell a damaged file from a missing one.
var ErrCorrupt = errors.New("corrupt index file")

// Load reads an index written by an Index's Save method, whatever its kind.
func Load(path string) (Index, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mips: loading index: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("mips: loading index %s: %s: %w", path, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if len(data) < len(fileMagic) || string(data[:len(fileMagic)]) != fileMagic {
		return nil, bad("not a realm-go MIPS index (bad magic)")
	}
	if len(data) < fixedHeader {
		return nil, bad("truncated header (%d bytes)", len(data))
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[8:]); v != fileVersion {
		return nil, bad("unsupported format version %d (this build reads version %d)", v, fileVersion)
	}
	h := fileHeader{kind: Kind(le.Uint32(data[12:])), dim: int(le.Uint32(data[16:]))}
	count := le.Uint64(data[24:])
	payloadLen := le.Uint64(data[32:])
	paramsLen := uint64(le.Uint32(data[40:]))
	headerEnd := uint64(fixedHeader) + paramsLen
	if uint64(len(data)) < headerEnd+4 {
		return nil, bad("truncated header (%d bytes, header needs %d)", len(data), headerEnd+4)
	}
	if got, want := crc32.Checksum(data[:headerEnd], castagnoli), le.Uint32(data[headerEnd:]); got != want {
		return nil, bad("header checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	start := headerEnd + 4
	if uint64(len(data))-start < payloadLen+4 {
		return nil, bad("truncated: payload needs %d bytes + checksum, file has %d after the header", payloadLen, uint64(len(data))-start)
	}
	if uint64(len(data))-start > payloadLen+4 {
		return nil, bad("%d unexpected bytes after the payload", uint64(len(data))-start-payloadLen-4)
	}
	payload := data[start : start+payloadLen]
	if got, want := crc32.Checksum(payload, castagnoli), le.Uint32(data[start+payloadLen:]); got != want {
		return nil, bad("payload checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	if count > math.MaxInt32 || h.dim <= 0 {
		return nil, bad("implausible header: count %d, dimension %d", count, h.dim)
	}
	if count*uint64(h.dim) > payloadLen/4 {
		return nil, bad("header claims %d vectors of dimension %d, more than the %d-byte payload holds", count, h.dim, payloadLen)
	}
	h.count = int(count)
	h.params = data[fixedHeader:headerEnd]
	load, ok := loaders[h.kind]
	if !ok {
		return nil, bad("unknown index kind %d", uint32(h.kind))
	}
	d := &decoder{buf: payload}
	idx, err := load(path, h, d)
	if err == nil && d.err == nil && d.off != len(d.buf) {
		err = fmt.Errorf("%d payload bytes left unread", len(d.buf)-d.off)
	}
	if err == nil {
		err = d.err
	}
	if err != nil {
		return nil, bad("%v (kind %v)", err, h.kind)
	}
	return idx, nil
}

// writeIndexFile writes an index file atomically: header, then the payload produced by
// body, through a temporary file in path's directory that is renamed over path.
func writeIndexFile(path string, kind Kind, dim, count int, params []byte, body func(e *encoder)) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("mips: saving index %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("mips: saving index %s: %w", path, err)
		}
	}()
	headerEnd := fixedHeader + len(params)
	header := make([]byte, headerEnd+4)
	le := binary.LittleEndian
	copy(header, fileMagic)
	le.PutUint32(header[8:], fileVersion)
	le.PutUint32(header[12:], uint32(kind))
	le.PutUint32(header[16:], uint32(dim))
	le.PutUint64(header[24:], uint64(count))
	le.PutUint32(header[40:], uint32(len(params)))
	copy(header[fixedHeader:], params)
	if _, err = f.Write(header); err != nil { // placeholder, patched below.
		return err
	}
	e := &encoder{w: bufio.NewWriterSize(f, 1<<20), crc: crc32.New(castagnoli)}
	body(e)
	if e.err != nil {
		return e.err
	}
	var sum [4]byte
	le.PutUint32(sum[:], e.crc.Sum32())
	if _, err = e.w.Write(sum[:]); err != nil {
		return err
	}
	if err = e.w.Flush(); err != nil {
		return err
	}
	le.PutUint64(header[32:], uint64(e.n))
	le.PutUint32(header[headerEnd:], crc32.Checksum(header[:headerEnd], castagnoli))
	if _, err = f.WriteAt(header, 0); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// encoder streams little-endian values into the payload, tracking its length and CRC.
type encoder struct {
	w       *bufio.Writer
	crc     hash.Hash32
	n       int64
	err     error
	scratch [8]byte
}

func (e *encoder) write(b []byte) {
	if e.err != nil {
		return
	}
	if _, err := e.w.Write(b); err != nil {
		e.err = err
		return
	}
	e.crc.Write(b)
	e.n += int64(len(b))
}

func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.scratch[:4], v)
	e.write(e.scratch[:4])
}

func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.scratch[:8], v)
	e.write(e.scratch[:8])
}

// bytesOf writes a length-prefixed byte string.
func (e *encoder) bytesOf(b []byte) {
	e.u64(uint64(len(b)))
	e.write(b)
}

// writer exposes the encoder as an io.Writer (for third-party serialisers).
func (e *encoder) writer() io.Writer { return encoderWriter{e} }

type encoderWriter struct{ e *encoder }

func (w encoderWriter) Write(b []byte) (int, error) {
	w.e.write(b)
	if w.e.err != nil {
		return 0, w.e.err
	}
	return len(b), nil
}

// decoder reads little-endian values from a payload; the first short read sets err and
// every later read returns zero values.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.off || d.off > len(d.buf) {
		d.err = fmt.Errorf("payload too short reading %s (%d bytes wanted, %d left)", what, n, len(d.buf)-d.off)
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

func (d *decoder) u32(what string) uint32 {
	b := d.take(4, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (d *decoder) u64(what string) uint64 {
	b := d.take(8, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (d *decoder) bytesOf(what string) []byte {
	n := d.u64(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)-d.off) {
		d.err = fmt.Errorf("payload too short reading %s (%d bytes wanted, %d left)", what, n, len(d.buf)-d.off)
		return nil
	}
	return d.take(int(n), what)
}

// params builds and parses the small kind-specific parameter block of the header.
type params struct {
	buf []byte
	off int
	err error
}

func (p *params) putU32(v uint32) { p.buf = binary.LittleEndian.AppendUint32(p.buf, v) }
func (p *params) putU64(v uint64) { p.buf = binary.LittleEndian.AppendUint64(p.buf, v) }
func (p *params) putF64(v float64) {
	p.buf = binary.LittleEndian.AppendUint64(p.buf, math.Float64bits(v))
}

func (p *params) u32() uint32 {
	if p.err != nil || p.off+4 > len(p.buf) {
		p.err = fmt.Errorf("header parameters too short")
		return 0
	}
	v := binary.LittleEndian.Uint32(p.buf[p.off:])
	p.off += 4
	return v
}

func (p *params) u64() uint64 {
	if p.err != nil || p.off+8 > len(p.buf) {
		p.err = fmt.Errorf("header parameters too short")
		return 0
	}
	v := binary.LittleEndian.Uint64(p.buf[p.off:])
	p.off += 8
	return v
}

func (p *params) f64() float64 { return math.Float64frombits(p.u64()) }

func init() {
	loaders[KindExact] = func(path string, h fileHeader, d *decoder) (Index, error) {
		ids := takeWords[int64](d, h.count, "ids")
		vecs := takeWords[float32](d, h.count*h.dim, "vectors")
		if d.err != nil {
			return nil, d.err
		}
		return NewExact(vecs, ids, h.dim)
	}
}

// Save writes the exact index (ids and vectors) to path; see Load.
func (e *Exact) Save(path string) error {
	return writeIndexFile(path, KindExact, e.dim, e.n, nil, func(enc *encoder) {
		putWords(enc, e.ids)
		putWords(enc, e.Vectors())
	})
}

func init() {
	loaders[KindHNSW] = loadHNSW
}

// Save writes the HNSW index, graph included, to path; see Load.
func (h *HNSW) Save(path string) error {
	var p params
	c := h.Config()
	p.putU32(uint32(c.M))
	p.putU32(uint32(c.EfConstruction))
	p.putU32(uint32(c.EfSearch))
	p.putU64(c.Seed)
	p.putU32(h.entry)
	p.putU32(uint32(h.maxLevel))
	p.putF64(float64(h.maxNorm))
	return writeIndexFile(path, KindHNSW, h.dim, h.n, p.buf, func(e *encoder) {
		putWords(e, h.ids)
		putWords(e, h.vecs)
		putWords(e, h.aug)
		lv := make([]uint32, h.n)
		for i, l := range h.levels {
			lv[i] = uint32(l)
		}
		putWords(e, lv)
		putWords(e, h.links0)
		for _, u := range h.upper {
			putWords(e, u)
		}
	})
}

func loadHNSW(path string, fh fileHeader, d *decoder) (Index, error) {
	p := params{buf: fh.params}
	cfg := HNSWConfig{M: int(p.u32()), EfConstruction: int(p.u32()), EfSearch: int(p.u32()), Seed: p.u64()}
	entry, maxLevel, maxNorm := p.u32(), int(p.u32()), p.f64()
	if p.err != nil {
		return nil, p.err
	}
	if cfg.M < 2 || cfg.M > 1<<16 || cfg.EfSearch < 1 || maxLevel > 31 {
		return nil, fmt.Errorf("implausible HNSW parameters M=%d efSearch=%d maxLevel=%d", cfg.M, cfg.EfSearch, maxLevel)
	}
	n := fh.count
	ids := takeWords[int64](d, n, "ids")
	vecs := takeWords[float32](d, n*fh.dim, "vectors")
	h := newHNSWShell(cfg.withDefaults(), fh.dim, n, ids, vecs)
	h.maxNorm = float32(maxNorm)
	h.aug = takeWords[float32](d, n, "augmentation")
	lv := takeWords[uint32](d, n, "levels")
	h.links0 = takeWords[uint32](d, n*(h.mMax0+1), "layer-0 links")
	if d.err != nil {
		return nil, d.err
	}
	if n > 0 && (int(entry) >= n || int(lv[entry]) != maxLevel) {
		return nil, fmt.Errorf("entry point %d (level %d) inconsistent with max level %d", entry, lv[min(int(entry), n-1)], maxLevel)
	}
	h.entry, h.maxLevel = entry, maxLevel
	check := func(sl []uint32, cap int, what string, i int) error {
		if int(sl[0]) > cap {
			return fmt.Errorf("node %d: %s has %d links, at most %d allowed", i, what, sl[0], cap)
		}
		for _, x := range sl[1 : 1+sl[0]] {
			if int(x) >= n {
				return fmt.Errorf("node %d: %s links to node %d of %d", i, what, x, n)
			}
		}
		return nil
	}
	for i := 0; i < n; i++ {
		if lv[i] > uint32(maxLevel) {
			return nil, fmt.Errorf("node %d has level %d above the max level %d", i, lv[i], maxLevel)
		}
		h.levels[i] = uint8(lv[i])
		if err := check(h.slot(uint32(i), 0), h.mMax0, "layer 0", i); err != nil {
			return nil, err
		}
		if lv[i] > 0 {
			h.upper[i] = takeWords[uint32](d, int(lv[i])*(cfg.M+1), "upper-layer links")
			if d.err != nil {
				return nil, d.err
			}
			for l := 1; l <= int(lv[i]); l++ {
				if err := check(h.slot(uint32(i), l), cfg.M, fmt.Sprintf("layer %d", l), i); err != nil {
					return nil, err
				}
			}
		}
	}
	return h, nil
}

// word is an element type of the slices an index file stores, little-endian.
type word interface{ float32 | int64 | uint32 }

// putWords writes vs in little-endian order, a few KB at a time.
func putWords[T word](e *encoder, vs []T) {
	const chunk = 1024
	var buf []byte
	for start := 0; start < len(vs); start += chunk {
		buf, _ = binary.Append(buf[:0], binary.LittleEndian, vs[start:min(start+chunk, len(vs))])
		e.write(buf)
	}
}

// takeWords reads n little-endian values of T (nil after recording an error when the
// payload is too short for them).
func takeWords[T word](d *decoder, n int, what string) []T {
	var zero T
	size := binary.Size(zero)
	if n < 0 || n > len(d.buf)/size {
		d.take(-1, what)
		return nil
	}
	b := d.take(size*n, what)
	if b == nil {
		return nil
	}
	out := make([]T, n)
	if _, err := binary.Decode(b, binary.LittleEndian, out); err != nil {
		d.take(-1, what)
		return nil
	}
	return out
}
