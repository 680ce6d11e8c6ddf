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
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer, register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler",
           "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]
