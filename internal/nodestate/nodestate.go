// Package nodestate is what a boot decided, recorded for the on-node operations (status,
// agent, leave, snapshot, upgrade-check): they read it instead of fetching the configuration
// again. It lives in the run directory (tmpfs), written afresh by every boot.
package nodestate

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/fetch"
	"github.com/etcd-appliance/appliance/internal/objstore"
	"github.com/etcd-appliance/appliance/internal/pki"

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
	// Backup is the backup section and what reaching the store takes; nil: no backups.
	Backup *Backup `json:"backup,omitempty"`
}

// Backup is backup: of the configuration, with the node's platform (for instance
// credentials) and the trust and proxy every fetch of the node uses.
type Backup struct {
	config.Backup
	Platform string   `json:"platform"`
	RootCAs  []string `json:"root_cas,omitempty"` // PEM certificates trusted besides the system's
	Proxy    string   `json:"proxy,omitempty"`
}

// Trust is the backup's roots and proxy for internal/fetch.
func (b *Backup) Trust() (fetch.Trust, error) {
	var t fetch.Trust
	for _, p := range b.RootCAs {
		certs, err := pki.ParseCertificates([]byte(p))
		if err != nil {
			return t, fmt.Errorf("trusted roots: %w", err)
		}
		t.RootCAs = append(t.RootCAs, certs...)
	}
	if b.Proxy != "" {
		u, err := url.Parse(b.Proxy)
		if err != nil {
			return t, fmt.Errorf("proxy: %w", err)
		}
		t.Proxy = u
	}
	return t, nil
}

// Access is how to reach the store at url (backup.url, or a restore source in its store)
// with the backup's endpoint and credentials.
func (b *Backup) Access(url string) (objstore.Access, error) {
	t, err := b.Trust()
	if err != nil {
		return objstore.Access{}, fmt.Errorf("backup: %w", err)
	}
	return objstore.Access{URL: url, Endpoint: b.Endpoint, PathStyle: b.PathStyle, Region: b.Region,
		AccessKeyID: b.AccessKeyID, SecretAccessKey: b.SecretAccessKey, Platform: b.Platform,
		HTTPClient: &http.Client{Transport: t.Transport()}}, nil
}

// NewBackup records c's backup section; nil when none is configured.
func NewBackup(c config.Backup, platform string, t fetch.Trust) *Backup {
	if c.URL == "" {
		return nil
	}
	b := &Backup{Backup: c, Platform: platform}
	for _, cert := range t.RootCAs {
		b.RootCAs = append(b.RootCAs, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	}
	if t.Proxy != nil {
		b.Proxy = t.Proxy.String()
	}
	return b
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
