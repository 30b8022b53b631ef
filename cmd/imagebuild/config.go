package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/config"
)

// configCmd is "imagebuild config validate FILE": it checks a cluster configuration (YAML, JSON
// or an Ignition config carrying one) the way a node will, before any machine boots with it.
func configCmd(ctx context.Context, args []string) error {
	return runConfig(args, os.Stdin, os.Stdout)
}

func runConfig(args []string, stdin io.Reader, out io.Writer) error {
	const usage = "usage: imagebuild config validate FILE   (FILE - reads standard input)\n       imagebuild config render --ca DIR --out OUTDIR FILE   (per-node user-data, no CA key)"
	if len(args) > 0 && args[0] == "render" {
		return renderConfig(args[1:], out, time.Now())
	}
	if len(args) != 2 || args[0] != "validate" {
		return errors.New(usage)
	}
	name := args[1]
	var data []byte
	var err error
	if name == "-" {
		name = "<stdin>"
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("reading the configuration: %w", err)
	}
	return validateConfig(out, name, data)
}

// validateConfig prints every problem as FILE:LINE: PATH: MESSAGE, then the warnings, then a
// summary; it returns an error when the configuration would be refused.
func validateConfig(out io.Writer, name string, data []byte) error {
	cfg, extras, warns, err := config.Check(data, time.Now())
	var errs *config.Errors
	if errors.As(err, &errs) {
		for _, p := range errs.Problems {
			fmt.Fprintln(out, problemLine(name, p, ""))
		}
	} else if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, w := range warns {
		fmt.Fprintln(out, problemLine(name, w, "warning: "))
	}
	if errs != nil {
		return fmt.Errorf("%s: %d problem(s): the node would refuse this configuration", name, len(errs.Problems))
	}
	fmt.Fprintf(out, "%s: valid (%s)\n", name, summary(cfg, extras))
	return nil
}

// problemLine formats FILE[:LINE]: [KIND][PATH: ]MESSAGE; a problem in the appliance config inside
// an Ignition config names both files.
func problemLine(name string, p config.Problem, kind string) string {
	loc := name
	if p.File != "" {
		loc += ": " + p.File
	}
	if p.Line > 0 {
		loc += fmt.Sprintf(":%d", p.Line)
	}
	loc += ": " + kind
	if p.Path != "" {
		loc += p.Path + ": "
	}
	return loc + p.Message
}

func summary(cfg *config.Config, x *config.IgnitionExtras) string {
	var parts []string
	switch {
	case cfg == nil:
		parts = append(parts, "Ignition config without "+config.IgnitionConfigPath+": the node uses its defaults")
	case len(cfg.Cluster.Members) == 0:
		parts = append(parts, "single-node cluster")
	default:
		parts = append(parts, fmt.Sprintf("%d members, cluster %q", len(cfg.Cluster.Members), cfg.Cluster.Name))
	}
	if cfg != nil {
		switch {
		case cfg.TLS.CACert == "":
			parts = append(parts, "TLS mode: own CA (the node makes one on its data volume)")
		case cfg.TLS.CAKey != "":
			parts = append(parts, "TLS mode: shared CA key (every node holds it and issues its own certificates)")
		default:
			parts = append(parts, "TLS mode: per-node certificate (no CA key on the node)")
		}
		if cfg.Restore.Source != "" {
			parts = append(parts, "restores "+cfg.Restore.Source)
		}
		parts = append(parts, fmt.Sprintf("%d SSH keys", len(cfg.SSHAuthorizedKeys)))
	}
	if x != nil {
		parts = append(parts, fmt.Sprintf("Ignition: %d SSH keys, %d files, %d directories, %d links, %d units",
			len(x.SSHAuthorizedKeys), len(x.Files), len(x.Directories), len(x.Links), len(x.Units)))
	}
	return strings.Join(parts, ", ")
}
