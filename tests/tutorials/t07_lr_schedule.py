"""Learning-rate schedules stepping an optimizer through a short linear regression."""
import torch

w = torch.zeros(3, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.5)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
x = torch.linspace(-1, 1, 30).reshape(10, 3)
target = x @ torch.tensor([1.0, -2.0, 0.5])
for epoch in range(8):
    opt.zero_grad()
    loss = ((x @ w - target) ** 2).mean()
    loss.backward()
    opt.step()
    sched.step()
    print(f"epoch {epoch} lr {sched.get_last_lr()[0]:.6f} loss {loss.item():.6f}")
p = torch.nn.Parameter(torch.ones(1))
for name, make in [("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5)),
                   ("exp", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.8)),
                   ("multistep", lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 4]))]:
    o = torch.optim.SGD([p], lr=1.0)
    s = make(o)
    lrs = []
    for _ in range(6):
        o.step()
        s.step()
        lrs.append(round(o.param_groups[0]["lr"], 6))
    print(name, lrs)
