package membership

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// TLSConfig is the client side of the cluster's mutual TLS, from PEM files.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("cluster CA %s holds no PEM certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	// etcd's ports accept nothing older (member.TLSMinVersion)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, nil
}

// Client talks to a cluster through the given client URLs.
type Client struct {
	*clientv3.Client
	tls *tls.Config // what it was dialled with, for etcd's HTTP endpoints (Versions)
}

// Dial makes a client for endpoints; it does not wait for a connection (calls do, within
// their context).
func Dial(endpoints []string, tc *tls.Config, extra ...grpc.DialOption) (*Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		TLS:         tc,
		DialTimeout: 5 * time.Second,
		DialOptions: extra,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return &Client{Client: c, tls: tc}, nil
}

func members(pbs []*etcdserverpb.Member) []Member {
	ms := make([]Member, 0, len(pbs))
	for _, m := range pbs {
		ms = append(ms, Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, Learner: m.IsLearner})
	}
	return ms
}

// Members lists the cluster's members (linearizable: a minority cannot answer).
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	r, err := c.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing members: %w", err)
	}
	return members(r.Members), nil
}

// LocalMembers lists the members as the answering member knows them, without a quorum (a
// forming cluster or a learner answers too).
func (c *Client) LocalMembers(ctx context.Context) ([]Member, error) {
	r, err := c.MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		return nil, fmt.Errorf("listing members: %w", err)
	}
	return members(r.Members), nil
}

// Running tells whether ms is a cluster that has run: some member published itself. The
// members of a cluster that is still forming have not (that needs a quorum).
func Running(ms []Member) bool {
	for _, m := range ms {
		if m.Started() {
			return true
		}
	}
	return false
}

// AddLearner adds a learner with peerURL and returns it and the members after the add.
func (c *Client) AddLearner(ctx context.Context, peerURL string) (Member, []Member, error) {
	r, err := c.MemberAddAsLearner(ctx, []string{peerURL})
	if err != nil {
		return Member{}, nil, fmt.Errorf("adding learner %s: %w", peerURL, err)
	}
	return members([]*etcdserverpb.Member{r.Member})[0], members(r.Members), nil
}

// Remove removes member id.
func (c *Client) Remove(ctx context.Context, id uint64) error {
	if _, err := c.MemberRemove(ctx, id); err != nil {
		return fmt.Errorf("removing member %s: %w", IDString(id), err)
	}
	return nil
}

// Promote makes learner id a voting member; etcd refuses until it has caught up.
func (c *Client) Promote(ctx context.Context, id uint64) error {
	if _, err := c.MemberPromote(ctx, id); err != nil {
		return fmt.Errorf("promoting learner %s: %w", IDString(id), err)
	}
	return nil
}

// Statuses asks every member for its status through its own client URLs, at once, each within
// timeout. A member missing from the result did not answer.
func (c *Client) Statuses(ctx context.Context, ms []Member, timeout time.Duration) map[uint64]*clientv3.StatusResponse {
	var mu sync.Mutex
	out := map[uint64]*clientv3.StatusResponse{}
	var wg sync.WaitGroup
	for _, m := range ms {
		for _, u := range m.ClientURLs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				r, err := c.Status(sctx, u)
				if err != nil {
					return
				}
				mu.Lock()
				out[m.ID] = r
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return out
}

// Versions is what etcd serves at /version: its own version and the cluster version, the
// version every member has agreed to run at (etcd's gRPC status does not carry it).
type Versions struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
}

// Versions asks the member at clientURL for its /version, with the client's TLS certificate.
func (c *Client) Versions(ctx context.Context, clientURL string) (Versions, error) {
	tr := &http.Transport{TLSClientConfig: c.tls.Clone()}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(clientURL, "/")+"/version", nil)
	if err != nil {
		return Versions{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return Versions{}, fmt.Errorf("asking %s for its versions: %w", clientURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Versions{}, fmt.Errorf("asking %s for its versions: %s", clientURL, resp.Status)
	}
	var v Versions
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&v); err != nil {
		return Versions{}, fmt.Errorf("%s/version: %w", clientURL, err)
	}
	if v.Cluster == "" || v.Cluster == "not_decided" {
		// etcd says not_decided until the members have agreed on one
		return Versions{}, fmt.Errorf("%s/version: no cluster version yet", clientURL)
	}
	return v, nil
}

