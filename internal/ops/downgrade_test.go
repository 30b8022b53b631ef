package ops

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// fakeDowngrade is the fake cluster that also takes downgrade requests, as etcd v3.6+ does.
type fakeDowngrade struct {
	*fakeCluster
	requests []string // "validate 3.6", "enable 3.6", "cancel "
	errs     map[clientv3.DowngradeAction]error
	onEnable func() // the cluster after an enable
}

func (f *fakeDowngrade) dial(endpoints ...string) (Cluster, error) {
	f.fakeCluster.dial(endpoints...)
	return f, nil
}

func (f *fakeDowngrade) Downgrade(_ context.Context, action clientv3.DowngradeAction, version string) (*clientv3.DowngradeResponse, error) {
	name := map[clientv3.DowngradeAction]string{clientv3.DowngradeValidate: "validate", clientv3.DowngradeEnable: "enable", clientv3.DowngradeCancel: "cancel"}[action]
	f.requests = append(f.requests, name+" "+version)
	if err := f.errs[action]; err != nil {
		return nil, err
	}
	if action == clientv3.DowngradeEnable && f.onEnable != nil {
		f.onEnable()
	}
	return &clientv3.DowngradeResponse{Version: "3.6.0"}, nil
}

// versions makes every member of fc answer with server version server and storage version
// storage, and a downgrade to target enabled ("" for none).
func versions(fc *fakeCluster, server, storage, target string) {
	for _, r := range fc.statuses {
		r.Version, r.StorageVersion = server, storage
		r.DowngradeInfo = &etcdserverpb.DowngradeInfo{Enabled: target != "", TargetVersion: target}
	}
}

func downgradeNode(t *testing.T) (*fakeDowngrade, *Node) {
	fc := &fakeCluster{members: three(), statuses: up(idA, idA, idB, idC)}
	versions(fc, "3.7.3", "3.7.0", "")
	fd := &fakeDowngrade{fakeCluster: fc}
	n, _, _ := testNode(t, fc)
	n.Dial = fd.dial
	return fd, n
}

func TestDowngradeEnable(t *testing.T) {
	fd, n := downgradeNode(t)
	fd.onEnable = func() {
		versions(fd.fakeCluster, "3.7.3", "3.7.0", "3.6.0")
		fd.statuses[idB].StorageVersion = "3.6.0" // etcd-b migrated already
	}
	var out bytes.Buffer
	if err := n.DowngradeEnable(context.Background(), "v3.6", &out); err != nil {
		t.Fatalf("enable: %v\n%s", err, &out)
	}
	if got := strings.Join(fd.requests, ","); got != "validate 3.6,enable 3.6" {
		t.Errorf("requests %s, want validate 3.6, then enable 3.6 (etcd reads X.Y, not vX.Y)", got)
	}
	for _, want := range []string{
		"downgrade to 3.6 enabled: the cluster version drops to 3.6 within seconds, and each member migrates its storage to 3.6\n",
		"1. wait until its storage version is 3.6: firstboot downgrade status",
		"firstboot upgrade-check --to-etcd (the v3.6 image's etcd_version), then reimage it",
		"boot the v3.7 image on it again",
		"firstboot downgrade cancel",
		"MEMBER  SERVER  STORAGE  DOWNGRADE\netcd-a  3.7.3   3.7.0    enabled, target 3.6\n",
		"storage version 3.6, ready to reimage to the v3.6 image, one at a time (firstboot upgrade-check first): etcd-b\n",
		"waiting for storage version 3.6 (etcd migrates it within seconds; do not reimage yet): etcd-a, etcd-c\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	if len(fd.dials) != 1 || len(fd.dials[0]) != 1 || fd.dials[0][0] != n.State.Local {
		t.Errorf("dialed %v, want this node's member only", fd.dials)
	}
	checkClosed(t, fd.fakeCluster)
}

func TestDowngradeEnableRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		setup        func(*fakeDowngrade)
		want         string
		requests     string
	}{
		{"two minors", "v3.5", nil, "v3.5 is two minors below the cluster's 3.7: downgrade one minor at a time: 'firstboot downgrade enable v3.6', reimage every member to the v3.6 image, then go on down", ""},
		{"no such image", "v3.4", nil, "v3.4: the appliance has images of etcd v3.5, v3.6, v3.7 only", ""},
		{"not a version", "latest", nil, `"latest" is not a version: give the etcd line to go down to, e.g. v3.6`, ""},
		{"not below", "v3.7", nil, "v3.7 is not below the cluster's 3.7: nothing to downgrade", ""},
		{"enabled already", "v3.6", func(f *fakeDowngrade) { versions(f.fakeCluster, "3.7.3", "3.7.0", "3.6.0") },
			"a downgrade to 3.6 is enabled already: see it with 'firstboot downgrade status', or abort it with 'firstboot downgrade cancel'", ""},
		{"a roll between lines under way", "v3.5", func(f *fakeDowngrade) { f.statuses[idB].Version = "3.6.16" },
			"the members run etcd 3.6 and 3.7: a roll between lines is under way; finish it", ""},
		{"a member down", "v3.6", func(f *fakeDowngrade) { delete(f.statuses, idC) },
			"etcd-c did not answer: a downgrade needs every member running", ""},
		{"etcd refuses the target", "v3.6", func(f *fakeDowngrade) {
			f.errs = map[clientv3.DowngradeAction]error{clientv3.DowngradeValidate: rpctypes.ErrGRPCInvalidDowngradeTargetVersion}
		}, "etcd refuses v3.6 as the downgrade target of the cluster's version 3.7: it allows exactly one minor below", "validate 3.6"},
		{"no cluster version yet", "v3.6", func(f *fakeDowngrade) {
			f.errs = map[clientv3.DowngradeAction]error{clientv3.DowngradeEnable: rpctypes.ErrClusterVersionUnavailable}
		}, "the cluster has not decided its version yet", "validate 3.6,enable 3.6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd, n := downgradeNode(t)
			if tc.setup != nil {
				tc.setup(fd)
			}
			var out bytes.Buffer
			err := n.DowngradeEnable(context.Background(), tc.target, &out)
			checkErr(t, err, tc.want)
			if got := strings.Join(fd.requests, ","); got != tc.requests {
				t.Errorf("requests %q, want %q", got, tc.requests)
			}
			checkClosed(t, fd.fakeCluster)
		})
	}
}

