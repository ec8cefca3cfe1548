package bert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// File names of a Hugging Face checkpoint directory.
const (
	ConfigFile       = "config.json"
	WeightsFile      = "model.safetensors"
	WeightsIndexFile = "model.safetensors.index.json"
)

// defaultIgnored are tensors that carry no weights of this model: the position-id buffer
// and the MLM decoder's weight, which is tied to the word embeddings.
var defaultIgnored = []string{
	"bert.embeddings.position_ids", "embeddings.position_ids",
	"cls.predictions.decoder.weight",
}

// KnownExtras are tensors of BERT checkpoints that this package does not use: the
// next-sentence-prediction head of BertForPreTraining. Pass them to IgnoreTensors (or use
// IgnoreKnownExtras) to load such checkpoints.
var KnownExtras = []string{"cls.seq_relationship.weight", "cls.seq_relationship.bias"}

type loadOptions struct {
	ignore           map[string]bool
	allowMissingHead bool
}

// LoadOption configures Load.
type LoadOption func(*loadOptions)

// IgnoreTensors makes Load skip the named checkpoint tensors instead of failing on them as
// unexpected.
func IgnoreTensors(names ...string) LoadOption {
	return func(o *loadOptions) {
		for _, n := range names {
			o.ignore[n] = true
		}
	}
}

// IgnoreKnownExtras makes Load skip KnownExtras (BertForPreTraining's NSP head).
func IgnoreKnownExtras() LoadOption { return IgnoreTensors(KnownExtras...) }

// AllowMissingMLMHead lets Load succeed when the checkpoint has no MLM head (cls.predictions.*,
// as in BertModel and sentence-transformers checkpoints): those variables are left for the
// scope's initialiser (BERT's N(0, initializer_range), zero biases, unit LayerNorm) to create
// fresh on first use, and LoadResult.Fresh lists them. A partial head is still an error.
func AllowMissingMLMHead() LoadOption { return func(o *loadOptions) { o.allowMissingHead = true } }

// LoadResult describes what Load did.
type LoadResult struct {
	// Config is the checkpoint's validated config.json.
	Config Config
	// Fresh lists the Hugging Face names of tensors absent from the checkpoint that will be
	// freshly initialised (the MLM head with AllowMissingMLMHead; the optional pooler is not listed).
	Fresh []string
	// Ignored lists checkpoint tensors that were skipped (buffers, tied copies, IgnoreTensors).
	Ignored []string
	// HasPooler tells whether the checkpoint had a pooler (loaded into pooler/...).
	HasPooler bool
}

// Checkpoint is the open set of weights files of one Hugging Face checkpoint directory:
// safetensors files, read tensor by tensor (only the headers are read when it is opened), or a
// PyTorch pytorch_model.bin. Packages that map other
// architectures' checkpoints onto these BERT blocks (realm/hfrealm) read through it too.
type Checkpoint struct {
	files  map[string]tensorFile // by file path.
	where  map[string]tensorFile // tensor name -> file.
	source string                // for messages: the weights file or index.
}

// tensorFile is one weights file: safetensors or PyTorch's.
type tensorFile interface {
	filePath() string
	tensorNames() []string
	has(name string) bool
	readInto(name string, dst []float32) error // len(dst) is the tensor's size, as float32.
	shape(name string) []int
	Close() error
}

// Close closes the checkpoint's files.
func (r *Checkpoint) Close() {
	for _, f := range r.files {
		_ = f.Close()
	}
}

// Source is the weights file, or the shard index, for messages.
func (r *Checkpoint) Source() string { return r.source }

