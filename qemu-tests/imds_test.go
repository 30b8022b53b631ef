package qemutests

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/vmnet"
)

// fakeIMDS speaks EC2's IMDSv2 (a PUT for a session token, then GETs carrying it) at
// 169.254.169.254 inside the test's namespace, answering each VM by its address.
type fakeIMDS struct {
	mu       sync.Mutex
	byIP     map[netip.Addr]imdsInstance
	tokens   map[string]bool
	v1Denied int // GETs without a token: IMDSv1, which the appliance must never use
}

type imdsInstance struct {
	id, hostname string
	ip           netip.Addr
	publicIP     netip.Addr // meta-data/public-ipv4 when valid, else 404 as on EC2
	sshKey       string
	userData     string
}

func (f *fakeIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ip, _ := netip.ParseAddr(host)
	f.mu.Lock()
	defer f.mu.Unlock()
	inst, ok := f.byIP[ip.Unmap()]
	if !ok {
		http.Error(w, "unknown instance", http.StatusForbidden)
		return
	}
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut || r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") == "" {
			http.Error(w, "", http.StatusBadRequest)
			return
		}
		tok := fmt.Sprintf("token-%s-%d", inst.id, len(f.tokens))
		f.tokens[tok] = true
		fmt.Fprint(w, tok)
		return
	}
	if !f.tokens[r.Header.Get("X-Aws-Ec2-Metadata-Token")] {
		f.v1Denied++
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	docs := map[string]string{
		"/latest/meta-data/instance-id":               inst.id,
		"/latest/meta-data/local-hostname":            inst.hostname,
		"/latest/meta-data/local-ipv4":                inst.ip.String(),
		"/latest/meta-data/public-keys/":              "0=qemu-tests",
		"/latest/meta-data/public-keys/0/openssh-key": inst.sshKey,
		"/latest/user-data":                           inst.userData,
	}
	if inst.publicIP.IsValid() {
		docs["/latest/meta-data/public-ipv4"] = inst.publicIP.String()
	}
	body, ok := docs[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	fmt.Fprint(w, body)
}

// TestAWSMetadata boots amd64 with etcd.platform=aws in a namespace where a fake IMDSv2
// serves 169.254.169.254: one node gets a good configuration (hostname, SSH key and etcd
// config applied, etcd serving TLS), the other a broken one (clear error, no etcd).
func TestAWSMetadata(t *testing.T) {
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
	needNetns(t)
	imgs := loadImages(t)
	c := &testCluster{t: t}
	c.loadKernel(t, imgs)
	// the Amazon Time Sync Service's link-local address is served by the network's NTP server,
	// which DHCP does not announce (nor does AWS's): the node must know it from the platform
	n, err := vmnet.New(vmnet.Options{ExtraAddrs: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/16"), netip.MustParsePrefix("169.254.169.123/32")},
		Router: true, NTP: true, NTPNotOffered: true})
	if err != nil {
		t.Fatal(err)
	}
	c.net = n
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", n.DHCPLog())
		}
		n.Close()
	})
	ca := c.newCA(t, "qemu-tests aws CA")
	key := newSSHKey(t)
	imds := &fakeIMDS{byIP: map[netip.Addr]imdsInstance{}, tokens: map[string]bool{}}
	good := imdsInstance{id: "i-0good", hostname: "ip-10-77-0-21.ec2.internal", ip: netip.MustParseAddr("10.77.0.21"),
		publicIP: netip.MustParseAddr("203.0.113.21"), sshKey: key.public,
		// listed by its public (elastic) IP, which is on no interface: only the metadata says it
		// is this machine
		userData: "version: 1\ncluster:\n  name: aws\n  members:\n    - {name: aws-a, address: 203.0.113.21}\n" + ca.tlsYAML()}
	bad := imdsInstance{id: "i-0bad", hostname: "ip-10-77-0-22.ec2.internal", ip: netip.MustParseAddr("10.77.0.22"), sshKey: key.public,
		userData: "version: 1\nnode: {name: aws-b}\nsnapshot_count: 5\n"}
	var hosts []vmnet.Host
	for i, inst := range []imdsInstance{good, bad} {
		imds.byIP[inst.ip] = inst
		hw, _ := net.ParseMAC(fmt.Sprintf("52:54:00:77:01:%02x", i+1))
		hosts = append(hosts, vmnet.Host{MAC: hw, IP: inst.ip})
		c.addNode(inst.id, inst.ip, hw.String(), filepath.Join(workDir(t), "data.qcow2"))
	}
	if err := n.StartDHCP(hosts); err != nil {
		t.Fatal(err)
	}
	l, err := n.Listen("tcp", "169.254.169.254:80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: imds}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
	defer cancel()
	c.cmdline += " etcd.platform=aws"
	// the good instance's RTC is five hours slow: NTP must set the clock before certificates
	// are issued (the CA is not valid yet by the RTC's time)
	c.nodes[0].qemuArgs = []string{"-rtc", "base=" + time.Now().UTC().Add(-5*time.Hour).Format("2006-01-02T15:04:05")}
	// a NoCloud seed is attached too, as anyone who can attach a disk could: the image is
	// told it is on AWS, so the seed is never read (the member must still be aws-a)
	seed := seedISO(t, map[string]string{"meta-data": "instance-id: intruder\n", "user-data": "version: 1\nnode: {name: seed-intruder}\n"})
	c.nodes[0].qemuArgs = append(c.nodes[0].qemuArgs, "-drive", "if=virtio,format=raw,readonly=on,file="+seed)
	for i := range c.nodes {
		c.start(i, "-") // no fw_cfg: the metadata server is the only source
	}

	t.Run("applied", func(t *testing.T) {
		v := c.nodes[0].v
		if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: platform aws \(`)); err != nil {
			t.Fatal(err)
		}
		for _, line := range []string{
			`etcd-appliance: configured: hostname=ip-10-77-0-21\.ec2\.internal member=aws-a ssh_keys=1 `,
			`etcd-appliance: clock: synchronised \(NTP: 169\.254\.169\.123\) after `,
			`etcd-appliance: member aws-a \(public address 203\.0\.113\.21 is NATed to this machine \(aws metadata\)\) of cluster aws`,
		} {
			if _, err := v.WaitConsole(ctx, regexp.MustCompile(line)); err != nil {
				t.Fatal(err)
			}
		}
		waitBootedNamed(ctx, t, v, "good")
		if err := c.waitHealthy(ctx, 0); err != nil {
			t.Fatal(err)
		}
		cli := c.client(0, ca.clientTLS(t, "qemu-tests"))
		members, err := cli.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(members.Members) != 1 || members.Members[0].Name != "aws-a" || members.Members[0].PeerURLs[0] != "https://203.0.113.21:2380" {
			t.Errorf("members %v, want aws-a at its public address from the user-data", members.Members)
		}
		// issued after the clock was set: valid from an hour before now, not six
		addr := net.JoinHostPort(good.ip.String(), strconv.Itoa(etcdClientPort))
		raw, err := c.net.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		tc := ca.clientTLS(t, "qemu-tests").Clone()
		tc.ServerName = good.ip.String()
		conn := tls.Client(raw, tc)
		if err := conn.HandshakeContext(ctx); err != nil {
			t.Fatalf("TLS to %s: %v", addr, err)
		}
		conn.Close()
		if nb := conn.ConnectionState().PeerCertificates[0].NotBefore; time.Since(nb) > 2*time.Hour || time.Until(nb) > 5*time.Minute {
			t.Errorf("server certificate valid from %s, %s before now: issued with the RTC's time, not NTP's", nb, time.Since(nb).Round(time.Minute))
		}
		if out, err := c.ssh(ctx, key, 0, "firstboot status"); err != nil || !strings.Contains(out, "clock: synchronised, from 169.254.169.123:123") {
			t.Errorf("firstboot status (%v):\n%s\nwant the clock synchronised from 169.254.169.123", err, out)
		}
		putThenGet(ctx, t, cli, cli, "/aws/key", "from IMDS user-data")
		c.checkSSH(ctx, t, 0, key, "ip-10-77-0-21.ec2.internal")
	})
	t.Run("refused", func(t *testing.T) {
		v := c.nodes[1].v
		waitRefused(ctx, t, v, regexp.MustCompile(`etcd-appliance: config error: user-data from aws: .*snapshot_count`))
		c.checkNoEtcd(ctx, t, 1)
	})
	imds.mu.Lock()
	defer imds.mu.Unlock()
	if imds.v1Denied > 0 {
		t.Errorf("%d metadata GETs came without an IMDSv2 token", imds.v1Denied)
	}
}
