package vmnet

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
)

// etcNetnsDir holds, per namespace name, files that `ip netns exec NAME` bind-mounts over
// their namesakes in /etc for the program it starts (iproute2's convention). vmnet puts a
// resolver configuration there so that programs started with Command, the proxy above all,
// resolve names through the namespace's DNS server and never through the host's.
const etcNetnsDir = "/etc/netns"

// etcFiles are the files for etcNetnsDir/NAME: name resolution from a hosts file and DNS
// only, with no NSS module that could reach a host daemon over a Unix socket (those are
// not confined by the network namespace), and DNS at the gateway when Options.Domain is
// set, else at a port nobody serves, so that lookups fail at once.
func etcFiles(opts Options, gw netip.Addr) map[string]string {
	resolv := "# no DNS in this test network (vmnet Options.Domain is unset)\nnameserver 127.0.0.1\n"
	if opts.Domain != "" {
		resolv = fmt.Sprintf("nameserver %s\nsearch %s\n", gw, opts.Domain)
	}
	return map[string]string{
		"resolv.conf": resolv + "options timeout:2 attempts:2\n",
		"hosts":       "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
		"nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\ngshadow: files\n" +
			"hosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n" +
			"ethers: files\nrpc: files\n",
	}
}

// writeEtc writes etcFiles for namespace name.
func writeEtc(name string, opts Options, gw netip.Addr) error {
	dir := filepath.Join(etcNetnsDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("resolver files: %w", err)
	}
	for file, content := range etcFiles(opts, gw) {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			return fmt.Errorf("resolver files: %w", err)
		}
	}
	return nil
}

// removeEtc removes namespace name's files; none is not an error. Programs started before
// keep their bind mounts.
func removeEtc(name string) error {
	err := os.RemoveAll(filepath.Join(etcNetnsDir, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove resolver files: %w", err)
	}
	return nil
}
