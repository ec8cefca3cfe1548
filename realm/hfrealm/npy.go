package hfrealm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"github.com/realm-go/realm/internal/atomicfile"
)

// BlockRecordsFile is the file of a RealmRetriever (next to its tokenizer) that holds the text
// of every block of the index.
const BlockRecordsFile = "block_records.npy"

// BlockRecords is an open block_records.npy, a RealmRetriever's texts of the blocks: a 1-D NumPy
// array of byte strings, one per row of block_emb. np.save writes such an array as the .npy
// header followed by a pickle of the array, whose items are a list of bytes objects.
//
// Opening scans the pickle once and keeps only where each record starts (8 bytes a record);
// Record reads one record from the file. The released index holds 13,353,718 records (about
// 13 GB): read whole, as a general unpickler (gopickle) does, they would not fit beside the
// embeddings. The scan knows the pickle opcodes that np.save (protocols 2 to 5) writes for such
// an array; a file that holds anything else, or is cut short, is an error naming it and, where
// it applies, the record.
type BlockRecords struct {
	path string
	f    *os.File
	offs []int64 // file offset of each record's opcode.
}

// Pickle opcodes of an object array of byte strings (Python's pickletools names).
const (
	opMark           = '('
	opStop           = '.'
	opEmptyList      = ']'
	opAppend         = 'a'
	opAppends        = 'e'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opMemoize        = 0x94
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opShortBinBytes  = 'C'
	opBinBytes       = 'B'
	opBinBytes8      = 0x8e
	opShortBinUni    = 0x8c
	opBinUnicode     = 'X'
	opBinUnicode8    = 0x8d
	opProto          = 0x80
	opFrame          = 0x95
	opGlobal         = 'c'
	opShortBinString = 'U'
	opBinString      = 'T'
)

// countingReader is a buffered reader that knows its offset in the file.
type countingReader struct {
	r   *bufio.Reader
	off int64
}

func (c *countingReader) byte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.off++
	}
	return b, err
}

func (c *countingReader) uint(n int) (uint64, error) {
	var b [8]byte
	k, err := io.ReadFull(c.r, b[:n])
	c.off += int64(k)
	return binary.LittleEndian.Uint64(b[:]), err
}

func (c *countingReader) skip(n int64) error {
	for n > 0 { // Discard takes an int.
		k, err := c.r.Discard(int(min(n, 1<<30)))
		c.off, n = c.off+int64(k), n-int64(k)
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *countingReader) line() error {
	s, err := c.r.ReadSlice('\n')
	c.off += int64(len(s))
	return err
}

// stringLen is the width of the length field of the string opcodes (0 for any other opcode).
func stringLen(op byte) int {
	switch op {
	case opShortBinBytes, opShortBinUni, opShortBinString:
		return 1
	case opBinBytes, opBinUnicode, opBinString:
		return 4
	case opBinBytes8, opBinUnicode8:
		return 8
	}
	return 0
}

// argLen is the width of the fixed-size argument of the other opcodes np.save writes; -1 for an
// opcode that is not one of them.
func argLen(op byte) int {
	switch op {
	case opMark, opStop, opEmptyList, opAppend, opAppends, opMemoize, 't', 0x85, 0x86, 0x87, ')',
		'R', 'b', 'N', 0x88, 0x89, 0x93, 0x81, '}', 'u', 's':
		return 0
	case opBinPut, opBinGet, 'K', opProto:
		return 1
	case 'M':
		return 2
	case opLongBinPut, opLongBinGet, 'J':
		return 4
	case opFrame, 'G':
		return 8
	}
	return -1
}

// OpenBlockRecords opens a block_records.npy and finds its records.
func OpenBlockRecords(path string) (*BlockRecords, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hfrealm: %w", err)
	}
	b := &BlockRecords{path: path, f: f}
	if err := b.scan(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("hfrealm: %s: %w", path, err)
	}
	return b, nil
}

