package corpus

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
)

// OpenDictd streams the entries of a dictd dictionary as documents: title =
// headword, text = the definition with its white space collapsed to single
// spaces (dictd wraps lines) and without a first line that only repeats the
// headword, id = "<dictionary base name>:<index line>".
// dictPath may be a plain .dict file or a dictzip .dict.dz file (gzip with a
// random-access chunk table in the FEXTRA field). Entries are read in index
// order; only the chunks an entry needs are inflated (a few are cached).
// Headwords starting with "00database" or "00-database" (dictd's metadata
// entries) are skipped.
func OpenDictd(indexPath, dictPath string, opts ReadOptions) iter.Seq2[Document, error] {
	return func(yield func(Document, error) bool) {
		idx, err := os.Open(indexPath)
		if err != nil {
			yield(Document{}, err)
			return
		}
		defer idx.Close()
		dict, err := os.Open(dictPath)
		if err != nil {
			yield(Document{}, err)
			return
		}
		defer dict.Close()
		st, err := dict.Stat()
		if err != nil {
			yield(Document{}, err)
			return
		}
		for d, err := range ReadDictd(indexPath, idx, dictPath, dict, st.Size(), opts) {
			if !yield(d, err) {
				return
			}
		}
	}
}

// ReadDictd is OpenDictd on already open data: the index text and the
// dictionary contents (plain, or dictzip when it starts with the gzip magic).
// The names are used in ids and errors.
func ReadDictd(indexName string, index io.Reader, dictName string, dict io.ReaderAt, dictSize int64, opts ReadOptions) iter.Seq2[Document, error] {
	return func(yield func(Document, error) bool) {
		src, err := openDictData(dictName, dict, dictSize)
		if err != nil {
			yield(Document{}, err)
			return
		}
		base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(dictName), ".dz"), ".dict")
		for line, b := range Lines(index, indexName) {
			if line < 0 {
				yield(Document{}, fmt.Errorf("%s", b))
				return
			}
			if len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			d, err := dictEntry(b, src)
			if err == nil && (strings.HasPrefix(d.Title, "00database") || strings.HasPrefix(d.Title, "00-database")) {
				continue
			}
			if err == nil {
				d.ID = fmt.Sprintf("%s:%d", base, line)
				err = d.Validate()
			}
			if err != nil {
				var ioErr *dictIOError
				if errors.As(err, &ioErr) {
					yield(Document{}, fmt.Errorf("%s: %w", dictName, ioErr.err))
					return
				}
				err = &RecordError{File: indexName, Unit: "line", N: line, Err: err}
				if opts.Skip(err) {
					continue
				}
				yield(Document{}, err)
				return
			}
			opts.Yielded()
			if !yield(d, nil) {
				return
			}
		}
	}
}

// dictIOError marks a failure of the dictionary data itself (not of one index
// line): reading cannot go on.
type dictIOError struct{ err error }

func (e *dictIOError) Error() string { return e.err.Error() }

func dictEntry(line []byte, src dictData) (Document, error) {
	fields := strings.Split(string(line), "\t")
	if len(fields) < 3 {
		return Document{}, fmt.Errorf("want headword<TAB>offset<TAB>length, got %d field(s)", len(fields))
	}
	off, err := DecodeDictdNumber(fields[1])
	if err != nil {
		return Document{}, fmt.Errorf("offset: %w", err)
	}
	n, err := DecodeDictdNumber(fields[2])
	if err != nil {
		return Document{}, fmt.Errorf("length: %w", err)
	}
	if n > MaxLineBytes {
		return Document{}, fmt.Errorf("entry length %d over %d", n, MaxLineBytes)
	}
	if off+n > src.size() || off+n < off {
		return Document{}, fmt.Errorf("entry [%d, %d) beyond the %d bytes of the dictionary", off, off+n, src.size())
	}
	text, err := src.read(off, n)
	if err != nil {
		return Document{}, err
	}
	// dictd wraps definitions at ~70 columns and repeats the headword on the
	// first line: drop that line and join the rest with single spaces, so that
	// line breaks do not read as sentence ends.
	body := strings.TrimSpace(string(text))
	if first, rest, ok := strings.Cut(body, "\n"); ok && strings.TrimSpace(first) == fields[0] {
		body = rest
	}
	return Document{Title: fields[0], Text: strings.Join(strings.Fields(body), " ")}, nil
}

const dictdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// DecodeDictdNumber decodes an offset or length of a dictd index: a
// big-endian base-64 number written with the alphabet A–Z a–z 0–9 + /.
func DecodeDictdNumber(s string) (int64, error) {
	if s == "" || len(s) > 10 {
		return 0, fmt.Errorf("bad base64 number %q", s)
	}
	var v int64
	for i := 0; i < len(s); i++ {
		k := strings.IndexByte(dictdAlphabet, s[i])
		if k < 0 {
			return 0, fmt.Errorf("bad base64 digit %q in %q", s[i], s)
		}
		v = v<<6 | int64(k)
	}
	return v, nil
}

