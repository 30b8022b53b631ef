package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/image"
	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/bootline"
	"github.com/etcd-appliance/appliance/internal/vm"
)

// run boots a built image in qemu (TCG) with a persistent data disk, shows the console, and
// says how to reach etcd once the node is up. The image file itself is never written.
func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	archName := fs.String("arch", "amd64", "architecture of the image to boot")
	dir := fs.String("dir", "out", "directory holding manifest.json and the images")
	format := fs.String("format", "qcow2", "image format to boot: qcow2, raw, vhd or vmdk")
	direct := fs.Bool("direct", false, "direct kernel boot (needs a build with --format kernel) instead of firmware")
	data := fs.String("data", "", "data disk (qcow2; created, 4 GiB, if missing; kept across runs). Default: DIR/<arch>-data.qcow2")
	memory := fs.Int("memory", 1024, "guest memory in MiB")
	quiet := fs.Bool("quiet", false, "do not copy the serial console to the terminal")
	userData := fs.String("config", "", "user-data to give the node (appliance YAML/JSON or Ignition). Default: a single member with the CA in DIR/run-ca")
	fs.Parse(args)

	a, err := arch.Lookup(*archName)
	if err != nil {
		return fmt.Errorf("--arch: %w", err)
	}
	m, err := readManifest(*dir)
	if err != nil {
		return err
	}
	find := func(format string) (string, error) {
		for _, art := range m.Artifacts {
			if art.Arch == a.Name && art.Format == format {
				return filepath.Join(*dir, art.Path), nil
			}
		}
		return "", fmt.Errorf("%s/manifest.json lists no %s %s artifact: build it with 'imagebuild build --arch %s --format %s'",
			*dir, a.Name, format, a.Name, format)
	}
	qemuFormat := image.QEMUFormat(*format)
	if qemuFormat == "" {
		return fmt.Errorf("--format %s: qemu boots qcow2, raw, vhd or vmdk", *format)
	}
	img, err := find(*format)
	if err != nil {
		return err
	}
	if *data == "" {
		*data = filepath.Join(*dir, a.Name+"-data.qcow2")
	}
	// The node's TLS: by default a CA kept in DIR/run-ca, given to the node as its config, so
	// that this host can issue itself a client certificate (the node refuses anyone without).
	caDir := filepath.Join(*dir, "run-ca")
	var clientCert, clientKey, caCert string
	if *userData == "" {
		if _, err := os.Stat(filepath.Join(caDir, "ca.key")); errors.Is(err, os.ErrNotExist) {
			if err := caInit(caDir, time.Now()); err != nil {
				return err
			}
		}
		tlsYAML, err := tlsSection(caDir, true)
		if err != nil {
			return err
		}
		*userData = filepath.Join(caDir, "user-data.yaml")
		// this host reaches the node from qemu's user network (10.0.2.2): let it read /health
		if err := os.WriteFile(*userData, []byte("version: 1\n"+tlsYAML+"network: {metrics_from: [10.0.2.2]}\n"), 0o600); err != nil {
			return err
		}
		caPEM, certPEM, keyPEM, err := issueClient(caDir, "imagebuild-run", time.Now())
		if err != nil {
			return err
		}
		caCert, clientCert, clientKey = filepath.Join(caDir, "ca.crt"), filepath.Join(caDir, "client.crt"), filepath.Join(caDir, "client.key")
		for _, f := range []struct {
			path string
			data []byte
			mode os.FileMode
		}{{caCert, caPEM, 0o644}, {clientCert, certPEM, 0o644}, {clientKey, keyPEM, 0o600}} {
			if err := atomicfile.Write(f.path, f.data, f.mode); err != nil {
				return err
			}
		}
	}
	if _, err := os.Stat(*data); errors.Is(err, os.ErrNotExist) {
		if err := vm.CreateBlankDisk(ctx, *data, 4<<30); err != nil {
			return err
		}
	}
	cfg := vm.Config{
		Arch: a, MemoryMiB: *memory,
		Disks: []vm.Disk{
			{Path: img, Format: qemuFormat, Snapshot: true},
			{Path: *data, Format: "qcow2", Serial: "etcd-data"},
		},
		HostForwards: []vm.Forward{{GuestPort: 2379}, {GuestPort: 2381}},
		ConsoleLog:   filepath.Join(*dir, a.Name+"-console.log"),
	}
	if !*quiet {
		cfg.ConsoleFunc = func(line string) { fmt.Println(line) }
	}
	switch a.QEMUConfig { // the same conventions as Ignition's qemu platform
	case arch.FwCfg:
		cfg.ExtraArgs = append(cfg.ExtraArgs, "-fw_cfg", "name=opt/com.coreos/config,file="+*userData)
	case arch.BlockDev:
		disk, err := configDisk(*userData, filepath.Join(*dir, a.Name+"-config.img"))
		if err != nil {
			return err
		}
		cfg.Disks = append(cfg.Disks, vm.Disk{Path: disk, Format: "raw", ReadOnly: true, Serial: "ignition"})
	}
	if *direct {
		if cfg.Kernel, err = find("kernel"); err != nil {
			return err
		}
		if cfg.Initrd, err = find("initrd"); err != nil {
			return err
		}
		cmdlineFile, err := find("cmdline")
		if err != nil {
			return err
		}
		b, err := os.ReadFile(cmdlineFile)
		if err != nil {
			return err
		}
		cfg.Cmdline = string(b)
	}
	v, err := vm.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer v.Close()
	fmt.Fprintf(os.Stderr, "imagebuild run: booting %s (qemu pid %d, console also in %s); Ctrl-C stops it\n", img, v.Pid(), cfg.ConsoleLog)
	match, err := v.WaitConsole(ctx, bootline.Regexp)
	if err != nil {
		return fmt.Errorf("waiting for the node to boot: %w", err)
	}
	client, metrics := v.HostPort(2379), v.HostPort(2381)
	fmt.Fprintf(os.Stderr, "\nimagebuild run: node booted (state=%s, failed units: %s). From this host:\n  curl http://127.0.0.1:%d/health\n", match[1], match[2], metrics)
	if clientCert != "" {
		ctl := hostEtcdctl()
		fmt.Fprintf(os.Stderr, "  export ETCDCTL_ENDPOINTS=https://127.0.0.1:%d ETCDCTL_CACERT=%s ETCDCTL_CERT=%s ETCDCTL_KEY=%s\n  %s put hello world && %s get hello\n",
			client, abs(caCert), abs(clientCert), abs(clientKey), ctl, ctl)
	} else {
		fmt.Fprintf(os.Stderr, "  etcd's client port (TLS, client certificate from your CA): https://127.0.0.1:%d\n", client)
	}
	fmt.Fprintf(os.Stderr, "data disk: %s (kept; delete it for a fresh node)\n", *data)
	select {
	case <-ctx.Done():
		return nil
	case <-v.Done():
		return v.Wait()
	}
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// configDisk writes user-data as a disk image for machines without fw_cfg (ppc64le): the
// contents NUL-padded to whole MiB, which the node reads up to the first NUL.
func configDisk(userData, out string) (string, error) {
	b, err := os.ReadFile(userData)
	if err != nil {
		return "", err
	}
	b = append(b, make([]byte, 1<<20-len(b)%(1<<20))...)
	return out, os.WriteFile(out, b, 0o600)
}

func readManifest(dir string) (*image.Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("no build in %s: %w (run 'make image' first)", dir, err)
	}
	var m image.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	return &m, nil
}

// hostEtcdctl is the etcdctl make builds beside imagebuild (bin/etcdctl, from the image's own
// etcd source), or plain etcdctl from the PATH when there is none.
func hostEtcdctl() string {
	exe, err := os.Executable()
	if err != nil {
		return "etcdctl"
	}
	p := filepath.Join(filepath.Dir(exe), "etcdctl")
	if _, err := os.Stat(p); err != nil {
		return "etcdctl"
	}
	return p
}
