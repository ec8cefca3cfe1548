package runs_test

import (
	"context"
	"fmt"
	"log"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/runs"
)

// Open a run that `realm demo` (or `realm pretrain` and `realm finetune`) left in out/demo and
// answer a question with its REALM retriever and fine-tuned reader. (Compiled, not run: it
// needs the run directory.)
func ExampleOpen() {
	run, err := runs.Open("out/demo")
	if err != nil {
		log.Fatal(err)
	}
	q, err := run.QA(backend.MustNew(), openqa.RetrieverREALM, openqa.DefaultReaderConfig())
	if err != nil {
		log.Fatal(err)
	}
	a, err := q.Answer(context.Background(), "What is the capital of Azerbaijan?")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (from %q, p=%.2f)\n", a.Text, a.Title, a.Prob)
}
