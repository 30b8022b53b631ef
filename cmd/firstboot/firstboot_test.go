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