// scan reads the .npy header and walks the pickle: the items of the first list are the records.
func (b *BlockRecords) scan() error {
	r := &countingReader{r: bufio.NewReaderSize(b.f, 1<<20)}
	n, err := readNpyObjectHeader(r)
	if err != nil {
		return err
	}
	b.offs = make([]int64, 0, n)
	var (
		inList, listDone bool
		memo             int64                   // the next memo index (MEMOIZE's implicit one).
		firstMemo        int64 = -1              // memo index of the first record.
		odd                    = map[int64]int{} // memo index → record, for puts out of sequence.
		lastRecord             = -1              // the record a put right after it memoises.
	)
	for {
		at := r.off
		op, err := r.byte()
		if err != nil {
			return fmt.Errorf("truncated pickle after %d of %d records: %w", len(b.offs), n, err)
		}
		if op == opStop {
			break
		}
		if w := stringLen(op); w > 0 {
			size, err := r.uint(w)
			if err == nil {
				err = r.skip(int64(size))
			}
			if err != nil {
				return fmt.Errorf("record %d is cut short: %w", len(b.offs), err)
			}
			lastRecord = -1
			if inList && !listDone {
				lastRecord = len(b.offs)
				b.offs = append(b.offs, at)
			}
			continue
		}
		w := argLen(op)
		if op == opGlobal {
			if err := r.line(); err == nil {
				err = r.line()
			}
			if err != nil {
				return fmt.Errorf("truncated pickle: %w", err)
			}
			continue
		}
		if w < 0 {
			return fmt.Errorf("pickle opcode %#x at byte %d is not one np.save writes for an array of byte strings", op, at)
		}
		arg, err := r.uint(w)
		if err != nil {
			return fmt.Errorf("truncated pickle after %d of %d records: %w", len(b.offs), n, err)
		}
		switch op {
		case opEmptyList:
			if inList {
				listDone = true // a second list: the records are over.
			}
			inList = true
		case opBinPut, opLongBinPut, opMemoize:
			id := int64(arg)
			if op == opMemoize {
				id = memo
			}
			memo = id + 1
			if lastRecord >= 0 {
				if firstMemo < 0 {
					firstMemo = id - int64(lastRecord)
				}
				if id != firstMemo+int64(lastRecord) {
					odd[id] = lastRecord
				}
			}
			lastRecord = -1
			continue
		case opBinGet, opLongBinGet: // the same bytes object again.
			if inList && !listDone {
				i, ok := odd[int64(arg)]
				if !ok {
					i = int(int64(arg) - firstMemo)
				}
				if firstMemo < 0 || i < 0 || i >= len(b.offs) {
					return fmt.Errorf("record %d refers to memo %d, which is not a record", len(b.offs), arg)
				}
				b.offs = append(b.offs, b.offs[i])
			}
		case opMark, opAppend, opAppends, opFrame:
		default:
			if inList {
				listDone = true
			}
		}
		lastRecord = -1
	}
	if len(b.offs) != n {
		return fmt.Errorf("the header says %d records, the array holds %d", n, len(b.offs))
	}
	return nil
}

// Len is the number of records.
func (b *BlockRecords) Len() int { return len(b.offs) }

// Record reads record i.
func (b *BlockRecords) Record(i int) (string, error) {
	if i < 0 || i >= len(b.offs) {
		return "", fmt.Errorf("hfrealm: %s: record %d out of [0, %d)", b.path, i, len(b.offs))
	}
	var h [9]byte
	if _, err := b.f.ReadAt(h[:1], b.offs[i]); err != nil {
		return "", fmt.Errorf("hfrealm: %s: record %d: %w", b.path, i, err)
	}
	w := stringLen(h[0])
	if _, err := b.f.ReadAt(h[1:1+w], b.offs[i]+1); err != nil {
		return "", fmt.Errorf("hfrealm: %s: record %d: %w", b.path, i, err)
	}
	var l [8]byte
	copy(l[:], h[1:1+w])
	buf := make([]byte, binary.LittleEndian.Uint64(l[:]))
	if _, err := b.f.ReadAt(buf, b.offs[i]+1+int64(w)); err != nil {
		return "", fmt.Errorf("hfrealm: %s: record %d: %w", b.path, i, err)
	}
	return string(buf), nil
}