// EncodeDictdNumber is the inverse of DecodeDictdNumber, used to write dictd
// indexes (tests, tools).
func EncodeDictdNumber(v int64) string {
	if v == 0 {
		return "A"
	}
	var b []byte
	for ; v > 0; v >>= 6 {
		b = append(b, dictdAlphabet[v&63])
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// dictData reads byte ranges of the uncompressed dictionary.
type dictData interface {
	size() int64
	read(off, n int64) ([]byte, error)
}

type plainDict struct {
	r io.ReaderAt
	n int64
}

func (p *plainDict) size() int64 { return p.n }
func (p *plainDict) read(off, n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := p.r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && off+n <= p.n) {
		return nil, &dictIOError{err}
	}
	return b, nil
}

// dictzip is a gzip member whose FEXTRA field holds the "RA" subfield:
// version (1), chunk length, chunk count and the compressed size of each
// chunk; each chunk is deflated with a full flush, so it inflates alone.
type dictzip struct {
	r         io.ReaderAt
	chunkLen  int64
	offsets   []int64 // compressed start of each chunk; len = count+1
	total     int64
	cache     [4]dzChunk
	cacheNext int
}

type dzChunk struct {
	i    int
	data []byte
}

func openDictData(name string, r io.ReaderAt, size int64) (dictData, error) {
	var magic [2]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil || magic != [2]byte{0x1f, 0x8b} {
		return &plainDict{r: r, n: size}, nil
	}
	hdr := make([]byte, 10)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("%s: gzip header: %w", name, err)
	}
	flg := hdr[3]
	if hdr[2] != 8 || flg&4 == 0 {
		return nil, fmt.Errorf("%s: gzip file without the dictzip random-access table (FEXTRA)", name)
	}
	var xl [2]byte
	if _, err := r.ReadAt(xl[:], 10); err != nil {
		return nil, fmt.Errorf("%s: gzip FEXTRA: %w", name, err)
	}
	xlen := int64(binary.LittleEndian.Uint16(xl[:]))
	extra := make([]byte, xlen)
	if _, err := r.ReadAt(extra, 12); err != nil {
		return nil, fmt.Errorf("%s: gzip FEXTRA: %w", name, err)
	}
	dz := &dictzip{r: r}
	found := false
	for p := extra; len(p) >= 4; {
		id1, id2, n := p[0], p[1], int(binary.LittleEndian.Uint16(p[2:4]))
		if 4+n > len(p) {
			return nil, fmt.Errorf("%s: truncated FEXTRA subfield", name)
		}
		sub := p[4 : 4+n]
		p = p[4+n:]
		if id1 != 'R' || id2 != 'A' {
			continue
		}
		if len(sub) < 6 || binary.LittleEndian.Uint16(sub) != 1 {
			return nil, fmt.Errorf("%s: unsupported dictzip RA subfield", name)
		}
		dz.chunkLen = int64(binary.LittleEndian.Uint16(sub[2:]))
		count := int(binary.LittleEndian.Uint16(sub[4:]))
		if len(sub) < 6+2*count || dz.chunkLen == 0 {
			return nil, fmt.Errorf("%s: dictzip chunk table truncated", name)
		}
		dz.offsets = make([]int64, count+1)
		for i := 0; i < count; i++ {
			dz.offsets[i+1] = dz.offsets[i] + int64(binary.LittleEndian.Uint16(sub[6+2*i:]))
		}
		found = true
	}
	if !found {
		return nil, fmt.Errorf("%s: gzip file without the dictzip RA subfield", name)
	}
	pos := 12 + xlen
	skipZ := func() error { // skip a zero-terminated header string
		var b [1]byte
		for {
			if _, err := r.ReadAt(b[:], pos); err != nil {
				return fmt.Errorf("%s: gzip header: %w", name, err)
			}
			pos++
			if b[0] == 0 {
				return nil
			}
		}
	}
	if flg&8 != 0 {
		if err := skipZ(); err != nil {
			return nil, err
		}
	}
	if flg&16 != 0 {
		if err := skipZ(); err != nil {
			return nil, err
		}
	}
	if flg&2 != 0 {
		pos += 2
	}
	for i := range dz.offsets {
		dz.offsets[i] += pos
	}
	if dz.offsets[len(dz.offsets)-1] > size {
		return nil, fmt.Errorf("%s: dictzip chunks end at byte %d beyond the file's %d", name, dz.offsets[len(dz.offsets)-1], size)
	}
	// The uncompressed size is the gzip trailer's ISIZE (mod 2^32).
	var tr [4]byte
	if _, err := r.ReadAt(tr[:], size-4); err != nil {
		return nil, fmt.Errorf("%s: gzip trailer: %w", name, err)
	}
	dz.total = int64(binary.LittleEndian.Uint32(tr[:]))
	if max := int64(len(dz.offsets)-1) * dz.chunkLen; dz.total > max || dz.total < max-dz.chunkLen {
		dz.total = max // ISIZE wrapped or inconsistent: trust the table
	}
	for i := range dz.cache {
		dz.cache[i].i = -1
	}
	return dz, nil
}

