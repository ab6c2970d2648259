"""The LR schedule resumes exactly: a run restored at any epoch boundary gets the uninterrupted run's LR (and
OneCycle's momentum) at every later step, for cosine, OneCycle and constant, with and without warm-up."""
import copy

import pytest
import torch

from lab.config import SchedulerConfig
from lab.training.schedule import WarmupSchedule, build_scheduler, restore_optimizer, seek_schedule

EPOCHS, STEPS, LR = 6, 7, 3e-4


def _fresh(kind: str, warmup: int, epochs: int = EPOCHS):
    """What a new process builds: one parameter, AdamW, the configured schedule."""
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([param], lr=LR, weight_decay=0.01)
    return param, optimizer, build_scheduler(optimizer, SchedulerConfig(type=kind, warmup_epochs=warmup), epochs,
                                             STEPS, LR)


def _train_step(param, optimizer, scheduler):
    optimizer.zero_grad()
    (param ** 2).sum().backward()
    optimizer.step()
    scheduler.step()


def _hyper(optimizer):
    group = optimizer.param_groups[0]
    return group["lr"], group["betas"]


@pytest.mark.parametrize("warmup", [0, 2])
@pytest.mark.parametrize("kind", ["cosine", "onecycle", "none"])
def test_resumed_lr_equals_the_uninterrupted_run_at_every_epoch_boundary(kind, warmup):
    param, optimizer, scheduler = _fresh(kind, warmup)
    reference, saved = [_hyper(optimizer)], [copy.deepcopy(optimizer.state_dict())]
    for _ in range(EPOCHS):
        for _ in range(STEPS):
            _train_step(param, optimizer, scheduler)
        reference.append(_hyper(optimizer))
        saved.append(copy.deepcopy(optimizer.state_dict()))  # what last.pth holds at this boundary

    for done in range(1, EPOCHS):
        param2, optimizer2, scheduler2 = _fresh(kind, warmup)  # a new process resuming after epoch `done`
        restore_optimizer(optimizer2, saved[done])
        seek_schedule(scheduler2, done * STEPS)
        assert _hyper(optimizer2) == reference[done], f"resumed after epoch {done}"
        for epoch in range(done + 1, EPOCHS + 1):
            for _ in range(STEPS):
                _train_step(param2, optimizer2, scheduler2)
            assert _hyper(optimizer2) == reference[epoch], f"resumed after epoch {done}, at the end of epoch {epoch}"


def test_resume_keeps_the_configured_hyperparameters_and_the_moments():
    param, optimizer, scheduler = _fresh("cosine", 1)
    for _ in range(STEPS * 2):
        _train_step(param, optimizer, scheduler)
    state = copy.deepcopy(optimizer.state_dict())
    _, optimizer2, _ = _fresh("cosine", 1)
    optimizer2.param_groups[0]["weight_decay"] = 0.5  # e.g. --set training.weight_decay=0.5 on resume
    restore_optimizer(optimizer2, state)
    assert optimizer2.param_groups[0]["weight_decay"] == 0.5
    assert optimizer2.param_groups[0]["initial_lr"] == LR  # not the saved, decayed lr
    moments = optimizer2.state_dict()["state"][0]
    assert torch.equal(moments["exp_avg"], state["state"][0]["exp_avg"]) and moments["step"] == STEPS * 2


@pytest.mark.parametrize("warmup", [0, 1, 3])
def test_closed_form_matches_torch_linear_warmup_then_cosine(warmup):
    """WarmupSchedule is the LinearLR -> CosineAnnealingLR chain the project used, without the recursion."""
    total, sched = 40, torch.optim.lr_scheduler
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    cosine = sched.CosineAnnealingLR(optimizer, T_max=total - warmup)
    chain = cosine if warmup == 0 else sched.SequentialLR(
        optimizer, [sched.LinearLR(optimizer, 1.0 / (warmup + 1), total_iters=warmup), cosine], milestones=[warmup])
    closed = WarmupSchedule("cosine", warmup, total)
    for step in range(total + 1):
        assert closed(step) == pytest.approx(optimizer.param_groups[0]["lr"], abs=1e-12)
        optimizer.step()
        chain.step()


def test_seek_past_the_end_of_onecycle_stays_at_its_last_step():
    param, optimizer, scheduler = _fresh("onecycle", 1, epochs=2)
    for _ in range(2 * STEPS):
        _train_step(param, optimizer, scheduler)
    _, optimizer2, scheduler2 = _fresh("onecycle", 1, epochs=2)
    seek_schedule(scheduler2, 10 * STEPS)  # resumed with fewer --epochs than already trained: no crash
    assert _hyper(optimizer2) == _hyper(optimizer)
