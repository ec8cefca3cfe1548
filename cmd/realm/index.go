package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/runs"
)

func runIndex(ctx context.Context, args []string) error {
	fs := newFlags("index", "Builds the MIPS index of a run's corpus with its REALM retriever and saves it:\n"+
		"  realm index build -dir out/demo -kind hnsw")
	dir := fs.String("dir", "out/demo", "pre-training run directory")
	kind := fs.String("kind", "exact", "index kind: exact (REALM's brute force) or hnsw")
	out := fs.String("out", "", "index file (default: <dir>/index-<kind>.mips)")
	m := fs.Int("m", 16, "HNSW: neighbours per node")
	efc := fs.Int("ef-construction", 200, "HNSW: candidate list while inserting")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "build" {
		fs.Usage()
		return fmt.Errorf("want 'realm index build [flags]'")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *kind != "exact" && *kind != "hnsw" {
		return fmt.Errorf("-kind %q: want exact or hnsw", *kind)
	}
	run, err := runs.Open(*dir)
	if err != nil {
		return err
	}
	ri, c := run.Info, run.Corpus
	store, err := runs.Restore(filepath.Join(*dir, "realm"))
	if err != nil {
		return err
	}
	snap, err := realm.TakeSnapshot(store)
	if err != nil {
		return err
	}
	be, err := backend.New()
	if err != nil {
		return err
	}
	r, err := realm.NewRetriever(be, nil, ri.Config, 64)
	if err != nil {
		return err
	}
	if err := r.Load(snap); err != nil {
		return err
	}
	t0 := time.Now()
	vecs, ids, err := r.EmbedCorpus(ctx, c)
	if err != nil {
		return err
	}
	embed := time.Since(t0)
	t0 = time.Now()
	var idx mips.Index
	if *kind == "exact" {
		idx, err = mips.NewExact(vecs, ids, ri.Config.ProjectionDim)
	} else {
		idx, err = mips.NewHNSW(ctx, vecs, ids, ri.Config.ProjectionDim, mips.HNSWConfig{M: *m, EfConstruction: *efc})
	}
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = filepath.Join(*dir, "index-"+*kind+".mips")
	}
	if err := idx.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "%d blocks embedded in %v (%.0f blocks/s), %s index built in %v, saved to %s\n",
		len(ids), embed.Round(time.Millisecond), float64(len(ids))/embed.Seconds(), *kind, time.Since(t0).Round(time.Millisecond), path)
	return nil
}
