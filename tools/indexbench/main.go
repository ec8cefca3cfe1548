// Command indexbench measures what opening a released REALM open-QA model costs: a synthetic
// RealmForOpenQA directory of -blocks blocks (a tiny BERT, a random block_emb of -dim, records
// of about 100 bytes, written once into -dir by hfrealm.SaveOpenQA) is opened by hfrealm.OpenQA
// in a child process, which answers one question and reports its load time and peak resident
// memory (VmHWM), against the size of block_emb. Issue 17's target: a peak of at most
// 1.2× the embeddings (the released index is 13,353,718 × 128, 6.8 GB, and its records 13 GB).
//
// Usage (from the module root): go run ./tools/indexbench [-blocks 1000000] [-dim 128] [-dir DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/realm-go/realm/internal/tinyrealm"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm/hfrealm"
)

// vocabDir holds the tokenizer of the tiny model (the transformers fixtures' vocabulary).
var vocabDir = filepath.Join("realm", "hfrealm", "testdata", "gelu_new", "openqa")

func main() {
	blocks := flag.Int("blocks", 1_000_000, "blocks of the synthetic index")
	dim := flag.Int("dim", 128, "dimension of block_emb (retriever_proj_size)")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "realm-indexbench"), "directory of the synthetic model (written when it lacks one of that size)")
	load := flag.String("load", "", "(child) open the model in this directory and report")
	flag.Parse()
	if *load != "" {
		if err := child(*load); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(*dir, *blocks, *dim); err != nil {
		log.Fatal(err)
	}
}

func run(dir string, n, d int) error {
	model := filepath.Join(dir, fmt.Sprintf("openqa-%d-%d", n, d))
	if _, err := os.Stat(filepath.Join(model, hfrealm.BlockRecordsFile)); err != nil {
		start := time.Now()
		if err := write(model, n, d); err != nil {
			return err
		}
		fmt.Printf("wrote %s in %.1fs\n", model, time.Since(start).Seconds())
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-load", model)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// write saves a tiny RealmForOpenQA with n random blocks of dimension d.
func write(dir string, n, d int) error {
	store, cfg, rc, err := tinyrealm.New(d, 1)
	if err != nil {
		return err
	}
	c, err := hfrealm.FromREALM(cfg, rc, hfrealm.ClassOpenQA)
	if err != nil {
		return err
	}
	words := strings.Fields("the of capital city river country people language currency sea lake mountain island paris france baku azerbaijan euro manat")
	rng := rand.New(rand.NewPCG(1, 2))
	emb := make([]float32, n*d)
	for i := range emb {
		emb[i] = float32(rng.NormFloat64())
	}
	records := make([]string, n)
	var sb strings.Builder
	for i := range records {
		sb.Reset()
		fmt.Fprintf(&sb, "block %d", i)
		for sb.Len() < 100 {
			sb.WriteString(" " + words[rng.IntN(len(words))])
		}
		records[i] = sb.String()
	}
	return hfrealm.SaveOpenQA(dir, store.RootScope(), c, emb, records, vocabDir)
}

// child opens the model in dir, answers a question and reports.
func child(dir string) error {
	before := peakRSS()
	start := time.Now()
	q, err := hfrealm.OpenQA(backend.MustNew(), dir, filepath.Join(dir, hfrealm.BlockRecordsFile), 0)
	if err != nil {
		return err
	}
	loaded := time.Since(start)
	peakLoad := peakRSS()
	a, err := q.Answer(context.Background(), "what is the capital of france")
	if err != nil {
		return err
	}
	peak := peakRSS()
	info, err := os.Stat(filepath.Join(dir, hfrealm.BlockRecordsFile))
	if err != nil {
		return err
	}
	emb := int64(q.Corpus.Len()) * int64(q.Cfg.ProjectionDim) * 4
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	fmt.Printf("blocks %d × %d: block_emb %.0f MiB, block_records.npy %.0f MiB\n", q.Corpus.Len(), q.Cfg.ProjectionDim, mib(emb), mib(info.Size()))
	fmt.Printf("open (OpenQA): %.2fs; peak RSS %.0f MiB after opening, %.0f MiB after one answer (%.0f MiB before opening)\n",
		loaded.Seconds(), mib(peakLoad), mib(peak), mib(before))
	fmt.Printf("peak / block_emb = %.3f (target ≤ 1.2); answer %q from block %d\n", float64(peak)/float64(emb), a.Text, a.BlockID)
	return nil
}

// peakRSS is this process's peak resident memory in bytes: VmHWM of /proc/self/status, the
// high-water mark of its own address space (getrusage's ru_maxrss would carry over the parent's
// peak across fork and exec).
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