// Names returns the names of the checkpoint's tensors, sorted.
func (r *Checkpoint) Names() []string {
	names := make([]string, 0, len(r.where))
	for n := range r.where {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Has reports whether the checkpoint holds tensor name.
func (r *Checkpoint) Has(name string) bool {
	_, ok := r.where[name]
	return ok
}

// File is the file that holds tensor name ("" when none does).
func (r *Checkpoint) File(name string) string {
	if f := r.where[name]; f != nil {
		return f.filePath()
	}
	return ""
}

// ReadFloat32 reads tensor name as float32 (F16 and BF16 are converted; other dtypes are an
// error naming the tensor and its file) with its shape.
func (r *Checkpoint) ReadFloat32(name string) ([]float32, []int, error) {
	f := r.where[name]
	if f == nil {
		return nil, nil, fmt.Errorf("no tensor %q in %s", name, r.source)
	}
	shape := f.shape(name)
	out := make([]float32, numel(shape))
	if err := f.readInto(name, out); err != nil {
		return nil, nil, err
	}
	return out, shape, nil
}

// numel is the number of elements of a tensor of shape.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// ReadFloat32Into reads tensor name as ReadFloat32 does into dst, which must have exactly as
// many elements (a caller that needs room after them, such as mips.NewExactInPlace, gives a
// slice of larger capacity), and returns its shape.
func (r *Checkpoint) ReadFloat32Into(name string, dst []float32) ([]int, error) {
	f := r.where[name]
	if f == nil {
		return nil, fmt.Errorf("no tensor %q in %s", name, r.source)
	}
	shape := f.shape(name)
	if n := numel(shape); n != len(dst) {
		return nil, fmt.Errorf("tensor %q in %s has %d elements (shape %v), the destination %d", name, f.filePath(), numel(shape), shape, len(dst))
	}
	return shape, f.readInto(name, dst)
}

// Shape returns the shape of tensor name without reading its data.
func (r *Checkpoint) Shape(name string) ([]int, error) {
	f := r.where[name]
	if f == nil {
		return nil, fmt.Errorf("no tensor %q in %s", name, r.source)
	}
	return f.shape(name), nil
}

// Assignment binds a checkpoint tensor to a variable of a scope, for Checkpoint.Assign.
type Assignment struct {
	// Name is the tensor's name in the checkpoint.
	Name string
	// Path is the variable's path relative to the scope, "/"-separated.
	Path string
	// Shape is the shape the tensor must have in the checkpoint.
	Shape []int
	// Transpose transposes a 2-D tensor (PyTorch's nn.Linear [out, in] → GoMLX's [in, out]).
	Transpose bool
}

// Assign reads the tensors of as, checks each against its Shape and against the variable that
// already exists at its path, and only when all check out sets those variables (creating the
// missing ones): nothing is written to the scope on error. Errors name the tensor and its file.
func (r *Checkpoint) Assign(scope *model.Scope, as []Assignment) error {
	values := make([]*tensors.Tensor, len(as))
	for i, a := range as {
		data, shape, err := r.ReadFloat32(a.Name)
		if err != nil {
			return err
		}
		if !slices.Equal(shape, a.Shape) {
			return fmt.Errorf("shape mismatch for tensor %q in %s: checkpoint has %v, config.json implies %v",
				a.Name, r.File(a.Name), shape, a.Shape)
		}
		if a.Transpose {
			data, shape = Transpose2D(data, shape)
		}
		values[i] = tensors.FromFlatDataAndDimensions(data, shape...)
		if v := scope.Store().GetVariable(model.JoinPath(scope.Scope(), a.Path)); v != nil && !v.Shape().Equal(values[i].Shape()) {
			return fmt.Errorf("shape mismatch for tensor %q in %s: scope variable %s has shape %s, checkpoint gives %s",
				a.Name, r.File(a.Name), v.Path(), v.Shape(), values[i].Shape())
		}
	}
	for i, a := range as {
		path := model.JoinPath(scope.Scope(), a.Path)
		if v := scope.Store().GetVariable(path); v != nil {
			if err := v.SetValue(values[i]); err != nil {
				return fmt.Errorf("setting %s from tensor %q: %w", path, a.Name, err)
			}
			continue
		}
		if _, err := scope.Store().CreateVariable(path, values[i]); err != nil {
			return fmt.Errorf("creating %s from tensor %q: %w", path, a.Name, err)
		}
	}
	return nil
}

// OpenCheckpoint opens dir/model.safetensors, the shards listed by
// dir/model.safetensors.index.json, or else dir/pytorch_model.bin; a missing, truncated or
// corrupt file is an error naming it.
func OpenCheckpoint(dir string) (*Checkpoint, error) {
	r := &Checkpoint{files: map[string]tensorFile{}, where: map[string]tensorFile{}}
	single := filepath.Join(dir, WeightsFile)
	index := filepath.Join(dir, WeightsIndexFile)
	bin := filepath.Join(dir, PyTorchWeightsFile)
	var one tensorFile
	if _, err := os.Stat(single); err == nil {
		f, err := openSafetensors(single)
		if err != nil {
			return nil, err
		}
		one = f
	} else if _, err := os.Stat(index); err != nil {
		if _, err := os.Stat(bin); err == nil {
			f, err := openPyTorch(bin)
			if err != nil {
				return nil, err
			}
			one = f
		}
	}
	if one != nil {
		r.files[one.filePath()], r.source = one, one.filePath()
		for _, n := range one.tensorNames() {
			r.where[n] = one
		}
		return r, nil
	}
	data, err := os.ReadFile(index)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("bert checkpoint %s: none of %s, %s, %s found", dir, WeightsFile, WeightsIndexFile, PyTorchWeightsFile)
		}
		return nil, fmt.Errorf("bert checkpoint: %w", err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("bert checkpoint %s: corrupt index: %w", index, err)
	}
	r.source = index
	for name, file := range idx.WeightMap {
		if file != filepath.Base(file) {
			r.Close()
			return nil, fmt.Errorf("bert checkpoint %s: tensor %q: shard name %q must be a plain file name", index, name, file)
		}
		path := filepath.Join(dir, file)
		f := r.files[path]
		if f == nil {
			st, err := openSafetensors(path)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("bert checkpoint %s: %w", index, err)
			}
			f, r.files[path] = st, st
		}
		if !f.has(name) {
			r.Close()
			return nil, fmt.Errorf("bert checkpoint %s: tensor %q is mapped to %s, which does not hold it", index, name, path)
		}
		r.where[name] = f
	}
	return r, nil
}

