// Package data turns text corpora into batches of token ids for training.
//
// Sources are text files (one document per file), JSON-lines files (one
// document per line, taken from a named string field) and directories of
// files filtered by extension. Globs accept "**" for any depth. Files are
// read in sorted order.
//
// Build tokenises the sources once, streaming: text files go to the
// tokenizer in pieces of about 256 KiB cut after a newline and JSONL is read
// line by line, so memory does not grow with the corpus. Each document is
// followed by the tokenizer's EOS id. The ids are written to a cache file
// named by a hash of the source list, the files' sizes and modification
// times, the tokenizer identity and vocabulary size, and FormatVersion. The
// file is a 32-byte header (magic, version, dtype, token count, CRC-64 of the
// payload) and the ids as little-endian uint16 when the vocabulary has at
// most 65536 ids, int32 otherwise. It is written to a temporary file, synced
// and renamed into place, and memory-mapped for reading. A cache that fails
// any check is logged, removed and rebuilt.
//
// Split cuts the stream into sequences of T+1 tokens (inputs and next-token
// targets) and holds out a fraction of them, chosen by a seeded permutation,
// for validation. Set.Batches iterates batches of [B,T] int32 tensors in a
// per-epoch permutation seeded by (seed, epoch), and can start at any step
// to resume a run.
//
// A progress bar of bytes read is shown on stderr while tokenising when
// stderr is a terminal.
package data