// HealthOf is which members answered with a leader and no errors but NOSPACE. etcd lists every
// raised alarm among each member's errors ("memberID:… alarm:NOSPACE"). NOSPACE is the
// cluster's quota, not one member's health, and is reported on its own: a cluster at its
// quota still has its quorum. CORRUPT stays an error: that member's data is bad.
func HealthOf(st map[uint64]*clientv3.StatusResponse) Health {
	h := Health{}
	for id, r := range st {
		h[id] = r.Leader != 0 && !slices.ContainsFunc(r.Errors, func(e string) bool { return !isNoSpace(e) })
	}
	return h
}

// isNoSpace tells a NOSPACE alarm among a status response's errors (etcd prints the
// AlarmMember message).
func isNoSpace(e string) bool {
	return strings.HasPrefix(e, "memberID:") && strings.Contains(e, "alarm:NOSPACE")
}

// Join makes this node's place in the running cluster c for a blank data volume and returns
// etcd's --initial-cluster for initial-cluster-state existing. It lists the members first, so
// a retried join is harmless; it adds this node as a learner (one at a time: etcd refuses a
// second), and it removes a stale member of this node's name only when the cluster keeps a
// healthy quorum without it. A busy or unhealthy cluster is retried with backoff until ctx
// ends; log gets a line per step.
func Join(ctx context.Context, c *Client, self Self, names map[string]string, log func(string)) (string, error) {
	wait := 2 * time.Second
	for {
		step, err := joinStep(ctx, c, self, names, log)
		if step != "" || err != nil {
			return step, err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("joining the cluster: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// ErrStaleAlive is a stale member of this node's name that still answers: another machine
// runs it.
var ErrStaleAlive = errors.New("still answers")

func joinStep(ctx context.Context, c *Client, self Self, names map[string]string, log func(string)) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ms, err := c.Members(rctx)
	if err != nil {
		log(fmt.Sprintf("%v; retrying", err))
		return "", nil
	}
	plan := Decide(ms, self)
	switch plan.Action {
	case Start:
		log(fmt.Sprintf("the cluster lists this node as member %s, not started yet: starting it", IDString(plan.Member.ID)))
		return InitialCluster(ms, self, names), nil
	case Add:
		m, after, err := c.AddLearner(rctx, self.PeerURL)
		if err != nil {
			log(fmt.Sprintf("%v; retrying", err))
			return "", nil
		}
		log(fmt.Sprintf("added as learner %s; it is promoted once it has caught up", IDString(m.ID)))
		return InitialCluster(after, self, names), nil
	}
	// Replace: this node's member lost its data with its volume
	stale := plan.Member
	st := c.Statuses(rctx, ms, 5*time.Second)
	h := HealthOf(st)
	if st[stale.ID] != nil { // any answer, even without a leader: it runs somewhere

		return "", fmt.Errorf("member %s (%s) %w at %v while this node's data volume is blank: another machine runs it; give this node its own name and address", stale.Name, IDString(stale.ID), ErrStaleAlive, stale.ClientURLs)
	}
	if err := CheckRemove(ms, h, stale.ID); err != nil {
		log(fmt.Sprintf("not removing the stale member %s yet: %v; retrying", stale.Label(), err))
		return "", nil
	}
	if err := c.Remove(rctx, stale.ID); err != nil {
		log(fmt.Sprintf("%v; retrying", err))
		return "", nil
	}
	log(fmt.Sprintf("removed the stale member %s (%s): its data was lost with this node's volume; joining again", stale.Name, IDString(stale.ID)))
	return "", nil
}
