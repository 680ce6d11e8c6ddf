"""``tapegrad.optim``: optimizers and learning-rate schedulers with PyTorch's API and numbers.

>>> opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> sched = tapegrad.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
>>> for x, y in data:
...     opt.zero_grad()
...     loss_fn(model(x), y).backward()
...     opt.step()
...     sched.step()
"""
from __future__ import annotations

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer, register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD
from .sparse_adam import SparseAdam

__all__ = ["ASGD", "Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "LBFGS", "NAdam", "Optimizer", "RAdam",
           "RMSprop", "Rprop", "SGD", "SparseAdam", "lr_scheduler",
           "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]
