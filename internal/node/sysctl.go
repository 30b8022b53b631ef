package node

import (
	"context"
	"strings"
)

// sysctl applies the sysctl settings among Ignition's files, which systemd-sysctl.service
// ran too early to see. After the packet filter, whose modules bring the nf_conntrack keys;
// before etcd starts. What systemd-sysctl reports (a key this kernel lacks, a value it
// refuses) is a console warning, and etcd still starts, as it would where
// systemd-sysctl.service fails.
func (b *boot) sysctl(ctx context.Context) error {
	files := b.r.SysctlFiles()
	if len(files) == 0 {
		return nil
	}
	notes, err := b.m.ApplySysctl(ctx, files)
	for _, n := range notes {
		b.say("warning: sysctl: %s", n)
	}
	if err != nil && len(notes) > 0 {
		// systemd-sysctl applied the files' other settings
		b.say("warning: sysctl: %v (see the lines above)", err)
		return nil
	}
	if err != nil {
		b.say("warning: sysctl: %s not applied: %v", strings.Join(files, ", "), err)
		return nil
	}
	b.say("sysctl: applied %s", strings.Join(files, ", "))
	return nil
}
