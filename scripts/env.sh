# Sourced by the project's scripts: the build settings every command uses.
# GOEXPERIMENT=simd compiles the go backend's AVX2 kernels (2-7x faster matmuls on amd64).
export GOEXPERIMENT="${GOEXPERIMENT:-simd}"
# The go backend's default executor can deadlock (STACK-NOTES); parallelism=32 is the
# fastest configuration that never hung in our runs. Override with GOMLX_BACKEND.
export GOMLX_BACKEND="${GOMLX_BACKEND:-go:parallelism=32}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
