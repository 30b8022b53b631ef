package qemutests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/vm"
)

// bootFinished is the guest's contract line for "boot is over"; see the image's
// boot-finished unit.
var bootFinished = regexp.MustCompile(`etcd-appliance: boot finished: state=(\S+) failed=(\S*)`)

// imageLine is printed by firstboot from the image's os-release.
var imageLine = regexp.MustCompile(`etcd-appliance: image (\S+) build (\S+) \(etcd (\S+), (\S+)\)`)

var imageOrBoot = regexp.MustCompile(imageLine.String() + "|" + bootFinished.String())

const (
	etcdClientPort  = 2379
	etcdMetricsPort = 2381
	dataDiskSerial  = "etcd-data"
	dataDiskSize    = 1 << 30
)

// forEachArch runs f as a parallel subtest per arch (bounded by slots).
func forEachArch(t *testing.T, names []string, f func(t *testing.T, a arch.Arch)) {
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if !archSelected(name) {
				t.Skipf("%s not in QEMU_TESTS_ARCHES", name)
			}
			a, err := arch.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			t.Parallel()
			f(t, a)
		})
	}
}

// dataDisk is the blank disk the appliance keeps etcd's data on.
func dataDisk() vm.Disk {
	return vm.Disk{Size: dataDiskSize, Serial: dataDiskSerial}
}

// waitBooted waits for the boot-finished line and checks that no unit failed.
func waitBooted(ctx context.Context, t *testing.T, v *vm.VM) {
	t.Helper()
	start := time.Now()
	m, err := v.WaitConsole(ctx, bootFinished)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("boot finished after %s: state=%s failed=%s", time.Since(start).Round(time.Second), m[1], m[2])
	if m[1] != "running" || m[2] != "none" {
		t.Errorf("boot finished with state=%s failed=%s, want state=running failed=none", m[1], m[2])
	}
}

func TestFirmwareBoot(t *testing.T) {
	imgs := loadImages(t)
	forEachArch(t, arch.Names(), func(t *testing.T, a arch.Arch) {
		img, format := imgs.need(t, a.Name, "qcow2", "raw")
		ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
		defer cancel()
		// read-only: the appliance must boot without ever writing its OS disk
		v := bootVM(t, vm.Config{
			Arch:         a,
			Disks:        []vm.Disk{{Path: img, Format: format, ReadOnly: true}, dataDisk()},
			HostForwards: []vm.Forward{{GuestPort: etcdClientPort}, {GuestPort: etcdMetricsPort}},
		})
		// os-release carries the version and build id the manifest describes; firstboot prints
		// them before etcd starts, so the image line must come before boot-finished
		m, err := v.WaitConsole(ctx, imageOrBoot)
		if err != nil {
			t.Fatal(err)
		}
		if im := imageLine.FindStringSubmatch(m[0]); im == nil {
			t.Errorf("boot finished without the image line: %q", m[0])
		} else if want := []string{imgs.m.Version, imgs.m.BuildID, imgs.m.EtcdVersion, a.Name}; strings.Join(im[1:], " ") != strings.Join(want, " ") {
			t.Errorf("console says image %v, manifest says %v", im[1:], want)
		}
		waitBooted(ctx, t, v)
		if t.Failed() {
			return
		}
		healthURL := fmt.Sprintf("http://127.0.0.1:%d/health", v.HostPort(etcdMetricsPort))
		if err := waitHealthy(ctx, healthURL); err != nil {
			t.Fatal(err)
		}
		checkPutGet(ctx, t, fmt.Sprintf("http://127.0.0.1:%d", v.HostPort(etcdClientPort)), a.Name)
	})
}

func TestDirectKernelBoot(t *testing.T) {
	im := loadImages(t)
	forEachArch(t, []string{"amd64"}, func(t *testing.T, a arch.Arch) {
		img, format := im.need(t, a.Name, "qcow2", "raw")
		kernel, _ := im.need(t, a.Name, "kernel")
		initrd, _ := im.need(t, a.Name, "initrd")
		cmdlinePath, _ := im.need(t, a.Name, "cmdline")
		cmdline, err := os.ReadFile(cmdlinePath)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
		defer cancel()
		v := bootVM(t, vm.Config{
			Arch:    a,
			Kernel:  kernel,
			Initrd:  initrd,
			Cmdline: strings.TrimSpace(string(cmdline)),
			Disks:   []vm.Disk{{Path: img, Format: format, Snapshot: true}, dataDisk()},
		})
		waitBooted(ctx, t, v)
	})
}

// waitHealthy polls etcd's /health until it reports healthy or ctx ends. There is no
// event to wait for from the host, so this polls at a short interval.
func waitHealthy(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		err := checkHealth(ctx, client, url)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s: not healthy before the deadline: last error: %w", url, err)
		case <-tick.C:
		}
	}
}

func checkHealth(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s: %s", resp.Status, body)
	}
	var h struct {
		Health string `json:"health"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return fmt.Errorf("decode %q: %w", body, err)
	}
	if h.Health != "true" {
		return fmt.Errorf("health %q: %s", h.Health, body)
	}
	return nil
}

// checkPutGet writes a key through the etcd client API and reads it back.
func checkPutGet(ctx context.Context, t *testing.T, endpoint, archName string) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("etcd client for %s: %v", endpoint, err)
	}
	defer cli.Close()
	key := "/qemu-tests/" + archName
	val := fmt.Sprintf("%s booted at %s", archName, time.Now().UTC().Format(time.RFC3339Nano))
	opCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := cli.Put(opCtx, key, val); err != nil {
		t.Fatalf("etcd put %s at %s: %v", key, endpoint, err)
	}
	resp, err := cli.Get(opCtx, key)
	if err != nil {
		t.Fatalf("etcd get %s at %s: %v", key, endpoint, err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != val {
		t.Fatalf("etcd get %s = %v, want %q", key, resp.Kvs, val)
	}
}
