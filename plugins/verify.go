// Verification: a plugin pinned by digest is hashed before it is executed,
// and go-plugin hashes it again when it starts the process.

package plugins

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	goplugin "github.com/hashicorp/go-plugin"
)

// ChecksumError is a plugin file whose digest is not the pinned one.
type ChecksumError struct {
	Path     string
	Expected string // hex
	Found    string // hex
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin %s failed its sha256 check: expected %s, found %s (the file was not run)", e.Path, e.Expected, e.Found)
}

// parsePin decodes a hex sha256 pin.
func parsePin(pin string) ([]byte, error) {
	pin = strings.ToLower(strings.TrimSpace(pin))
	sum, err := hex.DecodeString(pin)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("sha256 pin %q is not %d hex digits", pin, 2*sha256.Size)
	}
	return sum, nil
}

// FileSHA256 returns the hex sha256 digest of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Verify checks that the file at path has the hex sha256 digest pin. A
// mismatch is a *ChecksumError.
func Verify(path, pin string) error {
	want, err := parsePin(pin)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", path, err)
	}
	got, err := FileSHA256(path)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", path, err)
	}
	gotSum, _ := hex.DecodeString(got)
	if subtle.ConstantTimeCompare(gotSum, want) != 1 {
		return &ChecksumError{Path: path, Expected: hex.EncodeToString(want), Found: got}
	}
	return nil
}

// secureConfig is go-plugin's check of the same pin, made again just before
// the process starts.
func secureConfig(pin string) (*goplugin.SecureConfig, error) {
	sum, err := parsePin(pin)
	if err != nil {
		return nil, err
	}
	return &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}, nil
}
