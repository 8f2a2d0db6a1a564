package e2e

import (
	"os"
	"syscall"
)

// fileUID returns the owner of a file, or -1 when the platform does not
// say.
func fileUID(info os.FileInfo) int {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
