package firewall

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Apply replaces the node's table with one that enforces p, in one netlink transaction: the
// old rules hold until the new ones are in place, and established connections (conntrack)
// carry on. The library github.com/google/nftables speaks netlink directly, so the image
// needs no nft binary and none of its libraries. opts are for tests (a network namespace).
func Apply(p Policy, opts ...nftables.ConnOption) error {
	return replaceTable("installing", opts, func(c *nftables.Conn, t *nftables.Table) {
		c.AddTable(t)
		addInput(c, t, p)
		addOutput(c, t)
	})
}

// Install loads the nftables modules on a node and applies p. Loading them first gives a
// clear error where the kernel would otherwise be asked to load each on demand.
func Install(p Policy) error {
	if out, err := exec.Command("modprobe", "-a", "nf_tables", "nft_ct", "nft_reject_inet").CombinedOutput(); err != nil {
		return fmt.Errorf("packet filter: loading the nftables modules: %v: %s", err, bytes.TrimSpace(out))
	}
	return Apply(p)
}

// Remove deletes the node's table, if there is one.
func Remove(opts ...nftables.ConnOption) error {
	return replaceTable("removing", opts, func(*nftables.Conn, *nftables.Table) {})
}

// replaceTable deletes the node's table and lets fill add what replaces it, in one batch. The
// table is added before it is deleted, so that the delete cannot fail on a missing table.
func replaceTable(what string, opts []nftables.ConnOption, fill func(*nftables.Conn, *nftables.Table)) error {
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("packet filter: %w", err)
	}
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	fill(c, t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("packet filter: %s table inet %s: %w (does the kernel have nf_tables?)", what, TableName, err)
	}
	return nil
}

func addInput(c *nftables.Conn, t *nftables.Table, p Policy) {
	drop := nftables.ChainPolicyDrop
	ch := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	rule := func(e ...expr.Any) { c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e}) }
	accept := &expr.Verdict{Kind: expr.VerdictAccept}

	// loopback: etcd and the agent talk to themselves
	rule(&expr.Meta{Key: expr.MetaKeyIIF, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(1)}, accept)
	// answers to what this node sent
	rule(append(ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), accept)...)
	rule(append(ctState(expr.CtStateBitINVALID), &expr.Verdict{Kind: expr.VerdictDrop})...)
	// ICMP (path MTU, echo) and ICMPv6 (neighbour discovery, router advertisements)
	for _, proto := range []byte{unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6} {
		rule(append(l4(proto), accept)...)
	}
	// DHCP and DHCPv6 answers: broadcast and multicast are not tracked as replies
	for _, port := range []uint16{68, 546} {
		rule(append(append(l4(unix.IPPROTO_UDP), dport(port)...), accept)...)
	}
	for _, a := range p.Allows() {
		e := append(l4(unix.IPPROTO_TCP), dport(a.Port)...)
		rule(append(append(e, match(a.From, false)...), accept)...)
	}
}

// addOutput keeps every user but root away from the metadata services' HTTP.
func addOutput(c *nftables.Conn, t *nftables.Table) {
	acceptAll := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &acceptAll})
	for _, a := range MetadataAddrs {
		for _, port := range MetadataPorts {
			e := []expr.Any{
				&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
			}
			e = append(e, l4(unix.IPPROTO_TCP)...)
			e = append(e, dport(port)...)
			e = append(e, match(netip.PrefixFrom(a, a.BitLen()), true)...)
			e = append(e, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e})
		}
	}
}

// ctState matches a packet whose conntrack state has any of the bits.
func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func l4(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

func dport(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// match matches the packet's source (or destination) address against a prefix of its own
// family: a masked compare for a network, a plain one for a host, the family alone for /0.
func match(p netip.Prefix, dst bool) []expr.Any {
	a := p.Addr()
	e := family(a)
	if p.Bits() == 0 {
		return e // anywhere in that family
	}
	off, n := uint32(12), uint32(4) // IPv4 source address; the destination follows it
	if a.Is6() {
		off, n = 8, 16
	}
	if dst {
		off += n
	}
	e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n})
	if p.Bits() < a.BitLen() {
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: prefixMask(p), Xor: make([]byte, n)})
	}
	return append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()})
}

func family(a netip.Addr) []expr.Any {
	proto := byte(unix.NFPROTO_IPV4)
	if a.Is6() {
		proto = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// prefixMask is the netmask of p's length, as bytes.
func prefixMask(p netip.Prefix) []byte {
	m := make([]byte, p.Addr().BitLen()/8)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}
