"""Link extraction from similarity matrices, batched in torch.

Every function takes a padded batch: ``sim`` is ``[B, M, N]`` with the real
``m_b x n_b`` block of pair ``b`` in the top-left corner and ``PAD`` elsewhere;
``m``/``n`` are ``[B]`` long tensors of the real sizes.  They return a bool
``[B, M, N]`` link matrix (False outside the real block).

The ArgMax, IterMax and Match rules and the distortion mask mirror SimAlign
(Jalili Sabet et al., 2020) so that, on the same similarities, the links are
the same as ``simalign.SentenceAligner``'s.  ``softmax`` is the extraction of
awesome-align (Dou & Neubig, 2021): a link where both the row-wise and the
column-wise softmax exceed a threshold.
"""
from __future__ import annotations

import torch

# Similarities are (cos + 1) / 2 in [0, 1]; padding sorts below any real value,
# so argmax over a padded row or column picks the same index as unpadded.
PAD = -1.0

from xlaug.transforms.align_defaults import METHODS  # noqa: E402,F401


def valid_mask(m: torch.Tensor, n: torch.Tensor, M: int, N: int) -> torch.Tensor:
    rows = torch.arange(M, device=m.device)[None, :] < m[:, None]
    cols = torch.arange(N, device=n.device)[None, :] < n[:, None]
    return rows[:, :, None] & cols[:, None, :]


