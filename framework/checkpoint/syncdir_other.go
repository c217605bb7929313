//go:build !unix

package checkpoint

// syncDir is a no-op where folders cannot be synced (Windows: the rename is
// made durable by the file system's own journal).
func syncDir(dir string) error { return nil }