func (d *dictzip) size() int64 { return d.total }

func (d *dictzip) chunk(i int) ([]byte, error) {
	for _, c := range d.cache {
		if c.i == i {
			return c.data, nil
		}
	}
	comp := make([]byte, d.offsets[i+1]-d.offsets[i])
	if _, err := d.r.ReadAt(comp, d.offsets[i]); err != nil && !errors.Is(err, io.EOF) {
		return nil, &dictIOError{err}
	}
	fr := flate.NewReader(bytes.NewReader(comp))
	out := make([]byte, d.chunkLen)
	n, err := io.ReadFull(fr, out)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, &dictIOError{fmt.Errorf("chunk %d: %w", i, err)}
	}
	out = out[:n]
	d.cache[d.cacheNext] = dzChunk{i: i, data: out}
	d.cacheNext = (d.cacheNext + 1) % len(d.cache)
	return out, nil
}

func (d *dictzip) read(off, n int64) ([]byte, error) {
	out := make([]byte, 0, n)
	for n > 0 {
		i := int(off / d.chunkLen)
		c, err := d.chunk(i)
		if err != nil {
			return nil, err
		}
		s := off - int64(i)*d.chunkLen
		if s >= int64(len(c)) {
			return nil, &dictIOError{fmt.Errorf("chunk %d inflates to %d bytes, entry needs offset %d", i, len(c), s)}
		}
		k := min(n, int64(len(c))-s)
		out = append(out, c[s:s+k]...)
		off += k
		n -= k
	}
	return out, nil
}

// WriteDictzip compresses data as a dictzip file (chunks of chunkLen bytes,
// at most 65535) to w: the format dictd reads, used to build test
// dictionaries and small corpora.
func WriteDictzip(w io.Writer, data []byte, chunkLen int) error {
	if chunkLen <= 0 || chunkLen > 65535 {
		return fmt.Errorf("dictzip chunk length %d out of (0, 65535]", chunkLen)
	}
	var chunks [][]byte
	for s := 0; s < len(data) || len(chunks) == 0; s += chunkLen {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.BestCompression)
		fw.Write(data[s:min(s+chunkLen, len(data))])
		fw.Flush()
		chunks = append(chunks, buf.Bytes())
		if len(data) == 0 {
			break
		}
	}
	// Final empty stored block marks the end of the deflate stream.
	var tail bytes.Buffer
	fw, _ := flate.NewWriter(&tail, flate.BestCompression)
	fw.Close()
	if len(chunks) > 65535 {
		return fmt.Errorf("dictzip: %d chunks exceed the table's 65535", len(chunks))
	}
	sub := make([]byte, 6+2*len(chunks))
	binary.LittleEndian.PutUint16(sub, 1)
	binary.LittleEndian.PutUint16(sub[2:], uint16(chunkLen))
	binary.LittleEndian.PutUint16(sub[4:], uint16(len(chunks)))
	for i, c := range chunks {
		if len(c) > 65535 {
			return fmt.Errorf("dictzip: chunk %d compresses to %d bytes", i, len(c))
		}
		binary.LittleEndian.PutUint16(sub[6+2*i:], uint16(len(c)))
	}
	extra := append([]byte{'R', 'A', 0, 0}, sub...)
	binary.LittleEndian.PutUint16(extra[2:], uint16(len(sub)))
	bw := bufio.NewWriter(w)
	bw.Write([]byte{0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 2, 3})
	binary.Write(bw, binary.LittleEndian, uint16(len(extra)))
	bw.Write(extra)
	for _, c := range chunks {
		bw.Write(c)
	}
	bw.Write(tail.Bytes())
	var tr [8]byte
	binary.LittleEndian.PutUint32(tr[:], crc32IEEE(data))
	binary.LittleEndian.PutUint32(tr[4:], uint32(len(data)))
	bw.Write(tr[:])
	return bw.Flush()
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// Paths of WordNet as Debian's dict-wn package installs it (apt-get install
// dict-wn): ~147k entries, a corpus for scale runs.
const (
	WordNetIndex = "/usr/share/dictd/wn.index"
	WordNetDict  = "/usr/share/dictd/wn.dict.dz"
)

// WordNet streams the WordNet dictionary installed by dict-wn (title =
// headword, text = its definitions); it yields an error when not installed.
func WordNet(opts ReadOptions) iter.Seq2[Document, error] {
	return OpenDictd(WordNetIndex, WordNetDict, opts)
}