def similarity(src: torch.Tensor, tgt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(cosine + 1) / 2 of every src/tgt vector pair, as SimAlign scores it."""
    src = torch.nn.functional.normalize(src, dim=-1)
    tgt = torch.nn.functional.normalize(tgt, dim=-1)
    sim = (torch.bmm(src, tgt.transpose(1, 2)) + 1.0) / 2.0
    return sim.masked_fill(~valid, PAD)


def apply_distortion(sim: torch.Tensor, m: torch.Tensor, n: torch.Tensor, valid: torch.Tensor,
                     ratio: float) -> torch.Tensor:
    """SimAlign's distortion: damp links far from the diagonal by
    ``1 - ratio * (j/(n-1) - i/(m-1))**2``; pairs shorter than 2 are left alone."""
    if ratio == 0.0:
        return sim
    B, M, N = sim.shape
    sim = sim.double()
    i = torch.arange(M, device=sim.device, dtype=sim.dtype)[None, :, None]
    j = torch.arange(N, device=sim.device, dtype=sim.dtype)[None, None, :]
    mf = (m.to(sim.dtype) - 1).clamp(min=1)[:, None, None]
    nf = (n.to(sim.dtype) - 1).clamp(min=1)[:, None, None]
    mask = 1.0 - ((j / nf - i / mf) ** 2) * ratio
    skip = ((m < 2) | (n < 2))[:, None, None]
    out = torch.where(skip, sim, sim * mask)
    return out.masked_fill(~valid, PAD)


def _onehot_rows(sim: torch.Tensor) -> torch.Tensor:
    """Forward argmax: for each row, a one at the best column."""
    idx = sim.argmax(dim=2, keepdim=True)
    return torch.zeros_like(sim, dtype=torch.bool).scatter_(2, idx, True)


def _onehot_cols(sim: torch.Tensor) -> torch.Tensor:
    idx = sim.argmax(dim=1, keepdim=True)
    return torch.zeros_like(sim, dtype=torch.bool).scatter_(1, idx, True)


def argmax_links(sim: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """ArgMax: links that are the best in both their row and their column."""
    return _onehot_rows(sim) & _onehot_cols(sim) & valid


def itermax_links(sim: torch.Tensor, m: torch.Tensor, n: torch.Tensor, valid: torch.Tensor,
                  max_count: int = 2, alpha: float = 0.9) -> torch.Tensor:
    """IterMax: ArgMax, then repeat ArgMax on rows/columns still unaligned,
    with aligned rows/columns damped by ``alpha`` (SimAlign's rule)."""
    inter = argmax_links(sim, valid)
    active = torch.minimum(m, n) > 2  # SimAlign returns plain ArgMax for tiny pairs
    rows_valid = valid.any(dim=2)
    cols_valid = valid.any(dim=1)
    for _ in range(1, max_count):
        if not bool(active.any()):
            break
        row_done = inter.any(dim=2)
        col_done = inter.any(dim=1)
        mask_x = (~row_done).to(sim.dtype)[:, :, None]
        mask_y = (~col_done).to(sim.dtype)[:, None, :]
        mask = (alpha * mask_x + alpha * mask_y).clamp(0.0, 1.0)
        mask_zeros = 1.0 - (1.0 - mask_x) * (1.0 - mask_y)
        # No unaligned row or no unaligned column left: nothing more to add.
        free = ((~row_done & rows_valid).any(dim=1) & (~col_done & cols_valid).any(dim=1))
        keep = (free & active).to(sim.dtype)[:, None, None]
        new_sim = (sim * mask * keep).masked_fill(~valid, PAD)
        zeros_ok = (mask_zeros * keep) > 0
        new = _onehot_rows(new_sim) & _onehot_cols(new_sim) & zeros_ok & valid
        grew = (new & ~inter).flatten(1).any(dim=1)
        inter = inter | new
        active = active & grew
    return inter


def _grow_step(links: torch.Tensor) -> torch.Tensor:
    """Cells next to a link (the 8 neighbours, diagonals included)."""
    near = torch.nn.functional.max_pool2d(links.float()[:, None], 3, stride=1, padding=1)[:, 0] > 0
    return near & ~links


def grow_links(fwd: torch.Tensor, bwd: torch.Tensor) -> torch.Tensor:
    """Symmetrisation of two one-directional link sets, grow-diag-final style
    (Koehn et al., 2005): start from their intersection, add union links next
    to a link (diagonals included) while either of their ends is unlinked,
    repeating until nothing changes; then add the union links left whose
    source or target is still unlinked.  Cells are added together in each
    round (not one at a time), so the result does not depend on a scan order."""
    union = fwd | bwd
    links = fwd & bwd
    while True:
        free = ~links.any(dim=2, keepdim=True) | ~links.any(dim=1, keepdim=True)
        new = union & _grow_step(links) & free
        if not bool(new.any()):
            break
        links = links | new
    free = ~links.any(dim=2, keepdim=True) | ~links.any(dim=1, keepdim=True)
    return links | (union & free)


def match_links(sim: torch.Tensor, m: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Match: maximum-weight bipartite matching of maximum cardinality, per pair
    (SimAlign solves it with networkx; the Hungarian method gives the same optimum)."""
    from scipy.optimize import linear_sum_assignment

    out = torch.zeros_like(sim, dtype=torch.bool)
    sim_np = sim.detach().cpu().double().numpy()
    for b in range(sim.shape[0]):
        mb, nb = int(m[b]), int(n[b])
        if mb == 0 or nb == 0:
            continue
        rows, cols = linear_sum_assignment(sim_np[b, :mb, :nb], maximize=True)
        out[b, torch.as_tensor(rows), torch.as_tensor(cols)] = True
    return out


def softmax_links(scores: torch.Tensor, valid: torch.Tensor, threshold: float = 1e-3) -> torch.Tensor:
    """awesome-align's extraction: softmax over each row and over each column
    of ``scores`` (dot products); link where both probabilities exceed ``threshold``."""
    scores = scores.masked_fill(~valid, float("-inf"))
    fwd = torch.softmax(scores, dim=2).nan_to_num(0.0)
    bwd = torch.softmax(scores, dim=1).nan_to_num(0.0)
    return (fwd > threshold) & (bwd > threshold) & valid


def extract(method: str, src: torch.Tensor, tgt: torch.Tensor, m: torch.Tensor, n: torch.Tensor, *,
            distortion: float = 0.0, softmax_threshold: float = 1e-3, softmax_temperature: float | None = None,
            itermax_count: int = 2, itermax_alpha: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """Links ``[B, M, N]`` (bool) and similarities ``[B, M, N]`` for padded
    subword vectors ``src [B, M, H]`` and ``tgt [B, N, H]``."""
    valid = valid_mask(m, n, src.shape[1], tgt.shape[1])
    sim = similarity(src, tgt, valid)
    scored = apply_distortion(sim, m, n, valid, distortion)
    if method == "argmax":
        links = argmax_links(scored, valid)
    elif method == "itermax":
        links = itermax_links(scored, m, n, valid, itermax_count, itermax_alpha)
    elif method == "match":
        links = match_links(scored, m, n)
    elif method == "grow":
        # Each direction's best link (a row's argmax, a column's argmax),
        # symmetrised: ArgMax (their intersection) grown toward their union.
        links = grow_links(_onehot_rows(scored) & valid, _onehot_cols(scored) & valid)
    elif method == "softmax":
        # awesome-align scores with raw dot products; a temperature scores with
        # cosine / temperature instead (encoders whose vector norms are large).
        if softmax_temperature:
            dots = (sim * 2.0 - 1.0) / softmax_temperature
        else:
            dots = torch.bmm(src, tgt.transpose(1, 2))
        links = softmax_links(dots, valid, softmax_threshold)
    else:
        raise ValueError(f"unknown alignment method {method!r}; choose one of {', '.join(METHODS)}")
    return links, sim


def nn_margin(sim: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per pair: how far each subword's best match stands out from its average
    match (max minus mean similarity), averaged over the rows and the columns."""
    zero = sim.masked_fill(~valid, 0.0)
    out = []
    for dim in (2, 1):
        count = valid.sum(dim=dim)
        has = count > 0
        best = sim.max(dim=dim).values
        mean = zero.sum(dim=dim) / count.clamp(min=1)
        margin = ((best - mean) * has).sum(dim=1) / has.sum(dim=1).clamp(min=1)
        out.append(margin.to(torch.float64))
    return (out[0] + out[1]) / 2
