"""Model zoo (torchvision-compatible names and checkpoints)."""
from .resnet import *  # noqa: F401,F403
from .resnet import checkpoint_dir  # noqa: F401
