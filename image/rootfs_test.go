package image

import (
	"io/fs"
	"path"
	"slices"
	"testing"

	"github.com/etcd-appliance/appliance/overlays"
)

// The overlay's timers start what the boot leaves for later (the agent, the coldplug's second
// part, timesyncd) when etcd is not up soon; one that is not enabled never fires, and the unit
// would wait for an etcd that may not come (overlays' tests check each has an [Install] section).
func TestOverlayTimersEnabled(t *testing.T) {
	timers, err := fs.Glob(overlays.RootFS(), "usr/lib/systemd/system/*.timer")
	if err != nil || len(timers) == 0 {
		t.Fatalf("no timers in the overlay (%v)", err)
	}
	for _, timer := range timers {
		if name := path.Base(timer); !slices.Contains(enabledUnits, name) {
			t.Errorf("%s is in the overlay but not in enabledUnits", name)
		}
	}
}
