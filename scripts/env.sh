# Sourced by the project's scripts: the build settings every command uses.
# GOEXPERIMENT=simd compiles the go backend's AVX2 kernels (2-7x faster matmuls on amd64).
export GOEXPERIMENT="${GOEXPERIMENT:-simd}"
# The go backend's default executor can deadlock (STACK-NOTES); parallelism=32 is the
# fastest configuration that never hung in our runs. Override with GOMLX_BACKEND.
export GOMLX_BACKEND="${GOMLX_BACKEND:-go:parallelism=32}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
# glibc's malloc, which XLA's CPU buffers go through, tuned for a training step that frees and
# allocates the same large buffers every step:
# - MALLOC_ARENA_MAX=2: glibc gives each allocating thread its own arena (up to 8 per core), so
#   freed memory sat in many of them: `realm finetune -retriever ict` peaked at 4.45 GiB resident
#   with 2 arenas instead of 6.06 GiB;
# - MALLOC_MMAP_THRESHOLD_=32 MiB (the largest glibc takes): buffers under 32 MiB are reused from
#   the heap instead of being mapped, faulted in page by page and unmapped again every step; with
#   a trim threshold of 1 GiB, 28 ICT fine-tuning steps took 27.2 s instead of 33.6 s (2 arenas),
#   peaking at 4.46 GiB instead of 4.38 GiB (docs/main-job.md);
# - MALLOC_TRIM_THRESHOLD_=128 MiB: freed memory above that at the top of an arena goes back to
#   the system. At 1 GiB, REALM's open-QA fine-tuning peaked at 5.32 GiB, at 128 MiB at 5.02 GiB.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-33554432}"
export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-134217728}"
