"""A custom autograd.Function with its own backward, checked with gradcheck."""
import torch


class ClampedExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, limit):
        y = torch.exp(torch.clamp(x, max=limit))
        ctx.save_for_backward(x, y)
        ctx.limit = limit
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * y * (x <= ctx.limit).to(grad.dtype), None


x = torch.linspace(-1, 2, 7, requires_grad=True)
y = ClampedExp.apply(x, 1.0)
y.sum().backward()
print("value", [round(v, 6) for v in y.tolist()])
print("grad", [round(v, 6) for v in x.grad.tolist()])
print("node", type(y.grad_fn).__name__)
xd = torch.tensor([-0.3, 0.2, 0.7], dtype=torch.float64, requires_grad=True)
print("gradcheck", torch.autograd.gradcheck(lambda t: ClampedExp.apply(t, 1.0), (xd,)))
