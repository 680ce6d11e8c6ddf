"""``make demo``: the autograd walkthrough from the README, printed as PyTorch prints it."""
from __future__ import annotations


def autograd_walkthrough():
    import tapegrad as torch
    from tapegrad.autograd import Variable

    a = Variable(torch.rand(5))            # Variable is the legacy wrapper: it returns a Tensor
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3 * a ** 3 - b ** 2
    Q.backward(gradient=torch.tensor([1., 1.]))   # vector-Jacobian product for a non-scalar root
    print(9 * a ** 2 == a.grad)                # tensor([True, True])
    print(-2 * b == b.grad)                    # tensor([True, True])
    x, y, z = torch.rand(5, 5), torch.rand(5, 5), torch.rand((5, 5), requires_grad=True)
    print((x + y).requires_grad, (x + z).requires_grad)   # False True
    print(Q)                                   # tensor([-12.,  65.], grad_fn=<SubBackward0>)
    return Q, a, b


def main(argv=None):
    autograd_walkthrough()


if __name__ == "__main__":
    main()
