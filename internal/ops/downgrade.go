package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-appliance/appliance/internal/membership"
)

// ImageLines are the etcd minor versions the appliance has images of: a downgrade's target
// must be one, since each member is then reimaged to that line's image.
var ImageLines = []string{"3.5", "3.6", "3.7"}

// downgrader is what the downgrade commands use of an etcd client beyond Cluster;
// *membership.Client has it (clientv3.Maintenance).
type downgrader interface {
	Downgrade(ctx context.Context, action clientv3.DowngradeAction, version string) (*clientv3.DowngradeResponse, error)
}

var _ downgrader = (*membership.Client)(nil)

// downgradeTimeout bounds one downgrade request (etcd waits for a linearizable read, then a
// raft proposal).
const downgradeTimeout = 15 * time.Second

// minor is a version's "X.Y" and its parts: "v3.6", "3.6", "3.6.0" and "v3.6.16" give "3.6".
type minor struct{ major, minor int }

func parseMinor(v string) (minor, bool) {
	parts := strings.SplitN(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".", 3)
	if len(parts) < 2 {
		return minor{}, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || maj < 0 || mnr < 0 {
		return minor{}, false
	}
	if len(parts) == 3 {
		if _, err := strconv.Atoi(parts[2]); err != nil {
			return minor{}, false
		}
	}
	return minor{maj, mnr}, true
}

func (m minor) String() string { return fmt.Sprintf("%d.%d", m.major, m.minor) }

func (m minor) less(o minor) bool {
	return m.major < o.major || (m.major == o.major && m.minor < o.minor)
}

// memberVersions is one member's versions as its status answer gives them.
type memberVersions struct {
	name      string
	answered  bool
	server    string // "3.7.3"
	storage   string // "3.7.0"; "" from etcd v3.5
	enabled   bool   // a downgrade is enabled, as this member knows
	target    string // its target, "3.6.0"
	isLearner bool
}

// downgradeView is every member's versions, asked through this node's member.
type downgradeView struct {
	members []memberVersions
}

// clusterMinor is the cluster version the members' answers imply: the downgrade's target
// while one is enabled, else the lowest server version (etcd sets the cluster version to it).
// ok is false when no member answered with a version.
func (v *downgradeView) clusterMinor() (minor, bool) {
	if t, ok := v.target(); ok {
		return t, true
	}
	var low minor
	found := false
	for _, m := range v.members {
		if mv, ok := parseMinor(m.server); ok && (!found || mv.less(low)) {
			low, found = mv, true
		}
	}
	return low, found
}

// lines are the distinct minor versions the members' servers run, as "3.6".
func (v *downgradeView) lines() []string {
	var out []string
	for _, m := range v.members {
		if mv, ok := parseMinor(m.server); ok && !slices.Contains(out, mv.String()) {
			out = append(out, mv.String())
		}
	}
	slices.Sort(out)
	return out
}

// target is the enabled downgrade's target, as the first member that knows of one says.
func (v *downgradeView) target() (minor, bool) {
	for _, m := range v.members {
		if m.enabled {
			if t, ok := parseMinor(m.target); ok {
				return t, true
			}
		}
	}
	return minor{}, false
}

// silent are the members that did not answer.
func (v *downgradeView) silent() []string {
	var out []string
	for _, m := range v.members {
		if !m.answered {
			out = append(out, m.name)
		}
	}
	return out
}

// downgradeClient dials this node's member (the loopback client URL) for the downgrade
// commands.
func (n *Node) downgradeClient() (Cluster, downgrader, error) {
	cli, err := n.Dial(n.State.Local)
	if err != nil {
		return nil, nil, err
	}
	d, ok := cli.(downgrader)
	if !ok {
		cli.Close()
		return nil, nil, errors.New("this etcd client cannot ask for a downgrade")
	}
	return cli, d, nil
}

// downgradeSession is downgradeClient and the members' versions asked through it; the
// caller closes the client.
func (n *Node) downgradeSession(ctx context.Context) (Cluster, downgrader, *downgradeView, error) {
	cli, d, err := n.downgradeClient()
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := n.downgradeView(ctx, cli)
	if err != nil {
		cli.Close()
		return nil, nil, nil, err
	}
	return cli, d, v, nil
}

// downgradeView asks every member for its status through cli.
func (n *Node) downgradeView(ctx context.Context, cli Cluster) (*downgradeView, error) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// serializable: this node's member answers, even while the cluster has no quorum
	ms, err := cli.LocalMembers(lctx)
	if err != nil {
		return nil, fmt.Errorf("%w (is etcd running on this node? firstboot status)", err)
	}
	self, _ := membership.Find(ms, n.State.Self())
	st := statuses(ctx, cli, askSelfLocally(ms, self.ID, n.State.Local))
	v := &downgradeView{}
	for _, m := range ms {
		mv := memberVersions{name: m.Label(), isLearner: m.Learner}
		if r := st[m.ID]; r != nil {
			mv.answered, mv.server, mv.storage = true, r.Version, r.StorageVersion
			if d := r.DowngradeInfo; d != nil {
				mv.enabled, mv.target = d.Enabled, d.TargetVersion
			}
		}
		v.members = append(v.members, mv)
	}
	return v, nil
}

