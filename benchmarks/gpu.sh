#!/usr/bin/env bash
# The GPU benchmarks in one call (run from the repository root on a CUDA machine):
#   benchmarks/gpu.sh [OUT_DIR] [PATH/TO/cleanrl/cleanrl/ppo_atari.py]
# 8 envs (CleanRL's default; CleanRL beside ours when its script is given) and 64 envs: the
# env-only rate of the training vector env, then PPO `vanilla` in fp32, in bf16 (precision:
# auto on a GPU) and with env stepping overlapped with inference (env.async_groups), each with
# the fraction of the run the GPU was busy (NVML). JSON per env count in OUT_DIR.
set -uo pipefail
out=${1:-benchmarks/out}
cleanrl=${2:-}
py=${PYTHON:-python3}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
nproc
$py benchmarks/run.py --set device=cuda --steps 16384 --out "$out/gpu_8envs.json" \
    ${cleanrl:+--cleanrl "$cleanrl"} \
    --cases env_only ppo_vanilla:precision=fp32 ppo_vanilla ppo_vanilla:env.async_groups=2
$py benchmarks/run.py --set device=cuda --set ppo.num_envs=64 --steps 65536 \
    --out "$out/gpu_64envs.json" \
    --cases env_only ppo_vanilla:precision=fp32 ppo_vanilla ppo_vanilla:env.async_groups=2 \
    ppo_vanilla:env.async_groups=4 ppo_vanilla:env.async_groups=2,env.num_threads=8
