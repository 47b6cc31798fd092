"""Learning-rate schedules used in tutorials and examples, printed step by step."""
import torch.nn as nn
import torch.optim as optim
from torch.optim import lr_scheduler


def fresh(lr=0.1, momentum=0.9):
    model = nn.Linear(2, 1)
    return optim.SGD(model.parameters(), lr=lr, momentum=momentum)


def run(name, make, steps=12, epoch_arg=False):
    opt = fresh()
    sched = make(opt)
    lrs = []
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    print(f"{name:26s}", " ".join(f"{v:.5f}" for v in lrs))


run("StepLR", lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5))
run("MultiStepLR", lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.3))
run("ExponentialLR", lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9))
run("CosineAnnealingLR", lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.01))
run("CosineAnnealingWarmRestarts", lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2))
run("LinearLR", lambda o: lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=4))
run("ConstantLR", lambda o: lr_scheduler.ConstantLR(o, factor=0.5, total_iters=3))
run("PolynomialLR", lambda o: lr_scheduler.PolynomialLR(o, total_iters=8, power=2.0))
run("LambdaLR", lambda o: lr_scheduler.LambdaLR(o, lr_lambda=lambda epoch: 0.95 ** epoch))
run("MultiplicativeLR", lambda o: lr_scheduler.MultiplicativeLR(o, lr_lambda=lambda epoch: 0.9))
run("OneCycleLR", lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=12))
run("CyclicLR", lambda o: lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3))
run("SequentialLR", lambda o: lr_scheduler.SequentialLR(
    o, [lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=3), lr_scheduler.ExponentialLR(o, gamma=0.8)],
    milestones=[3]))
run("ChainedScheduler", lambda o: lr_scheduler.ChainedScheduler(
    [lr_scheduler.ConstantLR(o, factor=0.5, total_iters=4), lr_scheduler.ExponentialLR(o, gamma=0.9)]))

opt = fresh()
plateau = lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1)
for val_loss in [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8]:
    plateau.step(val_loss)
print("ReduceLROnPlateau         ", " ".join(f"{g['lr']:.5f}" for g in opt.param_groups))

opt = fresh()
sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
for _ in range(3):
    opt.step()
    sched.step()
state = sched.state_dict()
opt2 = fresh()
sched2 = lr_scheduler.StepLR(opt2, step_size=2, gamma=0.1)
sched2.load_state_dict(state)
print("resumed:", state["last_epoch"], f"{sched2.get_last_lr()[0]:.5f}", sorted(k for k in state if not k.startswith("_")))
