package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name     string
		existing string // content before the write; "" means no file
		data     string
		perm     os.FileMode
	}{
		{"new-file", "", "first\n", 0o644},
		{"replace", "old content\n", "new\n", 0o644},
		{"private-mode", "", "secret-free but private\n", 0o600},
		{"empty", "old\n", "", 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "out.prom")
			if tt.existing != "" {
				if err := os.WriteFile(file, []byte(tt.existing), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := Write(file, []byte(tt.data), tt.perm); err != nil {
				t.Fatalf("Write: %v", err)
			}
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.data {
				t.Errorf("content = %q; want %q", got, tt.data)
			}
			info, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != tt.perm {
				t.Errorf("mode = %04o; want %04o", info.Mode().Perm(), tt.perm)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("folder holds %v; want only out.prom (no temporary file left)", names)
			}
		})
	}
}

func TestWriteMissingFolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "missing", "out.json")
	err := Write(file, []byte("{}"), 0o644)
	if err == nil {
		t.Fatal("Write into a missing folder succeeded; want an error")
	}
	if !strings.Contains(err.Error(), file) {
		t.Errorf("error %q does not name %s", err, file)
	}
}
