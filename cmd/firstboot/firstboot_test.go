package main

import (
	"testing"
)

func TestBootLine(t *testing.T) {
	for _, tc := range []struct {
		state  string
		failed []string
		want   string
	}{
		{"running", nil, "etcd-appliance: boot finished: state=running failed=none"},
		{"degraded", []string{"etcd.service", "boot.automount"}, "etcd-appliance: boot finished: state=degraded failed=boot.automount,etcd.service"},
	} {
		if got := bootLine(tc.state, tc.failed); got != tc.want {
			t.Errorf("bootLine(%q, %v) = %q, want %q", tc.state, tc.failed, got, tc.want)
		}
	}
}

func TestImageLine(t *testing.T) {
	rel := "NAME=\"etcd appliance\"\nIMAGE_VERSION=\"1.2.0\"\nBUILD_ID=\"abc\"\nETCD_VERSION=\"v3.6.16\"\nARCHITECTURE=arm64\n"
	if got, want := imageLine([]byte(rel)), "etcd-appliance: image 1.2.0 build abc (etcd v3.6.16, arm64)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
