package realm

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/realm-go/realm/data/tokenize"
)

// Special holds the ids of BERT's special tokens that featurisation inserts.
type Special struct {
	CLS, SEP, PAD int32
}

// Doc is a candidate document as the featuriser sees it: wordpiece ids of its title and body.
// The null document ∅ is the zero Doc.
type Doc struct {
	ID    int64
	Title []int32
	Body  []int32
}

// Query is one masked pre-training sentence: its wordpieces with [MASK] already substituted,
// and the masked positions (indices into Tokens) with their original ids.
type Query struct {
	Tokens    []int32
	Positions []int
	Targets   []int32
}

// SeqWriter fills one fixed-length row of ids, types and mask: the featurisers of the model,
// the pre-training phases and the open-QA reader all write their rows with it.
type SeqWriter struct {
	// IDs and Types are the row's token ids and token types.
	IDs, Types []int32
	// Mask marks the row's written (true) and padding (false) positions; all three slices have
	// the row's length.
	Mask []bool
	// N is the number of positions written so far.
	N int
}

// Put writes one token with its token type at the next position.
func (w *SeqWriter) Put(id, typ int32) {
	w.IDs[w.N], w.Types[w.N], w.Mask[w.N] = id, typ, true
	w.N++
}

// PutAll writes ids, all with token type typ, at the next positions.
func (w *SeqWriter) PutAll(ids []int32, typ int32) {
	for _, id := range ids {
		w.Put(id, typ)
	}
}

// Pad fills the rest of the row with pad (token type 0, masked out).
func (w *SeqWriter) Pad(pad int32) {
	for i := w.N; i < len(w.IDs); i++ {
		w.IDs[i], w.Types[i], w.Mask[i] = pad, 0, false
	}
}

// Doc writes [CLS] title[:D−3] [SEP] body[:D−3−|title|] [SEP] and padding, with token type 0
// for the title part and 1 for the body part, as REALM's document featuriser does.
func (w *SeqWriter) Doc(sp Special, doc Doc, D int) {
	title := doc.Title[:min(len(doc.Title), D-3)]
	body := doc.Body[:min(len(doc.Body), D-3-len(title))]
	w.Put(sp.CLS, 0)
	w.PutAll(title, 0)
	w.Put(sp.SEP, 0)
	w.PutAll(body, 1)
	w.Put(sp.SEP, 1)
	w.Pad(sp.PAD)
}

// BatchData is the host-side content of a Batch: flat row-major slices of fixed shapes
// [B, QueryLen], [B, K, DocLen], [B, K, QueryLen+DocLen] and [B, MaxMasks], so that every step
// runs the same compiled graph.
type BatchData struct {
	B, K, QueryLen, DocLen, MaxMasks int

	QueryIDs, QueryTypes []int32
	QueryMask            []bool
	DocIDs, DocTypes     []int32
	DocMask              []bool
	JointIDs, JointTypes []int32
	JointMask            []bool
	Positions, Targets   []int32
	TargetMask           []bool
	CandidateIDs         []int64 // [B, K] block ids of the candidates, -1 for ∅.
	// RetrieverGate is Batch.RetrieverGate's value: 1 (NewBatchData's) is REALM's update, 0
	// freezes the retriever for the step.
	RetrieverGate float32
}

// NewBatchData allocates a batch of b examples for cfg.
func (c Config) NewBatchData(b int) *BatchData {
	K, Q, D, M := c.TopK, c.QueryLen, c.DocLen, c.MaxMasks
	J := Q + D
	return &BatchData{
		B: b, K: K, QueryLen: Q, DocLen: D, MaxMasks: M,
		QueryIDs: make([]int32, b*Q), QueryTypes: make([]int32, b*Q), QueryMask: make([]bool, b*Q),
		DocIDs: make([]int32, b*K*D), DocTypes: make([]int32, b*K*D), DocMask: make([]bool, b*K*D),
		JointIDs: make([]int32, b*K*J), JointTypes: make([]int32, b*K*J), JointMask: make([]bool, b*K*J),
		Positions: make([]int32, b*M), Targets: make([]int32, b*M), TargetMask: make([]bool, b*M),
		CandidateIDs: make([]int64, b*K), RetrieverGate: 1,
	}
}

