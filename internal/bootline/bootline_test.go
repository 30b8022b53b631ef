package bootline

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		state  string
		failed []string
		want   string
	}{
		{"running", nil, "etcd-appliance: boot finished: state=running failed=none"},
		{"running", []string{}, "etcd-appliance: boot finished: state=running failed=none"},
		{"degraded", []string{"firstboot.service"}, "etcd-appliance: boot finished: state=degraded failed=firstboot.service"},
		{"degraded", []string{"etcd.service", "boot.automount"}, "etcd-appliance: boot finished: state=degraded failed=boot.automount,etcd.service"},
	} {
		in := slices.Clone(tc.failed)
		if got := Format(tc.state, in); got != tc.want {
			t.Errorf("Format(%q, %q) = %q, want %q", tc.state, tc.failed, got, tc.want)
		}
		if !slices.Equal(in, tc.failed) {
			t.Errorf("Format reordered its argument: %q", in)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		state  string
		failed []string
		want   Result
	}{
		{"running", nil, Result{State: "running"}},
		{"degraded", []string{"firstboot.service"}, Result{"degraded", []string{"firstboot.service"}}},
		{"degraded", []string{"c.service", "a.mount", "b@x.service"}, Result{"degraded", []string{"a.mount", "b@x.service", "c.service"}}},
		{"maintenance", nil, Result{State: "maintenance"}},
	} {
		line := Format(tc.state, tc.failed)
		// as the serial console shows it: the kernel's timestamp, the journal's tag, a CR
		console := "[   36.378928] firstboot[202]: " + line + "\r"
		for _, l := range []string{line, console} {
			got, ok := Parse(l)
			if !ok || got.State != tc.want.State || !slices.Equal(got.Failed, tc.want.Failed) {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", l, got, ok, tc.want)
			}
			if got.String() != strings.TrimPrefix(line, Prefix) {
				t.Errorf("%+v.String() = %q, want the line's %q", got, got.String(), strings.TrimPrefix(line, Prefix))
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line    string
		want    Result
		ok      bool
		running bool
	}{
		{"etcd-appliance: boot finished: state=running failed=none", Result{State: "running"}, true, true},
		{"etcd-appliance: boot finished: state=degraded failed=none", Result{State: "degraded"}, true, false},
		{"etcd-appliance: boot finished: state=running failed=etcd.service", Result{"running", []string{"etcd.service"}}, true, false},
		{"etcd-appliance: boot finished: state=degraded failed=a.service,b.socket,c.mount trailing words",
			Result{"degraded", []string{"a.service", "b.socket", "c.mount"}}, true, false},
		// garbage
		{"", Result{}, false, false},
		{"etcd-appliance: boot finished: ", Result{}, false, false},
		{"etcd-appliance: boot finished: state=running", Result{}, false, false},
		{"etcd-appliance: boot finished: state=running failed=", Result{}, false, false},
		{"etcd-appliance: boot finished: state= failed=none", Result{}, false, false},
		{"etcd-appliance: image 1.2.0 build abc (etcd v3.6.16, amd64)", Result{}, false, false},
		{"boot finished: state=running failed=none", Result{}, false, false},
	} {
		got, ok := Parse(tc.line)
		if ok != tc.ok || got.State != tc.want.State || !slices.Equal(got.Failed, tc.want.Failed) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
		if got.Running() != tc.running {
			t.Errorf("Parse(%q).Running() = %v, want %v", tc.line, got.Running(), tc.running)
		}
	}
}

// Pattern must work inside a larger expression (the qemu tests wait for the image line or
// this one) and agree with Prefix.
func TestPattern(t *testing.T) {
	if !strings.HasPrefix(Pattern, regexp.QuoteMeta(Prefix)) {
		t.Errorf("Pattern %q does not start with Prefix %q", Pattern, Prefix)
	}
	either := regexp.MustCompile(`etcd-appliance: image (\S+)|` + Pattern)
	line := Format("running", nil)
	m := either.FindStringSubmatch(line)
	if m == nil || m[0] != line {
		t.Fatalf("%v matched %q in %q", either, m, line)
	}
	if r, ok := Parse(m[0]); !ok || !r.Running() {
		t.Errorf("Parse(%q) = %+v, %v", m[0], r, ok)
	}
}
