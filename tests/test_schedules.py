"""Learning-rate schedules against torch's schedulers, step for step."""

import pytest

from helpers import torch
from visionblocks.optim import linear_warmup, one_cycle

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def _torch_one_cycle(max_lr, total_steps, **kw):
    """The learning rate torch's OneCycleLR sets before each of the ``total_steps`` steps."""
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=max_lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=max_lr, total_steps=total_steps, cycle_momentum=False, **kw
    )
    lrs = []
    for _ in range(total_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@needs_torch
@pytest.mark.parametrize(
    "total, kw",
    [
        (100, {}),  # OneCycleLR's defaults: pct_start 0.3, div 25, final div 1e4, cosine
        (37, {}),
        (10, {"pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0}),
        (7, {"pct_start": 0.5}),
    ],
)
def test_one_cycle_matches_torch_step_for_step(total, kw):
    ours = one_cycle(0.4, total, **kw)
    want = _torch_one_cycle(0.4, total, **kw)
    got = [ours(step) for step in range(total)]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_one_cycle_peaks_at_pct_start_steps_and_ends_on_the_final_rate():
    f = one_cycle(1.0, 100)
    lrs = [f(s) for s in range(100)]
    assert lrs[0] == pytest.approx(1 / 25)
    assert max(lrs) == lrs[29] == pytest.approx(1.0)  # the 30th step, as OneCycleLR
    assert lrs[99] == pytest.approx(1 / 25e4)  # the last step reaches the final rate
    assert f(150) == pytest.approx(1 / 25e4)  # and it stays there
    with pytest.raises(ValueError, match="pct_start"):
        one_cycle(1.0, 100, pct_start=1.5)


def test_linear_warmup_starts_at_start_factor_times_the_rate_where_warmup_ends():
    s = linear_warmup(lambda step: 2.0 - step / 100, warmup_steps=10, start_factor=0.25)
    assert s(0) == pytest.approx(0.25 * 1.9)  # schedule(warmup_steps), not schedule(0) = 2.0
    assert s(5) == pytest.approx((0.25 + 0.75 * 0.5) * 1.9)
    assert s(10) == pytest.approx(1.9) and s(20) == pytest.approx(1.8)
