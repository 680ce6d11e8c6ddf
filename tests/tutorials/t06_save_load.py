"""Saving and loading a state_dict (model and optimizer), then resuming."""
import os
import tempfile

import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
with torch.no_grad():
    for k, p in enumerate(model.parameters()):
        p.copy_(torch.linspace(-1, 1, p.numel()).reshape(p.shape) * (0.5 + 0.1 * k))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
x = torch.linspace(0, 1, 12).reshape(4, 3)
for _ in range(2):
    opt.zero_grad()
    model(x).pow(2).mean().backward()
    opt.step()
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "ckpt.pt")
    torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 2}, path)
    ckpt = torch.load(path)
restored = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
print("load", restored.load_state_dict(ckpt["model"]))
opt2 = torch.optim.SGD(restored.parameters(), lr=0.1, momentum=0.9)
opt2.load_state_dict(ckpt["optim"])
print("keys", list(ckpt["model"]), ckpt["epoch"])
print("same output", torch.allclose(model(x), restored(x)), [round(v, 6) for v in restored(x)[0].tolist()])
for m, o in ((model, opt), (restored, opt2)):
    o.zero_grad()
    m(x).pow(2).mean().backward()
    o.step()
print("resumed alike", torch.equal(model[0].weight, restored[0].weight),
      [round(v, 6) for v in restored[2].bias.tolist()])
