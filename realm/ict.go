package realm

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
)

// ICTOutputs are the graph values of one Inverse Cloze Task step.
type ICTOutputs struct {
	// Loss is the mean cross-entropy of picking each query's own block among the batch's blocks.
	Loss *Node
	// Accuracy is 1 where the query's own block scored highest among the batch's blocks, [B].
	Accuracy *Node
	// Scores are f(x_i, z_j) for every query i and block j of the batch, [B, B].
	Scores *Node
}

// ICTForward is the Inverse Cloze Task of ORQA (Lee et al. 2019, §3.2) that warm-starts REALM's
// retriever (§3.4 of the REALM paper): a sentence x_i is the pseudo-query, the block z_i it came
// from (with x_i removed most of the time) its evidence, and the other blocks of the batch the
// negatives:
//
//	P_ICT(z_i | x_i) = exp f(x_i, z_i) / Σ_j exp f(x_i, z_j),   loss = −mean_i log P_ICT(z_i | x_i)
//
// queries int32/bool [B, QueryLen]; blocks [B, DocLen] as [CLS] title [SEP] body [SEP].
func (c Config) ICTForward(root *model.Scope, qIDs, qTypes, qMask, dIDs, dTypes, dMask *Node) ICTOutputs {
	q := c.EmbedQueries(root, qIDs, qTypes, qMask) // [B, d]
	d := c.EmbedDocs(root, dIDs, dTypes, dMask)    // [B, d]
	scores := Einsum("id,jd->ij", q, d)            // f(x_i, z_j)
	logP := LogSoftmax(scores, -1)
	B := scores.Shape().Dim(0)
	g := scores.Graph()
	diag := Equal(Iota(g, shapes.Make(dtypes.Int32, B, B), 0), Iota(g, shapes.Make(dtypes.Int32, B, B), 1))
	gold := ReduceSum(Where(diag, logP, ZerosLike(logP)), -1) // log P_ICT(z_i|x_i), [B]
	best := ConvertDType(ArgMax(scores, -1), dtypes.Int32)
	acc := ConvertDType(Equal(best, Iota(g, shapes.Make(dtypes.Int32, B), 0)), dtypes.Float32)
	return ICTOutputs{Loss: Neg(ReduceAllMean(gold)), Accuracy: StopGradient(acc), Scores: scores}
}