// DowngradeStatus prints every member's server and storage version and the downgrade that is
// enabled, with what is left to do.
func (n *Node) DowngradeStatus(ctx context.Context, w io.Writer) error {
	cli, _, v, err := n.downgradeSession(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	printDowngrade(w, v)
	return nil
}

// printDowngrade is the members' table and the line below it.
func printDowngrade(w io.Writer, v *downgradeView) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tSERVER\tSTORAGE\tDOWNGRADE")
	for _, m := range v.members {
		name := m.name
		if m.isLearner {
			name += " (learner)"
		}
		if !m.answered {
			fmt.Fprintf(tw, "%s\t-\t-\tdid not answer\n", name)
			continue
		}
		storage := m.storage
		if storage == "" {
			storage = "-" // etcd v3.5 reports none
		}
		dg := "not enabled"
		if m.enabled {
			dg = "enabled, target " + shortVersion(m.target)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, m.server, storage, dg)
	}
	tw.Flush()
	t, ok := v.target()
	if !ok {
		fmt.Fprintln(w, "no downgrade is enabled")
		return
	}
	var ready, waiting, done []string
	for _, m := range v.members {
		switch sv, ok := parseMinor(m.storage); {
		case !m.answered:
			waiting = append(waiting, m.name+" (did not answer)")
		case srvDone(m.server, t):
			done = append(done, m.name)
		case ok && !t.less(sv):
			ready = append(ready, m.name)
		default:
			waiting = append(waiting, m.name)
		}
	}
	fmt.Fprintf(w, "downgrade to %s enabled\n", t)
	if len(done) > 0 {
		fmt.Fprintf(w, "  running etcd %s already: %s\n", t, strings.Join(done, ", "))
	}
	if len(ready) > 0 {
		fmt.Fprintf(w, "  storage version %s, ready to reimage to the v%s image, one at a time (firstboot upgrade-check first): %s\n", t, t, strings.Join(ready, ", "))
	}
	if len(waiting) > 0 {
		fmt.Fprintf(w, "  waiting for storage version %s (etcd migrates it within seconds; do not reimage yet): %s\n", t, strings.Join(waiting, ", "))
	}
	if len(ready) == 0 && len(waiting) == 0 {
		fmt.Fprintf(w, "  every member runs etcd %s: etcd ends the downgrade by itself\n", t)
	}
}

// srvDone tells whether server (a member's etcd version) is already of the target's line.
func srvDone(server string, t minor) bool {
	sv, ok := parseMinor(server)
	return ok && sv == t
}

// shortVersion is "3.6" for etcd's "3.6.0"; anything it cannot read, as it is.
func shortVersion(v string) string {
	if m, ok := parseMinor(v); ok {
		return m.String()
	}
	return v
}

// checkDowngradeTarget reads target (the operator's "v3.6") and says why it cannot be the
// cluster's next downgrade, given the cluster's version (when known). It is the appliance's check before
// etcd's own (DowngradeValidate), to name the fix.
func checkDowngradeTarget(target string, cluster minor, haveCluster bool) (minor, error) {
	t, ok := parseMinor(target)
	if !ok {
		return minor{}, fmt.Errorf("%q is not a version: give the etcd line to go down to, e.g. v3.6", target)
	}
	if !slices.Contains(ImageLines, t.String()) {
		return t, fmt.Errorf("v%s: the appliance has images of etcd v%s only, and each member is reimaged to the target's image", t, strings.Join(ImageLines, ", v"))
	}
	if !haveCluster {
		return t, nil // etcd judges
	}
	switch {
	case !t.less(cluster):
		return t, fmt.Errorf("v%s is not below the cluster's %s: nothing to downgrade (to upgrade, reimage each member to the newer image)", t, cluster)
	case t.major != cluster.major:
		return t, fmt.Errorf("v%s is another major version than the cluster's %s: etcd cannot downgrade across a major version", t, cluster)
	case t.minor < cluster.minor-1:
		next := minor{cluster.major, cluster.minor - 1}
		return t, fmt.Errorf("v%s is %s minors below the cluster's %s: downgrade one minor at a time: 'firstboot downgrade enable v%s', reimage every member to the v%s image, then go on down",
			t, count(cluster.minor-t.minor), cluster, next, next)
	}
	return t, nil
}

func count(n int) string {
	if words := []string{"zero", "one", "two", "three", "four", "five"}; n >= 0 && n < len(words) {
		return words[n]
	}
	return strconv.Itoa(n)
}

