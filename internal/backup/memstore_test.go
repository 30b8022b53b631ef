package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/etcd-appliance/appliance/internal/objstore"
)

// memStore is an objstore.Store in memory, with the hooks the tests need: it records how
// Put was called, and Get can stall after some bytes like a dead HTTP body.
type memStore struct {
	mu      sync.Mutex
	objs    map[string]memObj
	putSize map[string]int64 // the size argument of the last Put per key
	putType map[string]string
	// stallAfter >= 0 makes Get bodies stop after that many bytes until the context ends
	stallAfter int
	// truncate drops this many bytes from what Put stores
	truncate int
	// failStat makes Stat of these keys fail
	failStat map[string]error
	// slow makes Get bodies yield one byte per read, after this pause
	slow time.Duration
}

type memObj struct {
	data     []byte
	meta     map[string]string
	modified time.Time
}

func newMemStore() *memStore {
	return &memStore{objs: map[string]memObj{}, putSize: map[string]int64{}, putType: map[string]string{}, stallAfter: -1}
}

func (s *memStore) String() string { return "mem://bucket/prefix" }

func (s *memStore) Put(ctx context.Context, key string, r io.Reader, size int64, meta map[string]string) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if size >= 0 && int64(len(b)) != size {
		return fmt.Errorf("put %s: %d bytes, %d announced", key, len(b), size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs[key] = memObj{data: b[:len(b)-min(s.truncate, len(b))], meta: maps.Clone(meta), modified: time.Now()}
	s.putSize[key] = size
	s.putType[key] = fmt.Sprintf("%T", r)
	return nil
}

func (s *memStore) object(key string, o memObj) objstore.Object {
	return objstore.Object{Key: key, Size: int64(len(o.data)), Modified: o.modified, Meta: maps.Clone(o.meta)}
}

func (s *memStore) Get(ctx context.Context, key string) (io.ReadCloser, objstore.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objs[key]
	if !ok {
		return nil, objstore.Object{}, fmt.Errorf("get %s: not found", key)
	}
	var body io.ReadCloser = io.NopCloser(bytes.NewReader(o.data))
	if s.stallAfter >= 0 {
		body = &stallBody{ctx: ctx, data: o.data[:min(s.stallAfter, len(o.data))]}
	}
	if s.slow > 0 {
		body = &slowBody{data: o.data, pause: s.slow}
	}
	return body, s.object(key, o), nil
}

func (s *memStore) Stat(ctx context.Context, key string) (objstore.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failStat[key]; err != nil {
		return objstore.Object{}, err
	}
	o, ok := s.objs[key]
	if !ok {
		return objstore.Object{}, fmt.Errorf("stat %s: not found", key)
	}
	return s.object(key, o), nil
}

func (s *memStore) List(ctx context.Context) ([]objstore.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []objstore.Object
	for _, k := range slices.Sorted(maps.Keys(s.objs)) {
		o := s.object(k, s.objs[k])
		o.Meta = nil
		out = append(out, o)
	}
	return out, nil
}

func (s *memStore) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objs, key)
	return nil
}

// put stores an object directly, for tests that build a store's contents by hand.
func (s *memStore) put(key string, data []byte, meta map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs[key] = memObj{data: data, meta: meta, modified: time.Now()}
}

// edit changes a stored object in place.
func (s *memStore) edit(key string, f func(*memObj)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objs[key]
	f(&o)
	s.objs[key] = o
}

// stallBody yields data, then blocks until its context ends, as an HTTP body from a server
// that stopped sending does.
type stallBody struct {
	ctx  context.Context
	data []byte
}

func (b *stallBody) Read(p []byte) (int, error) {
	if len(b.data) > 0 {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	<-b.ctx.Done()
	return 0, context.Cause(b.ctx)
}

func (b *stallBody) Close() error { return nil }

// slowBody yields a byte at a time, pausing before each.
type slowBody struct {
	data  []byte
	pause time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(b.pause)
	p[0] = b.data[0]
	b.data = b.data[1:]
	return 1, nil
}

func (b *slowBody) Close() error { return nil }
