package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
)

// qmpSocket is where qemu listens for the QEMU Machine Protocol.
func qmpSocket(dir string) string { return filepath.Join(dir, "qmp.sock") }

// maxSocketPath is the room for a path in Linux's sockaddr_un (108 bytes with the NUL).
const maxSocketPath = 108

// PowerButton presses the machine's power button (ACPI on q35 and virt with UEFI, gpio-keys
// on virt's device tree, an EPOW event on pseries), as a cloud's stop does. It returns once
// qemu took the request; the guest decides what follows (Done closes if it powers off).
func (v *VM) PowerButton(ctx context.Context) error {
	sock := qmpSocket(v.dir)
	if len(sock) >= maxSocketPath {
		return fmt.Errorf("no QMP socket: its path %s is %d bytes, over the %d a Unix socket allows; give the VM a shorter TempDir (or TMPDIR)", sock, len(sock), maxSocketPath-1)
	}
	return qmp(ctx, sock, "system_powerdown")
}

// qmp runs commands on a QMP socket after the capabilities handshake.
func qmp(ctx context.Context, socket string, cmds ...string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("QMP: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	rd := bufio.NewReader(c)
	if _, err := rd.ReadBytes('\n'); err != nil { // the greeting
		return fmt.Errorf("QMP greeting: %w", err)
	}
	for _, cmd := range append([]string{"qmp_capabilities"}, cmds...) {
		if _, err := fmt.Fprintf(c, "{\"execute\":%q}\n", cmd); err != nil {
			return fmt.Errorf("QMP %s: %w", cmd, err)
		}
		if err := qmpReply(rd, cmd); err != nil {
			return err
		}
	}
	return nil
}

// qmpReply reads up to the reply to cmd; events (such as POWERDOWN) may come first.
func qmpReply(rd *bufio.Reader, cmd string) error {
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("QMP %s: %w", cmd, err)
		}
		var m struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Desc string `json:"desc"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			return fmt.Errorf("QMP %s: %q: %w", cmd, line, err)
		}
		if m.Error != nil {
			return fmt.Errorf("QMP %s: %s", cmd, m.Error.Desc)
		}
		if m.Return != nil {
			return nil
		}
	}
}
