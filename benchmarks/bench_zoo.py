"""Training throughput and inference latency of every registered zoo model.

For each model (paper-default hyper-parameters, random backbone initialisation, no weight files), on
random batches at ``--size`` (default 256): training images/s of ``training_step`` + backward +
optimizer step (``fit_batch`` for fit-only models), inference latency per image at batch 1 and
throughput at ``--batch-size``. Data loading and synthesis are excluded: this measures the models. On
CUDA the trainer's settings are used (bf16/fp16 autocast for training, channels-last).

Usage:
    python benchmarks/bench_zoo.py                       # CPU (and CUDA when available), a few minutes
    python benchmarks/bench_zoo.py --models draem ae --device cuda --steps 20 --batch-size 16
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch  # noqa: E402

from adsynth.zoo import create_model, load_models, model_hparams  # noqa: E402
from adsynth.zoo.base import MODELS  # noqa: E402
from adsynth.zoo.training.amp import amp_dtype, autocast, to_device  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batch(model, n: int, size: int, device: torch.device, channels_last: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    b = {
        "image": torch.rand(n, model.channels, size, size, generator=g),
        "label": torch.zeros(n, dtype=torch.long),
        "index": torch.arange(n),
    }
    if model.uses_synthetic:
        mask = torch.zeros(n, 1, size, size)
        mask[:, :, size // 4 : size // 2, size // 4 : size // 2] = 1
        b["aug_image"] = b["image"] * (1 - mask) + mask * torch.rand(n, model.channels, 1, 1, generator=g)
        b["aug_mask"] = mask
        b["aug_label"] = torch.ones(n, dtype=torch.long)
    return to_device(b, device, channels_last)


def _timed(fn, device: torch.device, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    _sync(device)
    return (time.perf_counter() - t) / reps


def bench_model(name: str, size: int, batch: int, steps: int, device: torch.device) -> dict:
    params = model_hparams(name) or {}
    cfg = {"image_size": size, "channels": 3}
    if "pretrained" in params:
        cfg["pretrained"] = False
    torch.manual_seed(0)
    model = create_model(name, **cfg).to(device)
    channels_last = device.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    amp = amp_dtype(device, True)
    b = _batch(model, batch, size, device, channels_last)
    row = {
        "model": name,
        "device": device.type,
        "batch": batch,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "fit_mode": model.fit_mode,
    }

    if model.fit_mode in ("gradient", "both"):
        model.train()
        configured = model.configure_optimizers(epochs=10)
        multi = isinstance(configured, list)  # GANs: one (optimizer, scheduler) per network
        opts = [o for o, _ in configured] if multi else [configured[0]]
        scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)

        def step():  # one training step = one update of every optimizer active in the first phase
            for i, opt in enumerate(opts):
                with autocast(device, amp):
                    out = model.training_step(b, optimizer_idx=i) if multi else model.training_step(b)
                if out is None:
                    continue
                opt.zero_grad(set_to_none=True)
                scaler.scale(out["loss"]).backward()
                scaler.step(opt)
                scaler.update()

        row["train_img_s"] = batch / _timed(step, device, 1, steps)
        if model.fit_mode == "both":  # untimed fitting pass so that the model can predict
            model.eval()
            with torch.no_grad():
                model.fit_batch(b)
            model.fit_end()
    else:
        model.eval()

        def fit():
            with torch.no_grad():
                model.fit_batch(b)

        row["train_img_s"] = batch / _timed(fit, device, 1, steps)
        model.fit_end()

    model.eval()
    one = {"image": b["image"][:1]}
    with torch.inference_mode():
        row["latency_ms"] = 1000 * _timed(lambda: model.predict(one["image"]), device, 1, max(steps, 3))
        row["infer_img_s"] = batch / _timed(lambda: model.predict(b["image"]), device, 1, steps)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=None, help="model names (default: all registered)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=None, help="default 2 on CPU, 16 on CUDA")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 2 on CPU, 20 on CUDA)")
    ap.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda", "both"],
        default="both",
        help="both = CPU, then CUDA when available",
    )
    args = ap.parse_args()
    load_models()
    names = args.models or MODELS.list()
    if args.device == "both":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    elif args.device == "auto":
        devices = ["cuda" if torch.cuda.is_available() else "cpu"]
    else:
        devices = [args.device]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
    )
    print()
    print(
        "| model | fit mode | params (M) | device | batch | train img/s | infer ms/img (batch 1) "
        "| infer img/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for dev_name in devices:
        device = torch.device(dev_name)
        cuda = device.type == "cuda"
        batch = args.batch_size or (16 if cuda else 2)
        steps = args.steps or (20 if cuda else 2)
        for name in names:
            try:
                r = bench_model(name, args.size, batch, steps, device)
            except Exception as e:  # one model failing must not hide the others' numbers
                print(f"| {name} | | | {dev_name} | {batch} | error: {type(e).__name__}: {str(e)[:80]} | | |")
                continue
            print(
                f"| {r['model']} | {r['fit_mode']} | {r['params_m']:.1f} | {r['device']} | {r['batch']} "
                f"| {r['train_img_s']:.2f} | {r['latency_ms']:.1f} | {r['infer_img_s']:.2f} |",
                flush=True,
            )
            if cuda:
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
