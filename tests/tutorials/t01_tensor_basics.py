"""Tensors: creation, arithmetic, broadcasting, indexing, reshaping, reductions, NumPy."""
import numpy as np
import torch

x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
print("x", x.shape, x.dtype, x.sum().item(), x.mean().item())
y = torch.ones(4) * 2 + torch.tensor([0.5, -1.0, 3.0, 0.25])
print("broadcast", (x * y).tolist())
print("matmul", (x @ x.T).tolist())
print("slice", x[1:, ::2].tolist(), x[:, -1].tolist(), x[x > 6].tolist())
print("reductions", x.max().item(), x.argmax(dim=1).tolist(), x.std(dim=0).tolist())
print("cat", torch.cat([x, x], dim=0).shape, torch.stack([y, y]).shape)
z = x.clone()
z[0, 0] = 100.0
z.add_(1)
print("inplace", z[0].tolist(), x[0].tolist())
a = np.linspace(0, 1, 5, dtype=np.float32)
t = torch.from_numpy(a)
print("numpy", t.dtype, (t * 3).numpy().round(4).tolist())
print("types", torch.LongTensor([1, 2]).dtype, torch.FloatTensor(2, 3).shape,
      isinstance(x, torch.FloatTensor), x.type(), x.long().type())
print("where", torch.where(x > 5, x, torch.zeros_like(x)).tolist())
print("softmax", torch.softmax(y, dim=0).tolist())
device = "cuda" if torch.cuda.is_available() else "cpu"
print("device", device, x.to(device).device, torch.device("cuda:1"))
