package etcdversion

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{"3.6.16": "3.6.16", "v3.6.16": "3.6.16", "3.6.0": "3.6.0", " v3.7.3\n": "3.7.3"} {
		v, err := Parse(in)
		if err != nil || v.String() != want {
			t.Errorf("Parse(%q) = %v, %v; want %s", in, v, err, want)
		}
	}
	for _, in := range []string{"", "3.6", "v3", "three"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) gave no error", in)
		}
	}
}

// on is a healthy member running server with storage.
func on(name, server, storage string) Member {
	return Member{Name: name, Server: server, Storage: storage, Healthy: true}
}

func self(m Member) Member { m.Self = true; return m }

func downgrading(m Member, to string) Member { m.Downgrade = to; return m }

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		roll    Roll
		verdict string // the last line when allowed
		wantErr string
	}{
		{name: "patch change",
			roll:    Roll{Cluster: "3.6.0", Target: "v3.6.17", Members: []Member{self(on("a", "3.6.16", "3.6.0")), on("b", "3.6.16", "3.6.0")}},
			verdict: "verdict: patch change 3.6.16 → 3.6.17 within 3.6"},
		{name: "upgrade to the next minor starts",
			roll:    Roll{Cluster: "3.6.0", Target: "3.7.3", Members: []Member{self(on("a", "3.6.16", "3.6.0")), on("b", "3.6.16", "3.6.0")}},
			verdict: "verdict: upgrade 3.6 → 3.7 may start"},
		{name: "roll under way goes on",
			roll:    Roll{Cluster: "3.6.0", Target: "3.7.3", Members: []Member{self(on("a", "3.6.16", "3.6.0")), on("b", "3.7.3", "3.6.0"), on("c", "3.6.16", "3.6.0")}},
			verdict: "verdict: upgrade 3.6 → 3.7 under way (1 of 3 members on 3.7) may go on"},
		{name: "a member of an unfinished roll goes back",
			roll:    Roll{Cluster: "3.6.0", Target: "3.6.16", Members: []Member{self(on("a", "3.7.3", "3.6.0")), on("b", "3.6.16", "3.6.0")}},
			verdict: "verdict: 3.7.3 → 3.6.16: back to the cluster version's 3.6 (the roll to 3.7 is not finished)"},
		{name: "v3.5.26 and later may go to v3.6",
			roll:    Roll{Cluster: "3.5.0", Target: "3.6.16", Members: []Member{self(on("a", "3.5.36", "")), on("b", "3.5.26", ""), on("c", "3.6.16", "3.6.0")}},
			verdict: "verdict: upgrade 3.5 → 3.6 under way (1 of 3 members on 3.6) may go on"},
		{name: "below v3.5.26 may not go to v3.6",
			roll:    Roll{Cluster: "3.5.0", Target: "3.6.16", Members: []Member{self(on("a", "3.5.36", "")), on("b", "3.5.25", ""), on("c", "3.5.19", "")}},
			wantErr: "b runs 3.5.25, c runs 3.5.19: etcd requires v3.5.26 or later on every member before upgrading to v3.6 (removed members could come back, https://etcd.io/blog/2025/zombie_members_upgrade/); roll every member to an image with etcd v3.5.26 or later first"},
		{name: "this member below v3.5.26 too",
			roll:    Roll{Cluster: "3.5.0", Target: "3.6.16", Members: []Member{self(on("a", "3.5.25", "")), on("b", "3.5.36", "")}},
			wantErr: "a runs 3.5.25: etcd requires v3.5.26"},
		{name: "a v3.5 patch upgrade below v3.5.26 is the fix",
			roll:    Roll{Cluster: "3.5.0", Target: "3.5.36", Members: []Member{self(on("a", "3.5.25", "")), on("b", "3.5.25", "")}},
			verdict: "verdict: patch change 3.5.25 → 3.5.36 within 3.5"},
		{name: "skip-level upgrade",
			roll:    Roll{Cluster: "3.5.0", Target: "3.7.3", Members: []Member{self(on("a", "3.5.36", "")), on("b", "3.5.36", "")}},
			wantErr: "etcd 3.5 → 3.7 skips 3.6: etcd upgrades one minor version at a time; roll every member to a v3.6 image first"},
		{name: "a third minor version",
			roll:    Roll{Cluster: "3.6.0", Target: "3.8.0", Members: []Member{self(on("a", "3.6.16", "3.6.0")), on("b", "3.7.3", "3.6.0")}},
			wantErr: "the members and the target would run three minor versions (3.6, 3.7, 3.8): finish the roll under way first"},
		{name: "a third minor version from v3.5",
			roll:    Roll{Cluster: "3.5.0", Target: "3.7.3", Members: []Member{self(on("a", "3.6.16", "3.6.0")), on("b", "3.5.36", "")}},
			wantErr: "three minor versions (3.5, 3.6, 3.7)"},
		{name: "a member on a line the cluster version does not allow",
			roll:    Roll{Cluster: "3.6.0", Target: "3.6.16", Members: []Member{self(on("a", "3.6.16", "3.6.0")), on("b", "3.8.0", "3.6.0")}},
			wantErr: "member b runs etcd 3.8.0, which the cluster version 3.6 does not allow"},
		{name: "a member not healthy",
			roll:    Roll{Cluster: "3.6.0", Target: "3.7.3", Members: []Member{self(on("a", "3.6.16", "3.6.0")), {Name: "b", Server: "3.6.16"}, {Name: "c"}}},
			wantErr: "b is not healthy, c does not answer: a change of etcd version needs every member healthy"},
		{name: "this member not healthy",
			roll:    Roll{Cluster: "3.6.0", Target: "3.6.17", Members: []Member{self(Member{Name: "a", Server: "3.6.16"}), on("b", "3.6.16", "3.6.0")}},
			wantErr: "a is not healthy: a change of etcd version needs every member healthy"},
		{name: "downgrade not enabled",
			roll:    Roll{Cluster: "3.7.0", Target: "3.6.16", Members: []Member{self(on("a", "3.7.3", "3.7.0")), on("b", "3.7.3", "3.7.0")}},
			wantErr: "etcd 3.7 → 3.6 is a downgrade: enable it first with `firstboot downgrade enable v3.6` (etcdctl downgrade enable 3.6), then wait until this member's storage version shows 3.6"},
		{name: "downgrade enabled, storage not migrated yet",
			roll: Roll{Cluster: "3.6.0", Target: "3.6.16", Members: []Member{self(downgrading(on("a", "3.7.3", "3.7.0"), "3.6.0")),
				downgrading(on("b", "3.7.3", "3.6.0"), "3.6.0")}},
			wantErr: "storage version still 3.7; etcd migrates it after the downgrade is enabled; wait until it shows 3.6"},
		{name: "downgrade enabled, storage migrated",
			roll: Roll{Cluster: "3.6.0", Target: "3.6.16", Members: []Member{self(downgrading(on("a", "3.7.3", "3.6.0"), "3.6.0")),
				downgrading(on("b", "3.6.16", "3.6.0"), "3.6.0")}},
			verdict: "verdict: downgrade to 3.6 enabled and a's storage version is 3.6: it may move to 3.6.16"},
		{name: "downgrade just enabled, cluster version not lowered yet",
			roll: Roll{Cluster: "3.7.0", Target: "3.6.16", Members: []Member{self(downgrading(on("a", "3.7.3", "3.7.0"), "3.6.0")),
				downgrading(on("b", "3.7.3", "3.7.0"), "3.6.0")}},
			wantErr: "a downgrade to 3.6 is enabled but the cluster version is still 3.7: etcd lowers it within seconds; ask again"},
		{name: "downgrade enabled, no storage version reported",
			roll:    Roll{Cluster: "3.6.0", Target: "3.6.16", Members: []Member{self(downgrading(on("a", "3.7.3", ""), "3.6.0"))}},
			wantErr: "a downgrade to 3.6 is enabled but a reports no storage version: wait until it shows 3.6"},
		{name: "upgrade while a downgrade is enabled",
			roll: Roll{Cluster: "3.6.0", Target: "3.7.3", Members: []Member{self(on("a", "3.6.16", "3.6.0")),
				downgrading(on("b", "3.7.3", "3.6.0"), "3.6.0")}},
			wantErr: "a downgrade to 3.6.0 is in progress: cancel it first with `firstboot downgrade cancel` (etcdctl downgrade cancel) before upgrading to 3.7"},
		{name: "two minors down",
			roll:    Roll{Cluster: "3.7.0", Target: "3.5.26", Members: []Member{self(on("a", "3.7.3", "3.7.0"))}},
			wantErr: "etcd 3.7 → 3.5 is more than one minor version down"},
		{name: "below the enabled downgrade's target",
			roll:    Roll{Cluster: "3.6.0", Target: "3.5.26", Members: []Member{self(downgrading(on("a", "3.7.3", "3.6.0"), "3.6.0"))}},
			wantErr: "etcd 3.5 is more than one minor version below the cluster's 3.7 (a downgrade to 3.6 is enabled)"},
		{name: "another major version",
			roll:    Roll{Cluster: "3.7.0", Target: "4.0.0", Members: []Member{self(on("a", "3.7.3", "3.7.0"))}},
			wantErr: "etcd 3.7 → 4.0 changes the major version"},
		{name: "target not a version",
			roll:    Roll{Cluster: "3.7.0", Target: "latest", Members: []Member{self(on("a", "3.7.3", "3.7.0"))}},
			wantErr: `etcd version "latest": want MAJOR.MINOR.PATCH`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := Check(tc.roll)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("error %v, want none", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			want := tc.verdict
			if tc.wantErr != "" {
				want = "verdict: refused"
			}
			if len(lines) == 0 || lines[len(lines)-1] != want {
				t.Errorf("lines %q, want the last %q", lines, want)
			}
		})
	}
}

// The lines name the cluster version, every member with its versions, and the target.
func TestCheckLines(t *testing.T) {
	lines, err := Check(Roll{Cluster: "3.6.0", Target: "v3.6.16", Members: []Member{
		self(downgrading(on("etcd-a", "3.7.3", "3.6.0"), "3.6.0")), on("etcd-b", "3.5.26", ""), {Name: "etcd-c", Server: "3.6.16", Storage: "3.6.0"}, {Name: "etcd-d"}}})
	if err == nil {
		t.Fatal("no error, want a refusal for etcd-c and etcd-d")
	}
	want := []string{
		"cluster version: 3.6.0",
		"member etcd-a (this node): 3.7.3, storage 3.6.0",
		"member etcd-b: 3.5.26",
		"member etcd-c: 3.6.16, storage 3.6.0, not healthy",
		"member etcd-d: does not answer",
		"downgrade: enabled, to 3.6.0",
		"target: v3.6.16",
		"verdict: refused",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
