// Command firstboot is the node agent baked into the image. systemd runs `firstboot boot` on
// every boot before etcd.service, and `firstboot report` once startup has finished.
//
// This version starts a single-member etcd; configuration, TLS and clustering come later.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/platform/detect"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "boot":
		err = boot(ctx, defaultPaths(), nodeEnv())
	case "inspect":
		err = inspect(ctx, os.Args[2:], nodeEnv(), os.Stdout)
	case "report":
		err = report(ctx, os.Stdout)
	case "client-credentials":
		err = clientCredentials(ctx, os.Args[2:], defaultPaths(), nodeEnv(), os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd-appliance: firstboot %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: firstboot boot|inspect|report
  boot     read this node's configuration and prepare its etcd member (firstboot.service)
  inspect  [--platform P] [--endpoint URL | --dir DIR] print the configuration this node
           resolves, as JSON; changes nothing
  report   wait for startup to finish and print the boot result on the console
  client-credentials --name NAME [--out FILE]
           issue a client certificate from the cluster CA; writes a tar.gz (ca.crt,
           client.crt, client.key, README) to FILE or standard output`)
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

// lookOptions resolve the configuration again after boot, to look at it: no waiting for
// addresses, nothing applied, Ignition's files not checked against the ones firstboot wrote.
func lookOptions(platformName string) resolveOptions {
	opts := nodeResolveOptions(platformName)
	opts.root = ""
	opts.addrs = func(context.Context, func([]netip.Addr) bool) ([]netip.Addr, error) { return localAddrs() }
	opts.network = nil
	return opts
}

// inspect prints what this node resolves, with private keys redacted, and changes nothing.
// --endpoint points a metadata-service platform at another address; --dir reads a directory
// laid out like a NoCloud seed or an OpenStack config drive (on a node, or on any Linux host
// to check a seed before using it).
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
	r, err := resolve(ctx, env, lookOptions(*platformName))
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			return errors.New(strings.Join(ce.problems(), "\n"))
		}
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.redacted())
}
