// Counterpart of race_test.go for builds without the race detector.

//go:build !race

package gemm

const raceEnabled = false
