// Package atomicfile writes files on the controller so that a reader sees
// either the old content or the new, never a part: reports, plans and
// metrics that other programs read while regtrust writes them.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to file with mode perm. The data goes to a temporary
// file in the same folder, whose name starts with a dot and does not end
// in file's extension, so that a collector that reads *.prom or *.json
// skips it. The temporary file is synced and then renamed over file,
// which is atomic within one file system.
func Write(file string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(file)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	// Remove fails harmlessly once the rename has moved the file.
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.Chmod(tmp.Name(), perm); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}
