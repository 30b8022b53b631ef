package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// renderConfig writes one user-data document per member of the cluster in file: the same
// document with node.name set and a tls section holding the CA certificate and that member's
// own certificate and key, never the CA key. Nodes then cannot issue certificates, so each
// member's addresses must be known now: they are the ones in cluster.members.
//
//	imagebuild config render --ca DIR --out OUTDIR FILE
func renderConfig(args []string, out io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("config render", flag.ContinueOnError)
	caDir := fs.String("ca", "ca", "directory holding ca.crt and ca.key (imagebuild ca init)")
	outDir := fs.String("out", "", "directory to write MEMBER.yaml into (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *outDir == "" {
		return errors.New("usage: imagebuild config render --ca DIR --out OUTDIR FILE")
	}
	file := fs.Arg(0)
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading the configuration: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || doc.Kind != yaml.DocumentNode || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("%s: not a YAML mapping (render takes the appliance's own YAML, not Ignition)", file)
	}
	var members struct {
		Cluster struct {
			Members []config.Member `yaml:"members"`
		} `yaml:"cluster"`
	}
	if err := doc.Decode(&members); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(members.Cluster.Members) == 0 {
		return fmt.Errorf("%s: cluster.members is empty: per-node certificates name each member's address, so list them", file)
	}
	ca, caPEM, _, err := loadCADir(*caDir, now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*outDir, 0o700); err != nil {
		return err
	}
	for _, m := range members.Cluster.Members {
		id := pki.Identity{Name: m.Name}
		if a, err := netip.ParseAddr(m.Address); err == nil {
			id.IPs = []netip.Addr{a.Unmap()}
		} else {
			id.Hostnames = []string{m.Address}
		}
		key, err := pki.NewKey()
		if err != nil {
			return err
		}
		certPEM, err := ca.IssueNode(id, key.Public(), now)
		if err != nil {
			return fmt.Errorf("member %s: %w", m.Name, err)
		}
		keyPEM, err := pki.EncodeKey(key)
		if err != nil {
			return err
		}
		root := doc.Content[0]
		setKey(root, "node", mapping("name", plain(m.Name)))
		setKey(root, "tls", mapping("ca_cert", literal(caPEM), "node_cert", literal(certPEM), "node_key", literal(keyPEM)))
		rendered, err := yaml.Marshal(&doc)
		if err != nil {
			return err
		}
		if _, _, _, err := config.Check(rendered, now); err != nil {
			return fmt.Errorf("member %s: the rendered configuration is refused: %w", m.Name, err)
		}
		path := filepath.Join(*outDir, m.Name+".yaml")
		if err := atomicfile.Write(path, rendered, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: member %s at %s, its own certificate and key, no CA key\n", path, m.Name, m.Address)
	}
	return nil
}

// setKey sets key in mapping n to v, replacing its value or appending the pair.
func setKey(n *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content[i+1] = v
			return
		}
	}
	n.Content = append(n.Content, plain(key), v)
}

func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i < len(kv); i += 2 {
		n.Content = append(n.Content, plain(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}

func plain(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func literal(b []byte) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.LiteralStyle, Value: string(b)}
}
