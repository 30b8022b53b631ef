package config

import (
	"fmt"
	"path"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
)

// unitNameMax is systemd's UNIT_NAME_MAX less its terminating NUL.
const unitNameMax = 255

// checkUnitName accepts a plain systemd unit name (NAME.TYPE or TEMPLATE@INSTANCE.TYPE), the
// file name the node writes under /etc/systemd/system. Ignition has checked the type suffix.
func checkUnitName(name string) error {
	bad := fmt.Errorf("%q is not a unit name: give a plain file name such as backup.service (letters, digits and :-_.\\@, no /)", name)
	prefix := strings.TrimSuffix(name, path.Ext(name))
	if name == "" || len(name) > unitNameMax || prefix == "" || strings.HasPrefix(name, "@") {
		return bad
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":-_.\\@", r)) {
			return bad
		}
	}
	return nil
}

// checkDropinName accepts a plain file name for a unit's drop-in directory. Ignition has
// checked the .conf suffix.
func checkDropinName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || strings.IndexFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("%q is not a drop-in file name: give a plain file name such as 10-limits.conf, without /", name)
	}
	return nil
}

// InstallTargets lists the directories an enabled unit is linked into, from its [Install]
// section: TARGET.wants for WantedBy=, TARGET.requires for RequiredBy=. Config validation
// refuses an enabled unit with contents for which this fails or finds none; the node uses it
// to link the units it enables.
func InstallTargets(contents string) ([]string, error) {
	opts, err := unit.DeserializeOptions(strings.NewReader(contents))
	if err != nil {
		return nil, fmt.Errorf("its contents are not a unit file: %w", err)
	}
	var dirs []string
	for _, o := range opts {
		if o.Section != "Install" {
			continue
		}
		suffix := map[string]string{"WantedBy": ".wants", "RequiredBy": ".requires"}[o.Name]
		if suffix == "" {
			continue
		}
		for _, t := range strings.Fields(o.Value) {
			dirs = append(dirs, t+suffix)
		}
	}
	return dirs, nil
}
