// Package cli is firstboot's command line: the node agent baked into the image. systemd runs
// `firstboot boot` on every boot before etcd.service, and `firstboot report` once startup has
// finished.
//
// The other commands are the on-node operations: status, snapshot, leave, client credentials,
// backups, recovery and downgrades.
//
// It is a package, not main, so that the image's etcd binary can link it in and run it by the
// name firstboot (etcdsrc/firstboot.go): one copy of the Go runtime, gRPC and the etcd client
// for both.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/dnsstub"
	"github.com/etcd-appliance/appliance/internal/node"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
	"github.com/etcd-appliance/appliance/internal/nodestate"
	"github.com/etcd-appliance/appliance/internal/platform/detect"
)

// Main runs the command os.Args names and exits.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	dnsstub.Install() // the boot does not start the DNS stub: the first lookup does
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	run := nodestate.RunDir
	switch os.Args[1] {
	case "boot":
		err = node.New(nodeEnv()).Boot(ctx)
	case "inspect":
		err = inspect(ctx, os.Args[2:], nodeEnv(), os.Stdout)
	case "report":
		err = report(ctx, os.Stdout)
	case "client-credentials":
		err = clientCredentials(ctx, os.Args[2:], node.New(nodeEnv()), os.Stdout)
	case "status":
		err = statusCmd(ctx, os.Args[2:], run, os.Stdout)
	case "agent":
		err = agent(ctx, run)
	case "upgrade-check":
		err = upgradeCheck(ctx, os.Args[2:], run, os.Stdout)
	case "leave":
		err = leave(ctx, os.Args[2:], run, os.Stdout)
	case "remove-member":
		err = removeMember(ctx, os.Args[2:], run, os.Stdout)
	case "snapshot":
		err = snapshotCmd(ctx, os.Args[2:], run, os.Stdout, os.Stderr)
	case "backup":
		err = backupCmd(ctx, os.Args[2:], run, os.Stdout)
	case "recover":
		err = recoverCmd(ctx, os.Args[2:], run, os.Stdout)
	case "downgrade":
		err = downgradeCmd(ctx, os.Args[2:], run, os.Stdout)
	case "powerbutton":
		err = powerButton(ctx, os.Args[2:])
	default:
		usage()
	}
	if errors.Is(err, errUnhealthy) {
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd-appliance: firstboot %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: firstboot COMMAND
  boot     read this node's configuration and prepare its etcd member (firstboot.service)
  inspect  [--platform P] [--endpoint URL | --dir DIR] print the configuration this node
           resolves, as JSON; changes nothing
  report   wait for startup to finish and print the boot result on the console
  client-credentials --name NAME [--out FILE]
           issue a client certificate from the cluster CA; writes a tar.gz (ca.crt,
           client.crt, client.key, README) to FILE or standard output
  status   [--json] this member's and the cluster's health; exits 1 when unhealthy
  agent    watch the member: promote it from learner, log health (etcd-agent.service)
  upgrade-check [--to-etcd VERSION]
           whether this node may go down now (reboot, reimage) without losing quorum;
           with --to-etcd (the new image's manifest.json etcd_version), also whether etcd
           allows this member to move to VERSION now (one minor at a time, every member
           healthy, v3.5.26 before v3.6, downgrades enabled first)
  leave    [--force] remove this member from the cluster, wipe its data, keep etcd off
  remove-member [--force] NAME
           remove another member whose machine is gone
  snapshot [--out DIR|-] save a snapshot and its JSON sidecar (default DIR:
           /var/lib/etcd/snapshots; - writes the snapshot to standard output)
  backup now
           take a backup to backup.url at once (beside the scheduled ones)
  backup verify [--key KEY] [--identity FILE]
           the restore drill: restore the latest backup (or KEY) into a scratch directory
           and check its keyspace hash; FILE holds the age identity of encrypted backups
  backup list
           the backups in backup.url, oldest first
  recover --confirm-lost-quorum [--from latest|URL] [--identity FILE]
           when most members are gone for good: make this member a new one-member cluster,
           from its own data (etcd --force-new-cluster) or from a backup; the other nodes
           then join again on blank data disks
  powerbutton DEVICE
           shut the node down cleanly when DEVICE (/dev/input/eventN) reports a press of
           the power button, as a cloud's stop does (powerbutton@.service)
  downgrade enable vX.Y | cancel | status
           downgrade the cluster one etcd minor (etcd's downgrade): enable migrates every
           member's storage to X.Y, after which each node is reimaged to the vX.Y image, one
           at a time; status shows each member's server and storage version; cancel aborts`)
	os.Exit(2)
}

// nodeEnv is where a node finds its platform: the real /proc, /sys and /dev.
func nodeEnv() detect.Env {
	a, err := arch.Lookup(runtime.GOARCH)
	if err != nil {
		panic(err) // firstboot is only built for the arches in the table
	}
	return detect.Env{Arch: a}
}

// inspect prints what this node resolves, with private keys redacted, and changes nothing.
// --endpoint points a metadata-service platform at another address; --dir reads a directory
// laid out like a NoCloud seed or an OpenStack config drive (on a node, or on any Linux host
// to check a seed before using it). With either, the member is the one the metadata's
// addresses (interface and public) identify, not this host's.
func inspect(ctx context.Context, args []string, env detect.Env, w io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	platformName := fs.String("platform", "", "use this platform instead of detecting it")
	endpoint := fs.String("endpoint", "", "metadata service address to use instead of the platform's (needs --platform)")
	dir := fs.String("dir", "", "a NoCloud seed or OpenStack config drive directory to read instead of the machine's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint != "" && *platformName == "" {
		return errors.New("--endpoint needs --platform: say which platform's protocol the endpoint speaks")
	}
	if *dir != "" {
		if *platformName == "" {
			if *platformName = detect.DirPlatform(*dir); *platformName == "" {
				return fmt.Errorf("--dir %s holds neither a NoCloud seed (meta-data) nor a config drive (openstack/latest): give --platform", *dir)
			}
		}
	}
	env.Endpoint, env.Dir = *endpoint, *dir
	opts := nodeconfig.LookOptions(*platformName)
	// another machine's metadata: its member is found by its addresses, not this host's
	opts.AddrsFromMetadata = *endpoint != "" || *dir != ""
	r, err := nodeconfig.Resolve(ctx, env, opts)
	if err != nil {
		var ce *nodeconfig.ConfigError
		if errors.As(err, &ce) {
			return errors.New(strings.Join(ce.Problems(), "\n"))
		}
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.Redacted())
}

// clientCredentials issues a client certificate from the cluster CA on a node that has its
// key (node.ClientCredentials). The tarball goes to --out, or to w ("ssh node firstboot
// client-credentials --name ops > ops.tar.gz").
func clientCredentials(ctx context.Context, args []string, n *node.Node, w io.Writer) error {
	fs := flag.NewFlagSet("client-credentials", flag.ContinueOnError)
	name := fs.String("name", "", "the client's name: the certificate's common name (the etcd user, with etcd auth)")
	out := fs.String("out", "-", "where to write the tar.gz; - for standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n.Resolve = nodeconfig.LookOptions("")
	b, err := n.ClientCredentials(ctx, *name)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = w.Write(b)
		return err
	}
	return atomicfile.Write(*out, b, 0o600)
}
