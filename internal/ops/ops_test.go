package ops

import (
	"reflect"
	"testing"

	"github.com/etcd-appliance/appliance/internal/nodestate"
)

// New leaves no machine effect unset: a nil one would panic on a node, not in these tests.
func TestNewFillsEveryField(t *testing.T) {
	n := New(nodestate.State{Member: "etcd-a"}, t.TempDir())
	v := reflect.ValueOf(n).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); (f.Kind() == reflect.Func || f.Kind() == reflect.Interface) && f.IsNil() {
			t.Errorf("New leaves %s nil", v.Type().Field(i).Name)
		}
	}
	if dir := t.TempDir(); !n.SameFS(dir, dir) || n.SameFS(dir, "/nonexistent") {
		t.Error("SameFS: a directory is on its own filesystem, a missing one on none")
	}
}
