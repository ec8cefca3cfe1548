package realm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unsafe"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Snapshot is a copy θ' of the retriever's parameters (both towers), taken at a training step,
// that the index builder embeds the corpus with while training goes on (§3.4 of the paper).
type Snapshot map[string]*tensors.Tensor

// TakeSnapshot clones the retriever variables of store (everything under /embedder and
// /query_embedder). The copy is independent of later training steps.
func TakeSnapshot(store *model.Store) (Snapshot, error) {
	s := Snapshot{}
	for v := range store.IterVariables() {
		p := v.Path()
		if !strings.HasPrefix(p, "/"+EmbedderScope+"/") && !strings.HasPrefix(p, "/"+QueryEmbedderScope+"/") {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("realm: snapshot of %s: %w", p, err)
		}
		c, err := val.Clone()
		if err != nil {
			return nil, fmt.Errorf("realm: snapshot of %s: %w", p, err)
		}
		s[p] = c
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("realm: snapshot: the store has no retriever variable (under /%s)", EmbedderScope)
	}
	return s, nil
}

// DocFingerprint identifies the document tower of the snapshot (the variables under
// /EmbedderScope, which alone decide Embed_doc): two snapshots with the same fingerprint embed
// a corpus identically, so corpus embeddings can be reused between them
// (pretrain.Pretrainer.CorpusEmbeddings).
func (s Snapshot) DocFingerprint() string {
	h := sha256.New()
	for _, path := range slices.Sorted(maps.Keys(s)) {
		if !strings.HasPrefix(path, "/"+EmbedderScope+"/") {
			continue
		}
		t := s[path]
		fmt.Fprintf(h, "%s %s\n", path, t.Shape())
		t.MustConstFlatData(func(flat any) {
			switch f := flat.(type) {
			case []float32:
				if len(f) > 0 {
					h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f)))
				}
			default:
				fmt.Fprint(h, f)
			}
		})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Retriever runs the retriever towers for inference, with its own variables: either a
// Snapshot (the index builder) or the live training store (query embeddings for MIPS).
// It is not safe for concurrent use.
type Retriever struct {
	cfg        Config
	store      *model.Store
	docExec    *model.Exec
	queryExec  *model.Exec
	batch      int
	ownedStore bool
}

// NewRetriever returns a Retriever over store (nil: a private store to be filled by Load)
// embedding documents batch at a time.
func NewRetriever(backend compute.Backend, store *model.Store, cfg Config, batch int) (*Retriever, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("realm: retriever batch %d", batch)
	}
	r := &Retriever{cfg: cfg, store: store, batch: batch}
	if store == nil {
		r.store = model.NewStore()
		r.ownedStore = true
	}
	var err error
	r.docExec, err = model.NewExec(backend, r.store, func(scope *model.Scope, ids, types, mask *Node) *Node {
		return cfg.EmbedDocs(scope, ids, types, mask)
	})
	if err != nil {
		return nil, fmt.Errorf("realm: document embedder: %w", err)
	}
	r.queryExec, err = model.NewExec(backend, r.store, func(scope *model.Scope, ids, types, mask *Node) *Node {
		return cfg.EmbedQueries(scope, ids, types, mask)
	})
	if err != nil {
		return nil, fmt.Errorf("realm: query embedder: %w", err)
	}
	return r, nil
}

// Store is the store whose variables the retriever reads: the one given to NewRetriever, or
// its private one.
func (r *Retriever) Store() *model.Store { return r.store }

// Load sets the retriever's private variables to a snapshot.
func (r *Retriever) Load(s Snapshot) error {
	if !r.ownedStore {
		return fmt.Errorf("realm: Load on a retriever that shares the training store")
	}
	for path, val := range s {
		if v := r.store.GetVariable(path); v != nil {
			if err := v.SetValue(val); err != nil {
				return fmt.Errorf("realm: loading snapshot variable %s: %w", path, err)
			}
			continue
		}
		scope, name := model.SplitPath(path)
		if _, err := r.store.Scope(scope).CreateVariable(name, val); err != nil {
			return fmt.Errorf("realm: loading snapshot variable %s: %w", path, err)
		}
	}
	return nil
}

// EmbedCorpus embeds every block of c with the document tower, in order: it returns the
// row-major [N, d] matrix and the block ids. It stops early, with ctx's error, when ctx is done.
func (r *Retriever) EmbedCorpus(ctx context.Context, c *Corpus) ([]float32, []int64, error) {
	sp := SpecialTokens(c.Tok)
	d := r.cfg.ProjectionDim
	n := c.Len()
	vecs := make([]float32, 0, n*d)
	ids := make([]int64, 0, n)
	D := r.cfg.DocLen
	bIDs, bTypes, bMask := make([]int32, r.batch*D), make([]int32, r.batch*D), make([]bool, r.batch*D)
	for start := 0; start < n; start += r.batch {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		end := min(start+r.batch, n)
		for i := range r.batch {
			doc := Doc{}
			if start+i < end {
				var err error
				if doc, err = c.Doc(int64(start + i)); err != nil {
					return nil, nil, err
				}
			}
			w := SeqWriter{IDs: bIDs[i*D : (i+1)*D], Types: bTypes[i*D : (i+1)*D], Mask: bMask[i*D : (i+1)*D]}
			w.Doc(sp, doc, D)
		}
		out, err := r.docExec.Call(tensors.FromFlatDataAndDimensions(bIDs, r.batch, D),
			tensors.FromFlatDataAndDimensions(bTypes, r.batch, D), tensors.FromFlatDataAndDimensions(bMask, r.batch, D))
		if err != nil {
			return nil, nil, fmt.Errorf("realm: embedding blocks %d–%d: %w", start, end-1, err)
		}
		flat := tensors.MustCopyFlatData[float32](out[0])
		out[0].MustFinalizeAll()
		vecs = append(vecs, flat[:(end-start)*d]...)
		for i := start; i < end; i++ {
			ids = append(ids, int64(i))
		}
		ReportProgress(ctx, "embedding the corpus", end, n)
	}
	return vecs, ids, nil
}

// EmbedQueries embeds featurised queries, ids/types/mask [B, QueryLen] flat, → [B·d] flat.
func (r *Retriever) EmbedQueries(ids, types []int32, mask []bool, b int) ([]float32, error) {
	Q := r.cfg.QueryLen
	out, err := r.queryExec.Call(tensors.FromFlatDataAndDimensions(ids, b, Q),
		tensors.FromFlatDataAndDimensions(types, b, Q), tensors.FromFlatDataAndDimensions(mask, b, Q))
	if err != nil {
		return nil, fmt.Errorf("realm: embedding queries: %w", err)
	}
	flat := tensors.MustCopyFlatData[float32](out[0])
	out[0].MustFinalizeAll()
	return flat, nil
}
