// Command realm trains, evaluates and queries REALM models (Guu et al. 2020) built with the
// realm-go packages. Every subcommand is a thin caller of the library:
//
//	realm demo        the whole pipeline on the embedded Factbook, end to end, in minutes
//	realm pretrain    MLM (from scratch) or a pre-trained BERT → ICT → REALM pre-training
//	realm finetune    open-QA fine-tuning and evaluation (BM25, ICT-only, REALM retrievers)
//	realm eval        evaluation of fine-tuned QA models
//	realm ask         answers to questions typed on the command line
//	realm index build the MIPS index of a run's corpus, saved to a file
//	realm retrieve    the top-k blocks of a corpus (or of a released model's index) for questions
//	realm bench       benchmarks beside their peers: REALM and BERT training steps and document
//	                  embedding vs PyTorch, MIPS (recall, queries/s) vs FAISS, as ratios
//	realm version     the version of realm-go, its commit, Go and GoMLX
//
// Run "realm <command> -h" for the flags of a command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ui/commandline"

	"github.com/realm-go/realm/internal/buildinfo"
	"github.com/realm-go/realm/realm"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

var commands = []command{
	{"demo", "run the whole pipeline on the embedded Factbook and print what it learned", runDemo},
	{"pretrain", "pre-train REALM: MLM or a pre-trained BERT, ICT warm start, REALM with async refresh", runPretrain},
	{"finetune", "fine-tune and evaluate open-domain QA (BM25, ICT-only or REALM retriever + span reader)", runFinetune},
	{"eval", "evaluate fine-tuned QA models: exact match and retrieval recall, per relation", runEval},
	{"ask", "answer questions typed on the command line with a fine-tuned QA model", runAsk},
	{"index", "index build: embed a run's corpus with its retriever and save an exact or HNSW index", runIndex},
	{"retrieve", "print the top-k blocks of a corpus for questions, with a run's or a Hugging Face REALM retriever", runRetrieve},
	{"bench", "benchmark REALM/BERT steps, embedding and MIPS, beside PyTorch and FAISS (ratios)", runBench},
	{"version", "print the version of realm-go, its commit, Go and GoMLX", runVersion},
}

// progressBar attaches GoMLX's progress bar to a training loop when on and standard output
// is a terminal; written to a file or a pipe (a log, CI), the run prints its plain log lines
// only, not a redrawn table.
func progressBar(on bool) func(*train.Loop) {
	if !on || !isTerminal(os.Stdout) {
		return nil
	}
	return func(loop *train.Loop) { commandline.AttachProgressBar(loop) }
}

// progressLines reports the library's progress (realm.WithProgress) on w: on a terminal one line
// per task, rewritten in place at most every 200 ms; otherwise (a log file, CI) plain lines at
// each quarter of a task.
func progressLines(w io.Writer, terminal bool) realm.Progress {
	var mu sync.Mutex
	var last time.Time
	lastQuarter := map[string]int{}
	return func(task string, done, total int) {
		if total <= 0 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		end := done >= total
		if terminal {
			if end || time.Since(last) > 200*time.Millisecond {
				last = time.Now()
				fmt.Fprintf(w, "\r%s: %d/%d", task, done, total)
				if end {
					fmt.Fprintln(w)
				}
			}
			return
		}
		q := 4 * done / total
		if q > lastQuarter[task] {
			lastQuarter[task] = q
			fmt.Fprintf(w, "%s: %d/%d\n", task, done, total)
		}
		if end {
			delete(lastQuarter, task)
		}
	}
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runVersion prints what built this binary: the module's version and commit (from the build
// information Go records), the Go version and those of GoMLX and go-xla.
func runVersion(_ context.Context, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("version takes no arguments")
	}
	fmt.Println(buildinfo.Line())
	return nil
}

func usage() {
	fmt.Fprintf(os.Stderr, "realm: REALM (retrieval-augmented language model pre-training) in Go.\n\nUsage: realm <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'realm <command> -h' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	name := os.Args[1]
	for _, c := range commands {
		if c.name != name {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		ctx = realm.WithProgress(ctx, progressLines(os.Stderr, isTerminal(os.Stderr)))
		err := c.run(ctx, os.Args[2:])
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "realm %s: %v\n", name, err)
			os.Exit(1)
		}
		return
	}
	fmt.Fprintf(os.Stderr, "realm: unknown command %q\n\n", name)
	usage()
	os.Exit(2)
}

// newFlags returns a FlagSet whose -h prints the command's summary and flags.
func newFlags(name, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: realm %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and rejects positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags go before it? see -h)", strings.Join(fs.Args(), " "))
	}
	return nil
}

// watchdog ends the process with a goroutine dump when the run exceeds limit: the go backend's
// executor can deadlock (see layers/backend), and a training job must never hang silently.
func watchdog(limit time.Duration) (stop func()) {
	if limit <= 0 {
		return func() {}
	}
	t := time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "realm: no result after %v: giving up (goroutines follow)\n", limit)
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		os.Exit(3)
	})
	return func() { t.Stop() }
}

// sortedNames returns the commands' names (for tests).
func sortedNames() []string {
	var n []string
	for _, c := range commands {
		n = append(n, c.name)
	}
	sort.Strings(n)
	return n
}
