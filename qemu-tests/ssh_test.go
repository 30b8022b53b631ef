package qemutests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sshPort = 22

// sshKey is a key pair made with the host's ssh-keygen, used with the host's ssh client.
type sshKey struct {
	private, public string
}

func newSSHKey(t *testing.T) sshKey {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		missing(t, "no ssh client on this host (openssh-client)")
	}
	path := filepath.Join(workDir(t), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "qemu-tests", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return sshKey{private: path, public: strings.TrimSpace(string(pub))}
}

// run runs a command as root on the guest through a forwarded port of 127.0.0.1, with only
// this key and no password prompts, in a login shell (as an operator's session would be).
func (k sshKey) run(ctx context.Context, port int, command string) (string, error) {
	return k.runWith(ctx, exec.CommandContext, "127.0.0.1", port, command)
}

// runWith is run against host:port, with the ssh process made by newCmd (a network
// namespace's exec.Command, say).
func (k sshKey) runWith(ctx context.Context, newCmd func(ctx context.Context, name string, args ...string) *exec.Cmd, host string, port int, command string) (string, error) {
	out, stderr, err := k.exec(ctx, newCmd, host, port, command)
	if err != nil {
		return string(out) + string(stderr), err
	}
	return string(out), nil
}

// exec is runWith with standard output and standard error apart (a snapshot on one, its
// description on the other).
func (k sshKey) exec(ctx context.Context, newCmd func(ctx context.Context, name string, args ...string) *exec.Cmd, host string, port int, command string) ([]byte, []byte, error) {
	return k.execFor(ctx, time.Minute, newCmd, host, port, command)
}

// execFor is exec with the command given up to d instead of a minute.
func (k sshKey) execFor(ctx context.Context, d time.Duration, newCmd func(ctx context.Context, name string, args ...string) *exec.Cmd, host string, port int, command string) ([]byte, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cmd := newCmd(ctx, "ssh", "-F", "/dev/null", "-i", k.private, "-p", fmt.Sprint(port),
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "PasswordAuthentication=no",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=20", "root@"+host, "sh -lc '"+command+"'")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	return out.Bytes(), stderr.Bytes(), err
}

// hostnameCmd prints the guest's hostname (the image has no hostname or cat binaries).
const hostnameCmd = `read h </proc/sys/kernel/hostname; echo $h`