func TestDowngradeStatus(t *testing.T) {
	fd, n := downgradeNode(t)
	var out bytes.Buffer
	if err := n.DowngradeStatus(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `MEMBER  SERVER  STORAGE  DOWNGRADE
etcd-a  3.7.3   3.7.0    not enabled
etcd-b  3.7.3   3.7.0    not enabled
etcd-c  3.7.3   3.7.0    not enabled
no downgrade is enabled
`
	if out.String() != want {
		t.Errorf("status:\n%s\nwant:\n%s", &out, want)
	}

	// half way: etcd-a runs v3.6 already, etcd-b migrated, etcd-c is down
	versions(fd.fakeCluster, "3.7.3", "3.6.0", "3.6.0")
	fd.statuses[idA].Version = "3.6.16"
	delete(fd.statuses, idC)
	out.Reset()
	if err := n.DowngradeStatus(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want = `MEMBER  SERVER  STORAGE  DOWNGRADE
etcd-a  3.6.16  3.6.0    enabled, target 3.6
etcd-b  3.7.3   3.6.0    enabled, target 3.6
etcd-c  -       -        did not answer
downgrade to 3.6 enabled
  running etcd 3.6 already: etcd-a
  storage version 3.6, ready to reimage to the v3.6 image, one at a time (firstboot upgrade-check first): etcd-b
  waiting for storage version 3.6 (etcd migrates it within seconds; do not reimage yet): etcd-c (did not answer)
`
	if out.String() != want {
		t.Errorf("status:\n%s\nwant:\n%s", &out, want)
	}
	checkClosed(t, fd.fakeCluster)
}

func TestDowngradeCancel(t *testing.T) {
	fd, n := downgradeNode(t)
	var out bytes.Buffer
	if err := n.DowngradeCancel(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if len(fd.requests) != 0 || out.String() != "no downgrade is enabled: nothing to cancel\n" {
		t.Errorf("cancel with none enabled: requests %v, output %q", fd.requests, &out)
	}
	versions(fd.fakeCluster, "3.7.3", "3.6.0", "3.6.0")
	out.Reset()
	if err := n.DowngradeCancel(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if strings.Join(fd.requests, ",") != "cancel " || !strings.HasPrefix(out.String(), "downgrade to 3.6 cancelled: ") {
		t.Errorf("cancel: requests %v, output %q", fd.requests, &out)
	}
	checkClosed(t, fd.fakeCluster)
}

func TestParseMinor(t *testing.T) {
	for in, want := range map[string]string{"v3.6": "3.6", "3.6": "3.6", "3.6.0": "3.6", "v3.6.16": "3.6", " v3.7.3 ": "3.7"} {
		if m, ok := parseMinor(in); !ok || m.String() != want {
			t.Errorf("parseMinor(%q) = %v, %v; want %s", in, m, ok, want)
		}
	}
	for _, in := range []string{"", "3", "v", "3.x", "latest", "3.6.x", "-1.2"} {
		if m, ok := parseMinor(in); ok {
			t.Errorf("parseMinor(%q) = %v, want no version", in, m)
		}
	}
}

// firstboot status shows this member's etcd and storage version, and an enabled downgrade.
func TestStatusVersions(t *testing.T) {
	fd, n := downgradeNode(t)
	versions(fd.fakeCluster, "3.7.3", "3.6.0", "3.6.0")
	st := n.Status(context.Background(), testNow)
	if st.EtcdVersion != "v3.7.3" || st.StorageVersion != "3.6.0" || st.Downgrade != "3.6" || st.Members[1].StorageVersion != "3.6.0" {
		t.Errorf("etcd %q, storage %q, downgrade %q, etcd-b's storage %q", st.EtcdVersion, st.StorageVersion, st.Downgrade, st.Members[1].StorageVersion)
	}
	var out bytes.Buffer
	Report(&out, st, false)
	if want := "\n  etcd v3.7.3, storage version 3.6\n  DOWNGRADE to 3.6 enabled: firstboot downgrade status\n"; !strings.Contains(out.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, &out)
	}
	out.Reset()
	Report(&out, st, true)
	for _, want := range []string{`"etcd_version": "v3.7.3"`, `"storage_version": "3.6.0"`, `"downgrade_target": "3.6"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status.json lacks %s:\n%s", want, &out)
		}
	}
}
