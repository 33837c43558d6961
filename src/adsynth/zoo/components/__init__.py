"""Shared parts of the zoo methods: networks, losses, maps and plumbing used by more than one method.

A method folder (``zoo/methods/<method>/``) imports only :mod:`adsynth.zoo.base`, this package, the zoo-level
feature modules (:mod:`~adsynth.zoo.backbones`, :mod:`~adsynth.zoo.bundled_weights`,
:mod:`~adsynth.zoo.coreset`) and libraries, never another method's folder
(``tests/test_architecture.py`` enforces it). A part that a second method needs moves here.

Modules:
    adversarial: WGAN-GP's ``gradient_penalty``; ``split_epoch`` of two-phase training (f-AnoGAN, OGNet).
    backbone_model: ``BackboneModel``, the one declaration of the backbone options (``backbone``,
        ``layers``, ``pretrained``, ``weights``, ``backbone_from``, ``weights_source``,
        ``cache_features``) with per-family defaults as class attributes; the base of ``FeatureModel``,
        ``FrozenBackboneModel``, ``LocalSSLModel``, CutPaste and FCDD.
    batching: ``batch_rngs`` (one generator per item from seed, step and row) and ``chunked`` forward
        passes (RIAD, InTra, SCADN, SMAI).
    bergmann: the convolutional autoencoder of Bergmann et al. (``bergmann_encoder`` /
        ``bergmann_decoder``) and ``BergmannModel``, the options, optimiser and prediction of AE and VAE.
    blur: the map filters, ``gaussian_blur2d`` (scipy's ``gaussian_filter``) and ``mean_filter2d``.
    dcgan: ``DCGANEncoder`` / ``DCGANDecoder``, ``dcgan_init``, ``to_signed`` / ``to_unit`` (GANomaly,
        f-AnoGAN, OGNet).
    distillation: ``FrozenBackboneModel``, the base of the methods that train on a frozen pretrained
        backbone (kept in eval mode under ``train()``, optional feature cache), per-level feature
        distances and map combination, conv/residual blocks (reverse-distillation, stpm, the flows).
    draem: DRAEM's ``ReconstructiveSubNetwork`` / ``DiscriminativeSubNetwork``, ``init_weights``,
        ``draem_loss`` and ``DraemModel``, the builder that ``draem`` and ``draem-sspcab`` register
        (the reconstructive network is also ssl-ae's).
    flows: FrEIA ``AllInOneBlock`` flows with seeded permutations (``build_flow``), subnets, float32
        flow evaluation, Gaussian log-likelihood, CFLOW's positional encoding (fastflow, cflow,
        differnet).
    gaussian_grid: ``PositionGaussianModel``, one Gaussian per feature-map position, the builder of
        padim and soe (a method defines only ``embed``).
    gradients: GradCon's cosine ``gradient_constraint_loss``, ``RunningGradients`` (running mean of
        training gradients, as buffers) and batched ``per_sample_gradients`` (``torch.func``).
    losses: SSIM (``ssim``, ``ssim_map``, ``ssim_loss``), ``focal_loss``, ``reconstruction_loss``.
    maps: anomaly maps and image scores of the reconstruction methods (``reconstruction_map``,
        ``residual_map``, ``smoothed_map``, ``image_scores``, ``max_of_smoothed``) and
        ``check_map_options``.
    memory: MemAE's ``MemoryModule`` with ``hard_shrink`` and ``addressing_entropy``.
    modes: ``eval_mode(module)``, a block run in eval mode with the module's mode restored after.
    msgms: multi-scale gradient magnitude similarity, ``msgms_loss`` / ``msgms_map`` (RIAD, InTra).
    restoration: attribute erasure and splits of the restoration proxy tasks (``to_gray``,
        ``rotate_each``, ``rgb_to_lab``, ``checkerboard``, ``masked_mse``; arnet, split-brain).
    unet: the inpainting ``UNet`` and ``check_unet_size`` (RIAD, SMAI).

The channel check that every method shares is :attr:`adsynth.zoo.base.AnomalyModel.supported_channels`.

Example:
    >>> import torch
    >>> from adsynth.zoo.components.unet import UNet
    >>> UNet(3, 3, width=4)(torch.rand(1, 3, 32, 32)).shape
    torch.Size([1, 3, 32, 32])
"""
