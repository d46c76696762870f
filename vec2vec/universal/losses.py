"""The training losses of the universal latent, one job each (vec2vec, arXiv 2505.12540, Section 3).

Every input is a batch of rows in an encoder's centred frame; each loss is a mean over the batch, so weights
mean the same at any batch size. None of them sees a true pair: reconstruction, cycle and VSP compare a batch with
functions of *itself*, the adversarial terms compare distributions, and the anchor compares with a linear map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean 1 - cos(x_k, y_k): 0 when rows point the same way, whatever their norms (outputs are unit anyway)."""
    return (1.0 - F.cosine_similarity(x, y, dim=-1)).mean()


def reconstruction_loss(x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
    """B_i(T(A_i(x))) should give back x: keeps each adapter pair invertible, so the latent loses nothing."""
    return cosine_distance(x, x_rec)


def cycle_loss(x: torch.Tensor, x_cycled: torch.Tensor) -> torch.Tensor:
    """i -> j -> i should give back x: a translation that drops what x meant cannot be undone."""
    return cosine_distance(x, x_cycled)


def gram(x: torch.Tensor) -> torch.Tensor:
    """Pairwise cosines within a batch."""
    u = F.normalize(x, dim=-1)
    return u @ u.T


def vsp_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Vector-space preservation: MSE between the batch's cosine matrices before (x) and after (y) a map.

    0 for any orthogonal map (it keeps every angle), so it constrains the geometry without fixing a rotation.
    """
    return F.mse_loss(gram(y), gram(x))


def cycle_vsp_loss(x: torch.Tensor, x_cycled: torch.Tensor) -> torch.Tensor:
    """VSP after the round trip i -> j -> i, as the reference implementation's cc_vsp term (x vs its cycle)."""
    return vsp_loss(x, x_cycled)


def anchor_loss(translated: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Distance from translate(x, i->j) to the linear solution x @ W_ij: keeps early GAN noise from wandering off."""
    return cosine_distance(translated, x @ w)


def lsgan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN (Mao et al. 2017), discriminator side: real -> 1, fake -> 0.

    Squared error instead of log-loss gives the generator gradients that do not vanish when the discriminator is
    confident, the usual reason LSGAN trains more steadily.
    """
    return 0.5 * (((real_scores - 1.0) ** 2).mean() + (fake_scores**2).mean())


def lsgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN, generator side: make fakes score as real (1)."""
    return 0.5 * ((fake_scores - 1.0) ** 2).mean()


def anchor_weight(step: int, start: float, floor: float, decay_steps: int) -> float:
    """Linear decay from `start` to `floor` over `decay_steps` (absolute steps, so a resumed run sees the same
    schedule as an uninterrupted one, whatever its total)."""
    if decay_steps <= 0 or step >= decay_steps:
        return floor
    return start + (floor - start) * step / decay_steps
