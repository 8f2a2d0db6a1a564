package sshtest

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// signalsByName maps the signal names of RFC 4254, section 6.10, to the
// local signals.
var signalsByName = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT,
	"ALRM": syscall.SIGALRM,
	"FPE":  syscall.SIGFPE,
	"HUP":  syscall.SIGHUP,
	"ILL":  syscall.SIGILL,
	"INT":  syscall.SIGINT,
	"KILL": syscall.SIGKILL,
	"PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT,
	"SEGV": syscall.SIGSEGV,
	"TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// process is one command started for an exec request. It runs in its own
// process group so that signals also reach the commands the shell starts.
type process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu     sync.Mutex
	exited bool // set once Wait has reaped the shell; no signal after that
}

func startProcess(channel ssh.Channel, command, dir string) (*process, error) {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.Stdout = channel
	cmd.Stderr = channel.Stderr()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A pipe of our own, copied by copyStdin, because exec.Cmd.Wait would
	// otherwise wait for the client to close its stdin even after the
	// command has exited.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &process{cmd: cmd, stdin: stdin}, nil
}

// copyStdin forwards the client's data until the client sends EOF, the
// channel closes or the command stops reading.
func (p *process) copyStdin(r io.Reader) {
	io.Copy(p.stdin, r)
	p.stdin.Close()
}

// wait waits for the command, sends its exit status or exit signal and
// closes the channel.
func (p *process) wait(channel ssh.Channel) {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.exited = true
	p.mu.Unlock()

	name, payload := exitRequest(err)
	channel.SendRequest(name, false, payload)
	channel.Close()
}

// signal sends the named signal to the command's process group; unknown
// names are ignored, as RFC 4254 allows.
func (p *process) signal(name string) {
	if sig, ok := signalsByName[name]; ok {
		p.sendToGroup(sig)
	}
}

func (p *process) kill() { p.sendToGroup(syscall.SIGKILL) }

func (p *process) sendToGroup(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited {
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// exitRequest returns the channel request that reports how the command
// ended: "exit-signal" when a signal of RFC 4254 killed it, else
// "exit-status" with the shell's convention of 128+N for other signals.
func exitRequest(err error) (string, []byte) {
	status := 0
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		ws, ok := exitErr.Sys().(syscall.WaitStatus)
		if ok && ws.Signaled() {
			for name, sig := range signalsByName {
				if sig == ws.Signal() {
					return "exit-signal", ssh.Marshal(struct {
						Signal     string
						CoreDumped bool
						Error      string
						Lang       string
					}{Signal: name, CoreDumped: ws.CoreDump()})
				}
			}
			status = 128 + int(ws.Signal())
		} else {
			status = exitErr.ExitCode()
		}
	default:
		status = 255 // reading the command's output failed
	}
	return "exit-status", ssh.Marshal(struct{ Status uint32 }{uint32(status)})
}
