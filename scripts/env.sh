# Sourced by the project's scripts: the build settings every command uses.
# GOEXPERIMENT=simd compiles the go backend's AVX2 kernels (2-7x faster matmuls on amd64).
export GOEXPERIMENT="${GOEXPERIMENT:-simd}"
# The go backend's default executor can deadlock (STACK-NOTES); parallelism=32 is the
# fastest configuration that never hung in our runs. Override with GOMLX_BACKEND.
export GOMLX_BACKEND="${GOMLX_BACKEND:-go:parallelism=32}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
# glibc gives each thread that allocates its own malloc arena (up to 8 per core), and XLA's CPU
# threads allocate and free large buffers in all of them, so freed memory sits in many arenas:
# with 2 arenas `realm finetune -retriever ict` peaked at 4.45 GiB resident instead of 6.06 GiB,
# at the same speed (docs/main-job.md).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
