package config

import (
	"time"

	"github.com/etcd-appliance/appliance/internal/pki"
)

// Check runs on user-data every check a node makes that does not need the node: all of
// Load (schema, values, TLS material, Ignition sections, sources and units), then the
// ones the node makes against its clock, here against now. Problems are returned as a
// *Errors. Left to the node: files and units that must or must not exist in the image,
// hard-link targets, fetching remote contents and restore.source, and which member it is.
func Check(data []byte, now time.Time) (*Config, *IgnitionExtras, Warnings, error) {
	cfg, extras, warns, err := Load(data)
	if err != nil || cfg == nil {
		return cfg, extras, warns, err
	}
	const clock = " (by this host's clock: the node checks by its own)"
	t := cfg.TLS
	if t.CAKey != "" {
		// the node refuses to start without a CA it can issue from (firstboot's clusterCA)
		if _, err := pki.LoadCA([]byte(t.CACert), []byte(t.CAKey), now); err != nil {
			return nil, nil, warns, &Errors{Problems: []Problem{{Path: "tls.ca_cert", Message: err.Error() + clock}}}
		}
	}
	if t.NodeCert != "" && t.CAKey == "" {
		// the node starts etcd anyway and warns: its clock may be what is wrong
		if err := pki.CheckPair([]byte(t.NodeCert), []byte(t.NodeKey), []byte(t.CACert), now); err != nil {
			warns = append(warns, Problem{Path: "tls.node_cert", Message: err.Error() + clock})
		}
	}
	return cfg, extras, warns, nil
}
