package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"unicode/utf8"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Write stores tensors (f32, f64 or i32 host tensors, written as F32, F64
// and I32) and optional metadata as a safetensors file, names sorted and
// data in that order, the header padded with spaces to a multiple of 8
// bytes as the Python library does. It writes atomically: a temporary file
// in the same folder is written, synced and renamed over path, and the
// folder is synced. On error no file and no temporary file is left.
func Write(path string, tensors map[string]*graph.Tensor, metadata map[string]string) error {
	names := make([]string, 0, len(tensors))
	for name, t := range tensors {
		if name == "__metadata__" {
			return fmt.Errorf("safetensors %s: a tensor may not be named __metadata__", path)
		}
		if !utf8.ValidString(name) {
			return fmt.Errorf("safetensors %s: tensor name %q is not valid UTF-8", path, name)
		}
		if err := t.Check(); err != nil {
			return fmt.Errorf("safetensors %s: tensor %q: %w", path, name, err)
		}
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors %s: tensor %q: negative dimension in shape %v", path, name, t.Shape)
			}
		}
		names = append(names, name)
	}
	sort.Strings(names)
	header, err := encodeHeader(names, tensors, metadata)
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	return writeAtomic(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		for _, name := range names {
			if err := writeData(w, tensors[name]); err != nil {
				return err
			}
		}
		return nil
	})
}

// encodeHeader builds the JSON header, padded with spaces to 8 bytes.
func encodeHeader(names []string, tensors map[string]*graph.Tensor, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		m, err := json.Marshal(metadata) // keys sorted
		if err != nil {
			return nil, err
		}
		b.WriteString(`"__metadata__":`)
		b.Write(m)
	}
	var off int64
	for i, name := range names {
		t := tensors[name]
		if i > 0 || len(metadata) > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		size := int64(t.Len()) * int64(t.DType.Size())
		shape := t.Shape
		if shape == nil {
			shape = graph.Shape{}
		}
		s, _ := json.Marshal([]int(shape))
		fmt.Fprintf(&b, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, k, safetensorsDType(t.DType), s, off, off+size)
		off += size
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > MaxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes exceeds the maximum %d", b.Len(), MaxHeaderSize)
	}
	return b.Bytes(), nil
}

func safetensorsDType(d graph.DType) string {
	switch d {
	case graph.F32:
		return "F32"
	case graph.F64:
		return "F64"
	case graph.I32:
		return "I32"
	}
	return d.String()
}

// writeData writes a tensor's elements little-endian in chunks.
func writeData(w io.Writer, t *graph.Tensor) error {
	var buf [4096]byte
	n := t.Len()
	size := t.DType.Size()
	per := len(buf) / size
	for i := 0; i < n; i += per {
		k := min(per, n-i)
		for j := range k {
			switch t.DType {
			case graph.F32:
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(t.F32[i+j]))
			case graph.F64:
				binary.LittleEndian.PutUint64(buf[8*j:], math.Float64bits(t.F64[i+j]))
			case graph.I32:
				binary.LittleEndian.PutUint32(buf[4*j:], uint32(t.I32[i+j]))
			}
		}
		if _, err := w.Write(buf[:k*size]); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic writes path through a temporary file in the same folder:
// write, fsync, close, rename, fsync the folder. On error the temporary
// file is removed and path is left as it was.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
