// Package cpu is mohawk's CPU executor: it compiles a graph.Graph once into
// a Program and runs it many times, in float32 or float64 (int32 for ids,
// masks and index arithmetic), on all cores.
//
// # Compile once
//
// Backend.Compile validates the graph and does every decision that does not
// depend on the data: repeated computations (same op, attributes and
// inputs) are merged; nodes that no output or update needs are dropped;
// reshapes, stop-gradients, identity casts and broadcasts, pads by zero,
// contiguous slices and transposes that keep the order of the non-unit axes
// become views that share their input's buffer (at an offset for slices);
// constants and iotas are computed; and each remaining node gets a closure
// that holds everything its kernel needs: collapsed broadcast strides,
// reduction layout, GEMM sizes, leading dimensions and batch strategy, row
// lengths. Run then only binds the inputs and resident tensors and calls
// the closures in order.
//
// # Fusion
//
// Elementwise nodes (unary maps, casts, binary ops, Where) are fused at
// compile time. A value that is no output or update, is not read through a
// partial view (a slice), and whose readers are all elementwise with as many
// elements gets no buffer: when its readers all belong to one step it is
// computed inside that step, and when they belong to a few steps and it is
// one cheap op (add, mul, compare, select, cast, …) on values that are
// materialised anyway, each of those steps recomputes it (autodiff graphs
// read such products from both the forward and the backward pass). Each
// step then evaluates a tree whose leaves are materialised values,
// constants, params and inputs: it walks its result in blocks of 1024
// elements split across the pool and, per block, evaluates the tree in
// per-thread scratch registers with the same kernels as the single ops
// (vectorised for float32), reading same-shaped leaves in place, scalars as
// scalars, and other broadcast leaves run by run along a collapsed plan. So
// an AdamW update or a gelu gradient reads each input once and writes one
// result, and the values are bit for bit those of the unfused ops. A
// reduction or a softmax can end such a tree too: it evaluates the tree
// block by block (row by row) as it reads its input, so a gradient's sum of
// products or a masked, scaled attention score never lands in memory.
// Movements that are not views (slices, pads, broadcasts, and transposes
// that keep the last axis) and are read only by such steps get no buffer
// either when their contiguous runs are long enough: the steps read the
// source through the composed offsets and strides, zero where a pad's
// bounds say so, so a convolution's shifted slices of a padded input and
// the gradient of a split (a sum of pads) are never copied. An elementwise
// tree read only through such a slice, pad or transpose, by one step, is
// evaluated there too, piece by piece at the positions the movement reads
// (a convolution's gradient: a sum of shifted pads of products).
//
// # Arena
//
// Every computed value (and every input, copied in) lives in one arena per
// dtype. Offsets are assigned greedily in execution order: a value is placed
// in the best-fitting free block when its node runs and its block is freed
// after its last reader (a view extends the life of the buffer it shares),
// so a long chain needs only a few live buffers. Outputs and update values
// stay alive to the end. Buffers are 64-byte aligned. Because every offset is
// fixed at compile time, a steady-state Run allocates nothing: the output map
// and tensors are the program's own and point into the arena, so they are
// overwritten by the next Run.
//
// Params and state are resident in the Backend, shared by every program
// compiled on it. Kernels read them in place; updates are written in place
// after every node has run, and an update whose value lives in another
// updated tensor is staged first, so every update reads the values from
// before any was written. An update computed by an elementwise step after
// every other read of its target, with no fallible step (gather, scatter,
// cross-entropy) after it, is instead computed straight into the target
// (AdamW's parameters and moments), which nothing can observe. An output
// that would alias a resident or constant buffer is copied into the arena
// instead.
//
// # Worker pool
//
// Each backend starts Threads-1 goroutines once. A kernel hands the pool an
// index range and a body prepared at compile time; the pool wakes workers
// with a channel send, and the caller and the workers take chunks of about
// a quarter of an even share through an atomic counter, which balances
// uneven progress without allocating; a body that needs scratch space gets
// the index of the goroutine running it. Elementwise ops split the flat
// output range, row ops (softmax, norms, cross-entropy, last-axis
// reductions) split rows, reductions over leading axes split fixed blocks of
// rows into partial sums (so the summation order, hence every result, is
// the same for any thread count), transposes split tiles, and batched
// matmuls split batch items with serial GEMMs when items are many or small,
// or call the parallel GEMM per item when they are few and large; products
// with a dimension under 9 run as dot products or row updates. Work under
// about 4096 elements runs on the calling goroutine, where waking workers
// would cost more than it saves.
// The parallel GEMM uses the gemm package's own workers and its
// gemm.Threads() setting; a backend with Threads == 1 uses the serial GEMM.
//
// # Errors
//
// A graph the backend cannot run (an f16 or bf16 dtype, an invalid graph) is
// refused by Compile. At run time, a missing or mistyped input, a missing
// resident tensor, an out-of-range gather or scatter id and a label outside
// the vocabulary are errors naming the node, op and value; ids and labels are
// checked before any data moves. A panic inside Run (a bug) is recovered and
// returned as an error.
package cpu
