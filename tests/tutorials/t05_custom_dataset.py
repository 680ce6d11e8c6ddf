"""A custom Dataset with a transform, batched by a DataLoader (and its collate function)."""
import torch
from torch.utils.data import DataLoader, Dataset


class Squares(Dataset):
    def __init__(self, n, transform=None):
        self.n = n
        self.transform = transform

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = torch.tensor([float(i), float(i) ** 0.5])
        sample = {"x": x, "y": torch.tensor(i * i), "name": f"item{i}"}
        if self.transform:
            sample = self.transform(sample)
        return sample


def scale(sample):
    sample["x"] = sample["x"] / 10
    return sample


ds = Squares(10, transform=scale)
print("len", len(ds), ds[3]["x"].tolist(), ds[3]["y"].item())
loader = DataLoader(ds, batch_size=4, shuffle=False, drop_last=False)
for batch in loader:
    print("batch", batch["x"].shape, batch["y"].tolist(), batch["name"], round(batch["x"].sum().item(), 5))
pairs = DataLoader([(torch.tensor([i, i + 1]), i % 2) for i in range(5)], batch_size=2)
print("tuples", [(xb.tolist(), yb.tolist()) for xb, yb in pairs])
