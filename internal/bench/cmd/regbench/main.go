// Command regbench measures regtrust against the floor of any SSH tool,
// against OpenSSH, and against an equivalent Ansible playbook, on a lab
// of sshd-only hosts on this machine. It needs root (see internal/lab).
//
// In each round it runs, one after the other:
//
//	limit      sshlimit: one x/crypto/ssh connection and one "true" per host, all at once
//	openssh    one "ssh HOST true" per host, all at once
//	apply      regtrust run on hosts without the files (every host changes)
//	no-change  regtrust run again (nothing to change)
//	ansible-*  the same two runs with ansible-playbook, when it is installed
//
// and prints the median of each, the ratios to the limit, to OpenSSH and
// to Ansible, regtrust's peak memory and its peak number of open file
// descriptors.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/regtrust/regtrust/internal/lab"
)

type options struct {
	hosts    int
	rounds   int
	forks    int
	regtrust string
	sshlimit string
	ansible  bool
	openssh  bool
	verbose  bool
}

func main() {
	var o options
	flag.IntVar(&o.hosts, "hosts", 100, "number of lab hosts")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of measurements; medians are reported")
	flag.IntVar(&o.forks, "forks", 0, "regtrust --forks and Ansible forks; 0 means one per host")
	flag.StringVar(&o.regtrust, "regtrust", "bin/regtrust", "regtrust binary `FILE`")
	flag.StringVar(&o.sshlimit, "sshlimit", "bin/sshlimit", "sshlimit binary `FILE`")
	flag.BoolVar(&o.ansible, "ansible", true, "also measure ansible-playbook when it is installed")
	flag.BoolVar(&o.openssh, "openssh", true, "also measure parallel OpenSSH")
	flag.BoolVar(&o.verbose, "v", false, "log lab progress")
	flag.Parse()
	if o.forks == 0 {
		o.forks = o.hosts
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "regbench:", err)
		os.Exit(1)
	}
}

// sample is one timed command.
type sample struct {
	seconds float64
	maxRSS  int64 // KiB, from the kernel's accounting of the child
	maxFDs  int
}

func run(ctx context.Context, o options) error {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	began := time.Now()
	l, err := lab.Start(ctx, lab.Options{Hosts: o.hosts, Logger: logger})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Printf("lab: %d sshd-only hosts started in %.1fs\n", o.hosts, time.Since(began).Seconds())

	work, err := os.MkdirTemp("", "regbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	playbook, err := writeRegtrustPlaybook(work, l.Registry.Address)
	if err != nil {
		return err
	}
	ansibleDir := ""
	if _, err := exec.LookPath("ansible-playbook"); err == nil && o.ansible {
		if ansibleDir, err = writeAnsible(work, l, o.forks); err != nil {
			return err
		}
	}

	results := map[string][]sample{}
	var ports []string
	for _, h := range l.Hosts {
		ports = append(ports, strconv.Itoa(h.Port))
	}
	reportFile := filepath.Join(work, "report.json")
	regtrustArgs := []string{"run", playbook, "-i", l.Inventory, "--known-hosts", l.KnownHosts, "--forks", strconv.Itoa(o.forks), "--report", reportFile}
	for round := 1; round <= o.rounds; round++ {
		steps := []struct {
			name  string
			reset bool
			cmd   func() *exec.Cmd
		}{
			{"limit", false, func() *exec.Cmd {
				return exec.CommandContext(ctx, o.sshlimit, append([]string{"-key", l.PrivateKey, "-known-hosts", l.KnownHosts}, ports...)...)
			}},
			{"openssh", false, nil},
			{"apply", true, func() *exec.Cmd { return exec.CommandContext(ctx, o.regtrust, regtrustArgs...) }},
			{"no-change", false, func() *exec.Cmd { return exec.CommandContext(ctx, o.regtrust, regtrustArgs...) }},
		}
		if ansibleDir != "" {
			ansible := func() *exec.Cmd {
				cmd := exec.CommandContext(ctx, "ansible-playbook", "-i", l.Inventory, filepath.Join(ansibleDir, "site.yml"))
				cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(ansibleDir, "ansible.cfg"))
				return cmd
			}
			steps = append(steps,
				struct {
					name  string
					reset bool
					cmd   func() *exec.Cmd
				}{"ansible-apply", true, ansible},
				struct {
					name  string
					reset bool
					cmd   func() *exec.Cmd
				}{"ansible-no-change", false, ansible})
		}
		for _, step := range steps {
			if step.name == "openssh" && !o.openssh {
				continue
			}
			if step.reset {
				if err := resetHosts(l); err != nil {
					return err
				}
			}
			var s sample
			var err error
			if step.name == "openssh" {
				s, err = timeOpenSSH(ctx, l)
			} else {
				s, err = timeCommand(step.cmd())
			}
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, step.name, err)
			}
			if step.name == "apply" || step.name == "no-change" {
				if err := checkReport(reportFile, o.hosts, step.name == "apply"); err != nil {
					return fmt.Errorf("round %d, %s: %w", round, step.name, err)
				}
			}
			results[step.name] = append(results[step.name], s)
		}
		fmt.Printf("round %d done\n", round)
	}
	printResults(o, results)
	return nil
}

