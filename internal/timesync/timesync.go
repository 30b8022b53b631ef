// Package timesync is what the node tells systemd-timesyncd and reads back from it: the NTP
// servers beside DHCP's (the platform's own and time.servers), whether the clock is
// synchronised, and from which server. timesyncd answers on D-Bus, which the image does not
// run; the flag file it keeps and its journal lines say the same.
package timesync

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Paths timesyncd and networkd keep.
const (
	// SyncedFlag exists once timesyncd has synchronised the clock this boot (/run: a tmpfs).
	SyncedFlag = "/run/systemd/timesync/synchronized"
	// DropIn is the configuration firstboot writes under the root (/etc is a tmpfs overlay,
	// written afresh every boot).
	DropIn = "etc/systemd/timesyncd.conf.d/50-etcd-appliance.conf"
	Unit   = "systemd-timesyncd.service"
)

// platformServers are the NTP services a cloud runs for its instances at a fixed address,
// which its DHCP does not announce. Azure has none: its hosts give the time through the
// Hyper-V time-sync device, which the kernel reads; the others' DHCP or the config name one.
var platformServers = map[string][]string{
	"aws": {"169.254.169.123"}, // the Amazon Time Sync Service
	"gcp": {"169.254.169.254"}, // the metadata server answers NTP too
}

// PlatformServers are the platform's own NTP servers, if it has any.
func PlatformServers(platform string) []string { return slices.Clone(platformServers[platform]) }

// Servers are the NTP servers firstboot configures: the config's first, then the platform's.
func Servers(platform string, configured []string) []string {
	out := slices.Clone(configured)
	for _, s := range PlatformServers(platform) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// DropInText is timesyncd's configuration for servers. NTP= servers come after the ones
// DHCP gives per link; Debian's pool stays the fallback when neither answers.
func DropInText(servers []string) []byte {
	return []byte("# Written by firstboot at every boot: time.servers and the platform's NTP service.\n[Time]\nNTP=" +
		strings.Join(servers, " ") + "\n")
}

// LeaseServers are the NTP servers in networkd's DHCP leases under dir.
func LeaseServers(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "NTP="); ok {
				for _, s := range strings.Fields(v) {
					if !slices.Contains(out, s) {
						out = append(out, s)
					}
				}
			}
		}
		f.Close()
	}
	return out
}

// Synced reports whether timesyncd has synchronised the clock this boot.
func Synced() bool {
	_, err := os.Stat(SyncedFlag)
	return err == nil
}

// SourceFromJournal is the server of timesyncd's last "Contacted time server" line in its
// journal output (journalctl -o cat), "" when there is none.
func SourceFromJournal(journal string) string {
	const prefix = "Contacted time server "
	src := ""
	for _, line := range strings.Split(journal, "\n") {
		if _, rest, ok := strings.Cut(line, prefix); ok {
			src = strings.TrimSuffix(strings.TrimSpace(rest), ".")
		}
	}
	return src
}

// LeaseDir is where systemd-networkd keeps its DHCP leases.
const LeaseDir = "/run/systemd/netif/leases"

// ConfiguredServers are the servers in the drop-in firstboot wrote this boot.
func ConfiguredServers() []string {
	b, err := os.ReadFile("/" + DropIn)
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "NTP="); ok {
			return strings.Fields(v)
		}
	}
	return nil
}
