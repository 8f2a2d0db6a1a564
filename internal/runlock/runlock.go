// Package runlock keeps scheduled runs from overlapping. A run takes an
// exclusive flock(2) lock on a file. The kernel releases the lock when
// the process exits, however it exits, so a crashed run never leaves a
// stale lock behind.
package runlock

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// LockedError reports that another process holds the lock.
type LockedError struct {
	File string
	// Holder describes the process that holds the lock, as it wrote
	// itself into the file ("pid 1234, started 2026-01-02T03:04:05Z"),
	// or "" when the file holds no such line.
	Holder string
}

func (e *LockedError) Error() string {
	who := "another regtrust run"
	if e.Holder != "" {
		who += " (" + e.Holder + ")"
	}
	return fmt.Sprintf("lock %s: %s holds it; this run stopped before contacting any host, and the next scheduled run will try again", e.File, who)
}

// Lock is a held lock. Release it with Unlock, or let the process exit.
type Lock struct {
	file *os.File
}

// Acquire takes the exclusive lock on file without waiting, creating the
// file when it is missing, and writes the process id and start time into
// it for the message of a run that finds it taken. It returns a
// *LockedError when another process holds the lock.
//
// flock(2) locks belong to the open file description, so a second
// Acquire in the same process fails as well. On NFS, Linux emulates
// flock with fcntl byte-range locks, which also work across machines.
func Acquire(file string) (*Lock, error) {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{File: file, Holder: holder}
		}
		return nil, fmt.Errorf("lock %s: %w", file, err)
	}
	note := fmt.Sprintf("pid %d, started %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file %s: %w", file, err)
	}
	if _, err := f.WriteAt([]byte(note), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file %s: %w", file, err)
	}
	return &Lock{file: f}, nil
}

// readHolder returns the first line of the lock file, which the holder
// wrote after taking the lock. The line is shown in a message, so it is
// cut short and must be printable.
func readHolder(f *os.File) string {
	buf := make([]byte, 200)
	n, _ := f.ReadAt(buf, 0)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	line = strings.TrimSpace(line)
	for _, r := range line {
		if r < ' ' || r == 0x7f {
			return ""
		}
	}
	return line
}

// Unlock releases the lock. The file stays, so that the next run locks
// the same inode instead of racing to create a new one.
func (l *Lock) Unlock() error {
	if l == nil || l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}