// checkReport makes sure a timed run did the work: every host is in the
// report, none failed, and each changed (apply) or none did (no-change).
func checkReport(file string, hosts int, apply bool) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var r struct {
		Totals struct {
			Hosts, OK, Changed, Failed, Unreachable int
		} `json:"totals"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("parse %s: %w", file, err)
	}
	t := r.Totals
	want := t.OK == hosts
	if apply {
		want = t.Changed == hosts
	}
	if t.Hosts != hosts || t.Failed+t.Unreachable > 0 || !want {
		return fmt.Errorf("report totals %+v for %d hosts; want every host reported and %s", t, hosts, map[bool]string{true: "changed", false: "ok"}[apply])
	}
	return nil
}

// timeCommand runs cmd and measures its wall time and, by sampling /proc
// every 20 ms, its peak resident memory (VmHWM) and its peak number of
// open file descriptors. The kernel's rusage is not used for memory:
// its ru_maxrss counts the memory of this process at fork time too.
func timeCommand(cmd *exec.Cmd) (sample, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	var maxFDs int
	var maxRSS int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dir := fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid)
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		for {
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > maxFDs {
				maxFDs = len(entries)
			}
			if hwm := readHWM(status); hwm > maxRSS {
				maxRSS = hwm
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	elapsed := time.Since(start).Seconds()
	close(done)
	wg.Wait()
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w\n%s", cmd.Path, err, tail(out.String(), 20))
	}
	return sample{seconds: elapsed, maxFDs: maxFDs, maxRSS: maxRSS}, nil
}

// readHWM returns the VmHWM line of a /proc/PID/status file in KiB, or 0.
func readHWM(status string) int64 {
	data, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// timeOpenSSH runs "ssh HOST true" for every host at once.
func timeOpenSSH(ctx context.Context, l *lab.Lab) (sample, error) {
	start := time.Now()
	errs := make(chan error, len(l.Hosts))
	for _, h := range l.Hosts {
		go func() {
			cmd := exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
				"-o", "UserKnownHostsFile="+l.KnownHosts, "-o", "StrictHostKeyChecking=yes",
				"-i", l.PrivateKey, "-p", strconv.Itoa(h.Port), "root@127.0.0.1", "true")
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("ssh %s: %w: %s", h.Name, err, out)
			}
			errs <- err
		}()
	}
	for range l.Hosts {
		if err := <-errs; err != nil {
			return sample{}, err
		}
	}
	return sample{seconds: time.Since(start).Seconds()}, nil
}

// resetHosts removes what the playbooks write, through the hosts'
// private folders on the machine, so that the next apply changes every
// host.
func resetHosts(l *lab.Lab) error {
	for _, h := range l.Hosts {
		etc := h.Mounts["/etc/docker"]
		if etc == "" {
			return fmt.Errorf("host %s has no private /etc/docker", h.Name)
		}
		if err := os.RemoveAll(filepath.Join(etc, "certs.d")); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(etc, "daemon.json"), []byte("{\n  \"log-level\": \"warn\"\n}\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func printResults(o options, results map[string][]sample) {
	names := []string{"limit", "openssh", "apply", "no-change", "ansible-apply", "ansible-no-change"}
	med := map[string]float64{}
	for _, name := range names {
		var secs []float64
		for _, s := range results[name] {
			secs = append(secs, s.seconds)
		}
		if len(secs) > 0 {
			med[name] = median(secs)
		}
	}
	fmt.Printf("\n%d hosts, %d rounds, forks %d; median wall time in seconds\n", o.hosts, o.rounds, o.forks)
	if med["openssh"] == 0 {
		med["openssh"] = math.NaN()
	}
	fmt.Printf("%-18s %8s %8s %10s %10s %9s %7s\n", "run", "median", "x limit", "x openssh", "x ansible", "peak MiB", "peak fd")
	for _, name := range names {
		samples := results[name]
		if len(samples) == 0 {
			continue
		}
		var rss int64
		fds := 0
		for _, s := range samples {
			rss = max(rss, s.maxRSS)
			fds = max(fds, s.maxFDs)
		}
		vsAnsible := "-"
		switch name {
		case "apply":
			if a := med["ansible-apply"]; a > 0 {
				vsAnsible = fmt.Sprintf("1/%.0f", a/med[name])
			}
		case "no-change":
			if a := med["ansible-no-change"]; a > 0 {
				vsAnsible = fmt.Sprintf("1/%.0f", a/med[name])
			}
		}
		peak := "-"
		if rss > 0 {
			peak = fmt.Sprintf("%.1f", float64(rss)/1024)
		}
		peakFD := "-"
		if fds > 0 {
			peakFD = strconv.Itoa(fds)
		}
		fmt.Printf("%-18s %8.3f %8.2f %10.2f %10s %9s %7s\n", name, med[name], med[name]/med["limit"], med[name]/med["openssh"], vsAnsible, peak, peakFD)
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
