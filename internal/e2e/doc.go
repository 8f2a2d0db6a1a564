// Package e2e holds the end-to-end test: it builds the regtrust command
// and runs it as a subprocess against a lab of real sshd, dockerd and
// registry processes (package lab). The test needs root; see
// labtest.Require for when it skips and when it fails instead.
package e2e