// find returns the checkpoint name under which tensor hf is stored, or "".
func (r *Checkpoint) find(hf string) string {
	for _, a := range aliases(hf) {
		if _, ok := r.where[a]; ok {
			return a
		}
	}
	return ""
}

// Load reads the Hugging Face BERT checkpoint in dir (config.json and model.safetensors, a
// sharded model.safetensors.index.json, or PyTorch's pytorch_model.bin) into the variables
// under scope, following Mapping:
// existing variables get new values (their shapes must match), missing ones are created.
//
// It fails, naming the tensor and the file, on a missing tensor, an unexpected extra tensor,
// a shape mismatch, a non-float dtype, or a truncated/corrupt file; F16 and BF16 tensors are
// converted to float32. Nothing is written to the scope unless every tensor checks out.
func Load(dir string, scope *model.Scope, opts ...LoadOption) (LoadResult, error) {
	o := loadOptions{ignore: map[string]bool{}}
	for _, n := range defaultIgnored {
		o.ignore[n] = true
	}
	for _, opt := range opts {
		opt(&o)
	}
	var res LoadResult
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return res, fmt.Errorf("bert.Load: %w", err)
	}
	res.Config = cfg
	r, err := OpenCheckpoint(dir)
	if err != nil {
		return res, fmt.Errorf("bert.Load: %w", err)
	}
	defer r.Close()

	type planned struct {
		t    TensorName
		name string // name in the checkpoint.
	}
	var plan []planned
	used := map[string]bool{}
	var missingHead, presentHead, missingPooler []string
	for _, t := range Mapping(cfg) {
		name := r.find(t.HF)
		switch {
		case name == "" && t.Part == PartEncoder:
			return res, fmt.Errorf("bert.Load: missing tensor %q (scope variable %s) in %s", t.HF, t.Path, r.source)
		case name == "" && t.Part == PartMLMHead:
			missingHead = append(missingHead, t.HF)
		case name == "" && t.Part == PartPooler:
			missingPooler = append(missingPooler, t.HF)
		default:
			if t.Part == PartMLMHead {
				presentHead = append(presentHead, t.HF)
			}
			used[name] = true
			plan = append(plan, planned{t, name})
		}
	}
	if len(missingHead) > 0 && (!o.allowMissingHead || len(presentHead) > 0) {
		return res, fmt.Errorf("bert.Load: missing tensor %q (MLM head; %d of %d head tensors missing) in %s%s",
			missingHead[0], len(missingHead), len(missingHead)+len(presentHead), r.source,
			map[bool]string{true: "", false: "; use AllowMissingMLMHead for checkpoints without one"}[o.allowMissingHead])
	}
	if len(missingPooler) == 1 {
		return res, fmt.Errorf("bert.Load: missing tensor %q (the pooler is incomplete) in %s", missingPooler[0], r.source)
	}
	res.Fresh = missingHead
	res.HasPooler = len(missingPooler) == 0

	for _, n := range r.Names() {
		switch {
		case used[n]:
		case o.ignore[n] || (n == "cls.predictions.decoder.bias" && used["cls.predictions.bias"]):
			res.Ignored = append(res.Ignored, n)
		default:
			return res, fmt.Errorf("bert.Load: unexpected tensor %q in %s (not part of a BERT with %d layers; IgnoreTensors skips it)",
				n, r.File(n), cfg.NumHiddenLayers)
		}
	}
	as := make([]Assignment, len(plan))
	for i, p := range plan {
		as[i] = Assignment{Name: p.name, Path: p.t.Path, Shape: p.t.HFShape(cfg), Transpose: p.t.Transpose}
	}
	if err := r.Assign(scope, as); err != nil {
		return res, fmt.Errorf("bert.Load: %w", err)
	}
	return res, nil
}

