package mips

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// snapshot is a fake parameter snapshot: documents are embedded as base + shift·e₀, so
// each generation's index is distinguishable by its scores.
type snapshot struct {
	shift float32
	fail  bool
	block chan struct{} // if non-nil, Embed waits on it (or ctx).
}

func fakeEmbed(docs []float32, d int) EmbedFunc[snapshot] {
	return func(ctx context.Context, s snapshot) ([]float32, []int64, error) {
		if s.block != nil {
			select {
			case <-s.block:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		if s.fail {
			return nil, nil, errors.New("encoder exploded")
		}
		out := append([]float32(nil), docs...)
		for i := 0; i < len(out); i += d {
			out[i] += s.shift
		}
		return out, nil, nil
	}
}

func TestRefresherSwapsAndSearchesConcurrently(t *testing.T) {
	const n, d = 2000, 16
	docs, qs := Clustered(21, n, 8, d, 10)
	var swaps atomic.Int64
	r, err := NewRefresher(RefresherConfig[snapshot]{Dim: d, Embed: fakeEmbed(docs, d),
		OnSwap: func(RefreshStats) { swaps.Add(1) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Search(qs, 5); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("search before first build: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.Trigger(0, snapshot{}); err != nil {
		t.Fatal(err)
	}
	if err := r.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var searches atomic.Int64
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				idx, _ := r.Index()
				res, err := idx.Search(qs, 5)
				if err != nil || len(res) != 8 || len(res[0]) != 5 {
					t.Errorf("search during swaps: %v, %d lists", err, len(res))
					return
				}
				searches.Add(1)
			}
		}()
	}
	for step := int64(1); step <= 20; step++ {
		if err := r.Trigger(step*100, snapshot{shift: float32(step)}); err != nil {
			t.Fatal(err)
		}
		if step%5 == 0 {
			r.Trigger(step*100+1, snapshot{fail: true})
		}
		time.Sleep(time.Millisecond)
	}
	if err := r.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	r.Trigger(9000, snapshot{fail: true}) // a failure that cannot be coalesced away.
	if err := r.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Trigger(9999, snapshot{shift: 50}); err != nil {
		t.Fatal(err)
	}
	if err := r.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	st := r.Stats(10_050)
	if st.Step != 9999 || st.Age != 51 || st.Len != n {
		t.Errorf("stats after last build: step %d age %d len %d", st.Step, st.Age, st.Len)
	}
	if int64(st.Generation) != swaps.Load() || st.Generation < 2 {
		t.Errorf("generation %d, OnSwap calls %d", st.Generation, swaps.Load())
	}
	if st.Triggers != 27 || st.Building || st.Pending || st.Failures == 0 || st.LastError != nil {
		t.Errorf("triggers %d building %v pending %v failures %d last error %v", st.Triggers, st.Building, st.Pending, st.Failures, st.LastError)
	}
	// Every request either ran (a swap or a failure) or was coalesced away.
	if got := st.Generation + st.Failures + st.Coalesced; got != st.Triggers {
		t.Errorf("swaps (%d) + failures (%d) + coalesced (%d) = %d, want %d triggers", st.Generation, st.Failures, st.Coalesced, got, st.Triggers)
	}
	// The final index is the one embedded with shift 50: compare with a direct exact index.
	want, _, _ := fakeEmbed(docs, d)(ctx, snapshot{shift: 50})
	ex, _ := NewExact(want, nil, d)
	o, err := func() (float64, error) { idx, _ := r.Index(); return Overlap(idx, ex, qs, 10) }()
	if err != nil || o != 1 {
		t.Errorf("final index overlap with fresh exact = %v, %v; want 1", o, err)
	}
	t.Logf("%d searches during %d swaps, %d failures, %d coalesced", searches.Load(), st.Generation, st.Failures, st.Coalesced)
}

func TestRefresherFailureKeepsOldIndex(t *testing.T) {
	const n, d = 500, 8
	docs, qs := Clustered(22, n, 4, d, 5)
	initial, _ := NewExact(docs, nil, d)
	errs := make(chan error, 1)
	r, err := NewRefresher(RefresherConfig[snapshot]{Dim: d, Embed: fakeEmbed(docs, d),
		OnError: func(step int64, err error) { errs <- err }}, initial)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before, _ := r.Search(qs, 3)
	r.Trigger(7, snapshot{fail: true})
	select {
	case err := <-errs:
		if err == nil {
			t.Fatal("OnError got nil")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("OnError not called")
	}
	r.WaitIdle(context.Background())
	st := r.Stats(10)
	if st.Failures != 1 || st.LastError == nil || st.LastErrorStep != 7 || st.Generation != 0 || st.Step != -1 {
		t.Errorf("stats after failure: %+v", st)
	}
	idx, _ := r.Index()
	if idx != Index(initial) {
		t.Error("failed build replaced the index")
	}
	after, _ := r.Search(qs, 3)
	if Recall(after, before) != 1 {
		t.Error("answers changed after a failed build")
	}
	// A builder returning the wrong dimension is a failure too.
	r2, _ := NewRefresher(RefresherConfig[snapshot]{Dim: d, Embed: fakeEmbed(docs, d),
		Build: func(ctx context.Context, v []float32, ids []int64, dim int) (Index, error) {
			return NewExact(v[:2*(dim-1)], nil, dim-1)
		}}, initial)
	defer r2.Close()
	r2.Trigger(1, snapshot{})
	r2.WaitIdle(context.Background())
	if st := r2.Stats(1); st.Failures != 1 || st.Generation != 0 {
		t.Errorf("wrong-dimension build: %+v", st)
	}
}

func TestRefresherCloseWhileBuilding(t *testing.T) {
	const n, d = 300, 8
	docs, qs := Clustered(23, n, 2, d, 3)
	r, err := NewRefresher(RefresherConfig[snapshot]{Dim: d, Embed: fakeEmbed(docs, d)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Trigger(1, snapshot{})
	r.WaitIdle(context.Background())
	block := make(chan struct{}) // never closed: only cancellation ends this embed.
	r.Trigger(2, snapshot{block: block})
	r.Trigger(3, snapshot{}) // queued behind the blocked one.
	if st := r.Stats(3); !st.Building || !st.Pending || st.BuildingStep != 2 {
		t.Fatalf("expected a running and a pending build: %+v", st)
	}
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return while a build was running")
	}
	if st := r.Stats(3); st.Generation != 1 || st.Step != 1 || st.Building {
		t.Errorf("after Close: %+v", st)
	}
	if _, err := r.Search(qs, 2); err != nil {
		t.Errorf("search after Close: %v", err)
	}
	if err := r.Trigger(4, snapshot{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Trigger after Close: %v", err)
	}
	r.Close()
}

func TestOverlapDetectsStaleness(t *testing.T) {
	const n, d = 3000, 32
	docs, qs := Clustered(24, n, 50, d, 20)
	stale, _ := NewExact(docs, nil, d)
	rng := rand.New(rand.NewPCG(1, 1))
	moved := append([]float32(nil), docs...)
	for i := range moved {
		moved[i] += float32(rng.NormFloat64())
	}
	fresh, _ := NewExact(moved, nil, d)
	same, err := Overlap(stale, stale, qs, 10)
	if err != nil || same != 1 {
		t.Fatalf("overlap with itself: %v %v", same, err)
	}
	o, err := Overlap(stale, fresh, qs, 10)
	if err != nil {
		t.Fatal(err)
	}
	if o >= 0.9 || o <= 0 {
		t.Errorf("overlap after perturbing the embeddings = %.3f, want in (0, 0.9)", o)
	}
}
