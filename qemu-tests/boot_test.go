package qemutests

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/bootline"
	"github.com/etcd-appliance/appliance/internal/vm"
)

// imageLine is printed by firstboot from the image's os-release.
var imageLine = regexp.MustCompile(`etcd-appliance: image (\S+) build (\S+) \(etcd (\S+), (\S+)\)`)

// imageOrBoot is the image line or the boot-finished line (bootline), whichever comes first.
// singleHealthy is the agent's console line once a single member with no configuration is
// healthy (the metrics port is not open to the host then).
var singleHealthy = regexp.MustCompile(`etcd-appliance: status: \S+: leader · cluster healthy 1/1`)

// userNetMetrics lets the host (10.0.2.2 on qemu's user network) reach the metrics port.
const userNetMetrics = "network: {metrics_from: [10.0.2.2]}\n"

var imageOrBoot = regexp.MustCompile(imageLine.String() + "|" + bootline.Pattern)

const (
	etcdClientPort   = 2379
	etcdMetricsPort  = 2381
	etcdPeerPort     = 2380
	agentMetricsPort = 2382
	dataDiskSerial   = "etcd-data"
	dataDiskSize     = 1 << 30
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
	waitBootedNamed(ctx, t, v, "")
}

// waitBootedNamed is waitBooted for one of several VMs; it may run on another goroutine, so
// it reports with Errorf.
func waitBootedNamed(ctx context.Context, t *testing.T, v *vm.VM, name string) {
	t.Helper()
	if name != "" {
		name += ": "
	}
	start := time.Now()
	m, err := v.WaitConsole(ctx, bootline.Regexp)
	if err != nil {
		t.Errorf("%s%v", name, err)
		return
	}
	r, _ := bootline.Parse(m[0])
	t.Logf("%sboot finished after %s: %s", name, time.Since(start).Round(time.Second), r)
	if !r.Running() {
		t.Errorf("%sboot finished with %s, want state=running failed=none", name, r)
	}
}

// waitRefused waits for the console line saying why the node refused to start etcd, then for
// startup to end degraded with firstboot.service failed (so etcd.service never ran).
func waitRefused(ctx context.Context, t *testing.T, v *vm.VM, why *regexp.Regexp) {
	t.Helper()
	if _, err := v.WaitConsole(ctx, why); err != nil {
		t.Fatal(err)
	}
	m, err := v.WaitConsole(ctx, bootline.Regexp)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := bootline.Parse(m[0]); r.State != "degraded" || !slices.Equal(r.Failed, []string{"firstboot.service"}) {
		t.Errorf("boot finished with %s, want degraded with firstboot.service failed", r)
	}
}

func TestFirmwareBoot(t *testing.T) {
	imgs := loadImages(t)
	forEachArch(t, arch.Names(), func(t *testing.T, a arch.Arch) {
		// amd64 boots Azure's fixed VHD (qemu's vpc driver) through OVMF, the others qcow2
		formats := []string{"qcow2", "raw"}
		if a.Name == "amd64" {
			formats = []string{"vhd"}
		}
		img, format := imgs.osDisk(t, a.Name, formats...)
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
		// no configuration: a single member with its own CA, so the test has no client
		// certificate; health is what the console says, as a user given nothing reads it
		if _, err := v.WaitConsole(ctx, singleHealthy); err != nil {
			t.Fatal(err)
		}
		// the host reaches the guest through qemu's user network, from 10.0.2.2: not a
		// member, and network.metrics_from is empty, so the metrics port drops it
		if err := checkHealth(ctx, &http.Client{Timeout: 5 * time.Second}, fmt.Sprintf("http://127.0.0.1:%d/health", v.HostPort(etcdMetricsPort))); err == nil {
			t.Error("the metrics port answers a host that is neither a member nor in network.metrics_from")
		}
		// the client port is open to anyone (clients_from) and refuses everyone without a
		// client certificate
		checkClientPortRefuses(ctx, t, fmt.Sprintf("127.0.0.1:%d", v.HostPort(etcdClientPort)))
	})
}

// checkClientPortRefuses checks that etcd's client port at addr serves only TLS with a
// client certificate: plain HTTP and a TLS client without a certificate get nothing.
func checkClientPortRefuses(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	if resp, err := client.Get("http://" + addr + "/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP on the client port answered %s", resp.Status)
		}
	}
	anon := &tls.Config{InsecureSkipVerify: true} // the server's CA is the node's own
	cli := etcdClient(t, []string{"https://" + addr}, anon, nil)
	if _, err := cli.Put(shortCtx(ctx), "/qemu-tests/anonymous", "x"); err == nil {
		t.Error("a put without a client certificate was accepted")
	}
}

func TestDirectKernelBoot(t *testing.T) {
	im := loadImages(t)
	forEachArch(t, []string{"amd64"}, func(t *testing.T, a arch.Arch) {
		// the disk is vSphere's streamOptimized VMDK, read by qemu's vmdk driver
		img, format := im.osDisk(t, a.Name, "vmdk")
		kernel, initrd, cmdline := im.directBoot(t, a.Name)
		ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
		defer cancel()
		cfg := vm.Config{Arch: a, Kernel: kernel, Initrd: initrd, Cmdline: cmdline}
		// dm-verity: a copy of the OS disk with one byte changed in its root partition is
		// skipped when it sorts first beside the genuine disk (TestSecureBoot boots one alone)
		altered := alteredCopy(t, img, format)
		// Snapshot: a streamOptimized VMDK takes no random writes, its qcow2 overlay does
		cfg.Disks = []vm.Disk{{Path: altered, Format: "raw", Snapshot: true}, {Path: img, Format: format, Snapshot: true}, dataDisk()}
		v := bootVM(t, cfg)
		waitBooted(ctx, t, v)
		if t.Failed() {
			return
		}
		checkCopyRefused(ctx, t, v)
		if _, err := v.WaitConsole(ctx, singleHealthy); err != nil {
			t.Fatal(err)
		}
	})
}

// waitHealthy polls etcd's /health until it reports healthy or ctx ends. There is no
// event to wait for from the host, so this polls at a short interval.
func waitHealthy(ctx context.Context, url string) error {
	return waitHealthyWith(ctx, &http.Client{Timeout: 5 * time.Second}, url)
}

func waitHealthyWith(ctx context.Context, client *http.Client, url string) error {
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
	body, err := getBody(ctx, client, url)
	if err != nil {
		return err
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

// getBody is the body (at most 64 KiB) of a GET answered 200 OK; another status is an error
// that carries the body (etcd explains an unhealthy 503 there).
func getBody(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s: %s", resp.Status, body)
	}
	return body, nil
}

// getJSON decodes the JSON answer of a GET.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	body, err := getBody(ctx, client, url)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// fileSHA256 is the hex digest of a file, to prove a disk was not changed.
func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