// HFShape is the shape tensor t has in a Hugging Face checkpoint of cfg.
func (t TensorName) HFShape(cfg Config) []int { return expectedHFShape(cfg, t) }

// expectedHFShape is the shape tensor t has in a Hugging Face checkpoint of cfg.
func expectedHFShape(cfg Config, t TensorName) []int {
	H, V, I := cfg.HiddenSize, cfg.VocabSize, cfg.IntermediateSize
	p := t.Path
	switch {
	case p == "embeddings/word/embeddings":
		return []int{V, H}
	case p == "embeddings/position/embeddings":
		return []int{cfg.MaxPositionEmbeddings, H}
	case p == "embeddings/token_type/embeddings":
		return []int{cfg.TypeVocabSize, H}
	case p == "mlm/bias":
		return []int{V}
	case strings.HasSuffix(p, "/intermediate/dense/weights"):
		return []int{I, H}
	case strings.HasSuffix(p, "/intermediate/dense/biases"):
		return []int{I}
	case strings.HasSuffix(p, "/output/dense/weights") && !strings.Contains(p, "MultiHeadAttention"):
		return []int{H, I}
	case strings.HasSuffix(p, "/weights"):
		return []int{H, H}
	default: // biases, LayerNorm gains and offsets.
		return []int{H}
	}
}

// Transpose2D transposes a row-major [r, c] matrix (PyTorch's nn.Linear layout [out, in] to
// GoMLX's [in, out] and back), returning the data and its new shape.
func Transpose2D(data []float32, shape []int) ([]float32, []int) {
	r, c := shape[0], shape[1]
	out := make([]float32, len(data))
	for i := range r {
		for j := range c {
			out[j*r+i] = data[i*c+j]
		}
	}
	return out, []int{c, r}
}

// Save writes the BERT under scope as a Hugging Face BertForMaskedLM checkpoint in dir
// (created if needed): config.json and model.safetensors (float32), each written atomically.
// Encoder variables must all exist; the pooler and the MLM head are written when the scope
// has them (all or none of each). Other variables (optimizer state, RNG) are not written.
func Save(dir string, scope *model.Scope, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("bert.Save %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bert.Save: %w", err)
	}
	ts := map[string]Float32Tensor{}
	present := map[Part][]string{}
	absent := map[Part][]string{}
	for _, t := range Mapping(cfg) {
		path := model.JoinPath(scope.Scope(), t.Path)
		v := scope.Store().GetVariable(path)
		if v == nil || !v.HasValue() {
			absent[t.Part] = append(absent[t.Part], path)
			continue
		}
		present[t.Part] = append(present[t.Part], path)
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("bert.Save: reading variable %s: %w", path, err)
		}
		if val.DType() != dtypes.Float32 {
			return fmt.Errorf("bert.Save: variable %s has dtype %s, want float32", path, val.DType())
		}
		data, err := tensors.CopyFlatData[float32](val)
		if err != nil {
			return fmt.Errorf("bert.Save: reading variable %s: %w", path, err)
		}
		shape := slices.Clone(val.Shape().Dimensions)
		if t.Transpose {
			data, shape = Transpose2D(data, shape)
		}
		if want := expectedHFShape(cfg, t); !slices.Equal(shape, want) {
			return fmt.Errorf("bert.Save: variable %s has shape %v as %q, config implies %v", path, shape, t.HF, want)
		}
		ts[t.HF] = Float32Tensor{Shape: shape, Data: data}
	}
	if len(absent[PartEncoder]) > 0 {
		return fmt.Errorf("bert.Save %s: scope %q lacks encoder variable %s (run Encode or Load first)",
			dir, scope.Scope(), absent[PartEncoder][0])
	}
	for _, p := range []Part{PartPooler, PartMLMHead} {
		if len(present[p]) > 0 && len(absent[p]) > 0 {
			return fmt.Errorf("bert.Save %s: %s is incomplete: variable %s is missing", dir, p, absent[p][0])
		}
	}
	if len(present[PartMLMHead]) > 0 && len(cfg.Architectures) == 0 {
		cfg.Architectures = []string{"BertForMaskedLM"}
	}
	if err := WriteSafetensors(filepath.Join(dir, WeightsFile), ts); err != nil {
		return fmt.Errorf("bert.Save: %w", err)
	}
	if err := cfg.Save(filepath.Join(dir, ConfigFile)); err != nil {
		return fmt.Errorf("bert.Save: %w", err)
	}
	return nil
}