// downgradeError names the fix for etcd's refusals of a downgrade request.
func downgradeError(err error, target minor, cluster string) error {
	switch rpctypes.ErrorDesc(err) {
	case rpctypes.ErrorDesc(rpctypes.ErrGRPCInvalidDowngradeTargetVersion):
		return fmt.Errorf("etcd refuses v%s as the downgrade target of the cluster's version %s: it allows exactly one minor below the cluster version (firstboot downgrade status)", target, cluster)
	case rpctypes.ErrorDesc(rpctypes.ErrGRPCDowngradeInProcess):
		return errors.New("a downgrade is enabled already: see it with 'firstboot downgrade status', or abort it with 'firstboot downgrade cancel'")
	case rpctypes.ErrorDesc(rpctypes.ErrGRPCClusterVersionUnavailable):
		return errors.New("the cluster has not decided its version yet (a member is still starting): try again in a minute")
	case rpctypes.ErrorDesc(rpctypes.ErrGRPCWrongDowngradeVersionFormat):
		return fmt.Errorf("etcd cannot read the version %q: %w", target.String(), err)
	}
	return fmt.Errorf("asking etcd: %w", err)
}

// DowngradeEnable has etcd validate, then enable, a downgrade of the cluster to target
// ("v3.6"), and prints what comes next. Every member must answer: each one's storage must
// migrate before its node is reimaged.
func (n *Node) DowngradeEnable(ctx context.Context, target string, w io.Writer) error {
	cli, d, v, err := n.downgradeSession(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if t, ok := v.target(); ok {
		return fmt.Errorf("a downgrade to %s is enabled already: see it with 'firstboot downgrade status', or abort it with 'firstboot downgrade cancel'", t)
	}
	if lines := v.lines(); len(lines) > 1 {
		return fmt.Errorf("the members run etcd %s: a roll between lines is under way; finish it (every member on one line, firstboot upgrade-check --to-etcd) before a downgrade", strings.Join(lines, " and "))
	}
	cluster, haveCluster := v.clusterMinor()
	t, err := checkDowngradeTarget(target, cluster, haveCluster)
	if err != nil {
		return err
	}
	if silent := v.silent(); len(silent) > 0 {
		return fmt.Errorf("%s did not answer: a downgrade needs every member running (each one's storage must migrate to %s before its node is reimaged): bring it back, or remove it (firstboot remove-member), then try again",
			strings.Join(silent, ", "), t)
	}
	clusterName := "unknown"
	if haveCluster {
		clusterName = cluster.String()
	}
	// etcd reads "X.Y" (and "X.Y.Z"), not "vX.Y"; it keeps only major and minor
	dctx, cancel := context.WithTimeout(ctx, downgradeTimeout)
	defer cancel()
	if _, err := d.Downgrade(dctx, clientv3.DowngradeValidate, t.String()); err != nil {
		return downgradeError(err, t, clusterName)
	}
	// etcd answers with the cluster version from before the change: not worth printing
	if _, err := d.Downgrade(dctx, clientv3.DowngradeEnable, t.String()); err != nil {
		return downgradeError(err, t, clusterName)
	}
	fmt.Fprintf(w, `downgrade to %[1]s enabled: the cluster version drops to %[1]s within seconds, and each member migrates its storage to %[1]s
next, one member at a time:
  1. wait until its storage version is %[1]s: firstboot downgrade status (on any node)
  2. on its node: firstboot upgrade-check --to-etcd (the v%[1]s image's etcd_version), then reimage it
     to that image on the same data volume
  3. wait until firstboot status is healthy again before the next member
a node reimaged before its storage version is %[1]s refuses to start etcd and says so: boot the v%[2]s image on it again
to abort before any member runs etcd %[1]s: firstboot downgrade cancel

`, t, clusterName)
	// the members as they are now: storage migrates within seconds of the enable
	if v, err := n.downgradeView(ctx, cli); err == nil {
		printDowngrade(w, v)
	}
	return nil
}

// DowngradeCancel cancels an enabled downgrade. etcd answers a cancel with nothing to cancel
// without an error, so the members are asked first.
func (n *Node) DowngradeCancel(ctx context.Context, w io.Writer) error {
	cli, d, v, err := n.downgradeSession(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	t, ok := v.target()
	if !ok {
		fmt.Fprintln(w, "no downgrade is enabled: nothing to cancel")
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, downgradeTimeout)
	defer cancel()
	if _, err := d.Downgrade(dctx, clientv3.DowngradeCancel, ""); err != nil {
		return fmt.Errorf("cancelling the downgrade to %s: %w", t, err)
	}
	fmt.Fprintf(w, "downgrade to %s cancelled: etcd raises the cluster version again to its members' lowest within seconds, and members still on the newer etcd migrate their storage back up\n", t)
	fmt.Fprintf(w, "members already reimaged to the v%s image keep the cluster at %s until they are reimaged back\n", t, t)
	return nil
}
