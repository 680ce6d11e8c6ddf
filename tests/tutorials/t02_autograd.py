"""Autograd: gradients, the graph's nodes, no_grad, detach, retain_grad, higher order."""
import torch

a = torch.tensor([2.0, 3.0], requires_grad=True)
b = torch.tensor([6.0, 4.0], requires_grad=True)
Q = 3 * a ** 3 - b ** 2
Q.backward(gradient=torch.tensor([1.0, 1.0]))
print("grads", a.grad.tolist(), b.grad.tolist(), (9 * a ** 2 == a.grad).tolist())
print("grad_fn", Q.grad_fn.name(), [f[0].name() if f[0] else None for f in Q.grad_fn.next_functions])

x = torch.linspace(-1.0, 1.0, 5, requires_grad=True)
h = torch.tanh(x * 2)
h.retain_grad()
loss = (h ** 2).sum()
loss.backward()
print("retain", [round(v, 6) for v in h.grad.tolist()], [round(v, 6) for v in x.grad.tolist()])

with torch.no_grad():
    n = x * 2
print("no_grad", n.requires_grad, x.detach().requires_grad, x.is_leaf, h.is_leaf)

w = torch.tensor(1.5, requires_grad=True)
f = w ** 4
(g,) = torch.autograd.grad(f, w, create_graph=True)
(gg,) = torch.autograd.grad(g, w)
print("higher order", g.item(), gg.item())

lin = torch.nn.Linear(3, 2)
out = lin(torch.ones(4, 3))
print("linear graph", out.grad_fn.name(), [f[0].name() if f[0] else None for f in out.grad_fn.next_functions])
print("bias edge first", out.grad_fn.next_functions[0][0].variable is lin.bias)
