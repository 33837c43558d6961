"""Train, predict and evaluate zoo methods on one dataset; print per-defect-type tables (docs/MODELS.md).

    adsynth dataset import --input MT/ --out mt128.h5 --size 128
    python benchmarks/zoo_on_dataset.py --data mt128.h5 --out runs/mt --models ae draem patchcore

Each method is trained on the normal ``train`` images with the settings listed in SETTINGS (chosen to
fit a CPU budget; pass ``--epochs`` to override), then scored on the ``test`` split. Feature-embedding
methods use the bundled ImageNet backbone (their default); with ``--no-imagenet`` they use the backbone
of the CutPaste run in the same ``--out`` folder instead (``--backbone-from``: the "no ImageNet weights"
variant). ``--image-size`` overrides every method's resolution (use the dataset's).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from adsynth.evaluate.report import format_markdown, write_report
from adsynth.evaluate.runner import evaluate_files, image_getter
from adsynth.zoo.deploy.predict import predict_dataset
from adsynth.zoo.trainer import TrainConfig, train

#: per method: epochs, batch size, image size, optional learning rate and recipe, extra hyper-parameters.
#: These are CPU-budget settings for 128 px data on 2 cores (about 2-5 minutes of training per method),
#: not the papers' schedules: the heavy networks are narrowed and trained for a handful of epochs. The
#: GANs run at 64 px, their papers' size.
SETTINGS: dict[str, dict] = {
    "ae": {"epochs": 3, "batch_size": 16, "hparams": {}},
    # The synthetic-defect family: their own defaults are the measured CPU budget (docs/MODELS.md).
    "simplenet": {"epochs": 10, "batch_size": 16, "hparams": {}},
    "supersimplenet": {"epochs": 8, "batch_size": 16, "hparams": {}},
    "glass": {"epochs": 16, "batch_size": 8, "hparams": {}},
    "destseg": {"epochs": 6, "batch_size": 16, "hparams": {}},
    "vae": {"epochs": 3, "batch_size": 16, "hparams": {}},
    "memae": {"epochs": 2, "batch_size": 16, "hparams": {"base_width": 32, "feature_dim": 128}},
    "mnad": {"epochs": 2, "batch_size": 8, "hparams": {"base_width": 32, "memory_dim": 256}},
    "ssl-ae": {"epochs": 2, "batch_size": 8, "hparams": {"base_width": 16}},
    "draem": {"epochs": 2, "batch_size": 8, "hparams": {"base_width": 16}},
    "draem-sspcab": {"epochs": 2, "batch_size": 8, "hparams": {"base_width": 16}},
    "riad": {"epochs": 2, "batch_size": 8, "hparams": {"base_width": 16}},
    "scadn": {"epochs": 2, "batch_size": 8, "hparams": {"base_width": 16, "blocks": 4, "disc_width": 32}},
    "intra": {"epochs": 2, "batch_size": 8, "hparams": {"dim": 128, "depth": 4, "heads": 4}},
    "smai": {"epochs": 2, "batch_size": 8, "hparams": {"base_width": 16}},
    "ganomaly": {"epochs": 5, "batch_size": 32, "image_size": 64, "hparams": {"width": 32}},
    "fanogan": {"epochs": 5, "batch_size": 32, "image_size": 64, "hparams": {"width": 32}},
    "ognet": {"epochs": 5, "batch_size": 32, "image_size": 64, "hparams": {"width": 32}},
    "cutpaste": {"epochs": 3, "batch_size": 16, "hparams": {}},
    "cutpaste-imagenet": {"epochs": 3, "batch_size": 16, "hparams": {}},
    "patchcore": {"epochs": 1, "batch_size": 16, "hparams": {}},
    "padim": {"epochs": 1, "batch_size": 16, "hparams": {}},
    # Frozen ImageNet backbone + a trainable student / flow (docs/MODELS.md, "Normalizing flows and
    # distillation"): the epochs that the measured runs completed; cache_features computes the frozen
    # features of each training image once and reuses them across epochs.
    "reverse-distillation": {"epochs": 6, "batch_size": 16, "hparams": {}},
    "stpm": {"epochs": 3, "batch_size": 16, "hparams": {"cache_features": True}},
    "fastflow": {"epochs": 9, "batch_size": 16, "hparams": {"cache_features": True}},
    "cflow": {
        "epochs": 10,
        "batch_size": 16,
        "lr": 1e-3,
        "hparams": {"cache_features": True, "fibers_per_step": 1024},
    },
    # Random 90° rotations in training (no cache); one rotation at test (gradient maps are costly).
    "differnet": {"epochs": 1, "batch_size": 24, "hparams": {"test_transforms": 1}},
    # More flows and distillation (docs/MODELS.md): narrowed subnets for the CPU budget.
    "csflow": {
        "epochs": 5,
        "batch_size": 16,
        "lr": 1e-3,
        "hparams": {"cache_features": True, "hidden": 32},
    },
    "uninformed-students": {
        "epochs": 2,
        "batch_size": 16,
        "lr": 1e-3,
        "hparams": {"cache_features": True, "width": 32},
    },
    # Knowledge distillation on the bundled backbone (docs/MODELS.md, "MKD" and "FAVAE"): the source
    # features are cached; FAVAE's VAE is narrowed to a quarter of the reference code's width.
    "mkd": {"epochs": 20, "batch_size": 16, "lr": 1e-3, "hparams": {"cache_features": True}},
    "favae": {
        "epochs": 10,
        "batch_size": 16,
        "lr": 5e-3,
        "hparams": {"cache_features": True, "width": 32},
    },
    "spade": {"epochs": 1, "batch_size": 16, "hparams": {}},
    "soe": {"epochs": 1, "batch_size": 16, "hparams": {}},
    "dfr": {"epochs": 1, "batch_size": 16, "hparams": {"epochs": 10, "lr": 1e-3, "batch_regions": 512}},
    "padim-som": {"epochs": 1, "batch_size": 16, "hparams": {}},
    "mlf-sc": {"epochs": 1, "batch_size": 16, "hparams": {}},
    "a-contrario": {"epochs": 1, "batch_size": 16, "hparams": {}},
    "fcdd": {"epochs": 3, "batch_size": 16, "hparams": {}},
    "nsa": {"epochs": 3, "batch_size": 16, "hparams": {"base_width": 8}},
    "deep-svdd": {"epochs": 1, "batch_size": 32, "lr": 1e-3, "hparams": {}},
    "patch-svdd": {"epochs": 10, "batch_size": 32, "lr": 1e-3, "hparams": {"bank_size": 16384}},
    "simsiam": {"epochs": 1, "batch_size": 16, "hparams": {"bank_size": 16384}},
    "simclr": {"epochs": 1, "batch_size": 16, "hparams": {"bank_size": 16384}},
    "fyd": {"epochs": 1, "batch_size": 16, "hparams": {}},
    "vt-adl": {"epochs": 4, "batch_size": 8, "hparams": {}},
    "gradcon": {"epochs": 25, "batch_size": 32, "hparams": {"widths": [32, 32, 64, 64, 64]}},
    "oe-sdn": {"epochs": 4, "batch_size": 16, "lr": 1e-3, "hparams": {"student_width": 8}},
    # Self-supervised restoration proxy tasks (docs/MODELS.md): narrowed U-Nets for the CPU budget.
    # arnet: the paper's image score (mean of the map), as in the measured run.
    "arnet": {"epochs": 6, "batch_size": 16, "hparams": {"base_width": 16, "score": "mean"}},
    "split-brain": {"epochs": 4, "batch_size": 16, "hparams": {"base_width": 16}},
    # From scratch (docs/MODELS.md, "CPC and loss profiles"): narrowed widths for the CPU budget.
    "cpc": {
        "epochs": 8,
        "batch_size": 16,
        "lr": 1e-3,
        "hparams": {"patch_size": 16, "widths": [16, 32], "dim": 64, "bank_size": 8192, "score": "max"},
    },
    "loss-profile": {"epochs": 10, "batch_size": 16, "hparams": {"widths": [16, 32, 64], "latent": 8}},
    "memseg": {
        "epochs": 12,
        "batch_size": 8,
        "hparams": {"widths": [32, 64, 128], "head_width": 16, "normal_fraction": 0.5},
    },
}


def run(
    model: str,
    data: str,
    out: Path,
    epochs: int | None,
    backbone_from: str | None,
    workers: int,
    image_size: int | None = None,
    extra: dict | None = None,
    recipe: str | None = None,
) -> dict:
    s = SETTINGS.get(model, {"epochs": 10, "batch_size": 16, "hparams": {}})
    image_size = image_size or s.get("image_size", 128)
    hp = {**s["hparams"], **(extra or {})}
    if (
        model in ("patchcore", "padim", "spade", "soe", "dfr", "padim-som", "mlf-sc", "a-contrario")
        and backbone_from
    ):
        hp.update(pretrained=False, backbone_from=backbone_from)
    run_dir = out / model
    t0 = time.perf_counter()
    res = train(
        TrainConfig(
            model=model,
            data=data,
            out=run_dir,
            epochs=epochs or s["epochs"],
            batch_size=s["batch_size"],
            lr=s.get("lr"),
            recipe=recipe or s.get("recipe"),
            image_size=image_size,
            hparams=hp,
            workers=workers,
            overwrite=True,
            progress=False,
            seed=0,
        )
    )
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = predict_dataset(res.checkpoint, data, run_dir / "maps.h5", split="test", overwrite=True)
    t_pred = time.perf_counter() - t0
    report, ds = evaluate_files(data, run_dir / "maps.h5", split="test")
    write_report(report, run_dir / "report", overwrite=True, get_image=image_getter(ds))
    n_test = len(ds)
    return {
        "model": model,
        "epochs": res.epochs,
        "image_size": image_size,
        "batch_size": s["batch_size"],
        "hparams": hp,
        "recipe": recipe or s.get("recipe"),
        "train_s": round(t_train, 1),
        "predict_ms_per_image": round(1000 * t_pred / max(n_test, 1), 1),
        "table": format_markdown(report).split("\n", 4)[4],
        "n_test": n_test,
        "pred": str(pred),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", nargs="+", default=list(SETTINGS))
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--image-size", type=int, default=None, help="every method's resolution")
    ap.add_argument("--no-imagenet", action="store_true", help="padim/patchcore on the CutPaste backbone")
    ap.add_argument("--backbone-from", default=None, help="padim/patchcore on this checkpoint's backbone")
    ap.add_argument("--recipe", default=None, help="synth recipe of the methods that learn from defects")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra hyper-parameters")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    extra = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    backbone_from = str(out / "cutpaste" / "model.pt") if args.no_imagenet else args.backbone_from
    for m in args.models:
        r = run(
            m, args.data, out, args.epochs, backbone_from, args.workers, args.image_size, extra, args.recipe
        )
        (out / f"{m}.json").write_text(json.dumps(r, indent=2))
        print(
            f"\n### {m}\n\nsettings: epochs {r['epochs']}, hparams {r['hparams']}; "
            f"training {r['train_s']} s, inference {r['predict_ms_per_image']} ms/image (CPU)\n"
        )
        print(r["table"])


if __name__ == "__main__":
    main()