// Set featurises example i of the batch exactly as REALM's featuriser does:
//
//	query:     [CLS] x[:QueryLen−2] [SEP]                                   (types 0)
//	candidate: [CLS] title[:DocLen−3] [SEP] body[:DocLen−3−|title|] [SEP]   (types 0 for the title part, 1 for the body)
//	joint:     [CLS] x[:QueryLen−2] [SEP] body[:DocLen−2] [SEP]             (types 0 / 1)
//
// docs must hold TopK−1 candidates; the null document ∅ is prepended as candidate 0. A masked
// position that would be truncated away is an error (the official featuriser rejects the
// example too), as are more masks than MaxMasks.
func (d *BatchData) Set(i int, sp Special, q Query, docs []Doc) error {
	if i < 0 || i >= d.B {
		return fmt.Errorf("realm: batch index %d out of [0, %d)", i, d.B)
	}
	if len(docs) != d.K-1 {
		return fmt.Errorf("realm: example %d has %d candidates, want top_k−1 = %d (∅ is added)", i, len(docs), d.K-1)
	}
	if len(q.Positions) != len(q.Targets) {
		return fmt.Errorf("realm: example %d has %d masked positions but %d targets", i, len(q.Positions), len(q.Targets))
	}
	if len(q.Positions) > d.MaxMasks {
		return fmt.Errorf("realm: example %d masks %d tokens, more than max_masks %d", i, len(q.Positions), d.MaxMasks)
	}
	x := q.Tokens[:min(len(q.Tokens), d.QueryLen-2)]
	for _, p := range q.Positions {
		if p < 0 || p >= len(x) {
			return fmt.Errorf("realm: example %d: masked position %d outside the query's %d kept tokens", i, p, len(x))
		}
	}
	Q, D, J, M := d.QueryLen, d.DocLen, d.QueryLen+d.DocLen, d.MaxMasks
	w := SeqWriter{IDs: d.QueryIDs[i*Q : (i+1)*Q], Types: d.QueryTypes[i*Q : (i+1)*Q], Mask: d.QueryMask[i*Q : (i+1)*Q]}
	w.Put(sp.CLS, 0)
	w.PutAll(x, 0)
	w.Put(sp.SEP, 0)
	w.Pad(sp.PAD)
	for m := range M {
		d.Positions[i*M+m], d.Targets[i*M+m], d.TargetMask[i*M+m] = 0, 0, false
		if m < len(q.Positions) {
			d.Positions[i*M+m] = int32(q.Positions[m] + 1) // +1 for [CLS].
			d.Targets[i*M+m] = q.Targets[m]
			d.TargetMask[i*M+m] = true
		}
	}
	for k := range d.K {
		var doc Doc
		d.CandidateIDs[i*d.K+k] = -1
		if k > 0 {
			doc = docs[k-1]
			d.CandidateIDs[i*d.K+k] = doc.ID
		}
		off := (i*d.K + k) * D
		w := SeqWriter{IDs: d.DocIDs[off : off+D], Types: d.DocTypes[off : off+D], Mask: d.DocMask[off : off+D]}
		w.Doc(sp, doc, D)

		off = (i*d.K + k) * J
		w = SeqWriter{IDs: d.JointIDs[off : off+J], Types: d.JointTypes[off : off+J], Mask: d.JointMask[off : off+J]}
		w.Put(sp.CLS, 0)
		w.PutAll(x, 0)
		w.Put(sp.SEP, 0)
		w.PutAll(doc.Body[:min(len(doc.Body), D-2)], 1)
		w.Put(sp.SEP, 1)
		w.Pad(sp.PAD)
	}
	return nil
}

// Tensors returns the batch as the inputs of a graph, in the order of the fields of Batch;
// BatchFromNodes names them again inside the graph. A graph function over a batch is
// therefore func(scope, in []*Node) { b := BatchFromNodes(in); … b.QueryIDs … }, and never
// indexes in itself.
func (d *BatchData) Tensors() []*tensors.Tensor {
	B, K, Q, D, M := d.B, d.K, d.QueryLen, d.DocLen, d.MaxMasks
	J := Q + D
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(d.QueryIDs, B, Q),
		tensors.FromFlatDataAndDimensions(d.QueryTypes, B, Q),
		tensors.FromFlatDataAndDimensions(d.QueryMask, B, Q),
		tensors.FromFlatDataAndDimensions(d.DocIDs, B, K, D),
		tensors.FromFlatDataAndDimensions(d.DocTypes, B, K, D),
		tensors.FromFlatDataAndDimensions(d.DocMask, B, K, D),
		tensors.FromFlatDataAndDimensions(d.JointIDs, B, K, J),
		tensors.FromFlatDataAndDimensions(d.JointTypes, B, K, J),
		tensors.FromFlatDataAndDimensions(d.JointMask, B, K, J),
		tensors.FromFlatDataAndDimensions(d.Positions, B, M),
		tensors.FromFlatDataAndDimensions(d.Targets, B, M),
		tensors.FromFlatDataAndDimensions(d.TargetMask, B, M),
		tensors.FromScalar(d.RetrieverGate),
	}
}

// Args returns Tensors as the arguments of a model.Exec call.
func (d *BatchData) Args() []any {
	ts := d.Tensors()
	args := make([]any, len(ts))
	for i, t := range ts {
		args[i] = t
	}
	return args
}

// batchInputs is the number of graph inputs of a batch (BatchData.Tensors).
const batchInputs = 13

// BatchFromNodes names the graph inputs given in the order of BatchData.Tensors; it panics
// (graph builders do) when their number is not that of a batch.
func BatchFromNodes(n []*Node) Batch {
	if len(n) != batchInputs {
		panic(fmt.Sprintf("realm: a batch has %d graph inputs, got %d", batchInputs, len(n)))
	}
	return Batch{
		QueryIDs: n[0], QueryTypes: n[1], QueryMask: n[2],
		DocIDs: n[3], DocTypes: n[4], DocMask: n[5],
		JointIDs: n[6], JointTypes: n[7], JointMask: n[8],
		Positions: n[9], Targets: n[10], TargetMask: n[11],
		RetrieverGate: n[12],
	}
}

// SpecialTokens returns the special-token ids of tok.
func SpecialTokens(tok *tokenize.Tokenizer) Special {
	return Special{CLS: tok.CLS(), SEP: tok.SEP(), PAD: tok.PAD()}
}
