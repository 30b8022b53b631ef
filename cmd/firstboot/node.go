package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// nodeState is what boot decided, for the on-node commands (status, agent, leave, snapshot,
// upgrade-check): they read it instead of fetching the configuration again.
type nodeState struct {
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
}

const stateFile = "node.json"

func newNodeState(p paths, spec member.Spec, files pkiFiles, ca *caMaterial, osRelease []byte) nodeState {
	cert, key := etcdctlCreds(files, ca)
	f := osReleaseFields(osRelease)
	return nodeState{
		Member: spec.Self.Name, PeerURL: spec.PeerURL(), Cluster: spec.Config.Cluster.Name,
		Endpoints: member.Endpoints(spec), Local: member.URL("127.0.0.1", member.ClientPort),
		CA: files.ca, Cert: cert, Key: key, ServerCert: files.server,
		Quota: spec.Config.Etcd.QuotaBackendBytes, Volume: p.dataDir, DataDir: spec.Files.DataDir,
		Image: imageVersion(osRelease), EtcdVersion: f["ETCD_VERSION"],
		SnapshotMinutes: spec.Config.Snapshots.IntervalMinutes, SnapshotKeep: spec.Config.Snapshots.Keep,
	}
}

func writeNodeState(runDir string, s nodeState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFile(filepath.Join(runDir, stateFile), append(b, '\n'), 0o600)
}

func readNodeState(runDir string) (nodeState, error) {
	var s nodeState
	b, err := os.ReadFile(filepath.Join(runDir, stateFile))
	if err != nil {
		return s, fmt.Errorf("this node has not finished booting (firstboot boot writes %s): %w", stateFile, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", stateFile, err)
	}
	return s, nil
}

// client dials the given endpoints (all configured members when none) with the node's
// client certificate.
func (s nodeState) client(endpoints ...string) (*membership.Client, error) {
	tc, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	if len(endpoints) == 0 {
		endpoints = s.Endpoints
	}
	return membership.Dial(endpoints, tc)
}

func (s nodeState) tlsConfig() (*tls.Config, error) {
	return membership.TLSConfig(s.CA, s.Cert, s.Key)
}

func (s nodeState) self() membership.Self {
	return membership.Self{Name: s.Member, PeerURL: s.PeerURL}
}
