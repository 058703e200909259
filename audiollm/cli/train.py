"""`audiollm train CONFIG.yaml [key=value ...] [--nproc N]`: run or resume a training recipe."""

from __future__ import annotations

import socket
import subprocess
import sys

from audiollm.errors import ConfigError


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="run (or resume) a training recipe from configs/")
    parser.add_argument("config", nargs="?", help="YAML recipe, e.g. configs/default.yaml")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. steps=100 optim.lr=3e-4")
    parser.add_argument("--nproc", type=int, default=1, help="processes on this machine (DDP; gloo on CPU)")
    parser.add_argument("--summary", metavar="RUN", help="print what run folder RUN measured (step time, "
                        "throughput per phase, losses, evaluations) instead of training")
    parser.set_defaults(run=_run)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(args) -> int:
    if args.summary:
        if args.config or args.overrides:
            raise ConfigError("--summary RUN reads a finished or running run; it takes no recipe or overrides")
        from audiollm.train.summary import format_summary, summarise_run

        print(format_summary(summarise_run(args.summary)))
        return 0
    if not args.config:
        raise ConfigError("give a recipe (audiollm train configs/default.yaml) or --summary RUN")
    if args.nproc > 1:
        # Re-launch through torchrun, which sets RANK/WORLD_SIZE for each process.
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={args.nproc}",
                   "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
                   "-m", "audiollm", "train", args.config, *args.overrides]
        return subprocess.call(command)
    from audiollm.train import run_training

    run_dir = run_training(args.config, args.overrides)
    print(f"training finished: {run_dir}")
    return 0
