package node

import (
	"context"
	"strings"
)

// sysctl applies the sysctl settings among Ignition's files, which systemd-sysctl.service
// ran too early to see. After the packet filter, whose modules bring the nf_conntrack keys;
// before etcd starts. A setting the kernel refuses is a warning, as a failed
// systemd-sysctl.service is on any boot: etcd still starts.
func (b *boot) sysctl(ctx context.Context) error {
	files := b.r.SysctlFiles()
	if len(files) == 0 {
		return nil
	}
	if err := b.m.ApplySysctl(ctx, files); err != nil {
		b.say("warning: sysctl: %v (a key prefixed with \"-\" is skipped where this kernel has none)", err)
		return nil
	}
	b.say("sysctl: applied %s", strings.Join(files, ", "))
	return nil
}
