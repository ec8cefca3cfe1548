package realm

import "context"

// Progress receives how far a long operation has gone: done of total units (blocks embedded,
// questions or sentences evaluated) of the task named (for example "embedding the corpus").
type Progress func(task string, done, total int)

// progressKey is the context key of a Progress.
type progressKey struct{}

// WithProgress returns a context whose long operations — embedding a corpus (index builds and
// refreshes, dense retrievers), open-QA and held-out evaluation — report to p as they go, from
// whichever goroutine does the work. It is how a command line or a notebook shows progress
// without the library printing anything.
func WithProgress(ctx context.Context, p Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

// ReportProgress calls the Progress of ctx (WithProgress), if any.
func ReportProgress(ctx context.Context, task string, done, total int) {
	if p, ok := ctx.Value(progressKey{}).(Progress); ok && p != nil {
		p(task, done, total)
	}
}
