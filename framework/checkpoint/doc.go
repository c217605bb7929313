// Package checkpoint reads and writes model weights: safetensors files and
// Hugging Face model folders (config.json plus model.safetensors, or
// model.safetensors.index.json and its shards).
//
// Reading. Open memory-maps a file (read-only, shared; on platforms without
// mmap the file is read into memory once) and validates its whole header
// before returning: the 8-byte little-endian header length is at most
// MaxHeaderSize and fits in the file; the header is well-formed JSON that
// starts with '{' and names no key twice; "__metadata__" maps strings to
// strings; every tensor has a known dtype, a shape of at most MaxRank
// non-negative dimensions, and data_offsets [begin, end] inside the data
// section whose length is exactly elements × element size; and the tensors
// tile the data section with no overlap, gap or trailing bytes (the rules
// the reference Rust implementation enforces); the header must also be
// valid UTF-8 and nest skipped values at most 128 deep, as serde_json
// requires. Element counts are computed with overflow checks against the
// file's size, so no number written in a header makes the reader allocate.
// Parsing never allocates more than the file's size (plus a constant: the
// parsed struct and an error message): the header is read in place by a
// small JSON scanner, twice (validate and count, then fill one slice of
// 32-byte records, one per tensor, each entry taking at least about 50
// header bytes), and names, shapes and metadata are read from the mapped
// header on request and copied out. TestParseAllocationBelowFileSize checks
// adversarial headers (many tiny entries, long and escaped names, rank-16
// shapes, huge numbers, deep nesting, many metadata strings) against the
// file's size; FuzzOpen against the size plus 64 KiB. Converting a tensor
// allocates its output only (twice the tensor's bytes for F16/BF16 → f32).
//
// Tensor converts to the host tensors of sdk/graph: F32, F16, BF16 and F64
// become f32 (F16 and BF16 exactly: BF16 is the upper half of a float32,
// F16 is widened with subnormals, infinities and NaNs kept), I32 and I64
// become i32 (an I64 outside the int32 range is an error). TensorAs gives
// f64 instead; Raw gives the bytes in place for any dtype. Errors name the
// file and the tensor and say what was expected and what was found.
//
// A mapped file must not be truncated by another process while open: the
// kernel would stop the reader with SIGBUS. Checkpoints written by Write
// are replaced by rename, never rewritten in place, so an open File keeps
// the old contents.
//
// Writing. Write stores f32, f64 and i32 tensors under sorted names, data in
// the same order, the header padded with spaces to a multiple of 8 bytes as
// the Python library does. Every file (Write, and each file of SaveFolder)
// is written atomically: a temporary file in the same folder, fsync,
// rename, fsync of the folder; on error neither the file nor the temporary
// file is left and an existing file is unchanged.
//
// Why our own reader. The format is a length, a JSON header and raw bytes.
// The one Go package for it we know of (github.com/nlpodyssey/safetensors)
// has no tagged release, and we need things a general package would not
// give us together: a memory map, conversion straight into graph.Tensor,
// and validation with errors worded for our users. The parser takes a
// []byte, so it is fuzzed directly (FuzzOpen) with no disk in the loop.
// Its JSON scanner is its own (encoding/json copies what it decodes, and
// its Decoder buffers the input), follows the JSON grammar strictly
// (strings decode as encoding/json decodes them, a lone surrogate becoming
// U+FFFD), and every number taken from it is range-checked before use.
package checkpoint
