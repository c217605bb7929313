// Detects the race detector so the correctness tests can use fewer shapes
// under -race, where they run many times slower.

//go:build race

package gemm

const raceEnabled = true
