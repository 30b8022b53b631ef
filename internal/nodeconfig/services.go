package nodeconfig

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/timesync"
)

// resolvedDropIn is the DNS configuration firstboot adds (under the root; /etc is a tmpfs
// overlay, so it is written afresh every boot).
const resolvedDropIn = "etc/systemd/resolved.conf.d/50-etcd-appliance.conf"

// ServiceFile is a configuration file for one of the image's network services.
type ServiceFile struct {
	Path string // under the root
	Unit string // the service that reads it: restarted once it is written
	Data []byte
	// Summary says what it adds, for the console.
	Summary string
	// Hosts are the servers it names, which the service may look up by name.
	Hosts []string
}

// ServiceFiles are what network.dns, time.servers and the platform's NTP service add to what
// systemd-resolved and systemd-timesyncd get from DHCP and networkd. None when there is
// nothing to add.
func (r *Resolved) ServiceFiles() []ServiceFile {
	var out []ServiceFile
	if d := r.Config.Network.DNS; len(d.Servers) > 0 || len(d.Search) > 0 {
		text := "# Written by firstboot at every boot: network.dns.\n[Resolve]\n"
		if len(d.Servers) > 0 {
			text += "DNS=" + strings.Join(d.Servers, " ") + "\n"
		}
		if len(d.Search) > 0 {
			text += "Domains=" + strings.Join(d.Search, " ") + "\n"
		}
		out = append(out, ServiceFile{resolvedDropIn, "systemd-resolved.service", []byte(text),
			fmt.Sprintf("DNS servers %s, search %s (network.dns, beside DHCP's)", orNone(d.Servers), orNone(d.Search)), nil})
	}
	if s := r.TimeServers(); len(s) > 0 {
		out = append(out, ServiceFile{timesync.DropIn, timesync.Unit, timesync.DropInText(s),
			"NTP servers " + strings.Join(s, " ") + " (time.servers and the platform's, beside DHCP's)", s})
	}
	return out
}

// TimeServers are the NTP servers firstboot configures (time.servers, then the platform's);
// DHCP's come on top, through networkd.
func (r *Resolved) TimeServers() []string {
	return timesync.Servers(r.Platform, r.Config.Time.Servers)
}

// WriteServiceFiles writes files under root and returns the units to restart.
func WriteServiceFiles(root string, files []ServiceFile) (units []string, err error) {
	for _, f := range files {
		if err := atomicfile.WriteAll(filepath.Join(root, f.Path), f.Data, 0o644); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Unit, err)
		}
		units = append(units, f.Unit)
	}
	return units, nil
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, " ")
}
