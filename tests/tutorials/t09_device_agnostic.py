"""Device-agnostic training code: device selection guards, flags, DataParallel, legacy types."""
import torch
import torch.nn as nn

use_cuda = torch.cuda.is_available() and (torch.device("cuda").index is not None)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
if torch.accelerator.is_available():
    device = torch.accelerator.current_accelerator()
torch.backends.cudnn.benchmark = True
print("device", use_cuda, device, torch.backends.mps.is_available(), torch.backends.cudnn.is_available())
torch.set_default_device(device)
print("default", torch.get_default_device(), torch.zeros(1).device)
model = nn.Linear(2, 1)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.5, -0.25]]))
    model.bias.fill_(0.1)
model = nn.DataParallel(model).to(device)
x = torch.FloatTensor([[1, 2], [3, 4]])
print("dp", list(model.state_dict()), model(x).squeeze(1).tolist())
print("types", isinstance(x, torch.FloatTensor), x.type(torch.DoubleTensor).dtype,
      torch.LongTensor(3).shape, x.is_cuda, x.is_mps)
try:
    torch.zeros(1).to("cuda")
except AssertionError as e:
    print("to cuda:", e)
