package mips_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/realm-go/realm/mips"
)

func ExampleExact() {
	// Four 2-d documents with block ids 10…13.
	docs := []float32{1, 0, 0, 1, 1, 1, -1, 0}
	idx, err := mips.NewExact(docs, []int64{10, 11, 12, 13}, 2)
	if err != nil {
		panic(err)
	}
	res, _ := idx.Search([]float32{2, 1}, 2) // one query
	for _, r := range res[0] {
		fmt.Printf("id %d score %.0f\n", r.ID, r.Score)
	}
	// Output:
	// id 12 score 3
	// id 10 score 2
}

func ExampleLoad() {
	docs, _ := mips.Clustered(1, 1000, 0, 16, 4)
	idx, _ := mips.NewHNSW(context.Background(), docs, nil, 16, mips.HNSWConfig{M: 8, EfConstruction: 50})
	dir, _ := os.MkdirTemp("", "mips-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "docs.mips")
	if err := idx.Save(path); err != nil {
		panic(err)
	}
	back, err := mips.Load(path)
	if err != nil {
		panic(err)
	}
	fmt.Println(back.Kind(), back.Len(), back.Dim())
	// Output: hnsw 1000 16
}

func ExampleRefresher() {
	// The document "encoder" scales fixed features by the snapshot (a stand-in for θ′).
	feats := []float32{1, 0, 0, 1, 1, 1}
	embed := func(ctx context.Context, scale float32) ([]float32, []int64, error) {
		out := make([]float32, len(feats))
		for i, v := range feats {
			out[i] = v * scale
		}
		out[0] *= scale // document 0 gains weight as training goes on
		return out, []int64{100, 101, 102}, nil
	}
	r, err := mips.NewRefresher(mips.RefresherConfig[float32]{Dim: 2, Embed: embed}, nil)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	r.Trigger(0, 1) // step 0, snapshot θ′ = 1
	r.WaitIdle(context.Background())
	res, _ := r.Search([]float32{1, 0.5}, 1)
	fmt.Println("step 0 top:", res[0][0].ID)
	r.Trigger(500, 3)
	r.WaitIdle(context.Background())
	res, _ = r.Search([]float32{1, 0.5}, 1)
	st := r.Stats(600)
	fmt.Println("step 500 top:", res[0][0].ID, "generation", st.Generation, "age", st.Age)
	// Output:
	// step 0 top: 102
	// step 500 top: 100 generation 2 age 100
}
