package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/etcd-appliance/appliance/internal/nodestate"
	"github.com/etcd-appliance/appliance/internal/ops"
)

// The on-node operations: flags here, the work in internal/ops.

// errUnhealthy makes `firstboot status` exit 1 after printing its report.
var errUnhealthy = errors.New("unhealthy")

// opsNode is this node as boot recorded it in runDir, with the real machine.
func opsNode(runDir string) (*ops.Node, error) {
	s, err := nodestate.Read(runDir)
	if err != nil {
		return nil, err
	}
	return ops.New(s, runDir), nil
}

// statusCmd prints this node's health: the one-line summary, or the whole report as JSON.
// It exits 1 when the member or cluster is unhealthy.
func statusCmd(ctx context.Context, args []string, runDir string, w io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the whole report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := opsNode(runDir)
	if err != nil {
		return err
	}
	st := n.Status(ctx, time.Now().UTC())
	if err := ops.Report(w, st, *asJSON); err != nil {
		return err
	}
	if !ops.Healthy(st) {
		return errUnhealthy
	}
	return nil
}

// agent is etcd-agent.service: it watches this node's member for as long as the node runs.
func agent(ctx context.Context, runDir string) error {
	n, err := opsNode(runDir)
	if err != nil {
		return err
	}
	return n.Agent(ctx)
}

// upgradeCheck is `firstboot upgrade-check [--to-etcd VERSION]`.
func upgradeCheck(ctx context.Context, args []string, runDir string, w io.Writer) error {
	fs := flag.NewFlagSet("upgrade-check", flag.ContinueOnError)
	toEtcd := fs.String("to-etcd", "", "the etcd version of the image this node is to come back on (its manifest.json etcd_version): also check that etcd allows the move now")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("usage: firstboot upgrade-check [--to-etcd VERSION]")
	}
	n, err := opsNode(runDir)
	if err != nil {
		return err
	}
	return n.UpgradeCheck(ctx, *toEtcd, w)
}

func leave(ctx context.Context, args []string, runDir string, w io.Writer) error {
	fs := flag.NewFlagSet("leave", flag.ContinueOnError)
	force := fs.Bool("force", false, "leave even if the rest of the cluster would lose its quorum, or this is the last member")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := opsNode(runDir)
	if err != nil {
		return err
	}
	return n.Leave(ctx, *force, w)
}

func removeMember(ctx context.Context, args []string, runDir string, w io.Writer) error {
	fs := flag.NewFlagSet("remove-member", flag.ContinueOnError)
	force := fs.Bool("force", false, "remove it even if it is healthy or the cluster would lose its quorum")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: firstboot remove-member [--force] NAME")
	}
	n, err := opsNode(runDir)
	if err != nil {
		return err
	}
	return n.RemoveMember(ctx, fs.Arg(0), *force, w)
}

func snapshotCmd(ctx context.Context, args []string, runDir string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	out := fs.String("out", "", "directory for NAME.db and NAME.json (default: snapshots/ on the data volume), or - for standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := opsNode(runDir)
	if err != nil {
		return err
	}
	return n.Snapshot(ctx, *out, stdout, stderr)
}

// backupCmd is `firstboot backup now|verify|list`.
func backupCmd(ctx context.Context, args []string, runDir string, w io.Writer) error {
	if len(args) == 0 {
		usage()
	}
	fs := flag.NewFlagSet("backup "+args[0], flag.ContinueOnError)
	key := fs.String("key", "", "the backup object to verify (default: the latest)")
	idFile := fs.String("identity", "", "a file holding the age identity (AGE-SECRET-KEY-1…) of encrypted backups")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	n, err := opsNode(runDir)
	if err != nil {
		return err
	}
	switch args[0] {
	case "now":
		return n.BackupNow(ctx, w)
	case "verify":
		id, err := readIdentity(*idFile)
		if err != nil {
			return err
		}
		return n.VerifyBackup(ctx, *key, id, w)
	case "list":
		return n.ListBackups(ctx, w)
	}
	usage()
	return nil
}

// recoverCmd is `firstboot recover`.
func recoverCmd(ctx context.Context, args []string, runDir string, w io.Writer) error {
	// a dropped SSH session must not stop a recovery half-way (etcd restarted with
	// --force-new-cluster, its environment not yet put back)
	signal.Ignore(syscall.SIGHUP)
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	confirm := fs.Bool("confirm-lost-quorum", false, "the cluster has lost its quorum for good: drop every other member")
	from := fs.String("from", "", "latest (the newest backup in backup.url) or a backup's URL; default: this member's own data")
	idFile := fs.String("identity", "", "a file holding the age identity of encrypted backups")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := opsNode(runDir)
	if err != nil {
		return err
	}
	id, err := readIdentity(*idFile)
	if err != nil {
		return err
	}
	return n.Recover(ctx, ops.RecoverOptions{Confirmed: *confirm, From: *from, Identity: id}, w)
}

// readIdentity is the age identity in the file --identity names; "" without one.
func readIdentity(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--identity: %w", err)
	}
	return string(b), nil
}

// downgradeCmd is `firstboot downgrade enable vX.Y|cancel|status`.
func downgradeCmd(ctx context.Context, args []string, runDir string, w io.Writer) error {
	if len(args) == 0 {
		usage()
	}
	want := map[string]int{"enable": 1, "cancel": 0, "status": 0}
	n, ok := want[args[0]]
	if !ok {
		usage()
	}
	if len(args)-1 != n {
		if args[0] == "enable" {
			return errors.New("usage: firstboot downgrade enable vX.Y (the etcd line to go down to, one minor below the cluster's, e.g. v3.6)")
		}
		return fmt.Errorf("usage: firstboot downgrade %s (no arguments)", args[0])
	}
	node, err := opsNode(runDir)
	if err != nil {
		return err
	}
	switch args[0] {
	case "enable":
		return node.DowngradeEnable(ctx, args[1], w)
	case "cancel":
		return node.DowngradeCancel(ctx, w)
	}
	return node.DowngradeStatus(ctx, w)
}
