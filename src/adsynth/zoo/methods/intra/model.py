"""InTra (Pirnay & Chai, ICIAP 2022): inpainting transformer.

The image is cut into a G×G grid of P×P patches. For a target patch, an L×L window of patches around it
(shifted inside the image at the borders, so the target is then off-centre) is fed to a transformer
encoder; the target patch's token is replaced by a learned mask token and the transformer's output at that
position is decoded into the missing patch. Every token carries two learned position embeddings: its
place in the window and its absolute place in the image grid.

At inference every patch of the image is inpainted from its own window; the inpainted patches tile a full
reconstruction, compared to the image by the MSGMS difference map (RIAD's), mean-filtered. All windows of
all images of a batch are gathered into large forward batches.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from adsynth._validation import check_positive_int
from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.batching import batch_rngs
from adsynth.zoo.components.blur import mean_filter2d
from adsynth.zoo.components.losses import ssim_loss
from adsynth.zoo.components.msgms import msgms_loss, msgms_map


def patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """B×C×H×W → B×(H/p)×(W/p)×(C·p·p) (each patch flattened channel-major)."""
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, h // p, w // p, c * p * p)


def unpatchify(patches: torch.Tensor, c: int, p: int) -> torch.Tensor:
    """Inverse of :func:`patchify`."""
    b, gh, gw, _ = patches.shape
    x = patches.reshape(b, gh, gw, c, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, gh * p, gw * p)


def window_origin(pos: torch.Tensor, grid: int, window: int) -> torch.Tensor:
    """Top (or left) window index for target patch rows (or columns) ``pos``: centred, clipped inside."""
    return (pos - window // 2).clamp(0, grid - window)


@register_model("intra")
class Intra(AnomalyModel):
    """InTra.

    Args:
        image_size: side of the square input (paper: 256); a multiple of ``patch_size``.
        channels: 1 or 3.
        patch_size: patch side P (default ``image_size // 16``: the paper's 16 px at 256 px).
        window: L, the window side in patches (paper: 7); at most ``image_size // patch_size``.
        dim, depth, heads: transformer width, number of blocks and attention heads (paper: 512, 13, 8).
        mlp_ratio: hidden size of the blocks' MLP / ``dim``.
        windows_per_image: training windows drawn from every image at every step.
        msgms_weight, ssim_weight: weights α, β of the MSGMS and SSIM terms next to L2 (weight 1); 0.01 as
            in the unofficial reference's ``InTraLoss``. With weights of 1 the two terms, computed on
            P×P patches, dominate the loss and a small transformer stays at the mean patch much longer.
        smooth_kernel: mean-filter size of the map (default ``patch_size + 1``; made odd).
        seed: seeds the training windows (with the step and the dataset row).
        infer_batch: windows per forward pass at inference.

    Example:
        >>> import torch
        >>> m = Intra(image_size=64, dim=16, depth=1, heads=2).eval()
        >>> m.predict(torch.rand(1, 3, 64, 64)).anomaly_map.shape
        torch.Size([1, 64, 64])
    """

    family: ClassVar[str] = "inpainting"
    paper: ClassVar[str] = "Pirnay & Chai, ICIAP 2022"
    default_epochs: ClassVar[int] = 500
    default_batch_size: ClassVar[int] = 8
    default_lr: ClassVar[float] = 1e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        patch_size: int | None = None,
        window: int = 7,
        dim: int = 512,
        depth: int = 13,
        heads: int = 8,
        mlp_ratio: float = 4.0,
        windows_per_image: int = 32,
        msgms_weight: float = 0.01,
        ssim_weight: float = 0.01,
        smooth_kernel: int | None = None,
        seed: int = 0,
        infer_batch: int = 512,
    ) -> None:
        p = int(patch_size) if patch_size is not None else max(1, int(image_size) // 16)
        if p < 1 or int(image_size) % p:
            raise ConfigError(f"expected `image_size` ({image_size}) to be a multiple of `patch_size` ({p})")
        grid = int(image_size) // p
        if not 1 <= int(window) <= grid:
            raise ConfigError(f"expected `window` to be in [1, {grid}] (patches per side), got {window}")
        for name, v in (
            ("dim", dim),
            ("depth", depth),
            ("heads", heads),
            ("windows_per_image", windows_per_image),
            ("infer_batch", infer_batch),
        ):
            check_positive_int(v, name)
        if int(dim) % int(heads):
            raise ConfigError(f"expected `dim` ({dim}) to be divisible by `heads` ({heads})")
        if smooth_kernel is not None:
            check_positive_int(smooth_kernel, "smooth_kernel")
        super().__init__(
            image_size,
            channels,
            patch_size=None if patch_size is None else p,
            window=int(window),
            dim=int(dim),
            depth=int(depth),
            heads=int(heads),
            mlp_ratio=float(mlp_ratio),
            windows_per_image=int(windows_per_image),
            msgms_weight=float(msgms_weight),
            ssim_weight=float(ssim_weight),
            smooth_kernel=None if smooth_kernel is None else int(smooth_kernel),
            seed=int(seed),
            infer_batch=int(infer_batch),
        )
        self.patch_size, self.grid, self.window = p, grid, int(window)
        self.windows_per_image = int(windows_per_image)
        self.msgms_weight, self.ssim_weight = float(msgms_weight), float(ssim_weight)
        # An odd size keeps the filtered map at the input's size.
        self.smooth_kernel = (p + 1 if smooth_kernel is None else int(smooth_kernel)) | 1
        self.seed, self.infer_batch = int(seed), int(infer_batch)
        d_patch = self.channels * p * p
        d = int(dim)
        self.embed = nn.Linear(d_patch, d)
        self.mask_token = nn.Parameter(torch.zeros(d))
        self.local_pos = nn.Parameter(torch.zeros(self.window * self.window, d))
        self.global_pos = nn.Parameter(torch.zeros(grid * grid, d))
        layer = nn.TransformerEncoderLayer(
            d,
            int(heads),
            int(mlp_ratio * d),
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, int(depth), norm=nn.LayerNorm(d), enable_nested_tensor=False
        )
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d_patch))
        for t in (self.mask_token, self.local_pos, self.global_pos):
            nn.init.trunc_normal_(t, std=0.02)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    # ------------------------------------------------------------------ windows
    def targets(
        self, rows: torch.Tensor, cols: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For target patches (rows, cols): window origins (N×2), masked position in the window (N) and
        the grid index of every window token (N×L²)."""
        g, L = self.grid, self.window
        top, left = window_origin(rows, g, L), window_origin(cols, g, L)
        masked = (rows - top) * L + (cols - left)
        ar = torch.arange(L, device=rows.device)
        token_rows = (top[:, None] + ar)[:, :, None].expand(-1, L, L)
        token_cols = (left[:, None] + ar)[:, None, :].expand(-1, L, L)
        return torch.stack([top, left], 1), masked, (token_rows * g + token_cols).reshape(-1, L * L)

    def inpaint(self, tokens: torch.Tensor, masked: torch.Tensor, grid_index: torch.Tensor) -> torch.Tensor:
        """Predict the masked patch of each window.

        Args:
            tokens: N×L²×(C·P²) flattened patches of the windows (row-major); the masked one is ignored.
            masked: N indices in ``0..L²−1`` of the patch to inpaint.
            grid_index: N×L² absolute grid index (``row · G + col``) of every window patch.

        Returns:
            N×(C·P²) flattened patches in [0, 1].
        """
        n, t, _ = tokens.shape
        e = self.embed(tokens)
        hide = F.one_hot(masked, t).to(torch.bool)[:, :, None]
        e = torch.where(hide, self.mask_token.to(e.dtype), e)
        e = e + self.local_pos[None] + self.global_pos[grid_index]
        h = self.encoder(e)
        out = h[torch.arange(n, device=h.device), masked]
        return torch.sigmoid(self.head(out))

    def _gather(self, patches: torch.Tensor, batch_index: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
        L = self.window
        ar = torch.arange(L, device=patches.device)
        r = (origin[:, 0:1] + ar)[:, :, None]
        c = (origin[:, 1:2] + ar)[:, None, :]
        return patches[batch_index[:, None, None], r, c].reshape(len(batch_index), L * L, -1)

    def _check_grid(self, images: torch.Tensor) -> None:
        if tuple(images.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(
                f"expected images of {self.image_size}×{self.image_size} px (the position embeddings' "
                f"grid), got {tuple(images.shape[-2:])}"
            )

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"]
        self._check_grid(x)
        rngs = batch_rngs(self.seed, int(self.steps), batch)
        self.steps += 1
        k, g, p, c = self.windows_per_image, self.grid, self.patch_size, self.channels
        picks = np.stack([r.integers(0, g, size=(k, 2)) for r in rngs]).reshape(-1, 2)
        picks = torch.from_numpy(picks).to(x.device)
        bi = torch.arange(x.shape[0], device=x.device).repeat_interleave(k)
        origin, masked, gidx = self.targets(picks[:, 0], picks[:, 1])
        patches = patchify(x, p)
        pred = self.inpaint(self._gather(patches, bi, origin), masked, gidx)
        target = patches[bi, picks[:, 0], picks[:, 1]]
        pred_img, target_img = pred.reshape(-1, c, p, p), target.reshape(-1, c, p, p)
        l2 = F.mse_loss(pred.float(), target.float())
        gm = msgms_loss(pred_img, target_img)
        win = min(11, p - 1 if p % 2 == 0 else p)
        ss = ssim_loss(pred_img, target_img, window=max(1, win))
        loss = l2 + self.msgms_weight * gm + self.ssim_weight * ss
        return {"loss": loss, "l2": l2, "msgms": gm, "ssim": ss}

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Every patch of every image inpainted from its window, tiled into a B×C×H×W image."""
        self._check_grid(images)
        b, g = images.shape[0], self.grid
        patches = patchify(images, self.patch_size)
        dev = images.device
        rows = torch.arange(g, device=dev).repeat_interleave(g).repeat(b)
        cols = torch.arange(g, device=dev).repeat(g * b)
        bi = torch.arange(b, device=dev).repeat_interleave(g * g)
        origin, masked, gidx = self.targets(rows, cols)
        out = []
        for i in range(0, len(bi), self.infer_batch):
            s = slice(i, i + self.infer_batch)
            out.append(self.inpaint(self._gather(patches, bi[s], origin[s]), masked[s], gidx[s]))
        rec = torch.cat(out).reshape(b, g, g, -1).to(images.dtype)
        return unpatchify(rec, self.channels, self.patch_size)

    def anomaly_map(self, images: torch.Tensor, rec: torch.Tensor) -> torch.Tensor:
        """MSGMS difference of an image and its patch-wise inpainting, mean-filtered (B×H×W)."""
        return mean_filter2d(msgms_map(images, rec), self.smooth_kernel).float()

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        amap = self.anomaly_map(images, self.reconstruct(images))
        return Prediction(anomaly_map=amap, score=amap.flatten(1).amax(dim=1))
