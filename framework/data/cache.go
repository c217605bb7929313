package data

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"log"
	"os"
	"path/filepath"
)

// FormatVersion is the cache file format; it is part of the cache key.
const FormatVersion = 1

const (
	magic      = "MHKTOKS\x00"
	headerSize = 32 // magic[8] version u32 dtype u32 count u64 crc64 u64
	dtypeU16   = 2
	dtypeI32   = 4
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// ErrCorrupt marks a cache file that failed validation.
var ErrCorrupt = errors.New("data: corrupt token cache")

// Tokenizer is the interface of framework/tokenizer.Tokenizer.
type Tokenizer interface {
	Encode(text string) []int32
	Decode(ids []int32) string
	VocabSize() int
	EOS() int32
}

// Options tune Build.
type Options struct {
	// CacheDir holds the cache files; required.
	CacheDir string
	// TokenizerID names the tokenizer (its file hash, say); it is part of the key.
	TokenizerID string
	// Progress forces the progress bar on (1) or off (-1); 0 shows it when
	// stderr is a terminal.
	Progress int
	// Logf receives messages about rebuilt caches; nil uses log.Printf.
	Logf func(format string, args ...any)
}

// CacheKey hashes the sources, their files' sizes and modification times, the
// tokenizer identity and vocabulary size, and the format version.
func CacheKey(srcs []Source, tokID string, vocab int) (key string, files [][]string, total int64, err error) {
	h := sha256.New()
	fmt.Fprintf(h, "v%d\ntok=%s\nvocab=%d\n", FormatVersion, tokID, vocab)
	for _, s := range srcs {
		fs, err := s.Files()
		if err != nil {
			return "", nil, 0, err
		}
		fmt.Fprintf(h, "src=%s\n", s)
		for _, f := range fs {
			st, err := os.Stat(f)
			if err != nil {
				return "", nil, 0, fmt.Errorf("data: %w", err)
			}
			abs, _ := filepath.Abs(f)
			fmt.Fprintf(h, "%s\x00%d\x00%d\n", abs, st.Size(), st.ModTime().UnixNano())
			total += st.Size()
		}
		files = append(files, fs)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], files, total, nil
}

// Build returns the token stream of srcs, tokenising them into a cache file
// under opt.CacheDir the first time and mapping that file afterwards. Each
// document is followed by tok.EOS(). A cache file that fails validation is
// logged, removed and rebuilt.
func Build(srcs []Source, tok Tokenizer, opt Options) (*Tokens, error) {
	if opt.CacheDir == "" {
		return nil, errors.New("data: Options.CacheDir is empty")
	}
	if tok.EOS() < 0 {
		return nil, errors.New("data: the tokenizer has no EOS id")
	}
	logf := opt.Logf
	if logf == nil {
		logf = log.Printf
	}
	key, files, total, err := CacheKey(srcs, opt.TokenizerID, tok.VocabSize())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opt.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	path := filepath.Join(opt.CacheDir, "tokens-"+key+".bin")
	if t, err := Open(path); err == nil {
		return t, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		logf("data: rebuilding token cache %s: %v", path, err)
		os.Remove(path)
	}
	bar := newProgress(total, opt.Progress)
	err = writeCache(path, tok, func(emit func(string, bool) error) error {
		for i, s := range srcs {
			for _, f := range files[i] {
				if err := s.forEachChunk(f, emit, bar.add); err != nil {
					return err
				}
			}
		}
		return nil
	})
	bar.finish()
	if err != nil {
		return nil, err
	}
	return Open(path)
}

// writeCache streams the documents produced by gen through tok into path,
// atomically: a temporary file in the same directory is written, synced and
// renamed.
func writeCache(path string, tok Tokenizer, gen func(emit func(piece string, end bool) error) error) (err error) {
	dtype := uint32(dtypeI32)
	if tok.VocabSize() <= 1<<16 {
		dtype = dtypeU16
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tokens-*.tmp")
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(make([]byte, headerSize)); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	crc := crc64.New(crcTable)
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	var count uint64
	vocab := int64(tok.VocabSize())
	eos := tok.EOS()
	var scratch []byte
	put := func(ids []int32) error {
		scratch = scratch[:0]
		for _, id := range ids {
			if id < 0 || int64(id) >= vocab {
				return fmt.Errorf("data: tokenizer returned id %d outside [0,%d)", id, vocab)
			}
			if dtype == dtypeU16 {
				scratch = binary.LittleEndian.AppendUint16(scratch, uint16(id))
			} else {
				scratch = binary.LittleEndian.AppendUint32(scratch, uint32(id))
			}
		}
		count += uint64(len(ids))
		_, err := w.Write(scratch)
		return err
	}
	eosIDs := []int32{eos}
	err = gen(func(piece string, end bool) error {
		if err := put(tok.Encode(piece)); err != nil {
			return err
		}
		if end {
			return put(eosIDs)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := f.WriteAt(header(dtype, count, crc.Sum64()), 0); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func header(dtype uint32, count, sum uint64) []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, FormatVersion)
	b = binary.LittleEndian.AppendUint32(b, dtype)
	b = binary.LittleEndian.AppendUint64(b, count)
	b = binary.LittleEndian.AppendUint64(b, sum)
	return b
}

// Tokens is a read-only token stream backed by a mapped cache file.
type Tokens struct {
	data  []byte // payload, after the header
	dtype uint32
	n     int
	unmap func() error
}

// Open maps and validates a cache file: magic, version, dtype, that the size
// matches the count, and the payload checksum. Errors wrap ErrCorrupt (or
// os.ErrNotExist for a missing file).
func Open(path string) (*Tokens, error) {
	buf, unmap, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) (*Tokens, error) {
		err := fmt.Errorf("%w: %s: %s", ErrCorrupt, path, fmt.Sprintf(format, args...))
		unmap()
		return nil, err
	}
	if len(buf) < headerSize {
		return fail("%d bytes, shorter than the header", len(buf))
	}
	if string(buf[:8]) != magic {
		return fail("bad magic %q", string(buf[:8]))
	}
	if v := binary.LittleEndian.Uint32(buf[8:]); v != FormatVersion {
		return fail("version %d, want %d", v, FormatVersion)
	}
	dtype := binary.LittleEndian.Uint32(buf[12:])
	if dtype != dtypeU16 && dtype != dtypeI32 {
		return fail("unknown dtype %d", dtype)
	}
	count := binary.LittleEndian.Uint64(buf[16:])
	sum := binary.LittleEndian.Uint64(buf[24:])
	payload := buf[headerSize:]
	if count > uint64(len(payload))/uint64(dtype) || uint64(len(payload)) != count*uint64(dtype) {
		return fail("payload is %d bytes, header says %d tokens of %d bytes", len(payload), count, dtype)
	}
	if got := crc64.Checksum(payload, crcTable); got != sum {
		return fail("checksum %016x, header says %016x", got, sum)
	}
	return &Tokens{data: payload, dtype: dtype, n: int(count), unmap: unmap}, nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return t.n }

// At returns token i.
func (t *Tokens) At(i int) int32 {
	if t.dtype == dtypeU16 {
		return int32(binary.LittleEndian.Uint16(t.data[2*i:]))
	}
	return int32(binary.LittleEndian.Uint32(t.data[4*i:]))
}

// Read copies tokens [off, off+len(dst)) into dst.
func (t *Tokens) Read(dst []int32, off int) {
	if t.dtype == dtypeU16 {
		b := t.data[2*off : 2*(off+len(dst))]
		for i := range dst {
			dst[i] = int32(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return
	}
	b := t.data[4*off : 4*(off+len(dst))]
	for i := range dst {
		dst[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// Close unmaps the file; the Tokens must not be used afterwards.
func (t *Tokens) Close() error {
	if t.unmap == nil {
		return nil
	}
	err := t.unmap()
	t.unmap, t.data = nil, nil
	return err
}
