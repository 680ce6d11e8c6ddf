"""A small CNN (conv, batch norm, pooling, linear) trained with Adam and cross-entropy."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)  # batch norm follows: no bias
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 3 * 3, 3)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


net = Net()
with torch.no_grad():
    for k, p in enumerate(net.parameters()):
        p.copy_(torch.cos(torch.arange(p.numel(), dtype=torch.float32) * 0.9 + k).reshape(p.shape) * 0.3)
grid = torch.arange(8 * 10 * 10, dtype=torch.float32).reshape(8, 1, 10, 10)
images = torch.sin(grid * 0.013) + torch.cos(grid * 0.007)
labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
opt = torch.optim.Adam(net.parameters(), lr=0.01)
for step in range(6):
    opt.zero_grad()
    logits = net(images)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    opt.step()
    print(f"step {step} loss {loss.item():.6f}")
net.eval()
with torch.no_grad():
    pred = net(images).argmax(dim=1)
print("pred", pred.tolist(), "running_mean", [round(v, 5) for v in net.bn1.running_mean.tolist()])
print("graph", loss.grad_fn.name(), loss.grad_fn.next_functions[0][0].name())
print("bn node", net.train().bn1(images[:2, :, :4, :4].repeat(1, 4, 1, 1)).grad_fn.name())