// Close closes the file.
func (b *BlockRecords) Close() error { return b.f.Close() }

// LoadBlockRecords reads every record of a block_records.npy (OpenBlockRecords).
func LoadBlockRecords(path string) ([]string, error) {
	b, err := OpenBlockRecords(path)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	out := make([]string, b.Len())
	for i := range out {
		if out[i], err = b.Record(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WriteBlockRecords writes records to path as np.save writes a 1-D object array of byte
// strings (format 1.0, pickle protocol 3), which numpy.load(path, allow_pickle=True) and
// transformers' RealmRetriever read; atomically.
func WriteBlockRecords(path string, records []string) error {
	var p bytes.Buffer
	p.WriteString("\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01")
	writeInt := func(v int) {
		var b [8]byte
		switch {
		case v < 1<<8:
			p.Write([]byte{'K', byte(v)})
		case v < 1<<16:
			binary.LittleEndian.PutUint16(b[:], uint16(v))
			p.WriteByte('M')
			p.Write(b[:2])
		default: // BININT is signed: record counts up to 2³¹−1.
			binary.LittleEndian.PutUint32(b[:], uint32(v))
			p.WriteByte('J')
			p.Write(b[:4])
		}
	}
	writeInt(len(records))
	p.WriteString("\x85cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]")
	for i, s := range records {
		if i%1000 == 0 {
			if i > 0 {
				p.WriteByte(opAppends)
			}
			p.WriteByte(opMark)
		}
		var b [4]byte
		if len(s) < 256 {
			p.Write([]byte{opShortBinBytes, byte(len(s))})
		} else {
			binary.LittleEndian.PutUint32(b[:], uint32(len(s)))
			p.WriteByte(opBinBytes)
			p.Write(b[:])
		}
		p.WriteString(s)
	}
	if len(records) > 0 {
		p.WriteByte(opAppends)
	}
	p.WriteString("tb.")
	header := fmt.Sprintf("{'descr': '|O', 'fortran_order': False, 'shape': (%d,), }", len(records))
	pad := 64 - (10+len(header)+1)%64
	header += string(bytes.Repeat([]byte{' '}, pad%64)) + "\n"
	var out bytes.Buffer
	out.WriteString("\x93NUMPY\x01\x00")
	_ = binary.Write(&out, binary.LittleEndian, uint16(len(header)))
	out.WriteString(header)
	out.Write(p.Bytes())
	if err := atomicfile.WriteFile(path, out.Bytes()); err != nil {
		return fmt.Errorf("hfrealm: writing %s: %w", path, err)
	}
	return nil
}

var (
	npyDescrRE = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyShapeRE = regexp.MustCompile(`'shape':\s*\((\d+),\)`)
)

// readNpyObjectHeader reads the .npy header of a 1-D array of Python objects and returns its
// length.
func readNpyObjectHeader(r *countingReader) (int, error) {
	var pre [8]byte
	k, err := io.ReadFull(r.r, pre[:])
	r.off += int64(k)
	if err != nil {
		return 0, fmt.Errorf("no .npy header: %w", err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return 0, fmt.Errorf("not a .npy file (magic %q)", pre[:6])
	}
	var w int
	switch pre[6] {
	case 1:
		w = 2
	case 2, 3:
		w = 4
	default:
		return 0, fmt.Errorf(".npy version %d.%d is not supported", pre[6], pre[7])
	}
	hlen, err := r.uint(w)
	if err != nil {
		return 0, fmt.Errorf("truncated .npy header: %w", err)
	}
	h := make([]byte, hlen)
	k, err = io.ReadFull(r.r, h)
	r.off += int64(k)
	if err != nil {
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
