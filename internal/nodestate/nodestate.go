// Package nodestate is what a boot decided, recorded for the on-node operations (status,
// agent, leave, snapshot, upgrade-check): they read it instead of fetching the configuration
// again. It lives in the run directory (tmpfs), written afresh by every boot.
package nodestate

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/etcd-appliance/appliance/internal/firewall"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/membership"
)

// RunDir is the node's run directory: etcd.env, etcdctl.env, node.json, status.
const RunDir = "/run/etcd-appliance"

// File is the record's name in the run directory.
const File = "node.json"

// State is the boot's record.
type State struct {
	Member      string   `json:"member"`
	PeerURL     string   `json:"peer_url"`
	Cluster     string   `json:"cluster,omitempty"`
	Endpoints   []string `json:"endpoints"` // every configured member's client URL
	Local       string   `json:"local"`     // this member's client URL, through loopback
	CA          string   `json:"ca"`
	Cert        string   `json:"cert"` // a client certificate etcd accepts
	Key         string   `json:"key"`
	ServerCert  string   `json:"server_cert"`
	Quota       int64    `json:"quota"`
	Volume      string   `json:"volume"` // the data volume's mount point
	DataDir     string   `json:"data_dir"`
	Image       string   `json:"image"`
	EtcdVersion string   `json:"etcd_version"`
	// scheduled snapshots (snapshots: in the config); 0 minutes: none
	SnapshotMinutes int `json:"snapshot_minutes,omitempty"`
	SnapshotKeep    int `json:"snapshot_keep,omitempty"`
	// Filter is the packet filter's configuration; the agent adds etcd's member list to it.
	Filter firewall.Settings `json:"filter"`
}

// Write records s in runDir, readable by root only (it names key files).
func Write(runDir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteAll(filepath.Join(runDir, File), append(b, '\n'), 0o600)
}

// Read loads the record from runDir.
func Read(runDir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(runDir, File))
	if err != nil {
		return s, fmt.Errorf("this node has not finished booting (firstboot boot writes %s): %w", File, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", File, err)
	}
	return s, nil
}

// Client dials the given endpoints (all configured members when none) with the node's client
// certificate.
func (s State) Client(endpoints ...string) (*membership.Client, error) {
	tc, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	if len(endpoints) == 0 {
		endpoints = s.Endpoints
	}
	return membership.Dial(endpoints, tc)
}

// TLSConfig is the node's client TLS configuration.
func (s State) TLSConfig() (*tls.Config, error) {
	return membership.TLSConfig(s.CA, s.Cert, s.Key)
}

// Self is this node's member as membership finds it in a member list.
func (s State) Self() membership.Self {
	return membership.Self{Name: s.Member, PeerURL: s.PeerURL}
}
