"""An MLP trained on synthetic regression data with TensorDataset, DataLoader and SGD."""
import math

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def deterministic_init(model):
    # the same weights in any library: values from a formula, not from a random generator
    with torch.no_grad():
        for k, p in enumerate(model.parameters()):
            n = p.numel()
            p.copy_(torch.sin(torch.arange(n, dtype=torch.float32) * 1.7 + k).reshape(p.shape) * 0.4)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


xs = torch.stack([torch.linspace(-1, 1, 64), torch.cos(torch.linspace(0, 3, 64))], dim=1)
ys = (xs[:, :1] * 2 - xs[:, 1:] ** 2 + 0.1 * torch.sin(xs[:, :1] * math.pi))
loader = DataLoader(TensorDataset(xs, ys), batch_size=16, shuffle=False)
model = MLP()
deterministic_init(model)
opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.5)
loss_fn = nn.MSELoss()
for epoch in range(8):
    total = 0.0
    for xb, yb in loader:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item() * len(xb)
    print(f"epoch {epoch} loss {total / len(xs):.6f}")
print("params", sum(p.numel() for p in model.parameters()), [k for k in model.state_dict()])
